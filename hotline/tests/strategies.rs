//! 6 callers, 3 dispatchers: every caller is answered, in arrival order, by the dispatcher
//! each strategy implies. The scenario (arrivals every 100 s, per-call durations,
//! dispatchers answering after 3, 1 and 2 s, 10 s wrap-up) was chosen so that the four
//! strategies give four different sequences; each expected sequence is derived by hand
//! in the comments.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use hotline::core::{CoreConfig, Input, Output, Strategy};
use hotline::{EntryId, Npub};

/// Seconds each dispatcher (1, 2, 3) takes to answer an offer.
const ANSWER_AFTER: [u64; 3] = [3, 1, 2];
/// How long each caller's call lasts once answered.
const DURATION: [u64; 6] = [350, 150, 30, 50, 50, 30];

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Event {
    Answer(EntryId, u8),
    End(EntryId, u8),
    Arrive(u8),
}

/// Runs the scenario; returns the (caller, dispatcher) numbers in answer order.
fn run(strategy: Strategy) -> Vec<(u8, u8)> {
    let config = CoreConfig {
        strategy,
        wrap_up: secs(10),
        ring_timeout: secs(20),
        max_wait: None,
        ..CoreConfig::default()
    };
    let mut sim = Sim::new(config, 3);
    let mut events: BTreeMap<(Duration, Event), ()> = BTreeMap::new();
    for c in 1..=6u8 {
        events.insert((secs(100 * (u64::from(c) - 1)), Event::Arrive(c)), ());
    }
    let d_num = |npub: &Npub| (1..=3u8).find(|d| dispatcher(*d) == *npub).unwrap();
    let mut caller_of: BTreeMap<EntryId, u8> = BTreeMap::new();
    let mut answered = Vec::new();
    let mut seen = 0;
    loop {
        let next_event = events.keys().next().copied();
        let next_timer = sim.core.next_deadline().map(|t| t - sim.t0);
        match (next_event, next_timer) {
            (None, _) if sim.core.waiting().is_empty() && answered.len() == 6 => break,
            (Some((at, _)), Some(timer)) if timer < at => sim.advance_to(timer),
            (None, Some(timer)) => sim.advance_to(timer),
            (None, None) => break,
            (Some((at, event)), _) => {
                events.remove(&(at, event));
                sim.advance_to(at);
                match event {
                    Event::Arrive(c) => {
                        let entry = sim.incoming(c, 0).unwrap();
                        caller_of.insert(entry, c);
                    }
                    Event::Answer(entry, d) => {
                        sim.input(Input::Answer(entry, dispatcher(d))).unwrap()
                    }
                    Event::End(entry, d) => sim.input(Input::End(entry, dispatcher(d))).unwrap(),
                }
            }
        }
        // React to what the core asked for, like the dispatchers' clients would.
        for out in sim.outputs_since(seen) {
            let now = sim.elapsed();
            match out {
                Output::Offer {
                    entry, dispatchers, ..
                } => {
                    for npub in dispatchers {
                        let d = d_num(&npub);
                        let at = now + secs(ANSWER_AFTER[usize::from(d) - 1]);
                        events.insert((at, Event::Answer(entry, d)), ());
                    }
                }
                Output::CancelOffer {
                    entry, dispatcher, ..
                } => {
                    let d = d_num(&dispatcher);
                    events.retain(|(_, e), _| *e != Event::Answer(entry, d));
                }
                Output::Transfer {
                    entry, dispatcher, ..
                } => {
                    let (c, d) = (caller_of[&entry], d_num(&dispatcher));
                    answered.push((c, d));
                    let at = now + secs(DURATION[usize::from(c) - 1]);
                    events.insert((at, Event::End(entry, d)), ());
                }
                _ => {}
            }
        }
        seen = sim.log.len();
    }
    answered
}

fn dispatchers_in_order(answered: &[(u8, u8)]) -> Vec<u8> {
    let callers: Vec<u8> = answered.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        callers,
        vec![1, 2, 3, 4, 5, 6],
        "every caller answered, in order"
    );
    answered.iter().map(|(_, d)| *d).collect()
}

