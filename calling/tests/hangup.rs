//! Hangup from either side in every state: both sides end, with the right reason, and
//! media is released where there was any.

mod common;

use calling::{CallState, EndReason, Input};
use common::Net;
use phantomcall_schemas::{CallId, CallKind, CallType};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Ringing,
    Connecting,
    Connected,
}

/// Alice calls Bob and the call is brought to `stage`.
fn call_at(stage: Stage) -> (Net, usize, usize, CallId) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Video);
    if stage != Stage::Ringing {
        net.accept(bob, call);
    }
    if stage == Stage::Connected {
        net.media_connected(&[alice, bob], call);
    }
    let expected = match stage {
        Stage::Ringing => CallState::Ringing,
        Stage::Connecting => CallState::Connecting,
        Stage::Connected => CallState::Connected,
    };
    assert_eq!(net.state(alice, call), Some(expected));
    assert_eq!(net.state(bob, call), Some(expected));
    (net, alice, bob, call)
}

#[test]
fn the_caller_hangs_up_in_every_state() {
    for stage in [Stage::Ringing, Stage::Connecting, Stage::Connected] {
        let (mut net, alice, bob, call) = call_at(stage);
        net.hangup(alice, call);
        assert_eq!(
            net.end_reason(alice, call),
            Some(EndReason::LocalHangup),
            "{stage:?}"
        );
        assert_eq!(
            net.end_reason(bob, call),
            Some(EndReason::RemoteHangup),
            "{stage:?}"
        );
        assert_eq!(net.sent_kinds(alice, call).last(), Some(&CallKind::Hangup));
        assert!(net.stopped_media(alice, call), "{stage:?}");
        // Bob had media only once he accepted.
        assert_eq!(
            net.stopped_media(bob, call),
            stage != Stage::Ringing,
            "{stage:?}"
        );
        // A caller who gives up while it rings leaves a missed call.
        assert_eq!(
            net.last_event(bob, call).missed,
            stage == Stage::Ringing,
            "{stage:?}"
        );
        assert_eq!(net.live_call(alice), None);
        assert_eq!(net.live_call(bob), None);
        assert_eq!(net.devices[alice].core.next_timeout(), None);
        assert_eq!(net.devices[bob].core.next_timeout(), None);
    }
}

#[test]
fn the_callee_hangs_up_in_every_state() {
    for stage in [Stage::Ringing, Stage::Connecting, Stage::Connected] {
        let (mut net, alice, bob, call) = call_at(stage);
        net.hangup(bob, call);
        let (local, remote, kind) = if stage == Stage::Ringing {
            // Hanging up a ringing call declines it.
            (
                EndReason::LocalDecline,
                EndReason::RemoteDecline,
                CallKind::Reject,
            )
        } else {
            (
                EndReason::LocalHangup,
                EndReason::RemoteHangup,
                CallKind::Hangup,
            )
        };
        assert_eq!(net.end_reason(bob, call), Some(local), "{stage:?}");
        assert_eq!(net.end_reason(alice, call), Some(remote), "{stage:?}");
        assert_eq!(net.sent_kinds(bob, call).last(), Some(&kind), "{stage:?}");
        assert!(net.stopped_media(alice, call), "{stage:?}");
        assert_eq!(
            net.stopped_media(bob, call),
            stage != Stage::Ringing,
            "{stage:?}"
        );
        assert!(!net.last_event(bob, call).missed, "{stage:?}");
        assert_eq!(net.live_call(alice), None);
        assert_eq!(net.live_call(bob), None);
    }
}

#[test]
fn cancelling_before_the_offer_is_out_sends_nothing() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.devices[alice].auto_sdp = false;
    let call = net.dial(alice, bob, CallType::Voice);
    assert_eq!(net.state(alice, call), Some(CallState::Dialing));
    net.hangup(alice, call);
    assert_eq!(net.end_reason(alice, call), Some(EndReason::LocalHangup));
    assert!(net.stopped_media(alice, call));
    assert!(net.sent(alice).is_empty());
    assert_eq!(net.state(bob, call), None);
}

#[test]
fn the_callee_hangs_up_after_accepting_before_its_answer_is_out() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.devices[bob].auto_sdp = false;
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    net.hangup(bob, call);
    assert_eq!(net.end_reason(bob, call), Some(EndReason::LocalHangup));
    assert!(net.stopped_media(bob, call));
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RemoteHangup));
}

#[test]
fn a_media_failure_ends_the_call_on_both_sides() {
    let (mut net, alice, bob, call) = call_at(Stage::Connected);
    net.input(
        bob,
        Input::MediaFailed {
            call_id: call,
            error: calling::MediaError::Connection,
        },
    );
    assert_eq!(
        net.end_reason(bob, call),
        Some(EndReason::MediaFailed(calling::MediaError::Connection))
    );
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RemoteHangup));
    assert!(net.stopped_media(bob, call) && net.stopped_media(alice, call));
}

#[test]
fn hanging_up_twice_is_dropped_not_sent_twice() {
    let (mut net, alice, _bob, call) = call_at(Stage::Connected);
    net.hangup(alice, call);
    net.hangup(alice, call);
    let hangups = net
        .sent_kinds(alice, call)
        .into_iter()
        .filter(|k| *k == CallKind::Hangup)
        .count();
    assert_eq!(hangups, 1);
    assert_eq!(
        net.drops(alice).last().map(|d| d.reason),
        Some(calling::DropReason::CallEnded)
    );
}
