//! Sorted-set ranges as Redis 7.0 parses and walks them: members ordered
//! by (score, member), score bounds (`(1`, `-inf`, `+inf`), lex bounds
//! (`[a`, `(a`, `-`, `+`), rank ranges with negative indices, and the
//! options of the ZRANGE family (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES).

use bytes::Bytes;
use ringkv_cluster::{LexBound, LexWindow, Members, Need, ScoreWindow};
use ringkv_resp::{Protocol, Reply};

use super::args::{is, parse_i64};
use crate::reply_error::ReplyError;

/// Members in Redis's order: score, then member bytes.
pub type Sorted = Vec<(f64, Bytes)>;

/// The members of a sorted set in order.
pub fn sorted(members: Members) -> Sorted {
    let mut v: Sorted = members
        .map
        .into_iter()
        .map(|(m, s)| (ringkv_number::parse_f64(&s).unwrap_or(0.0), m))
        .collect();
    v.sort_by(|a, b| ringkv_cluster::cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
    v
}

/// A score as Redis 7.0 replies with it: a bulk string (`%.17g`) in RESP2,
/// a double in RESP3.
pub fn score_reply(score: f64, proto: Protocol) -> Reply {
    match proto {
        Protocol::Resp3 => Reply::Double(score),
        Protocol::Resp2 => Reply::Bulk(Bytes::from(ringkv_number::format_score(score))),
    }
}

/// Members, with their scores when `with_scores`: RESP2 alternates them in
/// one array, RESP3 nests `[member, score]` pairs, as Redis 7.0 does.
pub fn members_reply(items: &[(f64, Bytes)], with_scores: bool, proto: Protocol) -> Reply {
    Reply::Array(member_replies(items, with_scores, proto).1.collect())
}

/// [`members_reply`] encoded as it is built ([`Reply::streamed_array`]):
/// for random picks with repeats, millions of them.
pub fn streamed_members_reply(items: &[(f64, Bytes)], with_scores: bool, proto: Protocol) -> Reply {
    let (len, replies) = member_replies(items, with_scores, proto);
    Reply::streamed_array(len, proto, replies)
}

/// The elements of [`members_reply`]'s array, and how many.
fn member_replies(
    items: &[(f64, Bytes)],
    with_scores: bool,
    proto: Protocol,
) -> (usize, impl Iterator<Item = Reply> + '_) {
    let replies = items.iter().flat_map(move |(s, m)| {
        let score = with_scores.then(|| score_reply(*s, proto));
        pair_elements(Reply::Bulk(m.clone()), score, proto)
    });
    (items.len() * elements_per_pair(with_scores, proto), replies)
}

/// The array elements one member stands for in a reply that may carry a
/// second value with it (a score, a hash value): the member alone, the
/// two side by side in RESP2, or a nested `[member, value]` in RESP3, as
/// Redis 7.0 replies.
pub fn pair_elements(
    first: Reply,
    second: Option<Reply>,
    proto: Protocol,
) -> impl Iterator<Item = Reply> {
    let (first, second) = match second {
        Some(v) if proto == Protocol::Resp3 => (Reply::Array(vec![first, v]), None),
        second => (first, second),
    };
    std::iter::once(first).chain(second)
}

/// How many array elements [`pair_elements`] gives a member.
pub fn elements_per_pair(with_second: bool, proto: Protocol) -> usize {
    if with_second && proto == Protocol::Resp2 {
        2
    } else {
        1
    }
}

/// LIMIT offset count as a window takes them: a negative offset selects
/// nothing and a negative count everything after the offset.
fn limit_window(limit: Option<(i64, i64)>) -> (usize, usize) {
    match limit {
        Some((offset, _)) if offset < 0 => (0, 0),
        Some((offset, count)) => (
            usize::try_from(offset).unwrap_or(usize::MAX),
            usize::try_from(count).unwrap_or(usize::MAX),
        ),
        None => (0, usize::MAX),
    }
}

/// One end of a score range.
#[derive(Clone, Copy, Debug)]
pub struct ScoreBound {
    value: f64,
    exclusive: bool,
}

/// A score range (`min max` as ZRANGEBYSCORE takes them).
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    min: ScoreBound,
    max: ScoreBound,
}

/// A bound as Redis's `zslParseRange` reads it with `strtod`: leading
/// spaces skipped, nothing at all is 0, NaN refused.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, arg),
    };
    let start = text
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    let value = if text.is_empty() {
        0.0
    } else {
        ringkv_number::parse_f64(text)?
    };
    Some(ScoreBound { value, exclusive })
}

