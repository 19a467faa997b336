//! Two small bounded tables of the Linux driver: who was heard advertising our service,
//! and writes that arrived before their connection. Pure, tested without Bluetooth.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Who advertised our service lately, with what rotating id, and when we last told the
/// mesh. A device advertises several times a second; the mesh hears of it when it is
/// new, when its id changed, or again after [`Self::REPEAT`] (so it reconnects after a
/// link dropped). Bounded: the oldest entries go first.
pub(crate) struct Heard<K> {
    entries: HashMap<K, HeardEntry>,
}

struct HeardEntry {
    rotating_id: [u8; 8],
    reported: Instant,
}

impl<K: Eq + Hash + Copy> Heard<K> {
    /// Devices remembered at most.
    pub(crate) const CAPACITY: usize = 512;
    /// How often one unchanged device is reported again.
    pub(crate) const REPEAT: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    /// Records an advertisement; true when the mesh should hear of it now.
    pub(crate) fn advertised(&mut self, key: K, rotating_id: [u8; 8], now: Instant) -> bool {
        if let Some(entry) = self.entries.get_mut(&key) {
            let due = now.saturating_duration_since(entry.reported) >= Self::REPEAT;
            if entry.rotating_id != rotating_id || due {
                entry.rotating_id = rotating_id;
                entry.reported = now;
                return true;
            }
            return false;
        }
        if self.entries.len() >= Self::CAPACITY {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.reported)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key,
            HeardEntry {
                rotating_id,
                reported: now,
            },
        );
        true
    }

    /// The rotating id `key` advertised last, if it was heard.
    pub(crate) fn rotating_id(&self, key: &K) -> Option<[u8; 8]> {
        self.entries.get(key).map(|entry| entry.rotating_id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Writes from a central that has no connection yet. BlueZ hands us its notification
/// subscription and its first writes on separate paths, so a write can overtake the
/// subscription by a few milliseconds; such writes wait here, bounded in count, size
/// and time, and are delivered once the connection is up (or dropped).
pub(crate) struct Parked<K> {
    entries: HashMap<K, (Instant, Vec<Vec<u8>>)>,
}

impl<K: Eq + Hash + Copy> Parked<K> {
    /// Devices with parked writes at most.
    pub(crate) const DEVICES: usize = 8;
    /// Writes parked per device at most.
    pub(crate) const PER_DEVICE: usize = 4;
    /// How long a parked write waits for its connection.
    pub(crate) const WAIT: Duration = Duration::from_secs(2);

    pub(crate) fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    /// Parks a write (already checked with [`super::wire::acceptable_from_air`]); false when it was
    /// dropped for want of room.
    pub(crate) fn park(&mut self, key: K, frame: Vec<u8>, now: Instant) -> bool {
        self.entries
            .retain(|_, (since, _)| now.saturating_duration_since(*since) < Self::WAIT);
        if !self.entries.contains_key(&key) && self.entries.len() >= Self::DEVICES {
            return false;
        }
        let (_, frames) = self.entries.entry(key).or_insert_with(|| (now, Vec::new()));
        if frames.len() >= Self::PER_DEVICE {
            return false;
        }
        frames.push(frame);
        true
    }

    /// The writes parked for `key` that are still fresh, oldest first.
    pub(crate) fn take(&mut self, key: &K, now: Instant) -> Vec<Vec<u8>> {
        match self.entries.remove(key) {
            Some((since, frames)) if now.saturating_duration_since(since) < Self::WAIT => frames,
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_reported_when_new_changed_or_due_again() {
        let mut heard = Heard::new();
        let t0 = Instant::now();
        assert!(heard.advertised(1u32, [1; 8], t0));
        assert!(!heard.advertised(1, [1; 8], t0 + Duration::from_millis(100)));
        assert!(
            heard.advertised(1, [2; 8], t0 + Duration::from_millis(200)),
            "new id"
        );
        assert_eq!(heard.rotating_id(&1), Some([2; 8]));
        assert!(!heard.advertised(1, [2; 8], t0 + Duration::from_secs(3)));
        assert!(
            heard.advertised(1, [2; 8], t0 + Duration::from_secs(6)),
            "again"
        );
        assert_eq!(heard.rotating_id(&2), None);
    }

    #[test]
    fn heard_devices_are_bounded_and_the_oldest_go_first() {
        let mut heard = Heard::new();
        let t0 = Instant::now();
        let cap = Heard::<u32>::CAPACITY as u32;
        for key in 0..cap + 10 {
            heard.advertised(key, [0; 8], t0 + Duration::from_millis(u64::from(key)));
        }
        assert_eq!(heard.len(), Heard::<u32>::CAPACITY);
        assert_eq!(heard.rotating_id(&0), None);
        assert_eq!(heard.rotating_id(&(cap + 9)), Some([0; 8]));
    }

    #[test]
    fn early_writes_wait_briefly_and_boundedly_for_their_connection() {
        let mut parked = Parked::new();
        let t0 = Instant::now();
        for i in 0..Parked::<u32>::PER_DEVICE {
            assert!(parked.park(1u32, vec![i as u8], t0));
        }
        assert!(!parked.park(1, vec![9], t0), "per-device bound");
        assert_eq!(
            parked.take(&1, t0),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        assert!(parked.take(&1, t0).is_empty(), "taken once");

        for key in 0..Parked::<u32>::DEVICES as u32 {
            assert!(parked.park(key, vec![1], t0));
        }
        assert!(!parked.park(99, vec![1], t0), "device bound");
        let later = t0 + Parked::<u32>::WAIT;
        assert!(
            parked.take(&0, later).is_empty(),
            "stale writes are dropped"
        );
        assert!(parked.park(99, vec![1], later), "stale entries make room");
    }
}
