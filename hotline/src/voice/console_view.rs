//! Conversions between the core's console view and the console snapshot sent to each
//! dispatcher ([`ConsoleSnapshot`]): built from the core on the service, read back into
//! the core's types in the app after [`ConsoleSnapshot::check`].

use std::collections::VecDeque;
use std::time::Duration;

use super::console_dto::*;
use super::wire::{key_of, WireError};
use crate::core::{
    ConsoleView, DeskCall, DeskOffer, DeskState, DispatcherView, EntryKind, EntryView,
    HotlineStats, Presence,
};
use crate::ids::{EntryId, Npub};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn kind(callback: bool) -> EntryKind {
    if callback {
        EntryKind::Callback
    } else {
        EntryKind::Live
    }
}

impl ConsoleSnapshot {
    /// The snapshot of `view` for the dispatcher whose desk is `desk`.
    pub fn new(view: &ConsoleView, desk: &DeskState) -> Self {
        let stats = &view.stats;
        Self {
            me: desk.me.to_hex(),
            entries: view
                .entries
                .iter()
                .take(MAX_CONSOLE_ENTRIES)
                .map(|e| EntryWire {
                    entry: e.entry.0,
                    caller: clip(&e.caller, MAX_CALLER_CHARS),
                    caller_npub: e.caller_npub.clone(),
                    position: e.position.and_then(|p| u32::try_from(p).ok()),
                    waited_ms: ms(e.waited),
                    priority: e.priority,
                    callback: e.kind == EntryKind::Callback,
                    state: e.state.to_owned(),
                    dispatcher: e.dispatcher.map(|d| d.to_hex()),
                    repeat: e.repeat,
                    note: e.note.as_deref().map(|n| clip(n, MAX_LISTED_NOTE_CHARS)),
                })
                .collect(),
            dispatchers: view
                .dispatchers
                .iter()
                .take(MAX_CONSOLE_DISPATCHERS)
                .map(|d| DispatcherWire {
                    key: d.npub.to_hex(),
                    presence: d.presence.as_str().to_owned(),
                    free: d.free,
                    taken_today: d.taken_today,
                    taken_total: d.taken_total,
                    missed: d.missed,
                    declined: d.declined,
                })
                .collect(),
            stats: StatsWire {
                queued: stats.queued,
                answered: stats.answered,
                answered_within_sl: stats.answered_within_sl,
                abandoned: stats.abandoned,
                voicemail: stats.voicemail,
                callbacks_created: stats.callbacks_created,
                callbacks_placed: stats.callbacks_placed,
                refused: stats.refused,
                completed: stats.completed,
                total_wait_ms: stats.total_wait_ms,
                total_handle_ms: stats.total_handle_ms,
                recent_handle_ms: stats
                    .recent_handle_ms
                    .iter()
                    .rev()
                    .take(MAX_RECENT)
                    .rev()
                    .copied()
                    .collect(),
            },
            service_level_permille: view
                .service_level
                .map(|s| (s.clamp(0.0, 1.0) * 1000.0).round() as u16),
            service_level_threshold_ms: ms(view.service_level_threshold),
            presence: desk.presence.as_str().to_owned(),
            offer: desk.offer.as_ref().map(|o| OfferWire {
                entry: o.entry.0,
                caller: clip(&o.caller, MAX_CALLER_CHARS),
                callback: o.kind == EntryKind::Callback,
                repeat: o.repeat,
                waited_ms: ms(o.waited),
                rings_for_ms: o.rings_for.map(ms),
            }),
            call: desk.call.as_ref().map(|c| CallWire {
                entry: c.entry.0,
                caller: clip(&c.caller, MAX_CALLER_CHARS),
                callback: c.kind == EntryKind::Callback,
                on_hold: c.on_hold,
                note: c.note.clone(),
                since_ms: ms(c.since),
            }),
            wrap_up_left_ms: desk.wrap_up_left.map(ms),
            voicemails: Vec::new(),
        }
    }

