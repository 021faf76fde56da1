//! What a node keeps in memory per split collection to spare walks of its
//! member keys: sample pools (`super::sample_pool`), copies of member names
//! (`super::sample_names`) and of a sorted set's order
//! (`super::zset_ranks`). Each is bounded in number, the oldest made
//! dropped first, and names kept are copied into one buffer.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// Which collection a value is kept for: namespace, key and generation.
pub(super) type CollectionId = (u32, Bytes, u64);

/// The id of `key`'s collection of `generation` in namespace `ns`.
pub(super) fn collection_id(ns: u32, key: &[u8], generation: u64) -> CollectionId {
    (ns, Bytes::copy_from_slice(key), generation)
}

/// Values kept for at most `MAX` collections, the oldest made dropped first.
pub(super) struct KeptPerCollection<V, const MAX: usize> {
    by_id: HashMap<CollectionId, V>,
    /// Ids in the order their values were made.
    made: VecDeque<CollectionId>,
}

impl<V, const MAX: usize> Default for KeptPerCollection<V, MAX> {
    fn default() -> Self {
        KeptPerCollection {
            by_id: HashMap::new(),
            made: VecDeque::new(),
        }
    }
}

impl<V, const MAX: usize> KeptPerCollection<V, MAX> {
    pub(super) fn get(&self, id: &CollectionId) -> Option<&V> {
        self.by_id.get(id)
    }

    pub(super) fn get_mut(&mut self, id: &CollectionId) -> Option<&mut V> {
        self.by_id.get_mut(id)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(super) fn remove(&mut self, id: &CollectionId) {
        self.by_id.remove(id);
    }

    /// Keeps `value` for `id` (replacing one kept), dropping the oldest
    /// beyond `MAX`.
    pub(super) fn insert(&mut self, id: CollectionId, value: V) {
        if self.by_id.insert(id.clone(), value).is_none() {
            self.made.push_back(id);
            while self.made.len() > MAX {
                if let Some(old) = self.made.pop_front() {
                    self.by_id.remove(&old);
                }
            }
        }
    }
}

/// `names` copied into one buffer: a name read from the engine shares its
/// whole record key's allocation, which a kept slice would keep alive.
pub(super) fn in_one_buffer(names: &[Bytes]) -> Vec<Bytes> {
    let mut buf = bytes::BytesMut::with_capacity(names.iter().map(Bytes::len).sum());
    for n in names {
        buf.extend_from_slice(n);
    }
    let buf = buf.freeze();
    let mut at = 0;
    names
        .iter()
        .map(|n| {
            let name = buf.slice(at..at + n.len());
            at += n.len();
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_made_is_dropped_and_names_keep_their_bytes() {
        let mut kept: KeptPerCollection<u32, 2> = KeptPerCollection::default();
        let id = |g: u64| collection_id(0, b"k", g);
        kept.insert(id(1), 1);
        kept.insert(id(2), 2);
        kept.insert(id(1), 10);
        assert_eq!(kept.get(&id(1)), Some(&10), "replaced, not made again");
        kept.insert(id(3), 3);
        assert_eq!(kept.get(&id(1)), None, "the oldest made is dropped");
        assert_eq!((kept.get(&id(2)), kept.get(&id(3))), (Some(&2), Some(&3)));
        let names = vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ];
        assert_eq!(in_one_buffer(&names), names);
    }
}
