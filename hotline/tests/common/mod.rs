//! A virtual-time driver for the core: inputs at chosen instants, timers fired in order,
//! every output kept with the time it appeared.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::time::{Duration, Instant};

use hotline::core::{CoreConfig, EntryKind, HotlineCore, Input, Output, Presence};
use hotline::{CallId, CallerIdKey, EntryId, HotlineError, Npub};

pub const UNIX0: u64 = 1_800_000_000_000;

pub fn dispatcher(n: u8) -> Npub {
    Npub::from_bytes([0xD0 + n; 32])
}

pub fn caller(n: u8) -> Npub {
    let mut bytes = [n; 32];
    bytes[0] = 0x42; // distinct from dispatchers
    Npub::from_bytes(bytes)
}

pub fn call(n: u8) -> CallId {
    CallId(format!("call-{n}"))
}

pub fn key() -> CallerIdKey {
    CallerIdKey::from_bytes([0x5A; 32])
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub struct Sim {
    pub core: HotlineCore,
    pub t0: Instant,
    pub now: Instant,
    pub log: Vec<(Duration, Output)>,
}

impl Sim {
    /// A hotline with `n` dispatchers (1-based numbers), all signed in as available.
    pub fn new(config: CoreConfig, n: u8) -> Self {
        let t0 = Instant::now();
        let enrolled: Vec<(Npub, Option<Duration>)> =
            (1..=n).map(|d| (dispatcher(d), None)).collect();
        let core = HotlineCore::new(config, &enrolled, key(), t0, UNIX0);
        let mut sim = Self {
            core,
            t0,
            now: t0,
            log: Vec::new(),
        };
        for d in 1..=n {
            sim.input(Input::SetPresence(dispatcher(d), Presence::Available))
                .unwrap();
        }
        sim
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs timers up to `t0 + at` and moves the clock there.
    pub fn advance_to(&mut self, at: Duration) {
        let target = self.t0 + at;
        while let Some(deadline) = self.core.next_deadline() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.core.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(target);
    }

    pub fn advance(&mut self, by: Duration) {
        let at = self.elapsed() + by;
        self.advance_to(at);
    }

    pub fn input(&mut self, input: Input) -> Result<(), HotlineError> {
        let result = self.core.handle_input(input, self.now);
        self.drain();
        result
    }

    pub fn incoming(&mut self, n: u8, priority: i32) -> Option<EntryId> {
        self.input(Input::Incoming {
            call: call(n),
            caller: caller(n),
            priority,
        })
        .unwrap();
        self.core.entry_for_call(&call(n))
    }

    pub fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(out) = self.core.poll_output() {
            self.log.push((at, out));
        }
    }

    pub fn outputs_since(&self, from: usize) -> Vec<Output> {
        self.log[from..].iter().map(|(_, o)| o.clone()).collect()
    }

    /// The (entry, dispatchers) of every offer, in order.
    pub fn offers(&self) -> Vec<(Duration, EntryId, Vec<Npub>)> {
        self.log
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Offer {
                    entry, dispatchers, ..
                } => Some((*t, *entry, dispatchers.clone())),
                _ => None,
            })
            .collect()
    }

    /// The (entry, dispatcher) of every hand-over (transfer or callback), in order.
    pub fn handovers(&self) -> Vec<(EntryId, Npub)> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Transfer {
                    entry, dispatcher, ..
                }
                | Output::PlaceCallback {
                    entry, dispatcher, ..
                } => Some((*entry, *dispatcher)),
                _ => None,
            })
            .collect()
    }

    /// The entry currently ringing at `d` per the last offers, if any.
    pub fn ringing_at(&self, d: Npub) -> Option<EntryId> {
        self.core.waiting().into_iter().find(|e| {
            matches!(self.core.entry_state(*e),
                Some(hotline::core::EntryState::Ringing { dispatchers, .. }) if dispatchers.contains(&d))
        })
    }

    pub fn kind(&self, entry: EntryId) -> Option<EntryKind> {
        self.core.entry_kind(entry)
    }
}
