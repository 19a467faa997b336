//! Voicemails in the store: the encrypted recording, its ephemeral public key and nonce,
//! and one sealed content key per dispatcher enrolled when it was recorded. The store
//! never sees the content key or the audio in the clear.

use rusqlite::{params, OptionalExtension};

use super::{from_i64, to_i64, Store, StoreError};
use crate::ids::{CallerId, Npub};

/// Most voicemails kept: a new one past it is not stored (the operator's disk is bounded;
/// old messages are deleted by dispatchers, never silently by the service).
pub const MAX_STORED_VOICEMAILS: usize = 1000;

/// A voicemail to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVoicemail {
    /// The caller, opaque.
    pub caller_id: CallerId,
    /// When it was recorded, unix milliseconds.
    pub recorded_ms: u64,
    /// Its length.
    pub duration_ms: u32,
    /// The recording's ephemeral public key (x-only, 32 bytes).
    pub ephemeral: [u8; 32],
    /// The ChaCha20-Poly1305 nonce.
    pub nonce: [u8; 12],
    /// The encrypted recording, tag included.
    pub audio: Vec<u8>,
    /// The content key sealed to each dispatcher (NIP-44 v2 payloads).
    pub sealed: Vec<(Npub, String)>,
}

/// A stored voicemail as listed (no audio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailRow {
    /// Its id.
    pub id: u64,
    /// The caller, opaque.
    pub caller_id: CallerId,
    /// When it was recorded, unix milliseconds.
    pub recorded_ms: u64,
    /// Its length.
    pub duration_ms: u32,
    /// Marked heard by a dispatcher.
    pub heard: bool,
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt {
        table: "voicemails",
        what,
    }
}

impl Store {
    /// Stores a voicemail; `None` when [`MAX_STORED_VOICEMAILS`] are kept already.
    pub fn put_voicemail(&mut self, vm: &StoredVoicemail) -> Result<Option<u64>, StoreError> {
        let tx = self.conn.transaction()?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM voicemails", [], |r| r.get(0))?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_STORED_VOICEMAILS {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO voicemails (caller_id, recorded_ms, duration_ms, ephemeral, nonce, \
             audio) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                vm.caller_id.as_bytes().to_vec(),
                to_i64(vm.recorded_ms),
                vm.duration_ms,
                vm.ephemeral.to_vec(),
                vm.nonce.to_vec(),
                vm.audio,
            ],
        )?;
        let id = tx.last_insert_rowid();
        for (dispatcher, sealed) in &vm.sealed {
            tx.execute(
                "INSERT OR REPLACE INTO voicemail_keys (voicemail, dispatcher, sealed) \
                 VALUES (?1, ?2, ?3)",
                params![id, dispatcher.as_bytes().to_vec(), sealed],
            )?;
        }
        tx.commit()?;
        Ok(Some(from_i64(id)))
    }

    /// The newest `limit` voicemails, newest first.
    pub fn voicemails(&self, limit: usize) -> Result<Vec<VoicemailRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, caller_id, recorded_ms, duration_ms, heard FROM voicemails \
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([to_i64(limit as u64)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, caller, at, duration_ms, heard) = row?;
            out.push(VoicemailRow {
                id: from_i64(id),
                caller_id: super::caller_id_of(&caller).ok_or(corrupt("caller_id"))?,
                recorded_ms: from_i64(at),
                duration_ms,
                heard,
            });
        }
        Ok(out)
    }

    /// Voicemail `id` as `dispatcher` may read it: the row, and the content key sealed to
    /// them. `None` when there is no such voicemail or none sealed to them.
    pub fn voicemail_for(
        &self,
        id: u64,
        dispatcher: &Npub,
    ) -> Result<Option<(VoicemailRow, StoredVoicemail)>, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT v.caller_id, v.recorded_ms, v.duration_ms, v.heard, v.ephemeral, \
                 v.nonce, v.audio, k.sealed FROM voicemails v JOIN voicemail_keys k \
                 ON k.voicemail = v.id WHERE v.id = ?1 AND k.dispatcher = ?2",
                params![to_i64(id), dispatcher.as_bytes().to_vec()],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                        r.get::<_, Vec<u8>>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((caller, at, duration_ms, heard, ephemeral, nonce, audio, sealed)) = found else {
            return Ok(None);
        };
        let caller_id = super::caller_id_of(&caller).ok_or(corrupt("caller_id"))?;
        let row = VoicemailRow {
            id,
            caller_id,
            recorded_ms: from_i64(at),
            duration_ms,
            heard,
        };
        let stored = StoredVoicemail {
            caller_id,
            recorded_ms: row.recorded_ms,
            duration_ms,
            ephemeral: ephemeral.try_into().map_err(|_| corrupt("ephemeral key"))?,
            nonce: nonce.try_into().map_err(|_| corrupt("nonce"))?,
            audio,
            sealed: vec![(*dispatcher, sealed)],
        };
        Ok(Some((row, stored)))
    }

    /// Marks voicemail `id` heard; whether there was one.
    pub fn mark_voicemail_heard(&mut self, id: u64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE voicemails SET heard = 1 WHERE id = ?1",
            [to_i64(id)],
        )? > 0)
    }

    /// Deletes voicemail `id` and its sealed keys (zeroed on disk: `secure_delete`);
    /// whether there was one.
    pub fn delete_voicemail(&mut self, id: u64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM voicemail_keys WHERE voicemail = ?1",
            [to_i64(id)],
        )?;
        let gone = tx.execute("DELETE FROM voicemails WHERE id = ?1", [to_i64(id)])? > 0;
        tx.commit()?;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(sealed_to: &[Npub]) -> StoredVoicemail {
        StoredVoicemail {
            caller_id: CallerId::from_bytes([7; 16]),
            recorded_ms: 1_700_000_000_000,
            duration_ms: 3_000,
            ephemeral: [1; 32],
            nonce: [2; 12],
            audio: vec![3; 100],
            sealed: sealed_to.iter().map(|d| (*d, "c2VhbGVk".into())).collect(),
        }
    }

    #[test]
    fn a_voicemail_is_listed_read_by_its_dispatchers_only_marked_and_deleted() {
        let mut store = Store::in_memory().unwrap();
        let (d1, d2) = (Npub::from_bytes([1; 32]), Npub::from_bytes([2; 32]));
        let id = store.put_voicemail(&vm(&[d1])).unwrap().unwrap();
        let listed = store.voicemails(10).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].heard);
        let (_, read) = store.voicemail_for(id, &d1).unwrap().unwrap();
        assert_eq!(read.audio, vec![3; 100]);
        assert_eq!(read.sealed, vec![(d1, "c2VhbGVk".to_owned())]);
        assert!(store.voicemail_for(id, &d2).unwrap().is_none());
        assert!(store.mark_voicemail_heard(id).unwrap());
        assert!(store.voicemails(10).unwrap()[0].heard);
        assert!(store.delete_voicemail(id).unwrap());
        assert!(!store.delete_voicemail(id).unwrap());
        assert!(store.voicemails(10).unwrap().is_empty());
    }

    #[test]
    fn the_store_keeps_at_most_its_bound() {
        let mut store = Store::in_memory().unwrap();
        let d = Npub::from_bytes([1; 32]);
        for _ in 0..MAX_STORED_VOICEMAILS {
            assert!(store.put_voicemail(&vm(&[d])).unwrap().is_some());
        }
        assert_eq!(store.put_voicemail(&vm(&[d])).unwrap(), None);
        assert_eq!(store.voicemails(5).unwrap().len(), 5);
    }
}
