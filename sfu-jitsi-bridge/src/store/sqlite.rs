//! [`Store`] in an embedded SQLite file (rusqlite with the `bundled` SQLite, so no system
//! library is needed and every build has the same SQLite).
//!
//! One connection behind a mutex per `SqliteStore`; several stores (processes) may open the
//! same file: WAL journal, a 5-second busy timeout, and writes that must not race run in
//! `BEGIN IMMEDIATE` transactions, which take the file's write lock before the first read.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{
    apply_change, decide_rotation, parse_tier, Account, BillingChange, BillingOutcome, BillingTx,
    NewRefreshToken, NonceState, RefreshOutcome, RefreshRow, RoomRecord, RotationStep, Store,
    StoreError, STRIPE_EVENT_RETENTION_SECS,
};

/// Schema versions, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE siws_nonces (
        nonce TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE TABLE refresh_families (
        family TEXT PRIMARY KEY,
        wallet TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX refresh_families_wallet ON refresh_families (wallet);
    CREATE TABLE refresh_tokens (
        token_hash BLOB PRIMARY KEY,
        family TEXT NOT NULL REFERENCES refresh_families (family) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
    CREATE TABLE accounts (
        wallet TEXT PRIMARY KEY,
        tier TEXT NOT NULL,
        stripe_customer TEXT UNIQUE,
        tier_event_created INTEGER NOT NULL
    );
    CREATE TABLE stripe_events (
        event_id TEXT PRIMARY KEY,
        processed_at INTEGER NOT NULL
    );",
    ),
    // The room directory: which service process holds each open room (no wallet, no name).
    (
        2,
        "CREATE TABLE rooms (
        room TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );",
    ),
    // What reopens a room after its process restarted: the host as a keyed hash of the
    // wallet (never the wallet) and the plan's tier.
    (
        3,
        "ALTER TABLE rooms ADD COLUMN host_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE rooms ADD COLUMN tier TEXT NOT NULL DEFAULT 'free';",
    ),
    // The cluster's processes and when each last said it was alive (its rooms are taken
    // over by another process when it stops).
    (
        4,
        "CREATE TABLE cluster_processes (
        advertise TEXT PRIMARY KEY,
        seen_at INTEGER NOT NULL
    );",
    ),
];

