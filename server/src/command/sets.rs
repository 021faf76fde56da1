//! Set commands with Redis 7.0's replies and errors. A set is an
//! observed-remove set replicated without a leader (`docs/data-types.md`,
//! Sets): a member added concurrently with its removal stays (add-wins).

use std::collections::BTreeMap;

use bytes::Bytes;
use ringkv_cluster::{CollectionOp, CollectionReply, Kind, Members, Need, PopEnd, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, parse_i64};
use super::collections::{
    change, change_in, count, intercard_limit, intercard_reply, length_of, parse_random_count,
    peek_members, random_members, read_members, read_part, scan_collection, store, worth_probing,
};
use crate::reply_error::{CmdResult, ReplyError, text};

async fn set(cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Members>, ReplyError> {
    read_members(cx, key, ValueType::Set).await
}

fn to_set_reply(members: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

/// SADD key member [member ...]: the number added.
///
/// In a cluster a member already present is stored again with a fresh
/// tag, so that this add wins over a removal elsewhere that did not see
/// it. A node alone has no such removal to win over (every command on the
/// key runs here, one after another), so there, as in Redis, a member
/// already present is left as it is and a SADD of present members writes
/// nothing.
pub async fn sadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::Put {
        kind: Kind::Set,
        pairs: args
            .iter()
            .skip(2)
            .map(|m| (m.clone(), Bytes::new()))
            .collect(),
        if_absent: cx.server.cluster.is_alone(),
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

/// SREM key member [member ...]: the number removed.
pub async fn srem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::Remove {
        kind: Kind::Set,
        members: args.get(2..).unwrap_or_default().to_vec(),
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

/// SMEMBERS key.
pub async fn smembers(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let s = set(cx, arg(args, 1)).await?.unwrap_or_default();
    Ok(to_set_reply(s.map.into_keys()))
}

/// SISMEMBER key member.
pub async fn sismember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names = args.get(2..3).unwrap_or_default();
    let s = read_part(cx, arg(args, 1), ValueType::Set, Need::Members(names)).await?;
    Ok(Reply::Int(i64::from(
        s.is_some_and(|s| s.get(arg(args, 2)).is_some()),
    )))
}

/// SMISMEMBER key member [member ...].
pub async fn smismember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names = args.get(2..).unwrap_or_default();
    let s = read_part(cx, arg(args, 1), ValueType::Set, Need::Members(names)).await?;
    Ok(Reply::Array(
        names
            .iter()
            .map(|m| Reply::Int(i64::from(s.as_ref().is_some_and(|s| s.get(m).is_some()))))
            .collect(),
    ))
}

/// SCARD key.
pub async fn scard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let s = read_part(cx, arg(args, 1), ValueType::Set, Need::Count).await?;
    Ok(Reply::Int(
        s.map_or(0, |s| i64::try_from(s.len).unwrap_or(i64::MAX)),
    ))
}

/// SPOP key [count]: one member (or nil), or an array of up to `count`.
pub async fn spop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = match args.len() {
        2 => None,
        3 => Some(
            parse_i64(arg(args, 2))
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(ReplyError::err(text::NOT_POSITIVE))?,
        ),
        _ => return Err(ReplyError::syntax()),
    };
    let op = CollectionOp::Pop {
        kind: Kind::Set,
        count: count.map_or(1, |n| n.unsigned_abs()),
        end: PopEnd::Random,
    };
    if count == Some(0) {
        // Redis answers an empty array without touching the key (but
        // still checks its type).
        length_of(cx, arg(args, 1), ValueType::Set).await?;
        return Ok(Reply::Array(Vec::new()));
    }
    let popped: Vec<Bytes> = match change(cx, arg(args, 1), op).await? {
        CollectionReply::Pairs(p) => p.into_iter().map(|(m, _)| m).collect(),
        _ => Vec::new(),
    };
    Ok(match count {
        None => popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => to_set_reply(popped),
    })
}

/// SRANDMEMBER key [count].
pub async fn srandmember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = match args.len() {
        2 => None,
        3 => Some(parse_random_count(arg(args, 2))?),
        _ => return Err(ReplyError::syntax()),
    };
    let proto = cx.client.protocol;
    random_members(cx, arg(args, 1), ValueType::Set, count, |picked| {
        let picked = picked.unwrap_or_default();
        let len = picked.len();
        let mut members = picked.into_iter().map(|(m, _)| m);
        match count {
            None => members.next().map_or(Reply::Nil, Reply::Bulk),
            Some(_) => Reply::streamed_array(len, proto, members.map(Reply::Bulk)),
        }
    })
    .await
}

