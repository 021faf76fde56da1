//! Hashes and sets as observed-remove maps: the add-wins, dotted map of
//! Riak's ORSWOT and of delta-state CRDTs (the "dot kernel").
//!
//! A collection is stored as one sibling of its key (record payload tag 4,
//! `docs/formats/record.md`). Every member carries the *tags* of the writes
//! that put it there: a tag is `(actor, counter)`, the counter the write's
//! own vector clock gave its coordinating actor, so a tag is unique to one
//! write of the key and the sibling's clock covers every tag inside it.
//!
//! Removing a member is leaving it out: a later sibling's clock covers the
//! member's tags while its map lacks them. Joining concurrent siblings
//! ([`Collection::join`]) keeps a member's tag when every sibling either
//! holds it too or has not seen it (its clock does not cover the tag). So:
//! - a member added concurrently with a removal survives (the remover had
//!   not seen its tag): observed-remove, add-wins;
//! - a tombstone (DEL) or a string written over the key removes exactly the
//!   members its clock had seen; a field added concurrently survives;
//! - two writes of one member with different values keep both tags and a
//!   read shows the later ([`resolve_item`]: `ts_ms`, then the tag), so every
//!   replica shows the same one;
//! - increments (HINCRBY, HINCRBYFLOAT) are [`Counter`]s: concurrent
//!   counters grown from one base join their slots, so all increments count.
//!
//! The join is commutative, associative and idempotent (property tests in
//! `super::tests`), so it serves every replica, read repair, hint and
//! anti-entropy round unchanged.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::Actor;
use super::clock::VectorClock;
use super::counter::{Carried, Counter};
use super::member_history::{MemberHistories, Removal, resolve_member};

/// The Redis type a collection holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A hash: field → value.
    Hash,
    /// A set: members with empty values.
    Set,
    /// A sorted set: member → score (its text, see [`score_text`]).
    ZSet,
    /// A list: position → element (see `super::list_position`).
    List,
}

impl Kind {
    /// The byte stored for this kind.
    pub fn code(self) -> u8 {
        match self {
            Kind::Hash => 1,
            Kind::Set => 2,
            Kind::ZSet => 3,
            Kind::List => 4,
        }
    }

    /// The kind stored as `code`, if any.
    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Hash),
            2 => Some(Kind::Set),
            3 => Some(Kind::ZSet),
            4 => Some(Kind::List),
            _ => None,
        }
    }
}

/// The identity of one write of a key: its coordinating actor and the
/// counter the write's clock gave that actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    /// The coordinating replica's actor.
    pub actor: Actor,
    /// The actor's counter in the write's clock (never 0).
    pub counter: u64,
}

impl Tag {
    /// Whether `clock` has seen this write.
    pub fn covered_by(&self, clock: &VectorClock) -> bool {
        clock.counter(self.actor) >= self.counter
    }

    /// A counter base identity for a counter grown from this write's value:
    /// XXH3 of the tag with [`super::BASE_ID_SEED`], never 0.
    pub fn base_id(&self) -> u64 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.actor.to_be_bytes());
        b[8..].copy_from_slice(&self.counter.to_be_bytes());
        match xxhash_rust::xxh3::xxh3_64_with_seed(&b, super::BASE_ID_SEED) {
            0 => 1,
            h => h,
        }
    }
}

/// The stored text of a sorted-set score: the shortest exponent form that
/// reads back as the same `f64` (`inf`, `-inf` for infinities).
pub fn score_text(score: f64) -> Bytes {
    if score == 0.0 {
        // -0 is stored as 0, as Redis stores it in a small sorted set.
        Bytes::from_static(b"0")
    } else if score.is_infinite() {
        Bytes::from_static(if score > 0.0 { b"inf" } else { b"-inf" })
    } else {
        Bytes::from(format!("{score:e}"))
    }
}

/// Redis's order of two scores: numeric, with -0 equal to 0 (never NaN).
pub fn cmp_scores(a: f64, b: f64) -> std::cmp::Ordering {
    if a == b {
        std::cmp::Ordering::Equal
    } else {
        a.total_cmp(&b)
    }
}

