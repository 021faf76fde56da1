//! The blocking pops: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP. Each runs its non-blocking form; when that finds
//! nothing, outside a transaction, it asks the connection to wait
//! ([`crate::blocking`]) and is re-run when a key it waits on is written.
//! Inside MULTI/EXEC it answers at once, as Redis does.

use bytes::Bytes;
use ringkv_cluster::PopEnd;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::arg;
use super::lists::{End, list_len, move_one, mpop_args, mpop_first, pop_in};
use super::zsets::{zmpop_args, zmpop_first, zpop_first};
use crate::blocking::{BlockRequest, parse_timeout};
use crate::reply_error::{CmdResult, ReplyError};

/// The first of `keys` whose `$search` (a non-blocking pop over the keys
/// in a slice, given one at a time) finds something. On the re-run of a
/// waiting client a key that now holds another type is passed over and
/// noted (see `Client::blocked_rerun`); otherwise its WRONGTYPE answers.
macro_rules! first_ready {
    ($cx:expr, $keys:expr, |$key:ident| $search:expr) => {{
        let mut found = None;
        for $key in $keys.chunks(1) {
            match $search.await {
                Ok(Some(reply)) => {
                    found = Some(reply);
                    break;
                }
                Ok(None) => {}
                Err(ReplyError::WrongType) if $cx.client.blocked_rerun => {
                    $cx.client.skipped_other_type = true;
                }
                Err(e) => return Err(e),
            }
        }
        found
    }};
}

/// Nothing to pop: waits on the `count` keys at `args[at..]`, answering a
/// nil array if the wait ends unserved (every blocking command does, as in
/// Redis 7.0).
fn block(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    at: usize,
    count: usize,
    timeout: Option<std::time::Duration>,
) -> CmdResult {
    if cx.client.in_exec {
        return Ok(Reply::NilArray);
    }
    // Copies: the arguments are slices of the request's read buffer,
    // which a client blocked for good would keep whole.
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    cx.client.block = Some(BlockRequest {
        keys: args.get(at..at + count).unwrap_or_default().to_vec(),
        keys_at: at,
        timeout,
        timeout_reply: Reply::NilArray,
        args,
    });
    Ok(Reply::NilArray)
}

/// BLPOP and BRPOP's pop from `key`: `[key, element]` if it has one.
async fn pop_one(cx: &mut Ctx<'_>, key: &[Bytes], end: End) -> Result<Option<Reply>, ReplyError> {
    let Some(key) = key.first() else {
        return Ok(None);
    };
    match list_len(cx, key).await? {
        Some(n) if n > 0 => {}
        _ => return Ok(None),
    }
    let popped = pop_in(cx, cx.db(), key, 1, end).await?.into_iter().next();
    Ok(popped.map(|v| Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)])))
}

async fn bpop(cx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    let timeout = parse_timeout(arg(args, args.len() - 1))?;
    let keys = args.get(1..args.len() - 1).unwrap_or_default();
    match first_ready!(cx, keys, |key| pop_one(cx, key, end)) {
        Some(r) => Ok(r),
        None => block(cx, args, 1, keys.len(), timeout),
    }
}

/// BLPOP key [key ...] timeout: `[key, element]`, or nil at the timeout.
pub async fn blpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(cx, args, End::Left).await
}

/// BRPOP key [key ...] timeout.
pub async fn brpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(cx, args, End::Right).await
}

async fn bmove(cx: &mut Ctx<'_>, args: &[Bytes], from: End, to: End, at: usize) -> CmdResult {
    let timeout = parse_timeout(arg(args, at))?;
    let (src, dst) = (arg(args, 1), arg(args, 2));
    match move_one(cx, src, dst, from, to).await? {
        Some(v) => Ok(Reply::Bulk(v)),
        // Inside a transaction BLMOVE answers a nil bulk, not an array.
        None if cx.client.in_exec => Ok(Reply::Nil),
        None => block(cx, args, 1, 1, timeout),
    }
}

/// BRPOPLPUSH source destination timeout.
pub async fn brpoplpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bmove(cx, args, End::Right, End::Left, 3).await
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
pub async fn blmove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(arg(args, 3))?;
    let to = End::parse(arg(args, 4))?;
    bmove(cx, args, from, to, 5).await
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]. As in
/// Redis, the timeout is read after the other arguments.
pub async fn blmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = mpop_args(args, 2)?;
    let timeout = parse_timeout(arg(args, 1))?;
    match first_ready!(cx, keys, |key| mpop_first(cx, key, end, count)) {
        Some(r) => Ok(r),
        // The keys follow the timeout and numkeys.
        None => block(cx, args, 3, keys.len(), timeout),
    }
}

async fn bzpop(cx: &mut Ctx<'_>, args: &[Bytes], end: PopEnd) -> CmdResult {
    let timeout = parse_timeout(arg(args, args.len() - 1))?;
    let keys = args.get(1..args.len() - 1).unwrap_or_default();
    match first_ready!(cx, keys, |key| zpop_first(cx, key, end)) {
        Some(r) => Ok(r),
        None => block(cx, args, 1, keys.len(), timeout),
    }
}

/// BZPOPMIN key [key ...] timeout: `[key, member, score]`, or nil.
pub async fn bzpopmin(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(cx, args, PopEnd::Min).await
}

/// BZPOPMAX key [key ...] timeout.
pub async fn bzpopmax(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(cx, args, PopEnd::Max).await
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count], the
/// timeout read last as BLMPOP's.
pub async fn bzmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = zmpop_args(args, 2)?;
    let timeout = parse_timeout(arg(args, 1))?;
    match first_ready!(cx, keys, |key| zmpop_first(cx, key, end, count)) {
        Some(r) => Ok(r),
        None => block(cx, args, 3, keys.len(), timeout),
    }
}
