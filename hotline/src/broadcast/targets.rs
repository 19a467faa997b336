//! Where each recipient's wrap goes: their DM relays (kind 10050, as NIP-17 asks a sender
//! to use), looked up in batches on the hotline's relays and filtered by nostr-signal's
//! [`PeerRelayPolicy`] (public `wss://` only, unless local relays are allowed); else the
//! hotline's own relays.

use std::collections::HashMap;
use std::time::Duration;

use nostr_sdk::prelude::{Client, Event, Filter, Kind, PublicKey, RelayUrl};
use nostr_signal::PeerRelayPolicy;

use crate::ids::Npub;

/// Authors per lookup filter: relays cap filter sizes; a few hundred keys is safe.
const AUTHORS_PER_LOOKUP: usize = 250;

/// Each recipient's usable DM relays, for those who publish a list the policy accepts.
pub(super) async fn dm_relays(
    client: &Client,
    from: &[RelayUrl],
    recipients: &[Npub],
    policy: &PeerRelayPolicy,
    max_per_recipient: usize,
    timeout: Duration,
) -> HashMap<Npub, Vec<RelayUrl>> {
    let mut newest: HashMap<PublicKey, Event> = HashMap::new();
    for chunk in recipients.chunks(AUTHORS_PER_LOOKUP) {
        let authors = chunk
            .iter()
            .filter_map(|n| PublicKey::from_slice(n.as_bytes()).ok());
        let filter = Filter::new().kind(Kind::InboxRelays).authors(authors);
        let events = match client
            .fetch_events_from(from.to_vec(), filter, timeout)
            .await
        {
            Ok(events) => events,
            Err(e) => {
                // Without the lists the hotline's own relays still carry the broadcast.
                tracing::warn!(error = %e, "broadcast: DM relay lookup failed");
                continue;
            }
        };
        for event in events {
            // A replaceable event: the newest list counts.
            let keep = newest
                .get(&event.pubkey)
                .is_none_or(|old| old.created_at < event.created_at);
            if keep {
                newest.insert(event.pubkey, event);
            }
        }
    }
    newest
        .into_iter()
        .filter_map(|(peer, list)| {
            let relays = policy.relays_of_list(&list, &peer, max_per_recipient);
            (!relays.is_empty()).then(|| (Npub::from_bytes(peer.to_bytes()), relays))
        })
        .collect()
}
