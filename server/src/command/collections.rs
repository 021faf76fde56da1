//! What the hash and set commands share: reading a collection with its
//! type checked, sending a change to the key's replicas, the random picks
//! of HRANDFIELD/SRANDMEMBER, and the *SCAN commands' page.

use bytes::Bytes;
use ringkv_cluster::{
    Applied, CollectionOp, CollectionReply, Members, Mutation, Need, PartialRead, ValueType,
};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::ArgCursor;
use super::keys::parse_cursor;
use crate::glob::Glob;
use crate::reply_error::{ReplyError, text};

/// The members of the `ty` at `key` (a keyspace hit or miss is counted);
/// `None` if the key does not exist, `-WRONGTYPE` if it holds another type.
pub async fn read_members(
    cx: &mut Ctx<'_>,
    key: &[u8],
    ty: ValueType,
) -> Result<Option<Members>, ReplyError> {
    let Some(entry) = cx.read_any(key).await? else {
        return Ok(None);
    };
    members_of(entry, ty).map(Some)
}

/// What `need` asks of the `ty` at `key` (a keyspace hit or miss is
/// counted): on a single node only the members needed are read from a
/// large collection. `None` if the key does not exist, `-WRONGTYPE` if it
/// holds another type.
pub async fn read_part(
    cx: &mut Ctx<'_>,
    key: &[u8],
    ty: ValueType,
    need: Need<'_>,
) -> Result<Option<PartialRead>, ReplyError> {
    match cx.read_part_any(key, need).await? {
        Some(p) if p.kind != ty => Err(ReplyError::WrongType),
        other => Ok(other),
    }
}

/// How many members the collection of type `ty` at `key` holds, from its
/// header (`None`: no such key), counting a keyspace hit or miss; another
/// type is `-WRONGTYPE`. For a pop that must skip empty keys without
/// reading a long one.
pub async fn length_of(
    cx: &mut Ctx<'_>,
    key: &[u8],
    ty: ValueType,
) -> Result<Option<u64>, ReplyError> {
    Ok(read_part(cx, key, ty, Need::Count).await?.map(|p| p.len))
}

/// [`read_members`] without statistics, in database `db` (for writes).
pub async fn peek_members(
    cx: &Ctx<'_>,
    db: u32,
    key: &[u8],
    ty: ValueType,
) -> Result<Option<Members>, ReplyError> {
    let Some(entry) = cx.peek(db, key).await? else {
        return Ok(None);
    };
    members_of(entry, ty).map(Some)
}

fn members_of(entry: ringkv_cluster::Entry, ty: ValueType) -> Result<Members, ReplyError> {
    if entry.kind != ty {
        return Err(ReplyError::WrongType);
    }
    Ok(entry.members.unwrap_or_default())
}

/// Applies `op` to `key` in the selected database on its replicas at the
/// command's write level, touching the key's WATCHes; the reply waits for
/// local durability.
pub async fn change(
    cx: &mut Ctx<'_>,
    key: &Bytes,
    op: CollectionOp,
) -> Result<CollectionReply, ReplyError> {
    change_in(cx, cx.db(), key, op).await
}

/// [`change`] in database `db`.
pub async fn change_in(
    cx: &mut Ctx<'_>,
    db: u32,
    key: &Bytes,
    op: CollectionOp,
) -> Result<CollectionReply, ReplyError> {
    let level = cx.write_level();
    let alone = cx.server.cluster.is_alone();
    let deferred = cx.server.watches.before_write(alone, db, key);
    // SADD of members all present stores them again (a new tag each, so
    // they win over a concurrent remove), but to Redis nothing changed.
    let set_add = matches!(
        op,
        CollectionOp::Put {
            kind: ringkv_cluster::Kind::Set,
            ..
        }
    );
    let (applied, ack) = cx
        .cluster()
        .write(db, key, Mutation::Collection(op), level)
        .await?;
    // A write that changed nothing stored nothing, and so has nothing to
    // wait for.
    let re_added = set_add && matches!(applied, Applied::Collection(CollectionReply::Count(0)));
    let changed = ack != ringkv_cluster::Ack::NONE && !re_added;
    cx.server.watches.after_write(deferred, changed, db, key);
    cx.client.await_ack(ack);
    cx.wake(db, key);
    match applied {
        Applied::Collection(reply) => Ok(reply),
        other => Err(ReplyError::Err(
            format!("internal error: unexpected outcome {other:?}").into(),
        )),
    }
}

