//! Ring timeout, wrap-up, callers hanging up, priority, overflow and position updates.

mod common;

use common::*;
use hotline::core::{
    CancelReason, CoreConfig, EndReason, EntryKind, Input, Output, OverflowAction, Presence,
};

fn config() -> CoreConfig {
    CoreConfig {
        wrap_up: secs(30),
        ring_timeout: secs(20),
        max_wait: None,
        away_after_misses: None,
        ..CoreConfig::default()
    }
}

#[test]
fn a_dispatcher_who_does_not_answer_in_time_is_skipped() {
    let mut sim = Sim::new(config(), 3);
    let e = sim.incoming(1, 0).unwrap();
    // longest-idle, nobody had a call: enrolment order, d1 first.
    assert_eq!(sim.offers(), vec![(secs(0), e, vec![dispatcher(1)])]);
    sim.advance(secs(19));
    assert_eq!(sim.offers().len(), 1, "still ringing d1 before the timeout");
    sim.advance(secs(1));
    let cancelled = sim.log.iter().any(|(t, o)| {
        *t == secs(20)
            && *o
                == Output::CancelOffer {
                    entry: e,
                    dispatcher: dispatcher(1),
                    reason: CancelReason::Timeout,
                }
    });
    assert!(cancelled, "d1's ring stopped at the timeout");
    assert_eq!(sim.offers()[1], (secs(20), e, vec![dispatcher(2)]));
    // d1 answering late is refused; d2 answering takes the call.
    assert!(sim.input(Input::Answer(e, dispatcher(1))).is_err());
    sim.advance(secs(2));
    sim.input(Input::Answer(e, dispatcher(2))).unwrap();
    assert_eq!(sim.handovers(), vec![(e, dispatcher(2))]);
    let view = sim.core.view(sim.now);
    assert_eq!(view.dispatchers[0].missed, 1);
    assert_eq!(view.dispatchers[1].taken_today, 1);
}

#[test]
fn repeated_misses_set_a_dispatcher_away() {
    let mut sim = Sim::new(
        CoreConfig {
            away_after_misses: Some(2),
            ..config()
        },
        1,
    );
    let e = sim.incoming(1, 0).unwrap();
    sim.advance(secs(20));
    // Only one dispatcher: a new round rings d1 again.
    assert_eq!(sim.offers().len(), 2);
    assert_eq!(sim.core.presence(&dispatcher(1)), Some(Presence::Available));
    sim.advance(secs(20));
    assert_eq!(sim.core.presence(&dispatcher(1)), Some(Presence::Away));
    assert_eq!(
        sim.offers().len(),
        2,
        "nobody is offered the call while d1 is away"
    );
    assert_eq!(
        sim.core.waiting(),
        vec![e],
        "the caller keeps waiting, never refused"
    );
}

#[test]
fn wrap_up_is_respected_until_it_ends() {
    let mut sim = Sim::new(config(), 1);
    let first = sim.incoming(1, 0).unwrap();
    sim.input(Input::Answer(first, dispatcher(1))).unwrap();
    let second = sim.incoming(2, 0).unwrap();
    sim.advance(secs(60));
    sim.input(Input::End(first, dispatcher(1))).unwrap();
    assert_eq!(sim.core.presence(&dispatcher(1)), Some(Presence::WrapUp));
    assert_eq!(sim.core.next_deadline(), Some(sim.t0 + secs(90)));
    sim.advance(secs(29));
    assert!(
        !sim.offers().iter().any(|(_, e, _)| *e == second),
        "no offer during wrap-up"
    );
    sim.advance(secs(1));
    assert_eq!(
        sim.offers().last(),
        Some(&(secs(90), second, vec![dispatcher(1)]))
    );
    // A dispatcher's own wrap-up time overrides the default.
    sim.input(Input::SetWrapUp(dispatcher(1), secs(5))).unwrap();
    sim.input(Input::Answer(second, dispatcher(1))).unwrap();
    sim.input(Input::End(second, dispatcher(1))).unwrap();
    assert_eq!(sim.core.next_deadline(), Some(sim.now + secs(5)));
}

#[test]
fn a_caller_who_hangs_up_while_waiting_leaves_the_queue() {
    let mut sim = Sim::new(config(), 1);
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
    let a = sim.incoming(1, 0).unwrap();
    let b = sim.incoming(2, 0).unwrap();
    let c = sim.incoming(3, 0).unwrap();
    sim.advance(secs(5));
    sim.input(Input::CallerLeft(b)).unwrap();
    assert_eq!(sim.core.waiting(), vec![a, c]);
    assert_eq!(sim.core.stats().abandoned, 1);
    assert!(sim.log.iter().any(|(_, o)| *o
        == Output::Ended {
            entry: b,
            reason: EndReason::Abandoned
        }));
    assert!(sim.input(Input::CallerLeft(b)).is_err(), "gone for good");
    // Hanging up while ringing withdraws the offer.
    sim.input(Input::SetPresence(dispatcher(1), Presence::Available))
        .unwrap();
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(a));
    sim.input(Input::CallerLeft(a)).unwrap();
    assert!(sim.log.iter().any(|(_, o)| *o
        == Output::CancelOffer {
            entry: a,
            dispatcher: dispatcher(1),
            reason: CancelReason::Withdrawn
        }));
    // d1 is offered the next caller, never the one who left.
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(c));
    sim.input(Input::Answer(c, dispatcher(1))).unwrap();
    assert_eq!(sim.handovers(), vec![(c, dispatcher(1))]);
    assert_eq!(sim.core.stats().abandoned, 2);
}

