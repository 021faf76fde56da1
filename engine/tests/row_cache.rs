//! The row cache (`docs/performance.md`, "Point reads of hot keys: a row
//! cache") answers exactly what the tables would: the newest version a
//! snapshot sees, tombstones included, across flushes and compactions.

mod common;

use common::{for_each_strategy, key, open, small_options};
use ringkv_engine::Value;

fn read_thrice(e: &ringkv_engine::Engine, k: &[u8]) -> Option<Vec<u8>> {
    let first = e.get(k).unwrap().map(|v| v.data.to_vec());
    for _ in 0..2 {
        let again = e.get(k).unwrap().map(|v| v.data.to_vec());
        assert_eq!(again, first, "{:?}", String::from_utf8_lossy(k));
    }
    first
}

#[test]
fn hot_reads_see_each_new_version_and_tombstone() {
    for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path(), &small_options(s));
        let k = key(7);
        e.put(k.clone(), Value::new("v1")).unwrap();
        e.flush().unwrap();
        assert_eq!(read_thrice(&e, &k).as_deref(), Some(&b"v1"[..]), "{s}");
        let st = e.stats();
        assert!(
            st.row_cache_fills >= 1 && st.row_cache_hits >= 1,
            "{s}: {st:?}"
        );

        let at_v1 = e.snapshot();
        e.put(k.clone(), Value::new("v2")).unwrap();
        assert_eq!(
            read_thrice(&e, &k).as_deref(),
            Some(&b"v2"[..]),
            "{s}: memtable"
        );
        e.flush().unwrap();
        assert_eq!(
            read_thrice(&e, &k).as_deref(),
            Some(&b"v2"[..]),
            "{s}: flushed"
        );
        for _ in 0..3 {
            let old = e.get_at(&k, &at_v1).unwrap().unwrap();
            assert_eq!(&old.data[..], b"v1", "{s}: the snapshot's version");
        }

        e.delete(k.clone()).unwrap();
        e.flush().unwrap();
        assert_eq!(read_thrice(&e, &k), None, "{s}: tombstone flushed");
        e.compact_all().unwrap();
        assert_eq!(read_thrice(&e, &k), None, "{s}: after compaction");
        e.put(k.clone(), Value::new("v3")).unwrap();
        e.flush().unwrap();
        assert_eq!(read_thrice(&e, &k).as_deref(), Some(&b"v3"[..]), "{s}");
        drop(at_v1);
    });
}

#[test]
fn a_snapshot_older_than_a_table_is_not_served_its_newest_row() {
    for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path(), &small_options(s));
        let k = key(1);
        e.put(k.clone(), Value::new("old")).unwrap();
        let before = e.snapshot();
        e.put(k.clone(), Value::new("new")).unwrap();
        // One table holds both versions; the snapshot sees only the first.
        e.flush().unwrap();
        // Latest reads keep the table's newest row...
        assert_eq!(read_thrice(&e, &k).as_deref(), Some(&b"new"[..]), "{s}");
        // ...which the older snapshot must not be given.
        for _ in 0..3 {
            let got = e.get_at(&k, &before).unwrap().unwrap();
            assert_eq!(&got.data[..], b"old", "{s}");
        }
        // Reads at the old snapshot keep nothing that a latest read would
        // then be given.
        let k2 = key(2);
        e.put(k2.clone(), Value::new("a")).unwrap();
        let mid = e.snapshot();
        e.put(k2.clone(), Value::new("b")).unwrap();
        e.flush().unwrap();
        for _ in 0..3 {
            assert_eq!(&e.get_at(&k2, &mid).unwrap().unwrap().data[..], b"a", "{s}");
        }
        assert_eq!(read_thrice(&e, &k2).as_deref(), Some(&b"b"[..]), "{s}");
        drop((before, mid));
    });
}

#[test]
fn many_hot_keys_read_back_their_values_through_compactions() {
    for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path(), &small_options(s));
        let n = 2000u64;
        for round in 0..3u64 {
            for i in 0..n {
                if (i + round) % 5 == 0 {
                    e.delete(key(i)).unwrap();
                } else {
                    e.put(key(i), Value::new(format!("{i}-{round}"))).unwrap();
                }
            }
            e.flush().unwrap();
            for pass in 0..3 {
                for i in 0..n {
                    let want = ((i + round) % 5 != 0).then(|| format!("{i}-{round}"));
                    let got = e.get(&key(i)).unwrap().map(|v| v.data.to_vec());
                    assert_eq!(
                        got,
                        want.map(String::into_bytes),
                        "{s} key {i} round {round} pass {pass}"
                    );
                }
                if pass == 1 {
                    e.compact_all().unwrap();
                }
            }
        }
        let st = e.stats();
        assert!(st.row_cache_hits > 0, "{s}: {st:?}");
        assert!(
            st.row_cache_bytes <= st.block_cache_capacity / 4,
            "{s}: {st:?}"
        );
    });
}

#[test]
fn a_long_value_is_read_from_its_block_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(
        dir.path(),
        &small_options(ringkv_engine::CompactionStrategy::Leveled),
    );
    let long: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    e.put(key(3), Value::new(long.clone())).unwrap();
    e.put(key(4), Value::new("short")).unwrap();
    e.flush().unwrap();
    for _ in 0..3 {
        assert_eq!(e.get(&key(3)).unwrap().unwrap().data, long);
    }
    let st = e.stats();
    assert_eq!((st.row_cache_fills, st.row_cache_hits), (0, 0), "{st:?}");
    read_thrice(&e, &key(4));
    let st = e.stats();
    assert_eq!((st.row_cache_fills, st.row_cache_hits), (1, 1), "{st:?}");
}
