//! The score index of a split sorted set: one entry per member, ordered as
//! Redis orders a sorted set (score, then member bytes), so a range by score
//! or by rank, or a pop at either end, reads the members it returns and not
//! the collection (`docs/formats/record.md` §3.6).
//!
//! An entry is `[ns | MEMBER_NS_BIT | SCORE_NS_BIT: u32][token(key): u64]
//! [len(key): u32][key][generation: u64][score: u64][member]` with an empty
//! value carrying the collection's expiry; `score` is the member's score
//! mapped to an unsigned integer of the same order ([`sortable`]). The
//! entries of a generation are written in the same batches as its member
//! records and reclaimed with them.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ops::Bound;

use bytes::{Bytes, BytesMut};
use ringkv_engine::{Engine, Snapshot, Value, WriteBatch};

use super::split::prefix_end;
use crate::error::Result;
use crate::namespace::SCORE_NS_BIT;
use crate::version::collection::{Collection, Item, cmp_scores, score_between};
use crate::version::member_history::{MemberHistory, resolve_member};

/// A window over a sorted set's (score, member) order: the members whose
/// score lies between `min` and `max`, highest first when `rev`, `offset`
/// of them skipped and at most `count` returned (what ZRANGEBYSCORE with
/// LIMIT, ZRANGE by rank and ZPOPMIN/ZPOPMAX select).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreWindow {
    /// The least score.
    pub min: f64,
    /// Whether `min` itself is left out.
    pub min_exclusive: bool,
    /// The greatest score.
    pub max: f64,
    /// Whether `max` itself is left out.
    pub max_exclusive: bool,
    /// Highest score first.
    pub rev: bool,
    /// Members skipped first.
    pub offset: usize,
    /// Members returned at most.
    pub count: usize,
}

impl ScoreWindow {
    /// The first `count` members from the lowest score (from the highest
    /// when `rev`).
    pub fn ends(rev: bool, count: usize) -> Self {
        ScoreWindow {
            min: f64::NEG_INFINITY,
            min_exclusive: false,
            max: f64::INFINITY,
            max_exclusive: false,
            rev,
            offset: 0,
            count,
        }
    }

    /// Ranks `start..=stop` (negative: from the end, as ZRANGE takes them)
    /// of a sorted set of `len` members, highest score first when `rev`;
    /// `None` when they select nothing. The window counts from whichever
    /// end is nearer: when that is the other end, its `rev` differs from
    /// the one asked, and what it reads comes in reverse.
    pub fn ranks(start: i64, stop: i64, rev: bool, len: usize) -> Option<Self> {
        let (from, to) = crate::version::list_op::trim_range(start, stop, len);
        if to <= from {
            return None;
        }
        let count = to - from;
        let (offset, rev) = if from <= len - to {
            (from, rev)
        } else {
            (len - to, !rev)
        };
        Some(ScoreWindow {
            offset,
            ..ScoreWindow::ends(rev, count)
        })
    }

    /// Whether `score` lies between the bounds.
    pub fn contains(&self, score: f64) -> bool {
        score_between(
            score,
            self.min,
            self.min_exclusive,
            self.max,
            self.max_exclusive,
        )
    }

