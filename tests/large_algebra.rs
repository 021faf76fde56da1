//! The set algebra of a large (split) set or sorted set with a small one
//! against a real server: SINTER, SDIFF, ZINTER, ZDIFF, their CARD and
//! STORE forms, weighted and aggregated, in either order, with missing
//! keys and keys of another type, agree with an in-test model. The large
//! input is probed for the small one's members, or read whole when it is
//! not much larger; both paths are exercised.
//!
//! Every loop is bounded; the server is killed by PID when the test ends.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

/// Bigger than the split size (512).
const FILL: usize = 1500;

fn start() -> TestServer {
    TestServer::start_with(&["--memtable-size", "262144"])
}

/// `args` is refused with WRONGTYPE.
fn assert_wrongtype(c: &mut redis::Connection, args: &[&str]) {
    let e = query(c, args).expect_err("a key of another type is refused");
    assert!(e.contains("WRONGTYPE"), "{args:?}: {e}");
}

/// SINTER, SDIFF, SINTERCARD and their STORE forms of a large set and a
/// small one, in either order, with a missing key and a key of another
/// type: the model's answers (the large set is probed for the small
/// one's members, or read whole when it is not much larger).
#[test]
fn set_algebra_of_a_large_and_a_small_set_matches_a_model() {
    let s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(21);
    let name = |i: u32| format!("m{i:05}");
    let mut big: BTreeSet<String> = BTreeSet::new();
    for chunk in 0..FILL as u32 / 100 {
        let mut args = vec!["SADD".to_string(), "big".into()];
        for i in chunk * 100..chunk * 100 + 100 {
            args.push(name(i * 2));
            big.insert(name(i * 2));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int_of(ok(c, &args)), 100);
    }
    assert_eq!(ok(c, &["SET", "str", "x"]), okay());
    let sorted = |v: Value| {
        let mut v = strings(v);
        v.sort();
        v
    };
    for round in 0..60 {
        // A small set, sometimes as large as the big one.
        let n = if round % 10 == 9 {
            2 * FILL
        } else {
            rng.random_range(1..40)
        };
        let small: BTreeSet<String> = (0..n)
            .map(|_| name(rng.random_range(0..2 * FILL as u32 + 50)))
            .collect();
        ok(c, &["DEL", "small"]);
        let mut args = vec!["SADD", "small"];
        args.extend(small.iter().map(String::as_str));
        ok(c, &args);
        let inter: Vec<String> = small.intersection(&big).cloned().collect();
        let small_minus: Vec<String> = small.difference(&big).cloned().collect();
        let big_minus: Vec<String> = big.difference(&small).cloned().collect();
        assert_eq!(
            sorted(ok(c, &["SINTER", "small", "big"])),
            inter,
            "round {round}"
        );
        assert_eq!(
            sorted(ok(c, &["SINTER", "big", "small", "big"])),
            inter,
            "round {round}"
        );
        assert_eq!(
            sorted(ok(c, &["SDIFF", "small", "big"])),
            small_minus,
            "round {round}"
        );
        assert_eq!(
            sorted(ok(c, &["SDIFF", "big", "small"])),
            big_minus,
            "round {round}"
        );
        assert_eq!(
            int_of(ok(c, &["SINTERCARD", "2", "big", "small"])),
            inter.len() as i64
        );
        assert_eq!(
            int_of(ok(c, &["SDIFFSTORE", "dest", "small", "big"])),
            small_minus.len() as i64
        );
        assert_eq!(
            sorted(ok(c, &["SMEMBERS", "dest"])),
            small_minus,
            "round {round}"
        );
        assert_eq!(
            int_of(ok(c, &["SINTERSTORE", "dest", "big", "small"])),
            inter.len() as i64
        );
        assert!(sorted(ok(c, &["SINTER", "small", "nokey", "big"])).is_empty());
        assert_eq!(
            sorted(ok(c, &["SDIFF", "small", "nokey"])),
            small.iter().cloned().collect::<Vec<_>>()
        );
        // Every key is type-checked, even after a missing one.
        assert_wrongtype(c, &["SINTER", "small", "nokey", "str"]);
        assert_wrongtype(c, &["SDIFF", "small", "big", "str"]);
    }
}

/// Pairs of a WITHSCORES reply, scores parsed.
fn scored_pairs(v: Value) -> Vec<(String, f64)> {
    strings(v)
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].parse().expect("a score")))
        .collect()
}

