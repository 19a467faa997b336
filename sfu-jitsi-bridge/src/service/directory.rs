//! The room directory as the conference uses it: every room is recorded in the store when
//! it is created, its end moved when it starts, and the record dropped when it ends (by its
//! host, its plan's limit, nobody joining, or everyone leaving). Only a process that dies
//! leaves its rooms recorded, and those are what a join reopens after the restart (or what
//! another process of the cluster relays to).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sfu::RoomId;
use crate::store::{RoomRecord, Store};
use crate::tiers::Tier;

/// The store's room directory, for this process.
pub struct Directory {
    store: Arc<dyn Store>,
    /// This process in the cluster (`[cluster] advertise`), or empty alone.
    owner: String,
}

/// The room's key in the store.
pub fn room_key(room: RoomId) -> String {
    room.as_uuid().simple().to_string()
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A room the directory knows and this process may open again.
pub struct Reopen {
    pub host_key: String,
    pub tier: Tier,
    /// When it ends at the latest, on this process's clock.
    pub ends_at: Instant,
}

impl Directory {
    /// The directory in `store`, this process being `owner`.
    pub fn new(store: Arc<dyn Store>, owner: String) -> Self {
        Self { store, owner }
    }

    /// Records `room` as held here until `lasts` from now. A failure is logged: the room
    /// still works, it only cannot be reopened after a restart (or found by other
    /// processes).
    pub async fn record(&self, room: RoomId, host_key: &str, tier: Tier, lasts: Duration) {
        let record = RoomRecord {
            owner: self.owner.clone(),
            expires_at: unix_now() + lasts.as_secs() as i64,
            host_key: host_key.to_owned(),
            tier,
        };
        let (store, key) = (self.store.clone(), room_key(room));
        let done = tokio::task::spawn_blocking(move || store.put_room(&key, &record)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!(room = ?room, "the room could not be recorded: a restart will end it");
        }
    }

    /// Drops `room`'s record (it ended).
    pub async fn forget(&self, room: RoomId) {
        let (store, key) = (self.store.clone(), room_key(room));
        let done = tokio::task::spawn_blocking(move || store.drop_room(&key)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!(room = ?room, "the ended room's record could not be dropped (it expires)");
        }
    }

    /// `room`, recorded as held by this process and not expired: it was open here before
    /// a restart. `None` for a room never made, ended, expired or held elsewhere.
    pub async fn reopenable(&self, room: RoomId) -> Option<Reopen> {
        let (store, key) = (self.store.clone(), room_key(room));
        let now = unix_now();
        let record = match tokio::task::spawn_blocking(move || store.room_record(&key, now)).await {
            Ok(Ok(record)) => record?,
            _ => {
                tracing::warn!("the room directory could not be read");
                return None;
            }
        };
        if record.owner != self.owner || record.host_key.is_empty() {
            return None;
        }
        let left = Duration::from_secs(record.expires_at.saturating_sub(now).max(0) as u64);
        Some(Reopen {
            host_key: record.host_key,
            tier: record.tier,
            ends_at: Instant::now() + left,
        })
    }
}

/// The keyed hash a room keeps of its host's wallet (and the directory with it).
pub fn host_key(keys: &crate::token::SessionKeys, wallet: &str) -> String {
    keys.keyed_hash("room-host", wallet)
}
