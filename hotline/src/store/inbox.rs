//! The inbox's tables: conversations (the sender's key only while the conversation is
//! active), their lines, opt-outs by opaque id, dispatcher availability.

use rusqlite::{params, OptionalExtension};

use super::{caller_id_of, exec, from_i64, npub, to_i64, Store, StoreError};
use crate::ids::{CallerId, CallerKey, Npub};
use crate::inbox::{
    Conversation, ConversationId, InboxChanges, InboxCore, InboxDispatcher, InboxSnapshot, Message,
    MessageKind, Status,
};

const CURSOR_KEY: &str = "inbox_cursor";

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt {
        table: "inbox",
        what,
    }
}

impl Store {
    /// Writes the inbox core's pending changes in one transaction.
    pub fn write_inbox(&mut self, core: &mut InboxCore) -> Result<(), StoreError> {
        let changes = core.take_changes();
        self.apply_inbox(&changes)
    }

    /// Writes an inbox change set in one transaction.
    pub fn apply_inbox(&mut self, changes: &InboxChanges) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for c in &changes.conversations {
            // A closed conversation forgets who wrote it: its opaque id stays.
            let key = (c.status != Status::Closed).then(|| c.caller_key.npub().as_bytes().to_vec());
            exec(
                &tx,
                "INSERT INTO inbox_conversations (id, caller_id, caller_key, status, dispatcher, opened_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET caller_key = ?3, status = ?4, dispatcher = ?5, updated_ms = ?7",
                params![
                    to_i64(c.id.0),
                    c.caller.as_bytes().to_vec(),
                    key,
                    c.status.as_str(),
                    c.assigned.map(|d| d.as_bytes().to_vec()),
                    to_i64(c.opened_ms),
                    to_i64(c.updated_ms)
                ],
            )?;
        }
        for m in &changes.messages {
            let (kind, author, target, rumor): (&str, Option<Npub>, Option<Npub>, Option<&str>) =
                match &m.message.kind {
                    MessageKind::FromSender { rumor_id } => ("sender", None, None, Some(rumor_id)),
                    MessageKind::Reply { dispatcher } => ("reply", Some(*dispatcher), None, None),
                    MessageKind::Note { dispatcher } => ("note", Some(*dispatcher), None, None),
                    MessageKind::Undelivered => ("undelivered", None, None, None),
                    MessageKind::HandOver { from, to } => {
                        ("handover", Some(*from), Some(*to), None)
                    }
                };
            exec(
                &tx,
                "INSERT OR IGNORE INTO inbox_messages (conversation, at_ms, kind, author, target, rumor_id, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    to_i64(m.conversation.0),
                    to_i64(m.message.at_ms),
                    kind,
                    author.map(|n| n.as_bytes().to_vec()),
                    target.map(|n| n.as_bytes().to_vec()),
                    rumor,
                    m.message.text
                ],
            )?;
        }
        for (caller, out) in &changes.opt_outs {
            let sql = if *out {
                "INSERT OR IGNORE INTO inbox_opt_outs (caller_id) VALUES (?1)"
            } else {
                "DELETE FROM inbox_opt_outs WHERE caller_id = ?1"
            };
            exec(&tx, sql, params![caller.as_bytes().to_vec()])?;
        }
        for d in &changes.dispatchers {
            exec(
                &tx,
                "INSERT INTO inbox_dispatchers (npub, available, last_assigned_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (npub) DO UPDATE SET available = ?2, last_assigned_ms = ?3",
                params![
                    d.npub.as_bytes().to_vec(),
                    d.available,
                    d.last_assigned_ms.map(to_i64)
                ],
            )?;
        }
        if let Some(cursor) = changes.cursor {
            exec(
                &tx,
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![CURSOR_KEY, (cursor as u64).to_le_bytes().to_vec()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether a sender's message with this rumor id is already stored (a relay sends
    /// stored wraps again after a restart).
    pub fn inbox_has_rumor(&self, rumor_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM inbox_messages WHERE rumor_id = ?1",
                params![rumor_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Whether the store still holds the sender's key of conversation `id` (only while
    /// it is active).
    pub fn inbox_keeps_sender_key(&self, id: ConversationId) -> Result<bool, StoreError> {
        let key: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT caller_key FROM inbox_conversations WHERE id = ?1",
                params![to_i64(id.0)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(key.flatten().is_some())
    }

    /// The opaque ids of every opted-out sender.
    pub fn opted_out(&self) -> Result<Vec<CallerId>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT caller_id FROM inbox_opt_outs")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|b| caller_id_of(&b?).ok_or(corrupt("opt-out id")))
            .collect()
    }

    /// Every line of a conversation (active or closed), oldest first.
    pub fn inbox_messages(&self, id: ConversationId) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, kind, author, target, rumor_id, text FROM inbox_messages
             WHERE conversation = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![to_i64(id.0)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<Vec<u8>>>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, kind, author, target, rumor, text) = row?;
            let author = author.as_deref().and_then(npub);
            let target = target.as_deref().and_then(npub);
            let kind = match (kind.as_str(), author, target, rumor) {
                ("sender", _, _, Some(rumor_id)) => MessageKind::FromSender { rumor_id },
                ("reply", Some(dispatcher), _, _) => MessageKind::Reply { dispatcher },
                ("note", Some(dispatcher), _, _) => MessageKind::Note { dispatcher },
                ("undelivered", _, _, _) => MessageKind::Undelivered,
                ("handover", Some(from), Some(to), _) => MessageKind::HandOver { from, to },
                _ => return Err(corrupt("message kind")),
            };
            out.push(Message {
                at_ms: from_i64(at),
                kind,
                text,
            });
        }
        Ok(out)
    }

    /// What the inbox core needs after a restart.
    pub fn load_inbox(&self) -> Result<InboxSnapshot, StoreError> {
        let last: Option<i64> =
            self.conn
                .query_row("SELECT MAX(id) FROM inbox_conversations", [], |r| r.get(0))?;
        let mut stmt = self.conn.prepare(
            "SELECT id, caller_id, caller_key, status, dispatcher, opened_ms, updated_ms
             FROM inbox_conversations WHERE status != 'closed' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Option<Vec<u8>>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut conversations = Vec::new();
        for row in rows {
            let (id, caller, key, status, dispatcher, opened, updated) = row?;
            let id = ConversationId(from_i64(id));
            conversations.push(Conversation {
                id,
                caller: caller_id_of(&caller).ok_or(corrupt("caller id"))?,
                caller_key: CallerKey::new(
                    key.as_deref().and_then(npub).ok_or(corrupt("sender key"))?,
                ),
                status: Status::parse(&status).ok_or(corrupt("status"))?,
                assigned: dispatcher.as_deref().and_then(npub),
                opened_ms: from_i64(opened),
                updated_ms: from_i64(updated),
                messages: self.inbox_messages(id)?,
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT npub, available, last_assigned_ms FROM inbox_dispatchers")?;
        let dispatchers = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?
            .map(|row| {
                let (key, available, last) = row?;
                Ok(InboxDispatcher {
                    npub: npub(&key).ok_or(corrupt("dispatcher npub"))?,
                    available,
                    last_assigned_ms: last.map(from_i64),
                    active: 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let cursor: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                params![CURSOR_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let cursor = cursor
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .and_then(|b| usize::try_from(u64::from_le_bytes(b)).ok());
        Ok(InboxSnapshot {
            conversations,
            opted_out: self.opted_out()?,
            dispatchers,
            cursor,
            last_conversation: last.map_or(0, from_i64),
        })
    }
}
