//! Bad input is dropped with its reason and counted, and the call goes on: an answer for
//! an unknown call, candidates before the offer, an SDP that does not parse, a hangup
//! from a third party, a duplicate answer, illegal transitions, floods.

mod common;

use calling::{CallState, DropReason, EndReason, Incoming, Input, Output};
use common::{candidate, message, sdp, Net};
use phantomcall_schemas::{CallBody, CallId, CallType, PrivacyMode};

/// Alice calls Bob; the call rings. Carol is a third person both know.
fn ringing() -> (Net, usize, usize, usize, CallId) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    (net, alice, bob, carol, call)
}

fn last_drop(net: &Net, dev: usize) -> DropReason {
    net.drops(dev).last().expect("something was dropped").reason
}

#[test]
fn an_answer_for_an_unknown_call_is_dropped_and_the_call_goes_on() {
    let (mut net, alice, bob, _, call) = ringing();
    let stray = message(
        &net,
        bob,
        alice,
        CallId::new_random(),
        CallBody::Answer { sdp: sdp("x") },
    );
    let bob_key = net.key(bob);
    net.inject(alice, bob_key, stray);
    assert_eq!(last_drop(&net, alice), DropReason::UnknownCall);
    assert_eq!(net.devices[alice].core.dropped(DropReason::UnknownCall), 1);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    net.accept(bob, call);
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
}

#[test]
fn candidates_before_the_offer_are_held_for_it() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = CallId::new_random();
    let early = message(
        &net,
        alice,
        bob,
        call,
        CallBody::IceCandidates(vec![candidate(1)]),
    );
    let alice_key = net.key(alice);
    net.inject(bob, alice_key, early);
    assert!(net.drops(bob).is_empty(), "held (NIP-AC), not dropped");
    // The offer that follows rings, and the held candidate joins the call once accepted.
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, call);
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
    net.accept(bob, call);
    assert!(net.outputs(bob).iter().any(
        |o| matches!(o, Output::AddRemoteCandidates { candidates, .. } if candidates.contains(&candidate(1)))
    ));
}

#[test]
fn an_answer_whose_sdp_does_not_parse_is_dropped_and_a_good_one_still_connects() {
    let (mut net, alice, bob, _, call) = ringing();
    let bob_key = net.key(bob);
    // The media engine found it unparsable and says so.
    let bad = message(
        &net,
        bob,
        alice,
        call,
        CallBody::Answer { sdp: sdp("broken") },
    );
    net.input(
        alice,
        Input::UnparsableSdp(Incoming {
            sender: bob_key,
            from_own_device: false,
            message: bad,
            via: nostr_signal::Via::link(nostr_signal::LinkKind::Relays),
        }),
    );
    assert_eq!(last_drop(&net, alice), DropReason::UnparsableSdp);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    // Garbage that is not SDP at all is caught by the engine's own check.
    let garbage = message(
        &net,
        bob,
        alice,
        call,
        CallBody::Answer {
            sdp: "hello".into(),
        },
    );
    net.inject(alice, bob_key, garbage);
    assert_eq!(last_drop(&net, alice), DropReason::UnparsableSdp);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    assert_eq!(
        net.devices[alice].core.dropped(DropReason::UnparsableSdp),
        2
    );
    assert!(!net
        .outputs(alice)
        .iter()
        .any(|o| matches!(o, Output::ApplyAnswer { .. })));
    // Bob really answers.
    net.accept(bob, call);
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
}

#[test]
fn an_offer_whose_sdp_is_garbage_never_rings() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = CallId::new_random();
    let offer = message(
        &net,
        alice,
        bob,
        call,
        CallBody::Offer {
            sdp: "v=0\r\nno media\r\n".into(),
            call_type: CallType::Voice,
        },
    );
    let alice_key = net.key(alice);
    net.inject(bob, alice_key, offer);
    assert!(net
        .drops(bob)
        .iter()
        .any(|d| d.reason == DropReason::UnparsableSdp));
    // It never rings; the caller gets a reject that says why (issue 12).
    assert!(!net
        .events(bob)
        .iter()
        .any(|e| e.state == CallState::Ringing));
    assert_eq!(net.live_call(bob), None);
}

