//! Keyspace commands: DEL, EXISTS, TYPE, TOUCH, KEYS, SCAN, DBSIZE, RENAME,
//! RENAMENX, COPY, MOVE, RANDOMKEY, FLUSHDB, FLUSHALL and OBJECT.
//!
//! SCAN's cursor is a position on the ring (a 64-bit token): keys are stored
//! in token order, so a cursor stays valid across writes, and every key
//! present for the whole iteration is returned at least once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_cluster::{Entry, Members, Need, ValueType, Write};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{ArgCursor, arg, is, parse_i64};
use crate::encoding_limits::{EncodingLimits, Threshold};
use crate::glob::Glob;
use crate::reply_error::{CmdResult, ReplyError, text};

fn count(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// DEL key [key ...] (also UNLINK).
pub async fn del(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = args.get(1..).unwrap_or_default();
    let _lock = cx.ks().lock(keys.iter().map(|k| k.as_ref())).await;
    let db = cx.db();
    let mut deleted = 0;
    let mut writes = Vec::new();
    // A key named twice is deleted (and counted) once.
    let mut named = std::collections::HashSet::with_capacity(keys.len());
    for (key, found) in keys.iter().zip(exist_many(cx, db, keys).await?) {
        if found && named.insert(key) {
            deleted += 1;
            writes.push(Write::Delete {
                db,
                key: key.clone(),
            });
        }
    }
    cx.apply(writes).await?;
    Ok(count(deleted))
}

/// EXISTS key [key ...]: a key named twice counts twice, as in Redis.
pub async fn exists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = args.get(1..).unwrap_or_default();
    let found = exist_many(cx, cx.db(), keys).await?;
    Ok(count(found.into_iter().filter(|&f| f).count()))
}

/// Most keys whose existence a cluster asks about at once.
const EXISTENCE_READS_AT_ONCE: usize = 64;

/// Whether each of `keys` exists in `db` (each read as TYPE reads it: a
/// collection by its header). In a cluster the reads of up to
/// [`EXISTENCE_READS_AT_ONCE`] keys run concurrently, so a DEL or EXISTS
/// of many keys waits for about one round trip per batch, not one per key;
/// on a node alone they run in turn. The first error, in key order, is
/// the answer.
async fn exist_many(cx: &Ctx<'_>, db: u32, keys: &[Bytes]) -> Result<Vec<bool>, ReplyError> {
    let mut found = Vec::with_capacity(keys.len());
    if cx.cluster().is_alone() || keys.len() < 2 {
        for key in keys {
            found.push(cx.peek_part(db, key, Need::Count).await?.is_some());
        }
        return Ok(found);
    }
    for chunk in keys.chunks(EXISTENCE_READS_AT_ONCE) {
        let reads = chunk.iter().map(|key| cx.peek_part(db, key, Need::Count));
        for read in futures_util::future::join_all(reads).await {
            found.push(read?.is_some());
        }
    }
    Ok(found)
}

/// TOUCH key [key ...].
pub async fn touch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    exists(cx, args).await
}

/// TYPE key.
pub async fn type_(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(
        match cx.peek_part(cx.db(), arg(args, 1), Need::Count).await? {
            Some(e) => Reply::simple(e.kind.name()),
            None => Reply::simple("none"),
        },
    )
}

/// KEYS pattern.
pub async fn keys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let glob = Glob::new(arg(args, 1), false);
    if !cx.cluster().is_alone() {
        let mut found = Vec::new();
        cluster_pass(cx, cx.db(), |k| {
            if glob.selects(k) {
                found.push(Reply::Bulk(k.clone()));
            }
        })
        .await?;
        return Ok(Reply::Array(found));
    }
    let found = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&found);
    cx.ks()
        .for_each_key(cx.db(), move |k, _| {
            if glob.selects(k) {
                sink.lock().push(Reply::Bulk(Bytes::copy_from_slice(k)));
            }
            true
        })
        .await?;
    let keys = std::mem::take(&mut *found.lock());
    Ok(Reply::Array(keys))
}

/// DBSIZE: counts the live keys of the selected database (a full pass).
pub async fn dbsize(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if !cx.cluster().is_alone() {
        let mut n = 0i64;
        cluster_pass(cx, cx.db(), |_| n += 1).await?;
        return Ok(Reply::Int(n));
    }
    let n = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&n);
    cx.ks()
        .for_each_key(cx.db(), move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            true
        })
        .await?;
    Ok(Reply::Int(
        i64::try_from(n.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
    ))
}