/// A score, increment or weight as Redis's `getDoubleFromObject` reads it:
/// also refused when it overflows to infinity or underflows to zero (a
/// literal `inf` is fine).
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    let v = ringkv_number::parse_f64(arg)?;
    let digits = arg
        .strip_prefix(b"+")
        .or_else(|| arg.strip_prefix(b"-"))
        .unwrap_or(arg);
    if v.is_infinite() && !digits.to_ascii_lowercase().starts_with(b"inf") {
        return None;
    }
    if v == 0.0 {
        let hex = digits.len() > 1 && digits[1].eq_ignore_ascii_case(&b'x');
        let (body, exponent_mark) = if hex {
            (&digits[2..], b'p')
        } else {
            (digits, b'e')
        };
        let body = body
            .split(|c| c.eq_ignore_ascii_case(&exponent_mark))
            .next()
            .unwrap_or_default();
        if body.iter().any(|c| c.is_ascii_alphanumeric() && *c != b'0') {
            return None;
        }
    }
    Some(v)
}

/// 2^63 as a float: the end of the 64-bit integer range.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A score as ZSCAN prints it (Redis 7.0 keeps small sorted sets as text
/// from `d2string`): a whole number within the 64-bit range as an integer,
/// otherwise `%.17g`.
pub fn scan_score_text(score: f64) -> Bytes {
    if score == score.trunc() && (-TWO_POW_63..TWO_POW_63).contains(&score) {
        return Bytes::from((score as i64).to_string());
    }
    Bytes::from(ringkv_number::format_score(score))
}

impl ScoreRange {
    /// Parses `min` and `max`; Redis's error otherwise.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, ReplyError> {
        match (score_bound(min), score_bound(max)) {
            (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
            _ => Err(ReplyError::err("min or max is not a float")),
        }
    }

    /// The window a BYSCORE query with this range selects (`rev`: highest
    /// first; `limit`: LIMIT offset count, where a negative offset selects
    /// nothing and a negative count everything after the offset).
    pub fn window(&self, rev: bool, limit: Option<(i64, i64)>) -> ScoreWindow {
        let (offset, count) = limit_window(limit);
        ScoreWindow {
            min: self.min.value,
            min_exclusive: self.min.exclusive,
            max: self.max.value,
            max_exclusive: self.max.exclusive,
            rev,
            offset,
            count,
        }
    }

    /// Whether `score` lies in the range.
    pub fn contains(&self, score: f64) -> bool {
        self.window(false, None).contains(score)
    }
}

/// A lex range (`min max` as ZRANGEBYLEX takes them).
#[derive(Clone, Debug)]
pub struct LexRange(LexWindow);

fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
        b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
        _ => None,
    }
}

impl LexRange {
    /// Parses `min` and `max`; Redis's error otherwise.
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, ReplyError> {
        match (lex_bound(min), lex_bound(max)) {
            (Some(min), Some(max)) => Ok(LexRange(LexWindow { min, max })),
            _ => Err(ReplyError::err("min or max not valid string range item")),
        }
    }

    /// The range, for a read of a large sorted set that selects it.
    pub fn window(&self) -> &LexWindow {
        &self.0
    }

    /// The members in range, walked as Redis walks a compact sorted set
    /// ([`LexWindow::span`]), in reply order.
    pub fn run<'a>(&self, items: &'a Sorted, rev: bool) -> Vec<&'a (f64, Bytes)> {
        let span = self
            .0
            .span(items.len(), |i| items.get(i).map(|(_, m)| m.as_ref()), rev);
        let (lo, hi) = span;
        let picked = items.get(lo..hi).unwrap_or_default();
        if rev {
            picked.iter().rev().collect()
        } else {
            picked.iter().collect()
        }
    }
}

/// Indices `[start, end]` (inclusive) that a rank range selects among
/// `len` members (negative indices count from the end), or `None`.
pub fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { start + len_i } else { start }.max(0);
    let end = if end < 0 { end + len_i } else { end };
    if start > end || start >= len_i {
        return None;
    }
    let end = end.min(len_i - 1);
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// What a ZRANGE-family command selects.
#[derive(Clone, Debug)]
pub enum RangeBy {
    /// By index.
    Rank(i64, i64),
    /// By score.
    Score(ScoreRange),
    /// By member (all scores equal).
    Lex(LexRange),
}

