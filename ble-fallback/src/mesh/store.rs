//! Store-and-forward: messages kept for neighbours that have not had them yet, and the
//! ids already seen.
//!
//! Every message this node sends or relays is kept until it expires, in a bounded outbox
//! per recipient key; each neighbour that shows up later is handed what it has not
//! acknowledged. A partitioned node thus gets its messages when it comes back in range of
//! anyone who carried them (BitChat's outbox and couriers, without the courier quotas:
//! the mesh carries only gift wraps, which name nobody but the recipient).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::frame::MessageId;

/// Bounds of the store.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Messages kept per recipient; the oldest goes first.
    pub per_recipient: usize,
    /// Recipients kept; the one with the oldest newest message goes first.
    pub recipients: usize,
    /// Bytes kept over all recipients.
    pub max_bytes: usize,
    /// The longest any message is kept, whatever its own expiry says (seconds).
    pub max_age_secs: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        // BitChat: 100 messages per peer, 24 h.
        Self {
            per_recipient: 100,
            recipients: 256,
            max_bytes: 4 * 1024 * 1024,
            max_age_secs: 24 * 3600,
        }
    }
}

/// One kept message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its id.
    pub id: MessageId,
    /// The encoded envelope.
    pub message: Vec<u8>,
    /// Unix seconds when it stops being carried.
    pub expires_at: u64,
    /// TTL left when it reached us (already decremented for the next hop).
    pub ttl: u8,
    /// Hops it had travelled when it reached us, plus one.
    pub hops: u8,
    /// Rotating ids of neighbours that acknowledged it (they will not be handed it again).
    pub acked_by: HashSet<[u8; 8]>,
}

/// The outboxes.
pub struct Store {
    limits: StoreLimits,
    outboxes: HashMap<[u8; 32], VecDeque<Stored>>,
    bytes: usize,
}

impl Store {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            outboxes: HashMap::new(),
            bytes: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.outboxes.values().map(VecDeque::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.outboxes.is_empty()
    }

    /// Keeps `stored` for `recipient`, making room by dropping the oldest.
    pub fn keep(&mut self, recipient: [u8; 32], mut stored: Stored, unix_now: u64) {
        stored.expires_at = stored
            .expires_at
            .min(unix_now.saturating_add(self.limits.max_age_secs));
        if stored.message.len() > self.limits.max_bytes {
            return;
        }
        if !self.outboxes.contains_key(&recipient) && self.outboxes.len() >= self.limits.recipients
        {
            self.drop_stalest_recipient();
        }
        self.bytes += stored.message.len();
        let outbox = self.outboxes.entry(recipient).or_default();
        outbox.push_back(stored);
        if outbox.len() > self.limits.per_recipient {
            let dropped = outbox.pop_front().expect("non-empty");
            self.bytes -= dropped.message.len();
        }
        while self.bytes > self.limits.max_bytes {
            self.drop_oldest_message();
        }
    }

    /// Notes that the neighbour with `rotating_id` has `id`.
    pub fn mark_acked(&mut self, id: MessageId, rotating_id: [u8; 8]) {
        for outbox in self.outboxes.values_mut() {
            if let Some(stored) = outbox.iter_mut().find(|s| s.id == id) {
                stored.acked_by.insert(rotating_id);
                return;
            }
        }
    }

    /// Whether `id` is held.
    pub fn contains(&self, id: MessageId) -> bool {
        self.outboxes.values().any(|o| o.iter().any(|s| s.id == id))
    }

    /// What a neighbour with `rotating_id` (if known) has not acknowledged, still valid.
    pub fn for_neighbor(&self, rotating_id: Option<[u8; 8]>, unix_now: u64) -> Vec<Stored> {
        self.outboxes
            .values()
            .flatten()
            .filter(|s| s.expires_at > unix_now)
            .filter(|s| rotating_id.is_none_or(|rid| !s.acked_by.contains(&rid)))
            .cloned()
            .collect()
    }

