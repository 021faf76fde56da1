//! Issue 14: a replica that lost part of its data (a power cut that drops
//! the WAL tail, a disk replaced by an empty one) must not build new
//! versions on what it has left. It used to reuse version stamps the other
//! replicas already held with newer content, so its next DEL, SET or INCR
//! was dropped on arrival everywhere, after the client got a reply (and an
//! INCR replied with a count that went backwards).
//!
//! Both scenarios run deterministically with real processes; every check
//! reads at ALL through every node after CLUSTER REPAIR.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cluster::{Cluster, bulk, cl, info_field, repair, wait_for};
use common::{TestServer, query, wal_files};

/// A power cut: every WAL file back to the length it had at `synced`.
fn cut_wals_back(node: &TestServer, synced: &[(PathBuf, u64)]) {
    let now = wal_files(&node.data_dir());
    assert_eq!(
        now.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        synced.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "the WAL did not rotate between the fsync point and the kill"
    );
    let mut cut = 0;
    for ((path, len_now), (_, len_then)) in now.iter().zip(synced) {
        assert!(len_now >= len_then);
        cut += len_now - len_then;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open WAL");
        f.set_len(*len_then).expect("truncate WAL");
        f.sync_all().expect("sync");
    }
    assert!(cut > 0, "the writes after the fsync point reached the WAL");
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    query(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match ok(con, args) {
        redis::Value::Int(i) => i,
        other => panic!("{args:?}: expected an integer, got {other:?}"),
    }
}

/// The writes both scenarios make through node 1 before it loses data:
/// `a` twice, `d` once, `b` once, `c` incremented `incrs` times.
fn write_history(con: &mut redis::Connection, incrs: i64, tag: &str) {
    ok(con, &["SET", "a", &format!("a-{tag}-1")]);
    ok(con, &["SET", "a", &format!("a-{tag}-2")]);
    ok(con, &["SET", "b", &format!("b-{tag}")]);
    ok(con, &["SET", "d", &format!("d-{tag}")]);
    for _ in 0..incrs {
        int(con, &["INCR", "c"]);
    }
}

/// Through the node that lost data: DEL a, SET b, INCR c, DEL d, with
/// the replies a client must see.
fn write_after_loss(con: &mut redis::Connection, counter_before: i64) {
    assert_eq!(int(con, &["DEL", "a"]), 1, "DEL a");
    ok(con, &["SET", "b", "b-final"]);
    assert_eq!(
        int(con, &["INCR", "c"]),
        counter_before + 1,
        "an INCR reply never goes backwards"
    );
    assert_eq!(int(con, &["DEL", "d"]), 1, "DEL d");
}

/// After repair, every node reads the last acknowledged state at ALL.
fn assert_final_state(c: &Cluster, counter: i64) {
    wait_for("node 1 rebuilt", Duration::from_secs(60), || {
        info_field(&c.nodes[1], "cluster_rebuilding").as_deref() == Some("0")
    });
    for node in &c.nodes {
        repair(node);
    }
    for (i, node) in c.nodes.iter().enumerate() {
        let mut con = node.conn();
        let get = |con: &mut redis::Connection, k: &str| {
            bulk(&cl(con, "ALL", &["GET", k]).unwrap_or_else(|e| panic!("node {i} GET {k}: {e}")))
        };
        assert_eq!(get(&mut con, "a"), None, "node {i}: the DEL of a was lost");
        assert_eq!(get(&mut con, "d"), None, "node {i}: the DEL of d was lost");
        assert_eq!(
            get(&mut con, "b").as_deref(),
            Some("b-final"),
            "node {i}: the last SET of b was lost"
        );
        assert_eq!(
            get(&mut con, "c"),
            Some(counter.to_string()),
            "node {i}: increments lost"
        );
    }
}

#[test]
fn a_power_cut_on_a_replica_loses_no_acknowledged_write_made_after_it() {
    let mut c = Cluster::start_with(
        3,
        &[
            "--appendfsync",
            "everysec",
            "--anti-entropy-interval-ms",
            "0",
        ],
    );
    let mut con = c.conn(1);
    write_history(&mut con, 5, "synced");
    // Past the next fsync: what the WAL holds now is on disk.
    std::thread::sleep(Duration::from_millis(1500));
    let synced = wal_files(&c.nodes[1].data_dir());
    // Acknowledged at QUORUM, but only in node 1's page cache.
    write_history(&mut con, 5, "unsynced");
    drop(con);
    c.nodes[1].kill();
    cut_wals_back(&c.nodes[1], &synced);
    c.nodes[1].restart_same_ports();
    let mut con = c.conn(1);
    write_after_loss(&mut con, 10);
    c.wait_all_up();
    assert_final_state(&c, 11);
}

#[test]
fn a_replaced_disk_loses_no_acknowledged_write_made_while_it_streams() {
    let mut c = Cluster::start_with(
        3,
        &["--appendfsync", "always", "--anti-entropy-interval-ms", "0"],
    );
    // Enough data that streaming it back takes a while.
    let mut con0 = c.conn(0);
    for batch in 0..300 {
        let mut cmd = redis::cmd("MSET");
        for i in 0..100 {
            let k = format!("bulk:{}", batch * 100 + i);
            cmd.arg(k.clone()).arg(k);
        }
        let _: () = cmd.query(&mut con0).expect("MSET");
    }
    let mut con = c.conn(1);
    write_history(&mut con, 20, "old");
    drop(con);
    c.nodes[1].kill();
    c.nodes[1].wipe();
    // Back at the same address with an empty directory: it takes over the
    // old identity and streams its data back. Commands go in at once.
    c.nodes[1].restart_same_ports();
    let mut con = c.conn(1);
    write_after_loss(&mut con, 20);
    c.wait_all_up();
    assert_final_state(&c, 21);
    let mut con = c.conn(1);
    for i in (0..30_000).step_by(997) {
        let k = format!("bulk:{i}");
        assert_eq!(
            bulk(&cl(&mut con, "ALL", &["GET", &k]).expect("GET")),
            Some(k.clone()),
            "{k}"
        );
    }
}

#[test]
fn a_clean_stop_keeps_the_actor_and_an_unclean_one_draws_a_fresh_one() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let actor = |node: &TestServer| info_field(node, "cluster_actor").expect("cluster_actor");
    let first = actor(&c.nodes[1]);
    let mut con = c.conn(1);
    write_history(&mut con, 3, "before");
    drop(con);
    assert!(c.nodes[1].terminate(), "a clean exit");
    c.nodes[1].restart_same_ports();
    assert_eq!(actor(&c.nodes[1]), first, "a clean stop keeps the actor");
    assert_eq!(
        info_field(&c.nodes[1], "cluster_rebuilding").as_deref(),
        Some("0"),
        "and has nothing to rebuild"
    );
    c.nodes[1].kill();
    c.nodes[1].restart_same_ports();
    let second = actor(&c.nodes[1]);
    assert_ne!(second, first, "kill -9 draws a fresh actor");
    let mut con = c.conn(1);
    write_after_loss(&mut con, 3);
    c.wait_all_up();
    assert_final_state(&c, 4);
}

#[test]
fn a_first_node_restarted_without_seeds_knows_its_cluster_at_once() {
    // Node 0 was started without --seeds. Restarted, it used to take
    // itself for a cluster of one until a peer gossiped to it, and answered
    // from its own, stale, record meanwhile.
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    c.nodes[0].kill();
    for i in 0..10 {
        let mut con = c.conn(1 + i % 2);
        int(&mut con, &["INCR", "c"]);
    }
    c.nodes[0].restart_same_ports();
    let mut con = c.conn(0);
    assert_eq!(
        int(&mut con, &["INCR", "c"]),
        11,
        "the restarted node answered from its own record alone"
    );
    assert_eq!(
        info_field(&c.nodes[0], "cluster_known_nodes").as_deref(),
        Some("3")
    );
}
