//! The sans-IO hotline queue: one [`HotlineCore`] per hotline. Plain synchronous code fed
//! with [`Input`]s and the current time; it queues [`Output`]s and never touches a socket,
//! a clock, a random number generator or a thread. A driver (the relay service) does, and
//! tests drive it with virtual time.
//!
//! # Inputs
//!
//! | input | effect |
//! |---|---|
//! | [`Input::Incoming`] | abuse limits, then a live entry ([`Output::Queued`], [`Output::Position`]); a full queue overflows (callback entry or voicemail), never "busy"; a caller with a waiting callback entry takes its place over |
//! | [`Input::RequestCallback`] | a callback entry, same ordering rules |
//! | [`Input::CallerLeft`] | waiting or ringing: abandoned (offers cancelled), or back to a callback entry when the line had taken one over; assigned: ended, wrap-up |
//! | [`Input::SetPresence`] | available / busy / away; leaving "available" withdraws a ringing offer |
//! | [`Input::Answer`] | ringing at that dispatcher: assigned, [`Output::Transfer`] (live) or [`Output::PlaceCallback`]; others' offers cancelled |
//! | [`Input::Decline`] | the next dispatcher is tried (no miss counted); the decliner gets the next caller, and this one again only after a ring timeout |
//! | [`Input::TransferTo`] | assigned: handed to a free dispatcher ([`Output::Transfer`]); the first one wraps up |
//! | [`Input::Hold`] | on an assigned entry, by its dispatcher |
//! | [`Input::Note`] | on any entry, by any enrolled dispatcher (at most [`MAX_NOTE_CHARS`]) |
//! | [`Input::SetWrapUp`] | a dispatcher's own wrap-up time (at most [`MAX_WRAP_UP`]) |
//! | [`Input::End`] | assigned: ended, the dispatcher wraps up |
//! | [`Input::Block`], [`Input::Unblock`] | operator's block list by opaque caller id |
//!
//! Timers ([`HotlineCore::handle_timeout`]): ring timeouts (a miss; after
//! `away_after_misses` in a row the dispatcher is set away), wrap-up ends, maximum wait
//! (overflow), position updates, the retry after a decline, and pruning of the
//! repeat/rate memory. Every input fires due timers first, then again after the input
//! (which can make one due), then offers waiting entries to free dispatchers.
//!
//! An input that does not fit (unknown dispatcher or entry, wrong state, malformed call
//! id) returns a [`HotlineError`] and changes nothing itself; nothing here panics on
//! outside input.
//!
//! # Persistence
//!
//! [`HotlineCore::take_changes`] hands the changed records to the store after each input
//! (write-through); [`HotlineCore::restore`] rebuilds a core from a [`Snapshot`].

mod desk;
mod dispatch;
mod persist;
mod queue;
mod roster;
mod stats;
mod types;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use desk::{DeskCall, DeskOffer, DeskState};
pub use persist::{
    CallerRecord, ChangeSet, DispatcherRecord, EntryRecord, Snapshot, StoredEntryState,
};
pub use stats::{estimate_wait, HotlineStats};
pub use types::*;
pub use view::{ConsoleView, DispatcherView, EntryView};

use crate::ids::{CallId, CallerId, CallerIdKey, CallerKey, EntryId, Npub};
use queue::{Entry, OrderKey};
use roster::Dispatcher;

/// How often the repeat-caller and rate-limit memory is pruned.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Dirty marks for write-through persistence ([`HotlineCore::take_changes`]).
#[derive(Default)]
struct Dirty {
    entries: BTreeSet<EntryId>,
    removed: BTreeSet<EntryId>,
    dispatchers: BTreeSet<usize>,
    callers: BTreeSet<CallerId>,
    stats: bool,
    meta: bool,
}

