//! [`VecMap`]: the page's map type, a `Vec` of entries sorted by key.
//!
//! The page's maps hold tens to hundreds of entries (peers, hosts, topics, requests in flight), where a sorted
//! `Vec` is as quick as a `BTreeMap`, and its code is a fraction of the size in the wasm: each key and value
//! type of a `BTreeMap` costs the page its own copy of the tree's insert, remove and rebalancing code.

use std::borrow::Borrow;

/// A map kept as a `Vec` sorted by key; iteration is in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

/// A set kept as a sorted `Vec` (a [`VecMap`] without values).
pub type VecSet<K> = VecMap<K, ()>;

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &self.entries[at].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| &mut self.entries[at].1)
    }

    /// Whether `key` is in the map.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it had.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// The value of `key`, inserted as `V::default()` when missing.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.entries.insert(at, (key, V::default()));
                at
            }
        };
        &mut self.entries[at].1
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|at| self.entries.remove(at).1)
    }
}

impl<K, V> VecMap<K, V> {
    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Values in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
    }

    /// Removes every entry; returns them in key order.
    pub fn take(&mut self) -> impl Iterator<Item = (K, V)> {
        std::mem::take(&mut self.entries).into_iter()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Ord> VecSet<K> {
    /// Adds `key`; true when it was not there.
    pub fn add(&mut self, key: K) -> bool {
        self.insert(key, ()).is_none()
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = VecMap::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_sorted_and_unique() {
        let mut map: VecMap<String, u32> = ["b", "a", "c", "a"]
            .into_iter()
            .zip(1..)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.get("a"), Some(&4));
        assert_eq!(map.insert("b".into(), 9), Some(1));
        *map.entry_or_default("d".into()) += 2;
        *map.entry_or_default("d".into()) += 2;
        assert_eq!(map.get("d"), Some(&4));
        assert_eq!(map.remove("a"), Some(4));
        assert_eq!(map.remove("a"), None);
        assert!(!map.contains_key("a"));
        map.retain(|_, v| *v != 3);
        assert_eq!(
            map.iter().rev().collect::<Vec<_>>(),
            [(&"d".to_owned(), &4), (&"b".to_owned(), &9)]
        );
        let mut set = VecSet::default();
        assert!(set.add(2));
        assert!(!set.add(2));
        assert!(set.add(1));
        assert_eq!(set.take().map(|(k, ())| k).collect::<Vec<_>>(), [1, 2]);
        assert!(set.is_empty());
    }
}
