//! What a write that removed or replaced a counter member of a hash or
//! sorted set had seen of it, so increments made concurrently elsewhere
//! count exactly once: the member-level form of
//! [`super::counter_history`].
//!
//! A member's counter (HINCRBY, HINCRBYFLOAT, ZINCRBY, ZADD INCR) belongs
//! to a lineage, its `base_id`, as a string counter does. HDEL, ZREM, a
//! pop or a ZREMRANGEBY* of such a member, and an HSET or a plain ZADD
//! over it, record per lineage the slots they had seen (the *floors*) in
//! the collection's [`MemberHistories`]; an increment that supersedes
//! counters of other lineages records theirs as seen. A read of the member
//! then counts every increment no such write had seen
//! ([`resolve_member`]): an HINCRBY made through a partition while the
//! other side deleted the field and incremented it again counts once, and
//! the increments the HDEL had seen do not come back.
//!
//! The histories travel with the collection (record payload tag 6 before
//! the collection, and the split header), and with a tombstone or a string
//! that replaced a collection holding counters, so a concurrent increment
//! arriving after a DEL finds its floors. Entries are pruned after
//! [`HISTORY_MAX_AGE_MS`] and beyond [`MAX_MEMBER_HISTORIES`] members (the
//! least recent first).

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;

use super::Actor;
use super::clock::VectorClock;
use super::collection::{Element, Item, Kind, Tag, latest_item, resolve_item};
use super::counter::Counter;
use super::counter_history::{HISTORY_MAX_AGE_MS, History, Lineages};
use super::siblings::{Payload, Sibling};

/// Most members whose counter history a collection remembers.
pub const MAX_MEMBER_HISTORIES: usize = 16;

/// The latest removal of a member: its write's time and tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Removal {
    /// The removing write's wall time (unix ms).
    pub ts_ms: u64,
    /// The removing write's tag.
    pub tag: Tag,
}

/// What writes that removed or replaced a member's counters had seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberHistory {
    /// The latest removal of the member, if one is remembered: when every
    /// counter left is of an ended lineage, the member reads as the
    /// increments no removal had seen, counted from 0.
    pub removal: Option<Removal>,
    /// The lineages ended, with their floors and what was seen of them.
    pub history: History,
}

impl MemberHistory {
    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.removal.is_none() && self.history.is_empty()
    }

    /// The most recent time it holds (its pruning order).
    fn newest_ms(&self) -> u64 {
        let removal = self.removal.map_or(0, |r| r.ts_ms);
        self.history
            .iter()
            .map(|e| e.removed_ms)
            .fold(removal, u64::max)
    }

    /// Joins `other` in: the later removal, both histories.
    fn join(&mut self, other: &MemberHistory) {
        self.removal = self.removal.max(other.removal);
        self.history = self.history.joined(&other.history);
    }
}

/// The member histories of one collection (or of the tombstone or string
/// that replaced one), by member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberHistories(BTreeMap<Bytes, MemberHistory>);

impl MemberHistories {
    /// None remembered.
    pub fn new() -> Self {
        MemberHistories(BTreeMap::new())
    }

    /// Whether none is remembered (the encoding of every other write).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many members have one.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `member`'s history, if any.
    pub fn get(&self, member: &[u8]) -> Option<&MemberHistory> {
        self.0.get(member)
    }

    /// Every member's history, in member order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Bytes, &MemberHistory)> {
        self.0.iter()
    }

    /// From entries strictly increasing by member, none empty (the decoder
    /// checked both).
    pub(super) fn from_sorted(entries: Vec<(Bytes, MemberHistory)>) -> Self {
        MemberHistories(entries.into_iter().collect())
    }

    /// Joins `other` in, member by member (commutative, associative,
    /// idempotent).
    pub fn join(&mut self, other: &MemberHistories) {
        for (member, theirs) in &other.0 {
            match self.0.get_mut(member) {
                Some(mine) => mine.join(theirs),
                None => {
                    self.0.insert(member.clone(), theirs.clone());
                }
            }
        }
    }

    /// Sets `member`'s history (an empty one removes it), then prunes at
    /// `now_ms`.
    fn set(&mut self, member: Bytes, history: MemberHistory, now_ms: u64) {
        if history.is_empty() {
            self.0.remove(&member);
        } else {
            self.0.insert(member, history);
        }
        self.prune(now_ms);
    }

    /// Drops what is older than [`HISTORY_MAX_AGE_MS`] at `now_ms`, and
    /// the least recent members beyond [`MAX_MEMBER_HISTORIES`].
    pub fn prune(&mut self, now_ms: u64) {
        let young = |ms: u64| ms.saturating_add(HISTORY_MAX_AGE_MS) > now_ms;
        self.0.retain(|_, h| {
            if h.removal.is_some_and(|r| !young(r.ts_ms)) {
                h.removal = None;
            }
            h.history = h.history.pruned_at(now_ms);
            !h.is_empty()
        });
        if self.0.len() > MAX_MEMBER_HISTORIES {
            let mut order: Vec<(u64, Bytes)> = self
                .0
                .iter()
                .map(|(m, h)| (h.newest_ms(), m.clone()))
                .collect();
            order.sort();
            let excess = self.0.len() - MAX_MEMBER_HISTORIES;
            for (_, m) in order.into_iter().take(excess) {
                self.0.remove(&m);
            }
        }
    }
}

