//! ringkv's LSM storage engine: a write-ahead log with group commit, a
//! lock-free memtable, SSTables with bloom filters and a byte-bounded block
//! cache, a manifest of version edits, and leveled or size-tiered compaction
//! switchable on a live database. Synchronous, owns its background threads,
//! knows nothing of the network or of how the server is configured (the
//! server turns its configuration into [`Options`]).
//!
//! # Layout
//! - `wal/` — WAL record codec, file header and replay (`docs/formats/wal.md`),
//!   the group committer and the `Durable` future.
//! - `memtable` — an ordered B-tree of versions keyed by (user key asc, seq
//!   desc), with a hash index of each key's newest version and an arena.
//! - `sstable/` — `block`, `builder`, `reader`, `index`, `bloom`, `footer`
//!   (`docs/formats/sstable.md`).
//! - `cache` — block cache (bytes-bounded; data, index and filter blocks) and table cache.
//! - `manifest` — version edits and CURRENT (`docs/formats/manifest.md`);
//!   `version` — levels, runs, files, and the `SuperVersion` readers snapshot.
//! - `compaction/` — `strategy` (pure decision), `leveled`, `tiered`, `runner`, `stall`.
//! - `iter/` — merging iterators and the public `EngineIter`.
//! - `db/` — the `Engine`: open/recovery, write path, read path, flush.
//! - `options` — `Options`, the `FsyncPolicy` and `CompactionStrategy` they
//!   choose, the `CompactionFilter` hook and the clock.
//! - `format` — magic numbers, versions and tags; `error` — the `Error` enum.
//! - `fuzzing` (hidden, not API) — the decoders of on-disk bytes as fuzz
//!   targets, shared by `fuzz/` and the smoke tests.
//!
//! # Durability
//! `write` makes a batch visible and queues its WAL record; `durable(seq)`
//! (or `wait_durable`) resolves once it is written to the OS (`everysec`,
//! `no`) or fsynced (`always`). After `kill -9`, every write whose durability
//! was reported under `always` is recovered; under `everysec`/`no`, every
//! write handed to the OS is recovered (power loss may lose about a second).

#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod batch;
mod cache;
mod coding;
mod compaction;
mod db;
mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod iter;
mod manifest;
mod memtable;
mod options;
mod row_cache;
mod snapshot;
mod sstable;
mod stats;
mod value;
mod version;
mod wal;

pub use batch::WriteBatch;
pub use compaction::stall::WritePressure;
pub use db::{Engine, SeqNo};
pub use error::{Error, Result};
pub use iter::{EngineIter, prefix_successor};
pub use options::{
    Clock, CompactionFilter, CompactionStrategy, FilterDecision, FsyncPolicy, Options, system_clock,
};
pub use snapshot::Snapshot;
pub use stats::{LevelStats, Stats};
pub use value::Value;
pub use wal::committer::Durable;
