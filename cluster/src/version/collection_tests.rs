//! Tests of hashes and sets as observed-remove maps: the documented
//! outcomes of concurrent commands, convergence of random histories on
//! three replicas whatever the delivery order (duplicates, drops and
//! redeliveries included), and agreement with a sequential model when
//! every write is delivered before the next.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const A: Actor = 1;
const B: Actor = 2;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn merged(a: &Siblings, b: &Siblings) -> Siblings {
    let mut m = a.clone();
    m.merge(b);
    m
}

fn hset(s: &mut Siblings, actor: Actor, now: u64, field: &str, value: &str) {
    let op = CollectionOp::Put {
        kind: Kind::Hash,
        pairs: vec![(b(field), b(value))],
        if_absent: false,
    };
    s.apply_collection(actor, now, &op).unwrap();
}

fn hdel(s: &mut Siblings, actor: Actor, now: u64, field: &str) {
    let op = CollectionOp::Remove {
        kind: Kind::Hash,
        members: vec![b(field)],
    };
    s.apply_collection(actor, now, &op).unwrap();
}

fn hincrby(s: &mut Siblings, actor: Actor, now: u64, field: &str, delta: i64) {
    let op = CollectionOp::AddInt {
        member: b(field),
        delta,
    };
    s.apply_collection(actor, now, &op).unwrap();
}

/// What a read shows: `None` absent, `Some(Err)` a string, `Some(Ok)` a hash.
fn shown(s: &Siblings, now: u64) -> Option<Result<BTreeMap<Bytes, Bytes>, Bytes>> {
    match s.view(now) {
        View::Absent => None,
        View::Plain(p) => Some(Err(payload_bytes(&p.payload).unwrap_or_default())),
        View::Collection { collection, .. } => Some(Ok(collection.to_members().map)),
    }
}

fn fields(s: &Siblings) -> BTreeMap<String, String> {
    match shown(s, 1_000_000) {
        Some(Ok(m)) => m
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into(),
                    String::from_utf8_lossy(&v).into(),
                )
            })
            .collect(),
        other => panic!("not a hash: {other:?}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn concurrent_hsets_of_different_fields_both_survive() {
    let mut base = Siblings::new();
    hset(&mut base, A, 10, "f0", "x");
    let (mut a, mut c) = (base.clone(), base.clone());
    hset(&mut a, A, 20, "f1", "a");
    hset(&mut c, B, 21, "f2", "b");
    let m = merged(&a, &c);
    assert_eq!(fields(&m), map(&[("f0", "x"), ("f1", "a"), ("f2", "b")]));
    // A write through either side afterwards keeps all three.
    let mut after = m.clone();
    hset(&mut after, A, 30, "f3", "c");
    assert_eq!(fields(&after).len(), 4);
    assert_eq!(fields(&merged(&after, &c)).len(), 4);
}

#[test]
fn a_removal_keeps_a_concurrent_add_of_the_same_member() {
    let mut base = Siblings::new();
    hset(&mut base, A, 10, "f", "old");
    let (mut remover, mut adder) = (base.clone(), base.clone());
    hdel(&mut remover, A, 20, "f");
    hset(&mut adder, B, 21, "f", "new");
    let m = merged(&remover, &adder);
    assert_eq!(fields(&m), map(&[("f", "new")]));
    // Even when the removal is the later write.
    let (mut remover, mut adder) = (base.clone(), base);
    hset(&mut adder, B, 20, "f", "new");
    hdel(&mut remover, A, 30, "f");
    assert_eq!(fields(&merged(&adder, &remover)), map(&[("f", "new")]));
}

#[test]
fn re_adding_a_present_member_wins_over_a_concurrent_removal() {
    let mut base = Siblings::new();
    let sadd = CollectionOp::Put {
        kind: Kind::Set,
        pairs: vec![(b("x"), Bytes::new())],
        if_absent: false,
    };
    assert_eq!(
        base.apply_collection(A, 10, &sadd),
        Ok(CollectionReply::Count(1))
    );
    let (mut remover, mut adder) = (base.clone(), base);
    let srem = CollectionOp::Remove {
        kind: Kind::Set,
        members: vec![b("x")],
    };
    remover.apply_collection(A, 30, &srem).unwrap();
    // Redis counts nothing added, yet the add is a fresh write.
    assert_eq!(
        adder.apply_collection(B, 20, &sadd),
        Ok(CollectionReply::Count(0))
    );
    assert_eq!(fields(&merged(&remover, &adder)), map(&[("x", "")]));
}

