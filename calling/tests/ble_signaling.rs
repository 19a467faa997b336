//! Calls whose signaling crosses the Bluetooth LE mesh (simulated radio, real engines,
//! real webrtc-rs media on loopback): no relay is involved, or none is reachable.

mod netem;
mod support;

use std::sync::Arc;
use std::time::Duration;

use calling::client::BleSignaling;
use calling::{CallState, EngineEvent, GroupChange, MediaEvent};
use media::audio::{ToneCheck, ToneReport, SAMPLE_RATE};
use netem::{ThroughProxy, UdpProxy};
use nostr_signal::ble_fallback::sim::{SimAir, SimParams, SimRadio};
use nostr_signal::ble_fallback::{MeshConfig, MeshNode};
use nostr_signal::SignalTransport;
use nostr_signal::{BlePaths, BleSignalLink, Identity, LinkKind, RelayUrl};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{phone_with, transport_config, Phone, PhoneOptions};

fn mesh(
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
    (radio.clone(), Arc::new(MeshNode::spawn(radio, config)))
}

async fn ble_phone(
    air: &SimAir,
    name: &str,
    seed: u64,
    tone_hz: f32,
    relays: Vec<RelayUrl>,
    paths: BlePaths,
) -> (Phone, Arc<SimRadio>, Arc<MeshNode>) {
    ble_phone_with(air, name, seed, PhoneOptions::tone(tone_hz), relays, paths).await
}

