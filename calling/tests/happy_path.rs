//! A call from dial to hangup, in both directions: every state, every reason, the media
//! work handed to the driver in the right order, and the tags on every message.

mod common;

use calling::{CallState, DropReason, EndReason, Input, Output, Reason};
use common::{candidate, ended, sdp, Net};
use phantomcall_schemas::{CallBody, CallKind, CallType, PrivacyMode};

#[test]
fn alice_calls_bob_who_answers_then_alice_hangs_up() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];

    let call = net.dial(alice, bob, CallType::Voice);
    assert_eq!(
        net.history(alice, call),
        [
            (CallState::Dialing, Reason::LocalDial),
            (CallState::Ringing, Reason::OfferSent)
        ]
    );
    assert_eq!(
        net.history(bob, call),
        [(CallState::Ringing, Reason::OfferReceived)]
    );
    assert_eq!(net.sent_kinds(alice, call), [CallKind::Offer]);
    assert!(!net.created_answer(bob, call), "no media before accept");

    net.accept(bob, call);
    // Bob's media engine got Alice's offer; Alice's got Bob's answer.
    assert!(net.outputs(bob).iter().any(|o| matches!(o,
        Output::CreateAnswer { call_id, remote_sdp, call_type: CallType::Voice, with_video: false, .. }
            if *call_id == call && *remote_sdp == sdp("offer-alice"))));
    assert!(net.outputs(alice).iter().any(|o| matches!(o,
        Output::ApplyAnswer { call_id, sdp: s } if *call_id == call && *s == sdp("answer-bob"))));
    assert_eq!(net.state(alice, call), Some(CallState::Connecting));
    assert_eq!(net.state(bob, call), Some(CallState::Connecting));
    assert_eq!(
        net.last_event(alice, call).reason,
        Reason::RemoteAnswer,
        "alice connects because bob answered"
    );
    assert_eq!(net.last_event(bob, call).reason, Reason::LocalAccept);

    net.media_connected(&[alice, bob], call);
    assert_eq!(net.state(alice, call), Some(CallState::Connected));
    assert_eq!(net.state(bob, call), Some(CallState::Connected));
    assert_eq!(
        net.devices[alice].core.next_timeout(),
        None,
        "no timer runs in a connected call"
    );

    net.hangup(alice, call);
    assert_eq!(
        net.last_event(alice, call),
        calling::CallEvent {
            phone: None,
            call_id: call,
            peer: net.key(bob),
            direction: calling::Direction::Outgoing,
            call_type: CallType::Voice,
            mode: PrivacyMode::Private,
            state: CallState::Ended,
            reason: Reason::Ended(EndReason::LocalHangup),
            missed: false,
            peer_without_modes: false,
            // The answer came over the (simulated) relays.
            signaled_via: Some(nostr_signal::Via::link(nostr_signal::LinkKind::Relays)),
        }
    );
    assert_eq!(
        net.history(bob, call).last(),
        Some(&ended(EndReason::RemoteHangup))
    );
    assert!(
        !net.last_event(bob, call).missed,
        "an answered call is not missed"
    );
    assert!(net.stopped_media(alice, call) && net.stopped_media(bob, call));
    assert_eq!(
        net.sent_kinds(alice, call),
        [CallKind::Offer, CallKind::Hangup]
    );
    assert_eq!(net.sent_kinds(bob, call), [CallKind::Answer]);
    // Nothing was dropped except the relays' echoes of each device's own messages.
    for dev in [alice, bob] {
        assert!(
            net.drops(dev)
                .iter()
                .all(|d| d.reason == DropReason::OwnEcho),
            "{:?}",
            net.drops(dev)
        );
    }
}

#[test]
fn bob_calls_alice_with_video_and_alice_sends_video_only_when_she_chooses() {
    for with_video in [true, false] {
        let mut net = Net::new();
        let alice = net.person("alice", 1)[0];
        let bob = net.person("bob", 1)[0];
        let call = net.dial(bob, alice, CallType::Video);
        assert_eq!(net.last_event(alice, call).call_type, CallType::Video);
        net.input(
            alice,
            Input::Accept {
                call_id: call,
                with_video,
            },
        );
        assert!(net.outputs(alice).iter().any(|o| matches!(o,
            Output::CreateAnswer { call_type: CallType::Video, with_video: v, .. } if *v == with_video)));
        net.media_connected(&[bob, alice], call);
        assert_eq!(net.state(bob, call), Some(CallState::Connected));
        net.hangup(alice, call);
        assert_eq!(net.end_reason(alice, call), Some(EndReason::LocalHangup));
        assert_eq!(net.end_reason(bob, call), Some(EndReason::RemoteHangup));
    }
}

