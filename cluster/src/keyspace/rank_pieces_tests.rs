//! Ranks and rank windows of sorted sets read from counts per piece of
//! their score index (`super::rank_pieces`), against a model, through the
//! writes that move the counts: re-scores, new members crowding one
//! piece, removals, pops from both ends, score ranges, flushes.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::list_index::tests::{Elements, model, push, random_op};
use super::score_index::ScoreWindow;
use super::split_tests::{apply, header_of};
use super::{Keyspace, Need};
use crate::version::list_op::trim_range;
use crate::version::{CollectionOp, Kind, PopEnd, zadd};

/// Every member in Redis's order (score, then member bytes).
fn model_order(ks: &Keyspace, key: &[u8]) -> Vec<Bytes> {
    let ranks = super::zset_ranks::tests::model_ranks(ks, key);
    ranks.into_iter().map(|(m, _)| m).collect()
}

fn random_zset_op(rng: &mut StdRng, fresh: &mut u32) -> CollectionOp {
    let named = Bytes::from(format!("m{:04}", rng.random_range(0..1500)));
    let old = || named.clone();
    match rng.random_range(0..20) {
        0..=5 => CollectionOp::ZAdd {
            pairs: vec![(old(), f64::from(rng.random_range(-5..5)))],
            flags: zadd::INCR,
        },
        // New members at one score: they crowd one piece until it is cut.
        6..=11 => {
            *fresh += 1;
            CollectionOp::ZAdd {
                pairs: vec![(Bytes::from(format!("n{fresh:05}")), 7.5)],
                flags: 0,
            }
        }
        12..=14 => CollectionOp::Remove {
            kind: Kind::ZSet,
            members: vec![old()],
        },
        15 | 16 => CollectionOp::Pop {
            kind: Kind::ZSet,
            count: rng.random_range(1..4),
            end: if rng.random_bool(0.5) {
                PopEnd::Min
            } else {
                PopEnd::Max
            },
        },
        17 => {
            let min = f64::from(rng.random_range(-20..40));
            CollectionOp::RemoveScores {
                min,
                min_exclusive: false,
                max: min + 0.5,
                max_exclusive: rng.random_bool(0.5),
            }
        }
        _ => CollectionOp::ZAdd {
            pairs: vec![(old(), f64::from(rng.random_range(0..80)) / 2.0)],
            flags: 0,
        },
    }
}

/// A sorted set given no copy of its order (budget 0) reads its ranks,
/// rank windows, ZCOUNTs and score windows with a LIMIT offset from
/// pieces of 16 entries, through 3,000 random
/// writes: every read matches the model, the pieces are made by a few
/// walks in all (not one per read), and the piece the new members crowd
/// is cut.
#[tokio::test(flavor = "multi_thread")]
async fn ranks_from_pieces_follow_random_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    ks.inner.ranks.set_limits(0, 16);
    let add = CollectionOp::ZAdd {
        pairs: (0..1500)
            .map(|i| (Bytes::from(format!("m{i:04}")), f64::from(i % 40)))
            .collect(),
        flags: 0,
    };
    apply(&ks, b"z", &add).await.0.unwrap();
    assert!(header_of(&ks, b"z").unwrap().score_index, "stored split");
    let mut rng = StdRng::seed_from_u64(11);
    let mut fresh = 0;
    let (mut ranks, mut windows, mut counts, mut offsets) = (0, 0, 0, 0);
    for round in 0..3000 {
        let op = random_zset_op(&mut rng, &mut fresh);
        let _ = apply(&ks, b"z", &op).await;
        if round % 700 == 0 {
            ks.engine().flush().unwrap();
        }
        if round % 10 != 0 {
            continue;
        }
        let order = model_order(&ks, b"z");
        let len = order.len();
        for _ in 0..4 {
            let i = rng.random_range(0..len);
            let member = &order[i];
            for rev in [false, true] {
                let read = ks
                    .read_partial(0, b"z", Need::Rank { member, rev })
                    .unwrap();
                let want = if rev { len - 1 - i } else { i };
                assert_eq!(
                    read.unwrap().counted,
                    Some(want as u64),
                    "round {round}: rank of {member:?}, rev {rev}"
                );
                ranks += 1;
            }
        }
        // ZCOUNT: bounds at scores members hold (ties), between them, and
        // at the infinities.
        let scored = super::zset_ranks::tests::model_scored(&ks, b"z");
        for _ in 0..4 {
            let edge = |rng: &mut StdRng| match rng.random_range(0..10) {
                0 => f64::NEG_INFINITY,
                1 => f64::INFINITY,
                _ => f64::from(rng.random_range(-40..180)) / 4.0,
            };
            let (a, b) = (edge(&mut rng), edge(&mut rng));
            let w = ScoreWindow {
                min: a.min(b),
                min_exclusive: rng.random_bool(0.5),
                max: a.max(b),
                max_exclusive: rng.random_bool(0.5),
                ..ScoreWindow::ends(false, usize::MAX)
            };
            let want = scored.iter().filter(|(s, _, _)| w.contains(*s)).count() as u64;
            let read = ks.read_partial(0, b"z", Need::CountScores(w)).unwrap();
            assert_eq!(read.unwrap().counted, Some(want), "round {round}: {w:?}");
            counts += 1;
            // ZRANGEBYSCORE with a LIMIT offset past a piece: the same
            // bounds, either direction.
            let w = ScoreWindow {
                rev: rng.random_bool(0.5),
                offset: rng.random_range(16..400),
                count: if rng.random_bool(0.2) {
                    usize::MAX
                } else {
                    rng.random_range(0..40)
                },
                ..w
            };
            let want: Vec<Bytes> = w
                .select(scored.clone())
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            let read = ks.read_partial(0, b"z", Need::Scores(w)).unwrap();
            let got: Vec<Bytes> = read.map_or_else(Vec::new, |r| {
                r.members.into_iter().map(|(m, _)| m).collect()
            });
            assert_eq!(got, want, "round {round}: {w:?}");
            offsets += 1;
            // Read from the pieces, not by a walk past the offset.
            if round >= 100 {
                let snapshot = ks.engine().snapshot();
                let header = header_of(&ks, b"z").unwrap();
                let set = ks.set_at(&snapshot, ks.namespace(0).unwrap(), b"z", &header);
                let pieces = &ks.inner.ranks.pieces;
                let names = super::rank_pieces::window_names(&set, pieces, &w).unwrap();
                assert_eq!(names, Some(want), "round {round}: from pieces, {w:?}");
            }
        }
        let start = rng.random_range(20..len as i64 - 40);
        for (start, stop) in [(start, start + 9), (start, start), (start, start + 30)] {
            for rev in [false, true] {
                let read = ks.read_partial(0, b"z", Need::Ranks { start, stop, rev });
                let got: Vec<Bytes> = read
                    .unwrap()
                    .unwrap()
                    .members
                    .into_iter()
                    .map(|(m, _)| m)
                    .collect();
                let mut want: Vec<Bytes> = order.clone();
                if rev {
                    want.reverse();
                }
                let want = &want[start as usize..=stop as usize];
                assert_eq!(
                    got, want,
                    "round {round}: ranks {start}..={stop}, rev {rev}"
                );
                windows += 1;
            }
        }
    }
    let pieces = &ks.inner.ranks.pieces;
    let (walks, cuts) = (
        pieces.walks.load(Ordering::Relaxed),
        pieces.cuts.load(Ordering::Relaxed),
    );
    assert!(
        counts >= 1200 && offsets >= 1200,
        "{counts} counts, {offsets} offsets"
    );
    assert!(
        ranks >= 2400 && windows >= 1800,
        "{ranks} ranks, {windows} windows"
    );
    assert_eq!(
        ks.inner.ranks.walks.load(Ordering::Relaxed),
        0,
        "no copy made"
    );
    assert!((1..=5).contains(&walks), "pieces made {walks} times");
    assert!(cuts >= 5, "{cuts} pieces cut");
}

