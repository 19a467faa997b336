//! Queue entries: admission (abuse limits, overflow), callers leaving, maximum wait.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::time::Instant;

use super::{
    CancelReason, EndReason, EntryKind, EntryState, HotlineCore, HotlineError, Output,
    OverflowAction, RefuseReason, MAX_CALL_ID_CHARS,
};
use phantomcall_schemas::PhoneRef;

use crate::ids::{CallId, CallerId, CallerKey, EntryId, Npub};

/// Service order: higher priority first, then earlier enqueue, then lower id (FIFO even
/// for entries enqueued at the same instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OrderKey {
    pub priority: Reverse<i32>,
    pub enqueued_at: Instant,
    pub id: EntryId,
}

pub(crate) struct Entry {
    pub id: EntryId,
    pub call: Option<CallId>,
    pub caller: CallerKey,
    pub caller_id: CallerId,
    pub priority: i32,
    pub kind: EntryKind,
    pub enqueued_at: Instant,
    /// When the current live line began (the maximum wait counts from here: a caller who
    /// rings in for a pending callback gets a full wait on the line).
    pub line_since: Instant,
    pub state: EntryState,
    pub answered_at: Option<Instant>,
    pub note: Option<String>,
    pub repeat: bool,
    /// Dispatchers who missed or declined this entry in the current round; skipped until
    /// every free dispatcher has been tried.
    pub tried: BTreeSet<Npub>,
    /// After a decline, no new round of offers before this (the decliner gets the next
    /// caller instead of the same one again at once).
    pub retry_at: Option<Instant>,
    pub next_position_at: Instant,
}

impl Entry {
    /// A live line that took over a pending callback: the only way a live entry's line
    /// starts after its enqueue time.
    pub fn took_over_callback(&self) -> bool {
        self.kind == EntryKind::Live && self.line_since != self.enqueued_at
    }

    pub fn key(&self) -> OrderKey {
        OrderKey {
            priority: Reverse(self.priority),
            enqueued_at: self.enqueued_at,
            id: self.id,
        }
    }
}

