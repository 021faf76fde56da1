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
    /// An index with room for `keys` keys before any table grows: a table
    /// grows by rehashing every key it holds, reading each from its record
    /// (a cache miss per key), under its shard's write lock, so a table of
    /// 30,000 keys stalls that shard's readers and writers for about 2 ms.
    pub(super) fn with_capacity(keys: usize) -> Self {
        let per_shard = keys / SHARDS;
        // Keys do not spread evenly: room for an eighth more per shard.
        let per_shard = per_shard + per_shard / 8;
        NewestIndex {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::with_capacity(per_shard))))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.read().len()).sum()
    }

    /// Bytes the index's tables hold.
    pub(super) fn allocated(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.read().allocation_size())
            .sum()
    }

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

    /// Starts bringing the newest record of `key` into the CPU's caches
    /// (see [`Rec::prefetch`]) and returns at once: the first record whose
    /// tag matches is fetched, without comparing its key, which would wait
    /// for it.
    pub(super) fn prefetch(&self, key: &[u8]) {
        let hash = self.hash(key);
        if let Some(rec) = self.shard(hash).read().find(hash, |_| true) {
            rec.prefetch();
        }
    }

    /// Makes the record `make` returns the newest of `key`; `make` gets
    /// the current newest (to link the new record to it). Returns the new
    /// record, and when the key is new to the index, the bytes the table's
    /// allocation grew by to hold it (0 but at a growth), which is what
    /// the memtable is charged for the index: a slot and its control byte
    /// at the table's fill, about 14 bytes a key on average, where a
    /// fixed 24 used to be charged.
    pub(super) fn upsert(
        &self,
        key: &[u8],
        make: impl FnOnce(Option<Rec>) -> Rec,
    ) -> (Rec, Option<usize>) {
        let hash = self.hash(key);
        let mut shard = self.shard(hash).write();
        if let Some(slot) = shard.find_mut(hash, |r| r.key() == key) {
            *slot = make(Some(*slot));
            return (*slot, None);
        }
        let rec = make(None);
        let before = shard.allocation_size();
        shard.insert_unique(hash, rec, |r| self.hash(r.key()));
        (rec, Some(shard.allocation_size().saturating_sub(before)))
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
