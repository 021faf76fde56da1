//! Pipelines through a cluster: the single-key commands of one batch on
//! distinct keys run concurrently (`server/src/pipeline.rs`), so a
//! pipeline of INCRs, HSETs, SADDs, ZADDs, pushes and pops costs about one
//! round trip per run instead of one per command. What a client sees must
//! not change: the same commands sent one at a time to a single node give
//! the same replies, in the same order, and leave the same data, read at
//! ALL through another node.
//!
//! Every loop is bounded; nodes are killed by PID when the test ends.

mod common;

use common::cluster::Cluster;
use common::cluster::cl;
use common::{Lcg, RawConn, TestServer, encode_cmd, info_int};

/// One random single-key command. Keys are drawn from a few per type, so
/// that a batch names many keys twice (which ends a concurrent run), and
/// one in eight from another type's keys (WRONGTYPE, in order).
fn command(rng: &mut Lcg) -> Vec<String> {
    let k = rng.below(6);
    let j = rng.below(5);
    let kind = rng.below(12);
    let key = |prefix: &str, rng: &mut Lcg| {
        let prefix = if rng.below(8) == 0 {
            ["s", "h", "t", "z", "l", "p"][rng.below(6) as usize]
        } else {
            prefix
        };
        format!("{prefix}{k}")
    };
    let v = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect();
    match kind {
        0 | 1 => {
            let key = key("s", rng);
            match rng.below(11) {
                0 => v(&["INCR", &key]),
                1 => v(&["INCRBY", &key, &format!("{}", j + 2)]),
                2 => v(&["DECR", &key]),
                3 => v(&["APPEND", &key, "9"]),
                4 => v(&["STRLEN", &key]),
                5 => v(&["GET", &key]),
                6 => v(&["SET", &key, &format!("{j}")]),
                7 => v(&["EXPIRE", &key, "1000"]),
                8 => v(&["TTL", &key]),
                9 => v(&["PERSIST", &key]),
                _ => v(&["GETDEL", &key]),
            }
        }
        2 | 3 => {
            let key = key("h", rng);
            let field = format!("f{j}");
            match rng.below(8) {
                0 | 1 => v(&["HSET", &key, &field, &format!("v{}", rng.below(9))]),
                2 => v(&["HGET", &key, &field]),
                3 => v(&["HDEL", &key, &field]),
                4 => v(&["HINCRBY", &key, &format!("n{j}"), "3"]),
                5 => v(&["HLEN", &key]),
                6 => v(&["HEXISTS", &key, &field]),
                _ => v(&["HGETALL", &key]),
            }
        }
        4 | 5 => {
            let key = key("t", rng);
            let member = format!("m{j}");
            match rng.below(6) {
                0 | 1 => v(&["SADD", &key, &member]),
                2 => v(&["SREM", &key, &member]),
                3 => v(&["SISMEMBER", &key, &member]),
                4 => v(&["SCARD", &key]),
                _ => v(&["SMEMBERS", &key]),
            }
        }
        6 | 7 => {
            let key = key("z", rng);
            let member = format!("m{j}");
            match rng.below(7) {
                0 | 1 => v(&["ZADD", &key, &format!("{}", rng.below(20)), &member]),
                2 => v(&["ZINCRBY", &key, "2", &member]),
                3 => v(&["ZSCORE", &key, &member]),
                4 => v(&["ZREM", &key, &member]),
                5 => v(&["ZRANK", &key, &member]),
                _ => v(&["ZCARD", &key]),
            }
        }
        8 | 9 => {
            let key = key("l", rng);
            match rng.below(8) {
                0 | 1 => v(&["LPUSH", &key, &format!("e{j}")]),
                2 => v(&["RPUSH", &key, &format!("e{j}")]),
                3 => v(&["LPOP", &key]),
                4 => v(&["RPOP", &key]),
                5 => v(&["LLEN", &key]),
                6 => v(&["LINDEX", &key, "1"]),
                _ => v(&["LRANGE", &key, "0", "-1"]),
            }
        }
        10 => {
            let key = key("p", rng);
            match rng.below(3) {
                0 => v(&["PFADD", &key]),
                1 => v(&["PFCOUNT", &key]),
                _ => v(&["TYPE", &key]),
            }
        }
        _ => {
            let key = key(["s", "h", "t", "z", "l", "p"][rng.below(6) as usize], rng);
            match rng.below(3) {
                0 => v(&["EXISTS", &key]),
                1 => v(&["UNLINK", &key]),
                _ => v(&["DEL", &key]),
            }
        }
    }
}

