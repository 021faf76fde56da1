//! An executable model of the member-record design (`docs/data-types.md`,
//! "Storage today, and its cost"), checked before the design is built.
//!
//! A collection is split into a *causal context* (the set of write events
//! a replica has seen, as a [`DotSet`]) and, per member, the *live dots*
//! that put it there with their values. Writes replicate as [`Delta`]s (the
//! event's own dot, the dots it added and the dots it removed); repair joins
//! two full states. The property tests check that:
//! - deltas delivered in any order, duplicated and interleaved with
//!   full-state joins, converge, and to the same state full-state joins
//!   alone reach;
//! - two replicas whose contexts are equal hold equal collections (so a
//!   Merkle digest of the context stands for the collection);
//! - the split model shows, replica by replica and step by step, exactly
//!   what today's one-record model ([`Siblings`] with
//!   [`Siblings::apply_collection`] and [`Siblings::merge`]) shows for the
//!   same history of HSET, HINCRBY, HDEL and DEL: the redesign keeps every
//!   documented outcome. A member's items are today's [`Item`]s, resolved
//!   by today's [`resolve_item`], so counters join as they do now.
//!
//! Found while writing it:
//! - every write event needs a dot of its own, removals included: were a
//!   removal to carry only the dots it removed, a replica that saw an add
//!   and its removal and one that saw only the add would have equal
//!   contexts and different collections;
//! - a removal must not put the dots it removed into the context of a
//!   replica that has not applied their adds: that replica would claim the
//!   add's whole event (and what *it* removed) as seen. It keeps them aside
//!   as dead dots until the add arrives, and a repair's join treats a dead
//!   dot as seen;
//! - so a DEL must carry the deleter's dead dots beside its context: a
//!   replica that had seen a removal but not the add it removed would
//!   otherwise let that add back in after the DEL (found by the convergence
//!   property; `replayed_deltas_agree_with_a_history_of_joins_and_clears`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::collection::{Element, Item, Kind, Members, Tag};
use super::collection_op::counter_for;
use super::member_history::{MemberHistories, Removal, resolve_member};
use super::siblings::{Payload, Siblings, View};
use super::{Actor, CollectionOp};

/// One write event: its coordinator and that coordinator's counter.
type Dot = (Actor, u64);

/// A set of dots: per actor every counter up to a maximum, plus the dots
/// seen beyond a gap (a replica may see write 5 of an actor before write 4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DotSet {
    contiguous: BTreeMap<Actor, u64>,
    beyond: BTreeSet<Dot>,
}

impl DotSet {
    fn contains(&self, (actor, counter): Dot) -> bool {
        self.contiguous.get(&actor).is_some_and(|&m| counter <= m)
            || self.beyond.contains(&(actor, counter))
    }

    fn insert(&mut self, dot: Dot) {
        if !self.contains(dot) {
            self.beyond.insert(dot);
            self.compact();
        }
    }

    fn union(&mut self, other: &DotSet) {
        for (&actor, &m) in &other.contiguous {
            let mine = self.contiguous.entry(actor).or_insert(0);
            *mine = (*mine).max(m);
        }
        self.beyond.extend(other.beyond.iter().copied());
        self.compact();
    }

    /// Folds dots that continue a contiguous run into it. The dots come in
    /// ascending order per actor, so one pass folds every run.
    fn compact(&mut self) {
        let beyond = std::mem::take(&mut self.beyond);
        for (actor, counter) in beyond {
            let run = self.contiguous.entry(actor).or_insert(0);
            if counter == *run + 1 {
                *run = counter;
            } else if counter > *run {
                self.beyond.insert((actor, counter));
            }
        }
        self.contiguous.retain(|_, m| *m > 0);
    }

    /// The highest counter of `actor` in the set.
    fn max(&self, actor: Actor) -> u64 {
        let run = self.contiguous.get(&actor).copied().unwrap_or(0);
        let beyond = self
            .beyond
            .iter()
            .filter(|d| d.0 == actor)
            .map(|d| d.1)
            .max()
            .unwrap_or(0);
        run.max(beyond)
    }
}