/// The count a Put, Remove or Replace answered.
pub fn count(reply: &CollectionReply) -> i64 {
    match reply {
        CollectionReply::Count(n) => i64::try_from(*n).unwrap_or(i64::MAX),
        CollectionReply::Pairs(m) => i64::try_from(m.len()).unwrap_or(i64::MAX),
        CollectionReply::Value(_) | CollectionReply::Nil => 0,
    }
}

/// Replaces whatever `dest` holds by `members` as a `ty` (deleting it when
/// there are none), as the *STORE commands do; returns how many it holds.
pub async fn store(
    cx: &mut Ctx<'_>,
    dest: &Bytes,
    ty: ValueType,
    members: Members,
) -> Result<i64, ReplyError> {
    let n = i64::try_from(members.map.len()).unwrap_or(i64::MAX);
    let Some(kind) = ty.kind() else {
        return Err(ReplyError::err("internal error: not a collection type"));
    };
    change(
        cx,
        dest,
        CollectionOp::Replace {
            kind,
            pairs: members.map.into_iter().collect(),
            expire_at_ms: 0,
        },
    )
    .await?;
    Ok(n)
}

/// What SRANDMEMBER, HRANDFIELD and ZRANDMEMBER pick from the `ty` at
/// `key` (a keyspace hit or miss is counted): `count` members at random
/// (one without a count) with their values, as [`ringkv_cluster::random_picks`]
/// picks them; only the picked members of a large collection are decoded.
/// `None` if the key does not exist. A negative count beyond
/// [`MAX_RANDOM_REPEATS`] picks is refused ([`check_repeats`]).
///
/// `reply` turns the picks into the reply. Picks with repeats are held in
/// memory with their reply (up to ten million of them, over a gigabyte),
/// so they reserve [`PICK_BYTES`] each from the node's transient-memory
/// budget (`crate::transient`) until the reply is built: parallel large
/// picks run one budget's worth at a time.
pub async fn random_members<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    ty: ValueType,
    count: Option<i64>,
    reply: impl FnOnce(Option<Vec<(Bytes, Bytes)>>) -> R,
) -> Result<R, ReplyError> {
    let n = count.unwrap_or(1);
    if n < -MAX_RANDOM_REPEATS {
        let found = read_part(cx, key, ty, Need::Count).await?;
        if let Some(p) = &found {
            check_repeats(n, usize::try_from(p.len).unwrap_or(usize::MAX))?;
        }
        return Ok(reply(found.map(|_| Vec::new())));
    }
    let server = std::sync::Arc::clone(cx.server);
    let repeats = if n < 0 { n.unsigned_abs() } else { 0 };
    let _reserved = server
        .transient_memory
        .reserve(repeats.saturating_mul(PICK_BYTES))
        .await;
    let picked = read_part(cx, key, ty, Need::Sample(n))
        .await?
        .map(|p| p.members);
    Ok(reply(picked))
}

/// Memory one pick with repeats holds until its reply is built: the pick
/// (member and value handles), its index, and its share of the reply,
/// encoded as it is built ([`Reply::streamed_array`]) and copied to the
/// connection's buffer (measured: ten million picks of a two-field hash
/// WITHVALUES, 1.25 GB peak; 2.66 GB when the reply was a `Reply` per
/// element first).
pub const PICK_BYTES: u64 = 128;

