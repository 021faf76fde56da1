//! Expiry, tombstones and the compaction filter: expired values read as
//! absent at once and are dropped by compaction once past the grace period
//! (never while an older version could resurface); tombstones likewise; a
//! file full of garbage is compacted on its own by the TTL pick.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FakeClock, key, open, small_options};
use ringkv_engine::{CompactionFilter, CompactionStrategy, FilterDecision, Value};

#[test]
fn expired_values_vanish_and_are_dropped_after_grace() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::new(10_000);
        let mut opts = small_options(s);
        opts.tombstone_grace = Duration::from_millis(1000);
        clock.install(&mut opts);
        let e = open(dir.path(), &opts);
        for i in 0..500 {
            e.put(key(i), Value::new("old")).unwrap();
        }
        e.compact_all().unwrap();
        for i in 0..500 {
            e.put(key(i), Value::with_expiry("new", 20_000)).unwrap();
        }
        assert_eq!(e.get(&key(3)).unwrap().unwrap().data, "new");
        clock.set(20_000);
        assert!(
            e.get(&key(3)).unwrap().is_none(),
            "{s}: expired value still visible"
        );
        // Within grace: compaction keeps the (now tombstone) entries that hide "old".
        e.compact_all().unwrap();
        assert!(
            e.get(&key(3)).unwrap().is_none(),
            "{s}: old version resurfaced"
        );
        assert_eq!(e.iter_prefix(b"key").unwrap().count(), 0);
        clock.set(21_001);
        e.compact_all().unwrap();
        let st = e.stats();
        assert!(
            st.expired_dropped + st.tombstones_dropped >= 500,
            "{s}: {st:?}"
        );
        assert_eq!(
            st.live_sst_bytes, 0,
            "{s}: garbage left behind: {:?}",
            st.levels
        );
        assert!(e.get(&key(3)).unwrap().is_none());
    });
}

#[test]
fn tombstones_are_kept_while_a_snapshot_needs_them() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path(), &small_options(s));
        for i in 0..300 {
            e.put(key(i), Value::new(format!("v{i}"))).unwrap();
        }
        e.flush().unwrap();
        let snap = e.snapshot();
        for i in 0..300 {
            e.delete(key(i)).unwrap();
        }
        e.compact_all().unwrap();
        assert!(e.get(&key(5)).unwrap().is_none());
        assert_eq!(e.get_at(&key(5), &snap).unwrap().unwrap().data, "v5", "{s}");
        assert_eq!(
            e.iter(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                Some(&snap)
            )
            .unwrap()
            .count(),
            300
        );
        drop(snap);
        e.compact_all().unwrap();
        let st = e.stats();
        assert!(st.tombstones_dropped >= 300, "{s}: {st:?}");
        assert_eq!(st.live_sst_bytes, 0);
    });
}

struct DropOdd;

impl CompactionFilter for DropOdd {
    fn decide(&self, key: &[u8], _value: &[u8], _expire_at_ms: u64) -> FilterDecision {
        if key.last().is_some_and(|b| b % 2 == 1) {
            FilterDecision::Delete
        } else {
            FilterDecision::Keep
        }
    }
}

#[test]
fn compaction_filter_retires_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.compaction_filter = Some(Arc::new(DropOdd));
    let e = open(dir.path(), &opts);
    for i in 0..200 {
        e.put(key(i), Value::new("x")).unwrap();
    }
    e.compact_all().unwrap();
    for i in 0..200 {
        assert_eq!(e.get(&key(i)).unwrap().is_some(), i % 2 == 0, "key {i}");
    }
}

#[test]
fn garbage_heavy_file_is_compacted_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(1_000);
    let mut opts = small_options(CompactionStrategy::Leveled);
    clock.install(&mut opts);
    let e = open(dir.path(), &opts);
    for i in 0..400 {
        e.put(key(i), Value::with_expiry(vec![b'e'; 100], 5_000))
            .unwrap();
    }
    e.compact_all().unwrap();
    let before = e.stats();
    assert!(before.live_sst_bytes > 0);
    clock.set(6_000);
    // No size trigger fires; only the TTL pick (run every second) can reclaim it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.stats().live_sst_bytes > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = e.stats();
    assert_eq!(after.live_sst_bytes, 0, "{after:?}");
    assert!(after.compactions > before.compactions);
}