    /// The window over `scored` (each member with its score and a value
    /// carried along), in the window's order.
    pub fn select<T>(&self, mut scored: Vec<(f64, Bytes, T)>) -> Vec<(Bytes, T)> {
        scored.retain(|(s, _, _)| self.contains(*s));
        scored.sort_by(|a, b| cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
        if self.rev {
            scored.reverse();
        }
        scored
            .into_iter()
            .skip(self.offset)
            .take(self.count)
            .map(|(_, m, v)| (m, v))
            .collect()
    }
}

/// A score as an unsigned integer of the same order (-0 as 0: Redis orders
/// them as equal).
pub(super) fn sortable(score: f64) -> u64 {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_sortable(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// The score a member's items show given its counter history (the
/// collection's, or the split header's), as every sorted-set read takes it.
pub(super) fn score_of(items: &[Item], history: Option<&MemberHistory>) -> Option<f64> {
    let element = resolve_member(items, history)?;
    Some(crate::version::collection::element_score(&element).unwrap_or(0.0))
}

/// The prefix of a sorted set's index entries that goes with its member
/// prefix (`split::member_prefix`); the ascending entries follow it with
/// [`ASCENDING`], the descending ones with [`DESCENDING`].
pub(super) fn index_prefix(member_prefix: &[u8]) -> Vec<u8> {
    let mut out = member_prefix.to_vec();
    if let Some(top) = out.first_mut() {
        *top |= SCORE_NS_BIT.to_be_bytes()[0];
    }
    out
}

/// Tag of the ascending entries: `[score][member]`, lowest first.
const ASCENDING: u8 = 0;
/// Tag of the descending entries: `[!score][member, inverted]`, highest
/// first (ZREVRANGE's order, read forward).
const DESCENDING: u8 = 1;

/// An entry's suffix after the index prefix and its tag: where it sorts.
pub(super) fn entry_suffix(score: f64, member: &[u8], rev: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + member.len() + 2);
    if rev {
        out.extend_from_slice(&(!sortable(score)).to_be_bytes());
        invert_member(member, &mut out);
    } else {
        out.extend_from_slice(&sortable(score).to_be_bytes());
        out.extend_from_slice(member);
    }
    out.freeze()
}

pub(super) fn tagged(prefix: &[u8], rev: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1 + 32);
    out.extend_from_slice(prefix);
    out.push(if rev { DESCENDING } else { ASCENDING });
    out
}

fn entry_key(prefix: &[u8], score: f64, member: &[u8], rev: bool) -> Bytes {
    let mut out = tagged(prefix, rev);
    out.extend_from_slice(&entry_suffix(score, member, rev));
    Bytes::from(out)
}

/// `member` in an order-reversing, prefix-free form: each byte inverted,
/// an inverted 0x00 (0xFF) written 0xFF 0x00, and 0xFF 0xFF at the end, so
/// a longer member sorts before its prefix.
fn invert_member(member: &[u8], out: &mut BytesMut) {
    for &b in member {
        if b == 0 {
            out.extend_from_slice(&[0xFF, 0x00]);
        } else {
            out.extend_from_slice(&[!b]);
        }
    }
    out.extend_from_slice(&[0xFF, 0xFF]);
}

/// The member [`invert_member`] wrote (`None` if malformed).
fn revert_member(mut bytes: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(bytes.len());
    loop {
        match bytes {
            [0xFF, 0xFF] => return Some(Bytes::from(out)),
            [0xFF, 0x00, rest @ ..] => {
                out.push(0);
                bytes = rest;
            }
            [b, rest @ ..] if *b != 0xFF => {
                out.push(!b);
                bytes = rest;
            }
            _ => return None,
        }
    }
}

/// Adds to `batch` the index changes that go with storing `now` over
/// `previous` (all of `now`'s entries without one), under `prefix`
/// ([`index_prefix`]): ascending entries, and descending ones too in a
/// generation that has them (`descending`); and returns them (for the copies of the set's
/// order, `super::zset_ranks`).
pub(super) fn write_changes(
    batch: &mut WriteBatch,
    prefix: &[u8],
    previous: Option<&Collection>,
    now: &Collection,
    engine_expiry: u64,
    descending: bool,
) -> super::zset_ranks::IndexChanges {
    let tags: &[bool] = if descending { &[false, true] } else { &[false] };
    let mut changes = super::zset_ranks::IndexChanges::default();
    let mut put = |score: f64, member: &Bytes| {
        for &rev in tags {
            batch.put(
                entry_key(prefix, score, member, rev),
                Value::with_expiry(Bytes::new(), engine_expiry),
            );
        }
        changes.added.push((sortable(score), member.clone()));
    };
    let mut deletes = Vec::new();
    for (member, items) in now.iter() {
        let old = previous.and_then(|p| p.items(member));
        if old == Some(items.as_slice()) {
            continue;
        }
        let before = old.and_then(|o| score_of(o, previous?.member_histories().get(member)));
        let after = score_of(items, now.member_histories().get(member));
        if before.map(sortable) == after.map(sortable) {
            continue;
        }
        if let Some(s) = before {
            deletes.push((s, member.clone()));
        }
        if let Some(s) = after {
            put(s, member);
        }
    }
    for (member, items) in previous.into_iter().flat_map(Collection::iter) {
        if now.items(member).is_none() {
            let history = previous.and_then(|p| p.member_histories().get(member));
            if let Some(s) = score_of(items, history) {
                deletes.push((s, member.clone()));
            }
        }
    }
    for (score, member) in deletes {
        for &rev in tags {
            batch.delete(entry_key(prefix, score, &member, rev));
        }
        changes.removed.push((sortable(score), member));
    }
    changes
}

/// The members in `w`, in its order, read forward from the ascending
/// entries under `index.0` ([`index_prefix`]), or when `w.rev` from the
/// descending ones (a generation that has them, `index.1`) or the
/// ascending ones walked down. `from` is a bound below which `w`'s order
/// holds no member (an [`entry_suffix`] in that order; empty when not
/// known), so a read at an end does not pass the deletions earlier pops
/// left there.
pub(super) fn members_in(
    engine: &Engine,
    snapshot: &Snapshot,
    index: (&[u8], bool),
    w: &ScoreWindow,
    from: &[u8],
) -> Result<Vec<Bytes>> {
    let mut skip = w.offset;
    let mut out = Vec::new();
    if w.count == 0 {
        return Ok(out);
    }
    let visit = |member| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        out.push(member);
        out.len() < w.count
    };
    walk(engine, snapshot, index, w, from, visit)?;
    Ok(out)
}

