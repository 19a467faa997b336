//! A demo hotline: a real `HotlineCore` with simulated callers and three simulated
//! colleagues, in virtual time. It feeds the dispatcher screens in `phantomcall demo
//! --gui` (`PHANTOMCALL_DEMO_AUTOCALL=dispatcher` or `hotline-stats`), their screenshots
//! and their tests, so what they show is what the queue core computes, not numbers made
//! up for a picture.
//!
//! [`DemoHotline::morning`] runs two hours of a help line (about one caller a minute,
//! some hanging up while waiting, repeat callers, urgent callers, callbacks on overflow,
//! declines and missed offers, a colleague on a break), then a scripted minute that ends
//! with us on a call, one colleague on a call, one wrapping up, one away and five entries
//! waiting. After that the world goes on at the wall clock's pace ([`DeskLink::poll`]),
//! and our console's actions go to the same core ([`DeskLink::send`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hotline::core::{CoreConfig, EntryState, HotlineCore, Input, Presence};
use hotline::{CallId, CallerIdKey, EntryId, Npub, Output};

use super::{ConsoleAction, ConsoleView, DeskLink, DeskState};

/// Wall clock of the scenario's start: a Tuesday, 08:00 UTC (calls "today" stay on one day).
const START_UNIX_MS: u64 = 1_799_654_400_000;
/// How long the simulated morning runs before the scripted finale.
const MORNING: Duration = Duration::from_secs(2 * 3600);
/// Distinct callers; a small pool makes repeat callers, as on a real local line.
const CALLERS: u64 = 40;
/// Mean time between arrivals.
const MEAN_ARRIVAL: Duration = Duration::from_secs(75);
/// How often the live demo sends the console a snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

/// The colleagues' names, in enrolment order (we are enrolled last).
const COLLEAGUES: [&str; 3] = ["Ana", "Ben", "Chloé"];

/// What dispatchers write in notes.
const NOTES: [&str; 5] = [
    "Asked for the night shelter's address; sent by message",
    "Follow-up of yesterday's report, case 4471",
    "Lost card: gave the bank's emergency line",
    "Wants a callback this afternoon",
    "Interpreter needed (Portuguese)",
];

/// Something the simulated world does at a time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A caller calls (or asks for a callback).
    Arrival,
    /// A waiting caller gives up, if still waiting on that call.
    Abandon(CallId),
    /// A colleague reacts to an offer: answer, decline, or let it ring.
    React(EntryId, Npub, Reaction),
    /// A dispatcher puts a note on its call.
    Note(EntryId, Npub, usize),
    /// Hold on or off.
    Hold(EntryId, Npub, bool),
    /// A dispatcher hands its call to a free colleague.
    Transfer(EntryId, Npub),
    /// A dispatcher ends its call.
    End(EntryId, Npub),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reaction {
    Answer,
    Decline,
    Ignore,
}

/// A hotline, its simulated world, and us as one of its dispatchers.
pub struct DemoHotline {
    core: HotlineCore,
    /// Core time now.
    now: Instant,
    /// Core time = wall clock + this (the morning ran ahead in virtual time).
    ahead: Duration,
    me: Npub,
    colleagues: Vec<Npub>,
    /// The world's plans, soonest first (ties in insertion order).
    plans: BinaryHeap<Reverse<(Instant, u64, Event)>>,
    seq: u64,
    rng: u64,
    calls: u64,
    /// Whether the simulation answers and ends our calls too (the morning does; the
    /// live demo leaves them to the user).
    auto_me: bool,
    /// Whether the simulation answers and ends the colleagues' calls.
    auto_colleagues: bool,
    /// Whether callers keep arriving.
    arrivals: bool,
    /// Callers who called during the morning (the finale's repeat callers).
    seen: Vec<u64>,
    last_snapshot: Option<Instant>,
}