/// Whether `score` lies between `min` and `max`, each bound left out when
/// its flag says so (ZRANGEBYSCORE's `(` bounds).
pub fn score_between(
    score: f64,
    min: f64,
    min_exclusive: bool,
    max: f64,
    max_exclusive: bool,
) -> bool {
    let above = if min_exclusive {
        score > min
    } else {
        score >= min
    };
    let below = if max_exclusive {
        score < max
    } else {
        score <= max
    };
    above && below
}

/// The score a stored element holds (`None` if it is not a number).
pub fn element_score(element: &Element) -> Option<f64> {
    match element {
        Element::Value(v) => ringkv_number::parse_f64(v),
        Element::Counter(c) => match c.value().ok()? {
            super::CounterValue::Int(i) => Some(i as f64),
            super::CounterValue::Float(f) => Some(f),
        },
    }
}

/// What one write stored for a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Element {
    /// A plain value (a hash field's value; empty for a set member).
    Value(Bytes),
    /// A counter (HINCRBY, HINCRBYFLOAT).
    Counter(Counter),
}

impl Element {
    /// The bytes a client reads.
    pub fn bytes(&self) -> Bytes {
        match self {
            Element::Value(b) => b.clone(),
            Element::Counter(c) => c.render(),
        }
    }

    /// The bytes a client reads of this element in a collection of
    /// `kind`: a sorted-set member's counter (ZINCRBY, ZADD INCR) as its
    /// score's `%.17g`, which reads back as the same double, as Redis keeps
    /// a score; anything else as [`Element::bytes`] (a hash field's
    /// counter as HINCRBYFLOAT's text, which Redis also rounds to 17
    /// decimal places).
    pub fn bytes_in(&self, kind: Kind) -> Bytes {
        match (self, kind) {
            (Element::Counter(_), Kind::ZSet) => match element_score(self) {
                Some(score) => Bytes::from(ringkv_number::format_score(score)),
                None => self.bytes(),
            },
            _ => self.bytes(),
        }
    }
}

/// One write of a member, kept while no later write that saw it exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The write that made it.
    pub tag: Tag,
    /// That write's wall time (unix ms): the last-write-wins order.
    pub ts_ms: u64,
    /// What it stored.
    pub element: Element,
}

/// The state of a hash or set: each member with the writes that hold it
/// (never empty; items sorted by tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    kind: Kind,
    members: BTreeMap<Bytes, Vec<Item>>,
    /// What writes that removed or replaced counter members had seen.
    removed: MemberHistories,
    /// For some members of a list read to be written (a split list's
    /// window for LSET): where they lie in the whole list. Never stored.
    list_window: Option<ListWindow>,
}

/// Where the members a list write was given lie in the whole list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListWindow {
    /// Its elements from index `first` on, of `total` (LSET's element).
    From {
        /// The index of the first member given.
        first: u64,
        /// The whole list's length.
        total: u64,
    },
    /// Some of its first elements and some of its last, none between, of
    /// `total` (what LTRIM removes from either end).
    Ends {
        /// The whole list's length.
        total: u64,
    },
}

impl Collection {
    /// An empty collection of `kind`.
    pub fn new(kind: Kind) -> Self {
        Collection {
            kind,
            members: BTreeMap::new(),
            removed: MemberHistories::new(),
            list_window: None,
        }
    }

    /// A collection from its members (the decoder's constructor): empty
    /// item lists are dropped, items sorted by tag and deduplicated.
    pub(super) fn from_members(kind: Kind, members: BTreeMap<Bytes, Vec<Item>>) -> Self {
        let members = members
            .into_iter()
            .filter_map(|(m, mut items)| {
                items.sort_by_key(|i| i.tag);
                items.dedup_by_key(|i| i.tag);
                (!items.is_empty()).then_some((m, items))
            })
            .collect();
        Collection {
            kind,
            members,
            removed: MemberHistories::new(),
            list_window: None,
        }
    }

    /// A collection from members already strictly increasing, each with
    /// items strictly increasing by tag (the decoder checked both): built
    /// in one pass.
    pub(super) fn from_sorted(kind: Kind, members: Vec<(Bytes, Vec<Item>)>) -> Self {
        Collection {
            kind,
            members: members.into_iter().collect(),
            removed: MemberHistories::new(),
            list_window: None,
        }
    }

