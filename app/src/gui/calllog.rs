//! The local call log: what the user sees under "Recent calls".
//!
//! Minimal metadata only (DESIGN.md section 6): the peer, when, how long, which way and how
//! it ended; no call id, no address, no mode. Pruned by each contact's auto-delete setting.
//!
//! Missed calls from keys outside the contacts are not entries: they are counted in one
//! coalesced line ([`StrangerCalls`], "N missed calls from unknown callers"), so a flood of
//! offers from throw-away keys can neither push the contacts' history out nor grow the
//! file, and they expire after [`STRANGER_MAX_AGE`]. This module is plain data; the
//! encrypted file is written off the UI thread by [`super::logstore`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use nostr_signal::PublicKey;
use serde::{Deserialize, Serialize};

use super::contacts::ContactBook;

/// Most entries kept: the oldest go first, so the file cannot grow without bound.
const MAX_ENTRIES: usize = 1000;
/// How long the unknown-callers line is kept after its last call: strangers' calls have
/// no contact whose auto-delete would prune them.
pub const STRANGER_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogDirection {
    /// We called.
    Outgoing,
    /// We were called.
    Incoming,
}

/// How a call ended, in the words the log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogResult {
    /// It connected (duration > 0).
    Answered,
    /// Incoming, nobody answered here.
    Missed,
    /// Declined (by either side).
    Declined,
    /// Outgoing, nobody answered or the peer was busy.
    NoAnswer,
    /// It failed (network, media, mode mismatch).
    Failed,
}

impl LogResult {
    /// Plain words for the log.
    pub fn label(self) -> &'static str {
        match self {
            LogResult::Answered => "answered",
            LogResult::Missed => "missed",
            LogResult::Declined => "declined",
            LogResult::NoAnswer => "no answer",
            LogResult::Failed => "failed",
        }
    }
}

/// One call of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The peer's public key, hex.
    pub peer: String,
    /// When it started, seconds since the Unix epoch.
    pub started_at: u64,
    /// How long it was connected, seconds.
    pub duration_secs: u64,
    /// Which way.
    pub direction: LogDirection,
    /// How it ended.
    pub result: LogResult,
    /// How it sounded (figures only), for calls that connected; absent in older logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<super::quality::QualitySummary>,
}

/// Missed calls from keys that are not contacts, coalesced into one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrangerCalls {
    /// How many.
    pub missed: u64,
    /// When the first of them came, Unix seconds.
    pub first_at: u64,
    /// When the last one came, Unix seconds.
    pub last_at: u64,
}

/// When a change to the log must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Now: the user's own history changed.
    Now,
    /// With the next periodic save: only the strangers' count changed, which a flood
    /// may change a thousand times a minute.
    Later,
}

/// The call log of one identity, in memory (see [`super::logstore`] for its file).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CallLog {
    entries: Vec<LogEntry>,
    strangers: Option<StrangerCalls>,
    /// Strangers' calls counted since the last save.
    pending: bool,
}

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct Stored {
    entries: Vec<LogEntry>,
    #[serde(default)]
    strangers: Option<StrangerCalls>,
}

/// The file as it was (a bare list) or as it is.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyStored {
    Now(Stored),
    Before(Vec<LogEntry>),
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl CallLog {
    /// The log in `bytes` (the decrypted file); logs written before strangers were
    /// coalesced read as they were.
    pub fn from_bytes(bytes: &[u8]) -> Result<CallLog> {
        let (entries, strangers) = match serde_json::from_slice(bytes)? {
            AnyStored::Now(s) => (s.entries, s.strangers),
            AnyStored::Before(entries) => (entries, None),
        };
        Ok(CallLog {
            entries,
            strangers,
            pending: false,
        })
    }

    /// The bytes to save (before encryption); the strangers' count is then saved.
    pub fn to_bytes(&mut self) -> Vec<u8> {
        self.pending = false;
        let stored = Stored {
            entries: self.entries.clone(),
            strangers: self.strangers,
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Entries, newest first.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// The strangers' missed calls, if any are kept.
    pub fn strangers(&self) -> Option<&StrangerCalls> {
        self.strangers.as_ref()
    }

    /// Whether strangers' calls were counted since the last save.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Adds a finished call. `from_stranger`: a missed call from a key that is not a
    /// contact, counted in the unknown-callers line instead of an entry.
    pub fn record(&mut self, entry: LogEntry, from_stranger: bool) -> Persist {
        if from_stranger {
            let at = entry.started_at;
            let s = self.strangers.get_or_insert(StrangerCalls {
                missed: 0,
                first_at: at,
                last_at: at,
            });
            s.missed += 1;
            s.first_at = s.first_at.min(at);
            s.last_at = s.last_at.max(at);
            self.pending = true;
            return Persist::Later;
        }
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ENTRIES);
        Persist::Now
    }

    /// Forgets every call.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.strangers = None;
    }

    /// Removes the entries older than their contact's auto-delete age at `now` (Unix
    /// seconds), and the strangers' line [`STRANGER_MAX_AGE`] after its last call.
    /// Returns how many entries (the strangers' line counting as one) were removed.
    pub fn apply_retention(&mut self, contacts: &ContactBook, now: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| {
            match contacts
                .find_hex(&e.peer)
                .and_then(|c| c.auto_delete.max_age())
            {
                Some(age) => now.saturating_sub(e.started_at) < age.as_secs(),
                None => true,
            }
        });
        let mut removed = before - self.entries.len();
        if self
            .strangers
            .is_some_and(|s| now.saturating_sub(s.last_at) >= STRANGER_MAX_AGE.as_secs())
        {
            self.strangers = None;
            removed += 1;
        }
        removed
    }
}

