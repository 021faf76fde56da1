//! Tests of hash-field and sorted-set counters removed or replaced
//! concurrently with increments elsewhere ([`super::member_history`]): no
//! acknowledged increment is lost, none the removal had seen comes back,
//! and every replica reads the same value.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const A: Actor = 1;
const B: Actor = 2;
const C: Actor = 3;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn merged(parts: &[&Siblings]) -> Siblings {
    let mut m = Siblings::new();
    for p in parts {
        m.merge(p);
    }
    m
}

fn op(s: &mut Siblings, actor: Actor, now: u64, op: CollectionOp) -> CollectionReply {
    s.apply_collection(actor, now, &op).unwrap()
}

fn hincrby(s: &mut Siblings, actor: Actor, now: u64, field: &str, delta: i64) -> CollectionReply {
    let member = b(field);
    op(s, actor, now, CollectionOp::AddInt { member, delta })
}

fn hdel(s: &mut Siblings, actor: Actor, now: u64, field: &str) {
    let members = vec![b(field)];
    let kind = Kind::Hash;
    op(s, actor, now, CollectionOp::Remove { kind, members });
}

fn hset(s: &mut Siblings, actor: Actor, now: u64, field: &str, value: &str) {
    let pairs = vec![(b(field), b(value))];
    let (kind, if_absent) = (Kind::Hash, false);
    op(
        s,
        actor,
        now,
        CollectionOp::Put {
            kind,
            pairs,
            if_absent,
        },
    );
}

fn del(s: &mut Siblings, actor: Actor, now: u64) {
    s.write(None, actor, now, Payload::Tombstone, 0);
}

/// Every member with the value a read shows (empty when the key is absent).
fn members(s: &Siblings) -> BTreeMap<Bytes, Bytes> {
    match s.view(1_000_000) {
        View::Collection { collection, .. } => collection.to_members().map,
        _ => BTreeMap::new(),
    }
}

fn field(s: &Siblings, f: &str) -> Option<Bytes> {
    members(s).get(f.as_bytes()).cloned()
}

/// Every order of merging three replicas reads `want` for `f`, and so does
/// each replica joined with the merge.
fn agree(parts: [&Siblings; 3], f: &str, want: Option<&str>) {
    let want = want.map(b);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let m = merged(&[parts[order[0]], parts[order[1]], parts[order[2]]]);
        assert_eq!(field(&m, f), want, "merge order {order:?}");
        for p in parts {
            assert_eq!(field(&merged(&[p, &m]), f), want);
        }
        let decoded = Siblings::decode(&m.encode(), 0).unwrap();
        assert_eq!(decoded, m, "round trip");
    }
}

/// f = 5 (by A), g keeps the hash alive. Through a partition: HDEL f, then
/// HINCRBY f 2, on one side; HINCRBY f 3 on the cut-off C. The HDEL removed
/// the 5; both later increments count.
#[test]
fn increments_on_both_sides_of_a_concurrent_hdel_all_count() {
    let mut a = Siblings::new();
    hincrby(&mut a, A, 10, "f", 5);
    hset(&mut a, A, 11, "g", "x");
    let mut c = a.clone();
    hdel(&mut a, A, 20, "f");
    let mut bb = a.clone();
    hincrby(&mut bb, B, 21, "f", 2);
    hincrby(&mut c, C, 22, "f", 3);
    agree([&a, &bb, &c], "f", Some("5"));
    // Later increments, anywhere, add exactly themselves.
    let mut m = merged(&[&a, &bb, &c]);
    assert_eq!(
        hincrby(&mut m, A, 30, "f", 1),
        CollectionReply::Value(b("6"))
    );
    agree([&m, &c, &bb], "f", Some("6"));
    let mut again = c.clone();
    hincrby(&mut again, C, 31, "f", 10);
    agree([&m, &again, &a], "f", Some("16"));
}

/// Without the later increment on the HDEL's side: only the cut-off
/// replica's unseen increment is left, and a replica that continued its
/// own earlier increments gets back only the part the HDEL had not seen.
#[test]
fn an_hdel_removes_exactly_the_increments_it_had_seen() {
    let mut a = Siblings::new();
    hincrby(&mut a, A, 10, "f", 5);
    hincrby(&mut a, C, 11, "f", 4);
    hset(&mut a, A, 12, "g", "x");
    let mut c = a.clone();
    let mut again = a.clone();
    hdel(&mut a, B, 20, "f");
    hincrby(&mut c, C, 22, "f", 3);
    agree([&a, &c, &a], "f", Some("3"));
    // A, who had made the 5, adds 2 concurrently with the HDEL: 2.
    hincrby(&mut again, A, 21, "f", 2);
    agree([&a, &again, &a], "f", Some("2"));
    agree([&a, &again, &c], "f", Some("5"));
    // Nothing unseen: the field stays deleted.
    agree([&a, &a, &a], "f", None);
}