/// One hotline's queue, roster and rules, sans IO.
pub struct HotlineCore {
    config: CoreConfig,
    key: CallerIdKey,
    /// `(instant, unix ms)` pairing the caller's clock with wall time, so persisted times
    /// survive a restart (an `Instant` does not).
    epoch: (Instant, u64),
    dispatchers: Vec<Dispatcher>,
    by_npub: HashMap<Npub, usize>,
    entries: BTreeMap<EntryId, Entry>,
    /// Entries not yet assigned, in service order.
    order: BTreeSet<OrderKey>,
    calls: HashMap<CallId, EntryId>,
    next_id: u64,
    rr_last: Option<usize>,
    blocked: BTreeSet<CallerId>,
    last_seen: HashMap<CallerId, Instant>,
    recent: HashMap<CallerId, VecDeque<Instant>>,
    stats: HotlineStats,
    outputs: VecDeque<Output>,
    dirty: Dirty,
    next_sweep: Instant,
}

impl HotlineCore {
    /// A hotline with an empty queue at `now` (`unix_ms` on the wall clock), with these
    /// enrolled dispatchers (in enrolment order; duplicates ignored), all away until they
    /// sign in.
    pub fn new(
        config: CoreConfig,
        dispatchers: &[(Npub, Option<Duration>)],
        key: CallerIdKey,
        now: Instant,
        unix_ms: u64,
    ) -> Self {
        let mut core = Self {
            next_sweep: now + SWEEP_EVERY,
            config,
            key,
            epoch: (now, unix_ms),
            dispatchers: Vec::new(),
            by_npub: HashMap::new(),
            entries: BTreeMap::new(),
            order: BTreeSet::new(),
            calls: HashMap::new(),
            next_id: 1,
            rr_last: None,
            blocked: BTreeSet::new(),
            last_seen: HashMap::new(),
            recent: HashMap::new(),
            stats: HotlineStats::default(),
            outputs: VecDeque::new(),
            dirty: Dirty::default(),
        };
        for (npub, wrap_up) in dispatchers {
            if core.by_npub.contains_key(npub) {
                continue;
            }
            let wrap_up = wrap_up.unwrap_or(core.config.wrap_up);
            core.by_npub.insert(*npub, core.dispatchers.len());
            core.dirty.dispatchers.insert(core.dispatchers.len());
            core.dispatchers.push(Dispatcher::new(*npub, wrap_up));
        }
        core
    }

