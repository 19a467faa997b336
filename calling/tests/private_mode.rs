//! Private mode against a real TURN server (Debian's coturn, started by the test on
//! 127.0.0.4; Alice on 127.0.0.2, Bob on 127.0.0.3): the call goes through the relay and
//! carries audio, nothing that leaves either side names a client address, and every
//! attempt to downgrade the call fails closed: a host candidate injected into the call, an
//! answer in a lower mode, an offer in a mode this version does not know.

mod support;
mod turn;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use calling::{CallState, CallStats, EndReason, EngineEvent, Reason};
use nostr_sdk::{Client, Kind, Tag, UnsignedEvent};
use nostr_signal::{
    wrap_rumor, DeliveryForm, Identity, RejectReason, SignalTransport, Timestamp,
    DEFAULT_WRAP_EXPIRATION,
};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, IceCandidate, PrivacyMode};
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
    /// Alice calls Bob (voice, `mode`); Bob accepts once it rings.
    async fn alice_calls_and_bob_accepts(&mut self, mode: PrivacyMode) -> CallId {
        let call = self.alice.engine.dial(self.bob.key, CallType::Voice, mode);
        let ringing = self.bob.wait_state(Some(call), CallState::Ringing).await;
        assert_eq!(ringing.mode, mode);
        self.bob.engine.accept(call, false);
        call
    }

    async fn shutdown(self) {
        self.alice.engine.shutdown().await;
        self.bob.engine.shutdown().await;
    }
}

