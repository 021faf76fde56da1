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
use crate::version::collection::{Collection, Item, cmp_scores, resolve_item};

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
        let above = if self.min_exclusive {
            score > self.min
        } else {
            score >= self.min
        };
        let below = if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        };
        above && below
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

/// The score a member's items show, as every sorted-set read takes it.
pub(super) fn score_of(items: &[Item]) -> Option<f64> {
    let element = resolve_item(items)?;
    Some(ringkv_number::parse_f64(&element.bytes()).unwrap_or(0.0))
}

/// The index prefix that goes with a member prefix (`split::member_prefix`).
pub(super) fn index_prefix(member_prefix: &[u8]) -> Vec<u8> {
    let mut out = member_prefix.to_vec();
    if let Some(top) = out.first_mut() {
        *top |= SCORE_NS_BIT.to_be_bytes()[0];
    }
    out
}

fn entry_key(prefix: &[u8], score: f64, member: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(prefix.len() + 8 + member.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&sortable(score).to_be_bytes());
    out.extend_from_slice(member);
    out.freeze()
}

/// Adds to `batch` the index changes that go with storing `now` over
/// `previous` (all of `now`'s entries without one), under `prefix`
/// ([`index_prefix`]).
pub(super) fn write_changes(
    batch: &mut WriteBatch,
    prefix: &[u8],
    previous: Option<&Collection>,
    now: &Collection,
    engine_expiry: u64,
) {
    for (member, items) in now.iter() {
        let old = previous.and_then(|p| p.items(member));
        if old == Some(items.as_slice()) {
            continue;
        }
        let before = old.and_then(score_of);
        let after = score_of(items);
        if before.map(sortable) == after.map(sortable) {
            continue;
        }
        if let Some(s) = before {
            batch.delete(entry_key(prefix, s, member));
        }
        if let Some(s) = after {
            batch.put(
                entry_key(prefix, s, member),
                Value::with_expiry(Bytes::new(), engine_expiry),
            );
        }
    }
    for (member, items) in previous.into_iter().flat_map(Collection::iter) {
        if now.items(member).is_none() {
            if let Some(s) = score_of(items) {
                batch.delete(entry_key(prefix, s, member));
            }
        }
    }
}

/// The members in `w`, in its order, read from the index under `prefix`.
pub(super) fn members_in(
    engine: &Engine,
    snapshot: &Snapshot,
    prefix: &[u8],
    w: &ScoreWindow,
) -> Result<Vec<Bytes>> {
    if w.count == 0 || w.min > w.max {
        return Ok(Vec::new());
    }
    if w.rev {
        return backward(engine, snapshot, prefix, w);
    }
    let mut start = prefix.to_vec();
    start.extend_from_slice(&sortable(w.min).to_be_bytes());
    let end = prefix_end(prefix).unwrap_or_default();
    let mut skip = w.offset;
    let mut out = Vec::new();
    for item in engine.iter(
        Bound::Included(&start[..]),
        Bound::Excluded(&end[..]),
        Some(snapshot),
    )? {
        let (k, _) = item?;
        let Some((score, member)) = parse_entry(&k, prefix.len()) else {
            continue;
        };
        if !w.contains(score) {
            if score < w.min || (score == w.min && w.min_exclusive) {
                continue;
            }
            break;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        out.push(member);
        if out.len() >= w.count {
            break;
        }
    }
    Ok(out)
}

/// [`members_in`] highest first: the engine iterates forward only, so this
/// reads windows of scores ending at the maximum, each sixteen times wider
/// than the last, until one holds enough (or reaches the minimum). A window
/// is a suffix of the range, so what it holds is exact.
fn backward(
    engine: &Engine,
    snapshot: &Snapshot,
    prefix: &[u8],
    w: &ScoreWindow,
) -> Result<Vec<Bytes>> {
    let (lo, hi) = (sortable(w.min), sortable(w.max));
    let end = match hi.checked_add(1) {
        Some(next) => {
            let mut end = prefix.to_vec();
            end.extend_from_slice(&next.to_be_bytes());
            end
        }
        None => prefix_end(prefix).unwrap_or_default(),
    };
    let wanted = w.offset.saturating_add(w.count);
    let mut span: u64 = 1 << 32;
    loop {
        let lower = hi.saturating_sub(span).max(lo);
        let mut start = prefix.to_vec();
        start.extend_from_slice(&lower.to_be_bytes());
        let mut found = Vec::new();
        for item in engine.iter(
            Bound::Included(&start[..]),
            Bound::Excluded(&end[..]),
            Some(snapshot),
        )? {
            let (k, _) = item?;
            if let Some((score, member)) = parse_entry(&k, prefix.len()) {
                if w.contains(score) {
                    found.push(member);
                }
            }
        }
        if found.len() >= wanted || lower == lo {
            return Ok(found
                .into_iter()
                .rev()
                .skip(w.offset)
                .take(w.count)
                .collect());
        }
        span = span.saturating_mul(16);
    }
}

/// An entry's score and member.
fn parse_entry(key: &Bytes, prefix_len: usize) -> Option<(f64, Bytes)> {
    let score = key.get(prefix_len..prefix_len + 8)?;
    let score = u64::from_be_bytes(score.try_into().ok()?);
    Some((from_sortable(score), key.slice(prefix_len + 8..)))
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
