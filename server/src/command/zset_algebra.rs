//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD: sorted sets
//! and sets (members score 1) combined as Redis 7.0 combines them. Every
//! key's size is read first (its header; every key type-checked, a
//! missing key empty); an intersection then reads the smallest input
//! whole and a difference the first, and each further input much larger
//! than the members still in play is asked for those alone
//! ([`worth_probing`]), as Redis looks them up in the larger inputs.

use std::collections::BTreeMap;

use bytes::Bytes;
use ringkv_cluster::{Need, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use super::collections::{intercard_limit, intercard_reply, worth_probing};
use super::zset_range::{self, Sorted, members_reply};
use super::zsets::store_sorted;
use crate::reply_error::{CmdResult, ReplyError};

/// How ZUNION/ZINTER/ZDIFF combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(into: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *into += v;
            if into.is_nan() {
                *into = 0.0;
            }
        }
        Aggregate::Min => *into = into.min(v),
        Aggregate::Max => *into = into.max(v),
    }
}

/// An input's members and scores (a set's members score 1).
type Input = BTreeMap<Bytes, f64>;

/// Whether members of `kind` carry scores (a sorted set) or score 1 (a
/// set); another type is `-WRONGTYPE`.
fn scored(kind: ValueType) -> Result<bool, ReplyError> {
    match kind {
        ValueType::ZSet => Ok(true),
        ValueType::Set => Ok(false),
        _ => Err(ReplyError::WrongType),
    }
}

fn score_of(scored: bool, raw: &[u8]) -> f64 {
    if scored {
        ringkv_number::parse_f64(raw).unwrap_or(0.0)
    } else {
        1.0
    }
}

/// The size of every input, in the order given (0 for a missing key),
/// each type-checked and counted as a keyspace hit or miss, as Redis
/// looks every key up before it reads the options.
async fn sizes(cx: &mut Ctx<'_>, keys: &[Bytes]) -> Result<Vec<u64>, ReplyError> {
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        let size = match cx.read_part_any(k, Need::Count).await? {
            Some(p) => scored(p.kind).map(|_| p.len)?,
            None => 0,
        };
        sizes.push(size);
    }
    Ok(sizes)
}

/// The whole input at `key` (empty when missing).
async fn whole(cx: &Ctx<'_>, key: &[u8]) -> Result<Input, ReplyError> {
    let Some(entry) = cx.peek(cx.client.db, key).await? else {
        return Ok(Input::new());
    };
    let scored = scored(entry.kind)?;
    let members = entry.members.unwrap_or_default();
    Ok(members
        .map
        .into_iter()
        .map(|(m, s)| {
            let score = score_of(scored, &s);
            (m, score)
        })
        .collect())
}

/// Which of `names` the input at `key` holds, with their scores.
async fn probed(cx: &Ctx<'_>, key: &[u8], names: &[Bytes]) -> Result<Input, ReplyError> {
    let Some(part) = cx
        .peek_part(cx.client.db, key, Need::Members(names))
        .await?
    else {
        return Ok(Input::new());
    };
    let scored = scored(part.kind)?;
    Ok(part
        .members
        .into_iter()
        .map(|(m, s)| {
            let score = score_of(scored, &s);
            (m, score)
        })
        .collect())
}

/// The inputs at `keys` (of `sizes`) as far as `op` needs them: a union
/// every one whole; an intersection the smallest (the first of the
/// smallest) whole, then the others from the smallest up, each probed for
/// the members still in every input so far when it is much larger; a
/// difference the first whole, then each other probed for the members
/// still left when it is much larger. An input not read at all (nothing
/// left to look for) is empty, which changes no answer.
async fn inputs(
    cx: &Ctx<'_>,
    keys: &[Bytes],
    sizes: &[u64],
    op: Op,
) -> Result<Vec<Input>, ReplyError> {
    let mut read = vec![Input::new(); keys.len()];
    let mut order: Vec<usize> = (0..keys.len()).collect();
    match op {
        Op::Union => {
            for (i, k) in keys.iter().enumerate() {
                read[i] = whole(cx, k).await?;
            }
            return Ok(read);
        }
        // Smallest first, ties in the order given.
        Op::Inter => order.sort_by_key(|&i| sizes.get(i).copied().unwrap_or(0)),
        Op::Diff => {}
    }
    let Some((&first, rest)) = order.split_first() else {
        return Ok(read);
    };
    let (Some(first_key), Some(slot)) = (keys.get(first), read.get_mut(first)) else {
        return Ok(read);
    };
    *slot = whole(cx, first_key).await?;
    let mut left: Vec<Bytes> = slot.keys().cloned().collect();
    for &i in rest {
        if left.is_empty() {
            break;
        }
        let (Some(key), Some(&size)) = (keys.get(i), sizes.get(i)) else {
            continue;
        };
        let got = if worth_probing(size, left.len()) {
            probed(cx, key, &left).await?
        } else {
            whole(cx, key).await?
        };
        let keep_present = op == Op::Inter;
        left.retain(|m| got.contains_key(m) == keep_present);
        if let Some(slot) = read.get_mut(i) {
            *slot = got;
        }
    }
    Ok(read)
}

