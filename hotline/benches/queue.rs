//! Queue figures: operations per second (enqueue / answer / end / hang-up mix) and the time
//! from "dispatcher available" to "call offered" with 100 callers waiting, for the core
//! alone and with the SQLite store written through after every input.
//!
//! `cargo bench -p hotline --bench queue`

use std::time::{Duration, Instant};

use hotline::core::{CoreConfig, HotlineCore, Input, Output, Presence, Strategy};
use hotline::store::Store;
use hotline::{CallId, CallerIdKey, EntryId, Npub};

const UNIX0: u64 = 1_800_000_000_000;

/// A small deterministic generator, so every run does the same work.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn npub(tag: u8, n: u32) -> Npub {
    let mut b = [tag; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    Npub::from_bytes(b)
}

fn core(strategy: Strategy, dispatchers: u32, now: Instant) -> HotlineCore {
    let config = CoreConfig {
        strategy,
        wrap_up: Duration::ZERO,
        max_wait: None,
        max_queue_len: None,
        ..CoreConfig::default()
    };
    let enrolled: Vec<(Npub, Option<Duration>)> =
        (0..dispatchers).map(|d| (npub(0xD0, d), None)).collect();
    HotlineCore::new(
        config,
        &enrolled,
        CallerIdKey::from_bytes([7; 32]),
        now,
        UNIX0,
    )
}

fn drain(core: &mut HotlineCore, offers: &mut Vec<(EntryId, Npub)>) {
    while let Some(out) = core.poll_output() {
        if let Output::Offer {
            entry, dispatchers, ..
        } = out
        {
            offers.extend(dispatchers.into_iter().map(|d| (entry, d)));
        }
    }
}

/// Callers kept waiting in the ops mix: a busy hotline, not an ever-growing backlog.
const WAITING_TARGET: usize = 100;

/// Runs `ops` inputs of the mix; returns inputs per second.
fn ops_per_second(ops: u32, mut store: Option<&mut Store>) -> f64 {
    let t0 = Instant::now();
    let mut core = core(Strategy::LongestIdle, 20, t0);
    let mut now = t0;
    let mut offers = Vec::new();
    for d in 0..20 {
        core.handle_input(Input::SetPresence(npub(0xD0, d), Presence::Available), now)
            .unwrap();
    }
    let mut rng = Lcg(42);
    let mut assigned: Vec<(EntryId, Npub)> = Vec::new();
    let mut next_caller = 0u32;
    let start = Instant::now();
    for _ in 0..ops {
        now += Duration::from_millis(50);
        let input = match rng.next() % 10 {
            // 40 % new callers (distinct people, so no abuse limit applies) while fewer
            // than WAITING_TARGET wait; otherwise a hang-up below
            0..=3 if core.waiting_len() < WAITING_TARGET => {
                next_caller += 1;
                Input::Incoming {
                    call: CallId(format!("c{next_caller}")),
                    caller: npub(0xC0, next_caller),
                    priority: (rng.next() % 3) as i32,
                }
            }
            // 30 % answers of pending offers
            4..=6 if !offers.is_empty() => {
                let (e, d) = offers.swap_remove(0);
                assigned.push((e, d));
                Input::Answer(e, d)
            }
            // 20 % ends of calls in progress
            7 | 8 if !assigned.is_empty() => {
                let (e, d) = assigned.swap_remove(0);
                Input::End(e, d)
            }
            // 10 % hang-ups of whoever waits longest (plus the arrivals over the target)
            _ => match core.waiting().first() {
                Some(&e) => {
                    offers.retain(|(x, _)| *x != e);
                    Input::CallerLeft(e)
                }
                None => continue,
            },
        };
        // An answer may race a hang-up; the core refuses it with an error, as it should.
        let _ = core.handle_input(input, now);
        drain(&mut core, &mut offers);
        if let Some(store) = store.as_deref_mut() {
            store.write_through(&mut core).unwrap();
        }
    }
    f64::from(ops) / start.elapsed().as_secs_f64()
}

/// Time from "dispatcher available" to the offer, with 100 callers waiting.
fn available_to_offer(rounds: usize, mut store: Option<&mut Store>) -> Vec<Duration> {
    let t0 = Instant::now();
    let mut core = core(Strategy::LongestIdle, 3, t0);
    let now = t0;
    for c in 0..100 {
        core.handle_input(
            Input::Incoming {
                call: CallId(format!("c{c}")),
                caller: npub(0xC0, c),
                priority: (c % 3) as i32,
            },
            now,
        )
        .unwrap();
    }
    while core.poll_output().is_some() {}
    if let Some(store) = store.as_deref_mut() {
        store.write_through(&mut core).unwrap();
    }
    let d = npub(0xD0, 0);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        core.handle_input(Input::SetPresence(d, Presence::Available), now)
            .unwrap();
        if let Some(store) = store.as_deref_mut() {
            store.write_through(&mut core).unwrap();
        }
        let mut offered = false;
        while let Some(out) = core.poll_output() {
            offered |= matches!(out, Output::Offer { .. });
        }
        times.push(start.elapsed());
        assert!(offered, "an offer follows availability");
        // Back to away (withdraws the offer), so the next round measures the same thing.
        core.handle_input(Input::SetPresence(d, Presence::Away), now)
            .unwrap();
        while core.poll_output().is_some() {}
        if let Some(store) = store.as_deref_mut() {
            store.write_through(&mut core).unwrap();
        }
    }
    times.sort();
    times
}

fn print_latency(label: &str, times: &[Duration]) {
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{label}: median {:.1} µs, p99 {:.1} µs ({} rounds)",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times.len()
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("hotline queue bench");
    println!(
        "queue operations, core alone: {:.0} ops/s",
        ops_per_second(200_000, None)
    );
    let mut store = Store::open(&dir.path().join("ops.sqlite")).expect("store");
    println!(
        "queue operations, SQLite written through (file, WAL): {:.0} ops/s",
        ops_per_second(5_000, Some(&mut store))
    );
    let mut memory = Store::in_memory().expect("store");
    println!(
        "queue operations, SQLite in memory (the cost without the disk): {:.0} ops/s",
        ops_per_second(20_000, Some(&mut memory))
    );
    print_latency(
        "available -> offered, 100 waiting, core alone",
        &available_to_offer(10_000, None),
    );
    let mut store = Store::open(&dir.path().join("latency.sqlite")).expect("store");
    print_latency(
        "available -> offered, 100 waiting, SQLite written through",
        &available_to_offer(1_000, Some(&mut store)),
    );
}
