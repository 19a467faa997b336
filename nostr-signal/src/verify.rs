//! The one verification step every incoming gift wrap passes before anything acts on it.
//!
//! Pure and synchronous: it takes the wrap and `now`, holds the replay and call-binding state,
//! and returns either a [`VerifiedMessage`] or a [`RejectReason`]. The relay driver calls it;
//! tests and the fuzz target call it directly.
//!
//! Checks, in order: wrap kind, wrap id and signature, wrap expiration (NIP-40), wrap
//! decryption, inner form (seal or NIP-AC signed event), seal or inner signature, seal signer
//! equals rumor author, rumor id, kind registered, schema, freshness of `created_at`,
//! addressed to us, not a replay, call-id bound to its conversation (see
//! [`crate::binding`]).
//!
//! Three families of rumor come out: call messages, (when
//! [`VerifierConfig::accept_chats`] is on) NIP-17 chat messages, each checked against its
//! own schema, and (when [`VerifierConfig::accept_controls`] is on) control messages of
//! kind [`CONTROL_KIND`], whose content the service that asked for them parses.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nostr_sdk::nips::nip44;
use nostr_sdk::{Event, EventId, JsonUtil, Keys, Kind, PublicKey, Timestamp, UnsignedEvent};
use phantomcall_schemas::{CallKind, CallMessage, ChatMessage, SchemaError, CHAT_KIND};

use crate::binding::Conversations;
use crate::wrap::is_wrap_kind;
use crate::{
    DeliveryForm, LinkKind, Verified, VerifiedChat, VerifiedControl, VerifiedMessage, Via,
};

/// Kind of a control message between a service and its users (a hotline and its
/// dispatchers and callers): a PhantomCall extension, always sealed, never shown as chat.
pub const CONTROL_KIND: u16 = 25070;

/// Largest control message content, in bytes: a console snapshot of a full queue fits,
/// a flood does not.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

/// Why a wrap was dropped. Counted per reason and logged without payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The outer event is not a kind 1059 gift wrap.
    NotAGiftWrap,
    /// The wrap's id or signature does not verify.
    BadWrapSignature,
    /// The wrap's NIP-40 expiration has passed.
    WrapExpired,
    /// The wrap does not decrypt with our key (not for us, or damaged).
    UndecryptableWrap,
    /// The decrypted wrap, seal or rumor is not a well-formed event.
    MalformedJson,
    /// The seal's signature (or id) does not verify: a forged seal.
    ForgedSeal,
    /// The seal does not decrypt.
    UndecryptableSeal,
    /// The seal was signed by someone other than the rumor's author.
    SealSignerNotAuthor,
    /// The rumor's id does not match its contents.
    BadRumorId,
    /// NIP-AC direct form: the inner signed event's id or signature does not verify.
    BadInnerSignature,
    /// The message kind is not in the registry.
    UnregisteredKind,
    /// The `v` tag names a protocol version we do not speak.
    UnsupportedVersion,
    /// Content or tags do not match the kind's schema.
    SchemaInvalid,
    /// `created_at` is outside the freshness window (too old or in the future).
    Stale,
    /// Neither sent to us nor sent by us (a wrap re-addressed to us).
    NotAddressedToUs,
    /// The same rumor was already accepted.
    Replayed,
    /// The call id belongs to a conversation between other parties.
    ForeignCallId,
    /// The call id would gather more members than
    /// [`crate::MAX_CONVERSATION_MEMBERS`].
    GroupTooLarge,
}

