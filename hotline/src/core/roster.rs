//! Dispatchers: presence, answering, transfer, hold, notes, ending with wrap-up.

use std::time::{Duration, Instant};

use super::{
    CancelReason, EndReason, EntryKind, EntryState, HotlineCore, HotlineError, Output, Presence,
    MAX_NOTE_CHARS, MAX_WRAP_UP,
};
use crate::ids::{EntryId, Npub};

/// Milliseconds in a UTC day ("calls taken today" resets at UTC midnight).
const DAY_MS: u64 = 86_400_000;

pub(crate) struct Dispatcher {
    pub npub: Npub,
    pub presence: Presence,
    pub wrap_up: Duration,
    pub wrap_up_until: Option<Instant>,
    pub last_end: Option<Instant>,
    pub taken_today: u32,
    /// The UTC day `taken_today` counts.
    pub day: u64,
    pub taken_total: u64,
    pub missed: u64,
    pub declined: u64,
    pub miss_streak: u32,
    /// The entry ringing at this dispatcher (at most one at a time).
    pub ringing: Option<EntryId>,
    /// The entry this dispatcher handles.
    pub on_call: Option<EntryId>,
}

impl Dispatcher {
    pub fn new(npub: Npub, wrap_up: Duration) -> Self {
        Self {
            npub,
            presence: Presence::Away,
            wrap_up,
            wrap_up_until: None,
            last_end: None,
            taken_today: 0,
            day: 0,
            taken_total: 0,
            missed: 0,
            declined: 0,
            miss_streak: 0,
            ringing: None,
            on_call: None,
        }
    }

    /// Calls taken on UTC day `today` (the counter is reset lazily, on the next call).
    pub fn taken_on(&self, today: u64) -> u32 {
        if self.day == today {
            self.taken_today
        } else {
            0
        }
    }

    /// Can be offered a call now.
    pub fn is_free(&self) -> bool {
        self.presence == Presence::Available && self.ringing.is_none() && self.on_call.is_none()
    }
}

impl HotlineCore {
    pub(super) fn today(&self, now: Instant) -> u64 {
        self.unix_ms(now) / DAY_MS
    }

    pub(super) fn set_presence(
        &mut self,
        d: &Npub,
        presence: Presence,
    ) -> Result<(), HotlineError> {
        let i = self.dispatcher_index(d)?;
        if presence == Presence::WrapUp {
            return Err(HotlineError::WrapUpIsAutomatic);
        }
        if self.dispatchers[i].on_call.is_some() && presence != Presence::Busy {
            return Err(HotlineError::OnCall);
        }
        if presence != Presence::Available {
            if let Some(entry) = self.dispatchers[i].ringing {
                self.drop_ringer(entry, i, CancelReason::Withdrawn);
            }
        }
        let disp = &mut self.dispatchers[i];
        disp.presence = presence;
        // Saying "available" ends wrap-up early: the dispatcher's own call.
        disp.wrap_up_until = None;
        if presence == Presence::Available {
            disp.miss_streak = 0;
        }
        self.dirty.dispatchers.insert(i);
        Ok(())
    }

    pub(super) fn set_wrap_up(&mut self, d: &Npub, wrap_up: Duration) -> Result<(), HotlineError> {
        let i = self.dispatcher_index(d)?;
        if wrap_up > MAX_WRAP_UP {
            return Err(HotlineError::WrapUpTooLong);
        }
        self.dispatchers[i].wrap_up = wrap_up;
        self.dirty.dispatchers.insert(i);
        Ok(())
    }

    /// Removes dispatcher `i` from the ringing set of `entry` (no miss counted).
    fn drop_ringer(&mut self, entry: EntryId, i: usize, reason: CancelReason) {
        let npub = self.dispatchers[i].npub;
        self.dispatchers[i].ringing = None;
        if let Some(e) = self.entries.get_mut(&entry) {
            if let EntryState::Ringing { dispatchers, .. } = &mut e.state {
                dispatchers.retain(|x| *x != npub);
                if dispatchers.is_empty() {
                    e.state = EntryState::Waiting;
                }
            }
            e.tried.insert(npub);
            self.dirty.entries.insert(entry);
        }
        self.emit(Output::CancelOffer {
            entry,
            dispatcher: npub,
            reason,
        });
    }

    fn ringing_at(&self, entry: EntryId, d: &Npub) -> Result<usize, HotlineError> {
        let i = self.dispatcher_index(d)?;
        let e = self
            .entries
            .get(&entry)
            .ok_or(HotlineError::UnknownEntry(entry))?;
        match &e.state {
            EntryState::Ringing { dispatchers, .. } if dispatchers.contains(d) => Ok(i),
            _ => Err(HotlineError::NotOffered),
        }
    }