    /// The rules in force.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &HotlineStats {
        &self.stats
    }

    /// The opaque id this hotline gives `caller`.
    pub fn caller_id(&self, caller: &Npub) -> CallerId {
        self.key.caller_id(caller)
    }

    /// The entry of a live call, if queued or assigned.
    pub fn entry_for_call(&self, call: &CallId) -> Option<EntryId> {
        self.calls.get(call).copied()
    }

    /// Entries not yet assigned, in service order.
    pub fn waiting(&self) -> Vec<EntryId> {
        self.order.iter().map(|k| k.id).collect()
    }

    /// How many entries are not yet assigned.
    pub fn waiting_len(&self) -> usize {
        self.order.len()
    }

    /// An entry's state.
    pub fn entry_state(&self, entry: EntryId) -> Option<&EntryState> {
        self.entries.get(&entry).map(|e| &e.state)
    }

    /// An entry's kind.
    pub fn entry_kind(&self, entry: EntryId) -> Option<EntryKind> {
        self.entries.get(&entry).map(|e| e.kind)
    }

    /// A dispatcher's presence.
    pub fn presence(&self, dispatcher: &Npub) -> Option<Presence> {
        self.by_npub
            .get(dispatcher)
            .map(|&i| self.dispatchers[i].presence)
    }

    /// The caller's key of `entry`, for the driver that must address them (re-ring after
    /// a restart, a callback). Never for a screen.
    pub fn caller_of(&self, entry: EntryId) -> Option<CallerKey> {
        self.entries.get(&entry).map(|e| e.caller)
    }

    /// When a dispatcher's wrap-up ends, while it wraps up (the console's countdown).
    pub fn wrap_up_until(&self, dispatcher: &Npub) -> Option<Instant> {
        self.by_npub
            .get(dispatcher)
            .and_then(|&i| self.dispatchers[i].wrap_up_until)
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Takes one input at `now`. Due timers fire first.
    pub fn handle_input(&mut self, input: Input, now: Instant) -> Result<(), HotlineError> {
        self.fire_timers(now);
        let result = match input {
            Input::Incoming {
                call,
                caller,
                priority,
            } => self.incoming(Some(call), caller, None, priority, now),
            Input::IncomingFromPhone {
                call,
                gateway,
                phone,
                priority,
            } => self.incoming(Some(call), gateway, Some(phone), priority, now),
            Input::RequestCallback { caller, priority } => {
                self.incoming(None, caller, None, priority, now)
            }
            Input::CallerLeft(entry) => self.caller_left(entry, now),
            Input::SetPresence(d, presence) => self.set_presence(&d, presence),
            Input::SetWrapUp(d, wrap_up) => self.set_wrap_up(&d, wrap_up),
            Input::Answer(entry, d) => self.answer(entry, &d, now),
            Input::Decline(entry, d) => self.decline(entry, &d, now),
            Input::TransferTo { entry, from, to } => self.transfer(entry, &from, &to, now),
            Input::Hold(entry, d, on) => self.hold(entry, &d, on),
            Input::Note(entry, d, text) => self.note(entry, &d, text),
            Input::End(entry, d) => self.end(entry, Some(&d), now),
            Input::Block(id) => {
                self.block(id);
                Ok(())
            }
            Input::Unblock(id) => {
                self.blocked.remove(&id);
                self.dirty.callers.insert(id);
                Ok(())
            }
        };
        // The input can make a timer due at once (an entry back to waiting whose position
        // update fell due while it rang): fire those too, so no deadline is in the past.
        self.fire_timers(now);
        // Also after an error: timers may have fired. With nothing due this is a no-op,
        // since no waiting entry is left next to a free dispatcher.
        self.dispatch(now);
        result
    }

    /// When [`HotlineCore::handle_timeout`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if !self.last_seen.is_empty() || !self.recent.is_empty() {
            at(self.next_sweep);
        }
        for d in &self.dispatchers {
            if let Some(until) = d.wrap_up_until {
                at(until);
            }
        }
        for e in self.entries.values() {
            match &e.state {
                EntryState::Ringing { until, .. } => at(*until),
                EntryState::Waiting => {
                    if let Some(retry) = e.retry_at {
                        at(retry);
                    }
                    if e.kind == EntryKind::Live {
                        at(e.next_position_at);
                        if let Some(max) = self.config.max_wait {
                            at(e.line_since + max);
                        }
                    }
                }
                _ => {}
            }
        }
        next
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_timers(now);
        self.dispatch(now);
    }

    fn fire_timers(&mut self, now: Instant) {
        // A passed retry time only allows a new round; cleared so it is no deadline.
        for e in self.entries.values_mut() {
            if e.retry_at.is_some_and(|t| t <= now) {
                e.retry_at = None;
            }
        }
        self.ring_timeouts(now);
        self.wrap_up_ends(now);
        self.max_wait(now);
        self.position_updates(now);
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now + SWEEP_EVERY;
        }
    }

    fn sweep(&mut self, now: Instant) {
        let window = self.config.repeat_window;
        let expired: Vec<CallerId> = self
            .last_seen
            .iter()
            .filter(|(_, &t)| now.saturating_duration_since(t) > window)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.last_seen.remove(&id);
            self.dirty.callers.insert(id);
        }
        let rate = self.config.abuse.rate_window;
        self.recent.retain(|_, times| {
            times.retain(|&t| now.saturating_duration_since(t) < rate);
            !times.is_empty()
        });
    }

    fn unix_ms(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.epoch.0) {
            Some(after) => self.epoch.1.saturating_add(stats::millis(after)),
            None => self
                .epoch
                .1
                .saturating_sub(stats::millis(self.epoch.0 - at)),
        }
    }

    fn instant_at(&self, unix_ms: u64) -> Instant {
        if unix_ms >= self.epoch.1 {
            self.epoch.0 + Duration::from_millis(unix_ms - self.epoch.1)
        } else {
            // A time before the process's clock can express is clamped to its start.
            let back = Duration::from_millis(self.epoch.1 - unix_ms);
            self.epoch.0.checked_sub(back).unwrap_or(self.epoch.0)
        }
    }

    fn dispatcher_index(&self, d: &Npub) -> Result<usize, HotlineError> {
        self.by_npub
            .get(d)
            .copied()
            .ok_or(HotlineError::UnknownDispatcher)
    }

    fn emit(&mut self, output: Output) {
        self.outputs.push_back(output);
    }
}