/// How many members have a score within `w`'s bounds (ZCOUNT), counted on
/// the ascending entries from `from` ([`members_in`]).
pub(super) fn count_in(
    engine: &Engine,
    snapshot: &Snapshot,
    prefix: &[u8],
    w: &ScoreWindow,
    from: &[u8],
) -> Result<u64> {
    let mut n = 0u64;
    let ascending = ScoreWindow { rev: false, ..*w };
    walk(engine, snapshot, (prefix, false), &ascending, from, |_| {
        n += 1;
        true
    })?;
    Ok(n)
}

/// Visits the members within `w`'s bounds in its direction (offset and
/// count aside) until `visit` says stop: forward over the ascending
/// entries, or for `w.rev` over the descending ones (a generation that has
/// them, `descending`) or down the ascending ones. `from` is the bound in
/// `w`'s order where its members start (empty when not known).
fn walk(
    engine: &Engine,
    snapshot: &Snapshot,
    (prefix, descending): (&[u8], bool),
    w: &ScoreWindow,
    from: &[u8],
    mut visit: impl FnMut(Bytes) -> bool,
) -> Result<()> {
    if w.min > w.max {
        return Ok(());
    }
    let first = if w.rev { w.max } else { w.min };
    let down = w.rev && !descending;
    // Entries in `w`'s order when read forward.
    let forward_rev = w.rev && !down;
    let base = tagged(prefix, forward_rev);
    let end = prefix_end(&base).unwrap_or_default();
    let iter = if down {
        // Every entry of a score up to `w.max` sorts before the next
        // score's; the walk starts there or at the highest entry `from`
        // names, whichever is lower.
        let mut of_max = base.clone();
        of_max.extend_from_slice(&sortable(w.max).to_be_bytes());
        let past_max = prefix_end(&of_max).unwrap_or_default().min(end);
        let highest = highest_entry(&base, from).filter(|h| *h < past_max);
        let upper = match &highest {
            Some(h) => Bound::Included(&h[..]),
            None => Bound::Excluded(&past_max[..]),
        };
        let mut lower = base.clone();
        lower.extend_from_slice(&sortable(w.min).to_be_bytes());
        engine.iter_rev(Bound::Included(&lower[..]), upper, Some(snapshot))?
    } else {
        let at_first = entry_suffix(first, b"", forward_rev);
        let mut start = base.clone();
        start.extend_from_slice(at_first.get(..8).unwrap_or_default().max(from));
        engine.iter(
            Bound::Included(&start[..]),
            Bound::Excluded(&end[..]),
            Some(snapshot),
        )?
    };
    for item in iter {
        let (k, _) = item?;
        let Some((score, member)) = parse_entry(&k, base.len(), forward_rev) else {
            continue;
        };
        if !w.contains(score) {
            // Before the window (an excluded first bound), or past it.
            if score == first {
                continue;
            }
            break;
        }
        if !visit(member) {
            break;
        }
    }
    Ok(())
}

/// The ascending entry (under `base`, the ascending tag) that a bound in
/// descending order (`from`, a descending [`entry_suffix`]) names; `None`
/// when it is empty or does not parse.
fn highest_entry(base: &[u8], from: &[u8]) -> Option<Vec<u8>> {
    if from.is_empty() {
        return None;
    }
    let (score, member) = parse_entry(&Bytes::copy_from_slice(from), 0, true)?;
    let mut entry = base.to_vec();
    entry.extend_from_slice(&entry_suffix(score, &member, false));
    Some(entry)
}

