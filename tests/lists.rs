//! List commands and blocking pops against a real server: Redis 7.0's
//! replies, errors and edge cases on one node, the keyspace commands on
//! lists, and the blocking commands' wake-ups, timeouts, FIFO order,
//! CLIENT UNBLOCK and transactions.
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::Value;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn range(c: &mut redis::Connection, key: &str) -> Vec<String> {
    strings(ok(c, &["LRANGE", key, "0", "-1"]))
}

#[test]
fn list_commands_reply_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(ok(c, &["LPUSH", "l", "x", "y"]), int(5));
    assert_eq!(range(c, "l"), ["y", "x", "a", "b", "c"]);
    assert_eq!(ok(c, &["LPUSHX", "nokey", "a"]), int(0));
    assert_eq!(ok(c, &["RPUSHX", "l", "d"]), int(6));
    assert_eq!(ok(c, &["EXISTS", "nokey"]), int(0));
    assert_eq!(ok(c, &["LLEN", "l"]), int(6));
    assert_eq!(ok(c, &["LLEN", "nokey"]), int(0));
    // Ranges with negative and out-of-range indexes.
    assert_eq!(strings(ok(c, &["LRANGE", "l", "1", "2"])), ["x", "a"]);
    assert_eq!(strings(ok(c, &["LRANGE", "l", "-2", "-1"])), ["c", "d"]);
    assert_eq!(strings(ok(c, &["LRANGE", "l", "-100", "0"])), ["y"]);
    assert!(strings(ok(c, &["LRANGE", "l", "5", "2"])).is_empty());
    assert!(strings(ok(c, &["LRANGE", "l", "10", "20"])).is_empty());
    assert_eq!(
        err(c, &["LRANGE", "l", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(c, &["LINDEX", "l", "0"]), bulk("y"));
    assert_eq!(ok(c, &["LINDEX", "l", "-1"]), bulk("d"));
    assert_eq!(ok(c, &["LINDEX", "l", "6"]), Value::Nil);
    assert_eq!(ok(c, &["LINDEX", "nokey", "0"]), Value::Nil);
    // LSET and LINSERT.
    assert_eq!(ok(c, &["LSET", "l", "-1", "D"]), okay());
    assert_eq!(err(c, &["LSET", "l", "6", "z"]), "ERR index out of range");
    assert_eq!(err(c, &["LSET", "nokey", "0", "z"]), "ERR no such key");
    assert_eq!(ok(c, &["LINSERT", "l", "BEFORE", "a", "m"]), int(7));
    assert_eq!(ok(c, &["LINSERT", "l", "after", "D", "n"]), int(8));
    assert_eq!(ok(c, &["LINSERT", "l", "BEFORE", "zz", "m"]), int(-1));
    assert_eq!(ok(c, &["LINSERT", "nokey", "BEFORE", "a", "m"]), int(0));
    assert_eq!(
        err(c, &["LINSERT", "l", "middle", "a", "m"]),
        "ERR syntax error"
    );
    assert_eq!(range(c, "l"), ["y", "x", "m", "a", "b", "c", "D", "n"]);
    // Many inserts at one spot keep their order.
    for i in 0..100 {
        ok(c, &["LINSERT", "l", "BEFORE", "a", &format!("i{i}")]);
    }
    let all = range(c, "l");
    let spot: Vec<&String> = all.iter().skip(3).take(100).collect();
    assert_eq!(
        spot,
        (0..100)
            .map(|i| format!("i{i}"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(ok(c, &["LTRIM", "l", "0", "2"]), okay());
    assert_eq!(range(c, "l"), ["y", "x", "m"]);
    // LREM from the head, the tail, everywhere.
    ok(c, &["DEL", "r"]);
    ok(c, &["RPUSH", "r", "a", "b", "a", "c", "a", "b"]);
    assert_eq!(ok(c, &["LREM", "r", "1", "a"]), int(1));
    assert_eq!(range(c, "r"), ["b", "a", "c", "a", "b"]);
    assert_eq!(ok(c, &["LREM", "r", "-1", "b"]), int(1));
    assert_eq!(range(c, "r"), ["b", "a", "c", "a"]);
    assert_eq!(ok(c, &["LREM", "r", "0", "a"]), int(2));
    assert_eq!(range(c, "r"), ["b", "c"]);
    assert_eq!(ok(c, &["LREM", "nokey", "0", "a"]), int(0));
    // LTRIM to nothing deletes the key.
    assert_eq!(ok(c, &["LTRIM", "r", "5", "1"]), okay());
    assert_eq!(ok(c, &["EXISTS", "r"]), int(0));
}

#[test]
fn pops_positions_and_moves_reply_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    assert_eq!(ok(c, &["LPOP", "l"]), bulk("a"));
    assert_eq!(ok(c, &["RPOP", "l"]), bulk("e"));
    assert_eq!(ok(c, &["LPOP", "l", "2"]), bulks(&[Some("b"), Some("c")]));
    assert_eq!(ok(c, &["LPOP", "l", "0"]), Value::Array(vec![]));
    assert_eq!(ok(c, &["LPOP", "nokey"]), Value::Nil);
    assert_eq!(ok(c, &["LPOP", "nokey", "0"]), Value::Nil);
    assert_eq!(ok(c, &["RPOP", "nokey", "3"]), Value::Nil);
    assert_eq!(
        err(c, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(c, &["LPOP", "l", "1", "2"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(ok(c, &["RPOP", "l", "5"]), bulks(&[Some("d")]));
    assert_eq!(ok(c, &["EXISTS", "l"]), int(0));

    // LPOS.
    ok(c, &["RPUSH", "p", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(ok(c, &["LPOS", "p", "c"]), int(2));
    assert_eq!(ok(c, &["LPOS", "p", "c", "RANK", "2"]), int(6));
    assert_eq!(ok(c, &["LPOS", "p", "c", "RANK", "-1"]), int(7));
    assert_eq!(
        ok(c, &["LPOS", "p", "c", "COUNT", "0"]),
        Value::Array(vec![int(2), int(6), int(7)])
    );
    assert_eq!(
        ok(c, &["LPOS", "p", "c", "COUNT", "2", "RANK", "-1"]),
        Value::Array(vec![int(7), int(6)])
    );
    assert_eq!(
        ok(c, &["LPOS", "p", "c", "COUNT", "0", "MAXLEN", "3"]),
        Value::Array(vec![int(2)])
    );
    assert_eq!(ok(c, &["LPOS", "p", "zz"]), Value::Nil);
    assert_eq!(
        ok(c, &["LPOS", "p", "zz", "COUNT", "1"]),
        Value::Array(vec![])
    );
    assert_eq!(
        err(c, &["LPOS", "p", "c", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(
        err(c, &["LPOS", "p", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(c, &["LPOS", "p", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );

    // LMOVE, RPOPLPUSH, LMPOP.
    ok(c, &["DEL", "p"]);
    ok(c, &["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(ok(c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("1"));
    assert_eq!(ok(c, &["RPOPLPUSH", "src", "dst"]), bulk("3"));
    assert_eq!(range(c, "dst"), ["3", "1"]);
    assert_eq!(ok(c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), bulk("3"));
    assert_eq!(range(c, "dst"), ["1", "3"]);
    assert_eq!(
        ok(c, &["LMOVE", "nokey", "dst", "LEFT", "LEFT"]),
        Value::Nil
    );
    assert_eq!(
        err(c, &["LMOVE", "src", "dst", "UP", "LEFT"]),
        "ERR syntax error"
    );
    ok(c, &["SET", "str", "x"]);
    assert_eq!(err(c, &["LMOVE", "src", "str", "LEFT", "LEFT"]), WRONGTYPE);
    assert_eq!(range(c, "src"), ["2"], "nothing popped before WRONGTYPE");
    assert_eq!(
        ok(c, &["LMPOP", "2", "nokey", "dst", "RIGHT", "COUNT", "5"]),
        Value::Array(vec![bulk("dst"), bulks(&[Some("3"), Some("1")])])
    );
    assert_eq!(ok(c, &["LMPOP", "1", "nokey", "LEFT"]), Value::Nil);
    assert_eq!(
        err(c, &["LMPOP", "0", "a", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(c, &["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(c, &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "2"]),
        "ERR syntax error"
    );
    assert_eq!(err(c, &["LMPOP", "1", "a", "MIDDLE"]), "ERR syntax error");
}

#[test]
fn lists_work_with_the_keyspace_commands() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["RPUSH", "l", "a", "b", "c"]);
    ok(c, &["SET", "s", "x"]);
    assert_eq!(ok(c, &["TYPE", "l"]), Value::SimpleString("list".into()));
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "l"]), bulk("listpack"));
    let big = "x".repeat(1000);
    for _ in 0..10 {
        ok(c, &["RPUSH", "big", &big]);
    }
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "big"]), bulk("quicklist"));
    for cmd in [
        vec!["LPUSH", "s", "a"],
        vec!["LRANGE", "s", "0", "1"],
        vec!["LLEN", "s"],
        vec!["LPOP", "s"],
        vec!["LINDEX", "s", "0"],
        vec!["BLPOP", "s", "0.01"],
    ] {
        assert_eq!(err(c, &cmd), WRONGTYPE, "{cmd:?}");
    }
    assert_eq!(err(c, &["GET", "l"]), WRONGTYPE);
    assert_eq!(err(c, &["SADD", "l", "a"]), WRONGTYPE);
    let (_, listed): (String, Vec<String>) = redis::cmd("SCAN")
        .arg("0")
        .arg("TYPE")
        .arg("list")
        .arg("COUNT")
        .arg("100")
        .query(c)
        .unwrap();
    assert_eq!(
        listed
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        ["big", "l"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(ok(c, &["COPY", "l", "l2"]), int(1));
    assert_eq!(ok(c, &["RENAME", "l2", "l3"]), okay());
    assert_eq!(range(c, "l3"), ["a", "b", "c"]);
    assert_eq!(ok(c, &["RPUSH", "l3", "d"]), int(4));
    assert_eq!(range(c, "l"), ["a", "b", "c"], "the copy is its own list");
    assert_eq!(ok(c, &["EXPIRE", "l3", "100"]), int(1));
    assert_eq!(range(c, "l3"), ["a", "b", "c", "d"]);
    assert!(matches!(ok(c, &["TTL", "l3"]), Value::Int(t) if t > 90));
    assert_eq!(ok(c, &["MOVE", "l3", "1"]), int(1));
    ok(c, &["SELECT", "1"]);
    assert_eq!(range(c, "l3"), ["a", "b", "c", "d"]);
    ok(c, &["SELECT", "0"]);
    // MULTI/EXEC and WATCH.
    let mut tx = redis::pipe();
    tx.atomic()
        .cmd("RPUSH")
        .arg("t")
        .arg("1")
        .cmd("LPUSH")
        .arg("t")
        .arg("0")
        .cmd("LRANGE")
        .arg("t")
        .arg("0")
        .arg("-1");
    let (_, _, all): (i64, i64, Vec<String>) = tx.query(c).unwrap();
    assert_eq!(all, ["0", "1"]);
    assert_eq!(
        ok(
            c,
            &["COMMAND", "GETKEYS", "BLMPOP", "0", "2", "a", "b", "LEFT"]
        ),
        bulks(&[Some("a"), Some("b")])
    );
    assert_eq!(
        ok(c, &["COMMAND", "GETKEYS", "BLPOP", "a", "b", "0"]),
        bulks(&[Some("a"), Some("b")])
    );
    assert_eq!(
        ok(
            c,
            &["COMMAND", "GETKEYS", "LMOVE", "a", "b", "LEFT", "LEFT"]
        ),
        bulks(&[Some("a"), Some("b")])
    );
}

/// Runs `args` on a new connection in a thread; returns its reply and how
/// long it took.
fn in_thread(
    s: &TestServer,
    args: &'static [&'static str],
) -> thread::JoinHandle<(Result<Value, String>, Duration)> {
    let mut con = s.conn();
    thread::spawn(move || {
        let started = Instant::now();
        let r = query(&mut con, args);
        (r, started.elapsed())
    })
}

#[test]
fn blocking_pops_wake_on_push_in_arrival_order_and_time_out() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // Served at once when there is data.
    ok(c, &["RPUSH", "q", "a"]);
    assert_eq!(
        ok(c, &["BLPOP", "nokey", "q", "1"]),
        bulks(&[Some("q"), Some("a")])
    );
    // Timeouts: nil after about the time asked.
    let started = Instant::now();
    assert_eq!(ok(c, &["BLPOP", "q", "0.2"]), Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(ok(c, &["BRPOPLPUSH", "q", "d", "0.05"]), Value::Nil);
    assert_eq!(ok(c, &["BZPOPMIN", "z", "0.05"]), Value::Nil);
    assert_eq!(err(c, &["BLPOP", "q", "-1"]), "ERR timeout is negative");
    assert_eq!(
        err(c, &["BLPOP", "q", "x"]),
        "ERR timeout is not a float or out of range"
    );
    // Three clients blocked on one key are served first come, first served.
    let first = in_thread(&s, &["BRPOP", "q", "10"]);
    s.wait_blocked(1);
    let second = in_thread(&s, &["BRPOP", "q", "10"]);
    s.wait_blocked(2);
    let third = in_thread(&s, &["BLPOP", "other", "q", "10"]);
    s.wait_blocked(3);
    let listed: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
    assert_eq!(listed.matches("flags=b").count(), 3);
    assert_eq!(ok(c, &["RPUSH", "q", "1", "2"]), int(2));
    let (r1, _) = first.join().unwrap();
    let (r2, _) = second.join().unwrap();
    assert_eq!(r1.unwrap(), bulks(&[Some("q"), Some("2")]));
    assert_eq!(r2.unwrap(), bulks(&[Some("q"), Some("1")]));
    ok(c, &["LPUSH", "q", "3"]);
    let (r3, _) = third.join().unwrap();
    assert_eq!(r3.unwrap(), bulks(&[Some("q"), Some("3")]));
    assert_eq!(s.blocked_clients(), 0);

    // Each blocking form, woken by a push or a ZADD.
    let t = in_thread(&s, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "10"]);
    s.wait_blocked(1);
    ok(c, &["RPUSH", "src", "m"]);
    assert_eq!(t.join().unwrap().0.unwrap(), bulk("m"));
    assert_eq!(range(c, "dst"), ["m"]);
    let t = in_thread(&s, &["BLMPOP", "10", "2", "a", "b", "LEFT", "COUNT", "2"]);
    s.wait_blocked(1);
    ok(c, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(
        t.join().unwrap().0.unwrap(),
        Value::Array(vec![bulk("b"), bulks(&[Some("1"), Some("2")])])
    );
    let t = in_thread(&s, &["BZPOPMAX", "z", "10"]);
    s.wait_blocked(1);
    ok(c, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(
        t.join().unwrap().0.unwrap(),
        bulks(&[Some("z"), Some("b"), Some("2")])
    );
    let t = in_thread(&s, &["BZMPOP", "10", "1", "z2", "MIN"]);
    s.wait_blocked(1);
    ok(c, &["ZADD", "z2", "5", "x"]);
    assert_eq!(
        t.join().unwrap().0.unwrap(),
        Value::Array(vec![
            bulk("z2"),
            Value::Array(vec![Value::Array(vec![bulk("x"), bulk("5")])])
        ])
    );
    // A key that becomes another type does not serve its waiter (no
    // WRONGTYPE for it); a list pushed there later does.
    let t = in_thread(&s, &["BLPOP", "typed", "10"]);
    s.wait_blocked(1);
    ok(c, &["SET", "typed", "x"]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(s.blocked_clients(), 1, "still blocked after SET");
    ok(c, &["DEL", "typed"]);
    ok(c, &["RPUSH", "typed", "t"]);
    assert_eq!(
        t.join().unwrap().0.unwrap(),
        bulks(&[Some("typed"), Some("t")])
    );
    // A blocked BRPOPLPUSH whose destination is of another type answers
    // WRONGTYPE once the source has an element, which stays there.
    ok(c, &["SET", "target", "nolist"]);
    let t = in_thread(&s, &["BRPOPLPUSH", "blist", "target", "10"]);
    s.wait_blocked(1);
    ok(c, &["RPUSH", "blist", "a", "b", "c"]);
    let (reply, _) = t.join().unwrap();
    assert!(reply.unwrap_err().starts_with("WRONGTYPE"));
    assert_eq!(range(c, "blist"), ["a", "b", "c"]);
    assert_eq!(s.blocked_clients(), 0);
    // A key that becomes a list by RENAME wakes its waiters too.
    let t = in_thread(&s, &["BLPOP", "renamed", "10"]);
    s.wait_blocked(1);
    ok(c, &["RPUSH", "tmp", "r"]);
    ok(c, &["RENAME", "tmp", "renamed"]);
    assert_eq!(
        t.join().unwrap().0.unwrap(),
        bulks(&[Some("renamed"), Some("r")])
    );
}

#[test]
fn blocking_pops_inside_multi_unblock_and_closed_clients() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // Inside MULTI a blocking pop answers at once.
    let mut tx = redis::pipe();
    tx.atomic().cmd("BLPOP").arg("empty").arg("0");
    let (r,): (Value,) = tx.query(c).unwrap();
    assert_eq!(r, Value::Nil);

    // CLIENT UNBLOCK: as a timeout, or with an error.
    for (how, expect) in [("TIMEOUT", None), ("ERROR", Some("UNBLOCKED"))] {
        let mut blocked = s.conn();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut blocked).unwrap();
        let t = thread::spawn(move || query(&mut blocked, &["BLPOP", "empty", "0"]));
        s.wait_blocked(1);
        assert_eq!(ok(c, &["CLIENT", "UNBLOCK", &id.to_string(), how]), int(1));
        let r = t.join().unwrap();
        match expect {
            None => assert_eq!(r.unwrap(), Value::Nil),
            Some(code) => assert!(r.unwrap_err().starts_with(code)),
        }
        assert_eq!(
            ok(c, &["CLIENT", "UNBLOCK", &id.to_string()]),
            int(0),
            "no longer blocked"
        );
    }
    assert_eq!(
        err(c, &["CLIENT", "UNBLOCK", "1", "MAYBE"]),
        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );

    // A blocked client that disconnects takes nothing: the element pushed
    // after it left stays in the list.
    let mut raw = s.raw();
    raw.send_cmd(&[b"BLPOP", b"gone", b"0"]);
    s.wait_blocked(1);
    drop(raw);
    s.wait_blocked(0);
    ok(c, &["RPUSH", "gone", "kept"]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(range(c, "gone"), ["kept"]);

    // Also when it sent more after blocking, then closed: the input is
    // read (and kept) while it waits, and the close still ends the wait.
    // The element then goes to the next client in line, not to the one
    // that left (it once stayed blocked, and took the element with it).
    for pop in [&b"BLPOP"[..], b"BZPOPMIN"] {
        let key: &[u8] = if pop == b"BLPOP" { b"gone2" } else { b"gonez" };
        let mut leaver = s.raw();
        leaver.send_cmd(&[pop, key, b"0"]);
        s.wait_blocked(1);
        leaver.send_cmd(&[b"PING"]);
        thread::sleep(Duration::from_millis(50));
        drop(leaver);
        s.wait_blocked(0);
        let mut next = s.raw();
        next.send_cmd(&[pop, key, b"0"]);
        s.wait_blocked(1);
        if pop == b"BLPOP" {
            ok(c, &["RPUSH", "gone2", "v1"]);
            assert_eq!(next.read_reply(), "*2\r\n$5\r\ngone2\r\n$2\r\nv1\r\n");
        } else {
            ok(c, &["ZADD", "gonez", "1", "m"]);
            assert_eq!(
                next.read_reply(),
                "*3\r\n$5\r\ngonez\r\n$1\r\nm\r\n$1\r\n1\r\n"
            );
        }
    }

    // Pipelined commands after a blocking pop wait for it.
    let mut raw = s.raw();
    raw.send(&encode_cmd(&[b"BLPOP", b"pq", b"5"]));
    raw.send(&encode_cmd(&[b"PING"]));
    s.wait_blocked(1);
    ok(c, &["RPUSH", "pq", "v"]);
    assert_eq!(raw.read_reply(), "*2\r\n$2\r\npq\r\n$1\r\nv\r\n");
    assert_eq!(raw.read_reply(), "+PONG\r\n");
}

#[test]
fn rotating_a_one_element_list_onto_itself_keeps_the_key_and_its_expiry() {
    // Popping the only element first emptied the list, which deleted the
    // key and its expiry; the push then made a new list without one.
    let s = TestServer::start();
    let c = &mut s.conn();
    for rotate in [
        vec!["RPOPLPUSH", "l", "l"],
        vec!["LMOVE", "l", "l", "RIGHT", "LEFT"],
        vec!["LMOVE", "l", "l", "LEFT", "LEFT"],
        vec!["BRPOPLPUSH", "l", "l", "0.01"],
        vec!["BLMOVE", "l", "l", "LEFT", "RIGHT", "0"],
    ] {
        ok(c, &["DEL", "l"]);
        ok(c, &["RPUSH", "l", "only"]);
        assert_eq!(ok(c, &["EXPIRE", "l", "100"]), int(1));
        let mut watcher = s.conn();
        ok(&mut watcher, &["WATCH", "l"]);
        assert_eq!(ok(c, &rotate), bulk("only"), "{rotate:?}");
        assert_eq!(range(c, "l"), ["only"], "{rotate:?}");
        assert!(
            matches!(ok(c, &["TTL", "l"]), Value::Int(t) if t > 90),
            "{rotate:?} kept the expiry"
        );
        // Redis counts the rotation as a write of the key.
        ok(&mut watcher, &["MULTI"]);
        ok(&mut watcher, &["GET", "x"]);
        assert_eq!(ok(&mut watcher, &["EXEC"]), Value::Nil, "{rotate:?}");
    }
    // Two elements rotate as before, expiry kept.
    ok(c, &["RPUSH", "l", "second"]);
    assert_eq!(ok(c, &["RPOPLPUSH", "l", "l"]), bulk("second"));
    assert_eq!(range(c, "l"), ["second", "only"]);
    assert!(matches!(ok(c, &["TTL", "l"]), Value::Int(t) if t > 90));
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sort_orders_lists_sets_and_sorted_sets_like_redis() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["RPUSH", "l", "3", "1", "2", "10", "-5", "2.5", "1e2"]);
    assert_eq!(
        strings(ok(c, &["SORT", "l"])),
        texts(&["-5", "1", "2", "2.5", "3", "10", "1e2"])
    );
    assert_eq!(
        strings(ok(c, &["SORT", "l", "ALPHA"])),
        texts(&["-5", "1", "10", "1e2", "2", "2.5", "3"])
    );
    assert_eq!(
        strings(ok(c, &["SORT", "l", "ALPHA", "DESC", "LIMIT", "1", "3"])),
        texts(&["2.5", "2", "1e2"])
    );
    assert_eq!(
        strings(ok(c, &["SORT", "l", "LIMIT", "-2", "3"])),
        texts(&["-5", "1", "2"])
    );
    assert_eq!(
        strings(ok(c, &["SORT", "l", "LIMIT", "2", "-1"])),
        texts(&["2", "2.5", "3", "10", "1e2"])
    );
    assert!(strings(ok(c, &["SORT", "l", "LIMIT", "10", "1"])).is_empty());
    // BY without `*`: the list's own order, reversed by DESC, windowed.
    assert_eq!(
        strings(ok(
            c,
            &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]
        )),
        texts(&["2.5", "-5"])
    );
    // An empty element is 0; leading blanks are skipped.
    ok(c, &["RPUSH", "e", "", "3", "-1", " 5"]);
    assert_eq!(
        strings(ok(c, &["SORT", "e"])),
        texts(&["-1", "", "3", " 5"])
    );
    // Equal scores order by the element's bytes.
    ok(c, &["RPUSH", "ties", "1.0", "01", "1"]);
    assert_eq!(
        strings(ok(c, &["SORT", "ties"])),
        texts(&["01", "1", "1.0"])
    );
    for bad in [
        &["RPUSH", "nan", "1", "2x"][..],
        &["RPUSH", "huge", "1e999"],
        &["RPUSH", "n2", "nan"],
    ] {
        ok(c, bad);
        assert_eq!(
            err(c, &["SORT", bad[1]]),
            "ERR One or more scores can't be converted into double",
            "{bad:?}"
        );
    }
    // A sorted set: by member value, or (BY nosort) in score order.
    ok(c, &["ZADD", "z", "3", "a", "1", "b", "2", "c", "0", "d"]);
    assert_eq!(
        strings(ok(c, &["SORT", "z", "BY", "nosort"])),
        texts(&["d", "b", "c", "a"])
    );
    assert_eq!(
        strings(ok(
            c,
            &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]
        )),
        texts(&["a", "c"])
    );
    assert_eq!(
        strings(ok(c, &["SORT", "z", "ALPHA"])),
        texts(&["a", "b", "c", "d"])
    );
    ok(c, &["SADD", "s", "b", "a", "c", "5", "1"]);
    assert_eq!(
        strings(ok(c, &["SORT", "s", "ALPHA"])),
        texts(&["1", "5", "a", "b", "c"])
    );
    assert!(strings(ok(c, &["SORT", "missing"])).is_empty());
    ok(c, &["SET", "str", "x"]);
    ok(c, &["HSET", "h", "f", "v"]);
    for key in ["str", "h"] {
        assert_eq!(
            err(c, &["SORT", key]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
    }
    assert_eq!(err(c, &["SORT", "l", "LIMIT", "1"]), "ERR syntax error");
    assert_eq!(
        err(c, &["SORT", "l", "LIMIT", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(c, &["SORT", "l", "BOGUS"]), "ERR syntax error");
    assert_eq!(err(c, &["SORT_RO", "l", "STORE", "d"]), "ERR syntax error");
    assert_eq!(
        strings(ok(c, &["SORT_RO", "l", "DESC", "LIMIT", "0", "2"])),
        texts(&["1e2", "10"])
    );
}

#[test]
fn sort_by_and_get_patterns_and_store() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["RPUSH", "l", "3", "1", "2", "10"]);
    ok(
        c,
        &["MSET", "w_3", "30", "w_1", "10", "w_2", "20", "w_10", "5"],
    );
    ok(c, &["HSET", "h_3", "f", "c3", "g", "9"]);
    ok(c, &["HSET", "h_1", "f", "c1", "g", "7"]);
    assert_eq!(
        ok(
            c,
            &[
                "SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*", "GET", "nostar", "GET",
                "w_*->f"
            ]
        ),
        bulks(&[
            Some("10"),
            Some("5"),
            None,
            None,
            Some("1"),
            Some("10"),
            None,
            None,
            Some("2"),
            Some("20"),
            None,
            None,
            Some("3"),
            Some("30"),
            None,
            None,
        ])
    );
    // A missing BY key sorts as 0; hash fields by `->`.
    assert_eq!(
        ok(
            c,
            &["SORT", "l", "BY", "h_*->g", "GET", "h_*->f", "GET", "#"]
        ),
        bulks(&[
            None,
            Some("10"),
            None,
            Some("2"),
            Some("c1"),
            Some("1"),
            Some("c3"),
            Some("3")
        ])
    );
    // ALPHA by a pattern: what is missing comes first.
    assert_eq!(
        strings(ok(c, &["SORT", "l", "BY", "h_*->f", "ALPHA", "DESC"])),
        texts(&["3", "1", "2", "10"])
    );
    // STORE: a list of the results ("" for what a GET did not find), the
    // destination's old value and TTL replaced.
    ok(c, &["SET", "dst", "old", "EX", "100"]);
    assert_eq!(
        ok(
            c,
            &[
                "SORT",
                "l",
                "STORE",
                "dst",
                "GET",
                "w_*",
                "GET",
                "missing_*"
            ]
        ),
        int(8)
    );
    assert_eq!(
        ok(c, &["TYPE", "dst"]),
        redis::Value::SimpleString("list".into())
    );
    assert_eq!(ok(c, &["TTL", "dst"]), int(-1));
    assert_eq!(
        strings(ok(c, &["LRANGE", "dst", "0", "-1"])),
        texts(&["10", "", "20", "", "30", "", "5", ""])
    );
    // A set stored with BY nosort is sorted anyway (ALPHA).
    ok(c, &["SADD", "s", "b", "a", "c"]);
    assert_eq!(
        ok(c, &["SORT", "s", "BY", "nosort", "STORE", "dst"]),
        int(3)
    );
    assert_eq!(
        strings(ok(c, &["LRANGE", "dst", "0", "-1"])),
        texts(&["a", "b", "c"])
    );
    // Nothing to store deletes the destination.
    assert_eq!(ok(c, &["SORT", "missing", "STORE", "dst"]), int(0));
    assert_eq!(ok(c, &["EXISTS", "dst"]), int(0));
    // A conversion error stores nothing.
    ok(c, &["RPUSH", "bad", "x"]);
    assert!(err(c, &["SORT", "bad", "STORE", "dst"]).contains("can't be converted"));
    assert_eq!(ok(c, &["EXISTS", "dst"]), int(0));
    assert_eq!(
        strings(ok(
            c,
            &[
                "COMMAND", "GETKEYS", "SORT", "l", "STORE", "d", "LIMIT", "0", "1", "GET", "#",
                "STORE", "e"
            ]
        )),
        texts(&["l", "e"])
    );
}
