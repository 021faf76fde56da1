//! The block cache and the table cache.
//!
//! Block cache: every block read from an SSTable — data, index and filter —
//! goes through one `quick_cache` weighted by bytes, so memory for table
//! contents is bounded by `block_cache_bytes` whatever the data size. (Index
//! and filter blocks are charged to the cache rather than pinned per table:
//! with 1000 open 64 MB tables, pinned index+filter blocks alone would be
//! about 1 GB. The price is one cache lookup each per point read.) An index
//! block is cached decoded (`sstable::index::TableIndex`), charged with what
//! the decoded form holds.
//!
//! Pinned blocks: level 0 is the exception. Every point read that misses
//! the memtables probes every level-0 table (their ranges overlap), so
//! their filters and indexes are the hottest blocks there are, and a cache
//! lookup each (a shard lock, a hash, a reference count bumped and dropped
//! on a line every core shares) is a tenth of such a read. Their readers
//! hold them instead ([`PinBudget`]), within a fixed share of the block
//! cache's budget (an eighth) taken from the cache's own capacity, so the
//! two together stay within `block_cache_bytes`. A table that leaves level
//! 0 by a trivial move is reopened without its pins; one that no pin fits
//! is read through the cache as any other.
//!
//! Row cache: a quarter of the budget keeps the newest version of keys read
//! twice from a table (`crate::row_cache`), so a hot point read skips the
//! table's index, this cache and the data block's seek. The block cache
//! itself has what the pins and the rows leave, five eighths.
//!
//! Table cache: open `TableReader`s (a file descriptor plus the decoded
//! footer, ~100 bytes), at most `max_open_files`, least recently used evicted.
//! Iterators hold an `Arc` of the readers they use, so an evicted reader's
//! descriptor closes when its last iterator ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;

use crate::error::Result;
use crate::row_cache::RowCache;
use crate::sstable::block::Block;
use crate::sstable::index::TableIndex;
use crate::sstable::reader::TableReader;
use crate::sstable::sst_path;
use crate::stats::Counters;
use crate::version::FileMeta;

/// A cached block: decoded (data, index) or raw (filter).
#[derive(Clone, Debug)]
pub(crate) enum Cached {
    /// A data block, restart array validated.
    Block(Block),
    /// An index block, decoded for seeks.
    Index(Arc<TableIndex>),
    /// The bloom filter bytes.
    Raw(Bytes),
}

impl Cached {
    fn len(&self) -> usize {
        match self {
            Cached::Block(b) => b.data.len(),
            Cached::Index(i) => i.bytes(),
            Cached::Raw(b) => b.len(),
        }
    }
}

/// Per-entry bookkeeping charged with each block.
pub(crate) const BLOCK_OVERHEAD: u64 = 96;

/// The block cache's budget is split: this fraction of it (1/8) for blocks
/// pinned by level-0 readers, a quarter for the row cache
/// (`crate::row_cache`), the rest for the cache itself.
const PIN_SHARE_DIVISOR: u64 = 8;
const ROW_SHARE_DIVISOR: u64 = 4;

/// Bytes that readers may pin, and how many they have.
#[derive(Debug)]
pub(crate) struct PinBudget {
    limit: u64,
    used: AtomicU64,
}