    /// Drops what has expired.
    pub fn expire(&mut self, unix_now: u64) {
        let mut freed = 0;
        self.outboxes.retain(|_, outbox| {
            outbox.retain(|s| {
                let keep = s.expires_at > unix_now;
                if !keep {
                    freed += s.message.len();
                }
                keep
            });
            !outbox.is_empty()
        });
        self.bytes -= freed;
    }

    fn drop_stalest_recipient(&mut self) {
        let stalest = self
            .outboxes
            .iter()
            .min_by_key(|(_, outbox)| outbox.back().map_or(0, |s| s.expires_at))
            .map(|(key, _)| *key);
        if let Some(key) = stalest {
            let outbox = self.outboxes.remove(&key).expect("present");
            self.bytes -= outbox.iter().map(|s| s.message.len()).sum::<usize>();
        }
    }

    fn drop_oldest_message(&mut self) {
        let oldest = self
            .outboxes
            .iter()
            .filter_map(|(key, outbox)| outbox.front().map(|s| (s.expires_at, *key)))
            .min();
        if let Some((_, key)) = oldest {
            let outbox = self.outboxes.get_mut(&key).expect("present");
            let dropped = outbox.pop_front().expect("non-empty");
            self.bytes -= dropped.message.len();
            if outbox.is_empty() {
                self.outboxes.remove(&key);
            }
        }
    }
}

/// Ids seen recently, bounded, oldest forgotten first (BitChat: 1,000 entries, 5 min).
pub struct SeenIds {
    capacity: usize,
    order: VecDeque<MessageId>,
    set: HashSet<MessageId>,
}

impl SeenIds {
    /// Remembers at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Whether `id` was seen.
    pub fn contains(&self, id: MessageId) -> bool {
        self.set.contains(&id)
    }

    /// Records `id`; whether it is new.
    pub fn insert(&mut self, id: MessageId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            let old = self.order.pop_front().expect("non-empty");
            self.set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: u8, len: usize, expires_at: u64) -> Stored {
        Stored {
            id: MessageId([id; 8]),
            message: vec![0; len],
            expires_at,
            ttl: 6,
            hops: 1,
            acked_by: HashSet::new(),
        }
    }

    #[test]
    fn the_store_is_bounded_per_recipient_and_in_bytes_and_forgets_expired_messages() {
        let limits = StoreLimits {
            per_recipient: 2,
            recipients: 2,
            max_bytes: 1000,
            max_age_secs: 100,
        };
        let mut store = Store::new(limits);
        store.keep([1; 32], stored(1, 100, 50), 0);
        store.keep([1; 32], stored(2, 100, 60), 0);
        store.keep([1; 32], stored(3, 100, 70), 0);
        assert_eq!(store.len(), 2);
        assert!(!store.contains(MessageId([1; 8])));
        store.keep([2; 32], stored(4, 100, 500), 0);
        assert!(
            store
                .for_neighbor(None, 0)
                .iter()
                .all(|s| s.expires_at <= 100),
            "capped at max age"
        );
        store.keep([3; 32], stored(5, 100, 80), 0);
        assert_eq!(store.len(), 2, "the stalest recipient made room");
        store.keep([3; 32], stored(6, 900, 90), 0);
        assert!(store.bytes() <= 1000);
        store.mark_acked(MessageId([6; 8]), [7; 8]);
        assert!(store
            .for_neighbor(Some([7; 8]), 0)
            .iter()
            .all(|s| s.id != MessageId([6; 8])));
        assert!(store
            .for_neighbor(Some([8; 8]), 0)
            .iter()
            .any(|s| s.id == MessageId([6; 8])));
        store.expire(95);
        assert_eq!(store.len(), 1);
        store.expire(1000);
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn seen_ids_are_bounded() {
        let mut seen = SeenIds::new(2);
        assert!(seen.insert(MessageId([1; 8])));
        assert!(!seen.insert(MessageId([1; 8])));
        seen.insert(MessageId([2; 8]));
        seen.insert(MessageId([3; 8]));
        assert!(seen.insert(MessageId([1; 8])), "the oldest was forgotten");
    }
}
