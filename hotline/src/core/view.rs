//! The console's and the operator's view: the queue and the roster as dispatchers see
//! them. Caller npubs appear only when the operator allowed it (`show_caller_npub`).

use std::time::{Duration, Instant};

use super::{EntryKind, EntryState, HotlineCore, HotlineStats, Presence};
use crate::ids::{EntryId, Npub};

/// One entry on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    /// The entry.
    pub entry: EntryId,
    /// The opaque caller id, short form.
    pub caller: String,
    /// The caller's npub, only when the operator allows dispatchers to see it.
    pub caller_npub: Option<String>,
    /// 1-based place (`None` once assigned).
    pub position: Option<usize>,
    /// Time since queued.
    pub waited: Duration,
    /// Priority.
    pub priority: i32,
    /// Live or callback.
    pub kind: EntryKind,
    /// "waiting", "ringing", "assigned" or "on hold".
    pub state: &'static str,
    /// The dispatcher handling it.
    pub dispatcher: Option<Npub>,
    /// Seen within the repeat window.
    pub repeat: bool,
    /// The note.
    pub note: Option<String>,
}

/// One dispatcher on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherView {
    /// The dispatcher.
    pub npub: Npub,
    /// Presence.
    pub presence: Presence,
    /// Can be offered or transferred a call now: available, not ringing, not on a call
    /// (an available dispatcher is often ringing while callers wait).
    pub free: bool,
    /// Calls taken today.
    pub taken_today: u32,
    /// Calls taken in total.
    pub taken_total: u64,
    /// Offers not answered in time.
    pub missed: u64,
    /// Offers declined.
    pub declined: u64,
}

/// The queue, the roster and the counters at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleView {
    /// Unassigned entries in service order, then assigned ones.
    pub entries: Vec<EntryView>,
    /// Dispatchers in enrolment order.
    pub dispatchers: Vec<DispatcherView>,
    /// Counters.
    pub stats: HotlineStats,
    /// Share answered within the threshold.
    pub service_level: Option<f64>,
    /// The threshold.
    pub service_level_threshold: Duration,
}

impl HotlineCore {
    /// What the dispatcher console and the operator's statistics screen show at `now`.
    pub fn view(&self, now: Instant) -> ConsoleView {
        let waiting = self.order.iter().map(|k| k.id);
        let assigned = self
            .entries
            .values()
            .filter(|e| matches!(e.state, EntryState::Assigned { .. }))
            .map(|e| e.id);
        let entries = waiting
            .chain(assigned)
            .enumerate()
            .filter_map(|(index, id)| {
                let e = self.entries.get(&id)?;
                let (state, dispatcher, position) = match &e.state {
                    EntryState::Waiting => ("waiting", None, Some(index + 1)),
                    EntryState::Ringing { .. } => ("ringing", None, Some(index + 1)),
                    EntryState::Assigned {
                        dispatcher,
                        on_hold,
                        ..
                    } => (
                        if *on_hold { "on hold" } else { "assigned" },
                        Some(*dispatcher),
                        None,
                    ),
                };
                Some(EntryView {
                    entry: id,
                    caller: e.caller_id.short(),
                    caller_npub: self
                        .config
                        .show_caller_npub
                        .then(|| e.caller.npub().to_bech32()),
                    position,
                    waited: now.saturating_duration_since(e.enqueued_at),
                    priority: e.priority,
                    kind: e.kind,
                    state,
                    dispatcher,
                    repeat: e.repeat,
                    note: e.note.clone(),
                })
            })
            .collect();
        let today = self.today(now);
        let dispatchers = self
            .dispatchers
            .iter()
            .map(|d| DispatcherView {
                npub: d.npub,
                presence: d.presence,
                free: d.is_free(),
                taken_today: d.taken_on(today),
                taken_total: d.taken_total,
                missed: d.missed,
                declined: d.declined,
            })
            .collect();
        ConsoleView {
            entries,
            dispatchers,
            stats: self.stats.clone(),
            service_level: self.stats.service_level(),
            service_level_threshold: self.config.service_level,
        }
    }
}
