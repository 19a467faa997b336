//! Random input sequences (seeded, so reproducible), valid and invalid mixed: the core
//! never panics, never leaves a timer in the past, keeps ringing and assignments
//! consistent, and the store written through after every step reads back as the core's
//! own snapshot.

mod common;

use std::collections::BTreeSet;

use common::*;
use hotline::core::{
    CoreConfig, EntryState, HotlineCore, Input, OverflowAction, Presence, Strategy,
};
use hotline::store::Store;
use hotline::EntryId;

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn random_input(rng: &mut Lcg, sim: &Sim) -> Input {
    let d = dispatcher(rng.below(4) as u8 + 1); // 4 is not enrolled
                                                // Mostly entries that exist, sometimes ones that never did.
    let known: Vec<EntryId> = sim
        .core
        .view(sim.now)
        .entries
        .iter()
        .map(|e| e.entry)
        .collect();
    let entry = if !known.is_empty() && rng.below(5) > 0 {
        known[rng.below(known.len() as u64) as usize]
    } else {
        EntryId(rng.below(60))
    };
    let n = rng.below(12) as u8 + 1;
    match rng.below(14) {
        0..=2 => Input::Incoming {
            call: hotline::CallId(format!("c{}", rng.below(1_000_000))),
            caller: caller(n),
            priority: rng.below(3) as i32,
        },
        3 => Input::RequestCallback {
            caller: caller(n),
            priority: 0,
        },
        4 => Input::CallerLeft(entry),
        5 => Input::SetPresence(
            d,
            [
                Presence::Available,
                Presence::Busy,
                Presence::Away,
                Presence::WrapUp,
            ][rng.below(4) as usize],
        ),
        6 | 7 => {
            // Mostly a real offer, so calls get answered and ended.
            let ringing = known.iter().find_map(|e| match sim.core.entry_state(*e) {
                Some(EntryState::Ringing { dispatchers, .. }) => Some((*e, dispatchers[0])),
                _ => None,
            });
            match ringing {
                Some((e, d)) if rng.below(4) > 0 => Input::Answer(e, d),
                _ => Input::Answer(entry, d),
            }
        }
        8 => Input::Decline(entry, d),
        9 => {
            let assigned = known.iter().find_map(|e| match sim.core.entry_state(*e) {
                Some(EntryState::Assigned { dispatcher, .. }) => Some((*e, *dispatcher)),
                _ => None,
            });
            match assigned {
                Some((e, d)) if rng.below(4) > 0 => Input::End(e, d),
                _ => Input::End(entry, d),
            }
        }
        10 => Input::TransferTo {
            entry,
            from: d,
            to: dispatcher(rng.below(3) as u8 + 1),
        },
        11 => Input::Hold(entry, d, rng.below(2) == 0),
        12 => Input::Note(entry, d, "note".into()),
        _ => {
            let id = sim.core.caller_id(&caller(n));
            if rng.below(2) == 0 {
                Input::Block(id)
            } else {
                Input::Unblock(id)
            }
        }
    }
}

fn check(sim: &Sim) {
    if let Some(deadline) = sim.core.next_deadline() {
        assert!(
            deadline > sim.now,
            "a timer left in the past: {:?} <= now; last outputs {:?}; view {:#?}",
            deadline - sim.t0,
            &sim.log[sim.log.len().saturating_sub(6)..],
            sim.core.view(sim.now)
        );
    }
    let view = sim.core.view(sim.now);
    let mut ringing = BTreeSet::new();
    let mut on_call = BTreeSet::new();
    for e in &view.entries {
        match sim.core.entry_state(e.entry).unwrap() {
            EntryState::Ringing { dispatchers, .. } => {
                assert!(!dispatchers.is_empty());
                for d in dispatchers {
                    assert!(ringing.insert(*d), "a dispatcher rings for two entries");
                    assert_eq!(sim.core.presence(d), Some(Presence::Available));
                }
            }
            EntryState::Assigned { dispatcher, .. } => {
                assert!(on_call.insert(*dispatcher), "a dispatcher on two calls");
                assert_eq!(sim.core.presence(dispatcher), Some(Presence::Busy));
            }
            EntryState::Waiting => {}
        }
    }
    assert!(ringing.is_disjoint(&on_call));
    let positions: Vec<usize> = view.entries.iter().filter_map(|e| e.position).collect();
    assert_eq!(positions, (1..=positions.len()).collect::<Vec<_>>());
}

fn run(strategy: Strategy, overflow: OverflowAction, seed: u64) {
    let config = CoreConfig {
        strategy,
        overflow,
        max_queue_len: Some(6),
        max_wait: Some(secs(90)),
        wrap_up: secs(5),
        ring_timeout: secs(10),
        away_after_misses: Some(3),
        ..CoreConfig::default()
    };
    let mut sim = Sim::new(config, 3);
    let mut store = Store::in_memory().unwrap();
    let mut rng = Lcg(seed);
    for step in 0..3_000 {
        if rng.below(3) == 0 {
            sim.advance(secs(rng.below(15)));
        } else {
            let input = random_input(&mut rng, &sim);
            let _ = sim.input(input);
        }
        check(&sim);
        store.write_through(&mut sim.core).unwrap();
        if step % 250 == 0 {
            let mut stored = store.load().unwrap();
            let mut own = sim.core.snapshot();
            stored.dispatchers.sort_by_key(|d| d.npub);
            own.dispatchers.sort_by_key(|d| d.npub);
            assert_eq!(stored, own, "store and core differ at step {step}");
            // A core rebuilt from the store keeps the same queue order.
            let unix = UNIX0 + u64::try_from((sim.now - sim.t0).as_millis()).unwrap();
            let enrolled: Vec<_> = (1..=3).map(|d| (dispatcher(d), None)).collect();
            let restored = HotlineCore::restore(
                sim.core.config().clone(),
                &enrolled,
                key(),
                stored,
                sim.now,
                unix,
            );
            assert_eq!(
                restored.waiting(),
                sim.core.waiting(),
                "order after restore"
            );
            if let Some(deadline) = restored.next_deadline() {
                assert!(deadline > sim.now, "restored core with a timer in the past");
            }
        }
    }
    let stats = sim.core.stats();
    assert!(
        stats.queued > 0 && stats.answered > 0,
        "the run exercised the queue"
    );
}

#[test]
fn random_inputs_keep_every_invariant() {
    let strategies = [
        Strategy::RingAll,
        Strategy::RoundRobin,
        Strategy::LongestIdle,
        Strategy::FewestCalls,
    ];
    for (i, strategy) in strategies.into_iter().enumerate() {
        for overflow in [OverflowAction::Callback, OverflowAction::Voicemail] {
            run(strategy, overflow, 1000 + i as u64);
        }
    }
}
