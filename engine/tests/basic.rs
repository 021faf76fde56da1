//! Basic behaviour: put/get/delete/iterate across memtable, flush,
//! compaction and reopen, under both strategies.

mod common;

use std::ops::Bound;

use common::{for_each_strategy, key, open, small_options};
use ringkv_engine::{Value, WriteBatch};

#[test]
fn values_survive_flush_compaction_and_reopen() {
    for_each_strategy(|s| {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_options(s);
        let n = 3000u64;
        {
            let e = open(dir.path(), &opts);
            for i in 0..n {
                e.put(key(i), Value::new(format!("value-{i}-{}", "x".repeat(40))))
                    .unwrap();
            }
            for i in (0..n).step_by(3) {
                e.delete(key(i)).unwrap();
            }
            for i in 0..n {
                let got = e.get(&key(i)).unwrap();
                if i % 3 == 0 {
                    assert!(got.is_none(), "{s} key {i} should be deleted");
                } else {
                    assert_eq!(
                        got.unwrap().data,
                        format!("value-{i}-{}", "x".repeat(40)).as_bytes(),
                        "{s} key {i}"
                    );
                }
            }
            let st = e.stats();
            assert!(st.flushes > 0, "{s}: {st:?}");
            e.compact_all().unwrap();
            let count = e
                .iter(Bound::Unbounded, Bound::Unbounded, None)
                .unwrap()
                .count();
            assert_eq!(count as u64, n - n.div_ceil(3));
            e.shutdown().unwrap();
        }
        let e = open(dir.path(), &opts);
        let items: Vec<_> = e
            .iter(Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(items.len() as u64, n - n.div_ceil(3));
        for w in items.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        assert!(e.get(&key(1)).unwrap().is_some());
        assert!(e.get(&key(0)).unwrap().is_none());
    });
}

#[test]
fn batches_are_atomic_and_empty_key_works() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(
        dir.path(),
        &small_options(ringkv_engine::CompactionStrategy::Leveled),
    );
    let mut b = WriteBatch::new();
    b.put(&b""[..], Value::new("empty"));
    b.put("a", Value::new("1"));
    b.delete("a");
    b.put("b", Value::new("2"));
    let seq = e.write(b).unwrap();
    e.wait_durable(seq).unwrap();
    assert_eq!(e.get(b"").unwrap().unwrap().data, "empty");
    assert!(e.get(b"a").unwrap().is_none());
    assert_eq!(e.get(b"b").unwrap().unwrap().data, "2");
    let snap = e.snapshot();
    e.put("b", Value::new("3")).unwrap();
    assert_eq!(e.get_at(b"b", &snap).unwrap().unwrap().data, "2");
    assert_eq!(e.get(b"b").unwrap().unwrap().data, "3");
    let keys: Vec<_> = e.iter_prefix(b"").unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(keys, vec![bytes::Bytes::from(""), bytes::Bytes::from("b")]);
}

/// `written_since` answers from the memtables: false for a key no one
/// wrote after the snapshot (whether its version is in the memtable or an
/// SSTable), true for one written after it, and true (may) for every key
/// once a flush took versions newer than the snapshot out of the
/// memtables, so a caller never keeps a read that is no longer the newest.
#[test]
fn written_since_tells_a_version_newer_than_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(
        dir.path(),
        &small_options(ringkv_engine::CompactionStrategy::Leveled),
    );
    e.put(key(1), Value::new("in an sstable")).unwrap();
    e.flush().unwrap();
    e.put(key(2), Value::new("in the memtable")).unwrap();
    let snap = e.snapshot();
    assert!(!e.written_since(&key(1), &snap));
    assert!(!e.written_since(&key(2), &snap));
    assert!(!e.written_since(&key(3), &snap), "never written");
    e.put(key(2), Value::new("newer")).unwrap();
    let mut b = WriteBatch::new();
    b.delete(key(3));
    e.write(b).unwrap();
    assert!(!e.written_since(&key(1), &snap));
    assert!(e.written_since(&key(2), &snap), "overwritten");
    assert!(e.written_since(&key(3), &snap), "a tombstone is a version");
    let later = e.snapshot();
    assert!(!e.written_since(&key(2), &later));
    // A flush of versions newer than `snap`: every key may have changed
    // for it, none for a snapshot taken after them.
    e.flush().unwrap();
    assert!(e.written_since(&key(1), &snap));
    assert!(!e.written_since(&key(1), &later));
    assert!(!e.written_since(&key(2), &later));
}
