//! Unit tests of the sans-IO inbox and its store round trip.

use super::*;
use crate::core::Strategy;
use crate::ids::{CallerIdKey, Npub};
use crate::store::Store;

fn d(n: u8) -> Npub {
    Npub::from_bytes([n; 32])
}

fn sender(n: u8) -> Npub {
    Npub::from_bytes([100 + n; 32])
}

fn core_with(strategy: Strategy, max_per_dispatcher: usize) -> InboxCore {
    let config = InboxConfig {
        strategy,
        max_per_dispatcher,
        ..InboxConfig::default()
    };
    let mut core = InboxCore::new(
        config,
        &[d(1), d(2), d(3)],
        CallerIdKey::from_bytes([9; 32]),
    );
    for n in 1..=3 {
        core.set_available(&d(n), true, 0).unwrap();
    }
    core
}

fn write(core: &mut InboxCore, from: u8, text: &str, at: u64) -> ConversationId {
    let rumor = format!("{from:02x}{at:062x}");
    let events = core
        .sender_message(sender(from), rumor, text.into(), at)
        .unwrap();
    match events[0] {
        InboxEvent::SenderMessage { conversation, .. } => conversation,
        ref other => panic!("expected the message event first, got {other:?}"),
    }
}

fn assignee(core: &InboxCore, id: ConversationId) -> Option<Npub> {
    core.view(&d(1), id).unwrap().assigned
}

#[test]
fn longest_idle_gives_each_new_sender_to_the_dispatcher_idle_longest() {
    let mut core = core_with(Strategy::LongestIdle, 5);
    let a = write(&mut core, 1, "hi", 10);
    let b = write(&mut core, 2, "hi", 20);
    let c = write(&mut core, 3, "hi", 30);
    let e = write(&mut core, 4, "hi", 40);
    assert_eq!(
        [a, b, c, e].map(|id| assignee(&core, id)),
        [Some(d(1)), Some(d(2)), Some(d(3)), Some(d(1))]
    );
}

#[test]
fn round_robin_follows_enrolment_order_and_skips_the_unavailable() {
    let mut core = core_with(Strategy::RoundRobin, 5);
    core.set_available(&d(2), false, 0).unwrap();
    let ids: Vec<_> = (1..=3)
        .map(|n| write(&mut core, n, "hi", 10 * n as u64))
        .collect();
    let got: Vec<_> = ids.iter().map(|id| assignee(&core, *id)).collect();
    assert_eq!(got, [Some(d(1)), Some(d(3)), Some(d(1))]);
}

#[test]
fn a_senders_second_message_joins_their_open_conversation() {
    let mut core = core_with(Strategy::LongestIdle, 5);
    let a = write(&mut core, 1, "hi", 10);
    let again = write(&mut core, 1, "still there?", 20);
    assert_eq!(a, again);
    assert_eq!(core.view(&d(1), a).unwrap().messages.len(), 2);
}

#[test]
fn without_room_a_conversation_waits_and_is_assigned_when_a_slot_frees() {
    let mut core = core_with(Strategy::LongestIdle, 1);
    let ids: Vec<_> = (1..=4)
        .map(|n| write(&mut core, n, "hi", n as u64))
        .collect();
    assert_eq!(assignee(&core, ids[3]), None);
    assert_eq!(core.unassigned(), vec![ids[3]]);
    let holder = assignee(&core, ids[0]).unwrap();
    let events = core
        .set_status(&holder, ids[0], Status::Closed, 50)
        .unwrap();
    assert_eq!(
        events,
        vec![InboxEvent::Assigned {
            conversation: ids[3],
            dispatcher: holder
        }]
    );
    // Closed conversations leave memory; the sender's next message opens a new one.
    assert!(core.view(&d(1), ids[0]).is_err());
    assert_ne!(write(&mut core, 1, "me again", 60), ids[0]);
}

