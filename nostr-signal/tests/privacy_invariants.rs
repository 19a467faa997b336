//! DESIGN.md's signaling privacy invariants, each tested by name: relays see neither who
//! calls whom nor what is said; logs carry no payload.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use nostr_sdk::{Client, Filter, JsonUtil, Keys, Kind, RelayPoolNotification, Timestamp};
use nostr_signal::{
    build_wrap, DeliveryForm, EmbeddedRelay, SignalTransport, Verifier, VerifierConfig,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_invariant_relay_sees_neither_caller_nor_call_content() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (alice, alice_tx) = client(vec![relay.url().clone()]).await;
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let mut bob_in = bob_tx.incoming();
    let offer = offer_to(&bob.public_key());
    for form in [DeliveryForm::Sealed, DeliveryForm::Direct] {
        // A distinct message per form: the same rumor twice would be a replay.
        let offer = phantomcall_schemas::CallMessage {
            call_id: phantomcall_schemas::CallId::new_random(),
            ..offer.clone()
        };
        alice_tx
            .send_with_form(bob.public_key(), &offer, form)
            .await
            .unwrap();
        next_message(&mut bob_in, "offer").await;
    }
    // The copies for Alice's own devices follow after a random pause.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Everything the relay stored, as any relay operator would see it.
    let observer = Client::default();
    observer.add_relay(relay.url().clone()).await.unwrap();
    observer.connect().await;
    let stored = observer
        .fetch_events(Filter::new().kind(Kind::GiftWrap), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        stored.len() >= 4,
        "wraps to bob and alice's own copies, both forms"
    );
    let content_secrets = [
        offer.call_id.to_string(),
        "fingerprint".to_string(),
        "opus".to_string(),
        "25050".to_string(),
    ];
    for wrap in stored.iter() {
        let json = wrap.as_json();
        // The recipient is visible (the p tag relays deliver by); the other party never is:
        // a wrap to Bob does not name Alice, Alice's copy for her devices does not name Bob.
        let recipient = *wrap.tags.public_keys().next().expect("p tag");
        let other = if recipient == bob.public_key() {
            alice.public_key()
        } else {
            bob.public_key()
        };
        assert!(
            !json.contains(&other.to_hex()),
            "relay can tell who the other party is"
        );
        for secret in &content_secrets {
            assert!(
                !json.contains(secret.as_str()),
                "relay can read {secret:?} in a wrap"
            );
        }
        assert_ne!(
            wrap.pubkey,
            alice.public_key(),
            "wrap not signed by the caller"
        );
        let tag_names: Vec<String> = wrap.tags.iter().map(|t| t.kind().to_string()).collect();
        assert!(
            tag_names.iter().all(|t| t == "p" || t == "expiration"),
            "only the recipient and expiration are visible: {tag_names:?}"
        );
    }
}

/// A writer that keeps everything the log subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn privacy_invariant_rejection_logs_carry_no_payload() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let alice = Keys::generate();
    let bob = Keys::generate();
    let offer = offer_to(&bob.public_key());
    // A stale offer: rejected after full decryption, when the payload is in memory.
    let stale = Timestamp::now() - Duration::from_secs(600);
    let wrap = build_wrap(
        &alice,
        &bob.public_key(),
        &offer,
        DeliveryForm::Sealed,
        stale,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let mut verifier = Verifier::new(bob.clone(), VerifierConfig::default());
    tracing::subscriber::with_default(subscriber, || {
        assert!(verifier.verify(&wrap, Timestamp::now()).is_err());
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("Stale"),
        "the rejection is logged with its reason: {log}"
    );
    for secret in [
        alice.public_key().to_hex(),
        offer.call_id.to_string(),
        "fingerprint".into(),
        "127.0.0.1".into(),
    ] {
        assert!(!log.contains(&secret), "log leaks {secret:?}: {log}");
    }
}

#[tokio::test]
async fn privacy_invariant_wrap_expiration_does_not_reveal_the_send_time() {
    let alice = Keys::generate();
    let bob = Keys::generate();
    let offer = offer_to(&bob.public_key());
    let sent = Timestamp::now();
    let mut offsets = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let wrap = build_wrap(
            &alice,
            &bob.public_key(),
            &offer,
            DeliveryForm::Sealed,
            sent,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
        let expires = wrap.tags.expiration().expect("stored wraps expire");
        let offset = expires.as_secs() - sent.as_secs();
        assert!(
            (300..600).contains(&offset),
            "expiration {offset} s after sending"
        );
        offsets.insert(offset);
    }
    // A fixed offset would give the send time away to the second.
    assert!(offsets.len() >= 20, "expirations barely vary: {offsets:?}");
}

#[tokio::test]
async fn privacy_invariant_own_copy_is_sent_apart_from_the_wrap_to_the_peer() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (alice, alice_tx) = client(vec![relay.url().clone()]).await;
    let (bob, _bob_tx) = client(vec![relay.url().clone()]).await;
    let observer = Client::default();
    observer.add_relay(relay.url().clone()).await.unwrap();
    observer.connect().await;
    observer
        .subscribe(
            Filter::new()
                .kind(Kind::GiftWrap)
                // No `since`: NIP-59 back-dates wraps; only live arrivals are counted below.
                .pubkeys([alice.public_key(), bob.public_key()]),
            None,
        )
        .await
        .unwrap();
    let mut seen = observer.notifications();
    // NIP-59 back-dates wraps; only live arrivals count here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice_tx
        .send(bob.public_key(), &offer_to(&bob.public_key()))
        .await
        .unwrap();
    let mut to_bob = None;
    let mut to_alice = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (to_bob.is_none() || to_alice.is_none()) && tokio::time::Instant::now() < deadline {
        let Ok(Ok(RelayPoolNotification::Event { event, .. })) =
            tokio::time::timeout(Duration::from_secs(5), seen.recv()).await
        else {
            continue;
        };
        let recipient = *event.tags.public_keys().next().unwrap();
        let at = tokio::time::Instant::now();
        if recipient == bob.public_key() {
            to_bob.get_or_insert(at);
        } else if recipient == alice.public_key() {
            to_alice.get_or_insert(at);
        }
    }
    let (to_bob, to_alice) = (to_bob.expect("wrap to bob"), to_alice.expect("own copy"));
    assert!(
        to_alice >= to_bob + Duration::from_millis(250),
        "the copy to our own devices followed the peer's wrap after {:?}",
        to_alice.saturating_duration_since(to_bob)
    );
}
