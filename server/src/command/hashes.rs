//! Hash commands with Redis 7.0's replies and errors. A hash is an
//! observed-remove map replicated without a leader (`docs/data-types.md`,
//! Hashes): concurrent HSETs of different fields all survive, concurrent
//! HINCRBYs all count, and an HDEL removes only the writes it had seen.

use bytes::Bytes;
use ringkv_cluster::{CollectionOp, CollectionReply, Kind, Members, Need, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, parse_f64, parse_i64};
use super::collections::{
    change, count, random_args, random_members, read_members, read_part, scan_collection,
};
use super::zset_range::{elements_per_pair, pair_elements};
use crate::reply_error::{CmdResult, ReplyError};

async fn hash(cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Members>, ReplyError> {
    read_members(cx, key, ValueType::Hash).await
}

/// The field/value pairs after the key; an odd count is an arity error.
fn field_pairs(cx: &Ctx<'_>, args: &[Bytes]) -> Result<Vec<(Bytes, Bytes)>, ReplyError> {
    let rest = args.get(2..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(ReplyError::arity(&cx.fullname()));
    }
    Ok(rest
        .chunks_exact(2)
        .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
        .collect())
}

async fn put(cx: &mut Ctx<'_>, key: &Bytes, pairs: Vec<(Bytes, Bytes)>, nx: bool) -> CmdResult {
    let op = CollectionOp::Put {
        kind: Kind::Hash,
        pairs,
        if_absent: nx,
    };
    Ok(Reply::Int(count(&change(cx, key, op).await?)))
}

/// HSET key field value [field value ...]: the number of fields added.
pub async fn hset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = field_pairs(cx, args)?;
    put(cx, arg(args, 1), pairs, false).await
}

/// HMSET key field value [field value ...]: OK.
pub async fn hmset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = field_pairs(cx, args)?;
    put(cx, arg(args, 1), pairs, false).await?;
    Ok(Reply::Ok)
}

/// HSETNX key field value: 1 if the field was set.
pub async fn hsetnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = vec![(arg(args, 2).clone(), arg(args, 3).clone())];
    put(cx, arg(args, 1), pairs, true).await
}

/// HGET key field.
pub async fn hget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..3).unwrap_or_default();
    let h = read_part(cx, arg(args, 1), ValueType::Hash, Need::Members(fields)).await?;
    Ok(h.and_then(|h| h.get(arg(args, 2)).cloned())
        .map_or(Reply::Nil, Reply::Bulk))
}

/// HMGET key field [field ...].
pub async fn hmget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..).unwrap_or_default();
    let h = read_part(cx, arg(args, 1), ValueType::Hash, Need::Members(fields)).await?;
    Ok(Reply::Array(
        fields
            .iter()
            .map(|f| {
                h.as_ref()
                    .and_then(|h| h.get(f).cloned())
                    .map_or(Reply::Nil, Reply::Bulk)
            })
            .collect(),
    ))
}

/// HGETALL key: a map of every field to its value.
pub async fn hgetall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let h = hash(cx, arg(args, 1)).await?.unwrap_or_default();
    Ok(Reply::Map(
        h.map
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

/// HKEYS key.
pub async fn hkeys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let h = hash(cx, arg(args, 1)).await?.unwrap_or_default();
    Ok(Reply::Array(h.map.into_keys().map(Reply::Bulk).collect()))
}

/// HVALS key.
pub async fn hvals(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let h = hash(cx, arg(args, 1)).await?.unwrap_or_default();
    Ok(Reply::Array(h.map.into_values().map(Reply::Bulk).collect()))
}

/// HLEN key.
pub async fn hlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let h = read_part(cx, arg(args, 1), ValueType::Hash, Need::Count).await?;
    Ok(Reply::Int(
        h.map_or(0, |h| i64::try_from(h.len).unwrap_or(i64::MAX)),
    ))
}

/// HEXISTS key field.
pub async fn hexists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..3).unwrap_or_default();
    let h = read_part(cx, arg(args, 1), ValueType::Hash, Need::Members(fields)).await?;
    Ok(Reply::Int(i64::from(
        h.is_some_and(|h| h.get(arg(args, 2)).is_some()),
    )))
}

/// HSTRLEN key field.
pub async fn hstrlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = args.get(2..3).unwrap_or_default();
    let h = read_part(cx, arg(args, 1), ValueType::Hash, Need::Members(fields)).await?;
    let len = h.and_then(|h| h.get(arg(args, 2)).map(Bytes::len));
    Ok(Reply::Int(
        len.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
    ))
}

/// HDEL key field [field ...]: the number of fields removed.
pub async fn hdel(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::Remove {
        kind: Kind::Hash,
        members: args.get(2..).unwrap_or_default().to_vec(),
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

fn counter_value(reply: CollectionReply) -> Result<Bytes, ReplyError> {
    match reply {
        CollectionReply::Value(v) => Ok(v),
        other => Err(ReplyError::Err(
            format!("internal error: unexpected reply {other:?}").into(),
        )),
    }
}

/// HINCRBY key field increment.
pub async fn hincrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = parse_i64(arg(args, 3))?;
    let op = CollectionOp::AddInt {
        member: arg(args, 2).clone(),
        delta,
    };
    let v = counter_value(change(cx, arg(args, 1), op).await?)?;
    let n = ringkv_resp::string_to_i64(&v).ok_or_else(ReplyError::not_integer)?;
    Ok(Reply::Int(n))
}

/// HINCRBYFLOAT key field increment.
pub async fn hincrbyfloat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = parse_f64(arg(args, 3))?;
    if !delta.is_finite() {
        return Err(ReplyError::err("value is NaN or Infinity"));
    }
    let op = CollectionOp::AddFloat {
        member: arg(args, 2).clone(),
        delta,
    };
    Ok(Reply::Bulk(counter_value(
        change(cx, arg(args, 1), op).await?,
    )?))
}

/// HRANDFIELD key [count [WITHVALUES]].
pub async fn hrandfield(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (count, with_values) = random_args(args, "WITHVALUES")?;
    let proto = cx.client.protocol;
    random_members(cx, arg(args, 1), ValueType::Hash, count, |picked| {
        if count.is_none() {
            let first = picked.and_then(|p| p.into_iter().next());
            return first.map_or(Reply::Nil, |(f, _)| Reply::Bulk(f));
        }
        let picked = picked.unwrap_or_default();
        let len = picked.len() * elements_per_pair(with_values, proto);
        let replies = picked.into_iter().flat_map(|(f, v)| {
            let value = with_values.then_some(Reply::Bulk(v));
            pair_elements(Reply::Bulk(f), value, proto)
        });
        Reply::streamed_array(len, proto, replies)
    })
    .await
}

/// HSCAN key cursor [MATCH pattern] [COUNT count].
pub async fn hscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    scan_collection(cx, args, ValueType::Hash, true, |v| v).await
}