/// Keeps an expired put as the marker `m:<value>` for 1,000 ms past its
/// expiry, as the cluster keeps an expired key's causal history; a marker
/// whose time has passed goes.
struct KeepMarkers;

impl CompactionFilter for KeepMarkers {
    fn decide(&self, _key: &[u8], _value: &[u8], _expire_at_ms: u64) -> FilterDecision {
        FilterDecision::Keep
    }

    fn expired(
        &self,
        _key: &[u8],
        value: &[u8],
        expire_at_ms: u64,
        _now_ms: u64,
    ) -> Option<(bytes::Bytes, u64)> {
        if value.starts_with(b"m:") {
            return None;
        }
        Some(([&b"m:"[..], value].concat().into(), expire_at_ms + 1_000))
    }
}

#[test]
fn an_embedder_that_judges_expiry_reads_expired_puts_and_keeps_its_markers() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::new(10_000);
        let mut opts = small_options(s);
        opts.hide_expired = false;
        opts.compaction_filter = Some(Arc::new(KeepMarkers));
        clock.install(&mut opts);
        let e = open(dir.path(), &opts);
        for i in 0..300 {
            e.put(key(i), Value::new("old")).unwrap();
        }
        e.compact_all().unwrap();
        for i in 0..300 {
            e.put(key(i), Value::with_expiry("new", 20_000)).unwrap();
        }
        clock.set(20_500);
        // Expired, still read (with its expiry) by get and by iterators,
        // and through a flush as it was.
        let got = e.get(&key(3)).unwrap().expect("an expired put is read");
        assert_eq!((got.data.as_ref(), got.expire_at_ms), (&b"new"[..], 20_000));
        e.flush().unwrap();
        // (The TTL pick may already have rewritten the flushed file.)
        let data = e.get(&key(4)).unwrap().unwrap().data;
        assert!(data == "new" || data == "m:new", "{s}: {data:?}");
        // Compaction asks the embedder: the markers stay, older versions
        // stay hidden.
        e.compact_all().unwrap();
        let got = e.get(&key(3)).unwrap().expect("the marker");
        assert_eq!(
            (got.data.as_ref(), got.expire_at_ms),
            (&b"m:new"[..], 21_000)
        );
        let all: Vec<_> = e
            .iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(all.len(), 300, "{s}");
        assert!(all.iter().all(|(_, v)| v.data == "m:new"), "{s}");
        assert!(e.stats().expired_markers >= 300, "{s}: {:?}", e.stats());
        // Past the marker's time it goes, and "old" never comes back.
        clock.set(21_500);
        e.compact_all().unwrap();
        clock.set(40_000);
        e.compact_all().unwrap();
        for i in [0, 3, 299] {
            let v = e.get(&key(i)).unwrap();
            assert!(v.is_none_or(|v| v.data != "old"), "{s}: key {i} resurfaced");
        }
    });
}

#[test]
fn a_level0_file_of_expired_values_is_rewritten_though_older_data_overlaps() {
    common::for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::new(1_000);
        let mut opts = small_options(s);
        opts.memtable_size_bytes = 1 << 20;
        opts.l0_compaction_trigger = 4;
        opts.tiered_min_threshold = 4;
        clock.install(&mut opts);
        let e = open(dir.path(), &opts);
        for i in 0..400 {
            e.put(key(i), Value::new("old")).unwrap();
        }
        // The old values below level 0, the expiring ones in level 0.
        e.compact_all().unwrap();
        for i in 0..400 {
            e.put(key(i), Value::with_expiry(vec![b'e'; 200], 5_000))
                .unwrap();
        }
        e.flush().unwrap();
        let before = e.stats();
        clock.set(6_000);
        // The newer file overlaps the older one, so none of its entries can
        // be dropped; the TTL pick rewrites it where it is, values gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while e.stats().live_sst_bytes * 2 > before.live_sst_bytes && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let after = e.stats();
        assert!(
            after.live_sst_bytes * 2 <= before.live_sst_bytes,
            "{s}: {before:?} -> {after:?}"
        );
        for i in [0, 3, 399] {
            assert!(e.get(&key(i)).unwrap().is_none(), "{s}: key {i} resurfaced");
        }
    });
}
