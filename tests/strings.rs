//! String commands against a real server, asserting Redis 7.0's replies,
//! options and error texts.

mod common;

use common::*;
use redis::Value::{Nil, Okay};

#[test]
fn get_and_set_reply_types() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SET", "k", "v"]), Okay);
    assert_eq!(ok(c, &["GET", "k"]), bulk("v"));
    assert_eq!(ok(c, &["GET", "missing"]), Nil);
    assert_eq!(ok(c, &["SET", "empty", ""]), Okay);
    assert_eq!(ok(c, &["GET", "empty"]), bulk(""));
    let binary: Vec<u8> = (0..=255u8).collect();
    let _: () = redis::cmd("SET").arg("bin").arg(&binary).query(c).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("bin").query(c).unwrap();
    assert_eq!(back, binary);
}

#[test]
fn set_conditions_and_get_option() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SET", "k", "1", "NX"]), Okay);
    assert_eq!(ok(c, &["SET", "k", "2", "NX"]), Nil);
    assert_eq!(ok(c, &["SET", "k", "3", "XX"]), Okay);
    assert_eq!(ok(c, &["SET", "nokey", "3", "XX"]), Nil);
    assert_eq!(ok(c, &["SET", "k", "4", "GET"]), bulk("3"));
    assert_eq!(ok(c, &["SET", "new", "x", "GET"]), Nil);
    // Redis 7.0 allows NX with GET: returns the old value and does not set.
    assert_eq!(ok(c, &["SET", "k", "5", "NX", "GET"]), bulk("4"));
    assert_eq!(ok(c, &["GET", "k"]), bulk("4"));
    assert_eq!(err(c, &["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
    assert_eq!(err(c, &["SET", "k", "v", "BOGUS"]), "ERR syntax error");
    assert_eq!(err(c, &["SET", "k", "v", "EX"]), "ERR syntax error");
}

#[test]
fn set_expiry_options() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SET", "k", "v", "EX", "100"]), Okay);
    let ttl: i64 = redis::cmd("TTL").arg("k").query(c).unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(ok(c, &["SET", "k", "v", "PX", "100000"]), Okay);
    let pttl: i64 = redis::cmd("PTTL").arg("k").query(c).unwrap();
    assert!((99_000..=100_000).contains(&pttl), "pttl {pttl}");
    let now: u64 = redis::cmd("TIME").query::<Vec<String>>(c).unwrap()[0]
        .parse()
        .unwrap();
    let at = (now + 1000).to_string();
    assert_eq!(ok(c, &["SET", "k", "v", "EXAT", &at]), Okay);
    assert_eq!(ok(c, &["EXPIRETIME", "k"]), int((now + 1000) as i64));
    assert_eq!(
        ok(
            c,
            &["SET", "k", "v", "PXAT", &((now + 2000) * 1000).to_string()]
        ),
        Okay
    );
    assert_eq!(
        ok(c, &["PEXPIRETIME", "k"]),
        int(((now + 2000) * 1000) as i64)
    );
    // KEEPTTL keeps it, plain SET clears it.
    assert_eq!(ok(c, &["SET", "k", "w", "KEEPTTL"]), Okay);
    assert_eq!(
        ok(c, &["PEXPIRETIME", "k"]),
        int(((now + 2000) * 1000) as i64)
    );
    assert_eq!(ok(c, &["SET", "k", "w"]), Okay);
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    // An absolute time in the past deletes the key and still answers OK.
    assert_eq!(ok(c, &["SET", "k", "v", "PXAT", "1"]), Okay);
    assert_eq!(ok(c, &["GET", "k"]), Nil);
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "-5"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "9223372036854775807"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "10", "PX", "10"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "KEEPTTL", "EX", "10"]),
        "ERR syntax error"
    );
}

#[test]
fn expired_values_disappear() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SET", "short", "v", "PX", "50"]), Okay);
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(ok(c, &["GET", "short"]), Nil);
    assert_eq!(ok(c, &["TTL", "short"]), int(-2));
    assert_eq!(ok(c, &["EXISTS", "short"]), int(0));
}

