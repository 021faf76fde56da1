//! Hashes, sets and sorted sets on a 3-node cluster of real processes: the documented
//! concurrent outcomes through two coordinators on both sides of a
//! partition, a node that was down getting every write by hints, and a
//! wiped node rebuilt by CLUSTER REPAIR; afterwards every node agrees at
//! ONE and at ALL.
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::{Cluster, cl, info_field, repair, wait_for};
use common::netfault::Network;
use common::*;

fn hgetall(con: &mut redis::Connection, level: &str, key: &str) -> BTreeMap<String, String> {
    let v: Vec<String> = redis::cmd("CL")
        .arg(level)
        .arg("HGETALL")
        .arg(key)
        .query(con)
        .unwrap();
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

fn smembers(con: &mut redis::Connection, level: &str, key: &str) -> Vec<String> {
    sorted_strings(cl(con, level, &["SMEMBERS", key]).unwrap())
}

#[test]
fn concurrent_collection_writes_on_both_sides_of_a_partition_merge_as_documented() {
    let mut net = Network::new();
    let c = Cluster::start_for_partition(&mut net);
    let mut con0 = c.conn(0);
    for args in [
        &["HSET", "h", "base", "0"][..],
        &["SADD", "s", "x", "y"],
        &["HSET", "d", "old", "1"],
        &["HSET", "counters", "n", "0"],
        &["HSET", "e", "a", "1", "b", "2"],
    ] {
        cl(&mut con0, "ALL", args).unwrap();
    }

    c.isolate_last(&mut net);
    let (mut left, mut right) = (c.conn(1), c.conn(2));
    // Different fields of one hash, interleaved.
    for i in 0..100 {
        let (l, r) = (format!("left:{i}"), format!("right:{i}"));
        cl(&mut left, "ONE", &["HSET", "h", &l, "L"]).unwrap();
        cl(&mut right, "ONE", &["HSET", "h", &r, "R"]).unwrap();
    }
    // SREM x on one side, SADD x (already present) on the other: add-wins.
    assert_eq!(cl(&mut left, "ONE", &["SREM", "s", "x"]).unwrap(), int(1));
    assert_eq!(cl(&mut right, "ONE", &["SADD", "s", "x"]).unwrap(), int(0));
    // SREM y on one side only: removed.
    assert_eq!(cl(&mut left, "ONE", &["SREM", "s", "y"]).unwrap(), int(1));
    // DEL on one side, a new field on the other: the new field only.
    assert_eq!(cl(&mut left, "ONE", &["DEL", "d"]).unwrap(), int(1));
    cl(&mut right, "ONE", &["HSET", "d", "new", "2"]).unwrap();
    // HDEL on one side, a later EXPIRE on the other: the EXPIRE keeps the
    // members it saw with their tags, so it re-adds nothing.
    assert_eq!(cl(&mut left, "ONE", &["HDEL", "e", "a"]).unwrap(), int(1));
    // Later by the coordinators' clocks (a tie in one millisecond goes to
    // the greater clock, either one).
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(
        cl(&mut right, "ONE", &["EXPIRE", "e", "1000"]).unwrap(),
        int(1)
    );
    // 2 × 1,000 increments through two coordinators, of a hash field and
    // of a sorted-set score; different members of one sorted set.
    for i in 0..1000 {
        cl(&mut left, "ONE", &["HINCRBY", "counters", "n", "1"]).unwrap();
        cl(&mut right, "ONE", &["HINCRBY", "counters", "n", "1"]).unwrap();
        cl(&mut left, "ONE", &["ZINCRBY", "board", "1", "p"]).unwrap();
        cl(&mut right, "ONE", &["ZINCRBY", "board", "1", "p"]).unwrap();
        if i < 50 {
            let (l, r) = (format!("l{i}"), format!("r{i}"));
            cl(&mut left, "ONE", &["ZADD", "board", "5", &l]).unwrap();
            cl(&mut right, "ONE", &["ZADD", "board", "7", &r]).unwrap();
        }
    }

    c.heal_and_repair(&mut net);
    for i in 0..3 {
        let mut con = c.conn(i);
        for level in ["ONE", "ALL"] {
            let h = hgetall(&mut con, level, "h");
            assert_eq!(h.len(), 201, "node {i} at {level}");
            assert_eq!(h.get("left:99").map(String::as_str), Some("L"));
            assert_eq!(h.get("right:0").map(String::as_str), Some("R"));
            assert_eq!(smembers(&mut con, level, "s"), ["x"], "node {i} at {level}");
            let d = hgetall(&mut con, level, "d");
            assert_eq!(
                d.into_iter().collect::<Vec<_>>(),
                [("new".to_string(), "2".to_string())],
                "node {i} at {level}"
            );
            let e = hgetall(&mut con, level, "e");
            assert_eq!(
                e.into_iter().collect::<Vec<_>>(),
                [("b".to_string(), "2".to_string())],
                "node {i} at {level}"
            );
            let ttl = cl(&mut con, level, &["TTL", "e"]).unwrap();
            assert!(
                matches!(ttl, redis::Value::Int(t) if (900..=1000).contains(&t)),
                "node {i} at {level}: TTL {ttl:?}"
            );
            let n = cl(&mut con, level, &["HGET", "counters", "n"]).unwrap();
            assert_eq!(n, bulk("2000"), "node {i} at {level}");
            let p = cl(&mut con, level, &["ZSCORE", "board", "p"]).unwrap();
            assert_eq!(p, bulk("2000"), "node {i} at {level}");
            assert_eq!(cl(&mut con, level, &["ZCARD", "board"]).unwrap(), int(101));
            let top = cl(&mut con, level, &["ZRANGE", "board", "0", "0", "REV"]).unwrap();
            assert_eq!(strings(top), ["p"]);
        }
    }
}

#[test]
fn a_node_down_gets_collection_writes_by_hints_and_a_wiped_one_by_repair() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    c.nodes[2].kill();
    wait_for("node 2 seen down", Duration::from_secs(20), || {
        info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });
    // 1,000 of each over 20 hashes, 20 sets and 20 sorted sets.
    for i in 0..1000 {
        let f = format!("f{i}");
        let (h, s) = (format!("hh:{}", i % 20), format!("ss:{}", i % 20));
        cl(&mut con, "QUORUM", &["HSET", &h, &f, &i.to_string()]).unwrap();
        cl(&mut con, "QUORUM", &["SADD", &s, &f]).unwrap();
        let z = format!("zz:{}", i % 20);
        cl(&mut con, "QUORUM", &["ZADD", &z, &i.to_string(), &f]).unwrap();
    }
    c.nodes[2].restart_same_ports();
    c.wait_all_up();
    wait_for("every hint delivered", Duration::from_secs(60), || {
        c.hints_pending() == 0
    });
    let check = |c: &Cluster, node: usize| {
        let mut con = c.conn(node);
        for k in 0..20 {
            let (h, s) = (format!("hh:{k}"), format!("ss:{k}"));
            assert_eq!(
                cl(&mut con, "ONE", &["HLEN", &h]).unwrap(),
                int(50),
                "{node} {h}"
            );
            assert_eq!(
                cl(&mut con, "ONE", &["SCARD", &s]).unwrap(),
                int(50),
                "{node} {s}"
            );
            let z = format!("zz:{k}");
            assert_eq!(
                cl(&mut con, "ONE", &["ZCARD", &z]).unwrap(),
                int(50),
                "{node} {z}"
            );
        }
        assert_eq!(
            cl(&mut con, "ONE", &["ZSCORE", "zz:19", "f999"]).unwrap(),
            bulk("999")
        );
        assert_eq!(
            cl(&mut con, "ONE", &["HGET", "hh:19", "f999"]).unwrap(),
            bulk("999")
        );
    };
    check(&c, 2);

    // Wiped: the data directory replaced by an empty one, then repaired.
    c.nodes[2].kill();
    c.nodes[2].wipe();
    c.nodes[2].restart_same_ports();
    c.wait_all_up();
    repair(&c.nodes[2]);
    check(&c, 2);
    for node in 0..3 {
        check(&c, node);
    }
}

