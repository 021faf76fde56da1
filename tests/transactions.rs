//! MULTI/EXEC/WATCH edge cases, each checked against redis-server 7.0
//! with two connections: which writes abort a watching transaction and
//! which do not, queued-command errors, and state that RESET clears.

mod common;

use std::time::{Duration, Instant};

use common::*;
use redis::Value::{Nil, Okay};

fn queued() -> redis::Value {
    redis::Value::SimpleString("QUEUED".into())
}

/// WATCH `key` on `c`, let `other` run `action`, then try a transaction;
/// returns whether EXEC ran (true) or was aborted (false).
fn exec_survives(
    c: &mut redis::Connection,
    other: &mut redis::Connection,
    key: &str,
    action: &[&str],
) -> bool {
    assert_eq!(ok(c, &["WATCH", key]), Okay);
    if !action.is_empty() {
        query(other, action).unwrap_or_else(|e| panic!("{action:?}: {e}"));
    }
    assert_eq!(ok(c, &["MULTI"]), Okay);
    assert_eq!(ok(c, &["PING"]), queued());
    match ok(c, &["EXEC"]) {
        Nil => false,
        redis::Value::Array(v) if v.len() == 1 => true,
        other => panic!("unexpected EXEC reply {other:?}"),
    }
}

#[test]
fn writes_that_abort_a_watching_transaction() {
    let s = TestServer::start();
    let (c, other) = (&mut s.conn(), &mut s.conn());
    ok(c, &["SET", "k", "v"]);
    assert!(
        !exec_survives(c, other, "k", &["SET", "k", "v"]),
        "same value"
    );
    assert!(!exec_survives(c, other, "k", &["EXPIRE", "k", "100"]));
    assert!(!exec_survives(c, other, "k", &["PERSIST", "k"]));
    assert!(!exec_survives(c, other, "k", &["APPEND", "k", "x"]));
    assert!(!exec_survives(c, other, "k", &["SETBIT", "k", "1", "0"]));
    assert!(!exec_survives(c, other, "new", &["SET", "new", "1"]));
    assert!(!exec_survives(c, other, "cp", &["COPY", "k", "cp"]));
    assert!(!exec_survives(c, other, "k", &["RENAME", "k", "k2"]));
    assert!(!exec_survives(c, other, "k2", &["MOVE", "k2", "5"]));
    ok(c, &["SET", "k", "v"]);
    assert!(!exec_survives(c, other, "k", &["BITOP", "NOT", "k", "k"]));
    assert!(!exec_survives(c, other, "k", &["FLUSHDB"]));
    ok(c, &["SET", "k", "v"]);
    assert!(!exec_survives(c, other, "k", &["FLUSHALL"]));
}

#[test]
fn reads_and_no_op_writes_do_not_abort() {
    let s = TestServer::start();
    let (c, other) = (&mut s.conn(), &mut s.conn());
    ok(c, &["SET", "k", "v"]);
    assert!(exec_survives(c, other, "k", &[]));
    assert!(exec_survives(c, other, "k", &["GET", "k"]));
    assert!(exec_survives(c, other, "k", &["BITCOUNT", "k"]));
    assert!(exec_survives(c, other, "k", &["SET", "k", "w", "NX"]));
    assert!(exec_survives(c, other, "gone", &["DEL", "gone"]));
    // SETBIT writing the bit already there, inside the value: no change.
    ok(c, &["SET", "b", "a"]);
    assert!(exec_survives(c, other, "b", &["SETBIT", "b", "1", "1"]));
    // An empty BITOP result on a missing destination deletes nothing.
    assert!(exec_survives(c, other, "d", &["BITOP", "OR", "d", "none"]));
    // SMOVE of a member the destination already holds leaves it alone.
    ok(c, &["SADD", "src", "a", "b"]);
    ok(c, &["SADD", "dst", "a"]);
    assert!(exec_survives(
        c,
        other,
        "dst",
        &["SMOVE", "src", "dst", "a"]
    ));
    assert!(!exec_survives(
        c,
        other,
        "dst",
        &["SMOVE", "src", "dst", "b"]
    ));
    // The same name in another database is another key.
    ok(other, &["SELECT", "3"]);
    assert!(exec_survives(c, other, "k", &["SET", "k", "other-db"]));
    // A flush only disturbs watchers of keys it removes.
    assert!(exec_survives(c, other, "k", &["FLUSHDB"]));
    assert!(exec_survives(c, other, "missing", &["FLUSHALL"]));
}