impl DemoHotline {
    /// A hotline with us and three colleagues enrolled, everyone away, nothing queued,
    /// at core time `now`. `show_caller_npub` is the operator's choice.
    pub fn new(me: Npub, show_caller_npub: bool, now: Instant) -> DemoHotline {
        let config = CoreConfig {
            // Long waits overflow into callback entries, so the morning has some.
            max_wait: Some(Duration::from_secs(300)),
            max_queue_len: Some(8),
            show_caller_npub,
            ..CoreConfig::default()
        };
        let colleagues: Vec<Npub> = (0..COLLEAGUES.len() as u8)
            .map(|i| Npub::from_bytes([0xD1 + i; 32]))
            .collect();
        let mut enrolled: Vec<(Npub, Option<Duration>)> =
            colleagues.iter().map(|d| (*d, None)).collect();
        enrolled.push((me, None));
        // A fixed secret: the demo's caller ids are the same in every run.
        let key = CallerIdKey::from_bytes([0x5A; 32]);
        DemoHotline {
            core: HotlineCore::new(config, &enrolled, key, now, START_UNIX_MS),
            now,
            ahead: Duration::ZERO,
            me,
            colleagues,
            plans: BinaryHeap::new(),
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            calls: 0,
            auto_me: true,
            auto_colleagues: true,
            arrivals: false,
            seen: Vec::new(),
            last_snapshot: None,
        }
    }

    /// Two hours of a help line, then the scripted finale (see the module docs); the
    /// hotline's clock then runs on from the wall clock.
    pub fn morning(me: Npub, show_caller_npub: bool) -> DemoHotline {
        let started = Instant::now();
        let mut demo = DemoHotline::new(me, show_caller_npub, started);
        for d in demo.dispatchers() {
            demo.input(Input::SetPresence(d, Presence::Available));
        }
        demo.arrivals = true;
        demo.plan_after(Duration::from_secs(5), Event::Arrival);
        demo.advance(MORNING * 6 / 10);
        // Chloé takes her break for the rest of the morning (her call, if any, first).
        let chloe = demo.colleagues[2];
        demo.advance_until(Duration::from_secs(900), |d| {
            d.core.presence(&chloe) == Some(Presence::Available)
        });
        demo.input(Input::SetPresence(chloe, Presence::Away));
        demo.advance(MORNING * 4 / 10);
        demo.finale();
        // The world goes on: colleagues answer again (Ben ends his call in a few
        // minutes); our calls are the user's.
        demo.auto_colleagues = true;
        let ben = demo.colleagues[1];
        if let Some(entry) = demo.call_of(ben) {
            demo.plan_after(Duration::from_secs(200), Event::End(entry, ben));
        }
        demo.ahead = demo.now.saturating_duration_since(Instant::now());
        demo
    }

    /// The scripted minute: quiet the line, then us and Ben on calls, Ana wrapping up,
    /// Chloé away, five entries waiting. Offers are answered here by hand, not at random.
    fn finale(&mut self) {
        let [ana, ben] = [self.colleagues[0], self.colleagues[1]];
        let me = self.me;
        self.arrivals = false;
        // Let the queue and the calls drain (at most half an hour).
        self.advance_until(Duration::from_secs(1800), |d| {
            d.core.view(d.now).entries.is_empty()
                && [me, ana, ben]
                    .iter()
                    .all(|x| d.core.presence(x) == Some(Presence::Available))
        });
        self.auto_me = false;
        self.auto_colleagues = false;
        // Anyone the core set away after missed offers signs in again.
        for d in [me, ana, ben] {
            self.input(Input::SetPresence(d, Presence::Available));
        }
        self.advance(Duration::from_secs(40));
        let repeat = self.seen.first().copied().unwrap_or(0);
        let repeat2 = self.seen.get(1).copied().unwrap_or(1);
        // Only we are free: a repeat caller rings here; we answer and write a note.
        for d in [ana, ben] {
            self.input(Input::SetPresence(d, Presence::Busy));
        }
        self.take(repeat, me, Duration::from_secs(5));
        if let Some(entry) = self.call_of(me) {
            self.input(Input::Note(entry, me, NOTES[1].into()));
        }
        // Ana takes the next caller and finishes: she is in wrap-up at the end (she
        // gives herself 90 s after difficult calls).
        self.input(Input::SetPresence(ana, Presence::Available));
        self.input(Input::SetWrapUp(ana, Duration::from_secs(90)));
        self.take(CALLERS + 1, ana, Duration::from_secs(4));
        self.advance(Duration::from_secs(20));
        if let Some(entry) = self.call_of(ana) {
            self.input(Input::End(entry, ana));
        }
        // Ben takes one and stays on it.
        self.input(Input::SetPresence(ben, Presence::Available));
        self.take(CALLERS + 2, ben, Duration::from_secs(3));
        // Then the queue builds up: a new caller, an urgent one, a repeat caller, another
        // new one, and a callback request from the chat.
        for (n, priority, gap) in [
            (CALLERS + 3, 0, 9),
            (CALLERS + 4, 1, 6),
            (repeat2, 0, 5),
            (CALLERS + 5, 0, 4),
        ] {
            self.arrive(n, priority);
            self.advance(Duration::from_secs(gap));
        }
        self.input(Input::RequestCallback {
            caller: caller_key(CALLERS + 6),
            priority: 0,
        });
        self.advance(Duration::from_secs(3));
    }