/// A list given no copy of its positions (budget 0) reads LINDEX and
/// LRANGE windows far from both ends from pieces of 16 positions, through
/// 1,500 random pushes at both ends, pops, and a few LSETs, LINSERTs and
/// LREMs: every read is the model's slice, pushes and pops move the
/// counts (a rewrite has them made anew), and the pieces pushes grow are
/// cut.
#[tokio::test(flavor = "multi_thread")]
async fn list_indexes_from_pieces_follow_random_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    ks.inner.ranks.set_limits(0, 16);
    let elements = Elements::default();
    elements.fill(&ks).await;
    let mut rng = StdRng::seed_from_u64(3);
    let (mut checked, mut rewrites) = (0, 0);
    for round in 0..1500 {
        // Rewrites (LSET, LINSERT, LREM) in 1 write of 27 or so.
        let op = random_op(&mut rng, &elements, 0.25);
        rewrites += u64::from(!matches!(
            op,
            CollectionOp::Push { .. } | CollectionOp::Pop { .. }
        ));
        let _ = apply(&ks, b"l", &op).await;
        if round % 500 == 0 {
            ks.engine().flush().unwrap();
        }
        let all = model(&ks, b"l");
        let len = all.len() as i64;
        let mid = rng.random_range(300..len - 300);
        for (start, stop) in [
            (mid, mid),
            (mid - 5, mid + 20),
            (-mid, -mid + 3),
            (300, 310),
        ] {
            let read = ks.read_partial(0, b"l", Need::Range { start, stop });
            let (from, to) = trim_range(start, stop, all.len());
            let want = all.get(from..to.max(from)).unwrap_or_default();
            assert_eq!(
                read.unwrap().unwrap().members,
                want,
                "round {round}: {start} {stop}"
            );
            checked += 1;
        }
    }
    let pieces = &ks.inner.ranks.pieces;
    let (walks, cuts) = (
        pieces.walks.load(Ordering::Relaxed),
        pieces.cuts.load(Ordering::Relaxed),
    );
    assert_eq!(checked, 6000);
    assert_eq!(
        ks.inner.ranks.walks.load(Ordering::Relaxed),
        0,
        "no copy made"
    );
    // At most one walk per rewrite (LSET, LINSERT, LREM write the list
    // whole, and the pieces are made anew), none per push or pop.
    assert!(
        (1..=1 + rewrites).contains(&walks),
        "{walks} walks, {rewrites} rewrites"
    );
    // 400 pushes at the head grow its piece; a read in it cuts it, and
    // the reads after it walk a piece of 16 or so.
    let values = (0..400).map(|_| elements.value()).collect();
    apply(&ks, b"l", &push(true, values)).await.0.unwrap();
    let all = model(&ks, b"l");
    for start in [300, 290, 380, 260] {
        let read = ks.read_partial(
            0,
            b"l",
            Need::Range {
                start,
                stop: start + 2,
            },
        );
        let want = &all[start as usize..start as usize + 3];
        assert_eq!(
            read.unwrap().unwrap().members,
            want,
            "after the pushes: {start}"
        );
    }
    let now = (
        pieces.walks.load(Ordering::Relaxed),
        pieces.cuts.load(Ordering::Relaxed),
    );
    assert_eq!(now, (walks, cuts + 1), "one cut, no walk");
}
