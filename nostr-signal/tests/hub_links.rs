//! The hub over several links: one verifier for all of them, our own copies dropped
//! unopened, links of different kinds side by side, and the chat family next to calls.

mod common;

use std::time::Duration;

use common::*;
use nostr_sdk::{EventBuilder, Keys, Kind, Tag, Timestamp, UnsignedEvent};
use nostr_signal::{
    build_wrap, DeliveryForm, EmbeddedRelay, HubConfig, Identity, LinkKind, MemoryNet,
    NostrTransport, Recipients, RejectReason, Route, SignalHub, SignalTransport,
};
use phantomcall_schemas::ChatMessage;

/// A hub whose only link is `net`.
fn hub_on(net: &MemoryNet, config: HubConfig) -> (Identity, SignalHub) {
    let identity = Identity::generate();
    let hub = SignalHub::new(identity.clone(), config);
    let link = net.attach(identity.public_key(), hub.arrival_sink());
    hub.add_link(std::sync::Arc::new(link));
    (identity, hub)
}

fn chats_on() -> HubConfig {
    let mut config = HubConfig::default();
    config.verifier.accept_chats = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrap_arriving_on_two_links_of_different_kinds_is_verified_once() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let net = MemoryNet::new();
    bob_tx.add_link(std::sync::Arc::new(
        net.attach(bob.public_key(), bob_tx.hub().arrival_sink()),
    ));
    assert_eq!(
        bob_tx.hub().link_kinds(),
        [LinkKind::Relays, LinkKind::Memory]
    );
    let mut inbox = bob_tx.incoming();

    let alice = Keys::generate();
    let wrap = build_wrap(
        &alice,
        &bob.public_key(),
        &offer_to(&bob.public_key()),
        DeliveryForm::Sealed,
        Timestamp::now(),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(net.inject(wrap.clone(), bob.public_key()).await, 1);
    let sender = nostr_sdk::Client::default();
    sender.add_relay(relay.url().clone()).await.unwrap();
    sender.connect().await;
    sender
        .send_event_to([relay.url().clone()], &wrap)
        .await
        .expect("the relay takes the wrap");

    let got = next_message(&mut inbox, "the offer").await;
    assert_eq!(got.sender, alice.public_key());
    expect_silence(&mut inbox, Duration::from_millis(800)).await;
    assert_eq!(bob_tx.intake_counts().duplicates(), 1, "the second arrival");
    assert!(
        bob_tx.rejection_counts().snapshot().is_empty(),
        "the second arrival never reached the verifier: {:?}",
        bob_tx.rejection_counts().snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_copies_coming_back_are_dropped_unopened_but_reach_our_other_device() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = relay.url().clone();
    let (alice, alice_tx) = client(vec![url.clone()]).await;
    let other_device = NostrTransport::connect(alice.clone(), fast_config(vec![url.clone()]))
        .await
        .unwrap();
    let (bob, _bob_tx) = client(vec![url]).await;
    let mut own_inbox = alice_tx.incoming();
    let mut other_inbox = other_device.incoming();

    alice_tx
        .send(bob.public_key(), &offer_to(&bob.public_key()))
        .await
        .unwrap();

    let copy = next_message(&mut other_inbox, "the copy on the other device").await;
    assert!(copy.from_own_device);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while alice_tx.intake_counts().own_copies() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sending device never saw its copy come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_silence(&mut own_inbox, Duration::from_millis(300)).await;
    assert_eq!(
        alice_tx.rejection_counts().total(),
        0,
        "the copy was dropped before the verifier, not refused by it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_on_an_in_process_link_reach_three_members_with_one_wrap_each() {
    let net = MemoryNet::new();
    let (alice, alice_hub) = hub_on(&net, HubConfig::default());
    let members: Vec<_> = (0..3).map(|_| hub_on(&net, HubConfig::default())).collect();
    let mut inboxes: Vec<_> = members.iter().map(|(_, hub)| hub.incoming()).collect();
    assert!(
        alice_hub.hides_network_address(),
        "nothing leaves the process"
    );

    let keys: Vec<_> = members.iter().map(|(id, _)| id.public_key()).collect();
    let mut offer = offer_to(&keys[0]);
    offer.also_to = keys[1..].iter().map(|k| k.to_hex()).collect();
    let results = alice_hub
        .send_to(&Recipients::Many(keys.clone()), &offer, Route::PeerInbox)
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    for (inbox, key) in inboxes.iter_mut().zip(&keys) {
        let got = next_message(inbox, "a member").await;
        assert_eq!(got.sender, alice.public_key());
        assert_eq!(got.rumor_id, results[0].as_ref().unwrap().rumor_id);
        expect_silence(inbox, Duration::from_millis(200)).await;
        // Each member's verifier opened exactly its own wrap: nothing was refused as
        // "not for us", so no member was handed another's wrap.
        let hub = &members
            .iter()
            .find(|(id, _)| id.public_key() == *key)
            .unwrap()
            .1;
        assert_eq!(hub.rejection_counts().total(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_invited_mid_call_gets_through_every_members_verifier() {
    let net = MemoryNet::new();
    let (alice, alice_hub) = hub_on(&net, HubConfig::default());
    let (bob, bob_hub) = hub_on(&net, HubConfig::default());
    let (carol, carol_hub) = hub_on(&net, HubConfig::default());
    let (dave, dave_hub) = hub_on(&net, HubConfig::default());
    let mut bob_inbox = bob_hub.incoming();
    let _keep = (&carol_hub, &alice);

    // Alice's group call with Bob and Carol.
    let mut offer = offer_to(&bob.public_key());
    offer.also_to = vec![carol.public_key().to_hex()];
    let to = Recipients::Many(vec![bob.public_key(), carol.public_key()]);
    alice_hub
        .send_to(&to, &offer, Route::PeerInbox)
        .await
        .unwrap();
    next_message(&mut bob_inbox, "the group offer").await;

    // Dave, invited later, turns up with NIP-AC's "I joined": an answer naming every member.
    let mut joined = one_of_each_kind(&alice.public_key(), offer.call_id).remove(1);
    assert_eq!(joined.kind(), phantomcall_schemas::CallKind::Answer);
    joined.also_to = vec![bob.public_key().to_hex(), carol.public_key().to_hex()];
    let all = Recipients::Many(vec![
        alice.public_key(),
        bob.public_key(),
        carol.public_key(),
    ]);
    dave_hub
        .send_to(&all, &joined, Route::PeerInbox)
        .await
        .unwrap();
    let got = next_message(&mut bob_inbox, "Dave's join").await;
    assert_eq!(got.sender, dave.public_key());

    // Someone who names no member but Bob stays out, call id or not.
    let (_, mallory_hub) = hub_on(&net, HubConfig::default());
    let mut hangup = one_of_each_kind(&bob.public_key(), offer.call_id)
        .pop()
        .unwrap();
    hangup.also_to.clear();
    mallory_hub.send(bob.public_key(), &hangup).await.unwrap();
    expect_silence(&mut bob_inbox, Duration::from_millis(300)).await;
    assert_eq!(
        bob_hub.rejection_counts().get(RejectReason::ForeignCallId),
        1
    );
}

/// A kind 14 rumor laid out as NIP-17's text shows it, sealed (kind 13) and gift-wrapped
/// (kind 1059) by nostr-sdk's NIP-59 code, not by PhantomCall's.
async fn nip17_wrap(sender: &Keys, receiver: &Keys, text: &str) -> nostr_sdk::Event {
    let tags = vec![
        Tag::parse(["p", &receiver.public_key().to_hex(), "wss://inbox.example"]).unwrap(),
        Tag::parse(["subject", "intake"]).unwrap(),
    ];
    let mut rumor = UnsignedEvent::new(
        sender.public_key(),
        Timestamp::now(),
        Kind::PrivateDirectMessage,
        tags,
        text,
    );
    rumor.ensure_id();
    EventBuilder::gift_wrap(sender, &receiver.public_key(), rumor, [])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nip17_chat_built_from_the_nip_text_reaches_a_hub_that_takes_chats() {
    let net = MemoryNet::new();
    let (hotline, hotline_hub) = hub_on(&net, chats_on());
    let (caller, caller_hub) = hub_on(&net, HubConfig::default());
    let mut chats = hotline_hub.incoming_chats();
    let someone = Keys::generate();
    let hotline_keys = hotline.keys().clone();

    let wrap = nip17_wrap(&someone, &hotline_keys, "I need help tonight").await;
    assert_eq!(net.inject(wrap, hotline.public_key()).await, 1);
    let got = tokio::time::timeout(Duration::from_secs(5), chats.recv())
        .await
        .expect("the chat arrives")
        .unwrap();
    assert_eq!(got.sender, someone.public_key());
    assert_eq!(got.chat.text, "I need help tonight");
    assert_eq!(got.chat.subject.as_deref(), Some("intake"));

    // PhantomCall's own chats go the same way, and a plain caller's hub does not take them.
    let reply = ChatMessage::new(vec![caller.public_key().to_hex()], "We are here.");
    let sent = hotline_hub.send_chat(&reply).await.unwrap();
    assert!(sent[0].is_ok(), "{sent:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while caller_hub
        .rejection_counts()
        .get(RejectReason::UnregisteredKind)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn controls_on() -> HubConfig {
    let mut config = HubConfig::default();
    config.verifier.accept_controls = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_message_reaches_only_a_hub_that_takes_controls_and_only_its_addressee() {
    let net = MemoryNet::new();
    let (hotline, hotline_hub) = hub_on(&net, controls_on());
    let (dispatcher, dispatcher_hub) = hub_on(&net, controls_on());
    let (caller, caller_hub) = hub_on(&net, HubConfig::default());
    let mut controls = dispatcher_hub.incoming_controls();
    let mut hotline_controls = hotline_hub.incoming_controls();

    hotline_hub
        .send_control(dispatcher.public_key(), r#"{"type":"presence"}"#)
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), controls.recv())
        .await
        .expect("the control message arrives")
        .unwrap();
    assert_eq!(got.sender, hotline.public_key());
    assert_eq!(got.content, r#"{"type":"presence"}"#);
    // No copy for the sender's own devices: the hotline sees nothing of its own.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hotline_controls.recv())
            .await
            .is_err()
    );

    // A client that does not take controls refuses them as an unknown kind.
    hotline_hub
        .send_control(caller.public_key(), r#"{"type":"position"}"#)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while caller_hub
        .rejection_counts()
        .get(RejectReason::UnregisteredKind)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A control rumor whose p tag names someone else is not for us, whoever's wrap it is in.
    let sender = Keys::generate();
    let mut rumor = UnsignedEvent::new(
        sender.public_key(),
        Timestamp::now(),
        Kind::from(nostr_signal::CONTROL_KIND),
        [Tag::public_key(caller.public_key())],
        r#"{"type":"offer"}"#,
    );
    rumor.ensure_id();
    let wrap = EventBuilder::gift_wrap(&sender, &dispatcher.public_key(), rumor, [])
        .await
        .unwrap();
    assert_eq!(net.inject(wrap, dispatcher.public_key()).await, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while dispatcher_hub
        .rejection_counts()
        .get(RejectReason::NotAddressedToUs)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), controls.recv())
            .await
            .is_err()
    );
}