/// The entry for a call with `peer` that ended.
pub fn entry_for(
    peer: &PublicKey,
    started_at: u64,
    connected_for: Option<Duration>,
    direction: LogDirection,
    result: LogResult,
) -> LogEntry {
    LogEntry {
        peer: peer.to_hex(),
        started_at,
        duration_secs: connected_for.map_or(0, |d| d.as_secs()),
        direction,
        result,
        quality: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::{AutoDelete, Contact};
    use super::*;
    use nostr_signal::Identity;
    use phantomcall_schemas::PrivacyMode;

    fn missed(peer: &PublicKey, at: u64) -> LogEntry {
        entry_for(peer, at, None, LogDirection::Incoming, LogResult::Missed)
    }

    #[test]
    fn pruned_per_contact_and_round_trips() {
        let peer = Identity::generate().public_key();
        let mut log = CallLog::default();
        let entry = entry_for(
            &peer,
            1_000,
            Some(Duration::from_secs(42)),
            LogDirection::Outgoing,
            LogResult::Answered,
        );
        assert_eq!(log.record(entry.clone(), false), Persist::Now);
        assert_eq!(CallLog::from_bytes(&log.to_bytes()).unwrap(), log);

        let mut contacts = ContactBook::default();
        contacts.contacts.push(Contact {
            name: "Bob".into(),
            key: peer.to_hex(),
            mode: PrivacyMode::Fast,
            auto_delete: AutoDelete::Day,
            relays: Vec::new(),
            nip05: None,
        });
        assert_eq!(log.apply_retention(&contacts, 1_000 + 3600), 0);
        assert_eq!(log.entries(), &[entry]);
        assert_eq!(log.apply_retention(&contacts, 1_000 + 86_400), 1);
        assert!(log.entries().is_empty());
    }

    #[test]
    fn stranger_offer_flood_keeps_contact_history() {
        let bob = Identity::generate().public_key();
        let mut log = CallLog::default();
        for at in 0..10 {
            log.record(missed(&bob, at), false);
        }
        // Ten times the log's size in throw-away keys.
        for at in 0..(MAX_ENTRIES as u64 * 10) {
            let stranger = Identity::generate().public_key();
            assert_eq!(
                log.record(missed(&stranger, 100 + at), true),
                Persist::Later
            );
        }
        assert_eq!(log.entries().len(), 10);
        assert!(log.entries().iter().all(|e| e.peer == bob.to_hex()));
        let strangers = *log.strangers().unwrap();
        assert_eq!(strangers.missed, MAX_ENTRIES as u64 * 10);
        assert_eq!(strangers.first_at, 100);
        assert!(log.pending());
        // The file holds one line for them, not ten thousand entries.
        let bytes = log.to_bytes();
        assert!(!log.pending());
        assert!(bytes.len() < 4096, "{} bytes", bytes.len());
        assert_eq!(CallLog::from_bytes(&bytes).unwrap(), log);
    }

    #[test]
    fn strangers_line_expires_and_old_files_still_read() {
        let mut log = CallLog::default();
        log.record(missed(&Identity::generate().public_key(), 50), true);
        let contacts = ContactBook::default();
        let week = STRANGER_MAX_AGE.as_secs();
        assert_eq!(log.apply_retention(&contacts, 50 + week - 1), 0);
        assert!(log.strangers().is_some());
        assert_eq!(log.apply_retention(&contacts, 50 + week), 1);
        assert!(log.strangers().is_none());

        let old = vec![missed(&Identity::generate().public_key(), 7)];
        let read = CallLog::from_bytes(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(read.entries(), &old[..]);
        assert!(read.strangers().is_none());
    }
}
