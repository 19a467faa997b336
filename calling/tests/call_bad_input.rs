//! Bad input over the real relay, during a live call: a third identity ("Mallory") sends
//! hand-made call messages to Bob while Bob talks with Alice. Each message is dropped with
//! its reason (an [`EngineEvent::Dropped`] from the engine, or a rejection counted by the
//! transport's verifier before the engine sees it) and the call goes on: still connected,
//! audio still flowing both ways.

mod support;

use std::sync::Arc;
use std::time::Duration;

use calling::{CallState, DropReason, Dropped, EngineEvent, InputKind};
use nostr_signal::{Identity, NostrTransport, NostrTransportConfig, RejectReason, SignalTransport};
use phantomcall_schemas::{
    CallBody, CallId, CallKind, CallMessage, CallType, DeviceId, IceCandidate, PrivacyMode,
};
use support::{
    connected_call, phone, phone_with_transport, raw_transport, relay, transport_config, Phone,
    PhoneOptions, Relay,
};
use webrtc::peer_connection::RTCSessionDescription;

/// An SDP that webrtc-rs parses (so only the call id can make it fail).
const VALID_SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n";

/// Passes the schema (starts with `v=0`) and the state machine's structural check (`v=0`
/// line, an `m=` line), but not webrtc-rs's parser: the `o=`, `s=` and `t=` lines are
/// missing.
const UNPARSABLE_SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";

/// Alice and Bob in a connected call, and Mallory, who only has a transport.
struct Scene {
    _relay: Relay,
    alice: Phone,
    bob: Phone,
    mallory: Arc<NostrTransport>,
    call: CallId,
}

/// `tune` adjusts Bob's transport settings.
async fn call_with_mallory(tune: impl FnOnce(&mut NostrTransportConfig)) -> Scene {
    let relay = relay().await;
    let mut alice = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut config = transport_config(vec![relay.url()]);
    tune(&mut config);
    let bob_id = Identity::generate();
    let mut bob = phone_with_transport(&bob_id, PhoneOptions::tone(660.0), config).await;
    let mallory = raw_transport(&relay, &Identity::generate()).await;
    let call = connected_call(&mut alice, &mut bob).await;
    Scene {
        _relay: relay,
        alice,
        bob,
        mallory,
        call,
    }
}

impl Scene {
    /// Mallory sends `body` about `call_id` to Bob, with PhantomCall's tags.
    async fn mallory_sends(&self, call_id: CallId, body: CallBody) {
        let message = CallMessage {
            phone: None,
            call_id,
            peer: self.bob.key.to_hex(),
            also_to: Vec::new(),
            pq_share: None,
            mode: Some(PrivacyMode::Fast),
            device: Some(DeviceId::new_random()),
            body,
        };
        self.mallory
            .send(self.bob.key, &message)
            .await
            .expect("the relay takes Mallory's message");
    }

    /// Mallory sends `body` about `call_id`; waits for Bob's engine to drop it for
    /// `reason`.
    async fn bob_drops(&mut self, call_id: CallId, body: CallBody, reason: DropReason) -> Dropped {
        self.mallory_sends(call_id, body).await;
        self.bob.wait_dropped(call_id, reason).await
    }

    /// The call is still connected on both sides and each side hears the other's tone
    /// in audio played from now on; then both engines shut down.
    async fn call_goes_on(self) {
        for phone in [&self.alice, &self.bob] {
            let info = phone.call_info(self.call).await;
            assert_eq!(info.state, CallState::Connected, "{info:?}");
        }
        self.alice.wait_hears(self.bob.devices.tone_hz).await;
        self.bob.wait_hears(self.alice.devices.tone_hz).await;
        self.alice.engine.shutdown().await;
        self.bob.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answer_for_an_unknown_call_is_dropped_and_the_live_call_goes_on() {
    assert!(RTCSessionDescription::answer(VALID_SDP.to_owned()).is_ok());
    let mut scene = call_with_mallory(|_| {}).await;
    let answer = CallBody::Answer {
        sdp: VALID_SDP.to_owned(),
    };
    let dropped = scene
        .bob_drops(CallId::new_random(), answer, DropReason::UnknownCall)
        .await;
    assert_eq!(dropped.input, InputKind::Signal(CallKind::Answer));
    scene.call_goes_on().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ice_candidates_before_any_offer_are_held_and_the_live_call_goes_on() {
    let scene = call_with_mallory(|_| {}).await;
    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".to_owned(),
        sdp_mid: Some("0".to_owned()),
        sdp_mline_index: Some(0),
    };
    // Held for an offer that may follow (NIP-AC, issue 12); they touch no live call.
    let candidates = CallBody::IceCandidates(vec![candidate]);
    scene.mallory_sends(CallId::new_random(), candidates).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    scene.call_goes_on().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offer_whose_sdp_webrtc_cannot_parse_is_dropped_and_the_live_call_goes_on() {
    assert!(calling::fsm::wire::sdp_looks_valid(UNPARSABLE_SDP));
    assert!(RTCSessionDescription::offer(UNPARSABLE_SDP.to_owned()).is_err());
    let mut scene = call_with_mallory(|_| {}).await;
    let new_call = CallId::new_random();
    let offer = CallBody::Offer {
        sdp: UNPARSABLE_SDP.to_owned(),
        call_type: CallType::Voice,
    };
    let dropped = scene
        .bob_drops(new_call, offer, DropReason::UnparsableSdp)
        .await;
    // Refused by webrtc-rs's parser in the engine, not by the structural check.
    assert_eq!(dropped.input, InputKind::UnparsableSdp(CallKind::Offer));
    let known = scene.bob.engine.calls().await;
    assert!(
        known
            .iter()
            .filter(|c| c.call_id == new_call)
            .all(|c| c.state == CallState::Ended),
        "the bad offer never rang (issue 12: it is answered with a reject): {known:?}"
    );
    scene.call_goes_on().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn third_party_hangup_for_a_live_call_is_refused_by_the_transport_and_the_call_goes_on() {
    let mut scene = call_with_mallory(|_| {}).await;
    let refused = scene.bob.transport.rejection_counts();
    let before = refused.get(RejectReason::ForeignCallId);

    // Mallory learnt the call id somehow. The id is bound to (Alice, Bob) in Bob's
    // verifier, so the hangup never reaches Bob's engine.
    let call = scene.call;
    scene
        .mallory_sends(call, CallBody::Hangup { reason: None })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while refused.get(RejectReason::ForeignCallId) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's transport did not refuse the hangup"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing about the call happened in the engine meanwhile.
    while let Ok(event) = scene.bob.events.try_recv() {
        assert!(
            !matches!(&event, EngineEvent::Call(e) if e.call_id == call),
            "{event:?}"
        );
    }
    scene.call_goes_on().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn third_party_hangup_that_the_transport_let_through_is_dropped_by_the_engine() {
    // Bob's verifier remembers one call id only, so a message for another call makes it
    // forget the live one: then nothing but the engine stands between Mallory's hangup
    // and the call.
    let mut scene = call_with_mallory(|config| config.verifier.max_call_bindings = 1).await;
    let answer = CallBody::Answer {
        sdp: VALID_SDP.to_owned(),
    };
    scene
        .bob_drops(CallId::new_random(), answer, DropReason::UnknownCall)
        .await;

    let hangup = CallBody::Hangup { reason: None };
    let dropped = scene
        .bob_drops(scene.call, hangup, DropReason::ThirdParty)
        .await;
    assert_eq!(dropped.input, InputKind::Signal(CallKind::Hangup));
    scene.call_goes_on().await;
}
