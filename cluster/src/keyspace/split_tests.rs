//! Split collections against the one-record model: random histories of
//! collection writes applied through the keyspace (the partial path where
//! it applies, the whole record otherwise, as a node alone runs them) and
//! to an in-memory record give the same replies, the same record and the
//! same partial reads, while collections grow past [`split_at`] and
//! shrink below [`inline_at`].

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::split::{MEMBER_NS_BIT, inline_at, split_at};
use super::{
    Ack, Keyspace, LexBound, LexWindow, Need, PartialRead, PartialTarget, ScoreWindow,
    collection_need, live_entry, replies_length,
};
use crate::version::{CollectionOp, CollectionReply, Kind, OpError, PopEnd, Siblings, zadd};

type Reply = Result<CollectionReply, OpError>;

pub(super) const ACTOR: u64 = 7;

/// Applies `op` as a node alone does; returns its reply and the `now` it ran at.
pub(super) async fn apply(ks: &Keyspace, key: &[u8], op: &CollectionOp) -> (Reply, u64) {
    let ran_at = Arc::new(Mutex::new(0u64));
    let at = Arc::clone(&ran_at);
    let op_run = op.clone();
    let f = move |s: &mut Siblings, now: u64| {
        *at.lock().unwrap() = now;
        s.apply_collection(ACTOR, now, &op_run)
    };
    let count_reply: Option<fn(u64) -> Reply> =
        replies_length(op).then_some(|n| Ok(CollectionReply::Count(n)));
    let reply = match collection_need(op) {
        Some((kind, wanted)) => {
            let need = wanted.need();
            ks.update_partial(
                0,
                key,
                PartialTarget::Collection(kind),
                need,
                f,
                count_reply,
            )
            .await
            .unwrap()
            .out
        }
        None => ks.update_record(0, key, f).await.unwrap().out,
    };
    let now = *ran_at.lock().unwrap();
    (reply, now)
}

/// A member whose first byte varies widely, so reads that start from a
/// bound (a list position, a score-index entry) are checked not to skip
/// members that sort below it.
fn member(rng: &mut StdRng, universe: u32) -> Bytes {
    let i = rng.random_range(0..universe);
    let first = [0x01u8, b'0', b'm', 0xC1, 0xFE][(i % 5) as usize];
    let mut m = vec![first];
    m.extend_from_slice(format!("{i:05}").as_bytes());
    Bytes::from(m)
}

fn value(rng: &mut StdRng) -> Bytes {
    Bytes::from(format!("v{}", rng.random_range(0..50u32)))
}

