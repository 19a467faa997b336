//! Multi-device: the offer rings on every device of the callee, the first device to
//! answer wins, the others stop ringing, and the caller ignores later answers.

mod common;

use calling::{CallState, DropReason, EndReason, Input, Output, Reason};
use common::{candidate, ended, Net};
use phantomcall_schemas::{CallBody, CallKind, CallType, HandledOutcome};

#[test]
fn the_first_of_three_devices_to_answer_wins_and_the_others_stop_ringing() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 3);
    let call = net.dial(alice, bobs[0], CallType::Voice);
    for &b in &bobs {
        assert_eq!(
            net.state(b, call),
            Some(CallState::Ringing),
            "rings everywhere"
        );
    }

    net.accept(bobs[1], call);
    let info = net.devices[alice].core.call(&call).unwrap();
    assert_eq!(info.answered_by, Some(Some(net.device_id(bobs[1]))));
    for b in [bobs[0], bobs[2]] {
        assert_eq!(
            net.history(b, call),
            [
                (CallState::Ringing, Reason::OfferReceived),
                ended(EndReason::AnsweredElsewhere)
            ]
        );
        assert!(
            !net.last_event(b, call).missed,
            "answered elsewhere is not missed"
        );
        assert!(!net.created_answer(b, call) && !net.stopped_media(b, call));
        assert!(net.sent(b).is_empty(), "the others send nothing");
    }
    net.media_connected(&[alice, bobs[1]], call);
    assert_eq!(net.state(bobs[1], call), Some(CallState::Connected));
    assert_eq!(net.state(alice, call), Some(CallState::Connected));

    // Alice's candidates reach every device of Bob; only the one in the call uses them.
    net.input(
        alice,
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(9)],
        },
    );
    assert!(net.outputs(bobs[1]).iter().any(|o| matches!(o,
        Output::AddRemoteCandidates { candidates, .. } if *candidates == vec![candidate(9)])));
    for b in [bobs[0], bobs[2]] {
        assert!(!net
            .outputs(b)
            .iter()
            .any(|o| matches!(o, Output::AddRemoteCandidates { .. })));
    }

    // A hangup ends it for the device in the call; the others know it is over already.
    net.hangup(alice, call);
    assert_eq!(net.end_reason(bobs[1], call), Some(EndReason::RemoteHangup));
    assert_eq!(
        net.end_reason(bobs[0], call),
        Some(EndReason::AnsweredElsewhere)
    );
}

#[test]
fn the_caller_takes_the_first_answer_and_tells_the_second_device_to_hang_up() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 3);
    let call = net.dial(alice, bobs[0], CallType::Voice);

    // Two devices accept before either sees the other's answer.
    net.hold = true;
    net.accept(bobs[0], call);
    net.input(
        bobs[0],
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(1)],
        },
    );
    net.accept(bobs[2], call);
    net.input(
        bobs[2],
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(3)],
        },
    );
    net.hold = false;
    net.release();

    // Alice took the first answer and dropped the second.
    let info = net.devices[alice].core.call(&call).unwrap();
    assert_eq!(info.answered_by, Some(Some(net.device_id(bobs[0]))));
    assert_eq!(
        net.devices[alice].core.dropped(DropReason::DuplicateAnswer),
        1
    );
    let applied = net
        .outputs(alice)
        .iter()
        .filter(|o| matches!(o, Output::ApplyAnswer { .. }))
        .count();
    assert_eq!(applied, 1, "only one answer reaches the media engine");
    // Only the winner's candidates are used.
    let used: Vec<_> = net
        .outputs(alice)
        .iter()
        .filter_map(|o| match o {
            Output::AddRemoteCandidates { candidates, .. } => Some(candidates.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(used, [vec![candidate(1)]]);
    assert!(
        net.devices[alice]
            .core
            .dropped(DropReason::CandidatesFromOtherDevice)
            >= 1
    );

    // The losing device was told, by device id, and stopped.
    let told = format!("answered-elsewhere:{}", net.device_id(bobs[2]));
    assert!(net.sent(alice).iter().any(|m| m.body
        == CallBody::Hangup {
            reason: Some(told.clone())
        }));
    assert_eq!(
        net.end_reason(bobs[2], call),
        Some(EndReason::AnsweredElsewhere)
    );
    assert!(net.stopped_media(bobs[2], call));
    // The winner ignored that hangup and the other's answer copy; the call goes on.
    assert_eq!(net.state(bobs[0], call), Some(CallState::Connecting));
    assert!(net
        .drops(bobs[0])
        .iter()
        .any(|d| d.reason == DropReason::HangupForOtherDevice));
    assert!(net
        .drops(bobs[0])
        .iter()
        .any(|d| d.reason == DropReason::ConcurrentAnswer));
    // The device still ringing stopped.
    assert_eq!(
        net.end_reason(bobs[1], call),
        Some(EndReason::AnsweredElsewhere)
    );

    net.media_connected(&[alice, bobs[0]], call);
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
    assert_eq!(net.state(bobs[0], call), Some(CallState::Connected));
}

#[test]
fn accepting_after_another_device_answered_sends_no_answer() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    let call = net.dial(alice, bobs[0], CallType::Voice);
    // Bob's first device accepts, but its media engine is slow to produce the answer.
    net.devices[bobs[0]].auto_sdp = false;
    net.accept(bobs[0], call);
    assert_eq!(net.state(bobs[0], call), Some(CallState::Connecting));
    // Meanwhile the second device answers.
    net.accept(bobs[1], call);
    assert_eq!(
        net.end_reason(bobs[0], call),
        Some(EndReason::AnsweredElsewhere)
    );
    assert!(net.stopped_media(bobs[0], call));
    // The late answer is not sent.
    net.input(
        bobs[0],
        Input::LocalAnswer {
            call_id: call,
            sdp: common::sdp("too-late"),
        },
    );
    assert!(net.sent(bobs[0]).is_empty());
    assert_eq!(net.state(bobs[1], call), Some(CallState::Connecting));
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
}

#[test]
fn a_decline_on_one_device_ends_the_call_and_stops_the_others() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 3);
    let call = net.dial(alice, bobs[0], CallType::Video);
    net.decline(bobs[2], call);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RemoteDecline));
    assert_eq!(net.end_reason(bobs[2], call), Some(EndReason::LocalDecline));
    for b in [bobs[0], bobs[1]] {
        assert_eq!(net.end_reason(b, call), Some(EndReason::DeclinedElsewhere));
        assert!(!net.last_event(b, call).missed);
    }
}

