//! Lists, blocking pops and pub/sub on a 3-node cluster of real processes:
//! concurrent pushes through two coordinators all survive in one order on
//! every replica, a consumer blocked on one node receives everything pushed
//! through the others, subscribers on every node receive every message
//! published through any node in order, and a node that was down gets the
//! pushes by hints (a list large enough to be stored split too).
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, cl, info_field, wait_for};
use common::*;

fn lrange(con: &mut redis::Connection, level: &str, key: &str) -> Vec<String> {
    strings(cl(con, level, &["LRANGE", key, "0", "-1"]).unwrap())
}

/// Whether `list` holds `prefix0..prefixN-1` in order (among others).
fn in_order(list: &[String], prefix: &str, n: usize) -> bool {
    let mine: Vec<&String> = list.iter().filter(|e| e.starts_with(prefix)).collect();
    mine.len() == n
        && mine
            .iter()
            .enumerate()
            .all(|(i, e)| **e == format!("{prefix}{i}"))
}

/// Pushes `n{node}-{i}` for i in 0..n through nodes 0 and 1 at once (a
/// short pause every `pause_every` pushes when not 0).
fn push_through_two_nodes(
    c: &Cluster,
    cmd: &'static str,
    key: &'static str,
    n: usize,
    pause_every: usize,
) {
    let pushers: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            thread::spawn(move || {
                for i in 0..n {
                    let v = format!("n{node}-{i}");
                    cl(&mut con, "QUORUM", &[cmd, key, &v]).unwrap();
                    if pause_every > 0 && i % pause_every == 0 {
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
}

#[test]
fn concurrent_pushes_through_two_coordinators_all_survive_in_one_order() {
    let c = Cluster::start(3);
    const N: usize = 1000;
    push_through_two_nodes(&c, "RPUSH", "feed", N, 0);
    let mut first: Option<Vec<String>> = None;
    for node in 0..3 {
        let mut con = c.conn(node);
        assert_eq!(
            cl(&mut con, "ALL", &["LLEN", "feed"]).unwrap(),
            int(2 * N as i64),
            "node {node}"
        );
        let list = lrange(&mut con, "ALL", "feed");
        assert!(
            in_order(&list, "n0-", N),
            "node {node}: n0's pushes in order"
        );
        assert!(
            in_order(&list, "n1-", N),
            "node {node}: n1's pushes in order"
        );
        match &first {
            None => first = Some(list),
            Some(f) => assert_eq!(f, &list, "node {node} orders the list differently"),
        }
    }
    // After ALL reads repaired every replica, each answers alone the same.
    for node in 0..3 {
        let mut con = c.conn(node);
        assert_eq!(Some(lrange(&mut con, "ONE", "feed")), first, "node {node}");
    }
}

#[test]
fn a_consumer_blocked_on_one_node_gets_every_push_through_the_others() {
    let c = Cluster::start(3);
    const N: usize = 200;
    let mut consumer = c.conn(2);
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while got.len() < 2 * N && Instant::now() < deadline {
            let r = query(&mut consumer, &["BRPOP", "jobs", "5"]).unwrap();
            let items = strings(r);
            if let [_, v] = items.as_slice() {
                got.push(v.clone());
            }
        }
        got
    });
    // Let the consumer block first, so pushes wake it.
    wait_for("the consumer blocked", Duration::from_secs(10), || {
        let mut con = c.conn(2);
        let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
        info.contains("blocked_clients:1")
    });
    push_through_two_nodes(&c, "LPUSH", "jobs", N, 20);
    let got = reader.join().unwrap();
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "one consumer never gets duplicates"
    );
    let want: BTreeSet<String> = (0..2)
        .flat_map(|n| (0..N).map(move |i| format!("n{n}-{i}")))
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        want,
        "every pushed element reached the consumer"
    );
    let mut con = c.conn(0);
    assert_eq!(cl(&mut con, "ALL", &["LLEN", "jobs"]).unwrap(), int(0));
}

