//! A network drop in the middle of a call: every media datagram between the two peers goes
//! through an in-test UDP proxy (the candidates each side sends are rewritten to point at
//! it), and the proxy blackholes everything for a while. A drop of several seconds is
//! survived by ICE restart and audio comes back; a drop longer than the media-lost timeout
//! ends the call as failed on both sides.

mod netem;
mod support;

use std::sync::Arc;
use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::{CallEvent, CallState, EndReason, EngineEvent, MediaError, MediaEvent, Reason};
use media::audio::{ToneCheck, SAMPLE_RATE};
use netem::{ThroughProxy, UdpProxy};
use nostr_signal::{Identity, SignalTransport};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{phone, relay, Phone, PhoneOptions};

/// A phone whose candidates all point at `proxy`.
fn options(tone_hz: f32, proxy: &Arc<UdpProxy>, network: NetworkConfig) -> PhoneOptions {
    let proxy = proxy.clone();
    PhoneOptions {
        network,
        wrap: Some(Box::new(move |transport| {
            ThroughProxy::wrap(transport as Arc<dyn SignalTransport>, proxy)
        })),
        ..PhoneOptions::tone(tone_hz)
    }
}

fn speaker(phone: &Phone) -> media::audio::Recording {
    phone
        .devices
        .probes
        .speakers()
        .pop()
        .expect("a speaker was opened")
        .recording
}

/// Checks that the last second `phone` played is `hz`.
fn hears(phone: &Phone, who: &str, hz: f32) {
    let audio = speaker(phone).last(SAMPLE_RATE as usize);
    let check = ToneCheck::detect(&audio, hz);
    assert!(check.dominant, "{who} hears {hz} Hz: {check:?}");
}

/// Every engine event of `phone` for `period`.
async fn events_for(phone: &mut Phone, period: Duration) -> Vec<EngineEvent> {
    let deadline = tokio::time::Instant::now() + period;
    let mut seen = Vec::new();
    while let Ok(event) = tokio::time::timeout_at(deadline, phone.events.recv()).await {
        seen.push(event.expect("engine events"));
    }
    seen
}

fn media_events(events: &[EngineEvent], call: CallId) -> Vec<MediaEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Media { call_id, event } if *call_id == call => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn ended(events: &[EngineEvent], call: CallId) -> bool {
    events.iter().any(
        |e| matches!(e, EngineEvent::Call(ev) if ev.call_id == call && ev.state == CallState::Ended),
    )
}

/// Every engine event of `phone` until `call` ends, and the event that ended it.
async fn events_until_ended(
    phone: &mut Phone,
    call: CallId,
    within: Duration,
) -> (Vec<EngineEvent>, CallEvent) {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout_at(deadline, phone.events.recv())
            .await
            .unwrap_or_else(|_| panic!("the call did not end within {within:?}"))
            .expect("engine events");
        match event {
            EngineEvent::Call(ev) if ev.call_id == call && ev.state == CallState::Ended => {
                return (seen, ev)
            }
            other => seen.push(other),
        }
    }
}

async fn state_of(phone: &Phone, call: CallId) -> Option<CallState> {
    phone
        .engine
        .calls()
        .await
        .into_iter()
        .find(|c| c.call_id == call)
        .map(|c| c.state)
}

/// Alice calls Bob through the proxy; both are connected and hear each other.
async fn connected_call(alice: &mut Phone, bob: &mut Phone, proxy: &UdpProxy) -> CallId {
    let call = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    bob.wait_state(Some(call), CallState::Ringing).await;
    bob.engine.accept(call, false);
    alice.wait_state(Some(call), CallState::Connected).await;
    bob.wait_state(Some(call), CallState::Connected).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    hears(bob, "Bob", 440.0);
    hears(alice, "Alice", 660.0);
    assert!(
        proxy.fronted() >= 2,
        "both sides' candidates point at the proxy"
    );
    let before = proxy.forwarded();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        proxy.forwarded() > before,
        "the media path runs through the proxy ({before} datagrams so far, no more since)"
    );
    call
}

