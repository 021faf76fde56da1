//! The cluster under failure and change, with real node processes: kill -9
//! and restart, SIGSTOP, two nodes down, a wiped data directory, a missed
//! delete, a join and a decommission under load. Load generators are
//! bounded in count and time and record every acknowledged write; the
//! checks read every one back at ALL and compare replicas with Merkle
//! trees (CLUSTER REPAIR finding nothing to repair).
//!
//! Every wait is bounded; nodes are killed by PID when the test ends.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, LoadResult, bulk, cl, repair, wait_for};

/// Every acknowledged write reads back at ALL through `node`.
fn assert_all_readable(c: &Cluster, node: usize, results: &[&LoadResult]) -> usize {
    let mut con = c.conn(node);
    let mut n = 0;
    for r in results {
        for (k, v) in &r.acked {
            let got = cl(&mut con, "ALL", &["GET", k]).unwrap_or_else(|e| panic!("GET {k}: {e}"));
            assert_eq!(
                bulk(&got).as_deref(),
                Some(v.as_str()),
                "acknowledged {k} lost"
            );
            n += 1;
        }
    }
    n
}

/// Writes `{key}:{i}` = `{value}{i}` for each `i` of `range` at `level`.
fn set_numbered(
    con: &mut redis::Connection,
    level: &str,
    key: &str,
    value: &str,
    range: std::ops::Range<u32>,
) {
    for i in range {
        let k = format!("{key}:{i}");
        cl(con, level, &["SET", &k, &format!("{value}{i}")])
            .unwrap_or_else(|e| panic!("SET {k}: {e}"));
    }
}

/// Reads back at `level` what [`set_numbered`] wrote.
fn assert_numbered(
    con: &mut redis::Connection,
    level: &str,
    key: &str,
    value: &str,
    range: std::ops::Range<u32>,
) {
    for i in range {
        let k = format!("{key}:{i}");
        let got = cl(con, level, &["GET", &k]).unwrap_or_else(|e| panic!("GET {k}: {e}"));
        assert_eq!(bulk(&got), Some(format!("{value}{i}")), "{k}");
    }
}

/// Replicas hold equal data: a repair round through each running node
/// finds no differing Merkle leaf.
fn assert_replicas_equal(c: &Cluster) {
    for (i, node) in c.nodes.iter().enumerate().filter(|(_, n)| n.is_running()) {
        let r = repair(node);
        assert_eq!(r.get("ranges_differing"), Some(&0), "node {i}: {r:?}");
    }
}

#[test]
fn a_node_killed_during_quorum_load_loses_nothing_and_hints_bring_it_back() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let a = Load::start(&c.nodes[0], "a", "QUORUM", 5000, Duration::from_secs(30));
    let b = Load::start(&c.nodes[1], "b", "QUORUM", 5000, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    c.nodes[2].kill();
    // Long enough for the failure detector to mark it down and writes to
    // go to stand-ins with hints.
    std::thread::sleep(Duration::from_secs(3));
    c.nodes[2].restart();
    std::thread::sleep(Duration::from_millis(500));
    let (a, b) = (a.finish(), b.finish());
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "client errors: {:?} {:?}",
        a.errors,
        b.errors
    );
    assert!(a.acked.len() > 100 && b.acked.len() > 100, "load too small");
    c.wait_all_up();
    wait_for("every hint delivered", Duration::from_secs(30), || {
        c.hints_pending() == 0
    });
    let stored: u64 = c
        .nodes
        .iter()
        .filter_map(|n| common::cluster::info_field(n, "cluster_hints_replayed"))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    assert!(stored > 0, "no hint was replayed");
    assert_all_readable(&c, 2, &[&a, &b]);
    assert_replicas_equal(&c);
}