    /// The voicemails listed, newest first (checked with the rest: read them after
    /// [`ConsoleSnapshot::read`] succeeded).
    pub fn voicemails(&self) -> Vec<super::voicemail::VoicemailListing> {
        self.voicemails.iter().map(Into::into).collect()
    }

    /// Checks every field and gives the console's view and the dispatcher's desk.
    pub fn read(&self) -> Result<(ConsoleView, DeskState), WireError> {
        self.check()?;
        let me = key_of(&self.me, "console dispatcher")?;
        if self.entries.len() > MAX_CONSOLE_ENTRIES {
            return Err(WireError::TooLong("console entries"));
        }
        if self.dispatchers.len() > MAX_CONSOLE_DISPATCHERS {
            return Err(WireError::TooLong("console dispatchers"));
        }
        if self.stats.recent_handle_ms.len() > MAX_RECENT {
            return Err(WireError::TooLong("recent handle times"));
        }
        let time = |v: u64| {
            (v <= MAX_MS)
                .then(|| Duration::from_millis(v))
                .ok_or(WireError::Malformed("a time out of range".into()))
        };
        let caller = |c: &str| {
            (!c.is_empty()
                && c.chars().count() <= MAX_CALLER_CHARS
                && !c.chars().any(char::is_control))
            .then(|| c.to_owned())
            .ok_or(WireError::TooLong("caller id"))
        };
        let note = |n: &Option<String>, max: usize| match n {
            Some(n) if n.chars().count() > max => Err(WireError::TooLong("note")),
            other => Ok(other.clone()),
        };
        let presence = |p: &str| Presence::parse(p).ok_or_else(|| WireError::BadPresence(p.into()));
        let mut entries = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let state = match e.state.as_str() {
                "waiting" => "waiting",
                "ringing" => "ringing",
                "assigned" => "assigned",
                "on hold" => "on hold",
                _ => return Err(WireError::Malformed("an entry state".into())),
            };
            if let Some(npub) = &e.caller_npub {
                Npub::parse(npub).map_err(|_| WireError::BadKey("caller npub"))?;
            }
            entries.push(EntryView {
                entry: EntryId(e.entry),
                caller: caller(&e.caller)?,
                caller_npub: e.caller_npub.clone(),
                position: e.position.map(|p| p as usize),
                waited: time(e.waited_ms)?,
                priority: e.priority,
                kind: kind(e.callback),
                state,
                dispatcher: e
                    .dispatcher
                    .as_deref()
                    .map(|d| key_of(d, "entry dispatcher"))
                    .transpose()?,
                repeat: e.repeat,
                note: note(&e.note, MAX_LISTED_NOTE_CHARS)?,
            });
        }
        let mut dispatchers = Vec::with_capacity(self.dispatchers.len());
        for d in &self.dispatchers {
            dispatchers.push(DispatcherView {
                npub: key_of(&d.key, "dispatcher")?,
                presence: presence(&d.presence)?,
                free: d.free,
                taken_today: d.taken_today,
                taken_total: d.taken_total,
                missed: d.missed,
                declined: d.declined,
            });
        }
        let s = &self.stats;
        let stats = HotlineStats {
            queued: s.queued,
            answered: s.answered,
            answered_within_sl: s.answered_within_sl,
            abandoned: s.abandoned,
            voicemail: s.voicemail,
            callbacks_created: s.callbacks_created,
            callbacks_placed: s.callbacks_placed,
            refused: s.refused,
            completed: s.completed,
            total_wait_ms: s.total_wait_ms,
            total_handle_ms: s.total_handle_ms,
            recent_handle_ms: s.recent_handle_ms.iter().copied().collect::<VecDeque<_>>(),
        };
        let service_level = match self.service_level_permille {
            Some(p) if p > 1000 => return Err(WireError::Malformed("a service level".into())),
            Some(p) => Some(f64::from(p) / 1000.0),
            None => None,
        };
        let view = ConsoleView {
            entries,
            dispatchers,
            stats,
            service_level,
            service_level_threshold: time(self.service_level_threshold_ms)?,
        };
        let offer = match &self.offer {
            Some(o) => Some(DeskOffer {
                entry: EntryId(o.entry),
                caller: caller(&o.caller)?,
                kind: kind(o.callback),
                repeat: o.repeat,
                waited: time(o.waited_ms)?,
                rings_for: o.rings_for_ms.map(time).transpose()?,
            }),
            None => None,
        };
        let call = match &self.call {
            Some(c) => Some(DeskCall {
                entry: EntryId(c.entry),
                caller: caller(&c.caller)?,
                kind: kind(c.callback),
                on_hold: c.on_hold,
                note: note(&c.note, crate::core::MAX_NOTE_CHARS)?,
                since: time(c.since_ms)?,
            }),
            None => None,
        };
        let desk = DeskState {
            me,
            presence: presence(&self.presence)?,
            offer,
            call,
            wrap_up_left: self.wrap_up_left_ms.map(time).transpose()?,
        };
        Ok((view, desk))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::core::{CoreConfig, HotlineCore, Input};
    use crate::ids::CallerIdKey;

