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
//! Table cache: open `TableReader`s (a file descriptor plus the decoded
//! footer, ~100 bytes), at most `max_open_files`, least recently used evicted.
//! Iterators hold an `Arc` of the readers they use, so an evicted reader's
//! descriptor closes when its last iterator ends.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use quick_cache::Weighter;

use crate::error::Result;
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
const BLOCK_OVERHEAD: u64 = 96;

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
        let est_items = (capacity / (block_size as u64 + BLOCK_OVERHEAD)).max(16) as usize;
        TableCache {
            inner: Arc::new(CacheInner {
                dir,
                blocks: quick_cache::sync::Cache::with_weighter(est_items, capacity, ByteWeight),
                tables: quick_cache::sync::Cache::new(max_open_files),
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

    /// Bytes held by the block cache.
    pub(crate) fn cache_bytes(&self) -> u64 {
        self.inner.blocks.weight()
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
