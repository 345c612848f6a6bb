//! A map kept as a vector sorted by key: for the handful of sockets,
//! connections and 4-tuples a stack holds. It iterates in key order, as a
//! `BTreeMap` does (so the stack stays deterministic), but a lookup is a
//! binary search over one contiguous slice and iteration is a slice walk:
//! the stack looks its connections up on every segment and scans them for
//! timers on every call, and with a few entries a B-tree's node walking
//! cost more than the work itself. Inserting or removing moves the entries
//! after it, which for the sizes a stack reaches (thousands at most) is a
//! short copy.

use std::ops::Index;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        SortedMap { entries: Vec::new() }
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(e, _)| e.cmp(k))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        match self.find(k) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            Err(i) => {
                self.entries.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.find(k).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value for `k`, inserted as `V::default()` if absent.
    pub fn get_or_insert_default(&mut self, k: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (k, V::default()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Keeps the entries for which `f` is true (in place, order kept).
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| f(k, v));
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<K: Ord, V> Index<&K> for SortedMap<K, V> {
    type Output = V;
    /// Panics if the key is absent, like `BTreeMap`'s index.
    fn index(&self, k: &K) -> &V {
        self.get(k).expect("key present in SortedMap")
    }
}

#[cfg(test)]
mod tests {
    use super::SortedMap;
    use std::collections::BTreeMap;

    /// The same operations on a `SortedMap` and a `BTreeMap` give the same
    /// answers and the same iteration order.
    #[test]
    fn behaves_as_a_btree_map() {
        let mut s = SortedMap::new();
        let mut b = BTreeMap::new();
        let mut x = 12345u32;
        for step in 0..5000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let k = (x >> 16) % 64;
            match x % 5 {
                0 | 1 => assert_eq!(s.insert(k, step), b.insert(k, step)),
                2 => assert_eq!(s.remove(&k), b.remove(&k)),
                3 => *s.get_or_insert_default(k) += 1,
                _ => assert_eq!(s.get(&k), b.get(&k)),
            }
            if x % 5 == 3 {
                *b.entry(k).or_default() += 1;
            }
            assert_eq!(s.len(), b.len());
            assert_eq!(s.contains_key(&k), b.contains_key(&k));
        }
        assert!(s.iter().eq(b.iter()));
        assert!(s.keys().eq(b.keys()));
        assert!(s.values().eq(b.values()));
    }
}
