//! A write a node forwards to a key's first replica, held up by a short
//! partition, must not be applied when the partition heals: by then the
//! forwarding node has timed out, sent it to the next replica and answered
//! its client, and the cut-off replica has taken newer writes that a late
//! copy would supersede (`docs/protocol/node-rpc.md`, APPLY `deadline_ms`).
//!
//! Real node processes behind the partition proxy, which holds bytes
//! during a cut and delivers them in order at the heal, as TCP does after
//! a short partition. Every wait is bounded; nodes are killed by PID.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, bulk, cl, info_field, wait_for};
use common::netfault::Network;

/// The token hash's seed (`cluster/src/token.rs`; never changes).
const TOKEN_SEED: u64 = 0x7269_6e67_6b76_0001;
const REPLICAS: usize = 3;

/// The ring as CLUSTER RING shows it: (token, client address), by token.
fn ring(con: &mut redis::Connection) -> Vec<(u64, String)> {
    let v: redis::Value = redis::cmd("CLUSTER")
        .arg("RING")
        .query(con)
        .expect("CLUSTER RING");
    let redis::Value::Array(vnodes) = v else {
        panic!("CLUSTER RING replied {v:?}")
    };
    let mut out: Vec<(u64, String)> = vnodes
        .iter()
        .map(|vn| {
            let redis::Value::Array(f) = vn else {
                panic!("vnode {vn:?}")
            };
            let token = bulk(&f[0]).and_then(|t| t.parse().ok()).expect("token");
            (token, bulk(&f[2]).expect("address"))
        })
        .collect();
    out.sort();
    out
}

/// The client addresses of `key`'s replicas, first replica first.
fn replicas(ring: &[(u64, String)], key: &str) -> Vec<String> {
    let token = xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), TOKEN_SEED);
    let start = ring.partition_point(|(t, _)| *t < token) % ring.len();
    let mut out: Vec<String> = Vec::new();
    for (_, addr) in ring[start..].iter().chain(&ring[..start]) {
        if !out.contains(addr) {
            out.push(addr.clone());
            if out.len() == REPLICAS {
                break;
            }
        }
    }
    out
}

#[test]
fn a_forwarded_write_held_by_a_partition_is_not_applied_after_the_heal() {
    let mut net = Network::new();
    let c = Cluster::start_behind(
        &mut net,
        4,
        &[
            "--anti-entropy-interval-ms",
            "0",
            "--replica-timeout-ms",
            "1000",
        ],
    );
    let addr = |i: usize| format!("{}:{}", c.nodes[i].host, c.nodes[i].port);
    let ring = ring(&mut c.conn(0));
    // Node 0 forwards; a key whose first replica is another node (cut off
    // below) and which node 0 does not hold.
    let (key, cut) = (0..100_000)
        .map(|i| format!("late:{i}"))
        .find_map(|key| {
            let list = replicas(&ring, &key);
            let first = (1..4).find(|&i| list.first() == Some(&addr(i)))?;
            (!list.contains(&addr(0))).then_some((key, first))
        })
        .expect("a key whose first replica is not node 0 and which node 0 does not hold");
    let (mut forwarder, mut cut_off) = (c.conn(0), c.conn(cut));
    cl(&mut forwarder, "ALL", &["SET", &key, "v0"]).expect("SET v0");
    let rest: Vec<usize> = (0..4).filter(|&i| i != cut).collect();
    net.partition(&[&rest, &[cut]]);
    // Sent to the cut-off first replica first, timed out, then to the next.
    let started = Instant::now();
    cl(&mut forwarder, "QUORUM", &["SET", &key, "v1"]).expect("SET v1");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "node 0 did not try the cut-off replica first ({:?})",
        started.elapsed()
    );
    // A newer write on the cut-off side, acknowledged there: a later
    // millisecond, so last-write-wins cannot pick v1 by a tie.
    std::thread::sleep(Duration::from_millis(20));
    cl(&mut cut_off, "ONE", &["SET", &key, "v2"]).expect("SET v2");
    c.heal_and_repair(&mut net);
    let versions = cl(&mut c.conn(0), "ALL", &["VGET", &key]);
    for i in 0..4 {
        let got = cl(&mut c.conn(i), "ALL", &["GET", &key]).expect("GET");
        assert_eq!(
            bulk(&got).as_deref(),
            Some("v2"),
            "{key} through node {i} (versions {versions:?})"
        );
    }
    // It did reach the replica, and was refused there.
    wait_for(
        "the held forward reaches the replica and is refused",
        Duration::from_secs(10),
        || {
            info_field(&c.nodes[cut], "cluster_late_applies_refused")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 1)
        },
    );
}
