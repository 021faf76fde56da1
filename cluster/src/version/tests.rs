//! Tests of the version module: vector-clock laws, sibling reconciliation,
//! the counter CRDT with Redis's INCR semantics, and record format 2.

use bytes::Bytes;
use proptest::prelude::*;

use super::codec::{RECORD_FORMAT_V2, TAG_TOMBSTONE};
use super::counter::Slot;
use super::counter_history::Removed;
use super::*;

const A: Actor = 1;
const B: Actor = 2;
const C: Actor = 3;

fn value(s: &str) -> Payload {
    Payload::Value(Bytes::copy_from_slice(s.as_bytes()))
}

fn clock(dots: &[(Actor, u64, u64)]) -> VectorClock {
    VectorClock::from_dots(dots.iter().map(|&(actor, counter, ts_ms)| Dot {
        actor,
        counter,
        ts_ms,
    }))
}

fn merged(a: &Siblings, b: &Siblings) -> Siblings {
    let mut m = a.clone();
    m.merge(b);
    m
}

fn live_bytes(s: &Siblings, now_ms: u64) -> Option<Bytes> {
    s.live(now_ms).and_then(|x| payload_bytes(&x.payload))
}

fn rendered(s: &Siblings) -> Vec<Option<Bytes>> {
    s.iter().map(|x| payload_bytes(&x.payload)).collect()
}

// ---- vector clocks ----

pub(crate) fn arb_clock() -> impl Strategy<Value = VectorClock> {
    prop::collection::vec((0u64..6, 1u64..5, 0u64..4), 0..6).prop_map(|dots| {
        VectorClock::from_dots(dots.into_iter().map(|(actor, counter, ts_ms)| Dot {
            actor,
            counter,
            ts_ms,
        }))
    })
}

proptest! {
    #[test]
    fn clock_merge_is_commutative_associative_idempotent(
        a in arb_clock(), b in arb_clock(), c in arb_clock()
    ) {
        let m = |x: &VectorClock, y: &VectorClock| { let mut z = x.clone(); z.merge(y); z };
        prop_assert_eq!(m(&a, &b), m(&b, &a));
        prop_assert_eq!(m(&m(&a, &b), &c), m(&a, &m(&b, &c)));
        prop_assert_eq!(m(&a, &a), a.clone());
        let ab = m(&a, &b);
        prop_assert!(ab.descends(&a) && ab.descends(&b));
    }

    #[test]
    fn clock_order_is_consistent(a in arb_clock(), b in arb_clock(), actor in 0u64..8) {
        prop_assert!(a.descends(&a));
        prop_assert!(!a.dominates(&a));
        prop_assert!(a.descends(&VectorClock::new()));
        prop_assert_eq!(a.concurrent(&b), b.concurrent(&a));
        prop_assert!(!(a.dominates(&b) && b.dominates(&a)));
        let exactly_one = [a.dominates(&b), b.dominates(&a), a.concurrent(&b),
            a.descends(&b) && b.descends(&a)].iter().filter(|x| **x).count();
        prop_assert_eq!(exactly_one, 1);
        let mut next = a.clone();
        next.increment(actor, 9);
        prop_assert!(next.dominates(&a));
        prop_assert_eq!(next.counter(actor), a.counter(actor) + 1);
    }

    #[test]
    fn context_strings_round_trip(a in arb_clock()) {
        prop_assert_eq!(VectorClock::from_context_string(&a.to_context_string()), Ok(a));
    }
}

#[test]
fn prune_drops_oldest_dots_but_never_young_ones() {
    let day = YOUNG_CLOCK_MS;
    let now = 10 * day;
    let mut c = clock(&[(A, 5, day), (B, 1, 2 * day), (C, 7, now - 1)]);
    c.prune(2, day, now);
    assert_eq!(c, clock(&[(B, 1, 2 * day), (C, 7, now - 1)]));
    c.prune(0, day, now);
    assert_eq!(c, clock(&[(C, 7, now - 1)]), "the young dot stays");
    let mut small = clock(&[(A, 1, 0)]);
    small.prune(1, 0, now);
    assert_eq!(small.len(), 1, "within the bound nothing is pruned");
}