/// Requests longer than 1 MB go to a peer on a connection of their own,
/// so a short write that follows a long one on the same key may reach a
/// replica first: a string replaced right after a long value, and hash
/// fields written right after a long field, still end as written on every
/// node, at ONE and at ALL.
#[test]
fn long_values_and_the_short_writes_after_them_agree_on_every_node() {
    let c = Cluster::start(3);
    let mut con0 = c.conn(0);
    let long = "L".repeat(3 << 20);
    for round in 0..3 {
        let (s, h) = (format!("s{round}"), format!("h{round}"));
        cl(&mut con0, "ALL", &["SET", &s, &long]).unwrap();
        cl(&mut con0, "ALL", &["SET", &s, "short"]).unwrap();
        cl(&mut con0, "QUORUM", &["HSET", &h, "long", &long]).unwrap();
        cl(&mut con0, "QUORUM", &["HSET", &h, "short", "1"]).unwrap();
        cl(&mut con0, "ALL", &["HSET", &h, "after", "2"]).unwrap();
    }
    for i in 0..3 {
        let mut con = c.conn(i);
        for round in 0..3 {
            let (s, h) = (format!("s{round}"), format!("h{round}"));
            for level in ["ALL", "ONE"] {
                assert_eq!(
                    cl(&mut con, level, &["GET", &s]).unwrap(),
                    redis::Value::BulkString(b"short".to_vec()),
                    "node {i} {level} {s}"
                );
            }
            let all = hgetall(&mut con, "ALL", &h);
            assert_eq!(all.len(), 3, "node {i} {h}");
            assert_eq!(all["long"].len(), long.len(), "node {i} {h}");
            assert_eq!((&all["short"][..], &all["after"][..]), ("1", "2"));
        }
    }
}
