//! A map with a size cap whose oldest entries go first: per-peer memory that a flood of
//! throwaway keys cannot grow without limit.

use std::collections::{HashMap, HashSet, VecDeque};
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

/// A set that remembers at most `cap` items, forgetting the oldest first: ids of wraps
/// already seen, where a flood must not grow memory.
pub(crate) struct RecentSet<K> {
    order: VecDeque<K>,
    members: HashSet<K>,
    cap: usize,
}

impl<K: Eq + Hash + Clone> RecentSet<K> {
    /// An empty set holding at most `cap` (at least one) items.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            order: VecDeque::new(),
            members: HashSet::new(),
            cap: cap.max(1),
        }
    }

    /// Adds `key`; false when it was already there.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if self.members.contains(&key) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.order.push_back(key.clone());
        self.members.insert(key);
        true
    }

    /// Whether `key` is held.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.members.contains(key)
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

    #[test]
    fn a_recent_set_forgets_the_oldest_past_its_cap() {
        let mut set = RecentSet::new(3);
        assert!(set.insert(1));
        assert!(!set.insert(1), "a second insert says it was there");
        for i in 2..=4 {
            set.insert(i);
        }
        assert!(!set.contains(&1));
        assert!(set.contains(&4));
    }
}
