//! Keyspace and expiry commands against a real server.

mod common;

use std::collections::BTreeSet;

use common::*;
use redis::Value::{Nil, Okay};

#[test]
fn del_exists_unlink_touch_type() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        ok(c, &["EXISTS", "a", "a", "nope"]),
        int(2),
        "a repeated key counts twice"
    );
    assert_eq!(ok(c, &["TOUCH", "a", "b", "nope"]), int(2));
    assert_eq!(
        ok(c, &["TYPE", "a"]),
        redis::Value::SimpleString("string".into())
    );
    assert_eq!(
        ok(c, &["TYPE", "nope"]),
        redis::Value::SimpleString("none".into())
    );
    assert_eq!(ok(c, &["DEL", "a", "a", "nope"]), int(1));
    assert_eq!(ok(c, &["UNLINK", "b", "c"]), int(2));
    assert_eq!(ok(c, &["EXISTS", "a", "b", "c"]), int(0));
    assert_eq!(
        err(c, &["DEL"]),
        "ERR wrong number of arguments for 'del' command"
    );
}

/// A DEL or UNLINK of many keys, some named twice, deletes and counts
/// each once. (Finding a repeat scanned the deletes so far for every key:
/// a DEL of 200,000 keys took minutes, now a fraction of a second.)
#[test]
fn del_and_unlink_of_many_keys_count_each_once() {
    let s = TestServer::start();
    let c = &mut s.conn();
    for cmd in ["DEL", "UNLINK"] {
        let keys: Vec<String> = (0..50_000).map(|i| format!("many:{i}")).collect();
        let mut mset = redis::cmd("MSET");
        for k in keys.iter().step_by(2) {
            mset.arg(k).arg("v");
        }
        let _: () = mset.query(c).expect("MSET");
        let mut del = redis::cmd(cmd);
        del.arg(&keys);
        // Every tenth key again: present ones are not counted twice.
        del.arg(keys.iter().step_by(10).collect::<Vec<_>>());
        let deleted: i64 = del.query(c).expect(cmd);
        assert_eq!(deleted, 25_000, "{cmd}");
        assert_eq!(ok(c, &["DBSIZE"]), int(0), "{cmd}");
    }
}

#[test]
fn ttl_and_expire_family() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["TTL", "nope"]), int(-2));
    assert_eq!(ok(c, &["PTTL", "nope"]), int(-2));
    assert_eq!(ok(c, &["EXPIRETIME", "nope"]), int(-2));
    ok(c, &["SET", "k", "v"]);
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    assert_eq!(ok(c, &["PEXPIRETIME", "k"]), int(-1));
    assert_eq!(ok(c, &["EXPIRE", "nope", "10"]), int(0));
    assert_eq!(ok(c, &["EXPIRE", "k", "100"]), int(1));
    assert_eq!(ok(c, &["TTL", "k"]), int(100));
    assert_eq!(ok(c, &["PEXPIRE", "k", "50000"]), int(1));
    assert_eq!(ok(c, &["TTL", "k"]), int(50));
    assert_eq!(ok(c, &["PERSIST", "k"]), int(1));
    assert_eq!(ok(c, &["PERSIST", "k"]), int(0));
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    // Conditions.
    assert_eq!(
        ok(c, &["EXPIRE", "k", "100", "XX"]),
        int(0),
        "XX needs an existing TTL"
    );
    assert_eq!(
        ok(c, &["EXPIRE", "k", "100", "GT"]),
        int(0),
        "no TTL is infinite: GT fails"
    );
    assert_eq!(
        ok(c, &["EXPIRE", "k", "100", "LT"]),
        int(1),
        "no TTL is infinite: LT succeeds"
    );
    assert_eq!(ok(c, &["EXPIRE", "k", "200", "NX"]), int(0));
    assert_eq!(ok(c, &["EXPIRE", "k", "200", "GT"]), int(1));
    assert_eq!(ok(c, &["EXPIRE", "k", "150", "GT"]), int(0));
    assert_eq!(ok(c, &["EXPIRE", "k", "150", "LT"]), int(1));
    assert_eq!(ok(c, &["EXPIRE", "k", "300", "XX"]), int(1));
    assert_eq!(ok(c, &["TTL", "k"]), int(300));
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "FOO"]),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    // Absolute times; a time in the past deletes the key.
    let now: u64 = redis::cmd("TIME").query::<Vec<String>>(c).unwrap()[0]
        .parse()
        .unwrap();
    assert_eq!(ok(c, &["EXPIREAT", "k", &(now + 500).to_string()]), int(1));
    assert_eq!(ok(c, &["EXPIRETIME", "k"]), int((now + 500) as i64));
    assert_eq!(
        ok(c, &["PEXPIREAT", "k", &((now + 600) * 1000).to_string()]),
        int(1)
    );
    assert_eq!(
        ok(c, &["PEXPIRETIME", "k"]),
        int(((now + 600) * 1000) as i64)
    );
    // EXPIRETIME rounds to the nearest second, as Redis does.
    for (ms, secs) in [(499, 600), (500, 601), (999, 601)] {
        let at = ((now + 600) * 1000 + ms).to_string();
        ok(c, &["PEXPIREAT", "k", &at]);
        assert_eq!(ok(c, &["EXPIRETIME", "k"]), int((now + secs) as i64));
    }
    assert_eq!(ok(c, &["EXPIREAT", "k", "1"]), int(1));
    assert_eq!(ok(c, &["EXISTS", "k"]), int(0));
    ok(c, &["SET", "neg", "v"]);
    assert_eq!(ok(c, &["EXPIRE", "neg", "-1"]), int(1));
    assert_eq!(ok(c, &["GET", "neg"]), Nil);
}

fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, batch): (String, Vec<String>) =
            redis::cmd(args[0]).arg(&args[1..]).query(c).expect("scan");
        keys.extend(batch);
        calls += 1;
        assert!(calls < 10_000, "SCAN does not terminate");
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
}

#[test]
fn keys_scan_dbsize_randomkey() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["RANDOMKEY"]), Nil);
    assert_eq!(ok(c, &["DBSIZE"]), int(0));
    let mut expected = BTreeSet::new();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        let k = format!("key:{i}");
        pipe.cmd("SET").arg(&k).arg(i).ignore();
        expected.insert(k);
    }
    pipe.query::<()>(c).unwrap();
    assert_eq!(ok(c, &["DBSIZE"]), int(500));
    let (all, calls) = scan_all(c, &[]);
    assert!(calls > 10, "COUNT 10 pages: {calls} calls");
    assert_eq!(
        all.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "SCAN returns every key"
    );
    let (matched, _) = scan_all(c, &["MATCH", "key:1*", "COUNT", "100"]);
    let want: BTreeSet<_> = expected
        .iter()
        .filter(|k| k.starts_with("key:1"))
        .cloned()
        .collect();
    assert_eq!(matched.into_iter().collect::<BTreeSet<_>>(), want);
    let (strings, _) = scan_all(c, &["TYPE", "string", "COUNT", "1000"]);
    assert_eq!(strings.len(), 500);
    let (hashes, _) = scan_all(c, &["TYPE", "hash"]);
    assert!(hashes.is_empty());
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("key:4?").query(c).unwrap();
    keys.sort();
    let want: Vec<String> = (40..50).map(|i| format!("key:{i}")).collect();
    assert_eq!(keys, want);
    let random: String = redis::cmd("RANDOMKEY").query(c).unwrap();
    assert!(expected.contains(&random));
    assert_eq!(err(c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(
        err(c, &["SCAN", "18446744073709551616"]),
        "ERR invalid cursor"
    );
    // Cursors are read like strtoul: -1 wraps to the largest cursor.
    let (next, _): (String, Vec<String>) = redis::cmd("SCAN").arg("-1").query(c).unwrap();
    assert_eq!(next, "0");
    assert_eq!(err(c, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    assert_eq!(err(c, &["SCAN", "0", "FOO"]), "ERR syntax error");
}

/// Deleted keys leave tombstones (kept for the grace period) among the
/// live keys: SCAN pages still hold keys, as Redis's do, and RANDOMKEY
/// finds one of the few live keys instead of answering nil.
#[test]
fn scan_and_randomkey_of_a_database_left_sparse_by_deletions() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let (all, dead) = (20_000, 19_900);
    for chunk in (0..all).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET").arg(format!("k{i}")).arg(1).ignore();
        }
        pipe.query::<()>(c).unwrap();
    }
    for chunk in (0..dead).collect::<Vec<_>>().chunks(1000) {
        let mut cmd = redis::cmd("DEL");
        for i in chunk {
            cmd.arg(format!("k{i}"));
        }
        cmd.query::<i64>(c).unwrap();
    }
    let live: BTreeSet<String> = (dead..all).map(|i| format!("k{i}")).collect();
    assert_eq!(ok(c, &["DBSIZE"]), int((all - dead) as i64));
    let (keys, calls) = scan_all(c, &[]);
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), live);
    // 100 keys, COUNT 10: about ten pages; a page per ten records would
    // take 2,000.
    assert!(calls < 100, "{calls} SCAN calls for 100 keys");
    for _ in 0..20 {
        let random: Option<String> = redis::cmd("RANDOMKEY").query(c).unwrap();
        let random = random.expect("RANDOMKEY of a database with 100 keys");
        assert!(live.contains(&random), "{random}");
    }
    for chunk in (dead..all).collect::<Vec<_>>().chunks(50) {
        let mut cmd = redis::cmd("DEL");
        for i in chunk {
            cmd.arg(format!("k{i}"));
        }
        cmd.query::<i64>(c).unwrap();
    }
    assert_eq!(ok(c, &["RANDOMKEY"]), Nil);
    assert_eq!(scan_all(c, &[]).0, Vec::<String>::new());
}