/// A parsed ZRANGE-family request.
#[derive(Clone, Debug)]
pub struct RangeQuery {
    /// What is selected.
    pub by: RangeBy,
    /// Highest first.
    pub rev: bool,
    /// LIMIT offset count (count < 0: all).
    pub limit: Option<(i64, i64)>,
    /// WITHSCORES.
    pub with_scores: bool,
}

/// How a command fixes the range kind and direction (the legacy
/// ZRANGEBYSCORE and friends), or leaves them to options (ZRANGE).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Options choose (ZRANGE, ZRANGESTORE).
    Auto,
    /// By rank.
    Rank,
    /// By score.
    Score,
    /// By lex.
    Lex,
}

/// Parses `min max [options]` starting at `args[at]` as Redis 7.0's
/// `zrangeGenericCommand` does (`store`: ZRANGESTORE, no WITHSCORES).
pub fn parse_query(
    args: &[Bytes],
    at: usize,
    fixed: Kind,
    rev_fixed: bool,
    store: bool,
) -> Result<RangeQuery, ReplyError> {
    let (mut kind, mut rev, mut limit, mut with_scores) = (fixed, rev_fixed, None, false);
    let mut j = at + 2;
    while let Some(a) = args.get(j) {
        let left = args.len() - j - 1;
        if !store && is(a, "WITHSCORES") {
            with_scores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            let offset = parse_i64(&args[j + 1])?;
            let count = parse_i64(&args[j + 2])?;
            limit = Some((offset, count));
            j += 2;
        } else if fixed == Kind::Auto && !rev && is(a, "REV") {
            rev = true;
        } else if fixed == Kind::Auto && kind == Kind::Auto && is(a, "BYLEX") {
            kind = Kind::Lex;
        } else if fixed == Kind::Auto && kind == Kind::Auto && is(a, "BYSCORE") {
            kind = Kind::Score;
        } else {
            return Err(ReplyError::syntax());
        }
        j += 1;
    }
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit.is_some_and(|(_, c)| c != -1) && kind == Kind::Rank {
        return Err(ReplyError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && kind == Kind::Lex {
        return Err(ReplyError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[at], &args[at + 1]);
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let by = match kind {
        Kind::Score => RangeBy::Score(ScoreRange::parse(lo, hi)?),
        Kind::Lex => RangeBy::Lex(LexRange::parse(lo, hi)?),
        _ => RangeBy::Rank(parse_i64(lo)?, parse_i64(hi)?),
    };
    Ok(RangeQuery {
        by,
        rev,
        limit,
        with_scores,
    })
}

/// What a query needs of a sorted set, read in part: a large one reads
/// only what a rank or score window returns, or what a lex range selects
/// from a copy of its order.
pub fn need(q: &RangeQuery) -> Option<Need<'_>> {
    match &q.by {
        RangeBy::Rank(start, stop) => Some(Need::Ranks {
            start: *start,
            stop: *stop,
            rev: q.rev,
        }),
        RangeBy::Score(r) => Some(Need::Scores(r.window(q.rev, q.limit))),
        RangeBy::Lex(r) => {
            let (offset, count) = limit_window(q.limit);
            Some(Need::Lex {
                window: &r.0,
                rev: q.rev,
                offset,
                count,
            })
        }
    }
}

/// The members a query selects, in reply order.
pub fn select(items: &Sorted, q: &RangeQuery) -> Sorted {
    let ordered = || -> Box<dyn Iterator<Item = &(f64, Bytes)>> {
        if q.rev {
            Box::new(items.iter().rev())
        } else {
            Box::new(items.iter())
        }
    };
    let picked: Sorted = match &q.by {
        RangeBy::Rank(start, end) => {
            let Some((s, e)) = rank_range(*start, *end, items.len()) else {
                return Vec::new();
            };
            ordered().skip(s).take(e - s + 1).cloned().collect()
        }
        RangeBy::Score(r) => ordered().filter(|(s, _)| r.contains(*s)).cloned().collect(),
        RangeBy::Lex(r) => r.run(items, q.rev).into_iter().cloned().collect(),
    };
    match q.limit {
        Some((offset, count)) if !matches!(q.by, RangeBy::Rank(..)) => {
            if offset < 0 {
                return Vec::new();
            }
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = usize::try_from(count).unwrap_or(usize::MAX);
            picked.into_iter().skip(skip).take(take).collect()
        }
        _ => picked,
    }
}