    /// A collection from member records read in member order (each
    /// record's items were checked by its decoder); out-of-order or
    /// repeated members are tolerated, the later copy kept.
    pub fn from_member_records(kind: Kind, members: Vec<(Bytes, Vec<Item>)>) -> Self {
        if members.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
            Collection::from_sorted(kind, members)
        } else {
            Collection::from_members(kind, members.into_iter().collect())
        }
    }

    /// Puts `member` with `items` as read from storage (a split
    /// collection's member record); empty items remove it.
    pub fn insert_items(&mut self, member: Bytes, items: Vec<Item>) {
        if items.is_empty() {
            self.members.remove(&member);
        } else {
            self.members.insert(member, items);
        }
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member with its items, in member order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&Bytes, &Vec<Item>)> + ExactSizeIterator {
        self.members.iter()
    }

    /// The items holding `member`, if it is present.
    pub fn items(&self, member: &[u8]) -> Option<&[Item]> {
        self.members.get(member).map(Vec::as_slice)
    }

    /// The element a read of `member` shows (see [`resolve_item`]).
    pub fn element(&self, member: &[u8]) -> Option<Cow<'_, Element>> {
        self.members
            .get(member)
            .and_then(|items| self.resolve(member, items))
    }

    /// The element a read of `member` holding `items` shows: [`resolve_item`],
    /// or [`resolve_member`] when the member has a counter history.
    pub fn resolve<'a>(&self, member: &[u8], items: &'a [Item]) -> Option<Cow<'a, Element>> {
        if self.removed.is_empty() {
            resolve_item(items)
        } else {
            resolve_member(items, self.removed.get(member))
        }
    }

    /// What writes that removed or replaced counter members had seen.
    pub fn member_histories(&self) -> &MemberHistories {
        &self.removed
    }

    /// Marks its members as a window of a list (a split list's, read for a
    /// write by index or at its ends).
    pub fn set_list_window(&mut self, window: ListWindow) {
        self.list_window = Some(window);
    }

    /// Where its members lie in the whole list, when they are a window of
    /// it ([`Collection::set_list_window`]); `None`: they are the list.
    pub fn list_window(&self) -> Option<ListWindow> {
        self.list_window
    }

    /// Replaces the member histories (read from a split header, or
    /// carried over from a deletion).
    pub fn set_member_histories(&mut self, removed: MemberHistories) {
        self.removed = removed;
    }

    /// Forgets the member histories older than a day at `now_ms` (see
    /// [`MemberHistories::prune`]).
    pub fn prune_member_histories(&mut self, now_ms: u64) {
        if !self.removed.is_empty() {
            self.removed.prune(now_ms);
        }
    }

    /// Joins `more` into the member histories.
    pub fn join_member_histories(&mut self, more: &MemberHistories) {
        self.removed.join(more);
    }

    /// Stores `element` as `member`'s only item: the write (`tag`) replaces
    /// every item of the member it had seen, which is all of them here. A
    /// member that held counters, or has a history, records what the write
    /// had seen of them ([`MemberHistories::record_put`]).
    pub fn put(&mut self, member: Bytes, tag: Tag, ts_ms: u64, mut element: Element) {
        if let Element::Counter(c) = &mut element {
            // What other lineages add is recomputed from the histories on read.
            c.carried = Carried::default();
        }
        let old = self.members.get(&member).map(Vec::as_slice);
        self.removed.record_put(&member, old, &element, ts_ms);
        self.members.insert(
            member,
            vec![Item {
                tag,
                ts_ms,
                element,
            }],
        );
    }

    /// The first member and its items.
    pub fn first(&self) -> Option<(&Bytes, &Vec<Item>)> {
        self.members.first_key_value()
    }

    /// The last member and its items.
    pub fn last(&self) -> Option<(&Bytes, &Vec<Item>)> {
        self.members.last_key_value()
    }

    /// Removes `member` by the write `tag` at `now_ms`; whether it was
    /// present. A member that held counters, or has a history, records
    /// what the removal had seen of them
    /// ([`MemberHistories::record_removal`]).
    pub fn remove(&mut self, member: &[u8], tag: Tag, now_ms: u64) -> bool {
        let Some((member, old)) = self.members.remove_entry(member) else {
            return false;
        };
        let removal = Removal { ts_ms: now_ms, tag };
        self.removed.record_removal(&member, &old, removal);
        true
    }

    /// What a client reads: each member with its resolved value.
    pub fn to_members(&self) -> Members {
        Members {
            map: self
                .members
                .iter()
                .filter_map(|(m, items)| {
                    Some((m.clone(), self.resolve(m, items)?.bytes_in(self.kind())))
                })
                .collect(),
        }
    }

    /// Joins the collections of concurrent siblings: `parts` holds every
    /// sibling's clock, with its collection when it is a live one of
    /// `kind` (a tombstone, a string, an expired value or another kind
    /// contributes only its clock, i.e. removes what it had seen). An item
    /// survives when each part holds it too or has not seen its write.
    pub fn join(kind: Kind, parts: &[(&VectorClock, Option<&Collection>)]) -> Collection {
        // (member, tag) → the item and how many parts hold it.
        let mut seen: HashMap<(&Bytes, Tag), (&Item, usize)> = HashMap::new();
        for (_, coll) in parts {
            for (member, items) in coll.iter().flat_map(|c| c.members.iter()) {
                for item in items {
                    seen.entry((member, item.tag))
                        // A tag is one write: every copy holds the same item.
                        .and_modify(|e| e.1 += 1)
                        .or_insert((item, 1));
                }
            }
        }
        let mut members: BTreeMap<Bytes, Vec<Item>> = BTreeMap::new();
        for ((member, tag), (item, holders)) in seen {
            let survives = holders == parts.len()
                || parts.iter().all(|(clock, coll)| {
                    coll.is_some_and(|c| holds(c, member, tag)) || !tag.covered_by(clock)
                });
            if survives {
                members
                    .entry(member.clone())
                    .or_default()
                    .push(item.clone());
            }
        }
        let mut joined = Collection::from_members(kind, members);
        for (_, coll) in parts {
            if let Some(c) = coll {
                joined.removed.join(&c.removed);
            }
        }
        joined
    }
}

