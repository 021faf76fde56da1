//! Model-based property test: random sequences of puts, deletes, batches,
//! gets, range scans, snapshots, flushes, full compactions, strategy switches,
//! clock moves (expiry) and reopens, checked step by step against a
//! `BTreeMap` model. Small memtables make flushes and compactions really
//! happen; every body runs under both strategies.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::{FakeClock, open, small_options};
use proptest::prelude::*;
use ringkv_engine::{CompactionStrategy, Engine, Options, Snapshot, Value, WriteBatch};

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u16, u8),
    PutExpiring(u8, u16, u8),
    Delete(u8),
    Batch(Vec<(u8, Option<u16>)>),
    Get(u8),
    Scan(u8, u8),
    TakeSnapshot,
    ReadSnapshot(usize, u8, u8),
    DropSnapshot(usize),
    Flush,
    CompactAll,
    Switch,
    AdvanceClock(u16),
    Reopen,
}

/// Keys drawn from 64, so that writes overwrite and reads find versions
/// often (the row cache's rows among them).
const KEYS: std::ops::Range<u8> = 0..64;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (KEYS, any::<u16>(), 0u8..4).prop_map(|(k, v, l)| Op::Put(k, v, l)),
        4 => (KEYS, any::<u16>(), 1u8..60).prop_map(|(k, v, t)| Op::PutExpiring(k, v, t)),
        8 => KEYS.prop_map(Op::Delete),
        4 => prop::collection::vec((KEYS, prop::option::of(any::<u16>())), 1..20).prop_map(Op::Batch),
        10 => KEYS.prop_map(Op::Get),
        3 => (KEYS, KEYS).prop_map(|(a, b)| Op::Scan(a, b)),
        2 => Just(Op::TakeSnapshot),
        3 => (any::<usize>(), KEYS, KEYS).prop_map(|(i, a, b)| Op::ReadSnapshot(i, a, b)),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
        2 => Just(Op::Flush),
        1 => Just(Op::CompactAll),
        1 => Just(Op::Switch),
        2 => any::<u16>().prop_map(Op::AdvanceClock),
        1 => Just(Op::Reopen),
    ]
}

/// Keys: a small space so versions pile up; a prefix so ranges are interesting.
fn key(k: u8) -> Vec<u8> {
    let mut v = vec![b'k', k / 16];
    v.extend_from_slice(format!("{k:03}").as_bytes());
    v
}

/// Values: length varies a lot (0 to ~3 KiB) so memtables fill quickly.
fn value(v: u16, len_class: u8) -> Vec<u8> {
    let len = match len_class {
        0 => (v % 8) as usize,
        1 => 40 + (v % 100) as usize,
        2 => 400 + (v % 400) as usize,
        _ => 2000 + (v % 1000) as usize,
    };
    let mut out = format!("{v}:").into_bytes();
    out.resize(len.max(out.len()), b'a' + (v % 26) as u8);
    out
}

type Model = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

fn live(m: &Model, now: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    m.iter()
        .filter(|(_, (_, exp))| *exp == 0 || *exp > now)
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

/// `[lo, hi)` read ascending, after checking that a descending read gives
/// the same entries in reverse, for these bounds and for `(lo, hi]`.
fn scan(e: &Engine, lo: &[u8], hi: &[u8], snap: Option<&Snapshot>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let read = |it: ringkv_engine::EngineIter| -> Vec<(Vec<u8>, Vec<u8>)> {
        it.map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.data.to_vec())
        })
        .collect()
    };
    let up = read(
        e.iter(Bound::Included(lo), Bound::Excluded(hi), snap)
            .unwrap(),
    );
    let mut down = read(
        e.iter_rev(Bound::Included(lo), Bound::Excluded(hi), snap)
            .unwrap(),
    );
    down.reverse();
    assert_eq!(down, up, "descending [{lo:?}, {hi:?})");
    let open_closed = (Bound::Excluded(lo), Bound::Included(hi));
    let up_oc = read(e.iter(open_closed.0, open_closed.1, snap).unwrap());
    let mut down_oc = read(e.iter_rev(open_closed.0, open_closed.1, snap).unwrap());
    down_oc.reverse();
    assert_eq!(down_oc, up_oc, "descending ({lo:?}, {hi:?}]");
    up
}

