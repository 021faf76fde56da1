//! Cluster data path, end to end: real node processes on loopback ports,
//! joined through a seed, talked to with the `redis` crate.
//!
//! Every wait is bounded; nodes are killed by PID when the test ends.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, bulk, cl, info_field, wait_for};
use common::{TestServer, error_text, info_int, query};

fn every_write_is_read_through_every_node(n: usize) {
    let c = Cluster::start(n);
    let mut cons: Vec<_> = (0..n).map(|i| c.conn(i)).collect();
    for k in 0..40 {
        let key = format!("key:{k}");
        cl(&mut cons[k % n], "QUORUM", &["SET", &key, &format!("v{k}")]).unwrap();
    }
    let levels: &[&str] = &["ONE", "TWO", "THREE", "QUORUM", "ALL"];
    for (i, con) in cons.iter_mut().enumerate() {
        for k in 0..40 {
            let key = format!("key:{k}");
            for level in levels {
                let got = cl(con, level, &["GET", &key]).unwrap();
                assert_eq!(bulk(&got), Some(format!("v{k}")), "node {i} {level} {key}");
            }
        }
    }
    // R + W > N: a read at QUORUM through any node sees the latest
    // acknowledged QUORUM write made through any other node.
    for round in 0..30 {
        let (w, r) = (round % n, (round + 1) % n);
        cl(
            &mut cons[w],
            "QUORUM",
            &["SET", "latest", &round.to_string()],
        )
        .unwrap();
        let got = cl(&mut cons[r], "QUORUM", &["GET", "latest"]).unwrap();
        assert_eq!(bulk(&got), Some(round.to_string()), "round {round}");
    }
    // Keyspace commands see the whole cluster, each key once.
    let size: i64 = redis::cmd("DBSIZE").query(&mut cons[0]).unwrap();
    assert_eq!(size, 41);
    let mut seen = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(7)
            .query(&mut cons[n - 1])
            .unwrap();
        seen.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 41);
}

#[test]
fn three_node_cluster_reads_every_write_through_every_node_at_every_level() {
    every_write_is_read_through_every_node(3);
}

#[test]
fn five_node_cluster_reads_every_write_through_every_node_at_every_level() {
    every_write_is_read_through_every_node(5);
}

