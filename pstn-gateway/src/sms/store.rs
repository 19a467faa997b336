//! The SMS bridge's persistent state in SQLite: who opted out, which provider message ids
//! were already taken (providers retry a webhook they think failed), and the delivery
//! state of what we sent.
//!
//! Privacy: no message text is stored, and no phone number either. An opt-out is kept as
//! HMAC-SHA256 of the number under a random key made when the database is created, so the
//! file answers "has this number opted out?" but cannot be read as a list of numbers.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};

use crate::number::E164;
use crate::sms::{DeliveryReport, DeliveryStatus};

/// How long a seen inbound id is remembered (providers retry within minutes to hours).
const SEEN_KEEP_SECS: i64 = 30 * 24 * 3600;

/// A database failure.
#[derive(Debug, thiserror::Error)]
#[error("sms state store: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

/// The SMS state store (cheap to share behind an `Arc`).
pub struct SmsStore {
    conn: Mutex<Connection>,
    key: Vec<u8>,
}

impl std::fmt::Debug for SmsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsStore").finish_non_exhaustive()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn status_code(s: DeliveryStatus) -> i64 {
    match s {
        DeliveryStatus::Queued => 0,
        DeliveryStatus::Sending => 1,
        DeliveryStatus::Sent => 2,
        DeliveryStatus::Delivered => 3,
        DeliveryStatus::Undelivered => 4,
        DeliveryStatus::Failed => 5,
    }
}

fn status_of(code: i64) -> DeliveryStatus {
    match code {
        0 => DeliveryStatus::Queued,
        1 => DeliveryStatus::Sending,
        2 => DeliveryStatus::Sent,
        3 => DeliveryStatus::Delivered,
        4 => DeliveryStatus::Undelivered,
        _ => DeliveryStatus::Failed,
    }
}

