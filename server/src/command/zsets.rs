//! Sorted-set commands with Redis 7.0's replies and errors (scores print
//! as `%.17g`). A sorted set is an observed-remove map of member → score
//! replicated without a leader (`docs/data-types.md`, Sorted sets):
//! concurrent ZADDs of different members all survive, concurrent ZINCRBYs
//! all count, the same member scored concurrently shows the later score.

use bytes::Bytes;
use ringkv_cluster::{
    CollectionOp, CollectionReply, Kind, Members, Need, PopEnd, ValueType, list_trim_range, zadd,
};
use ringkv_resp::{Protocol, Reply};

use super::Ctx;
use super::args::{arg, is, parse_i64};
use super::collections::{
    change, count, length_of, random_args, random_members, read_members, read_part,
    scan_collection, store,
};
use super::zset_range::{
    self, LexRange, RangeQuery, ScoreRange, Sorted, members_reply, score_reply, select, sorted,
    streamed_members_reply,
};
use crate::reply_error::{CmdResult, ReplyError, text};

async fn zset(cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Sorted>, ReplyError> {
    Ok(read_members(cx, key, ValueType::ZSet).await?.map(sorted))
}

fn score_arg(raw: &[u8]) -> Result<f64, ReplyError> {
    zset_range::parse_score(raw).ok_or(ReplyError::err(text::NOT_FLOAT))
}

fn score_text(bytes: &[u8], proto: Protocol) -> Reply {
    score_reply(ringkv_number::parse_f64(bytes).unwrap_or(0.0), proto)
}

/// The ZADD flag `word` names, if it names one (any case).
fn zadd_flag(word: &[u8]) -> Option<u8> {
    [
        ("NX", zadd::NX),
        ("XX", zadd::XX),
        ("GT", zadd::GT),
        ("LT", zadd::LT),
        ("CH", zadd::CH),
        ("INCR", zadd::INCR),
    ]
    .into_iter()
    .find(|(name, _)| is(word, name))
    .map(|(_, f)| f)
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
pub async fn zadd_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut flags = 0u8;
    let mut j = 2;
    while let Some(f) = args.get(j).and_then(|a| zadd_flag(a)) {
        flags |= f;
        j += 1;
    }
    let rest = args.get(j..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(ReplyError::syntax());
    }
    let has = |f: u8| flags & f != 0;
    if has(zadd::NX) && has(zadd::XX) {
        return Err(ReplyError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (has(zadd::GT) && has(zadd::NX))
        || (has(zadd::LT) && has(zadd::NX))
        || (has(zadd::GT) && has(zadd::LT))
    {
        return Err(ReplyError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if has(zadd::INCR) && rest.len() > 2 {
        return Err(ReplyError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        pairs.push((p[1].clone(), score_arg(&p[0])?));
    }
    zadd_reply(cx, arg(args, 1), pairs, flags).await
}

async fn zadd_reply(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    pairs: Vec<(Bytes, f64)>,
    flags: u8,
) -> CmdResult {
    let reply = change(cx, key, CollectionOp::ZAdd { pairs, flags }).await?;
    Ok(match reply {
        CollectionReply::Value(v) => score_text(&v, cx.client.protocol),
        CollectionReply::Nil => Reply::Nil,
        other => Reply::Int(count(&other)),
    })
}

/// ZINCRBY key increment member.
pub async fn zincrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis parses ZINCRBY as a ZADD INCR: an increment spelled as one of
    // ZADD's flags is taken for the flag, which leaves the arguments odd.
    if zadd_flag(arg(args, 2)).is_some() {
        return Err(ReplyError::syntax());
    }
    let delta = score_arg(arg(args, 2))?;
    let pairs = vec![(arg(args, 3).clone(), delta)];
    zadd_reply(cx, arg(args, 1), pairs, zadd::INCR).await
}

/// ZREM key member [member ...].
pub async fn zrem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::Remove {
        kind: Kind::ZSet,
        members: args.get(2..).unwrap_or_default().to_vec(),
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

/// ZSCORE key member.
pub async fn zscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names = args.get(2..3).unwrap_or_default();
    let z = read_part(cx, arg(args, 1), ValueType::ZSet, Need::Members(names)).await?;
    let proto = cx.client.protocol;
    Ok(z.and_then(|z| z.get(arg(args, 2)).cloned())
        .map_or(Reply::Nil, |s| score_text(&s, proto)))
}

/// ZMSCORE key member [member ...].
pub async fn zmscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names = args.get(2..).unwrap_or_default();
    let z = read_part(cx, arg(args, 1), ValueType::ZSet, Need::Members(names)).await?;
    let proto = cx.client.protocol;
    Ok(Reply::Array(
        names
            .iter()
            .map(|m| {
                z.as_ref()
                    .and_then(|z| z.get(m))
                    .map_or(Reply::Nil, |s| score_text(s, proto))
            })
            .collect(),
    ))
}

/// ZCARD key.
pub async fn zcard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let z = read_part(cx, arg(args, 1), ValueType::ZSet, Need::Count).await?;
    Ok(Reply::Int(
        z.map_or(0, |z| i64::try_from(z.len).unwrap_or(i64::MAX)),
    ))
}

/// ZCOUNT key min max.
pub async fn zcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(arg(args, 2), arg(args, 3))?;
    let need = Need::CountScores(range.window(false, None));
    let found = read_part(cx, arg(args, 1), ValueType::ZSet, need).await?;
    let n = found.and_then(|p| p.counted).unwrap_or(0);
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// ZLEXCOUNT key min max.
pub async fn zlexcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(arg(args, 2), arg(args, 3))?;
    let need = Need::CountLex(range.window());
    let found = read_part(cx, arg(args, 1), ValueType::ZSet, need).await?;
    let n = found.and_then(|p| p.counted).unwrap_or(0);
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// The members of the sorted set at `key` that `need` (by rank or by
/// score) selects, with their scores, in the window's order: a large one
/// reads them alone, from its score index.
async fn read_scored(cx: &mut Ctx<'_>, key: &[u8], need: Need<'_>) -> Result<Sorted, ReplyError> {
    Ok(read_part(cx, key, ValueType::ZSet, need)
        .await?
        .map(|p| {
            p.members
                .into_iter()
                .map(|(m, s)| (ringkv_number::parse_f64(&s).unwrap_or(0.0), m))
                .collect()
        })
        .unwrap_or_default())
}

async fn range_reply(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    kind: zset_range::Kind,
    rev: bool,
) -> CmdResult {
    let q = zset_range::parse_query(args, 2, kind, rev, false)?;
    if let Some(need) = zset_range::need(&q) {
        // By rank or score: a large sorted set reads only what it returns.
        let picked = read_scored(cx, arg(args, 1), need).await?;
        return Ok(members_reply(&picked, q.with_scores, cx.client.protocol));
    }
    let Some(z) = zset(cx, arg(args, 1)).await? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(members_reply(
        &select(&z, &q),
        q.with_scores,
        cx.client.protocol,
    ))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES].
pub async fn zrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Auto, false).await
}

/// ZREVRANGE key start stop [WITHSCORES].
pub async fn zrevrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Rank, true).await
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count].
pub async fn zrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Score, false).await
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count].
pub async fn zrevrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Score, true).await
}

