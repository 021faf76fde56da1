//! What a write that replaced a counter had seen of it, so increments made
//! concurrently elsewhere are neither lost nor counted twice.
//!
//! A counter belongs to a *lineage*: the write it grew from (its
//! `base_id`, see [`super::siblings::base_id`]). A DEL, a SET or an INCR
//! that restarts a counter from another base ends the lineages it
//! replaced. Through a partition an increment of an old lineage and an
//! increment of the new one are concurrent siblings of different bases;
//! joined by base alone, one branch would lose its acknowledged
//! increments. So the replacing write records, per lineage it ended, the
//! slots it had seen (the *floors*), and a read adds to the value every
//! increment no such write had seen: per lineage and actor, the part of the
//! highest slot known above the highest floor (observed-remove, as Riak's
//! OR-set removes only the dots it saw).
//!
//! The entries travel with the sibling (`Sibling::history`, payload tag 5
//! of record format 2, `docs/formats/record.md` §3.2). An INCR that
//! supersedes siblings of other lineages keeps their slots as `seen`, so
//! their increments still count after those siblings are gone. Entries are
//! pruned after [`HISTORY_MAX_AGE_MS`] or beyond [`MAX_REMOVED_LINEAGES`]
//! (oldest first): a branch separated longer than that would count again
//! the increments its lineage's reset had seen.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use super::counter::{Carried, Counter, Slot};
use super::siblings::{Payload, Sibling, base_id};
use super::{Actor, YOUNG_CLOCK_MS};

/// Most ended lineages a sibling remembers; the oldest go first.
pub const MAX_REMOVED_LINEAGES: usize = 8;

/// How long an ended lineage is remembered (one day, as young clock dots).
pub const HISTORY_MAX_AGE_MS: u64 = YOUNG_CLOCK_MS;

/// Slots by actor.
pub type Slots = BTreeMap<Actor, Slot>;

/// One lineage a write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// The `base_id` of the counters of that lineage.
    pub lineage: u64,
    /// When the lineage was first ended (unix ms): the pruning age.
    pub removed_ms: u64,
    /// The slots the ending write(s) had seen: never counted.
    pub floors: Slots,
    /// Higher slots of the lineage the sibling carries (an INCR that
    /// superseded a concurrent increment of it); only actors above their
    /// floor.
    pub seen: Slots,
}

/// The lineages a sibling ended, strictly increasing by lineage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History(Vec<Removed>);

impl History {
    /// No lineage ended (the encoding of every plain write).
    pub fn new() -> Self {
        History(Vec::new())
    }

    /// Whether no lineage is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, by lineage.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Removed> {
        self.0.iter()
    }

    /// Builds a history from entries strictly increasing by lineage (the
    /// decoder checks the order).
    pub(super) fn from_sorted(entries: Vec<Removed>) -> Self {
        History(entries)
    }

    /// Keeps the entries younger than [`HISTORY_MAX_AGE_MS`] at `now_ms`,
    /// at most [`MAX_REMOVED_LINEAGES`] of them (the most recent).
    fn pruned(mut entries: Vec<Removed>, now_ms: u64) -> History {
        entries.retain(|e| e.removed_ms.saturating_add(HISTORY_MAX_AGE_MS) > now_ms);
        if entries.len() > MAX_REMOVED_LINEAGES {
            entries.sort_by_key(|e| std::cmp::Reverse((e.removed_ms, e.lineage)));
            entries.truncate(MAX_REMOVED_LINEAGES);
        }
        entries.sort_by_key(|e| e.lineage);
        History(entries)
    }
}

impl History {
    /// The union of two histories, lineage by lineage: floors and seen
    /// slots joined, the earlier end kept (commutative, associative,
    /// idempotent).
    pub fn joined(&self, other: &History) -> History {
        let mut by: BTreeMap<u64, Removed> = BTreeMap::new();
        for e in self.0.iter().chain(other.0.iter()) {
            match by.get_mut(&e.lineage) {
                Some(mine) => {
                    mine.removed_ms = mine.removed_ms.min(e.removed_ms);
                    join_slots(&mut mine.floors, &e.floors);
                    join_slots(&mut mine.seen, &e.seen);
                }
                None => {
                    by.insert(e.lineage, e.clone());
                }
            }
        }
        History(
            by.into_values()
                .map(|mut e| {
                    e.seen = above(&e.seen, &e.floors);
                    e
                })
                .collect(),
        )
    }

    /// This history pruned at `now_ms` (see [`HISTORY_MAX_AGE_MS`],
    /// [`MAX_REMOVED_LINEAGES`]).
    pub fn pruned_at(&self, now_ms: u64) -> History {
        History::pruned(self.0.clone(), now_ms)
    }
}

/// Raises `into` to `from`, actor by actor (the counter join).
fn join_slots(into: &mut Slots, from: &Slots) {
    for (actor, theirs) in from {
        let mine = into.entry(*actor).or_default();
        if theirs.rank() > mine.rank() {
            *mine = *theirs;
        }
    }
}

/// What a set of siblings knows of each lineage.
#[derive(Default)]
struct Lineage {
    /// Ended by a write in the set (its counters are not a base).
    ended: bool,
    removed_ms: Option<u64>,
    floors: Slots,
    seen: Slots,
}

