//! Durability of the whole server: keys and TTLs survive restarts, graceful
//! shutdown on SIGTERM and SHUTDOWN loses no acknowledged write, and kill -9
//! under `appendfsync always` loses nothing acknowledged.

mod common;

use std::time::Duration;

use common::*;
use redis::Value::Nil;

#[test]
fn keys_and_ttls_survive_a_graceful_restart() {
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        ok(c, &["SET", "plain", "v1"]);
        ok(c, &["SET", "ttl", "v2", "EX", "1000"]);
        ok(c, &["SET", "short", "v3", "PX", "300"]);
        ok(c, &["SET", "gone", "x"]);
        ok(c, &["DEL", "gone"]);
        ok(c, &["SELECT", "3"]);
        ok(c, &["SET", "db3", "v4"]);
    }
    assert!(s.terminate(), "SIGTERM exits cleanly");
    std::thread::sleep(Duration::from_millis(400));
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["GET", "plain"]), bulk("v1"));
    assert_eq!(ok(c, &["GET", "ttl"]), bulk("v2"));
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query(c).unwrap();
    assert!((990..=1000).contains(&ttl), "TTL survives restart: {ttl}");
    assert_eq!(ok(c, &["GET", "short"]), Nil, "expired while down");
    assert_eq!(ok(c, &["GET", "gone"]), Nil, "deletes survive restart");
    ok(c, &["SELECT", "3"]);
    assert_eq!(ok(c, &["GET", "db3"]), bulk("v4"));
}

#[test]
fn acknowledged_writes_survive_kill_9_with_fsync_always() {
    let mut s = TestServer::start_with(&["--appendfsync", "always"]);
    {
        let c = &mut s.conn();
        for i in 0..300 {
            ok(c, &["SET", &format!("k{i}"), &format!("v{i}")]);
        }
        ok(c, &["INCRBY", "counter", "300"]);
    }
    s.kill();
    s.restart();
    let c = &mut s.conn();
    for i in 0..300 {
        assert_eq!(ok(c, &["GET", &format!("k{i}")]), bulk(&format!("v{i}")));
    }
    assert_eq!(ok(c, &["GET", "counter"]), bulk("300"));
}

#[test]
fn acknowledged_writes_survive_kill_9_with_fsync_everysec() {
    // everysec writes the WAL to the OS before replying: a process crash
    // (not a power loss) loses nothing acknowledged.
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        let mut pipe = redis::pipe();
        for i in 0..2000 {
            pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
        }
        pipe.query::<()>(c).unwrap();
    }
    s.kill();
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["DBSIZE"]), int(2000));
    assert_eq!(ok(c, &["GET", "p1999"]), bulk("1999"));
}

#[test]
fn shutdown_command_exits_and_keeps_data() {
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        ok(c, &["SET", "before", "shutdown"]);
        let r = redis::cmd("SHUTDOWN").query::<redis::Value>(c);
        assert!(
            r.is_err(),
            "SHUTDOWN closes the connection without a reply: {r:?}"
        );
    }
    assert!(
        s.wait_exit(Duration::from_secs(20)),
        "the server exits 0 after SHUTDOWN"
    );
    s.restart();
    assert_eq!(ok(&mut s.conn(), &["GET", "before"]), bulk("shutdown"));
}

#[test]
fn flushall_is_durable() {
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        ok(c, &["MSET", "a", "1", "b", "2"]);
        ok(c, &["FLUSHALL"]);
        ok(c, &["SET", "c", "3"]);
    }
    s.kill();
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["DBSIZE"]), int(1));
    assert_eq!(ok(c, &["GET", "c"]), bulk("3"));
}

/// A data directory written by the release before hashes, sets and sorted
/// sets (record payload tags 0 to 3 only; `tests/fixtures/
/// data-before-collections/README.md` says how it was made) opens, reads
/// as it was written, and takes the new types beside the old values.
#[test]
fn a_data_directory_from_the_release_before_collections_opens_and_reads() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data-before-collections");
    let (mut s, ()) = TestServer::start_prepared(&[], |data| {
        std::fs::create_dir_all(data).unwrap();
        for f in ["000003.wal", "000004.sst", "CURRENT", "MANIFEST-000002"] {
            std::fs::copy(fixture.join(f), data.join(f)).unwrap();
        }
        Some(((), Vec::new()))
    })
    .unwrap();
    let check = |c: &mut redis::Connection| {
        assert_eq!(ok(c, &["GET", "s"]), bulk("hello"));
        assert_eq!(ok(c, &["GET", "f"]), bulk("1.5"));
        assert_eq!(ok(c, &["PFCOUNT", "h"]), int(3));
        assert_eq!(ok(c, &["EXISTS", "gone"]), int(0));
        assert_eq!(ok(c, &["STRLEN", "big"]), int(3000));
        assert_eq!(ok(c, &["GET", "afterflush"]), bulk("yes"));
        assert_eq!(
            ok(c, &["TYPE", "s"]),
            redis::Value::SimpleString("string".into())
        );
    };
    {
        let c = &mut s.conn();
        check(c);
        assert_eq!(ok(c, &["INCR", "n"]), int(42));
        assert_eq!(ok(c, &["SELECT", "3"]), okay());
        assert_eq!(ok(c, &["GET", "other"]), bulk("3"));
        assert_eq!(ok(c, &["SELECT", "0"]), okay());
        assert_eq!(ok(c, &["HSET", "hash", "f", "v"]), int(1));
        assert_eq!(ok(c, &["ZADD", "z", "1", "m"]), int(1));
    }
    s.restart();
    let c = &mut s.conn();
    check(c);
    assert_eq!(ok(c, &["GET", "n"]), bulk("42"));
    assert_eq!(ok(c, &["HGET", "hash", "f"]), bulk("v"));
    assert_eq!(ok(c, &["ZSCORE", "z", "m"]), bulk("1"));
}
