//! ICE restart during a call: the new offer travels as a renegotiate (25055), the answer
//! as an ordinary answer (25051), and neither changes the call's state.

mod common;

use calling::{CallState, DropReason, Input, Output};
use common::{message, sdp, Net};
use phantomcall_schemas::{CallBody, CallKind, CallType};

fn connected() -> (Net, usize, usize, phantomcall_schemas::CallId) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    net.media_connected(&[alice, bob], call);
    net.clear_outputs();
    (net, alice, bob, call)
}

fn applied_answers(net: &Net, dev: usize) -> Vec<String> {
    net.outputs(dev)
        .iter()
        .filter_map(|o| match o {
            Output::ApplyAnswer { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn caller_ice_restart_reaches_the_callee_and_its_answer_comes_back() {
    let (mut net, alice, bob, call) = connected();
    net.input(
        alice,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("restart-offer"),
        },
    );
    assert!(net.outputs(bob).iter().any(|o| matches!(o,
        Output::ApplyRenegotiation { call_id, sdp: s } if *call_id == call && *s == sdp("restart-offer"))));
    assert_eq!(applied_answers(&net, alice), [sdp("restart-answer-bob")]);
    assert!(net.sent_kinds(alice, call).contains(&CallKind::Renegotiate));
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
    assert_eq!(net.state(bob, call), Some(CallState::Connected));
}

#[test]
fn callee_may_restart_too() {
    let (mut net, _alice, bob, call) = connected();
    net.input(
        bob,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("bob-restart"),
        },
    );
    assert_eq!(applied_answers(&net, bob), [sdp("restart-answer-alice")]);
}

#[test]
fn an_answer_after_the_restart_answer_is_a_duplicate() {
    let (mut net, alice, bob, call) = connected();
    net.input(
        alice,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("restart-offer"),
        },
    );
    let bob_key = net.key(bob);
    let again = message(
        &net,
        bob,
        alice,
        call,
        CallBody::Answer { sdp: sdp("late") },
    );
    net.inject(alice, bob_key, again);
    assert_eq!(applied_answers(&net, alice).len(), 1);
    assert_eq!(
        net.drops(alice).last().map(|d| d.reason),
        Some(DropReason::DuplicateAnswer)
    );
}

#[test]
fn simultaneous_restarts_keep_the_callers_offer() {
    let (mut net, alice, bob, call) = connected();
    net.hold = true;
    net.input(
        alice,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("alice-restart"),
        },
    );
    net.input(
        bob,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("bob-restart"),
        },
    );
    net.hold = false;
    net.release();
    // Alice (the caller) dropped Bob's offer; Bob applied Alice's and answered it.
    assert!(net
        .drops(alice)
        .iter()
        .any(|d| d.reason == DropReason::RenegotiationGlare));
    assert!(net.outputs(bob).iter().any(|o| matches!(o,
        Output::ApplyRenegotiation { sdp: s, .. } if *s == sdp("alice-restart"))));
    assert_eq!(applied_answers(&net, alice), [sdp("restart-answer-bob")]);
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
}

#[test]
fn renegotiation_before_the_call_is_answered_is_dropped() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    let alice_key = net.key(alice);
    let m = message(
        &net,
        alice,
        bob,
        call,
        CallBody::Renegotiate { sdp: sdp("early") },
    );
    net.inject(bob, alice_key, m);
    assert_eq!(
        net.drops(bob).last().map(|d| d.reason),
        Some(DropReason::NotInThisState(CallState::Ringing))
    );
    net.input(
        alice,
        Input::LocalRenegotiation {
            call_id: call,
            sdp: sdp("too-early"),
        },
    );
    assert_eq!(
        net.drops(alice).last().map(|d| d.reason),
        Some(DropReason::NotInThisState(CallState::Ringing))
    );
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
}