/// Every lineage a set of siblings knows: from their histories, and from
/// their counters.
pub(super) struct Lineages(BTreeMap<u64, Lineage>);

impl Lineages {
    /// The lineages of `siblings` at `now_ms`. A counter expired at
    /// `now_ms` has all its increments floored: they expired with it. What
    /// an expired sibling remembered is not read: a counter started after
    /// an expiry starts clean, so a counter reset each window (INCR, then
    /// EXPIRE) does not collect a lineage per window.
    pub(super) fn of<'a>(siblings: impl IntoIterator<Item = &'a Sibling>, now_ms: u64) -> Self {
        let mut lineages = Lineages(BTreeMap::new());
        for s in siblings {
            let expired = s.is_expired(now_ms);
            if !expired {
                lineages.add_history(&s.history);
            }
            if let Payload::Counter(c) = &s.payload {
                lineages.add_counter(c, expired);
            }
        }
        lineages
    }

    /// No lineage known yet.
    pub(super) fn new() -> Self {
        Lineages(BTreeMap::new())
    }

    /// Adds what a write's history remembers.
    pub(super) fn add_history(&mut self, history: &History) {
        for e in &history.0 {
            let l = self.0.entry(e.lineage).or_default();
            l.ended = true;
            l.removed_ms = Some(l.removed_ms.map_or(e.removed_ms, |m| m.min(e.removed_ms)));
            join_slots(&mut l.floors, &e.floors);
            join_slots(&mut l.seen, &e.floors);
            join_slots(&mut l.seen, &e.seen);
        }
    }

    /// Adds a counter's slots to its lineage; an `expired` counter's are
    /// floored as well (they expired with it).
    pub(super) fn add_counter(&mut self, c: &Counter, expired: bool) {
        let l = self.0.entry(c.base_id).or_default();
        let slots: Slots = c.slots().map(|(a, s)| (a, *s)).collect();
        join_slots(&mut l.seen, &slots);
        if expired {
            join_slots(&mut l.floors, &slots);
        }
    }

    /// Whether nothing is known (no counter, no history): reads take the
    /// plain path.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a write in the set ended `lineage`.
    pub(super) fn ended(&self, lineage: u64) -> bool {
        self.0.get(&lineage).is_some_and(|l| l.ended)
    }

    /// The increments of every lineage but `own` that no write has floored.
    pub(super) fn carried(&self, own: Option<u64>) -> Carried {
        let mut carried = Carried::default();
        for (id, l) in &self.0 {
            if Some(*id) == own {
                continue;
            }
            for (actor, seen) in &l.seen {
                let floor = l.floors.get(actor).copied().unwrap_or_default();
                carried.add_excess(seen, &floor);
            }
        }
        carried
    }

    /// The history an increment continuing lineage `own` writes at
    /// `now_ms` (it supersedes every sibling): every other lineage, ended,
    /// with what is known of it, so its unfloored increments keep counting.
    pub(super) fn history_for_increment(&self, own: u64, now_ms: u64) -> History {
        let entries = self
            .0
            .iter()
            .filter(|(id, _)| **id != own)
            .map(|(id, l)| Removed {
                lineage: *id,
                removed_ms: l.removed_ms.unwrap_or(now_ms),
                floors: l.floors.clone(),
                seen: above(&l.seen, &l.floors),
            })
            .collect();
        History::pruned(entries, now_ms)
    }

    /// The history of a value or deletion written at `now_ms` over the
    /// siblings these lineages were built from: every lineage ended, every
    /// increment it had seen floored. A deletion also ends the lineages an
    /// increment elsewhere could have started from what it replaced
    /// (`starts`: values that are numbers), so such a counter cannot
    /// outlive it as a base.
    pub(super) fn history_for_reset(&self, starts: &[u64], now_ms: u64) -> History {
        let mut entries: BTreeMap<u64, Removed> = self
            .0
            .iter()
            .map(|(id, l)| {
                let mut floors = l.floors.clone();
                join_slots(&mut floors, &l.seen);
                (
                    *id,
                    Removed {
                        lineage: *id,
                        removed_ms: l.removed_ms.unwrap_or(now_ms),
                        floors,
                        seen: Slots::new(),
                    },
                )
            })
            .collect();
        for id in starts {
            entries.entry(*id).or_insert_with(|| Removed {
                lineage: *id,
                removed_ms: now_ms,
                floors: Slots::new(),
                seen: Slots::new(),
            });
        }
        History::pruned(entries.into_values().collect(), now_ms)
    }
}

/// The slots of `seen` above their floor.
fn above(seen: &Slots, floors: &Slots) -> Slots {
    seen.iter()
        .filter(|(a, s)| floors.get(a).is_none_or(|f| s.rank() > f.rank()))
        .map(|(a, s)| (*a, *s))
        .collect()
}

/// The lineage an increment elsewhere would start from `s` if it replaced
/// it, when `s` is a value that reads as a number (expired or not: the
/// lineage is named by its clock either way). `None` for anything else: a
/// counter is its own lineage ([`Lineages::of`]), and a deletion replaced
/// by a deletion changes nothing a counter grew from.
pub(super) fn start_lineage(s: &Sibling) -> Option<u64> {
    match &s.payload {
        Payload::Value(v) if ringkv_number::parse_f64(v).is_some() => Some(base_id(&s.clock)),
        _ => None,
    }
}
