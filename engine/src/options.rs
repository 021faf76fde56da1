//! Engine options (every knob with its default), the fsync policy and
//! compaction strategy they choose between, the compaction-filter hook the
//! embedder implements, and the clock.
//!
//! The engine owns these types and knows nothing of how a server is
//! configured: the server builds an [`Options`] from its configuration
//! (`server/src/engine_options.rs`), so the engine needs no command-line
//! or config-file crate.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the write-ahead log is fsynced (redis-server's `appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FsyncPolicy {
    /// Every write is fsynced before it is acknowledged (group commit shares one fsync).
    Always,
    /// Written to the OS before the reply, fsynced once a second: a process crash
    /// loses nothing, a power loss at most about one second.
    EverySec,
    /// Written to the OS before the reply, fsync left to the OS.
    No,
}

impl FsyncPolicy {
    /// The policy's name as the configuration spells it (`everysec`).
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The LSM compaction strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompactionStrategy {
    /// Leveled: few sorted runs, low read and space amplification.
    Leveled,
    /// Size-tiered: runs of similar size merged together, low write amplification.
    SizeTiered,
}

impl CompactionStrategy {
    /// The strategy's name as the configuration and INFO spell it (`size-tiered`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompactionStrategy::Leveled => "leveled",
            CompactionStrategy::SizeTiered => "size-tiered",
        }
    }
}

impl fmt::Display for CompactionStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Asked by compaction for every surviving put; lets the embedder retire data
/// (for example versions whose tombstone grace has passed in the cluster's
/// terms). Called on compaction threads, so it must be cheap and must not call
/// back into the engine.
pub trait CompactionFilter: Send + Sync {
    /// Decides the fate of the newest surviving version of `key`: its
    /// stored bytes and expiry (milliseconds since the epoch, 0: none),
    /// borrowed from the compaction's input.
    fn decide(&self, key: &[u8], value: &[u8], expire_at_ms: u64) -> FilterDecision;

    /// Asked by compaction about a put whose expiry (`expire_at_ms`) has
    /// passed at `now_ms`, before it turns it into a tombstone: `Some` keeps
    /// the returned bytes instead, as a put expiring at the returned time
    /// (later than `now_ms`; the embedder's marker of what expired, such as
    /// the causal history of a replicated value). The default drops it.
    fn expired(
        &self,
        _key: &[u8],
        _value: &[u8],
        _expire_at_ms: u64,
        _now_ms: u64,
    ) -> Option<(bytes::Bytes, u64)> {
        None
    }
}

/// What a `CompactionFilter` wants done with an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterDecision {
    /// Keep the entry as it is.
    Keep,
    /// Keep the entry with these bytes instead, at the same sequence
    /// number and with the same expiry (an embedder shrinking what it no
    /// longer needs whole, e.g. an expired value kept as a marker).
    Replace(bytes::Bytes),
    /// Treat it as a tombstone at the same sequence number: older versions stay
    /// hidden, and the tombstone itself is dropped once that is safe
    /// (bottommost for the key, no snapshot needs it, grace passed).
    Delete,
}

/// How the engine tells time: unix milliseconds. Tests inject a fake clock.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock in unix milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    })
}

