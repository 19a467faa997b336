//! The console snapshot a hotline sends each dispatcher's app, as the `console` control
//! message: the queue, the roster and the counters with the dispatcher's own desk. Times
//! are milliseconds relative to the snapshot (the app's clocks tick on from when it
//! arrived); keys are hex. Everything is bounded and checked when parsed
//! ([`ConsoleSnapshot::check`]): a snapshot that does not check out is dropped whole.
//! The conversions from and to the core's view are in `console_view.rs`; this file
//! depends on the wire and the core's plain types only, so the fuzz target compiles it.

use serde::{Deserialize, Serialize};

use super::voicemail_wire::{VoicemailWire, MAX_CONSOLE_VOICEMAILS};
use super::wire::{key_of, WireError};
use crate::core::Presence;
use crate::ids::Npub;

/// Most queue entries a snapshot carries (the console shows the head of the queue).
pub const MAX_CONSOLE_ENTRIES: usize = 30;
/// Most dispatchers a snapshot carries.
pub const MAX_CONSOLE_DISPATCHERS: usize = 100;
/// Longest note of a queue entry in the list (the desk's own call keeps its whole note).
pub const MAX_LISTED_NOTE_CHARS: usize = 120;
/// Most recent handle times carried.
pub(crate) const MAX_RECENT: usize = 50;
/// Longest caller id (`c-` and hex).
pub(crate) const MAX_CALLER_CHARS: usize = 40;
/// Longest time carried (a week): anything longer is a bad clock or a bad message.
pub(crate) const MAX_MS: u64 = 7 * 24 * 3600 * 1000;

/// One queue entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryWire {
    pub(crate) entry: u64,
    pub(crate) caller: String,
    pub(crate) caller_npub: Option<String>,
    pub(crate) position: Option<u32>,
    pub(crate) waited_ms: u64,
    pub(crate) priority: i32,
    pub(crate) callback: bool,
    pub(crate) state: String,
    pub(crate) dispatcher: Option<String>,
    pub(crate) repeat: bool,
    pub(crate) note: Option<String>,
}

/// One dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherWire {
    pub(crate) key: String,
    pub(crate) presence: String,
    pub(crate) free: bool,
    pub(crate) taken_today: u32,
    pub(crate) taken_total: u64,
    pub(crate) missed: u64,
    pub(crate) declined: u64,
}

/// The counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsWire {
    pub(crate) queued: u64,
    pub(crate) answered: u64,
    pub(crate) answered_within_sl: u64,
    pub(crate) abandoned: u64,
    pub(crate) voicemail: u64,
    pub(crate) callbacks_created: u64,
    pub(crate) callbacks_placed: u64,
    pub(crate) refused: u64,
    pub(crate) completed: u64,
    pub(crate) total_wait_ms: u64,
    pub(crate) total_handle_ms: u64,
    pub(crate) recent_handle_ms: Vec<u64>,
}

/// The offer ringing at the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferWire {
    pub(crate) entry: u64,
    pub(crate) caller: String,
    pub(crate) callback: bool,
    pub(crate) repeat: bool,
    pub(crate) waited_ms: u64,
    pub(crate) rings_for_ms: Option<u64>,
}

/// The dispatcher's call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallWire {
    pub(crate) entry: u64,
    pub(crate) caller: String,
    pub(crate) callback: bool,
    pub(crate) on_hold: bool,
    pub(crate) note: Option<String>,
    pub(crate) since_ms: u64,
}

/// The whole snapshot (the `console` message's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSnapshot {
    /// The dispatcher it is for (hex key).
    pub(crate) me: String,
    pub(crate) entries: Vec<EntryWire>,
    pub(crate) dispatchers: Vec<DispatcherWire>,
    pub(crate) stats: StatsWire,
    /// Share answered within the threshold, in thousandths.
    pub(crate) service_level_permille: Option<u16>,
    pub(crate) service_level_threshold_ms: u64,
    pub(crate) presence: String,
    pub(crate) offer: Option<OfferWire>,
    pub(crate) call: Option<CallWire>,
    pub(crate) wrap_up_left_ms: Option<u64>,
    /// The hotline's voicemails, newest first (absent from a service without voicemail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) voicemails: Vec<VoicemailWire>,
}

impl ConsoleSnapshot {
    /// Checks every bound, key, word and time; [`WireError`] names the first that fails.
    pub fn check(&self) -> Result<(), WireError> {
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
                .then_some(())
                .ok_or(WireError::Malformed("a time out of range".into()))
        };
        let caller = |c: &str| {
            (!c.is_empty()
                && c.chars().count() <= MAX_CALLER_CHARS
                && !c.chars().any(char::is_control))
            .then_some(())
            .ok_or(WireError::TooLong("caller id"))
        };
        let note = |n: &Option<String>, max: usize| match n {
            Some(n) if n.chars().count() > max => Err(WireError::TooLong("note")),
            _ => Ok(()),
        };
        let presence = |p: &str| {
            Presence::parse(p)
                .map(drop)
                .ok_or_else(|| WireError::BadPresence(p.into()))
        };
        key_of(&self.me, "console dispatcher")?;
        for e in &self.entries {
            if !ENTRY_STATES.contains(&e.state.as_str()) {
                return Err(WireError::Malformed("an entry state".into()));
            }
            if let Some(npub) = &e.caller_npub {
                Npub::parse(npub).map_err(|_| WireError::BadKey("caller npub"))?;
            }
            caller(&e.caller)?;
            time(e.waited_ms)?;
            if let Some(d) = &e.dispatcher {
                key_of(d, "entry dispatcher")?;
            }
            note(&e.note, MAX_LISTED_NOTE_CHARS)?;
        }
        for d in &self.dispatchers {
            key_of(&d.key, "dispatcher")?;
            presence(&d.presence)?;
        }
        if self.service_level_permille.is_some_and(|p| p > 1000) {
            return Err(WireError::Malformed("a service level".into()));
        }
        time(self.service_level_threshold_ms)?;
        presence(&self.presence)?;
        if let Some(o) = &self.offer {
            caller(&o.caller)?;
            time(o.waited_ms)?;
            if let Some(r) = o.rings_for_ms {
                time(r)?;
            }
        }
        if let Some(c) = &self.call {
            caller(&c.caller)?;
            note(&c.note, crate::core::MAX_NOTE_CHARS)?;
            time(c.since_ms)?;
        }
        if let Some(w) = self.wrap_up_left_ms {
            time(w)?;
        }
        if self.voicemails.len() > MAX_CONSOLE_VOICEMAILS {
            return Err(WireError::TooLong("console voicemails"));
        }
        for v in &self.voicemails {
            v.check()?;
        }
        Ok(())
    }
}

/// The entry states the core names.
pub(crate) const ENTRY_STATES: [&str; 4] = ["waiting", "ringing", "assigned", "on hold"];

impl ConsoleSnapshot {
    /// The same snapshot with its clocks stopped: two snapshots that differ only in how
    /// long things have lasted say nothing new (the app's clocks run on by themselves).
    pub fn without_clocks(&self) -> Self {
        let mut s = self.clone();
        for e in &mut s.entries {
            e.waited_ms = 0;
        }
        if let Some(o) = &mut s.offer {
            o.waited_ms = 0;
            o.rings_for_ms = o.rings_for_ms.map(|_| 0);
        }
        if let Some(c) = &mut s.call {
            c.since_ms = 0;
        }
        s.wrap_up_left_ms = s.wrap_up_left_ms.map(|_| 0);
        s
    }
}
