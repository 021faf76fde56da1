//! The memtable's index of newest versions: user key -> the record of its
//! newest version, so a point read at the latest snapshot is one hash
//! probe and takes no lock on the ordered map.
//!
//! A slot is one record pointer (8 bytes) in a bucket of seven
//! ([`BucketTable`]); the key is compared in the record itself, behind a
//! 7-bit tag in the bucket, so a probe reads another record only on a tag
//! match. The table is split in shards, each behind its own reader-writer
//! lock, so readers on several threads and the writer rarely meet on one
//! lock.
//!
//! A key about to be read is fetched in two steps, each a hint that waits
//! for nothing: its bucket ([`NewestIndex::prefetch_bucket`], from where
//! the shard's table last was, without its lock), then, once that bucket
//! is in the cache, the record its tag points to
//! ([`NewestIndex::prefetch`]). A pipelined batch takes the first step for
//! all its keys at once, so their misses overlap instead of following one
//! another.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::arena::Rec;
use super::buckets::{self, BucketTable};

const SHARDS: usize = 16;

pub(super) struct NewestIndex {
    shards: Box<[Shard]>,
    hasher: ahash::RandomState,
}

/// One shard, alone on its cache line: a writer taking one shard's lock
/// does not evict its neighbours' locks from readers' caches.
#[repr(align(64))]
struct Shard {
    table: RwLock<BucketTable>,
    /// Where `table`'s buckets were last seen and the mask that picks one
    /// (see [`BucketTable::layout`]), kept beside the lock for a prefetch
    /// that does not take it. Only ever a hint: a reader may see a layout
    /// the table has left, or half of one.
    layout_base: AtomicUsize,
    layout_mask: AtomicUsize,
}

impl Shard {
    fn new(table: BucketTable) -> Self {
        let (base, mask) = table.layout();
        Shard {
            table: RwLock::new(table),
            layout_base: AtomicUsize::new(base),
            layout_mask: AtomicUsize::new(mask),
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
                .map(|_| Shard::new(BucketTable::with_capacity(per_shard)))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.read().len()).sum()
    }

    /// Bytes the index's tables hold.
    pub(super) fn allocated(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.table.read().allocation_size())
            .sum()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash. Bits the table itself uses little: it takes
    /// the bucket from the low bits and the tag from the top seven.
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash >> 40) as usize % SHARDS]
    }

    /// The newest record of `key`, if the memtable holds one.
    pub(super) fn get(&self, key: &[u8]) -> Option<Rec> {
        let hash = self.hash(key);
        self.shard(hash).table.read().find(hash, |r| r.key() == key)
    }

    /// Starts bringing the bucket that holds `key`'s slot into the CPU's
    /// caches and returns at once, taking no lock and reading nothing but
    /// where the shard's table was last seen.
    pub(super) fn prefetch_bucket(&self, key: &[u8]) {
        let hash = self.hash(key);
        let shard = self.shard(hash);
        let layout = (
            shard.layout_base.load(Ordering::Relaxed),
            shard.layout_mask.load(Ordering::Relaxed),
        );
        buckets::prefetch_line(BucketTable::bucket_address(layout, hash));
    }

    /// Starts bringing the newest record of `key` into the CPU's caches
    /// (see [`Rec::prefetch`]) and returns at once: the first record in
    /// its home bucket whose tag matches is fetched, without comparing its
    /// key, which would wait for it. Reads the bucket, which
    /// [`NewestIndex::prefetch_bucket`] may have brought in already.
    pub(super) fn prefetch(&self, key: &[u8]) {
        let hash = self.hash(key);
        if let Some(rec) = self.shard(hash).table.read().first_tag_match(hash) {
            rec.prefetch();
        }
    }

    /// Makes the record `make` returns the newest of `key`; `make` gets
    /// the current newest (to link the new record to it). Returns the new
    /// record, and when the key is new to the index, the bytes the table's
    /// allocation grew by to hold it (0 but at a growth), which is what
    /// the memtable is charged for the index: a bucket's 64 bytes per
    /// seven slots at the table's fill (11.6 to 23 bytes a key), where a
    /// fixed 24 used to be charged.
    pub(super) fn upsert(
        &self,
        key: &[u8],
        make: impl FnOnce(Option<Rec>) -> Rec,
    ) -> (Rec, Option<usize>) {
        let hash = self.hash(key);
        let shard = self.shard(hash);
        let mut table = shard.table.write();
        if let Some(slot) = table.find_mut(hash, |r| r.key() == key) {
            *slot = make(Some(*slot));
            return (*slot, None);
        }
        let rec = make(None);
        let before = table.allocation_size();
        table.insert_unique(hash, rec, |r| self.hash(r.key()));
        let after = table.allocation_size();
        if after != before {
            let (base, mask) = table.layout();
            shard.layout_base.store(base, Ordering::Relaxed);
            shard.layout_mask.store(mask, Ordering::Relaxed);
        }
        (rec, Some(after.saturating_sub(before)))
    }

    /// Forgets `key`.
    pub(super) fn remove(&self, key: &[u8]) {
        let hash = self.hash(key);
        self.shard(hash)
            .table
            .write()
            .remove(hash, |r| r.key() == key);
    }
}
