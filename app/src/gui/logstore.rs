//! The call log's encrypted file (and the messages', [`super::messages`]), written off the
//! UI thread.
//!
//! Sealing and fsyncing the log took the UI thread for every call that ended, which a flood
//! of stranger offers turned into a stalled window. [`LogWriter`] hands each snapshot to
//! one writer thread; snapshots that queue up while it writes are coalesced (only the
//! newest is written), and a failure is kept for the UI to show.

use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Result;
use nostr_signal::Identity;

use super::calllog::CallLog;
use super::vault::Vault;

/// Vault purpose label of the call log.
const PURPOSE: &str = "call-log";
/// Vault purpose label of the messages.
pub const MESSAGES_PURPOSE: &str = "messages";

/// Reads the log at `path` for `identity` (empty if the file does not exist), on the
/// calling thread: once, when the key is opened.
pub fn load(path: &Path, identity: &Identity) -> Result<CallLog> {
    match Vault::new(identity, PURPOSE).load(path)? {
        Some(bytes) => CallLog::from_bytes(&bytes),
        None => Ok(CallLog::default()),
    }
}

/// Reads the messages at `path` for `identity` (none if the file does not exist).
pub fn load_messages(path: &Path, identity: &Identity) -> Result<super::messages::Messages> {
    match Vault::new(identity, MESSAGES_PURPOSE).load(path)? {
        Some(bytes) => super::messages::Messages::from_bytes(&bytes),
        None => Ok(Default::default()),
    }
}

/// What the writer thread has done, shared with the UI.
#[derive(Default)]
struct Progress {
    /// Snapshots written (or given up on), by number.
    written: u64,
    /// Snapshots the thread wrote, not counting those coalesced away.
    writes: u64,
    /// The last failure, until taken.
    error: Option<String>,
}

/// Saves snapshots of the log (or of another sealed file) on its own thread.
pub struct LogWriter {
    tx: Option<Sender<(u64, Vec<u8>)>>,
    sent: u64,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogWriter {
    /// A writer of the call log at `path`, sealed for `identity`.
    pub fn start(path: &Path, identity: &Identity) -> std::io::Result<LogWriter> {
        Self::start_sealed(path, identity, PURPOSE, "call log")
    }

    /// A writer of `path` sealed for `identity` under the vault's `purpose`; `what` names
    /// it in errors.
    pub fn start_sealed(
        path: &Path,
        identity: &Identity,
        purpose: &str,
        what: &'static str,
    ) -> std::io::Result<LogWriter> {
        let vault = Vault::new(identity, purpose);
        let (tx, rx) = channel();
        let progress: Arc<(Mutex<Progress>, Condvar)> = Arc::default();
        let shared = progress.clone();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("phantomcall-log".into())
            .spawn(move || write_loop(&vault, &path, what, &rx, &shared))?;
        Ok(LogWriter {
            tx: Some(tx),
            sent: 0,
            progress,
            thread: Some(thread),
        })
    }

    /// Queues `log` to be saved; returns at once.
    pub fn save(&mut self, log: &mut CallLog) {
        self.save_bytes(log.to_bytes());
    }

    /// Queues `bytes` (the whole file, before sealing) to be saved; returns at once.
    pub fn save_bytes(&mut self, bytes: Vec<u8>) {
        self.sent += 1;
        if let Some(tx) = &self.tx {
            let _ = tx.send((self.sent, bytes));
        }
    }

    /// Waits until everything queued so far is on disk, at most `timeout`; `true` if it
    /// is. (At exit, and for tests that read the file.)
    pub fn flush(&self, timeout: Duration) -> bool {
        let (lock, done) = &*self.progress;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = done
            .wait_timeout_while(guard, timeout, |p| p.written < self.sent)
            .unwrap_or_else(|e| e.into_inner());
        guard.written >= self.sent
    }

    /// The last write failure, once.
    pub fn take_error(&self) -> Option<String> {
        self.progress().error.take()
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the queue is written.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(
    vault: &Vault,
    path: &Path,
    what: &str,
    rx: &Receiver<(u64, Vec<u8>)>,
    progress: &(Mutex<Progress>, Condvar),
) {
    while let Ok(mut job) = rx.recv() {
        // Only the newest snapshot matters: skip those that queued up meanwhile.
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
        let (number, bytes) = job;
        let result = vault.save(path, &bytes);
        let (lock, done) = progress;
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        p.written = number;
        p.writes += 1;
        if let Err(e) = result {
            p.error = Some(format!("{what}: {e:#}"));
        }
        done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::calllog::{entry_for, LogDirection, LogResult};

    #[test]
    fn saved_encrypted_by_the_writer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.enc");
        let id = Identity::generate();
        let peer = Identity::generate().public_key();
        let mut log = CallLog::default();
        log.record(
            entry_for(&peer, 1, None, LogDirection::Incoming, LogResult::Missed),
            false,
        );
        let mut writer = LogWriter::start(&path, &id).unwrap();
        writer.save(&mut log);
        assert!(writer.flush(Duration::from_secs(5)));
        let raw = std::fs::read(&path).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains(&peer.to_hex()));
        assert_eq!(load(&path, &id).unwrap(), log);
        assert_eq!(writer.take_error(), None);
    }

    #[test]
    fn queued_snapshots_coalesce() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.enc");
        let id = Identity::generate();
        let (tx, rx) = channel();
        let mut log = CallLog::default();
        // 500 snapshots queued while the writer is busy: one write, the newest.
        for at in 0..500 {
            let peer = Identity::generate().public_key();
            log.record(
                entry_for(&peer, at, None, LogDirection::Incoming, LogResult::Missed),
                false,
            );
            tx.send((at + 1, log.to_bytes())).unwrap();
        }
        drop(tx);
        let progress = (Mutex::new(Progress::default()), Condvar::new());
        write_loop(&Vault::new(&id, PURPOSE), &path, "call log", &rx, &progress);
        let p = progress.0.lock().unwrap();
        assert_eq!((p.writes, p.written), (1, 500));
        assert_eq!(load(&path, &id).unwrap().entries().len(), 500);
    }

    #[test]
    fn a_failed_write_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: the write fails.
        let path = dir.path().join("calls.enc");
        std::fs::create_dir(&path).unwrap();
        let mut writer = LogWriter::start(&path, &Identity::generate()).unwrap();
        writer.save(&mut CallLog::default());
        assert!(writer.flush(Duration::from_secs(5)));
        assert!(writer.take_error().unwrap().starts_with("call log:"));
        assert_eq!(writer.take_error(), None);
    }
}
