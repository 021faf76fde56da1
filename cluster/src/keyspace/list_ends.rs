//! The ends of a split list: where its members start and end, and its
//! first or last elements read without passing the rest. (The header's
//! bounds of a split sorted set, in its score index, are computed here
//! too: [`list_end`].)
//!
//! A split list's header keeps two bounds, `first` (at most its least
//! position) and `last` (at least its greatest). Reads at the head start
//! at `first`, so the deletions that pops from the head left before it
//! are never passed; reads at the tail end at `last`. A push or a pop at
//! an end reads only the elements there: the end element by one point
//! read when the bound is its record, otherwise a window of positions
//! widened until it holds what is needed.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::ops::Bound;

use bytes::Bytes;
use ringkv_engine::{Engine, Snapshot, Value};

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

/// At least the last `k` members of a split collection (all of them when
/// it has fewer), in member order: every member of the first window of
/// the key space that holds `k`, which may hold many more. A list's
/// window ends at its last position (`header.last`) and starts a little
/// before it, widened until it holds `k`:
///
/// - within the last push first: a push of many elements gives them one
///   digit, told apart by their index in the write (the last 4 bytes of a
///   one-level position), so its last `k` start `k` indexes before the
///   last one's, and more when some were removed;
/// - then by digits: each push steps the first digit by one, so the last
///   `k` elements lie within about `k / (elements per digit)` digits of
///   the last, the elements per digit estimated from the list's length
///   and the digits its ends span.
///
/// Other kinds read every member. Of the window, only the last `keep`
/// members are kept (all when `None`; `Some(k)`: the last `k` members).
pub(super) fn tail_window(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    k: usize,
    keep: Option<usize>,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let prefix = member_prefix(ns, key, header.generation);
    // A list ends at its last position: the deletions its tail pops left
    // after it are never passed.
    let end = match header.kind {
        Kind::List if !header.last.is_empty() => {
            let mut after_last = member_key(&prefix, &header.last).to_vec();
            after_last.push(0);
            after_last
        }
        _ => prefix_end(&prefix).unwrap_or_default(),
    };
    let digit_of = |position: &[u8]| position.first_chunk::<8>().map(|d| u64::from_be_bytes(*d));
    let digit = match header.kind {
        Kind::List => digit_of(&header.last),
        _ => None,
    };
    let keep = keep.unwrap_or(usize::MAX);
    let records = |lower: &[u8]| -> Result<VecDeque<(Bytes, Value)>> {
        let mut window = VecDeque::with_capacity(k.min(1 << 16));
        for item in engine.iter(
            Bound::Included(lower),
            Bound::Excluded(&end[..]),
            Some(snapshot),
        )? {
            if window.len() == keep {
                window.pop_front();
            }
            window.push_back(item?);
        }
        Ok(window)
    };
    let want = u32::try_from(k).unwrap_or(u32::MAX);
    if let (Kind::List, Some((level, seq))) = (header.kind, split_last_level(&header.last)) {
        let mut back = want;
        while seq >= back {
            let mut lower = prefix.to_vec();
            lower.extend_from_slice(level);
            lower.extend_from_slice(&(seq - back).to_be_bytes());
            let window = records(&lower)?;
            if window.len() >= k {
                return decode_records(key, prefix.len(), window);
            }
            back = back.saturating_mul(4);
        }
    }
    let first_digit = digit_of(list_first(header));
    let per_digit = match (first_digit, digit) {
        (Some(first), Some(last)) if last >= first => {
            (header.count / (last - first).saturating_add(1)).max(1)
        }
        _ => 1,
    };
    // One element per digit (single pushes): `k` digits; otherwise one
    // more, as the last push may have given its digit fewer.
    let k_digits = u64::try_from(k).unwrap_or(u64::MAX);
    let mut span = match per_digit {
        1 => k_digits,
        n => k_digits.div_ceil(n).saturating_add(1),
    };
    loop {
        let mut lower = prefix.to_vec();
        // Whole once the window reaches the first digit.
        let whole = match digit {
            Some(d) if d >= span && first_digit.is_none_or(|f| d - span > f) => {
                lower.extend_from_slice(&(d - span).to_be_bytes());
                false
            }
            _ => {
                lower.extend_from_slice(list_first(header));
                true
            }
        };
        let window = records(&lower)?;
        if window.len() >= k || whole {
            return decode_records(key, prefix.len(), window);
        }
        span = span.saturating_mul(4);
    }
}

/// A one-level list position split into its first 24 bytes (digit, actor,
/// counter) and its index in the write; `None` for a deeper position.
fn split_last_level(position: &[u8]) -> Option<(&[u8], u32)> {
    if position.len() != crate::version::list_position::LEVEL_BYTES {
        return None;
    }
    let (level, seq) = position.split_at(position.len() - 4);
    Some((level, u32::from_be_bytes(seq.try_into().ok()?)))
}

/// Member records of `key` (engine keys with a prefix of `prefix_len`
/// bytes) decoded as members and their items.
fn decode_records(
    key: &[u8],
    prefix_len: usize,
    records: impl IntoIterator<Item = (Bytes, Value)>,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    records
        .into_iter()
        .map(|(ekey, value)| {
            let member = super::split::tail_of(ekey, prefix_len);
            Ok((member, member_items(key, &value)?))
        })
        .collect()
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
