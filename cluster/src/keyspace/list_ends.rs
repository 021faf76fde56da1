//! The ends of a split list: where its members start and end, and its
//! first or last elements read without passing the rest. (The header's
//! bounds of a split sorted set, in its score index, are computed here
//! too: [`list_end`].)
//!
//! A split list's header keeps two bounds, `first` (at most its least
//! position) and `last` (at least its greatest). Reads at the head start
//! at `first`, so the deletions that pops from the head left before it
//! are never passed; reads at the tail start at `last` and walk down. A
//! push or a pop at an end reads only the elements there: the end element
//! by one point read when the bound is its record, otherwise by a walk
//! from the bound.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ops::Bound;

use bytes::Bytes;
use ringkv_engine::{Engine, Snapshot};

use super::score_index;
use super::split::{Need, get_member, member_items, member_key, member_prefix, prefix_end};
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Collection, Item, Kind};

/// Where a split collection's members start: a list's first position, or
/// the first member of any other kind (a sorted set's `first` is a bound in
/// its score index, not a member).
pub(super) fn list_first(header: &SplitHeader) -> &[u8] {
    match header.kind {
        Kind::List => &header.first,
        _ => &[],
    }
}

/// A list's head (`Need::Head(1)`) or tail (`Need::Tail(1)`) when its
/// record sits exactly at the header's bound (`first`, `last`): no member
/// lies beyond the bound, so that record is the end itself. One point read
/// (the memtable, then only the SSTables whose filters hold the key) takes
/// the place of an iterator that seeks every sorted run: a push reads its
/// end this way, about a fifth of an LPUSH's CPU before. `None` when the
/// bound is not a record (the header's bounds may lie beyond the ends:
/// `first` is at most the least position, `last` at least the greatest),
/// or for any other need.
pub(super) fn list_end_record(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    need: Need<'_>,
) -> Result<Option<(Bytes, Vec<Item>)>> {
    let bound = match need {
        Need::Head(1) => &header.first,
        Need::Tail(1) => &header.last,
        _ => return Ok(None),
    };
    if header.kind != Kind::List || bound.is_empty() {
        return Ok(None);
    }
    let found = get_member(engine, snapshot, ns, key, header, bound)?;
    Ok(found.map(|items| (bound.clone(), items)))
}

/// A list's least (`first`) or greatest position; a sorted set's lowest
/// (`first`) or highest member as its ascending or descending score-index
/// entry sorts ([`score_index::entry_suffix`]); empty for the other kinds.
pub(super) fn list_end(coll: &Collection, first: bool) -> Bytes {
    match coll.kind() {
        Kind::List => if first { coll.first() } else { coll.last() }
            .map(|(p, _)| p.clone())
            .unwrap_or_default(),
        Kind::ZSet => coll
            .iter()
            .filter_map(|(m, items)| {
                Some(score_index::entry_suffix(
                    score_index::score_of(items, coll.member_histories().get(m))?,
                    m,
                    !first,
                ))
            })
            .min()
            .unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// The last `k` members of a split collection (all of them when it has
/// fewer), in member order, read from its end down.
pub(super) fn tail_members(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    k: usize,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    let mut out = Vec::with_capacity(k.min(1 << 16));
    if k > 0 {
        visit_members_back(engine, snapshot, ns, key, header, |m, items| {
            out.push((m, items));
            out.len() < k
        })?;
    }
    out.reverse();
    Ok(out)
}

/// A split collection's members from the last down, to `take` until it
/// returns false. A list's walk starts at its last position and stops at
/// its first, so the deletions pops left beyond either are never passed.
pub(super) fn visit_members_back(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    mut take: impl FnMut(Bytes, Vec<Item>) -> bool,
) -> Result<()> {
    let prefix = member_prefix(ns, key, header.generation);
    let (upper, lower) = match header.kind {
        Kind::List if !header.last.is_empty() => (
            member_key(&prefix, &header.last).to_vec(),
            member_key(&prefix, list_first(header)).to_vec(),
        ),
        _ => (prefix_end(&prefix).unwrap_or_default(), prefix.to_vec()),
    };
    let upper = match header.kind {
        Kind::List if !header.last.is_empty() => Bound::Included(&upper[..]),
        _ => Bound::Excluded(&upper[..]),
    };
    let iter = engine.iter_rev(Bound::Included(&lower[..]), upper, Some(snapshot))?;
    for item in iter {
        let (ekey, value) = item?;
        let member = super::split::tail_of(ekey, prefix.len());
        if !take(member, member_items(key, &value)?) {
            break;
        }
    }
    Ok(())
}

/// A list's new first (`first`) or last position after a write that
/// loaded `loaded` and left `changed`: the old one unless the write removed
/// it, or the least (greatest) position the write left, whichever is
/// further out. Empty (not known: reads then start at the list's other
/// bound of the key space) when the write removed it and left none.
pub(super) fn list_bound(
    kind: Kind,
    old: &Bytes,
    loaded: &Collection,
    changed: &Collection,
    first: bool,
) -> Bytes {
    if kind != Kind::List {
        return Bytes::new();
    }
    let kept = Some(old)
        .filter(|p| !p.is_empty())
        .filter(|p| loaded.items(p).is_none() || changed.items(p).is_some());
    let written = if first {
        changed.first()
    } else {
        changed.last()
    }
    .map(|(p, _)| p);
    match (kept, written) {
        (Some(a), Some(b)) if first => a.min(b).clone(),
        (Some(a), Some(b)) => a.max(b).clone(),
        (Some(a), None) => a.clone(),
        (None, Some(b)) if !old.is_empty() || loaded.is_empty() => b.clone(),
        _ => Bytes::new(),
    }
}

/// A sorted set's new bound below which its ascending (`rev`: descending)
/// score-index order holds no member, after a write that loaded `loaded`
/// and left `changed` (empty: not known, the start of the index). A write
/// that loaded the members from that end (a pop, or ZREMRANGEBYSCORE from
/// `-inf`) and removed them all moves it up to the last one removed, so
/// the next walk from that end does not pass their deletion marks; a
/// member written below it moves it down.
pub(super) fn zset_bound(
    old: &Bytes,
    loaded: &Collection,
    changed: &Collection,
    need: Need<'_>,
    rev: bool,
) -> Bytes {
    use super::score_index::{entry_suffix, score_of};
    let suffix = |m: &Bytes, items: &[Item]| {
        let history = changed.member_histories().get(m);
        score_of(items, history).map(|s| entry_suffix(s, m, rev))
    };
    let mut bound = old.clone();
    // Loaded from this end: nothing before the window was left out.
    let popped_here = match need {
        Need::Scores(w) if w.rev == rev && w.offset == 0 => {
            if rev {
                w.max == f64::INFINITY && !w.max_exclusive
            } else {
                w.min == f64::NEG_INFINITY && !w.min_exclusive
            }
        }
        _ => false,
    };
    if popped_here && !loaded.is_empty() && loaded.iter().all(|(m, _)| changed.items(m).is_none()) {
        if let Some(last_removed) = loaded.iter().filter_map(|(m, i)| suffix(m, i)).max() {
            bound = bound.max(last_removed);
        }
    }
    if !bound.is_empty() {
        for (m, items) in changed.iter() {
            if loaded.items(m) == Some(items.as_slice()) {
                continue;
            }
            if let Some(s) = suffix(m, items).filter(|s| *s < bound) {
                bound = s;
            }
        }
    }
    bound
}