#[test]
fn a_paused_node_gets_its_writes_as_hints_after_it_resumes() {
    let c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    c.nodes[2].signal(libc::SIGSTOP);
    let a = Load::start(&c.nodes[0], "p", "QUORUM", 300, Duration::from_secs(20));
    let a = a.finish_after(Duration::from_secs(4));
    assert!(a.errors.is_empty(), "client errors: {:?}", a.errors);
    // (The paused node cannot answer INFO; ask the others.)
    let pending_on_others: u64 = (0..2)
        .filter_map(|i| common::cluster::info_field(&c.nodes[i], "cluster_hints_pending"))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    assert!(
        pending_on_others > 0,
        "writes to the paused node were not hinted"
    );
    c.nodes[2].signal(libc::SIGCONT);
    wait_for("every hint delivered", Duration::from_secs(30), || {
        c.hints_pending() == 0
    });
    // The resumed node holds every write locally.
    let mut con = c.conn(2);
    for (k, v) in &a.acked {
        let got = cl(&mut con, "ONE", &["GET", k]).unwrap();
        assert_eq!(bulk(&got).as_deref(), Some(v.as_str()), "{k}");
    }
    assert_replicas_equal(&c);
}

#[test]
fn two_of_five_down_quorum_writes_go_to_stand_ins_and_every_hint_is_delivered() {
    let mut c = Cluster::start_with(5, &["--anti-entropy-interval-ms", "0"]);
    c.nodes[3].kill();
    c.nodes[4].kill();
    let down_everywhere = |c: &Cluster| {
        (0..3).all(|i| {
            common::cluster::info_field(&c.nodes[i], "cluster_members_down").as_deref() == Some("2")
        })
    };
    wait_for("two nodes marked down", Duration::from_secs(20), || {
        down_everywhere(&c)
    });
    let mut written = Vec::new();
    for i in 0..300 {
        let key = format!("sloppy:{i}");
        let mut con = c.conn(i % 3);
        cl(&mut con, "QUORUM", &["SET", &key, &format!("v{i}")])
            .unwrap_or_else(|e| panic!("QUORUM write {key} with two nodes down: {e}"));
        written.push((key, format!("v{i}")));
    }
    assert!(c.hints_pending() > 0);
    c.nodes[3].restart();
    c.nodes[4].restart();
    c.wait_all_up();
    wait_for("hints pending reaches 0", Duration::from_secs(30), || {
        c.hints_pending() == 0
    });
    let mut con = c.conn(3);
    for (k, v) in &written {
        let got = cl(&mut con, "ALL", &["GET", k]).unwrap();
        assert_eq!(bulk(&got).as_deref(), Some(v.as_str()), "{k}");
    }
    assert_replicas_equal(&c);
}

#[test]
fn a_wiped_node_comes_back_with_every_key_it_owns() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    set_numbered(&mut con, "ALL", "w", "v", 0..400);
    cl(&mut con, "ALL", &["INCRBY", "w:counter", "41"]).unwrap();
    c.nodes[2].kill();
    c.nodes[2].wipe();
    c.nodes[2].restart_same_ports();
    c.wait_all_up();
    // Node-local reads: every key is back on the wiped node itself.
    let mut con = c.conn(2);
    assert_numbered(&mut con, "ONE", "w", "v", 0..400);
    let got = cl(&mut con, "ONE", &["GET", "w:counter"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("41"));
    assert_replicas_equal(&c);
}