impl HotlineCore {
    pub(super) fn incoming(
        &mut self,
        call: Option<CallId>,
        caller: Npub,
        phone: Option<PhoneRef>,
        priority: i32,
        now: Instant,
    ) -> Result<(), HotlineError> {
        if call
            .as_ref()
            .is_some_and(|c| c.0.is_empty() || c.0.chars().count() > MAX_CALL_ID_CHARS)
        {
            return Err(HotlineError::BadCallId);
        }
        if call.as_ref().is_some_and(|c| self.calls.contains_key(c)) {
            return Err(HotlineError::DuplicateCall);
        }
        // A phone gateway carries many people: its calls are not one caller's. When it
        // names the telephone, that phone is the caller; a reference from anyone else is
        // ignored, so nobody escapes the per-caller limits by inventing references.
        let gateway = self.config.phone_gateways.contains(&caller);
        let phone = phone.filter(|_| gateway);
        let caller_id = match &phone {
            Some(phone) => self.key.phone_caller_id(&caller, phone),
            None => self.key.caller_id(&caller),
        };
        // A gateway's unnamed callers (numbers withheld) share one id: no per-caller limit.
        let one_caller = !gateway || phone.is_some();
        if self.blocked.contains(&caller_id) {
            return self.refuse(call, RefuseReason::Blocked);
        }
        if let Some(call) = call.as_ref().filter(|_| !gateway) {
            if let Some(id) = self.waiting_callback_of(caller_id) {
                // The caller rang again while a callback was pending: the call takes the
                // callback's place instead of queueing twice.
                self.take_over_callback(id, call.clone(), now);
                return Ok(());
            }
        }
        let concurrent = self
            .entries
            .values()
            .filter(|e| e.caller_id == caller_id)
            .count();
        if one_caller && concurrent >= self.config.abuse.max_concurrent_per_caller as usize {
            return self.refuse(call, RefuseReason::TooManyConcurrent);
        }
        let repeat = if !one_caller {
            false
        } else {
            let window = self.config.abuse.rate_window;
            let times = self.recent.entry(caller_id).or_default();
            times.retain(|&t| now.saturating_duration_since(t) < window);
            if times.len() >= self.config.abuse.max_new_per_window as usize {
                return self.refuse(call, RefuseReason::RateLimited);
            }
            times.push_back(now);
            let repeat = self.last_seen.insert(caller_id, now).is_some_and(|seen| {
                now.saturating_duration_since(seen) <= self.config.repeat_window
            });
            self.dirty.callers.insert(caller_id);
            repeat
        };

        let id = EntryId(self.next_id);
        self.next_id += 1;
        self.dirty.meta = true;

        let live_waiting = self
            .entries
            .values()
            .filter(|e| {
                e.kind == EntryKind::Live && !matches!(e.state, EntryState::Assigned { .. })
            })
            .count();
        let full = call.is_some()
            && self
                .config
                .max_queue_len
                .is_some_and(|max| live_waiting >= max);
        // A phone gateway's caller cannot be called back (the hotline does not know the
        // number): overflow ends their call the voicemail way, never as a callback.
        if full && (gateway || self.config.overflow == OverflowAction::Voicemail) {
            self.stats.voicemail += 1;
            self.dirty.stats = true;
            self.emit(Output::TakeVoicemail {
                entry: id,
                call,
                caller_id,
            });
            self.emit(Output::Ended {
                entry: id,
                reason: EndReason::Voicemail,
            });
            return Ok(());
        }
        let kind = if call.is_some() && !full {
            EntryKind::Live
        } else {
            EntryKind::Callback
        };
        let entry = Entry {
            id,
            call: call.clone().filter(|_| kind == EntryKind::Live),
            caller: CallerKey::new(caller),
            caller_id,
            priority,
            kind,
            enqueued_at: now,
            line_since: now,
            state: EntryState::Waiting,
            answered_at: None,
            note: None,
            repeat,
            tried: BTreeSet::new(),
            retry_at: None,
            next_position_at: now + self.config.position_interval,
        };
        self.order.insert(entry.key());
        if let Some(c) = &entry.call {
            self.calls.insert(c.clone(), id);
        }
        self.entries.insert(id, entry);
        self.dirty.entries.insert(id);
        self.stats.queued += 1;
        if kind == EntryKind::Callback {
            self.stats.callbacks_created += 1;
        }
        self.dirty.stats = true;
        let position = self.position_of(id).unwrap_or(0);
        self.emit(Output::Queued {
            entry: id,
            call: call.clone(),
            caller_id,
            kind,
            position,
            repeat,
        });
        match (kind, call) {
            (EntryKind::Live, _) => self.emit_position(id, position),
            // Queue full: the line is ended with a promise to call back.
            (EntryKind::Callback, Some(call)) => {
                self.emit(Output::ConvertedToCallback { entry: id, call })
            }
            (EntryKind::Callback, None) => {}
        }
        Ok(())
    }

    fn refuse(&mut self, call: Option<CallId>, reason: RefuseReason) -> Result<(), HotlineError> {
        self.stats.refused += 1;
        self.dirty.stats = true;
        self.emit(Output::Refuse { call, reason });
        Ok(())
    }

    fn waiting_callback_of(&self, caller_id: CallerId) -> Option<EntryId> {
        self.entries
            .values()
            .find(|e| {
                // A callback being offered can be taken over too: the dispatcher who
                // answers then gets a transfer instead of dialling out.
                e.caller_id == caller_id
                    && e.kind == EntryKind::Callback
                    && !matches!(e.state, EntryState::Assigned { .. })
            })
            .map(|e| e.id)
    }

    fn take_over_callback(&mut self, id: EntryId, call: CallId, now: Instant) {
        let interval = self.config.position_interval;
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.kind = EntryKind::Live;
        e.call = Some(call.clone());
        e.line_since = now;
        e.next_position_at = now + interval;
        let (caller_id, repeat) = (e.caller_id, e.repeat);
        self.calls.insert(call.clone(), id);
        self.dirty.entries.insert(id);
        let position = self.position_of(id).unwrap_or(0);
        self.emit(Output::Queued {
            entry: id,
            call: Some(call),
            caller_id,
            kind: EntryKind::Live,
            position,
            repeat,
        });
        self.emit_position(id, position);
    }

    /// 1-based place among unassigned entries.
    pub(super) fn position_of(&self, id: EntryId) -> Option<usize> {
        let key = self.entries.get(&id)?.key();
        self.order
            .contains(&key)
            .then(|| self.order.range(..key).count() + 1)
    }