#[test]
fn a_hangup_from_a_third_party_is_dropped_and_the_call_goes_on() {
    let (mut net, alice, bob, carol, call) = ringing();
    net.accept(bob, call);
    net.media_connected(&[alice, bob], call);
    let carol_key = net.key(carol);
    for target in [alice, bob] {
        let forged = message(&net, carol, target, call, CallBody::Hangup { reason: None });
        net.inject(target, carol_key, forged);
        assert_eq!(last_drop(&net, target), DropReason::ThirdParty);
        assert_eq!(net.state(target, call), Some(CallState::Connected));
    }
    // Also while it rings, and for candidates.
    let (mut net, alice, bob, carol, call) = ringing();
    let carol_key = net.key(carol);
    let forged = message(&net, carol, bob, call, CallBody::Hangup { reason: None });
    net.inject(bob, carol_key, forged);
    let forged = message(
        &net,
        carol,
        bob,
        call,
        CallBody::IceCandidates(vec![candidate(6)]),
    );
    net.inject(bob, carol_key, forged);
    assert_eq!(net.devices[bob].core.dropped(DropReason::ThirdParty), 2);
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
    net.accept(bob, call);
    assert!(
        !net.outputs(bob)
            .iter()
            .any(|o| matches!(o, Output::AddRemoteCandidates { .. })),
        "carol's candidate was not buffered"
    );
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
}

#[test]
fn a_duplicate_answer_from_the_same_device_is_dropped_without_a_hangup() {
    let (mut net, alice, bob, _, call) = ringing();
    net.accept(bob, call);
    let again = message(
        &net,
        bob,
        alice,
        call,
        CallBody::Answer { sdp: sdp("again") },
    );
    let bob_key = net.key(bob);
    let sent_before = net.sent(alice).len();
    net.inject(alice, bob_key, again);
    assert_eq!(last_drop(&net, alice), DropReason::DuplicateAnswer);
    assert_eq!(
        net.sent(alice).len(),
        sent_before,
        "its own device is not told to hang up"
    );
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
    net.media_connected(&[alice, bob], call);
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
}

#[test]
fn a_message_not_addressed_to_us_is_dropped() {
    let (mut net, alice, bob, carol, call) = ringing();
    // Bob's answer, addressed to Carol, delivered to Alice.
    let wrong = message(&net, bob, carol, call, CallBody::Answer { sdp: sdp("x") });
    let bob_key = net.key(bob);
    net.inject(alice, bob_key, wrong);
    assert_eq!(last_drop(&net, alice), DropReason::NotAddressedToUs);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
}

#[test]
fn an_answer_in_another_privacy_mode_ends_the_call_fail_closed() {
    let (mut net, alice, bob, _, call) = ringing();
    let mut downgrade = message(&net, bob, alice, call, CallBody::Answer { sdp: sdp("x") });
    downgrade.mode = Some(PrivacyMode::Fast);
    let bob_key = net.key(bob);
    net.inject(alice, bob_key, downgrade);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::ModeMismatch));
    assert_eq!(
        net.sent(alice).last().map(|m| m.body.clone()),
        Some(CallBody::Hangup {
            reason: Some("mode-mismatch".into())
        })
    );
    assert!(!net
        .outputs(alice)
        .iter()
        .any(|o| matches!(o, Output::ApplyAnswer { .. })));
    assert_eq!(net.state(bob, call), Some(CallState::Ended));
}

#[test]
fn an_answer_without_a_mode_tag_is_taken_in_the_offered_mode() {
    // Plain NIP-AC clients send no mode tag; the call keeps the mode we offered.
    let (mut net, alice, bob, _, call) = ringing();
    let mut plain = message(&net, bob, alice, call, CallBody::Answer { sdp: sdp("x") });
    plain.mode = None;
    plain.device = None;
    let bob_key = net.key(bob);
    net.inject(alice, bob_key, plain);
    let info = net.devices[alice].core.call(&call).unwrap();
    assert_eq!(info.state, CallState::Connecting);
    assert_eq!(info.mode, PrivacyMode::Private);
    assert_eq!(info.peer_mode, None);
    assert_eq!(info.answered_by, Some(None));
}