/// What a member's history and its counters say of its lineages.
fn lineages(items: &[Item], mh: &MemberHistory) -> Lineages {
    let mut lineages = Lineages::new();
    lineages.add_history(&mh.history);
    for item in items {
        if let Element::Counter(c) = &item.element {
            lineages.add_counter(c, false);
        }
    }
    lineages
}

/// The bytes a client reads of a member whose record holds `items`:
/// [`resolve_member`]'s element, moved out of `items` rather than cloned
/// when it is the one plain value there (a read of many members, LRANGE or
/// HGETALL, then counts no reference per member), as a member of a
/// collection of `kind` reads ([`Element::bytes_in`]).
pub fn resolved_bytes(
    mut items: Vec<Item>,
    mh: Option<&MemberHistory>,
    kind: Kind,
) -> Option<Bytes> {
    if mh.is_none_or(MemberHistory::is_empty) {
        if let [
            Item {
                element: Element::Value(bytes),
                ..
            },
        ] = items.as_mut_slice()
        {
            return Some(std::mem::take(bytes));
        }
    }
    resolve_member(&items, mh).map(|e| e.bytes_in(kind))
}

/// The element a read of a member holding `items` shows, given its
/// history `mh` (see [`resolve_item`] without one).
///
/// The pick is the latest item that is not a counter of an ended lineage.
/// A counter pick has every counter of its base joined in and the
/// increments of other lineages no write had seen added; a number with
/// such increments beside it reads as a counter of them. When every item
/// is a counter of an ended lineage, the member holds the increments no
/// write had seen: from 0 after a removal, else from the latest base.
pub fn resolve_member<'a>(
    items: &'a [Item],
    mh: Option<&MemberHistory>,
) -> Option<Cow<'a, Element>> {
    let Some(mh) = mh.filter(|m| !m.is_empty()) else {
        return resolve_item(items);
    };
    let lineages = lineages(items, mh);
    let ended = |i: &Item| matches!(&i.element, Element::Counter(c) if lineages.ended(c.base_id));
    let pick = items
        .iter()
        .filter(|i| !ended(i))
        .max_by_key(|i| (i.ts_ms, i.tag));
    let carried_from = |base: Bytes, base_id: u64| {
        let carried = lineages.carried(None);
        let mut c = Counter::new(base, base_id);
        c.carried = carried;
        (!carried.is_zero()).then_some(c)
    };
    match pick {
        Some(p) => match &p.element {
            Element::Counter(winner) => {
                let mut c = winner.clone();
                for other in items.iter().filter(|i| i.tag != p.tag) {
                    if let Element::Counter(o) = &other.element {
                        if o.base_id == winner.base_id && o.base == winner.base {
                            c.join(o);
                        }
                    }
                }
                c.carried = lineages.carried(Some(winner.base_id));
                Some(Cow::Owned(Element::Counter(c)))
            }
            Element::Value(v) if ringkv_number::parse_f64(v).is_some() => Some(
                carried_from(v.clone(), p.tag.base_id()).map_or(Cow::Borrowed(&p.element), |c| {
                    Cow::Owned(Element::Counter(c))
                }),
            ),
            Element::Value(_) => Some(Cow::Borrowed(&p.element)),
        },
        None => {
            let latest = latest_item(items)?;
            let counter = match (mh.removal, &latest.element) {
                (Some(r), _) => carried_from(Bytes::from_static(b"0"), r.tag.base_id()),
                (None, Element::Counter(c)) => carried_from(c.base.clone(), latest.tag.base_id()),
                (None, Element::Value(_)) => None,
            };
            counter.map(|c| Cow::Owned(Element::Counter(c)))
        }
    }
}

/// The lineage an increment by the write `write` starts for a member whose
/// counter it does not continue (absent, a plain value, or only increments
/// carried from ended lineages): `None` (keep 0, or the value's, as ever)
/// when no history is remembered, so concurrent first increments join;
/// else the write's own, never one a removal ended (concurrent fresh
/// lineages carry each other's increments).
pub fn fresh_lineage(mh: Option<&MemberHistory>, write: Tag) -> Option<u64> {
    mh.filter(|m| !m.is_empty()).map(|_| write.base_id())
}