/// The next figures of `call` with the media path up.
async fn stats_when_up(phone: &mut Phone, call: CallId) -> CallStats {
    phone
        .wait_stats(call, |s| s.peer.remote_address.is_some())
        .await
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
    let call = s.alice_calls_and_bob_accepts(PrivacyMode::Private).await;
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

/// The reason of the first hangup in what a side sent (panics if it sent none).
fn hangup_reason(sent: &Sent) -> Option<String> {
    sent.messages()
        .into_iter()
        .find_map(|m| match m.body {
            CallBody::Hangup { reason } => Some(reason),
            _ => None,
        })
        .expect("a hangup was sent")
}

/// A host candidate on Alice's address, as a buggy or malicious client would send it.
fn injected_host_candidate() -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:9 1 udp 2130706431 {ALICE_IP} 50000 typ host"),
        sdp_mid: Some("0".to_owned()),
        sdp_mline_index: Some(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_candidate_injected_into_a_private_call_ends_it_as_policy_on_both_sides() {
    // Alice's client adds a host candidate to every candidate message it sends.
    let inject: Rewrite = Box::new(|message: &mut CallMessage| {
        if let CallBody::IceCandidates(candidates) = &mut message.body {
            candidates.push(injected_host_candidate());
        }
    });
    let mut s = scene(Some(inject), None).await;
    let call = s.alice_calls_and_bob_accepts(PrivacyMode::Private).await;

    let bob_end = s.bob.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(bob_end.reason, Reason::Ended(EndReason::PolicyViolation));
    let alice_end = s.alice.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(
        alice_end.reason,
        Reason::Ended(EndReason::RemotePolicyViolation)
    );
    assert_eq!(hangup_reason(&s.bob_sent).as_deref(), Some("policy"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_in_a_lower_mode_ends_a_private_call_as_mode_mismatch() {
    // Bob's client claims Fast in its answer to a Private offer.
    let downgrade: Rewrite = Box::new(|message: &mut CallMessage| {
        if let CallBody::Answer { .. } = message.body {
            message.mode = Some(PrivacyMode::Fast);
        }
    });
    let mut s = scene(None, Some(downgrade)).await;
    let call = s.alice_calls_and_bob_accepts(PrivacyMode::Private).await;

    let alice_end = s.alice.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(alice_end.reason, Reason::Ended(EndReason::ModeMismatch));
    assert_eq!(
        alice_end.mode,
        PrivacyMode::Private,
        "never switched to Fast"
    );
    let bob_end = s.bob.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(bob_end.reason, Reason::Ended(EndReason::RemoteHangup));
    assert_eq!(
        hangup_reason(&s.alice_sent).as_deref(),
        Some("mode-mismatch")
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_with_an_unknown_mode_never_rings() {
    let relay = relay().await;
    let mut bob = phone(&relay, &Identity::generate(), PhoneOptions::tone(BOB_HZ)).await;
    let rejected = bob.transport.rejection_counts();
    let before = rejected.get(RejectReason::SchemaInvalid);

    // Mallory's client offers a mode this version does not know ("turbo"): well formed
    // otherwise, signed and wrapped for Bob.
    let mallory = Identity::generate();
    let call = CallId::new_random();
    let offer = CallMessage { phone: None,
        call_id: call,
        peer: bob.key.to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: None,
        body: CallBody::Offer {
            sdp: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                .to_owned(),
            call_type: CallType::Voice,
        },
    };
    let (kind, tags, content) = offer.to_parts();
    let tags: Vec<Tag> = tags
        .into_iter()
        .map(|mut tag| {
            if tag.first().map(String::as_str) == Some("mode") {
                tag[1] = "turbo".to_owned();
            }
            Tag::parse(tag).expect("tag")
        })
        .collect();
    assert!(tags.iter().any(|t| t.as_slice() == ["mode", "turbo"]));
    let mut rumor = UnsignedEvent::new(
        mallory.public_key(),
        Timestamp::now(),
        Kind::from(kind),
        tags,
        content,
    );
    rumor.ensure_id();
    let wrap = wrap_rumor(
        mallory.keys(),
        &bob.key,
        rumor,
        DeliveryForm::Sealed,
        DEFAULT_WRAP_EXPIRATION,
    )
    .await
    .expect("wrap");
    let client = Client::default();
    client.add_relay(relay.url()).await.expect("relay added");
    client.connect().await;
    client
        .send_event(&wrap)
        .await
        .expect("relay takes the wrap");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rejected.get(RejectReason::SchemaInvalid) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's transport did not refuse the offer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Fail closed: nothing rang, the engine never heard of the call.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(event) = bob.events.try_recv() {
        assert!(
            !matches!(&event, EngineEvent::Call(e) if e.call_id == call),
            "{event:?}"
        );
    }
    assert!(bob.engine.calls().await.is_empty());
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agreed_switch_from_fast_to_private_moves_the_media_onto_the_relay() {
    let mut s = scene(None, None).await;
    let call = s.alice_calls_and_bob_accepts(PrivacyMode::Fast).await;
    s.alice.wait_state(Some(call), CallState::Connected).await;
    s.bob.wait_state(Some(call), CallState::Connected).await;

    s.alice
        .engine
        .request_mode_switch(call, PrivacyMode::Private);
    let asked = s
        .bob
        .wait_call(Some(call), Duration::from_secs(10), |e| {
            matches!(e.reason, Reason::ModeSwitchRequested(_))
        })
        .await;
    assert_eq!(
        asked.reason,
        Reason::ModeSwitchRequested(PrivacyMode::Private)
    );
    s.bob.engine.accept_mode_switch(call);
    for phone in [&mut s.alice, &mut s.bob] {
        let switched = phone
            .wait_call(Some(call), Duration::from_secs(10), |e| {
                e.reason == Reason::ModeSwitched
            })
            .await;
        assert_eq!(switched.mode, PrivacyMode::Private);
    }

    // After the caller's ICE restart under the relay-only policy, both ends of the path
    // are relay addresses on the TURN server.
    for (who, phone) in [("alice", &mut s.alice), ("bob", &mut s.bob)] {
        let stats = phone
            .wait_event(Duration::from_secs(15), |e| {
                matches!(e, EngineEvent::Stats { call_id, stats } if *call_id == call
                    && stats.media_up
                    && stats.peer.local_candidate_type.as_deref() == Some("relay")
                    && stats.peer.remote_candidate_type.as_deref() == Some("relay"))
            })
            .await;
        let EngineEvent::Stats { stats, .. } = stats else {
            unreachable!()
        };
        assert_eq!(stats.mode, Some(PrivacyMode::Private), "{who}");
        assert_eq!(
            stats.peer.remote_address.map(|a| a.ip()),
            Some(TURN_IP),
            "{who}: {stats:?}"
        );
        let summary = stats.privacy_summary().expect("summary");
        assert_eq!(summary.title, "Private");
    }
    s.bob.wait_hears(ALICE_HZ).await;
    s.alice.wait_hears(BOB_HZ).await;
    s.shutdown().await;
}
