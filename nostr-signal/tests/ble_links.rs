//! The Bluetooth LE mesh as a hub link, over the simulated radio: call messages cross
//! several hops, say the path they took, and meet the same one verifier as relay traffic.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ble_fallback::sim::{SimAir, SimParams, SimRadio};
use ble_fallback::{MeshConfig, MeshNode};
use common::*;
use nostr_signal::{
    Accepted, BlePaths, BleSignalLink, EmbeddedRelay, HubConfig, Identity, LinkKind,
    NostrTransport, SignalHub, SignalTransport, Via,
};
use phantomcall_schemas::CallBody;

fn mesh_for(
    air: &SimAir,
    name: &str,
    interests: Vec<[u8; 32]>,
    seed: u64,
) -> (Arc<SimRadio>, Arc<MeshNode>) {
    let radio = Arc::new(air.add_node(name));
    let config = MeshConfig {
        interests,
        seed: Some(seed),
        ..MeshConfig::default()
    };
    let mesh = Arc::new(MeshNode::spawn(radio.clone(), config));
    (radio, mesh)
}

/// A hub whose only link is the mesh.
fn ble_hub(
    air: &SimAir,
    name: &str,
    seed: u64,
) -> (Identity, SignalHub, Arc<SimRadio>, Arc<MeshNode>) {
    ble_hub_with(air, name, seed, HubConfig::default())
}

fn ble_hub_with(
    air: &SimAir,
    name: &str,
    seed: u64,
    config: HubConfig,
) -> (Identity, SignalHub, Arc<SimRadio>, Arc<MeshNode>) {
    let identity = Identity::generate();
    let hub = SignalHub::new(identity.clone(), config);
    let key = BleSignalLink::mesh_key(&identity.public_key());
    let (radio, mesh) = mesh_for(air, name, vec![key], seed);
    hub.add_link(Arc::new(BleSignalLink::new(
        mesh.clone(),
        hub.arrival_sink(),
    )));
    (identity, hub, radio, mesh)
}

