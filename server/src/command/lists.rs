//! List commands with Redis 7.0's replies and errors. A list is a sequence
//! CRDT replicated without a leader (`docs/data-types.md`, Lists): every
//! element has a stable position, concurrent pushes all survive in one
//! order on every replica, and removals take what the remover saw.

use bytes::Bytes;
use ringkv_cluster::{CollectionOp, CollectionReply, Kind, Need, PopEnd, ValueType};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{ArgCursor, arg, is, parse_i64};
use super::collections::{
    change, change_in, count, length_of, peek_members, read_members, read_part,
};
use crate::reply_error::{CmdResult, ReplyError, text};

/// The elements of the list at `key`, in order (`None`: no such key).
pub async fn list(cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>, ReplyError> {
    Ok(read_members(cx, key, ValueType::List)
        .await?
        .map(|m| m.map.into_values().collect()))
}

/// The length of the list at `key` ([`length_of`]).
pub async fn list_len(cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<u64>, ReplyError> {
    length_of(cx, key, ValueType::List).await
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LEFT).
    Left,
    /// The tail (RIGHT).
    Right,
}

impl End {
    /// LEFT or RIGHT, case-insensitively; else a syntax error.
    pub fn parse(word: &[u8]) -> Result<End, ReplyError> {
        if is(word, "LEFT") {
            Ok(End::Left)
        } else if is(word, "RIGHT") {
            Ok(End::Right)
        } else {
            Err(ReplyError::syntax())
        }
    }

    fn pop_end(self) -> PopEnd {
        match self {
            End::Left => PopEnd::Min,
            End::Right => PopEnd::Max,
        }
    }
}

async fn push(cx: &mut Ctx<'_>, args: &[Bytes], left: bool, if_exists: bool) -> CmdResult {
    let key = arg(args, 1);
    let op = CollectionOp::Push {
        left,
        values: args.get(2..).unwrap_or_default().to_vec(),
        if_exists,
    };
    let n = count(&change(cx, key, op).await?);
    if n > 0 {
        cx.wake(cx.db(), key);
    }
    Ok(Reply::Int(n))
}

/// LPUSH key element [element ...]: the new length.
pub async fn lpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(cx, args, true, false).await
}

/// RPUSH key element [element ...].
pub async fn rpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(cx, args, false, false).await
}

/// LPUSHX key element [element ...]: only onto an existing list.
pub async fn lpushx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(cx, args, true, true).await
}

/// RPUSHX key element [element ...].
pub async fn rpushx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(cx, args, false, true).await
}

/// Pops up to `count` elements of `key` from `end` in database `db`.
pub async fn pop_in(
    cx: &mut Ctx<'_>,
    db: u32,
    key: &Bytes,
    count: u64,
    end: End,
) -> Result<Vec<Bytes>, ReplyError> {
    let op = CollectionOp::Pop {
        kind: Kind::List,
        count,
        end: end.pop_end(),
    };
    Ok(match change_in(cx, db, key, op).await? {
        CollectionReply::Pairs(p) => p.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    })
}

async fn pop_cmd(cx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(ReplyError::arity(&cx.fullname()));
    }
    let key = arg(args, 1);
    let Some(raw) = args.get(2) else {
        let popped = pop_in(cx, cx.db(), key, 1, end).await?;
        return Ok(popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk));
    };
    let n = parse_i64(raw)
        .ok()
        .filter(|n| *n >= 0)
        .ok_or(ReplyError::err(text::NOT_POSITIVE))?;
    if n == 0 {
        // Redis: nil for a missing key, an empty array for a list.
        return Ok(match list_len(cx, key).await? {
            None => Reply::NilArray,
            Some(_) => Reply::Array(Vec::new()),
        });
    }
    let popped = pop_in(cx, cx.db(), key, n.unsigned_abs(), end).await?;
    Ok(if popped.is_empty() {
        Reply::NilArray
    } else {
        Reply::Array(popped.into_iter().map(Reply::Bulk).collect())
    })
}

/// LPOP key [count].
pub async fn lpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_cmd(cx, args, End::Left).await
}

/// RPOP key [count].
pub async fn rpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_cmd(cx, args, End::Right).await
}

/// LLEN key.
pub async fn llen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let l = read_part(cx, arg(args, 1), ValueType::List, Need::Count).await?;
    Ok(Reply::Int(
        l.map_or(0, |l| i64::try_from(l.len).unwrap_or(i64::MAX)),
    ))
}

