//! Persistence in SQLite: queue entries, dispatcher enrolment and presence, assignments,
//! counters, remembered caller ids and the per-hotline caller-id secret. Written through
//! from [`HotlineCore::take_changes`] in one transaction per batch; read back as a
//! [`Snapshot`] to rebuild a core after a restart.
//!
//! Caller npubs are stored only in the `entries` rows that need them (to re-ring or call
//! back) and deleted with the entry; everything else keys on the opaque caller id.

mod broadcast;
mod inbox;
mod schema;
mod voicemail;

pub use broadcast::PendingRecipient;
pub use voicemail::{StoredVoicemail, VoicemailRow, MAX_STORED_VOICEMAILS};

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::core::{
    CallerRecord, ChangeSet, DispatcherRecord, EntryKind, EntryRecord, HotlineCore, HotlineStats,
    Presence, Snapshot, StoredEntryState,
};
use crate::ids::{CallId, CallerId, CallerIdKey, CallerKey, EntryId, Npub};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer version of this crate.
    #[error("database schema version {found} is newer than this build's {supported}")]
    TooNew {
        /// In the file.
        found: i64,
        /// Known here.
        supported: i64,
    },
    /// A row that does not decode (hand-edited or corrupt database).
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// No randomness for a new caller-id secret.
    #[error("no randomness for the caller-id secret")]
    Random,
}

