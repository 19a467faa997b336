//! One message to several recipients (a group offer): one rumor, one wrap per recipient,
//! each delivered and verified, and one copy for our own devices.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use nostr_sdk::{Client, Filter, Kind};
use nostr_signal::{EmbeddedRelay, Route, SignalTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_to_three_recipients_goes_in_one_wrap_each() {
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
        .send_to_many(&members, &offer, Route::PeerInbox)
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
        let recipient = *wrap.tags.public_keys().next().expect("p tag");
        *per_recipient.entry(recipient).or_default() += 1;
    }
    for key in members.iter().chain([&alice.public_key()]) {
        assert_eq!(per_recipient.get(key), Some(&1), "{per_recipient:?}");
    }
    assert_eq!(stored.len(), 4);
}
