//! Switching the compaction strategy on a live database, in both directions,
//! while readers and a writer run: every key stays readable throughout, and
//! the tree converges to the shape the strategy describes (checked through
//! `stats()`), also across a reopen.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{key, open, small_options};
use ringkv_engine::{CompactionStrategy, Engine, Options, Stats, Value};

fn value_for(i: u64, generation: u64) -> Vec<u8> {
    let mut v = format!("{i}/{generation}/").into_bytes();
    v.resize(120, b'q');
    v
}

/// Waits (bounded) until compaction is idle: no debt and a stable shape.
fn settle(e: &Engine) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = e.stats();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let s = e.stats();
        let same = s.compactions == last.compactions && s.flushes == last.flushes;
        if (same && s.pending_compaction_bytes == 0) || Instant::now() > deadline {
            return s;
        }
        last = s;
    }
}

/// Leveled once settled: level 0 below the runs at which it is merged down
/// whatever level 1 holds (twice the trigger at most), one run per level below.
fn assert_leveled_shape(s: &Stats, opts: &Options) {
    let most = (2 * opts.l0_compaction_trigger).min(opts.l0_slowdown_trigger - 2);
    assert!(
        s.levels[0].runs < most.max(opts.l0_compaction_trigger),
        "L0 runs {} not merged down: {:?}",
        s.levels[0].runs,
        s.levels
    );
    for (n, l) in s.levels.iter().enumerate().skip(1) {
        assert!(l.runs <= 1, "level {n} has {} runs", l.runs);
    }
}

#[test]
fn switching_both_ways_under_load_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::SizeTiered);
    // Two compaction threads: disjoint tasks run in parallel during the switches.
    opts.compaction_threads = 2;
    let e = open(dir.path(), &opts);
    let n = 1500u64;
    for i in 0..n {
        e.put(key(i), Value::new(value_for(i, 0))).unwrap();
    }
    // gens[i] = newest generation acknowledged for key i.
    let gens: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    {
        let (e, gens, stop) = (e.clone(), gens.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut g = 1;
            while !stop.load(Ordering::Relaxed) && g < 40 {
                for i in (0..n).step_by(7) {
                    e.put(key(i), Value::new(value_for(i, g))).unwrap();
                    gens[i as usize].store(g, Ordering::SeqCst);
                }
                g += 1;
            }
            g
        }));
    }
    for r in 0..2 {
        let (e, gens, stop) = (e.clone(), gens.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut checked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for i in (r..n).step_by(3) {
                    let before = gens[i as usize].load(Ordering::SeqCst);
                    let v = e
                        .get(&key(i))
                        .unwrap()
                        .unwrap_or_else(|| panic!("key {i} vanished"));
                    let text = String::from_utf8_lossy(&v.data).to_string();
                    let generation: u64 = text.split('/').nth(1).unwrap().parse().unwrap();
                    assert!(
                        generation >= before,
                        "key {i}: read generation {generation} older than acknowledged {before}"
                    );
                    checked += 1;
                }
                let count = e
                    .iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
                    .unwrap()
                    .count();
                assert_eq!(count as u64, n, "a scan saw a key missing or duplicated");
            }
            checked
        }));
    }
    for s in [
        CompactionStrategy::Leveled,
        CompactionStrategy::SizeTiered,
        CompactionStrategy::Leveled,
    ] {
        std::thread::sleep(Duration::from_millis(300));
        e.set_compaction_strategy(s).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let s = settle(&e);
    assert_eq!(s.compaction_strategy, CompactionStrategy::Leveled);
    assert_leveled_shape(&s, &opts);
    assert!(s.background_error.is_none(), "{:?}", s.background_error);
    for i in 0..n {
        let want = value_for(i, gens[i as usize].load(Ordering::SeqCst));
        assert_eq!(
            e.get(&key(i)).unwrap().unwrap().data.to_vec(),
            want,
            "key {i}"
        );
    }
}

#[test]
fn tiered_database_switched_to_leveled_reopened_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::SizeTiered);
    let n = 4000u64;
    {
        let e = open(dir.path(), &opts);
        for i in 0..n {
            e.put(key(i * 7919 % n), Value::new(value_for(i * 7919 % n, 1)))
                .unwrap();
        }
        e.flush().unwrap();
        let s = settle(&e);
        // Size-tiered keeps its runs in level 0 (one run per tier).
        assert!(s.levels[0].runs >= 1);
        assert!(
            s.levels.iter().skip(1).all(|l| l.runs == 0),
            "{:?}",
            s.levels
        );
        e.set_compaction_strategy(CompactionStrategy::Leveled)
            .unwrap();
        e.flush().unwrap();
        let s = settle(&e);
        assert_leveled_shape(&s, &opts);
        assert!(
            s.levels.iter().skip(1).any(|l| l.runs == 1),
            "runs were not pushed into levels: {:?}",
            s.levels
        );
    }
    opts.compaction_strategy = CompactionStrategy::Leveled;
    let e = open(dir.path(), &opts);
    assert_eq!(e.stats().compaction_strategy, CompactionStrategy::Leveled);
    for i in 0..n {
        assert_eq!(
            e.get(&key(i)).unwrap().unwrap().data.to_vec(),
            value_for(i, 1)
        );
    }
    e.set_compaction_strategy(CompactionStrategy::SizeTiered)
        .unwrap();
    for i in 0..n / 2 {
        e.put(key(i), Value::new(value_for(i, 2))).unwrap();
    }
    e.flush().unwrap();
    let s = settle(&e);
    assert_eq!(s.compaction_strategy, CompactionStrategy::SizeTiered);
    // Each level's run is now a tier; deeper levels keep at most one run.
    assert!(s.levels.iter().skip(1).all(|l| l.runs <= 1));
    assert!(
        s.stall_runs < opts.tiered_min_threshold,
        "smallest bucket still due: {s:?}"
    );
    let count = e
        .iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
        .unwrap()
        .count();
    assert_eq!(count as u64, n);
    for i in 0..n {
        let g = if i < n / 2 { 2 } else { 1 };
        assert_eq!(
            e.get(&key(i)).unwrap().unwrap().data.to_vec(),
            value_for(i, g)
        );
    }
}