/// Sends `args` and reads the reply, as raw RESP.
fn one(con: &mut RawConn, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    con.cmd(&args)
}

#[test]
fn a_pipeline_of_every_type_through_a_cluster_answers_as_one_at_a_time() {
    let cluster = Cluster::start(3);
    let single = TestServer::start();
    let mut rng = Lcg(0x5eed_2026);
    let mut piped = cluster.nodes[0].raw();
    let mut lone = single.raw();
    let mut sent = 0;
    for batch in 0..20 {
        let commands: Vec<Vec<String>> = (0..60).map(|_| command(&mut rng)).collect();
        let mut bytes = Vec::new();
        for args in &commands {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            bytes.extend(encode_cmd(&args));
        }
        piped.send(&bytes);
        let got: Vec<String> = commands.iter().map(|_| piped.read_reply()).collect();
        for (args, got) in commands.iter().zip(got) {
            assert_eq!(
                got,
                one(&mut lone, args),
                "command {sent} {args:?} (batch {batch})"
            );
            sent += 1;
        }
    }

    // The data left: every key read at ALL through another node as the
    // single node holds it.
    let mut other = cluster.nodes[2].raw();
    for prefix in ["s", "h", "t", "z", "l", "p"] {
        for k in 0..6 {
            let key = format!("{prefix}{k}");
            let kind = one(&mut lone, &["TYPE".into(), key.clone()]);
            let read: &[&str] = match kind.trim_end() {
                "+string" => &["GET"],
                "+hash" => &["HGETALL"],
                "+set" => &["SMEMBERS"],
                "+list" => &["LRANGE", "0", "-1"],
                "+zset" => &["ZRANGE", "0", "-1", "WITHSCORES"],
                _ => &["EXISTS"],
            };
            let mut alone: Vec<String> = vec![read[0].into(), key.clone()];
            alone.extend(read[1..].iter().map(|a| a.to_string()));
            let mut at_all: Vec<String> = vec!["CL".into(), "ALL".into()];
            at_all.extend(alone.iter().cloned());
            assert_eq!(
                one(&mut other, &at_all),
                one(&mut lone, &alone),
                "{key} ({kind:?}) at ALL through another node"
            );
        }
    }
}

/// The contexts a pipeline's collection writes ask the other replicas for
/// (each write's CLOCK, `cluster/src/coordinator/clock_batch.rs`) go as
/// one CLOCK_MANY per replica, not one CLOCK per key and replica: 48
/// HSETs of distinct hashes cost about one call per write and replica
/// (its APPLY_AT), where one by one they cost two (192 calls). Every
/// write is there, read at ALL through another node.
#[test]
fn a_pipelines_collection_writes_ask_each_replica_for_their_contexts_together() {
    let cluster = Cluster::start(3);
    let mut con = cluster.conn(0);
    let before = |con: &mut redis::Connection| {
        [
            "cluster_replica_calls",
            "cluster_clock_requests",
            "cluster_clock_keys",
        ]
        .map(|f| info_int(con, f))
    };
    let start = before(&mut con);
    let mut pipe = redis::pipe();
    for i in 0..48 {
        pipe.cmd("HSET").arg(format!("ph:{i}")).arg("f").arg(i);
    }
    let replies: Vec<i64> = pipe.query(&mut con).expect("pipeline");
    assert_eq!(replies, vec![1; 48]);
    let end = before(&mut con);
    let [calls, requests, keys] = [0, 1, 2].map(|i| end[i] - start[i]);
    // Each write asks both other replicas for their context.
    assert_eq!(keys, 96, "keys asked for their context");
    assert!(
        (2..=24).contains(&requests),
        "{requests} CLOCK requests for {keys} keys"
    );
    assert!(calls <= 96 + 24, "{calls} replica calls");
    let mut other = cluster.conn(2);
    for i in 0..48 {
        let key = format!("ph:{i}");
        assert_eq!(
            cl(&mut other, "ALL", &["HGET", &key, "f"]),
            Ok(redis::Value::BulkString(i.to_string().into_bytes())),
            "{key} at ALL through another node"
        );
    }
}