/// The last field deleted (a tombstone), and DEL of the key: the same.
#[test]
fn a_deletion_of_the_key_removes_exactly_what_it_had_seen() {
    for by_del in [false, true] {
        let mut a = Siblings::new();
        hincrby(&mut a, A, 10, "f", 5);
        let mut c = a.clone();
        if by_del {
            del(&mut a, A, 20);
        } else {
            hdel(&mut a, A, 20, "f");
        }
        assert!(members(&a).is_empty());
        let mut bb = a.clone();
        hincrby(&mut bb, B, 21, "f", 2);
        hincrby(&mut c, C, 22, "f", 3);
        agree([&a, &c, &a], "f", Some("3"));
        agree([&a, &bb, &c], "f", Some("5"));
    }
}

/// Found by the property below: a hash whose last counter field an HDEL
/// removed, and whose other field a concurrent DEL removed, reads as
/// missing; the next write over it must keep the HDEL's record, or the
/// increments it had removed come back.
#[test]
fn a_write_over_a_hash_emptied_by_concurrent_deletions_keeps_what_they_removed() {
    let (mut r0, mut r1, mut r2) = (Siblings::new(), Siblings::new(), Siblings::new());
    hset(&mut r0, A, 1_000, "other", "x");
    r2.merge(&r0);
    hincrby(&mut r0, A, 1_010, "g", -1);
    del(&mut r2, C, 1_020);
    r1.merge(&r0);
    hdel(&mut r1, B, 1_030, "g");
    r1.merge(&r2);
    // r1 now holds its hash (no member left but "other", which r2's DEL
    // removed) beside r2's tombstone: a read sees no key.
    assert!(members(&r1).is_empty());
    hincrby(&mut r0, A, 1_040, "g", 0);
    hincrby(&mut r1, B, 1_050, "f", 0);
    // The HDEL had seen the -1; the later 0 from A counts.
    agree([&r0, &r1, &r2], "g", Some("0"));
    agree([&r0, &r1, &r2], "f", Some("0"));
}

/// HSET over a counter: its value plus the increments it had not seen.
#[test]
fn an_hset_over_a_counter_keeps_the_increments_it_had_not_seen() {
    let mut a = Siblings::new();
    hincrby(&mut a, A, 10, "f", 5);
    let mut c = a.clone();
    hset(&mut a, A, 20, "f", "100");
    hincrby(&mut c, C, 22, "f", 3);
    agree([&a, &c, &a], "f", Some("103"));
    let mut m = merged(&[&a, &c]);
    assert_eq!(
        hincrby(&mut m, B, 30, "f", 1),
        CollectionReply::Value(b("104"))
    );
    // A text value wins whole, as SET of a string does.
    let mut t = merged(&[&a, &c]);
    hset(&mut t, A, 40, "f", "hello");
    let mut c2 = c.clone();
    hincrby(&mut c2, C, 23, "f", 1);
    assert_eq!(field(&merged(&[&t, &c2]), "f"), Some(b("hello")));
}

/// ZINCRBY against a concurrent ZREM, in a sorted set.
#[test]
fn zincrby_and_zrem_of_one_member_count_what_the_zrem_had_not_seen() {
    let zincrby = |s: &mut Siblings, actor, now, by: f64| {
        let pairs = vec![(b("m"), by)];
        op(
            s,
            actor,
            now,
            CollectionOp::ZAdd {
                pairs,
                flags: zadd::INCR,
            },
        );
    };
    let mut a = Siblings::new();
    zincrby(&mut a, A, 10, 5.0);
    let pairs = vec![(b("other"), 1.0)];
    op(&mut a, A, 11, CollectionOp::ZAdd { pairs, flags: 0 });
    let mut c = a.clone();
    let members = vec![b("m")];
    op(
        &mut a,
        A,
        20,
        CollectionOp::Remove {
            kind: Kind::ZSet,
            members,
        },
    );
    let mut bb = a.clone();
    zincrby(&mut bb, B, 21, 2.0);
    zincrby(&mut c, C, 22, 3.0);
    agree([&a, &bb, &c], "m", Some("5"));
}

