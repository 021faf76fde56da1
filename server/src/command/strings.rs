//! String commands: GET, SET and its variants, MGET/MSET, APPEND, ranges
//! and counters, with Redis 7.0's options, replies and error texts.
//!
//! Every read-modify-write takes the key's lock first, so it is atomic
//! against other writers on this node, then writes through `Ctx::apply`.
//! Commands that modify a value in place (APPEND, SETRANGE, INCR...) keep
//! its TTL; commands that replace it (SET, GETSET) clear it unless told
//! otherwise (KEEPTTL), as in Redis.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ringkv_cluster::{Applied, Mutation, swap};
use ringkv_cluster::{Entry, ValueType, Write};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{ArgCursor, arg, detached, is, parse_f64, parse_i64};
use crate::reply_error::{CmdResult, ReplyError, text};

/// The expiry an option list asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    /// No expiry option given.
    Unchanged,
    /// Absolute unix ms.
    At(u64),
    /// KEEPTTL (SET) or the existing TTL.
    Keep,
    /// PERSIST (GETEX): remove the TTL.
    Persist,
}

/// Converts an expiry option's number to absolute unix ms, with Redis's
/// checks: positive, and no overflow when scaled or added to now.
fn absolute_ms(cx: &Ctx<'_>, value: i64, unit_ms: i64, relative: bool) -> Result<u64, ReplyError> {
    let invalid = || ReplyError::invalid_expire(&cx.fullname());
    if value <= 0 {
        return Err(invalid());
    }
    let ms = value.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if relative {
        i64::try_from(cx.now_ms())
            .ok()
            .and_then(|now| now.checked_add(ms))
            .ok_or_else(invalid)?
    } else {
        ms
    };
    u64::try_from(at).map_err(|_| invalid())
}

/// The expiry options and the unit (ms) and relativity of each.
const EXPIRY_OPTIONS: [(&str, i64, bool); 4] = [
    ("EX", 1000, true),
    ("PX", 1, true),
    ("EXAT", 1000, false),
    ("PXAT", 1, false),
];

/// SET's and GETEX's options, parsed as Redis's
/// `parseExtendedStringArgumentsOrReply` does: any order, a flag may repeat,
/// conflicting flags are a syntax error, and the expiry number is checked
/// only after the whole list parsed.
struct StringOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(usize, Bytes)>,
}

fn parse_string_options(
    args: &[Bytes],
    start: usize,
    is_getex: bool,
) -> Result<StringOptions, ReplyError> {
    let mut o = StringOptions {
        nx: false,
        xx: false,
        get: false,
        keepttl: false,
        persist: false,
        expire: None,
    };
    let mut c = ArgCursor::new(args, start);
    while let Some(opt) = c.next_arg() {
        let expire_kind = EXPIRY_OPTIONS.iter().position(|(name, _, _)| is(opt, name));
        // Whether an expiry option other than this one was given: repeating
        // the same one is allowed (the last value wins), as in Redis.
        let timed = o.expire.is_some();
        let other_expiry = |kind: Option<usize>| {
            o.expire.as_ref().is_some_and(|(k, _)| Some(*k) != kind)
                || (kind.is_some() && (o.keepttl || o.persist))
        };
        if !is_getex && is(opt, "NX") && !o.xx {
            o.nx = true;
        } else if !is_getex && is(opt, "XX") && !o.nx {
            o.xx = true;
        } else if !is_getex && is(opt, "GET") {
            o.get = true;
        } else if !is_getex && is(opt, "KEEPTTL") && !timed {
            o.keepttl = true;
        } else if is_getex && is(opt, "PERSIST") && !timed {
            o.persist = true;
        } else if let Some(kind) = expire_kind.filter(|&k| !other_expiry(Some(k)) && c.has_more()) {
            o.expire = Some((kind, c.require()?.clone()));
        } else {
            return Err(ReplyError::syntax());
        }
    }
    Ok(o)
}