    fn assigned_to(&self, entry: EntryId, d: &Npub) -> Result<usize, HotlineError> {
        let i = self.dispatcher_index(d)?;
        let e = self
            .entries
            .get(&entry)
            .ok_or(HotlineError::UnknownEntry(entry))?;
        match &e.state {
            EntryState::Assigned { dispatcher, .. } if dispatcher == d => Ok(i),
            _ => Err(HotlineError::NotAssigned),
        }
    }

    pub(super) fn answer(
        &mut self,
        entry: EntryId,
        d: &Npub,
        now: Instant,
    ) -> Result<(), HotlineError> {
        let i = self.ringing_at(entry, d)?;
        let Some(e) = self.entries.get_mut(&entry) else {
            return Err(HotlineError::UnknownEntry(entry));
        };
        let key = e.key();
        let EntryState::Ringing { dispatchers, .. } = std::mem::replace(
            &mut e.state,
            EntryState::Assigned {
                dispatcher: *d,
                since: now,
                on_hold: false,
            },
        ) else {
            return Err(HotlineError::NotOffered);
        };
        e.answered_at = Some(now);
        e.tried.clear();
        let (kind, call, caller) = (e.kind, e.call.clone(), e.caller);
        let wait = now.saturating_duration_since(e.enqueued_at);
        self.order.remove(&key);
        self.dirty.entries.insert(entry);
        for other in dispatchers.into_iter().filter(|x| x != d) {
            if let Some(&j) = self.by_npub.get(&other) {
                self.dispatchers[j].ringing = None;
            }
            self.emit(Output::CancelOffer {
                entry,
                dispatcher: other,
                reason: CancelReason::AnsweredElsewhere,
            });
        }
        self.take_call(i, entry, now);
        match kind {
            EntryKind::Live => {
                self.stats.record_answer(wait, self.config.service_level);
                self.emit(Output::Transfer {
                    entry,
                    call,
                    caller,
                    dispatcher: *d,
                });
            }
            EntryKind::Callback => {
                self.stats.callbacks_placed += 1;
                self.emit(Output::PlaceCallback {
                    entry,
                    caller,
                    dispatcher: *d,
                });
            }
        }
        self.dirty.stats = true;
        Ok(())
    }

    /// Dispatcher `i` starts handling `entry`.
    fn take_call(&mut self, i: usize, entry: EntryId, now: Instant) {
        let today = self.today(now);
        let disp = &mut self.dispatchers[i];
        disp.ringing = None;
        disp.on_call = Some(entry);
        disp.presence = Presence::Busy;
        disp.miss_streak = 0;
        if disp.day != today {
            disp.day = today;
            disp.taken_today = 0;
        }
        disp.taken_today += 1;
        disp.taken_total += 1;
        self.dirty.dispatchers.insert(i);
        let npub = disp.npub;
        self.emit(Output::PresenceChanged {
            dispatcher: npub,
            presence: Presence::Busy,
        });
    }

    /// Dispatcher `i` is done with its call: wrap-up (or available with no wrap-up).
    fn release(&mut self, i: usize, now: Instant) {
        let disp = &mut self.dispatchers[i];
        disp.on_call = None;
        disp.last_end = Some(now);
        if disp.wrap_up.is_zero() {
            disp.presence = Presence::Available;
            disp.wrap_up_until = None;
        } else {
            disp.presence = Presence::WrapUp;
            disp.wrap_up_until = Some(now + disp.wrap_up);
        }
        let (npub, presence) = (disp.npub, disp.presence);
        self.dirty.dispatchers.insert(i);
        self.emit(Output::PresenceChanged {
            dispatcher: npub,
            presence,
        });
    }

    pub(super) fn wrap_up_ends(&mut self, now: Instant) {
        for i in 0..self.dispatchers.len() {
            let disp = &mut self.dispatchers[i];
            if disp.presence == Presence::WrapUp && disp.wrap_up_until.is_some_and(|t| t <= now) {
                disp.presence = Presence::Available;
                disp.wrap_up_until = None;
                let npub = disp.npub;
                self.dirty.dispatchers.insert(i);
                self.emit(Output::PresenceChanged {
                    dispatcher: npub,
                    presence: Presence::Available,
                });
            }
        }
    }

    pub(super) fn decline(
        &mut self,
        entry: EntryId,
        d: &Npub,
        now: Instant,
    ) -> Result<(), HotlineError> {
        let i = self.ringing_at(entry, d)?;
        self.dispatchers[i].declined += 1;
        self.dirty.dispatchers.insert(i);
        let npub = self.dispatchers[i].npub;
        self.dispatchers[i].ringing = None;
        if let Some(e) = self.entries.get_mut(&entry) {
            if let EntryState::Ringing { dispatchers, .. } = &mut e.state {
                dispatchers.retain(|x| *x != npub);
                if dispatchers.is_empty() {
                    e.state = EntryState::Waiting;
                }
            }
            e.tried.insert(npub);
            e.retry_at = Some(now + self.config.ring_timeout);
            self.dirty.entries.insert(entry);
        }
        Ok(())
    }