/// What the histories cost, and that they are forgotten: at most
/// `MAX_MEMBER_HISTORIES` members, for a day.
#[test]
fn member_histories_stay_bounded() {
    let mut s = Siblings::new();
    hset(&mut s, A, 1, "keep", "x");
    for i in 0..40 {
        let f = format!("f{i}");
        hincrby(&mut s, A, 10 + i, &f, 1);
        hdel(&mut s, A, 10 + i, &f);
    }
    let size = s.encode().len();
    let View::Collection { collection, .. } = s.view(100) else {
        panic!("a hash");
    };
    assert_eq!(
        collection.member_histories().len(),
        member_history::MAX_MEMBER_HISTORIES
    );
    assert!(size < 3_000, "{size} bytes");
    // A write a day later forgets them.
    let later = 10 + counter_history::HISTORY_MAX_AGE_MS + 100;
    hset(&mut s, A, later, "keep", "y");
    hdel(&mut s, A, later, "keep2");
    let View::Collection { collection, .. } = s.view(later) else {
        panic!("a hash");
    };
    assert!(collection.member_histories().iter().len() <= 1);
    assert!(s.encode().len() < 200);
}

/// One step of a random history on three replicas.
#[derive(Clone, Debug)]
enum Op {
    /// HINCRBY on replica .0 of field .1 by .2.
    Incr(usize, usize, i8),
    /// HDEL of field .1 on replica .0.
    Hdel(usize, usize),
    /// DEL of the key on replica .0.
    Del(usize),
    /// HSET of the other field on replica .0 (the hash may stay alive).
    Other(usize),
    /// Replica .1 merges replica .0.
    Sync(usize, usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..3, 0usize..2, any::<i8>()).prop_map(|(r, f, d)| Op::Incr(r, f, d)),
        1 => (0usize..3, 0usize..2).prop_map(|(r, f)| Op::Hdel(r, f)),
        1 => (0usize..3).prop_map(Op::Del),
        1 => (0usize..3).prop_map(Op::Other),
        3 => (0usize..3, 0usize..3).prop_map(|(a, b)| Op::Sync(a, b)),
    ]
}

const FIELDS: [&str; 2] = ["f", "g"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Observed-remove for hash-field counters: after every replica has
    /// seen every write, each reads for each field the sum of the
    /// increments no HDEL of it or DEL of the key had seen when it was
    /// made, and the field exists exactly when there is one, whatever the
    /// skew of the replicas' clocks and the order of delivery.
    #[test]
    fn every_field_increment_no_removal_saw_counts_once(
        ops in prop::collection::vec(arb_op(), 0..40),
        skew in prop::collection::vec(0u64..50, 3),
        order in Just([0usize, 1, 2]).prop_shuffle(),
    ) {
        let mut rs: [Siblings; 3] = Default::default();
        let mut known: [BTreeSet<usize>; 3] = Default::default();
        // Per increment: its field and delta.
        let mut incs: Vec<(usize, i64)> = Vec::new();
        let mut removed: BTreeSet<usize> = BTreeSet::new();
        let mut removals = [0usize; 2];
        for (i, op) in ops.iter().enumerate() {
            let now = |r: usize| 1_000 + 10 * i as u64 + skew[r];
            let actor = |r: usize| r as u64 + 1;
            match *op {
                Op::Incr(r, f, d) => {
                    let op = CollectionOp::AddInt { member: b(FIELDS[f]), delta: i64::from(d) };
                    if rs[r].apply_collection(actor(r), now(r), &op).is_ok() {
                        known[r].insert(incs.len());
                        incs.push((f, i64::from(d)));
                    }
                }
                // More removals than a history remembers lineages would
                // test pruning, not the rule.
                Op::Hdel(r, f) if removals[f] < counter_history::MAX_REMOVED_LINEAGES - 2 => {
                    removals[f] += 1;
                    hdel(&mut rs[r], actor(r), now(r), FIELDS[f]);
                    removed.extend(known[r].iter().copied().filter(|&e| incs[e].0 == f));
                }
                Op::Del(r) if removals.iter().all(|&n| n < counter_history::MAX_REMOVED_LINEAGES - 2) => {
                    removals.iter_mut().for_each(|n| *n += 1);
                    del(&mut rs[r], actor(r), now(r));
                    removed.extend(known[r].iter().copied());
                }
                Op::Hdel(..) | Op::Del(_) => {}
                Op::Other(r) => hset(&mut rs[r], actor(r), now(r), "other", "x"),
                Op::Sync(from, to) => {
                    let src = rs[from].clone();
                    rs[to].merge(&src);
                    let k = known[from].clone();
                    known[to].extend(k);
                }
            }
        }
        let all = merged(&[&rs[order[0]], &rs[order[1]], &rs[order[2]]]);
        for (f, name) in FIELDS.iter().enumerate() {
            let unseen: Vec<i64> = incs
                .iter()
                .enumerate()
                .filter(|(e, (ef, _))| *ef == f && !removed.contains(e))
                .map(|(_, (_, d))| *d)
                .collect();
            let expected = (!unseen.is_empty()).then(|| b(&unseen.iter().sum::<i64>().to_string()));
            prop_assert_eq!(field(&all, name), expected.clone(), "field {}", name);
            for r in &rs {
                prop_assert_eq!(field(&merged(&[r, &all]), name), expected.clone());
            }
            // An increment after everything adds exactly itself.
            let mut next = all.clone();
            let before: i64 = expected.as_ref().map_or(0, |v| String::from_utf8_lossy(v).parse().unwrap());
            let reply = hincrby(&mut next, A, 20_000, name, 1);
            prop_assert_eq!(reply, CollectionReply::Value(b(&(before + 1).to_string())));
            for r in &rs {
                prop_assert_eq!(
                    field(&merged(&[&next, r]), name),
                    Some(b(&(before + 1).to_string()))
                );
            }
        }
        let decoded = Siblings::decode(&all.encode(), 0);
        prop_assert_eq!(decoded.as_ref(), Ok(&all));
    }
}