#[test]
fn a_deleted_key_does_not_come_back_with_a_replica_that_missed_the_delete() {
    // Hints expire at once, so only the tombstone on the other replicas
    // (read merge, anti-entropy) can stop the resurrection.
    let mut c = Cluster::start_with(
        3,
        &["--anti-entropy-interval-ms", "0", "--hint-max-age-ms", "1"],
    );
    let mut con = c.conn(0);
    for i in 0..50 {
        cl(&mut con, "ALL", &["SET", &format!("d:{i}"), "old"]).unwrap();
    }
    c.nodes[2].kill();
    for i in 0..50 {
        cl(&mut con, "QUORUM", &["DEL", &format!("d:{i}")]).unwrap();
    }
    c.nodes[2].restart();
    c.wait_all_up();
    wait_for("expired hints dropped", Duration::from_secs(10), || {
        c.hints_pending() == 0
    });
    let mut stale = c.conn(2);
    // A quorum read through the stale replica merges its old value with
    // the tombstone: the delete wins.
    for i in 0..50 {
        let got = cl(&mut stale, "QUORUM", &["GET", &format!("d:{i}")]).unwrap();
        assert_eq!(got, redis::Value::Nil, "d:{i} came back");
    }
    let r = repair(&c.nodes[0]);
    assert!(
        r.get("ranges_differing").copied().unwrap_or(0) <= 50,
        "{r:?}"
    );
    assert_replicas_equal(&c);
    for i in 0..50 {
        let got = cl(&mut stale, "ONE", &["GET", &format!("d:{i}")]).unwrap();
        assert_eq!(got, redis::Value::Nil, "d:{i} still on the stale replica");
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut stale).unwrap();
    assert_eq!(size, 0);
}

