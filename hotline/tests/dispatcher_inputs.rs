//! Dispatcher actions (answer, decline, transfer, hold, note, end) and the validation of
//! every outside input: wrong inputs are typed errors that change nothing.

mod common;

use common::*;
use hotline::core::{
    CoreConfig, EntryState, HotlineError, Input, Output, Presence, MAX_NOTE_CHARS,
};
use hotline::{CallId, EntryId, Npub};

fn config() -> CoreConfig {
    CoreConfig {
        wrap_up: secs(15),
        max_wait: None,
        ..CoreConfig::default()
    }
}

#[test]
fn transfer_hold_note_and_end_with_wrap_up() {
    let mut sim = Sim::new(config(), 2);
    let e = sim.incoming(1, 0).unwrap();
    sim.input(Input::Answer(e, dispatcher(1))).unwrap();
    sim.input(Input::Hold(e, dispatcher(1), true)).unwrap();
    assert!(sim
        .log
        .iter()
        .any(|(_, o)| *o == Output::Hold { entry: e, on: true }));
    assert_eq!(sim.core.view(sim.now).entries[0].state, "on hold");
    sim.input(Input::Note(e, dispatcher(1), "wants Spanish".into()))
        .unwrap();
    sim.advance(secs(40));
    sim.input(Input::TransferTo {
        entry: e,
        from: dispatcher(1),
        to: dispatcher(2),
    })
    .unwrap();
    assert_eq!(
        sim.handovers(),
        vec![(e, dispatcher(1)), (e, dispatcher(2))]
    );
    assert_eq!(sim.core.presence(&dispatcher(1)), Some(Presence::WrapUp));
    assert_eq!(sim.core.presence(&dispatcher(2)), Some(Presence::Busy));
    let view = sim.core.view(sim.now);
    assert_eq!(view.entries[0].note.as_deref(), Some("wants Spanish"));
    assert_eq!(view.entries[0].dispatcher, Some(dispatcher(2)));
    assert_eq!(
        view.entries[0].state, "assigned",
        "hold ends with the transfer"
    );
    // Only the new dispatcher can end it now.
    assert_eq!(
        sim.input(Input::End(e, dispatcher(1))),
        Err(HotlineError::NotAssigned)
    );
    sim.advance(secs(20));
    sim.input(Input::End(e, dispatcher(2))).unwrap();
    assert_eq!(sim.core.presence(&dispatcher(2)), Some(Presence::WrapUp));
    let stats = sim.core.stats();
    assert_eq!((stats.answered, stats.completed), (1, 1));
    assert_eq!(
        stats.average_handle(),
        Some(secs(60)),
        "answer to end, across the transfer"
    );
    let view = sim.core.view(sim.now);
    assert_eq!(
        (
            view.dispatchers[0].taken_today,
            view.dispatchers[1].taken_today
        ),
        (1, 1)
    );
}

#[test]
fn a_declined_offer_goes_to_the_next_dispatcher_at_once() {
    let mut sim = Sim::new(config(), 2);
    let e = sim.incoming(1, 0).unwrap();
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(e));
    sim.input(Input::Decline(e, dispatcher(1))).unwrap();
    assert_eq!(sim.ringing_at(dispatcher(2)), Some(e));
    assert_eq!(sim.core.view(sim.now).dispatchers[0].declined, 1);
    assert_eq!(sim.core.view(sim.now).dispatchers[0].missed, 0);
}

#[test]
fn a_decliner_gets_the_next_caller_not_the_same_one_again() {
    let mut sim = Sim::new(config(), 1);
    let first = sim.incoming(1, 0).unwrap();
    sim.input(Input::Decline(first, dispatcher(1))).unwrap();
    assert_eq!(
        sim.ringing_at(dispatcher(1)),
        None,
        "not re-offered at once"
    );
    let second = sim.incoming(2, 0).unwrap();
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(second));
    sim.input(Input::Decline(second, dispatcher(1))).unwrap();
    // After a ring timeout (20 s by default) the first caller is offered again, first.
    sim.advance(secs(19));
    assert_eq!(sim.ringing_at(dispatcher(1)), None);
    sim.advance(secs(1));
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(first));
    assert_eq!(sim.core.waiting(), vec![first, second]);
}

#[test]
fn presence_changes_withdraw_offers_and_wrap_up_is_not_set_by_hand() {
    let mut sim = Sim::new(config(), 2);
    let e = sim.incoming(1, 0).unwrap();
    sim.input(Input::SetPresence(dispatcher(1), Presence::Away))
        .unwrap();
    assert_eq!(sim.ringing_at(dispatcher(2)), Some(e));
    assert_eq!(
        sim.input(Input::SetPresence(dispatcher(1), Presence::WrapUp)),
        Err(HotlineError::WrapUpIsAutomatic)
    );
    sim.input(Input::Answer(e, dispatcher(2))).unwrap();
    assert_eq!(
        sim.input(Input::SetPresence(dispatcher(2), Presence::Away)),
        Err(HotlineError::OnCall)
    );
}