impl PinBudget {
    /// A charge of `bytes` against the budget, or `None` if it does not fit.
    /// Released when the charge is dropped (with the reader holding it).
    pub(crate) fn reserve(self: &Arc<Self>, bytes: u64) -> Option<PinCharge> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.limit)
            })
            .ok()?;
        Some(PinCharge {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes pinned now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes charged to the [`PinBudget`] while this lives.
#[derive(Debug)]
pub(crate) struct PinCharge {
    budget: Arc<PinBudget>,
    bytes: u64,
}

impl Drop for PinCharge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub(crate) struct ByteWeight;

impl Weighter<(u64, u64), Cached> for ByteWeight {
    fn weight(&self, _k: &(u64, u64), v: &Cached) -> u64 {
        v.len() as u64 + BLOCK_OVERHEAD
    }
}

/// Shared cache state; `TableCache` is a cheap handle to it.
pub(crate) struct CacheInner {
    pub(crate) dir: PathBuf,
    pub(crate) blocks: quick_cache::sync::Cache<(u64, u64), Cached, ByteWeight>,
    tables: quick_cache::sync::Cache<u64, Arc<TableReader>>,
    pub(crate) pins: Arc<PinBudget>,
    pub(crate) rows: RowCache,
    pub(crate) stats: Arc<Counters>,
    capacity: u64,
}

/// Handle to the block and table caches.
#[derive(Clone)]
pub(crate) struct TableCache {
    pub(crate) inner: Arc<CacheInner>,
}

impl TableCache {
    /// Caches for the SSTables of `dir`.
    pub(crate) fn new(
        dir: PathBuf,
        block_cache_bytes: usize,
        max_open_files: usize,
        block_size: usize,
        stats: Arc<Counters>,
    ) -> Self {
        let capacity = block_cache_bytes.max(64 * 1024) as u64;
        let pinnable = capacity / PIN_SHARE_DIVISOR;
        let rows = capacity / ROW_SHARE_DIVISOR;
        let cached = capacity - pinnable - rows;
        let est_items = (cached / (block_size as u64 + BLOCK_OVERHEAD)).max(16) as usize;
        TableCache {
            inner: Arc::new(CacheInner {
                dir,
                blocks: quick_cache::sync::Cache::with_weighter(est_items, cached, ByteWeight),
                tables: quick_cache::sync::Cache::new(max_open_files),
                pins: Arc::new(PinBudget {
                    limit: pinnable,
                    used: AtomicU64::new(0),
                }),
                rows: RowCache::new(rows),
                stats,
                capacity,
            }),
        }
    }

    /// The open reader for `f`, opening the file on a miss.
    pub(crate) fn reader(&self, f: &FileMeta) -> Result<Arc<TableReader>> {
        self.inner.reader(f)
    }

    /// Forgets table `number` (it was deleted), and its index and filter
    /// blocks if its reader was open.
    pub(crate) fn evict(&self, number: u64) {
        if let Some((_, reader)) = self.inner.tables.remove(&number) {
            reader.forget_cached(&self.inner);
        }
    }

    /// Bytes held by the block cache, pinned blocks and the row cache
    /// included.
    pub(crate) fn cache_bytes(&self) -> u64 {
        self.inner.blocks.weight() + self.inner.pins.used() + self.inner.rows.bytes()
    }

    /// Bytes held by the row cache.
    pub(crate) fn row_cache_bytes(&self) -> u64 {
        self.inner.rows.bytes()
    }

    /// Bytes of blocks pinned by level-0 readers.
    pub(crate) fn pinned_bytes(&self) -> u64 {
        self.inner.pins.used()
    }

    /// Closes table `number`'s reader, so the next read reopens it without
    /// the blocks it pinned (it left level 0). Its cached blocks stay.
    pub(crate) fn reopen(&self, number: u64) {
        self.inner.tables.remove(&number);
    }

    /// The block cache's byte budget.
    pub(crate) fn cache_capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// Open table readers.
    pub(crate) fn open_files(&self) -> usize {
        self.inner.tables.len()
    }
}

impl CacheInner {
    /// The open reader for `f`, opening the file on a miss.
    pub(crate) fn reader(&self, f: &FileMeta) -> Result<Arc<TableReader>> {
        if let Some(r) = self.tables.get(&f.number) {
            return Ok(r);
        }
        let r = Arc::new(TableReader::open(
            sst_path(&self.dir, f.number),
            f.number,
            f.size,
        )?);
        self.tables.insert(f.number, r.clone());
        Ok(r)
    }
}
