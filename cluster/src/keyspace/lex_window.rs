//! A lex range of a sorted set (ZRANGEBYLEX's `min max`, ZRANGE BYLEX),
//! selected as Redis selects it over its compact encoding: from the first
//! member at or above the minimum (the last at or below the maximum, for
//! REV) while the other bound holds, in (score, member) order. With every
//! score equal, what lex ranges are for, that is exactly the members in
//! range. One selection serves a whole sorted set and a copy of a split
//! one's order (`super::zset_ranks`).

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

/// One end of a lex range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member`.
    Inclusive(Bytes),
    /// `(member`.
    Exclusive(Bytes),
}

/// A lex range: the members between `min` and `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexWindow {
    /// The lower end.
    pub min: LexBound,
    /// The upper end.
    pub max: LexBound,
}

impl LexWindow {
    /// Whether `member` is at or above the lower end.
    pub fn above_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(b) => member >= b.as_ref(),
            LexBound::Exclusive(b) => member > b.as_ref(),
        }
    }

    /// Whether `member` is at or below the upper end.
    pub fn below_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => member <= b.as_ref(),
            LexBound::Exclusive(b) => member < b.as_ref(),
        }
    }

    /// The ascending indexes `lo..hi` of the members selected among `len`
    /// members in (score, member) order, `member(i)` the `i`-th; read in
    /// reverse for REV.
    pub fn span<'a>(
        &self,
        len: usize,
        member: impl Fn(usize) -> Option<&'a [u8]>,
        rev: bool,
    ) -> (usize, usize) {
        // As Redis first checks: the last member reaches the minimum and
        // the first is within the maximum.
        let (Some(first), Some(last)) = (member(0), len.checked_sub(1).and_then(&member)) else {
            return (0, 0);
        };
        if !self.above_min(last) || !self.below_max(first) {
            return (0, 0);
        }
        let holds = |i: usize, test: &dyn Fn(&[u8]) -> bool| member(i).is_some_and(test);
        if rev {
            let Some(start) = (0..len).rev().find(|&i| holds(i, &|m| self.below_max(m))) else {
                return (0, 0);
            };
            let mut lo = start + 1;
            while lo > 0 && holds(lo - 1, &|m| self.above_min(m)) {
                lo -= 1;
            }
            (lo, start + 1)
        } else {
            let Some(start) = (0..len).find(|&i| holds(i, &|m| self.above_min(m))) else {
                return (0, 0);
            };
            let mut hi = start;
            while hi < len && holds(hi, &|m| self.below_max(m)) {
                hi += 1;
            }
            (start, hi)
        }
    }
}

impl LexWindow {
    /// [`LexWindow::span`] of members that ascend (every score equal, what
    /// lex ranges are for): the same span either way, found by two binary
    /// searches instead of a walk.
    pub fn span_ascending<'a>(
        &self,
        len: usize,
        member: impl Fn(usize) -> Option<&'a [u8]>,
    ) -> (usize, usize) {
        let lo = first_failing(len, |i| member(i).is_some_and(|m| !self.above_min(m)));
        let hi = first_failing(len, |i| member(i).is_some_and(|m| self.below_max(m)));
        if lo < hi { (lo, hi) } else { (0, 0) }
    }
}

