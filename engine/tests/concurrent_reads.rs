//! Readers running while writers write: every snapshot read (scans and
//! point reads) sees each batch whole or not at all, keys in order and once
//! each, and never goes back in time. Small memtables make rotations,
//! flushes and compactions happen under the readers.

mod common;

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::small_options;
use ringkv_engine::{CompactionStrategy, Engine, Value, WriteBatch};

/// Keys per group; each batch writes one version to a whole group.
const GROUP: usize = 16;
/// Versions each writer writes.
const VERSIONS: u64 = 600;

fn key(group: char, i: usize) -> Vec<u8> {
    format!("{group}{i:02}").into_bytes()
}

fn version(v: &Value) -> u64 {
    std::str::from_utf8(&v.data)
        .ok()
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .expect("a version")
}

fn writer(engine: &Engine, group: char) {
    for v in 1..=VERSIONS {
        let mut batch = WriteBatch::new();
        for i in 0..GROUP {
            // A value long enough that memtables fill and rotate often.
            batch.put(
                key(group, i),
                Value::new(format!("{v}:{}", "x".repeat(40 + i))),
            );
        }
        engine.write(batch).expect("write");
    }
}

/// One snapshot's view of `groups`: the version each shows (0: not yet
/// written), after checking order, uniqueness, batch atomicity and that
/// point reads agree with the scan.
fn check_snapshot(engine: &Engine, groups: &[char]) -> Vec<u64> {
    let snap = engine.snapshot();
    // Point reads first, while the writers may still be inserting the
    // batches this snapshot covers, then the scan.
    let points: Vec<Vec<Option<u64>>> = groups
        .iter()
        .map(|&g| {
            (0..GROUP)
                .map(|i| {
                    let got = engine.get_at(&key(g, i), &snap).expect("get");
                    got.map(|v| version(&v))
                })
                .collect()
        })
        .collect();
    let all: Vec<(bytes::Bytes, Value)> = engine
        .iter(Bound::Unbounded, Bound::Unbounded, Some(&snap))
        .expect("iter")
        .map(|r| r.expect("entry"))
        .collect();
    for w in all.windows(2) {
        assert!(
            w[0].0 < w[1].0,
            "keys out of order or repeated: {:?}",
            w[1].0
        );
    }
    let mut seen = Vec::new();
    for (&g, points) in groups.iter().zip(points) {
        let mine: Vec<u64> = all
            .iter()
            .filter(|(k, _)| k.first() == Some(&(g as u8)))
            .map(|(_, v)| version(v))
            .collect();
        let Some(&first) = mine.first() else {
            assert!(points.iter().all(Option::is_none), "group {g}: {points:?}");
            seen.push(0);
            continue;
        };
        assert_eq!(mine.len(), GROUP, "group {g} partly visible");
        assert!(
            mine.iter().all(|&v| v == first),
            "group {g} mixes batches: {mine:?}"
        );
        assert!(
            points.iter().all(|&p| p == Some(first)),
            "group {g}: point reads {points:?}, scan {first}"
        );
        seen.push(first);
    }
    seen
}

fn run(strategy: CompactionStrategy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(Engine::open(dir.path(), small_options(strategy)).expect("open"));
    let groups = ['a', 'b'];
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = groups
        .iter()
        .map(|&g| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || writer(&engine, g))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let engine = Arc::clone(&engine);
            let done = Arc::clone(&done);
            let groups = groups.to_vec();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut last = vec![0u64; groups.len()];
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                    let seen = check_snapshot(&engine, &groups);
                    for (now, before) in seen.iter().zip(&last) {
                        assert!(
                            now >= before,
                            "a later snapshot went back: {before} -> {now}"
                        );
                    }
                    last = seen;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Release);
    let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert!(reads > 0, "the readers never read");
    assert_eq!(
        check_snapshot(&engine, &groups),
        vec![VERSIONS; groups.len()]
    );
    assert!(
        engine.stats().flushes > 0,
        "no flush happened under the readers"
    );
}

#[test]
fn snapshot_reads_see_whole_batches_in_order_while_writers_write_leveled() {
    run(CompactionStrategy::Leveled);
}

#[test]
fn snapshot_reads_see_whole_batches_in_order_while_writers_write_tiered() {
    run(CompactionStrategy::SizeTiered);
}
