//! SORT and SORT_RO with Redis 7.0's options, order and errors
//! (`sort.c`): the elements of a list, a set or a sorted set, numerically
//! (or ALPHA, by bytes) by themselves or by the keys a BY pattern names,
//! ASC or DESC, a LIMIT window, GET patterns for what to return, and
//! STORE (SORT only) into a list.
//!
//! Patterns are Redis's: the first `*` is replaced by the element, `->`
//! after it names a hash field, `#` alone is the element itself, a GET
//! pattern without `*` finds nothing and a BY pattern without `*` means
//! "do not sort". Unlike Redis Cluster, BY and GET work on a cluster node
//! too: the keys they name are read through the coordinator like any read.
//!
//! STORE replaces the destination with a list of the results (deletes it
//! when there are none) in two writes with the destination's record lock
//! held across both: the old value's removal, then the push of the new
//! elements. No other writer of it on this node runs in between; a reader
//! can see it missing, and in a cluster a push through another node can
//! land between the two.

use std::cmp::Ordering;

use bytes::Bytes;
use ringkv_cluster::{CollectionOp, Kind, Need, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use super::collections::{change, read_part};
use super::zset_range::sorted;
use crate::reply_error::{CmdResult, ReplyError};

/// A BY pattern's value (or an element) that is not a number.
const NOT_DOUBLE: &str = "One or more scores can't be converted into double";

/// The parsed options.
#[derive(Debug, Default, PartialEq)]
struct Options {
    desc: bool,
    alpha: bool,
    /// LIMIT offset count, as given.
    limit: Option<(i64, i64)>,
    by: Option<Bytes>,
    gets: Vec<Bytes>,
    store: Option<Bytes>,
}

impl Options {
    /// A BY pattern without `*`: the elements keep their order.
    fn dont_sort(&self) -> bool {
        self.by.as_ref().is_some_and(|p| !p.contains(&b'*'))
    }
}

/// Parses `args[2..]`; `readonly` (SORT_RO) knows no STORE.
fn parse(args: &[Bytes], readonly: bool) -> Result<Options, ReplyError> {
    let mut o = Options::default();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let word = arg(args, j);
        if is(word, "asc") {
            o.desc = false;
        } else if is(word, "desc") {
            o.desc = true;
        } else if is(word, "alpha") {
            o.alpha = true;
        } else if is(word, "limit") && left >= 2 {
            o.limit = Some((parse_i64(arg(args, j + 1))?, parse_i64(arg(args, j + 2))?));
            j += 2;
        } else if !readonly && is(word, "store") && left >= 1 {
            o.store = Some(arg(args, j + 1).clone());
            j += 1;
        } else if is(word, "by") && left >= 1 {
            o.by = Some(arg(args, j + 1).clone());
            j += 1;
        } else if is(word, "get") && left >= 1 {
            o.gets.push(arg(args, j + 1).clone());
            j += 1;
        } else {
            return Err(ReplyError::syntax());
        }
        j += 1;
    }
    Ok(o)
}

/// The window `[start, end]` (inclusive; empty when `end < start`) that
/// LIMIT selects from `len` elements, as Redis computes it.
fn window(limit: Option<(i64, i64)>, len: usize) -> (i64, i64) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// A pattern split at its first `*`: the key's prefix and suffix, and the
/// hash field after `->` (when the suffix holds one followed by a name).
struct Pattern<'a> {
    prefix: &'a [u8],
    suffix: &'a [u8],
    field: Option<&'a [u8]>,
}