/// A random write of `kind`; `grow` biases it towards adding.
fn random_op(rng: &mut StdRng, kind: Kind, grow: bool) -> CollectionOp {
    let universe = 3000;
    let r = rng.random_range(0..100u32);
    let adding = if grow { r < 80 } else { r < 15 };
    match kind {
        Kind::Hash | Kind::Set => {
            let pairs_of = |rng: &mut StdRng, n: usize| -> Vec<(Bytes, Bytes)> {
                (0..n)
                    .map(|_| {
                        let v = if kind == Kind::Hash {
                            value(rng)
                        } else {
                            Bytes::new()
                        };
                        (member(rng, universe), v)
                    })
                    .collect()
            };
            if adding {
                let n = rng.random_range(1..40);
                CollectionOp::Put {
                    kind,
                    pairs: pairs_of(rng, n),
                    if_absent: rng.random_bool(0.2),
                }
            } else if kind == Kind::Hash && r % 3 == 0 {
                CollectionOp::AddInt {
                    member: member(rng, universe),
                    delta: rng.random_range(-5..5),
                }
            } else {
                // Shrinking, larger removals: a random name of the universe
                // seldom names a member of a small collection, and the
                // collection must still get below the inline size.
                let n = rng.random_range(1..if grow { 400 } else { 1500 });
                CollectionOp::Remove {
                    kind,
                    members: (0..n).map(|_| member(rng, universe)).collect(),
                }
            }
        }
        Kind::ZSet => {
            if adding && r % 5 == 0 {
                // ZINCRBY: a counter score, fractional.
                let by = [0.5, -1.25, 3.0][rng.random_range(0..3usize)];
                CollectionOp::ZAdd {
                    pairs: vec![(member(rng, universe), by)],
                    flags: zadd::INCR,
                }
            } else if adding {
                let n = rng.random_range(1..40);
                let flags = [0, zadd::NX, zadd::XX, zadd::GT, zadd::LT, zadd::CH]
                    [rng.random_range(0..6usize)];
                CollectionOp::ZAdd {
                    pairs: (0..n)
                        .map(|_| (member(rng, universe), f64::from(rng.random_range(-9..9i32))))
                        .collect(),
                    flags,
                }
            } else if r % 8 == 1 {
                // ZREMRANGEBYSCORE, often from -inf (a sliding window's
                // trim, which moves the low bound).
                let low = rng.random_range(-10..10i32);
                let min = if rng.random_bool(0.6) {
                    f64::NEG_INFINITY
                } else {
                    f64::from(low)
                };
                CollectionOp::RemoveScores {
                    min,
                    min_exclusive: rng.random_bool(0.2),
                    max: f64::from(low + rng.random_range(0..4i32)),
                    max_exclusive: rng.random_bool(0.3),
                }
            } else if r % 4 == 0 {
                CollectionOp::Pop {
                    kind,
                    count: rng.random_range(1..30),
                    end: if rng.random_bool(0.5) {
                        PopEnd::Min
                    } else {
                        PopEnd::Max
                    },
                }
            } else {
                CollectionOp::Remove {
                    kind,
                    members: (0..rng.random_range(1..60))
                        .map(|_| member(rng, universe))
                        .collect(),
                }
            }
        }
        Kind::List => {
            if adding {
                CollectionOp::Push {
                    left: rng.random_bool(0.5),
                    values: (0..rng.random_range(1..30)).map(|_| value(rng)).collect(),
                    if_exists: rng.random_bool(0.1),
                }
            } else {
                match r % 6 {
                    0 => CollectionOp::ListSet {
                        // Near the ends, and far from both (past them too).
                        index: if rng.random_bool(0.5) {
                            rng.random_range(-20..20)
                        } else {
                            rng.random_range(-900..900)
                        },
                        value: value(rng),
                    },
                    1 => CollectionOp::ListInsert {
                        before: rng.random_bool(0.5),
                        pivot: value(rng),
                        value: value(rng),
                    },
                    2 => CollectionOp::ListRemove {
                        count: rng.random_range(-3..3),
                        value: value(rng),
                    },
                    // A few from either end (a capped list's trim), more,
                    // or all but a prefix (past the end too).
                    3 => {
                        let most = if rng.random_bool(0.3) { 60 } else { 4 };
                        CollectionOp::ListTrim {
                            start: rng.random_range(0..most),
                            stop: if rng.random_bool(0.2) {
                                rng.random_range(50..400)
                            } else {
                                -rng.random_range(1..most)
                            },
                        }
                    }
                    _ => CollectionOp::Pop {
                        kind,
                        count: rng.random_range(1..40),
                        end: if rng.random_bool(0.5) {
                            PopEnd::Min
                        } else {
                            PopEnd::Max
                        },
                    },
                }
            }
        }
    }
}

/// What `need` shows of the model's record, as the keyspace should.
fn model_read(model: &Siblings, now: u64, need: Need<'_>) -> Option<PartialRead> {
    let e = live_entry(model, now)?;
    Some(PartialRead::cut(
        e.kind,
        e.expire_at_ms,
        e.members.as_ref().unwrap(),
        need,
    ))
}

fn random_need<'a>(rng: &mut StdRng, names: &'a [Bytes]) -> Need<'a> {
    let score = |rng: &mut StdRng| match rng.random_range(0..6u32) {
        0 => f64::NEG_INFINITY,
        1 => f64::INFINITY,
        _ => f64::from(rng.random_range(-20..20i32)) / 2.0,
    };
    let window = |rng: &mut StdRng| ScoreWindow {
        min: score(rng),
        min_exclusive: rng.random_bool(0.3),
        max: score(rng),
        max_exclusive: rng.random_bool(0.3),
        rev: rng.random_bool(0.5),
        offset: rng.random_range(0..40),
        count: if rng.random_bool(0.1) {
            usize::MAX
        } else {
            rng.random_range(0..60)
        },
    };
    match rng.random_range(0..10u32) {
        8 => Need::Rank {
            member: &names[0],
            rev: rng.random_bool(0.5),
        },
        9 => Need::CountScores(if rng.random_bool(0.1) {
            ScoreWindow::ends(false, 0)
        } else {
            window(rng)
        }),
        7 => Need::After {
            after: names
                .first()
                .filter(|_| rng.random_bool(0.8))
                .map(|m| &m[..]),
            count: rng.random_range(0..300),
        },
        5 => Need::Scores(window(rng)),
        6 => Need::Ranks {
            start: rng.random_range(-700..700),
            stop: rng.random_range(-700..700),
            rev: rng.random_bool(0.5),
        },
        0 => Need::Members(names),
        1 => Need::Head(rng.random_range(0..20)),
        2 => Need::Tail(rng.random_range(0..20)),
        3 if rng.random_bool(0.5) => {
            // Leaked: a need borrows what it searches for.
            let element: &'static Bytes = Box::leak(Box::new(value(rng)));
            let matches = rng.random_range(0..4);
            let scan = if rng.random_bool(0.7) {
                usize::MAX
            } else {
                rng.random_range(0..400)
            };
            Need::through(element, matches, scan, rng.random_bool(0.5))
        }
        3 => Need::Count,
        4 if rng.random_bool(0.5) => {
            let mut bound = || match rng.random_range(0..6) {
                0 => LexBound::Min,
                1 => LexBound::Max,
                2 | 3 => LexBound::Inclusive(member(rng, 3000)),
                _ => LexBound::Exclusive(member(rng, 3000)),
            };
            // Leaked: a need borrows its window, and this one is the test's.
            let window: &'static LexWindow = Box::leak(Box::new(LexWindow {
                min: bound(),
                max: bound(),
            }));
            if rng.random_bool(0.3) {
                Need::CountLex(window)
            } else {
                Need::Lex {
                    window,
                    rev: rng.random_bool(0.5),
                    offset: rng.random_range(0..10),
                    count: rng.random_range(0..80),
                }
            }
        }
        _ if rng.random_bool(0.2) => Need::Trim {
            start: rng.random_range(-700..700),
            stop: rng.random_range(-700..700),
        },
        _ => Need::Range {
            start: rng.random_range(-700..700),
            stop: rng.random_range(-700..700),
        },
    }
}