    /// Caller `n` calls; the offer rings at `d` (the only one free), who answers after
    /// `after`.
    fn take(&mut self, n: u64, d: Npub, after: Duration) {
        let call = self.arrive(n, 0);
        self.advance(after);
        if let Some(entry) = self.core.entry_for_call(&call) {
            self.input(Input::Answer(entry, d));
        }
    }

    /// Our npub.
    pub fn me(&self) -> Npub {
        self.me
    }

    /// A colleague's demo name; "You" for us.
    pub fn name(&self, npub: &Npub) -> Option<&'static str> {
        if *npub == self.me {
            return Some("You");
        }
        let i = self.colleagues.iter().position(|c| c == npub)?;
        Some(COLLEAGUES[i])
    }

    /// The colleagues, in enrolment order.
    pub fn colleagues(&self) -> &[Npub] {
        &self.colleagues
    }

    /// The core (tests read it).
    pub fn core(&self) -> &HotlineCore {
        &self.core
    }

    /// The snapshot and our desk at the core's current time.
    pub fn snapshot(&self) -> (ConsoleView, DeskState) {
        let view = self.core.view(self.now);
        let desk = DeskState::from_core(&self.core, &view, self.me, self.now);
        (view, desk)
    }

    /// Applies any input now (tests script the colleagues and callers with it).
    pub fn apply(&mut self, input: Input) -> Result<(), String> {
        let result = self.core.handle_input(input, self.now);
        self.drain();
        result.map_err(|e| e.to_string())
    }

    /// Whether the simulation answers and ends offers by itself: ours (`me`) and the
    /// colleagues'.
    pub fn set_auto(&mut self, me: bool, colleagues: bool) {
        self.auto_me = me;
        self.auto_colleagues = colleagues;
    }

    /// Caller `n` calls now (`n` picks a made-up key; the same `n`, the same caller).
    /// Returns the call's queue entry.
    pub fn call_in(&mut self, n: u64, priority: i32) -> Option<EntryId> {
        let call = self.arrive(n, priority);
        self.core.entry_for_call(&call)
    }

    /// Caller `n`'s npub (tests look for it on screen).
    pub fn caller_npub(n: u64) -> Npub {
        caller_key(n)
    }

    /// Applies one of our console's actions now.
    pub fn act(&mut self, action: &ConsoleAction) -> Result<(), String> {
        let Some(input) = action.input(self.me) else {
            return Err("The demo hotline keeps no voicemail".into());
        };
        let result = self.core.handle_input(input, self.now);
        self.drain();
        result.map_err(|e| format!("The hotline refused: {e}"))
    }

    /// Runs the world and the core's timers for `by` of virtual time.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        self.run_to(target);
    }

    /// Runs until `done` holds (checked after each step) or `limit` has passed.
    fn advance_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let end = self.now + limit;
        while !done(self) && self.now < end {
            let step = self.now + Duration::from_secs(1);
            self.run_to(step.min(end));
        }
    }

    fn run_to(&mut self, target: Instant) {
        loop {
            let plan = self.plans.peek().map(|Reverse((t, _, _))| *t);
            let timer = self.core.next_deadline();
            let next = [plan, timer].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= target) else {
                break;
            };
            self.now = self.now.max(next);
            if plan == Some(next) {
                if let Some(Reverse((_, _, event))) = self.plans.pop() {
                    self.happen(event);
                }
            } else {
                self.core.handle_timeout(self.now);
                self.drain();
            }
        }
        self.now = self.now.max(target);
    }

    fn happen(&mut self, event: Event) {
        match event {
            Event::Arrival => {
                if !self.arrivals {
                    return;
                }
                let n = self.random(CALLERS);
                let priority = i32::from(self.random(10) == 0);
                if self.random(20) == 0 {
                    self.input(Input::RequestCallback {
                        caller: caller_key(n),
                        priority,
                    });
                } else {
                    self.arrive(n, priority);
                }
                let gap = self.random_around(MEAN_ARRIVAL);
                self.plan_after(gap, Event::Arrival);
            }
            Event::Abandon(call) => {
                if let Some(entry) = self.core.entry_for_call(&call) {
                    if !matches!(
                        self.core.entry_state(entry),
                        Some(EntryState::Assigned { .. })
                    ) {
                        self.input(Input::CallerLeft(entry));
                    }
                }
            }
            Event::React(entry, d, reaction) => {
                let input = match reaction {
                    Reaction::Answer => Input::Answer(entry, d),
                    Reaction::Decline => Input::Decline(entry, d),
                    Reaction::Ignore => return,
                };
                // The offer may have moved on (answered elsewhere, caller gone).
                if self.try_input(input) && reaction == Reaction::Answer {
                    self.plan_call(entry, d);
                }
            }
            Event::Note(entry, d, i) => {
                self.try_input(Input::Note(entry, d, NOTES[i % NOTES.len()].into()));
            }
            Event::Hold(entry, d, on) => {
                self.try_input(Input::Hold(entry, d, on));
            }
            Event::Transfer(entry, from) => {
                let view = self.core.view(self.now);
                let free = view
                    .dispatchers
                    .iter()
                    .find(|x| x.npub != self.me && x.free);
                if let Some(to) = free.map(|x| x.npub) {
                    if self.try_input(Input::TransferTo { entry, from, to }) {
                        self.plans
                            .retain_not(|e| matches!(e, Event::End(x, _) if *x == entry));
                        self.plan_call(entry, to);
                    }
                }
            }
            Event::End(entry, d) => {
                self.try_input(Input::End(entry, d));
            }
        }
    }

    /// What a dispatcher does with a call it took: maybe a note, a hold, a transfer;
    /// then it ends the call.
    fn plan_call(&mut self, entry: EntryId, d: Npub) {
        let handle = Duration::from_secs(60 + self.random(300));
        if self.random(3) == 0 {
            let at = Duration::from_secs(20 + self.random(30));
            let note = self.random(NOTES.len() as u64) as usize;
            self.plan_after(at, Event::Note(entry, d, note));
        }
        if self.random(8) == 0 {
            self.plan_after(handle / 3, Event::Hold(entry, d, true));
            self.plan_after(
                handle / 3 + Duration::from_secs(25),
                Event::Hold(entry, d, false),
            );
        }
        if self.random(15) == 0 {
            self.plan_after(handle / 2, Event::Transfer(entry, d));
        }
        self.plan_after(handle, Event::End(entry, d));
    }

    fn arrive(&mut self, n: u64, priority: i32) -> CallId {
        self.calls += 1;
        if self.arrivals && !self.seen.contains(&n) {
            self.seen.push(n);
        }
        let call = CallId(format!("demo-call-{}", self.calls));
        self.input(Input::Incoming {
            call: call.clone(),
            caller: caller_key(n),
            priority,
        });
        if self.arrivals {
            // Most callers wait a few minutes at most; some give up sooner.
            let patience = Duration::from_secs(30 + self.random(420));
            self.plan_after(patience, Event::Abandon(call.clone()));
        }
        call
    }

    fn input(&mut self, input: Input) {
        // The world's inputs are well formed; one the core refuses changes nothing.
        let _ = self.try_input(input);
    }

    fn try_input(&mut self, input: Input) -> bool {
        let ok = self.core.handle_input(input, self.now).is_ok();
        self.drain();
        ok
    }

    /// Reacts to the core's outputs: simulated dispatchers answer their offers.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            let Output::Offer {
                entry, dispatchers, ..
            } = out
            else {
                continue;
            };
            for d in dispatchers {
                let auto = if d == self.me {
                    self.auto_me
                } else {
                    self.auto_colleagues
                };
                if !auto {
                    continue;
                }
                let reaction = match self.random(25) {
                    0 => Reaction::Decline,
                    1 => Reaction::Ignore,
                    _ => Reaction::Answer,
                };
                let after = Duration::from_secs(2 + self.random(8));
                self.plan_after(after, Event::React(entry, d, reaction));
            }
        }
    }

    fn plan_after(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.plans
            .push(Reverse((self.now + after, self.seq, event)));
    }

    fn dispatchers(&self) -> Vec<Npub> {
        let mut all = self.colleagues.clone();
        all.push(self.me);
        all
    }

    fn call_of(&self, d: Npub) -> Option<EntryId> {
        self.core
            .view(self.now)
            .entries
            .iter()
            .find(|e| e.dispatcher == Some(d))
            .map(|e| e.entry)
    }

    /// xorshift64*: deterministic, so every run of the demo shows the same morning.
    fn random(&mut self, below: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }

    /// Between a fifth and twice `mean`, spread evenly (mean about `mean`).
    fn random_around(&mut self, mean: Duration) -> Duration {
        let ms = mean.as_millis() as u64;
        Duration::from_millis(ms / 5 + self.random(ms * 9 / 5))
    }
}