#[test]
fn subscribers_on_every_node_get_every_message_in_publish_order() {
    let c = Cluster::start(3);
    const N: usize = 200;
    let mut subs: Vec<RawConn> = (0..3)
        .map(|node| {
            let mut r = c.nodes[node].raw();
            r.send_cmd(&[b"SUBSCRIBE", b"events"]);
            assert!(r.read_reply().contains("subscribe"));
            r
        })
        .collect();
    let publishers: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            thread::spawn(move || {
                for i in 0..N {
                    let n: i64 = redis::cmd("PUBLISH")
                        .arg("events")
                        .arg(format!("p{node}-{i}"))
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(n, 3, "PUBLISH counts subscribers on every node");
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    for (node, sub) in subs.iter_mut().enumerate() {
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..2 * N {
            let reply = sub.read_reply();
            let payload = reply.rsplit("\r\n").nth(1).unwrap_or_default().to_string();
            seen.push(payload);
        }
        assert!(in_order(&seen, "p0-", N), "node {node} from p0: {seen:?}");
        assert!(in_order(&seen, "p1-", N), "node {node} from p1");
    }
    let mut con = c.conn(0);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("pubsub_channels:1"), "{info}");
}

#[test]
fn a_node_down_during_pushes_gets_them_by_hints() {
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    c.nodes[2].kill();
    wait_for("node 2 seen down", Duration::from_secs(20), || {
        info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });
    for i in 0..300 {
        let key = format!("q{}", i % 10);
        cl(&mut con, "QUORUM", &["RPUSH", &key, &format!("e{i}")]).unwrap();
    }
    c.nodes[2].restart_same_ports();
    c.wait_all_up();
    wait_for("every hint delivered", Duration::from_secs(60), || {
        c.hints_pending() == 0
    });
    let mut con2 = c.conn(2);
    for k in 0..10 {
        let key = format!("q{k}");
        let list = lrange(&mut con2, "ONE", &key);
        let want: Vec<String> = (0..30).map(|j| format!("e{}", j * 10 + k)).collect();
        assert_eq!(list, want, "{key} on the node that was down");
    }
}

#[test]
fn a_large_list_replicates_and_a_node_down_gets_it_by_hints() {
    // Large enough to be stored split (a header and a record per element)
    // on every replica; replicas still exchange it as one record.
    let mut c = Cluster::start_with(3, &["--anti-entropy-interval-ms", "0"]);
    let mut con = c.conn(0);
    c.nodes[2].kill();
    wait_for("node 2 seen down", Duration::from_secs(20), || {
        info_field(&c.nodes[0], "cluster_members_down").as_deref() == Some("1")
    });
    let mut want: Vec<String> = Vec::new();
    for chunk in 0..12 {
        let values: Vec<String> = (0..100).map(|i| format!("e{}", chunk * 100 + i)).collect();
        let mut args = vec!["RPUSH", "big"];
        args.extend(values.iter().map(String::as_str));
        cl(&mut con, "QUORUM", &args).unwrap();
        want.extend(values);
    }
    let popped = strings(cl(&mut con, "QUORUM", &["LPOP", "big", "5"]).unwrap());
    assert_eq!(popped, want.drain(..5).collect::<Vec<_>>());
    c.nodes[2].restart_same_ports();
    c.wait_all_up();
    wait_for("every hint delivered", Duration::from_secs(60), || {
        c.hints_pending() == 0
    });
    for node in 0..3 {
        let mut con = c.conn(node);
        assert_eq!(lrange(&mut con, "ONE", "big"), want, "node {node} at ONE");
        assert_eq!(
            cl(&mut con, "ONE", &["LLEN", "big"]).unwrap(),
            int(want.len() as i64)
        );
        assert_eq!(
            strings(cl(&mut con, "ALL", &["LRANGE", "big", "-3", "-1"]).unwrap()),
            want[want.len() - 3..].to_vec()
        );
    }
    cl(&mut con, "ALL", &["DEL", "big"]).unwrap();
    for node in 0..3 {
        let mut con = c.conn(node);
        assert_eq!(cl(&mut con, "ONE", &["EXISTS", "big"]).unwrap(), int(0));
    }
}

#[test]
fn sort_reads_pattern_keys_across_the_ring_and_swapdb_is_refused() {
    let c = Cluster::start(3);
    let mut a = c.conn(0);
    const N: usize = 30;
    for i in 0..N {
        let i = i.to_string();
        cl(&mut a, "QUORUM", &["RPUSH", "ids", &i]).unwrap();
        let weight = (1000 - i.parse::<i64>().unwrap()).to_string();
        cl(&mut a, "QUORUM", &["SET", &format!("weight_{i}"), &weight]).unwrap();
        cl(
            &mut a,
            "QUORUM",
            &["HSET", &format!("obj_{i}"), "name", &format!("n{i}")],
        )
        .unwrap();
    }
    // Through another node: the BY and GET keys live all over the ring.
    let mut b = c.conn(1);
    // Replicas could disagree on which database a concurrent write went
    // to: a cluster does not swap databases.
    assert_eq!(
        query(&mut b, &["SWAPDB", "0", "1"]).unwrap_err(),
        "ERR SWAPDB is not allowed in cluster mode"
    );
    let args = [
        "SORT",
        "ids",
        "BY",
        "weight_*",
        "GET",
        "obj_*->name",
        "STORE",
        "out",
    ];
    assert_eq!(cl(&mut b, "QUORUM", &args).unwrap(), int(N as i64));
    let want: Vec<String> = (0..N).rev().map(|i| format!("n{i}")).collect();
    for node in 0..3 {
        let mut con = c.conn(node);
        let got = strings(cl(&mut con, "ALL", &["LRANGE", "out", "0", "-1"]).unwrap());
        assert_eq!(got, want, "node {node}");
        let read = cl(
            &mut con,
            "QUORUM",
            &["SORT_RO", "ids", "BY", "weight_*", "LIMIT", "0", "2"],
        )
        .unwrap();
        assert_eq!(
            strings(read),
            vec![(N - 1).to_string(), (N - 2).to_string()],
            "node {node}"
        );
    }
}