impl StringOptions {
    /// The expiry the options ask for, checked and made absolute.
    fn expiry(&self, cx: &Ctx<'_>) -> Result<Expiry, ReplyError> {
        Ok(match &self.expire {
            Some((kind, raw)) => {
                let (_, unit, relative) = EXPIRY_OPTIONS
                    .get(*kind)
                    .copied()
                    .unwrap_or(("EX", 1000, true));
                Expiry::At(absolute_ms(cx, parse_i64(raw)?, unit, relative)?)
            }
            None if self.keepttl => Expiry::Keep,
            None if self.persist => Expiry::Persist,
            None => Expiry::Unchanged,
        })
    }
}

/// GET key.
pub async fn get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(match cx.read(arg(args, 1)).await? {
        Some(e) => Reply::Bulk(e.value),
        None => Reply::Nil,
    })
}

/// What a SET-like write should do once the current value is known.
struct SetPlan {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

async fn set_with(cx: &mut Ctx<'_>, key: &Bytes, value: &Bytes, plan: SetPlan) -> CmdResult {
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let keep = matches!(plan.expiry, Expiry::Keep);
    let expire_at_ms = match plan.expiry {
        Expiry::At(at) => at,
        Expiry::Keep | Expiry::Unchanged | Expiry::Persist => 0,
    };
    // Already expired: Redis deletes the key and answers as if it set it.
    let expired = expire_at_ms != 0 && expire_at_ms <= cx.now_ms();
    if plan.nx || plan.xx || plan.get || keep {
        // Decided by what the key holds: read and written in one step by
        // the replica that applies the write, so two SET NX through two
        // nodes leave one winner, and GET answers exactly what was
        // replaced.
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        let flags = flag(plan.nx, swap::NX)
            | flag(plan.xx, swap::XX)
            | flag(keep, swap::KEEPTTL)
            | flag(plan.get, swap::GET);
        let value = (!expired).then(|| detached(value));
        let (previous, applied) = swap_value(cx, key, value, expire_at_ms, flags).await?;
        return Ok(if plan.get {
            previous.map_or(Reply::Nil, Reply::Bulk)
        } else if applied {
            Reply::Ok
        } else {
            Reply::Nil
        });
    }
    // A blind SET does not read the old value at this layer. (The replica
    // applying the write still reads its record to build the new version:
    // the vector clock needs it.)
    if expired {
        cx.delete(key).await?;
    } else {
        cx.put(key, Entry::with_expiry(detached(value), expire_at_ms))
            .await?;
    }
    Ok(Reply::Ok)
}

/// SET key value [NX | XX] [GET] [EX | PX | EXAT | PXAT | KEEPTTL].
pub async fn set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = parse_string_options(args, 3, false)?;
    let plan = SetPlan {
        nx: o.nx,
        xx: o.xx,
        get: o.get,
        expiry: o.expiry(cx)?,
    };
    set_with(cx, arg(args, 1), arg(args, 2), plan).await
}

/// SETNX key value.
pub async fn setnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let plan = SetPlan {
        nx: true,
        xx: false,
        get: false,
        expiry: Expiry::Unchanged,
    };
    let r = set_with(cx, arg(args, 1), arg(args, 2), plan).await?;
    Ok(Reply::Int(i64::from(r == Reply::Ok)))
}

async fn set_expiring(cx: &mut Ctx<'_>, args: &[Bytes], unit_ms: i64) -> CmdResult {
    let n = parse_i64(arg(args, 2))?;
    let at = absolute_ms(cx, n, unit_ms, true)?;
    let plan = SetPlan {
        nx: false,
        xx: false,
        get: false,
        expiry: Expiry::At(at),
    };
    set_with(cx, arg(args, 1), arg(args, 3), plan).await
}

/// SETEX key seconds value.
pub async fn setex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_expiring(cx, args, 1000).await
}

/// PSETEX key milliseconds value.
pub async fn psetex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_expiring(cx, args, 1).await
}

/// GETSET key value.
pub async fn getset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let plan = SetPlan {
        nx: false,
        xx: false,
        get: true,
        expiry: Expiry::Unchanged,
    };
    set_with(cx, arg(args, 1), arg(args, 2), plan).await
}

