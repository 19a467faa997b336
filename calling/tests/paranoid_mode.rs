//! Paranoid mode through a real SOCKS5 proxy (Debian's Dante on loopback) to the
//! embedded relay and a real TURN server (coturn on 127.0.0.4): the call carries audio
//! with every relay connection, Nostr and TURN, made by the proxy; with the proxy gone,
//! nothing connects directly and the user gets a clear error.

mod socks;
mod support;
mod turn;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::{CallState, EndReason, EngineEvent, MediaError, MediaEvent, Reason};
use nostr_signal::{Identity, NostrTransport, SignalError, SignalTransport};
use phantomcall_schemas::{CallBody, CallId, CallType, PrivacyMode};
use socks::Dante;
use support::{phone_with_transport, relay, transport_config, Phone, PhoneOptions, Relay};
use turn::{Coturn, Sent, Tap, TURN_IP};

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 660.0;

/// A Paranoid-capable phone: signaling and TURN through `proxy` (when given).
async fn proxied_phone(
    relay: &Relay,
    coturn: &Coturn,
    proxy: Option<SocketAddr>,
    tone_hz: f32,
    sent: &Sent,
) -> Phone {
    let identity = Identity::generate();
    let sent = sent.clone();
    let network = NetworkConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        socks5_proxy: proxy,
        proxy_connect_timeout: Duration::from_secs(5),
        ..coturn.network(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &identity.public_key().to_hex(),
        )
    };
    let options = PhoneOptions {
        network,
        wrap: Some(Box::new(move |transport| {
            Tap::wrap(transport as Arc<dyn SignalTransport>, None, &sent)
        })),
        ..PhoneOptions::tone(tone_hz)
    };
    let mut config = transport_config(vec![relay.url()]);
    config.proxy = proxy;
    phone_with_transport(&identity, options, config).await
}

/// The text of the `SetupFailed` event of `call` (what the user is told to fix).
async fn setup_failure(phone: &mut Phone, call: CallId) -> String {
    let event = phone
        .wait_event(Duration::from_secs(10), |e| {
            matches!(e, EngineEvent::Media { call_id, event: MediaEvent::SetupFailed(_) } if *call_id == call)
        })
        .await;
    match event {
        EngineEvent::Media {
            event: MediaEvent::SetupFailed(why),
            ..
        } => why.to_string(),
        other => panic!("not a set-up failure: {other:?}"),
    }
}

