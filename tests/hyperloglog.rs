//! HyperLogLog commands against real servers: Redis 7.0's replies, errors
//! and bytes on one node (and, where redis-server is installed, values
//! moved between the two), and PFADDs on both sides of a partition that
//! all count once it heals.
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, cl};
use common::netfault::Network;
use common::*;
use redis::Value::{Nil, Okay};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn get_bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(c).expect("GET")
}

/// What PFCOUNT answers for exactly these elements, computed here with the
/// same representation: the server must agree to the unit.
fn expected_count(elements: &[String]) -> u64 {
    let mut v = ringkv_hll::new_sparse();
    for e in elements {
        ringkv_hll::add(&mut v, e.as_bytes(), ringkv_hll::DEFAULT_SPARSE_MAX_BYTES).unwrap();
    }
    ringkv_hll::estimate(&ringkv_hll::registers(&v).unwrap())
}

#[test]
fn replies_errors_and_bytes_match_redis() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // Fixtures: what redis-server 7.0.15 answers and stores.
    assert_eq!(ok(c, &["PFADD", "e"]), int(1));
    assert_eq!(
        hex(&get_bytes(c, "e")),
        "48594c4c0100000000000000000000807fff"
    );
    assert_eq!(ok(c, &["PFADD", "e"]), int(0));
    assert_eq!(ok(c, &["PFADD", "k", "a", "b", "c"]), int(1));
    assert_eq!(
        hex(&get_bytes(c, "k")),
        "48594c4c01000000000000000000008060f38050b1844bfb80425a"
    );
    assert_eq!(ok(c, &["PFCOUNT", "k"]), int(3));
    assert_eq!(ok(c, &["PFADD", "k", "a"]), int(0));
    assert_eq!(ok(c, &["PFADD", "k", "d"]), int(1));
    assert_eq!(ok(c, &["PFCOUNT", "k"]), int(4));
    assert_eq!(ok(c, &["PFCOUNT", "missing"]), int(0));
    assert_eq!(ok(c, &["PFCOUNT", "k", "e", "missing"]), int(4));
    assert_eq!(
        ok(c, &["TYPE", "k"]),
        redis::Value::SimpleString("string".into())
    );
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "k"]), bulk("raw"));

    // Growing past the sparse limit turns the value dense (12304 bytes).
    let many: Vec<String> = (0..5000).map(|j| format!("el:{j}")).collect();
    for chunk in many.chunks(500) {
        let _: i64 = redis::cmd("PFADD").arg("big").arg(chunk).query(c).unwrap();
    }
    assert_eq!(get_bytes(c, "big").len(), 12304);
    assert_eq!(ok(c, &["PFCOUNT", "big"]), int(4959));

    // PFMERGE: dest included in the union, created when missing.
    assert_eq!(ok(c, &["PFMERGE", "u", "k", "big"]), Okay);
    let u: i64 = redis::cmd("PFCOUNT").arg("u").query(c).unwrap();
    let both: i64 = redis::cmd("PFCOUNT").arg("k").arg("big").query(c).unwrap();
    assert_eq!(u, both);
    assert_eq!(
        get_bytes(c, "u").len(),
        12304,
        "a dense source makes a dense result"
    );
    assert_eq!(ok(c, &["PFMERGE", "fresh"]), Okay);
    assert_eq!(
        hex(&get_bytes(c, "fresh")),
        "48594c4c0100000000000000000000807fff"
    );

    // Errors, in Redis's words.
    assert_eq!(ok(c, &["SET", "str", "hello"]), Okay);
    let wrong = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    assert_eq!(err(c, &["PFADD", "str", "a"]), wrong);
    assert_eq!(err(c, &["PFCOUNT", "str"]), wrong);
    assert_eq!(err(c, &["PFCOUNT", "k", "str"]), wrong);
    assert_eq!(err(c, &["PFMERGE", "k", "str"]), wrong);
    assert_eq!(
        ok(c, &["PFCOUNT", "k"]),
        int(4),
        "a refused PFMERGE wrote nothing"
    );
    assert_eq!(ok(c, &["INCR", "n"]), int(1));
    assert_eq!(err(c, &["PFADD", "n", "a"]), wrong);
    // A damaged sparse body: PFCOUNT answers the fresh cached count, as
    // Redis does; PFADD finds the damage.
    let bad = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01";
    let _: () = redis::cmd("SET").arg("bad").arg(&bad[..]).query(c).unwrap();
    assert_eq!(ok(c, &["PFCOUNT", "bad"]), int(0));
    assert_eq!(
        err(c, &["PFADD", "bad", "a"]),
        "INVALIDOBJ Corrupted HLL object detected"
    );
    for (cmd, name) in [
        ("PFADD", "pfadd"),
        ("PFCOUNT", "pfcount"),
        ("PFMERGE", "pfmerge"),
    ] {
        assert_eq!(
            err(c, &[cmd]),
            format!("ERR wrong number of arguments for '{name}' command")
        );
    }
    // Keyspace commands treat it as the string it is.
    assert_eq!(ok(c, &["EXPIRE", "k", "100"]), int(1));
    assert_eq!(ok(c, &["PFADD", "k", "zz"]), int(1));
    let ttl: i64 = redis::cmd("TTL").arg("k").query(c).unwrap();
    assert!(ttl > 0 && ttl <= 100, "PFADD keeps the TTL: {ttl}");
    assert_eq!(ok(c, &["DEL", "k"]), int(1));
    assert_eq!(ok(c, &["PFCOUNT", "k"]), int(0));
    assert_eq!(ok(c, &["GET", "k"]), Nil);
    // Inside a transaction.
    let (a, n): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("PFADD")
        .arg("t")
        .arg("x")
        .cmd("PFCOUNT")
        .arg("t")
        .query(c)
        .unwrap();
    assert_eq!((a, n), (1, 1));
}