#[test]
fn del_removes_what_it_saw_and_keeps_a_concurrent_new_field() {
    let mut base = Siblings::new();
    hset(&mut base, A, 10, "seen", "1");
    let (mut deleter, mut writer) = (base.clone(), base);
    deleter.write(None, A, 30, Payload::Tombstone, 0);
    hset(&mut writer, B, 20, "new", "2");
    let m = merged(&deleter, &writer);
    assert_eq!(fields(&m), map(&[("new", "2")]));
    // The deleter alone sees nothing.
    assert!(shown(&deleter, 40).is_none());
}

#[test]
fn concurrent_hincrbys_all_count() {
    let mut base = Siblings::new();
    hset(&mut base, A, 10, "n", "5");
    let (mut a, mut c) = (base.clone(), base);
    for i in 0..10 {
        hincrby(&mut a, A, 20 + i, "n", 1);
        hincrby(&mut c, B, 20 + i, "n", 2);
    }
    let m = merged(&a, &c);
    assert_eq!(fields(&m), map(&[("n", "35")]));
    // Incrementing the join continues from the total.
    let mut after = m;
    hincrby(&mut after, A, 100, "n", 1);
    assert_eq!(fields(&after), map(&[("n", "36")]));
    assert_eq!(fields(&merged(&after, &c)), map(&[("n", "36")]));
}

#[test]
fn the_same_field_written_concurrently_shows_the_later_write_everywhere() {
    let (mut a, mut c) = (Siblings::new(), Siblings::new());
    hset(&mut a, A, 20, "f", "early");
    hset(&mut c, B, 25, "f", "late");
    assert_eq!(fields(&merged(&a, &c)), map(&[("f", "late")]));
    assert_eq!(fields(&merged(&c, &a)), map(&[("f", "late")]));
}

#[test]
fn a_string_and_a_hash_written_concurrently_resolve_by_the_later_write() {
    let mut h = Siblings::new();
    hset(&mut h, A, 20, "f", "v");
    let mut s = Siblings::new();
    s.write(None, B, 30, Payload::Value(b("str")), 0);
    assert_eq!(shown(&merged(&h, &s), 40), Some(Err(b("str"))));
    let mut later_hash = Siblings::new();
    hset(&mut later_hash, A, 50, "f", "v");
    let m = merged(&later_hash, &s);
    assert_eq!(fields(&m), map(&[("f", "v")]));
    // A hash command on the string answers WRONGTYPE and changes nothing.
    let mut on_string = s.clone();
    let op = CollectionOp::Remove {
        kind: Kind::Hash,
        members: vec![b("f")],
    };
    assert_eq!(
        on_string.apply_collection(A, 60, &op),
        Err(OpError::WrongType)
    );
    assert_eq!(on_string, s);
    // And INCR on a hash answers WRONGTYPE too.
    let mut on_hash = later_hash.clone();
    assert_eq!(
        on_hash.add_int(A, 60, 1),
        Err(counter::CounterError::WrongType)
    );
}

#[test]
fn emptying_a_collection_deletes_the_key_and_a_new_write_starts_afresh() {
    let mut s = Siblings::new();
    hset(&mut s, A, 10, "a", "1");
    hdel(&mut s, A, 11, "a");
    assert!(shown(&s, 12).is_none());
    assert!(s.iter().all(|x| x.payload == Payload::Tombstone));
    hset(&mut s, A, 13, "b", "2");
    assert_eq!(fields(&s), map(&[("b", "2")]));
    // The record codec keeps every tag.
    assert_eq!(Siblings::decode(&s.encode(), 0), Ok(s));
}

