//! Fan-out and fan-in of wraps: one message to several recipients (a group offer) is one
//! rumor, one wrap per recipient and one copy for our own devices; one wrap that arrives
//! from several relays is delivered and verified once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use nostr_sdk::{Client, Filter, Kind};
use nostr_signal::{EmbeddedRelay, Recipients, Route, SignalTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_invariant_a_group_message_goes_in_one_wrap_per_member_naming_only_that_member() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = relay.url().clone();
    let (alice, alice_tx) = client(vec![url.clone()]).await;
    let (bob, bob_tx) = client(vec![url.clone()]).await;
    let (carol, carol_tx) = client(vec![url.clone()]).await;
    let (dave, dave_tx) = client(vec![url.clone()]).await;
    let mut inboxes = [bob_tx.incoming(), carol_tx.incoming(), dave_tx.incoming()];

    let mut offer = offer_to(&bob.public_key());
    offer.also_to = vec![carol.public_key().to_hex(), dave.public_key().to_hex()];
    let members = [bob.public_key(), carol.public_key(), dave.public_key()];
    let results = alice_tx
        .send_to(
            &Recipients::Many(members.to_vec()),
            &offer,
            Route::PeerInbox,
        )
        .await
        .expect("the message can be sent");
    assert_eq!(results.len(), 3);
    let reports: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every member's relay took its wrap"))
        .collect();
    assert!(
        reports.iter().all(|r| r.rumor_id == reports[0].rumor_id),
        "one rumor for all"
    );

    for (inbox, who) in inboxes.iter_mut().zip(["bob", "carol", "dave"]) {
        let got = next_message(inbox, who).await;
        assert_eq!(got.sender, alice.public_key(), "{who}");
        assert_eq!(got.message.call_id, offer.call_id, "{who}");
        assert_eq!(got.rumor_id, reports[0].rumor_id, "{who}");
    }
    // Each got it once.
    for inbox in inboxes.iter_mut() {
        expect_silence(inbox, Duration::from_millis(300)).await;
    }

    // What the relay stored: one wrap per recipient, and one for Alice's own devices.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let observer = Client::default();
    observer.add_relay(url).await.unwrap();
    observer.connect().await;
    let stored = observer
        .fetch_events(Filter::new().kind(Kind::GiftWrap), Duration::from_secs(3))
        .await
        .unwrap();
    let mut per_recipient: HashMap<_, usize> = HashMap::new();
    for wrap in stored.iter() {
        // Relays see who each wrap is for, never the group: one `p` tag per wrap, and
        // neither the sender nor the other members anywhere in it.
        let named: Vec<_> = wrap.tags.public_keys().collect();
        assert_eq!(named.len(), 1, "{named:?}");
        let recipient = *named[0];
        let json = nostr_sdk::JsonUtil::as_json(wrap);
        for other in members.iter().chain([&alice.public_key()]) {
            if *other != recipient {
                assert!(
                    !json.contains(&other.to_hex()),
                    "a wrap names another party"
                );
            }
        }
        *per_recipient.entry(recipient).or_default() += 1;
    }
    for key in members.iter().chain([&alice.public_key()]) {
        assert_eq!(per_recipient.get(key), Some(&1), "{per_recipient:?}");
    }
    assert_eq!(stored.len(), 4);
}

/// The same wrap from two relays (a message the sender published to both of our inbox
/// relays): delivered once, and checked once, not refused the second time as a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrap_arriving_from_two_relays_is_verified_once() {
    let first = EmbeddedRelay::start_on_loopback().await.unwrap();
    let second = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (bob, bob_tx) = client(vec![first.url().clone(), second.url().clone()]).await;
    let mut inbox = bob_tx.incoming();
    let alice = nostr_sdk::Keys::generate();
    let wrap = nostr_signal::build_wrap(
        &alice,
        &bob.public_key(),
        &offer_to(&bob.public_key()),
        nostr_signal::DeliveryForm::Sealed,
        nostr_sdk::Timestamp::now(),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let sender = Client::default();
    for relay in [&first, &second] {
        sender.add_relay(relay.url().clone()).await.unwrap();
    }
    sender.connect().await;
    for relay in [&first, &second] {
        let output = sender
            .send_event_to([relay.url().clone()], &wrap)
            .await
            .expect("the wrap is sent");
        assert!(
            output.success.contains(relay.url()),
            "each relay stores the wrap: {output:?}"
        );
    }

    let got = next_message(&mut inbox, "the offer").await;
    assert_eq!(got.sender, alice.public_key());
    expect_silence(&mut inbox, Duration::from_millis(800)).await;
    assert!(
        bob_tx.rejection_counts().snapshot().is_empty(),
        "the second arrival was not verified again: {:?}",
        bob_tx.rejection_counts().snapshot()
    );
}
