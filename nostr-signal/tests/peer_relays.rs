//! A peer's DM relay list (kind 10050) is the peer's to write: it must never steer our
//! connections to local addresses, strangers' relays are not contacted before the user
//! accepted anything, and relays added for a peer do not stay connected for ever.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{client, fast_config, next_message, offer_to};
use nostr_sdk::{Client, EventBuilder, Kind, Tag, TagKind};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransport, RelayUrl, Route, SignalTransport};

/// A TCP port on loopback that counts the connections made to it.
struct Trap {
    url: RelayUrl,
    hits: Arc<AtomicUsize>,
}

fn trap() -> Trap {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Trap {
        url: RelayUrl::parse(&format!("ws://127.0.0.1:{port}")).unwrap(),
        hits,
    }
}

/// Publishes `identity`'s DM relay list naming `relays`, on `on`.
async fn publish_list(identity: &Identity, on: &RelayUrl, relays: &[RelayUrl]) {
    let list = EventBuilder::new(Kind::InboxRelays, "")
        .tags(
            relays
                .iter()
                .map(|u| Tag::custom(TagKind::Relay, [u.to_string()])),
        )
        .sign_with_keys(identity.keys())
        .unwrap();
    let publisher = Client::default();
    publisher.add_relay(on.clone()).await.unwrap();
    publisher.connect().await;
    publisher.send_event(&list).await.unwrap();
    publisher.shutdown().await;
}

#[tokio::test]
async fn peer_relay_list_pointing_at_a_local_address_is_never_contacted() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let trap = trap();
    let mallory = Identity::generate();
    publish_list(&mallory, relay.url(), std::slice::from_ref(&trap.url)).await;
    // Alice is a real user: peers' local relays are not allowed.
    let alice = Identity::generate();
    let mut config = fast_config(vec![relay.url().clone()]);
    config.allow_local_peer_relays = false;
    let alice_tx = NostrTransport::connect(alice, config).await.unwrap();
    let mallory_tx =
        NostrTransport::connect(mallory.clone(), fast_config(vec![relay.url().clone()]))
            .await
            .unwrap();
    let mut mallory_in = mallory_tx.incoming();

    let report = alice_tx
        .send(mallory.public_key(), &offer_to(&mallory.public_key()))
        .await
        .expect("delivered through our own relay instead");
    assert_eq!(&report.accepted_by, relay.url());
    next_message(&mut mallory_in, "offer on the fallback relay").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "the peer's loopback relay was contacted"
    );
    assert!(!alice_tx.connected_relays().await.contains(&trap.url));
}

#[tokio::test]
async fn a_reply_to_a_stranger_never_contacts_their_relays() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let trap = trap();
    let stranger = Identity::generate();
    publish_list(&stranger, relay.url(), std::slice::from_ref(&trap.url)).await;
    // Local peer relays allowed, so only the route keeps us away.
    let (_, alice_tx) = client(vec![relay.url().clone()]).await;
    let reply = offer_to(&stranger.public_key());
    let sent = alice_tx
        .send_via(stranger.public_key(), &reply, Route::OwnRelays)
        .await
        .unwrap();
    assert_eq!(&sent.accepted_by, relay.url());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "stranger's relay contacted"
    );

    // The same message on the peer's route does reach for their relay (the trap is no
    // relay, so it is only counted): the route is what kept us away.
    let alice_tx = Arc::new(alice_tx);
    let sending = {
        let tx = alice_tx.clone();
        let peer = stranger.public_key();
        tokio::spawn(async move { tx.send_via(peer, &offer_to(&peer), Route::PeerInbox).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while trap.hits.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        trap.hits.load(Ordering::SeqCst) > 0,
        "peer route never tried"
    );
    sending.abort();
}

#[tokio::test]
async fn peer_relays_are_disconnected_when_no_longer_needed() {
    let ours = EmbeddedRelay::start_on_loopback().await.unwrap();
    let theirs = EmbeddedRelay::start_on_loopback().await.unwrap();
    let bob = Identity::generate();
    publish_list(&bob, ours.url(), std::slice::from_ref(theirs.url())).await;
    let bob_tx = NostrTransport::connect(bob.clone(), fast_config(vec![theirs.url().clone()]))
        .await
        .unwrap();
    let mut bob_in = bob_tx.incoming();
    let mut config = fast_config(vec![ours.url().clone()]);
    config.peer_relay_idle = Duration::from_millis(800);
    let alice = Identity::generate();
    let alice_tx = NostrTransport::connect(alice.clone(), config)
        .await
        .unwrap();
    alice_tx
        .send(bob.public_key(), &offer_to(&bob.public_key()))
        .await
        .unwrap();
    next_message(&mut bob_in, "offer on bob's relay").await;
    assert!(alice_tx.connected_relays().await.contains(theirs.url()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        if !alice_tx.connected_relays().await.contains(theirs.url()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob's relay still connected long after the last message"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        alice_tx.connected_relays().await.contains(ours.url()),
        "our own relay stays"
    );
    // Dropping a peer relay must not stop us receiving on our own (nostr-sdk announces a
    // removed relay with the pool's shutdown notification).
    let mut alice_in = alice_tx.incoming();
    bob_tx.set_peer_dm_relays(alice.public_key(), vec![ours.url().clone()]);
    bob_tx
        .send(alice.public_key(), &offer_to(&alice.public_key()))
        .await
        .unwrap();
    next_message(&mut alice_in, "bob's offer after his relay was dropped").await;
}