#[test]
fn wrong_inputs_are_typed_errors_and_change_nothing() {
    let mut sim = Sim::new(config(), 2);
    let stranger = Npub::from_bytes([0xEE; 32]);
    let e = sim.incoming(1, 0).unwrap();
    let ghost = EntryId(999);
    let before = sim.core.snapshot();
    let log_len = sim.log.len();
    let cases: Vec<(Input, HotlineError)> = vec![
        (
            Input::SetPresence(stranger, Presence::Available),
            HotlineError::UnknownDispatcher,
        ),
        (Input::Answer(e, stranger), HotlineError::UnknownDispatcher),
        (
            Input::Answer(ghost, dispatcher(1)),
            HotlineError::UnknownEntry(ghost),
        ),
        (Input::Answer(e, dispatcher(2)), HotlineError::NotOffered),
        (Input::Decline(e, dispatcher(2)), HotlineError::NotOffered),
        (Input::End(e, dispatcher(1)), HotlineError::NotAssigned),
        (
            Input::Hold(e, dispatcher(1), true),
            HotlineError::NotAssigned,
        ),
        (Input::CallerLeft(ghost), HotlineError::UnknownEntry(ghost)),
        (
            Input::Note(ghost, dispatcher(1), "x".into()),
            HotlineError::UnknownEntry(ghost),
        ),
        (
            Input::Note(e, stranger, "x".into()),
            HotlineError::UnknownDispatcher,
        ),
        (
            Input::Note(e, dispatcher(1), "x".repeat(MAX_NOTE_CHARS + 1)),
            HotlineError::NoteTooLong,
        ),
        (
            Input::TransferTo {
                entry: e,
                from: dispatcher(1),
                to: dispatcher(2),
            },
            HotlineError::NotAssigned,
        ),
        (
            Input::SetWrapUp(stranger, secs(1)),
            HotlineError::UnknownDispatcher,
        ),
        (
            Input::SetWrapUp(dispatcher(1), secs(3601)),
            HotlineError::WrapUpTooLong,
        ),
        (
            Input::Incoming {
                call: CallId(String::new()),
                caller: caller(5),
                priority: 0,
            },
            HotlineError::BadCallId,
        ),
        (
            Input::Incoming {
                call: CallId("x".repeat(129)),
                caller: caller(5),
                priority: 0,
            },
            HotlineError::BadCallId,
        ),
        (
            Input::Incoming {
                call: call(1),
                caller: caller(5),
                priority: 0,
            },
            HotlineError::DuplicateCall,
        ),
    ];
    for (input, expected) in cases {
        let text = format!("{input:?}");
        assert_eq!(sim.input(input), Err(expected), "{text}");
    }
    assert_eq!(sim.core.snapshot(), before, "state unchanged");
    assert_eq!(sim.log.len(), log_len, "no output");
    // Transfer to a dispatcher who is not free.
    sim.input(Input::Answer(e, dispatcher(1))).unwrap();
    let other = sim.incoming(2, 0).unwrap();
    assert!(matches!(
        sim.core.entry_state(other),
        Some(EntryState::Ringing { .. })
    ));
    assert_eq!(
        sim.input(Input::TransferTo {
            entry: e,
            from: dispatcher(1),
            to: dispatcher(2)
        }),
        Err(HotlineError::NotAvailable)
    );
}

#[test]
fn service_level_counts_answers_within_the_threshold() {
    let mut sim = Sim::new(
        CoreConfig {
            service_level: secs(20),
            ..config()
        },
        1,
    );
    let quick = sim.incoming(1, 0).unwrap();
    let slow = sim.incoming(2, 0).unwrap();
    let gone = sim.incoming(3, 0).unwrap();
    sim.advance(secs(10));
    sim.input(Input::Answer(quick, dispatcher(1))).unwrap();
    sim.input(Input::CallerLeft(gone)).unwrap();
    sim.advance(secs(5));
    sim.input(Input::End(quick, dispatcher(1))).unwrap();
    sim.advance(secs(15));
    sim.input(Input::Answer(slow, dispatcher(1))).unwrap();
    let stats = sim.core.stats().clone();
    assert_eq!(
        (stats.answered, stats.answered_within_sl, stats.abandoned),
        (2, 1, 1)
    );
    assert_eq!(stats.average_wait(), Some(secs(20)));
    assert_eq!(sim.core.view(sim.now).service_level, Some(1.0 / 3.0));
}

#[test]
fn the_view_marks_a_ringing_dispatcher_not_free_and_gives_wrap_up_its_end() {
    let mut sim = Sim::new(config(), 2);
    let free = |sim: &Sim| -> Vec<bool> {
        sim.core
            .view(sim.now)
            .dispatchers
            .iter()
            .map(|d| d.free)
            .collect()
    };
    assert_eq!(free(&sim), vec![true, true]);
    let e = sim.incoming(1, 0).unwrap();
    // Ringing at dispatcher 1: still "available", but not free (a transfer would fail).
    assert_eq!(sim.core.presence(&dispatcher(1)), Some(Presence::Available));
    assert_eq!(free(&sim), vec![false, true]);
    sim.input(Input::Answer(e, dispatcher(1))).unwrap();
    assert_eq!(sim.core.wrap_up_until(&dispatcher(1)), None);
    sim.advance(secs(5));
    sim.input(Input::End(e, dispatcher(1))).unwrap();
    assert_eq!(
        sim.core.wrap_up_until(&dispatcher(1)),
        Some(sim.now + secs(15))
    );
    assert_eq!(free(&sim), vec![false, true]);
    sim.advance(secs(15));
    assert_eq!(sim.core.wrap_up_until(&dispatcher(1)), None);
    assert_eq!(free(&sim), vec![true, true]);
}