#[test]
fn illegal_transitions_are_dropped_never_panicked_on() {
    let (mut net, alice, bob, _, call) = ringing();
    let illegal = [
        (
            alice,
            Input::Accept {
                call_id: call,
                with_video: false,
            },
        ),
        (alice, Input::Decline { call_id: call }),
        (alice, Input::MediaConnected { call_id: call }),
        (
            alice,
            Input::LocalAnswer {
                call_id: call,
                sdp: sdp("x"),
            },
        ),
        (
            alice,
            Input::LocalOffer {
                call_id: call,
                sdp: sdp("again"),
            },
        ),
        (bob, Input::MediaConnected { call_id: call }),
        (
            bob,
            Input::LocalCandidates {
                call_id: call,
                candidates: vec![candidate(1)],
            },
        ),
        (
            bob,
            Input::MediaFailed {
                call_id: call,
                error: calling::MediaError::Connection,
            },
        ),
    ];
    for (dev, input) in illegal {
        let before = net.drops(dev).len();
        net.input(dev, input.clone());
        let drops = net.drops(dev);
        assert_eq!(drops.len(), before + 1, "{input:?}");
        assert!(
            matches!(
                drops.last().unwrap().reason,
                DropReason::NotInThisState(CallState::Ringing)
            ),
            "{input:?}: {:?}",
            drops.last()
        );
    }
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
    // User actions on calls that do not exist.
    let nowhere = CallId::new_random();
    net.input(
        bob,
        Input::Accept {
            call_id: nowhere,
            with_video: true,
        },
    );
    assert_eq!(last_drop(&net, bob), DropReason::UnknownCall);
    // Dialing with a call id in use, or ourselves.
    let bob_key = net.key(bob);
    net.input(
        bob,
        Input::Dial {
            call_id: call,
            peer: net.key(alice),
            call_type: CallType::Voice,
            mode: PrivacyMode::Private,
        },
    );
    assert_eq!(last_drop(&net, bob), DropReason::DuplicateCallId);
    net.hangup(alice, call);
    net.input(
        bob,
        Input::Dial {
            call_id: CallId::new_random(),
            peer: bob_key,
            call_type: CallType::Voice,
            mode: PrivacyMode::Private,
        },
    );
    assert_eq!(last_drop(&net, bob), DropReason::CannotCallSelf);
}

#[test]
fn a_flood_of_offers_from_strangers_keeps_memory_bounded() {
    let mut net = Net::new();
    let bob = net.person("bob", 1)[0];
    let mallory = net.person("mallory", 1)[0];
    let mallory_key = net.key(mallory);
    net.devices[bob].core.contacts_mut().remove(&mallory_key);
    for _ in 0..1000 {
        let offer = message(
            &net,
            mallory,
            bob,
            CallId::new_random(),
            CallBody::Offer {
                sdp: sdp("spam"),
                call_type: CallType::Voice,
            },
        );
        net.devices[bob].core.handle(
            Input::Signal(Incoming {
                sender: mallory_key,
                from_own_device: false,
                message: offer,
                via: nostr_signal::Via::link(nostr_signal::LinkKind::Relays),
            }),
            net.now,
        );
        net.devices[bob].core.drain_outputs();
    }
    let remembered = net.devices[bob].core.calls().count();
    assert!(
        remembered <= calling::fsm::config::MAX_REMEMBERED_CALLS,
        "{remembered}"
    );
    // And the line still works for a contact.
    let alice = net.person("alice", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
}

#[test]
fn a_flood_of_candidates_for_a_ringing_call_is_bounded() {
    let (mut net, alice, bob, _, call) = ringing();
    let alice_key = net.key(alice);
    for i in 0..200u16 {
        let m = message(
            &net,
            alice,
            bob,
            call,
            CallBody::IceCandidates(vec![candidate(i)]),
        );
        net.inject(bob, alice_key, m);
    }
    assert_eq!(
        net.devices[bob]
            .core
            .dropped(DropReason::CandidateBufferFull),
        200 - calling::fsm::config::MAX_BUFFERED_CANDIDATES as u64
    );
    net.accept(bob, call);
    let handed: usize = net
        .outputs(bob)
        .iter()
        .filter_map(|o| match o {
            Output::AddRemoteCandidates { candidates, .. } => Some(candidates.len()),
            _ => None,
        })
        .sum();
    assert_eq!(handed, calling::fsm::config::MAX_BUFFERED_CANDIDATES);
}

#[test]
fn ended_calls_are_forgotten_after_a_while() {
    let (mut net, alice, bob, _, call) = ringing();
    net.hangup(alice, call);
    assert!(net.devices[bob].core.call(&call).is_some());
    net.advance(calling::fsm::config::ENDED_CALL_MEMORY);
    net.input(bob, Input::Tick);
    assert!(net.devices[bob].core.call(&call).is_none());
}
