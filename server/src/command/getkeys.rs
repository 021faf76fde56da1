//! COMMAND GETKEYS and GETKEYSANDFLAGS: the keys a command would touch,
//! and with them the key-spec flags Redis 7.0 documents for each (whether
//! the command reads, overwrites or removes the key, and whether it reads,
//! inserts, updates or deletes data in it).

use bytes::Bytes;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::is;
use super::table::{self, CommandSpec};
use crate::reply_error::{CmdResult, ReplyError};

/// COMMAND GETKEYS command [arg ...].
pub async fn command_getkeys(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (_, keys) = command_keys(args)?;
    Ok(Reply::Array(keys.into_iter().map(Reply::Bulk).collect()))
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]: each key with its flags.
pub async fn command_getkeysandflags(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (name, keys) = command_keys(args)?;
    let inner = args.get(2..).unwrap_or_default();
    let specs = key_flags(&name);
    Ok(Reply::Array(
        keys.into_iter()
            .enumerate()
            .map(|(i, key)| {
                let flags = flags_of_key(&name, inner, specs, i);
                Reply::Array(vec![
                    Reply::Bulk(key),
                    // A set under RESP3, as Redis sends it.
                    Reply::Set(flags.iter().map(|f| Reply::simple(f)).collect()),
                ])
            })
            .collect(),
    ))
}

/// The flags of the `index`th key a command names: its key spec's (the
/// first key belongs to the first spec, the rest to the last, as in every
/// command with two specs: a source and a destination).
fn flags_of_key(
    name: &str,
    inner: &[Bytes],
    specs: &'static [&'static [&'static str]],
    index: usize,
) -> &'static [&'static str] {
    if name == "set" {
        // SET's flags depend on GET: without it the old value is never read.
        return if inner.iter().skip(3).any(|a| is(a, "GET")) {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        };
    }
    if name == "bitfield" {
        return if bitfield_reads_only(inner) {
            &["RO", "access"]
        } else {
            &["RW", "access", "update"]
        };
    }
    specs
        .get(index.min(specs.len().saturating_sub(1)))
        .copied()
        .unwrap_or(&[])
}

