//! Only contacts ring by default: a call from a stranger lands as missed, unknown caller,
//! and nothing goes back to the stranger, unless strangers are allowed.

mod common;

use calling::{CallState, EndReason, Reason};
use common::{ended, Net};
use phantomcall_schemas::{CallType, PrivacyMode};
use std::time::Duration;

/// Mallory has Bob as a contact, but Bob does not have her.
fn net_with_stranger() -> (Net, usize, usize) {
    let mut net = Net::new();
    let bob = net.person("bob", 1)[0];
    let mallory = net.person("mallory", 1)[0];
    let mallory_key = net.key(mallory);
    net.devices[bob].core.contacts_mut().remove(&mallory_key);
    (net, bob, mallory)
}

#[test]
fn a_strangers_call_lands_as_missed_unknown_caller_and_nothing_is_sent() {
    let (mut net, bob, mallory) = net_with_stranger();
    let call = net.dial(mallory, bob, CallType::Voice);
    assert_eq!(net.history(bob, call), [ended(EndReason::UnknownCaller)]);
    let event = net.last_event(bob, call);
    assert!(event.missed);
    assert_eq!(event.peer, net.key(mallory), "the log shows who tried");
    assert!(net.sent(bob).is_empty(), "the stranger learns nothing");
    assert_eq!(net.live_call(bob), None);
    // Mallory's phone rings on until her own timeout.
    assert_eq!(net.state(mallory, call), Some(CallState::Ringing));
    net.advance(calling::fsm::config::DEFAULT_RING_TIMEOUT);
    assert_eq!(net.end_reason(mallory, call), Some(EndReason::RingTimeout));
    // Her timeout hangup is dropped as for an ended call.
    assert_eq!(
        net.drops(bob).last().map(|d| d.reason),
        Some(calling::DropReason::CallEnded)
    );
}

#[test]
fn a_strangers_call_does_not_block_the_line() {
    let (mut net, bob, mallory) = net_with_stranger();
    let alice = net.person("alice", 1)[0];
    net.dial(mallory, bob, CallType::Voice);
    let call = net.dial(alice, bob, CallType::Voice);
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
}

#[test]
fn strangers_ring_when_allowed() {
    let (mut net, bob, mallory) = net_with_stranger();
    net.devices[bob].core.set_allow_strangers(true);
    let call = net.dial(mallory, bob, CallType::Voice);
    assert_eq!(
        net.history(bob, call),
        [(CallState::Ringing, Reason::OfferReceived)]
    );
    net.accept(bob, call);
    assert_eq!(net.state(mallory, call), Some(CallState::Connecting));
}

#[test]
fn adding_a_contact_makes_their_next_call_ring() {
    let (mut net, bob, mallory) = net_with_stranger();
    let first = net.dial(mallory, bob, CallType::Voice);
    assert_eq!(net.end_reason(bob, first), Some(EndReason::UnknownCaller));
    net.advance(Duration::from_secs(60));
    let mallory_key = net.key(mallory);
    net.devices[bob].core.contacts_mut().insert(mallory_key);
    let second = net.dial(mallory, bob, CallType::Voice);
    assert_eq!(net.state(bob, second), Some(CallState::Ringing));
}

#[test]
fn a_stranger_we_dialed_ourselves_reaches_us_in_glare() {
    // Bob dialed Mallory (not a contact) while she dialed him: her offer is not blocked.
    let (mut net, bob, mallory) = net_with_stranger();
    let small = common::call_id(1);
    let large = common::call_id(2);
    net.hold = true;
    net.dial_with(bob, mallory, CallType::Voice, PrivacyMode::Private, large);
    net.dial_with(mallory, bob, CallType::Voice, PrivacyMode::Private, small);
    net.hold = false;
    net.release();
    assert_eq!(net.end_reason(bob, large), Some(EndReason::Glare));
    assert_eq!(net.state(bob, small), Some(CallState::Connecting));
    assert_eq!(net.state(mallory, small), Some(CallState::Connecting));
}