/// Visits every distinct live key of database `db` across the cluster, in
/// ring order (KEYS, DBSIZE on more than one node, DEBUG DIGEST).
pub(super) async fn cluster_pass(
    cx: &Ctx<'_>,
    db: u32,
    mut visit: impl FnMut(&Bytes),
) -> Result<(), ReplyError> {
    let mut cursor = 0u64;
    loop {
        let page = cx.cluster().scan(db, cursor, 1000).await?;
        page.keys.iter().for_each(&mut visit);
        if page.cursor == 0 {
            return Ok(());
        }
        cursor = page.cursor;
    }
}

/// A SCAN cursor as Redis reads it with `strtoul`: decimal with an optional
/// sign, a negative number wrapping modulo 2^64 (`-1` is the largest
/// cursor); no spaces, nothing after the digits, no overflow.
pub fn parse_cursor(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() {
        // strtoul reads nothing and stops at the end: Redis takes it as 0.
        return Some(0);
    }
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
pub async fn scan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(arg(args, 1)).ok_or(ReplyError::err(text::INVALID_CURSOR))?;
    let mut c = ArgCursor::new(args, 2);
    let (mut pattern, mut count_hint, mut type_filter) = (None, 10usize, None);
    while c.has_more() {
        if c.eat("MATCH") {
            pattern = Some(Glob::new(c.require()?, false));
        } else if c.eat("COUNT") {
            let n = c.require_i64()?;
            if n < 1 {
                return Err(ReplyError::syntax());
            }
            count_hint = usize::try_from(n).unwrap_or(usize::MAX);
        } else if c.eat("TYPE") {
            type_filter = Some(c.require()?.clone());
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let page = cx.cluster().scan(cx.db(), cursor, count_hint).await?;
    let mut keys = Vec::new();
    for key in page.keys {
        if !pattern.as_ref().is_none_or(|g| g.selects(&key)) {
            continue;
        }
        if let Some(t) = &type_filter {
            // The page names keys; their types need a read each (a key
            // gone since is skipped, as Redis skips an expired one).
            match cx.peek_part(cx.db(), &key, Need::Count).await? {
                Some(e) if is(t, e.kind.name()) => {}
                _ => continue,
            }
        }
        keys.push(Reply::Bulk(key));
    }
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(page.cursor.to_string())),
        Reply::Array(keys),
    ]))
}

async fn rename_with(cx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    let _lock = cx.ks().lock([src.as_ref(), dst.as_ref()]).await;
    let db = cx.db();
    let Some(entry) = cx.peek(db, src).await? else {
        return Err(ReplyError::err(text::NO_SUCH_KEY));
    };
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if nx && cx.peek_shallow(db, dst).await?.is_some() {
        return Ok(Reply::Int(0));
    }
    cx.apply(vec![
        Write::Delete {
            db,
            key: src.clone(),
        },
        Write::Put {
            db,
            key: Bytes::copy_from_slice(dst),
            entry,
        },
    ])
    .await?;
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// RENAME key newkey.
pub async fn rename(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_with(cx, args, false).await
}

/// RENAMENX key newkey.
pub async fn renamenx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_with(cx, args, true).await
}

fn parse_db(cx: &Ctx<'_>, raw: &[u8]) -> Result<u32, ReplyError> {
    super::args::parse_db_index(raw, cx.ks().databases())
}

/// SWAPDB index1 index2: the two databases trade contents at once. Runs
/// with every other command of the node held off (the transaction gate,
/// exclusively); refused on a node in a cluster of more than one.
pub async fn swapdb(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !cx.cluster().is_alone() {
        return Err(ReplyError::err("SWAPDB is not allowed in cluster mode"));
    }
    let index = |i: usize, what: &'static str| -> Result<i64, ReplyError> {
        ringkv_resp::string_to_i64(arg(args, i))
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or(ReplyError::err(what))
    };
    let a = index(1, "invalid first DB index")?;
    let b = index(2, "invalid second DB index")?;
    let databases = i64::from(cx.ks().databases());
    if !(0..databases).contains(&a) || !(0..databases).contains(&b) {
        return Err(ReplyError::err(text::DB_RANGE));
    }
    let (a, b) = (a as u32, b as u32);
    if a == b {
        return Ok(Reply::Ok);
    }
    if !cx.client.exclusive_gate {
        // Reached other than through the exclusive gate (CL wraps it):
        // other commands could see one namespace in both databases.
        return Err(ReplyError::err(
            "SWAPDB must run on its own, not wrapped in another command",
        ));
    }
    // A transaction watching a key of either database fails if the swap
    // changes what it sees: the key exists on one side or the other.
    let mut touched = Vec::new();
    for (db, other) in [(a, b), (b, a)] {
        for (d, key) in cx.server.watches.watched_in(Some(db)) {
            if cx.peek_shallow(d, &key).await?.is_some()
                || cx.peek_shallow(other, &key).await?.is_some()
            {
                touched.push((d, key));
            }
        }
    }
    cx.server.watches.touch_all(&touched);
    let ack = cx.ks().swap_dbs(a, b)?;
    cx.server.census.invalidate();
    // A client blocked on a key the swap filled is served now.
    let woken = [cx.server.blocking.wake_db(a), cx.server.blocking.wake_db(b)];
    cx.client.woken.extend(woken.into_iter().flatten());
    cx.client.await_ack(ack);
    Ok(Reply::Ok)
}

