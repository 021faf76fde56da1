//! Hash and set commands against a real server: Redis 7.0's replies,
//! errors and edge cases on one node, WRONGTYPE across types, and the
//! keyspace commands (TYPE, OBJECT ENCODING, SCAN TYPE, EXPIRE, RENAME,
//! COPY, MOVE, MULTI/EXEC, WATCH) on collections.
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use redis::Value;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn sorted(v: Value) -> Vec<String> {
    sorted_strings(v)
}

fn pairs(v: Value) -> BTreeMap<String, String> {
    let flat = strings(v);
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn simple(s: &str) -> Value {
    Value::SimpleString(s.into())
}

#[test]
fn hash_commands_reply_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(ok(c, &["HSET", "h", "a", "3", "c", "4"]), int(1));
    assert_eq!(ok(c, &["HGET", "h", "a"]), bulk("3"));
    assert_eq!(ok(c, &["HGET", "h", "zz"]), Value::Nil);
    assert_eq!(ok(c, &["HGET", "nokey", "a"]), Value::Nil);
    assert_eq!(
        ok(c, &["HMGET", "h", "a", "zz", "c"]),
        bulks(&[Some("3"), None, Some("4")])
    );
    assert_eq!(ok(c, &["HMGET", "nokey", "a"]), bulks(&[None]));
    let all = pairs(ok(c, &["HGETALL", "h"]));
    assert_eq!(
        all,
        [("a", "3"), ("b", "2"), ("c", "4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    );
    assert_eq!(ok(c, &["HGETALL", "nokey"]), Value::Array(vec![]));
    assert_eq!(sorted(ok(c, &["HKEYS", "h"])), ["a", "b", "c"]);
    assert_eq!(sorted(ok(c, &["HVALS", "h"])), ["2", "3", "4"]);
    assert_eq!(ok(c, &["HLEN", "h"]), int(3));
    assert_eq!(ok(c, &["HLEN", "nokey"]), int(0));
    assert_eq!(ok(c, &["HEXISTS", "h", "a"]), int(1));
    assert_eq!(ok(c, &["HEXISTS", "h", "zz"]), int(0));
    assert_eq!(ok(c, &["HSTRLEN", "h", "a"]), int(1));
    assert_eq!(ok(c, &["HSTRLEN", "h", "zz"]), int(0));
    assert_eq!(ok(c, &["HSETNX", "h", "a", "x"]), int(0));
    assert_eq!(ok(c, &["HSETNX", "h", "d", "x"]), int(1));
    assert_eq!(ok(c, &["HMSET", "h", "e", "5", "f", "6"]), okay());
    assert_eq!(ok(c, &["HDEL", "h", "e", "f", "zz"]), int(2));
    assert_eq!(ok(c, &["HDEL", "nokey", "a"]), int(0));
    // Counters.
    assert_eq!(ok(c, &["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(ok(c, &["HINCRBY", "h", "n", "-7"]), int(-2));
    assert_eq!(ok(c, &["HINCRBY", "h", "a", "10"]), int(13));
    assert_eq!(ok(c, &["HGET", "h", "a"]), bulk("13"));
    assert_eq!(ok(c, &["HINCRBYFLOAT", "h", "f", "1.5"]), bulk("1.5"));
    assert_eq!(ok(c, &["HINCRBYFLOAT", "h", "f", "2.5"]), bulk("4"));
    assert_eq!(ok(c, &["HINCRBY", "h", "f", "1"]), int(5));
    // A float increment rewrites "1e3" as "1000", even by zero.
    assert_eq!(ok(c, &["HSET", "h", "e", "1e3"]), int(1));
    assert_eq!(
        err(c, &["HINCRBY", "h", "e", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(ok(c, &["HINCRBYFLOAT", "h", "e", "0"]), bulk("1000"));
    assert_eq!(ok(c, &["HINCRBY", "h", "e", "1"]), int(1001));
    ok(c, &["SET", "se", "1e3"]);
    assert_eq!(ok(c, &["INCRBYFLOAT", "se", "-0"]), bulk("1000"));
    assert_eq!(ok(c, &["INCR", "se"]), int(1001));
    ok(c, &["DEL", "se"]);
    assert_eq!(ok(c, &["HSET", "h", "x", "abc"]), int(1));
    assert_eq!(
        err(c, &["HINCRBY", "h", "x", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(c, &["HINCRBYFLOAT", "h", "x", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(c, &["HINCRBY", "h", "n", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["HINCRBYFLOAT", "h", "n", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(ok(c, &["HSET", "h", "big", "9223372036854775807"]), int(1));
    assert_eq!(
        err(c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    // Arity.
    assert_eq!(
        err(c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(c, &["HMSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    assert_eq!(
        err(c, &["HGET", "h"]),
        "ERR wrong number of arguments for 'hget' command"
    );
    // HRANDFIELD.
    let fields: BTreeSet<String> = sorted(ok(c, &["HKEYS", "h"])).into_iter().collect();
    let one = match ok(c, &["HRANDFIELD", "h"]) {
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(fields.contains(&one));
    let distinct = strings(ok(c, &["HRANDFIELD", "h", "100"]));
    assert_eq!(distinct.len(), fields.len());
    assert_eq!(distinct.iter().cloned().collect::<BTreeSet<_>>(), fields);
    assert_eq!(strings(ok(c, &["HRANDFIELD", "h", "-20"])).len(), 20);
    let with = strings(ok(c, &["HRANDFIELD", "h", "2", "WITHVALUES"]));
    assert_eq!(with.len(), 4);
    assert_eq!(ok(c, &["HRANDFIELD", "h", "0"]), Value::Array(vec![]));
    assert_eq!(ok(c, &["HRANDFIELD", "nokey"]), Value::Nil);
    assert_eq!(ok(c, &["HRANDFIELD", "nokey", "3"]), Value::Array(vec![]));
    assert_eq!(err(c, &["HRANDFIELD", "h", "1", "x"]), "ERR syntax error");
    assert_eq!(
        err(c, &["HRANDFIELD", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
    // HSCAN: every field once, MATCH filters.
    let page = match ok(c, &["HSCAN", "h", "0"]) {
        Value::Array(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(page[0], bulk("0"));
    assert_eq!(
        pairs(page[1].clone())
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        fields
    );
    let page = match ok(c, &["HSCAN", "h", "0", "MATCH", "a*", "COUNT", "5"]) {
        Value::Array(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(pairs(page[1].clone()).len(), 1);
    assert_eq!(err(c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    assert_eq!(
        err(c, &["HSCAN", "h", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    // Deleting the last field deletes the key.
    assert_eq!(ok(c, &["HSET", "one", "f", "v"]), int(1));
    assert_eq!(ok(c, &["HDEL", "one", "f"]), int(1));
    assert_eq!(ok(c, &["EXISTS", "one"]), int(0));
    assert_eq!(ok(c, &["TYPE", "one"]), simple("none"));
}

#[test]
fn set_commands_reply_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SADD", "s", "a", "b", "c", "a"]), int(3));
    assert_eq!(ok(c, &["SADD", "s", "a", "d"]), int(1));
    assert_eq!(sorted(ok(c, &["SMEMBERS", "s"])), ["a", "b", "c", "d"]);
    assert_eq!(ok(c, &["SMEMBERS", "nokey"]), Value::Array(vec![]));
    assert_eq!(ok(c, &["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(ok(c, &["SISMEMBER", "s", "z"]), int(0));
    assert_eq!(
        ok(c, &["SMISMEMBER", "s", "a", "z", "d"]),
        Value::Array(vec![int(1), int(0), int(1)])
    );
    assert_eq!(ok(c, &["SCARD", "s"]), int(4));
    assert_eq!(ok(c, &["SCARD", "nokey"]), int(0));
    assert_eq!(ok(c, &["SREM", "s", "d", "z"]), int(1));
    // SPOP and SRANDMEMBER.
    assert_eq!(ok(c, &["SADD", "p", "x", "y", "z"]), int(3));
    assert_eq!(strings(ok(c, &["SRANDMEMBER", "p", "10"])).len(), 3);
    assert_eq!(strings(ok(c, &["SRANDMEMBER", "p", "-10"])).len(), 10);
    assert_eq!(ok(c, &["SRANDMEMBER", "nokey"]), Value::Nil);
    assert_eq!(ok(c, &["SPOP", "p", "0"]), Value::Array(vec![]));
    let popped = strings(ok(c, &["SPOP", "p", "2"]));
    assert_eq!(popped.len(), 2);
    assert_eq!(ok(c, &["SCARD", "p"]), int(1));
    let last = ok(c, &["SPOP", "p"]);
    assert!(matches!(last, Value::BulkString(_)));
    assert_eq!(ok(c, &["EXISTS", "p"]), int(0));
    assert_eq!(ok(c, &["SPOP", "p"]), Value::Nil);
    assert_eq!(ok(c, &["SPOP", "p", "3"]), Value::Array(vec![]));
    assert_eq!(
        err(c, &["SPOP", "p", "-1"]),
        "ERR value is out of range, must be positive"
    );
    // SMOVE.
    assert_eq!(ok(c, &["SADD", "src", "m", "n"]), int(2));
    assert_eq!(ok(c, &["SMOVE", "src", "dst", "m"]), int(1));
    assert_eq!(ok(c, &["SMOVE", "src", "dst", "zz"]), int(0));
    assert_eq!(ok(c, &["SMOVE", "src", "src", "n"]), int(1));
    assert_eq!(sorted(ok(c, &["SMEMBERS", "dst"])), ["m"]);
    assert_eq!(ok(c, &["SET", "str", "v"]), okay());
    assert_eq!(err(c, &["SMOVE", "src", "str", "n"]), WRONGTYPE);
    // Algebra.
    assert_eq!(ok(c, &["SADD", "x", "1", "2", "3"]), int(3));
    assert_eq!(ok(c, &["SADD", "y", "2", "3", "4"]), int(3));
    assert_eq!(sorted(ok(c, &["SINTER", "x", "y"])), ["2", "3"]);
    assert_eq!(
        sorted(ok(c, &["SINTER", "x", "nokey"])),
        Vec::<String>::new()
    );
    assert_eq!(
        sorted(ok(c, &["SUNION", "x", "y", "nokey"])),
        ["1", "2", "3", "4"]
    );
    assert_eq!(sorted(ok(c, &["SDIFF", "x", "y"])), ["1"]);
    assert_eq!(err(c, &["SINTER", "x", "str"]), WRONGTYPE);
    assert_eq!(err(c, &["SUNION", "nokey", "str"]), WRONGTYPE);
    assert_eq!(ok(c, &["SINTERSTORE", "i", "x", "y"]), int(2));
    assert_eq!(sorted(ok(c, &["SMEMBERS", "i"])), ["2", "3"]);
    assert_eq!(ok(c, &["SUNIONSTORE", "str", "x", "y"]), int(4));
    assert_eq!(ok(c, &["TYPE", "str"]), simple("set"));
    assert_eq!(ok(c, &["SDIFFSTORE", "i", "x", "x"]), int(0));
    assert_eq!(ok(c, &["EXISTS", "i"]), int(0));
    assert_eq!(ok(c, &["SINTERCARD", "2", "x", "y"]), int(2));
    assert_eq!(ok(c, &["SINTERCARD", "2", "x", "y", "LIMIT", "1"]), int(1));
    assert_eq!(ok(c, &["SINTERCARD", "1", "x", "LIMIT", "0"]), int(3));
    assert_eq!(
        err(c, &["SINTERCARD", "0", "x"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "3", "x", "y"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "2", "x", "y", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "2", "x", "y", "FOO"]),
        "ERR syntax error"
    );
    // SSCAN.
    let page = match ok(c, &["SSCAN", "x", "0", "MATCH", "[12]"]) {
        Value::Array(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(page[0], bulk("0"));
    assert_eq!(sorted(page[1].clone()), ["1", "2"]);
}

/// On a node alone, a SADD whose members are all present writes nothing,
/// as in Redis: no engine write for an inline set or a split one. (In a
/// cluster it stores them again, so that it wins over a concurrent SREM:
/// `tests/collections_cluster.rs`.)
#[test]
fn a_sadd_of_present_members_writes_nothing_on_a_node_alone() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let many: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    for (key, members) in [("small", &many[..3]), ("large", &many[..])] {
        let mut add = vec!["SADD", key];
        add.extend(members.iter().map(String::as_str));
        let n = i64::try_from(members.len()).unwrap_or(i64::MAX);
        assert_eq!(ok(c, &add), int(n));
        let before = info_int(c, "sequence");
        assert!(before > 0);
        for m in members.iter().take(20) {
            assert_eq!(ok(c, &["SADD", key, m]), int(0));
        }
        assert_eq!(ok(c, &add), int(0));
        assert_eq!(info_int(c, "sequence"), before, "{key}");
        assert_eq!(ok(c, &["SADD", key, "m0", "new"]), int(1));
        assert!(info_int(c, "sequence") > before, "{key}");
        assert_eq!(ok(c, &["SCARD", key]), int(n + 1));
        assert_eq!(ok(c, &["SISMEMBER", key, "m0"]), int(1));
    }
}

#[test]
fn types_are_kept_apart_and_keyspace_commands_see_them() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["HSET", "h", "f", "v"]), int(1));
    assert_eq!(ok(c, &["SADD", "s", "1", "2"]), int(2));
    assert_eq!(ok(c, &["SET", "str", "x"]), okay());
    wrong_types_are_refused(c);
    // The same against collections large enough to be stored split (a
    // header and a record per member): answered from the header.
    let mut hset = vec!["HSET".to_string(), "h".into()];
    let mut sadd = vec!["SADD".to_string(), "s".into()];
    for i in 0..1_000 {
        hset.extend([format!("f{i}"), "v".into()]);
        sadd.push(i.to_string());
    }
    ok(c, &["DEL", "h", "s"]);
    query(c, &hset.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    query(c, &sadd.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    wrong_types_are_refused(c);
    assert_eq!(ok(c, &["HLEN", "h"]), int(1_000));
    assert_eq!(ok(c, &["SCARD", "s"]), int(1_000));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
    // MGET answers nil for a key of another type, as Redis does.
    assert_eq!(
        ok(c, &["MGET", "str", "h", "s", "none"]),
        Value::Array(vec![bulk("x"), Value::Nil, Value::Nil, Value::Nil])
    );
    // SET with NX, XX, GET and KEEPTTL looks at a collection's type only.
    assert_eq!(ok(c, &["SET", "h", "v", "NX"]), Value::Nil);
    assert_eq!(err(c, &["SET", "h", "v", "GET"]), WRONGTYPE);
    ok(c, &["DEL", "h", "s"]);
    assert_eq!(ok(c, &["HSET", "h", "f", "v"]), int(1));
    assert_eq!(ok(c, &["SADD", "s", "1", "2"]), int(2));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "s"]), bulk("intset"));
    assert_eq!(ok(c, &["SADD", "s2", "word"]), int(1));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "s2"]), bulk("listpack"));
    let long = "x".repeat(65);
    assert_eq!(ok(c, &["HSET", "h2", "f", &long]), int(1));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "h2"]), bulk("hashtable"));
    // Redis 7.0's hash-max-listpack-entries: 512.
    let mut fields = vec!["HSET".to_string(), "h3".into()];
    for i in 0..512 {
        fields.extend([format!("f{i}"), "v".into()]);
    }
    query(c, &fields.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "h3"]), bulk("listpack"));
    assert_eq!(ok(c, &["HSET", "h3", "one-more", "v"]), int(1));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "h3"]), bulk("hashtable"));
    ok(c, &["DEL", "h3"]);
    types_and_keyspace_commands(&s, c);
}

/// Commands of one type against the hash `h`, the set `s` and the string
/// `str` of another: each answers `-WRONGTYPE` and changes nothing.
fn wrong_types_are_refused(c: &mut redis::Connection) {
    for cmd in [
        &["GET", "h"][..],
        &["INCRBYFLOAT", "h", "1"],
        &["PFMERGE", "s", "h"],
        &["LPUSH", "s", "x"],
        &["PFADD", "h", "a"],
        &["ZADD", "h", "1", "x"],
        &["APPEND", "h", "x"],
        &["INCR", "s"],
        &["STRLEN", "h"],
        &["GETRANGE", "s", "0", "1"],
        &["SETRANGE", "h", "0", "x"],
        &["SETBIT", "h", "1", "1"],
        &["GETDEL", "h"],
        &["SET", "h", "v", "GET"],
        &["PFCOUNT", "s"],
        &["HGET", "str", "f"],
        &["HSET", "s", "f", "v"],
        &["SADD", "h", "m"],
        &["SMEMBERS", "str"],
        &["HINCRBY", "str", "f", "1"],
        &["SPOP", "h"],
    ] {
        assert_eq!(err(c, cmd), WRONGTYPE, "{cmd:?}");
    }
    // A string that is not a HyperLogLog gets PFADD's own WRONGTYPE.
    assert_eq!(
        err(c, &["PFADD", "str", "a"]),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    assert_eq!(ok(c, &["TYPE", "h"]), simple("hash"));
    assert_eq!(ok(c, &["TYPE", "s"]), simple("set"));
    assert_eq!(ok(c, &["TYPE", "str"]), simple("string"));
}

/// TYPE, SCAN TYPE, the expiry commands, RENAME/COPY/MOVE, SET and DEL,
/// MULTI/EXEC/WATCH on collections.
fn types_and_keyspace_commands(s: &TestServer, c: &mut redis::Connection) {
    // SCAN TYPE.
    let scan = |c: &mut redis::Connection, t: &str| -> Vec<String> {
        match ok(c, &["SCAN", "0", "COUNT", "1000", "TYPE", t]) {
            Value::Array(p) => sorted(p[1].clone()),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(scan(c, "hash"), ["h", "h2"]);
    assert_eq!(scan(c, "set"), ["s", "s2"]);
    assert_eq!(scan(c, "string"), ["str"]);
    // EXPIRE, TTL, PERSIST keep the type.
    assert_eq!(ok(c, &["EXPIRE", "h", "100"]), int(1));
    assert_eq!(ok(c, &["TYPE", "h"]), simple("hash"));
    assert_eq!(ok(c, &["HGET", "h", "f"]), bulk("v"));
    assert!(matches!(ok(c, &["TTL", "h"]), Value::Int(t) if (90..=100).contains(&t)));
    assert_eq!(ok(c, &["HSET", "h", "g", "w"]), int(1));
    assert!(matches!(ok(c, &["TTL", "h"]), Value::Int(t) if t > 0));
    assert_eq!(ok(c, &["PERSIST", "h"]), int(1));
    assert_eq!(ok(c, &["TTL", "h"]), int(-1));
    assert_eq!(ok(c, &["PEXPIRE", "s2", "1"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(ok(c, &["EXISTS", "s2"]), int(0));
    assert_eq!(ok(c, &["SADD", "s2", "fresh"]), int(1));
    assert_eq!(sorted(ok(c, &["SMEMBERS", "s2"])), ["fresh"]);
    // RENAME, COPY, MOVE.
    assert_eq!(ok(c, &["RENAME", "h", "h3"]), okay());
    assert_eq!(pairs(ok(c, &["HGETALL", "h3"])).len(), 2);
    assert_eq!(ok(c, &["COPY", "h3", "h4"]), int(1));
    assert_eq!(ok(c, &["HSET", "h4", "extra", "1"]), int(1));
    assert_eq!(ok(c, &["HLEN", "h3"]), int(2));
    assert_eq!(ok(c, &["HLEN", "h4"]), int(3));
    assert_eq!(ok(c, &["MOVE", "s", "1"]), int(1));
    assert_eq!(ok(c, &["SELECT", "1"]), okay());
    assert_eq!(sorted(ok(c, &["SMEMBERS", "s"])), ["1", "2"]);
    assert_eq!(ok(c, &["SELECT", "0"]), okay());
    // SET over a hash replaces it; DEL removes it.
    assert_eq!(ok(c, &["SET", "h3", "now a string"]), okay());
    assert_eq!(ok(c, &["GET", "h3"]), bulk("now a string"));
    assert_eq!(ok(c, &["DEL", "h4", "s2"]), int(2));
    assert_eq!(ok(c, &["EXISTS", "h4", "s2"]), int(0));
    // MULTI/EXEC and WATCH.
    assert_eq!(ok(c, &["WATCH", "w"]), okay());
    let mut other = s.conn();
    assert_eq!(ok(&mut other, &["HSET", "w", "f", "1"]), int(1));
    assert_eq!(ok(c, &["MULTI"]), okay());
    assert_eq!(ok(c, &["HSET", "w", "g", "2"]), simple("QUEUED"));
    assert_eq!(ok(c, &["EXEC"]), Value::Nil);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["HSET", "w", "g", "2"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["SADD", "w", "x"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["HLEN", "w"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        format!("*3\r\n:1\r\n-{WRONGTYPE}\r\n:2\r\n")
    );
}

#[test]
fn collections_survive_a_restart() {
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        assert_eq!(ok(c, &["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(ok(c, &["HINCRBY", "h", "n", "41"]), int(41));
        assert_eq!(ok(c, &["SADD", "s", "x", "y"]), int(2));
        assert_eq!(ok(c, &["SREM", "s", "x"]), int(1));
    }
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["HGET", "h", "b"]), bulk("2"));
    assert_eq!(ok(c, &["HINCRBY", "h", "n", "1"]), int(42));
    assert_eq!(sorted(ok(c, &["SMEMBERS", "s"])), ["y"]);
}
