//! Both kinds of sorted-set score index read against a model: with
//! descending entries (generations made before ascending-only indexes),
//! and ascending only, walked down for reads from the highest score.
//! Windows in either direction and ranks are read straight from the index,
//! without the copies of the order that serve most reads of smaller sets.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringkv_engine::WriteBatch;

use super::list_ends::list_end;
use super::score_index::{ScoreWindow, members_in, rank, score_of, write_changes};
use crate::version::collection::{Collection, cmp_scores};
use crate::version::{CollectionOp, Kind, Payload, Siblings};

const ACTOR: u64 = 7;

/// Members that share prefixes and hold the bytes the descending form
/// escapes, and plain ones.
fn member(rng: &mut StdRng) -> Bytes {
    const ODD: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x00\x00",
        b"a",
        b"a\x00",
        b"ab",
        b"\xff",
        b"\xff\xfe",
    ];
    if rng.random_bool(0.1) {
        Bytes::from_static(ODD[rng.random_range(0..ODD.len())])
    } else {
        Bytes::from(format!("m{:03}", rng.random_range(0..400)))
    }
}

/// Few distinct scores, so many members tie, and both infinities.
fn score(rng: &mut StdRng) -> f64 {
    match rng.random_range(0..20) {
        0 => f64::NEG_INFINITY,
        1 => f64::INFINITY,
        _ => f64::from(rng.random_range(-8..8i32)) / 2.0,
    }
}

fn window(rng: &mut StdRng) -> ScoreWindow {
    let (a, b) = (score(rng), score(rng));
    ScoreWindow {
        min: a.min(b),
        min_exclusive: rng.random_bool(0.3),
        max: a.max(b),
        max_exclusive: rng.random_bool(0.3),
        rev: rng.random_bool(0.5),
        offset: rng.random_range(0..4),
        count: if rng.random_bool(0.2) {
            usize::MAX
        } else {
            rng.random_range(0..30)
        },
    }
}

fn collection(record: &Siblings) -> Collection {
    match record.iter().next().map(|s| &s.payload) {
        Some(Payload::Collection(c)) => c.clone(),
        _ => Collection::new(Kind::ZSet),
    }
}