async fn check_history(kind: Kind, seed: u64, steps: usize) {
    check_history_of(kind, seed, steps, false).await;
}

/// [`check_history`]; with `descending_entries`, each sorted-set generation
/// is given the descending index entries and header of the releases before
/// ascending-only indexes as soon as it is made, so their reads and writes
/// are checked too.
async fn check_history_of(kind: Kind, seed: u64, steps: usize, descending_entries: bool) {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let key = Bytes::from(format!("key-{seed}"));
    let mut model = Siblings::default();
    let (mut split_seen, mut inline_after_split) = (false, false);
    let mut grow = true;
    for step in 0..steps {
        let len = live_entry(&model, ks.now_ms())
            .and_then(|e| e.members)
            .map_or(0, |m| m.map.len());
        // Grow past the split size, shrink below the inline size, again.
        if len > split_at(kind) + 150 {
            grow = false;
        } else if len < inline_at(kind) / 2 {
            grow = true;
        }
        let op = if step == 0 && kind == Kind::List {
            CollectionOp::Push {
                left: false,
                values: (0..split_at(kind) + 20)
                    .map(|i| Bytes::from(format!("v{}", i % 50)))
                    .collect(),
                if_exists: false,
            }
        } else {
            random_op(&mut rng, kind, grow)
        };
        let (reply, now) = apply(&ks, &key, &op).await;
        let expected = model.apply_collection(ACTOR, now, &op);
        assert_eq!(reply, expected, "seed {seed} step {step}: reply to {op:?}");
        let stored = ks.read_record(0, &key).unwrap().unwrap_or_default();
        assert_eq!(
            stored, model,
            "seed {seed} step {step}: record after {op:?}"
        );
        let mut header = header_of(&ks, &key);
        if let Some(h) = header
            .as_ref()
            .filter(|h| h.score_index && !h.descending_index)
        {
            if descending_entries {
                with_descending_entries(&ks, &key, h);
                header = header_of(&ks, &key);
            }
        }
        if let (Some(h), Some(coll)) = (&header, sole_members(&model)) {
            if kind == Kind::List {
                // Known, and bounds of the list: end reads start there.
                let (least, greatest) = (coll.first().unwrap().0, coll.last().unwrap().0);
                assert_eq!(
                    h.first, *least,
                    "seed {seed} step {step}: first after {op:?}"
                );
                assert_eq!(
                    h.last, *greatest,
                    "seed {seed} step {step}: last after {op:?}"
                );
            }
        }
        if let (Some(h), Some(coll)) = (&header, sole_members(&model)) {
            if kind == Kind::ZSet {
                let at = format!("seed {seed} step {step} after {op:?}");
                check_score_index(&ks, &key, h, coll, &at);
            }
        }
        let is_split = header.is_some();
        split_seen |= is_split;
        inline_after_split |= split_seen && !is_split && len > 0;
        let names: Vec<Bytes> = (0..5).map(|_| member(&mut rng, 3000)).collect();
        let need = random_need(&mut rng, &names);
        let got = ks.read_partial(0, &key, need).unwrap();
        assert_eq!(
            got,
            model_read(&model, ks.now_ms(), need),
            "seed {seed} step {step}: read {need:?}"
        );
    }
    assert!(split_seen, "seed {seed}: never split");
    assert!(inline_after_split, "seed {seed}: never went back inline");
}

fn sole_members(record: &Siblings) -> Option<&crate::version::collection::Collection> {
    match record.iter().next().map(|s| &s.payload) {
        Some(crate::version::Payload::Collection(c)) if record.len() == 1 => Some(c),
        _ => None,
    }
}

