//! Memory stays bounded by the memtable budget and the block cache budget,
//! not by data size: load several times (memtables + cache) and read it all
//! back, checking the engine's own accounting through `stats()` throughout.

mod common;

use common::{key, open, small_options};
use std::ops::Bound;

use ringkv_engine::{CompactionStrategy, Engine, Stats, Value, WriteBatch};

/// Writes keys 0..n in a scattered order, 32 to a batch, each `value`,
/// calling `after` with the stats after every batch.
fn load(e: &Engine, n: u64, value: &[u8], mut after: impl FnMut(&Stats)) {
    for chunk in 0..n / 32 {
        let mut b = WriteBatch::new();
        for i in chunk * 32..chunk * 32 + 32 {
            b.put(key(i * 7 % n), Value::new(value.to_vec()));
        }
        e.throttle();
        e.write(b).unwrap();
        after(&e.stats());
    }
}

#[test]
fn memtables_and_block_cache_stay_within_budget() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = small_options(s);
        opts.memtable_size_bytes = 64 * 1024;
        opts.max_immutable_memtables = 2;
        opts.block_cache_bytes = 128 * 1024;
        opts.target_file_size_bytes = 128 * 1024;
        opts.level1_max_bytes = 512 * 1024;
        let e = open(dir.path(), &opts);
        // Budget: active + immutable memtables may each overshoot by one
        // batch: 32 versions of 256-byte values, each charged its record
        // (key, value, header) and, as a new key, its map and index slots.
        let batch_bytes = 32 * 400;
        let mem_budget = (opts.memtable_size_bytes + batch_bytes) as u64
            * (1 + opts.max_immutable_memtables as u64);
        let value = vec![b'v'; 256];
        let n = 12_000u64; // ~3.4 MB of user data: > 10x (memtables + cache)
        let mut peak_mem = 0;
        let mut peak_cache = 0;
        load(&e, n, &value, |st| {
            peak_mem = peak_mem.max(st.memtable_bytes + st.immutable_memtable_bytes);
            peak_cache = peak_cache.max(st.block_cache_bytes);
        });
        for i in (0..n).step_by(3) {
            assert!(e.get(&key(i)).unwrap().is_some(), "{s}: key {i}");
            peak_cache = peak_cache.max(e.stats().block_cache_bytes);
        }
        assert_eq!(e.iter_prefix(b"key").unwrap().count() as u64, n);
        let st = e.stats();
        assert!(
            st.live_sst_bytes > 10 * (mem_budget + opts.block_cache_bytes as u64) / 4,
            "{s}: too little data to mean anything: {st:?}"
        );
        assert!(
            peak_mem <= mem_budget,
            "{s}: memtables reached {peak_mem} > {mem_budget}"
        );
        assert!(
            peak_cache <= opts.block_cache_bytes as u64,
            "{s}: block cache reached {peak_cache}"
        );
        assert_eq!(st.block_cache_capacity, opts.block_cache_bytes as u64);
        assert!(st.block_cache_misses > 0 && st.block_cache_hits > 0);
        let _ = CompactionStrategy::Leveled;
    });
}

/// A compaction reads its inputs without caching their data blocks: they
/// are deleted when it ends, and caching them would evict what readers
/// use. Only index and filter blocks (here about an eighth of the cache,
/// small tables of 1 KB blocks) may be cached. A
/// bulk scan (`iter_uncached`) reads the same way.
#[test]
fn compaction_does_not_fill_the_block_cache() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = small_options(s);
        opts.block_cache_bytes = 1 << 20;
        let e = open(dir.path(), &opts);
        let value = vec![b'v'; 200];
        let n = 8_000u64; // ~1.7 MB: more than the cache
        load(&e, n, &value, |_| {});
        e.compact_all().unwrap();
        let st = e.stats();
        assert!(
            st.live_sst_bytes > opts.block_cache_bytes as u64,
            "{s}: too little data to mean anything: {st:?}"
        );
        assert!(
            st.block_cache_bytes < opts.block_cache_bytes as u64 / 4,
            "{s}: compaction left {} bytes of blocks in the cache",
            st.block_cache_bytes
        );
        // Nor does a bulk scan (anti-entropy, streaming, a full pass).
        let scanned = e
            .iter_uncached(Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
            .count() as u64;
        assert_eq!(scanned, n, "{s}");
        assert!(
            e.stats().block_cache_bytes < opts.block_cache_bytes as u64 / 4,
            "{s}: a bulk scan left {} bytes of blocks in the cache",
            e.stats().block_cache_bytes
        );
        // Readers still fill it.
        for i in 0..n {
            assert!(e.get(&key(i)).unwrap().is_some(), "{s}: key {i}");
        }
        assert!(
            e.stats().block_cache_bytes > opts.block_cache_bytes as u64 / 2,
            "{s}: reads did not fill the cache: {:?}",
            e.stats()
        );
    });
}

/// Level-0 readers pin their filters and indexes, within an eighth of the
/// block cache's budget that the cache itself gives up, so the two stay
/// within `block_cache_bytes`; tables that leave level 0 let them go.
#[test]
fn level_zero_pins_stay_within_an_eighth_of_the_cache() {
    common::for_each_strategy(|s| {
        for cache in [1usize << 20, 64 * 1024] {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = small_options(s);
            opts.block_cache_bytes = cache;
            // Flushed tables stay in level 0 until compact_all: one file
            // per flush, fewer runs than any trigger.
            opts.memtable_size_bytes = 1 << 20;
            opts.target_file_size_bytes = 1 << 20;
            opts.l0_compaction_trigger = 20;
            opts.tiered_min_threshold = 20;
            opts.tiered_max_threshold = 20;
            let e = open(dir.path(), &opts);
            let value = vec![b'v'; 100];
            let n = 3_000u64;
            for part in 0..3 {
                let mut b = WriteBatch::new();
                for i in (part..n).step_by(3) {
                    b.put(key(i), Value::new(value.clone()));
                }
                e.write(b).unwrap();
                e.flush().unwrap();
            }
            let limit = cache as u64 / 8;
            for i in 0..n {
                assert!(e.get(&key(i)).unwrap().is_some(), "{s}: key {i}");
                assert!(e.get(format!("absent{i}").as_bytes()).unwrap().is_none());
                let st = e.stats();
                assert!(st.block_cache_pinned_bytes <= limit, "{s}/{cache}: {st:?}");
                assert!(st.block_cache_bytes <= cache as u64, "{s}/{cache}: {st:?}");
            }
            let st = e.stats();
            assert_eq!(st.l0_runs, 3, "{s}: {st:?}");
            if cache == 1 << 20 {
                assert!(
                    st.block_cache_pinned_bytes > 0,
                    "{s}: nothing pinned: {st:?}"
                );
            }
            e.compact_all().unwrap();
            // A version installed once no reader holds the compacted tables
            // deletes them (a read in flight may have delayed that); this
            // flush's table is outside every key read below.
            e.put(b"zzz".to_vec(), Value::new(b"v".to_vec())).unwrap();
            e.flush().unwrap();
            for i in (0..n).step_by(7) {
                assert!(e.get(&key(i)).unwrap().is_some(), "{s}: key {i}");
            }
            let st = e.stats();
            if s == CompactionStrategy::Leveled {
                assert_eq!(
                    st.block_cache_pinned_bytes, 0,
                    "{s}: pins outlived level 0: {st:?}"
                );
            }
            assert!(st.block_cache_pinned_bytes <= limit, "{s}/{cache}: {st:?}");
        }
    });
}