/// The ascending rank of `member` (present, with `score`) in a split
/// sorted set of `count` members: the entries before it, counted from both
/// ends at once (`bounds`: the header's `first` and `last`), so the cost is
/// its distance from the nearer end.
#[allow(clippy::too_many_arguments)]
pub(super) fn rank(
    engine: &Engine,
    snapshot: &Snapshot,
    (prefix, descending): (&[u8], bool),
    bounds: (&[u8], &[u8]),
    score: f64,
    member: &[u8],
    count: u64,
) -> Result<u64> {
    let range = |rev: bool, from: &[u8]| {
        let base = tagged(prefix, rev);
        let mut start = base.clone();
        start.extend_from_slice(from);
        let mut target = base;
        target.extend_from_slice(&entry_suffix(score, member, rev));
        (start, target)
    };
    let (up_start, up_end) = range(false, bounds.0);
    let mut up = engine.iter(
        Bound::Included(&up_start[..]),
        Bound::Excluded(&up_end[..]),
        Some(snapshot),
    )?;
    // The entries above it: descending ones read forward, or ascending
    // ones walked down to it.
    let mut down = if descending {
        let (down_start, down_end) = range(true, bounds.1);
        engine.iter(
            Bound::Included(&down_start[..]),
            Bound::Excluded(&down_end[..]),
            Some(snapshot),
        )?
    } else {
        let base = tagged(prefix, false);
        let index_end = prefix_end(&base).unwrap_or_default();
        let highest = highest_entry(&base, bounds.1);
        let upper = match &highest {
            Some(h) => Bound::Included(&h[..]),
            None => Bound::Excluded(&index_end[..]),
        };
        engine.iter_rev(Bound::Excluded(&up_end[..]), upper, Some(snapshot))?
    };
    let (mut below, mut above) = (0u64, 0u64);
    loop {
        match up.next() {
            None => return Ok(below),
            Some(item) => {
                item?;
                below += 1;
            }
        }
        match down.next() {
            None => return Ok(count.saturating_sub(1).saturating_sub(above)),
            Some(item) => {
                item?;
                above += 1;
            }
        }
    }
}

/// An entry's score and member, from its key after the tagged prefix.
pub(super) fn parse_entry(key: &Bytes, at: usize, rev: bool) -> Option<(f64, Bytes)> {
    let score = key.get(at..at + 8)?;
    let score = u64::from_be_bytes(score.try_into().ok()?);
    if rev {
        Some((from_sortable(!score), revert_member(key.get(at + 8..)?)?))
    } else {
        Some((from_sortable(score), key.slice(at + 8..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_keeps_the_order_of_scores() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for pair in scores.windows(2) {
            if let [a, b] = pair {
                assert!(sortable(*a) < sortable(*b), "{a} < {b}");
            }
        }
        for s in scores {
            assert_eq!(from_sortable(sortable(s)), s);
        }
        assert_eq!(sortable(-0.0), sortable(0.0));
    }

    #[test]
    fn descending_entries_sort_highest_first_and_members_read_back() {
        let members: [&[u8]; 7] = [
            b"",
            b"\x00",
            b"\x00\x00",
            b"a",
            b"a\x00",
            b"ab",
            b"\xff\xfe",
        ];
        let mut keys: Vec<(Bytes, f64, &[u8])> = Vec::new();
        for score in [-1.5, 0.0, 2.0] {
            for m in members {
                keys.push((entry_suffix(score, m, true), score, m));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let order: Vec<(f64, &[u8])> = keys.iter().map(|(_, s, m)| (*s, *m)).collect();
        let mut want = order.clone();
        want.sort_by(|a, b| cmp_scores(b.0, a.0).then_with(|| b.1.cmp(a.1)));
        assert_eq!(order, want);
        for (k, s, m) in keys {
            let full = Bytes::from([&b"p"[..], &k[..]].concat());
            assert_eq!(
                parse_entry(&full, 1, true),
                Some((s, Bytes::copy_from_slice(m)))
            );
        }
        assert_eq!(revert_member(b"\xff"), None);
        assert_eq!(revert_member(b"a"), None);
    }

    #[test]
    fn ranks_count_from_the_nearer_end() {
        let w = ScoreWindow::ranks(0, 9, false, 100).expect("in range");
        assert_eq!((w.offset, w.count, w.rev), (0, 10, false));
        let w = ScoreWindow::ranks(-10, -1, false, 100).expect("in range");
        assert_eq!((w.offset, w.count, w.rev), (0, 10, true));
        let w = ScoreWindow::ranks(80, 89, true, 100).expect("in range");
        assert_eq!((w.offset, w.count, w.rev), (10, 10, false));
        assert!(ScoreWindow::ranks(5, 2, false, 100).is_none());
        assert!(ScoreWindow::ranks(100, 200, false, 100).is_none());
    }
}