/// SMOVE source destination member: 1 if moved. In a cluster the removal
/// and the addition are two writes (each atomic on its key's replicas).
pub async fn smove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let db = cx.db();
    let _lock = cx.ks().lock([src.as_ref(), dst.as_ref()]).await;
    // Only the moved member is read of either set. Redis's order: a
    // missing source answers 0 before any type check.
    let names = [member.clone()];
    let Some(from) = cx.peek_part(db, src, Need::Members(&names)).await? else {
        return Ok(Reply::Int(0));
    };
    let to = cx.peek_part(db, dst, Need::Members(&names)).await?;
    if from.kind != ValueType::Set || to.as_ref().is_some_and(|t| t.kind != ValueType::Set) {
        return Err(ReplyError::WrongType);
    }
    if from.get(member).is_none() {
        return Ok(Reply::Int(0));
    }
    if src == dst {
        return Ok(Reply::Int(1));
    }
    let removed = change_in(
        cx,
        db,
        src,
        CollectionOp::Remove {
            kind: Kind::Set,
            members: vec![member.clone()],
        },
    )
    .await?;
    if count(&removed) == 0 {
        return Ok(Reply::Int(0));
    }
    if to.is_some_and(|t| t.get(member).is_some()) {
        // Already there: the destination is not written (nor its
        // watchers touched), as in Redis.
        return Ok(Reply::Int(1));
    }
    let add = CollectionOp::Put {
        kind: Kind::Set,
        pairs: vec![(member.clone(), Bytes::new())],
        if_absent: false,
    };
    change_in(cx, db, dst, add).await?;
    Ok(Reply::Int(1))
}

/// How several sets combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Combine {
    Inter,
    Union,
    Diff,
}

/// Reads every key (all type-checked, as Redis does before answering;
/// a missing key is an empty set) and combines them. An intersection
/// starts from the smallest set and a difference from the first, and
/// each further set much larger than what is left is only asked for
/// what is left, so SINTER of a small set and a large one reads the
/// small one and probes the large one.
async fn combine(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    how: Combine,
) -> Result<BTreeMap<Bytes, Bytes>, ReplyError> {
    if how == Combine::Union {
        let mut acc = BTreeMap::new();
        for k in keys {
            acc.extend(set(cx, k).await?.map(|s| s.map).unwrap_or_default());
        }
        return Ok(acc);
    }
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        sizes.push(length_of(cx, k, ValueType::Set).await?.unwrap_or(0));
    }
    let start = match how {
        Combine::Inter => (0..keys.len()).min_by_key(|&i| sizes.get(i).copied().unwrap_or(0)),
        _ => Some(0),
    };
    let (Some(start), Some(first)) = (start, start.and_then(|i| keys.get(i))) else {
        return Ok(BTreeMap::new());
    };
    let db = cx.db();
    let mut acc = match peek_members(cx, db, first, ValueType::Set).await? {
        Some(s) => s.map,
        None => return Ok(BTreeMap::new()),
    };
    let mut rest: Vec<(u64, &Bytes)> = sizes.iter().copied().zip(keys).collect();
    rest.remove(start);
    if how == Combine::Inter {
        rest.sort_by_key(|(size, _)| *size);
    }
    let keep_present = how == Combine::Inter;
    for (size, key) in rest {
        if acc.is_empty() {
            break;
        }
        if worth_probing(size, acc.len()) {
            let names: Vec<Bytes> = acc.keys().cloned().collect();
            let found = match cx.peek_part(db, key, Need::Members(&names)).await? {
                Some(p) if p.kind != ValueType::Set => return Err(ReplyError::WrongType),
                Some(p) => p.members,
                None => Vec::new(),
            };
            let present: std::collections::HashSet<&Bytes> = found.iter().map(|(m, _)| m).collect();
            acc.retain(|m, _| present.contains(m) == keep_present);
        } else {
            let s = peek_members(cx, db, key, ValueType::Set).await?;
            let s = s.map(|s| s.map).unwrap_or_default();
            acc.retain(|m, _| s.contains_key(m) == keep_present);
        }
    }
    Ok(acc)
}

async fn combine_reply(cx: &mut Ctx<'_>, args: &[Bytes], how: Combine) -> CmdResult {
    let acc = combine(cx, args.get(1..).unwrap_or_default(), how).await?;
    Ok(to_set_reply(acc.into_keys()))
}

async fn combine_store(cx: &mut Ctx<'_>, args: &[Bytes], how: Combine) -> CmdResult {
    let dest = arg(args, 1);
    let keys = args.get(2..).unwrap_or_default();
    let _lock = cx.ks().lock(args.iter().skip(1).map(|k| k.as_ref())).await;
    let map = combine(cx, keys, how).await?;
    Ok(Reply::Int(
        store(cx, dest, ValueType::Set, Members { map }).await?,
    ))
}

/// SINTER key [key ...].
pub async fn sinter(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Combine::Inter).await
}

/// SUNION key [key ...].
pub async fn sunion(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Combine::Union).await
}

/// SDIFF key [key ...].
pub async fn sdiff(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_reply(cx, args, Combine::Diff).await
}

/// SINTERSTORE destination key [key ...].
pub async fn sinterstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Combine::Inter).await
}

/// SUNIONSTORE destination key [key ...].
pub async fn sunionstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Combine::Union).await
}

/// SDIFFSTORE destination key [key ...].
pub async fn sdiffstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    combine_store(cx, args, Combine::Diff).await
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
pub async fn sintercard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = parse_i64(arg(args, 1)).unwrap_or(0);
    if numkeys <= 0 {
        return Err(ReplyError::err("numkeys should be greater than 0"));
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let Some(keys) = args.get(2..2usize.saturating_add(n)) else {
        return Err(ReplyError::err(
            "Number of keys can't be greater than number of args",
        ));
    };
    // Redis reads the options before the keys here.
    let limit = intercard_limit(args, 2 + n)?;
    let acc = combine(cx, keys, Combine::Inter).await?;
    Ok(intercard_reply(acc.len(), limit))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count].
pub async fn sscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    scan_collection(cx, args, ValueType::Set, false, |v| v).await
}
