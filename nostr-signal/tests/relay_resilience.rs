//! Delivery survives relays going away: a relay that comes back, and relays that never do.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nostr_sdk::{Client, Keys, Timestamp};
use nostr_signal::{build_wrap, DeliveryForm, EmbeddedRelay, RejectReason, SignalTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_down_then_up_the_pool_reconnects_and_the_message_arrives() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let addr = relay.addr();
    let url = relay.url().clone();
    let (_alice, alice_tx) = client(vec![url.clone()]).await;
    let (bob, bob_tx) = client(vec![url.clone()]).await;
    let mut bob_in = bob_tx.incoming();

    relay.shutdown().await;
    drop(relay);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Alice sends while the relay is down; the send keeps trying.
    let offer = offer_to(&bob.public_key());
    let sent = {
        let offer = offer.clone();
        let peer = bob.public_key();
        tokio::spawn(async move {
            let r = alice_tx.send(peer, &offer).await;
            (r, alice_tx)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _relay_again = EmbeddedRelay::start(addr)
        .await
        .expect("relay restarts on the same port");

    let got = next_message(&mut bob_in, "offer sent while the relay was down").await;
    assert_eq!(got.message, offer);
    let (result, _alice_tx) = sent.await.unwrap();
    assert_eq!(result.unwrap().accepted_by, url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_published_to_three_relays_of_which_two_are_down_still_arrives() {
    let up = EmbeddedRelay::start_on_loopback().await.unwrap();
    let mut down = Vec::new();
    for _ in 0..2 {
        let r = EmbeddedRelay::start_on_loopback().await.unwrap();
        down.push(r.url().clone());
        r.shutdown().await;
    }
    let relays = vec![down[0].clone(), up.url().clone(), down[1].clone()];
    let (_alice, alice_tx) = client(relays.clone()).await;
    let (bob, bob_tx) = client(relays).await;
    let mut bob_in = bob_tx.incoming();
    let offer = offer_to(&bob.public_key());
    let started = Instant::now();
    let report = alice_tx.send(bob.public_key(), &offer).await.unwrap();
    assert_eq!(&report.accepted_by, up.url());
    let got = next_message(&mut bob_in, "offer via the one live relay").await;
    assert_eq!(got.message, offer);
    // Dead relays must not hold the call up for their whole retry deadline.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "send waited {:?} on dead relays",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_relays_give_a_clear_error() {
    let r = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = r.url().clone();
    r.shutdown().await;
    drop(r);
    let mut config = fast_config(vec![url]);
    config.connect_timeout = Duration::from_millis(800);
    let err = nostr_signal::NostrTransport::connect(nostr_signal::Identity::generate(), config)
        .await
        .err()
        .expect("no relay reachable");
    assert!(
        matches!(err, nostr_signal::SignalError::NoRelayReachable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no relay reachable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_wrap_from_the_relay_is_counted_and_never_delivered() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let mut bob_in = bob_tx.incoming();
    // Mallory publishes, with a plain nostr client, a well-formed wrap of a stale offer.
    let mallory = Keys::generate();
    let stale = Timestamp::now() - Duration::from_secs(600);
    let wrap = build_wrap(
        &mallory,
        &bob.public_key(),
        &offer_to(&bob.public_key()),
        DeliveryForm::Sealed,
        stale,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let raw = Client::default();
    raw.add_relay(relay.url().clone()).await.unwrap();
    raw.connect().await;
    raw.send_event(&wrap).await.unwrap();
    expect_silence(&mut bob_in, Duration::from_millis(700)).await;
    assert_eq!(bob_tx.rejection_counts().get(RejectReason::Stale), 1);
}