/// `pairs` in a sorted set's reply order: by score, then member.
fn in_score_order(mut pairs: Vec<(String, f64)>) -> Vec<(String, f64)> {
    pairs.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    pairs
}

/// ZINTER, ZDIFF, ZINTERCARD, ZINTERSTORE and ZDIFFSTORE of a large
/// sorted set with a small sorted set or set, weighted and aggregated, in
/// either order: the model's answers (the large set is probed for the
/// small one's members, or read whole when it is not much larger).
#[test]
fn sorted_set_algebra_of_a_large_and_a_small_input_matches_a_model() {
    let s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(22);
    let name = |i: u32| format!("m{i:05}");
    let mut big: BTreeMap<String, f64> = BTreeMap::new();
    for chunk in 0..FILL as u32 / 100 {
        let mut args = vec!["ZADD".to_string(), "zbig".into()];
        for i in chunk * 100..chunk * 100 + 100 {
            args.extend([i.to_string(), name(i * 2)]);
            big.insert(name(i * 2), f64::from(i));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int_of(ok(c, &args)), 100);
    }
    ok(c, &["SET", "str", "x"]);
    for round in 0..40 {
        let n = if round % 10 == 9 {
            2 * FILL
        } else {
            rng.random_range(1..40)
        };
        let small: BTreeMap<String, f64> = (0..n)
            .map(|_| {
                (
                    name(rng.random_range(0..2 * FILL as u32 + 50)),
                    f64::from(rng.random_range(-50..50i32)),
                )
            })
            .collect();
        let as_set = round % 3 == 0;
        ok(c, &["DEL", "zsmall"]);
        let mut args = vec![
            if as_set { "SADD" } else { "ZADD" }.to_string(),
            "zsmall".into(),
        ];
        for (m, sc) in &small {
            if !as_set {
                args.push(sc.to_string());
            }
            args.push(m.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
        let small_score = |m: &str| if as_set { 1.0 } else { small[m] };
        let (w1, w2) = (
            f64::from(rng.random_range(1..4i32)),
            f64::from(rng.random_range(1..4i32)),
        );
        let inter: Vec<(String, f64)> = small
            .keys()
            .filter_map(|m| {
                big.get(m)
                    .map(|b| (m.clone(), w1 * small_score(m) + w2 * b))
            })
            .collect();
        let (w1s, w2s) = (w1.to_string(), w2.to_string());
        let got = ok(
            c,
            &[
                "ZINTER",
                "2",
                "zsmall",
                "zbig",
                "WEIGHTS",
                &w1s,
                &w2s,
                "WITHSCORES",
            ],
        );
        assert_eq!(
            scored_pairs(got),
            in_score_order(inter.clone()),
            "round {round}"
        );
        let max: Vec<(String, f64)> = small
            .keys()
            .filter_map(|m| big.get(m).map(|b| (m.clone(), small_score(m).max(*b))))
            .collect();
        let got = ok(
            c,
            &[
                "ZINTER",
                "3",
                "zbig",
                "zsmall",
                "zbig",
                "AGGREGATE",
                "MAX",
                "WITHSCORES",
            ],
        );
        assert_eq!(scored_pairs(got), in_score_order(max), "round {round}");
        let diff: Vec<(String, f64)> = small
            .keys()
            .filter(|m| !big.contains_key(*m))
            .map(|m| (m.clone(), small_score(m)))
            .collect();
        let got = ok(c, &["ZDIFF", "2", "zsmall", "zbig", "WITHSCORES"]);
        assert_eq!(
            scored_pairs(got),
            in_score_order(diff.clone()),
            "round {round}"
        );
        let big_minus = big.keys().filter(|m| !small.contains_key(*m)).count() as i64;
        assert_eq!(
            int_of(ok(c, &["ZDIFFSTORE", "zdest", "2", "zbig", "zsmall"])),
            big_minus
        );
        assert_eq!(
            int_of(ok(c, &["ZINTERCARD", "2", "zbig", "zsmall"])),
            inter.len() as i64
        );
        assert_eq!(
            int_of(ok(c, &["ZINTERSTORE", "zdest", "2", "zbig", "zsmall"])),
            inter.len() as i64
        );
        assert_eq!(
            int_of(ok(c, &["ZINTERCARD", "3", "zsmall", "nokey", "zbig"])),
            0
        );
        assert_wrongtype(c, &["ZINTER", "3", "zsmall", "nokey", "str"]);
    }
}