/// Caller `n`'s key (made-up keys: the core checks the bytes, not the curve).
fn caller_key(n: u64) -> Npub {
    let mut bytes = [0x42; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8] = 0xCA;
    Npub::from_bytes(bytes)
}

/// `retain` with the test inverted, for the plans heap.
trait RetainNot {
    fn retain_not(&mut self, drop: impl Fn(&Event) -> bool);
}

impl RetainNot for BinaryHeap<Reverse<(Instant, u64, Event)>> {
    fn retain_not(&mut self, drop: impl Fn(&Event) -> bool) {
        self.retain(|Reverse((_, _, e))| !drop(e));
    }
}

impl DeskLink for DemoHotline {
    fn send(&mut self, action: &ConsoleAction) -> Result<(), String> {
        self.poll_clock();
        self.last_snapshot = None;
        self.act(action)
    }

    fn poll(&mut self) -> Option<(ConsoleView, DeskState, Instant)> {
        let wall = Instant::now();
        if self
            .last_snapshot
            .is_some_and(|t| wall.saturating_duration_since(t) < SNAPSHOT_EVERY)
        {
            return None;
        }
        self.poll_clock();
        self.last_snapshot = Some(wall);
        let (view, desk) = self.snapshot();
        Some((view, desk, wall))
    }
}

impl DemoHotline {
    /// Brings the core to the wall clock; callers keep coming in the live demo.
    fn poll_clock(&mut self) {
        if !self.arrivals {
            self.arrivals = true;
            self.plan_after(MEAN_ARRIVAL, Event::Arrival);
        }
        let target = Instant::now() + self.ahead;
        if target > self.now {
            self.run_to(target);
        }
    }
}
