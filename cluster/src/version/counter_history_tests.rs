//! Tests of counters restarted concurrently with increments elsewhere
//! ([`super::counter_history`]): no acknowledged increment is lost, none
//! is counted twice, and every replica reads the same value.

use std::collections::BTreeSet;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const A: Actor = 1;
const B: Actor = 2;
const C: Actor = 3;

fn value(s: &str) -> Payload {
    Payload::Value(Bytes::copy_from_slice(s.as_bytes()))
}

fn read(s: &Siblings, now_ms: u64) -> Option<Bytes> {
    s.live(now_ms).and_then(|x| payload_bytes(&x.payload))
}

fn merged(parts: &[&Siblings]) -> Siblings {
    let mut m = Siblings::new();
    for p in parts {
        m.merge(p);
    }
    m
}

fn incr(s: &mut Siblings, actor: Actor, now_ms: u64, times: usize) {
    for _ in 0..times {
        s.add_int(actor, now_ms, 1).unwrap();
    }
}

/// The partition of `tests/cluster_partition.rs`: SET 100; DEL on A; three
/// INCRs on the cut-off C (from 100); five INCRs on B after the DEL.
#[test]
fn increments_on_both_sides_of_a_concurrent_delete_all_count() {
    let mut a = Siblings::new();
    a.write(None, A, 10, value("100"), 0);
    let mut c = a.clone();
    a.write(None, A, 20, Payload::Tombstone, 0);
    let mut b = a.clone();
    incr(&mut c, C, 30, 3);
    assert_eq!(read(&c, 30), Some(Bytes::from("103")));
    incr(&mut b, B, 40, 5);
    assert_eq!(read(&b, 40), Some(Bytes::from("5")));
    for order in [[&a, &b, &c], [&c, &b, &a], [&b, &c, &a]] {
        let m = merged(&order);
        assert_eq!(
            read(&m, 50),
            Some(Bytes::from("8")),
            "DEL removed 100, not the 3"
        );
    }
    // An increment on top of the merge keeps all of them, here and after a
    // further merge with a replica that saw only C's side.
    let mut m = merged(&[&a, &b, &c]);
    incr(&mut m, A, 60, 1);
    assert_eq!(read(&m, 60), Some(Bytes::from("9")));
    assert_eq!(read(&merged(&[&m, &c, &b]), 70), Some(Bytes::from("9")));
    // The increment C makes later still counts once.
    incr(&mut c, C, 80, 1);
    assert_eq!(read(&merged(&[&m, &c]), 90), Some(Bytes::from("10")));
}

#[test]
fn a_delete_removes_exactly_the_increments_it_had_seen() {
    let mut a = Siblings::new();
    incr(&mut a, C, 10, 2);
    let mut c = a.clone();
    a.write(None, A, 20, Payload::Tombstone, 0); // saw C's 2
    incr(&mut c, C, 30, 1); // C's third, unseen by the DEL
    // Alone with the deletion: the key holds the unseen increment, whichever
    // write is later.
    assert_eq!(read(&merged(&[&a, &c]), 40), Some(Bytes::from("1")));
    let mut late_delete = Siblings::new();
    incr(&mut late_delete, C, 10, 2);
    late_delete.write(None, A, 99, Payload::Tombstone, 0);
    assert_eq!(
        read(&merged(&[&late_delete, &c]), 100),
        Some(Bytes::from("1"))
    );
    // With five more after the delete on B.
    let mut b = a.clone();
    incr(&mut b, B, 50, 5);
    assert_eq!(read(&merged(&[&a, &b, &c]), 60), Some(Bytes::from("6")));
    // A delete that saw everything leaves nothing.
    let mut all = merged(&[&a, &b, &c]);
    all.write(None, B, 70, Payload::Tombstone, 0);
    assert_eq!(read(&all, 80), None);
    assert_eq!(read(&merged(&[&all, &a, &b, &c]), 80), None);
}

