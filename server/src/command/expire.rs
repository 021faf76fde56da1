//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT,
//! LT), TTL, PTTL, PERSIST, EXPIRETIME, PEXPIRETIME — Redis 7.0 semantics.
//!
//! Expiry is absolute unix milliseconds stored with the value, so it
//! survives restarts. Expired keys are invisible at once (lazy expiry) and
//! their space is reclaimed by the engine's compaction (active expiry).

use bytes::Bytes;
use ringkv_cluster::{CollectionOp, Entry, Mutation, Need, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use super::collections::change;
use crate::reply_error::{CmdResult, ReplyError};

#[derive(Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_conditions(args: &[Bytes]) -> Result<Conditions, ReplyError> {
    let mut c = Conditions::default();
    for opt in args.iter().skip(3) {
        if is(opt, "NX") {
            c.nx = true;
        } else if is(opt, "XX") {
            c.xx = true;
        } else if is(opt, "GT") {
            c.gt = true;
        } else if is(opt, "LT") {
            c.lt = true;
        } else {
            // Redis formats the option as a C string: up to its first NUL.
            let shown = opt.split(|&b| b == 0).next().unwrap_or_default();
            return Err(ReplyError::Err(
                format!("Unsupported option {}", String::from_utf8_lossy(shown)).into(),
            ));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(ReplyError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if c.gt && c.lt {
        return Err(ReplyError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(c)
}

async fn expire_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    relative: bool,
) -> CmdResult {
    let cond = parse_conditions(args)?;
    let invalid = || ReplyError::invalid_expire(&cx.fullname());
    let mut when = parse_i64(arg(args, 2))?;
    if unit_ms == 1000 {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if relative {
        let now = i64::try_from(cx.now_ms()).unwrap_or(i64::MAX);
        when = when.checked_add(now).ok_or_else(invalid)?;
    }
    let key = arg(args, 1);
    let _lock = cx.ks().lock([key.as_ref()]).await;
    // The type and expiry only: a large collection's members are not read
    // unless it has to be written whole.
    let Some(found) = cx.peek_shallow(cx.db(), key).await? else {
        return Ok(Reply::Int(0));
    };
    // -1 is "no expiry", an infinite TTL.
    let current = if found.expire_at_ms == 0 {
        -1
    } else {
        i64::try_from(found.expire_at_ms).unwrap_or(i64::MAX)
    };
    let refused = (cond.nx && current != -1)
        || (cond.xx && current == -1)
        || (cond.gt && (current == -1 || when <= current))
        || (cond.lt && current != -1 && when >= current);
    if refused {
        return Ok(Reply::Int(0));
    }
    match u64::try_from(when) {
        Ok(at) if at > cx.now_ms() => set_expiry(cx, key, found, at).await?,
        _ => cx.delete(key).await?,
    }
    Ok(Reply::Int(1))
}

/// Gives `key` (which `cx.peek_shallow` found as `found`) the expiry `at`
/// (0: none). A collection gets it as a collection write of its own
/// (`CollectionOp::Expire`): its members and their tags stay as they are,
/// a large one's header alone is rewritten, and in a cluster only the
/// operation travels to the other replicas. A string is written whole with
/// the new expiry, as is a collection whose type changed meanwhile
/// through another node.
async fn set_expiry(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    found: Entry,
    at: u64,
) -> Result<(), ReplyError> {
    if let Some(kind) = found.kind.kind() {
        let op = CollectionOp::Expire {
            kind,
            expire_at_ms: at,
        };
        match change(cx, key, op).await {
            Err(ReplyError::WrongType) => {}
            done => return done.map(|_| ()),
        }
    }
    let entry = match found.kind {
        ValueType::String => return expire_string(cx, key, at).await,
        _ => match cx.peek(cx.db(), key).await? {
            Some(whole) => whole,
            None => return Ok(()),
        },
    };
    cx.put(
        key,
        Entry {
            expire_at_ms: at,
            ..entry
        },
    )
    .await
}

/// Gives the string at `key` the expiry `at` (0: none) as one write the
/// replica applying it makes of what it holds ([`Mutation::Expire`]): not
/// a copy of the value read here, which would replace an increment made
/// through another node meanwhile. Used by GETEX too.
pub(super) async fn expire_string(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    at: u64,
) -> Result<(), ReplyError> {
    cx.server.watches.touch(cx.db(), key);
    let level = cx.write_level();
    let mutation = Mutation::Expire { expire_at_ms: at };
    let (_, ack) = cx.cluster().write(cx.db(), key, mutation, level).await?;
    cx.client.await_ack(ack);
    Ok(())
}

/// EXPIRE key seconds [NX | XX | GT | LT].
pub async fn expire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, 1000, true).await
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT].
pub async fn pexpire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, 1, true).await
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT].
pub async fn expireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, 1000, false).await
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT].
pub async fn pexpireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, 1, false).await
}

/// -2 for a missing key, -1 for no expiry, otherwise `f(expire_at_ms, now_ms)`.
async fn ttl_generic(cx: &mut Ctx<'_>, args: &[Bytes], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    Ok(Reply::Int(
        match cx.read_part_any(arg(args, 1), Need::Count).await? {
            None => -2,
            Some(e) if e.expire_at_ms == 0 => -1,
            Some(e) => f(e.expire_at_ms, cx.now_ms()),
        },
    ))
}

fn remaining_ms(at: u64, now: u64) -> i64 {
    i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX)
}

/// TTL key: remaining seconds, rounded as Redis rounds.
pub async fn ttl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, args, |at, now| (remaining_ms(at, now) + 500) / 1000).await
}

/// PTTL key.
pub async fn pttl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, args, remaining_ms).await
}

/// EXPIRETIME key: the expiry in seconds, rounded to the nearest as
/// Redis rounds it (`(ms + 500) / 1000`, as TTL is).
pub async fn expiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, args, |at, _| {
        i64::try_from(at.saturating_add(500) / 1000).unwrap_or(i64::MAX)
    })
    .await
}

/// PEXPIRETIME key.
pub async fn pexpiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, args, |at, _| i64::try_from(at).unwrap_or(i64::MAX)).await
}

/// PERSIST key.
pub async fn persist(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let _lock = cx.ks().lock([key.as_ref()]).await;
    match cx.peek_shallow(cx.db(), key).await? {
        Some(e) if e.expire_at_ms != 0 => {
            set_expiry(cx, key, e, 0).await?;
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}
