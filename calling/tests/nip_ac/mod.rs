//! A NIP-AC client's signaling, built here by hand from the NIP-AC text with nostr-sdk
//! primitives only: signed call events (kinds 25050-25055, tags `p`, `call-id`,
//! `call-type`, no PhantomCall tags) wrapped in ephemeral kind 21059 gift wraps; it reads
//! both wrap forms (21059 signed events and NIP-59 sealed rumors), as Amethyst does.
#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use nostr_sdk::nips::{nip44, nip59};
use nostr_sdk::prelude::*;
use nostr_signal::EPHEMERAL_GIFT_WRAP_KIND;

/// One call event as the other client read it.
pub struct NipAcEvent {
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
    /// Who signed it.
    pub author: PublicKey,
}

impl NipAcEvent {
    /// The value of the first tag named `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.first().is_some_and(|n| n == name))
            .and_then(|t| t.get(1))
            .map(String::as_str)
    }

    /// Every key its `p` tags name.
    pub fn p_tags(&self) -> Vec<PublicKey> {
        self.tags
            .iter()
            .filter(|t| t.first().is_some_and(|n| n == "p"))
            .filter_map(|t| t.get(1))
            .filter_map(|hex| PublicKey::from_hex(hex).ok())
            .collect()
    }
}

/// The other client's signaling: its key and its own nostr-sdk client.
pub struct Signaling {
    pub keys: Keys,
    nostr: Client,
    inbox: tokio::sync::broadcast::Receiver<RelayPoolNotification>,
}

impl Signaling {
    /// A fresh key on `relay_url`, subscribed to the wraps addressed to it.
    pub async fn start(relay_url: RelayUrl) -> Signaling {
        Self::start_as(Keys::generate(), relay_url).await
    }

    /// `keys` on `relay_url`, subscribed to the wraps addressed to it.
    pub async fn start_as(keys: Keys, relay_url: RelayUrl) -> Signaling {
        let nostr = Client::default();
        nostr.add_relay(relay_url).await.unwrap();
        nostr.connect().await;
        // NIP-AC clients read both wrap kinds (Amethyst subscribes to 1059 and 21059).
        nostr
            .subscribe(
                Filter::new()
                    .kinds([Kind::GiftWrap, Kind::from(EPHEMERAL_GIFT_WRAP_KIND)])
                    .pubkey(keys.public_key())
                    .since(Timestamp::now() - Duration::from_secs(2 * 24 * 3600)),
                None,
            )
            .await
            .unwrap();
        let inbox = nostr.notifications();
        Signaling { keys, nostr, inbox }
    }

    /// Signs a call event to `to` (its one `p` tag) and wraps it for `to`.
    pub async fn send(
        &self,
        to: PublicKey,
        kind: u16,
        call_id: &str,
        extra: &[Tag],
        content: &str,
    ) {
        let event = self.sign(&[to], kind, call_id, extra, content);
        self.wrap_to(to, &event).await;
    }

    /// Signs one call event naming `named` in its `p` tags (a group message).
    pub fn sign(
        &self,
        named: &[PublicKey],
        kind: u16,
        call_id: &str,
        extra: &[Tag],
        content: &str,
    ) -> Event {
        let mut tags: Vec<Tag> = named.iter().map(|k| Tag::public_key(*k)).collect();
        tags.push(Tag::parse(["call-id", call_id]).unwrap());
        tags.extend_from_slice(extra);
        EventBuilder::new(Kind::from(kind), content)
            .tags(tags)
            .sign_with_keys(&self.keys)
            .unwrap()
    }

    /// Wraps a signed call event for `to` in an ephemeral 21059 gift wrap and publishes it.
    pub async fn wrap_to(&self, to: PublicKey, inner: &Event) {
        let ephemeral = Keys::generate();
        let encrypted = nip44::encrypt(
            ephemeral.secret_key(),
            &to,
            inner.as_json(),
            nip44::Version::default(),
        )
        .unwrap();
        let wrap = EventBuilder::new(Kind::from(EPHEMERAL_GIFT_WRAP_KIND), encrypted)
            .tag(Tag::public_key(to))
            .sign_with_keys(&ephemeral)
            .unwrap();
        self.nostr.send_event(&wrap).await.unwrap();
    }

    /// The next call event addressed to us: a signed event in a wrap (NIP-AC), or a sealed
    /// rumor (NIP-59, which such clients also read).
    pub async fn next_call_event(&mut self) -> NipAcEvent {
        loop {
            let RelayPoolNotification::Event { event, .. } = self.inbox.recv().await.unwrap()
            else {
                continue;
            };
            let (kind, tags, content, author) = if event.kind == Kind::GiftWrap {
                match nip59::UnwrappedGift::from_gift_wrap(&self.keys, &event).await {
                    Ok(gift) => (
                        gift.rumor.kind,
                        gift.rumor.tags,
                        gift.rumor.content,
                        gift.sender,
                    ),
                    Err(_) => self.open_signed(&event),
                }
            } else {
                self.open_signed(&event)
            };
            let kind = kind.as_u16();
            if (25050..=25055).contains(&kind) {
                let tags = tags.iter().map(|t| t.as_slice().to_vec()).collect();
                return NipAcEvent {
                    kind,
                    tags,
                    content,
                    author,
                };
            }
        }
    }

    fn open_signed(&self, wrap: &Event) -> (Kind, Tags, String, PublicKey) {
        let json = nip44::decrypt(self.keys.secret_key(), &wrap.pubkey, &wrap.content).unwrap();
        let inner = Event::from_json(json).unwrap();
        inner.verify().expect("signed inner event");
        (inner.kind, inner.tags, inner.content, inner.pubkey)
    }
}