#[test]
fn rename_copy_move_and_databases() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "a", "1", "EX", "100"]);
    assert_eq!(ok(c, &["RENAME", "a", "b"]), Okay);
    assert_eq!(ok(c, &["GET", "b"]), bulk("1"));
    assert_eq!(ok(c, &["TTL", "b"]), int(100), "RENAME keeps the TTL");
    assert_eq!(err(c, &["RENAME", "nope", "x"]), "ERR no such key");
    assert_eq!(ok(c, &["RENAME", "b", "b"]), Okay);
    ok(c, &["SET", "c", "3"]);
    assert_eq!(ok(c, &["RENAMENX", "b", "c"]), int(0));
    assert_eq!(ok(c, &["RENAMENX", "b", "d"]), int(1));
    assert_eq!(err(c, &["RENAMENX", "nope", "x"]), "ERR no such key");
    assert_eq!(ok(c, &["COPY", "d", "e"]), int(1));
    assert_eq!(ok(c, &["COPY", "d", "e"]), int(0));
    assert_eq!(ok(c, &["COPY", "c", "e", "REPLACE"]), int(1));
    assert_eq!(ok(c, &["GET", "e"]), bulk("3"));
    assert_eq!(ok(c, &["COPY", "nope", "x"]), int(0));
    assert_eq!(
        err(c, &["COPY", "d", "d"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(ok(c, &["COPY", "d", "d", "DB", "1"]), int(1));
    assert_eq!(
        err(c, &["COPY", "d", "x", "DB", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(ok(c, &["MOVE", "e", "2"]), int(1));
    assert_eq!(ok(c, &["EXISTS", "e"]), int(0));
    assert_eq!(ok(c, &["MOVE", "nope", "2"]), int(0));
    assert_eq!(
        err(c, &["MOVE", "c", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(ok(c, &["SELECT", "2"]), Okay);
    assert_eq!(ok(c, &["GET", "e"]), bulk("3"));
    assert_eq!(ok(c, &["DBSIZE"]), int(1));
    assert_eq!(err(c, &["SELECT", "16"]), "ERR DB index is out of range");
    assert_eq!(
        err(c, &["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
    // FLUSHDB empties only the selected database; FLUSHALL empties all.
    assert_eq!(ok(c, &["FLUSHDB"]), Okay);
    assert_eq!(ok(c, &["DBSIZE"]), int(0));
    ok(c, &["SELECT", "0"]);
    assert!(matches!(ok(c, &["DBSIZE"]), redis::Value::Int(n) if n > 0));
    assert_eq!(err(c, &["FLUSHDB", "LATER"]), "ERR syntax error");
    assert_eq!(ok(c, &["FLUSHALL", "SYNC"]), Okay);
    assert_eq!(ok(c, &["DBSIZE"]), int(0));
    ok(c, &["SELECT", "1"]);
    assert_eq!(ok(c, &["DBSIZE"]), int(0));
}

#[test]
fn object_introspection() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "i", "12345"]);
    ok(c, &["SET", "small", "7"]);
    ok(c, &["SET", "e", "hello"]);
    ok(c, &["SET", "r", &"x".repeat(45)]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "i"]), bulk("int"));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "e"]), bulk("embstr"));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "r"]), bulk("raw"));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "nope"]), Nil);
    assert_eq!(ok(c, &["OBJECT", "REFCOUNT", "small"]), int(2147483647));
    assert_eq!(ok(c, &["OBJECT", "REFCOUNT", "e"]), int(1));
    assert_eq!(ok(c, &["OBJECT", "IDLETIME", "e"]), int(0));
    assert!(
        err(c, &["OBJECT", "FREQ", "e"]).starts_with("ERR An LFU maxmemory policy is not selected")
    );
    assert_eq!(
        err(c, &["OBJECT", "FOO", "e"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(
        err(c, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
    assert!(matches!(ok(c, &["OBJECT", "HELP"]), redis::Value::Array(v) if v.len() > 4));
}

#[test]
fn transactions_are_atomic_and_watch_aborts() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["MULTI"]), Okay);
    assert_eq!(
        ok(c, &["SET", "a", "1"]),
        redis::Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        ok(c, &["INCR", "a"]),
        redis::Value::SimpleString("QUEUED".into())
    );
    assert_eq!(err(c, &["MULTI"]), "ERR MULTI calls can not be nested");
    assert_eq!(ok(c, &["EXEC"]), redis::Value::Array(vec![Okay, int(2)]));
    assert_eq!(err(c, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(err(c, &["DISCARD"]), "ERR DISCARD without MULTI");
    // A command that fails to queue aborts EXEC.
    ok(c, &["MULTI"]);
    assert_eq!(
        err(c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    ok(c, &["SET", "b", "1"]);
    assert_eq!(
        err(c, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(ok(c, &["EXISTS", "b"]), int(0));
    // Runtime errors are reported in place; the rest still runs.
    let mut raw = s.raw();
    raw.cmd(&["SET", "s", "text"]);
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["INCR", "s"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["SET", "after", "1"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
    );
    // DISCARD.
    ok(c, &["MULTI"]);
    ok(c, &["SET", "d", "1"]);
    assert_eq!(ok(c, &["DISCARD"]), Okay);
    assert_eq!(ok(c, &["EXISTS", "d"]), int(0));
    // WATCH: a write by another client aborts EXEC.
    let other = &mut s.conn();
    assert_eq!(ok(c, &["WATCH", "w"]), Okay);
    ok(other, &["SET", "w", "changed"]);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "w", "mine"]);
    assert_eq!(ok(c, &["EXEC"]), Nil);
    assert_eq!(ok(c, &["GET", "w"]), bulk("changed"));
    // Unchanged watched key: EXEC runs.
    ok(c, &["WATCH", "w"]);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "w", "mine"]);
    assert_eq!(ok(c, &["EXEC"]), redis::Value::Array(vec![Okay]));
    // WATCH inside MULTI is refused; UNWATCH forgets.
    ok(c, &["MULTI"]);
    assert_eq!(
        err(c, &["WATCH", "x"]),
        "ERR WATCH inside MULTI is not allowed"
    );
    ok(c, &["DISCARD"]);
    ok(c, &["WATCH", "w"]);
    ok(other, &["SET", "w", "again"]);
    ok(c, &["UNWATCH"]);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "w", "mine2"]);
    assert_eq!(ok(c, &["EXEC"]), redis::Value::Array(vec![Okay]));
    // A watched key that expires aborts EXEC.
    ok(c, &["SET", "ttl", "v", "PX", "100"]);
    ok(c, &["WATCH", "ttl"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    ok(c, &["MULTI"]);
    ok(c, &["SET", "other", "1"]);
    assert_eq!(ok(c, &["EXEC"]), Nil);
    // FLUSHALL touches every watched key.
    ok(c, &["SET", "f", "1"]);
    ok(c, &["WATCH", "f"]);
    ok(other, &["FLUSHALL"]);
    ok(c, &["MULTI"]);
    ok(c, &["PING"]);
    assert_eq!(ok(c, &["EXEC"]), Nil);
}

#[test]
fn object_encoding_boundaries() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // (value, Redis's encoding for a value written by SET)
    let cases = [
        ("-12345", "int"),
        ("9223372036854775807", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("012", "embstr"),
        ("+1", "embstr"),
        ("-0", "embstr"),
        (" 1", "embstr"),
        ("1.5", "embstr"),
        ("", "embstr"),
    ];
    for (value, want) in cases {
        ok(c, &["SET", "k", value]);
        assert_eq!(ok(c, &["OBJECT", "ENCODING", "k"]), bulk(want), "{value:?}");
    }
    // 44 bytes is the longest embstr.
    ok(c, &["SET", "k", &"a".repeat(44)]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "k"]), bulk("embstr"));
    ok(c, &["SET", "k", &"a".repeat(45)]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "k"]), bulk("raw"));
    // 44 digits: too long for an integer, still embstr.
    ok(c, &["SET", "k", &"1".repeat(44)]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "k"]), bulk("embstr"));
    // Counters are integers; the shared ones (0..9999) report INT_MAX refs.
    ok(c, &["INCR", "n"]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "n"]), bulk("int"));
    assert_eq!(ok(c, &["OBJECT", "REFCOUNT", "n"]), int(2147483647));
    ok(c, &["SET", "n", "10000"]);
    assert_eq!(ok(c, &["OBJECT", "REFCOUNT", "n"]), int(1));
    assert_eq!(ok(c, &["OBJECT", "REFCOUNT", "missing"]), Nil);
    assert_eq!(ok(c, &["OBJECT", "IDLETIME", "missing"]), Nil);
    assert_eq!(ok(c, &["OBJECT", "FREQ", "missing"]), Nil);
    // OBJECT HELP is Redis's own text.
    let help: Vec<String> = redis::cmd("OBJECT").arg("HELP").query(c).unwrap();
    assert_eq!(help.len(), 15);
    assert_eq!(help[1], "ENCODING <key>");
    assert_eq!(help[14], "    Prints this help.");
}