#[test]
fn setnx_setex_psetex_getset_getdel() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SETNX", "k", "1"]), int(1));
    assert_eq!(ok(c, &["SETNX", "k", "2"]), int(0));
    assert_eq!(ok(c, &["SETEX", "e", "100", "v"]), Okay);
    assert_eq!(ok(c, &["TTL", "e"]), int(100));
    assert_eq!(
        err(c, &["SETEX", "e", "0", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err(c, &["SETEX", "e", "x", "v"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(c, &["PSETEX", "p", "100000", "v"]), Okay);
    assert_eq!(
        err(c, &["PSETEX", "p", "-1", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(ok(c, &["GETSET", "e", "new"]), bulk("v"));
    assert_eq!(ok(c, &["TTL", "e"]), int(-1), "GETSET clears the TTL");
    assert_eq!(ok(c, &["GETSET", "fresh", "x"]), Nil);
    assert_eq!(ok(c, &["GETDEL", "fresh"]), bulk("x"));
    assert_eq!(ok(c, &["GETDEL", "fresh"]), Nil);
    assert_eq!(ok(c, &["EXISTS", "fresh"]), int(0));
}

#[test]
fn getex_sets_and_clears_expiry() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["GETEX", "missing", "EX", "10"]), Nil);
    assert_eq!(ok(c, &["SET", "k", "v"]), Okay);
    assert_eq!(ok(c, &["GETEX", "k"]), bulk("v"));
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    assert_eq!(ok(c, &["GETEX", "k", "EX", "100"]), bulk("v"));
    assert_eq!(ok(c, &["TTL", "k"]), int(100));
    assert_eq!(ok(c, &["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    assert_eq!(ok(c, &["GETEX", "k", "PXAT", "1"]), bulk("v"));
    assert_eq!(ok(c, &["GET", "k"]), Nil);
    assert_eq!(
        err(c, &["GETEX", "k", "EX", "10", "PERSIST"]),
        "ERR syntax error"
    );
    assert_eq!(err(c, &["GETEX", "k", "NX"]), "ERR syntax error");
    assert_eq!(
        ok(c, &["GETEX", "k", "EX", "0"]),
        Nil,
        "a missing key answers nil first"
    );
    assert_eq!(ok(c, &["SET", "k", "v"]), Okay);
    assert_eq!(
        err(c, &["GETEX", "k", "EX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
}

#[test]
fn mget_mset_msetnx() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["MSET", "a", "1", "b", "2"]), Okay);
    assert_eq!(
        ok(c, &["MGET", "a", "nope", "b"]),
        bulks(&[Some("1"), None, Some("2")])
    );
    assert_eq!(
        err(c, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(ok(c, &["MSETNX", "c", "3", "a", "9"]), int(0));
    assert_eq!(
        ok(c, &["EXISTS", "c"]),
        int(0),
        "MSETNX sets nothing if any key exists"
    );
    assert_eq!(ok(c, &["MSETNX", "c", "3", "d", "4"]), int(1));
    assert_eq!(ok(c, &["MGET", "c", "d"]), bulks(&[Some("3"), Some("4")]));
    assert_eq!(
        err(c, &["MSETNX", "x"]),
        "ERR wrong number of arguments for 'msetnx' command"
    );
}

#[test]
fn append_strlen_and_ranges() {
    let s = TestServer::start_with(&["--proto-max-bulk-len", "1mb"]);
    let c = &mut s.conn();
    assert_eq!(ok(c, &["APPEND", "k", "Hello"]), int(5));
    assert_eq!(ok(c, &["APPEND", "k", " World"]), int(11));
    assert_eq!(ok(c, &["STRLEN", "k"]), int(11));
    assert_eq!(ok(c, &["STRLEN", "nope"]), int(0));
    assert_eq!(ok(c, &["SET", "s", "This is a string"]), Okay);
    assert_eq!(ok(c, &["GETRANGE", "s", "0", "3"]), bulk("This"));
    assert_eq!(ok(c, &["GETRANGE", "s", "-3", "-1"]), bulk("ing"));
    assert_eq!(
        ok(c, &["GETRANGE", "s", "0", "-1"]),
        bulk("This is a string")
    );
    assert_eq!(ok(c, &["GETRANGE", "s", "10", "100"]), bulk("string"));
    assert_eq!(ok(c, &["GETRANGE", "s", "5", "3"]), bulk(""));
    assert_eq!(ok(c, &["GETRANGE", "nope", "0", "-1"]), bulk(""));
    assert_eq!(ok(c, &["SUBSTR", "s", "0", "3"]), bulk("This"));
    assert_eq!(
        err(c, &["GETRANGE", "s", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
    // SETRANGE: overwrite, pad with zero bytes, empty value on a missing key.
    assert_eq!(ok(c, &["SET", "w", "Hello World"]), Okay);
    assert_eq!(ok(c, &["SETRANGE", "w", "6", "Redis"]), int(11));
    assert_eq!(ok(c, &["GET", "w"]), bulk("Hello Redis"));
    assert_eq!(ok(c, &["SETRANGE", "pad", "3", "x"]), int(4));
    assert_eq!(
        ok(c, &["GET", "pad"]),
        redis::Value::BulkString(b"\0\0\0x".to_vec())
    );
    assert_eq!(ok(c, &["SETRANGE", "ghost", "5", ""]), int(0));
    assert_eq!(ok(c, &["EXISTS", "ghost"]), int(0));
    assert_eq!(
        err(c, &["SETRANGE", "w", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        err(c, &["SETRANGE", "w", "2000000", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn counters_and_their_errors() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["INCR", "n"]), int(1));
    assert_eq!(ok(c, &["INCRBY", "n", "10"]), int(11));
    assert_eq!(ok(c, &["DECR", "n"]), int(10));
    assert_eq!(ok(c, &["DECRBY", "n", "15"]), int(-5));
    assert_eq!(ok(c, &["GET", "n"]), bulk("-5"));
    assert_eq!(ok(c, &["SET", "t", "5", "EX", "100"]), Okay);
    assert_eq!(ok(c, &["INCR", "t"]), int(6));
    assert_eq!(ok(c, &["TTL", "t"]), int(100), "INCR keeps the TTL");
    assert_eq!(ok(c, &["SET", "s", "abc"]), Okay);
    assert_eq!(
        err(c, &["INCR", "s"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(c, &["SET", "sp", " 1"]), Okay);
    assert_eq!(
        err(c, &["INCR", "sp"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["INCRBY", "n", "1.5"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(c, &["SET", "max", "9223372036854775807"]), Okay);
    assert_eq!(
        err(c, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(c, &["DECRBY", "n", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(ok(c, &["SET", "f", "10.50"]), Okay);
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    assert_eq!(ok(c, &["SET", "e", "5.0e3"]), Okay);
    assert_eq!(ok(c, &["INCRBYFLOAT", "e", "2.0e2"]), bulk("5200"));
    assert_eq!(ok(c, &["INCRBYFLOAT", "new", "3"]), bulk("3"));
    assert_eq!(
        err(c, &["INCRBYFLOAT", "s", "1"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["INCRBYFLOAT", "f", "x"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["INCRBYFLOAT", "f", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
}

#[test]
fn unknown_commands_and_wrong_arity() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(
        err(c, &["FOO", "bar", "baz"]),
        "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' "
    );
    assert_eq!(
        err(c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(c, &["GET", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(c, &["set", "a"]),
        "ERR wrong number of arguments for 'set' command"
    );
    // Streams are not part of the product: unknown, as the spec says.
    assert!(err(c, &["XADD", "s", "*", "f", "v"]).starts_with("ERR unknown command 'XADD'"));
}

#[test]
fn getrange_and_setrange_edge_cases() {
    let s = TestServer::start_with(&["--proto-max-bulk-len", "1mb"]);
    let c = &mut s.conn();
    ok(c, &["SET", "s", "This is a string"]);
    // Extreme and out-of-range indexes clamp as in Redis.
    assert_eq!(ok(c, &["GETRANGE", "s", "-1", "-5"]), bulk(""));
    // Both ends clamp to 0: Redis answers the first byte.
    assert_eq!(ok(c, &["GETRANGE", "s", "-100", "-50"]), bulk("T"));
    assert_eq!(ok(c, &["GETRANGE", "s", "-100", "2"]), bulk("Thi"));
    assert_eq!(ok(c, &["GETRANGE", "s", "-1", "-1"]), bulk("g"));
    assert_eq!(
        ok(
            c,
            &[
                "GETRANGE",
                "s",
                "-9223372036854775808",
                "9223372036854775807"
            ]
        ),
        bulk("This is a string")
    );
    assert_eq!(
        ok(
            c,
            &[
                "GETRANGE",
                "s",
                "9223372036854775807",
                "9223372036854775807"
            ]
        ),
        bulk("")
    );
    assert_eq!(
        ok(c, &["GETRANGE", "s", "0", "-9223372036854775808"]),
        bulk("T")
    );
    assert_eq!(
        err(c, &["GETRANGE", "s", "1", "99999999999999999999"]),
        "ERR value is not an integer or out of range"
    );
    ok(c, &["SET", "empty", ""]);
    assert_eq!(ok(c, &["GETRANGE", "empty", "0", "-1"]), bulk(""));
    assert_eq!(ok(c, &["GETRANGE", "empty", "-1", "-1"]), bulk(""));
    // Indexes are parsed before the key is looked up.
    assert_eq!(
        err(c, &["GETRANGE", "nokey", "a", "b"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(c, &["GETRANGE", "nokey", "0", "-1"]), bulk(""));
    assert_eq!(ok(c, &["SUBSTR", "s", "-6", "-1"]), bulk("string"));
    // SETRANGE: an empty patch never creates or grows a key, but its
    // offset is still checked.
    assert_eq!(ok(c, &["SETRANGE", "s", "3", ""]), int(16));
    assert_eq!(ok(c, &["SETRANGE", "s", "100", ""]), int(16));
    assert_eq!(ok(c, &["SETRANGE", "nokey", "5", ""]), int(0));
    assert_eq!(
        err(c, &["SETRANGE", "nokey", "-1", ""]),
        "ERR offset is out of range"
    );
    assert_eq!(ok(c, &["STRLEN", "s"]), int(16));
    assert_eq!(ok(c, &["SETRANGE", "s", "0", "ZZ"]), int(16));
    assert_eq!(ok(c, &["GET", "s"]), bulk("ZZis is a string"));
    assert_eq!(ok(c, &["SETRANGE", "s", "18", "!"]), int(19));
    assert_eq!(
        ok(c, &["GET", "s"]),
        redis::Value::BulkString(b"ZZis is a string\0\0!".to_vec())
    );
    // SETRANGE keeps the TTL; the size limit is proto-max-bulk-len.
    ok(c, &["SET", "t", "abc", "EX", "100"]);
    assert_eq!(ok(c, &["SETRANGE", "t", "1", "X"]), int(3));
    assert_eq!(ok(c, &["TTL", "t"]), int(100));
    assert_eq!(ok(c, &["SETRANGE", "big", "1048575", "x"]), int(1048576));
    assert_eq!(
        err(c, &["SETRANGE", "big2", "1048576", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        err(c, &["SETRANGE", "s", "9223372036854775807", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        err(c, &["SETRANGE", "s", "x", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn repeated_options_and_number_forms_follow_redis() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // A repeated option is accepted (the last value wins); conflicting
    // ones are a syntax error.
    assert_eq!(ok(c, &["SET", "k", "v", "KEEPTTL", "KEEPTTL"]), Okay);
    assert_eq!(ok(c, &["SET", "k", "v", "EX", "10", "EX", "20"]), Okay);
    assert_eq!(ok(c, &["TTL", "k"]), int(20));
    assert_eq!(ok(c, &["SET", "k", "v", "NX", "NX"]), Nil);
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "10", "KEEPTTL"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["SET", "k", "v", "KEEPTTL", "PX", "10"]),
        "ERR syntax error"
    );
    assert_eq!(ok(c, &["GETEX", "k", "PERSIST", "PERSIST"]), bulk("v"));
    assert_eq!(ok(c, &["TTL", "k"]), int(-1));
    assert_eq!(
        err(c, &["GETEX", "k", "EX", "1", "PERSIST"]),
        "ERR syntax error"
    );
    // INCRBYFLOAT reads numbers as strtold does: hex floats included.
    ok(c, &["SET", "f", "0x10"]);
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "1"]), bulk("17"));
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "0x1.8p1"]), bulk("20"));
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "-0x1P-1"]), bulk("19.5"));
    assert_eq!(
        err(c, &["INCRBYFLOAT", "f", "0x"]),
        "ERR value is not a valid float"
    );
}

/// Replies where a differential run of random commands against
/// redis-server 7.0 found ringkv checking in another order or wording.
#[test]
fn error_precedence_matches_redis() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SADD", "set", "a"]);
    ok(c, &["SET", "str", "abc"]);
    // LCS answers a key of another type with its own error.
    for keys in [["set", "str"], ["str", "set"], ["set", "missing"]] {
        assert_eq!(
            err(c, &["LCS", keys[0], keys[1]]),
            "ERR The specified keys must contain string values"
        );
    }
    // INCRBYFLOAT looks at the key's type before the increment.
    assert_eq!(
        err(c, &["INCRBYFLOAT", "set", "notafloat"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(c, &["INCRBYFLOAT", "str", "notafloat"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["INCRBYFLOAT", "missing", "notafloat"]),
        "ERR value is not a valid float"
    );
    // ZINCRBY is parsed as ZADD INCR: a flag in the increment's place is
    // a flag, and the rest is a syntax error.
    for flag in ["NX", "xx", "GT", "lt", "CH", "incr"] {
        assert_eq!(err(c, &["ZINCRBY", "z", flag, "m"]), "ERR syntax error");
    }
    assert_eq!(
        err(c, &["ZINCRBY", "z", "x", "m"]),
        "ERR value is not a valid float"
    );
    assert_eq!(ok(c, &["EXISTS", "z"]), int(0));
    // An unknown EXPIRE option is shown as Redis's C string shows it.
    assert_eq!(
        err(c, &["EXPIRE", "str", "10", "\u{0}FOO"]),
        "ERR Unsupported option "
    );
}

/// MGET starts loading the records of the keys after the one it reads
/// (`MGET_PREFETCH_AHEAD`): a long MGET, with absent keys, keys of other
/// types and repeated keys among more than that window, answers each key
/// as GET would (nil for another type), in order.
#[test]
fn a_long_mget_answers_every_key_as_get_would() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["SELECT", "3"]), Okay);
    let mut keys = Vec::new();
    let mut expected = Vec::new();
    for i in 0..60 {
        let key = format!("k{i}");
        match i % 5 {
            0 => expected.push(None),
            1 => {
                ok(c, &["RPUSH", &key, "x"]);
                expected.push(None);
            }
            _ => {
                let value = format!("v{i}");
                ok(c, &["SET", &key, &value]);
                expected.push(Some(value));
            }
        }
        keys.push(key);
    }
    // The first keys again, past the window.
    for i in 0..10 {
        keys.push(format!("k{i}"));
        let again = expected[i].clone();
        expected.push(again);
    }
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let want: Vec<Option<&str>> = expected.iter().map(Option::as_deref).collect();
    assert_eq!(ok(c, &args), bulks(&want));
}