/// ZRANGEBYLEX key min max [LIMIT offset count].
pub async fn zrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Lex, false).await
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count].
pub async fn zrevrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_reply(cx, args, zset_range::Kind::Lex, true).await
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count].
pub async fn zrangestore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let shifted = args.get(1..).unwrap_or_default();
    let q: RangeQuery = zset_range::parse_query(shifted, 2, zset_range::Kind::Auto, false, true)?;
    let (dst, src) = (arg(args, 1), arg(args, 2));
    let _lock = cx.ks().lock([dst.as_ref(), src.as_ref()]).await;
    let picked = match zset_range::need(&q) {
        // By rank or score: a large source reads only what it stores.
        Some(need) => read_scored(cx, src, need).await?,
        None => match zset(cx, src).await? {
            Some(z) => select(&z, &q),
            None => Vec::new(),
        },
    };
    Ok(Reply::Int(store_sorted(cx, dst, picked).await?))
}

pub(super) async fn store_sorted(
    cx: &mut Ctx<'_>,
    dst: &Bytes,
    items: Sorted,
) -> Result<i64, ReplyError> {
    let map = items
        .into_iter()
        .map(|(s, m)| (m, ringkv_cluster::score_text(s)))
        .collect();
    store(cx, dst, ValueType::ZSet, Members { map }).await
}