#[test]
fn only_the_assigned_enrolled_dispatcher_may_reply_and_a_reply_makes_it_pending() {
    let mut core = core_with(Strategy::LongestIdle, 5);
    let a = write(&mut core, 1, "hi", 10);
    assert_eq!(
        core.reply(&d(2), a, "hello".into(), 11),
        Err(InboxError::NotAssigned)
    );
    assert_eq!(
        core.reply(&d(9), a, "hello".into(), 11),
        Err(InboxError::NotEnrolled)
    );
    assert_eq!(
        core.reply(&d(1), a, "  ".into(), 11),
        Err(InboxError::Empty)
    );
    let out = core.reply(&d(1), a, "hello".into(), 12).unwrap();
    assert_eq!(out.to.npub(), sender(1));
    assert_eq!(
        out.reply_to.as_deref(),
        Some(format!("{:02x}{:062x}", 1, 10).as_str())
    );
    assert_eq!(core.view(&d(1), a).unwrap().status, Status::Pending);
    // The sender writing again reopens it.
    write(&mut core, 1, "thanks", 13);
    assert_eq!(core.view(&d(1), a).unwrap().status, Status::Open);
}

#[test]
fn notes_and_hand_overs_are_internal_and_move_the_conversation() {
    let mut core = core_with(Strategy::LongestIdle, 5);
    let a = write(&mut core, 1, "hi", 10);
    core.note(&d(2), a, "known caller, be gentle".into(), 11)
        .unwrap();
    assert_eq!(
        core.hand_over(&d(2), a, &d(3), String::new(), 12),
        Err(InboxError::NotAssigned)
    );
    assert_eq!(
        core.hand_over(&d(1), a, &d(1), String::new(), 12),
        Err(InboxError::SameDispatcher)
    );
    core.hand_over(&d(1), a, &d(3), "your language".into(), 12)
        .unwrap();
    let view = core.view(&d(3), a).unwrap();
    assert_eq!(view.assigned, Some(d(3)));
    let internal: Vec<bool> = view.messages.iter().map(|m| m.kind.is_internal()).collect();
    assert_eq!(internal, [false, true, true]);
    assert_eq!(
        core.reply(&d(1), a, "x".into(), 13),
        Err(InboxError::NotAssigned)
    );
    assert!(core.reply(&d(3), a, "x".into(), 13).is_ok());
}

#[test]
fn stop_opts_a_sender_out_and_start_back_in_even_when_the_inbox_is_full() {
    let config = InboxConfig {
        max_active: 0,
        ..InboxConfig::default()
    };
    let mut core = InboxCore::new(config, &[d(1)], CallerIdKey::from_bytes([9; 32]));
    let caller = core.caller_id(&sender(1));
    assert_eq!(
        core.sender_message(sender(1), "aa".into(), "STOP".into(), 1),
        Ok(vec![InboxEvent::OptedOut { caller }])
    );
    assert!(core.is_opted_out(&sender(1)));
    assert_eq!(
        core.sender_message(sender(2), "bb".into(), "hello".into(), 2),
        Err(InboxError::Full)
    );
    core.sender_message(sender(1), "cc".into(), "start".into(), 3)
        .unwrap();
    assert!(!core.is_opted_out(&sender(1)));
    let changes = core.take_changes();
    assert_eq!(changes.opt_outs, vec![(caller, true), (caller, false)]);
}

#[test]
fn dispatchers_see_the_opaque_id_and_the_npub_only_when_allowed() {
    let mut core = core_with(Strategy::LongestIdle, 5);
    let a = write(&mut core, 1, "hi", 10);
    let view = core.view(&d(1), a).unwrap();
    assert_eq!(view.caller, core.caller_id(&sender(1)));
    assert_eq!(view.caller_npub, None);
    assert!(!format!("{view:?}").contains(&sender(1).to_hex()[..16]));
    let config = InboxConfig {
        show_sender_npub: true,
        ..InboxConfig::default()
    };
    let mut open = InboxCore::new(config, &[d(1)], CallerIdKey::from_bytes([9; 32]));
    open.set_available(&d(1), true, 0).unwrap();
    let a = write(&mut open, 1, "hi", 10);
    assert_eq!(open.view(&d(1), a).unwrap().caller_npub, Some(sender(1)));
}