/// One replica's split state of one collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SplitState {
    /// The write events applied here (and every event a DEL applied here
    /// had seen, whose adds it removed).
    context: DotSet,
    /// Dots removed by an applied event before the event that added them
    /// arrived: the add is skipped when it comes. Empty but for
    /// out-of-order delivery.
    dead: BTreeSet<Dot>,
    /// Per member, its live dots with what each write stored (today's
    /// per-member items, unchanged).
    members: BTreeMap<u8, BTreeMap<Dot, Item>>,
    /// What removals of counter members had seen (joined from every
    /// write's, as the one-record model joins them).
    removed: MemberHistories,
}

/// A write as it travels to other replicas.
#[derive(Clone, Debug)]
enum Delta {
    /// HSET, HINCRBY, HDEL: the event's dot, what it added (an item
    /// whose tag is the event's dot) and what it removed.
    Change {
        event: Dot,
        added: Vec<(u8, Item)>,
        removed: Vec<(u8, Dot)>,
        histories: MemberHistories,
    },
    /// DEL: removes every dot the deleter knew of, its context and its
    /// dead dots (O(1) to send: dead dots exist only out of order).
    Clear {
        event: Dot,
        context: DotSet,
        dead: BTreeSet<Dot>,
        histories: MemberHistories,
    },
}

/// A client's write, generated against the coordinator's own state.
#[derive(Clone, Debug)]
enum Write {
    Put(u8, u8),
    Incr(u8, i64),
    Remove(u8),
    Del,
}

impl SplitState {
    /// The delta `write` makes at coordinator `me`, or `None` if it changes
    /// nothing (as today's model stores nothing for it).
    fn delta(&self, me: Actor, now: u64, write: &Write) -> Option<Delta> {
        let event = (me, self.context.max(me) + 1);
        let item = |element| Item {
            tag: Tag {
                actor: event.0,
                counter: event.1,
            },
            ts_ms: now,
            element,
        };
        let tag = Tag {
            actor: event.0,
            counter: event.1,
        };
        let name = |m: u8| Bytes::from(vec![m]);
        let mut histories = self.removed.clone();
        // HSET and HINCRBY: the member's items replaced by one, what it had
        // seen of their counters recorded.
        let put = |member: u8, items: &[Item], element: Element, mut histories: MemberHistories| {
            histories.record_put(&name(member), Some(items), &element, now);
            Delta::Change {
                event,
                added: vec![(member, item(element))],
                removed: self.dots_of(member),
                histories,
            }
        };
        match *write {
            Write::Put(member, value) => {
                let items = self.items_of(member);
                Some(put(member, &items, Element::Value(text(value)), histories))
            }
            Write::Incr(member, by) => {
                let items = self.items_of(member);
                let mut counter = counter_for(&items, self.removed.get(&name(member)), tag);
                counter.add_int(me, by).ok()?;
                Some(put(member, &items, Element::Counter(counter), histories))
            }
            Write::Remove(member) => {
                let removed = self.dots_of(member);
                let removal = Removal { ts_ms: now, tag };
                histories.record_removal(&name(member), &self.items_of(member), removal);
                (!removed.is_empty()).then_some(Delta::Change {
                    event,
                    added: Vec::new(),
                    removed,
                    histories,
                })
            }
            Write::Del => {
                let removal = Removal { ts_ms: now, tag };
                for &member in self.members.keys() {
                    histories.record_removal(&name(member), &self.items_of(member), removal);
                }
                (!self.members.is_empty()).then(|| Delta::Clear {
                    event,
                    context: self.context.clone(),
                    dead: self.dead.clone(),
                    histories,
                })
            }
        }
    }

    fn items_of(&self, member: u8) -> Vec<Item> {
        self.members
            .get(&member)
            .map(|dots| dots.values().cloned().collect())
            .unwrap_or_default()
    }

    fn dots_of(&self, member: u8) -> Vec<(u8, Dot)> {
        self.members
            .get(&member)
            .map(|dots| dots.keys().map(|&d| (member, d)).collect())
            .unwrap_or_default()
    }