/// Every engine knob. `Default` gives the same values as the server's
/// configuration defaults (a server test keeps the two equal); the keys are
/// documented with the configuration table in `conf/src/keys.rs`.
#[derive(Clone)]
pub struct Options {
    /// When the WAL is fsynced (`appendfsync`; default everysec).
    pub fsync: FsyncPolicy,
    /// Bytes a memtable holds before it is frozen (`memtable-size`; default 64 MiB).
    /// Larger: fewer, larger L0 files and less write amplification; more memory and longer recovery.
    pub memtable_size_bytes: usize,
    /// Frozen memtables waiting for flush before writes block (default 2, at least 1).
    pub max_immutable_memtables: usize,
    /// Target uncompressed data block size (default 4 KiB). Larger blocks: smaller
    /// index, more bytes read per point lookup.
    pub block_size_bytes: usize,
    /// Bloom filter bits per key (default 10, ~1% false positives; 0 disables).
    pub bloom_bits_per_key: u32,
    /// Byte budget of the block cache (default 128 MiB). Index and filter blocks are
    /// charged to it too, so memory stays bounded whatever the data size; a
    /// quarter of it is the row cache's (`crate::row_cache`).
    pub block_cache_bytes: usize,
    /// Most SSTable files kept open (default 1000, at least 16).
    pub max_open_files: usize,
    /// Strategy in force after `open` (default leveled). The manifest records the
    /// strategy in force; `set_compaction_strategy` switches and persists it for
    /// the running engine, and the next `open` applies this option again (the
    /// configuration is the source of truth at start, as with Redis's CONFIG SET
    /// before CONFIG REWRITE). A change at open is logged and converges like a
    /// live switch.
    pub compaction_strategy: CompactionStrategy,
    /// L0 sorted runs that trigger an L0 compaction (leveled; default 4). While L0
    /// holds fewer bytes than the L1 files it overlaps it waits for more runs, up
    /// to twice this (at most `l0_slowdown_trigger - 2`; `compaction::leveled`).
    pub l0_compaction_trigger: usize,
    /// L0 sorted runs at which writes are slowed down (default 8).
    pub l0_slowdown_trigger: usize,
    /// L0 sorted runs at which writes stop (default 12).
    pub l0_stop_trigger: usize,
    /// Size ratio between adjacent levels (leveled; default 10).
    pub level_size_ratio: u64,
    /// Target size of L1 (leveled; default 256 MiB).
    pub level1_max_bytes: u64,
    /// Compaction output file size (default 64 MiB).
    pub target_file_size_bytes: u64,
    /// Fewest similar-size runs merged together (size-tiered; default 4).
    pub tiered_min_threshold: usize,
    /// Most runs merged at once (size-tiered; default 32).
    pub tiered_max_threshold: usize,
    /// Estimated compaction debt at which writes stop (default 64 GiB).
    pub pending_compaction_bytes_limit: u64,
    /// Background compaction threads (default 1).
    pub compaction_threads: usize,
    /// Compaction write rate in bytes/s (default 0 = unlimited).
    pub compaction_rate_limit_bytes_per_sec: u64,
    /// How long tombstones (and expired values, counted from their expiry) are kept
    /// before compaction may drop them (default 0).
    pub tombstone_grace: Duration,
    /// Optional hook asked about every surviving entry during compaction (default none).
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// Whether reads hide values whose expiry has passed (default true).
    /// An embedder that judges expiry itself and keeps expired values as
    /// markers ([`CompactionFilter::expired`]) sets false: reads then return
    /// every put, expired or not (its `expire_at_ms` tells), until
    /// compaction turns it into a marker or a tombstone; flushes write
    /// expired puts as they are.
    pub hide_expired: bool,
    /// Unix-ms clock for expiry and tombstone times (default: the system clock).
    pub clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Whether `open` may proceed when the WAL the manifest names as live is
    /// missing or shorter than its 16-byte header (`wal-missing-ok`; default
    /// false). False: `open` fails with `Error::MissingWal` naming the file
    /// and changes nothing. True: it logs a warning and opens with what the
    /// SSTables (and any later WALs) hold, losing the writes acknowledged
    /// since the last flush. Meant for one start after an operator decided
    /// the loss is acceptable; it never affects a WAL that is present and
    /// readable, torn tails included.
    pub wal_missing_ok: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fsync: FsyncPolicy::EverySec,
            memtable_size_bytes: 64 << 20,
            max_immutable_memtables: 2,
            block_size_bytes: 4 << 10,
            bloom_bits_per_key: 10,
            block_cache_bytes: 128 << 20,
            max_open_files: 1000,
            compaction_strategy: CompactionStrategy::Leveled,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 8,
            l0_stop_trigger: 12,
            level_size_ratio: 10,
            level1_max_bytes: 256 << 20,
            target_file_size_bytes: 64 << 20,
            tiered_min_threshold: 4,
            tiered_max_threshold: 32,
            pending_compaction_bytes_limit: 64 << 30,
            compaction_threads: 1,
            compaction_rate_limit_bytes_per_sec: 0,
            tombstone_grace: Duration::ZERO,
            hide_expired: true,
            compaction_filter: None,
            clock: system_clock(),
            wal_missing_ok: false,
        }
    }
}

impl Options {
    /// Clamps values that would make the engine misbehave (zero sizes, inverted
    /// triggers) into their documented ranges.
    pub(crate) fn sanitized(mut self) -> Self {
        self.memtable_size_bytes = self.memtable_size_bytes.max(4 * 1024);
        self.max_immutable_memtables = self.max_immutable_memtables.max(1);
        self.block_size_bytes = self.block_size_bytes.clamp(256, 4 << 20);
        self.bloom_bits_per_key = self.bloom_bits_per_key.min(32);
        self.max_open_files = self.max_open_files.max(16);
        self.l0_compaction_trigger = self.l0_compaction_trigger.max(1);
        self.l0_slowdown_trigger = self.l0_slowdown_trigger.max(self.l0_compaction_trigger);
        self.l0_stop_trigger = self.l0_stop_trigger.max(self.l0_slowdown_trigger);
        self.level_size_ratio = self.level_size_ratio.max(2);
        self.level1_max_bytes = self.level1_max_bytes.max(1024);
        self.target_file_size_bytes = self.target_file_size_bytes.max(1024);
        self.tiered_min_threshold = self.tiered_min_threshold.max(2);
        self.tiered_max_threshold = self.tiered_max_threshold.max(self.tiered_min_threshold);
        self.compaction_threads = self.compaction_threads.clamp(1, 64);
        self
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("fsync", &self.fsync)
            .field("memtable_size_bytes", &self.memtable_size_bytes)
            .field("max_immutable_memtables", &self.max_immutable_memtables)
            .field("block_size_bytes", &self.block_size_bytes)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("block_cache_bytes", &self.block_cache_bytes)
            .field("max_open_files", &self.max_open_files)
            .field("compaction_strategy", &self.compaction_strategy)
            .field("l0_compaction_trigger", &self.l0_compaction_trigger)
            .field("l0_slowdown_trigger", &self.l0_slowdown_trigger)
            .field("l0_stop_trigger", &self.l0_stop_trigger)
            .field("level_size_ratio", &self.level_size_ratio)
            .field("level1_max_bytes", &self.level1_max_bytes)
            .field("target_file_size_bytes", &self.target_file_size_bytes)
            .field("tiered_min_threshold", &self.tiered_min_threshold)
            .field("tiered_max_threshold", &self.tiered_max_threshold)
            .field(
                "pending_compaction_bytes_limit",
                &self.pending_compaction_bytes_limit,
            )
            .field("compaction_threads", &self.compaction_threads)
            .field(
                "compaction_rate_limit_bytes_per_sec",
                &self.compaction_rate_limit_bytes_per_sec,
            )
            .field("tombstone_grace", &self.tombstone_grace)
            .field("compaction_filter", &self.compaction_filter.is_some())
            .field("wal_missing_ok", &self.wal_missing_ok)
            .finish_non_exhaustive()
    }
}