/// The hotline's SQLite database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // WAL: readers (a stats screen) never block the writer; NORMAL sync is durable
        // across process crashes, which is what a service restart is.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A caller's npub row is deleted when the entry ends; zero it on disk too, so the
        // file does not keep callers' keys in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        Self::with_connection(conn)
    }

    /// An in-memory database (tests, benches).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<Self, StoreError> {
        schema::migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// The schema version in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::version(&self.conn)
    }

    /// The per-hotline caller-id secret, created on first use. Kept here so caller ids
    /// (repeat flags, the block list) stay stable across restarts.
    pub fn caller_id_key(&mut self) -> Result<CallerIdKey, StoreError> {
        let existing: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'caller_id_secret'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(bytes) = existing {
            let array: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt {
                    table: "meta",
                    what: "caller_id_secret is not 32 bytes",
                })?;
            return Ok(CallerIdKey::from_bytes(array));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| StoreError::Random)?;
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('caller_id_secret', ?1)",
            params![secret.to_vec()],
        )?;
        Ok(CallerIdKey::from_bytes(secret))
    }

    /// Writes the core's pending changes in one transaction.
    pub fn write_through(&mut self, core: &mut HotlineCore) -> Result<(), StoreError> {
        let changes = core.take_changes();
        self.apply(&changes)
    }

    /// Writes a change set in one transaction.
    pub fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for rec in &changes.entries {
            put_entry(&tx, rec)?;
        }
        for id in &changes.removed {
            exec(
                &tx,
                "DELETE FROM entries WHERE id = ?1",
                params![to_i64(id.0)],
            )?;
        }
        for rec in &changes.dispatchers {
            put_dispatcher(&tx, rec)?;
        }
        for rec in &changes.callers {
            if rec.last_seen_ms.is_none() && !rec.blocked {
                exec(
                    &tx,
                    "DELETE FROM callers WHERE caller_id = ?1",
                    params![rec.caller_id.as_bytes().to_vec()],
                )?;
            } else {
                exec(
                    &tx,
                    "INSERT OR REPLACE INTO callers (caller_id, last_seen_ms, blocked) \
                     VALUES (?1, ?2, ?3)",
                    params![
                        rec.caller_id.as_bytes().to_vec(),
                        rec.last_seen_ms.map(to_i64),
                        rec.blocked
                    ],
                )?;
            }
        }
        if let Some(stats) = &changes.stats {
            put_stats(&tx, stats)?;
        }
        if let Some((next_id, rr_last)) = &changes.meta {
            exec(
                &tx,
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_entry_id', ?1)",
                params![to_i64(*next_id).to_le_bytes().to_vec()],
            )?;
            exec(
                &tx,
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('rr_last', ?1)",
                params![rr_last.map(|n| n.as_bytes().to_vec()).unwrap_or_default()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Everything stored, to rebuild a core with [`HotlineCore::restore`].
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        let mut snapshot = Snapshot {
            next_entry_id: 1,
            ..Snapshot::default()
        };
        let mut stmt = self.conn.prepare(
            "SELECT id, call_id, caller_key, caller_id, priority, kind, enqueued_ms, state, \
             dispatcher, answered_ms, assigned_ms, on_hold, note, repeat, line_since_ms \
             FROM entries ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            snapshot.entries.push(entry_from_row(r)?);
        }
        snapshot.dispatchers = load_dispatchers(&self.conn)?;
        let mut stmt = self
            .conn
            .prepare("SELECT caller_id, last_seen_ms, blocked FROM callers ORDER BY caller_id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?;
        for row in rows {
            let (id, seen, blocked) = row?;
            snapshot.callers.push(CallerRecord {
                caller_id: caller_id_of(&id).ok_or(StoreError::Corrupt {
                    table: "callers",
                    what: "caller_id",
                })?,
                last_seen_ms: seen.map(from_i64),
                blocked,
            });
        }
        snapshot.stats = load_stats(&self.conn)?;
        let meta = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        if let Some(bytes) = meta("next_entry_id")? {
            let array: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt {
                    table: "meta",
                    what: "next_entry_id",
                })?;
            snapshot.next_entry_id = from_i64(i64::from_le_bytes(array));
        }
        snapshot.rr_last = meta("rr_last")?.and_then(|b| npub(&b));
        Ok(snapshot)
    }
}

/// Runs a statement through the connection's statement cache: write-through runs the same
/// few statements on every input, and preparing them is most of the cost.
fn exec(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> Result<usize, StoreError> {
    Ok(tx.prepare_cached(sql)?.execute(p)?)
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> Result<EntryRecord, StoreError> {
    let corrupt = |what| StoreError::Corrupt {
        table: "entries",
        what,
    };
    let caller: Vec<u8> = r.get(2)?;
    let caller_id: Vec<u8> = r.get(3)?;
    let kind: String = r.get(5)?;
    let state: String = r.get(7)?;
    let dispatcher: Option<Vec<u8>> = r.get(8)?;
    Ok(EntryRecord {
        id: EntryId(from_i64(r.get(0)?)),
        call: r.get::<_, Option<String>>(1)?.map(CallId),
        caller: CallerKey::new(npub(&caller).ok_or(corrupt("caller_key"))?),
        caller_id: caller_id_of(&caller_id).ok_or(corrupt("caller_id"))?,
        priority: r.get(4)?,
        kind: match kind.as_str() {
            "live" => EntryKind::Live,
            "callback" => EntryKind::Callback,
            _ => return Err(corrupt("kind")),
        },
        enqueued_ms: from_i64(r.get(6)?),
        line_since_ms: from_i64(r.get(14)?),
        state: match state.as_str() {
            "waiting" => StoredEntryState::Waiting,
            "ringing" => StoredEntryState::Ringing,
            "assigned" => StoredEntryState::Assigned,
            _ => return Err(corrupt("state")),
        },
        dispatcher: match dispatcher {
            Some(bytes) => Some(npub(&bytes).ok_or(corrupt("dispatcher"))?),
            None => None,
        },
        answered_ms: r.get::<_, Option<i64>>(9)?.map(from_i64),
        assigned_ms: r.get::<_, Option<i64>>(10)?.map(from_i64),
        on_hold: r.get(11)?,
        note: r.get(12)?,
        repeat: r.get(13)?,
    })
}

fn put_entry(tx: &Transaction<'_>, rec: &EntryRecord) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT OR REPLACE INTO entries (id, call_id, caller_key, caller_id, priority, kind, \
         enqueued_ms, state, dispatcher, answered_ms, assigned_ms, on_hold, note, repeat, \
         line_since_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            to_i64(rec.id.0),
            rec.call.as_ref().map(|c| c.0.as_str()),
            rec.caller.npub().as_bytes().to_vec(),
            rec.caller_id.as_bytes().to_vec(),
            rec.priority,
            match rec.kind {
                EntryKind::Live => "live",
                EntryKind::Callback => "callback",
            },
            to_i64(rec.enqueued_ms),
            match rec.state {
                StoredEntryState::Waiting => "waiting",
                StoredEntryState::Ringing => "ringing",
                StoredEntryState::Assigned => "assigned",
            },
            rec.dispatcher.map(|d| d.as_bytes().to_vec()),
            rec.answered_ms.map(to_i64),
            rec.assigned_ms.map(to_i64),
            rec.on_hold,
            rec.note,
            rec.repeat,
            to_i64(rec.line_since_ms),
        ],
    )?;
    Ok(())
}

fn put_dispatcher(tx: &Transaction<'_>, rec: &DispatcherRecord) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT OR REPLACE INTO dispatchers (npub, presence, wrap_up_ms, wrap_up_until_ms, \
         last_end_ms, taken_today, day, taken_total, missed, declined, miss_streak) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            rec.npub.as_bytes().to_vec(),
            rec.presence.as_str(),
            to_i64(u64::try_from(rec.wrap_up.as_millis()).unwrap_or(u64::MAX)),
            rec.wrap_up_until_ms.map(to_i64),
            rec.last_end_ms.map(to_i64),
            rec.taken_today,
            to_i64(rec.day),
            to_i64(rec.taken_total),
            to_i64(rec.missed),
            to_i64(rec.declined),
            rec.miss_streak,
        ],
    )?;
    Ok(())
}