#[test]
fn one_node_down_quorum_succeeds_all_fails_and_the_detector_notices() {
    let mut c = Cluster::start(3);
    let dead_id = info_field(&c.nodes[2], "cluster_node_id").unwrap();
    c.nodes[2].kill();
    let mut con = c.conn(0);
    for level in ["ONE", "QUORUM"] {
        for k in 0..20 {
            let key = format!("{level}:{k}");
            cl(&mut con, level, &["SET", &key, "x"]).unwrap();
            assert_eq!(
                bulk(&cl(&mut con, level, &["GET", &key]).unwrap()).as_deref(),
                Some("x")
            );
        }
    }
    let started = Instant::now();
    let err = cl(&mut con, "ALL", &["GET", "ONE:1"]).unwrap_err();
    assert_eq!(err, "NOQUORUM needed 3 replicas, 2 answered");
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = cl(&mut con, "ALL", &["SET", "k", "v"]).unwrap_err();
    assert!(err.starts_with("NOQUORUM needed 3 replicas"), "{err}");
    // A multi-key write: its keys are written at once; at QUORUM all of
    // them land, at ALL the reply is NOQUORUM (each key atomic alone).
    let mut mset = vec!["MSET".to_string()];
    for k in 0..10 {
        mset.extend([format!("m:{k}"), format!("v{k}")]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    cl(&mut con, "QUORUM", &mset).unwrap();
    let mut other = c.conn(1);
    for k in 0..10 {
        assert_eq!(
            bulk(&cl(&mut other, "QUORUM", &["GET", &format!("m:{k}")]).unwrap()).as_deref(),
            Some(format!("v{k}").as_str())
        );
    }
    let err = cl(&mut con, "ALL", &mset).unwrap_err();
    assert!(err.starts_with("NOQUORUM needed 3 replicas"), "{err}");
    let state_of = |node: &TestServer| -> String {
        let mut con = node.conn();
        let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
        text.lines()
            .find(|l| l.starts_with(&dead_id))
            .and_then(|l| l.split(' ').nth(4))
            .unwrap_or_default()
            .to_string()
    };
    wait_for(
        "the killed node marked down",
        Duration::from_secs(30),
        || state_of(&c.nodes[0]) == "down",
    );
    c.nodes[2].restart();
    wait_for(
        "the restarted node marked up",
        Duration::from_secs(30),
        || state_of(&c.nodes[0]) == "up",
    );
    cl(&mut con, "ALL", &["SET", "k", "v"]).unwrap();
}

#[test]
fn concurrent_writes_through_different_nodes_become_siblings_and_vset_resolves_them() {
    // Hints expire at once, so node 2 really has not seen the first write.
    let mut c = Cluster::start_with(
        3,
        &["--hint-max-age-ms", "1", "--anti-entropy-interval-ms", "0"],
    );
    // Node 2 misses the first write, then writes without having seen it:
    // the two versions are concurrent. (Stopped cleanly: after a kill -9
    // it would rebuild from its peers before serving, and see the write.)
    assert!(c.nodes[2].terminate());
    cl(&mut c.conn(0), "ONE", &["SET", "doc", "from-a"]).unwrap();
    c.nodes[2].restart();
    c.wait_all_up();
    cl(&mut c.conn(2), "ONE", &["SET", "doc", "from-c"]).unwrap();
    let vget = |con: &mut redis::Connection| -> (String, Vec<String>) {
        let v = cl(con, "ALL", &["VGET", "doc"]).unwrap();
        let redis::Value::Array(parts) = v else {
            panic!("VGET reply {v:?}")
        };
        let ctx = bulk(&parts[0]).unwrap();
        let redis::Value::Array(vals) = &parts[1] else {
            panic!("VGET values {parts:?}")
        };
        let mut vals: Vec<String> = vals.iter().filter_map(bulk).collect();
        vals.sort();
        (ctx, vals)
    };
    let (ctx, vals) = vget(&mut c.conn(1));
    assert_eq!(vals, ["from-a", "from-c"]);
    // Plain GET resolves last-write-wins: the later write.
    let got = cl(&mut c.conn(0), "ALL", &["GET", "doc"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("from-c"));
    // A write with the context supersedes both, everywhere.
    cl(
        &mut c.conn(1),
        "QUORUM",
        &["VSET", "doc", "merged", "CONTEXT", &ctx],
    )
    .unwrap();
    for i in 0..3 {
        let (_, vals) = vget(&mut c.conn(i));
        assert_eq!(vals, ["merged"], "node {i}");
    }
    // A bad context is refused.
    let err = query(&mut c.conn(0), &["VSET", "doc", "x", "CONTEXT", "zz"]).unwrap_err();
    assert!(err.starts_with("ERR invalid causal context"), "{err}");
}

#[test]
fn increments_through_two_nodes_at_once_are_all_counted() {
    let c = Cluster::start(3);
    let ports = [c.nodes[0].port, c.nodes[1].port];
    let workers: Vec<_> = ports
        .into_iter()
        .map(|port| {
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                let mut con = client.get_connection().unwrap();
                for _ in 0..1000 {
                    let _: i64 = redis::cmd("CL")
                        .arg("QUORUM")
                        .arg("INCR")
                        .arg("hits")
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for i in 0..3 {
        let got = cl(&mut c.conn(i), "QUORUM", &["GET", "hits"]).unwrap();
        assert_eq!(bulk(&got).as_deref(), Some("2000"), "node {i}");
    }
    let got = cl(&mut c.conn(2), "QUORUM", &["INCRBYFLOAT", "hits", "0.5"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("2000.5"));
}

#[test]
fn a_read_repairs_a_stale_replica() {
    // Hints expire at once, so nothing but the read brings node 2 up to
    // date. It stops cleanly: after a kill -9 it would rebuild first.
    let mut c = Cluster::start_with(
        3,
        &["--hint-max-age-ms", "1", "--anti-entropy-interval-ms", "0"],
    );
    assert!(c.nodes[2].terminate());
    cl(&mut c.conn(0), "QUORUM", &["SET", "fresh", "yes"]).unwrap();
    c.nodes[2].restart();
    c.wait_all_up();
    // Node 2 is a replica of every key (N = 3): at ONE it answers alone.
    let stale = cl(&mut c.conn(2), "ONE", &["GET", "fresh"]).unwrap();
    assert_eq!(stale, redis::Value::Nil, "node 2 missed the write");
    let got = cl(&mut c.conn(0), "ALL", &["GET", "fresh"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("yes"));
    // The ALL read, which asks every replica, saw the difference and
    // repaired node 2 before answering (node 2's own ONE read asked only
    // itself).
    let repaired: u64 = c
        .nodes
        .iter()
        .map(|n| {
            info_field(n, "cluster_read_repairs")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(repaired >= 1);
    let now = cl(&mut c.conn(2), "ONE", &["GET", "fresh"]).unwrap();
    assert_eq!(bulk(&now).as_deref(), Some("yes"));
}

#[test]
fn consistency_levels_are_shown_set_and_validated() {
    let s = TestServer::start();
    let mut con = s.conn();
    let shown: Vec<String> = redis::cmd("CONSISTENCY").query(&mut con).unwrap();
    assert_eq!(shown, ["read", "QUORUM", "write", "QUORUM"]);
    let _: () = redis::cmd("CONSISTENCY")
        .arg("one")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONSISTENCY")
        .arg("WRITE")
        .arg("ALL")
        .query(&mut con)
        .unwrap();
    let shown: Vec<String> = redis::cmd("CONSISTENCY").query(&mut con).unwrap();
    assert_eq!(shown, ["read", "ONE", "write", "ALL"]);
    let e = query(&mut con, &["CONSISTENCY", "most"]).unwrap_err();
    assert!(e.starts_with("ERR invalid consistency level 'most'"), "{e}");
    let e = query(&mut con, &["CL", "ALL", "NOSUCH"]).unwrap_err();
    assert!(e.starts_with("ERR unknown command 'NOSUCH'"), "{e}");
    let e = query(&mut con, &["CL", "ALL", "GET"]).unwrap_err();
    assert_eq!(e, "ERR wrong number of arguments for 'get' command");
    // A cluster of one: every level is met by the single replica.
    assert_eq!(
        query(&mut con, &["CL", "ALL", "SET", "a", "1"]).unwrap(),
        redis::Value::Okay
    );
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut con).unwrap();
    assert!(info.contains("cluster_known_nodes:1"), "{info}");
    let _ = error_text;
}

#[test]
fn a_pipeline_through_a_cluster_keeps_replies_in_order_and_each_key_in_sequence() {
    // Commands of one batch on distinct keys run concurrently in a
    // cluster; replies must still come in request order, and commands on
    // one key must still see each other's effects.
    use redis::Value;
    let c = Cluster::start(3);
    let mut con = c.conn(0);
    let mut p = redis::pipe();
    let mut expected = Vec::new();
    let mut count = 0;
    for i in 0..150 {
        let key = format!("p:{i}");
        p.cmd("SET").arg(&key).arg(format!("a{i}"));
        expected.push(Value::Okay);
        if i % 3 == 0 {
            p.cmd("GET").arg(&key);
            expected.push(Value::BulkString(format!("a{i}").into_bytes()));
            p.cmd("SET").arg(&key).arg(format!("b{i}"));
            expected.push(Value::Okay);
        }
        if i % 5 == 0 {
            p.cmd("DEL").arg(&key);
            expected.push(Value::Int(1));
        }
        if i % 10 == 9 {
            count += 1;
            p.cmd("INCR").arg("p:count");
            expected.push(Value::Int(count));
        }
    }
    for i in 0..150 {
        p.cmd("GET").arg(format!("p:{i}"));
        expected.push(if i % 5 == 0 {
            Value::Nil
        } else if i % 3 == 0 {
            Value::BulkString(format!("b{i}").into_bytes())
        } else {
            Value::BulkString(format!("a{i}").into_bytes())
        });
    }
    let replies: Vec<Value> = p.query(&mut con).unwrap();
    assert_eq!(replies.len(), expected.len());
    for (n, (got, want)) in replies.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "reply {n}");
    }
    // Every write of the batch reached its replicas: read back at ALL
    // through another node.
    let mut other = c.conn(2);
    for i in (0..150).filter(|i| i % 5 != 0) {
        let got = cl(&mut other, "ALL", &["GET", &format!("p:{i}")]).unwrap();
        assert!(bulk(&got).is_some(), "p:{i} at ALL");
    }
}

#[test]
fn a_transaction_does_not_wait_for_a_long_cluster_repair() {
    // Node 1 stops answering: a CLUSTER REPAIR on node 0 waits for its
    // Merkle tree until the replica timeout. A MULTI/EXEC on node 0 meanwhile
    // (it needs the transaction gate exclusively) must not wait for the
    // repair to end, and neither must other clients.
    let c = Cluster::start_with(
        2,
        &[
            "--replica-timeout-ms",
            "4000",
            "--anti-entropy-interval-ms",
            "0",
        ],
    );
    c.nodes[1].signal(libc::SIGSTOP);
    let repair_client = c.nodes[0].client();
    let repair = std::thread::spawn(move || {
        let mut con = repair_client.get_connection().unwrap();
        let started = Instant::now();
        let _ = redis::cmd("CLUSTER")
            .arg("REPAIR")
            .query::<redis::Value>(&mut con);
        started.elapsed()
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut con = c.conn(0);
    let _: () = redis::cmd("CONSISTENCY")
        .arg("ONE")
        .query(&mut con)
        .unwrap();
    let started = Instant::now();
    let (v,): (i64,) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("in-tx")
        .query(&mut con)
        .unwrap();
    let exec_took = started.elapsed();
    assert_eq!(v, 1);
    let got = cl(&mut c.conn(0), "ONE", &["GET", "in-tx"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("1"));
    let repair_took = repair.join().unwrap();
    c.nodes[1].signal(libc::SIGCONT);
    assert!(
        repair_took > Duration::from_secs(2),
        "the repair did not wait for the stopped node ({repair_took:?}); the test proves nothing"
    );
    assert!(
        exec_took < Duration::from_secs(2),
        "EXEC waited {exec_took:?} for CLUSTER REPAIR"
    );
}

/// A pipeline's GETs are read with one batched request per replica; each
/// still answers as a lone GET would: its value or nil, counted in INFO,
/// repaired where a replica was behind, and its own NOQUORUM when too few
/// replicas are up.
#[test]
fn pipelined_gets_answer_like_single_gets() {
    let mut c = Cluster::start(3);
    let mut con = c.conn(0);
    for i in 0..40 {
        cl(
            &mut con,
            "ALL",
            &["SET", &format!("p:{i}"), &format!("v{i}")],
        )
        .unwrap();
    }
    let before = info_int(&mut con, "keyspace_hits");
    let mut pipe = redis::pipe();
    for i in 0..60 {
        pipe.cmd("GET").arg(format!("p:{i}"));
    }
    pipe.cmd("SET").arg("p:new").arg("x");
    pipe.cmd("GET").arg("p:new");
    let replies: Vec<Option<String>> = pipe.query(&mut con).unwrap();
    for (i, r) in replies.iter().take(60).enumerate() {
        let want = (i < 40).then(|| format!("v{i}"));
        assert_eq!(r, &want, "GET p:{i}");
    }
    assert_eq!(
        replies[61].as_deref(),
        Some("x"),
        "a GET after a SET of its key"
    );
    assert_eq!(
        info_int(&mut con, "keyspace_hits") - before,
        41,
        "hits counted per GET"
    );

    // Two of three replicas gone: every GET of the pipeline gets NOQUORUM.
    c.nodes[1].kill();
    c.nodes[2].kill();
    wait_for("both peers seen down", Duration::from_secs(30), || {
        info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("2")
    });
    let mut raw = c.nodes[0].raw();
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend(common::encode_cmd(&[b"GET", format!("p:{i}").as_bytes()]));
    }
    raw.send(&batch);
    for i in 0..5 {
        let reply = raw.read_reply();
        assert!(
            reply.starts_with("-NOQUORUM needed 2 replicas"),
            "GET p:{i}: {reply}"
        );
    }
    // ONE still answers from this node's record.
    let got = cl(&mut con, "ONE", &["GET", "p:3"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("v3"));
}

/// A pipeline's plain SETs are written with one batched request per
/// replica; each is acknowledged at its level, readable at ALL through
/// every node, and a WATCHing client on the coordinator sees the change.
#[test]
fn pipelined_sets_reach_every_replica_and_touch_watches() {
    let c = Cluster::start(3);
    let mut watcher = c.conn(0);
    let _: () = redis::cmd("WATCH").arg("s:7").query(&mut watcher).unwrap();
    let mut con = c.conn(0);
    let mut pipe = redis::pipe();
    for i in 0..30 {
        pipe.cmd("SET").arg(format!("s:{i}")).arg(format!("w{i}"));
    }
    pipe.cmd("GET").arg("s:3");
    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
    assert!(
        replies[..30].iter().all(|r| *r == redis::Value::Okay),
        "{replies:?}"
    );
    assert_eq!(bulk(&replies[30]).as_deref(), Some("w3"));
    for node in 0..3 {
        let mut con = c.conn(node);
        for i in 0..30 {
            let got = cl(&mut con, "ALL", &["GET", &format!("s:{i}")]).unwrap();
            assert_eq!(bulk(&got), Some(format!("w{i}")), "node {node} s:{i}");
        }
    }
    let _: () = redis::cmd("MULTI").query(&mut watcher).unwrap();
    let _: () = redis::cmd("SET")
        .arg("s:7")
        .arg("late")
        .query(&mut watcher)
        .unwrap();
    let exec: redis::Value = redis::cmd("EXEC").query(&mut watcher).unwrap();
    assert_eq!(
        exec,
        redis::Value::Nil,
        "the pipelined SET touched the watch"
    );
}

/// CLIENT PAUSE on a node of a cluster: pipelined SETs (which a cluster
/// node otherwise writes together before answering) wait for the pause like
/// any write, and a client blocked in BLPOP still times out while its
/// retries are held.
#[test]
fn client_pause_holds_pipelined_writes_and_blocked_clients_still_time_out() {
    let c = Cluster::start(2);
    let node = &c.nodes[0];
    let mut admin = node.raw();
    let mut blocked = node.raw();
    blocked.send_cmd(&[b"BLPOP", b"paused-list", b"1"]);
    // Blocked before the pause (a BLPOP sent during it waits for the pause
    // to end before it starts, timeout and all, as in Redis).
    wait_for("the BLPOP to block", Duration::from_secs(10), || {
        admin
            .cmd(&["INFO", "clients"])
            .contains("blocked_clients:1\r\n")
    });
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), "+OK\r\n");
    let started = Instant::now();
    assert_eq!(blocked.read_reply(), "*-1\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "BLPOP's 1 s timeout"
    );
    let mut writer = node.raw();
    let mut pipeline = common::encode_cmd(&[b"SET", b"pa", b"1"]);
    pipeline.extend(common::encode_cmd(&[b"SET", b"pb", b"2"]));
    writer.send(&pipeline);
    wait_for("the pipelined SET to wait", Duration::from_secs(10), || {
        admin
            .cmd(&["INFO", "clients"])
            .contains("blocked_clients:1\r\n")
    });
    let mut reader = node.raw();
    assert_eq!(reader.cmd(&["GET", "pa"]), "$-1\r\n");
    assert_eq!(reader.cmd(&["GET", "pb"]), "$-1\r\n");
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(writer.read_reply(), "+OK\r\n");
    assert_eq!(writer.read_reply(), "+OK\r\n");
    assert_eq!(reader.cmd(&["GET", "pb"]), "$1\r\n2\r\n");
}

#[test]
fn a_member_restarted_with_another_clusters_seeds_refuses_to_start() {
    let a = Cluster::start(2);
    let mut b = Cluster::start(2);
    let mut con = b.conn(0);
    cl(&mut con, "ALL", &["SET", "b-key", "v"]).unwrap();
    // B's first member comes back told to seed from A: gossiping with A
    // would merge the two rings, each with its own tokens and data.
    let seed_a = format!("127.0.0.1:{}", a.nodes[0].cluster_port);
    b.nodes[0].add_args(&["--seeds", &seed_a]);
    let refused = b.nodes[0].start_expecting_exit(Duration::from_secs(30));
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("belongs to another cluster"),
        "{}",
        refused.stderr
    );
    // A never heard of B's members.
    let mut a_con = a.conn(0);
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut a_con)
        .unwrap();
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    // B's other member still serves B's data.
    let mut b_con = b.conn(1);
    let got = cl(&mut b_con, "ONE", &["GET", "b-key"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("v"));
}

#[test]
fn a_copy_of_a_members_data_directory_refuses_to_start_beside_it() {
    let mut c = Cluster::start(3);
    let mut con = c.conn(0);
    cl(&mut con, "ALL", &["SET", "k", "v"]).unwrap();
    // A clean stop, a copy of its directory, and the member back.
    assert!(c.nodes[1].terminate());
    let copy = tempfile::tempdir().unwrap();
    common::copy_tree(&c.nodes[1].data_dir(), &copy.path().join("data"));
    c.nodes[1].restart();
    c.wait_all_up();
    // The copy, started with the cluster's seeds: two processes with one
    // id would stamp writes with one identity and lose some of them.
    let ports = [
        common::free_port(),
        common::free_port(),
        common::free_port(),
    ]
    .map(|p| p.to_string());
    let seed = format!("127.0.0.1:{}", c.nodes[0].cluster_port);
    let child = std::process::Command::new(common::server_binary())
        .args(["--port", &ports[0], "--cluster-port", &ports[1]])
        .args(["--metrics-port", &ports[2], "--seeds", &seed])
        .args(["--loglevel", "warning", "--dir"])
        .arg(copy.path().join("data"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the copy");
    let refused = common::wait_refused(child, Duration::from_secs(30));
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains("another process serves this node's id"),
        "{}",
        refused.stderr
    );
    // The member itself serves on.
    let mut con = c.conn(1);
    let got = cl(&mut con, "ALL", &["GET", "k"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("v"));
}

/// Where a key lives depends on `replicas`: a member with another value
/// reads and writes other nodes than the rest, and reads miss acknowledged
/// writes. A node that would join with another value, or a member
/// restarted with one, is refused naming both values; so is CLUSTER JOIN.
#[test]
fn a_node_with_another_replicas_setting_is_refused_at_join_restart_and_cluster_join() {
    let mut c = Cluster::start(2);
    let mut con = c.conn(0);
    cl(&mut con, "ALL", &["SET", "k", "v"]).unwrap();
    let seed = format!("127.0.0.1:{}", c.nodes[0].cluster_port);
    let expected = "keeps 3 replicas per key and this node was started with replicas 2";

    // A new node.
    let refused = common::start_refused(&["--seeds", &seed, "--replicas", "2"]);
    assert!(!refused.status.success());
    assert!(refused.stderr.contains(expected), "{}", refused.stderr);

    // CLUSTER JOIN of a single node started with another value.
    let single = TestServer::start_with(&["--replicas", "2"]);
    let err = redis::cmd("CLUSTER")
        .arg("JOIN")
        .arg(&seed)
        .query::<String>(&mut single.conn())
        .expect_err("joined with another replicas setting");
    assert!(err.to_string().contains(expected), "{err}");
    drop(single);

    // A member restarted with another value.
    c.nodes[1].set_arg("--replicas", "2");
    let refused = c.nodes[1].start_expecting_exit(Duration::from_secs(30));
    assert!(!refused.status.success());
    assert!(refused.stderr.contains(expected), "{}", refused.stderr);

    // The cluster knows two members still, and serves.
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut c.conn(0))
        .unwrap();
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    let got = cl(&mut c.conn(0), "ONE", &["GET", "k"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("v"));
}