#[test]
fn the_copy_of_an_answer_that_overtakes_the_offer_keeps_the_device_from_ringing() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    net.hold = true;
    let call = net.dial(alice, bobs[0], CallType::Voice);
    // The offer reaches Bob's first device only; it answers at once.
    net.release_where(|dev, _| dev == bobs[0]);
    net.accept(bobs[0], call);
    // Bob's second device gets the answer's copy first, then the offer.
    net.release_where(|dev, m| dev == bobs[1] && m.message.kind() == CallKind::Answer);
    net.hold = false;
    net.release();
    assert!(net.history(bobs[1], call).is_empty(), "never rang");
    assert_eq!(net.live_call(bobs[1]), None);
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
}

#[test]
fn handled_elsewhere_from_our_own_device_stops_the_ring() {
    for (outcome, reason) in [
        (HandledOutcome::Answered, EndReason::AnsweredElsewhere),
        (HandledOutcome::Rejected, EndReason::DeclinedElsewhere),
    ] {
        let mut net = Net::new();
        let alice = net.person("alice", 1)[0];
        let bobs = net.person("bob", 2);
        let call = net.dial(alice, bobs[0], CallType::Voice);
        let note = common::message(
            &net,
            bobs[1],
            alice,
            call,
            CallBody::HandledElsewhere { outcome },
        );
        let bob_key = net.key(bobs[0]);
        net.inject(bobs[0], bob_key, note.clone());
        assert_eq!(net.end_reason(bobs[0], call), Some(reason));
        // The same note reaching the caller (its `p` names her) changes nothing there.
        net.inject(alice, bob_key, note);
        assert_eq!(net.state(alice, call), Some(CallState::Ringing));
        assert_eq!(
            net.drops(alice).last().map(|d| d.reason),
            Some(DropReason::NoActionNeeded)
        );
    }
}

#[test]
fn the_callers_other_devices_do_not_ring_for_its_own_call() {
    let mut net = Net::new();
    let alices = net.person("alice", 2);
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alices[0], bob, CallType::Voice);
    assert_eq!(net.state(alices[1], call), None);
    assert!(net.events(alices[1]).is_empty());
    assert_eq!(
        net.drops(alices[1]).first().map(|d| d.reason),
        Some(DropReason::OwnDeviceCall)
    );
    // Bob's answer reaches both of Alice's devices; only the caller acts on it.
    net.accept(bob, call);
    assert_eq!(net.state(alices[0], call), Some(CallState::Connecting));
    assert_eq!(net.state(alices[1], call), None);
    assert!(net.events(alices[1]).is_empty());
}

#[test]
fn each_device_ignores_the_relays_echo_of_its_own_messages() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    // Alice's offer echo, Bob's answer echo.
    assert_eq!(net.devices[alice].core.dropped(DropReason::OwnEcho), 1);
    assert_eq!(net.devices[bob].core.dropped(DropReason::OwnEcho), 1);
    assert_eq!(net.state(bob, call), Some(CallState::Connecting));
}

#[test]
fn a_hangup_from_a_device_whose_answer_lost_does_not_end_the_call() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    let call = net.dial(alice, bobs[0], CallType::Voice);
    net.hold = true;
    net.accept(bobs[0], call);
    net.accept(bobs[1], call);
    // Bob's second device loses its connection: it never hears that its answer lost.
    net.devices[bobs[1]].online = false;
    net.hold = false;
    net.release();
    assert_eq!(net.state(bobs[1], call), Some(CallState::Connecting));
    net.media_connected(&[alice, bobs[0]], call);
    // Its connect timeout runs out and its hangup reaches Alice.
    net.advance(calling::fsm::config::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(
        net.end_reason(bobs[1], call),
        Some(EndReason::ConnectTimeout)
    );
    assert!(net
        .drops(alice)
        .iter()
        .any(|d| d.reason == DropReason::HangupFromOtherDevice));
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
    assert_eq!(net.state(bobs[0], call), Some(CallState::Connected));
    // The device in the call can still hang up.
    net.hangup(bobs[0], call);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RemoteHangup));
}