#[test]
fn the_store_gives_back_every_active_conversation_and_forgets_closed_senders_keys() {
    let mut core = core_with(Strategy::RoundRobin, 5);
    let a = write(&mut core, 1, "hi", 10);
    let b = write(&mut core, 2, "stop", 20);
    core.note(&d(2), b, "note".into(), 21).unwrap();
    let c = write(&mut core, 3, "bye", 30);
    core.set_status(&d(3), c, Status::Closed, 31).unwrap();
    let mut store = Store::in_memory().unwrap();
    store.write_inbox(&mut core).unwrap();
    assert!(core.take_changes().is_empty());
    let snapshot = store.load_inbox().unwrap();
    let mut again = InboxCore::restore(
        InboxConfig {
            strategy: Strategy::RoundRobin,
            ..InboxConfig::default()
        },
        &[d(1), d(2), d(3)],
        CallerIdKey::from_bytes([9; 32]),
        snapshot,
    );
    assert_eq!(again.view(&d(1), a).unwrap(), core.view(&d(1), a).unwrap());
    assert_eq!(again.view(&d(1), b).unwrap(), core.view(&d(1), b).unwrap());
    assert!(again.view(&d(1), c).is_err());
    assert!(again.is_opted_out(&sender(2)));
    // Round-robin memory survived: the next goes to dispatcher 1 (after 3).
    let next = write(&mut again, 4, "hi", 40);
    assert_eq!(again.view(&d(1), next).unwrap().assigned, Some(d(1)));
    assert!(next.0 > c.0, "conversation numbers are never reused");
    // The closed conversation keeps its lines under its opaque id, not its sender's key.
    assert_eq!(store.inbox_messages(c).unwrap().len(), 1);
    assert!(!store.inbox_keeps_sender_key(c).unwrap());
    assert!(store.inbox_keeps_sender_key(a).unwrap());
}

#[test]
fn after_a_restore_conversations_of_a_dispatcher_no_longer_enrolled_are_reassigned() {
    let mut core = core_with(Strategy::RoundRobin, 5);
    let a = write(&mut core, 1, "hi", 10);
    assert_eq!(assignee(&core, a), Some(d(1)));
    let mut store = Store::in_memory().unwrap();
    store.write_inbox(&mut core).unwrap();
    // Dispatcher 1 left the enrolment.
    let mut again = InboxCore::restore(
        InboxConfig::default(),
        &[d(2), d(3)],
        CallerIdKey::from_bytes([9; 32]),
        store.load_inbox().unwrap(),
    );
    assert_eq!(again.unassigned(), vec![a]);
    let events = again.assign_unassigned(20);
    assert_eq!(
        events,
        vec![InboxEvent::Assigned {
            conversation: a,
            dispatcher: d(2)
        }]
    );
}

#[test]
fn an_undelivered_reply_is_shown_to_the_assignee_kept_across_a_restore_and_opens_nothing() {
    let mut core = core_with(Strategy::RoundRobin, 5);
    let a = write(&mut core, 1, "hi", 10);
    let who = assignee(&core, a);
    assert_eq!(
        core.undelivered(&sender(1), "the carrier could not deliver it", 20)
            .unwrap(),
        Some(InboxEvent::Undelivered {
            conversation: a,
            dispatcher: who
        })
    );
    let view = core.view(&d(1), a).unwrap();
    let last = view.messages.last().unwrap();
    assert_eq!(
        last.text,
        "SMS not delivered: the carrier could not deliver it"
    );
    assert!(last.kind.is_internal());
    // A sender with no active conversation: nothing is opened for a stale report.
    assert_eq!(core.undelivered(&sender(9), "x", 30).unwrap(), None);
    assert_eq!(core.active_count(), 1);
    let mut store = Store::in_memory().unwrap();
    store.write_inbox(&mut core).unwrap();
    let again = InboxCore::restore(
        InboxConfig::default(),
        &[d(1), d(2), d(3)],
        CallerIdKey::from_bytes([9; 32]),
        store.load_inbox().unwrap(),
    );
    assert_eq!(again.view(&d(1), a).unwrap(), view);
}