fn holds(c: &Collection, member: &[u8], tag: Tag) -> bool {
    c.members
        .get(member)
        .is_some_and(|items| items.binary_search_by_key(&tag, |i| i.tag).is_ok())
}

/// The last write among a member's items: the greatest `ts_ms`, then tag.
pub fn latest_item(items: &[Item]) -> Option<&Item> {
    items.iter().max_by_key(|i| (i.ts_ms, i.tag))
}

/// The element a read shows among a member's items: the latest write
/// (`ts_ms`, then the tag, so every replica picks the same); if it is a
/// counter, every other counter of the same base is joined in, so
/// concurrent increments all count.
pub fn resolve_item(items: &[Item]) -> Option<Cow<'_, Element>> {
    let last = latest_item(items)?;
    let Element::Counter(winner) = &last.element else {
        return Some(Cow::Borrowed(&last.element));
    };
    let mut joined: Option<Counter> = None;
    for other in items.iter().filter(|i| i.tag != last.tag) {
        if let Element::Counter(c) = &other.element {
            if c.base_id == winner.base_id && c.base == winner.base {
                joined.get_or_insert_with(|| winner.clone()).join(c);
            }
        }
    }
    Some(joined.map_or(Cow::Borrowed(&last.element), |c| {
        Cow::Owned(Element::Counter(c))
    }))
}

/// A collection as a client reads it: each member with its value (empty
/// for a set; a sorted set's score as text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// Member → value, in member order.
    pub map: BTreeMap<Bytes, Bytes>,
}

/// Appends `n` as `u32be` (saturating).
pub(super) fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// Appends `len:u32be bytes`.
pub(super) fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len());
    out.extend_from_slice(b);
}

pub(super) fn take_u32(b: &[u8], pos: &mut usize) -> Option<usize> {
    let end = pos.checked_add(4)?;
    let raw: [u8; 4] = b.get(*pos..end)?.try_into().ok()?;
    *pos = end;
    usize::try_from(u32::from_be_bytes(raw)).ok()
}

pub(super) fn take_blob(b: &Bytes, pos: &mut usize) -> Option<Bytes> {
    let n = take_u32(b, pos)?;
    let end = pos.checked_add(n)?;
    if end > b.len() {
        return None;
    }
    let out = b.slice(*pos..end);
    *pos = end;
    Some(out)
}