fn load_dispatchers(conn: &Connection) -> Result<Vec<DispatcherRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT npub, presence, wrap_up_ms, wrap_up_until_ms, last_end_ms, taken_today, day, \
         taken_total, missed, declined, miss_streak FROM dispatchers ORDER BY npub",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, u32>(10)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, presence, wrap, until, last, today, day, total, missed, declined, streak) = row?;
        let corrupt = |what| StoreError::Corrupt {
            table: "dispatchers",
            what,
        };
        out.push(DispatcherRecord {
            npub: npub(&key).ok_or(corrupt("npub"))?,
            presence: Presence::parse(&presence).ok_or(corrupt("presence"))?,
            wrap_up: Duration::from_millis(from_i64(wrap)),
            wrap_up_until_ms: until.map(from_i64),
            last_end_ms: last.map(from_i64),
            taken_today: today,
            day: from_i64(day),
            taken_total: from_i64(total),
            missed: from_i64(missed),
            declined: from_i64(declined),
            miss_streak: streak,
        });
    }
    Ok(out)
}

/// Counters by name, so a new counter needs no migration of old rows.
const COUNTERS: [&str; 11] = [
    "queued",
    "answered",
    "answered_within_sl",
    "abandoned",
    "voicemail",
    "callbacks_created",
    "callbacks_placed",
    "refused",
    "completed",
    "total_wait_ms",
    "total_handle_ms",
];

fn counter_refs(s: &mut HotlineStats) -> [&mut u64; 11] {
    [
        &mut s.queued,
        &mut s.answered,
        &mut s.answered_within_sl,
        &mut s.abandoned,
        &mut s.voicemail,
        &mut s.callbacks_created,
        &mut s.callbacks_placed,
        &mut s.refused,
        &mut s.completed,
        &mut s.total_wait_ms,
        &mut s.total_handle_ms,
    ]
}

fn put_stats(tx: &Transaction<'_>, stats: &HotlineStats) -> Result<(), StoreError> {
    let mut copy = stats.clone();
    // One statement for every counter: they change together on most inputs.
    let values: Vec<(&str, i64)> = COUNTERS
        .iter()
        .zip(counter_refs(&mut copy))
        .map(|(name, value)| (*name, to_i64(*value)))
        .collect();
    let placeholders = vec!["(?, ?)"; values.len()].join(", ");
    let sql = format!("INSERT OR REPLACE INTO stats (name, value) VALUES {placeholders}");
    let flat: Vec<rusqlite::types::Value> = values
        .into_iter()
        .flat_map(|(name, value)| [name.to_owned().into(), value.into()])
        .collect();
    exec(tx, &sql, rusqlite::params_from_iter(flat))?;
    let recent: Vec<String> = stats.recent_handle_ms.iter().map(u64::to_string).collect();
    exec(
        tx,
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('recent_handle_ms', ?1)",
        params![recent.join(",").into_bytes()],
    )?;
    Ok(())
}

fn load_stats(conn: &Connection) -> Result<HotlineStats, StoreError> {
    let mut stats = HotlineStats::default();
    for (name, slot) in COUNTERS.iter().zip(counter_refs(&mut stats)) {
        let value: Option<i64> = conn
            .query_row("SELECT value FROM stats WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        *slot = value.map_or(0, from_i64);
    }
    let recent: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'recent_handle_ms'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(bytes) = recent {
        let text = String::from_utf8_lossy(&bytes);
        stats.recent_handle_ms = text
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
    }
    Ok(stats)
}

fn npub(bytes: &[u8]) -> Option<Npub> {
    Some(Npub::from_bytes(bytes.try_into().ok()?))
}

fn caller_id_of(bytes: &[u8]) -> Option<CallerId> {
    Some(CallerId::from_bytes(bytes.try_into().ok()?))
}

/// SQLite integers are signed; our counters and unix times fit comfortably.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
