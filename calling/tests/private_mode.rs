//! Private mode against a real TURN server (Debian's coturn, started by the test on
//! 127.0.0.4; Alice on 127.0.0.2, Bob on 127.0.0.3): the call goes through the relay and
//! carries audio, nothing that leaves either side names a client address, and every
//! attempt to downgrade the call fails closed.

mod support;
mod turn;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use calling::{CallState, CallStats, EndReason, EngineEvent, Reason};
use nostr_signal::{Identity, SignalTransport};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, PrivacyMode};
use support::{phone, relay, Phone, PhoneOptions, Relay};
use turn::{Coturn, Rewrite, Sent, Tap, ALICE_IP, BOB_IP, TURN_IP};

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 660.0;

/// A phone on `bind_ip` that relays through `coturn` and records what it sends (after
/// `rewrite`, if any) in `sent`.
async fn tapped_phone(
    relay: &Relay,
    coturn: &Coturn,
    bind_ip: IpAddr,
    tone_hz: f32,
    sent: &Sent,
    rewrite: Option<Rewrite>,
) -> Phone {
    let sent = sent.clone();
    let options = PhoneOptions {
        network: coturn.network(bind_ip, &format!("{bind_ip}")),
        wrap: Some(Box::new(move |transport| {
            Tap::wrap(transport as Arc<dyn SignalTransport>, rewrite, &sent)
        })),
        ..PhoneOptions::tone(tone_hz)
    };
    phone(relay, &Identity::generate(), options).await
}

struct Scene {
    _relay: Relay,
    coturn: Coturn,
    alice: Phone,
    bob: Phone,
    alice_sent: Sent,
    bob_sent: Sent,
}

/// Alice and Bob, each relaying through the test's coturn; `alice_rewrite` and
/// `bob_rewrite` tamper with what they send.
async fn scene(alice_rewrite: Option<Rewrite>, bob_rewrite: Option<Rewrite>) -> Scene {
    let relay = relay().await;
    let coturn = Coturn::start();
    let (alice_sent, bob_sent) = (Sent::default(), Sent::default());
    let alice = tapped_phone(
        &relay,
        &coturn,
        ALICE_IP,
        ALICE_HZ,
        &alice_sent,
        alice_rewrite,
    )
    .await;
    let bob = tapped_phone(&relay, &coturn, BOB_IP, BOB_HZ, &bob_sent, bob_rewrite).await;
    Scene {
        _relay: relay,
        coturn,
        alice,
        bob,
        alice_sent,
        bob_sent,
    }
}

impl Scene {
    async fn shutdown(self) {
        self.alice.engine.shutdown().await;
        self.bob.engine.shutdown().await;
    }
}

/// The next figures of `call` with the media path up.
async fn stats_when_up(phone: &mut Phone, call: CallId) -> CallStats {
    let event = phone
        .wait_event(Duration::from_secs(5), |e| {
            matches!(e, EngineEvent::Stats { call_id, stats } if *call_id == call && stats.media_up && stats.peer.remote_address.is_some())
        })
        .await;
    let EngineEvent::Stats { stats, .. } = event else {
        unreachable!("the predicate takes stats only")
    };
    stats
}

/// Every ICE candidate line a message carries, in its candidate list or in its SDP.
fn candidate_lines(message: &CallMessage) -> Vec<String> {
    match &message.body {
        CallBody::IceCandidates(candidates) => candidates
            .iter()
            .filter(|c| !c.candidate.is_empty())
            .map(|c| c.candidate.clone())
            .collect(),
        CallBody::Offer { sdp, .. } | CallBody::Answer { sdp } | CallBody::Renegotiate { sdp } => {
            sdp.lines()
                .filter_map(|l| l.trim().strip_prefix("a="))
                .filter(|l| l.starts_with("candidate:"))
                .map(str::to_owned)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The whole of a message as it travels (SDP, candidates, tags), for address searches.
fn wire_text(message: &CallMessage) -> String {
    format!("{message:?}")
}

/// The candidate type (`typ X`) of a candidate line.
fn candidate_type(line: &str) -> Option<&str> {
    let mut fields = line.split_whitespace();
    fields.find(|f| *f == "typ")?;
    fields.next()
}

/// Checks that nothing `sent` names a client address or a non-relay candidate, and that
/// it did send relay candidates on the TURN address.
fn assert_leaks_nothing(who: &str, sent: &Sent) {
    let messages = sent.messages();
    assert!(!messages.is_empty(), "{who} sent nothing");
    let mut relay_candidates = 0;
    for message in &messages {
        for line in candidate_lines(message) {
            assert_eq!(
                candidate_type(&line),
                Some("relay"),
                "{who} sent a non-relay candidate: {line}"
            );
            assert!(
                line.contains(&TURN_IP.to_string()),
                "{who}'s relay candidate is not on the TURN server: {line}"
            );
            relay_candidates += 1;
        }
        let text = wire_text(message);
        for client in [ALICE_IP, BOB_IP] {
            assert!(
                !text.contains(&client.to_string()),
                "{who} sent a client address ({client}) in a {} message",
                message.kind()
            );
        }
    }
    assert!(relay_candidates > 0, "{who} sent no relay candidate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_call_through_coturn_carries_audio_over_relays_and_leaks_no_client_address() {
    let mut s = scene(None, None).await;
    let call = s
        .alice
        .engine
        .dial(s.bob.key, CallType::Voice, PrivacyMode::Private);
    let ringing = s.bob.wait_state(Some(call), CallState::Ringing).await;
    assert_eq!(ringing.mode, PrivacyMode::Private);
    s.bob.engine.accept(call, false);
    s.alice.wait_state(Some(call), CallState::Connected).await;
    s.bob.wait_state(Some(call), CallState::Connected).await;

    s.bob.wait_hears(ALICE_HZ).await;
    s.alice.wait_hears(BOB_HZ).await;

    for (who, phone) in [("alice", &mut s.alice), ("bob", &mut s.bob)] {
        let stats = stats_when_up(phone, call).await;
        assert_eq!(stats.mode, Some(PrivacyMode::Private));
        assert!(stats.relayed, "{who}: {stats:?}");
        assert_eq!(stats.peer.local_candidate_type.as_deref(), Some("relay"));
        assert_eq!(stats.peer.remote_candidate_type.as_deref(), Some("relay"));
        // Media reaches each client from the TURN server only: the far end of the
        // selected pair is a relay address on it, never the other client.
        let remote = stats.peer.remote_address.expect("remote address");
        assert_eq!(remote.ip(), TURN_IP, "{who}: {stats:?}");
        let local = stats.peer.local_address.expect("local address");
        assert_eq!(local.ip(), TURN_IP, "{who}: {stats:?}");
        let (min, max) = s.coturn.relay_ports;
        assert!(
            (min..=max).contains(&remote.port()) && (min..=max).contains(&local.port()),
            "{who}: both ends are coturn relay allocations ({min}-{max}): {stats:?}"
        );
    }

    assert_leaks_nothing("alice", &s.alice_sent);
    assert_leaks_nothing("bob", &s.bob_sent);

    s.alice.engine.hangup(call);
    let end = s.bob.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(end.reason, Reason::Ended(EndReason::RemoteHangup));
    s.shutdown().await;
}
