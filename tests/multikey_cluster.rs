//! Multi-key commands through a cluster: MGET reads its keys in batches
//! of up to 64 with one request per replica each, MSET and MSETNX write
//! theirs with one request per replica, EXISTS and DEL read their keys'
//! existence concurrently, and each key still answers (and is counted,
//! repaired, refused) as its own single-key command would.
//!
//! Every wait is bounded; nodes are killed by PID when the test ends.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, bulk, cl, info_field, wait_for};
use common::info_int;

/// An MGET through a cluster reads its keys in batches (one request per
/// replica per batch); each key answers as its own GET would: strings by
/// value, absent keys and collections as nil (held on this node or only
/// on others), repeated keys each time, every present key a keyspace hit,
/// and a quorum that cannot be met is the command's error.
#[test]
fn an_mget_through_a_cluster_answers_each_key_as_get_would() {
    // Four nodes, two replicas per key: some keys are not on the node asked.
    let mut c = Cluster::start_with(4, &["--replicas", "2", "--anti-entropy-interval-ms", "0"]);
    let mut writer = c.conn(1);
    for i in 0..100 {
        cl(
            &mut writer,
            "ALL",
            &["SET", &format!("m:{i}"), &format!("v{i}")],
        )
        .unwrap();
    }
    for i in 0..6 {
        cl(&mut writer, "ALL", &["HSET", &format!("h:{i}"), "f", "x"]).unwrap();
        cl(&mut writer, "ALL", &["RPUSH", &format!("l:{i}"), "a", "b"]).unwrap();
    }
    // 100 strings, 40 absent keys, 12 collections, 20 repeats (15 of them
    // present): three batches.
    let mut keys: Vec<String> = (0..140).map(|i| format!("m:{i}")).collect();
    keys.extend((0..6).flat_map(|i| [format!("h:{i}"), format!("l:{i}")]));
    keys.extend((0..20).map(|i| format!("m:{}", i * 7)));
    let mut con = c.conn(0);
    let expected: Vec<Option<String>> = keys
        .iter()
        .map(|k| {
            let i: Option<usize> = k.strip_prefix("m:").and_then(|n| n.parse().ok());
            i.filter(|&i| i < 100).map(|i| format!("v{i}"))
        })
        .collect();
    let mget: Vec<&str> = std::iter::once("MGET")
        .chain(keys.iter().map(String::as_str))
        .collect();
    for level in ["ONE", "QUORUM", "ALL"] {
        let hits = info_int(&mut con, "keyspace_hits");
        let calls = info_int(&mut con, "cluster_replica_calls");
        let got: Vec<Option<String>> = match cl(&mut con, level, &mget).unwrap() {
            redis::Value::Array(vs) => vs.iter().map(bulk).collect(),
            other => panic!("MGET at {level}: {other:?}"),
        };
        assert_eq!(got, expected, "MGET at {level}");
        // 100 strings, 12 collections and 15 repeats found.
        assert_eq!(
            info_int(&mut con, "keyspace_hits") - hits,
            127,
            "hits at {level}"
        );
        // Three batches, each one request to each of three peers at most
        // (and a few more if one is slow to answer), not one per key.
        let calls = info_int(&mut con, "cluster_replica_calls") - calls;
        assert!(
            (1..=20).contains(&calls),
            "{calls} replica calls at {level}"
        );
    }
    // The same, one key at a time.
    for (key, want) in keys.iter().zip(&expected).take(150) {
        if key.starts_with("m:") {
            assert_eq!(
                bulk(&cl(&mut con, "QUORUM", &["GET", key]).unwrap()).as_ref(),
                want.as_ref(),
                "GET {key}"
            );
        }
    }

    // One node gone: QUORUM of two replicas needs both, so keys on it
    // fail the MGET; ONE still answers every key.
    c.nodes[3].kill();
    wait_for("the peer seen down", Duration::from_secs(30), || {
        info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });
    let err = cl(&mut con, "QUORUM", &mget).unwrap_err();
    assert!(
        err.starts_with("NOQUORUM needed 2 replicas, 1 answered"),
        "{err}"
    );
    let got: Vec<Option<String>> = match cl(&mut con, "ONE", &mget).unwrap() {
        redis::Value::Array(vs) => vs.iter().map(bulk).collect(),
        other => panic!("MGET at ONE: {other:?}"),
    };
    assert_eq!(got, expected, "MGET at ONE with a node down");
}