#[test]
fn an_expired_hash_is_absent_and_a_write_after_expiry_starts_empty() {
    let mut s = Siblings::new();
    let op = CollectionOp::Replace {
        kind: Kind::Hash,
        pairs: vec![(b("a"), b("1"))],
        expire_at_ms: 100,
    };
    s.apply_collection(A, 10, &op).unwrap();
    assert!(matches!(
        s.view(50),
        View::Collection {
            expire_at_ms: 100,
            ..
        }
    ));
    assert!(shown(&s, 100).is_none());
    hset(&mut s, A, 150, "b", "2");
    assert_eq!(fields(&s), map(&[("b", "2")]));
}

fn expire(s: &mut Siblings, actor: Actor, now: u64, at: u64) -> CollectionReply {
    let op = CollectionOp::Expire {
        kind: Kind::Hash,
        expire_at_ms: at,
    };
    s.apply_collection(actor, now, &op).unwrap()
}

fn expiry(s: &Siblings, now: u64) -> Option<u64> {
    match s.view(now) {
        View::Collection { expire_at_ms, .. } => Some(expire_at_ms),
        _ => None,
    }
}

#[test]
fn a_new_expiry_keeps_the_members_and_their_tags() {
    let mut base = Siblings::new();
    assert_eq!(expire(&mut base, A, 5, 1_000), CollectionReply::Count(0));
    assert!(base.is_empty(), "EXPIRE of an absent key writes nothing");
    hset(&mut base, A, 10, "f", "1");
    hset(&mut base, A, 11, "g", "2");
    let (mut expirer, mut remover) = (base.clone(), base.clone());
    assert_eq!(
        expire(&mut expirer, A, 20, 5_000_000),
        CollectionReply::Count(1)
    );
    assert_eq!(expiry(&expirer, 30), Some(5_000_000));
    assert_eq!(fields(&expirer), map(&[("f", "1"), ("g", "2")]));
    // A concurrent HDEL elsewhere: the EXPIRE did not re-add what it
    // removed (a whole-record rewrite with fresh tags would have).
    hdel(&mut remover, B, 21, "f");
    let m = merged(&expirer, &remover);
    assert_eq!(fields(&m), map(&[("g", "2")]));
    assert_eq!(m, merged(&remover, &expirer));
    // The same expiry again changes nothing; PERSIST (0) takes it away.
    let before = expirer.clone();
    assert_eq!(
        expire(&mut expirer, A, 40, 5_000_000),
        CollectionReply::Count(1)
    );
    assert_eq!(expirer, before);
    expire(&mut expirer, A, 50, 0);
    assert_eq!(expiry(&expirer, 10_000), Some(0));
    // Another type refuses it.
    let mut set = Siblings::new();
    let sadd = CollectionOp::Put {
        kind: Kind::Set,
        pairs: vec![(b("x"), Bytes::new())],
        if_absent: false,
    };
    set.apply_collection(A, 10, &sadd).unwrap();
    let op = CollectionOp::Expire {
        kind: Kind::Hash,
        expire_at_ms: 99,
    };
    assert_eq!(set.apply_collection(A, 20, &op), Err(OpError::WrongType));
}

