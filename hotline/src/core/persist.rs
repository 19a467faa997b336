//! What the store keeps: plain records with wall-clock times (an `Instant` does not survive
//! a restart), the changes since the last write, and rebuilding a core from a snapshot.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::queue::Entry;
use super::roster::Dispatcher;
use super::{
    CoreConfig, Dirty, EntryKind, EntryState, HotlineCore, HotlineStats, Output, Presence,
    RestoreAction,
};
use crate::ids::{CallId, CallerId, CallerIdKey, CallerKey, EntryId, Npub};

/// Where a stored entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredEntryState {
    /// Waiting.
    Waiting,
    /// Ringing at dispatchers (goes back to waiting on restore).
    Ringing,
    /// Assigned to `dispatcher`.
    Assigned,
}

/// One queue entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// Entry id.
    pub id: EntryId,
    /// The live call's id.
    pub call: Option<CallId>,
    /// The caller's key (needed to re-ring or call back).
    pub caller: CallerKey,
    /// The opaque caller id.
    pub caller_id: CallerId,
    /// Priority.
    pub priority: i32,
    /// Live or callback.
    pub kind: EntryKind,
    /// When it was queued (unix ms).
    pub enqueued_ms: u64,
    /// When the current live line began (unix ms).
    pub line_since_ms: u64,
    /// Where it was.
    pub state: StoredEntryState,
    /// Its dispatcher when assigned.
    pub dispatcher: Option<Npub>,
    /// When it was answered (unix ms).
    pub answered_ms: Option<u64>,
    /// When the current dispatcher took it (unix ms).
    pub assigned_ms: Option<u64>,
    /// On hold.
    pub on_hold: bool,
    /// The note.
    pub note: Option<String>,
    /// Repeat-caller flag.
    pub repeat: bool,
}

/// One dispatcher as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherRecord {
    /// The enrolled npub.
    pub npub: Npub,
    /// Presence.
    pub presence: Presence,
    /// Own wrap-up time.
    pub wrap_up: Duration,
    /// When wrap-up ends (unix ms).
    pub wrap_up_until_ms: Option<u64>,
    /// When the last call ended (unix ms).
    pub last_end_ms: Option<u64>,
    /// Calls taken on `day`.
    pub taken_today: u32,
    /// UTC day number of `taken_today`.
    pub day: u64,
    /// Calls taken in total.
    pub taken_total: u64,
    /// Offers not answered in time.
    pub missed: u64,
    /// Offers declined.
    pub declined: u64,
    /// Misses in a row.
    pub miss_streak: u32,
}

/// What the hotline remembers about a caller id (never the npub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerRecord {
    /// The opaque id.
    pub caller_id: CallerId,
    /// Last seen (unix ms), for the repeat-caller flag; `None` once forgotten.
    pub last_seen_ms: Option<u64>,
    /// On the block list.
    pub blocked: bool,
}

/// Everything needed to rebuild a core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Queue entries, any order.
    pub entries: Vec<EntryRecord>,
    /// Dispatchers.
    pub dispatchers: Vec<DispatcherRecord>,
    /// Caller ids remembered.
    pub callers: Vec<CallerRecord>,
    /// Counters.
    pub stats: HotlineStats,
    /// The next entry id.
    pub next_entry_id: u64,
    /// The dispatcher round-robin offered last.
    pub rr_last: Option<Npub>,
}

/// The changes since the last [`HotlineCore::take_changes`], for write-through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// New or changed entries.
    pub entries: Vec<EntryRecord>,
    /// Entries gone.
    pub removed: Vec<EntryId>,
    /// Changed dispatchers.
    pub dispatchers: Vec<DispatcherRecord>,
    /// Changed caller records.
    pub callers: Vec<CallerRecord>,
    /// The counters, when they changed.
    pub stats: Option<HotlineStats>,
    /// `(next_entry_id, rr_last)`, when they changed.
    pub meta: Option<(u64, Option<Npub>)>,
}

impl ChangeSet {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.removed.is_empty()
            && self.dispatchers.is_empty()
            && self.callers.is_empty()
            && self.stats.is_none()
            && self.meta.is_none()
    }
}