#[test]
fn context_string_detects_typos() {
    let c = clock(&[(A, 3, 100), (B, 1, 200)]);
    let s = c.to_context_string();
    let mut typo = s.clone().into_bytes();
    if let Some(x) = typo.get_mut(10) {
        *x = if *x == b'0' { b'1' } else { b'0' };
    }
    let typo = String::from_utf8(typo).unwrap();
    assert!(matches!(
        VectorClock::from_context_string(&typo),
        Err(DecodeError::ChecksumMismatch { .. })
    ));
    assert_eq!(
        VectorClock::from_context_string(&s[..s.len() - 1]),
        Err(DecodeError::NotHex)
    );
    assert_eq!(
        VectorClock::from_context_string("zz"),
        Err(DecodeError::NotHex)
    );
    assert!(VectorClock::from_context_string("").is_err());
    assert_eq!(
        VectorClock::from_context_string(&VectorClock::new().to_context_string()),
        Ok(VectorClock::new())
    );
}

// ---- siblings ----

#[test]
fn concurrent_writes_become_siblings_and_a_merged_context_supersedes_both() {
    let mut ra = Siblings::new();
    let mut rb = Siblings::new();
    ra.write(None, A, 100, value("from-a"), 0);
    rb.write(None, B, 200, value("from-b"), 0);
    let both = merged(&ra, &rb);
    assert_eq!(both, merged(&rb, &ra));
    assert_eq!(both.len(), 2);
    assert_eq!(
        live_bytes(&both, 300),
        Some(Bytes::from("from-b")),
        "LWW by ts"
    );

    let ctx = both.context();
    let mut rc = both.clone();
    let written = rc.write(Some(&ctx), C, 300, value("resolved"), 0);
    assert_eq!(rc.len(), 1);
    assert!(written.dominates(&ctx));
    // Every replica converges on the resolution.
    assert_eq!(merged(&ra, &rc), rc);
    assert_eq!(merged(&rc, &rb), rc);
}

#[test]
fn a_write_with_a_stale_context_keeps_the_writes_it_did_not_see() {
    let mut r = Siblings::new();
    let first = r.write(None, A, 100, value("v1"), 0);
    r.write(None, A, 110, value("v2"), 0);
    assert_eq!(r.len(), 1, "a write supersedes what its replica held");
    // A client that read v1 writes through B (which holds v2 already).
    r.write(Some(&first), B, 120, value("client"), 0);
    assert_eq!(r.len(), 2);
    let texts: Vec<_> = rendered(&r).into_iter().flatten().collect();
    assert_eq!(texts, vec![Bytes::from("v2"), Bytes::from("client")]);
}

#[test]
fn a_coordinator_never_reuses_its_own_dot_for_a_stale_context() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("v1"), 0);
    let second = r.write(Some(&VectorClock::new()), A, 110, value("blind"), 0);
    assert_eq!(second.counter(A), 2, "a fresh dot, never a reused one");
    // The known limit of per-node clocks (Riak's vnode vclocks): the fresh
    // dot also claims A's earlier write, so it is superseded, not kept as a
    // sibling. Through another coordinator it would be kept (test above).
    assert_eq!(r.len(), 1);
    assert_eq!(live_bytes(&r, 200), Some(Bytes::from("blind")));
}

#[test]
fn tombstones_hide_values_and_expiry_is_per_sibling() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("v"), 1_000);
    assert_eq!(live_bytes(&r, 999), Some(Bytes::from("v")));
    assert_eq!(live_bytes(&r, 1_000), None);
    assert_eq!(r.engine_expire_at_ms(), 1_000);
    r.write(None, A, 200, Payload::Tombstone, 0);
    assert_eq!(r.len(), 1);
    assert!(r.live(300).is_none());
    assert!(r.resolve(300).is_some());
    assert_eq!(r.engine_expire_at_ms(), 0);
}

