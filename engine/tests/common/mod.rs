//! Helpers shared by the engine's integration tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ringkv_engine::{CompactionStrategy, Engine, FsyncPolicy, Options};

/// Small sizes so flushes and compactions really happen in CI-sized tests.
pub fn small_options(strategy: CompactionStrategy) -> Options {
    Options {
        fsync: FsyncPolicy::No,
        memtable_size_bytes: 32 * 1024,
        max_immutable_memtables: 2,
        block_size_bytes: 1024,
        block_cache_bytes: 256 * 1024,
        compaction_strategy: strategy,
        l0_compaction_trigger: 3,
        l0_slowdown_trigger: 20,
        l0_stop_trigger: 30,
        level1_max_bytes: 64 * 1024,
        level_size_ratio: 4,
        target_file_size_bytes: 32 * 1024,
        tiered_min_threshold: 3,
        tiered_max_threshold: 8,
        ..Options::default()
    }
}

/// Runs `body` once under each compaction strategy.
pub fn for_each_strategy(mut body: impl FnMut(CompactionStrategy)) {
    for s in [CompactionStrategy::Leveled, CompactionStrategy::SizeTiered] {
        body(s);
    }
}

/// A controllable clock (unix ms).
#[derive(Clone)]
pub struct FakeClock(pub Arc<AtomicU64>);

impl FakeClock {
    pub fn new(ms: u64) -> Self {
        FakeClock(Arc::new(AtomicU64::new(ms)))
    }
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn install(&self, o: &mut Options) {
        let c = self.0.clone();
        o.clock = Arc::new(move || c.load(Ordering::SeqCst));
    }
}

/// Opens `dir` with `opts`.
pub fn open(dir: &std::path::Path, opts: &Options) -> Engine {
    Engine::open(dir, opts.clone()).expect("open")
}

/// `key{i:08}`.
pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}