/// GETDEL key.
pub async fn getdel(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let (previous, _) = swap_value(cx, key, None, 0, swap::GET).await?;
    Ok(previous.map_or(Reply::Nil, Reply::Bulk))
}

/// Stores `value` (deletes the key when `None`) if the [`swap`] `flags`
/// allow, read and written in one step by the replica that applies the
/// write ([`Mutation::Swap`]): an increment made through another node is
/// either in the string answered or still counted after it, never lost
/// between a read and the write. The string the key held (with
/// [`swap::GET`]; counted as a keyspace hit or miss, as GET is) and
/// whether the write was made.
async fn swap_value(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    value: Option<Bytes>,
    expire_at_ms: u64,
    flags: u8,
) -> Result<(Option<Bytes>, bool), ReplyError> {
    let alone = cx.server.cluster.is_alone();
    let deferred = cx.server.watches.before_write(alone, cx.db(), key);
    let level = cx.write_level();
    let stores = value.is_some();
    let mutation = Mutation::Swap {
        value,
        expire_at_ms,
        flags,
    };
    let written = cx.cluster().write(cx.db(), key, mutation, level).await;
    let (previous, applied) = match written {
        Ok((Applied::Swapped { previous, applied }, ack)) => {
            // A GETDEL of a missing key, or a refused NX or XX, changed
            // nothing.
            let changed = applied && (stores || previous.is_some());
            cx.server
                .watches
                .after_write(deferred, changed, cx.db(), key);
            cx.client.await_ack(ack);
            (previous, applied)
        }
        Ok((other, _)) => {
            return Err(ReplyError::Err(
                format!("unexpected swap outcome {other:?}").into(),
            ));
        }
        Err(e) => {
            cx.server.watches.after_write(deferred, false, cx.db(), key);
            return Err(e.into());
        }
    };
    if applied {
        cx.wake(cx.db(), key);
    }
    if flags & swap::GET != 0 {
        cx.count_lookup(previous.is_some());
    }
    Ok((previous, applied))
}

/// GETEX key [EX | PX | EXAT | PXAT | PERSIST].
pub async fn getex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // As in Redis: options are parsed first, then a missing key answers nil
    // before the expiry value is checked.
    let options = parse_string_options(args, 2, true)?;
    let key = arg(args, 1);
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let Some(entry) = cx.read(key).await? else {
        return Ok(Reply::Nil);
    };
    let expiry = options.expiry(cx)?;
    match expiry {
        Expiry::At(at) if at <= cx.now_ms() => cx.delete(key).await?,
        Expiry::At(at) => super::expire::expire_string(cx, key, at).await?,
        Expiry::Persist if entry.expire_at_ms != 0 => {
            super::expire::expire_string(cx, key, 0).await?;
        }
        _ => {}
    }
    Ok(Reply::Bulk(entry.value))
}

/// MGET key [key ...].
pub async fn mget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = args.get(1..).unwrap_or_default();
    // Read together: in a cluster one round trip per batch of keys, not
    // one per key; alone, the next keys' records load while one is read.
    let found = cx
        .cluster()
        .get_shallow_many(cx.db(), keys, cx.read_level())
        .await;
    let mut out = Vec::with_capacity(keys.len());
    for entry in found {
        let entry = entry?;
        cx.count_lookup(entry.is_some());
        // A key of another type reads as nil, as in Redis.
        out.push(match entry {
            Some(e) if e.kind == ValueType::String => Reply::Bulk(e.value),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

fn pairs<'a>(
    cx: &Ctx<'_>,
    args: &'a [Bytes],
) -> Result<impl Iterator<Item = (&'a Bytes, &'a Bytes)>, ReplyError> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.len() % 2 != 0 {
        return Err(ReplyError::arity(&cx.fullname()));
    }
    Ok(rest
        .chunks_exact(2)
        .filter_map(|p| Some((p.first()?, p.get(1)?))))
}

/// MSET key value [key value ...].
pub async fn mset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = cx.db();
    let writes: Vec<Write> = pairs(cx, args)?
        .map(|(k, v)| Write::Put {
            db,
            key: detached(k),
            entry: Entry::new(detached(v)),
        })
        .collect();
    let _lock = cx
        .ks()
        .lock(args.iter().skip(1).step_by(2).map(|k| k.as_ref()))
        .await;
    cx.apply(writes).await?;
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...].
pub async fn msetnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = cx.db();
    let pairs: Vec<_> = pairs(cx, args)?.collect();
    let _lock = cx.ks().lock(pairs.iter().map(|(k, _)| k.as_ref())).await;
    for (k, _) in &pairs {
        if cx.peek_shallow(db, k).await?.is_some() {
            return Ok(Reply::Int(0));
        }
    }
    let writes = pairs
        .into_iter()
        .map(|(k, v)| Write::Put {
            db,
            key: detached(k),
            entry: Entry::new(detached(v)),
        })
        .collect();
    cx.apply(writes).await?;
    Ok(Reply::Int(1))
}