    /// Applies a delta: idempotent, and a removal that arrives before its
    /// add still wins (the add's dot is then already in the context).
    fn apply(&mut self, delta: &Delta) {
        match delta {
            Delta::Change {
                event,
                added,
                removed,
                histories,
            } => {
                if self.context.contains(*event) {
                    return;
                }
                self.removed.join(histories);
                for &(member, dot) in removed {
                    if !self.drop_dot(member, dot) && !self.context.contains(dot) {
                        self.dead.insert(dot);
                    }
                }
                for (member, item) in added {
                    let dot = (item.tag.actor, item.tag.counter);
                    if !self.context.contains(dot) && !self.dead.contains(&dot) {
                        let dots = self.members.entry(*member).or_default();
                        dots.insert(dot, item.clone());
                    }
                }
                for (_, item) in added {
                    self.context.insert((item.tag.actor, item.tag.counter));
                }
                self.context.insert(*event);
                let context = &self.context;
                self.dead.retain(|&d| !context.contains(d));
            }
            Delta::Clear {
                event,
                context,
                dead,
                histories,
            } => {
                self.removed.join(histories);
                for dots in self.members.values_mut() {
                    dots.retain(|&d, _| !context.contains(d) && !dead.contains(&d));
                }
                self.members.retain(|_, dots| !dots.is_empty());
                self.context.union(context);
                self.dead.extend(dead.iter().copied());
                self.context.insert(*event);
                let context = &self.context;
                self.dead.retain(|&d| !context.contains(d));
            }
        }
    }

    /// Removes a live dot; false if it was not here.
    fn drop_dot(&mut self, member: u8, dot: Dot) -> bool {
        let Some(dots) = self.members.get_mut(&member) else {
            return false;
        };
        let was = dots.remove(&dot).is_some();
        if dots.is_empty() {
            self.members.remove(&member);
        }
        was
    }

    /// Whether this replica knows `dot` is not live unless it holds it.
    fn knows(&self, dot: Dot) -> bool {
        self.context.contains(dot) || self.dead.contains(&dot)
    }

    /// Full-state join (read repair, anti-entropy, streaming): a dot
    /// survives unless the other side has seen it and no longer holds it.
    fn join(&mut self, other: &SplitState) {
        let names: BTreeSet<u8> = self
            .members
            .keys()
            .chain(other.members.keys())
            .copied()
            .collect();
        let empty = BTreeMap::new();
        let mut joined = BTreeMap::new();
        for name in names {
            let mine = self.members.get(&name).unwrap_or(&empty);
            let theirs = other.members.get(&name).unwrap_or(&empty);
            let mut dots = BTreeMap::new();
            for (&d, e) in mine {
                if theirs.contains_key(&d) || !other.knows(d) {
                    dots.insert(d, e.clone());
                }
            }
            for (&d, e) in theirs {
                if !mine.contains_key(&d) && !self.knows(d) {
                    dots.insert(d, e.clone());
                }
            }
            if !dots.is_empty() {
                joined.insert(name, dots);
            }
        }
        self.members = joined;
        self.removed.join(&other.removed);
        self.context.union(&other.context);
        self.dead.extend(other.dead.iter().copied());
        let context = &self.context;
        self.dead.retain(|&d| !context.contains(d));
    }

    /// What a read shows: per member, today's resolution of its items (the
    /// latest write; counters of one base joined).
    fn view(&self) -> BTreeMap<u8, Bytes> {
        self.members
            .iter()
            .filter_map(|(&m, dots)| {
                let items: Vec<Item> = dots.values().cloned().collect();
                let history = self.removed.get(&[m][..]);
                resolve_member(&items, history).map(|e| (m, e.bytes()))
            })
            .collect()
    }
}

/// The same history through today's one-record model.
fn record_write(s: &mut Siblings, me: Actor, now: u64, write: &Write) {
    let op = match *write {
        Write::Put(m, v) => CollectionOp::Put {
            kind: Kind::Hash,
            pairs: vec![(Bytes::from(vec![m]), text(v))],
            if_absent: false,
        },
        Write::Incr(m, by) => CollectionOp::AddInt {
            member: Bytes::from(vec![m]),
            delta: by,
        },
        Write::Remove(m) => CollectionOp::Remove {
            kind: Kind::Hash,
            members: vec![Bytes::from(vec![m])],
        },
        Write::Del => {
            if matches!(s.view(now), View::Collection { .. }) {
                s.write(None, me, now, Payload::Tombstone, 0);
            }
            return;
        }
    };
    s.apply_collection(me, now, &op).expect("a hash write");
}