/// Every member in Redis's sorted-set order.
fn ordered(coll: &Collection) -> Vec<(f64, Bytes)> {
    let mut out: Vec<(f64, Bytes)> = coll
        .iter()
        .filter_map(|(m, items)| Some((score_of(items, None)?, m.clone())))
        .collect();
    out.sort_by(|a, b| cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
    out
}

#[test]
fn both_kinds_of_score_index_answer_windows_and_ranks_as_the_model() {
    // The engine alone: a keyspace's compaction filter would take these
    // entries, which no header names, for ones to drop.
    let dir = tempfile::tempdir().unwrap();
    let engine =
        &ringkv_engine::Engine::open(dir.path(), ringkv_engine::Options::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut model = Siblings::default();
    let mut previous: Option<Collection> = None;
    // (index prefix, whether it has descending entries)
    let indexes: [(&[u8], bool); 2] = [(b"\x40idx-desc", true), (b"\x40idx-asc", false)];
    let mut checked = 0usize;
    for round in 0..12u64 {
        let now = 1_000 + round;
        let pairs = (0..80)
            .map(|_| (member(&mut rng), score(&mut rng)))
            .collect();
        let _ = model.apply_collection(ACTOR, now, &CollectionOp::ZAdd { pairs, flags: 0 });
        let members = (0..25).map(|_| member(&mut rng)).collect();
        let remove = CollectionOp::Remove {
            kind: Kind::ZSet,
            members,
        };
        let _ = model.apply_collection(ACTOR, now, &remove);
        let coll = collection(&model);
        for (prefix, descending) in indexes {
            let mut batch = WriteBatch::new();
            write_changes(&mut batch, prefix, previous.as_ref(), &coll, 0, descending);
            engine.write(batch).unwrap();
        }
        // Every fifth round, the index partly in SSTables.
        if round % 5 == 4 {
            engine.flush().unwrap();
        }
        previous = Some(coll.clone());
        let sorted = ordered(&coll);
        let snapshot = engine.snapshot();
        // The header's bounds as writes keep them, or unknown.
        let known = (list_end(&coll, true), list_end(&coll, false));
        for bounds in [known, (Bytes::new(), Bytes::new())] {
            for index in indexes {
                for _ in 0..60 {
                    let w = window(&mut rng);
                    let from = if w.rev { &bounds.1 } else { &bounds.0 };
                    let got = members_in(engine, &snapshot, index, &w, from).unwrap();
                    let scored = sorted.iter().map(|(s, m)| (*s, m.clone(), ())).collect();
                    let want: Vec<Bytes> = w.select(scored).into_iter().map(|(m, _)| m).collect();
                    assert_eq!(got, want, "round {round} index {index:?} {w:?}");
                    checked += 1;
                }
                for (i, (s, m)) in sorted.iter().enumerate() {
                    let ends = (&bounds.0[..], &bounds.1[..]);
                    let count = sorted.len() as u64;
                    let got = rank(engine, &snapshot, index, ends, *s, m, count).unwrap();
                    assert_eq!(got, i as u64, "round {round} index {index:?} rank of {m:?}");
                }
            }
        }
    }
    assert!(checked > 1000);
}

/// Block reads (cache hits and misses) of a rank read of `member`.
fn blocks_read_by_rank(ks: &super::Keyspace, key: &[u8], member: &Bytes) -> (u64, u64) {
    let blocks = || {
        let st = ks.engine().stats();
        st.block_cache_hits + st.block_cache_misses
    };
    let before = blocks();
    let need = super::Need::Rank { member, rev: false };
    let read = ks.read_partial(0, key, need).unwrap().unwrap();
    (read.counted.unwrap(), blocks() - before)
}

/// A rank in a sorted set whose copy of the order cannot fit its budget
/// is counted from the nearer end without first walking the index to find
/// that out: a set of more members than the budget holds at the least,
/// and one whose first entries show their names make it too large. Each
/// ZRANK of a 300,000-member set walked 170,000 entries before (about
/// 20 ms), and hundreds of blocks. A rank in the middle, once the set's
/// second rank read has made counts per piece of its index
/// (`super::rank_pieces`), reads a piece's few blocks.
#[tokio::test(flavor = "multi_thread")]
async fn a_rank_in_a_set_too_large_for_a_copy_reads_near_its_end() {
    use super::split_tests::apply;
    let dir = tempfile::tempdir().unwrap();
    let ks = super::Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    // 180,000 short members: more than 8 MiB at 48 bytes each.
    let many = CollectionOp::ZAdd {
        pairs: (0..180_000)
            .map(|i| (Bytes::from(format!("m{i:06}")), f64::from(i)))
            .collect(),
        flags: 0,
    };
    apply(&ks, b"many", &many).await.0.unwrap();
    // 20,000 members of 500 bytes: 11 MB in a copy.
    let long = |i: i32| Bytes::from(format!("{i:06}{}", "x".repeat(494)));
    let wide = CollectionOp::ZAdd {
        pairs: (0..20_000).map(|i| (long(i), f64::from(i))).collect(),
        flags: 0,
    };
    apply(&ks, b"wide", &wide).await.0.unwrap();
    ks.engine().flush().unwrap();
    let (rank, blocks) = blocks_read_by_rank(&ks, b"many", &Bytes::from("m000100"));
    assert_eq!(rank, 100);
    assert!(
        blocks < 50,
        "{blocks} blocks read for a rank near the start"
    );
    let (rank, blocks) = blocks_read_by_rank(&ks, b"wide", &long(19_900));
    assert_eq!(rank, 19_900);
    assert!(blocks < 400, "{blocks} blocks read for a rank near the end");
    // In the middle: the set's second rank read makes counts per piece of
    // its index (one walk), and the reads after it walk one piece.
    let (rank, _) = blocks_read_by_rank(&ks, b"many", &Bytes::from("m090000"));
    assert_eq!(rank, 90_000);
    for (member, want) in [
        ("m120000", 120_000),
        ("m060001", 60_001),
        ("m179999", 179_999),
    ] {
        let (rank, blocks) = blocks_read_by_rank(&ks, b"many", &Bytes::from(member));
        assert_eq!(rank, want);
        assert!(
            blocks < 50,
            "{blocks} blocks read for a rank from the pieces"
        );
    }
}