#[test]
fn writes_prune_their_clock_to_the_bound() {
    let mut r = Siblings::new();
    let now = 10 * YOUNG_CLOCK_MS;
    for actor in 0..40u64 {
        // Old writes by many actors, each seeing the previous ones.
        r.write(None, actor, actor, value("x"), 0);
    }
    let c = r.write(None, 100, now, value("y"), 0);
    assert_eq!(c.len(), MAX_CLOCK_ENTRIES);
    assert_eq!(c.counter(100), 1, "the writer's fresh dot is kept");
    assert_eq!(r.len(), 1);
}

// ---- counters ----

#[test]
fn two_actors_counting_from_a_shared_state_add_up_in_any_merge_order() {
    let mut shared = Siblings::new();
    shared.write(None, C, 10, value("5"), 0);
    let mut ra = shared.clone();
    let mut rb = shared.clone();
    for i in 0..1000 {
        ra.add_int(A, 100 + i, 1).unwrap();
        rb.add_int(B, 100 + i, 1).unwrap();
    }
    let orders = [
        merged(&merged(&ra, &rb), &shared),
        merged(&merged(&rb, &shared), &ra),
        merged(&shared, &merged(&ra, &rb)),
        merged(&merged(&rb, &ra), &merged(&ra, &rb)),
    ];
    for m in &orders {
        assert_eq!(m, &orders[0]);
        assert_eq!(m.len(), 2, "concurrent counters stay siblings");
        assert_eq!(
            live_bytes(m, 5000),
            Some(Bytes::from("2005")),
            "read joins them"
        );
    }
    // Counting continues from the join, and supersedes both.
    let mut m = orders[0].clone();
    assert_eq!(m.add_int(C, 6000, -5), Ok(CounterValue::Int(2000)));
    assert_eq!(m.len(), 1);
    assert_eq!(merged(&m, &ra), m);
}

#[test]
fn two_actors_counting_from_a_missing_key_add_up() {
    let mut ra = Siblings::new();
    let mut rb = Siblings::new();
    for _ in 0..3 {
        ra.add_int(A, 100, 2).unwrap();
        rb.add_int(B, 100, -1).unwrap();
    }
    assert_eq!(live_bytes(&merged(&ra, &rb), 200), Some(Bytes::from("3")));
}

#[test]
fn set_after_counting_supersedes_the_counter() {
    let mut r = Siblings::new();
    r.add_int(A, 100, 7).unwrap();
    let counted = r.clone();
    r.write(None, B, 200, value("hello"), 0);
    assert_eq!(r.len(), 1);
    assert_eq!(live_bytes(&r, 300), Some(Bytes::from("hello")));
    assert_eq!(
        merged(&counted, &r),
        r,
        "the old counter does not come back"
    );
}

#[test]
fn incr_on_a_non_number_errors_and_changes_nothing() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("abc"), 0);
    let before = r.clone();
    assert_eq!(r.add_int(A, 200, 1), Err(CounterError::NotInteger));
    assert_eq!(r.add_float(A, 200, 1.0), Err(CounterError::NotFloat));
    assert_eq!(r, before);
}

#[test]
fn incr_on_a_float_string_is_not_an_integer() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("10.5"), 0);
    assert_eq!(r.add_int(A, 200, 1), Err(CounterError::NotInteger));
    assert_eq!(r.add_float(A, 200, 0.25), Ok(CounterValue::Float(10.75)));
    assert_eq!(live_bytes(&r, 300), Some(Bytes::from("10.75")));
}

#[test]
fn incr_after_incrbyfloat_works_while_the_value_is_integral() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("10"), 0);
    assert_eq!(r.add_float(A, 200, 1.0), Ok(CounterValue::Float(11.0)));
    assert_eq!(live_bytes(&r, 300), Some(Bytes::from("11")));
    assert_eq!(r.add_int(B, 300, 1), Ok(CounterValue::Int(12)));
    assert_eq!(live_bytes(&r, 400), Some(Bytes::from("12")));
    assert_eq!(r.add_float(A, 400, 0.5), Ok(CounterValue::Float(12.5)));
    assert_eq!(r.add_int(A, 500, 1), Err(CounterError::NotInteger));
}

