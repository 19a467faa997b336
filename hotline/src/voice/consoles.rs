//! The console snapshots the service sends its dispatchers' apps: each dispatcher whose
//! app has spoken to the hotline gets the queue, the roster, the counters and its own desk,
//! at once when something changed and every [`REFRESH`] otherwise (the app's clocks run on
//! between snapshots).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nostr_signal::PublicKey;

use super::console_dto::ConsoleSnapshot;
use super::driver::npub_of;
use super::service::Shared;
use super::voicemail_wire::{VoicemailWire, MAX_CONSOLE_VOICEMAILS};
use super::wire::Control;
use crate::core::DeskState;

/// How often the service looks for changes.
const TICK: Duration = Duration::from_secs(1);
/// A console hears from the service at least this often.
const REFRESH: Duration = Duration::from_secs(10);

/// Sends the snapshots, for as long as the service runs.
pub(super) async fn serve_consoles(shared: Arc<Shared>) {
    let mut last: HashMap<PublicKey, (ConsoleSnapshot, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let snapshots: Vec<(PublicKey, ConsoleSnapshot)> = {
            let state = shared.state();
            let view = state.core.view(now);
            let voicemails: Vec<VoicemailWire> =
                match state.store.voicemails(MAX_CONSOLE_VOICEMAILS) {
                    Ok(rows) => rows.iter().map(VoicemailWire::from).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, "voicemails not listed");
                        Vec::new()
                    }
                };
            state
                .consoles
                .iter()
                .map(|key| {
                    let desk = DeskState::from_core(&state.core, &view, npub_of(key), now);
                    let mut snapshot = ConsoleSnapshot::new(&view, &desk);
                    snapshot.voicemails = voicemails.clone();
                    (*key, snapshot)
                })
                .collect()
        };
        for (key, snapshot) in snapshots {
            let shape = snapshot.without_clocks();
            let due = match last.get(&key) {
                Some((sent, at)) => *sent != shape || at.elapsed() >= REFRESH,
                None => true,
            };
            if !due {
                continue;
            }
            let message = Control::Console(Box::new(snapshot)).to_json();
            if let Err(e) = shared.transport.hub().send_control(key, &message).await {
                tracing::warn!(error = %e, "console snapshot not sent");
                continue;
            }
            last.insert(key, (shape, now));
        }
    }
}