/// A hash value as text, so HINCRBY can grow it.
fn text(v: u8) -> Bytes {
    Bytes::from(v.to_string())
}

fn record_view(s: &Siblings) -> BTreeMap<u8, Bytes> {
    match s.view(u64::MAX / 2) {
        View::Collection { collection, .. } => {
            let members: Members = collection.to_members();
            members
                .map
                .into_iter()
                .map(|(k, v)| (k.first().copied().unwrap_or(0), v))
                .collect()
        }
        _ => BTreeMap::new(),
    }
}

/// One step of a history on three replicas.
#[derive(Clone, Debug)]
enum Step {
    /// A client write coordinated by replica `at`, at time `now`.
    Write { at: usize, now: u64, write: Write },
    /// Replica `to` joins replica `from`'s whole state.
    Join { from: usize, to: usize },
    /// Replica `to` receives delta number `which` (modulo those made).
    Deliver { which: usize, to: usize },
}

fn write_strategy() -> impl Strategy<Value = Write> {
    prop_oneof![
        5 => (0u8..4, 0u8..3).prop_map(|(m, v)| Write::Put(m, v)),
        3 => (0u8..4, -2i64..3).prop_map(|(m, by)| Write::Incr(m, by)),
        3 => (0u8..4).prop_map(Write::Remove),
        1 => Just(Write::Del),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3, 0u64..6, write_strategy())
            .prop_map(|(at, now, write)| Step::Write { at, now, write }),
        2 => (0usize..3, 0usize..3).prop_map(|(from, to)| Step::Join { from, to }),
        4 => (0usize..64, 0usize..3).prop_map(|(which, to)| Step::Deliver { which, to }),
    ]
}

const ACTORS: [Actor; 3] = [11, 22, 33];

