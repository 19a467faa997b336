//! What an incoming offer gets (issue 12): the callee's own mode is a floor the caller
//! cannot lower; offers the device cannot take are answered with a reason instead of
//! ringing out or failing later; candidates that overtake their offer wait for it;
//! strangers' relays are not written to before the user accepted. In simulated time.

mod common;

use std::sync::Arc;

use calling::fsm::{AnswerEverything, AnswerUpTo};
use calling::{
    CallEngineCore, CallState, DropReason, EndReason, Input, Output, PhoneRefusal, Reason,
};
use common::{candidate, ended, message, sdp, Net};
use nostr_signal::Route;
use phantomcall_schemas::{CallBody, CallId, CallKind, CallType, PrivacyMode};

/// Alice and Bob know each other; Bob asks Private of Alice's calls.
fn bob_requires_private_of_alice() -> (Net, usize, usize) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let alice_key = net.key(alice);
    net.devices[bob]
        .core
        .add_contact(alice_key, Some(PrivacyMode::Private));
    (net, alice, bob)
}

fn rejects(net: &Net, dev: usize, call: CallId) -> Vec<Option<String>> {
    net.sent(dev)
        .into_iter()
        .filter(|m| m.call_id == call)
        .filter_map(|m| match m.body {
            CallBody::Reject { reason } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn adding_a_known_contact_again_without_a_mode_never_lowers_its_mode() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let alice_key = net.key(alice);
    net.devices[bob]
        .core
        .add_contact(alice_key, Some(PrivacyMode::Paranoid));
    // A hotline (or anyone the user trusts) vouches for Alice again, without a mode.
    net.devices[bob].core.add_contact(alice_key, None);
    let id = CallId::new_random();
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, id);
    assert_eq!(
        net.history(bob, id),
        [ended(EndReason::ModeTooLow(PrivacyMode::Paranoid))]
    );
}

#[test]
fn callee_mode_is_never_lowered_by_the_caller() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let id = CallId::new_random();
    net.dial_with(alice, bob, CallType::Video, PrivacyMode::Fast, id);
    // Bob's phone never rings and no media is set up in Fast.
    assert_eq!(
        net.history(bob, id),
        [ended(EndReason::ModeTooLow(PrivacyMode::Private))]
    );
    assert!(!net.created_answer(bob, id));
    assert_eq!(
        rejects(&net, bob, id),
        [Some("mode-required:private".into())]
    );
    // Alice is told exactly what Bob needs.
    assert_eq!(
        net.end_reason(alice, id),
        Some(EndReason::RemoteRequiresMode(PrivacyMode::Private))
    );
    assert!(
        net.last_event(bob, id).missed,
        "Bob's log shows the attempt"
    );
}

#[test]
fn a_headless_answerer_takes_a_call_at_once_but_keeps_the_mode_floor() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let mut config = net.devices[bob].core.config().clone();
    config.admission = Arc::new(AnswerEverything);
    net.devices[bob].core = CallEngineCore::new(config);

    let id = CallId::new_random();
    net.dial_with(alice, bob, CallType::Video, PrivacyMode::Private, id);
    assert_eq!(
        net.history(bob, id),
        [(CallState::Connecting, Reason::AutoAccepted)],
        "answered without ringing"
    );
    assert!(net.created_answer(bob, id));
    assert_eq!(net.state(alice, id), Some(CallState::Connecting));

    // The policy answers only what a person's client would let ring.
    net.hangup(alice, id);
    let low = CallId::new_random();
    net.dial_with(alice, bob, CallType::Video, PrivacyMode::Fast, low);
    assert_eq!(
        net.history(bob, low),
        [ended(EndReason::ModeTooLow(PrivacyMode::Private))]
    );
    assert!(!net.created_answer(bob, low));
}

#[test]
fn a_gateway_answers_calls_side_by_side_up_to_its_limit_then_says_busy() {
    let mut net = Net::new();
    let gateway = net.person("gateway", 1)[0];
    let callers: Vec<_> = ["alice", "carol", "dave"]
        .iter()
        .map(|name| net.person(name, 1)[0])
        .collect();
    let mut config = net.devices[gateway].core.config().clone();
    config.admission = Arc::new(AnswerUpTo { max_calls: 2 });
    net.devices[gateway].core = CallEngineCore::new(config);

    let ids: Vec<_> = callers
        .iter()
        .map(|caller| {
            let id = CallId::new_random();
            net.dial_with(*caller, gateway, CallType::Voice, PrivacyMode::Private, id);
            id
        })
        .collect();
    for id in &ids[..2] {
        assert_eq!(
            net.history(gateway, *id),
            [(CallState::Connecting, Reason::AutoAccepted)]
        );
        assert!(net.created_answer(gateway, *id));
    }
    assert_eq!(net.history(gateway, ids[2]), [ended(EndReason::LocalBusy)]);
    assert!(!net.created_answer(gateway, ids[2]));
    assert_eq!(
        net.end_reason(callers[2], ids[2]),
        Some(EndReason::RemoteBusy)
    );
}