/// LRANGE key start stop.
pub async fn lrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(arg(args, 2))?;
    let stop = parse_i64(arg(args, 3))?;
    // LRANGE keeps what LTRIM with the same indexes would keep.
    let l = read_part(
        cx,
        arg(args, 1),
        ValueType::List,
        Need::Range { start, stop },
    )
    .await?;
    Ok(Reply::Array(
        l.map(|l| l.members)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| Reply::Bulk(v))
            .collect(),
    ))
}

/// LINDEX key index (the key is looked up before the index is parsed,
/// as in Redis).
pub async fn lindex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    if read_part(cx, key, ValueType::List, Need::Count)
        .await?
        .is_none()
    {
        return Ok(Reply::Nil);
    }
    let index = parse_i64(arg(args, 2))?;
    let at = Need::Range {
        start: index,
        stop: index,
    };
    let l = read_part(cx, key, ValueType::List, at).await?;
    Ok(l.and_then(|l| l.members.into_iter().next())
        .map_or(Reply::Nil, |(_, v)| Reply::Bulk(v)))
}

/// LSET key index element.
pub async fn lset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Ok(index) = parse_i64(arg(args, 2)) else {
        // Redis looks the key up first: no such key, or the wrong type,
        // comes before a bad index.
        let db = cx.db();
        if peek_members(cx, db, arg(args, 1), ValueType::List)
            .await?
            .is_none()
        {
            return Err(ReplyError::err(text::NO_SUCH_KEY));
        }
        return Err(ReplyError::not_integer());
    };
    let op = CollectionOp::ListSet {
        index,
        value: arg(args, 3).clone(),
    };
    change(cx, arg(args, 1), op).await?;
    Ok(Reply::Ok)
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the
/// pivot, 0 without the key.
pub async fn linsert(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let before = match arg(args, 2) {
        w if is(w, "BEFORE") => true,
        w if is(w, "AFTER") => false,
        _ => return Err(ReplyError::syntax()),
    };
    let op = CollectionOp::ListInsert {
        before,
        pivot: arg(args, 3).clone(),
        value: arg(args, 4).clone(),
    };
    Ok(match change(cx, arg(args, 1), op).await? {
        CollectionReply::Nil => Reply::Int(-1),
        reply => Reply::Int(count(&reply)),
    })
}

/// LREM key count element: the number removed.
pub async fn lrem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::ListRemove {
        count: parse_i64(arg(args, 2))?,
        value: arg(args, 3).clone(),
    };
    Ok(Reply::Int(count(&change(cx, arg(args, 1), op).await?)))
}

/// LTRIM key start stop.
pub async fn ltrim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = CollectionOp::ListTrim {
        start: parse_i64(arg(args, 2))?,
        stop: parse_i64(arg(args, 3))?,
    };
    change(cx, arg(args, 1), op).await?;
    Ok(Reply::Ok)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