/// COPY source destination [DB destination-db] [REPLACE].
pub async fn copy(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    let mut c = ArgCursor::new(args, 3);
    let (mut dst_db, mut replace) = (cx.db(), false);
    while c.has_more() {
        if c.eat("REPLACE") {
            replace = true;
        } else if c.eat("DB") {
            dst_db = parse_db(cx, c.require()?)?;
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let src_db = cx.db();
    if src_db == dst_db && src == dst {
        return Err(ReplyError::err(text::SAME_OBJECT));
    }
    let _lock = cx.ks().lock([src.as_ref(), dst.as_ref()]).await;
    let Some(entry) = cx.peek(src_db, src).await? else {
        return Ok(Reply::Int(0));
    };
    if !replace && cx.peek_shallow(dst_db, dst).await?.is_some() {
        return Ok(Reply::Int(0));
    }
    cx.apply(vec![Write::Put {
        db: dst_db,
        key: Bytes::copy_from_slice(dst),
        entry,
    }])
    .await?;
    Ok(Reply::Int(1))
}

/// MOVE key db.
pub async fn move_(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let dst_db = parse_db(cx, arg(args, 2))?;
    let src_db = cx.db();
    if src_db == dst_db {
        return Err(ReplyError::err(text::SAME_OBJECT));
    }
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let Some(entry) = cx.peek(src_db, key).await? else {
        return Ok(Reply::Int(0));
    };
    if cx.peek_shallow(dst_db, key).await?.is_some() {
        return Ok(Reply::Int(0));
    }
    cx.apply(vec![
        Write::Delete {
            db: src_db,
            key: key.clone(),
        },
        Write::Put {
            db: dst_db,
            key: key.clone(),
            entry,
        },
    ])
    .await?;
    Ok(Reply::Int(1))
}

/// RANDOMKEY.
pub async fn randomkey(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(cx
        .cluster()
        .random_key(cx.db())
        .await?
        .map_or(Reply::Nil, Reply::Bulk))
}

fn flush_mode(args: &[Bytes]) -> Result<(), ReplyError> {
    match args.get(1) {
        None => Ok(()),
        Some(m) if args.len() == 2 && (is(m, "ASYNC") || is(m, "SYNC")) => Ok(()),
        Some(_) => Err(ReplyError::syntax()),
    }
}

/// FLUSHDB [ASYNC | SYNC]: O(1); compaction reclaims the old data.
pub async fn flushdb(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let db = cx.db();
    let removed_watched = super::txn::watched_existing(cx, Some(db)).await?;
    let ack = cx.cluster().flush(&[db]).await?;
    cx.server.watches.touch_all(&removed_watched);
    cx.server.census.invalidate();
    cx.client.await_ack(ack);
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC | SYNC].
pub async fn flushall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let dbs: Vec<u32> = (0..cx.ks().databases()).collect();
    let removed_watched = super::txn::watched_existing(cx, None).await?;
    let ack = cx.cluster().flush(&dbs).await?;
    cx.server.watches.touch_all(&removed_watched);
    cx.server.census.invalidate();
    cx.client.await_ack(ack);
    Ok(Reply::Ok)
}

/// How Redis would encode a string value: `int` for a canonical integer of
/// at most 20 bytes, `embstr` up to 44 bytes, `raw` beyond; a HyperLogLog
/// is always `raw` (PFADD builds it as a raw string).
pub fn string_encoding(value: &[u8]) -> &'static str {
    if ringkv_hll::check(value).is_ok() {
        "raw"
    } else if value.len() <= 20 && ringkv_resp::string_to_i64(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

async fn object_lookup(cx: &Ctx<'_>, args: &[Bytes]) -> Result<Option<Entry>, ReplyError> {
    cx.peek(cx.db(), arg(args, 2)).await
}

/// How Redis 7.2 would encode a collection of these members under the
/// thresholds `limits` holds (their defaults in brackets): a hash is
/// `listpack` up to hash-max-listpack-entries fields (128) of at most
/// hash-max-listpack-value bytes (64, field and value), else `hashtable`;
/// a set of integers is `intset` up to set-max-intset-entries members
/// (512), else `listpack` up to set-max-listpack-entries (128) of at most
/// set-max-listpack-value bytes (64), else `hashtable`; a sorted set is
/// `listpack` up to zset-max-listpack-entries (128) of at most
/// zset-max-listpack-value bytes (64), else `skiplist`; a list is
/// `listpack` while it fits list-max-listpack-size (-2: 8 kB), else
/// `quicklist`. Computed from the contents: Redis never converts back
/// after shrinking, ringkv reports what the value is now.
pub fn collection_encoding(
    kind: ValueType,
    members: &Members,
    limits: &EncodingLimits,
) -> &'static str {
    let n = members.map.len();
    let fits = |entries: Threshold, value: Threshold, with_values: bool| {
        let longest = limits.size(value);
        n <= limits.size(entries)
            && members
                .map
                .iter()
                .all(|(m, v)| m.len() <= longest && (!with_values || v.len() <= longest))
    };
    match kind {
        ValueType::Set
            if n <= limits.size(Threshold::SetIntsetEntries)
                && members
                    .map
                    .keys()
                    .all(|m| ringkv_resp::string_to_i64(m).is_some()) =>
        {
            "intset"
        }
        ValueType::Set if fits(Threshold::SetEntries, Threshold::SetValue, false) => "listpack",
        ValueType::Set => "hashtable",
        ValueType::ZSet if fits(Threshold::ZSetEntries, Threshold::ZSetValue, false) => "listpack",
        ValueType::ZSet => "skiplist",
        // About 11 bytes of listpack overhead per entry.
        ValueType::List => match limits.list_bytes() {
            Some(bytes) if members.map.values().map(|v| v.len() + 11).sum::<usize>() <= bytes => {
                "listpack"
            }
            None if n <= limits.size(Threshold::ListSize) => "listpack",
            _ => "quicklist",
        },
        _ if fits(Threshold::HashEntries, Threshold::HashValue, true) => "listpack",
        _ => "hashtable",
    }
}

/// The encoding Redis would report for the value of `entry`.
pub fn entry_encoding(entry: &Entry, limits: &EncodingLimits) -> &'static str {
    match &entry.members {
        Some(m) => collection_encoding(entry.kind, m, limits),
        None => string_encoding(&entry.value),
    }
}