#[test]
fn an_expired_key_does_not_come_back_with_a_replica_that_missed_its_expiry() {
    // The replica that missed the EXPIRE (or SET ... PX) still holds the
    // older value; hints expire at once, so only what the other replicas
    // keep of the expired writes (their clocks, as markers once compacted)
    // can stop the old value from being copied back, live and without
    // expiry, by read repair or anti-entropy.
    let mut c = Cluster::start_with(
        3,
        &["--anti-entropy-interval-ms", "0", "--hint-max-age-ms", "1"],
    );
    let mut con = c.conn(0);
    const N: usize = 30;
    for i in 0..N {
        cl(&mut con, "ALL", &["SET", &format!("e:{i}"), "old"]).unwrap();
        cl(&mut con, "ALL", &["HSET", &format!("h:{i}"), "f", "old"]).unwrap();
    }
    c.nodes[2].kill();
    for i in 0..N {
        let (e, h) = (format!("e:{i}"), format!("h:{i}"));
        if i % 2 == 0 {
            cl(&mut con, "QUORUM", &["SET", &e, "new", "PX", "300"]).unwrap();
        } else {
            cl(&mut con, "QUORUM", &["PEXPIRE", &e, "300"]).unwrap();
        }
        cl(&mut con, "QUORUM", &["HSET", &h, "f", "new"]).unwrap();
        cl(&mut con, "QUORUM", &["PEXPIRE", &h, "300"]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    // Flushed, the expired records are compacted into markers (the TTL
    // pick takes files of mostly expired entries on its own).
    for node in &c.nodes[..2] {
        let mut con = node.conn();
        let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    }
    for node in &c.nodes[..2] {
        wait_for(
            "expired keys kept as markers",
            Duration::from_secs(60),
            || {
                let mut con = node.conn();
                let info: String = redis::cmd("INFO").arg("engine").query(&mut con).unwrap();
                info.lines()
                    .find_map(|l| l.trim().strip_prefix("expired_markers:"))
                    .and_then(|v| v.parse::<usize>().ok())
                    .is_some_and(|n| n >= 2 * N)
            },
        );
    }
    c.nodes[2].restart();
    c.wait_all_up();
    wait_for("expired hints dropped", Duration::from_secs(10), || {
        c.hints_pending() == 0
    });
    let mut stale = c.conn(2);
    for i in 0..N {
        let (e, h) = (format!("e:{i}"), format!("h:{i}"));
        for level in ["QUORUM", "ALL"] {
            let got = cl(&mut stale, level, &["EXISTS", &e, &h]).unwrap();
            assert_eq!(got, redis::Value::Int(0), "{e} or {h} came back at {level}");
        }
    }
    let r = repair(&c.nodes[0]);
    assert!(
        r.get("ranges_differing").copied().unwrap_or(0) <= 2 * N as u64,
        "{r:?}"
    );
    for node in 0..3 {
        let mut con = c.conn(node);
        for i in 0..N {
            let (e, h) = (format!("e:{i}"), format!("h:{i}"));
            let got = cl(&mut con, "ONE", &["GET", &e]).unwrap();
            assert_eq!(got, redis::Value::Nil, "{e} back on node {node}");
            let got = cl(&mut con, "ONE", &["HGET", &h, "f"]).unwrap();
            assert_eq!(got, redis::Value::Nil, "{h} back on node {node}");
        }
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(size, 0, "node {node}");
    }
}

#[test]
fn a_join_and_a_decommission_under_load_lose_no_write() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    set_numbered(&mut con, "QUORUM", "pre", "v", 0..300);
    let a = Load::start(&c.nodes[0], "j", "QUORUM", 20_000, Duration::from_secs(60));
    c.add_node(&["--anti-entropy-interval-ms", "0"]);
    c.wait_all_up();
    // The joined node streamed its ranges: it serves node-local reads of
    // keys written before it joined.
    let mut joined = c.conn(3);
    let mut local_hits = 0;
    for i in 0..300 {
        if let Ok(v) = cl(&mut joined, "ONE", &["GET", &format!("pre:{i}")]) {
            if bulk(&v) == Some(format!("v{i}")) {
                local_hits += 1;
            }
        }
    }
    assert_eq!(local_hits, 300, "reads through the new node");
    // Decommission node 2 under the same load: the third node to join, the
    // one whose ranges, passed to the next vnodes, would leave the others
    // owning 0.375 / 0.375 / 0.25.
    let mut leaving = c.conn(2);
    let reply: String = redis::cmd("CLUSTER")
        .arg("LEAVE")
        .query(&mut leaving)
        .expect("CLUSTER LEAVE");
    assert!(reply.starts_with("OK left"), "{reply}");
    std::thread::sleep(Duration::from_millis(300));
    let a = a.finish();
    assert!(
        a.errors.is_empty(),
        "client errors: {:?}",
        &a.errors[..a.errors.len().min(5)]
    );
    // Node 2 is gone from the ring; check through the others.
    assert_eq!(even_owners(&c, 0), 3);
    c.nodes[2].kill();
    let mut con = c.conn(1);
    assert_numbered(&mut con, "ALL", "pre", "v", 0..300);
    let n = assert_all_readable(&c, 3, &[&a]);
    assert!(n > 100, "load too small: {n}");
    // Restarted on its data, the decommissioned node joins afresh under a
    // new id: its old id stays left, holding the handoff of its vnodes.
    c.nodes[2].restart();
    wait_for("the restarted node joined", Duration::from_secs(30), || {
        let nodes = cluster_nodes(&c, 0);
        nodes.lines().filter(|l| l.contains("normal up")).count() == 4
            && nodes.lines().filter(|l| l.contains(" left ")).count() == 1
    });
    assert_eq!(even_owners(&c, 2), 4);
    assert_numbered(&mut con, "ALL", "pre", "v", 0..300);
}

#[test]
fn a_leave_that_cannot_hand_over_changes_nothing_and_can_be_sent_again() {
    let mut c = Cluster::start_with(4, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    set_numbered(&mut con, "ALL", "h", "v", 0..200);
    c.nodes[3].kill();
    wait_for("node 3 judged down", Duration::from_secs(30), || {
        members_down(&c, 0, "1") && members_down(&c, 1, "1")
    });
    // Node 3 would adopt some of node 1's vnodes: the leave is refused and
    // node 1 serves on as before.
    let e = common::query(&mut c.conn(1), &["CLUSTER", "LEAVE"]).unwrap_err();
    assert!(e.contains("is down"), "{e}");
    wait_for("node 1 normal again", Duration::from_secs(10), || {
        let nodes = cluster_nodes(&c, 0);
        nodes.lines().filter(|l| l.contains("normal up")).count() == 3 && !nodes.contains("leaving")
    });
    set_numbered(&mut con, "QUORUM", "h", "w", 0..200);
    // Once node 3 is back, the same command succeeds.
    c.nodes[3].restart();
    wait_for("node 3 back up", Duration::from_secs(30), || {
        members_down(&c, 0, "0") && members_down(&c, 1, "0")
    });
    let reply: String = redis::cmd("CLUSTER")
        .arg("LEAVE")
        .query(&mut c.conn(1))
        .expect("CLUSTER LEAVE");
    assert!(reply.starts_with("OK left"), "{reply}");
    assert_eq!(even_owners(&c, 0), 3);
    // Still running off the ring, the left node coordinates a SCAN from the
    // members' keys, not from its own copy, which misses these deletes.
    for i in 0..10 {
        cl(&mut con, "ALL", &["DEL", &format!("h:{i}")]).unwrap();
    }
    let mut left = c.conn(1);
    let mut keys: Vec<String> = redis::Commands::scan(&mut left).unwrap().collect();
    keys.sort();
    keys.dedup();
    let mut want: Vec<String> = (10..200).map(|i| format!("h:{i}")).collect();
    want.sort();
    assert_eq!(keys, want);
    c.nodes[1].kill();
    assert_numbered(&mut con, "ALL", "h", "w", 10..200);
}

#[test]
fn a_node_that_left_a_cluster_of_two_answers_from_the_node_that_stays() {
    let c = Cluster::start(2);
    let mut stays = c.conn(0);
    let mut leaves = c.conn(1);
    cl(&mut stays, "ALL", &["SET", "k", "before"]).unwrap();
    let reply: String = redis::cmd("CLUSTER")
        .arg("LEAVE")
        .query(&mut leaves)
        .expect("CLUSTER LEAVE");
    assert!(reply.starts_with("OK left"), "{reply}");
    // Node 0 is now a cluster of one; node 1, off the ring but running,
    // must not answer from its own (stale) copy.
    cl(&mut stays, "ONE", &["SET", "k", "after"]).unwrap();
    cl(&mut stays, "ONE", &["SET", "new", "1"]).unwrap();
    let got = cl(&mut leaves, "ONE", &["GET", "k"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("after"));
    let size: i64 = redis::cmd("DBSIZE").query(&mut leaves).unwrap();
    assert_eq!(size, 2);
    // A write through it lands on the node that stays.
    cl(&mut leaves, "ONE", &["SET", "via-left", "x"]).unwrap();
    let got = cl(&mut stays, "ONE", &["GET", "via-left"]).unwrap();
    assert_eq!(bulk(&got).as_deref(), Some("x"));
}

fn members_down(c: &Cluster, node: usize, count: &str) -> bool {
    common::cluster::info_field(&c.nodes[node], "cluster_members_down").as_deref() == Some(count)
}

fn cluster_nodes(c: &Cluster, node: usize) -> String {
    redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut c.conn(node))
        .unwrap()
}

/// Asserts that every serving member, seen through `node`, owns within 10%
/// of an even share of the ring; returns how many there are.
fn even_owners(c: &Cluster, node: usize) -> usize {
    let nodes = cluster_nodes(c, node);
    let owners: Vec<f64> = nodes
        .lines()
        .filter(|l| l.contains("normal up"))
        .filter_map(|l| l.rsplit("ownership=").next()?.parse().ok())
        .collect();
    let even = 1.0 / owners.len() as f64;
    for o in &owners {
        assert!(
            (o - even).abs() <= 0.1 * even,
            "ownership {o} not within 10% of {even}: {nodes}"
        );
    }
    owners.len()
}

#[test]
fn a_node_that_cannot_start_takes_no_tokens_and_quorum_writes_go_on() {
    // Its metrics port is taken: the node exits at start-up. It must not
    // have announced tokens first, or it would stay on the ring as a
    // joiner that never finishes.
    let c = Cluster::start(3);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(common::server_binary())
        .args(["--port", &common::free_port().to_string()])
        .args(["--cluster-port", &common::free_port().to_string()])
        .args(["--metrics-port", &metrics_port, "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir.path())
        .args(["--seeds", &format!("127.0.0.1:{}", c.nodes[0].cluster_port)])
        .args(["--gossip-interval-ms", common::cluster::GOSSIP_MS])
        .args(["--loglevel", "warning"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(500));
    let mut con = c.conn(0);
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    for i in 0..50 {
        cl(&mut con, "QUORUM", &["SET", &format!("after:{i}"), "v"]).unwrap();
    }
}

/// The id `node` reports for itself in CLUSTER NODES.
fn own_id(node: &common::TestServer) -> String {
    let mut con = node.conn();
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
    let line = nodes
        .lines()
        .find(|l| l.contains("myself"))
        .expect("a myself line");
    line.split(' ').next().unwrap().to_string()
}

fn remove(node: &common::TestServer, id: &str) -> Result<redis::Value, String> {
    common::query(&mut node.conn(), &["CLUSTER", "REMOVE", id])
}

#[test]
fn a_node_gone_for_good_is_removed_and_its_ranges_reach_their_new_replicas() {
    // Hints expire at once and background anti-entropy is off: only the
    // streaming the removal starts can fill the new replicas.
    let mut c = Cluster::start_with(
        4,
        &["--anti-entropy-interval-ms", "0", "--hint-max-age-ms", "1"],
    );
    let mut con = c.conn(0);
    set_numbered(&mut con, "ALL", "r", "v", 0..300);
    let gone = own_id(&c.nodes[3]);
    c.nodes[3].kill();
    wait_for("node 3 judged down", Duration::from_secs(30), || {
        common::cluster::info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });

    let e = remove(&c.nodes[0], &own_id(&c.nodes[0])).unwrap_err();
    assert!(e.contains("run CLUSTER LEAVE"), "{e}");
    let e = remove(&c.nodes[0], &own_id(&c.nodes[1])).unwrap_err();
    assert!(e.contains("is up"), "{e}");
    let e = remove(&c.nodes[0], "not-an-id").unwrap_err();
    assert!(e.starts_with("ERR Invalid node id"), "{e}");
    let e = remove(&c.nodes[0], "12345").unwrap_err();
    assert!(e.contains("unknown node"), "{e}");

    let reply = remove(&c.nodes[0], &gone).unwrap();
    assert!(
        matches!(&reply, redis::Value::SimpleString(s) if s.starts_with("OK removed")),
        "{reply:?}"
    );
    let e = remove(&c.nodes[1], &gone).unwrap_err();
    assert!(e.contains("already left"), "{e}");
    assert_eq!(even_owners(&c, 1), 3, "its vnodes were adopted evenly");
    for node in &c.nodes[..3] {
        wait_for(
            "the removal streamed on every member",
            Duration::from_secs(30),
            || {
                common::cluster::info_field(node, "cluster_anti_entropy_rounds")
                    .and_then(|r| r.parse::<u64>().ok())
                    .is_some_and(|r| r >= 1)
            },
        );
    }
    // A member that left is counted as left, not as down.
    let field = |f: &str| common::cluster::info_field(&c.nodes[0], f);
    assert_eq!(field("cluster_members_down").as_deref(), Some("0"));
    assert_eq!(field("cluster_members_left").as_deref(), Some("1"));
    // Three nodes left with N = 3: each holds every key itself now.
    for node in &c.nodes[..3] {
        assert_numbered(&mut node.conn(), "ONE", "r", "v", 0..300);
    }
    // Started again on its old (stale) data, the removed node learns from
    // its seed that it was removed and refuses to start.
    let mut child = std::process::Command::new(common::server_binary())
        .args(["--port", &common::free_port().to_string()])
        .args(["--cluster-port", &common::free_port().to_string()])
        .args(["--metrics-port", &common::free_port().to_string()])
        .args(["--bind", "127.0.0.1", "--loglevel", "warning"])
        .arg("--dir")
        .arg(c.nodes[3].data_dir())
        .args(["--seeds", &format!("127.0.0.1:{}", c.nodes[0].cluster_port)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the removed node started on its stale data");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
}

#[test]
fn hints_kept_for_a_removed_node_go_to_the_keys_current_replicas() {
    let mut c = Cluster::start_with(4, &["--anti-entropy-interval-ms", "0"]);
    let gone = own_id(&c.nodes[3]);
    c.nodes[3].kill();
    wait_for("node 3 judged down", Duration::from_secs(30), || {
        common::cluster::info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });
    // Writes meant for node 3 leave hints for it (at ANY, a hint alone).
    let mut con = c.conn(0);
    for i in 0..100 {
        let level = if i % 2 == 0 { "QUORUM" } else { "ANY" };
        cl(
            &mut con,
            level,
            &["SET", &format!("h:{i}"), &format!("v{i}")],
        )
        .unwrap();
    }
    assert!(c.hints_pending() > 0);
    remove(&c.nodes[0], &gone).unwrap();
    wait_for("every hint delivered", Duration::from_secs(30), || {
        c.hints_pending() == 0
    });
    let sum = |field: &str| -> u64 {
        c.nodes[..3]
            .iter()
            .filter_map(|n| common::cluster::info_field(n, field))
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    };
    assert!(sum("cluster_hints_replayed") > 0);
    assert_eq!(sum("cluster_hints_expired"), 0);
    for i in 0..100 {
        let got = cl(&mut con, "ALL", &["GET", &format!("h:{i}")]).unwrap();
        assert_eq!(bulk(&got), Some(format!("v{i}")), "h:{i}");
    }
}

#[test]
fn hints_kept_before_a_flushdb_do_not_bring_its_keys_back() {
    // Hints for a paused replica, replayed slowly, are still pending when
    // FLUSHDB runs with every member up. They were merged into the new,
    // empty database after the flush and brought its keys back cluster-wide;
    // a flush now drops them on every member before any member flushes.
    let c = Cluster::start_with(
        3,
        &["--anti-entropy-interval-ms", "0", "--hint-replay-rate", "1"],
    );
    c.nodes[2].signal(libc::SIGSTOP);
    let load = Load::start(
        &c.nodes[0],
        "flushed",
        "QUORUM",
        300,
        Duration::from_secs(20),
    );
    let load = load.finish_after(Duration::from_secs(4));
    assert!(load.errors.is_empty(), "client errors: {:?}", load.errors);
    assert!(!load.acked.is_empty());
    // (The paused node cannot answer INFO; ask the others.)
    let pending: u64 = (0..2)
        .filter_map(|i| common::cluster::info_field(&c.nodes[i], "cluster_hints_pending"))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    assert!(pending > 0, "the writes to node 2 were not hinted");
    c.nodes[2].signal(libc::SIGCONT);
    c.wait_all_up();
    let mut con = c.conn(0);
    redis::cmd("FLUSHDB").query::<()>(&mut con).unwrap();
    // Whatever is still hinted may now go as fast as it can.
    for n in &c.nodes {
        let mut con = n.client().get_connection().unwrap();
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("hint-replay-rate")
            .arg("100000")
            .query::<()>(&mut con)
            .unwrap();
    }
    wait_for("hints pending reaches 0", Duration::from_secs(30), || {
        c.hints_pending() == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    let (first, _) = &load.acked[0];
    for i in 0..3 {
        let mut con = c.conn(i);
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(size, 0, "node {i} holds flushed keys again");
        let got = cl(&mut con, "ALL", &["GET", first]).unwrap();
        assert_eq!(bulk(&got), None, "node {i}");
    }
    let flushed: u64 = (0..3)
        .filter_map(|i| common::cluster::info_field(&c.nodes[i], "cluster_hints_flushed"))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    assert!(flushed > 0, "no hint was dropped by the flush");
}

/// A read asks only the replicas its level needs. When one of them is
/// paused and not yet marked down, the read asks the remaining replica
/// after `speculative-read-ms` instead of waiting out the replica timeout
/// (here far longer than the test: a read that waited for the paused node
/// would fail). Single reads and a pipeline's batched reads alike; with
/// `speculative-read-ms 0` every replica is asked at once, and a delay past
/// the replica timeout is cut to half of it. Once the paused
/// node's silence passes an eighth of `phi-threshold`, reads ask it last
/// and need no second round.
#[test]
fn a_read_asks_another_replica_when_the_one_it_asked_is_paused() {
    let c = Cluster::start_with(
        3,
        &[
            "--replica-timeout-ms",
            "20000",
            // No suspicion before the test raises it below.
            "--phi-threshold",
            "1000000",
            "--anti-entropy-interval-ms",
            "0",
        ],
    );
    let keys: Vec<String> = (0..40).map(|i| format!("spec:{i}")).collect();
    let mut con = c.conn(0);
    for k in &keys {
        cl(&mut con, "ALL", &["SET", k, &format!("v-{k}")]).unwrap();
    }
    let speculative = |c: &Cluster| {
        common::cluster::info_field(&c.nodes[0], "cluster_speculative_reads")
            .and_then(|v| v.parse::<u64>().ok())
            .expect("cluster_speculative_reads in INFO")
    };
    let read_all = |con: &mut redis::Connection| {
        for k in &keys {
            let got = cl(con, "QUORUM", &["GET", k]).unwrap_or_else(|e| panic!("GET {k}: {e}"));
            assert_eq!(bulk(&got), Some(format!("v-{k}")), "{k}");
        }
    };
    let config_set = |con: &mut redis::Connection, key: &str, value: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(key)
            .arg(value)
            .query(con)
            .unwrap();
    };
    let before = speculative(&c);
    c.nodes[2].signal(libc::SIGSTOP);
    // Node 0 is a replica of every key (N = 3): a QUORUM read asks it and
    // one peer, node 2 for about half of the keys.
    read_all(&mut con);
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("GET").arg(k);
    }
    let got: Vec<Option<String>> = pipe.query(&mut con).expect("pipelined GETs");
    for (k, v) in keys.iter().zip(got) {
        assert_eq!(v, Some(format!("v-{k}")), "{k}");
    }
    let asked_more = speculative(&c) - before;
    assert!(asked_more >= 2, "{asked_more} reads asked another replica");

    // Asking every replica at once needs no second round.
    config_set(&mut con, "speculative-read-ms", "0");
    let before = speculative(&c);
    read_all(&mut con);
    assert_eq!(speculative(&c), before);

    // A delay past the replica timeout is cut to half of it: the other
    // replica is still asked in time.
    config_set(&mut con, "replica-timeout-ms", "200");
    config_set(&mut con, "speculative-read-ms", "60000");
    let before = speculative(&c);
    read_all(&mut con);
    assert!(speculative(&c) > before, "no read asked another replica");
    config_set(&mut con, "replica-timeout-ms", "20000");
    config_set(&mut con, "speculative-read-ms", "10");

    // Suspected from phi 10, down from 80: about 2.3 and 18 s of silence
    // at the tests' gossip interval (100 ms).
    config_set(&mut con, "phi-threshold", "80");
    let node2 = format!(":{} ", c.nodes[2].cluster_port);
    let phi_of_node2 = |con: &mut redis::Connection| -> f64 {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(con).unwrap();
        let line = nodes.lines().find(|l| l.contains(&node2)).expect("node 2");
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("phi="))
            .and_then(|p| p.parse().ok())
            .expect("phi")
    };
    wait_for("node 2 suspected", Duration::from_secs(30), || {
        phi_of_node2(&mut con) >= 10.0
    });
    let before = speculative(&c);
    read_all(&mut con);
    assert_eq!(
        speculative(&c),
        before,
        "a suspected replica was asked first"
    );
    assert!(
        phi_of_node2(&mut con) < 80.0,
        "node 2 was marked down meanwhile"
    );
    c.nodes[2].signal(libc::SIGCONT);
}
