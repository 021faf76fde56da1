//! CLUSTER REPAIR on replicas holding more than a replica timeout's worth
//! of records: a peer's Merkle tree walks every record of the shared
//! ranges, which takes longer than one key's request. The tree request was
//! bounded by `replica-timeout-ms`, so repair, anti-entropy and the
//! rebuild after a crash failed once a node held about ten million
//! collection members (2 s timeout); here a short timeout makes a few
//! hundred thousand enough.
//!
//! Every wait is bounded; nodes are killed by PID when the test ends.

mod common;

use common::cluster::{Cluster, repair};

#[test]
fn repair_succeeds_when_a_tree_takes_longer_than_the_replica_timeout() {
    let c = Cluster::start(3);
    let mut con = c.conn(0);
    // 300,000 hash fields in 600 commands of 500.
    for key in 0..6 {
        let mut pipe = redis::pipe();
        for batch in 0..100 {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(format!("fill:{key}"));
            for i in 0..500 {
                cmd.arg(format!("f{batch:03}{i:03}")).arg("v");
            }
            pipe.add_command(cmd).ignore();
        }
        let () = pipe.query(&mut con).expect("HSET batch");
    }
    // A replica timeout far below what building a tree of them takes.
    for node in &c.nodes {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("replica-timeout-ms")
            .arg("5")
            .query(&mut node.conn())
            .expect("CONFIG SET");
    }
    let summary = repair(&c.nodes[0]);
    assert_eq!(summary.get("peers"), Some(&2), "{summary:?}");
    assert_eq!(summary.get("ranges_differing"), Some(&0), "{summary:?}");
}