fn run(strategy: CompactionStrategy, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new(1_000_000);
    let mut now = 1_000_000u64;
    let mut opts: Options = small_options(strategy);
    opts.memtable_size_bytes = 16 * 1024;
    opts.target_file_size_bytes = 16 * 1024;
    opts.level1_max_bytes = 48 * 1024;
    clock.install(&mut opts);
    let mut e = open(dir.path(), &opts);
    let mut model: Model = BTreeMap::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let mut current = strategy;
    for op in ops {
        match op {
            Op::Put(k, v, l) => {
                e.put(key(k), Value::new(value(v, l))).unwrap();
                model.insert(key(k), (value(v, l), 0));
            }
            Op::PutExpiring(k, v, t) => {
                let exp = now + u64::from(t) * 10;
                e.put(key(k), Value::with_expiry(value(v, 1), exp)).unwrap();
                model.insert(key(k), (value(v, 1), exp));
            }
            Op::Delete(k) => {
                e.delete(key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Batch(items) => {
                let mut b = WriteBatch::new();
                for (k, v) in &items {
                    match v {
                        Some(v) => {
                            b.put(key(*k), Value::new(value(*v, 2)));
                            model.insert(key(*k), (value(*v, 2), 0));
                        }
                        None => {
                            b.delete(key(*k));
                            model.remove(&key(*k));
                        }
                    }
                }
                let seq = e.write(b).unwrap();
                e.wait_durable(seq).unwrap();
            }
            Op::Get(k) => {
                let want = live(&model, now).get(&key(k)).cloned();
                // Three reads: the second keeps a row of an SSTable in the
                // row cache, the third is served from it.
                for _ in 0..3 {
                    let got = e.get(&key(k)).unwrap().map(|v| v.data.to_vec());
                    assert_eq!(got, want, "get {k}");
                }
            }
            Op::Scan(a, b) => {
                let (lo, hi) = (key(a.min(b)), key(a.max(b)));
                let got = scan(&e, &lo, &hi, None);
                let want: Vec<_> = live(&model, now)
                    .range(lo.clone()..hi.clone())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want, "scan {a}..{b}");
            }
            Op::TakeSnapshot => {
                if snaps.len() < 4 {
                    snaps.push((e.snapshot(), model.clone()));
                }
            }
            Op::ReadSnapshot(i, a, b) => {
                if !snaps.is_empty() {
                    let (s, m) = &snaps[i % snaps.len()];
                    for _ in 0..3 {
                        let got = e.get_at(&key(a), s).unwrap().map(|v| v.data.to_vec());
                        assert_eq!(got, live(m, now).get(&key(a)).cloned(), "snapshot get {a}");
                    }
                    let (lo, hi) = (key(a.min(b)), key(a.max(b)));
                    let got = scan(&e, &lo, &hi, Some(s));
                    let want: Vec<_> = live(m, now)
                        .range(lo.clone()..hi.clone())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    assert_eq!(got, want, "snapshot scan");
                }
            }
            Op::DropSnapshot(i) => {
                if !snaps.is_empty() {
                    let n = i % snaps.len();
                    snaps.remove(n);
                }
            }
            Op::Flush => e.flush().unwrap(),
            Op::CompactAll => e.compact_all().unwrap(),
            Op::Switch => {
                current = match current {
                    CompactionStrategy::Leveled => CompactionStrategy::SizeTiered,
                    CompactionStrategy::SizeTiered => CompactionStrategy::Leveled,
                };
                e.set_compaction_strategy(current).unwrap();
            }
            Op::AdvanceClock(d) => {
                now += u64::from(d % 400);
                clock.set(now);
            }
            Op::Reopen => {
                snaps.clear();
                e.shutdown().unwrap();
                drop(e);
                opts.compaction_strategy = current;
                e = open(dir.path(), &opts);
            }
        }
    }
    // Final full comparison, then once more after a reopen.
    let all = |e: &Engine| scan(e, b"", b"\xff", None);
    let want: Vec<_> = live(&model, now).into_iter().collect();
    assert_eq!(all(&e), want);
    snaps.clear();
    e.shutdown().unwrap();
    drop(e);
    let e = open(dir.path(), &opts);
    assert_eq!(all(&e), want);
    let st = e.stats();
    assert!(st.background_error.is_none());
    if std::env::var_os("MODEL_STATS").is_some() {
        eprintln!(
            "{strategy}: levels {:?} flushes {} compactions {}",
            st.levels, st.flushes, st.compactions
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 300, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model_leveled(ops in prop::collection::vec(op(), 1..250)) {
        run(CompactionStrategy::Leveled, ops);
    }

    #[test]
    fn engine_matches_model_size_tiered(ops in prop::collection::vec(op(), 1..250)) {
        run(CompactionStrategy::SizeTiered, ops);
    }
}