/// The bytes of a hash whose counter field was deleted after an increment
/// and incremented again (record format 2 with a tag-6 prefix,
/// `docs/formats/record.md` §3.2), pinned so the format cannot drift.
#[test]
fn a_record_with_member_histories_reads_as_documented() {
    let mut s = Siblings::new();
    hincrby(&mut s, A, 0x10, "f", 5);
    hdel(&mut s, A, 0x20, "f");
    hincrby(&mut s, A, 0x30, "f", 2);
    let hex: String = s.encode().iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(hex, PINNED);
    let back = Siblings::decode(&s.encode(), 0).unwrap();
    assert_eq!(back, s);
    assert_eq!(field(&back, "f"), Some(b("2")));
}

const PINNED: &str = concat!(
    "0200010000000000000030000000000000000000010000000000000001000000",
    "0000000003000000000000003006000100000001660100000000000000200000",
    "0000000000010000000000000002000100000000000000000000000000000020",
    "0001000000000000000100000000000000010000000000000005000000000000",
    "0000000004010000000100000001660001000000000000000100000000000000",
    "030000000000000030010000000130291614164b9be2f3000100000000000000",
    "01000000000000000100000000000000020000000000000000",
);

#[test]
fn resolved_bytes_reads_what_resolve_member_reads() {
    use super::collection::{Element, Item, Tag};
    use super::counter::Counter;
    use super::member_history::{MemberHistory, resolve_member, resolved_bytes};
    let item = |actor: Actor, counter: u64, ts_ms: u64, element: Element| Item {
        tag: Tag { actor, counter },
        ts_ms,
        element,
    };
    let mut counted = Counter::new(b("10"), 7);
    counted.join(&Counter::new(b("10"), 7));
    let cases: Vec<Vec<Item>> = vec![
        vec![item(A, 1, 5, Element::Value(b("one value")))],
        vec![item(A, 1, 5, Element::Value(b(&"x".repeat(300))))],
        vec![
            item(A, 1, 5, Element::Value(b("older"))),
            item(B, 1, 9, Element::Value(b("newer"))),
        ],
        vec![item(A, 1, 5, Element::Counter(counted))],
        vec![
            item(A, 1, 5, Element::Counter(Counter::new(b("3"), 1))),
            item(C, 2, 4, Element::Counter(Counter::new(b("3"), 1))),
        ],
    ];
    for items in cases {
        let want = resolve_member(&items, None).map(|e| e.bytes());
        assert_eq!(
            resolved_bytes(items.clone(), None, Kind::Hash),
            want,
            "{items:?}"
        );
        let empty = MemberHistory::default();
        assert_eq!(resolved_bytes(items, Some(&empty), Kind::Hash), want);
    }
}
