//! A map with a size cap whose oldest entries go first: per-peer memory that a flood of
//! throwaway keys cannot grow without limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Entries remember when they were last written; past `cap`, the oldest is dropped.
pub(crate) struct RecentMap<K, V> {
    entries: HashMap<K, (V, Instant)>,
    cap: usize,
}

impl<K: Eq + Hash + Clone, V> RecentMap<K, V> {
    /// An empty map holding at most `cap` (at least one) entries.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            entries: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Insert or refresh `key`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.cap {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (value, Instant::now()));
    }

    /// The value of `key` and when it was written.
    pub(crate) fn get(&self, key: &K) -> Option<(&V, Instant)> {
        self.entries.get(key).map(|(v, at)| (v, *at))
    }

    /// How many entries are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_new_keys_never_grows_the_map_past_its_cap() {
        let mut map = RecentMap::new(16);
        for i in 0..10_000u32 {
            map.insert(i, ());
        }
        assert_eq!(map.len(), 16);
        assert!(map.get(&9_999).is_some(), "the newest entry is kept");
        assert!(map.get(&0).is_none(), "the oldest entry went first");
    }
}