    /// Ring timeouts: every dispatcher rung counts a miss; the entry waits again and the
    /// next dispatcher is tried by [`HotlineCore::dispatch`].
    pub(super) fn ring_timeouts(&mut self, now: Instant) {
        let due: Vec<EntryId> = self
            .entries
            .values()
            .filter(|e| matches!(e.state, EntryState::Ringing { until, .. } if until <= now))
            .map(|e| e.id)
            .collect();
        for id in due {
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            let EntryState::Ringing { dispatchers, .. } =
                std::mem::replace(&mut e.state, EntryState::Waiting)
            else {
                continue;
            };
            e.tried.extend(dispatchers.iter().copied());
            self.dirty.entries.insert(id);
            for npub in dispatchers {
                self.emit(Output::CancelOffer {
                    entry: id,
                    dispatcher: npub,
                    reason: CancelReason::Timeout,
                });
                let Some(&i) = self.by_npub.get(&npub) else {
                    continue;
                };
                let disp = &mut self.dispatchers[i];
                disp.ringing = None;
                disp.missed += 1;
                disp.miss_streak += 1;
                self.dirty.dispatchers.insert(i);
                if self
                    .config
                    .away_after_misses
                    .is_some_and(|n| disp.miss_streak >= n)
                {
                    disp.presence = Presence::Away;
                    self.emit(Output::PresenceChanged {
                        dispatcher: npub,
                        presence: Presence::Away,
                    });
                }
            }
        }
    }

    pub(super) fn transfer(
        &mut self,
        entry: EntryId,
        from: &Npub,
        to: &Npub,
        now: Instant,
    ) -> Result<(), HotlineError> {
        let i = self.assigned_to(entry, from)?;
        let j = self.dispatcher_index(to)?;
        if !self.dispatchers[j].is_free() {
            return Err(HotlineError::NotAvailable);
        }
        let Some(e) = self.entries.get_mut(&entry) else {
            return Err(HotlineError::UnknownEntry(entry));
        };
        // Blind transfer: the new dispatcher is free and takes the call over directly.
        e.state = EntryState::Assigned {
            dispatcher: *to,
            since: now,
            on_hold: false,
        };
        let (call, caller) = (e.call.clone(), e.caller);
        self.dirty.entries.insert(entry);
        self.release(i, now);
        self.take_call(j, entry, now);
        self.emit(Output::Transfer {
            entry,
            call,
            caller,
            dispatcher: *to,
        });
        Ok(())
    }

    pub(super) fn hold(&mut self, entry: EntryId, d: &Npub, on: bool) -> Result<(), HotlineError> {
        self.assigned_to(entry, d)?;
        if let Some(EntryState::Assigned { on_hold, .. }) =
            self.entries.get_mut(&entry).map(|e| &mut e.state)
        {
            *on_hold = on;
        }
        self.dirty.entries.insert(entry);
        self.emit(Output::Hold { entry, on });
        Ok(())
    }

    pub(super) fn note(
        &mut self,
        entry: EntryId,
        d: &Npub,
        text: String,
    ) -> Result<(), HotlineError> {
        self.dispatcher_index(d)?;
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(HotlineError::NoteTooLong);
        }
        let e = self
            .entries
            .get_mut(&entry)
            .ok_or(HotlineError::UnknownEntry(entry))?;
        e.note = (!text.is_empty()).then_some(text);
        self.dirty.entries.insert(entry);
        Ok(())
    }

    /// Ends an assigned entry: by its dispatcher (`Some`) or because the caller left.
    pub(super) fn end(
        &mut self,
        entry: EntryId,
        d: Option<&Npub>,
        now: Instant,
    ) -> Result<(), HotlineError> {
        let i = match d {
            Some(d) => self.assigned_to(entry, d)?,
            None => {
                let e = self
                    .entries
                    .get(&entry)
                    .ok_or(HotlineError::UnknownEntry(entry))?;
                let EntryState::Assigned { dispatcher, .. } = &e.state else {
                    return Err(HotlineError::NotAssigned);
                };
                self.dispatcher_index(dispatcher)?
            }
        };
        let Some(e) = self.remove_entry(entry) else {
            return Err(HotlineError::UnknownEntry(entry));
        };
        let handle = e
            .answered_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.stats
            .record_handle(handle, self.config.handle_time_samples);
        self.dirty.stats = true;
        self.release(i, now);
        self.emit(Output::Ended {
            entry,
            reason: EndReason::Completed,
        });
        Ok(())
    }
}