/// Whether BITFIELD's operations (`inner[2..]`) only GET, as Redis's
/// `bitfieldGetKeys` scans them: up to the first SET or INCRBY, and
/// anything it cannot parse counts as a write.
fn bitfield_reads_only(inner: &[Bytes]) -> bool {
    let mut i = 2;
    while i < inner.len() {
        let remaining = inner.len() - i - 1;
        let op = &inner[i];
        if is(op, "get") && remaining >= 2 {
            i += 3;
        } else if is(op, "overflow") && remaining >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// The (sub)command `args[2..]` names, by its full name, and the keys it
/// would touch; Redis's errors for an unknown command, a command without
/// keys and a wrong number of arguments.
fn command_keys(args: &[Bytes]) -> Result<(String, Vec<Bytes>), ReplyError> {
    let inner = args.get(2..).unwrap_or_default();
    let Some((parent, spec)) = inner.first().and_then(|n| table::lookup(n)).map(|c| {
        match inner.get(1).and_then(|s| c.subcommand(s)) {
            Some(sub) => (Some(c), sub),
            None => (None, c),
        }
    }) else {
        return Err(ReplyError::err("Invalid command specified"));
    };
    let name = table::fullname(parent, spec);
    Ok((name, keys_of(spec, inner)?))
}

fn keys_of(spec: &CommandSpec, inner: &[Bytes]) -> Result<Vec<Bytes>, ReplyError> {
    let k = spec.keys;
    if spec.has(table::flag::MOVABLEKEYS)
        && matches!(
            spec.group,
            table::Group::Set | table::Group::SortedSet | table::Group::List
        )
    {
        // BLMPOP and BZMPOP count their keys after the timeout.
        let after_timeout = spec.has(table::flag::BLOCKING);
        return numkeys_keys(inner, k.first == 1, after_timeout);
    }
    if k.first == 0 {
        return Err(ReplyError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(inner.len()) {
        return Err(ReplyError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    if spec.name == "sort" {
        return Ok(sort_keys(inner));
    }
    let len = i64::try_from(inner.len()).unwrap_or(i64::MAX);
    let last = if k.last < 0 {
        len + i64::from(k.last)
    } else {
        i64::from(k.last)
    };
    let mut keys = Vec::new();
    let mut i = i64::from(k.first);
    while i <= last {
        if let Some(key) = usize::try_from(i).ok().and_then(|i| inner.get(i)) {
            keys.push(key.clone());
        }
        i += i64::from(k.step.max(1));
    }
    Ok(keys)
}

/// SORT's keys as Redis's `sortGetKeys` finds them: the sorted key, then
/// the last STORE's destination (options are skipped by their argument
/// counts; the destination itself is looked at as an option next).
fn sort_keys(inner: &[Bytes]) -> Vec<Bytes> {
    let mut keys: Vec<Bytes> = inner.get(1).into_iter().cloned().collect();
    let mut store = None;
    let mut i = 2;
    while i < inner.len() {
        let word = &inner[i];
        if is(word, "limit") {
            i += 2;
        } else if is(word, "get") || is(word, "by") {
            i += 1;
        } else if is(word, "store") && i + 1 < inner.len() {
            store = inner.get(i + 1).cloned();
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// The keys of a command whose keys a `numkeys` argument counts (after a
/// destination key when `dest`, or a timeout when `after_timeout`):
/// SINTERCARD, ZUNION, ZUNIONSTORE, ZMPOP, LMPOP, BLMPOP...
fn numkeys_keys(
    inner: &[Bytes],
    dest: bool,
    after_timeout: bool,
) -> Result<Vec<Bytes>, ReplyError> {
    let at = if dest || after_timeout { 2 } else { 1 };
    let invalid = || ReplyError::err("Invalid arguments specified for command");
    let n = inner
        .get(at)
        .and_then(|n| ringkv_resp::string_to_i64(n))
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(invalid)?;
    let keys = inner
        .get(at + 1..(at + 1).saturating_add(n))
        .ok_or_else(invalid)?;
    let first = if dest { inner.get(1) } else { None };
    Ok(first.into_iter().chain(keys).cloned().collect())
}

/// The key specs' flags of a command, by full name: Redis 7.0's, in its
/// spec order (and ringkv's own VGET and VSET).
fn key_flags(name: &str) -> &'static [&'static [&'static str]] {
    KEY_FLAGS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .and_then(|i| KEY_FLAGS.get(i))
        .map_or(&[], |(_, specs)| specs)
}

/// Sorted by name (a unit test checks).
#[rustfmt::skip]
static KEY_FLAGS: &[(&str, &[&[&str]])] = &[
    ("append", &[&["RW", "insert"]]),
    ("bitcount", &[&["RO", "access"]]),
    ("bitfield", &[&["RW", "access", "update", "variable_flags"]]),
    ("bitfield_ro", &[&["RO", "access"]]),
    ("bitop", &[&["OW", "update"], &["RO", "access"]]),
    ("bitpos", &[&["RO", "access"]]),
    ("blmove", &[&["RW", "access", "delete"], &["RW", "insert"]]),
    ("blmpop", &[&["RW", "access", "delete"]]),
    ("blpop", &[&["RW", "access", "delete"]]),
    ("brpop", &[&["RW", "access", "delete"]]),
    ("brpoplpush", &[&["RW", "access", "delete"], &["RW", "insert"]]),
    ("bzmpop", &[&["RW", "access", "delete"]]),
    ("bzpopmax", &[&["RW", "access", "delete"]]),
    ("bzpopmin", &[&["RW", "access", "delete"]]),
    ("copy", &[&["RO", "access"], &["OW", "update"]]),
    ("decr", &[&["RW", "access", "update"]]),
    ("decrby", &[&["RW", "access", "update"]]),
    ("del", &[&["RM", "delete"]]),
    ("exists", &[&["RO"]]),
    ("expire", &[&["RW", "update"]]),
    ("expireat", &[&["RW", "update"]]),
    ("expiretime", &[&["RO", "access"]]),
    ("get", &[&["RO", "access"]]),
    ("getbit", &[&["RO", "access"]]),
    ("getdel", &[&["RW", "access", "delete"]]),
    ("getex", &[&["RW", "access", "update"]]),
    ("getrange", &[&["RO", "access"]]),
    ("getset", &[&["RW", "access", "update"]]),
    ("hdel", &[&["RW", "delete"]]),
    ("hexists", &[&["RO"]]),
    ("hget", &[&["RO", "access"]]),
    ("hgetall", &[&["RO", "access"]]),
    ("hincrby", &[&["RW", "access", "update"]]),
    ("hincrbyfloat", &[&["RW", "access", "update"]]),
    ("hkeys", &[&["RO", "access"]]),
    ("hlen", &[&["RO"]]),
    ("hmget", &[&["RO", "access"]]),
    ("hmset", &[&["RW", "update"]]),
    ("hrandfield", &[&["RO", "access"]]),
    ("hscan", &[&["RO", "access"]]),
    ("hset", &[&["RW", "update"]]),
    ("hsetnx", &[&["RW", "insert"]]),
    ("hstrlen", &[&["RO"]]),
    ("hvals", &[&["RO", "access"]]),
    ("incr", &[&["RW", "access", "update"]]),
    ("incrby", &[&["RW", "access", "update"]]),
    ("incrbyfloat", &[&["RW", "access", "update"]]),
    ("lcs", &[&["RO", "access"]]),
    ("lindex", &[&["RO", "access"]]),
    ("linsert", &[&["RW", "insert"]]),
    ("llen", &[&["RO"]]),
    ("lmove", &[&["RW", "access", "delete"], &["RW", "insert"]]),
    ("lmpop", &[&["RW", "access", "delete"]]),
    ("lpop", &[&["RW", "access", "delete"]]),
    ("lpos", &[&["RO", "access"]]),
    ("lpush", &[&["RW", "insert"]]),
    ("lpushx", &[&["RW", "insert"]]),
    ("lrange", &[&["RO", "access"]]),
    ("lrem", &[&["RW", "delete"]]),
    ("lset", &[&["RW", "update"]]),
    ("ltrim", &[&["RW", "delete"]]),
    ("memory|usage", &[&["RO"]]),
    ("mget", &[&["RO", "access"]]),
    ("move", &[&["RW", "access", "update"]]),
    ("mset", &[&["OW", "update"]]),
    ("msetnx", &[&["OW", "insert"]]),
    ("object|encoding", &[&["RO"]]),
    ("object|freq", &[&["RO"]]),
    ("object|idletime", &[&["RO"]]),
    ("object|refcount", &[&["RO"]]),
    ("persist", &[&["RW", "update"]]),
    ("pexpire", &[&["RW", "update"]]),
    ("pexpireat", &[&["RW", "update"]]),
    ("pexpiretime", &[&["RO", "access"]]),
    ("pfadd", &[&["RW", "insert"]]),
    ("pfcount", &[&["RW", "access"]]),
    ("pfmerge", &[&["RW", "access", "insert"], &["RO", "access"]]),
    ("psetex", &[&["OW", "update"]]),
    ("pttl", &[&["RO", "access"]]),
    ("rename", &[&["RW", "access", "delete"], &["OW", "update"]]),
    ("renamenx", &[&["RW", "access", "delete"], &["OW", "insert"]]),
    ("rpop", &[&["RW", "access", "delete"]]),
    ("rpoplpush", &[&["RW", "access", "delete"], &["RW", "insert"]]),
    ("rpush", &[&["RW", "insert"]]),
    ("rpushx", &[&["RW", "insert"]]),
    ("sadd", &[&["RW", "insert"]]),
    ("scard", &[&["RO"]]),
    ("sdiff", &[&["RO", "access"]]),
    ("sdiffstore", &[&["OW", "update"], &["RO", "access"]]),
    ("set", &[&["RW", "access", "update", "variable_flags"]]),
    ("setbit", &[&["RW", "access", "update"]]),
    ("setex", &[&["OW", "update"]]),
    ("setnx", &[&["OW", "insert"]]),
    ("setrange", &[&["RW", "update"]]),
    ("sinter", &[&["RO", "access"]]),
    ("sintercard", &[&["RO", "access"]]),
    ("sinterstore", &[&["RW", "update"], &["RO", "access"]]),
    ("sismember", &[&["RO"]]),
    ("smembers", &[&["RO", "access"]]),
    ("smismember", &[&["RO", "access"]]),
    ("smove", &[&["RW", "access", "delete"], &["RW", "insert"]]),
    ("sort", &[&["RO", "access"], &["OW", "update"]]),
    ("sort_ro", &[&["RO", "access"]]),
    ("spop", &[&["RW", "access", "delete"]]),
    ("spublish", &[&["not_key"]]),
    ("srandmember", &[&["RO", "access"]]),
    ("srem", &[&["RW", "delete"]]),
    ("sscan", &[&["RO", "access"]]),
    ("ssubscribe", &[&["not_key"]]),
    ("strlen", &[&["RO"]]),
    ("substr", &[&["RO", "access"]]),
    ("sunion", &[&["RO", "access"]]),
    ("sunionstore", &[&["OW", "update"], &["RO", "access"]]),
    ("sunsubscribe", &[&["not_key"]]),
    ("touch", &[&["RO"]]),
    ("ttl", &[&["RO", "access"]]),
    ("type", &[&["RO"]]),
    ("unlink", &[&["RM", "delete"]]),
    ("vget", &[&["RO", "access"]]),
    ("vset", &[&["RW", "update"]]),
    ("watch", &[&["RO"]]),
    ("zadd", &[&["RW", "update"]]),
    ("zcard", &[&["RO"]]),
    ("zcount", &[&["RO", "access"]]),
    ("zdiff", &[&["RO", "access"]]),
    ("zdiffstore", &[&["OW", "update"], &["RO", "access"]]),
    ("zincrby", &[&["RW", "access", "update"]]),
    ("zinter", &[&["RO", "access"]]),
    ("zintercard", &[&["RO", "access"]]),
    ("zinterstore", &[&["OW", "update"], &["RO", "access"]]),
    ("zlexcount", &[&["RO", "access"]]),
    ("zmpop", &[&["RW", "access", "delete"]]),
    ("zmscore", &[&["RO", "access"]]),
    ("zpopmax", &[&["RW", "access", "delete"]]),
    ("zpopmin", &[&["RW", "access", "delete"]]),
    ("zrandmember", &[&["RO", "access"]]),
    ("zrange", &[&["RO", "access"]]),
    ("zrangebylex", &[&["RO", "access"]]),
    ("zrangebyscore", &[&["RO", "access"]]),
    ("zrangestore", &[&["OW", "update"], &["RO", "access"]]),
    ("zrank", &[&["RO", "access"]]),
    ("zrem", &[&["RW", "delete"]]),
    ("zremrangebylex", &[&["RW", "delete"]]),
    ("zremrangebyrank", &[&["RW", "delete"]]),
    ("zremrangebyscore", &[&["RW", "delete"]]),
    ("zrevrange", &[&["RO", "access"]]),
    ("zrevrangebylex", &[&["RO", "access"]]),
    ("zrevrangebyscore", &[&["RO", "access"]]),
    ("zrevrank", &[&["RO", "access"]]),
    ("zscan", &[&["RO", "access"]]),
    ("zscore", &[&["RO", "access"]]),
    ("zunion", &[&["RO", "access"]]),
    ("zunionstore", &[&["OW", "update"], &["RO", "access"]]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_every_name_is_a_command() {
        assert!(KEY_FLAGS.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, specs) in KEY_FLAGS {
            let mut parts = name.split('|');
            let top = table::lookup(parts.next().unwrap_or_default().as_bytes());
            let found = match (top, parts.next()) {
                (Some(c), Some(sub)) => c.subcommand(sub.as_bytes()).is_some(),
                (found, None) => found.is_some(),
                (None, Some(_)) => false,
            };
            assert!(found, "{name} is not a command");
            assert!(!specs.is_empty(), "{name}");
        }
    }
}