/// The encoding of a collection that [`collection_encoding`] gives for
/// any members once it holds `len` of them, if its size alone decides.
fn encoding_by_size(kind: ValueType, len: u64, limits: &EncodingLimits) -> Option<&'static str> {
    let over = |t: Threshold| usize::try_from(len).unwrap_or(usize::MAX) > limits.size(t);
    match kind {
        ValueType::Hash if over(Threshold::HashEntries) => Some("hashtable"),
        ValueType::Set if over(Threshold::SetIntsetEntries) && over(Threshold::SetEntries) => {
            Some("hashtable")
        }
        ValueType::ZSet if over(Threshold::ZSetEntries) => Some("skiplist"),
        // Each element costs at least 11 bytes of a listpack.
        ValueType::List => match limits.list_bytes() {
            Some(bytes) if len > (bytes / 11) as u64 => Some("quicklist"),
            None if over(Threshold::ListSize) => Some("quicklist"),
            _ => None,
        },
        _ => None,
    }
}

/// OBJECT ENCODING key. A large collection is answered from its member
/// count, without reading its members.
pub async fn object_encoding(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let counted = cx.peek_part(cx.db(), arg(args, 2), Need::Count).await?;
    match counted {
        None => return Ok(Reply::Nil),
        Some(part) => {
            if let Some(encoding) =
                encoding_by_size(part.kind, part.len, &cx.server.encoding_limits)
            {
                return Ok(Reply::bulk(encoding));
            }
        }
    }
    Ok(object_lookup(cx, args).await?.map_or(Reply::Nil, |e| {
        Reply::bulk(entry_encoding(&e, &cx.server.encoding_limits))
    }))
}

/// The type of the live key OBJECT names, from its header alone (a large
/// collection's members are not read); `None` when it does not exist.
async fn object_kind(cx: &Ctx<'_>, args: &[Bytes]) -> Result<Option<ValueType>, ReplyError> {
    let part = cx.peek_part(cx.db(), arg(args, 2), Need::Count).await?;
    Ok(part.map(|p| p.kind))
}

