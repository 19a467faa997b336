//! Random sequences of user actions, media reports, message reordering and time, on
//! three people with six devices: the engine never panics, never holds two live calls,
//! never leaves a call that can hang without a timer, and, once every message is
//! delivered and the timers ran out, both sides agree on every connected call.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use calling::{CallState, Direction, Input, MediaError, Output};
use common::{candidate, Net};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

/// xorshift64*: a seeded generator, so a failure names the seed that reproduces it.
/// Seeded randomness (fastrand), with the few helpers these tests need.
struct Rng(fastrand::Rng);

impl Rng {
    fn seeded(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.u64(..)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn check_invariants(net: &Net, seed: u64, step: usize) {
    for (dev, d) in net.devices.iter().enumerate() {
        let live: Vec<_> = d
            .core
            .calls()
            .filter(|c| c.state != CallState::Ended)
            .collect();
        assert!(
            live.len() <= 1,
            "seed {seed} step {step}: {} holds {}",
            d.name,
            live.len()
        );
        if let Some(call) = live.first() {
            if call.state != CallState::Connected {
                assert!(
                    d.core.next_timeout().is_some(),
                    "seed {seed} step {step}: {} has a {:?} call without a timer",
                    d.name,
                    call.state
                );
            }
        }
        // Per call: states only move forward, and media is stopped at most once, only
        // after it was started.
        let mut states: HashMap<CallId, Vec<CallState>> = HashMap::new();
        let mut media: HashMap<CallId, (usize, usize)> = HashMap::new();
        for o in net.outputs(dev) {
            match o {
                Output::Event(e) => states.entry(e.call_id).or_default().push(e.state),
                Output::CreateOffer { call_id, .. } | Output::CreateAnswer { call_id, .. } => {
                    media.entry(*call_id).or_default().0 += 1;
                }
                Output::StopMedia { call_id } => {
                    let m = media.entry(*call_id).or_default();
                    m.1 += 1;
                    assert!(m.0 == 1 && m.1 == 1, "seed {seed} step {step}: media {m:?}");
                }
                _ => {}
            }
        }
        for (id, seq) in states {
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "seed {seed} step {step}: {} call {id}: {seq:?}",
                d.name
            );
        }
    }
}

fn run(seed: u64, lossy: bool) {
    let mut rng = Rng::seeded(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut net = Net::new();
    let mut devs = net.person("alice", 1);
    devs.extend(net.person("bob", 3));
    devs.extend(net.person("carol", 2));
    let mut known: Vec<CallId> = Vec::new();
    for step in 0..200 {
        let dev = devs[rng.below(devs.len())];
        let call = if rng.chance(70) {
            net.live_call(dev)
        } else {
            None
        }
        .or_else(|| (!known.is_empty()).then(|| known[rng.below(known.len())]))
        .unwrap_or_else(CallId::new_random);
        match rng.below(14) {
            0 | 1 => {
                let to = devs[rng.below(devs.len())];
                let call_type = if rng.chance(50) {
                    CallType::Voice
                } else {
                    CallType::Video
                };
                let mode = if rng.chance(80) {
                    PrivacyMode::Private
                } else {
                    PrivacyMode::Fast
                };
                let id = CallId::new_random();
                known.push(id);
                net.dial_with(dev, to, call_type, mode, id);
            }
            2 | 3 => net.accept(dev, call),
            4 => net.decline(dev, call),
            5 => net.hangup(dev, call),
            6 | 7 => net.media_connected(&[dev], call),
            8 => net.input(
                dev,
                Input::MediaFailed {
                    call_id: call,
                    error: MediaError::Connection,
                },
            ),
            9 => net.input(
                dev,
                Input::LocalCandidates {
                    call_id: call,
                    candidates: vec![candidate(rng.below(1000) as u16)],
                },
            ),
            10 => net.hold = !net.hold,
            11 => {
                let mut coin = Rng::seeded(rng.next() | 1);
                net.release_where(|_, _| coin.chance(50));
            }
            12 => net.advance(Duration::from_millis(rng.below(20_000) as u64)),
            _ if lossy => net.devices[dev].online = !net.devices[dev].online,
            _ => net.advance(Duration::from_millis(rng.below(2_000) as u64)),
        }
        check_invariants(&net, seed, step);
    }
    // Let everything arrive and every timer run out.
    net.hold = false;
    for d in &mut net.devices {
        d.online = true;
    }
    net.release();
    net.advance(Duration::from_secs(120));
    check_invariants(&net, seed, usize::MAX);
    for d in &net.devices {
        if let Some(live) = d.core.live_call() {
            assert_eq!(
                live.state,
                CallState::Connected,
                "seed {seed}: {} kept a {:?} call",
                d.name,
                live.state
            );
        }
    }
    if lossy {
        return;
    }
    // Without lost messages, every connected call is connected on the other side too, with
    // the device whose answer was taken.
    for d in &net.devices {
        let Some(live) = d.core.live_call() else {
            continue;
        };
        let other = |pred: &dyn Fn(&common::Device) -> bool| {
            net.devices
                .iter()
                .filter(|o| o.key == live.peer && pred(o))
                .filter_map(|o| o.core.call(&live.call_id).map(|c| (o.device.clone(), c)))
                .filter(|(_, c)| c.state == CallState::Connected)
                .count()
        };
        match live.direction {
            Direction::Outgoing => {
                let answered_by = live.answered_by.clone().flatten();
                assert_eq!(
                    other(&|o| Some(&o.device) == answered_by.as_ref()),
                    1,
                    "seed {seed}: {}'s callee is not in the call",
                    d.name
                );
            }
            Direction::Incoming => {
                let caller_ok = net.devices.iter().any(|o| {
                    o.key == live.peer
                        && o.core.call(&live.call_id).is_some_and(|c| {
                            c.state == CallState::Connected
                                && c.answered_by == Some(Some(d.device.clone()))
                        })
                });
                assert!(
                    caller_ok,
                    "seed {seed}: {}'s caller is not in the call",
                    d.name
                );
            }
        }
    }
}

#[test]
fn random_sequences_keep_the_invariants_and_both_sides_agree() {
    for seed in 0..300 {
        run(seed, false);
    }
}

#[test]
fn random_sequences_with_lost_messages_never_leave_a_call_hanging() {
    for seed in 1000..1300 {
        run(seed, true);
    }
}