impl<'a> Pattern<'a> {
    /// `None` for a pattern without `*` (it names no key).
    fn parse(p: &'a [u8]) -> Option<Pattern<'a>> {
        let star = p.iter().position(|&b| b == b'*')?;
        let (prefix, rest) = (&p[..star], &p[star + 1..]);
        let arrow = rest.windows(2).position(|w| w == b"->");
        Some(match arrow {
            Some(a) if a + 2 < rest.len() => Pattern {
                prefix,
                suffix: &rest[..a],
                field: Some(&rest[a + 2..]),
            },
            _ => Pattern {
                prefix,
                suffix: rest,
                field: None,
            },
        })
    }

    fn key_for(&self, element: &[u8]) -> Vec<u8> {
        [self.prefix, element, self.suffix].concat()
    }
}

/// What pattern `p` finds for `element`: the element itself for `#`, a
/// string key's value, or a hash field's; `None` when nothing (or
/// something of another type) is there.
async fn lookup(cx: &mut Ctx<'_>, p: &[u8], element: &Bytes) -> Result<Option<Bytes>, ReplyError> {
    if p == b"#" {
        return Ok(Some(element.clone()));
    }
    let Some(pattern) = Pattern::parse(p) else {
        return Ok(None);
    };
    let key = pattern.key_for(element);
    match pattern.field {
        None => Ok(cx
            .read_shallow(&key)
            .await?
            .filter(|e| e.kind == ValueType::String)
            .map(|e| e.value)),
        Some(field) => {
            let field = [Bytes::copy_from_slice(field)];
            match read_part(cx, &key, ValueType::Hash, Need::Members(&field)).await {
                Ok(found) => Ok(found
                    .and_then(|h| h.members.into_iter().next())
                    .map(|(_, v)| v)),
                Err(ReplyError::WrongType) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }
}

/// A value as SORT reads a number (C's `strtod` over the whole text): an
/// empty text is 0, leading blanks are skipped; anything else that is not
/// a number, NaN, or a number out of range is `None`.
fn sort_score(raw: &[u8]) -> Option<f64> {
    if raw.is_empty() {
        return Some(0.0);
    }
    let text = raw.trim_ascii_start();
    let v = ringkv_number::parse_f64(text)?;
    // Infinite only when written so; a finite text beyond f64 is ERANGE.
    let word = text.to_ascii_lowercase();
    let word = word.trim_ascii_start().strip_prefix(b"+").unwrap_or(&word);
    let word = word.strip_prefix(b"-").unwrap_or(word);
    if v.is_infinite() && word != b"inf" && word != b"infinity" {
        return None;
    }
    // Nonzero digits that came out as zero, or a decimal that came out
    // subnormal (inexact), underflowed: glibc's strtod reports ERANGE. A
    // hex subnormal is exact and accepted, as there.
    let hex = word.starts_with(b"0x");
    if (v == 0.0 || (v.is_subnormal() && !hex)) && has_nonzero_mantissa(word) {
        return None;
    }
    Some(v)
}

/// Whether a number's digits before its exponent include one that is not
/// zero (`0x` prefix and `.` aside).
fn has_nonzero_mantissa(word: &[u8]) -> bool {
    let (hex, digits) = match word.strip_prefix(b"0x") {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let end = if hex { b'p' } else { b'e' };
    digits
        .iter()
        .take_while(|&&b| b != end)
        .any(|&b| b != b'0' && b != b'.')
}

/// One element with what it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    /// An ALPHA BY pattern's value (`None`: nothing found, sorts first).
    by: Option<Bytes>,
}

fn compare(a: &Item, b: &Item, o: &Options) -> Ordering {
    let ord = if !o.alpha {
        a.score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element))
    } else if o.by.is_some() {
        a.by.cmp(&b.by)
    } else {
        a.element.cmp(&b.element)
    };
    if o.desc { ord.reverse() } else { ord }
}

/// The elements of the list, set or sorted set at `key` (empty when
/// missing), in the order they keep when not sorted: a list's, a sorted
/// set's by score (reversed under DESC for both), a set's member order;
/// and whether it is a set.
async fn elements(
    cx: &mut Ctx<'_>,
    key: &[u8],
    o: &Options,
) -> Result<(Vec<Bytes>, bool), ReplyError> {
    let Some(entry) = cx.read_any(key).await? else {
        return Ok((Vec::new(), false));
    };
    let members = entry.members.unwrap_or_default();
    let mut out: Vec<Bytes> = match entry.kind {
        ValueType::List => members.map.into_values().collect(),
        ValueType::Set => members.map.into_keys().collect(),
        ValueType::ZSet => sorted(members).into_iter().map(|(_, m)| m).collect(),
        ValueType::String | ValueType::Hash => return Err(ReplyError::WrongType),
    };
    let is_set = entry.kind == ValueType::Set;
    if o.dont_sort() && o.desc && !is_set {
        out.reverse();
    }
    Ok((out, is_set))
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
/// [ALPHA] [STORE destination].
pub async fn sort(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(cx, args, false).await
}

/// SORT_RO: SORT without STORE.
pub async fn sort_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(cx, args, true).await
}

async fn sort_generic(cx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut o = parse(args, readonly)?;
    let (elements, is_set) = elements(cx, arg(args, 1), &o).await?;
    let mut dont_sort = o.dont_sort();
    // A set is sorted anyway when stored, so the stored list does not
    // depend on a set's internal order.
    if dont_sort && o.store.is_some() && is_set {
        dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let (start, end) = window(o.limit, elements.len());
    let selected: Vec<Bytes> = if dont_sort {
        select(elements, start, end)
    } else {
        let mut items = Vec::with_capacity(elements.len());
        let mut not_number = false;
        for element in elements {
            let mut item = Item {
                element,
                score: 0.0,
                by: None,
            };
            let by = match &o.by {
                Some(p) => lookup(cx, p, &item.element).await?,
                None => Some(item.element.clone()),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by = by;
                }
            } else if let Some(v) = by {
                match sort_score(&v) {
                    Some(s) => item.score = s,
                    None => not_number = true,
                }
            }
            items.push(item);
        }
        if not_number {
            return Err(ReplyError::err(NOT_DOUBLE));
        }
        items.sort_by(|a, b| compare(a, b, &o));
        select(items.into_iter().map(|i| i.element).collect(), start, end)
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for element in selected {
        if o.gets.is_empty() {
            out.push(Some(element));
            continue;
        }
        for p in &o.gets {
            out.push(lookup(cx, p, &element).await?);
        }
    }
    match o.store {
        None => Ok(Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        )),
        Some(dest) => {
            let n = i64::try_from(out.len()).unwrap_or(i64::MAX);
            let _lock = cx.ks().lock([dest.as_ref()]).await;
            // The destination's record lock held across both writes: no
            // other writer of it on this node runs in between.
            let _hold = cx.ks().hold_key(&dest).await;
            let replace = CollectionOp::Replace {
                kind: Kind::List,
                pairs: Vec::new(),
                expire_at_ms: 0,
            };
            change(cx, &dest, replace).await?;
            if !out.is_empty() {
                let push = CollectionOp::Push {
                    left: false,
                    values: out.into_iter().map(Option::unwrap_or_default).collect(),
                    if_exists: false,
                };
                change(cx, &dest, push).await?;
            }
            Ok(Reply::Int(n))
        }
    }
}

/// Elements `start..=end` of `v` (none when `end < start`).
fn select(v: Vec<Bytes>, start: i64, end: i64) -> Vec<Bytes> {
    if end < start || start < 0 {
        return Vec::new();
    }
    let (start, end) = (start as usize, end as usize);
    v.into_iter().skip(start).take(end + 1 - start).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_windows_follow_redis() {
        assert_eq!(window(None, 5), (0, 4));
        assert_eq!(window(Some((1, 2)), 5), (1, 2));
        assert_eq!(window(Some((-3, 2)), 5), (0, 1));
        assert_eq!(window(Some((3, -1)), 5), (3, 4));
        assert_eq!(window(Some((3, 100)), 5), (3, 4));
        assert_eq!(window(Some((5, 1)), 5), (4, 3), "past the end: empty");
        assert_eq!(window(Some((0, 0)), 5), (0, -1));
        assert_eq!(window(None, 0), (-1, -2));
        assert_eq!(window(Some((i64::MAX, i64::MAX)), 3), (2, 1));
    }

    #[test]
    fn patterns_split_at_the_first_star() {
        let p = Pattern::parse(b"w_*->f").unwrap();
        assert_eq!(
            (p.prefix, p.suffix, p.field),
            (&b"w_"[..], &b""[..], Some(&b"f"[..]))
        );
        let p = Pattern::parse(b"a*b->").unwrap();
        assert_eq!(
            (p.suffix, p.field),
            (&b"b->"[..], None),
            "an empty field is no field"
        );
        let p = Pattern::parse(b"a->b*c").unwrap();
        assert_eq!(
            (p.prefix, p.suffix, p.field),
            (&b"a->b"[..], &b"c"[..], None)
        );
        assert_eq!(p.key_for(b"X"), b"a->bXc");
        assert!(Pattern::parse(b"nostar").is_none());
    }

    #[test]
    fn scores_read_as_strtod_reads_them() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  7"), Some(7.0));
        assert_eq!(sort_score(b"-1.5e2"), Some(-150.0));
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"0e-999"), Some(0.0));
        assert_eq!(sort_score(b"0x0p-9999"), Some(0.0));
        assert_eq!(sort_score(b"0x1p-1070"), Some(f64::from_bits(1 << 4)));
        assert_eq!(
            sort_score(b"2.2250738585072014e-308"),
            Some(f64::MIN_POSITIVE)
        );
        for bad in [
            "x", "1x", "7 ", "nan", " ", "1e999", "1e-400", "1e-310", "4.9e-324",
        ] {
            assert_eq!(sort_score(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn options_parse_and_refuse_like_redis() {
        let b = |parts: &[&str]| -> Vec<Bytes> {
            parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect()
        };
        let o = parse(
            &b(&[
                "sort", "k", "by", "w_*", "limit", "0", "2", "get", "#", "desc", "alpha", "store",
                "d",
            ]),
            false,
        )
        .unwrap();
        assert!(o.desc && o.alpha);
        assert_eq!(o.limit, Some((0, 2)));
        assert_eq!(o.gets.len(), 1);
        assert_eq!(o.store.as_deref(), Some(&b"d"[..]));
        assert!(
            parse(&b(&["sort", "k", "store", "d"]), true).is_err(),
            "SORT_RO"
        );
        assert!(parse(&b(&["sort", "k", "limit", "0"]), false).is_err());
        assert!(parse(&b(&["sort", "k", "limit", "x", "1"]), false).is_err());
        assert!(parse(&b(&["sort", "k", "by"]), false).is_err());
        assert!(parse(&b(&["sort", "k", "bogus"]), false).is_err());
        assert!(
            parse(&b(&["sort", "k", "by", "nosort"]), false)
                .unwrap()
                .dont_sort()
        );
    }
}
