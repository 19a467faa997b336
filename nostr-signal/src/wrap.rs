//! Building the gift wrap around a call message, in each delivery form.

use std::time::Duration;

use nostr_sdk::nips::{nip44, nip59};
use nostr_sdk::{Event, EventBuilder, Keys, Kind, PublicKey, Tag, Timestamp, UnsignedEvent};
use phantomcall_schemas::CallMessage;

use crate::SignalError;

/// NIP-40 expiration put on every stored wrap (kind 1059): long enough for a ringing call
/// and a slow relay, short enough that relays honouring NIP-40 drop call metadata soon
/// after. The expiration actually written is later by a random share of this (see
/// [`wrap_rumor`]), so it does not give away the send time.
pub const DEFAULT_WRAP_EXPIRATION: Duration = Duration::from_secs(5 * 60);

/// Kind of the ephemeral gift wrap NIP-AC clients send since April 2026 (Amethyst's
/// `EphemeralGiftWrapEvent`): relays forward it and never store it, so it has no expiration.
pub const EPHEMERAL_GIFT_WRAP_KIND: u16 = 21059;

/// How a call message sits inside its gift wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryForm {
    /// NIP-17 style: unsigned rumor, sealed (kind 13) by the sender, wrapped (kind 1059).
    /// PhantomCall's default: the rumor is deniable, it carries no signature.
    Sealed,
    /// The first NIP-AC form: the signed call event directly inside a kind 1059 wrap.
    Direct,
    /// Current NIP-AC (Amethyst since April 2026): the signed call event directly inside an
    /// ephemeral kind 21059 wrap, without expiration.
    Ephemeral,
}

impl DeliveryForm {
    /// The kind of the outer wrap this form travels in.
    pub fn wrap_kind(self) -> Kind {
        match self {
            DeliveryForm::Sealed | DeliveryForm::Direct => Kind::GiftWrap,
            DeliveryForm::Ephemeral => Kind::from(EPHEMERAL_GIFT_WRAP_KIND),
        }
    }
}

/// True for the wrap kinds the verifier opens (1059 and 21059).
pub fn is_wrap_kind(kind: Kind) -> bool {
    kind == Kind::GiftWrap || kind.as_u16() == EPHEMERAL_GIFT_WRAP_KIND
}

/// The unsigned rumor of `message`, authored by `author` at `created_at`.
pub fn build_rumor(
    author: PublicKey,
    message: &CallMessage,
    created_at: Timestamp,
) -> Result<UnsignedEvent, SignalError> {
    let (kind, tags, content) = message.to_parts();
    rumor_from_parts(author, kind, tags, content, created_at)
}

/// The unsigned rumor of any family's `(kind, tags, content)`, with its id set.
pub(crate) fn rumor_from_parts(
    author: PublicKey,
    kind: u16,
    tags: Vec<Vec<String>>,
    content: String,
    created_at: Timestamp,
) -> Result<UnsignedEvent, SignalError> {
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

/// Wrap an already built rumor (see [`build_rumor`]). Lets one rumor go to several
/// recipients without rebuilding it.
///
/// Stored wraps expire `expiration` after the rumor's `created_at` plus a random extra of
/// up to `expiration` again: a fixed offset would let anyone who reads the stored wrap
/// (the relay's database, a later subscriber) compute the second it was sent, which
/// NIP-59's randomised `created_at` is there to hide. Ephemeral wraps carry no expiration.
pub async fn wrap_rumor(
    sender: &Keys,
    recipient: &PublicKey,
    rumor: UnsignedEvent,
    form: DeliveryForm,
    expiration: Duration,
) -> Result<Event, SignalError> {
    let expires = Tag::expiration(unlinkable_expiration(rumor.created_at, expiration));
    match form {
        DeliveryForm::Sealed => EventBuilder::gift_wrap(sender, recipient, rumor, [expires])
            .await
            .map_err(|e| SignalError::Build(e.to_string())),
        DeliveryForm::Direct | DeliveryForm::Ephemeral => {
            let signed = rumor
                .sign_with_keys(sender)
                .map_err(|e| SignalError::Build(e.to_string()))?;
            let tags = (form == DeliveryForm::Direct).then_some(expires);
            wrap_signed_event(&signed, recipient, form.wrap_kind(), tags)
        }
    }
}

/// `sent + expiration + uniform(0..expiration)`, in whole seconds.
fn unlinkable_expiration(sent: Timestamp, expiration: Duration) -> Timestamp {
    let spread = expiration.as_secs().max(1);
    let extra = rand::random_range(0..spread);
    sent + Duration::from_secs(expiration.as_secs() + extra)
}

/// Gift-wrap an already signed event without a seal (NIP-AC's form), using nostr-sdk's NIP-44.
fn wrap_signed_event(
    signed: &Event,
    recipient: &PublicKey,
    wrap_kind: Kind,
    expires: Option<Tag>,
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
    let tags = std::iter::once(Tag::public_key(*recipient)).chain(expires);
    EventBuilder::new(wrap_kind, content)
        .tags(tags)
        .custom_created_at(Timestamp::tweaked(nip59::RANGE_RANDOM_TIMESTAMP_TWEAK))
        .sign_with_keys(&ephemeral)
        .map_err(|e| SignalError::Build(e.to_string()))
}