/// The count and WITHVALUES/WITHSCORES of HRANDFIELD and ZRANDMEMBER
/// (`key [count [word]]`), checked in Redis 7.0's order before the key is
/// read: the count an integer within ±`i64::MAX`, then the syntax, then
/// with values the range ±`i64::MAX / 2`. A negative count (picks with
/// repeats) is then bounded by [`check_repeats`]: the reply is built in
/// memory, and a larger one would exhaust it.
pub fn random_args(args: &[Bytes], word: &str) -> Result<(Option<i64>, bool), ReplyError> {
    let Some(raw) = args.get(2) else {
        return Ok((None, false));
    };
    let n = parse_random_count(raw)?;
    let with_values = match args.get(3) {
        None => false,
        Some(w) if args.len() == 4 && super::args::is(w, word) => true,
        Some(_) => return Err(ReplyError::syntax()),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(ReplyError::err(text::OUT_OF_RANGE));
    }
    Ok((Some(n), with_values))
}

/// Refuses a negative count beyond [`MAX_RANDOM_REPEATS`] picks from a
/// collection of `len` members (a missing or empty one answers empty, as
/// in Redis).
pub fn check_repeats(count: i64, len: usize) -> Result<(), ReplyError> {
    if len > 0 && count < -MAX_RANDOM_REPEATS {
        return Err(ReplyError::err(text::OUT_OF_RANGE));
    }
    Ok(())
}