/// Runs `steps` with deltas (and joins) between three replicas, checking
/// after every step that equal contexts hold equal collections, and at the
/// end that everything delivered converges.
fn check_deltas(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut replicas = vec![SplitState::default(); 3];
    let mut deltas: Vec<Delta> = Vec::new();
    for step in steps {
        match step {
            Step::Write { at, now, write } => {
                let me = ACTORS[*at];
                if let Some(d) = replicas[*at].delta(me, *now, write) {
                    replicas[*at].apply(&d);
                    deltas.push(d);
                }
            }
            Step::Join { from, to } => {
                let from_state = replicas[*from].clone();
                replicas[*to].join(&from_state);
            }
            Step::Deliver { which, to } => {
                if !deltas.is_empty() {
                    let d = deltas[which % deltas.len()].clone();
                    replicas[*to].apply(&d);
                }
            }
        }
        for a in &replicas {
            for b in &replicas {
                if a.context == b.context {
                    prop_assert_eq!(&a.members, &b.members);
                    prop_assert_eq!(&a.removed, &b.removed);
                }
            }
        }
    }
    // Everything delivered, twice and backwards the second time.
    for r in replicas.iter_mut() {
        for d in deltas.iter().chain(deltas.iter().rev()) {
            r.apply(d);
        }
    }
    prop_assert_eq!(&replicas[0], &replicas[1]);
    prop_assert_eq!(&replicas[1], &replicas[2]);
    // Joins only pass on what deltas carried: every delta once, in
    // order, on a fresh replica gives the same state.
    let mut fresh = SplitState::default();
    for d in &deltas {
        fresh.apply(d);
    }
    prop_assert_eq!(&fresh, &replicas[0]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Deltas and joins in any order converge, and equal contexts always
    /// mean equal collections.
    #[test]
    fn deltas_converge_and_contexts_identify_states(
        steps in proptest::collection::vec(step_strategy(), 1..60)
    ) {
        check_deltas(&steps)?;
    }

    /// Replica by replica and step by step, the split model shows what
    /// today's one-record model shows for the same writes and joins.
    #[test]
    fn split_state_shows_what_the_one_record_model_shows(
        steps in proptest::collection::vec(step_strategy(), 1..60)
    ) {
        let mut split = vec![SplitState::default(); 3];
        let mut record = vec![Siblings::default(); 3];
        let mut clock = 0u64;
        for step in &steps {
            match step {
                Step::Write { at, now, write } => {
                    // Write times never go back; equal times on different
                    // replicas exercise the tie-break by dot.
                    clock = clock.max(*now);
                    let me = ACTORS[*at];
                    if let Some(d) = split[*at].delta(me, clock, write) {
                        split[*at].apply(&d);
                    }
                    record_write(&mut record[*at], me, clock, write);
                }
                Step::Join { from, to } | Step::Deliver { which: from, to } => {
                    let from = from % 3;
                    let s = split[from].clone();
                    split[*to].join(&s);
                    let r = record[from].clone();
                    record[*to].merge(&r);
                }
            }
            for i in 0..3 {
                prop_assert_eq!(split[i].view(), record_view(&record[i]), "replica {}", i);
            }
        }
    }
}

#[test]
fn a_removal_without_its_own_dot_would_hide_a_difference() {
    // A replica that saw an add and its removal, and one that saw only the
    // add: with the removal's own dot their contexts differ.
    let mut a = SplitState::default();
    let add = a.delta(1, 1, &Write::Put(7, 1)).unwrap();
    a.apply(&add);
    let remove = a.delta(1, 2, &Write::Remove(7)).unwrap();
    a.apply(&remove);
    let mut b = SplitState::default();
    b.apply(&add);
    assert_ne!(a.context, b.context);
    assert_ne!(a.members, b.members);
    b.join(&a);
    assert_eq!(b, a);
}

#[test]
fn a_del_keeps_a_member_added_concurrently() {
    let mut a = SplitState::default();
    let first = a.delta(1, 1, &Write::Put(1, 1)).unwrap();
    a.apply(&first);
    let mut b = a.clone();
    let del = a.delta(1, 2, &Write::Del).unwrap();
    a.apply(&del);
    let concurrent = b.delta(2, 2, &Write::Put(2, 5)).unwrap();
    b.apply(&concurrent);
    a.apply(&concurrent);
    b.apply(&del);
    assert_eq!(a, b);
    assert_eq!(a.view(), BTreeMap::from([(2, text(5))]));
}

#[test]
fn replayed_deltas_agree_with_a_history_of_joins_and_clears() {
    use Step::{Deliver, Join};
    let w = |at, write| Step::Write { at, now: 0, write };
    let steps = vec![
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(0, Write::Del),
        w(2, Write::Put(0, 0)),
        Join { from: 2, to: 0 },
        w(0, Write::Del),
        w(2, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(1, Write::Put(2, 0)),
        w(0, Write::Put(0, 0)),
        w(1, Write::Put(2, 0)),
        Deliver { which: 32, to: 2 },
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(0, Write::Put(0, 0)),
        w(2, Write::Del),
        Deliver { which: 16, to: 0 },
    ];
    check_deltas(&steps).unwrap();
}

#[test]
fn increments_through_two_coordinators_all_count_by_deltas() {
    let (mut a, mut b) = (SplitState::default(), SplitState::default());
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for i in 0..200u64 {
        let d = a.delta(1, i, &Write::Incr(9, 1)).unwrap();
        a.apply(&d);
        from_a.push(d);
        let d = b.delta(2, i, &Write::Incr(9, 1)).unwrap();
        b.apply(&d);
        from_b.push(d);
        // Now and then a side hears the other's latest, out of order.
        if i % 17 == 0 {
            b.apply(from_a.last().unwrap());
        }
    }
    for d in from_b.iter().rev() {
        a.apply(d);
    }
    for d in &from_a {
        b.apply(d);
    }
    assert_eq!(a, b);
    assert_eq!(a.view(), BTreeMap::from([(9, Bytes::from("400"))]));
}