/// An MSET through a cluster sends each replica one request for all its
/// keys; a key named twice keeps its last value, as in Redis; every key is
/// read at ALL through another node; MSETNX writes all or nothing.
#[test]
fn an_mset_through_a_cluster_writes_every_key_with_one_request_per_replica() {
    let c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    let mut args: Vec<String> = vec!["MSET".into()];
    for i in 0..100 {
        args.extend([format!("w:{i}"), format!("first{i}")]);
    }
    // Ten keys named again later in the same MSET: the last value wins.
    for i in 0..10 {
        args.extend([format!("w:{}", i * 9), format!("again{i}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let calls = info_int(&mut con, "cluster_replica_calls");
    assert_eq!(cl(&mut con, "ALL", &args).unwrap(), redis::Value::Okay);
    // One MERGE_MANY to each of the two other replicas (a few more if
    // one is slow), not one per key and replica (220).
    let calls = info_int(&mut con, "cluster_replica_calls") - calls;
    assert!((1..=10).contains(&calls), "{calls} replica calls");
    let mut other = c.conn(2);
    for i in 0..100 {
        let want = match i % 9 {
            0 if i / 9 < 10 => format!("again{}", i / 9),
            _ => format!("first{i}"),
        };
        let got = cl(&mut other, "ALL", &["GET", &format!("w:{i}")]).unwrap();
        assert_eq!(bulk(&got), Some(want), "w:{i} at ALL through another node");
    }
    // MSETNX: all new keys are written; one existing key, none is.
    let fresh = ["MSETNX", "nx:1", "a", "nx:2", "b", "nx:3", "c"];
    assert_eq!(
        cl(&mut con, "QUORUM", &fresh).unwrap(),
        redis::Value::Int(1)
    );
    let clash = ["MSETNX", "nx:4", "d", "nx:1", "z"];
    assert_eq!(
        cl(&mut con, "QUORUM", &clash).unwrap(),
        redis::Value::Int(0)
    );
    for (key, want) in [("nx:1", Some("a")), ("nx:3", Some("c")), ("nx:4", None)] {
        let got = cl(&mut other, "ALL", &["GET", key]).unwrap();
        assert_eq!(bulk(&got).as_deref(), want, "{key}");
    }
}

/// EXISTS and DEL of many keys through a cluster read their keys' existence
/// concurrently: EXISTS counts a key named twice twice, DEL deletes it
/// once, collections count as keys, and every deleted key is gone at ALL
/// through another node.
#[test]
fn exists_and_del_of_many_keys_through_a_cluster_count_as_redis_does() {
    let c = Cluster::start(3);
    let mut con = c.conn(0);
    for i in 0..80 {
        cl(&mut con, "ALL", &["SET", &format!("d:{i}"), "v"]).unwrap();
    }
    cl(&mut con, "ALL", &["HSET", "d:h", "f", "v"]).unwrap();
    cl(&mut con, "ALL", &["RPUSH", "d:l", "a"]).unwrap();
    // 80 strings, 20 absent, two collections, five repeats: two batches.
    let mut keys: Vec<String> = (0..100).map(|i| format!("d:{i}")).collect();
    keys.extend(["d:h".to_string(), "d:l".to_string()]);
    keys.extend((0..5).map(|i| format!("d:{}", i * 3)));
    let with = |cmd: &str| -> Vec<String> {
        std::iter::once(cmd.to_string())
            .chain(keys.iter().cloned())
            .collect()
    };
    let exists = with("EXISTS");
    let exists: Vec<&str> = exists.iter().map(String::as_str).collect();
    assert_eq!(
        cl(&mut con, "QUORUM", &exists).unwrap(),
        redis::Value::Int(80 + 2 + 5)
    );
    let del = with("DEL");
    let del: Vec<&str> = del.iter().map(String::as_str).collect();
    assert_eq!(cl(&mut con, "QUORUM", &del).unwrap(), redis::Value::Int(82));
    let mut other = c.conn(2);
    assert_eq!(
        cl(&mut other, "ALL", &exists).unwrap(),
        redis::Value::Int(0)
    );
    assert_eq!(cl(&mut con, "QUORUM", &del).unwrap(), redis::Value::Int(0));
}