pub async fn lpos(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut rank, mut matches, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut c = ArgCursor::new(args, 3);
    while c.has_more() {
        if c.eat("RANK") {
            rank = c.require_i64()?;
            if rank == 0 {
                return Err(ReplyError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if c.eat("COUNT") {
            // Redis answers a non-number with the same text.
            let n = parse_i64(c.require()?).unwrap_or(-1);
            if n < 0 {
                return Err(ReplyError::err("COUNT can't be negative"));
            }
            matches = Some(n);
        } else if c.eat("MAXLEN") {
            maxlen = parse_i64(c.require()?).unwrap_or(-1);
            if maxlen < 0 {
                return Err(ReplyError::err("MAXLEN can't be negative"));
            }
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let element = arg(args, 2);
    let want = match matches {
        None => 1,
        // Redis's count check overflows with this rank: every match.
        Some(_) if rank == i64::MIN => usize::MAX,
        Some(0) => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    // Redis negates a negative rank; i64::MIN stays negative there, so
    // every match passes its rank test: the first match from the tail.
    let skip = usize::try_from(rank.unsigned_abs().saturating_sub(1)).unwrap_or(usize::MAX);
    let skip = if rank == i64::MIN { 0 } else { skip };
    let scan = if maxlen == 0 {
        usize::MAX
    } else {
        usize::try_from(maxlen).unwrap_or(usize::MAX)
    };
    let search = Search {
        element,
        from_head: rank > 0,
        matches: skip.saturating_add(want),
        scan,
    };
    let found: Vec<Reply> = search
        .run(cx, arg(args, 1))
        .await?
        .into_iter()
        .skip(skip)
        .take(want)
        .map(|i| Reply::Int(i64::try_from(i).unwrap_or(i64::MAX)))
        .collect();
    Ok(match matches {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::Nil),
    })
}

/// LPOS's search: the indexes of the first `matches` elements equal to
/// `element` among the first `scan` from the head (from the tail when not
/// `from_head`), in the order met.
struct Search<'a> {
    element: &'a Bytes,
    from_head: bool,
    matches: usize,
    scan: usize,
}

impl Search<'_> {
    /// The elements through the last match wanted (and the one after it),
    /// from the head or the tail, in one read, so from one version of the
    /// list: from the head one walk stops at the match; from the tail the
    /// read widens from the last 64 elements until it holds the matches.
    async fn run(&self, cx: &mut Ctx<'_>, key: &Bytes) -> Result<Vec<usize>, ReplyError> {
        let equal = |(_, (_, v)): &(usize, &(Bytes, Bytes))| v == self.element;
        let need = Need::through(self.element, self.matches, self.scan, !self.from_head);
        let Some(read) = read_part(cx, key, ValueType::List, need).await? else {
            return Ok(Vec::new());
        };
        let elements = read.members.iter().enumerate();
        if self.from_head {
            let found = elements.take(self.scan).filter(equal);
            return Ok(found.map(|(i, _)| i).collect());
        }
        // The read holds the last of the list's `len` elements.
        let first = usize::try_from(read.len)
            .unwrap_or(usize::MAX)
            .saturating_sub(read.members.len());
        let found = elements.rev().take(self.scan).filter(equal);
        Ok(found.map(|(i, _)| first + i).collect())
    }
}

/// Moves one element of `src` from `from` to `dst` at `to` (LMOVE and
/// RPOPLPUSH; the blocking forms once the source has one): the element,
/// or `None` when `src` is missing or empty. `dst` must be a list or
/// absent, checked before anything is popped, as in Redis.
pub async fn move_one(
    cx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Result<Option<Bytes>, ReplyError> {
    let db = cx.db();
    let _lock = cx.ks().lock([src.as_ref(), dst.as_ref()]).await;
    // Both lists' types and lengths from their headers: a move touches
    // only the element it moves, however long the lists.
    let src_len = match cx.peek_part(db, src, Need::Count).await? {
        Some(p) if p.kind != ValueType::List => return Err(ReplyError::WrongType),
        Some(p) if p.len > 0 => p.len,
        _ => return Ok(None),
    };
    if let Some(p) = cx.peek_part(db, dst, Need::Count).await? {
        if p.kind != ValueType::List {
            // Redis answers this error even to a client it had blocked.
            cx.client.error_ends_wait = true;
            return Err(ReplyError::WrongType);
        }
    }
    if src == dst && src_len == 1 {
        // Rotating a one-element list leaves it as it was, and the key
        // with it (its expiry too): popping first would delete the key.
        // Its watchers are touched, as Redis does.
        let element = list(cx, src).await?.unwrap_or_default().into_iter().next();
        if element.is_some() {
            cx.server.watches.touch(db, src);
        }
        return Ok(element);
    }
    let Some(value) = pop_in(cx, db, src, 1, from).await?.into_iter().next() else {
        return Ok(None);
    };
    let op = CollectionOp::Push {
        left: to == End::Left,
        values: vec![value.clone()],
        if_exists: false,
    };
    change_in(cx, db, dst, op).await?;
    cx.wake(db, dst);
    Ok(Some(value))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
pub async fn lmove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(arg(args, 3))?;
    let to = End::parse(arg(args, 4))?;
    let moved = move_one(cx, arg(args, 1), arg(args, 2), from, to).await?;
    Ok(moved.map_or(Reply::Nil, Reply::Bulk))
}

/// RPOPLPUSH source destination.
pub async fn rpoplpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let moved = move_one(cx, arg(args, 1), arg(args, 2), End::Right, End::Left).await?;
    Ok(moved.map_or(Reply::Nil, Reply::Bulk))
}

/// The keys, end and count of `numkeys key [key ...] LEFT|RIGHT [COUNT
/// count]` from `args[at..]` (LMPOP, BLMPOP).
pub fn mpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], End, u64), ReplyError> {
    super::collections::mpop_args(args, at, |w| End::parse(w).ok())
}

/// Pops from the first non-empty list of `keys`: `[key, [elements]]`, or
/// `None` when every list is empty or missing (each is type-checked).
pub async fn mpop_first(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: End,
    count: u64,
) -> Result<Option<Reply>, ReplyError> {
    for key in keys {
        match list_len(cx, key).await? {
            Some(n) if n > 0 => {}
            _ => continue,
        }
        let popped = pop_in(cx, cx.db(), key, count, end).await?;
        if popped.is_empty() {
            continue;
        }
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
        ])));
    }
    Ok(None)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count].
pub async fn lmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = mpop_args(args, 1)?;
    Ok(mpop_first(cx, keys, end, count)
        .await?
        .unwrap_or(Reply::NilArray))
}