impl HotlineCore {
    /// The changes since the last call, to be written through to the store.
    pub fn take_changes(&mut self) -> ChangeSet {
        let dirty = std::mem::take(&mut self.dirty);
        ChangeSet {
            entries: dirty
                .entries
                .iter()
                .filter_map(|id| self.entries.get(id))
                .map(|e| self.entry_record(e))
                .collect(),
            removed: dirty.removed.into_iter().collect(),
            dispatchers: dirty
                .dispatchers
                .iter()
                .filter_map(|&i| self.dispatchers.get(i))
                .map(|d| self.dispatcher_record(d))
                .collect(),
            callers: dirty
                .callers
                .iter()
                .map(|id| self.caller_record(*id))
                .collect(),
            stats: dirty.stats.then(|| self.stats.clone()),
            meta: dirty.meta.then(|| self.meta()),
        }
    }

    /// Everything, as the store would hold it.
    pub fn snapshot(&self) -> Snapshot {
        let ids: BTreeSet<CallerId> = self
            .last_seen
            .keys()
            .chain(self.blocked.iter())
            .copied()
            .collect();
        let (next_entry_id, rr_last) = self.meta();
        Snapshot {
            entries: self
                .entries
                .values()
                .map(|e| self.entry_record(e))
                .collect(),
            dispatchers: self
                .dispatchers
                .iter()
                .map(|d| self.dispatcher_record(d))
                .collect(),
            callers: ids.into_iter().map(|id| self.caller_record(id)).collect(),
            stats: self.stats.clone(),
            next_entry_id,
            rr_last,
        }
    }

    fn meta(&self) -> (u64, Option<Npub>) {
        (self.next_id, self.rr_last.map(|i| self.dispatchers[i].npub))
    }

    fn entry_record(&self, e: &Entry) -> EntryRecord {
        let (state, dispatcher, assigned_ms, on_hold) = match &e.state {
            EntryState::Waiting => (StoredEntryState::Waiting, None, None, false),
            EntryState::Ringing { .. } => (StoredEntryState::Ringing, None, None, false),
            EntryState::Assigned {
                dispatcher,
                since,
                on_hold,
            } => (
                StoredEntryState::Assigned,
                Some(*dispatcher),
                Some(self.unix_ms(*since)),
                *on_hold,
            ),
        };
        EntryRecord {
            id: e.id,
            call: e.call.clone(),
            caller: e.caller,
            caller_id: e.caller_id,
            priority: e.priority,
            kind: e.kind,
            enqueued_ms: self.unix_ms(e.enqueued_at),
            line_since_ms: self.unix_ms(e.line_since),
            state,
            dispatcher,
            answered_ms: e.answered_at.map(|t| self.unix_ms(t)),
            assigned_ms,
            on_hold,
            note: e.note.clone(),
            repeat: e.repeat,
        }
    }

    fn dispatcher_record(&self, d: &Dispatcher) -> DispatcherRecord {
        DispatcherRecord {
            npub: d.npub,
            presence: d.presence,
            wrap_up: d.wrap_up,
            wrap_up_until_ms: d.wrap_up_until.map(|t| self.unix_ms(t)),
            last_end_ms: d.last_end.map(|t| self.unix_ms(t)),
            taken_today: d.taken_today,
            day: d.day,
            taken_total: d.taken_total,
            missed: d.missed,
            declined: d.declined,
            miss_streak: d.miss_streak,
        }
    }

    fn caller_record(&self, id: CallerId) -> CallerRecord {
        CallerRecord {
            caller_id: id,
            last_seen_ms: self.last_seen.get(&id).map(|t| self.unix_ms(*t)),
            blocked: self.blocked.contains(&id),
        }
    }