impl RejectReason {
    /// Every reason, for counters and reports.
    pub const ALL: [RejectReason; 18] = [
        RejectReason::NotAGiftWrap,
        RejectReason::BadWrapSignature,
        RejectReason::WrapExpired,
        RejectReason::UndecryptableWrap,
        RejectReason::MalformedJson,
        RejectReason::ForgedSeal,
        RejectReason::UndecryptableSeal,
        RejectReason::SealSignerNotAuthor,
        RejectReason::BadRumorId,
        RejectReason::BadInnerSignature,
        RejectReason::UnregisteredKind,
        RejectReason::UnsupportedVersion,
        RejectReason::SchemaInvalid,
        RejectReason::Stale,
        RejectReason::NotAddressedToUs,
        RejectReason::Replayed,
        RejectReason::ForeignCallId,
        RejectReason::GroupTooLarge,
    ];

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is listed in ALL")
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Per-reason rejection counters, shared between the verifier and whoever reports them.
#[derive(Debug, Default)]
pub struct RejectionCounts {
    counts: [AtomicU64; RejectReason::ALL.len()],
}

impl RejectionCounts {
    fn bump(&self, reason: RejectReason) {
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many wraps were dropped for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// All non-zero counters.
    pub fn snapshot(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Total of all rejections.
    pub fn total(&self) -> u64 {
        RejectReason::ALL.iter().map(|r| self.get(*r)).sum()
    }
}

/// Tuning of the verifier.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// How far `created_at` may be from now, either way. DESIGN.md section 3: 60 s. Longer
    /// admits replays for longer; shorter breaks on peers with a drifting clock.
    pub freshness_window: Duration,
    /// How long a call id stays bound to its pair after its last message. A day covers any
    /// real call; the binding is what stops cross-conversation replay.
    pub call_binding_ttl: Duration,
    /// Upper bound on remembered call ids, so a flood cannot grow memory without limit.
    pub max_call_bindings: usize,
    /// Upper bound on remembered rumor ids within the freshness window. When full, the
    /// oldest go first: they are the ones the freshness check is about to reject anyway.
    pub max_seen_ids: usize,
    /// Also accept NIP-17 chat messages (kind 14). Off for a plain caller, whose client
    /// has nowhere to show them; the messaging hotline turns it on.
    pub accept_chats: bool,
    /// Also accept control messages ([`CONTROL_KIND`], sealed only). Off for a plain
    /// client; a hotline, its dispatchers and its callers turn it on.
    pub accept_controls: bool,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            freshness_window: Duration::from_secs(60),
            call_binding_ttl: Duration::from_secs(24 * 3600),
            max_call_bindings: 65_536,
            max_seen_ids: 65_536,
            accept_chats: false,
            accept_controls: false,
        }
    }
}

/// The receive-side verifier. One per identity.
pub struct Verifier {
    keys: Keys,
    config: VerifierConfig,
    /// Accepted rumor ids and their `created_at`; entries older than the freshness window are
    /// pruned, since the freshness check alone rejects those.
    seen: HashMap<EventId, Timestamp>,
    conversations: Conversations,
    counts: Arc<RejectionCounts>,
    last_prune: Timestamp,
}

/// The inner message once the wrap (and seal) are open.
struct Opened {
    sender: PublicKey,
    rumor_id: EventId,
    created_at: Timestamp,
    json: serde_json::Value,
    form: DeliveryForm,
}

impl Verifier {
    /// A verifier for the identity `keys`.
    pub fn new(keys: Keys, config: VerifierConfig) -> Self {
        Self {
            keys,
            seen: HashMap::new(),
            conversations: Conversations::new(config.max_call_bindings, config.call_binding_ttl),
            counts: Arc::new(RejectionCounts::default()),
            last_prune: Timestamp::from(0),
            config,
        }
    }

    /// The shared rejection counters.
    pub fn counts(&self) -> Arc<RejectionCounts> {
        Arc::clone(&self.counts)
    }

    /// Verify one gift wrap carrying a call message, received at `now`. Rejections are
    /// counted and logged (reason only). Chat messages are refused here as
    /// [`RejectReason::UnregisteredKind`]; [`Verifier::verify_any`] takes both families.
    pub fn verify(
        &mut self,
        wrap: &Event,
        now: Timestamp,
    ) -> Result<VerifiedMessage, RejectReason> {
        let result = self
            .open(wrap, now)
            .and_then(|opened| self.accept_call(opened, now));
        self.count(result)
    }

    /// Verify one gift wrap of any family this verifier accepts.
    pub fn verify_any(&mut self, wrap: &Event, now: Timestamp) -> Result<Verified, RejectReason> {
        let result = self.open(wrap, now).and_then(|opened| {
            let kind = opened.json.get("kind").and_then(serde_json::Value::as_u64);
            let sealed = opened.form == DeliveryForm::Sealed;
            if kind == Some(u64::from(CHAT_KIND)) && self.config.accept_chats && sealed {
                self.accept_chat(opened, now).map(Verified::Chat)
            } else if kind == Some(u64::from(CONTROL_KIND)) && self.config.accept_controls && sealed
            {
                self.accept_control(opened, now).map(Verified::Control)
            } else {
                self.accept_call(opened, now).map(Verified::Call)
            }
        });
        self.count(result)
    }

    fn count<T>(&self, result: Result<T, RejectReason>) -> Result<T, RejectReason> {
        if let Err(reason) = &result {
            let reason = *reason;
            self.counts.bump(reason);
            match reason {
                // Interop trouble a user may want to see; never the payload, only the reason.
                RejectReason::UnregisteredKind | RejectReason::UnsupportedVersion => {
                    tracing::info!(%reason, "dropped incoming call message")
                }
                _ => tracing::debug!(%reason, "dropped incoming call message"),
            }
        }
        result
    }

    /// Verify the JSON text of a wrap as received from a relay.
    pub fn verify_json(
        &mut self,
        wrap_json: &str,
        now: Timestamp,
    ) -> Result<VerifiedMessage, RejectReason> {
        match Event::from_json(wrap_json) {
            Ok(wrap) => self.verify(&wrap, now),
            Err(_) => {
                self.counts.bump(RejectReason::MalformedJson);
                Err(RejectReason::MalformedJson)
            }
        }
    }