/// The first index below `len` where `holds` fails, `holds` true up to
/// some index and false from there on.
fn first_failing(len: usize, holds: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The ascending indexes `from..to` a window selects from `span`
/// (ascending `lo..hi`): `offset` skipped and at most `count` taken from
/// the low end, or from the high end for REV.
pub fn picked_range(
    span: (usize, usize),
    rev: bool,
    offset: usize,
    count: usize,
) -> (usize, usize) {
    let (lo, hi) = span;
    let skip = offset.min(hi.saturating_sub(lo));
    let take = count.min(hi.saturating_sub(lo) - skip);
    if rev {
        (hi - skip - take, hi - skip)
    } else {
        (lo + skip, lo + skip + take)
    }
}

/// The indexes a window selects from `span` ([`picked_range`]), in reply
/// order (descending for REV).
pub fn picked(span: (usize, usize), rev: bool, offset: usize, count: usize) -> Vec<usize> {
    let (from, to) = picked_range(span, rev, offset, count);
    if rev {
        (from..to).rev().collect()
    } else {
        (from..to).collect()
    }
}

/// The members of `ordered` (in (score, member) order, each with what
/// goes with it) that `window` selects, in reply order (descending for
/// REV), `offset` skipped and at most `count`.
pub fn select<T>(
    window: &LexWindow,
    (rev, offset, count): (bool, usize, usize),
    ordered: Vec<(Bytes, T)>,
) -> Vec<(Bytes, T)> {
    let span = window.span(
        ordered.len(),
        |i| ordered.get(i).map(|(m, _)| m.as_ref()),
        rev,
    );
    let mut taken: Vec<Option<(Bytes, T)>> = ordered.into_iter().map(Some).collect();
    picked(span, rev, offset, count)
        .into_iter()
        .filter_map(|i| taken.get_mut(i).and_then(Option::take))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    #[test]
    fn spans_follow_redis_walk_both_ways() {
        let members: Vec<Bytes> = ["a", "b", "c", "d", "e"].into_iter().map(b).collect();
        let at = |i: usize| members.get(i).map(|m| m.as_ref());
        let w = |min, max| LexWindow { min, max };
        let inc = |s: &str| LexBound::Inclusive(b(s));
        let exc = |s: &str| LexBound::Exclusive(b(s));
        assert_eq!(w(inc("b"), exc("d")).span(5, at, false), (1, 3));
        assert_eq!(w(inc("b"), exc("d")).span(5, at, true), (1, 3));
        assert_eq!(w(LexBound::Min, LexBound::Max).span(5, at, false), (0, 5));
        assert_eq!(w(exc("e"), LexBound::Max).span(5, at, false), (0, 0));
        assert_eq!(w(LexBound::Max, LexBound::Min).span(5, at, true), (0, 0));
        assert_eq!(w(inc("c"), inc("c")).span(5, at, true), (2, 3));
        assert_eq!(w(inc("a"), inc("z")).span(0, at, false), (0, 0));
        assert_eq!(picked((1, 4), false, 1, 5), vec![2, 3]);
        assert_eq!(picked((1, 4), true, 1, 1), vec![2]);
        assert_eq!(picked((1, 4), true, 9, 1), Vec::<usize>::new());
    }

    /// Over ascending members, the binary searches find the span both
    /// walks find.
    #[test]
    fn ascending_spans_are_the_walks() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let word = |rng: &mut rand::rngs::StdRng, n: usize| -> Bytes {
            (0..rng.random_range(0..n))
                .map(|_| char::from(b'a' + rng.random_range(0..4u8)))
                .collect::<String>()
                .into()
        };
        for _ in 0..3000 {
            let mut members: Vec<Bytes> = (0..rng.random_range(0..30))
                .map(|_| word(&mut rng, 4))
                .collect();
            members.sort();
            members.dedup();
            let bound = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..6) {
                0 => LexBound::Min,
                1 => LexBound::Max,
                2 | 3 => LexBound::Inclusive(word(rng, 4)),
                _ => LexBound::Exclusive(word(rng, 4)),
            };
            let w = LexWindow {
                min: bound(&mut rng),
                max: bound(&mut rng),
            };
            let at = |i: usize| members.get(i).map(|m| m.as_ref());
            // An empty span is empty wherever the walk stopped.
            let walked = |rev| match w.span(members.len(), at, rev) {
                (lo, hi) if lo < hi => (lo, hi),
                _ => (0, 0),
            };
            let fast = w.span_ascending(members.len(), at);
            assert_eq!(fast, walked(false), "{w:?} {members:?}");
            assert_eq!(fast, walked(true), "{w:?} {members:?}");
        }
    }
}