#[test]
fn collection_ops_round_trip_their_wire_encoding() {
    let ops = [
        CollectionOp::Put {
            kind: Kind::Set,
            pairs: vec![(b("m"), Bytes::new())],
            if_absent: true,
        },
        CollectionOp::Remove {
            kind: Kind::Hash,
            members: vec![b("a"), b("")],
        },
        CollectionOp::AddInt {
            member: b("n"),
            delta: -7,
        },
        CollectionOp::AddFloat {
            member: b("f"),
            delta: 0.5,
        },
        CollectionOp::Pop {
            kind: Kind::Set,
            count: 3,
            end: PopEnd::Max,
        },
        CollectionOp::ZAdd {
            pairs: vec![(b("m"), 1.5), (b("n"), f64::NEG_INFINITY)],
            flags: zadd::GT | zadd::CH,
        },
        CollectionOp::Replace {
            kind: Kind::Hash,
            pairs: vec![(b("k"), b("v"))],
            expire_at_ms: 99,
        },
        CollectionOp::Expire {
            kind: Kind::ZSet,
            expire_at_ms: 1_700_000_000_000,
        },
        CollectionOp::RemoveScores {
            min: f64::NEG_INFINITY,
            min_exclusive: false,
            max: 2.5,
            max_exclusive: true,
        },
    ];
    for op in ops {
        let enc = op.encode();
        assert_eq!(CollectionOp::decode(&enc), Some(op));
        for cut in 0..enc.len() {
            assert_eq!(CollectionOp::decode(&enc.slice(..cut)), None);
        }
    }
    for r in [
        CollectionReply::Count(5),
        CollectionReply::Value(b("1.5")),
        CollectionReply::Pairs(vec![(b("a"), b("1")), (b("bc"), b(""))]),
        CollectionReply::Nil,
    ] {
        assert_eq!(CollectionReply::decode(&r.encode()), Some(r));
    }
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    HSet(usize, u8, u8),
    HDel(usize, u8),
    HIncr(usize, u8, i8),
    Del(usize),
    SetString(usize),
    /// Copy replica `.0`'s state into replica `.1` (may repeat or never
    /// happen: drops, duplicates and redeliveries).
    Sync(usize, usize),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, 0u8..5, 0u8..4).prop_map(|(r, f, v)| Step::HSet(r, f, v)),
        2 => (0usize..3, 0u8..5).prop_map(|(r, f)| Step::HDel(r, f)),
        2 => (0usize..3, 5u8..7, any::<i8>()).prop_map(|(r, f, d)| Step::HIncr(r, f, d)),
        1 => (0usize..3).prop_map(Step::Del),
        1 => (0usize..3).prop_map(Step::SetString),
        4 => (0usize..3, 0usize..3).prop_map(|(a, b)| Step::Sync(a, b)),
    ]
}

fn field(f: u8) -> String {
    format!("f{f}")
}

/// Applies `step` to the replicas' states.
fn apply(rs: &mut [Siblings; 3], i: usize, step: &Step) {
    let now = |r: usize| 1_000 + 10 * i as u64 + 3 * r as u64;
    let actor = |r: usize| r as Actor + 1;
    match *step {
        Step::HSet(r, f, v) => {
            let op = CollectionOp::Put {
                kind: Kind::Hash,
                pairs: vec![(b(&field(f)), b(&v.to_string()))],
                if_absent: false,
            };
            let _ = rs[r].apply_collection(actor(r), now(r), &op);
        }
        Step::HDel(r, f) => {
            let op = CollectionOp::Remove {
                kind: Kind::Hash,
                members: vec![b(&field(f))],
            };
            let _ = rs[r].apply_collection(actor(r), now(r), &op);
        }
        Step::HIncr(r, f, d) => {
            let op = CollectionOp::AddInt {
                member: b(&field(f)),
                delta: i64::from(d),
            };
            let _ = rs[r].apply_collection(actor(r), now(r), &op);
        }
        Step::Del(r) => {
            rs[r].write(None, actor(r), now(r), Payload::Tombstone, 0);
        }
        Step::SetString(r) => {
            rs[r].write(None, actor(r), now(r), Payload::Value(b("s")), 0);
        }
        Step::Sync(from, to) => {
            let src = rs[from].clone();
            rs[to].merge(&src);
        }
    }
}

/// The sequential model: what Redis holds after the same writes in order.
#[derive(Default)]
enum Model {
    #[default]
    Absent,
    Str,
    Hash(BTreeMap<String, i64>),
}