    /// A key that is a valid curve point (the wire checks it).
    fn key() -> Npub {
        Npub::from_bytes(nostr_sdk::Keys::generate().public_key().to_bytes())
    }

    fn core(dispatchers: &[Npub], now: Instant) -> HotlineCore {
        let enrolled: Vec<(Npub, Option<Duration>)> =
            dispatchers.iter().map(|d| (*d, None)).collect();
        HotlineCore::new(
            CoreConfig::default(),
            &enrolled,
            CallerIdKey::from_bytes([9; 32]),
            now,
            1_700_000_000_000,
        )
    }

    #[test]
    fn a_snapshot_reads_back_as_the_view_and_desk_it_was_made_of() {
        let (me, other) = (key(), key());
        let now = Instant::now();
        let mut core = core(&[me, other], now);
        core.handle_input(Input::SetPresence(me, Presence::Available), now)
            .unwrap();
        core.handle_input(
            Input::Incoming {
                call: crate::ids::CallId("call-1".into()),
                caller: key(),
                priority: 0,
            },
            now,
        )
        .unwrap();
        let later = now + Duration::from_secs(4);
        let view = core.view(later);
        let desk = DeskState::from_core(&core, &view, me, later);
        assert!(
            desk.offer.is_some(),
            "the caller rings at the available dispatcher"
        );
        let snapshot = ConsoleSnapshot::new(&view, &desk);
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: ConsoleSnapshot = serde_json::from_str(&json).unwrap();
        let (view_back, desk_back) = back.read().unwrap();
        assert_eq!(desk_back, desk);
        assert_eq!(view_back.entries, view.entries);
        assert_eq!(view_back.dispatchers, view.dispatchers);
        assert_eq!(
            snapshot.without_clocks(),
            ConsoleSnapshot::new(&core.view(later + Duration::from_secs(3)), &desk)
                .without_clocks()
        );
    }

    #[test]
    fn a_snapshot_with_a_bad_field_is_refused_whole() {
        let me = key();
        let now = Instant::now();
        let core = core(&[me], now);
        let view = core.view(now);
        let desk = DeskState::from_core(&core, &view, me, now);
        let good = serde_json::to_value(ConsoleSnapshot::new(&view, &desk)).unwrap();
        for (field, bad) in [
            ("presence", serde_json::json!("sleeping")),
            ("me", serde_json::json!("00")),
            ("service_level_permille", serde_json::json!(1001)),
            ("service_level_threshold_ms", serde_json::json!(u64::MAX)),
        ] {
            let mut v = good.clone();
            v[field] = bad;
            let parsed: ConsoleSnapshot = serde_json::from_value(v).unwrap();
            assert!(parsed.read().is_err(), "{field}");
        }
        let mut extra = good.clone();
        extra["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<ConsoleSnapshot>(extra).is_err());
    }
}