    /// A core rebuilt from `snapshot` at `now` (`unix_ms`): the same queue order,
    /// priorities and wait times. Entries that were ringing wait again; every waiting
    /// entry gets an [`Output::Restored`] (re-ring the live caller, or call back later).
    /// Dispatchers are the enrolled ones (`dispatchers`); stored state for others is
    /// ignored and their assigned entries end. Offers to free dispatchers follow at once.
    pub fn restore(
        config: CoreConfig,
        dispatchers: &[(Npub, Option<Duration>)],
        key: CallerIdKey,
        snapshot: Snapshot,
        now: Instant,
        unix_ms: u64,
    ) -> Self {
        let mut core = Self::new(config, dispatchers, key, now, unix_ms);
        core.dirty = Dirty::default();
        for rec in &snapshot.dispatchers {
            let Some(&i) = core.by_npub.get(&rec.npub) else {
                continue;
            };
            let wrap_up_until = rec.wrap_up_until_ms.map(|ms| core.instant_at(ms));
            let last_end = rec.last_end_ms.map(|ms| core.instant_at(ms));
            let d = &mut core.dispatchers[i];
            d.presence = rec.presence;
            d.wrap_up = rec.wrap_up;
            d.wrap_up_until = wrap_up_until;
            d.last_end = last_end;
            d.taken_today = rec.taken_today;
            d.day = rec.day;
            d.taken_total = rec.taken_total;
            d.missed = rec.missed;
            d.declined = rec.declined;
            d.miss_streak = rec.miss_streak;
        }
        core.stats = snapshot.stats;
        core.next_id = snapshot.next_entry_id.max(1);
        core.rr_last = snapshot
            .rr_last
            .and_then(|npub| core.by_npub.get(&npub).copied());
        for rec in snapshot.callers {
            if let Some(ms) = rec.last_seen_ms {
                core.last_seen.insert(rec.caller_id, core.instant_at(ms));
            }
            if rec.blocked {
                core.blocked.insert(rec.caller_id);
            }
        }
        let mut entries = snapshot.entries;
        entries.sort_by_key(|r| r.id);
        let mut phone_callers_gone = Vec::new();
        for rec in entries {
            core.next_id = core.next_id.max(rec.id.0 + 1);
            phone_callers_gone.extend(core.restore_entry(rec, now));
        }
        // A phone caller's SIP call ended with the waiting line: the gateway cannot be
        // rung back for them, so their entry is abandoned, not left to a dispatcher.
        for id in phone_callers_gone {
            let _ = core.caller_left(id, now);
        }
        // Dispatchers busy with no call left (their entry ended while we were down, or
        // the entry was lost) are freed; the others stay busy with their call.
        for i in 0..core.dispatchers.len() {
            let d = &mut core.dispatchers[i];
            if d.presence == Presence::Busy && d.on_call.is_none() {
                d.presence = Presence::Available;
                core.dirty.dispatchers.insert(i);
            }
        }
        core.dispatch(now);
        core
    }

    /// Restores one entry; the waiting live entry of a phone gateway's caller is
    /// returned (not re-rung) for the caller to be taken as gone.
    fn restore_entry(&mut self, rec: EntryRecord, now: Instant) -> Option<EntryId> {
        let interval = self.config.position_interval;
        let assigned_to = match (rec.state, rec.dispatcher) {
            (StoredEntryState::Assigned, Some(d)) => match self.by_npub.get(&d) {
                Some(&i) => Some(i),
                // Assigned to someone no longer enrolled: the call goes on between caller
                // and that client, but the hotline forgets it.
                None => {
                    self.dirty.removed.insert(rec.id);
                    return None;
                }
            },
            _ => None,
        };
        let state = match assigned_to {
            Some(i) => {
                self.dispatchers[i].on_call = Some(rec.id);
                self.dispatchers[i].presence = Presence::Busy;
                EntryState::Assigned {
                    dispatcher: self.dispatchers[i].npub,
                    since: self.instant_at(rec.assigned_ms.unwrap_or(rec.enqueued_ms)),
                    on_hold: rec.on_hold,
                }
            }
            None => EntryState::Waiting,
        };
        let entry = Entry {
            id: rec.id,
            call: rec.call,
            caller: rec.caller,
            caller_id: rec.caller_id,
            priority: rec.priority,
            kind: rec.kind,
            enqueued_at: self.instant_at(rec.enqueued_ms),
            line_since: self.instant_at(rec.line_since_ms),
            state,
            answered_at: rec.answered_ms.map(|ms| self.instant_at(ms)),
            note: rec.note,
            repeat: rec.repeat,
            tried: BTreeSet::new(),
            retry_at: None,
            next_position_at: now + interval,
        };
        let waiting = entry.state == EntryState::Waiting;
        if waiting {
            self.order.insert(entry.key());
        }
        if let Some(call) = &entry.call {
            self.calls.insert(call.clone(), entry.id);
        }
        if rec.state == StoredEntryState::Ringing {
            self.dirty.entries.insert(entry.id);
        }
        let (id, kind) = (entry.id, entry.kind);
        let phone = self.config.phone_gateways.contains(&entry.caller.npub());
        self.entries.insert(id, entry);
        if waiting {
            let action = match kind {
                EntryKind::Live if phone => return Some(id),
                EntryKind::Live => RestoreAction::ReRingCaller,
                EntryKind::Callback => RestoreAction::CallBackLater,
            };
            self.emit(Output::Restored { entry: id, action });
        }
        None
    }
}