    pub(super) fn caller_left(&mut self, id: EntryId, now: Instant) -> Result<(), HotlineError> {
        let entry = self
            .entries
            .get(&id)
            .ok_or(HotlineError::UnknownEntry(id))?;
        match &entry.state {
            EntryState::Assigned { .. } => self.end(id, None, now),
            EntryState::Waiting | EntryState::Ringing { .. } if entry.took_over_callback() => {
                // They hung up on a line that had taken over their callback: the callback
                // stays, in its place.
                self.withdraw_offers(id);
                if let Some(e) = self.entries.get_mut(&id) {
                    e.kind = EntryKind::Callback;
                    e.line_since = e.enqueued_at;
                    if let Some(call) = e.call.take() {
                        self.calls.remove(&call);
                    }
                }
                self.dirty.entries.insert(id);
                Ok(())
            }
            EntryState::Waiting | EntryState::Ringing { .. } => {
                self.withdraw_offers(id);
                self.remove_entry(id);
                self.stats.abandoned += 1;
                self.dirty.stats = true;
                self.emit(Output::Ended {
                    entry: id,
                    reason: EndReason::Abandoned,
                });
                Ok(())
            }
        }
    }

    /// Stops every ringing offer of `id`; the entry goes back to waiting.
    pub(super) fn withdraw_offers(&mut self, id: EntryId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let EntryState::Ringing { dispatchers, .. } =
            std::mem::replace(&mut entry.state, EntryState::Waiting)
        else {
            return;
        };
        self.dirty.entries.insert(id);
        for d in dispatchers {
            if let Some(&i) = self.by_npub.get(&d) {
                self.dispatchers[i].ringing = None;
            }
            self.emit(Output::CancelOffer {
                entry: id,
                dispatcher: d,
                reason: CancelReason::Withdrawn,
            });
        }
    }

    pub(super) fn remove_entry(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.order.remove(&entry.key());
        if let Some(call) = &entry.call {
            self.calls.remove(call);
        }
        self.dirty.entries.remove(&id);
        self.dirty.removed.insert(id);
        Some(entry)
    }

    /// Live entries waiting longer than `max_wait` overflow. Ringing ones get to finish
    /// their ring (a dispatcher may be about to answer); the overflow follows if it fails.
    pub(super) fn max_wait(&mut self, now: Instant) {
        let Some(max) = self.config.max_wait else {
            return;
        };
        let due: Vec<EntryId> = self
            .entries
            .values()
            .filter(|e| {
                e.kind == EntryKind::Live
                    && e.state == EntryState::Waiting
                    && e.line_since + max <= now
            })
            .map(|e| e.id)
            .collect();
        for id in due {
            self.overflow_waiting(id);
        }
    }

    fn overflow_waiting(&mut self, id: EntryId) {
        let phone = self
            .entries
            .get(&id)
            .is_some_and(|e| self.config.phone_gateways.contains(&e.caller.npub()));
        let action = if phone {
            OverflowAction::Voicemail
        } else {
            self.config.overflow
        };
        match action {
            OverflowAction::Callback => {
                let Some(e) = self.entries.get_mut(&id) else {
                    return;
                };
                e.kind = EntryKind::Callback;
                let call = e.call.take();
                self.dirty.entries.insert(id);
                self.stats.callbacks_created += 1;
                self.dirty.stats = true;
                if let Some(call) = call {
                    self.calls.remove(&call);
                    self.emit(Output::ConvertedToCallback { entry: id, call });
                }
            }
            OverflowAction::Voicemail => {
                let Some(e) = self.remove_entry(id) else {
                    return;
                };
                self.stats.voicemail += 1;
                self.dirty.stats = true;
                self.emit(Output::TakeVoicemail {
                    entry: id,
                    call: e.call,
                    caller_id: e.caller_id,
                });
                self.emit(Output::Ended {
                    entry: id,
                    reason: EndReason::Voicemail,
                });
            }
        }
    }

    pub(super) fn block(&mut self, caller_id: CallerId) {
        self.blocked.insert(caller_id);
        self.dirty.callers.insert(caller_id);
        let unassigned: Vec<EntryId> = self
            .entries
            .values()
            .filter(|e| e.caller_id == caller_id && !matches!(e.state, EntryState::Assigned { .. }))
            .map(|e| e.id)
            .collect();
        for id in unassigned {
            self.withdraw_offers(id);
            self.remove_entry(id);
            self.emit(Output::Ended {
                entry: id,
                reason: EndReason::Blocked,
            });
        }
    }
}