    fn open(&self, wrap: &Event, now: Timestamp) -> Result<Opened, RejectReason> {
        if !is_wrap_kind(wrap.kind) {
            return Err(RejectReason::NotAGiftWrap);
        }
        let ephemeral = wrap.kind != Kind::GiftWrap;
        wrap.verify().map_err(|_| RejectReason::BadWrapSignature)?;
        if wrap
            .tags
            .expiration()
            .is_some_and(|expires| *expires <= now)
        {
            return Err(RejectReason::WrapExpired);
        }
        let inner = nip44::decrypt(self.keys.secret_key(), &wrap.pubkey, &wrap.content)
            .map_err(|_| RejectReason::UndecryptableWrap)?;
        let inner_text = inner;
        let inner: Event =
            Event::from_json(&inner_text).map_err(|_| RejectReason::MalformedJson)?;
        if inner.kind == Kind::Seal {
            self.open_seal(&inner)
        } else {
            let form = if ephemeral {
                DeliveryForm::Ephemeral
            } else {
                DeliveryForm::Direct
            };
            Self::open_direct(inner, &inner_text, form)
        }
    }

    fn open_seal(&self, seal: &Event) -> Result<Opened, RejectReason> {
        seal.verify().map_err(|_| RejectReason::ForgedSeal)?;
        let rumor_text = nip44::decrypt(self.keys.secret_key(), &seal.pubkey, &seal.content)
            .map_err(|_| RejectReason::UndecryptableSeal)?;
        let json: serde_json::Value =
            serde_json::from_str(&rumor_text).map_err(|_| RejectReason::MalformedJson)?;
        let mut rumor: UnsignedEvent =
            UnsignedEvent::from_json(&rumor_text).map_err(|_| RejectReason::MalformedJson)?;
        if rumor.pubkey != seal.pubkey {
            return Err(RejectReason::SealSignerNotAuthor);
        }
        rumor.verify_id().map_err(|_| RejectReason::BadRumorId)?;
        Ok(Opened {
            sender: seal.pubkey,
            rumor_id: rumor.id(),
            created_at: rumor.created_at,
            json,
            form: DeliveryForm::Sealed,
        })
    }

    fn open_direct(
        inner: Event,
        inner_text: &str,
        form: DeliveryForm,
    ) -> Result<Opened, RejectReason> {
        // Only call kinds may sit directly in a wrap; anything else is not ours to judge.
        if CallKind::from_u16(inner.kind.as_u16()).is_none() {
            return Err(RejectReason::UnregisteredKind);
        }
        inner
            .verify()
            .map_err(|_| RejectReason::BadInnerSignature)?;
        // Validate what was received, not a re-serialisation of it.
        let json = serde_json::from_str(inner_text).map_err(|_| RejectReason::MalformedJson)?;
        Ok(Opened {
            sender: inner.pubkey,
            rumor_id: inner.id,
            created_at: inner.created_at,
            json,
            form,
        })
    }

    fn accept_call(
        &mut self,
        opened: Opened,
        now: Timestamp,
    ) -> Result<VerifiedMessage, RejectReason> {
        let message = CallMessage::from_rumor_json(&opened.json).map_err(|e| match e {
            SchemaError::UnregisteredKind(_) => RejectReason::UnregisteredKind,
            SchemaError::UnsupportedVersion { .. } => RejectReason::UnsupportedVersion,
            _ => RejectReason::SchemaInvalid,
        })?;
        let age = now.as_secs().abs_diff(opened.created_at.as_secs());
        if age > self.config.freshness_window.as_secs() {
            return Err(RejectReason::Stale);
        }
        let me = self.keys.public_key();
        let mut peer =
            PublicKey::from_hex(&message.peer).map_err(|_| RejectReason::SchemaInvalid)?;
        let from_own_device = opened.sender == me;
        // A NIP-AC group offer names every callee; we may be any of them.
        if peer != me && message.also_to.contains(&me.to_hex()) {
            peer = me;
        }
        if peer != me && !from_own_device {
            return Err(RejectReason::NotAddressedToUs);
        }
        if self.seen.contains_key(&opened.rumor_id) {
            return Err(RejectReason::Replayed);
        }
        let named: Vec<PublicKey> = std::iter::once(&message.peer)
            .chain(&message.also_to)
            .filter_map(|hex| PublicKey::from_hex(hex).ok())
            .collect();
        self.conversations
            .bind(message.call_id, opened.sender, &named, me, now)?;
        self.remember_seen(opened.rumor_id, opened.created_at, now);
        Ok(VerifiedMessage {
            sender: opened.sender,
            message,
            rumor_id: opened.rumor_id,
            created_at: opened.created_at,
            form: opened.form,
            from_own_device,
            // The hub, which knows the link, fills this in.
            via: Via::link(LinkKind::Relays),
        })
    }