async fn rank(cx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let need = Need::Rank {
        member: arg(args, 2),
        rev,
    };
    let found = read_part(cx, arg(args, 1), ValueType::ZSet, need).await?;
    Ok(match found.and_then(|p| p.counted) {
        Some(r) => Reply::Int(i64::try_from(r).unwrap_or(i64::MAX)),
        None => Reply::Nil,
    })
}

/// ZRANK key member.
pub async fn zrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank(cx, args, false).await
}

/// ZREVRANK key member.
pub async fn zrevrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank(cx, args, true).await
}

async fn pop(cx: &mut Ctx<'_>, key: &Bytes, count: u64, end: PopEnd) -> Result<Sorted, ReplyError> {
    let op = CollectionOp::Pop {
        kind: Kind::ZSet,
        count,
        end,
    };
    Ok(match change(cx, key, op).await? {
        CollectionReply::Pairs(p) => p
            .into_iter()
            .map(|(m, s)| (ringkv_number::parse_f64(&s).unwrap_or(0.0), m))
            .collect(),
        _ => Vec::new(),
    })
}

async fn zpop(cx: &mut Ctx<'_>, args: &[Bytes], end: PopEnd) -> CmdResult {
    if args.len() > 3 {
        return Err(ReplyError::syntax());
    }
    let count = match args.get(2) {
        Some(c) => {
            let n = parse_i64(c)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(ReplyError::err(text::NOT_POSITIVE))?;
            if n == 0 {
                length_of(cx, arg(args, 1), ValueType::ZSet).await?;
                return Ok(Reply::Array(Vec::new()));
            }
            n.unsigned_abs()
        }
        None => 1,
    };
    let popped = pop(cx, arg(args, 1), count, end).await?;
    if args.len() == 2 {
        // Without a count, one flat pair even in RESP3 (Redis 7.0).
        let proto = cx.client.protocol;
        return Ok(Reply::Array(
            popped
                .into_iter()
                .flat_map(|(s, m)| [Reply::Bulk(m), score_reply(s, proto)])
                .collect(),
        ));
    }
    Ok(members_reply(&popped, true, cx.client.protocol))
}

/// ZPOPMIN key [count].
pub async fn zpopmin(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop(cx, args, PopEnd::Min).await
}

/// ZPOPMAX key [count].
pub async fn zpopmax(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop(cx, args, PopEnd::Max).await
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count].
pub async fn zmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = zmpop_args(args, 1)?;
    Ok(zmpop_first(cx, keys, end, count)
        .await?
        .unwrap_or(Reply::NilArray))
}

/// The keys, end and count of `numkeys key [key ...] MIN|MAX [COUNT
/// count]` from `args[at..]` (ZMPOP, BZMPOP).
pub fn zmpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], PopEnd, u64), ReplyError> {
    super::collections::mpop_args(args, at, |w| {
        if is(w, "MIN") {
            Some(PopEnd::Min)
        } else if is(w, "MAX") {
            Some(PopEnd::Max)
        } else {
            None
        }
    })
}

/// Pops from the first non-empty sorted set of `keys`: `[key, [[member,
/// score], ...]]`, or `None` when all are empty or missing (each
/// type-checked on the way).
pub async fn zmpop_first(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: PopEnd,
    count: u64,
) -> Result<Option<Reply>, ReplyError> {
    for key in keys {
        match length_of(cx, key, ValueType::ZSet).await? {
            Some(n) if n > 0 => {}
            _ => continue,
        }
        let popped = pop(cx, key, count, end).await?;
        if popped.is_empty() {
            continue;
        }
        let pairs = popped
            .iter()
            .map(|(s, m)| {
                Reply::Array(vec![
                    Reply::Bulk(m.clone()),
                    score_reply(*s, cx.client.protocol),
                ])
            })
            .collect();
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(pairs),
        ])));
    }
    Ok(None)
}

