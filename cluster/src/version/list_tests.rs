//! Tests of lists as a sequence CRDT: the documented outcomes of
//! concurrent pushes and removals, convergence of random list histories on
//! three replicas whatever the delivery order (duplicates, drops and
//! redeliveries included), and agreement with a sequential model (Redis's
//! list) when every write is delivered before the next.

use std::collections::VecDeque;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn merged(a: &Siblings, b: &Siblings) -> Siblings {
    let mut m = a.clone();
    m.merge(b);
    m
}

/// The list a read shows (empty when absent).
fn shown(s: &Siblings) -> Vec<Bytes> {
    match s.view(1_000_000) {
        View::Collection { collection, .. } if collection.kind() == Kind::List => {
            collection.to_members().map.into_values().collect()
        }
        _ => Vec::new(),
    }
}

fn push(s: &mut Siblings, actor: Actor, now: u64, left: bool, values: &[&str]) {
    let op = CollectionOp::Push {
        left,
        values: values.iter().map(|v| b(v)).collect(),
        if_exists: false,
    };
    s.apply_collection(actor, now, &op).unwrap();
}

#[test]
fn concurrent_pushes_at_one_end_all_survive_in_the_same_order_everywhere() {
    let mut base = Siblings::default();
    push(&mut base, 1, 10, false, &["a"]);
    let (mut x, mut y) = (base.clone(), base.clone());
    push(&mut x, 1, 20, false, &["x1", "x2"]);
    push(&mut y, 2, 20, false, &["y1"]);
    push(&mut y, 2, 21, true, &["h"]);
    let (xy, yx) = (merged(&x, &y), merged(&y, &x));
    assert_eq!(xy, yx);
    assert_eq!(shown(&xy), [b("h"), b("a"), b("x1"), b("x2"), b("y1")]);
    // The next push after the merge goes after everything.
    let mut next = xy.clone();
    push(&mut next, 2, 30, false, &["z"]);
    assert_eq!(shown(&next).last(), Some(&b("z")));
}

#[test]
fn a_pop_removes_what_it_saw_and_two_pops_may_return_the_same_element() {
    let mut base = Siblings::default();
    push(&mut base, 1, 10, false, &["a", "b"]);
    let (mut x, mut y) = (base.clone(), base.clone());
    let pop = CollectionOp::Pop {
        kind: Kind::List,
        count: 1,
        end: PopEnd::Min,
    };
    let rx = x.apply_collection(1, 20, &pop).unwrap();
    let ry = y.apply_collection(2, 20, &pop).unwrap();
    assert_eq!(rx, ry, "both pops return a: at-least-once");
    push(&mut y, 2, 21, true, &["new"]);
    assert_eq!(shown(&merged(&x, &y)), [b("new"), b("b")]);
}

/// One step of a random list history.
#[derive(Clone, Debug)]
enum Step {
    Push(usize, bool, u8),
    Pop(usize, bool, u8),
    Set(usize, i8, u8),
    Insert(usize, bool, u8, u8),
    Rem(usize, i8, u8),
    Trim(usize, i8, i8),
    Del(usize),
    /// Copy replica `.0`'s state into replica `.1`.
    Sync(usize, usize),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..3, any::<bool>(), 0u8..5).prop_map(|(r, l, v)| Step::Push(r, l, v)),
        2 => (0usize..3, any::<bool>(), 1u8..3).prop_map(|(r, l, n)| Step::Pop(r, l, n)),
        1 => (0usize..3, -4i8..4, 0u8..5).prop_map(|(r, i, v)| Step::Set(r, i, v)),
        2 => (0usize..3, any::<bool>(), 0u8..5, 0u8..5)
            .prop_map(|(r, bf, p, v)| Step::Insert(r, bf, p, v)),
        1 => (0usize..3, -2i8..3, 0u8..5).prop_map(|(r, c, v)| Step::Rem(r, c, v)),
        1 => (0usize..3, -6i8..6, -6i8..6).prop_map(|(r, a, z)| Step::Trim(r, a, z)),
        1 => (0usize..3).prop_map(Step::Del),
        5 => (0usize..3, 0usize..3).prop_map(|(a, c)| Step::Sync(a, c)),
    ]
}

fn value(v: u8) -> String {
    format!("v{v}")
}