/// The longest string a command may build (APPEND, SETRANGE, SETBIT,
/// BITFIELD): `proto-max-bulk-len`, but never more than half of what one
/// engine log record holds, 512 MB, Redis's default. A record carries the
/// value with its key and clock, so a limit raised past that (Redis's own
/// test suite sets 10 GB) would have a 2 GB SETRANGE build the string,
/// stall the node for seconds, and then be refused by the engine.
pub fn max_string_len(cx: &Ctx<'_>) -> u64 {
    let storable = (ringkv_engine::format::LOG_MAX_PAYLOAD / 2) as u64;
    cx.server
        .config
        .read()
        .proto_max_bulk_len
        .bytes()
        .min(storable)
}

/// APPEND key value.
pub async fn append(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, suffix) = (arg(args, 1), arg(args, 2));
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let current = cx.peek_string(cx.db(), key).await?;
    let (old, expire_at_ms) = current.map_or((Bytes::new(), 0), |e| (e.value, e.expire_at_ms));
    let new_len = old.len() + suffix.len();
    if new_len as u64 > max_string_len(cx) {
        return Err(ReplyError::err(text::TOO_BIG));
    }
    let server = Arc::clone(cx.server);
    let _reserved = server.transient_memory.reserve(new_len as u64).await;
    let mut value = BytesMut::with_capacity(new_len);
    value.extend_from_slice(&old);
    value.extend_from_slice(suffix);
    cx.put(key, Entry::with_expiry(value.freeze(), expire_at_ms))
        .await?;
    Ok(Reply::Int(i64::try_from(new_len).unwrap_or(i64::MAX)))
}

/// STRLEN key.
pub async fn strlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = cx.read(arg(args, 1)).await?.map_or(0, |e| e.value.len());
    Ok(Reply::Int(i64::try_from(len).unwrap_or(i64::MAX)))
}

/// The byte range `[start, end]` (inclusive, negative from the end) of a
/// string of `len` bytes, exactly as Redis's GETRANGE computes it.
pub fn redis_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut start = if start < 0 {
        len_i.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        len_i.saturating_add(end)
    } else {
        end
    };
    start = start.max(0);
    end = end.max(0);
    if end >= len_i {
        end = len_i - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// GETRANGE key start end (also SUBSTR).
pub async fn getrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(arg(args, 2))?;
    let end = parse_i64(arg(args, 3))?;
    let Some(entry) = cx.read(arg(args, 1)).await? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    Ok(Reply::Bulk(
        match redis_range(start, end, entry.value.len()) {
            Some((s, e)) => entry.value.slice(s..=e),
            None => Bytes::new(),
        },
    ))
}