/// Pops one member from the first non-empty sorted set of `keys` (BZPOPMIN,
/// BZPOPMAX): `[key, member, score]`, or `None`.
pub async fn zpop_first(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: PopEnd,
) -> Result<Option<Reply>, ReplyError> {
    for key in keys {
        match length_of(cx, key, ValueType::ZSet).await? {
            Some(n) if n > 0 => {}
            _ => continue,
        }
        if let Some((s, m)) = pop(cx, key, 1, end).await?.into_iter().next() {
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(m),
                score_reply(s, cx.client.protocol),
            ])));
        }
    }
    Ok(None)
}

/// ZRANDMEMBER key [count [WITHSCORES]].
pub async fn zrandmember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (count, with_scores) = random_args(args, "WITHSCORES")?;
    let proto = cx.client.protocol;
    random_members(cx, arg(args, 1), ValueType::ZSet, count, |picked| {
        let picked: Sorted = picked
            .unwrap_or_default()
            .into_iter()
            .map(|(m, s)| (ringkv_number::parse_f64(&s).unwrap_or(0.0), m))
            .collect();
        if count.is_none() {
            let first = picked.into_iter().next();
            return first.map_or(Reply::Nil, |(_, m)| Reply::Bulk(m));
        }
        streamed_members_reply(&picked, with_scores, proto)
    })
    .await
}

async fn remove_selected(cx: &mut Ctx<'_>, key: &Bytes, members: Vec<Bytes>) -> CmdResult {
    if members.is_empty() {
        return Ok(Reply::Int(0));
    }
    let op = CollectionOp::Remove {
        kind: Kind::ZSet,
        members,
    };
    Ok(Reply::Int(count(&change(cx, key, op).await?)))
}

/// Removes by name the members of the sorted set at `key` that `need`
/// selects (read first: a large set reads them alone).
async fn remove_read(cx: &mut Ctx<'_>, key: &Bytes, need: Need<'_>) -> CmdResult {
    let picked = read_scored(cx, key, need).await?;
    remove_selected(cx, key, picked.into_iter().map(|(_, m)| m).collect()).await
}

/// ZREMRANGEBYSCORE key min max: one write that removes the members in
/// range (a large set reads them from its score index).
pub async fn zremrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(arg(args, 2), arg(args, 3))?.window(false, None);
    let op = CollectionOp::RemoveScores {
        min: range.min,
        min_exclusive: range.min_exclusive,
        max: range.max,
        max_exclusive: range.max_exclusive,
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

/// ZREMRANGEBYLEX key min max: the members in range are read (a large set
/// selects them in the copy of its order and reads them alone), then
/// removed by name.
pub async fn zremrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(arg(args, 2), arg(args, 3))?;
    let need = Need::Lex {
        window: range.window(),
        rev: false,
        offset: 0,
        count: usize::MAX,
    };
    remove_read(cx, arg(args, 1), need).await
}

/// ZREMRANGEBYRANK key start stop. A window that reaches either end (the
/// capped leaderboard's `ZREMRANGEBYRANK key 0 -1001`, a queue's trim) is a
/// pop of that many members from that end: one write, which a large set
/// serves by walking its score index from that end's bound and moving the
/// bound, so later trims do not pass the deletion marks of earlier ones. A
/// window in the middle is read, then removed by name.
pub async fn zremrangebyrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (parse_i64(arg(args, 2))?, parse_i64(arg(args, 3))?);
    let Some(card) = length_of(cx, arg(args, 1), ValueType::ZSet).await? else {
        return Ok(Reply::Int(0));
    };
    let len = usize::try_from(card).unwrap_or(usize::MAX);
    let (from, to) = list_trim_range(start, stop, len);
    if to <= from {
        return Ok(Reply::Int(0));
    }
    let end = if from == 0 {
        Some(PopEnd::Min)
    } else if to == len {
        Some(PopEnd::Max)
    } else {
        None
    };
    if let Some(end) = end {
        let popped = pop(cx, arg(args, 1), (to - from) as u64, end).await?;
        return Ok(Reply::Int(i64::try_from(popped.len()).unwrap_or(i64::MAX)));
    }
    let need = Need::Ranks {
        start,
        stop,
        rev: false,
    };
    remove_read(cx, arg(args, 1), need).await
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count].
pub async fn zscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    scan_collection(cx, args, ValueType::ZSet, true, |score| {
        zset_range::scan_score_text(ringkv_number::parse_f64(&score).unwrap_or(0.0))
    })
    .await
}
