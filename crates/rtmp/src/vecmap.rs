//! A map for a handful of small integer keys (chunk stream ids we send on, message streams of one
//! connection), kept as a vector and searched linearly. For the few entries a connection has,
//! this is faster than hashing on the per-message hot path, and it has no hasher state.

/// A small map from `u32` keys, in insertion order.
#[derive(Debug, Clone)]
pub(crate) struct VecMap<V> {
    entries: Vec<(u32, V)>,
}

impl<V> Default for VecMap<V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<V> VecMap<V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get(&self, key: &u32) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &u32) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &u32) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Insert or replace; returns the previous value.
    pub(crate) fn insert(&mut self, key: u32, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(v) => Some(std::mem::replace(v, value)),
            None => {
                // Grow one at a time while small: a connection's map often holds one entry for
                // life (its message stream), and a first push would reserve room for four.
                if self.entries.len() == self.entries.capacity() && self.entries.len() < 4 {
                    self.entries.reserve_exact(1);
                }
                self.entries.push((key, value));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &u32) -> Option<V> {
        let pos = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;

    #[test]
    fn behaves_like_a_map() {
        let mut m = VecMap::new();
        assert_eq!(m.insert(3, "a"), None);
        assert_eq!(m.insert(5, "b"), None);
        assert_eq!(m.insert(3, "c"), Some("a"));
        assert_eq!(m.get(&3), Some(&"c"));
        assert!(m.contains_key(&5));
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove(&5), Some("b"));
        assert_eq!(m.remove(&5), None);
        assert_eq!(m.iter().count(), 1);
    }
}
