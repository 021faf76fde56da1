//! Engine options (every knob with its `ringkv.toml` default), the
//! compaction-filter hook the embedder implements, and the clock.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringkv_conf::{CompactionStrategy, Config, FsyncPolicy};

use crate::value::Value;

/// Asked by compaction for every surviving put; lets the embedder retire data
/// (for example versions whose tombstone grace has passed in the cluster's
/// terms). Called on compaction threads, so it must be cheap and must not call
/// back into the engine.
pub trait CompactionFilter: Send + Sync {
    /// Decides the fate of the newest surviving version of `key`.
    fn decide(&self, key: &[u8], value: &Value) -> FilterDecision;
}

/// What a `CompactionFilter` wants done with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterDecision {
    /// Keep the entry as it is.
    Keep,
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

/// Every engine knob. `Default` matches the `ringkv.toml` defaults; see
/// `conf/src/keys.rs` for the documentation of each key.
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
    /// charged to it too, so memory stays bounded whatever the data size.
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
    /// L0 sorted runs that trigger an L0 compaction (leveled; default 4).
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
        Options::from_config(&Config::default())
    }
}

impl Options {
    /// The engine options of a server configuration.
    pub fn from_config(cfg: &Config) -> Self {
        Options {
            fsync: cfg.appendfsync,
            memtable_size_bytes: cfg.memtable_size.bytes_usize(),
            max_immutable_memtables: cfg.max_immutable_memtables,
            block_size_bytes: cfg.block_size.bytes_usize(),
            bloom_bits_per_key: cfg.bloom_bits_per_key,
            block_cache_bytes: cfg.block_cache_size.bytes_usize(),
            max_open_files: cfg.max_open_files,
            compaction_strategy: cfg.compaction_strategy,
            l0_compaction_trigger: cfg.l0_compaction_trigger,
            l0_slowdown_trigger: cfg.l0_slowdown_trigger,
            l0_stop_trigger: cfg.l0_stop_trigger,
            level_size_ratio: cfg.level_size_ratio,
            level1_max_bytes: cfg.level1_max_size.bytes(),
            target_file_size_bytes: cfg.target_file_size.bytes(),
            tiered_min_threshold: cfg.tiered_min_threshold,
            tiered_max_threshold: cfg.tiered_max_threshold,
            pending_compaction_bytes_limit: cfg.pending_compaction_bytes_limit.bytes(),
            compaction_threads: cfg.compaction_threads,
            compaction_rate_limit_bytes_per_sec: cfg.compaction_rate_limit.bytes(),
            tombstone_grace: Duration::ZERO,
            compaction_filter: None,
            clock: system_clock(),
            wal_missing_ok: cfg.wal_missing_ok,
        }
    }

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