    fn accept_chat(
        &mut self,
        opened: Opened,
        now: Timestamp,
    ) -> Result<VerifiedChat, RejectReason> {
        let chat =
            ChatMessage::from_rumor_json(&opened.json).map_err(|_| RejectReason::SchemaInvalid)?;
        let age = now.as_secs().abs_diff(opened.created_at.as_secs());
        if age > self.config.freshness_window.as_secs() {
            return Err(RejectReason::Stale);
        }
        let me = self.keys.public_key();
        let from_own_device = opened.sender == me;
        if !from_own_device && !chat.receivers.contains(&me.to_hex()) {
            return Err(RejectReason::NotAddressedToUs);
        }
        if self.seen.contains_key(&opened.rumor_id) {
            return Err(RejectReason::Replayed);
        }
        self.remember_seen(opened.rumor_id, opened.created_at, now);
        Ok(VerifiedChat {
            sender: opened.sender,
            chat,
            rumor_id: opened.rumor_id,
            created_at: opened.created_at,
            from_own_device,
            via: Via::link(LinkKind::Relays),
        })
    }

    fn accept_control(
        &mut self,
        opened: Opened,
        now: Timestamp,
    ) -> Result<VerifiedControl, RejectReason> {
        let content = opened
            .json
            .get("content")
            .and_then(serde_json::Value::as_str)
            .filter(|c| c.len() <= MAX_CONTROL_BYTES)
            .ok_or(RejectReason::SchemaInvalid)?
            .to_owned();
        let age = now.as_secs().abs_diff(opened.created_at.as_secs());
        if age > self.config.freshness_window.as_secs() {
            return Err(RejectReason::Stale);
        }
        let me = self.keys.public_key().to_hex();
        let addressed = opened
            .json
            .get("tags")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|tags| {
                tags.iter().any(|tag| {
                    let tag = tag.as_array();
                    tag.and_then(|t| t.first()).and_then(|v| v.as_str()) == Some("p")
                        && tag.and_then(|t| t.get(1)).and_then(|v| v.as_str()) == Some(&me)
                })
            });
        // A control message is for one recipient; our own copies are never sent.
        if !addressed || opened.sender == self.keys.public_key() {
            return Err(RejectReason::NotAddressedToUs);
        }
        if self.seen.contains_key(&opened.rumor_id) {
            return Err(RejectReason::Replayed);
        }
        self.remember_seen(opened.rumor_id, opened.created_at, now);
        Ok(VerifiedControl {
            sender: opened.sender,
            content,
            rumor_id: opened.rumor_id,
            created_at: opened.created_at,
            via: Via::link(LinkKind::Relays),
        })
    }

    fn remember_seen(&mut self, id: EventId, created_at: Timestamp, now: Timestamp) {
        if self.seen.len() >= self.config.max_seen_ids {
            self.evict_oldest_seen();
        }
        self.seen.insert(id, created_at);
        self.prune(now);
    }

    /// The rumor ids accepted within the last two freshness windows, with their
    /// `created_at`: what must survive a restart for replay protection.
    pub fn recent_ids(&self, now: Timestamp) -> Vec<(EventId, Timestamp)> {
        let horizon = now
            .as_secs()
            .saturating_sub(2 * self.config.freshness_window.as_secs());
        self.seen
            .iter()
            .filter(|(_, at)| at.as_secs() >= horizon)
            .map(|(id, at)| (*id, *at))
            .collect()
    }

    /// Remembers ids accepted before a restart (see [`Verifier::recent_ids`]): they are
    /// rejected as [`RejectReason::Replayed`] if they arrive again.
    pub fn remember_ids(&mut self, ids: impl IntoIterator<Item = (EventId, Timestamp)>) {
        for (id, at) in ids {
            if self.seen.len() >= self.config.max_seen_ids {
                self.evict_oldest_seen();
            }
            self.seen.insert(id, at);
        }
    }

    fn evict_oldest_seen(&mut self) {
        if let Some(oldest) = self.seen.iter().min_by_key(|(_, t)| **t).map(|(id, _)| *id) {
            self.seen.remove(&oldest);
        }
    }

    /// Forget state that can no longer matter. Runs at most once per freshness window so the
    /// per-message cost stays constant.
    fn prune(&mut self, now: Timestamp) {
        let window = self.config.freshness_window.as_secs();
        if now.as_secs() < self.last_prune.as_secs() + window {
            return;
        }
        self.last_prune = now;
        let horizon = now.as_secs().saturating_sub(2 * window);
        self.seen.retain(|_, created| created.as_secs() >= horizon);
        self.conversations.prune(now);
    }
}
