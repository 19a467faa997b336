//! Building the kind 1059 gift wrap around a call message, in either delivery form.

use std::time::Duration;

use nostr_sdk::nips::{nip44, nip59};
use nostr_sdk::{Event, EventBuilder, Keys, Kind, PublicKey, Tag, Timestamp, UnsignedEvent};
use phantomcall_schemas::CallMessage;

use crate::SignalError;

/// NIP-40 expiration put on every wrap: long enough for a ringing call and a slow relay,
/// short enough that relays honouring NIP-40 drop call metadata soon after.
pub const DEFAULT_WRAP_EXPIRATION: Duration = Duration::from_secs(5 * 60);

/// How a call message sits inside its gift wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryForm {
    /// NIP-17 style: unsigned rumor, sealed (kind 13) by the sender, wrapped (kind 1059).
    /// PhantomCall's default: the rumor is deniable, it carries no signature.
    Sealed,
    /// NIP-AC style: the signed call event directly inside the wrap, no seal.
    Direct,
}

/// The unsigned rumor of `message`, authored by `author` at `created_at`.
pub fn build_rumor(
    author: PublicKey,
    message: &CallMessage,
    created_at: Timestamp,
) -> Result<UnsignedEvent, SignalError> {
    let (kind, tags, content) = message.to_parts();
    let tags = tags
        .into_iter()
        .map(|t| Tag::parse(t).map_err(|e| SignalError::Build(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rumor = UnsignedEvent::new(author, created_at, Kind::from(kind), tags, content);
    rumor.ensure_id();
    Ok(rumor)
}

/// Wrap `message` from `sender` for `recipient` in the given form, expiring after `expiration`.
///
/// The wrap is signed by a fresh ephemeral key and its own `created_at` is randomised into
/// the past (NIP-59), so a relay learns neither the sender nor the exact time.
pub async fn build_wrap(
    sender: &Keys,
    recipient: &PublicKey,
    message: &CallMessage,
    form: DeliveryForm,
    created_at: Timestamp,
    expiration: Duration,
) -> Result<Event, SignalError> {
    let rumor = build_rumor(sender.public_key(), message, created_at)?;
    wrap_rumor(sender, recipient, rumor, form, expiration).await
}

/// Wrap an already built rumor (see [`build_rumor`]); the expiration counts from the
/// rumor's `created_at`. Lets one rumor go to several recipients without rebuilding it.
pub async fn wrap_rumor(
    sender: &Keys,
    recipient: &PublicKey,
    rumor: UnsignedEvent,
    form: DeliveryForm,
    expiration: Duration,
) -> Result<Event, SignalError> {
    let expires = Tag::expiration(rumor.created_at + expiration);
    match form {
        DeliveryForm::Sealed => EventBuilder::gift_wrap(sender, recipient, rumor, [expires])
            .await
            .map_err(|e| SignalError::Build(e.to_string())),
        DeliveryForm::Direct => {
            let signed = rumor
                .sign_with_keys(sender)
                .map_err(|e| SignalError::Build(e.to_string()))?;
            wrap_signed_event(&signed, recipient, expires)
        }
    }
}

/// Gift-wrap an already signed event without a seal (NIP-AC's form), using nostr-sdk's NIP-44.
fn wrap_signed_event(
    signed: &Event,
    recipient: &PublicKey,
    expires: Tag,
) -> Result<Event, SignalError> {
    use nostr_sdk::JsonUtil;
    let ephemeral = Keys::generate();
    let content = nip44::encrypt(
        ephemeral.secret_key(),
        recipient,
        signed.as_json(),
        nip44::Version::default(),
    )
    .map_err(|e| SignalError::Build(e.to_string()))?;
    EventBuilder::new(Kind::GiftWrap, content)
        .tags([Tag::public_key(*recipient), expires])
        .custom_created_at(Timestamp::tweaked(nip59::RANGE_RANDOM_TIMESTAMP_TWEAK))
        .sign_with_keys(&ephemeral)
        .map_err(|e| SignalError::Build(e.to_string()))
}
