//! The local call log: what the user sees under "Recent calls".
//!
//! Minimal metadata only (DESIGN.md section 6): the peer, when, how long, which way and how
//! it ended; no call id, no address, no mode. Kept encrypted at rest ([`super::vault`]) and
//! pruned by each contact's auto-delete setting.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use nostr_signal::{Identity, PublicKey};
use serde::{Deserialize, Serialize};

use super::contacts::ContactBook;
use super::vault::Vault;

/// Vault purpose label of the call log.
const PURPOSE: &str = "call-log";
/// Most entries kept: the oldest go first, so the file cannot grow without bound.
const MAX_ENTRIES: usize = 1000;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// The call log of one identity, in memory and in its encrypted file.
pub struct CallLog {
    path: PathBuf,
    vault: Vault,
    entries: Vec<LogEntry>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl CallLog {
    /// Opens the log at `path` for `identity` (empty if the file does not exist).
    pub fn open(path: &Path, identity: &Identity) -> Result<CallLog> {
        let vault = Vault::new(identity, PURPOSE);
        let entries = match vault.load(path)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => Vec::new(),
        };
        Ok(CallLog {
            path: path.to_owned(),
            vault,
            entries,
        })
    }

    /// Entries, newest first.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// Adds a finished call and saves.
    pub fn add(&mut self, entry: LogEntry) -> Result<()> {
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ENTRIES);
        self.save()
    }

    /// Forgets every call and saves the empty log.
    pub fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        self.save()
    }

    /// Removes the entries older than their contact's auto-delete age at `now` (Unix
    /// seconds); saves if anything went. Returns how many were removed.
    pub fn apply_retention(&mut self, contacts: &ContactBook, now: u64) -> Result<usize> {
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
        let removed = before - self.entries.len();
        if removed > 0 {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> Result<()> {
        self.vault
            .save(&self.path, &serde_json::to_vec(&self.entries)?)
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
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::{AutoDelete, Contact};
    use super::*;
    use phantomcall_schemas::PrivacyMode;

    #[test]
    fn saved_encrypted_and_pruned_per_contact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.log");
        let id = Identity::generate();
        let peer = Identity::generate().public_key();
        let mut log = CallLog::open(&path, &id).unwrap();
        let entry = entry_for(
            &peer,
            1_000,
            Some(Duration::from_secs(42)),
            LogDirection::Outgoing,
            LogResult::Answered,
        );
        log.add(entry.clone()).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains(&peer.to_hex()));
        assert_eq!(CallLog::open(&path, &id).unwrap().entries(), &[entry]);

        let mut contacts = ContactBook::default();
        contacts.contacts.push(Contact {
            name: "Bob".into(),
            key: peer.to_hex(),
            mode: PrivacyMode::Fast,
            auto_delete: AutoDelete::Day,
            relays: Vec::new(),
            nip05: None,
        });
        assert_eq!(log.apply_retention(&contacts, 1_000 + 3600).unwrap(), 0);
        assert_eq!(log.apply_retention(&contacts, 1_000 + 86_400).unwrap(), 1);
        assert!(CallLog::open(&path, &id).unwrap().entries().is_empty());
    }
}