#[test]
fn a_set_over_a_counter_keeps_the_increments_it_had_not_seen() {
    let mut a = Siblings::new();
    incr(&mut a, C, 10, 2);
    let mut c = a.clone();
    a.write(None, A, 20, value("10"), 0);
    incr(&mut c, C, 30, 1);
    let m = merged(&[&a, &c]);
    assert_eq!(read(&m, 40), Some(Bytes::from("11")));
    let mut b = m.clone();
    incr(&mut b, B, 50, 1);
    assert_eq!(read(&merged(&[&b, &c, &a]), 60), Some(Bytes::from("12")));
    // A value that is not a number wins whole.
    let mut text = Siblings::new();
    incr(&mut text, C, 10, 2);
    text.write(None, A, 20, value("hello"), 0);
    assert_eq!(read(&merged(&[&text, &c]), 40), Some(Bytes::from("hello")));
}

#[test]
fn one_replica_reads_exactly_what_redis_would() {
    // Histories left by resets never change a value written after them on
    // the same replica: their floors equal what they carry.
    let mut r = Siblings::new();
    r.add_float(A, 1, 0.1).unwrap();
    r.add_float(A, 2, 0.2).unwrap();
    r.write(None, A, 3, value("0"), 0);
    assert_eq!(read(&r, 3), Some(Bytes::from("0")));
    assert_eq!(r.add_float(A, 4, 1e-17), Ok(CounterValue::Float(1e-17)));
    r.write(None, A, 5, Payload::Tombstone, 0);
    assert_eq!(read(&r, 5), None);
    assert_eq!(r.add_int(A, 6, 0), Ok(CounterValue::Int(0)));
    assert_eq!(r.add_int(A, 7, 7), Ok(CounterValue::Int(7)));
    r.write(None, A, 8, value("abc"), 0);
    assert_eq!(read(&r, 8), Some(Bytes::from("abc")));
    assert!(r.add_int(A, 9, 1).is_err());
}

#[test]
fn increments_that_expired_do_not_come_back() {
    let mut a = Siblings::new();
    a.write(None, A, 10, value("5"), 100);
    incr(&mut a, A, 20, 1);
    let mut c = a.clone();
    incr(&mut c, C, 30, 2); // before the expiry, with it
    incr(&mut a, A, 150, 1); // after: a new counter from 0
    assert_eq!(read(&a, 150), Some(Bytes::from("1")));
    assert_eq!(read(&merged(&[&a, &c]), 160), Some(Bytes::from("1")));
    // The marker compaction leaves of the expired counter does the same.
    let marker: Siblings = c
        .iter()
        .map(|s| Sibling {
            payload: Payload::Tombstone,
            ..s.clone()
        })
        .collect();
    assert_eq!(read(&merged(&[&a, &marker]), 160), Some(Bytes::from("1")));
    assert_eq!(
        read(&merged(&[&a, &marker, &c]), 160),
        Some(Bytes::from("1"))
    );
}

#[test]
fn histories_round_trip_and_stay_bounded() {
    let mut r = Siblings::new();
    let mut others = Vec::new();
    for i in 0..20u64 {
        let mut other = r.clone();
        incr(&mut other, C, 10 * i + 1, 1);
        others.push(other);
        r.write(None, A, 10 * i + 2, Payload::Tombstone, 0);
        incr(&mut r, A, 10 * i + 3, 1);
    }
    for s in r.iter() {
        assert!(s.history.iter().len() <= counter_history::MAX_REMOVED_LINEAGES);
    }
    assert_eq!(Siblings::decode(&r.encode(), 0).as_ref(), Ok(&r));
    // Pruned after a day: a later write forgets them.
    let day = YOUNG_CLOCK_MS;
    r.write(None, A, 2 * day, Payload::Tombstone, 0);
    assert!(r.iter().all(|s| s.history.iter().len() <= 1), "{r:?}");
}

#[derive(Clone, Debug)]
enum Op {
    Incr(usize, i8),
    Del(usize),
    /// SET to 100,000 × (the number of SETs so far + 1): a base no sum of
    /// increments can be mistaken for.
    Set(usize),
    Sync(usize, usize),
}