/// SETRANGE key offset value.
pub async fn setrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, patch) = (arg(args, 1), arg(args, 3));
    let offset = parse_i64(arg(args, 2))?;
    let offset = usize::try_from(offset).map_err(|_| ReplyError::err(text::OFFSET_RANGE))?;
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let current = cx.peek_string(cx.db(), key).await?;
    let old_len = current.as_ref().map_or(0, |e| e.value.len());
    if patch.is_empty() {
        return Ok(Reply::Int(i64::try_from(old_len).unwrap_or(i64::MAX)));
    }
    let needed = offset
        .checked_add(patch.len())
        .ok_or(ReplyError::err(text::TOO_BIG))?;
    if needed as u64 > max_string_len(cx) {
        return Err(ReplyError::err(text::TOO_BIG));
    }
    let (old, expire_at_ms) = current.map_or((Bytes::new(), 0), |e| (e.value, e.expire_at_ms));
    let server = Arc::clone(cx.server);
    let _reserved = server
        .transient_memory
        .reserve(needed.max(old.len()) as u64)
        .await;
    let mut value = BytesMut::from(old.as_ref());
    if value.len() < needed {
        value.resize(needed, 0);
    }
    if let Some(dst) = value.get_mut(offset..needed) {
        dst.copy_from_slice(patch);
    }
    let new_len = value.len();
    cx.put(key, Entry::with_expiry(value.freeze(), expire_at_ms))
        .await?;
    Ok(Reply::Int(i64::try_from(new_len).unwrap_or(i64::MAX)))
}

/// Adds to a counter through the coordinator: on a cluster the value is a
/// counter CRDT, so increments made through different nodes at the same
/// time are all kept. Returns the counter's new value as Redis prints it.
async fn add_to_counter(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    mutation: Mutation,
) -> Result<Bytes, ReplyError> {
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let alone = cx.server.cluster.is_alone();
    let deferred = cx.server.watches.before_write(alone, cx.db(), key);
    let level = cx.write_level();
    let (applied, ack) = cx.cluster().write(cx.db(), key, mutation, level).await?;
    // An increment that succeeded modified the key, by 0 too, as in Redis.
    cx.server.watches.after_write(deferred, true, cx.db(), key);
    cx.client.await_ack(ack);
    match applied {
        Applied::Counter(v) => Ok(v),
        other => Err(ReplyError::Err(
            format!("unexpected counter outcome {other:?}").into(),
        )),
    }
}

async fn incr_by(cx: &mut Ctx<'_>, key: &Bytes, delta: i64) -> CmdResult {
    let value = add_to_counter(cx, key, Mutation::IncrBy(delta)).await?;
    Ok(Reply::Int(parse_i64(&value)?))
}

/// INCR key.
pub async fn incr(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(cx, arg(args, 1), 1).await
}

/// DECR key.
pub async fn decr(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(cx, arg(args, 1), -1).await
}

/// INCRBY key increment.
pub async fn incrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = parse_i64(arg(args, 2))?;
    incr_by(cx, arg(args, 1), delta).await
}

/// DECRBY key decrement.
pub async fn decrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = parse_i64(arg(args, 2))?;
    let negated = delta
        .checked_neg()
        .ok_or(ReplyError::err("decrement would overflow"))?;
    incr_by(cx, arg(args, 1), negated).await
}

/// INCRBYFLOAT key increment.
pub async fn incrbyfloat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let delta = match parse_f64(arg(args, 2)) {
        Ok(delta) => delta,
        // Redis looks at the key's type before it parses the increment.
        Err(e) => {
            let db = cx.db();
            if cx
                .peek_shallow(db, key)
                .await?
                .is_some_and(|e| e.kind != ValueType::String)
            {
                return Err(ReplyError::WrongType);
            }
            return Err(e);
        }
    };
    let value = add_to_counter(cx, key, Mutation::IncrByFloat(delta)).await?;
    Ok(Reply::Bulk(value))
}

#[cfg(test)]
mod tests {
    use super::redis_range;

    #[test]
    fn ranges_match_redis_getrange() {
        // "This is a string" (16 bytes), the examples from Redis's docs.
        assert_eq!(redis_range(0, 3, 16), Some((0, 3)));
        assert_eq!(redis_range(-3, -1, 16), Some((13, 15)));
        assert_eq!(redis_range(0, -1, 16), Some((0, 15)));
        assert_eq!(redis_range(10, 100, 16), Some((10, 15)));
        assert_eq!(redis_range(5, 3, 16), None);
        assert_eq!(redis_range(-1, -5, 16), None);
        assert_eq!(redis_range(0, 0, 0), None);
        assert_eq!(redis_range(i64::MIN, i64::MAX, 4), Some((0, 3)));
    }
}