impl Model {
    /// The hash a hash write changes (created if absent); `None` for a
    /// string (WRONGTYPE: nothing changes).
    fn hash_mut(&mut self) -> Option<&mut BTreeMap<String, i64>> {
        if let Model::Absent = self {
            *self = Model::Hash(BTreeMap::new());
        }
        match self {
            Model::Hash(h) => Some(h),
            _ => None,
        }
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::HSet(_, f, v) => {
                if let Some(h) = self.hash_mut() {
                    h.insert(field(f), i64::from(v));
                }
            }
            Step::HDel(_, f) => {
                if let Model::Hash(h) = self {
                    h.remove(&field(f));
                }
            }
            Step::HIncr(_, f, d) => {
                if let Some(h) = self.hash_mut() {
                    *h.entry(field(f)).or_insert(0) += i64::from(d);
                }
            }
            Step::Del(_) => *self = Model::Absent,
            Step::SetString(_) => *self = Model::Str,
            Step::Sync(..) => {}
        }
        if matches!(self, Model::Hash(h) if h.is_empty()) {
            *self = Model::Absent;
        }
    }

    fn shown(&self) -> Option<Result<BTreeMap<Bytes, Bytes>, Bytes>> {
        match self {
            Model::Absent => None,
            Model::Str => Some(Err(b("s"))),
            Model::Hash(h) => Some(Ok(h
                .iter()
                .map(|(k, v)| (b(k), b(&v.to_string())))
                .collect())),
        }
    }
}

/// Checks the merge laws on three replicas' states, then delivers
/// everything everywhere: every replica must hold one state, which the
/// codec round-trips. Returns the synced states.
pub(super) fn converged(rs: &[Siblings; 3]) -> Result<[Siblings; 3], TestCaseError> {
    let [a, c, d] = rs.clone();
    prop_assert_eq!(merged(&a, &c), merged(&c, &a));
    prop_assert_eq!(merged(&merged(&a, &c), &d), merged(&a, &merged(&c, &d)));
    prop_assert_eq!(merged(&a, &a), a.clone());
    let everything = merged(&merged(&a, &c), &d);
    let mut synced = rs.clone();
    for s in synced.iter_mut().rev() {
        s.merge(&everything);
    }
    for s in &synced {
        prop_assert_eq!(s, &synced[0]);
        prop_assert_eq!(&Siblings::decode(&s.encode(), 0).unwrap(), s);
        prop_assert_eq!(&Siblings::decode_shared(&s.encode(), 0).unwrap(), s);
    }
    Ok(synced)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random writes on three replicas, synced in random order with
    /// duplicates and drops; then everything is delivered everywhere. All
    /// replicas hold the same state and show the same value; merge stays
    /// commutative, associative and idempotent; the codec round-trips.
    #[test]
    fn random_hash_histories_converge(steps in prop::collection::vec(arb_step(), 0..60)) {
        let mut rs: [Siblings; 3] = Default::default();
        for (i, step) in steps.iter().enumerate() {
            apply(&mut rs, i, step);
        }
        let synced = converged(&rs)?;
        for s in &synced {
            prop_assert_eq!(shown(s, 1_000_000), shown(&synced[0], 1_000_000));
        }
    }

    /// Delivered in order (each write reaches every replica before the
    /// next), any replica coordinating each write: the value is the
    /// sequential model's after every step.
    #[test]
    fn in_order_delivery_matches_the_sequential_model(
        steps in prop::collection::vec(arb_step(), 0..60)
    ) {
        let mut rs: [Siblings; 3] = Default::default();
        let mut model = Model::default();
        for (i, step) in steps.iter().enumerate() {
            if matches!(step, Step::Sync(..)) {
                continue;
            }
            apply(&mut rs, i, step);
            model.apply(step);
            let writer = match *step {
                Step::HSet(r, ..) | Step::HDel(r, _) | Step::HIncr(r, ..)
                | Step::Del(r) | Step::SetString(r) => r,
                Step::Sync(..) => 0,
            };
            let src = rs[writer].clone();
            for s in rs.iter_mut() {
                s.merge(&src);
            }
            for s in &rs {
                prop_assert_eq!(shown(s, 1_000_000), model.shown(), "after {:?}", step);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Damaged collection records are refused or decode to something that
    /// re-encodes the same; never a panic.
    #[test]
    fn decoding_mutated_collection_records_never_panics(
        steps in prop::collection::vec(arb_step(), 1..12),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut rs: [Siblings; 3] = Default::default();
        for (i, step) in steps.iter().enumerate() {
            apply(&mut rs, i, step);
        }
        let mut bytes = rs[0].encode().to_vec();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok(s) = Siblings::decode(&bytes, 0) {
            let _ = s.view(1_000_000);
            prop_assert_eq!(Siblings::decode(&s.encode(), 0), Ok(s));
        }
    }
}