#[test]
fn an_offer_in_a_higher_mode_than_required_rings_in_that_mode() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let id = CallId::new_random();
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Paranoid, id);
    assert_eq!(net.state(bob, id), Some(CallState::Ringing));
    assert_eq!(
        net.devices[bob].core.call(&id).unwrap().mode,
        PrivacyMode::Paranoid
    );
}

#[test]
fn strangers_calls_are_held_to_private_at_least() {
    let mut net = Net::new();
    let bob = net.person("bob", 1)[0];
    let mallory = net.person("mallory", 1)[0];
    let mallory_key = net.key(mallory);
    net.devices[bob].core.contacts_mut().remove(&mallory_key);
    net.devices[bob].core.set_allow_strangers(true);
    let fast = CallId::new_random();
    net.dial_with(mallory, bob, CallType::Voice, PrivacyMode::Fast, fast);
    assert_eq!(
        net.end_reason(bob, fast),
        Some(EndReason::ModeTooLow(PrivacyMode::Private))
    );
    net.advance(std::time::Duration::from_secs(1));
    let private = CallId::new_random();
    net.dial_with(mallory, bob, CallType::Voice, PrivacyMode::Private, private);
    assert_eq!(net.state(bob, private), Some(CallState::Ringing));
}

#[test]
fn an_offer_in_a_mode_without_a_media_path_is_refused_with_a_reason() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    net.devices[bob]
        .core
        .set_unavailable_modes([PrivacyMode::Private, PrivacyMode::Paranoid].into());
    let id = CallId::new_random();
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, id);
    assert_eq!(
        net.end_reason(bob, id),
        Some(EndReason::ModeUnavailable(PrivacyMode::Private))
    );
    assert_eq!(
        rejects(&net, bob, id),
        [Some("mode-unavailable:private".into())]
    );
    assert_eq!(
        net.end_reason(alice, id),
        Some(EndReason::RemoteModeUnavailable(PrivacyMode::Private))
    );
}

#[test]
fn an_offer_without_a_mode_tag_takes_our_mode_and_is_marked_as_such() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let id = CallId::new_random();
    let mut plain = message(
        &net,
        alice,
        bob,
        id,
        CallBody::Offer {
            sdp: sdp("plain"),
            call_type: CallType::Voice,
        },
    );
    plain.mode = None;
    plain.device = None;
    let alice_key = net.key(alice);
    net.inject(bob, alice_key, plain);
    let event = net.last_event(bob, id);
    assert_eq!(event.state, CallState::Ringing);
    assert_eq!(event.mode, PrivacyMode::Private, "our side keeps its mode");
    assert!(event.peer_without_modes, "the UI can say so");
    net.accept(bob, id);
    // The media engine learns it before the offer is applied.
    let outputs = net.outputs(bob);
    let relax = outputs
        .iter()
        .position(|o| matches!(o, Output::PeerWithoutModes { call_id } if *call_id == id));
    let answer = outputs
        .iter()
        .position(|o| matches!(o, Output::CreateAnswer { call_id, .. } if *call_id == id));
    assert!(relax.is_some() && relax < answer, "{outputs:?}");
}

#[test]
fn candidates_that_arrive_before_their_offer_join_the_call() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let id = CallId::new_random();
    let alice_key = net.key(alice);
    let early = message(
        &net,
        alice,
        bob,
        id,
        CallBody::IceCandidates(vec![candidate(4000), candidate(4001)]),
    );
    net.inject(bob, alice_key, early);
    assert!(
        !net.drops(bob)
            .iter()
            .any(|d| d.reason == DropReason::CandidatesBeforeOffer),
        "held, not dropped"
    );
    let offer = message(
        &net,
        alice,
        bob,
        id,
        CallBody::Offer {
            sdp: sdp("late offer"),
            call_type: CallType::Voice,
        },
    );
    net.inject(bob, alice_key, offer);
    net.accept(bob, id);
    let handed_over: Vec<_> = net
        .outputs(bob)
        .iter()
        .filter_map(|o| match o {
            Output::AddRemoteCandidates {
                call_id,
                candidates,
            } if *call_id == id => Some(candidates.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(handed_over, [candidate(4000), candidate(4001)]);
}

#[test]
fn early_candidates_expire_and_never_join_someone_elses_call() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let carol = net.person("carol", 1)[0];
    let id = CallId::new_random();
    let carol_key = net.key(carol);
    // Carol sends candidates under the id Alice is about to use.
    let planted = message(
        &net,
        carol,
        bob,
        id,
        CallBody::IceCandidates(vec![candidate(6666)]),
    );
    net.inject(bob, carol_key, planted);
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, id);
    net.accept(bob, id);
    assert!(
        !net.outputs(bob).iter().any(|o| matches!(
            o,
            Output::AddRemoteCandidates { candidates, .. } if candidates.contains(&candidate(6666))
        )),
        "another key's candidates never join the call"
    );

    let later = CallId::new_random();
    let alice_key = net.key(alice);
    let stale = message(
        &net,
        alice,
        bob,
        later,
        CallBody::IceCandidates(vec![candidate(7777)]),
    );
    net.hangup(bob, id);
    net.inject(bob, alice_key, stale);
    net.advance(calling::fsm::config::EARLY_CANDIDATE_TTL);
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, later);
    net.accept(bob, later);
    assert!(
        !net.outputs(bob).iter().any(|o| matches!(
            o,
            Output::AddRemoteCandidates { candidates, .. } if candidates.contains(&candidate(7777))
        )),
        "held candidates expire"
    );
}