/// Collection, counter and HyperLogLog writes that change nothing, or
/// fail, leave a watching transaction alone on a single node, as Redis's
/// `signalModifiedKey` does; those that change the key abort it.
#[test]
fn collection_writes_abort_a_watcher_only_when_they_change_the_key() {
    let s = TestServer::start();
    let (c, other) = (&mut s.conn(), &mut s.conn());
    ok(c, &["SADD", "s", "x"]);
    ok(c, &["HSET", "h", "f", "v"]);
    ok(c, &["ZADD", "z", "1", "a"]);
    ok(c, &["RPUSH", "l", "a"]);
    ok(c, &["SET", "word", "notnum"]);
    ok(c, &["SET", "n", "1"]);
    ok(c, &["PFADD", "p", "a"]);
    let unchanged: &[(&str, &[&str])] = &[
        ("s", &["SREM", "s", "nope"]),
        ("h", &["HDEL", "h", "nope"]),
        ("h", &["HSETNX", "h", "f", "w"]),
        ("z", &["ZREM", "z", "nope"]),
        ("z", &["ZADD", "z", "XX", "1", "b"]),
        ("z", &["ZREMRANGEBYSCORE", "z", "5", "6"]),
        ("l", &["LREM", "l", "0", "nope"]),
        ("p", &["PFADD", "p", "a"]),
        ("s", &["SADD", "s", "x"]),
        ("missing", &["LPUSHX", "missing", "a"]),
        ("missing", &["SPOP", "missing"]),
    ];
    for (key, write) in unchanged {
        assert!(exec_survives(c, other, key, write), "{write:?}");
    }
    // Refused writes change nothing either.
    for (key, write) in [
        ("h", ["LPUSH", "h", "x"]),
        ("word", ["INCRBYFLOAT", "word", "1"]),
    ] {
        assert_eq!(ok(c, &["WATCH", key]), Okay);
        assert!(query(other, &write).is_err(), "{write:?}");
        assert_eq!(ok(c, &["MULTI"]), Okay);
        assert_eq!(ok(c, &["PING"]), queued());
        assert!(
            matches!(ok(c, &["EXEC"]), redis::Value::Array(_)),
            "{write:?}"
        );
    }
    let changed: &[(&str, &[&str])] = &[
        ("s", &["SADD", "s", "y"]),
        ("h", &["HSET", "h", "f", "v"]),
        ("z", &["ZADD", "z", "2", "a"]),
        ("l", &["LPUSH", "l", "b"]),
        ("n", &["INCRBY", "n", "0"]),
        ("p", &["PFADD", "p", "b"]),
    ];
    for (key, write) in changed {
        assert!(!exec_survives(c, other, key, write), "{write:?}");
    }
}

#[test]
fn watched_key_expiring_aborts_exec() {
    let s = TestServer::start();
    let (c, other) = (&mut s.conn(), &mut s.conn());
    ok(c, &["SET", "ttl", "v", "PX", "100"]);
    ok(c, &["WATCH", "ttl"]);
    std::thread::sleep(Duration::from_millis(200));
    // Another client reading it makes no difference: it expired.
    assert_eq!(ok(other, &["GET", "ttl"]), Nil);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "x", "1"]);
    assert_eq!(ok(c, &["EXEC"]), Nil);
    assert_eq!(ok(c, &["EXISTS", "x"]), int(0));
    // A key already gone when watched is just a missing key.
    ok(c, &["SET", "old", "v", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(80));
    assert!(exec_survives(c, other, "old", &[]));
}

