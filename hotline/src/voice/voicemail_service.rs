//! The service's side of voicemail: a line that overflowed plays the prompt tone, records
//! the caller until they hang up or the maximum is reached, and the recording is sealed to
//! the enrolled dispatchers and stored; dispatchers fetch (in chunks), mark heard and
//! delete over control messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::{CallState, EngineEvent};
use nostr_signal::{PublicKey, VerifiedControl};
use phantomcall_schemas::CallId;
use tokio::sync::broadcast;

use super::driver::npub_of;
use super::service::{unix_ms, Shared, VoiceEvent};
use super::voicemail::seal;
use super::voicemail_wire::{chunk_count, VOICEMAIL_CHUNK_BYTES};
use super::wire::Control;
use crate::ids::{CallerId, EntryId};
use crate::store::StoredVoicemail;

/// How long a voicemail line may take to connect and play the prompt before recording:
/// past the maximum and this, the line ends whatever happened.
const CONNECT_GRACE: Duration = Duration::from_secs(20);
/// How often the recorder is looked at (full?).
const POLL: Duration = Duration::from_millis(200);

/// Records a voicemail on `call` (the caller's waiting line, `entry` already out of the
/// queue), then ends the line and stores what was said.
pub(super) async fn record(
    shared: Arc<Shared>,
    entry: EntryId,
    call: CallId,
    caller: Option<PublicKey>,
    caller_id: CallerId,
) {
    // Subscribed before looking, so the call's end cannot slip between.
    let mut events = shared.engine.events();
    let calls = shared.engine.calls().await;
    let Some(live) = calls
        .iter()
        .find(|c| c.call_id == call && c.state != CallState::Ended)
    else {
        shared.line.forget(&call);
        let _ = shared.events.send(VoiceEvent::VoicemailDropped { entry });
        return;
    };
    let caller = caller.unwrap_or(live.peer);
    let max = shared.voicemail_max;
    let tap = match shared.line.start_voicemail(&call, max) {
        Ok(tap) => tap,
        Err(e) => {
            tracing::error!(error = %e, "voicemail recorder not started: the line ends");
            shared.engine.hangup(call);
            let _ = shared.events.send(VoiceEvent::VoicemailDropped { entry });
            return;
        }
    };
    let _ = shared.events.send(VoiceEvent::Recording { entry });
    let prompt = Control::VoicemailPrompt {
        call: call.to_string(),
        max_secs: u32::try_from(max.as_secs()).unwrap_or(u32::MAX),
    };
    super::driver::send(&shared, caller, prompt).await;
    let deadline = Instant::now() + max + CONNECT_GRACE;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(EngineEvent::Call(e)) if e.call_id == call && e.state == CallState::Ended => break,
                Err(broadcast::error::RecvError::Closed) => break,
                _ => {}
            },
            () = tokio::time::sleep(POLL) => {
                if tap.is_full() || Instant::now() >= deadline {
                    break;
                }
            }
        }
    }
    shared.engine.hangup(call);
    shared.line.forget(&call);
    let recorded = tap
        .take()
        .and_then(super::voicemail_record::Recorder::finish);
    let stored = recorded.and_then(|recorded| {
        let duration = recorded.duration;
        let sealed = match seal(&recorded.packets, &shared.voicemail_readers) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(error = %e, "voicemail not sealed");
                return None;
            }
        };
        // The packets in the clear go with `recorded`, here.
        drop(recorded);
        let row = StoredVoicemail {
            caller_id,
            recorded_ms: unix_ms(),
            duration_ms: u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
            ephemeral: sealed.ephemeral,
            nonce: sealed.nonce,
            audio: sealed.audio,
            sealed: sealed.sealed,
        };
        match shared.state().store.put_voicemail(&row) {
            Ok(Some(id)) => Some((id, duration)),
            Ok(None) => {
                tracing::warn!("voicemail store full: a message was not kept");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "voicemail not stored");
                None
            }
        }
    });
    let event = match stored {
        Some((id, duration)) => VoiceEvent::VoicemailStored {
            entry,
            id,
            duration,
        },
        None => VoiceEvent::VoicemailDropped { entry },
    };
    let _ = shared.events.send(event);
}

/// A dispatcher's voicemail request (fetch, heard, delete), taken and answered here;
/// `false` when `message` is something else (or from someone not enrolled).
pub(super) fn take_request(shared: &Arc<Shared>, message: &VerifiedControl) -> bool {
    let from = npub_of(&message.sender);
    let Ok(control) = Control::parse(&message.content) else {
        return false;
    };
    let mut state = shared.state();
    if state.core.presence(&from).is_none() {
        return false;
    }
    if !matches!(
        control,
        Control::VoicemailHeard { .. }
            | Control::VoicemailDelete { .. }
            | Control::VoicemailFetch { .. }
    ) {
        return false;
    }
    // An enrolled dispatcher's app is there: it gets console snapshots from now on.
    state.consoles.insert(message.sender);
    let outcome = match control {
        Control::VoicemailHeard { id } => state.store.mark_voicemail_heard(id),
        Control::VoicemailDelete { id } => state.store.delete_voicemail(id),
        Control::VoicemailFetch { id, chunks } => {
            let found = state.store.voicemail_for(id, &from);
            drop(state);
            let replies = match found {
                Ok(Some((row, stored))) => replies(row.id, &row, stored, &chunks),
                Ok(None) => vec![Control::VoicemailUnavailable { id }],
                Err(e) => {
                    tracing::error!(error = %e, "voicemail not read");
                    return true;
                }
            };
            let (shared, to) = (shared.clone(), message.sender);
            tokio::spawn(async move {
                for reply in replies {
                    super::driver::send(&shared, to, reply).await;
                }
            });
            return true;
        }
        _ => return false,
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, "voicemail not updated");
    }
    true
}

/// The header (unless only some chunks are wanted again) and the chunks wanted.
fn replies(
    id: u64,
    row: &crate::store::VoicemailRow,
    stored: StoredVoicemail,
    wanted: &[u32],
) -> Vec<Control> {
    let Some((_, sealed_key)) = stored.sealed.into_iter().next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if wanted.is_empty() {
        out.push(Control::VoicemailHeader {
            id,
            ephemeral: hex::encode(stored.ephemeral),
            sealed_key,
            nonce: hex::encode(stored.nonce),
            bytes: u32::try_from(stored.audio.len()).unwrap_or(u32::MAX),
            duration_ms: row.duration_ms,
            caller: row.caller_id.short(),
            recorded_unix_secs: row.recorded_ms / 1000,
        });
    }
    let count = chunk_count(stored.audio.len());
    for (index, chunk) in stored.audio.chunks(VOICEMAIL_CHUNK_BYTES).enumerate() {
        let index = index as u32;
        if wanted.is_empty() || wanted.contains(&index) {
            out.push(Control::VoicemailChunk {
                id,
                index,
                data: hex::encode(chunk),
            });
        }
    }
    debug_assert!(out.len() <= count + 1);
    out
}
