//! Broadcast progress: the text, each recipient's state and the exact wrap built for them
//! (a resumed broadcast re-publishes that same wrap, which relays and clients drop as a
//! duplicate, instead of a second message).

use rusqlite::{params, OptionalExtension};

use super::{exec, from_i64, npub, to_i64, Store, StoreError};
use crate::broadcast::{BroadcastId, DeliveryReport, Outcome, RecipientReport};
use crate::ids::{CallerId, Npub};

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt {
        table: "broadcast_recipients",
        what,
    }
}

/// A recipient still to send to.
#[derive(Debug, Clone)]
pub struct PendingRecipient {
    /// Place in the list.
    pub position: u64,
    /// Who.
    pub recipient: Npub,
    /// The wrap already built for them, JSON, if any.
    pub wrap: Option<String>,
}

impl Store {
    /// Records a new broadcast of `text` to `recipients` (in order), all pending.
    pub fn create_broadcast(
        &mut self,
        text: &str,
        recipients: &[Npub],
        now_ms: u64,
    ) -> Result<BroadcastId, StoreError> {
        let tx = self.conn.transaction()?;
        exec(
            &tx,
            "INSERT INTO broadcasts (text, created_ms) VALUES (?1, ?2)",
            params![text, to_i64(now_ms)],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx.prepare(
                "INSERT INTO broadcast_recipients (broadcast, position, npub, state) VALUES (?1, ?2, ?3, 'pending')",
            )?;
            for (i, r) in recipients.iter().enumerate() {
                stmt.execute(params![id, i as i64, r.as_bytes().to_vec()])?;
            }
        }
        tx.commit()?;
        Ok(BroadcastId(from_i64(id)))
    }

    /// The text of a broadcast.
    pub fn broadcast_text(&self, id: BroadcastId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT text FROM broadcasts WHERE id = ?1",
                params![to_i64(id.0)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Broadcasts not finished yet (to resume after a restart), oldest first.
    pub fn unfinished_broadcasts(&self) -> Result<Vec<BroadcastId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM broadcasts WHERE finished_ms IS NULL ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        rows.map(|r| Ok(BroadcastId(from_i64(r?)))).collect()
    }

    /// Recipients of `id` still pending, in list order.
    pub fn pending_recipients(&self, id: BroadcastId) -> Result<Vec<PendingRecipient>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT position, npub, wrap FROM broadcast_recipients
             WHERE broadcast = ?1 AND state = 'pending' ORDER BY position",
        )?;
        let rows = stmt.query_map(params![to_i64(id.0)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (position, key, wrap) = row?;
            Ok(PendingRecipient {
                position: from_i64(position),
                recipient: npub(&key).ok_or(corrupt("npub"))?,
                wrap,
            })
        })
        .collect()
    }

    /// Keeps the wrap built for a recipient, before it is published.
    pub fn save_broadcast_wrap(
        &mut self,
        id: BroadcastId,
        position: u64,
        wrap_json: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE broadcast_recipients SET wrap = ?3 WHERE broadcast = ?1 AND position = ?2",
            params![to_i64(id.0), to_i64(position), wrap_json],
        )?;
        Ok(())
    }

    /// Records what happened for one recipient. A final outcome drops the stored wrap.
    pub fn record_outcome(
        &mut self,
        id: BroadcastId,
        position: u64,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let (state, ok, total, attempts, reason) = match outcome {
            Outcome::Pending => ("pending", 0, 0, 0, None),
            Outcome::Delivered {
                relays_ok,
                relays_total,
                attempts,
            } => ("delivered", *relays_ok, *relays_total, *attempts, None),
            Outcome::Failed {
                relays_total,
                attempts,
                reason,
            } => ("failed", 0, *relays_total, *attempts, Some(reason.as_str())),
            Outcome::SkippedOptedOut => ("skipped", 0, 0, 0, None),
        };
        let tx = self.conn.transaction()?;
        exec(
            &tx,
            "UPDATE broadcast_recipients SET state = ?3, relays_ok = ?4, relays_total = ?5,
                 attempts = ?6, reason = ?7, wrap = CASE WHEN ?3 = 'pending' THEN wrap ELSE NULL END
             WHERE broadcast = ?1 AND position = ?2",
            params![
                to_i64(id.0),
                to_i64(position),
                state,
                ok,
                total,
                attempts,
                reason
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a broadcast finished.
    pub fn finish_broadcast(&mut self, id: BroadcastId, now_ms: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE broadcasts SET finished_ms = ?2 WHERE id = ?1",
            params![to_i64(id.0), to_i64(now_ms)],
        )?;
        Ok(())
    }

    /// Whether the sender with this opaque id opted out of broadcasts.
    pub fn is_opted_out(&self, caller: &CallerId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM inbox_opt_outs WHERE caller_id = ?1",
                params![caller.as_bytes().to_vec()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The delivery report of a broadcast as it stands.
    pub fn delivery_report(&self, id: BroadcastId) -> Result<DeliveryReport, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT npub, state, relays_ok, relays_total, attempts, reason FROM broadcast_recipients
             WHERE broadcast = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map(params![to_i64(id.0)], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut recipients = Vec::new();
        for row in rows {
            let (key, state, relays_ok, relays_total, attempts, reason) = row?;
            let outcome = match state.as_str() {
                "pending" => Outcome::Pending,
                "delivered" => Outcome::Delivered {
                    relays_ok,
                    relays_total,
                    attempts,
                },
                "failed" => Outcome::Failed {
                    relays_total,
                    attempts,
                    reason: reason.unwrap_or_default(),
                },
                "skipped" => Outcome::SkippedOptedOut,
                _ => return Err(corrupt("state")),
            };
            recipients.push(RecipientReport {
                recipient: npub(&key).ok_or(corrupt("npub"))?,
                outcome,
            });
        }
        Ok(DeliveryReport { id, recipients })
    }
}