#[test]
fn candidates_wait_for_the_remote_description_then_flow_both_ways() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);

    // Alice trickles while Bob's phone rings: Bob buffers them.
    net.input(
        alice,
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(1), candidate(2)],
        },
    );
    assert!(!net
        .outputs(bob)
        .iter()
        .any(|o| matches!(o, Output::AddRemoteCandidates { .. })));

    net.accept(bob, call);
    let bob_media: Vec<_> = net
        .outputs(bob)
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::CreateAnswer { .. } | Output::AddRemoteCandidates { .. }
            )
        })
        .cloned()
        .collect();
    assert!(
        matches!(bob_media[0], Output::CreateAnswer { .. }),
        "description first"
    );
    assert_eq!(
        bob_media[1],
        Output::AddRemoteCandidates {
            call_id: call,
            candidates: vec![candidate(1), candidate(2)]
        }
    );

    // Bob trickles after his answer: Alice applies them after the answer.
    net.input(
        bob,
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(3)],
        },
    );
    let alice_media: Vec<_> = net
        .outputs(alice)
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::ApplyAnswer { .. } | Output::AddRemoteCandidates { .. }
            )
        })
        .cloned()
        .collect();
    assert!(matches!(alice_media[0], Output::ApplyAnswer { .. }));
    assert_eq!(
        alice_media[1],
        Output::AddRemoteCandidates {
            call_id: call,
            candidates: vec![candidate(3)]
        }
    );
}

#[test]
fn local_candidates_gathered_before_the_offer_go_out_right_after_it() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    net.devices[alice].auto_sdp = false;
    let call = net.dial(alice, bob, CallType::Voice);
    assert_eq!(net.state(alice, call), Some(CallState::Dialing));
    net.input(
        alice,
        Input::LocalCandidates {
            call_id: call,
            candidates: vec![candidate(7)],
        },
    );
    assert!(net.sent(alice).is_empty(), "nothing before the offer");
    net.input(
        alice,
        Input::LocalOffer {
            call_id: call,
            sdp: sdp("late-offer"),
        },
    );
    assert_eq!(
        net.sent_kinds(alice, call),
        [CallKind::Offer, CallKind::IceCandidates]
    );
    assert_eq!(net.state(bob, call), Some(CallState::Ringing));
}

#[test]
fn more_than_64_candidates_are_split_into_several_messages() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.input(
        alice,
        Input::LocalCandidates {
            call_id: call,
            candidates: (0..100).map(candidate).collect(),
        },
    );
    let sizes: Vec<usize> = net
        .sent(alice)
        .iter()
        .filter_map(|m| match &m.body {
            CallBody::IceCandidates(c) => Some(c.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [64, 36]);
}

#[test]
fn every_message_carries_the_call_mode_our_device_and_the_peer() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let id = phantomcall_schemas::CallId::new_random();
    let call = net.dial_with(alice, bob, CallType::Voice, PrivacyMode::Paranoid, id);
    assert_eq!(net.last_event(bob, call).mode, PrivacyMode::Paranoid);
    net.accept(bob, call);
    net.hangup(bob, call);
    for (dev, peer) in [(alice, bob), (bob, alice)] {
        let sent = net.sent(dev);
        assert!(!sent.is_empty());
        for m in sent {
            assert_eq!(m.mode, Some(PrivacyMode::Paranoid));
            assert_eq!(m.device, Some(net.device_id(dev)));
            assert_eq!(m.peer, net.key(peer).to_hex());
            assert_eq!(m.call_id, call);
        }
    }
}

#[test]
fn next_timeout_follows_the_ring_then_the_connect_timer() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let start = net.now;
    assert_eq!(net.devices[alice].core.next_timeout(), None);
    let call = net.dial(alice, bob, CallType::Voice);
    let ring = calling::fsm::config::DEFAULT_RING_TIMEOUT;
    assert_eq!(net.devices[alice].core.next_timeout(), Some(start + ring));
    assert_eq!(net.devices[bob].core.next_timeout(), Some(start + ring));
    net.advance(std::time::Duration::from_secs(10));
    net.accept(bob, call);
    let connect = calling::fsm::config::DEFAULT_CONNECT_TIMEOUT;
    assert_eq!(
        net.devices[bob].core.next_timeout(),
        Some(net.now + connect)
    );
    assert_eq!(
        net.devices[alice].core.next_timeout(),
        Some(net.now + connect)
    );
    net.media_connected(&[alice, bob], call);
    assert_eq!(net.devices[alice].core.next_timeout(), None);
    assert_eq!(net.devices[bob].core.next_timeout(), None);
}

#[test]
fn bob_declines_and_alice_sees_a_decline_not_a_timeout() {
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bob = net.person("bob", 1)[0];
    let call = net.dial(alice, bob, CallType::Voice);
    net.decline(bob, call);
    let reject = net
        .sent(bob)
        .into_iter()
        .find(|m| m.call_id == call)
        .expect("bob sent a reject");
    assert_eq!(reject.kind(), CallKind::Reject);
    assert_eq!(
        reject.body,
        CallBody::Reject {
            reason: Some("declined".into())
        }
    );
    assert_eq!(net.end_reason(bob, call), Some(EndReason::LocalDecline));
    assert!(!net.last_event(bob, call).missed, "declined is not missed");
    assert_eq!(net.end_reason(alice, call), Some(EndReason::RemoteDecline));
    assert!(net.stopped_media(alice, call));
    assert!(!net.stopped_media(bob, call), "bob never started media");
    assert_eq!(net.devices[alice].core.next_timeout(), None);
}
