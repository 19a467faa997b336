//! Mode switch during a call (kinds 25060 request / 25061 ack) and the policy end: the
//! mode changes only when both users agreed, a request is never accepted on its own
//! (least of all one to a lower mode), an ack nobody asked for changes nothing, and a
//! privacy violation ends the call as `policy` on both sides.

mod common;

use calling::{CallState, DropReason, EndReason, Input, Output, Reason};
use common::{ended, message, Net};
use phantomcall_schemas::{CallBody, CallId, CallKind, CallType, PrivacyMode};

/// Alice called Bob in Private mode; both connected.
fn connected() -> (Net, usize, usize, CallId) {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    net.media_connected(&[alice, bob], call);
    net.clear_outputs();
    (net, alice, bob, call)
}

fn mode(net: &Net, dev: usize, call: CallId) -> PrivacyMode {
    net.devices[dev].core.call(&call).expect("call known").mode
}

fn applied_modes(net: &Net, dev: usize) -> Vec<PrivacyMode> {
    net.outputs(dev)
        .iter()
        .filter_map(|o| match o {
            Output::ApplyMode { mode, .. } => Some(*mode),
            _ => None,
        })
        .collect()
}

fn last_drop(net: &Net, dev: usize) -> DropReason {
    net.drops(dev).last().expect("something was dropped").reason
}

fn request(net: &mut Net, dev: usize, call: CallId, mode: PrivacyMode) {
    net.input(
        dev,
        Input::RequestModeSwitch {
            call_id: call,
            mode,
        },
    );
}

/// `to` gets an ack accepting Fast, in `from`'s name, that nobody here asked for.
fn forged_fast_ack(net: &mut Net, from: usize, to: usize, call: CallId) {
    let from_key = net.key(from);
    let ack = CallBody::ModeSwitchAck {
        mode: PrivacyMode::Fast,
        accepted: true,
    };
    let m = message(net, from, to, call, ack);
    net.inject(to, from_key, m);
}

#[test]
fn a_mode_switch_happens_only_after_the_peer_user_accepts() {
    let (mut net, alice, bob, call) = connected();
    request(&mut net, alice, call, PrivacyMode::Paranoid);
    assert_eq!(
        net.sent_kinds(alice, call),
        vec![CallKind::ModeSwitchRequest]
    );

    // Bob's UI is asked; nothing changes on either side yet.
    assert_eq!(
        net.history(bob, call),
        vec![(
            CallState::Connected,
            Reason::ModeSwitchRequested(PrivacyMode::Paranoid)
        )]
    );
    assert_eq!(mode(&net, alice, call), PrivacyMode::Private);
    assert_eq!(mode(&net, bob, call), PrivacyMode::Private);
    assert!(applied_modes(&net, alice).is_empty() && applied_modes(&net, bob).is_empty());

    net.input(bob, Input::AcceptModeSwitch { call_id: call });
    for dev in [alice, bob] {
        assert_eq!(mode(&net, dev, call), PrivacyMode::Paranoid);
        assert_eq!(applied_modes(&net, dev), vec![PrivacyMode::Paranoid]);
        let event = net.last_event(dev, call);
        assert_eq!(
            (event.state, event.reason, event.mode),
            (
                CallState::Connected,
                Reason::ModeSwitched,
                PrivacyMode::Paranoid
            )
        );
    }
    assert_eq!(net.sent_kinds(bob, call), vec![CallKind::ModeSwitchAck]);
}

#[test]
fn a_request_to_a_lower_mode_is_never_auto_accepted() {
    let (mut net, alice, bob, call) = connected();
    request(&mut net, alice, call, PrivacyMode::Fast);
    // However long Bob takes, the request only waits for him.
    net.advance(std::time::Duration::from_secs(3600));
    assert_eq!(mode(&net, bob, call), PrivacyMode::Private);
    assert_eq!(mode(&net, alice, call), PrivacyMode::Private);
    assert!(applied_modes(&net, bob).is_empty());
    assert!(
        !net.sent_kinds(bob, call).contains(&CallKind::ModeSwitchAck),
        "nothing answered on Bob's behalf"
    );
    assert_eq!(net.state(bob, call), Some(CallState::Connected));

    net.input(bob, Input::DeclineModeSwitch { call_id: call });
    for dev in [alice, bob] {
        assert_eq!(mode(&net, dev, call), PrivacyMode::Private);
        assert!(applied_modes(&net, dev).is_empty());
        assert_eq!(
            net.last_event(dev, call).reason,
            Reason::ModeSwitchDeclined(PrivacyMode::Fast)
        );
    }
    let ack = net.sent(bob).pop().expect("Bob's ack");
    assert_eq!(
        ack.body,
        CallBody::ModeSwitchAck {
            mode: PrivacyMode::Fast,
            accepted: false
        }
    );
}