#[test]
fn a_group_offer_is_answered_with_a_reject_that_says_why() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let carol = net.person("carol", 1)[0];
    let id = CallId::new_random();
    let mut group = message(
        &net,
        alice,
        bob,
        id,
        CallBody::Offer {
            sdp: sdp("group"),
            call_type: CallType::Voice,
        },
    );
    // NIP-AC names every callee; Bob is the second.
    group.peer = net.key(carol).to_hex();
    group.also_to = vec![net.key(bob).to_hex()];
    let alice_key = net.key(alice);
    net.inject(bob, alice_key, group);
    assert_eq!(
        net.history(bob, id),
        [ended(EndReason::GroupCallUnsupported)]
    );
    assert_eq!(
        rejects(&net, bob, id),
        [Some("group-calls-unsupported".into())]
    );
    let reply = net.sent(bob).into_iter().find(|m| m.call_id == id).unwrap();
    assert_eq!(
        reply.peer,
        alice_key.to_hex(),
        "the reject goes to the caller"
    );
    assert!(reply.also_to.is_empty());
}

#[test]
fn an_offer_whose_sdp_cannot_be_read_is_answered_with_a_reject() {
    let (mut net, alice, bob) = bob_requires_private_of_alice();
    let id = CallId::new_random();
    let garbage = message(
        &net,
        alice,
        bob,
        id,
        CallBody::Offer {
            sdp: "v=0\r\nthis is not an sdp\r\n".into(),
            call_type: CallType::Voice,
        },
    );
    let alice_key = net.key(alice);
    net.inject(bob, alice_key, garbage);
    assert_eq!(rejects(&net, bob, id), [Some("unreadable-sdp".into())]);
    assert_eq!(net.end_reason(bob, id), Some(EndReason::UnreadableOffer));
    // The same for SDP the structural check passes but the media engine's parser refuses.
    let parsed_badly = CallId::new_random();
    let offer = message(
        &net,
        alice,
        bob,
        parsed_badly,
        CallBody::Offer {
            sdp: sdp("unparsable"),
            call_type: CallType::Voice,
        },
    );
    net.input(
        bob,
        Input::UnparsableSdp(calling::Incoming {
            sender: alice_key,
            from_own_device: false,
            message: offer,
            via: nostr_signal::Via::link(nostr_signal::LinkKind::Relays),
        }),
    );
    assert_eq!(
        rejects(&net, bob, parsed_badly),
        [Some("unreadable-sdp".into())]
    );
}

#[test]
fn a_strangers_offer_is_never_answered_through_their_relays_before_accept() {
    let mut net = Net::new();
    let bob = net.person("bob", 1)[0];
    let alice = net.person("alice", 1)[0];
    let mallory = net.person("mallory", 1)[0];
    let mallory_key = net.key(mallory);
    net.devices[bob].core.contacts_mut().remove(&mallory_key);
    net.devices[bob].core.set_allow_strangers(true);
    // Bob is in a call, so Mallory's offer gets a busy reject.
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    let theirs = net.dial(mallory, bob, CallType::Voice);
    let routes: Vec<(CallKind, Route)> = net
        .outputs(bob)
        .iter()
        .filter_map(|o| match o {
            Output::Send { message, route, .. } => Some((message, *route)),
            _ => None,
        })
        .filter(|(m, _)| m.call_id == theirs || m.call_id == call)
        .map(|(m, r)| (m.kind(), r))
        .collect();
    assert!(
        routes.contains(&(CallKind::Reject, Route::OwnRelays)),
        "the stranger's busy reject stays on our relays: {routes:?}"
    );
    assert!(
        routes.contains(&(CallKind::Answer, Route::PeerInbox)),
        "an accepted call uses the peer's relays: {routes:?}"
    );
    assert_eq!(
        net.history(bob, theirs),
        [ended(EndReason::LocalBusy)],
        "{:?}",
        Reason::OfferReceived
    );
}

#[test]
fn a_gateway_that_will_not_dial_tells_the_caller_why() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let gateway = net.person("gateway", 1)[0];
    let call = net.dial(alice, gateway, CallType::Voice);
    net.input(
        gateway,
        Input::RefusePhone {
            call_id: call,
            refusal: PhoneRefusal::NoCredit,
        },
    );
    let reject = net
        .sent(gateway)
        .into_iter()
        .find(|m| m.call_id == call)
        .expect("a reject");
    assert_eq!(
        reject.body,
        CallBody::Reject {
            reason: Some("phone:no-credit".into())
        }
    );
    assert_eq!(
        net.end_reason(alice, call),
        Some(EndReason::RemotePhoneRefused(PhoneRefusal::NoCredit))
    );
    assert_eq!(net.end_reason(gateway, call), Some(EndReason::LocalDecline));
}