fn arb_op(sets: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, any::<i8>()).prop_map(|(r, d)| Op::Incr(r, d)),
        1 => (0usize..3).prop_map(Op::Del),
        u32::from(sets) => (0usize..3).prop_map(Op::Set),
        3 => (0usize..3, 0usize..3).prop_map(|(a, b)| Op::Sync(a, b)),
    ]
}

/// What a history of [`Op`]s leaves on three replicas (actors 1 to 3,
/// clocks skewed by `skew`), the increments' deltas, which of them a
/// reset (DEL or SET) had seen, and the values SET wrote.
struct Run {
    rs: [Siblings; 3],
    deltas: Vec<i64>,
    removed: BTreeSet<usize>,
    bases: Vec<i64>,
}

fn run(ops: &[Op], skew: &[u64]) -> Run {
    let mut rs: [Siblings; 3] = Default::default();
    let mut known: [BTreeSet<usize>; 3] = Default::default();
    let mut deltas: Vec<i64> = Vec::new();
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    let mut bases = Vec::new();
    let mut resets = 0;
    for (i, op) in ops.iter().enumerate() {
        let now = |r: usize| 1_000 + 10 * i as u64 + skew[r];
        match *op {
            Op::Incr(r, d) => {
                if rs[r].add_int(r as u64 + 1, now(r), i64::from(d)).is_ok() {
                    known[r].insert(deltas.len());
                    deltas.push(i64::from(d));
                }
            }
            // More resets than a history remembers lineages would test
            // pruning, not the rule.
            Op::Del(r) | Op::Set(r) if resets < counter_history::MAX_REMOVED_LINEAGES - 2 => {
                resets += 1;
                let payload = if let Op::Set(_) = op {
                    bases.push(100_000 * (bases.len() as i64 + 1));
                    value(&bases[bases.len() - 1].to_string())
                } else {
                    Payload::Tombstone
                };
                rs[r].write(None, r as u64 + 1, now(r), payload, 0);
                removed.extend(known[r].iter().copied());
            }
            Op::Del(_) | Op::Set(_) => {}
            Op::Sync(from, to) => {
                let src = rs[from].clone();
                rs[to].merge(&src);
                let k = known[from].clone();
                known[to].extend(k);
            }
        }
    }
    Run {
        rs,
        deltas,
        removed,
        bases,
    }
}

fn number(b: &Bytes) -> i64 {
    String::from_utf8_lossy(b).parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Observed-remove: after every replica has seen every write, each
    /// reads the sum of the increments no DEL had seen when it was made,
    /// and the key exists exactly when there is one; whatever the skew
    /// of the replicas' clocks and the order of delivery.
    #[test]
    fn every_increment_no_delete_saw_counts_once(
        ops in prop::collection::vec(arb_op(false), 0..40),
        skew in prop::collection::vec(0u64..50, 3),
        order in Just([0usize, 1, 2]).prop_shuffle(),
    ) {
        let Run { rs, deltas, removed, .. } = run(&ops, &skew);
        let all = merged(&[&rs[order[0]], &rs[order[1]], &rs[order[2]]]);
        let unseen: Vec<usize> = (0..deltas.len()).filter(|e| !removed.contains(e)).collect();
        let expected = (!unseen.is_empty())
            .then(|| Bytes::from(unseen.iter().map(|&e| deltas[e]).sum::<i64>().to_string()));
        prop_assert_eq!(read(&all, 10_000), expected.clone());
        for r in &rs {
            prop_assert_eq!(read(&merged(&[r, &all]), 10_000), expected.clone());
        }
        let decoded = Siblings::decode(&all.encode(), 0);
        prop_assert_eq!(decoded.as_ref(), Ok(&all));
        // An increment after everything adds exactly itself.
        let mut next = all.clone();
        let before: i64 = expected.as_ref().map_or(0, number);
        prop_assert_eq!(next.add_int(A, 20_000, 1), Ok(CounterValue::Int(before + 1)));
        for r in &rs {
            prop_assert_eq!(
                read(&merged(&[&next, r]), 20_000),
                Some(Bytes::from((before + 1).to_string()))
            );
        }
    }

    /// With SETs as well: the value is one base (0 or a SET's value) plus
    /// every increment no reset had seen, the same through every replica.
    #[test]
    fn with_sets_the_value_is_a_base_plus_every_unseen_increment(
        ops in prop::collection::vec(arb_op(true), 0..40),
        skew in prop::collection::vec(0u64..50, 3),
        order in Just([0usize, 1, 2]).prop_shuffle(),
    ) {
        let Run { rs, deltas, removed, bases } = run(&ops, &skew);
        let all = merged(&[&rs[order[0]], &rs[order[1]], &rs[order[2]]]);
        let unseen: i64 = (0..deltas.len())
            .filter(|e| !removed.contains(e))
            .map(|e| deltas[e])
            .sum();
        match read(&all, 10_000) {
            Some(v) => {
                let base = number(&v) - unseen;
                prop_assert!(base == 0 || bases.contains(&base), "{v:?} - {unseen} is no base");
            }
            None => prop_assert!(
                (0..deltas.len()).all(|e| removed.contains(&e)),
                "missing with unseen increments"
            ),
        }
        for r in &rs {
            prop_assert_eq!(read(&merged(&[r, &all]), 10_000), read(&all, 10_000));
        }
    }
}