#[test]
fn an_ack_without_a_request_changes_nothing() {
    let (mut net, alice, bob, call) = connected();
    forged_fast_ack(&mut net, bob, alice, call);
    assert_eq!(last_drop(&net, alice), DropReason::UnapprovedModeSwitch);
    assert_eq!(mode(&net, alice, call), PrivacyMode::Private);
    assert!(applied_modes(&net, alice).is_empty());
    assert!(net.events(alice).is_empty());
}

#[test]
fn an_ack_for_another_mode_than_asked_changes_nothing() {
    let (mut net, alice, bob, call) = connected();
    net.hold = true; // Bob never sees the request: the ack below is forged
    request(&mut net, alice, call, PrivacyMode::Paranoid);
    forged_fast_ack(&mut net, bob, alice, call);
    assert_eq!(last_drop(&net, alice), DropReason::UnapprovedModeSwitch);
    assert_eq!(mode(&net, alice, call), PrivacyMode::Private);
    assert!(applied_modes(&net, alice).is_empty());
}

#[test]
fn accepting_with_no_request_pending_changes_nothing() {
    let (mut net, alice, bob, call) = connected();
    net.input(bob, Input::AcceptModeSwitch { call_id: call });
    assert_eq!(
        last_drop(&net, bob),
        DropReason::NotInThisState(CallState::Connected)
    );
    assert!(net.sent(bob).is_empty());
    assert_eq!(mode(&net, bob, call), PrivacyMode::Private);
    assert_eq!(mode(&net, alice, call), PrivacyMode::Private);
}

#[test]
fn crossing_requests_are_both_declined_and_nothing_changes() {
    let (mut net, alice, bob, call) = connected();
    net.hold = true;
    request(&mut net, alice, call, PrivacyMode::Paranoid);
    request(&mut net, bob, call, PrivacyMode::Fast);
    net.hold = false;
    net.release();
    for dev in [alice, bob] {
        assert_eq!(mode(&net, dev, call), PrivacyMode::Private);
        assert!(applied_modes(&net, dev).is_empty());
        assert!(net
            .history(dev, call)
            .iter()
            .all(|(_, r)| !matches!(r, Reason::ModeSwitchRequested(_))));
    }
    assert_eq!(
        net.last_event(alice, call).reason,
        Reason::ModeSwitchDeclined(PrivacyMode::Paranoid)
    );
    assert_eq!(
        net.last_event(bob, call).reason,
        Reason::ModeSwitchDeclined(PrivacyMode::Fast)
    );
}

#[test]
fn a_switch_request_before_the_call_is_connected_is_not_taken() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    request(&mut net, alice, call, PrivacyMode::Fast);
    assert_eq!(
        last_drop(&net, alice),
        DropReason::NotInThisState(CallState::Ringing)
    );
    let alice_key = net.key(alice);
    let m = message(
        &net,
        alice,
        bob,
        call,
        CallBody::ModeSwitchRequest {
            mode: PrivacyMode::Fast,
        },
    );
    net.inject(bob, alice_key, m);
    assert_eq!(
        last_drop(&net, bob),
        DropReason::NotInThisState(CallState::Ringing)
    );
    assert_eq!(mode(&net, bob, call), PrivacyMode::Private);
}

#[test]
fn a_request_for_the_current_mode_is_not_needed() {
    let (mut net, alice, _bob, call) = connected();
    request(&mut net, alice, call, PrivacyMode::Private);
    assert_eq!(last_drop(&net, alice), DropReason::ModeSwitchNotNeeded);
    assert!(net.sent(alice).is_empty());
}

#[test]
fn a_policy_violation_ends_the_call_as_policy_on_both_sides() {
    let (mut net, alice, bob, call) = connected();
    net.input(bob, Input::PolicyViolation { call_id: call });
    assert_eq!(
        net.history(bob, call),
        vec![ended(EndReason::PolicyViolation)]
    );
    assert!(net.stopped_media(bob, call));
    let hangup = net.sent(bob).pop().expect("Bob's hangup");
    assert_eq!(
        hangup.body,
        CallBody::Hangup {
            reason: Some("policy".to_owned())
        }
    );
    assert_eq!(
        net.history(alice, call),
        vec![ended(EndReason::RemotePolicyViolation)]
    );
    assert!(net.stopped_media(alice, call));
}

#[test]
fn a_policy_violation_while_the_answer_is_applied_ends_the_call() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.accept(bob, call);
    // Alice's media engine refuses Bob's answer SDP (a host candidate in it).
    net.input(alice, Input::PolicyViolation { call_id: call });
    assert_eq!(
        net.end_reason(alice, call),
        Some(EndReason::PolicyViolation)
    );
    assert_eq!(
        net.end_reason(bob, call),
        Some(EndReason::RemotePolicyViolation)
    );
}
