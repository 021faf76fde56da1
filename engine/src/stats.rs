//! Engine statistics: counters split by thread ([`ringkv_sharded`]: every
//! point read and write bumps some) and a `Stats` snapshot struct the
//! embedder turns into INFO fields and metrics.

use ringkv_sharded::ShardedCounter;

use crate::options::CompactionStrategy;

/// Counters owned by the engine.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) user_bytes_written: ShardedCounter,
    pub(crate) bytes_written_flush: ShardedCounter,
    pub(crate) bytes_written_compaction: ShardedCounter,
    pub(crate) bytes_read_compaction: ShardedCounter,
    pub(crate) compaction_micros: ShardedCounter,
    pub(crate) flushes: ShardedCounter,
    pub(crate) compactions: ShardedCounter,
    pub(crate) point_reads: ShardedCounter,
    pub(crate) sstables_probed: ShardedCounter,
    pub(crate) bloom_checks: ShardedCounter,
    pub(crate) bloom_useful: ShardedCounter,
    pub(crate) bloom_false_positives: ShardedCounter,
    pub(crate) block_cache_hits: ShardedCounter,
    pub(crate) block_cache_misses: ShardedCounter,
    pub(crate) row_cache_hits: ShardedCounter,
    pub(crate) row_cache_fills: ShardedCounter,
    pub(crate) stall_slowdowns: ShardedCounter,
    pub(crate) stall_stops: ShardedCounter,
    pub(crate) stall_micros: ShardedCounter,
    pub(crate) tombstones_dropped: ShardedCounter,
    pub(crate) expired_dropped: ShardedCounter,
    pub(crate) expired_markers: ShardedCounter,
    pub(crate) versions_dropped: ShardedCounter,
    pub(crate) filter_deleted: ShardedCounter,
    pub(crate) writes: ShardedCounter,
}

impl Counters {
    /// Adds `n` to a counter.
    #[inline]
    pub(crate) fn add(c: &ShardedCounter, n: u64) {
        c.add(n);
    }

    /// Reads a counter.
    #[inline]
    pub(crate) fn get(c: &ShardedCounter) -> u64 {
        c.sum()
    }
}

/// Files, sorted runs and bytes in one level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// SSTable files in the level.
    pub files: usize,
    /// Sorted runs in the level (level 0: one per flush or tier; deeper: 0 or 1).
    pub runs: usize,
    /// Bytes in the level's files.
    pub bytes: u64,
}

/// A point-in-time copy of the engine's statistics.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// Highest sequence number visible to readers.
    pub seq: u64,
    /// Bytes in the active memtable.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Bytes in immutable memtables.
    pub immutable_memtable_bytes: u64,
    /// Bytes the WAL has handed to the OS since open.
    pub wal_bytes: u64,
    /// Per level: files, runs, bytes (index = level).
    pub levels: Vec<LevelStats>,
    /// Level-0 sorted runs (the stall measure under leveled).
    pub l0_runs: usize,
    /// The stall measure in use: L0 runs (leveled) or runs in the smallest bucket (size-tiered).
    pub stall_runs: usize,
    /// Estimated bytes compaction still has to rewrite to reach the strategy's shape.
    pub pending_compaction_bytes: u64,
    /// Strategy in force.
    pub compaction_strategy: CompactionStrategy,
    /// Memtables flushed to SSTables since open.
    pub flushes: u64,
    /// Compactions finished since open.
    pub compactions: u64,
    /// User bytes (keys + values) written through `write` since open.
    pub bytes_written_wal: u64,
    /// Bytes written to SSTables by flushes.
    pub bytes_written_flush: u64,
    /// Bytes written to SSTables by compactions.
    pub bytes_written_compaction: u64,
    /// Bytes read by compactions.
    pub bytes_read_compaction: u64,
    /// Time compactions spent merging (summed over compaction threads):
    /// with the bytes they read and wrote, a compaction's throughput.
    pub compaction_micros: u64,
    /// (flush + compaction bytes) / user bytes written (0 before any write).
    pub write_amplification: f64,
    /// SSTables consulted by point reads (bloom checks included).
    pub sstables_probed: u64,
    /// Point reads served.
    pub point_reads: u64,
    /// sstables_probed / point_reads.
    pub probes_per_read: f64,
    /// Bloom filter checks.
    pub bloom_checks: u64,
    /// Bloom checks that ruled a table out (no block read).
    pub bloom_useful: u64,
    /// Bloom checks that passed but the key was not in the table.
    pub bloom_false_positives: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses (a pread followed).
    pub block_cache_misses: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
    /// Byte budget of the block cache.
    pub block_cache_capacity: u64,
    /// Of `block_cache_bytes`, the filter and index blocks level-0 readers
    /// pin (at most an eighth of the budget).
    pub block_cache_pinned_bytes: u64,
    /// Point reads of a table answered by the row cache.
    pub row_cache_hits: u64,
    /// Rows the row cache kept: a point read found the key in a table's
    /// data block, the second time at least since the doorkeeper cleared.
    pub row_cache_fills: u64,
    /// Of `block_cache_bytes`, the row cache's (at most a quarter of the
    /// budget).
    pub row_cache_bytes: u64,
    /// Writes delayed by a slowdown.
    pub stall_slowdowns: u64,
    /// Writes that waited in the stop state.
    pub stall_stops: u64,
    /// Microseconds writers spent stalled (throttle, stops and reported waits).
    pub stall_micros: u64,
    /// Tombstones removed by compaction.
    pub tombstones_dropped: u64,
    /// Expired values removed by compaction (or turned into tombstones at flush).
    pub expired_dropped: u64,
    /// Expired values compaction kept as the embedder's markers
    /// ([`crate::CompactionFilter::expired`]).
    pub expired_markers: u64,
    /// Older versions removed by compaction.
    pub versions_dropped: u64,
    /// Bytes in live SSTables.
    pub live_sst_bytes: u64,
    /// SSTable files currently open (the table cache's size).
    pub open_files: usize,
    /// Live snapshots.
    pub snapshots: usize,
    /// Write batches accepted since open.
    pub writes: u64,
    /// The background (flush, compaction) or WAL error in force: a failed
    /// write clears once the disk takes writes again, damage or a failed
    /// fsync stays until restart.
    pub background_error: Option<String>,
    /// The WAL error in force (a failed append until a probe passes, or a
    /// failed fsync until restart).
    pub wal_error: Option<String>,
    /// The failed flush or compaction in force (cleared by the next success,
    /// unless it was damage).
    pub flush_error: Option<String>,
    /// WAL appends that failed (each refused writes until a probe passed).
    pub wal_write_failures: u64,
    /// Times writes resumed after a failed WAL append (or a read-only open).
    pub wal_write_recoveries: u64,
}
