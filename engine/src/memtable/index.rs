//! The memtable's index of newest versions: user key -> the record of its
//! newest version, so a point read at the latest snapshot is one hash
//! probe and takes no lock on the ordered map.
//!
//! A slot is one record pointer (8 bytes); the key is compared in the
//! record itself, behind a 7-bit tag in the table's control bytes, so a
//! probe reads another record only on a tag match. The table is split in
//! shards, each behind its own reader-writer lock, so readers on several
//! threads and the writer rarely meet on one lock.

use hashbrown::HashTable;
use parking_lot::RwLock;

use super::arena::Rec;

const SHARDS: usize = 16;

/// Charged per key the index holds: a slot and its control byte, at the
/// table's usual fill, and the table's growth.
pub(super) const INDEX_CHARGE: usize = 24;

pub(super) struct NewestIndex {
    shards: Box<[Shard]>,
    hasher: ahash::RandomState,
}

/// One shard, alone on its cache line: a writer taking one shard's lock
/// does not evict its neighbours' locks from readers' caches.
#[repr(align(64))]
struct Shard(RwLock<HashTable<Rec>>);

impl Default for NewestIndex {
    fn default() -> Self {
        NewestIndex {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::new())))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }
}

impl NewestIndex {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash. Bits the table itself uses little: it takes
    /// the bucket from the low bits and the tag from the top seven.
    fn shard(&self, hash: u64) -> &RwLock<HashTable<Rec>> {
        &self.shards[(hash >> 40) as usize % SHARDS].0
    }

    /// The newest record of `key`, if the memtable holds one.
    pub(super) fn get(&self, key: &[u8]) -> Option<Rec> {
        let hash = self.hash(key);
        self.shard(hash)
            .read()
            .find(hash, |r| r.key() == key)
            .copied()
    }

    /// Makes the record `make` returns the newest of `key`; `make` gets
    /// the current newest (to link the new record to it). Returns the new
    /// record, and whether the key is new to the index.
    pub(super) fn upsert(&self, key: &[u8], make: impl FnOnce(Option<Rec>) -> Rec) -> (Rec, bool) {
        let hash = self.hash(key);
        let mut shard = self.shard(hash).write();
        if let Some(slot) = shard.find_mut(hash, |r| r.key() == key) {
            *slot = make(Some(*slot));
            return (*slot, false);
        }
        let rec = make(None);
        shard.insert_unique(hash, rec, |r| self.hash(r.key()));
        (rec, true)
    }

    /// Forgets `key`.
    pub(super) fn remove(&self, key: &[u8]) {
        let hash = self.hash(key);
        if let Ok(entry) = self
            .shard(hash)
            .write()
            .find_entry(hash, |r| r.key() == key)
        {
            entry.remove();
        }
    }
}