impl SmsStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// A store that lives in memory only (tests, or a gateway without persistence).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS opt_out (number_mac BLOB PRIMARY KEY, since INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS seen_inbound (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS outbound (
                 id TEXT PRIMARY KEY, status INTEGER NOT NULL, segments INTEGER NOT NULL,
                 error_code TEXT, updated INTEGER NOT NULL);",
        )?;
        let key: Option<Vec<u8>> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'number_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let key = match key {
            Some(k) => k,
            None => {
                let k = rand::random::<[u8; 32]>().to_vec();
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('number_key', ?1)",
                    params![k],
                )?;
                k
            }
        };
        conn.execute(
            "DELETE FROM seen_inbound WHERE at < ?1",
            params![now() - SEEN_KEEP_SECS],
        )?;
        Ok(SmsStore {
            conn: Mutex::new(conn),
            key,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (each call is
        // one statement), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A key for `purpose`, derived from the database's random key (HMAC-SHA256): it
    /// lasts as long as the database, and reveals nothing of the key itself.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"derived:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn number_mac(&self, number: &E164) -> Vec<u8> {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(number.as_str().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Marks `number` as opted out (`true`, after STOP) or in again (`false`, after START).
    pub fn set_opted_out(&self, number: &E164, opted_out: bool) -> Result<(), StoreError> {
        let mac = self.number_mac(number);
        let conn = self.conn();
        if opted_out {
            conn.execute(
                "INSERT OR IGNORE INTO opt_out (number_mac, since) VALUES (?1, ?2)",
                params![mac, now()],
            )?;
        } else {
            conn.execute("DELETE FROM opt_out WHERE number_mac = ?1", params![mac])?;
        }
        Ok(())
    }

    /// Whether `number` has opted out.
    pub fn is_opted_out(&self, number: &E164) -> Result<bool, StoreError> {
        let mac = self.number_mac(number);
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM opt_out WHERE number_mac = ?1",
                params![mac],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Records an inbound provider message id; `false` if it was already taken (a
    /// provider's retry or a replay), which the caller drops.
    pub fn first_delivery(&self, provider_message_id: &str) -> Result<bool, StoreError> {
        let inserted = self.conn().execute(
            "INSERT OR IGNORE INTO seen_inbound (id, at) VALUES (?1, ?2)",
            params![provider_message_id, now()],
        )?;
        Ok(inserted == 1)
    }

    /// Forgets an inbound id taken by [`SmsStore::first_delivery`] (the message could not
    /// be handed on, so the provider's retry must be accepted).
    pub fn forget_delivery(&self, provider_message_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM seen_inbound WHERE id = ?1",
            params![provider_message_id],
        )?;
        Ok(())
    }

    /// Records a message we handed to the provider.
    pub fn record_sent(
        &self,
        provider_message_id: &str,
        status: DeliveryStatus,
        segments: usize,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO outbound (id, status, segments, updated) VALUES (?1, ?2, ?3, ?4)",
            params![provider_message_id, status_code(status), segments as i64, now()],
        )?;
        Ok(())
    }

    /// Applies a delivery report. Reports can arrive out of order (a late "sent" after
    /// "delivered"), so a state never moves back: returns the new state if it changed.
    pub fn apply_report(
        &self,
        report: &DeliveryReport,
    ) -> Result<Option<DeliveryStatus>, StoreError> {
        let conn = self.conn();
        let old: Option<i64> = conn
            .query_row(
                "SELECT status FROM outbound WHERE id = ?1",
                params![report.provider_message_id],
                |r| r.get(0),
            )
            .optional()?;
        let new = report.status;
        if let Some(old) = old.map(status_of) {
            if old.is_final() || old.rank() >= new.rank() {
                return Ok(None);
            }
        }
        conn.execute(
            "INSERT INTO outbound (id, status, segments, error_code, updated) VALUES (?1, ?2, 0, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET status = ?2, error_code = ?3, updated = ?4",
            params![report.provider_message_id, status_code(new), report.error_code, now()],
        )?;
        Ok(Some(new))
    }

    /// The delivery state of a message we sent, if known.
    pub fn status(&self, provider_message_id: &str) -> Result<Option<DeliveryStatus>, StoreError> {
        let code: Option<i64> = self
            .conn()
            .query_row(
                "SELECT status FROM outbound WHERE id = ?1",
                params![provider_message_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(code.map(status_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::parse(s).unwrap()
    }

    #[test]
    fn opt_out_survives_reopening_and_start_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sms.sqlite");
        {
            let store = SmsStore::open(&path).unwrap();
            store.set_opted_out(&n("+15550100199"), true).unwrap();
        }
        let store = SmsStore::open(&path).unwrap();
        assert!(store.is_opted_out(&n("+15550100199")).unwrap());
        assert!(!store.is_opted_out(&n("+15550100198")).unwrap());
        store.set_opted_out(&n("+15550100199"), false).unwrap();
        assert!(!store.is_opted_out(&n("+15550100199")).unwrap());
    }

    #[test]
    fn the_file_holds_no_phone_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sms.sqlite");
        let store = SmsStore::open(&path).unwrap();
        store.set_opted_out(&n("+15550100199"), true).unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("sms.sqlite-wal")) {
            bytes.extend(wal);
        }
        assert!(!bytes.windows(10).any(|w| w == b"5550100199"));
    }

    #[test]
    fn a_message_id_is_taken_once() {
        let store = SmsStore::open_in_memory().unwrap();
        assert!(store.first_delivery("SM1").unwrap());
        assert!(!store.first_delivery("SM1").unwrap());
        assert!(store.first_delivery("SM2").unwrap());
    }

    #[test]
    fn delivery_state_never_moves_back() {
        let store = SmsStore::open_in_memory().unwrap();
        store.record_sent("SM9", DeliveryStatus::Queued, 2).unwrap();
        let report = |status| DeliveryReport {
            provider_message_id: "SM9".into(),
            status,
            error_code: None,
        };
        assert_eq!(
            store
                .apply_report(&report(DeliveryStatus::Delivered))
                .unwrap(),
            Some(DeliveryStatus::Delivered)
        );
        assert_eq!(
            store.apply_report(&report(DeliveryStatus::Sent)).unwrap(),
            None
        );
        assert_eq!(
            store.status("SM9").unwrap(),
            Some(DeliveryStatus::Delivered)
        );
        assert_eq!(store.status("SM0").unwrap(), None);
    }
}
