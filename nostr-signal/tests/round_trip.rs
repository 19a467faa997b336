//! Every call message kind travels between two clients through a real websocket relay, in
//! both delivery forms, and the sender's other devices receive their copy.

mod common;

use common::*;
use nostr_signal::{DeliveryForm, EmbeddedRelay, NostrTransport, SignalTransport};
use phantomcall_schemas::CallId;

async fn every_kind_round_trips(form: DeliveryForm) {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (alice, alice_tx) = client(vec![relay.url().clone()]).await;
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let mut bob_in = bob_tx.incoming();
    let mut alice_in = alice_tx.incoming();

    let call_id = CallId::new_random();
    for message in one_of_each_kind(&bob.public_key(), call_id) {
        let report = alice_tx
            .send_with_form(bob.public_key(), &message, form)
            .await
            .unwrap();
        assert_eq!(report.form, form);
        let got = next_message(&mut bob_in, "alice's message").await;
        assert_eq!(got.sender, alice.public_key());
        assert_eq!(got.message, message, "message arrives unchanged");
        assert_eq!(got.form, form);
        assert_eq!(got.rumor_id, report.rumor_id);
        assert!(!got.from_own_device);

        // And back: Bob replies in the form Alice used, without being told.
        let reply = one_of_each_kind(&alice.public_key(), call_id)
            .into_iter()
            .find(|m| m.kind() == message.kind())
            .unwrap();
        let report = bob_tx.send(alice.public_key(), &reply).await.unwrap();
        assert_eq!(report.form, form, "reply uses the peer's form");
        // Alice's hub drops the copy of what she sent for her other devices when it comes
        // back (by id, unopened), so the next thing she sees is Bob's reply.
        let got = next_message(&mut alice_in, "bob's reply").await;
        assert_eq!(got.sender, bob.public_key());
        assert_eq!(got.message, reply);
    }
    // Every copy came back to its sender and was dropped there, none reached the verifier.
    let sent = one_of_each_kind(&bob.public_key(), call_id).len() as u64;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while alice_tx.intake_counts().own_copies() < sent || bob_tx.intake_counts().own_copies() < sent
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "own copies seen: alice {}, bob {} of {sent}",
            alice_tx.intake_counts().own_copies(),
            bob_tx.intake_counts().own_copies()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    expect_silence(&mut alice_in, std::time::Duration::from_millis(200)).await;
    expect_silence(&mut bob_in, std::time::Duration::from_millis(200)).await;
    assert_eq!(bob_tx.rejection_counts().total(), 0);
    assert_eq!(alice_tx.rejection_counts().total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_round_trips_sealed() {
    every_kind_round_trips(DeliveryForm::Sealed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_round_trips_direct_nip_ac_form() {
    every_kind_round_trips(DeliveryForm::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_device_of_the_sender_receives_the_copy() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (alice, alice_laptop) = client(vec![relay.url().clone()]).await;
    let alice_phone =
        NostrTransport::connect(alice.clone(), fast_config(vec![relay.url().clone()]))
            .await
            .unwrap();
    let (bob, _bob_tx) = client(vec![relay.url().clone()]).await;
    let mut phone_in = alice_phone.incoming();
    let offer = offer_to(&bob.public_key());
    alice_laptop.send(bob.public_key(), &offer).await.unwrap();
    let copy = next_message(&mut phone_in, "copy on alice's phone").await;
    assert!(copy.from_own_device);
    assert_eq!(copy.sender, alice.public_key());
    assert_eq!(copy.message, offer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wraps_go_to_the_recipients_published_dm_relays() {
    // Bob reads only on relay C and publishes that (kind 10050) on relay A, the only relay
    // Alice knows. Alice must look the list up on A and deliver on C.
    let relay_a = EmbeddedRelay::start_on_loopback().await.unwrap();
    let relay_c = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (bob, bob_tx) = client(vec![relay_c.url().clone()]).await;
    bob_tx
        .publish_dm_relays_to(vec![relay_a.url().clone()])
        .await
        .unwrap();
    let (_alice, alice_tx) = client(vec![relay_a.url().clone()]).await;
    let mut bob_in = bob_tx.incoming();
    let offer = offer_to(&bob.public_key());
    let report = alice_tx.send(bob.public_key(), &offer).await.unwrap();
    assert_eq!(
        &report.accepted_by,
        relay_c.url(),
        "delivered to Bob's DM relay"
    );
    let got = next_message(&mut bob_in, "offer on bob's DM relay").await;
    assert_eq!(got.message, offer);
}