/// OBJECT REFCOUNT key: Redis shares the integers 0..9999, reported with
/// the maximal refcount; every other value has one reference (a
/// collection's is answered from its header).
pub async fn object_refcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match object_kind(cx, args).await? {
        None => return Ok(Reply::Nil),
        Some(ValueType::String) => {}
        Some(_) => return Ok(Reply::Int(1)),
    }
    Ok(object_lookup(cx, args).await?.map_or(Reply::Nil, |e| {
        let shared = ringkv_resp::string_to_i64(&e.value).is_some_and(|v| (0..10_000).contains(&v));
        Reply::Int(if shared { i64::from(i32::MAX) } else { 1 })
    }))
}

/// OBJECT IDLETIME key: ringkv keeps no per-key access clock (nothing is
/// evicted from memory), so a live key reports 0.
pub async fn object_idletime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(object_kind(cx, args)
        .await?
        .map_or(Reply::Nil, |_| Reply::Int(0)))
}

/// OBJECT FREQ key: only meaningful under an LFU eviction policy, which
/// ringkv (like Redis's default noeviction) does not use.
pub async fn object_freq(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match object_kind(cx, args).await? {
        None => Ok(Reply::Nil),
        Some(_) => Err(ReplyError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
    }
}

/// What MEMORY USAGE adds to a value's bytes: a key's entry, object and
/// string headers in Redis (its figures for a short string are 50-70).
const KEY_OVERHEAD: usize = 48;
/// ... and per member of a collection (a hash-table entry and headers).
const MEMBER_OVERHEAD: usize = 16;

/// MEMORY STATS: `crate::info::memory_stats`.
pub async fn memory_stats(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let figures = crate::info::memory_stats(cx.server);
    Ok(Reply::Map(
        figures
            .into_iter()
            .map(|(name, v)| {
                (
                    Reply::bulk(name),
                    Reply::Int(i64::try_from(v).unwrap_or(i64::MAX)),
                )
            })
            .collect(),
    ))
}

/// MEMORY DOCTOR.
pub async fn memory_doctor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let report = crate::info::memory_doctor(cx.server);
    Ok(super::text_reply(cx.client.protocol, report))
}

/// MEMORY MALLOC-STATS: Redis's answer for an allocator without a report.
pub async fn memory_malloc_stats(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::bulk("Stats not supported for the current allocator"))
}

/// MEMORY USAGE key [SAMPLES count]: an estimate of the bytes the key
/// takes in memory in Redis's terms (key, value and their headers). A
/// collection's first members in member order are sampled (5 by default,
/// all with `SAMPLES 0`, as Redis counts samples) and their average scaled
/// to its length, so a large collection is not read whole. ringkv itself
/// keeps the value on disk, in the LSM: this says what the key weighs,
/// not what this node's memory holds for it.
pub async fn memory_usage(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 2);
    let mut samples: i64 = 5;
    let mut c = ArgCursor::new(args, 3);
    while let Some(opt) = c.next_arg() {
        if !is(opt, "SAMPLES") {
            return Err(ReplyError::syntax());
        }
        samples = parse_i64(c.require()?)?;
        if samples < 0 {
            return Err(ReplyError::syntax());
        }
    }
    let Some(entry) = cx.peek_shallow(cx.db(), key).await? else {
        return Ok(Reply::Nil);
    };
    let base = KEY_OVERHEAD + key.len();
    if entry.kind == ValueType::String {
        let len = entry.value.len();
        return Ok(Reply::Int(i64::try_from(base + len).unwrap_or(i64::MAX)));
    }
    // The first members in member order stand for the rest: reading
    // them costs what they are, where a uniform pick walks every key.
    let first = Need::After {
        after: None,
        count: match samples {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
    };
    let Some(part) = cx.peek_part(cx.db(), key, first).await? else {
        return Ok(Reply::Nil);
    };
    let (picked, len) = (
        part.members,
        usize::try_from(part.len).unwrap_or(usize::MAX),
    );
    let sampled: usize = picked
        .iter()
        .map(|(m, v)| m.len() + v.len() + MEMBER_OVERHEAD)
        .sum();
    let estimate = match picked.len() {
        0 => 0,
        n => sampled / n * len,
    };
    Ok(Reply::Int(
        i64::try_from(base + estimate).unwrap_or(i64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        // strtoul reads nothing and stops at the end: Redis takes it as 0.
        assert_eq!(parse_cursor(b""), Some(0));
        for bad in [
            &b"-"[..],
            b"x",
            b" 1",
            b"1 ",
            b"18446744073709551616",
            b"1.0",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encodings_follow_redis_rules() {
        assert_eq!(string_encoding(b"12345"), "int");
        assert_eq!(string_encoding(b"012"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
    }
}