/// A split sorted set's ascending (`rev`: descending) score-index
/// entries, in engine order.
fn index_entries(
    ks: &Keyspace,
    key: &[u8],
    h: &crate::version::codec::SplitHeader,
    rev: bool,
) -> Vec<(f64, Bytes)> {
    use super::score_index::{index_prefix, parse_entry, tagged};
    let members = super::split::member_prefix(ks.namespace(0).unwrap(), key, h.generation);
    let prefix = tagged(&index_prefix(&members), rev);
    ks.engine()
        .iter_prefix(&prefix)
        .unwrap()
        .map(|item| parse_entry(&item.unwrap().0, prefix.len(), rev).unwrap())
        .collect()
}

/// The (score, member) order a sorted set's ascending index must hold.
fn sorted_scores(coll: &crate::version::collection::Collection) -> Vec<(f64, Bytes)> {
    let mut out: Vec<(f64, Bytes)> = coll
        .iter()
        .filter_map(|(m, items)| Some((super::score_index::score_of(items, None)?, m.clone())))
        .collect();
    out.sort_by(|a, b| {
        crate::version::collection::cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1))
    });
    out
}

/// Checks a split sorted set's index and end bounds against the model.
fn check_score_index(
    ks: &Keyspace,
    key: &[u8],
    h: &crate::version::codec::SplitHeader,
    coll: &crate::version::collection::Collection,
    at: &str,
) {
    use super::score_index::entry_suffix;
    assert!(h.score_index, "{at}: no score index");
    let want = sorted_scores(coll);
    let asc = index_entries(ks, key, h, false);
    assert_eq!(asc.len(), want.len(), "{at}: ascending index size");
    for (got, want) in asc.iter().zip(&want) {
        assert!(
            got.0 == want.0 && got.1 == want.1,
            "{at}: ascending index {got:?} vs {want:?}"
        );
    }
    // Descending entries only in generations made before ascending-only
    // indexes, and then exactly the reverse.
    let mut desc = index_entries(ks, key, h, true);
    desc.reverse();
    if h.descending_index {
        assert_eq!(desc, asc, "{at}: descending index");
    } else {
        assert_eq!(
            desc,
            [],
            "{at}: descending entries in an ascending-only index"
        );
    }
    // The end bounds are at or below the first entry each way.
    if let (Some(lo), Some(hi)) = (asc.first(), asc.last()) {
        assert!(
            h.first <= entry_suffix(lo.0, &lo.1, false),
            "{at}: first bound"
        );
        assert!(
            h.last <= entry_suffix(hi.0, &hi.1, true),
            "{at}: last bound"
        );
    }
}

