//! Glare: both sides dial each other at once. The call with the smaller call id survives
//! on both sides, is accepted automatically, and the other ends with reason Glare.

mod common;

use calling::{CallState, DropReason, EndReason, Reason};
use common::{call_id, ended, Net};
use phantomcall_schemas::{CallId, CallKind, CallType, PrivacyMode};

/// Alice dials Bob with `a` while Bob dials Alice with `b`; the offers cross.
fn crossing_offers(a: CallId, b: CallId) -> (Net, usize, usize) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.hold = true;
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, a);
    net.dial_with(bob, alice, CallType::Voice, PrivacyMode::Private, b);
    assert_eq!(net.state(alice, a), Some(CallState::Ringing));
    assert_eq!(net.state(bob, b), Some(CallState::Ringing));
    net.hold = false;
    net.release();
    (net, alice, bob)
}

#[test]
fn the_call_with_the_smaller_id_survives_on_both_sides() {
    let small = call_id(1);
    let large = call_id(2);
    // Both assignments: the survivor does not depend on who dialed.
    for alice_has_small in [true, false] {
        let (a, b) = if alice_has_small {
            (small, large)
        } else {
            (large, small)
        };
        let (mut net, alice, bob) = crossing_offers(a, b);
        let (winner_caller, winner_callee) = if alice_has_small {
            (alice, bob)
        } else {
            (bob, alice)
        };

        // The loser's caller ended its own call; its callee dropped the offer.
        assert_eq!(
            net.history(winner_callee, large).last(),
            Some(&ended(EndReason::Glare))
        );
        assert!(net.stopped_media(winner_callee, large));
        assert!(net
            .drops(winner_caller)
            .iter()
            .any(|d| d.call_id == Some(large) && d.reason == DropReason::GlareLost));
        assert!(
            net.history(winner_caller, large).is_empty(),
            "the lost offer never rang"
        );

        // The survivor was accepted at once by the side that had dialed too.
        assert_eq!(
            net.history(winner_callee, small),
            [(CallState::Connecting, Reason::GlareWon)]
        );
        assert!(net.created_answer(winner_callee, small));
        assert_eq!(
            net.last_event(winner_caller, small).reason,
            Reason::RemoteAnswer
        );
        net.media_connected(&[alice, bob], small);
        for dev in [alice, bob] {
            assert_eq!(net.live_call(dev), Some(small));
            assert_eq!(net.state(dev, small), Some(CallState::Connected));
            assert_eq!(
                net.devices[dev]
                    .core
                    .calls()
                    .filter(|c| c.state != CallState::Ended)
                    .count(),
                1,
                "one call survives"
            );
        }
        // The loser said "glare" on the wire.
        assert_eq!(
            net.sent_kinds(winner_callee, large),
            [CallKind::Offer, CallKind::Hangup]
        );
    }
}

#[test]
fn random_ids_always_converge_on_one_call() {
    for _ in 0..50 {
        let a = CallId::new_random();
        let b = CallId::new_random();
        let (mut net, alice, bob) = crossing_offers(a, b);
        let survivor = a.min(b);
        net.media_connected(&[alice, bob], survivor);
        assert_eq!(net.live_call(alice), Some(survivor));
        assert_eq!(net.live_call(bob), Some(survivor));
        assert_eq!(net.state(alice, survivor), Some(CallState::Connected));
        assert_eq!(net.state(bob, survivor), Some(CallState::Connected));
    }
}

#[test]
fn an_answer_that_overtakes_the_losing_offer_changes_nothing() {
    // Alice's call (smaller id) reaches Bob first; Bob's answer to it reaches Alice
    // before Bob's own offer does.
    let (a, b) = (call_id(1), call_id(2));
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.hold = true;
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, a);
    net.dial_with(bob, alice, CallType::Voice, PrivacyMode::Private, b);
    net.release_where(|dev, m| dev == bob && m.message.call_id == a);
    assert_eq!(net.state(bob, a), Some(CallState::Connecting));
    assert_eq!(net.end_reason(bob, b), Some(EndReason::Glare));
    // Now Alice gets Bob's answer to her call first, then Bob's old offer and hangup.
    net.release_where(|dev, m| dev == alice && m.message.kind() == CallKind::Answer);
    assert_eq!(net.state(alice, a), Some(CallState::Connecting));
    net.hold = false;
    net.release();
    assert_eq!(net.state(alice, a), Some(CallState::Connecting));
    assert_eq!(net.live_call(alice), Some(a));
    assert!(net
        .drops(alice)
        .iter()
        .any(|d| d.call_id == Some(b) && d.reason == DropReason::GlareLost));
    net.media_connected(&[alice, bob], a);
    assert_eq!(net.state(alice, a), Some(CallState::Connected));
    assert_eq!(net.state(bob, a), Some(CallState::Connected));
}

#[test]
fn glare_in_another_privacy_mode_rings_instead_of_accepting() {
    let (small, large) = (call_id(1), call_id(2));
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.hold = true;
    net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Private, large);
    net.dial_with(bob, alice, CallType::Voice, PrivacyMode::Fast, small);
    net.hold = false;
    net.release();
    assert_eq!(net.end_reason(alice, large), Some(EndReason::Glare));
    // Bob asked for Fast, Alice dialed Private: she decides, it is not accepted for her.
    assert_eq!(
        net.history(alice, small),
        [(CallState::Ringing, Reason::OfferReceived)]
    );
    assert!(!net.created_answer(alice, small));
    assert_eq!(net.state(bob, small), Some(CallState::Ringing));
}

#[test]
fn glare_with_another_device_of_the_peer_stops_the_devices_that_ring() {
    // Alice dials Bob; Bob's second device dials Alice at the same moment. Alice's id is
    // larger, so Bob's second device's call survives; Bob's first device, which rang
    // for Alice's call, stops.
    let (small, large) = (call_id(1), call_id(2));
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    net.hold = true;
    net.dial_with(alice, bobs[0], CallType::Voice, PrivacyMode::Private, large);
    net.dial_with(bobs[1], alice, CallType::Voice, PrivacyMode::Private, small);
    net.hold = false;
    net.release();
    assert_eq!(net.end_reason(alice, large), Some(EndReason::Glare));
    assert_eq!(net.end_reason(bobs[0], large), Some(EndReason::Glare));
    assert_eq!(net.state(alice, small), Some(CallState::Connecting));
    assert_eq!(net.state(bobs[1], small), Some(CallState::Connecting));
    assert_eq!(net.live_call(bobs[0]), None);
}