/// Cuts the network of a connected call for `outage`; the call must survive and audio
/// come back both ways.
async fn call_survives_an_outage(outage: Duration) {
    let relay = relay().await;
    let proxy = UdpProxy::new();
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let network = NetworkConfig::loopback();
    // Bob waits longer, so that Alice's own timeout is what ends the call (with equal
    // timeouts, whichever side noticed the loss first would hang up on the other).
    let patient = NetworkConfig {
        media_lost_timeout: Duration::from_secs(30),
        ..network.clone()
    };
    let mut alice = phone(&relay, &alice_id, options(440.0, &proxy, network)).await;
    let mut bob = phone(&relay, &bob_id, options(660.0, &proxy, patient)).await;
    let call = connected_call(&mut alice, &mut bob, &proxy).await;

    proxy.set_blackhole(true);
    let (alice_seen, bob_seen) =
        tokio::join!(events_for(&mut alice, outage), events_for(&mut bob, outage),);
    let alice_media = media_events(&alice_seen, call);
    assert!(
        alice_media.contains(&MediaEvent::Reconnecting),
        "Alice saw the path go: {alice_media:?}"
    );
    assert!(
        alice_media.contains(&MediaEvent::IceRestartSent),
        "Alice restarted ICE: {alice_media:?}"
    );
    assert!(
        !alice_media.contains(&MediaEvent::Reconnected),
        "no path while the network is down: {alice_media:?}"
    );
    assert!(!ended(&alice_seen, call), "Alice's call goes on");
    assert!(!ended(&bob_seen, call), "Bob's call goes on");
    assert_eq!(state_of(&alice, call).await, Some(CallState::Connected));
    assert_eq!(state_of(&bob, call).await, Some(CallState::Connected));
    assert!(proxy.dropped() > 0, "the blackhole dropped the ICE checks");

    // The network is back: the current ICE generation (or the next restart) finds a path.
    proxy.set_blackhole(false);
    let back = tokio::time::Instant::now();
    alice
        .wait_event(Duration::from_secs(20), |e| {
            matches!(e, EngineEvent::Media { call_id, event: MediaEvent::Reconnected } if *call_id == call)
        })
        .await;
    let reconnect = back.elapsed();
    bob.wait_event(Duration::from_secs(10), |e| {
        matches!(e, EngineEvent::Media { call_id, event: MediaEvent::Reconnected } if *call_id == call)
    })
    .await;
    // Only what is played from now on counts.
    speaker(&bob).clear();
    speaker(&alice).clear();
    let before = proxy.forwarded();
    tokio::time::sleep(Duration::from_secs(2)).await;
    hears(&bob, "Bob after the outage", 440.0);
    hears(&alice, "Alice after the outage", 660.0);
    assert!(
        proxy.forwarded() > before + 100,
        "the restored path runs through the proxy too"
    );
    assert_eq!(state_of(&alice, call).await, Some(CallState::Connected));
    assert_eq!(state_of(&bob, call).await, Some(CallState::Connected));
    eprintln!(
        "{outage:?} outage: {} ICE restarts, media back {reconnect:?} after the network",
        alice_media
            .iter()
            .filter(|e| **e == MediaEvent::IceRestartSent)
            .count()
    );

    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

/// Longer than ICE's disconnected timeout (2 s), shorter than disconnected + failed (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_six_second_network_drop_is_survived_by_ice_restart() {
    call_survives_an_outage(Duration::from_secs(6)).await;
}

/// Past ICE's failed timeout too (the connection reports Failed), still within the 30 s
/// media-lost timeout: the restarts keep going and one of them restores the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourteen_second_drop_past_ice_failure_is_survived_too() {
    call_survives_an_outage(Duration::from_secs(14)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drop_longer_than_the_media_lost_timeout_ends_the_call() {
    let relay = relay().await;
    let proxy = UdpProxy::new();
    let (alice_id, bob_id) = (Identity::generate(), Identity::generate());
    let network = NetworkConfig {
        media_lost_timeout: Duration::from_secs(6),
        ..NetworkConfig::loopback()
    };
    // Bob waits longer, so that Alice's own timeout is what ends the call (with equal
    // timeouts, whichever side noticed the loss first would hang up on the other).
    let patient = NetworkConfig {
        media_lost_timeout: Duration::from_secs(30),
        ..network.clone()
    };
    let mut alice = phone(&relay, &alice_id, options(440.0, &proxy, network)).await;
    let mut bob = phone(&relay, &bob_id, options(660.0, &proxy, patient)).await;
    let call = connected_call(&mut alice, &mut bob, &proxy).await;

    proxy.set_blackhole(true);
    let cut = tokio::time::Instant::now();
    // Lost after ~2 s without a packet, failed 6 s later, restarts in between.
    let (seen, end) = events_until_ended(&mut alice, call, Duration::from_secs(20)).await;
    let given_up = cut.elapsed();
    assert_eq!(
        end.reason,
        Reason::Ended(EndReason::MediaFailed(MediaError::Connection))
    );
    assert!(
        given_up >= Duration::from_secs(6),
        "the media-lost timeout ran out first ({given_up:?})"
    );
    let media = media_events(&seen, call);
    assert!(
        media.contains(&MediaEvent::Reconnecting) && media.contains(&MediaEvent::IceRestartSent),
        "Alice tried to restore the path before giving up: {media:?}"
    );
    let end = bob
        .wait_call(Some(call), Duration::from_secs(15), |e| {
            e.state == CallState::Ended
        })
        .await;
    // Alice's hangup told Bob at once, long before his own timeout.
    assert_eq!(end.reason, Reason::Ended(EndReason::RemoteHangup));
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