#[test]
fn overflow_errors_and_leaves_the_state_unchanged() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value(&i64::MAX.to_string()), 0);
    let before = r.clone();
    assert_eq!(r.add_int(A, 200, 1), Err(CounterError::Overflow));
    assert_eq!(r, before);
    assert_eq!(r.add_int(A, 200, -1), Ok(CounterValue::Int(i64::MAX - 1)));
    let before = r.clone();
    assert_eq!(r.add_int(A, 300, 2), Err(CounterError::Overflow));
    assert_eq!(r, before);

    let mut c = Counter::new(Bytes::from("1e308"), 0);
    let before = c.clone();
    assert_eq!(c.add_float(A, 1e308), Err(CounterError::NanOrInfinity));
    assert_eq!(c, before);
}

#[test]
fn float_additions_summing_to_zero_leave_a_float_text_an_integer_takes() {
    // Redis: SET k 1e3, INCRBYFLOAT k 0 -> "1000", INCR k -> 1001.
    for (base, delta, then) in [("1e3", 0.0, 1001), ("1e3", -0.0, 1001), ("007", 0.0, 8)] {
        let mut c = Counter::new(Bytes::from(base), 0);
        assert_eq!(
            c.add_int(A, 1),
            Err(CounterError::NotInteger),
            "{base} alone"
        );
        c.add_float(A, delta).unwrap();
        assert_eq!(
            c.add_int(A, 1),
            Ok(CounterValue::Int(then)),
            "{base} + {delta}"
        );
        // And on a replica that joins it in.
        let mut other = Counter::new(Bytes::from(base), 0);
        other.join(&c);
        assert_eq!(other.add_int(2, 1), Ok(CounterValue::Int(then + 1)));
    }
    let mut c = Counter::new(Bytes::from("1e3"), 0);
    c.add_float(A, 0.5).unwrap();
    assert_eq!(c.add_float(A, -0.5), Ok(CounterValue::Float(1000.0)));
    assert_eq!(c.add_int(A, 1), Ok(CounterValue::Int(1001)));
    // An integer base stays integer-typed, exact beyond 2^53.
    let mut c = Counter::new(Bytes::from("9007199254740993"), 0);
    c.add_float(A, 0.0).unwrap();
    assert_eq!(
        c.add_int(A, 2),
        Ok(CounterValue::Int(9_007_199_254_740_995))
    );
}

#[test]
fn counters_keep_the_ttl_and_restart_after_expiry_or_delete() {
    let mut r = Siblings::new();
    r.write(None, A, 100, value("5"), 1_000);
    r.add_int(A, 200, 1).unwrap();
    assert_eq!(r.resolve(300).map(|s| s.expire_at_ms), Some(1_000));
    assert_eq!(r.add_int(A, 1_000, 1), Ok(CounterValue::Int(1)), "expired");
    assert_eq!(r.resolve(1_000).map(|s| s.expire_at_ms), Some(0));
    r.write(None, A, 1_100, Payload::Tombstone, 0);
    assert_eq!(r.add_int(A, 1_200, 3), Ok(CounterValue::Int(3)));
}

#[test]
fn counts_deleted_concurrently_are_not_resurrected_into_a_new_counter() {
    let mut ra = Siblings::new();
    for _ in 0..1000 {
        ra.add_int(A, 100, 1).unwrap();
    }
    let mut rb = ra.clone();
    rb.add_int(B, 150, 1).unwrap(); // concurrent with the delete below
    ra.write(None, A, 200, Payload::Tombstone, 0);
    ra.add_int(A, 300, 1).unwrap();
    let m = merged(&ra, &rb);
    assert_eq!(
        rendered(&m),
        vec![Some(Bytes::from("1001")), Some(Bytes::from("1"))],
        "B's concurrent counter stays a sibling; the new one starts from 0"
    );
}

