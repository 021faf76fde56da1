//! The writes of lists, applied to the observed-remove map of position →
//! element ([`super::list_position`]): pushes make new positions at an
//! end, LINSERT one between two neighbours, LSET writes a new item at an
//! existing position (last write wins per element), and LPOP, RPOP, LREM
//! and LTRIM remove the positions they saw.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::collection::{Collection, Element, ListWindow, Tag, resolve_item};
use super::collection_op::{CollectionOp, CollectionReply, OpError};
use super::list_position::{Origin, after_last, before_first, between};

/// The value a read of a list element shows.
fn value_of(items: &[super::collection::Item]) -> Bytes {
    resolve_item(items).map_or_else(Bytes::new, |e| e.bytes())
}

fn length(coll: &Collection) -> CollectionReply {
    CollectionReply::Count(coll.len() as u64)
}

/// Applies a list write (not a pop, see [`ends`]) to `coll`: the reply and
/// whether it changed. A refusal leaves `coll` unchanged.
pub(super) fn change_list(
    coll: &mut Collection,
    op: &CollectionOp,
    tag: Tag,
    now_ms: u64,
) -> Result<(CollectionReply, bool), OpError> {
    let origin = |seq: usize| Origin {
        tag,
        seq: u32::try_from(seq).unwrap_or(u32::MAX),
    };
    match op {
        CollectionOp::Push {
            left,
            values,
            if_exists,
        } => {
            if *if_exists && coll.is_empty() {
                return Ok((CollectionReply::Count(0), false));
            }
            // Every element of one push takes the same step from the end
            // the writer saw and is told apart by its index in the write,
            // so a push's elements stay together beside a concurrent push
            // (LPUSH a b c leaves c b a: the indexes run backwards).
            let first = coll.first().map(|(p, _)| p.clone());
            let last = coll.last().map(|(p, _)| p.clone());
            let n = values.len();
            for (i, value) in values.iter().enumerate() {
                let position = if *left {
                    before_first(first.as_deref(), origin(n - 1 - i))
                } else {
                    after_last(last.as_deref(), origin(i))
                };
                coll.put(position, tag, now_ms, Element::Value(value.clone()));
            }
            Ok((length(coll), !values.is_empty()))
        }
        CollectionOp::ListSet { index, value } => {
            // A split list gives the element at the index alone, and where
            // it lies in the whole list.
            let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            let (first, total) = match coll.list_window() {
                Some(ListWindow::From { first, total }) => (at(first), at(total)),
                _ => (0, coll.len()),
            };
            if total == 0 {
                return Err(OpError::Refused("no such key".into()));
            }
            let at = normalize(*index, total)
                .and_then(|at| at.checked_sub(first))
                .ok_or_else(|| OpError::Refused("index out of range".into()))?;
            let Some(position) = coll.iter().nth(at).map(|(p, _)| p.clone()) else {
                return Err(OpError::Refused("index out of range".into()));
            };
            coll.put(position, tag, now_ms, Element::Value(value.clone()));
            Ok((CollectionReply::Count(0), true))
        }
        CollectionOp::ListInsert {
            before,
            pivot,
            value,
        } => {
            if coll.is_empty() {
                return Ok((CollectionReply::Count(0), false));
            }
            let positions: Vec<(&Bytes, &Vec<_>)> = coll.iter().collect();
            let Some(at) = positions
                .iter()
                .position(|(_, items)| value_of(items) == *pivot)
            else {
                return Ok((CollectionReply::Nil, false));
            };
            let neighbour = |i: Option<usize>| {
                i.and_then(|i| positions.get(i))
                    .map(|(p, _)| Bytes::clone(p))
            };
            let (low, high) = if *before {
                (neighbour(at.checked_sub(1)), neighbour(Some(at)))
            } else {
                (neighbour(Some(at)), neighbour(at.checked_add(1)))
            };
            let position = between(low.as_deref(), high.as_deref(), origin(0));
            coll.put(position, tag, now_ms, Element::Value(value.clone()));
            Ok((length(coll), true))
        }
        CollectionOp::ListRemove { count, value } => {
            let matching = coll
                .iter()
                .filter(|(_, items)| value_of(items) == *value)
                .map(|(p, _)| p.clone());
            let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            let doomed: Vec<Bytes> = match count.signum() {
                0 => matching.collect(),
                1 => matching.take(limit).collect(),
                _ => {
                    let all: Vec<Bytes> = matching.collect();
                    all.into_iter().rev().take(limit).collect()
                }
            };
            for p in &doomed {
                coll.remove(p, tag, now_ms);
            }
            Ok((
                CollectionReply::Count(doomed.len() as u64),
                !doomed.is_empty(),
            ))
        }
        CollectionOp::ListTrim { start, stop } => {
            // A split list gives the elements LTRIM removes from either end
            // (and more), not those between: the ones it removes are the
            // first of those given and the last.
            let total = match coll.list_window() {
                Some(ListWindow::Ends { total }) => usize::try_from(total).unwrap_or(usize::MAX),
                _ => coll.len(),
            };
            let (keep_from, keep_to) = trim_range(*start, *stop, total);
            let from_tail = total - keep_to.max(keep_from);
            let tail_from = coll.len().saturating_sub(from_tail);
            let doomed: Vec<Bytes> = coll
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < keep_from || *i >= tail_from)
                .map(|(_, (p, _))| p.clone())
                .collect();
            for p in &doomed {
                coll.remove(p, tag, now_ms);
            }
            Ok((
                CollectionReply::Count(doomed.len() as u64),
                !doomed.is_empty(),
            ))
        }
        _ => Ok((CollectionReply::Count(0), false)),
    }
}

/// Up to `n` elements from the head (`head`) or the tail, in pop order,
/// with their positions.
pub(super) fn ends(coll: &Collection, n: usize, head: bool) -> Vec<(Bytes, Bytes)> {
    let pair = |(p, items): (&Bytes, &Vec<_>)| (p.clone(), value_of(items));
    if head {
        coll.iter().take(n).map(pair).collect()
    } else {
        coll.iter().rev().take(n).map(pair).collect()
    }
}

/// `index` (negative: from the tail) as an offset into `len` elements.
pub fn normalize(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 {
        index.checked_add(len)?
    } else {
        index
    };
    usize::try_from(i).ok().filter(|i| (*i as i64) < len)
}

/// How many of its first and of its last elements a list of `len` gives
/// LTRIM `start stop` ([`ListWindow::Ends`]): those it removes from either
/// end, and the one after each (the list's new first or last element, so
/// the ends its header keeps stay exact); `(len, 0)` when that is every
/// element.
pub fn trim_ends(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let (keep_from, keep_to) = trim_range(start, stop, len);
    let head = if keep_from > 0 { keep_from + 1 } else { 0 };
    let tail = if keep_to > keep_from && keep_to < len {
        len - keep_to + 1
    } else {
        0
    };
    if keep_to <= keep_from || head + tail >= len {
        (len, 0)
    } else {
        (head, tail)
    }
}

/// The half-open range of offsets LTRIM `start stop` keeps among `len`
/// elements, by Redis's rules (empty when out of range).
pub fn trim_range(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let n = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 {
        start.saturating_add(n)
    } else {
        start
    };
    let mut stop = if stop < 0 {
        stop.saturating_add(n)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= n {
        return (0, 0);
    }
    if stop >= n {
        stop = n - 1;
    }
    (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(stop + 1).unwrap_or(0),
    )
}
