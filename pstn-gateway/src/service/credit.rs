//! What each enrolled user has used of their credit, kept in SQLite so a restart of the
//! gateway gives nobody their minutes back (the overbilling the seed's threat model
//! names). The config grants minutes in all; this ledger holds what was used.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::gateway::Gateway;

/// The used-credit ledger.
pub struct CreditLedger {
    conn: Mutex<Connection>,
    /// Hex key -> milli-minutes granted by the config.
    granted: HashMap<String, u64>,
}

impl CreditLedger {
    /// Opens (creating) the ledger at `path` for users granted `granted` (hex key ->
    /// minutes).
    pub fn open(path: &Path, granted: &[(String, u32)]) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS credit_used (
                 user TEXT PRIMARY KEY,
                 milli INTEGER NOT NULL
             );",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
            granted: granted
                .iter()
                .map(|(user, minutes)| (user.clone(), u64::from(*minutes) * 1_000))
                .collect(),
        })
    }

    fn used(conn: &Connection, user: &str) -> rusqlite::Result<u64> {
        let used: Option<i64> = conn
            .query_row(
                "SELECT milli FROM credit_used WHERE user = ?1",
                params![user],
                |row| row.get(0),
            )
            .optional()?;
        Ok(used.unwrap_or(0).max(0) as u64)
    }

    /// Enrols every granted user in `gateway` with what is left of their credit.
    pub fn restore(&self, gateway: &Gateway) -> rusqlite::Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        for (user, granted) in &self.granted {
            let used = Self::used(&conn, user)?;
            gateway.set_credit_milli(user, granted.saturating_sub(used));
        }
        Ok(())
    }

    /// Writes down what each user has used so far.
    pub fn save(&self, gateway: &Gateway) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        for (user, granted) in &self.granted {
            let Some(left) = gateway.credit_milli(user) else {
                continue;
            };
            // Never less than recorded: a user's usage only grows (a lower grant in the
            // config leaves them with nothing rather than a refund of minutes used).
            let used = granted.saturating_sub(left).max(Self::used(&tx, user)?);
            tx.execute(
                "INSERT INTO credit_used (user, milli) VALUES (?1, ?2)
                 ON CONFLICT(user) DO UPDATE SET milli = excluded.milli",
                params![user, used as i64],
            )?;
        }
        tx.commit()
    }
}