/// A redis-server of the test's own on a free port, killed on drop; `None`
/// (the test prints SKIPPED) where it is not installed.
struct RealRedis {
    child: std::process::Child,
    port: u16,
}

impl RealRedis {
    fn start() -> Option<RealRedis> {
        if !have_tool("redis-server") {
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        // A port picked free may be taken before redis-server binds it
        // (tests run in parallel): then it exits, and another is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut child = std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start redis-server");
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if client.get_connection().is_ok() {
                    return Some(RealRedis { child, port });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn random_pf_commands_reply_as_redis_does() {
    let Some(real) = RealRedis::start() else {
        return;
    };
    let s = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/compare-with-redis.py");
    let (out, errs, ok) = run_tool(
        "python3",
        &[
            script,
            &real.port.to_string(),
            &s.port.to_string(),
            "--random-hll",
            "3000",
        ],
        None,
        Duration::from_secs(240),
    );
    assert!(ok, "differing replies:\n{out}\n{errs}");
    assert!(out.contains("0 differing replies"), "{out}");
}

#[test]
fn values_move_between_redis_and_ringkv() {
    let Some(real) = RealRedis::start() else {
        return;
    };
    let r = &mut real.conn();
    let s = TestServer::start();
    let c = &mut s.conn();
    for (n, key) in [(3usize, "small"), (300, "mid"), (20000, "dense")] {
        let els: Vec<String> = (0..n).map(|j| format!("{key}:{j}")).collect();
        for chunk in els.chunks(1000) {
            let _: i64 = redis::cmd("PFADD").arg(key).arg(chunk).query(r).unwrap();
            let _: i64 = redis::cmd("PFADD").arg(key).arg(chunk).query(c).unwrap();
        }
        // The same bytes on both sides, and each reads the other's value.
        let from_redis = get_bytes(r, key);
        assert_eq!(hex(&get_bytes(c, key)), hex(&from_redis), "{key}");
        let want: i64 = redis::cmd("PFCOUNT").arg(key).query(r).unwrap();
        let _: () = redis::cmd("SET")
            .arg("copied")
            .arg(&from_redis)
            .query(c)
            .unwrap();
        assert_eq!(ok(c, &["PFCOUNT", "copied"]), int(want), "{key}");
        assert_eq!(
            ok(c, &["PFADD", "copied", "one-more"]),
            ok(r, &["PFADD", key, "one-more"])
        );
        let ours = get_bytes(c, "copied");
        let _: () = redis::cmd("SET").arg("back").arg(&ours).query(r).unwrap();
        let theirs: i64 = redis::cmd("PFCOUNT").arg(key).query(r).unwrap();
        assert_eq!(ok(r, &["PFCOUNT", "back"]), int(theirs), "{key}");
    }
}

#[test]
fn pfadds_on_both_sides_of_a_partition_all_count() {
    let mut net = Network::new();
    let c = Cluster::start_for_partition(&mut net);
    let mut con0 = c.conn(0);
    let before: Vec<String> = (0..200).map(|j| format!("before:{j}")).collect();
    let _: redis::Value = redis::cmd("CONSISTENCY")
        .arg("ALL")
        .query(&mut con0)
        .unwrap();
    let _: i64 = redis::cmd("PFADD")
        .arg("visitors")
        .arg(&before)
        .query(&mut con0)
        .unwrap();

    c.isolate_last(&mut net);
    let (mut left, mut right) = (c.conn(1), c.conn(2));
    let left_els: Vec<String> = (0..1000).map(|j| format!("left:{j}")).collect();
    let right_els: Vec<String> = (0..1000).map(|j| format!("right:{j}")).collect();
    // Interleaved, 50 at a time, through two coordinators that cannot
    // reach each other: every PFADD is acknowledged at ONE.
    for (l, r) in left_els.chunks(50).zip(right_els.chunks(50)) {
        let mut args = vec!["PFADD", "visitors"];
        args.extend(l.iter().map(String::as_str));
        cl(&mut left, "ONE", &args).unwrap();
        let mut args = vec!["PFADD", "visitors"];
        args.extend(r.iter().map(String::as_str));
        cl(&mut right, "ONE", &args).unwrap();
    }
    c.heal_and_repair(&mut net);
    let mut all = before.clone();
    all.extend(left_els);
    all.extend(right_els);
    let want = expected_count(&all) as i64;
    assert!((2100..2300).contains(&want), "estimate {want}");
    for i in 0..3 {
        let mut con = c.conn(i);
        for level in ["ONE", "ALL"] {
            let got = cl(&mut con, level, &["PFCOUNT", "visitors"]).unwrap();
            assert_eq!(got, int(want), "node {i} at {level}");
        }
    }
}
