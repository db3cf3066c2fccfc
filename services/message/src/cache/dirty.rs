//! Cache keys whose last write may have failed halfway: this process does not
//! read them and keeps deleting them until a delete succeeds.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

#[derive(Default)]
pub struct DirtyKeys {
    /// Key → the mark's sequence number, so a delete that started before a
    /// newer mark does not clear it.
    keys: Mutex<HashMap<String, u64>>,
    next: Mutex<u64>,
}

impl DirtyKeys {
    fn keys(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn mark(&self, keys: impl IntoIterator<Item = String>) {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return;
        }
        let seq = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let mut dirty = self.keys();
        for key in keys {
            tracing::debug!(%key, "cache key marked dirty");
            dirty.insert(key, seq);
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        let dirty = self.keys();
        !dirty.is_empty() && dirty.contains_key(key)
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.keys()
            .iter()
            .map(|(k, &seq)| (k.clone(), seq))
            .collect()
    }

    /// Forgets keys deleted since they were marked (unless marked again).
    pub fn clear(&self, cleaned: impl IntoIterator<Item = (String, u64)>) {
        let mut dirty = self.keys();
        for (key, seq) in cleaned {
            if dirty.get(&key) == Some(&seq) {
                dirty.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_marked_again_during_a_delete_stays_dirty() {
        let dirty = DirtyKeys::default();
        dirty.mark(["a".to_owned(), "b".to_owned()]);
        let snapshot = dirty.snapshot();
        dirty.mark(["a".to_owned()]);
        dirty.clear(snapshot);
        assert!(dirty.contains("a"));
        assert!(!dirty.contains("b"));
    }
}