fn op_of(step: &Step) -> Option<CollectionOp> {
    Some(match *step {
        Step::Push(_, left, v) => CollectionOp::Push {
            left,
            values: vec![b(&value(v))],
            if_exists: false,
        },
        Step::Pop(_, left, n) => CollectionOp::Pop {
            kind: Kind::List,
            count: u64::from(n),
            end: if left { PopEnd::Min } else { PopEnd::Max },
        },
        Step::Set(_, i, v) => CollectionOp::ListSet {
            index: i64::from(i),
            value: b(&value(v)),
        },
        Step::Insert(_, before, p, v) => CollectionOp::ListInsert {
            before,
            pivot: b(&value(p)),
            value: b(&value(v)),
        },
        Step::Rem(_, c, v) => CollectionOp::ListRemove {
            count: i64::from(c),
            value: b(&value(v)),
        },
        Step::Trim(_, a, z) => CollectionOp::ListTrim {
            start: i64::from(a),
            stop: i64::from(z),
        },
        Step::Del(_) | Step::Sync(..) => return None,
    })
}

fn writer(step: &Step) -> usize {
    match *step {
        Step::Push(r, ..)
        | Step::Pop(r, ..)
        | Step::Set(r, ..)
        | Step::Insert(r, ..)
        | Step::Rem(r, ..)
        | Step::Trim(r, ..)
        | Step::Del(r) => r,
        Step::Sync(from, _) => from,
    }
}

fn apply(rs: &mut [Siblings; 3], i: usize, step: &Step) {
    let r = writer(step);
    let (actor, now) = (r as Actor + 1, 1_000 + 10 * i as u64 + r as u64);
    match (step, op_of(step)) {
        (_, Some(op)) => {
            let _ = rs[r].apply_collection(actor, now, &op);
        }
        (Step::Del(_), None) => {
            rs[r].write(None, actor, now, Payload::Tombstone, 0);
        }
        (Step::Sync(from, to), None) => {
            let src = rs[*from].clone();
            rs[*to].merge(&src);
        }
        _ => {}
    }
}

/// Redis's list after the same writes in order.
fn model(list: &mut VecDeque<String>, step: &Step) {
    let len = list.len() as i64;
    let at = |i: i64| if i < 0 { i + len } else { i };
    match *step {
        Step::Push(_, true, v) => list.push_front(value(v)),
        Step::Push(_, false, v) => list.push_back(value(v)),
        Step::Pop(_, left, n) => {
            for _ in 0..n {
                if left {
                    list.pop_front();
                } else {
                    list.pop_back();
                }
            }
        }
        Step::Set(_, i, v) => {
            let i = at(i64::from(i));
            if (0..len).contains(&i) {
                list[i as usize] = value(v);
            }
        }
        Step::Insert(_, before, p, v) => {
            if let Some(i) = list.iter().position(|e| *e == value(p)) {
                list.insert(if before { i } else { i + 1 }, value(v));
            }
        }
        Step::Rem(_, c, v) => {
            let target = value(v);
            let mut idx: Vec<usize> = (0..list.len()).filter(|i| list[*i] == target).collect();
            if c < 0 {
                idx.reverse();
            }
            if c != 0 {
                idx.truncate(c.unsigned_abs() as usize);
            }
            idx.sort_unstable();
            for i in idx.into_iter().rev() {
                list.remove(i);
            }
        }
        Step::Trim(_, a, z) => {
            let (from, to) = list_op::trim_range(i64::from(a), i64::from(z), list.len());
            let kept: VecDeque<String> = list.iter().skip(from).take(to - from).cloned().collect();
            *list = kept;
        }
        Step::Del(_) => list.clear(),
        Step::Sync(..) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random list writes on three replicas, synced in random order with
    /// duplicates and drops, then everything delivered everywhere: one
    /// state and one list on every replica; merge commutative, associative
    /// and idempotent; the codec round-trips.
    #[test]
    fn random_list_histories_converge(steps in prop::collection::vec(arb_step(), 0..60)) {
        let mut rs: [Siblings; 3] = Default::default();
        for (i, step) in steps.iter().enumerate() {
            apply(&mut rs, i, step);
        }
        let synced = super::collection_tests::converged(&rs)?;
        for s in &synced {
            prop_assert_eq!(shown(s), shown(&synced[0]));
        }
    }

    /// Delivered in order, any replica coordinating each write: the list
    /// is Redis's after every step.
    #[test]
    fn in_order_list_delivery_matches_redis(steps in prop::collection::vec(arb_step(), 0..80)) {
        let mut rs: [Siblings; 3] = Default::default();
        let mut list = VecDeque::new();
        for (i, step) in steps.iter().enumerate() {
            if matches!(step, Step::Sync(..)) {
                continue;
            }
            apply(&mut rs, i, step);
            model(&mut list, step);
            let src = rs[writer(step)].clone();
            for s in rs.iter_mut() {
                s.merge(&src);
            }
            let want: Vec<Bytes> = list.iter().map(|v| b(v)).collect();
            for s in &rs {
                prop_assert_eq!(shown(s), want.clone(), "after {:?}", step);
            }
        }
    }
}