#[test]
fn ring_all_gives_each_caller_to_the_fastest_free_dispatcher() {
    // c1@0: all ring, d2 answers first (1 s), busy to 351, free 361.
    // c2@100: d1, d3 ring, d3 answers (2 s) at 102, ends 252. c3@200: only d1 free -> d1.
    // c4@300: d1, d3 free -> d3. c5@400: all free -> d2. c6@500: all free -> d2.
    assert_eq!(
        dispatchers_in_order(&run(Strategy::RingAll)),
        [2, 3, 1, 3, 2, 2]
    );
}

#[test]
fn round_robin_resumes_after_the_last_dispatcher_offered() {
    // c1 d1 (to 353+10), c2 d2 (to 251+10), c3 d3 (to 232+10); c4: after d3 comes d1,
    // busy, so d2; c5: after d2 -> d3; c6: after d3 -> d1 (free since 363).
    assert_eq!(
        dispatchers_in_order(&run(Strategy::RoundRobin)),
        [1, 2, 3, 2, 3, 1]
    );
}

#[test]
fn longest_idle_picks_the_dispatcher_whose_last_call_ended_first() {
    // c1 d1 (ends 353), c2 d2 (ends 251), c3 d3 (never had a call; ends 232);
    // c4@300: d2 ended 251, d3 232 -> d3 (ends 352); c5@400: d1 353, d2 251, d3 352 -> d2;
    // c6@500: d1 353, d2 451, d3 352 -> d3.
    assert_eq!(
        dispatchers_in_order(&run(Strategy::LongestIdle)),
        [1, 2, 3, 3, 2, 3]
    );
}

#[test]
fn fewest_calls_picks_the_least_loaded_dispatcher() {
    // c1..c3 as longest-idle (one call each). c4@300: d2 and d3 have 1, tie -> longest
    // idle d3; c5@400: d1 1, d2 1, d3 2 -> d2 (idle since 251, d1 since 353);
    // c6@500: d1 has 1, d2 and d3 have 2 -> d1.
    assert_eq!(
        dispatchers_in_order(&run(Strategy::FewestCalls)),
        [1, 2, 3, 3, 2, 1]
    );
}

#[test]
fn fewest_calls_counts_only_today() {
    let mut sim = Sim::new(
        CoreConfig {
            strategy: Strategy::FewestCalls,
            wrap_up: Duration::ZERO,
            max_wait: None,
            ..CoreConfig::default()
        },
        2,
    );
    sim.input(Input::SetPresence(
        dispatcher(2),
        hotline::core::Presence::Away,
    ))
    .unwrap();
    // Yesterday: d1 takes three calls, d2 one that ends later.
    for n in 1..=3 {
        let e = sim.incoming(n, 0).unwrap();
        sim.input(Input::Answer(e, dispatcher(1))).unwrap();
        sim.advance(secs(60));
        sim.input(Input::End(e, dispatcher(1))).unwrap();
    }
    sim.input(Input::SetPresence(
        dispatcher(1),
        hotline::core::Presence::Away,
    ))
    .unwrap();
    sim.input(Input::SetPresence(
        dispatcher(2),
        hotline::core::Presence::Available,
    ))
    .unwrap();
    let e = sim.incoming(4, 0).unwrap();
    sim.input(Input::Answer(e, dispatcher(2))).unwrap();
    sim.advance(secs(60));
    sim.input(Input::End(e, dispatcher(2))).unwrap();
    // Past UTC midnight both counts are 0 again: the tie goes to the longest idle, d1.
    let unix_now = UNIX0 + (sim.elapsed().as_millis() as u64);
    let midnight = (unix_now / 86_400_000 + 1) * 86_400_000;
    sim.advance(Duration::from_millis(midnight - unix_now + 1000));
    sim.input(Input::SetPresence(
        dispatcher(1),
        hotline::core::Presence::Available,
    ))
    .unwrap();
    let view = sim.core.view(sim.now);
    assert_eq!(
        (
            view.dispatchers[0].taken_today,
            view.dispatchers[1].taken_today
        ),
        (0, 0)
    );
    let e = sim.incoming(5, 0).unwrap();
    assert_eq!(sim.ringing_at(dispatcher(1)), Some(e));
}
