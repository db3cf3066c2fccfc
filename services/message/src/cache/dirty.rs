//! Cache keys whose last write may have failed halfway: this process does not
//! read them and keeps deleting them until a delete succeeds.
//!
//! The set is bounded: past `MAX_KEYS` (a long Redis outage under load) it
//! forgets the keys and distrusts the whole cache instead, until every cached
//! key has been purged.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub(crate) struct DirtyKeys {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Key → the mark's sequence number, so a delete that started before a
    /// newer mark does not clear it.
    keys: HashMap<String, u64>,
    /// Set (to the mark's sequence number) when the set overflowed.
    everything: Option<u64>,
    seq: u64,
}

/// What the cleaner must delete.
pub(crate) enum Cleanup {
    Nothing,
    Keys(Vec<(String, u64)>),
    /// Every cached key (the overflow at this sequence number).
    Everything(u64),
}

impl DirtyKeys {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mark(&self, keys: impl IntoIterator<Item = String>) {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return;
        }
        let mut state = self.state();
        state.seq += 1;
        let seq = state.seq;
        for key in keys {
            tracing::debug!(%key, "cache key marked dirty");
            state.keys.insert(key, seq);
        }
        if state.keys.len() > MAX_KEYS {
            tracing::warn!("too many dirty cache keys; distrusting the whole cache until purged");
            state.keys = HashMap::new();
            state.everything = Some(seq);
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        let state = self.state();
        state.everything.is_some() || (!state.keys.is_empty() && state.keys.contains_key(key))
    }

    pub(crate) fn cleanup(&self) -> Cleanup {
        let state = self.state();
        if let Some(seq) = state.everything {
            Cleanup::Everything(seq)
        } else if state.keys.is_empty() {
            Cleanup::Nothing
        } else {
            Cleanup::Keys(
                state
                    .keys
                    .iter()
                    .map(|(k, &seq)| (k.clone(), seq))
                    .collect(),
            )
        }
    }

    /// Forgets keys deleted since they were marked (unless marked again).
    pub(crate) fn clear(&self, cleaned: impl IntoIterator<Item = (String, u64)>) {
        let mut state = self.state();
        for (key, seq) in cleaned {
            if state.keys.get(&key) == Some(&seq) {
                state.keys.remove(&key);
            }
        }
    }

    /// Trusts the cache again after a purge that started after overflow `seq`
    /// (keys marked since stay dirty).
    pub(crate) fn clear_everything(&self, seq: u64) {
        let mut state = self.state();
        if state.everything == Some(seq) {
            state.everything = None;
            state.keys.retain(|_, marked| *marked > seq);
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
        let Cleanup::Keys(snapshot) = dirty.cleanup() else {
            panic!("keys to clean");
        };
        dirty.mark(["a".to_owned()]);
        dirty.clear(snapshot);
        assert!(dirty.contains("a"));
        assert!(!dirty.contains("b"));
    }

    #[test]
    fn too_many_dirty_keys_distrust_everything_until_purged() {
        let dirty = DirtyKeys::default();
        dirty.mark((0..=MAX_KEYS).map(|i| i.to_string()));
        assert!(dirty.contains("never marked"));
        let Cleanup::Everything(seq) = dirty.cleanup() else {
            panic!("a purge");
        };
        dirty.mark(["late".to_owned()]);
        dirty.clear_everything(seq);
        assert!(!dirty.contains("never marked"));
        assert!(dirty.contains("late"));
    }
}
