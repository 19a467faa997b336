//! Rings end: after the ring timeout on both sides (missed here, no answer there), when
//! the callee is offline, and when media never comes up.

mod common;

use std::time::Duration;

use calling::{CallState, DropReason, EndReason, Input};
use common::{ended, Net};
use phantomcall_schemas::{CallBody, CallKind, CallType};

const RING: Duration = calling::fsm::config::DEFAULT_RING_TIMEOUT;
const CONNECT: Duration = calling::fsm::config::DEFAULT_CONNECT_TIMEOUT;
const MS: Duration = Duration::from_millis(1);

#[test]
fn the_default_ring_timeout_is_45_seconds() {
    assert_eq!(RING, Duration::from_secs(45));
}

#[test]
fn an_unanswered_call_ends_after_the_ring_timeout_on_both_sides() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);

    net.advance(RING - MS);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));

    net.advance(MS);
    // Caller: no answer, and it tells the callee so.
    assert_eq!(
        net.history(alice, call).last(),
        Some(&ended(EndReason::RingTimeout))
    );
    let hangup = net.sent(alice).pop().unwrap();
    assert_eq!(
        hangup.body,
        CallBody::Hangup {
            reason: Some("timeout".into())
        }
    );
    assert!(net.stopped_media(alice, call));
    // Callee: missed.
    let last = net.last_event(bob, call);
    assert_eq!((last.state, last.reason), ended(EndReason::RingTimeout));
    assert!(last.missed);
    assert!(net.sent(bob).is_empty(), "the callee sends nothing");
    assert!(!net.stopped_media(bob, call), "the callee never had media");
}

#[test]
fn the_callee_times_out_on_its_own_when_the_callers_hangup_is_lost() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.hold = true; // Alice's timeout hangup never arrives.
    net.advance(RING);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RingTimeout));
    let last = net.last_event(bob, call);
    assert_eq!((last.state, last.reason), ended(EndReason::RingTimeout));
    assert!(last.missed);
}

#[test]
fn an_offline_callee_gives_no_answer_and_the_caller_times_out() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.devices[bob].online = false;
    let call = net.dial(alice, bob, CallType::Video);
    assert_eq!(net.state(bob, call), None, "bob never heard of it");
    net.advance(RING - MS);
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    net.advance(MS);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RingTimeout));
    assert_eq!(
        net.sent_kinds(alice, call),
        [CallKind::Offer, CallKind::Hangup]
    );
    assert_eq!(net.devices[alice].core.next_timeout(), None);
}

#[test]
fn the_ring_timeout_is_configurable() {
    // DESIGN.md says 60 s; a deployment may choose it.
    let mut net = Net::new().with_ring_timeout(Duration::from_secs(60));
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.advance(Duration::from_secs(59));
    assert_eq!(net.state(alice, call), Some(CallState::Ringing));
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
    net.advance(Duration::from_secs(1));
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RingTimeout));
    assert_eq!(net.end_reason(bob, call), Some(EndReason::RingTimeout));
}

#[test]
fn a_timer_due_before_an_input_fires_first_even_without_a_tick() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    // Time passes but nobody ticks; then Bob accepts.
    net.now += RING;
    net.accept(bob, call);
    assert_eq!(net.end_reason(bob, call), Some(EndReason::RingTimeout));
    assert!(net
        .drops(bob)
        .iter()
        .any(|d| d.reason == DropReason::CallEnded));
    assert!(!net.created_answer(bob, call));
}

#[test]
fn an_answer_that_crosses_the_callers_timeout_is_told_to_hang_up() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.advance(RING - MS);
    net.hold = true;
    net.accept(bob, call); // Bob's answer is in flight ...
    net.advance(MS); // ... when Alice gives up.
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RingTimeout));
    // Only the answer reaches Alice first.
    let answer_only = |_, m: &calling::Incoming| m.message.kind() == CallKind::Answer;
    net.release_where(answer_only);
    assert!(net
        .drops(alice)
        .iter()
        .any(|d| d.reason == DropReason::CallEnded));
    assert_eq!(
        net.sent(alice).last().map(|m| m.body.clone()),
        Some(CallBody::Hangup { reason: None }),
        "the late answer gets a hangup"
    );
    net.hold = false;
    net.release();
    assert_eq!(net.state(bob, call), Some(CallState::Ended));
    assert!(net.stopped_media(bob, call));
}

#[test]
fn media_that_never_comes_up_ends_the_call_after_the_connect_timeout() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    net.advance(CONNECT - MS);
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
    net.advance(MS);
    // Both timers are due at once; Alice's fires first and her hangup reaches Bob.
    assert_eq!(net.end_reason(alice, call), Some(EndReason::ConnectTimeout));
    assert_eq!(
        net.sent(alice).last().map(|m| m.body.clone()),
        Some(CallBody::Hangup {
            reason: Some("connect-timeout".into())
        })
    );
    assert_eq!(net.state(bob, call), Some(CallState::Ended));
    assert!(net.stopped_media(alice, call) && net.stopped_media(bob, call));
}

#[test]
fn a_media_engine_that_never_produces_the_offer_ends_the_dial() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.devices[alice].auto_sdp = false;
    let call = net.dial(alice, bob, CallType::Voice);
    net.advance(CONNECT);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::ConnectTimeout));
    assert!(net.sent(alice).is_empty(), "bob never knew");
    // The offer arriving now is too late.
    net.input(
        alice,
        Input::LocalOffer {
            call_id: call,
            sdp: common::sdp("late"),
        },
    );
    assert!(net.sent(alice).is_empty());
    assert_eq!(
        net.drops(alice).last().map(|d| d.reason),
        Some(DropReason::CallEnded)
    );
}

#[test]
fn a_callee_whose_ring_started_late_stops_on_the_callers_timeout_hangup() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.hold = true;
    let call = net.dial(alice, bob, CallType::Voice);
    net.advance(Duration::from_secs(5)); // the offer took 5 s to arrive
    net.hold = false;
    net.release();
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
    net.advance(RING - Duration::from_secs(5));
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RingTimeout));
    // Bob's own timer has 5 s left; Alice's "timeout" hangup ends it now, as missed.
    let last = net.last_event(bob, call);
    assert_eq!((last.state, last.reason), ended(EndReason::RingTimeout));
    assert!(last.missed);
    assert_eq!(net.devices[bob].core.next_timeout(), None);
}