#[test]
fn counter_join_is_a_semilattice() {
    let mut base = Counter::new(Bytes::from("0"), 0);
    base.add_int(A, 1).unwrap();
    let mut x = base.clone();
    let mut y = base.clone();
    x.add_int(A, 4).unwrap();
    y.add_float(B, 0.5).unwrap();
    let join = |p: &Counter, q: &Counter| {
        let mut r = p.clone();
        r.join(q);
        r
    };
    assert_eq!(join(&x, &y), join(&y, &x));
    assert_eq!(join(&x, &x), x);
    assert_eq!(join(&join(&x, &y), &base), join(&x, &join(&y, &base)));
    assert_eq!(join(&x, &y).value(), Ok(CounterValue::Float(5.5)));
}

#[test]
fn counter_values_follow_redis_integer_and_float_rules() {
    let v = |base: &str| Counter::new(Bytes::copy_from_slice(base.as_bytes()), 0).value();
    assert_eq!(v("-12"), Ok(CounterValue::Int(-12)));
    assert_eq!(v("+12"), Ok(CounterValue::Float(12.0)), "not string2ll");
    assert_eq!(v("012"), Ok(CounterValue::Float(12.0)));
    assert_eq!(v(" 1"), Err(CounterError::NotFloat));
    assert_eq!(v("0x10"), Ok(CounterValue::Float(16.0)));
    assert_eq!(v("nan"), Err(CounterError::NotFloat));
    assert_eq!(v(""), Err(CounterError::NotFloat));
}

// ---- record format 2 ----

#[test]
fn format_2_matches_the_documented_example() {
    let mut r = Siblings::new();
    r.write(None, A, 0x10, value("hi"), 0);
    let hex: String = r.encode().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        concat!(
            "02",
            "0001",
            "0000000000000010",
            "0000000000000000",
            "0001",
            "0000000000000001",
            "0000000000000001",
            "0000000000000010",
            "00",
            "00000002",
            "6869",
        )
    );
    assert_eq!(Siblings::decode(&r.encode(), 0), Ok(r.clone()));
    assert_eq!(
        r.context().to_context_string(),
        "0100010000000000000001000000000000000100000000000000102d2a4a32"
    );
}

#[test]
fn decodes_format_1_as_one_unversioned_value() {
    let s = Siblings::decode(b"\x01\x00hello", 5_000).unwrap();
    assert_eq!(s.len(), 1);
    let only = s.resolve(0).unwrap();
    assert!(only.clock.is_empty());
    assert_eq!((only.ts_ms, only.expire_at_ms), (0, 5_000));
    assert_eq!(only.payload, value("hello"));
    assert_eq!(
        Siblings::decode(b"\x01\x07x", 0),
        Err(DecodeError::UnknownKind { kind: 7 })
    );
    // Any versioned write supersedes the legacy value.
    let mut next = s.clone();
    next.write(None, A, 1, value("new"), 0);
    assert_eq!(merged(&s, &next), next);
}

#[test]
fn decoding_corrupt_records_reports_errors() {
    let mut r = Siblings::new();
    r.write(None, A, 7, value("v"), 0);
    let good = r.encode().to_vec();
    assert!(Siblings::decode(&good, 0).is_ok());
    assert_eq!(Siblings::decode(b"", 0), Err(DecodeError::Empty));
    assert!(matches!(
        Siblings::decode(b"\x03", 0),
        Err(DecodeError::UnsupportedFormat { found: 3, .. })
    ));
    for cut in 1..good.len() {
        assert!(
            matches!(
                Siblings::decode(&good[..cut], 0),
                Err(DecodeError::Truncated { .. })
            ),
            "cut at {cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        Siblings::decode(&trailing, 0),
        Err(DecodeError::TrailingBytes { len: 1, .. })
    ));
    // Header 3 + ts 8 + expiry 8 + clock 2+24: the payload tag.
    let mut bad_tag = good.clone();
    bad_tag[3 + 16 + 26] = 9;
    assert!(matches!(
        Siblings::decode(&bad_tag, 0),
        Err(DecodeError::UnknownPayloadTag { tag: 9, .. })
    ));
    let mut zero_counter = good.clone();
    zero_counter[3 + 16 + 2 + 8..3 + 16 + 2 + 16].fill(0);
    assert!(matches!(
        Siblings::decode(&zero_counter, 0),
        Err(DecodeError::Invalid { .. })
    ));
}