/// Wait this long for another connection's write lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version applied.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.lock()?;
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, unixepoch())",
            [version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<(String, String, Option<String>, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_account(
    row: Option<(String, String, Option<String>, i64)>,
) -> Result<Option<Account>, StoreError> {
    row.map(|(wallet, tier, stripe_customer, tier_event_created)| {
        Ok(Account {
            wallet,
            tier: parse_tier(&tier)?,
            stripe_customer,
            tier_event_created,
        })
    })
    .transpose()
}

const ACCOUNT_COLUMNS: &str =
    "SELECT wallet, tier, stripe_customer, tier_event_created FROM accounts";

impl BillingTx for Transaction<'_> {
    fn account_by_wallet(&mut self, wallet: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE wallet = ?1");
        to_account(
            self.query_row(&sql, [wallet], account_from_row)
                .optional()?,
        )
    }

    fn account_by_customer(&mut self, customer: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE stripe_customer = ?1");
        to_account(
            self.query_row(&sql, [customer], account_from_row)
                .optional()?,
        )
    }

    fn write_account(&mut self, a: &Account) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO accounts (wallet, tier, stripe_customer, tier_event_created)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (wallet) DO UPDATE SET tier = excluded.tier,
                 stripe_customer = excluded.stripe_customer,
                 tier_event_created = excluded.tier_event_created",
            params![
                a.wallet,
                a.tier.as_str(),
                a.stripe_customer,
                a.tier_event_created
            ],
        )?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn issue_nonce(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError> {
        let n = self.lock()?.execute(
            "INSERT INTO siws_nonces (nonce, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![nonce, expires_at],
        )?;
        if n == 0 {
            return Err(StoreError::DuplicateNonce);
        }
        Ok(())
    }

    fn consume_nonce(&self, nonce: &str, now: i64) -> Result<NonceState, StoreError> {
        let conn = self.lock()?;
        let n = conn.execute(
            "UPDATE siws_nonces SET used_at = ?2
             WHERE nonce = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![nonce, now],
        )?;
        if n == 1 {
            return Ok(NonceState::Consumed);
        }
        let row: Option<Option<i64>> = conn
            .query_row(
                "SELECT used_at FROM siws_nonces WHERE nonce = ?1",
                [nonce],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match row {
            None => NonceState::Unknown,
            Some(Some(_)) => NonceState::AlreadyUsed,
            Some(None) => NonceState::Expired,
        })
    }

    fn start_refresh_family(
        &self,
        family: &str,
        wallet: &str,
        first: &NewRefreshToken,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO refresh_families (family, wallet, created_at) VALUES (?1, ?2, ?3)",
            params![family, wallet, now],
        )?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family, expires_at, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![&first.hash[..], family, first.expires_at, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn rotate_refresh(
        &self,
        presented: &[u8; 32],
        next: &NewRefreshToken,
        now: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT t.family, f.wallet, t.used_at IS NOT NULL, f.revoked, t.expires_at
                 FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family
                 WHERE t.token_hash = ?1",
                [&presented[..]],
                |r| {
                    Ok(RefreshRow {
                        family: r.get(0)?,
                        wallet: r.get(1)?,
                        used: r.get(2)?,
                        revoked: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                },
            )
            .optional()?;
        let outcome = match decide_rotation(row, now) {
            RotationStep::Finish(outcome) => outcome,
            RotationStep::RevokeFamily(outcome) => {
                if let RefreshOutcome::Reused { family, .. } = &outcome {
                    tx.execute(
                        "UPDATE refresh_families SET revoked = 1 WHERE family = ?1",
                        [family],
                    )?;
                }
                outcome
            }
            RotationStep::UseAndInsert(outcome) => {
                if let RefreshOutcome::Rotated { family, .. } = &outcome {
                    tx.execute(
                        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
                        params![&presented[..], now],
                    )?;
                    tx.execute(
                        "INSERT INTO refresh_tokens (token_hash, family, expires_at, created_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![&next.hash[..], family, next.expires_at, now],
                    )?;
                }
                outcome
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn revoke_wallet_sessions(&self, wallet: &str) -> Result<u64, StoreError> {
        let n = self.lock()?.execute(
            "UPDATE refresh_families SET revoked = 1 WHERE wallet = ?1 AND revoked = 0",
            [wallet],
        )?;
        Ok(n as u64)
    }

    fn account(&self, wallet: &str) -> Result<Option<Account>, StoreError> {
        let conn = self.lock()?;
        let sql = format!("{ACCOUNT_COLUMNS} WHERE wallet = ?1");
        to_account(
            conn.query_row(&sql, [wallet], account_from_row)
                .optional()?,
        )
    }

    fn apply_billing_event(
        &self,
        event_id: &str,
        created: i64,
        change: &BillingChange,
        now: i64,
    ) -> Result<BillingOutcome, StoreError> {
        let mut conn = self.lock()?;
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let fresh = tx.execute(
            "INSERT INTO stripe_events (event_id, processed_at) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
            params![event_id, now],
        )?;
        if fresh == 0 {
            return Ok(BillingOutcome::Duplicate);
        }
        let outcome = apply_change(&mut tx, change, created)?;
        tx.commit()?;
        Ok(outcome)
    }

    fn put_room(&self, room: &str, record: &RoomRecord) -> Result<(), StoreError> {
        let RoomRecord {
            owner,
            expires_at,
            host_key,
            tier,
        } = record;
        let tier = tier.as_str();
        self.lock()?.execute(
            "INSERT INTO rooms (room, owner, expires_at, host_key, tier) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (room) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
             host_key = excluded.host_key, tier = excluded.tier",
            params![room, owner, expires_at, host_key, tier],
        )?;
        Ok(())
    }

    fn room_record(&self, room: &str, now: i64) -> Result<Option<RoomRecord>, StoreError> {
        let row: Option<(String, i64, String, String)> = self
            .lock()?
            .query_row(
                "SELECT owner, expires_at, host_key, tier FROM rooms WHERE room = ?1 AND expires_at > ?2",
                params![room, now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(owner, expires_at, host_key, tier)| {
            Ok(RoomRecord {
                owner,
                expires_at,
                host_key,
                tier: parse_tier(&tier)?,
            })
        })
        .transpose()
    }

    fn beat(&self, process: &str, now: i64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO cluster_processes (advertise, seen_at) VALUES (?1, ?2)
             ON CONFLICT (advertise) DO UPDATE SET seen_at = excluded.seen_at",
            params![process, now],
        )?;
        Ok(())
    }

    fn last_beat(&self, process: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .lock()?
            .query_row(
                "SELECT seen_at FROM cluster_processes WHERE advertise = ?1",
                [process],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn claim_room(&self, room: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let changed = self.lock()?.execute(
            "UPDATE rooms SET owner = ?3 WHERE room = ?1 AND owner = ?2",
            params![room, from, to],
        )?;
        Ok(changed == 1)
    }

    fn drop_room(&self, room: &str) -> Result<(), StoreError> {
        self.lock()?
            .execute("DELETE FROM rooms WHERE room = ?1", [room])?;
        Ok(())
    }

    fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = tx.execute("DELETE FROM siws_nonces WHERE expires_at <= ?1", [now])?;
        n += tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?;
        n += tx.execute(
            "DELETE FROM refresh_families WHERE NOT EXISTS
             (SELECT 1 FROM refresh_tokens t WHERE t.family = refresh_families.family)",
            [],
        )?;
        n += tx.execute(
            "DELETE FROM stripe_events WHERE processed_at <= ?1",
            [now - STRIPE_EVENT_RETENTION_SECS],
        )?;
        n += tx.execute("DELETE FROM rooms WHERE expires_at <= ?1", [now])?;
        // A process gone a day is gone for good (its rooms expired with it or were taken).
        n += tx.execute(
            "DELETE FROM cluster_processes WHERE seen_at <= ?1",
            [now - 86_400],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }
}
