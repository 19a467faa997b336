//! One call at a time: a second incoming call is rejected as busy (kind 25054, reason
//! "busy"), dialing during a call is refused, and a busy device makes its whole identity
//! busy.

mod common;

use calling::{CallState, EndReason};
use common::{ended, Net};
use phantomcall_schemas::{CallBody, CallId, CallKind, CallType};

fn connected_call(net: &mut Net, from: usize, to: usize) -> CallId {
    let call = net.dial(from, to, CallType::Voice);
    net.accept(to, call);
    net.media_connected(&[from, to], call);
    assert_eq!(net.state(from, call), Some(CallState::Connected));
    call
}

#[test]
fn a_second_call_during_a_call_is_rejected_busy_with_kind_25054() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = connected_call(&mut net, alice, bob);

    let second = net.dial(carol, bob, CallType::Video);
    let reject = net
        .sent(bob)
        .into_iter()
        .find(|m| m.call_id == second)
        .expect("bob answers carol");
    assert_eq!(reject.kind(), CallKind::Reject);
    assert_eq!(reject.kind().as_u16(), 25054);
    assert_eq!(
        reject.body,
        CallBody::Reject {
            reason: Some("busy".into())
        }
    );
    assert_eq!(reject.peer, net.key(carol).to_hex());
    // Bob's log shows a missed call, rejected as busy; his phone never rang for it.
    assert_eq!(net.history(bob, second), [ended(EndReason::LocalBusy)]);
    assert!(net.last_event(bob, second).missed);
    assert!(!net.created_answer(bob, second));
    // Carol hears busy.
    assert_eq!(net.end_reason(carol, second), Some(EndReason::RemoteBusy));
    assert!(net.stopped_media(carol, second));
    // The first call is untouched.
    assert_eq!(net.state(alice, first), Some(CallState::Connected));
    assert_eq!(net.state(bob, first), Some(CallState::Connected));
    assert_eq!(net.live_call(bob), Some(first));
}

#[test]
fn a_call_that_rings_makes_the_line_busy_too() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = net.dial(alice, bob, CallType::Voice);
    let second = net.dial(carol, bob, CallType::Voice);
    assert_eq!(net.end_reason(carol, second), Some(EndReason::RemoteBusy));
    assert_eq!(net.end_reason(bob, second), Some(EndReason::LocalBusy));
    assert_eq!(net.state(bob, first), Some(CallState::Ringing));
    // And Bob can still take the first call.
    net.accept(bob, first);
    assert_eq!(net.state(alice, first), Some(CallState::Connecting));
}

#[test]
fn a_caller_whose_own_call_is_still_ringing_is_busy_for_others() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = net.dial(alice, bob, CallType::Voice);
    let second = net.dial(carol, alice, CallType::Voice);
    assert_eq!(net.end_reason(alice, second), Some(EndReason::LocalBusy));
    assert_eq!(net.end_reason(carol, second), Some(EndReason::RemoteBusy));
    assert_eq!(net.state(alice, first), Some(CallState::Ringing));
}

#[test]
fn dialing_during_a_call_is_refused_and_sends_nothing() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = connected_call(&mut net, alice, bob);
    let sent_before = net.sent(alice).len();
    let refused = net.dial(alice, carol, CallType::Voice);
    assert_eq!(
        net.history(alice, refused),
        [ended(EndReason::AlreadyInCall)]
    );
    assert_eq!(net.sent(alice).len(), sent_before);
    assert!(!net
        .outputs(alice)
        .iter()
        .any(|o| matches!(o, calling::Output::CreateOffer { call_id, .. } if *call_id == refused)));
    assert_eq!(net.state(carol, refused), None);
    assert_eq!(net.state(alice, first), Some(CallState::Connected));
}

#[test]
fn a_service_allowed_several_calls_dials_and_rings_side_by_side_up_to_its_limit() {
    let mut net = Net::new();
    let gateway = net.person_with("gateway", 1, |config| {
        config.max_live_calls = 2;
        config.admission = std::sync::Arc::new(calling::RingUpTo { max_calls: 2 });
    })[0];
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = connected_call(&mut net, gateway, alice);
    let second = net.dial(gateway, bob, CallType::Voice);
    assert_eq!(net.state(bob, second), Some(CallState::Ringing));
    assert_eq!(net.state(gateway, first), Some(CallState::Connected));
    // Two live: a third dial is refused, an incoming call is busy.
    let third = net.dial(gateway, carol, CallType::Voice);
    assert_eq!(
        net.history(gateway, third),
        [ended(EndReason::AlreadyInCall)]
    );
    let fourth = net.dial(carol, gateway, CallType::Voice);
    assert_eq!(net.end_reason(carol, fourth), Some(EndReason::RemoteBusy));
    // One ends: an incoming call rings beside the other.
    net.hangup(alice, first);
    let fifth = net.dial(carol, gateway, CallType::Voice);
    assert_eq!(net.state(gateway, fifth), Some(CallState::Ringing));
    assert_eq!(net.state(bob, second), Some(CallState::Ringing));
}

#[test]
fn after_a_call_ends_the_line_is_free_again() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let carol = net.person("carol", 1)[0];
    let first = connected_call(&mut net, alice, bob);
    net.hangup(alice, first);
    let second = net.dial(carol, bob, CallType::Voice);
    assert_eq!(net.state(bob, second), Some(CallState::Ringing));
}

#[test]
fn a_busy_device_makes_the_whole_identity_busy() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    let carol = net.person("carol", 1)[0];
    let first = connected_call(&mut net, alice, bobs[0]);
    assert_eq!(
        net.end_reason(bobs[1], first),
        Some(EndReason::AnsweredElsewhere)
    );

    // Bob's second device is idle, but the first one's busy reject reaches it too.
    let second = net.dial(carol, bobs[0], CallType::Voice);
    assert_eq!(net.end_reason(bobs[0], second), Some(EndReason::LocalBusy));
    assert_eq!(
        net.history(bobs[1], second),
        [
            (CallState::Ringing, calling::Reason::OfferReceived),
            ended(EndReason::BusyElsewhere)
        ]
    );
    assert!(!net.last_event(bobs[1], second).missed);
    assert_eq!(net.end_reason(carol, second), Some(EndReason::RemoteBusy));
}

#[test]
fn a_busy_reject_reaching_the_caller_twice_counts_once() {
    // Bob has two devices, both busy: both reject; Carol's call ends on the first.
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    let carol = net.person("carol", 1)[0];
    let first = net.dial(alice, bobs[0], CallType::Voice); // rings on both of Bob's devices
    let second = net.dial(carol, bobs[0], CallType::Voice);
    for &b in &bobs {
        assert_eq!(net.end_reason(b, second), Some(EndReason::LocalBusy));
        assert_eq!(net.state(b, first), Some(CallState::Ringing));
    }
    assert_eq!(
        net.history(carol, second).last(),
        Some(&ended(EndReason::RemoteBusy))
    );
    assert_eq!(
        net.history(carol, second)
            .iter()
            .filter(|(s, _)| *s == CallState::Ended)
            .count(),
        1
    );
}
