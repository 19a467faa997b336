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
    // 2: the messaging inbox and broadcasts. A conversation's sender key is cleared when
    // it closes; opt-outs key on the opaque caller id.
    "CREATE TABLE inbox_conversations (
         id INTEGER PRIMARY KEY,
         caller_id BLOB NOT NULL,
         caller_key BLOB,
         status TEXT NOT NULL,
         dispatcher BLOB,
         opened_ms INTEGER NOT NULL,
         updated_ms INTEGER NOT NULL
     );
     CREATE INDEX inbox_conversations_status ON inbox_conversations (status);
     CREATE TABLE inbox_messages (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         conversation INTEGER NOT NULL,
         at_ms INTEGER NOT NULL,
         kind TEXT NOT NULL,
         author BLOB,
         target BLOB,
         rumor_id TEXT UNIQUE,
         text TEXT NOT NULL
     );
     CREATE INDEX inbox_messages_conversation ON inbox_messages (conversation);
     CREATE TABLE inbox_opt_outs (caller_id BLOB PRIMARY KEY);
     CREATE TABLE inbox_dispatchers (
         npub BLOB PRIMARY KEY,
         available INTEGER NOT NULL,
         last_assigned_ms INTEGER
     );
     CREATE TABLE broadcasts (
         id INTEGER PRIMARY KEY,
         text TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         finished_ms INTEGER
     );
     CREATE TABLE broadcast_recipients (
         broadcast INTEGER NOT NULL,
         position INTEGER NOT NULL,
         npub BLOB NOT NULL,
         state TEXT NOT NULL,
         wrap TEXT,
         relays_ok INTEGER NOT NULL DEFAULT 0,
         relays_total INTEGER NOT NULL DEFAULT 0,
         attempts INTEGER NOT NULL DEFAULT 0,
         reason TEXT,
         PRIMARY KEY (broadcast, position)
     );",
    // 3: voicemail. The recording is encrypted with a content key that is only stored
    // sealed to each enrolled dispatcher (`voicemail_keys`); nothing here plays it.
    "CREATE TABLE voicemails (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         caller_id BLOB NOT NULL,
         recorded_ms INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         ephemeral BLOB NOT NULL,
         nonce BLOB NOT NULL,
         audio BLOB NOT NULL,
         heard INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE voicemail_keys (
         voicemail INTEGER NOT NULL,
         dispatcher BLOB NOT NULL,
         sealed TEXT NOT NULL,
         PRIMARY KEY (voicemail, dispatcher)
     );",
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
