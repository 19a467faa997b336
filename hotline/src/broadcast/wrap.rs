//! One recipient's copy of a broadcast: a NIP-17 message of its own (a kind 14 rumor whose
//! only `p` tag is that recipient, sealed by the hotline, gift-wrapped by a fresh key with a
//! randomised `created_at`). Never one rumor for many: a group rumor would show every
//! recipient the whole list.

use nostr_sdk::{Event, EventBuilder, Keys, Kind, PublicKey, Tag, Timestamp};

/// Builds the wrap of `text` from `sender` to `recipient`, written at `created_at`.
pub async fn wrap_for(
    sender: &Keys,
    recipient: &PublicKey,
    text: &str,
    created_at: Timestamp,
) -> Result<Event, String> {
    let rumor = EventBuilder::new(Kind::PrivateDirectMessage, text)
        .tag(Tag::public_key(*recipient))
        .custom_created_at(created_at)
        .build(sender.public_key());
    // No expiration tag: a broadcast is a message to keep, not call signaling.
    EventBuilder::gift_wrap(sender, recipient, rumor, [])
        .await
        .map_err(|e| format!("cannot build the wrap: {e}"))
}