/// `numkeys key ... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]` from
/// `args[at]` as Redis 7.0 reads them (keys first, then options); the
/// result in order and whether WITHSCORES was given.
async fn combine(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    at: usize,
    op: Op,
    store: bool,
) -> Result<(Sorted, bool), ReplyError> {
    let numkeys = parse_i64(arg(args, at))?;
    if numkeys < 1 {
        return Err(ReplyError::Err(
            format!(
                "at least 1 input key is needed for '{}' command",
                cx.fullname()
            )
            .into(),
        ));
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let Some(keys) = args.get(at + 1..(at + 1).saturating_add(n)) else {
        return Err(ReplyError::syntax());
    };
    let sizes = sizes(cx, keys).await?;
    let mut weights = vec![1.0f64; n];
    let (mut how, mut with_scores) = (Aggregate::Sum, false);
    let mut j = at + 1 + n;
    while let Some(a) = args.get(j) {
        let left = args.len() - j;
        if op != Op::Diff && left > n && is(a, "WEIGHTS") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = zset_range::parse_score(&args[j + 1 + i])
                    .ok_or(ReplyError::err("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != Op::Diff && left >= 2 && is(a, "AGGREGATE") {
            let w = &args[j + 1];
            how = if is(w, "SUM") {
                Aggregate::Sum
            } else if is(w, "MIN") {
                Aggregate::Min
            } else if is(w, "MAX") {
                Aggregate::Max
            } else {
                return Err(ReplyError::syntax());
            };
            j += 2;
        } else if !store && is(a, "WITHSCORES") {
            with_scores = true;
            j += 1;
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let inputs = inputs(cx, keys, &sizes, op).await?;
    let weighted = |score: f64, w: f64| {
        let v = score * w;
        if v.is_nan() { 0.0 } else { v }
    };
    let mut acc: BTreeMap<Bytes, f64> = BTreeMap::new();
    // Redis walks the inputs smallest first (ties in the order given), for
    // a union too: a sum of floats depends on its order (0.1 + 0.2 + 0.3
    // is 0.6000000000000001, 0.2 + 0.3 + 0.1 is 0.6), and so does
    // whether inf and -inf meet before or after a finite term.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| sizes[i]);
    match op {
        Op::Union => {
            for &i in &order {
                let (input, w) = (&inputs[i], &weights[i]);
                for (m, s) in input {
                    let v = weighted(*s, *w);
                    match acc.get_mut(m) {
                        Some(into) => aggregate(into, v, how),
                        None => {
                            acc.insert(m.clone(), v);
                        }
                    }
                }
            }
        }
        Op::Inter => {
            if let Some((&first, rest)) = order.split_first() {
                'members: for (m, s) in &inputs[first] {
                    let mut v = weighted(*s, weights[first]);
                    for &i in rest {
                        let Some(other) = inputs[i].get(m) else {
                            continue 'members;
                        };
                        // As Redis: only the first product is cleared of
                        // NaN; a NaN sum becomes 0 in `aggregate`.
                        aggregate(&mut v, *other * weights[i], how);
                    }
                    acc.insert(m.clone(), v);
                }
            }
        }
        Op::Diff => {
            if let Some((first, rest)) = inputs.split_first() {
                for (m, s) in first {
                    if rest.iter().all(|o| !o.contains_key(m)) {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut out: Sorted = acc.into_iter().map(|(m, s)| (s, m)).collect();
    out.sort_by(|a, b| ringkv_cluster::cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
    Ok((out, with_scores))
}

async fn combine_reply(cx: &mut Ctx<'_>, args: &[Bytes], op: Op) -> CmdResult {
    let (items, with_scores) = combine(cx, args, 1, op, false).await?;
    Ok(members_reply(&items, with_scores, cx.client.protocol))
}

async fn combine_store(cx: &mut Ctx<'_>, args: &[Bytes], op: Op) -> CmdResult {
    let _lock = cx.ks().lock(args.iter().skip(1).map(|k| k.as_ref())).await;
    let (items, _) = combine(cx, args, 2, op, true).await?;
    Ok(Reply::Int(store_sorted(cx, arg(args, 1), items).await?))
}

/// ZUNION numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES].
pub async fn zunion(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Op::Union).await
}

/// ZINTER numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES].
pub async fn zinter(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Op::Inter).await
}

/// ZDIFF numkeys key [key ...] [WITHSCORES].
pub async fn zdiff(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Op::Diff).await
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...].
pub async fn zunionstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Op::Union).await
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...].
pub async fn zinterstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Op::Inter).await
}

/// ZDIFFSTORE destination numkeys key [key ...].
pub async fn zdiffstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Op::Diff).await
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit].
pub async fn zintercard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = parse_i64(arg(args, 1))?;
    if numkeys < 1 {
        return Err(ReplyError::err(
            "at least 1 input key is needed for 'zintercard' command",
        ));
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let Some(keys) = args.get(2..2usize.saturating_add(n)) else {
        return Err(ReplyError::syntax());
    };
    // Redis reads (and type-checks) the keys before the options.
    let sizes = sizes(cx, keys).await?;
    let limit = intercard_limit(args, 2 + n)?;
    let inputs = inputs(cx, keys, &sizes, Op::Inter).await?;
    let smallest = (0..n).min_by_key(|&i| sizes[i]);
    let in_all = smallest.and_then(|i| inputs.get(i)).map_or(0, |first| {
        first
            .keys()
            .filter(|m| inputs.iter().all(|other| other.contains_key(*m)))
            .count()
    });
    Ok(intercard_reply(in_all, limit))
}