#[test]
fn queued_errors_abort_and_runtime_errors_do_not() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let mut raw = s.raw();
    // Unknown command, wrong arity and bad subcommand all abort EXEC.
    for bad in [
        &["NOSUCH", "x"][..],
        &["SET", "k"],
        &["OBJECT", "NOPE", "k"],
    ] {
        assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
        assert!(raw.cmd(bad).starts_with("-ERR "), "{bad:?}");
        assert_eq!(raw.cmd(&["SET", "k", "1"]), "+QUEUED\r\n");
        assert_eq!(
            raw.cmd(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(ok(c, &["EXISTS", "k"]), int(0));
    }
    // Errors found while running are replies in place.
    raw.cmd(&["SET", "s", "text"]);
    raw.cmd(&["MULTI"]);
    raw.cmd(&["SETBIT", "s", "-1", "1"]);
    raw.cmd(&["INCR", "s"]);
    raw.cmd(&["SET", "after", "1"]);
    raw.cmd(&["SELECT", "99"]);
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "*4\r\n-ERR bit offset is not an integer or out of range\r\n\
         -ERR value is not an integer or out of range\r\n+OK\r\n\
         -ERR DB index is out of range\r\n"
    );
    // SELECT inside MULTI switches the database for what follows.
    raw.cmd(&["MULTI"]);
    raw.cmd(&["SELECT", "2"]);
    raw.cmd(&["SET", "in2", "1"]);
    assert_eq!(raw.cmd(&["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "in2"]), "$1\r\n1\r\n");
    assert_eq!(ok(c, &["EXISTS", "in2"]), int(0));
    // WATCH and MULTI inside MULTI are refused but leave the transaction
    // intact, as in Redis.
    raw.cmd(&["MULTI"]);
    assert_eq!(
        raw.cmd(&["WATCH", "k"]),
        "-ERR WATCH inside MULTI is not allowed\r\n"
    );
    assert_eq!(
        raw.cmd(&["MULTI"]),
        "-ERR MULTI calls can not be nested\r\n"
    );
    assert_eq!(raw.cmd(&["PING"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*1\r\n+PONG\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    // A no-multi command is rejected and aborts the transaction.
    raw.cmd(&["MULTI"]);
    assert_eq!(
        raw.cmd(&["SAVE"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(raw.cmd(&["PING"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
}

#[test]
fn reset_and_discard_forget_the_transaction_and_watches() {
    let s = TestServer::start();
    let (c, other) = (&mut s.conn(), &mut s.conn());
    ok(c, &["WATCH", "w"]);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "w", "1"]);
    assert_eq!(ok(c, &["DISCARD"]), Okay);
    ok(other, &["SET", "w", "changed"]);
    assert!(
        exec_survives(c, other, "unrelated", &[]),
        "DISCARD unwatched"
    );
    ok(c, &["WATCH", "w"]);
    ok(c, &["MULTI"]);
    assert_eq!(
        ok(c, &["RESET"]),
        redis::Value::SimpleString("RESET".into())
    );
    assert_eq!(err(c, &["EXEC"]), "ERR EXEC without MULTI");
    ok(other, &["SET", "w", "again"]);
    assert!(exec_survives(c, other, "unrelated", &[]), "RESET unwatched");
}

/// Issue 15, finding 4: an EXEC whose writes wait on a stopped replica
/// held the node-wide transaction gate through every replica timeout, so
/// PING from an unrelated client waited seconds.
#[test]
fn an_exec_waiting_on_a_stopped_replica_does_not_stop_other_clients() {
    let c = common::cluster::Cluster::start_with(2, &["--replica-timeout-ms", "1500"]);
    // Connected first: a new connection's handshake is a command too.
    let mut con = c.conn(0);
    c.nodes[1].signal(libc::SIGSTOP);
    let client = c.nodes[0].client();
    let exec = std::thread::spawn(move || {
        let mut con = client.get_connection().expect("connect");
        let _: () = redis::cmd("MULTI").query(&mut con).expect("MULTI");
        for i in 0..5 {
            let _: redis::Value = redis::cmd("SET")
                .arg(format!("tx:{i}"))
                .arg("v")
                .query(&mut con)
                .expect("queued");
        }
        // Each SET waits for the stopped replica, then fails NOQUORUM or
        // succeeds on a hint: either way the EXEC itself takes seconds.
        let _ = redis::cmd("EXEC").query::<redis::Value>(&mut con);
    });
    // Let the EXEC start waiting.
    std::thread::sleep(Duration::from_millis(300));
    let mut waits = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) && waits.len() < 60 {
        let t = Instant::now();
        let _: String = redis::cmd("PING").query(&mut con).expect("PING");
        waits.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(40));
    }
    c.nodes[1].signal(libc::SIGCONT);
    exec.join().expect("EXEC thread");
    waits.sort();
    let p99 = waits[(waits.len() * 99 / 100).min(waits.len() - 1)];
    assert!(
        waits.len() >= 20,
        "only {} PINGs answered in 3 s",
        waits.len()
    );
    assert!(
        p99 < Duration::from_millis(50),
        "PING p99 {p99:?} while an EXEC waited on a stopped replica"
    );
}

/// A huge EXEC keeps Redis's isolation (no other client's read or write
/// runs in its middle) but not by stopping the node: commands that touch no
/// data answer while it runs. Before, EXEC of 1,000,000 SETs held the
/// node-wide gate for seconds and PING waited for all of it.
#[test]
fn a_huge_exec_is_isolated_but_does_not_stop_ping() {
    const N: usize = 60_000;
    let server = TestServer::start();
    let mut tx = server.raw();
    let mut pipeline = encode_cmd(&[b"MULTI"]);
    for i in 0..N {
        pipeline.extend(encode_cmd(&[b"SET", format!("tx:{i}").as_bytes(), b"v"]));
    }
    tx.send(&pipeline);
    assert_eq!(tx.read_reply(), "+OK\r\n");
    for _ in 0..N {
        assert_eq!(tx.read_reply(), "+QUEUED\r\n");
    }
    let mut pinger = server.raw();
    let mut reader = server.raw();
    tx.send(&encode_cmd(&[b"EXEC"]));
    // The reader's MGET (one command) is sent while the EXEC runs: it must
    // see all of it or none of it, never the first key set and the last not.
    reader.send(&encode_cmd(&[
        b"MGET",
        b"tx:0",
        format!("tx:{}", N - 1).as_bytes(),
    ]));
    let started = Instant::now();
    // Let the EXEC get going (it runs for seconds in a debug build).
    std::thread::sleep(Duration::from_millis(300));
    let ping_sent = Instant::now();
    assert_eq!(pinger.cmd(&["PING"]), "+PONG\r\n");
    let ping_took = ping_sent.elapsed();
    let exec_reply = tx.read_reply();
    let exec_took = started.elapsed();
    assert!(
        exec_reply.starts_with(&format!("*{N}\r\n")),
        "{}",
        &exec_reply[..40]
    );
    let seen = reader.read_reply();
    assert!(
        seen == "*2\r\n$-1\r\n$-1\r\n" || seen == "*2\r\n$1\r\nv\r\n$1\r\nv\r\n",
        "a reader saw half a transaction: {seen:?}"
    );
    assert!(
        ping_took < exec_took / 2,
        "PING took {ping_took:?}, as long as the EXEC ({exec_took:?})"
    );
}

#[test]
fn a_refused_exec_discards_the_transaction_as_redis_does() {
    // Redis answers an EXEC it refuses (wrong arity, subscribed context)
    // with EXECABORT and discards the transaction; ringkv once answered
    // the bare error and stayed in MULTI, queueing what followed.
    let s = TestServer::start();
    let mut raw = s.raw();
    let abort = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
    assert_eq!(raw.cmd(&["EXEC", "foo"]), abort);
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC", "foo"]), abort);
    assert_eq!(raw.cmd(&["SET", "b", "2"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "a"]), "$-1\r\n");
    assert_eq!(raw.cmd(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    // The watches go too: a later transaction is not aborted by them.
    assert_eq!(raw.cmd(&["WATCH", "w"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["EXEC", "x", "y"]), abort);
    let c = &mut s.conn();
    ok(c, &["SET", "w", "changed"]);
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "b"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*1\r\n$1\r\n2\r\n");
    // In a subscribed context.
    let mut sub = s.raw();
    sub.send_cmd(&[b"SUBSCRIBE", b"ch"]);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    );
    assert_eq!(
        sub.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
}