#[test]
fn copy_and_move_edge_cases() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "src", "v", "EX", "100"]);
    // COPY keeps the TTL, into another database too.
    assert_eq!(ok(c, &["COPY", "src", "dst"]), int(1));
    assert_eq!(ok(c, &["TTL", "dst"]), int(100));
    assert_eq!(ok(c, &["COPY", "src", "dst", "DB", "1"]), int(1));
    assert_eq!(ok(c, &["COPY", "src", "dst", "DB", "1"]), int(0));
    ok(c, &["SET", "src", "w"]);
    assert_eq!(ok(c, &["COPY", "src", "dst", "db", "1", "replace"]), int(1));
    // The same key into another database is fine.
    assert_eq!(ok(c, &["COPY", "src", "src", "DB", "2"]), int(1));
    assert_eq!(
        err(c, &["COPY", "src", "src", "DB", "0"]),
        "ERR source and destination objects are the same"
    );
    for (args, want) in [
        (&["COPY", "src", "x", "DB"][..], "ERR syntax error"),
        (&["COPY", "src", "x", "FOO"], "ERR syntax error"),
        (
            &["COPY", "src", "x", "DB", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["COPY", "src", "x", "DB", "-1"],
            "ERR DB index is out of range",
        ),
        (
            &["COPY", "nokey", "x", "DB", "99"],
            "ERR DB index is out of range",
        ),
    ] {
        assert_eq!(err(c, args), want, "{args:?}");
    }
    assert_eq!(ok(c, &["COPY", "src", "x", "REPLACE", "REPLACE"]), int(1));
    assert_eq!(ok(c, &["COPY", "src", "y", "DB", "1", "DB", "3"]), int(1));
    // MOVE keeps the TTL and never overwrites.
    ok(c, &["SET", "m", "1", "EX", "100"]);
    assert_eq!(ok(c, &["MOVE", "m", "4"]), int(1));
    assert_eq!(ok(c, &["EXISTS", "m"]), int(0));
    ok(c, &["SET", "m", "2"]);
    assert_eq!(ok(c, &["MOVE", "m", "4"]), int(0), "destination exists");
    assert_eq!(ok(c, &["GET", "m"]), bulk("2"));
    assert_eq!(ok(c, &["MOVE", "nokey", "1"]), int(0));
    assert_eq!(
        err(c, &["MOVE", "nokey", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(err(c, &["MOVE", "m", "16"]), "ERR DB index is out of range");
    assert_eq!(
        err(c, &["MOVE", "m", "x"]),
        "ERR value is not an integer or out of range"
    );
    ok(c, &["SELECT", "4"]);
    assert_eq!(ok(c, &["GET", "m"]), bulk("1"));
    assert_eq!(ok(c, &["TTL", "m"]), int(100));
    ok(c, &["SELECT", "3"]);
    assert_eq!(ok(c, &["GET", "y"]), bulk("w"), "the last DB option wins");
}

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info: String = redis::from_redis_value(&ok(c, &["INFO", "clients"])).unwrap();
        if info.contains(&want) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never {n} blocked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn swapdb_trades_contents_and_survives_a_restart() {
    let mut s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "a", "zero"]);
    // Large enough to be stored split: its member records follow it.
    let mut hset = vec!["HSET".to_string(), "big".into()];
    for i in 0..300 {
        hset.extend([format!("f{i}"), format!("v{i}")]);
    }
    query(c, &hset.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    ok(c, &["SET", "ttl", "x", "EX", "1000"]);
    ok(c, &["SELECT", "2"]);
    ok(c, &["SET", "a", "two"]);
    ok(c, &["SELECT", "0"]);
    assert_eq!(ok(c, &["SWAPDB", "0", "2"]), Okay);
    assert_eq!(ok(c, &["GET", "a"]), bulk("two"));
    assert_eq!(ok(c, &["EXISTS", "big", "ttl"]), int(0));
    assert_eq!(ok(c, &["DBSIZE"]), int(1));
    ok(c, &["SELECT", "2"]);
    assert_eq!(ok(c, &["GET", "a"]), bulk("zero"));
    assert_eq!(ok(c, &["HLEN", "big"]), int(300));
    assert_eq!(ok(c, &["HGET", "big", "f299"]), bulk("v299"));
    assert!(matches!(ok(c, &["TTL", "ttl"]), redis::Value::Int(t) if t > 900));
    assert_eq!(ok(c, &["DBSIZE"]), int(3));
    // Writes after the swap land where the database is now.
    ok(c, &["HSET", "big", "new", "1"]);
    assert_eq!(ok(c, &["SWAPDB", "1", "1"]), Okay);
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["GET", "a"]), bulk("two"), "the swap is durable");
    ok(c, &["SELECT", "2"]);
    assert_eq!(ok(c, &["HLEN", "big"]), int(301));
    for (args, e) in [
        (&["SWAPDB", "0", "16"][..], "ERR DB index is out of range"),
        (&["SWAPDB", "-1", "0"], "ERR DB index is out of range"),
        (&["SWAPDB", "x", "0"], "ERR invalid first DB index"),
        (
            &["SWAPDB", "0", "99999999999"],
            "ERR invalid second DB index",
        ),
    ] {
        assert_eq!(err(c, args), e, "{args:?}");
    }
}