/// Waits until the relay has seen at least `count` connections and the proxy's log names
/// every one of them.
async fn proxy_logged_connections(relay: &Relay, dante: &Dante, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let proxied: HashSet<SocketAddr> = dante.outgoing().into_iter().collect();
        let seen = relay.relay.connections_from();
        if seen.len() >= count && seen.iter().all(|peer| proxied.contains(peer)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay saw {seen:?}, the proxy logged {proxied:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every connection the relay accepted came from the proxy.
fn assert_relay_saw_only_the_proxy(relay: &Relay, dante: &Dante) {
    let proxied: HashSet<SocketAddr> = dante.outgoing().into_iter().collect();
    let seen = relay.relay.connections_from();
    assert!(!seen.is_empty(), "the relay saw no connection at all");
    for peer in &seen {
        assert!(
            proxied.contains(peer),
            "the relay saw a connection from {peer} that the proxy did not make \
             (proxy made {proxied:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paranoid_call_reaches_the_relay_and_the_turn_server_only_through_the_proxy() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let dante = Dante::start();
    let (alice_sent, bob_sent) = (Sent::default(), Sent::default());
    let mut alice = proxied_phone(&relay, &coturn, Some(dante.addr), ALICE_HZ, &alice_sent).await;
    let mut bob = proxied_phone(&relay, &coturn, Some(dante.addr), BOB_HZ, &bob_sent).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Paranoid);
    let ringing = bob.wait_state(Some(call), CallState::Ringing).await;
    assert_eq!(ringing.mode, PrivacyMode::Paranoid);
    bob.engine.accept(call, false);
    alice.wait_state(Some(call), CallState::Connected).await;
    bob.wait_state(Some(call), CallState::Connected).await;
    bob.wait_hears(ALICE_HZ).await;
    alice.wait_hears(BOB_HZ).await;

    for (who, phone) in [("alice", &mut alice), ("bob", &mut bob)] {
        let stats = phone
            .wait_stats(call, |s| s.peer.remote_address.is_some())
            .await;
        assert_eq!(stats.mode, Some(PrivacyMode::Paranoid));
        assert!(stats.relayed, "{who}: {stats:?}");
        assert_eq!(stats.peer.local_candidate_type.as_deref(), Some("relay"));
        assert_eq!(stats.peer.remote_candidate_type.as_deref(), Some("relay"));
        let remote = stats.peer.remote_address.expect("remote address");
        assert_eq!(remote.ip(), TURN_IP, "{who}: {stats:?}");
    }

    // Signaling carried relay candidates only, on the TURN server.
    for (who, sent) in [("alice", &alice_sent), ("bob", &bob_sent)] {
        let mut candidates = 0;
        for message in sent.messages() {
            if let CallBody::IceCandidates(list) = &message.body {
                for c in list.iter().filter(|c| !c.candidate.is_empty()) {
                    assert!(
                        c.candidate.contains(" typ relay")
                            && c.candidate.contains(&TURN_IP.to_string()),
                        "{who} sent {}",
                        c.candidate
                    );
                    candidates += 1;
                }
            }
        }
        assert!(candidates > 0, "{who} sent no candidate");
    }

    // Who connected to the relay and to coturn: the proxy, and nobody else.
    assert_relay_saw_only_the_proxy(&relay, &dante);
    let proxied: HashSet<SocketAddr> = dante.outgoing().into_iter().collect();
    let clients = coturn.client_addresses();
    assert!(
        clients.len() >= 2,
        "coturn saw fewer than two clients: {clients:?}\n{}",
        coturn.log()
    );
    for client in &clients {
        assert!(
            proxied.contains(client),
            "coturn served {client}, which the proxy did not connect (proxy made {proxied:?})"
        );
    }

    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paranoid_call_with_the_proxy_stopped_fails_closed_with_a_clear_error() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let mut dante = Dante::start();
    let sent = Sent::default();
    let mut alice = proxied_phone(&relay, &coturn, Some(dante.addr), ALICE_HZ, &sent).await;
    let bob = proxied_phone(&relay, &coturn, Some(dante.addr), BOB_HZ, &Sent::default()).await;
    let proxy = dante.addr;
    // Both phones' relay connections (two each) are up and in the proxy's log before it
    // stops: one still being made when the proxy dies would reach the relay unlogged.
    proxy_logged_connections(&relay, &dante, 4).await;
    dante.stop();

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Paranoid);
    let why = setup_failure(&mut alice, call).await;
    assert!(
        why.contains("SOCKS5 proxy")
            && why.contains(&proxy.to_string())
            && why.contains("unreachable"),
        "unclear error: {why}"
    );
    let end = alice.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(
        end.reason,
        Reason::Ended(EndReason::MediaFailed(MediaError::CreateOffer))
    );
    assert!(
        sent.messages()
            .iter()
            .all(|m| !matches!(m.body, CallBody::Offer { .. })),
        "an offer left without its media path"
    );

    // A new transport with the proxy down never reaches the relay directly either.
    let mut config = transport_config(vec![relay.url()]);
    config.proxy = Some(proxy);
    config.connect_timeout = Duration::from_secs(2);
    let error = NostrTransport::connect(Identity::generate(), config)
        .await
        .err()
        .expect("no relay through a stopped proxy");
    assert!(
        matches!(error, SignalError::NoRelayReachableThroughProxy { proxy: p, .. } if p == proxy),
        "{error}"
    );
    assert_relay_saw_only_the_proxy(&relay, &dante);

    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paranoid_call_without_proxied_signaling_is_refused_before_anything_is_sent() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let dante = Dante::start();
    let sent = Sent::default();
    // TURN would go through the proxy, but the relay connections do not.
    let identity = Identity::generate();
    let recorder = sent.clone();
    let options = PhoneOptions {
        network: NetworkConfig {
            socks5_proxy: Some(dante.addr),
            ..coturn.network(IpAddr::V4(Ipv4Addr::LOCALHOST), "direct")
        },
        wrap: Some(Box::new(move |transport| {
            Tap::wrap(transport as Arc<dyn SignalTransport>, None, &recorder)
        })),
        ..PhoneOptions::tone(ALICE_HZ)
    };
    let mut alice =
        phone_with_transport(&identity, options, transport_config(vec![relay.url()])).await;
    let bob = proxied_phone(&relay, &coturn, Some(dante.addr), BOB_HZ, &Sent::default()).await;

    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Paranoid);
    let why = setup_failure(&mut alice, call).await;
    assert!(why.contains("signaling"), "{why}");
    alice.wait_state(Some(call), CallState::Ended).await;
    assert!(
        sent.messages().is_empty(),
        "something was sent for a Paranoid call without a proxy"
    );
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paranoid_video_call_starts_audio_only_until_the_user_turns_the_camera_on() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let dante = Dante::start();
    let mut alice = proxied_phone(
        &relay,
        &coturn,
        Some(dante.addr),
        ALICE_HZ,
        &Sent::default(),
    )
    .await;
    let mut bob = proxied_phone(&relay, &coturn, Some(dante.addr), BOB_HZ, &Sent::default()).await;
    let call = alice
        .engine
        .dial(bob.key, CallType::Video, PrivacyMode::Paranoid);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, true);
    alice.wait_state(Some(call), CallState::Connected).await;

    let first = alice.wait_stats(call, |_| true).await;
    assert!(
        first.camera_off,
        "Paranoid video must start with the camera off"
    );
    bob.wait_hears(ALICE_HZ).await;

    // Turning the camera on is the user's explicit confirmation.
    alice.engine.set_camera_off(call, false);
    let on = alice.wait_stats(call, |s| !s.camera_off).await;
    assert!(!on.camera_off);
    // And the camera really goes out: the caller's call carries a video track from the
    // start, kept dark until now.
    alice.wait_stats(call, |s| s.video_frames_sent > 0).await;
    bob.wait_stats(call, |s| s.video_frames_decoded > 0).await;
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_video_call_starts_with_the_camera_on() {
    let relay = relay().await;
    let coturn = Coturn::start();
    let mut alice = proxied_phone(&relay, &coturn, None, ALICE_HZ, &Sent::default()).await;
    let mut bob = proxied_phone(&relay, &coturn, None, BOB_HZ, &Sent::default()).await;
    let call = alice
        .engine
        .dial(bob.key, CallType::Video, PrivacyMode::Private);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, true);
    alice.wait_state(Some(call), CallState::Connected).await;
    let stats = alice.wait_stats(call, |_| true).await;
    assert!(!stats.camera_off);
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
