//! Abuse limits: one caller cannot fill the queue, but strangers are welcome.

mod common;

use common::*;
use hotline::core::{
    AbuseLimits, CoreConfig, EndReason, EntryKind, Input, Output, Presence, RefuseReason,
};
use hotline::CallId;

fn config(max_new: u32) -> CoreConfig {
    CoreConfig {
        max_wait: None,
        abuse: AbuseLimits {
            max_concurrent_per_caller: 1,
            max_new_per_window: max_new,
            rate_window: secs(600),
        },
        ..CoreConfig::default()
    }
}

fn refusals(sim: &Sim) -> Vec<(Option<CallId>, RefuseReason)> {
    sim.log
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Refuse { call, reason } => Some((call.clone(), *reason)),
            _ => None,
        })
        .collect()
}

fn away(sim: &mut Sim) {
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
}

#[test]
fn a_second_concurrent_entry_from_the_same_caller_is_refused() {
    let mut sim = Sim::new(config(5), 1);
    away(&mut sim);
    let first = sim.incoming(1, 0).unwrap();
    sim.input(Input::Incoming {
        call: CallId("second".into()),
        caller: caller(1),
        priority: 0,
    })
    .unwrap();
    assert_eq!(
        refusals(&sim),
        vec![(
            Some(CallId("second".into())),
            RefuseReason::TooManyConcurrent
        )]
    );
    assert_eq!(sim.core.waiting(), vec![first]);
    // Strangers are allowed: other callers queue normally.
    let other = sim.incoming(2, 0).unwrap();
    assert_eq!(sim.core.waiting(), vec![first, other]);
    // The same call id twice is an input error, not a second entry.
    assert!(sim
        .input(Input::Incoming {
            call: call(2),
            caller: caller(2),
            priority: 0
        })
        .is_err());
}

#[test]
fn new_entries_per_caller_are_rate_limited() {
    let mut sim = Sim::new(config(3), 1);
    away(&mut sim);
    // Different people each have their own budget.
    for n in 10..13u8 {
        sim.advance(secs(10));
        assert!(sim.incoming(n, 0).is_some());
    }
    // One caller redials again and again.
    let redial = |sim: &mut Sim, i: u32| {
        sim.input(Input::Incoming {
            call: CallId(format!("redial-{i}")),
            caller: caller(1),
            priority: 0,
        })
        .unwrap();
        sim.core.entry_for_call(&CallId(format!("redial-{i}")))
    };
    for i in 0..3 {
        let e = redial(&mut sim, i).expect("within the limit");
        sim.input(Input::CallerLeft(e)).unwrap();
        sim.advance(secs(60));
    }
    assert_eq!(redial(&mut sim, 3), None);
    assert_eq!(
        refusals(&sim).last().map(|r| r.1),
        Some(RefuseReason::RateLimited)
    );
    // The window slides: 600 s after the first redial, one more is allowed.
    sim.advance(secs(600 - 180 + 1));
    assert!(redial(&mut sim, 4).is_some());
}

#[test]
fn a_blocked_caller_id_is_refused_and_removed_from_the_queue() {
    let mut sim = Sim::new(config(5), 1);
    away(&mut sim);
    let waiting = sim.incoming(1, 0).unwrap();
    let other = sim.incoming(2, 0).unwrap();
    let id = sim.core.caller_id(&caller(1));
    sim.input(Input::Block(id)).unwrap();
    assert_eq!(sim.core.waiting(), vec![other]);
    assert!(sim.log.iter().any(|(_, o)| *o
        == Output::Ended {
            entry: waiting,
            reason: EndReason::Blocked
        }));
    sim.input(Input::Incoming {
        call: CallId("again".into()),
        caller: caller(1),
        priority: 0,
    })
    .unwrap();
    assert_eq!(
        refusals(&sim),
        vec![(Some(CallId("again".into())), RefuseReason::Blocked)]
    );
    sim.input(Input::Unblock(id)).unwrap();
    assert!(sim.incoming(1, 0).is_some());
}

#[test]
fn calling_again_with_a_pending_callback_takes_its_place() {
    let mut sim = Sim::new(
        CoreConfig {
            max_wait: Some(secs(60)),
            ..config(5)
        },
        1,
    );
    away(&mut sim);
    let ahead = sim.incoming(2, 0).unwrap();
    sim.input(Input::RequestCallback {
        caller: caller(1),
        priority: 0,
    })
    .unwrap();
    let cb = sim.core.waiting()[1];
    assert_eq!(sim.kind(cb), Some(EntryKind::Callback));
    // Callback entries never overflow; the live caller ahead does after 60 s.
    sim.advance(secs(100));
    assert_eq!(sim.kind(ahead), Some(EntryKind::Callback));
    sim.incoming(3, 0).unwrap();
    // Caller 1 rings in live: no second entry, the callback becomes the live call.
    assert_eq!(sim.incoming(1, 0), Some(cb));
    assert_eq!(sim.kind(cb), Some(EntryKind::Live));
    assert_eq!(sim.core.waiting()[..2], [ahead, cb]);
    assert!(refusals(&sim).is_empty());
    // Its maximum wait counts from the new call, not from the callback request.
    sim.advance(secs(59));
    assert_eq!(sim.kind(cb), Some(EntryKind::Live));
    sim.advance(secs(1));
    assert_eq!(sim.kind(cb), Some(EntryKind::Callback));
    // Ringing in again and hanging up keeps the callback: not an abandoned entry.
    assert_eq!(
        sim.input(Input::Incoming {
            call: CallId("again".into()),
            caller: caller(1),
            priority: 0
        }),
        Ok(())
    );
    assert_eq!(sim.kind(cb), Some(EntryKind::Live));
    let abandoned = sim.core.stats().abandoned;
    sim.input(Input::CallerLeft(cb)).unwrap();
    assert_eq!(sim.kind(cb), Some(EntryKind::Callback));
    assert_eq!(sim.core.stats().abandoned, abandoned);
    assert_eq!(sim.core.entry_for_call(&CallId("again".into())), None);
}

#[test]
fn repeat_callers_are_flagged_within_the_window() {
    let mut sim = Sim::new(
        CoreConfig {
            repeat_window: secs(3600),
            ..config(5)
        },
        1,
    );
    away(&mut sim);
    let repeat_flags = |sim: &Sim| -> Vec<bool> {
        sim.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Queued { repeat, .. } => Some(*repeat),
                _ => None,
            })
            .collect()
    };
    let e = sim.incoming(1, 0).unwrap();
    sim.input(Input::CallerLeft(e)).unwrap();
    sim.advance(secs(600));
    let e = sim.incoming(1, 0).unwrap();
    assert!(sim.core.view(sim.now).entries[0].repeat);
    sim.input(Input::CallerLeft(e)).unwrap();
    sim.advance(secs(3601));
    sim.incoming(1, 0).unwrap();
    assert_eq!(repeat_flags(&sim), vec![false, true, false]);
}