#[test]
fn swapdb_fails_watchers_and_serves_blocked_clients() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SELECT", "1"]);
    ok(c, &["RPUSH", "jobs", "j1"]);
    ok(c, &["SET", "w", "1"]);
    // A transaction watching a key the swap changes fails.
    let mut watcher = s.conn();
    ok(&mut watcher, &["WATCH", "w"]);
    ok(&mut watcher, &["MULTI"]);
    ok(&mut watcher, &["GET", "w"]);
    // A client blocked on an empty key of database 0 gets what the swap brings.
    let mut blocked = s.conn();
    let popper =
        std::thread::spawn(move || -> redis::Value { ok(&mut blocked, &["BLPOP", "jobs", "10"]) });
    wait_blocked(c, 1);
    assert_eq!(ok(c, &["SWAPDB", "1", "0"]), Okay);
    assert_eq!(popper.join().unwrap(), bulks(&[Some("jobs"), Some("j1")]));
    assert_eq!(ok(&mut watcher, &["EXEC"]), Nil, "the watched key changed");
    // A watch on a key missing from both databases is left alone.
    ok(&mut watcher, &["WATCH", "nowhere"]);
    ok(&mut watcher, &["MULTI"]);
    ok(&mut watcher, &["PING"]);
    assert_eq!(ok(c, &["SWAPDB", "0", "1"]), Okay);
    assert_eq!(
        ok(&mut watcher, &["EXEC"]),
        redis::Value::Array(vec![redis::Value::SimpleString("PONG".into())])
    );
    // Inside a transaction, as one step of it: database 1 (this
    // connection's) held w, and holds nothing after the swap.
    assert_eq!(ok(c, &["DBSIZE"]), int(1));
    ok(c, &["MULTI"]);
    ok(c, &["SWAPDB", "0", "1"]);
    ok(c, &["DBSIZE"]);
    assert_eq!(ok(c, &["EXEC"]), redis::Value::Array(vec![Okay, int(0)]));
    ok(c, &["SELECT", "0"]);
    assert_eq!(ok(c, &["GET", "w"]), bulk("1"));
}
