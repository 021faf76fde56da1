//! What a read or write of a split collection needs of its members
//! ([`Need`]), and which of a list's elements a search through the matches
//! of a value keeps ([`Through`]).

use bytes::Bytes;

use super::score_index::ScoreWindow;
use crate::version::collection::Kind;

/// Which of a list's elements, met from the head, a [`Need::HeadThrough`]
/// keeps: each up to the `matches`-th match (at most `scan`), then the one
/// after it.
pub(super) struct Through {
    matches: usize,
    scan: usize,
    found: usize,
    taken: usize,
    /// The matches are found: the next element is the last kept.
    next_only: bool,
}

impl Through {
    pub(super) fn new(matches: usize, scan: usize) -> Through {
        Through {
            matches,
            scan,
            found: 0,
            taken: 0,
            next_only: false,
        }
    }

    /// Whether any element is kept.
    pub(super) fn wants_any(&self) -> bool {
        self.matches > 0 && self.scan > 0
    }

    /// For the next element (`is_match`: its value is the one searched
    /// for): whether it is kept, and whether to look at the one after it.
    pub(super) fn step(&mut self, is_match: bool) -> (bool, bool) {
        if self.next_only {
            return (true, false);
        }
        if !self.wants_any() || self.taken >= self.scan {
            return (false, false);
        }
        self.taken += 1;
        self.found += usize::from(is_match);
        if self.found >= self.matches {
            self.next_only = true;
            return (true, true);
        }
        (true, self.taken < self.scan)
    }
}

/// Which members a write or read of a split collection needs.
#[derive(Clone, Copy, Debug)]
pub enum Need<'a> {
    /// These members (HSET, HGET, SISMEMBER, ZSCORE...).
    Members(&'a [Bytes]),
    /// The first `n` (LPOP, LPUSH, LRANGE near the head).
    Head(usize),
    /// The last `n` (RPOP, RPUSH, LRANGE near the tail).
    Tail(usize),
    /// Only how many there are (HLEN, SCARD, LLEN).
    Count,
    /// A list's first elements through the `matches`-th whose value is
    /// `element` and the one after it, at most `scan` before that one (all
    /// of them, or `scan`, when fewer match): LPOS from the head, which
    /// stops at its match, and LREM of the first matches, which learns the
    /// list's new first element when it removes the head ([`Through`]).
    HeadThrough {
        /// The value searched for.
        element: &'a [u8],
        /// Matches to read through.
        matches: usize,
        /// Elements read at most.
        scan: usize,
    },
    /// As [`Need::HeadThrough`], met from the tail: a list's last elements
    /// back through the `matches`-th from the tail whose value is
    /// `element`, and the one before it (LREM of the last matches, which
    /// learns the list's new last element when it removes the tail); read
    /// in windows from the tail, each eight times the one before.
    TailThrough {
        /// The value searched for.
        element: &'a [u8],
        /// Matches to read through.
        matches: usize,
        /// Elements read at most.
        scan: usize,
    },
    /// The members LRANGE `start stop` returns (LINDEX: one index twice),
    /// read from the nearer end.
    Range {
        /// Redis's start index (negative from the tail).
        start: i64,
        /// Redis's stop index, inclusive.
        stop: i64,
    },
    /// What LTRIM `start stop` looks at of a list: the elements it removes
    /// from either end and the one after each
    /// ([`crate::version::list_op::trim_ends`]); every element when that
    /// is all of them.
    Trim {
        /// Redis's start index (negative from the tail).
        start: i64,
        /// Redis's stop index, inclusive.
        stop: i64,
    },
    /// A sorted set's members in a window of its (score, member) order
    /// (ZRANGEBYSCORE, ZPOPMIN...), in the window's order.
    Scores(ScoreWindow),
    /// Up to `count` members in member order, from the first (`after`
    /// `None`) or from the first after `after` (a scan's page).
    After {
        /// The member the page starts after.
        after: Option<&'a [u8]>,
        /// How many members at most.
        count: usize,
    },
    /// Members picked at random as SRANDMEMBER picks them
    /// ([`super::random_picks`]): `n` distinct ones (all, if fewer) when
    /// `n` > 0, `-n` with repeats when `n` < 0, in the order picked.
    Sample(i64),
    /// A sorted set's `member` (if present) with its rank from the lowest
    /// score, or from the highest when `rev` (ZRANK, ZREVRANK), in
    /// [`super::PartialRead::counted`].
    Rank {
        /// The member.
        member: &'a [u8],
        /// Ranked from the highest score.
        rev: bool,
    },
    /// No members; how many of a sorted set's members have a score within
    /// the window's bounds (ZCOUNT; offset, count and direction aside), in
    /// [`super::PartialRead::counted`].
    CountScores(ScoreWindow),
    /// The members a lex range selects (ZRANGEBYLEX, ZREVRANGEBYLEX, ZRANGE
    /// BYLEX), in reply order, `offset` of them skipped and at most `count`.
    Lex {
        /// The range.
        window: &'a super::LexWindow,
        /// Highest first.
        rev: bool,
        /// Members skipped first.
        offset: usize,
        /// Members returned at most.
        count: usize,
    },
    /// No members; how many a lex range selects (ZLEXCOUNT), in
    /// [`super::PartialRead::counted`].
    CountLex(&'a super::LexWindow),
    /// The members ZRANGE `start stop` (REV when `rev`) returns by rank, in
    /// that order.
    Ranks {
        /// Redis's start index (negative from the end).
        start: i64,
        /// Redis's stop index, inclusive.
        stop: i64,
        /// Highest score first.
        rev: bool,
    },
}

impl<'a> Need<'a> {
    /// [`Need::HeadThrough`], or [`Need::TailThrough`] when `from_tail`.
    pub fn through(element: &'a [u8], matches: usize, scan: usize, from_tail: bool) -> Self {
        if from_tail {
            Need::TailThrough {
                element,
                matches,
                scan,
            }
        } else {
            Need::HeadThrough {
                element,
                matches,
                scan,
            }
        }
    }

    /// The kind of collection this need is a window of (a list's ends or
    /// indexes, a sorted set's scores, ranks or lex range); `None` for the
    /// needs every kind answers.
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Need::Head(_)
            | Need::Tail(_)
            | Need::HeadThrough { .. }
            | Need::TailThrough { .. }
            | Need::Range { .. }
            | Need::Trim { .. } => Some(Kind::List),
            Need::Scores(_)
            | Need::Rank { .. }
            | Need::CountScores(_)
            | Need::Lex { .. }
            | Need::CountLex(_)
            | Need::Ranks { .. } => Some(Kind::ZSet),
            Need::Members(_) | Need::Count | Need::Sample(_) | Need::After { .. } => None,
        }
    }
}
