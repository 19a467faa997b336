//! Shared by the relay tests: a real embedded relay, the inbox service's test settings,
//! and an independent NIP-17 implementation written from the NIP's text with nostr-sdk's
//! primitives (NIP-44 encryption, events of explicit kinds), not PhantomCall's wrap code.
#![allow(dead_code)]

use std::time::Duration;

use hotline::ids::Npub;
use hotline::inbox::{InboxEvent, InboxServiceConfig};
use nostr_sdk::nips::nip44;
use nostr_sdk::prelude::*;
use nostr_signal::EmbeddedRelay;

/// The sender's key as the hotline crate names it.
pub fn npub_of(key: &PublicKey) -> Npub {
    Npub::from_bytes(key.to_bytes())
}

/// Inbox settings for loopback: every relay local, short lookups and delays.
pub fn service_config(relay: &EmbeddedRelay, dispatchers: Vec<Npub>) -> InboxServiceConfig {
    let mut config = InboxServiceConfig::new(vec![relay.url().clone()], dispatchers);
    let t = &mut config.transport;
    t.reconnect_interval = Duration::from_millis(300);
    t.dm_relay_lookup_timeout = Duration::from_millis(200);
    t.allow_local_peer_relays = true;
    t.self_copy_delay = Duration::from_millis(50)..Duration::from_millis(100);
    config
}

/// NIP-59's "randomise created_at up to two days into the past".
fn random_past() -> Timestamp {
    let back = ::rand::random_range(0..2 * 24 * 3600);
    Timestamp::from(Timestamp::now().as_secs() - back)
}

/// A NIP-17 direct message from `sender` to `recipient`, built step by step as NIP-17
/// lays it out: the kind 14 rumor (unsigned, one `p` tag), sealed in a kind 13 signed by
/// the sender (no tags, NIP-44 to the recipient), wrapped in a kind 1059 signed by a
/// random key, with the recipient's `p` tag; both outer layers get randomised times.
pub fn nip17_dm(sender: &Keys, recipient: &PublicKey, text: &str) -> Event {
    let mut rumor = UnsignedEvent::new(
        sender.public_key(),
        Timestamp::now(),
        Kind::from(14),
        [Tag::public_key(*recipient)],
        text,
    );
    rumor.ensure_id();
    let sealed = nip44::encrypt(
        sender.secret_key(),
        recipient,
        rumor.as_json(),
        nip44::Version::V2,
    )
    .unwrap();
    let seal = EventBuilder::new(Kind::from(13), sealed)
        .custom_created_at(random_past())
        .sign_with_keys(sender)
        .unwrap();
    let random = Keys::generate();
    let wrapped = nip44::encrypt(
        random.secret_key(),
        recipient,
        seal.as_json(),
        nip44::Version::V2,
    )
    .unwrap();
    EventBuilder::new(Kind::from(1059), wrapped)
        .tag(Tag::public_key(*recipient))
        .custom_created_at(random_past())
        .sign_with_keys(&random)
        .unwrap()
}

/// What [`nip17_open`] reads out of a wrap.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The seal's verified signer, equal to the rumor's author.
    pub author: PublicKey,
    /// The rumor, as JSON.
    pub rumor: serde_json::Value,
}

impl Opened {
    /// The rumor's `p` tags.
    pub fn p_tags(&self) -> Vec<String> {
        self.tag_values("p")
    }

    /// Values of the rumor's tags named `name`.
    pub fn tag_values(&self, name: &str) -> Vec<String> {
        self.rumor["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t[0] == name)
            .map(|t| t[1].as_str().unwrap().to_owned())
            .collect()
    }

    /// The rumor's text.
    pub fn text(&self) -> &str {
        self.rumor["content"].as_str().unwrap()
    }
}

/// Opens a NIP-17 wrap addressed to `receiver`, checking what NIP-17 asks a client to
/// check: wrap kind 1059, seal kind 13 with a valid signature, rumor kind 14 authored by
/// the seal's signer. `None` if it is not for `receiver` or any check fails.
pub fn nip17_open(receiver: &Keys, wrap: &Event) -> Option<Opened> {
    if wrap.kind != Kind::from(1059) {
        return None;
    }
    let seal_json = nip44::decrypt(receiver.secret_key(), &wrap.pubkey, &wrap.content).ok()?;
    let seal = Event::from_json(seal_json).ok()?;
    if seal.kind != Kind::from(13) || seal.verify().is_err() {
        return None;
    }
    let rumor_json = nip44::decrypt(receiver.secret_key(), &seal.pubkey, &seal.content).ok()?;
    let rumor: serde_json::Value = serde_json::from_str(&rumor_json).ok()?;
    if rumor["kind"] != 14 || rumor["pubkey"] != seal.pubkey.to_hex() {
        return None;
    }
    Some(Opened {
        author: seal.pubkey,
        rumor,
    })
}

/// A plain nostr-sdk client on `relay`, outside anything the hotline wrote.
pub async fn outside_client(relay: &EmbeddedRelay) -> Client {
    let client = Client::default();
    client.add_relay(relay.url().clone()).await.unwrap();
    client.connect().await;
    client.wait_for_connection(Duration::from_secs(5)).await;
    client
}

/// Everything the relay holds of kind 1059 (optionally only for `p`).
pub async fn stored_wraps(client: &Client, p: Option<PublicKey>) -> Vec<Event> {
    let mut filter = Filter::new().kind(Kind::GiftWrap).limit(5000);
    if let Some(p) = p {
        filter = filter.pubkey(p);
    }
    client
        .fetch_events(filter, Duration::from_secs(3))
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Everything the relay holds, every kind.
pub async fn everything_stored(client: &Client) -> Vec<Event> {
    client
        .fetch_events(Filter::new().limit(5000), Duration::from_secs(3))
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The next event matching `want`, within ten seconds.
pub async fn wait_for(
    events: &mut tokio::sync::broadcast::Receiver<InboxEvent>,
    want: impl Fn(&InboxEvent) -> bool,
) -> InboxEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.expect("inbox events open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the inbox event arrives in time")
}

/// Polls `check` until it holds, for up to five seconds.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}