async fn wait_neighbors(mesh: &MeshNode, count: usize) {
    let mut status = mesh.status();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.neighbors >= count),
    )
    .await
    .expect("neighbours in time")
    .expect("node running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_and_its_answer_cross_a_three_hop_mesh_and_say_their_path() {
    let air = SimAir::new(SimParams::default());
    let (alice, alice_hub, a, mesh_a) = ble_hub(&air, "alice", 1);
    let (b, _relay_b) = mesh_for(&air, "b", Vec::new(), 2);
    let (c, _relay_c) = mesh_for(&air, "c", Vec::new(), 3);
    let (bob, bob_hub, d, mesh_d) = ble_hub(&air, "bob", 4);
    air.line(&[&a, &b, &c, &d]);
    wait_neighbors(&mesh_a, 1).await;
    wait_neighbors(&mesh_d, 1).await;
    assert!(alice_hub.hides_network_address(), "nothing goes over IP");
    let mut bob_inbox = bob_hub.incoming();
    let mut alice_inbox = alice_hub.incoming();

    let offer = offer_to(&bob.public_key());
    let report = alice_hub
        .send(bob.public_key(), &offer)
        .await
        .expect("sent over the mesh");
    assert_eq!(report.accepted_by, Accepted::Link(LinkKind::Ble));
    let got = next_message(&mut bob_inbox, "the offer over three hops").await;
    assert_eq!(got.sender, alice.public_key());
    assert_eq!(got.message, offer);
    assert_eq!(
        got.via,
        Via {
            link: LinkKind::Ble,
            hops: Some(3)
        }
    );
    assert_eq!(got.via.to_string(), "via Bluetooth, 3 hops");

    let mut answer = offer.clone();
    answer.peer = alice.public_key().to_hex();
    answer.body = CallBody::Answer {
        sdp: SAMPLE_SDP.into(),
    };
    bob_hub
        .send(alice.public_key(), &answer)
        .await
        .expect("answer sent");
    let got = next_message(&mut alice_inbox, "the answer over three hops").await;
    assert_eq!(got.sender, bob.public_key());
    assert!(matches!(got.message.body, CallBody::Answer { .. }));
    assert_eq!(got.via.hops, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrap_over_relays_and_bluetooth_is_verified_once() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let air = SimAir::new(SimParams::default());
    let (alice, alice_tx) = client(vec![relay.url().clone()]).await;
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let (a, mesh_a) = mesh_for(
        &air,
        "alice",
        vec![BleSignalLink::mesh_key(&alice.public_key())],
        1,
    );
    let (b, mesh_b) = mesh_for(
        &air,
        "bob",
        vec![BleSignalLink::mesh_key(&bob.public_key())],
        2,
    );
    alice_tx.add_link(Arc::new(BleSignalLink::new(
        mesh_a.clone(),
        alice_tx.hub().arrival_sink(),
    )));
    bob_tx.add_link(Arc::new(BleSignalLink::new(
        mesh_b,
        bob_tx.hub().arrival_sink(),
    )));
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;
    let mut inbox = bob_tx.incoming();

    alice_tx
        .send(bob.public_key(), &offer_to(&bob.public_key()))
        .await
        .unwrap();
    let got = next_message(&mut inbox, "the offer").await;
    assert_eq!(got.sender, alice.public_key());
    expect_silence(&mut inbox, Duration::from_secs(2)).await;
    assert_eq!(
        bob_tx.intake_counts().duplicates(),
        1,
        "the copy over the other path"
    );
    assert!(
        bob_tx.rejection_counts().snapshot().is_empty(),
        "the second copy never reached the verifier: {:?}",
        bob_tx.rejection_counts().snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_in_range_a_send_fails_and_the_wrap_waits_in_the_mesh() {
    let air = SimAir::new(SimParams::default());
    let (alice, alice_hub, a, mesh_a) = ble_hub(&air, "alice", 1);
    let (bob, bob_hub, b, _mesh_b) = ble_hub(&air, "bob", 2);
    let mut inbox = bob_hub.incoming();
    let offer = offer_to(&bob.public_key());
    let error = alice_hub
        .send(bob.public_key(), &offer)
        .await
        .expect_err("nobody in range");
    assert_eq!(
        error.to_string(),
        "the recipient cannot be reached over the Bluetooth LE"
    );
    // Only the peer's wrap: no copy addressed to our own key goes on the air.
    assert_eq!(mesh_a.status().borrow().stored, 1, "kept for later");
    air.set_in_range(&a, &b, true);
    let got = next_message(&mut inbox, "the queued offer").await;
    assert_eq!(got.sender, alice.public_key());
    assert_eq!(got.via.hops, Some(1));
}

/// Every message a listener could rebuild from what went over the air: frame payloads
/// per sender and message id, fragments in order.
fn messages_heard(air: &SimAir) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let mut pieces: BTreeMap<(String, Vec<u8>), BTreeMap<u16, Vec<u8>>> = BTreeMap::new();
    let mut whole = Vec::new();
    for heard in air.captured() {
        let ble_fallback::sim::Heard::Frame { from, frame } = heard else {
            continue;
        };
        let (kind, id, payload) = (frame[1], frame[4..12].to_vec(), &frame[14..]);
        match kind {
            0x02 => whole.push(payload.to_vec()),
            0x03 => {
                let index = u16::from_be_bytes([payload[0], payload[1]]);
                pieces
                    .entry((from, id))
                    .or_default()
                    .insert(index, payload[4..].to_vec());
            }
            _ => {}
        }
    }
    whole.extend(
        pieces
            .into_values()
            .map(|p| p.into_values().flatten().collect()),
    );
    whole
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ble_air_never_carries_the_senders_key_or_a_plaintext_call_field() {
    let air = SimAir::new(SimParams::default());
    air.start_capture();
    let (alice, alice_hub, a, mesh_a) = ble_hub(&air, "alice", 1);
    let (b, _relay_b) = mesh_for(&air, "b", Vec::new(), 2);
    let (bob, bob_hub, d, _mesh_d) = ble_hub(&air, "bob", 3);
    air.line(&[&a, &b, &d]);
    wait_neighbors(&mesh_a, 1).await;
    let mut inbox = bob_hub.incoming();
    let offer = offer_to(&bob.public_key());
    alice_hub.send(bob.public_key(), &offer).await.unwrap();
    next_message(&mut inbox, "the offer").await;

    let heard = messages_heard(&air);
    assert!(!heard.is_empty(), "the listener heard the wraps");
    let alice_hex = alice.public_key().to_hex();
    let alice_raw = alice.public_key().to_bytes();
    let npub = nostr_signal::encode_npub(&alice.public_key());
    let call_id = offer.call_id.to_string();
    for message in &heard {
        let text = String::from_utf8_lossy(message);
        assert!(!text.contains(&alice_hex), "the caller's key in hex");
        assert!(!text.contains(&npub), "the caller's npub");
        assert!(
            !message.windows(32).any(|w| w == alice_raw),
            "the caller's key"
        );
        assert!(!text.contains("a=fingerprint"), "the SDP in the clear");
        assert!(!text.contains(&call_id), "the call id in the clear");
        assert!(!text.contains("\"offer\""), "the message kind in the clear");
    }
    // What a listener does learn: a wrap's recipient, as the relays do (docs/ble.md).
    let bob_hex = bob.public_key().to_hex();
    assert!(heard
        .iter()
        .any(|m| String::from_utf8_lossy(m).contains(&bob_hex)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_group_chats_and_calls_over_the_mesh_and_a_member_away_catches_up_on_return() {
    let air = SimAir::new(SimParams::default());
    let chats = || {
        let mut config = HubConfig::default();
        config.verifier.accept_chats = true;
        config
    };
    let (alice, alice_hub, a, mesh_a) = ble_hub_with(&air, "alice", 1, chats());
    let (bob, bob_hub, b, mesh_b) = ble_hub_with(&air, "bob", 2, chats());
    let (carol, carol_hub, c, _mesh_c) = ble_hub_with(&air, "carol", 3, chats());
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;
    let (mut bob_chats, mut bob_calls) = (bob_hub.incoming_chats(), bob_hub.incoming());
    let (mut carol_chats, mut carol_calls) = (carol_hub.incoming_chats(), carol_hub.incoming());

    // Carol is away: Alice writes to both and starts a group call with both.
    let members = vec![bob.public_key().to_hex(), carol.public_key().to_hex()];
    let chat = phantomcall_schemas::ChatMessage::new(members.clone(), "Meet at the north gate.");
    let sent = alice_hub.send_chat(&chat).await.unwrap();
    assert!(
        sent.iter().all(|r| r.is_ok()),
        "Bob's device took both: {sent:?}"
    );
    let mut offer = offer_to(&bob.public_key());
    offer.also_to = vec![carol.public_key().to_hex()];
    let to = nostr_signal::Recipients::Many(vec![bob.public_key(), carol.public_key()]);
    alice_hub
        .send_to(&to, &offer, nostr_signal::Route::PeerInbox)
        .await
        .unwrap();

    let got = tokio::time::timeout(Duration::from_secs(20), bob_chats.recv())
        .await
        .expect("Bob gets the chat")
        .unwrap();
    assert_eq!(
        (got.sender, got.chat.text.as_str()),
        (alice.public_key(), "Meet at the north gate.")
    );
    assert_eq!(got.via.hops, Some(1));
    let got = next_message(&mut bob_calls, "the group offer at Bob").await;
    assert_eq!(got.message.also_to, offer.also_to);

    // Alice walks off; Carol comes within range of Bob, who carried her copies.
    air.isolate(&a);
    air.set_in_range(&b, &c, true);
    let got = tokio::time::timeout(Duration::from_secs(30), carol_chats.recv())
        .await
        .expect("Carol gets the chat queued while she was away")
        .unwrap();
    assert_eq!(got.sender, alice.public_key());
    assert_eq!(got.via.hops, Some(2));
    let got = next_message(&mut carol_calls, "the group offer at Carol").await;
    assert_eq!(got.sender, alice.public_key());
    assert!(
        mesh_b.status().borrow().stored >= 2,
        "Bob's device kept Carol's copies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_down_at_start_join_in_the_background_when_they_come_up() {
    // A free port for a relay that is not running yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = nostr_signal::RelayUrl::parse(&format!("ws://{addr}")).unwrap();
    let air = SimAir::new(SimParams::default());
    let alice = Identity::generate();
    let (_radio, mesh) = mesh_for(
        &air,
        "alice",
        vec![BleSignalLink::mesh_key(&alice.public_key())],
        1,
    );
    let mut config = fast_config(vec![url.clone()]);
    config.connect_timeout = Duration::from_secs(1);
    let alice_tx =
        NostrTransport::connect_with_ble(alice.clone(), config, mesh, BlePaths::Alongside)
            .await
            .expect("up on the mesh alone");
    assert!(alice_tx.relay_link().is_none());
    assert_eq!(alice_tx.link_kinds(), vec![LinkKind::Ble]);
    let mut joined = alice_tx.relays_joined();
    assert!(!*joined.borrow());

    let relay = EmbeddedRelay::start(addr).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), joined.wait_for(|j| *j))
        .await
        .expect("the relays joined within a minute")
        .expect("still retrying");
    assert!(alice_tx.relay_link().is_some());
    assert_eq!(alice_tx.link_kinds(), vec![LinkKind::Ble, LinkKind::Relays]);

    // And they carry calls: an offer from someone on the relay alone arrives.
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let mut inbox = alice_tx.incoming();
    bob_tx
        .send(alice.public_key(), &offer_to(&alice.public_key()))
        .await
        .unwrap();
    let got = next_message(&mut inbox, "the offer over the relay").await;
    assert_eq!(got.sender, bob.public_key());
    alice_tx.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_shut_down_on_the_mesh_stops_trying_the_relays() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = nostr_signal::RelayUrl::parse(&format!("ws://{addr}")).unwrap();
    let air = SimAir::new(SimParams::default());
    let alice = Identity::generate();
    let (_radio, mesh) = mesh_for(&air, "alice", Vec::new(), 1);
    let mut config = fast_config(vec![url]);
    config.connect_timeout = Duration::from_secs(1);
    let alice_tx = NostrTransport::connect_with_ble(alice, config, mesh, BlePaths::Alongside)
        .await
        .expect("up on the mesh alone");
    let joined = alice_tx.relays_joined();
    alice_tx.shutdown().await;
    let relay = EmbeddedRelay::start(addr).await.unwrap();
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert!(!*joined.borrow(), "no relay joined a shut-down transport");
    assert!(relay.connections_from().is_empty(), "nobody connected");
}