impl MemberHistories {
    /// Records what a write replacing `old` items of `member` by
    /// `element` at `now_ms` had seen: every other lineage ended (a counter
    /// continues its own). Nothing for a member without counters or
    /// history.
    pub(super) fn record_put(
        &mut self,
        member: &Bytes,
        old: Option<&[Item]>,
        element: &Element,
        now_ms: u64,
    ) {
        let mh = self.0.get(member.as_ref());
        let has_counter = old.is_some_and(|items| {
            items
                .iter()
                .any(|i| matches!(i.element, Element::Counter(_)))
        });
        if mh.is_none() && !has_counter {
            return;
        }
        let mh = mh.cloned().unwrap_or_default();
        let lineages = lineages(old.unwrap_or_default(), &mh);
        let history = match element {
            Element::Counter(c) => lineages.history_for_increment(c.base_id, now_ms),
            Element::Value(_) => lineages.history_for_reset(&[], now_ms),
        };
        let next = MemberHistory {
            removal: mh.removal,
            history,
        };
        self.set(member.clone(), next, now_ms);
    }

    /// Records the removal of `member`, which held `old` items, by the
    /// write `removal`: every lineage ended, every increment it had seen
    /// floored. Nothing for a member without counters or history.
    pub(super) fn record_removal(&mut self, member: &Bytes, old: &[Item], removal: Removal) {
        let mh = self.0.get(member.as_ref());
        let has_counter = old.iter().any(|i| matches!(i.element, Element::Counter(_)));
        if mh.is_none() && !has_counter {
            return;
        }
        let mh = mh.cloned().unwrap_or_default();
        let history = lineages(old, &mh).history_for_reset(&[], removal.ts_ms);
        // The join, not the newest: clocks of two nodes may disagree, and
        // every replica must reach the same state whatever the order.
        let next = MemberHistory {
            removal: mh.removal.max(Some(removal)),
            history,
        };
        self.set(member.clone(), next, removal.ts_ms);
    }
}

/// What a write of `payload` with `clock` by `actor` at `now_ms` records
/// of the collections among `siblings` it supersedes: nothing but for a
/// deletion or a string ([`replaced_member_histories`]). The common case,
/// a string over strings, looks at no clock.
pub(super) fn recorded_by(
    siblings: &[Sibling],
    clock: &VectorClock,
    actor: Actor,
    payload: &Payload,
    now_ms: u64,
) -> MemberHistories {
    let replaces_collections = || {
        siblings
            .iter()
            .any(|s| matches!(s.payload, Payload::Collection(_)) || !s.member_histories.is_empty())
    };
    match payload {
        Payload::Tombstone | Payload::Value(_) if replaces_collections() => {
            let tag = Tag {
                actor,
                counter: clock.counter(actor),
            };
            let replaced = siblings.iter().filter(|s| clock.descends(&s.clock));
            replaced_member_histories(replaced, tag, now_ms)
        }
        _ => MemberHistories::new(),
    }
}

/// The member histories the live siblings among `siblings` hold: what
/// deletions and strings recorded of the collections they replaced, and,
/// with `kind`, the own histories of the collections of that kind (a
/// collection whose members concurrent deletions all removed reads as
/// missing, and a write of that kind made over it must keep them).
pub(super) fn live_member_histories(
    siblings: &[Sibling],
    kind: Option<Kind>,
    now_ms: u64,
) -> MemberHistories {
    let mut all = MemberHistories::new();
    for s in siblings.iter().filter(|s| !s.is_expired(now_ms)) {
        match &s.payload {
            Payload::Collection(c) if Some(c.kind()) == kind => all.join(c.member_histories()),
            Payload::Collection(_) => {}
            _ => all.join(&s.member_histories),
        }
    }
    all
}

/// What a deletion or a string written by `tag` at `now_ms` records of the
/// collections it replaces: each counter member's removal (every increment
/// it had seen floored), and the histories they and the replaced
/// deletions carried. An expired sibling contributes nothing (an expiry
/// starts clean). Allocates nothing when nothing replaced holds a
/// collection or a history.
fn replaced_member_histories<'a>(
    replaced: impl Iterator<Item = &'a Sibling>,
    tag: Tag,
    now_ms: u64,
) -> MemberHistories {
    let mut out = MemberHistories::new();
    for s in replaced {
        if s.is_expired(now_ms) {
            continue;
        }
        match &s.payload {
            Payload::Collection(c) => {
                let mut recorded = c.member_histories().clone();
                let removal = Removal { ts_ms: now_ms, tag };
                for (member, items) in c.iter() {
                    recorded.record_removal(member, items, removal);
                }
                out.join(&recorded);
            }
            _ => out.join(&s.member_histories),
        }
    }
    if !out.is_empty() {
        out.prune(now_ms);
    }
    out
}