/// Record bytes of a counter deleted by A after two increments of C, then
/// incremented by A, beside C's concurrent third increment (format 2 with
/// a tag-5 history, `docs/formats/record.md` §3.2). Pinned: records in
/// this form must keep reading the same.
const HISTORY_FIXTURE: &str = concat!(
    "0200020000000000000019000000000000000000010000000000000003000000",
    "0000000003000000000000001902000000013000000000000000000001000000",
    "0000000003000000000000000300000000000000030000000000000000000000",
    "000000001e000000000000000000020000000000000001000000000000000200",
    "0000000000001e00000000000000030000000000000002000000000000000a05",
    "0001000000000000000000000000000000140001000000000000000300000000",
    "0000000200000000000000020000000000000000000002000000013020e47e23",
    "6a726a5b00010000000000000001000000000000000100000000000000010000",
    "000000000000",
);

#[test]
fn a_record_with_a_history_reads_as_documented() {
    let mut a = Siblings::new();
    incr(&mut a, C, 10, 2);
    let mut c = a.clone();
    a.write(None, A, 20, Payload::Tombstone, 0);
    incr(&mut a, A, 30, 1);
    incr(&mut c, C, 25, 1);
    let m = merged(&[&a, &c]);
    let hex: String = m.encode().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, HISTORY_FIXTURE);
    let bytes: Vec<u8> = (0..HISTORY_FIXTURE.len() / 2)
        .map(|i| u8::from_str_radix(&HISTORY_FIXTURE[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let decoded = Siblings::decode(&bytes, 0).unwrap();
    assert_eq!(decoded, m);
    // C's third increment, unseen by the DEL, and A's after it.
    assert_eq!(read(&decoded, 40), Some(Bytes::from("2")));
}

/// A rate limiter: INCR through three coordinators, EXPIRE (a rewrite of
/// the value) at the first of each window. Each window starts clean from
/// the expired counter, so the key remembers at most two lineages (the
/// expired window's and the one its EXPIRE ended), not one per window.
#[test]
fn a_counter_reset_each_window_keeps_one_lineage() {
    let mut r = Siblings::new();
    let mut now = 1_000u64;
    for _ in 0..30 {
        for i in 0..30u64 {
            let actor = 1 + i % 3;
            r.add_int(actor, now, 1).unwrap();
            if i == 0 {
                let v = payload_bytes(&r.live(now).unwrap().payload).unwrap();
                assert_eq!(v, Bytes::from("1"), "each window counts from 0");
                r.write(None, actor, now, Payload::Value(v), now + 60_000);
            }
            now += 1_000;
        }
        now += 31_000;
    }
    assert_eq!(read(&r, now - 31_000), Some(Bytes::from("30")));
    assert!(r.iter().all(|s| s.history.iter().len() <= 2), "{r:?}");
    assert!(r.encode().len() < 600, "{} bytes", r.encode().len());
}
