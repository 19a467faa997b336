//! [`Store`] in PostgreSQL, for several service instances sharing one database (the
//! synchronous `postgres` client; see the parent module on calling it from async code).
//!
//! Rows that a decision reads and then writes are locked with `SELECT … FOR UPDATE`, so two
//! instances rotating the same refresh token serialise and the second sees it used. Schema
//! migrations run under a transaction-scoped advisory lock, so instances starting together
//! apply each version once.
//!
//! The connection is made without TLS: run PostgreSQL on the same host (a Unix socket or
//! loopback) or a private network. TLS to a remote database is not built yet.

use std::sync::{Mutex, MutexGuard};

use ::postgres::{Client, NoTls, Row, Transaction};

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
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE TABLE refresh_families (
        family TEXT PRIMARY KEY,
        wallet TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX refresh_families_wallet ON refresh_families (wallet);
    CREATE TABLE refresh_tokens (
        token_hash BYTEA PRIMARY KEY,
        family TEXT NOT NULL REFERENCES refresh_families (family) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
    CREATE TABLE accounts (
        wallet TEXT PRIMARY KEY,
        tier TEXT NOT NULL,
        stripe_customer TEXT UNIQUE,
        tier_event_created BIGINT NOT NULL
    );
    CREATE TABLE stripe_events (
        event_id TEXT PRIMARY KEY,
        processed_at BIGINT NOT NULL
    );",
    ),
    // The room directory: which service process holds each open room (no wallet, no name).
    (
        2,
        "CREATE TABLE rooms (
        room TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at BIGINT NOT NULL
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
        seen_at BIGINT NOT NULL
    );",
    ),
];

/// Advisory lock key that serialises migrations ("PhCaConf" in ASCII).
const MIGRATION_LOCK: i64 = 0x5068_4361_436f_6e66;

/// The PostgreSQL store.
pub struct PostgresStore {
    client: Mutex<Client>,
}

impl PostgresStore {
    /// Connects with a libpq-style string (`host=/run/postgresql dbname=phantomcall user=…` or
    /// `postgresql://user@localhost/phantomcall`) and brings the schema up to date.
    pub fn connect(params: &str) -> Result<Self, StoreError> {
        let mut client = Client::connect(params, NoTls)?;
        migrate(&mut client)?;
        Ok(Self {
            client: Mutex::new(client),
        })
    }