async fn ble_phone_with(
    air: &SimAir,
    name: &str,
    seed: u64,
    options: PhoneOptions,
    relays: Vec<RelayUrl>,
    paths: BlePaths,
) -> (Phone, Arc<SimRadio>, Arc<MeshNode>) {
    let identity = Identity::generate();
    let (radio, mesh) = mesh(
        air,
        name,
        vec![BleSignalLink::mesh_key(&identity.public_key())],
        seed,
    );
    let mut transport = transport_config(relays);
    transport.connect_timeout = Duration::from_secs(2);
    let ble = BleSignaling {
        mesh: mesh.clone(),
        paths,
    };
    let phone = phone_with(&identity, options, transport, move |setup| {
        setup.ble = Some(ble);
    })
    .await;
    (phone, radio, mesh)
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

fn hears(phone: &Phone, hz: f32) -> ToneReport {
    let speaker = phone
        .devices
        .probes
        .speakers()
        .pop()
        .expect("a speaker was opened");
    ToneCheck::detect(&speaker.recording.last(SAMPLE_RATE as usize), hz)
}

async fn talk_and_hang_up(alice: &mut Phone, bob: &mut Phone, hops: u8) {
    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    let ringing = bob
        .wait_call(Some(call), Duration::from_secs(30), |e| {
            e.state == CallState::Ringing
        })
        .await;
    assert_eq!(ringing.peer, alice.key);
    assert_eq!(
        ringing.signaled_via.map(|via| via.link),
        Some(LinkKind::Ble)
    );
    assert_eq!(ringing.signaled_via.and_then(|via| via.hops), Some(hops));
    bob.engine.accept(call, false);
    let connected = alice
        .wait_call(Some(call), Duration::from_secs(30), |e| {
            e.state == CallState::Connected
        })
        .await;
    let plural = if hops == 1 { "" } else { "s" };
    assert_eq!(
        connected.signaled_via.map(|via| via.to_string()),
        Some(format!("via Bluetooth, {hops} hop{plural}"))
    );
    bob.wait_state(Some(call), CallState::Connected).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_bob = hears(bob, 440.0);
    assert!(at_bob.dominant, "Bob hears Alice's tone: {at_bob:?}");
    let at_alice = hears(alice, 660.0);
    assert!(at_alice.dominant, "Alice hears Bob's tone: {at_alice:?}");
    alice.engine.hangup(call);
    bob.wait_call(Some(call), Duration::from_secs(30), |e| {
        e.state == CallState::Ended
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_signaled_across_a_three_hop_mesh_connects_its_media_on_the_local_network() {
    let air = SimAir::new(SimParams::default());
    let (mut alice, a, mesh_a) =
        ble_phone(&air, "alice", 1, 440.0, Vec::new(), BlePaths::Only).await;
    let (b, relay_b) = mesh(&air, "b", Vec::new(), 2);
    let (c, relay_c) = mesh(&air, "c", Vec::new(), 3);
    let (mut bob, d, mesh_d) = ble_phone(&air, "bob", 4, 660.0, Vec::new(), BlePaths::Only).await;
    air.line(&[&a, &b, &c, &d]);
    wait_neighbors(&mesh_a, 1).await;
    wait_neighbors(&mesh_d, 1).await;
    assert!(alice.transport.relay_link().is_none(), "no relay contacted");

    talk_and_hang_up(&mut alice, &mut bob, 3).await;
    let relayed = relay_b.status().borrow().stats.relayed + relay_c.status().borrow().stats.relayed;
    assert!(relayed > 0, "the middle nodes carried the call's messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_no_relay_reachable_relays_and_bluetooth_comes_up_on_the_mesh_and_calls() {
    let air = SimAir::new(SimParams::default());
    // Nothing listens there: the relays are unreachable.
    let dead: RelayUrl = "ws://127.0.0.1:9".parse().unwrap();
    let (mut alice, a, mesh_a) = ble_phone(
        &air,
        "alice",
        1,
        440.0,
        vec![dead.clone()],
        BlePaths::Alongside,
    )
    .await;
    let (mut bob, b, _mesh_b) =
        ble_phone(&air, "bob", 2, 660.0, vec![dead], BlePaths::Alongside).await;
    assert!(
        alice.transport.relay_link().is_none(),
        "started without relays"
    );
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;
    talk_and_hang_up(&mut alice, &mut bob, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_group_of_three_calls_over_the_mesh_alone_with_its_mls_keys() {
    let air = SimAir::new(SimParams::default());
    let tones = [300.0, 1000.0, 3000.0];
    let mut group = Vec::new();
    let mut radios = Vec::new();
    for (i, tone) in tones.iter().enumerate() {
        let (phone, radio, _mesh) = ble_phone(
            &air,
            &format!("m{i}"),
            i as u64 + 1,
            *tone,
            Vec::new(),
            BlePaths::Only,
        )
        .await;
        group.push(phone);
        radios.push(radio);
    }
    // Everyone within range of everyone (a table of three).
    air.set_in_range(&radios[0], &radios[1], true);
    air.set_in_range(&radios[1], &radios[2], true);
    air.set_in_range(&radios[0], &radios[2], true);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let others = vec![group[1].key, group[2].key];
    let call = group[0]
        .engine
        .dial_group(others, CallType::Voice, PrivacyMode::Fast)
        .expect("three fit an audio group");
    for phone in group[1..].iter_mut() {
        phone
            .wait_event(Duration::from_secs(30), |e| {
                matches!(e, EngineEvent::Group(g) if g.call_id == call
                    && matches!(g.change, GroupChange::Ringing { .. }))
            })
            .await;
        phone.engine.accept(call, false);
    }
    for (i, phone) in group.iter().enumerate() {
        let others: Vec<f32> = tones
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| *t)
            .collect();
        phone.wait_hears_all(&others).await;
    }
    for phone in group.iter_mut() {
        phone
            .wait_event(Duration::from_secs(30), |e| {
                matches!(e, EngineEvent::Group(g) if g.call_id == call
                    && matches!(g.change, GroupChange::Keys { keyed: 3, members: 3, .. }))
            })
            .await;
    }
    for phone in &group {
        phone.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_relay_goes_down_mid_session_calls_still_ring_over_bluetooth() {
    let relay = support::relay().await;
    let air = SimAir::new(SimParams::default());
    let (mut alice, a, mesh_a) = ble_phone(
        &air,
        "alice",
        1,
        440.0,
        vec![relay.url()],
        BlePaths::Alongside,
    )
    .await;
    let (mut bob, b, _mesh_b) = ble_phone(
        &air,
        "bob",
        2,
        660.0,
        vec![relay.url()],
        BlePaths::Alongside,
    )
    .await;
    assert!(alice.transport.relay_link().is_some(), "both paths up");
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;

    relay.relay.shutdown().await;
    talk_and_hang_up(&mut alice, &mut bob, 1).await;
}

/// A phone whose media candidates all point at `proxy`.
fn through(proxy: &Arc<UdpProxy>, tone_hz: f32) -> PhoneOptions {
    let proxy = proxy.clone();
    PhoneOptions {
        wrap: Some(Box::new(move |transport| {
            ThroughProxy::wrap(transport as Arc<dyn SignalTransport>, proxy)
        })),
        ..PhoneOptions::tone(tone_hz)
    }
}

/// Whether `phone` saw `event` on `call` among the engine events received so far.
async fn media_event_within(phone: &mut Phone, call: CallId, event: MediaEvent, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, phone.events.recv()).await {
            Ok(Ok(EngineEvent::Media {
                call_id,
                event: seen,
            })) if call_id == call && seen == event => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("engine events: {e}"),
            Err(_) => panic!("no {event:?} within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_no_ip_path_between_two_devices_in_range_the_call_goes_on_as_voice_over_bluetooth() {
    let air = SimAir::new(SimParams::default());
    // Every media datagram between the two goes through a proxy that drops them all:
    // no IP path, as between two laptops without a common network.
    let proxy = UdpProxy::new();
    proxy.set_blackhole(true);
    let (mut alice, a, mesh_a) = ble_phone_with(
        &air,
        "alice",
        1,
        through(&proxy, 440.0),
        Vec::new(),
        BlePaths::Only,
    )
    .await;
    let (mut bob, b, mesh_b) = ble_phone_with(
        &air,
        "bob",
        2,
        through(&proxy, 660.0),
        Vec::new(),
        BlePaths::Only,
    )
    .await;
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;
    wait_neighbors(&mesh_b, 1).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    bob.wait_call(Some(call), Duration::from_secs(30), |e| {
        e.state == CallState::Ringing
    })
    .await;
    bob.engine.accept(call, false);
    // The IP path never comes up; after the ICE failure timeout both move to Bluetooth.
    let within = Duration::from_secs(30);
    alice
        .wait_call(Some(call), within, |e| e.state == CallState::Connected)
        .await;
    bob.wait_call(Some(call), within, |e| e.state == CallState::Connected)
        .await;
    media_event_within(&mut alice, call, MediaEvent::VoiceOverBluetooth, within).await;
    media_event_within(&mut bob, call, MediaEvent::VoiceOverBluetooth, within).await;
    assert!(
        proxy.dropped() > 0,
        "the IP path was tried and found nothing"
    );
    assert_eq!(proxy.forwarded(), 0);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let at_bob = hears(&bob, 440.0);
    assert!(
        at_bob.dominant,
        "Bob hears Alice's tone over Bluetooth: {at_bob:?}"
    );
    let at_alice = hears(&alice, 660.0);
    assert!(
        at_alice.dominant,
        "Alice hears Bob's tone over Bluetooth: {at_alice:?}"
    );

    // Muting the call mutes its Bluetooth voice too.
    bob.engine.set_muted(call, true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let muted = hears(&alice, 660.0);
    assert!(!muted.dominant, "Bob is muted: {muted:?}");

    alice.engine.hangup(call);
    bob.wait_call(Some(call), Duration::from_secs(30), |e| {
        e.state == CallState::Ended
    })
    .await;
}