#[test]
fn rejects_unsorted_clocks_and_slots() {
    let mut rec = vec![RECORD_FORMAT_V2, 0, 1];
    rec.extend_from_slice(&[0; 16]);
    rec.extend_from_slice(&2u16.to_be_bytes());
    for actor in [5u64, 3] {
        rec.extend_from_slice(&actor.to_be_bytes());
        rec.extend_from_slice(&1u64.to_be_bytes());
        rec.extend_from_slice(&0u64.to_be_bytes());
    }
    rec.push(TAG_TOMBSTONE);
    assert!(matches!(
        Siblings::decode(&rec, 0),
        Err(DecodeError::Invalid { .. })
    ));
}

#[test]
fn counters_and_tombstones_round_trip() {
    let mut ra = Siblings::new();
    ra.write(None, A, 1, value("1.5"), 99);
    ra.add_float(A, 2, 0.25).unwrap();
    let mut rb = Siblings::new();
    rb.write(None, B, 3, Payload::Tombstone, 0);
    let m = merged(&ra, &rb);
    assert_eq!(m.len(), 2);
    assert_eq!(Siblings::decode(&m.encode(), 0), Ok(m));
}

pub(crate) fn arb_sibling() -> impl Strategy<Value = Sibling> {
    let payload = prop_oneof![
        (0u8..3).prop_map(|v| Payload::Value(Bytes::from(v.to_string()))),
        Just(Payload::Tombstone),
        (0u64..2, prop::collection::vec((1u64..4, -3i64..3), 0..3)).prop_map(|(id, adds)| {
            let mut c = Counter::new(Bytes::from("0"), id);
            for (actor, d) in adds {
                c.add_int(actor, d).unwrap();
            }
            Payload::Counter(c)
        }),
    ];
    let history = prop::collection::vec(
        (0u64..3, prop::collection::vec((1u64..4, 0u64..3), 0..3)),
        0..2,
    )
    .prop_map(|entries| {
        let entries: std::collections::BTreeMap<u64, Removed> = entries
            .into_iter()
            .map(|(lineage, floors)| {
                let floors = floors
                    .into_iter()
                    .map(|(a, seq)| {
                        (
                            a,
                            Slot {
                                seq,
                                int_total: seq as i64,
                                float_total: 0.0,
                            },
                        )
                    })
                    .collect();
                (
                    lineage,
                    Removed {
                        lineage,
                        removed_ms: 1,
                        floors,
                        seen: Default::default(),
                    },
                )
            })
            .collect();
        History::from_sorted(entries.into_values().collect())
    });
    let payload_and_history = prop_oneof![
        (payload.clone(), Just(History::new())),
        (payload, history).prop_map(|(p, h)| match p {
            Payload::Value(_) | Payload::Tombstone | Payload::Counter(_) => (p, h),
            other => (other, History::new()),
        }),
    ];
    (arb_clock(), 0u64..4, 0u64..2, payload_and_history).prop_map(
        |(clock, ts_ms, expire_at_ms, (payload, history))| Sibling {
            clock,
            ts_ms,
            expire_at_ms,
            payload,
            history,
            member_histories: super::MemberHistories::new(),
        },
    )
}

/// Arbitrary sibling sets (also for the keyspace's tests).
pub(crate) fn arb_siblings() -> impl Strategy<Value = Siblings> {
    prop::collection::vec(arb_sibling(), 0..5).prop_map(Siblings::from_iter)
}

proptest! {
    #[test]
    fn sibling_merge_laws_hold_for_arbitrary_sets(
        a in arb_siblings(), b in arb_siblings(), c in arb_siblings()
    ) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert_eq!(merged(&a, &Siblings::new()), a.clone());
        prop_assert_eq!(&Siblings::decode(&a.encode(), 0).unwrap(), &a);
    }
}

// ---- histories: merge laws and round trips on states replicas reach ----