    /// The schema version applied.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let row = self.lock()?.query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )?;
        Ok(row.get(0))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Client>, StoreError> {
        self.client.lock().map_err(|_| StoreError::Poisoned)
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
            &[version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn to_account(row: Option<Row>) -> Result<Option<Account>, StoreError> {
    row.map(|r| {
        Ok(Account {
            wallet: r.get(0),
            tier: parse_tier(r.get(1))?,
            stripe_customer: r.get(2),
            tier_event_created: r.get(3),
        })
    })
    .transpose()
}

const ACCOUNT_COLUMNS: &str =
    "SELECT wallet, tier, stripe_customer, tier_event_created FROM accounts";

impl BillingTx for Transaction<'_> {
    fn account_by_wallet(&mut self, wallet: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE wallet = $1 FOR UPDATE");
        to_account(self.query_opt(&sql, &[&wallet])?)
    }

    fn account_by_customer(&mut self, customer: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE stripe_customer = $1 FOR UPDATE");
        to_account(self.query_opt(&sql, &[&customer])?)
    }

    fn write_account(&mut self, a: &Account) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO accounts (wallet, tier, stripe_customer, tier_event_created)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (wallet) DO UPDATE SET tier = excluded.tier,
                 stripe_customer = excluded.stripe_customer,
                 tier_event_created = excluded.tier_event_created",
            &[
                &a.wallet,
                &a.tier.as_str(),
                &a.stripe_customer,
                &a.tier_event_created,
            ],
        )?;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn issue_nonce(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError> {
        let n = self.lock()?.execute(
            "INSERT INTO siws_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&nonce, &expires_at],
        )?;
        if n == 0 {
            return Err(StoreError::DuplicateNonce);
        }
        Ok(())
    }

    fn consume_nonce(&self, nonce: &str, now: i64) -> Result<NonceState, StoreError> {
        let mut client = self.lock()?;
        let n = client.execute(
            "UPDATE siws_nonces SET used_at = $2
             WHERE nonce = $1 AND used_at IS NULL AND expires_at > $2",
            &[&nonce, &now],
        )?;
        if n == 1 {
            return Ok(NonceState::Consumed);
        }
        let row = client.query_opt(
            "SELECT used_at FROM siws_nonces WHERE nonce = $1",
            &[&nonce],
        )?;
        Ok(match row.map(|r| r.get::<_, Option<i64>>(0)) {
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
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO refresh_families (family, wallet, created_at) VALUES ($1, $2, $3)",
            &[&family, &wallet, &now],
        )?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family, expires_at, created_at)
             VALUES ($1, $2, $3, $4)",
            &[&&first.hash[..], &family, &first.expires_at, &now],
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
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let row = tx
            .query_opt(
                "SELECT t.family, f.wallet, t.used_at IS NOT NULL, f.revoked, t.expires_at
                 FROM refresh_tokens t JOIN refresh_families f ON f.family = t.family
                 WHERE t.token_hash = $1
                 FOR UPDATE OF t, f",
                &[&&presented[..]],
            )?
            .map(|r| RefreshRow {
                family: r.get(0),
                wallet: r.get(1),
                used: r.get(2),
                revoked: r.get(3),
                expires_at: r.get(4),
            });
        let outcome = match decide_rotation(row, now) {
            RotationStep::Finish(outcome) => outcome,
            RotationStep::RevokeFamily(outcome) => {
                if let RefreshOutcome::Reused { family, .. } = &outcome {
                    tx.execute(
                        "UPDATE refresh_families SET revoked = TRUE WHERE family = $1",
                        &[family],
                    )?;
                }
                outcome
            }
            RotationStep::UseAndInsert(outcome) => {
                if let RefreshOutcome::Rotated { family, .. } = &outcome {
                    tx.execute(
                        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
                        &[&&presented[..], &now],
                    )?;
                    tx.execute(
                        "INSERT INTO refresh_tokens (token_hash, family, expires_at, created_at)
                         VALUES ($1, $2, $3, $4)",
                        &[&&next.hash[..], family, &next.expires_at, &now],
                    )?;
                }
                outcome
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn revoke_wallet_sessions(&self, wallet: &str) -> Result<u64, StoreError> {
        Ok(self.lock()?.execute(
            "UPDATE refresh_families SET revoked = TRUE WHERE wallet = $1 AND NOT revoked",
            &[&wallet],
        )?)
    }

    fn account(&self, wallet: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_COLUMNS} WHERE wallet = $1");
        to_account(self.lock()?.query_opt(&sql, &[&wallet])?)
    }

    fn apply_billing_event(
        &self,
        event_id: &str,
        created: i64,
        change: &BillingChange,
        now: i64,
    ) -> Result<BillingOutcome, StoreError> {
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let fresh = tx.execute(
            "INSERT INTO stripe_events (event_id, processed_at) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&event_id, &now],
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
            "INSERT INTO rooms (room, owner, expires_at, host_key, tier) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (room) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
             host_key = EXCLUDED.host_key, tier = EXCLUDED.tier",
            &[&room, owner, expires_at, host_key, &tier],
        )?;
        Ok(())
    }

    fn room_record(&self, room: &str, now: i64) -> Result<Option<RoomRecord>, StoreError> {
        let row = self.lock()?.query_opt(
            "SELECT owner, expires_at, host_key, tier FROM rooms WHERE room = $1 AND expires_at > $2",
            &[&room, &now],
        )?;
        row.map(|r| {
            let tier: String = r.get(3);
            Ok(RoomRecord {
                owner: r.get(0),
                expires_at: r.get(1),
                host_key: r.get(2),
                tier: parse_tier(&tier)?,
            })
        })
        .transpose()
    }

    fn beat(&self, process: &str, now: i64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO cluster_processes (advertise, seen_at) VALUES ($1, $2)
             ON CONFLICT (advertise) DO UPDATE SET seen_at = EXCLUDED.seen_at",
            &[&process, &now],
        )?;
        Ok(())
    }

    fn last_beat(&self, process: &str) -> Result<Option<i64>, StoreError> {
        let row = self.lock()?.query_opt(
            "SELECT seen_at FROM cluster_processes WHERE advertise = $1",
            &[&process],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn claim_room(&self, room: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let changed = self.lock()?.execute(
            "UPDATE rooms SET owner = $3 WHERE room = $1 AND owner = $2",
            &[&room, &from, &to],
        )?;
        Ok(changed == 1)
    }

    fn drop_room(&self, room: &str) -> Result<(), StoreError> {
        self.lock()?
            .execute("DELETE FROM rooms WHERE room = $1", &[&room])?;
        Ok(())
    }

    fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut client = self.lock()?;
        let mut tx = client.transaction()?;
        let mut n = tx.execute("DELETE FROM siws_nonces WHERE expires_at <= $1", &[&now])?;
        n += tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= $1", &[&now])?;
        n += tx.execute(
            "DELETE FROM refresh_families f WHERE NOT EXISTS
             (SELECT 1 FROM refresh_tokens t WHERE t.family = f.family)",
            &[],
        )?;
        n += tx.execute(
            "DELETE FROM stripe_events WHERE processed_at <= $1",
            &[&(now - STRIPE_EVENT_RETENTION_SECS)],
        )?;
        n += tx.execute("DELETE FROM rooms WHERE expires_at <= $1", &[&now])?;
        // A process gone a day is gone for good (its rooms expired with it or were taken).
        n += tx.execute(
            "DELETE FROM cluster_processes WHERE seen_at <= $1",
            &[&(now - 86_400)],
        )?;
        tx.commit()?;
        Ok(n)
    }
}