#[test]
fn higher_priority_is_served_first_and_fifo_within_a_priority() {
    let mut sim = Sim::new(config(), 1);
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
    let prios = [0, 5, 0, 5, 9];
    let mut entries = Vec::new();
    for (i, p) in prios.iter().enumerate() {
        sim.advance(secs(1));
        entries.push(sim.incoming(i as u8 + 1, *p).unwrap());
    }
    let expected = vec![entries[4], entries[1], entries[3], entries[0], entries[2]];
    assert_eq!(sim.core.waiting(), expected);
    sim.input(Input::SetPresence(dispatcher(1), Presence::Available))
        .unwrap();
    for _ in 0..5 {
        let e = sim.ringing_at(dispatcher(1)).unwrap();
        sim.input(Input::Answer(e, dispatcher(1))).unwrap();
        sim.input(Input::End(e, dispatcher(1))).unwrap();
        sim.advance(secs(30));
    }
    let served: Vec<_> = sim.handovers().into_iter().map(|(e, _)| e).collect();
    assert_eq!(served, expected);
}

#[test]
fn overflow_creates_callback_entries_that_keep_their_place() {
    let mut sim = Sim::new(
        CoreConfig {
            max_queue_len: Some(2),
            max_wait: Some(secs(60)),
            overflow: OverflowAction::Callback,
            ..config()
        },
        1,
    );
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
    let a = sim.incoming(1, 0).unwrap();
    let b = sim.incoming(2, 0).unwrap();
    let start = sim.log.len();
    sim.input(Input::Incoming {
        call: call(3),
        caller: caller(3),
        priority: 0,
    })
    .unwrap();
    let outs = sim.outputs_since(start);
    let Some(Output::Queued { entry: c, kind, .. }) = outs.first().cloned() else {
        panic!("expected Queued, got {outs:?}");
    };
    assert_eq!(
        kind,
        EntryKind::Callback,
        "queue full: a callback entry, not busy"
    );
    assert!(outs.contains(&Output::ConvertedToCallback {
        entry: c,
        call: call(3)
    }));
    // The wait limit converts the two live callers, in place.
    sim.advance(secs(59));
    assert_eq!(sim.kind(a), Some(EntryKind::Live));
    sim.advance(secs(1));
    assert_eq!(sim.kind(a), Some(EntryKind::Callback));
    assert_eq!(sim.kind(b), Some(EntryKind::Callback));
    assert_eq!(sim.core.waiting(), vec![a, b, c]);
    assert_eq!(sim.core.stats().callbacks_created, 3);
    // A dispatcher places them in order, as first-class entries.
    sim.input(Input::SetPresence(dispatcher(1), Presence::Available))
        .unwrap();
    for _ in 0..3 {
        let e = sim.ringing_at(dispatcher(1)).unwrap();
        sim.input(Input::Answer(e, dispatcher(1))).unwrap();
        sim.input(Input::End(e, dispatcher(1))).unwrap();
        sim.advance(secs(30));
    }
    assert_eq!(
        sim.handovers(),
        vec![(a, dispatcher(1)), (b, dispatcher(1)), (c, dispatcher(1))]
    );
    assert!(sim
        .log
        .iter()
        .all(|(_, o)| !matches!(o, Output::Transfer { .. })));
    assert_eq!(sim.core.stats().callbacks_placed, 3);
}

#[test]
fn voicemail_overflow_takes_a_message_instead_of_queueing() {
    let mut sim = Sim::new(
        CoreConfig {
            max_queue_len: Some(1),
            max_wait: Some(secs(60)),
            overflow: OverflowAction::Voicemail,
            ..config()
        },
        1,
    );
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
    let a = sim.incoming(1, 0).unwrap();
    assert_eq!(sim.incoming(2, 0), None, "second caller not queued");
    let voicemails = |sim: &Sim| {
        sim.log
            .iter()
            .filter(|(_, o)| matches!(o, Output::TakeVoicemail { .. }))
            .count()
    };
    assert_eq!(voicemails(&sim), 1);
    sim.advance(secs(60));
    assert_eq!(voicemails(&sim), 2);
    assert!(sim.core.waiting().is_empty());
    assert!(sim.core.entry_state(a).is_none());
    assert_eq!(sim.core.stats().voicemail, 2);
}

#[test]
fn waiting_callers_get_position_and_estimate_updates() {
    let mut sim = Sim::new(
        CoreConfig {
            position_interval: secs(30),
            handle_time_prior: secs(180),
            ..config()
        },
        1,
    );
    // d1 busy on a call: staffed 1, free 0.
    let busy = sim.incoming(9, 0).unwrap();
    sim.input(Input::Answer(busy, dispatcher(1))).unwrap();
    let entries: Vec<_> = (1..=3).map(|n| sim.incoming(n, 0).unwrap()).collect();
    let start = sim.log.len();
    sim.advance(secs(30));
    let positions: Vec<_> = sim
        .outputs_since(start)
        .into_iter()
        .filter_map(|o| match o {
            Output::Position {
                entry,
                position,
                estimate,
            } => Some((entry, position, estimate)),
            _ => None,
        })
        .collect();
    // ceil(position / 1 staffed) * 180 s
    assert_eq!(
        positions,
        vec![
            (entries[0], 1, Some(secs(180))),
            (entries[1], 2, Some(secs(360))),
            (entries[2], 3, Some(secs(540))),
        ]
    );
    // A handled call of 40 s makes the rolling average 40 s; the first caller is offered
    // after wrap-up, the other two move up.
    sim.advance(secs(10));
    sim.input(Input::End(busy, dispatcher(1))).unwrap();
    let start = sim.log.len();
    sim.advance(secs(20));
    let outs = sim.outputs_since(start);
    assert!(
        outs.contains(&Output::Position {
            entry: entries[1],
            position: 2,
            estimate: Some(secs(80)),
        }),
        "{outs:?}"
    );
}
