//! Schema migrations: numbered steps applied in order, each in its own transaction, with
//! the version in `schema_version`. A database newer than this build is refused rather
//! than guessed at.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE entries (
         id INTEGER PRIMARY KEY,
         call_id TEXT,
         caller_key BLOB NOT NULL,
         caller_id BLOB NOT NULL,
         priority INTEGER NOT NULL,
         kind TEXT NOT NULL,
         enqueued_ms INTEGER NOT NULL,
         line_since_ms INTEGER NOT NULL,
         state TEXT NOT NULL,
         dispatcher BLOB,
         answered_ms INTEGER,
         assigned_ms INTEGER,
         on_hold INTEGER NOT NULL DEFAULT 0,
         note TEXT,
         repeat INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE dispatchers (
         npub BLOB PRIMARY KEY,
         presence TEXT NOT NULL,
         wrap_up_ms INTEGER NOT NULL,
         wrap_up_until_ms INTEGER,
         last_end_ms INTEGER,
         taken_today INTEGER NOT NULL DEFAULT 0,
         day INTEGER NOT NULL DEFAULT 0,
         taken_total INTEGER NOT NULL DEFAULT 0,
         missed INTEGER NOT NULL DEFAULT 0,
         declined INTEGER NOT NULL DEFAULT 0,
         miss_streak INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE callers (
         caller_id BLOB PRIMARY KEY,
         last_seen_ms INTEGER,
         blocked INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE stats (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
];

/// The version this build writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

pub(super) fn version(conn: &Connection) -> Result<i64, StoreError> {
    let v: Option<i64> = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(0))
}

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found = version(conn)?;
    if found > CURRENT {
        return Err(StoreError::TooNew {
            found,
            supported: CURRENT,
        });
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let to = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [to])?;
        tx.commit()?;
    }
    Ok(())
}