#[derive(Clone, Debug)]
enum Op {
    Set(usize, u8, bool),
    Del(usize),
    Incr(usize, i8),
    IncrFloat(usize, i8),
    PfAdd(usize, u8),
    Sync(usize, usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3, 0u8..4, any::<bool>()).prop_map(|(r, v, blind)| Op::Set(r, v, blind)),
        (0usize..3).prop_map(Op::Del),
        (0usize..3, any::<i8>()).prop_map(|(r, d)| Op::Incr(r, d)),
        (0usize..3, any::<i8>()).prop_map(|(r, d)| Op::IncrFloat(r, d)),
        (0usize..3, any::<u8>()).prop_map(|(r, e)| Op::PfAdd(r, e)),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Op::Sync(a, b)),
    ]
}

/// Runs `ops` on three replicas (actors 1..=3, slightly skewed clocks).
fn run(ops: &[Op]) -> [Siblings; 3] {
    let mut rs: [Siblings; 3] = Default::default();
    for (i, op) in ops.iter().enumerate() {
        let now = |r: usize| 1_000 + 10 * i as u64 + 7 * r as u64;
        match *op {
            Op::Set(r, v, blind) => {
                let ctx = VectorClock::new();
                let text = Payload::Value(Bytes::from(v.to_string()));
                rs[r].write(blind.then_some(&ctx), r as u64 + 1, now(r), text, 0);
            }
            Op::Del(r) => {
                rs[r].write(None, r as u64 + 1, now(r), Payload::Tombstone, 0);
            }
            Op::Incr(r, d) => {
                let _ = rs[r].add_int(r as u64 + 1, now(r), i64::from(d));
            }
            Op::IncrFloat(r, d) => {
                let _ = rs[r].add_float(r as u64 + 1, now(r), f64::from(d) / 4.0);
            }
            Op::PfAdd(r, e) => {
                let _ = rs[r].pf_add(r as u64 + 1, now(r), &[Bytes::from(vec![e])]);
            }
            Op::Sync(from, to) => {
                let src = rs[from].clone();
                rs[to].merge(&src);
            }
        }
    }
    rs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sibling_merge_is_commutative_associative_idempotent(
        ops in prop::collection::vec(arb_op(), 0..40)
    ) {
        let [a, b, c] = run(&ops);
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        for s in [&a, &b, &c] {
            prop_assert_eq!(&Siblings::decode(&s.encode(), 0).unwrap(), s);
            let reported = VectorClock::from_context_string(&s.context().to_context_string());
            prop_assert_eq!(reported, Ok(s.context()));
        }
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Siblings::decode(&bytes, 0);
        let mut v2 = vec![RECORD_FORMAT_V2];
        v2.extend_from_slice(&bytes);
        let _ = Siblings::decode(&v2, 0);
        let _ = VectorClock::from_context_string(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn decoding_mutated_records_never_panics(
        ops in prop::collection::vec(arb_op(), 0..12),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let [a, ..] = run(&ops);
        let mut bytes = a.encode().to_vec();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok(s) = Siblings::decode(&bytes, 0) {
            // Whatever decodes re-encodes to something that decodes the same.
            prop_assert_eq!(Siblings::decode(&s.encode(), 0), Ok(s));
        }
    }
}

// ---- HyperLogLog: concurrent PFADDs all count ----

fn hll_registers(s: &Siblings, now_ms: u64) -> Vec<u8> {
    match s.live(now_ms).map(|x| x.payload.clone()) {
        Some(Payload::Hll(b)) => ringkv_hll::registers(&b).unwrap(),
        None => vec![0; ringkv_hll::REGISTERS],
        other => panic!("not a HyperLogLog: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// PFADDs on three replicas, synced in any order with repeats: once
    /// every replica has seen everything, all hold the same registers, and
    /// they are those of one HyperLogLog that saw every element (the
    /// sequential model).
    #[test]
    fn concurrent_pfadds_converge_to_the_union(
        ops in prop::collection::vec(
            prop_oneof![
                (0usize..3, prop::collection::vec(any::<u16>(), 1..4))
                    .prop_map(|(r, es)| (r, Some(es), 0usize)),
                (0usize..3, 0usize..3).prop_map(|(a, b)| (a, None, b)),
            ],
            0..30,
        )
    ) {
        let mut rs: [Siblings; 3] = Default::default();
        let mut model = ringkv_hll::new_sparse();
        for (i, (r, elements, to)) in ops.into_iter().enumerate() {
            let now = 1_000 + 10 * i as u64 + 7 * r as u64;
            match elements {
                Some(es) => {
                    let es: Vec<Bytes> =
                        es.iter().map(|e| Bytes::from(e.to_be_bytes().to_vec())).collect();
                    for e in &es {
                        ringkv_hll::add(&mut model, e, ringkv_hll::DEFAULT_SPARSE_MAX_BYTES)
                            .unwrap();
                    }
                    rs[r].pf_add(r as u64 + 1, now, &es).unwrap();
                }
                None => {
                    let src = rs[r].clone();
                    rs[to].merge(&src);
                }
            }
        }
        let everything = merged(&merged(&rs[0], &rs[1]), &rs[2]);
        let mut synced = rs.clone();
        for s in &mut synced {
            s.merge(&everything);
        }
        let want = ringkv_hll::registers(&model).unwrap();
        for s in &synced {
            prop_assert_eq!(s, &synced[0]);
            prop_assert_eq!(hll_registers(s, 10_000), want.clone());
        }
    }
}

#[test]
fn a_set_after_pfadd_wins_and_a_pfadd_after_set_checks_the_type() {
    let mut s = Siblings::new();
    assert_eq!(s.pf_add(A, 10, &[Bytes::from("x")]), Ok(true));
    assert_eq!(s.pf_add(A, 11, &[Bytes::from("x")]), Ok(false));
    s.write(None, A, 12, value("plain"), 0);
    assert_eq!(
        s.pf_add(A, 13, &[Bytes::from("x")]),
        Err(ringkv_hll::Invalid::NotHll)
    );
    assert_eq!(live_bytes(&s, 14), Some(Bytes::from("plain")));
    // A concurrent PFADD and SET: last write wins, as for any two writes.
    let mut a = Siblings::new();
    a.pf_add(A, 20, &[Bytes::from("y")]).unwrap();
    let mut b = Siblings::new();
    b.write(None, B, 21, value("later"), 0);
    assert_eq!(live_bytes(&merged(&a, &b), 30), Some(Bytes::from("later")));
    // Deleted, then PFADD: a new HyperLogLog, the old elements gone.
    let mut d = Siblings::new();
    d.pf_add(A, 40, &[Bytes::from("old")]).unwrap();
    d.write(None, A, 41, Payload::Tombstone, 0);
    assert_eq!(d.pf_add(A, 42, &[Bytes::from("new")]), Ok(true));
    let regs = hll_registers(&d, 50);
    assert_eq!(ringkv_hll::estimate(&regs), 1);
    // The payload survives the record codec.
    assert_eq!(Siblings::decode(&d.encode(), 0), Ok(d));
}

/// The common record, one value written over what its writer had seen,
/// takes the point read's shortcut; a counter, two siblings and a
/// tombstone do not.
#[test]
fn a_plain_value_is_read_without_decoding_its_record() {
    let mut plain = Siblings::new();
    plain.write(None, A, 1, value("hello"), 99);
    assert_eq!(
        codec::peek_plain_value(&plain.encode()),
        Some((99, Bytes::from("hello")))
    );
    let mut number = Siblings::new();
    number.write(None, A, 1, value("1"), 0);
    number.add_int(A, 2, 1).unwrap();
    assert_eq!(codec::peek_plain_value(&number.encode()), None);
    let mut concurrent = Siblings::new();
    concurrent.write(None, B, 3, value("other"), 0);
    assert_eq!(
        codec::peek_plain_value(&merged(&plain, &concurrent).encode()),
        None
    );
    let mut deleted = Siblings::new();
    deleted.write(None, A, 1, Payload::Tombstone, 0);
    assert_eq!(codec::peek_plain_value(&deleted.encode()), None);
}