pub(super) fn header_of(ks: &Keyspace, key: &[u8]) -> Option<crate::version::codec::SplitHeader> {
    let ekey = crate::token::engine_key(ks.namespace(0).unwrap(), key);
    let v = ks.engine().get(&ekey).unwrap()?;
    crate::version::codec::decode_split_header(&v.data).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn split_lists_match_the_one_record_model() {
    for seed in 0..3 {
        check_history(Kind::List, seed, 700).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn split_hashes_match_the_one_record_model() {
    for seed in 10..12 {
        check_history(Kind::Hash, seed, 600).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn split_sets_match_the_one_record_model() {
    check_history(Kind::Set, 20, 600).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn split_sorted_sets_match_the_one_record_model() {
    for seed in 30..33 {
        check_history(Kind::ZSet, seed, 500).await;
    }
}

/// Sorted sets split by a release that kept descending index entries are
/// read from them, and written with both, as before.
#[tokio::test(flavor = "multi_thread")]
async fn split_sorted_sets_with_descending_entries_match_the_one_record_model() {
    for seed in 40..42 {
        check_history_of(Kind::ZSet, seed, 500, true).await;
    }
}

/// Gives a split sorted set's generation what a release before
/// ascending-only indexes wrote: a descending entry for every ascending
/// one, and a header without flag bit 3.
fn with_descending_entries(ks: &Keyspace, key: &[u8], h: &crate::version::codec::SplitHeader) {
    use super::score_index::{entry_suffix, index_prefix, parse_entry, tagged};
    let ns = ks.namespace(0).unwrap();
    let index = index_prefix(&super::split::member_prefix(ns, key, h.generation));
    let (asc, desc) = (tagged(&index, false), tagged(&index, true));
    let mut batch = ringkv_engine::WriteBatch::new();
    for item in ks.engine().iter_prefix(&asc).unwrap() {
        let (k, v) = item.unwrap();
        let (score, member) = parse_entry(&k, asc.len(), false).unwrap();
        let mut entry = desc.clone();
        entry.extend_from_slice(&entry_suffix(score, &member, true));
        batch.put(entry, v);
    }
    let old = crate::version::codec::SplitHeader {
        descending_index: true,
        ..h.clone()
    };
    batch.put(
        crate::token::engine_key(ns, key),
        ringkv_engine::Value::with_expiry(
            crate::version::codec::encode_split_header(&old),
            h.expire_at_ms,
        ),
    );
    ks.engine().write(batch).unwrap();
}

/// Waits (up to 5 s) until `want` member records are left.
pub(super) async fn settled(ks: &Keyspace, want: usize) -> bool {
    for _ in 0..500 {
        if member_records(ks) == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Counts the member records of database 0 still in the engine.
pub(super) fn member_records(ks: &Keyspace) -> usize {
    let ns = ks.namespace(0).unwrap() | MEMBER_NS_BIT;
    ks.engine().iter_prefix(&ns.to_be_bytes()).unwrap().count()
}

/// Stores a hash of `n` fields `f0`, `f1`... at `key` (split from 512).
pub(super) async fn put_hash(ks: &Keyspace, key: &[u8], n: usize) {
    let pairs: Vec<(Bytes, Bytes)> = (0..n)
        .map(|i| (Bytes::from(format!("f{i}")), Bytes::from("v")))
        .collect();
    let put = CollectionOp::Put {
        kind: Kind::Hash,
        pairs,
        if_absent: false,
    };
    apply(ks, key, &put).await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_members_are_reclaimed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 2000).await;
    assert!(header_of(&ks, b"h").is_some());
    assert_eq!(member_records(&ks), 2000);
    // A replacement with an expiry keeps the generation (its members carry
    // none) and swaps the members; a DEL leaves none. Either way the old
    // records go, and nothing else does.
    let generation = header_of(&ks, b"h").unwrap().generation;
    let replace = CollectionOp::Replace {
        kind: Kind::Hash,
        pairs: (0..600)
            .map(|i| (Bytes::from(format!("g{i}")), Bytes::from("w")))
            .collect(),
        expire_at_ms: ks.now_ms() + 3_600_000,
    };
    apply(&ks, b"h", &replace).await.0.unwrap();
    assert!(settled(&ks, 600).await, "left {}", member_records(&ks));
    assert_eq!(header_of(&ks, b"h").unwrap().generation, generation);
    // The DEL runs without reading the members, and leaves what a DEL of
    // the whole record leaves.
    let mut model = ks.read_record(0, b"h").unwrap().unwrap();
    let ran_at = Arc::new(Mutex::new(0u64));
    let at = Arc::clone(&ran_at);
    let del = move |s: &mut Siblings, now: u64| {
        *at.lock().unwrap() = now;
        s.write(None, ACTOR, now, crate::version::Payload::Tombstone, 0);
    };
    let no_reply: Option<fn(u64)> = None;
    ks.update_partial(0, b"h", PartialTarget::Replace, Need::Count, del, no_reply)
        .await
        .unwrap();
    let now = *ran_at.lock().unwrap();
    model.write(None, ACTOR, now, crate::version::Payload::Tombstone, 0);
    assert_eq!(ks.read_record(0, b"h").unwrap().unwrap(), model);
    assert!(header_of(&ks, b"h").is_none());
    assert!(settled(&ks, 0).await, "left {}", member_records(&ks));
    // Counted for INFO: the 600 the DEL left (the replacement deleted the
    // 2,000 it replaced in its own write).
    let stats = ks.reclaim_stats();
    for _ in 0..500 {
        if stats.generations.load(std::sync::atomic::Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        stats.members.load(std::sync::atomic::Ordering::Relaxed),
        600
    );
    assert_eq!(stats.pending.load(std::sync::atomic::Ordering::Relaxed), 0);
    let record = ks.read_record(0, b"h").unwrap().unwrap();
    assert!(live_entry(&record, ks.now_ms()).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_collection_survives_a_restart_and_scans_as_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(Bytes, Bytes)> = (0..1000)
        .map(|i| (Bytes::from(format!("m{i}")), Bytes::new()))
        .collect();
    let put = CollectionOp::Put {
        kind: Kind::Set,
        pairs,
        if_absent: false,
    };
    let before = {
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        apply(&ks, b"s", &put).await.0.unwrap();
        let r = ks.read_record(0, b"s").unwrap();
        ks.engine().shutdown().unwrap();
        r
    };
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    assert_eq!(ks.read_record(0, b"s").unwrap(), before);
    // Compaction keeps the members of a live database's collections.
    ks.engine().compact_all().unwrap();
    assert_eq!(ks.read_record(0, b"s").unwrap(), before);
    assert_eq!(member_records(&ks), 1000);
    let page = ks.scan(0, 0, 100, |_, _| true).await.unwrap();
    assert_eq!(page.keys, vec![Bytes::from_static(b"s")]);
    let got = ks.read_partial(0, b"s", Need::Count).unwrap().unwrap();
    assert_eq!(got.len, 1000);
}

/// That `picks` are `count` distinct members among `m0000`..`m<n>`.
fn assert_distinct_members(picks: &[(Bytes, Bytes)], count: usize, n: usize) {
    let distinct: std::collections::BTreeSet<_> = picks.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!((picks.len(), distinct.len()), (count, count));
    assert!(
        distinct
            .iter()
            .all(|m| (0..n).any(|i| *m == format!("m{i:04}")))
    );
}

/// How many of 4,000 single picks (`pick` returns one member `m<i>` of
/// `n`) land in each quarter of the member order.
fn quarters_of_single_picks(n: usize, mut pick: impl FnMut() -> Vec<(Bytes, Bytes)>) -> [usize; 4] {
    let mut quarters = [0usize; 4];
    for _ in 0..4000 {
        let (m, _) = pick().into_iter().next().unwrap();
        let i: usize = std::str::from_utf8(&m[1..]).unwrap().parse().unwrap();
        quarters[i * 4 / n] += 1;
    }
    quarters
}

/// Picks from a set large enough for the sample pool
/// (`super::sample_pool`): distinct members, uniform over the member
/// order across several draws, and SPOP one at a time returns every member
/// exactly once while the pool goes stale under it.
#[tokio::test(flavor = "multi_thread")]
async fn pooled_picks_of_a_large_set_are_uniform_and_spop_returns_each_member_once() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let n = 3000;
    assert!(n as u64 >= super::sample_pool::POOL_MIN_MEMBERS);
    let name = |i: usize| Bytes::from(format!("m{i:04}"));
    let put = CollectionOp::Put {
        kind: Kind::Set,
        pairs: (0..n).map(|i| (name(i), Bytes::new())).collect(),
        if_absent: false,
    };
    apply(&ks, b"s", &put).await.0.unwrap();
    let picked = |count: i64| {
        ks.read_partial(0, b"s", Need::Sample(count))
            .unwrap()
            .unwrap()
            .members
    };
    assert_distinct_members(&picked(64), 64, n);
    assert_eq!(picked(-5).len(), 5);
    // 4,000 single picks span four draws; each quarter of the member
    // order gets about a quarter of them (1,000 ± 27).
    let quarters = quarters_of_single_picks(n, || picked(1));
    assert!(
        quarters.iter().all(|q| (800..1200).contains(q)),
        "{quarters:?}"
    );
    // SPOP one member at a time (then two, as the set shrinks below the
    // pool's threshold): every member comes back exactly once.
    let mut popped = std::collections::BTreeSet::new();
    for round in 0..n {
        let spop = CollectionOp::Pop {
            kind: Kind::Set,
            count: 1 + round as u64 % 2,
            end: PopEnd::Random,
        };
        let got = match apply(&ks, b"s", &spop).await.0.unwrap() {
            CollectionReply::Pairs(p) => p,
            other => panic!("{other:?}"),
        };
        for (m, _) in got {
            assert!(popped.insert(m.clone()), "{m:?} popped twice");
        }
        if popped.len() == n {
            break;
        }
    }
    assert_eq!(popped.len(), n);
    assert!(ks.read_partial(0, b"s", Need::Count).unwrap().is_none());
}

/// SPOP from a set too small for pooled reads but past
/// `POOL_MIN_POP_MEMBERS` takes its picks from a pool: the first pops
/// spread over the whole member order, members added halfway are popped
/// too, and every member comes back exactly once, with a few walks in all
/// instead of one per pop.
#[tokio::test(flavor = "multi_thread")]
async fn spop_from_a_mid_size_set_pops_from_a_pool_each_member_once() {
    use super::sample_pool::{POOL_MIN_MEMBERS, POOL_MIN_POP_MEMBERS};
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let n = 800;
    assert!((POOL_MIN_POP_MEMBERS..POOL_MIN_MEMBERS).contains(&(n as u64)));
    let name = |i: usize| Bytes::from(format!("m{i:04}"));
    let add = |from: usize, to: usize| CollectionOp::Put {
        kind: Kind::Set,
        pairs: (from..to).map(|i| (name(i), Bytes::new())).collect(),
        if_absent: false,
    };
    apply(&ks, b"s", &add(0, n)).await.0.unwrap();
    let spop = CollectionOp::Pop {
        kind: Kind::Set,
        count: 1,
        end: PopEnd::Random,
    };
    let mut popped = Vec::new();
    for round in 0..2 * n {
        if round == 400 {
            apply(&ks, b"s", &add(n, n + 100)).await.0.unwrap();
        }
        match apply(&ks, b"s", &spop).await.0.unwrap() {
            CollectionReply::Pairs(p) => popped.extend(p.into_iter().map(|(m, _)| m)),
            other => panic!("{other:?}"),
        }
        if popped.len() == n + 100 {
            break;
        }
    }
    let distinct: std::collections::BTreeSet<_> = popped.iter().cloned().collect();
    assert_eq!((popped.len(), distinct.len()), (n + 100, n + 100));
    assert!(ks.read_partial(0, b"s", Need::Count).unwrap().is_none());
    // The first 200 pops land in each quarter of the member order about
    // equally (50 ± 6 each).
    let mut quarters = [0usize; 4];
    for m in &popped[..200] {
        let i: usize = std::str::from_utf8(&m[1..]).unwrap().parse().unwrap();
        quarters[i * 4 / n] += 1;
    }
    assert!(
        quarters.iter().all(|q| (25..75).contains(q)),
        "{quarters:?}"
    );
    // Pools drawn as the set shrank, not a walk per pop.
    let draws = ks
        .inner
        .samples
        .draws
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!((2..60).contains(&draws), "{draws} draws");
}

#[tokio::test(flavor = "multi_thread")]
async fn random_picks_of_a_split_set_are_members_uniform_and_spop_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let n = 800;
    let name = |i: usize| Bytes::from(format!("m{i:04}"));
    let put = CollectionOp::Put {
        kind: Kind::Set,
        pairs: (0..n).map(|i| (name(i), Bytes::new())).collect(),
        if_absent: false,
    };
    apply(&ks, b"s", &put).await.0.unwrap();
    assert!(header_of(&ks, b"s").is_some(), "stored split");
    // Distinct picks, all members when asked for more; repeats when negative.
    let picked = |count: i64| {
        ks.read_partial(0, b"s", Need::Sample(count))
            .unwrap()
            .unwrap()
            .members
    };
    assert_distinct_members(&picked(50), 50, n);
    assert_eq!(picked(5000).len(), n);
    assert_eq!(picked(-3000).len(), 3000);
    // One pick at a time lands in each quarter of the member order about
    // equally often (4,000 picks: a quarter's count is 1,000 ± 27).
    let quarters = quarters_of_single_picks(n, || picked(1));
    assert!(
        quarters.iter().all(|q| (600..1400).contains(q)),
        "{quarters:?}"
    );
    // SPOP through the partial path removes exactly what it returned.
    let spop = CollectionOp::Pop {
        kind: Kind::Set,
        count: 300,
        end: PopEnd::Random,
    };
    let popped = match apply(&ks, b"s", &spop).await.0.unwrap() {
        CollectionReply::Pairs(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(popped.len(), 300);
    let left = ks.read_partial(0, b"s", Need::Count).unwrap().unwrap();
    assert_eq!(left.len, (n - 300) as u64);
    let record = ks.read_record(0, b"s").unwrap().unwrap();
    let members = live_entry(&record, ks.now_ms()).unwrap().members.unwrap();
    assert_eq!(members.map.len(), n - 300);
    assert!(popped.iter().all(|(m, _)| !members.map.contains_key(m)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sorted_set_split_by_format_3_reads_and_gets_its_index_at_its_next_write() {
    use crate::version::codec::{self, RECORD_FORMAT_SPLIT_V3};
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let zadd = CollectionOp::ZAdd {
        pairs: (0..600)
            .map(|i| (Bytes::from(format!("m{i:04}")), f64::from(i % 97)))
            .collect(),
        flags: 0,
    };
    apply(&ks, b"z", &zadd).await.0.unwrap();
    // Store it as the first split format did: a format-3 header (no flags
    // byte) and no score index.
    let h = header_of(&ks, b"z").unwrap();
    let mut old = codec::encode_split_header(&codec::SplitHeader {
        first: Bytes::new(),
        last: Bytes::new(),
        score_index: false,
        ..h.clone()
    })
    .to_vec();
    old[0] = RECORD_FORMAT_SPLIT_V3;
    old.pop();
    let ekey = crate::token::engine_key(ks.namespace(0).unwrap(), b"z");
    let mut batch = ringkv_engine::WriteBatch::new();
    batch.put(ekey, ringkv_engine::Value::new(Bytes::from(old)));
    let members = super::split::member_prefix(ks.namespace(0).unwrap(), b"z", h.generation);
    for item in ks
        .engine()
        .iter_prefix(&super::score_index::index_prefix(&members))
        .unwrap()
    {
        batch.delete(item.unwrap().0);
    }
    ks.engine().write(batch).unwrap();
    let old_header = header_of(&ks, b"z").unwrap();
    assert!(!old_header.score_index);
    // Every read answers as the one-record model does.
    let model = ks.read_record(0, b"z").unwrap().unwrap();
    let m5 = Bytes::from_static(b"m0005");
    let needs = [
        Need::Scores(ScoreWindow::ends(false, 7)),
        Need::Scores(ScoreWindow::ends(true, 7)),
        Need::Ranks {
            start: -5,
            stop: -1,
            rev: false,
        },
        Need::Rank {
            member: &m5,
            rev: true,
        },
        Need::CountScores(ScoreWindow {
            min: 3.0,
            max: 10.0,
            ..ScoreWindow::ends(false, 0)
        }),
    ];
    for need in needs {
        let got = ks.read_partial(0, b"z", need).unwrap();
        assert_eq!(got, model_read(&model, ks.now_ms(), need), "{need:?}");
    }
    // Its next write stores it anew, with an index and a format-4 header.
    let one = CollectionOp::ZAdd {
        pairs: vec![(Bytes::from_static(b"new"), 1.5)],
        flags: 0,
    };
    apply(&ks, b"z", &one).await.0.unwrap();
    let h = header_of(&ks, b"z").unwrap();
    assert!(h.score_index && h.generation != old_header.generation);
    let model = ks.read_record(0, b"z").unwrap().unwrap();
    check_score_index(
        &ks,
        b"z",
        &h,
        sole_members(&model).unwrap(),
        "after the write",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_of_another_type_is_refused_from_a_split_header() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 2000).await;
    let before = header_of(&ks, b"h").expect("stored split");
    // A set write on the hash: WRONGTYPE, from the header alone.
    let sadd = CollectionOp::Put {
        kind: Kind::Set,
        pairs: vec![(Bytes::from("m"), Bytes::new())],
        if_absent: false,
    };
    assert_eq!(apply(&ks, b"h", &sadd).await.0, Err(OpError::WrongType));
    // A counter write (INCR's kind): the same, through the string target.
    let seen = Arc::new(Mutex::new(0usize));
    let seen_in = Arc::clone(&seen);
    let incr = move |s: &mut Siblings, now: u64| {
        // Siblings and members the write was given.
        *seen_in.lock().unwrap() = s.iter().count()
            + s.iter()
                .map(|sib| match &sib.payload {
                    crate::version::Payload::Collection(c) => c.len(),
                    _ => 0,
                })
                .sum::<usize>();
        s.add_int(ACTOR, now, 1).is_err()
    };
    let no_reply: Option<fn(u64) -> bool> = None;
    let refused = ks
        .update_partial(0, b"h", PartialTarget::String, Need::Count, incr, no_reply)
        .await
        .unwrap();
    assert!(refused.out, "INCR of a hash is refused");
    assert_eq!(refused.ack, Ack::NONE, "nothing written");
    assert_eq!(
        *seen.lock().unwrap(),
        1,
        "one stand-in sibling, no member read"
    );
    let after = header_of(&ks, b"h").unwrap();
    assert_eq!((after.count, &after.clock), (before.count, &before.clock));
    assert_eq!(member_records(&ks), 2000);
}

/// A split write tells an unchanged record (the one
/// [`super::split::sibling_of`] made, the same after the command) from one
/// the command changed in any field, without a copy to compare with.
#[test]
fn a_write_that_changed_nothing_is_told_from_one_that_did() {
    use super::split::{is_sibling_of, sibling_of};
    use crate::version::codec::SplitHeader;
    use crate::version::collection::{Collection, Element, Tag};
    use crate::version::siblings::Sibling;
    use crate::version::{MemberHistories, Payload, VectorClock};

    let mut clock = VectorClock::new();
    clock.increment(ACTOR, 1_000);
    let header = SplitHeader {
        kind: Kind::Set,
        generation: 3,
        count: 100,
        ts_ms: 1_000,
        expire_at_ms: 0,
        clock,
        first: Bytes::new(),
        last: Bytes::new(),
        score_index: false,
        descending_index: false,
        unexpiring_members: true,
        member_histories: MemberHistories::new(),
    };
    let add = |c: &mut Collection, m: &'static [u8]| {
        let tag = Tag {
            actor: ACTOR,
            counter: 1,
        };
        c.put(
            Bytes::from_static(m),
            tag,
            1_000,
            Element::Value(Bytes::new()),
        );
    };
    let mut members = Collection::new(Kind::Set);
    add(&mut members, b"m1");
    let record = sibling_of(&header, Payload::Collection(members.clone()));
    assert!(is_sibling_of(&record, &header, &members));

    let changed = |change: &dyn Fn(&mut Sibling)| {
        let mut s = record.iter().next().unwrap().clone();
        change(&mut s);
        Siblings::from_iter([s])
    };
    type Change<'a> = &'a dyn Fn(&mut Sibling);
    let cases: [(&str, Change); 4] = [
        ("clock", &|s| s.clock.increment(ACTOR, 2_000)),
        ("time", &|s| s.ts_ms += 1),
        ("expiry", &|s| s.expire_at_ms = 5_000),
        ("members", &|s| {
            if let Payload::Collection(c) = &mut s.payload {
                add(c, b"m2");
            }
        }),
    ];
    for (what, change) in cases {
        assert!(
            !is_sibling_of(&changed(change), &header, &members),
            "a changed {what} was taken for no change"
        );
    }
    assert!(!is_sibling_of(&Siblings::new(), &header, &members));
}
