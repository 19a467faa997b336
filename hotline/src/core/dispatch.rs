//! Offering waiting entries to free dispatchers by strategy, and position updates.

use std::time::{Duration, Instant};

use super::{EntryKind, EntryState, HotlineCore, Output, Presence, Strategy};
use crate::ids::{EntryId, Npub};

impl HotlineCore {
    /// Offers waiting entries, in service order, to free dispatchers until either runs out.
    /// Each free dispatcher rings for at most one entry at a time.
    pub(super) fn dispatch(&mut self, now: Instant) {
        // Most inputs find every dispatcher busy: skip the queue walk then.
        if !self.dispatchers.iter().any(|d| d.is_free()) {
            return;
        }
        let waiting: Vec<EntryId> = self
            .order
            .iter()
            .map(|k| k.id)
            .filter(|id| {
                self.entries
                    .get(id)
                    .is_some_and(|e| e.state == EntryState::Waiting)
            })
            .collect();
        for id in waiting {
            let free: Vec<usize> = (0..self.dispatchers.len())
                .filter(|&i| self.dispatchers[i].is_free())
                .collect();
            if free.is_empty() {
                break;
            }
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let mut candidates: Vec<usize> = free
                .iter()
                .copied()
                .filter(|&i| !entry.tried.contains(&self.dispatchers[i].npub))
                .collect();
            if candidates.is_empty() {
                if entry.retry_at.is_some_and(|t| t > now) {
                    // Declined by everyone free: later entries may take them meanwhile.
                    continue;
                }
                // Every free dispatcher was tried: a new round (app_queue's retry).
                entry.tried.clear();
                entry.retry_at = None;
                candidates = free;
            }
            let chosen = self.choose(&candidates, now);
            if chosen.is_empty() {
                continue;
            }
            let until = now + self.config.ring_timeout;
            let npubs: Vec<Npub> = chosen.iter().map(|&i| self.dispatchers[i].npub).collect();
            for &i in &chosen {
                self.dispatchers[i].ringing = Some(id);
            }
            if self.config.strategy == Strategy::RoundRobin {
                self.rr_last = chosen.last().copied();
                self.dirty.meta = true;
            }
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            entry.state = EntryState::Ringing {
                dispatchers: npubs.clone(),
                until,
            };
            let kind = entry.kind;
            self.dirty.entries.insert(id);
            self.emit(Output::Offer {
                entry: id,
                kind,
                dispatchers: npubs,
                until,
            });
        }
    }

    /// Picks among free `candidates` (indices in enrolment order, non-empty).
    fn choose(&self, candidates: &[usize], now: Instant) -> Vec<usize> {
        let d = &self.dispatchers;
        let today = self.today(now);
        // `None` (never had a call) sorts first: idle since sign-in counts as longest.
        let idle_key = |i: usize| (d[i].last_end, i);
        match self.config.strategy {
            Strategy::RingAll => candidates.to_vec(),
            Strategy::LongestIdle => candidates
                .iter()
                .copied()
                .min_by_key(|&i| idle_key(i))
                .into_iter()
                .collect(),
            Strategy::FewestCalls => candidates
                .iter()
                .copied()
                .min_by_key(|&i| (d[i].taken_on(today), idle_key(i)))
                .into_iter()
                .collect(),
            Strategy::RoundRobin => {
                let start = self.rr_last.map_or(0, |last| last + 1);
                (0..d.len())
                    .map(|k| (start + k) % d.len())
                    .find(|i| candidates.contains(i))
                    .into_iter()
                    .collect()
            }
        }
    }

    pub(super) fn emit_position(&mut self, id: EntryId, position: usize) {
        let estimate = self.estimate(position);
        self.emit(Output::Position {
            entry: id,
            position,
            estimate,
        });
    }

    /// See [`super::estimate_wait`] for the formula.
    pub(super) fn estimate(&self, position: usize) -> Option<Duration> {
        let staffed = self
            .dispatchers
            .iter()
            .filter(|d| d.presence != Presence::Away)
            .count();
        let free = self.dispatchers.iter().filter(|d| d.is_free()).count();
        let handle = self.stats.rolling_handle(self.config.handle_time_prior);
        super::estimate_wait(position, staffed, free, handle)
    }

    /// Position updates for waiting live callers whose interval has passed.
    pub(super) fn position_updates(&mut self, now: Instant) {
        let interval = self.config.position_interval;
        let mut due = Vec::new();
        for (index, key) in self.order.iter().enumerate() {
            let Some(e) = self.entries.get(&key.id) else {
                continue;
            };
            if e.kind == EntryKind::Live
                && e.state == EntryState::Waiting
                && e.next_position_at <= now
            {
                due.push((key.id, index + 1));
            }
        }
        for (id, position) in due {
            if let Some(e) = self.entries.get_mut(&id) {
                e.next_position_at = now + interval;
            }
            self.emit_position(id, position);
        }
    }
}