/// A random-member count: an integer within ±`i64::MAX` (Redis's range
/// check).
pub fn parse_random_count(raw: &[u8]) -> Result<i64, ReplyError> {
    let n = super::args::parse_i64(raw)?;
    if n == i64::MIN {
        return Err(ReplyError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

/// The most picks a negative random count may ask for.
pub const MAX_RANDOM_REPEATS: i64 = 10_000_000;

/// The `[LIMIT limit]` of SINTERCARD and ZINTERCARD from `args[at..]`
/// (0: no limit), with Redis's texts.
pub fn intercard_limit(args: &[Bytes], at: usize) -> Result<usize, ReplyError> {
    let mut c = ArgCursor::new(args, at);
    let mut limit = 0usize;
    while c.has_more() {
        if c.eat("LIMIT") {
            let l = super::args::parse_i64(c.require()?).unwrap_or(-1);
            if l < 0 {
                return Err(ReplyError::err("LIMIT can't be negative"));
            }
            limit = usize::try_from(l).unwrap_or(usize::MAX);
        } else {
            return Err(ReplyError::syntax());
        }
    }
    Ok(limit)
}

/// Whether an input of the set algebra holding `size` members is asked
/// only for the `in_play` members an intersection or difference still
/// holds (a point read each), as Redis looks them up in the larger
/// inputs: when it is at least 4 times larger. A smaller one is read
/// whole, since a walk costs less per member than a probe.
pub fn worth_probing(size: u64, in_play: usize) -> bool {
    size >= u64::try_from(in_play).unwrap_or(u64::MAX).saturating_mul(4)
}

/// The reply of SINTERCARD/ZINTERCARD: how many members the intersection
/// `common` holds, at most `limit` (0: no limit).
pub fn intercard_reply(common: usize, limit: usize) -> Reply {
    let n = if limit == 0 {
        common
    } else {
        common.min(limit)
    };
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Members a HSCAN/SSCAN/ZSCAN page holds at least: a collection of up to
/// this many comes back whole with cursor 0, as Redis returns its compact
/// encodings; a larger one in pages of this many, or COUNT if larger.
pub const SCAN_PAGE: usize = 128;

/// HSCAN/SSCAN/ZSCAN key cursor [MATCH pattern] [COUNT count] over the
/// `ty` at `key`: one page of members in member order, matching the
/// pattern, with their values (`value` turns a read's value into the
/// reply's) when `with_values`, and the cursor of the next page (0 at the
/// end). The cursor is checked first and a missing key answers an empty
/// page without looking at the options, as Redis does. A walk returns every
/// member present from its start to its end exactly once
/// ([`crate::scan_cursors`]), in a cluster too as long as its pages are
/// asked of the node that handed out its cursors; a cursor from elsewhere
/// gets the whole collection and ends the walk.
pub async fn scan_collection(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    ty: ValueType,
    with_values: bool,
    value: fn(Bytes) -> Bytes,
) -> Result<Reply, ReplyError> {
    let key = super::args::arg(args, 1);
    let cursor =
        parse_cursor(super::args::arg(args, 2)).ok_or(ReplyError::err(text::INVALID_CURSOR))?;
    let options = scan_options(args);
    let count = options.as_ref().map_or(10, |o| o.1);
    let page = count.max(SCAN_PAGE);
    let db = cx.client.db;
    // A cursor this node did not hand out (another node's, forgotten, or
    // made up) cannot be placed in the walk: its page is every member, and
    // the walk ends there. SCAN's guarantee holds and the walk always ends,
    // even for a client whose pages land on different nodes.
    let (after, rest) = match cursor {
        0 => (None, false),
        id => match cx.server.scan_cursors.resume(db, key, id) {
            Some(m) => (Some(m), false),
            None => (None, true),
        },
    };
    let ask = if rest {
        usize::MAX
    } else {
        page.saturating_add(1)
    };
    let found = cx
        .server
        .cluster
        .read_scan_page(db, key, after.as_deref(), ask, cx.read_level())
        .await?;
    cx.count_lookup(found.is_some());
    let part = match found {
        Some(p) if p.kind != ty => return Err(ReplyError::WrongType),
        Some(p) => p,
        None => {
            return Ok(Reply::Array(vec![
                Reply::bulk("0"),
                Reply::Array(Vec::new()),
            ]));
        }
    };
    let (pattern, _) = options?;
    let mut members = part.members;
    // More than asked: a cluster read that had to take the whole record
    // answered with the rest of the walk (Coordinator::read_scan_page).
    let next = if members.len() == page.saturating_add(1) {
        members.truncate(page);
        match members.last() {
            Some((last, _)) => cx.server.scan_cursors.save(db, key, last.clone()),
            None => 0,
        }
    } else {
        0
    };
    let mut items = Vec::new();
    for (m, v) in members {
        if pattern.as_ref().is_none_or(|g| g.selects(&m)) {
            items.push(Reply::Bulk(m));
            if with_values {
                items.push(Reply::Bulk(value(v)));
            }
        }
    }
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(items),
    ]))
}

/// A scan's MATCH pattern and COUNT (10 without one), or Redis's error.
fn scan_options(args: &[Bytes]) -> Result<(Option<Glob>, usize), ReplyError> {
    let mut c = ArgCursor::new(args, 3);
    let (mut pattern, mut count) = (None, 10usize);
    while c.has_more() {
        if c.eat("MATCH") {
            pattern = Some(Glob::new(c.require()?, false));
        } else if c.eat("COUNT") {
            let n = c.require_i64()?;
            if n < 1 {
                return Err(ReplyError::syntax());
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else {
            return Err(ReplyError::syntax());
        }
    }
    Ok((pattern, count))
}

/// The keys, end and count of `numkeys key [key ...] END [COUNT count]`
/// from `args[at..]` (LMPOP, BLMPOP, ZMPOP, BZMPOP), with Redis's texts;
/// `end` reads the END word (a syntax error when it answers `None`).
pub fn mpop_args<E>(
    args: &[Bytes],
    at: usize,
    end: impl Fn(&[u8]) -> Option<E>,
) -> Result<(&[Bytes], E, u64), ReplyError> {
    let numkeys = super::args::parse_i64(super::args::arg(args, at)).unwrap_or(0);
    if numkeys <= 0 {
        return Err(ReplyError::err("numkeys should be greater than 0"));
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let first = at + 1;
    let Some(keys) = args.get(first..first.saturating_add(n)) else {
        return Err(ReplyError::syntax());
    };
    let mut c = ArgCursor::new(args, first + n);
    let end = c
        .next_arg()
        .and_then(|w| end(w))
        .ok_or(ReplyError::syntax())?;
    let mut count = 1u64;
    let mut counted = false;
    while c.has_more() {
        if !counted && c.eat("COUNT") {
            let n = super::args::parse_i64(c.require()?).unwrap_or(0);
            if n <= 0 {
                return Err(ReplyError::err("count should be greater than 0"));
            }
            count = n.unsigned_abs();
            counted = true;
        } else {
            return Err(ReplyError::syntax());
        }
    }
    Ok((keys, end, count))
}
