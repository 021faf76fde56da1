//! Counters reset and incremented on both sides of real network partitions
//! (tests/common/netfault.rs cuts a 2|1 split between node processes):
//! after each heal, every node reads at ALL exactly the sum of the
//! increments no DEL had seen when it was made, and the key is missing
//! exactly when there is none (observed-remove, `docs/data-types.md`).
//!
//! Random but reproducible (`COUNTER_PARTITION_SEED`); rounds and steps
//! are bounded; nodes are killed by PID when the test ends.

mod common;

use std::collections::BTreeSet;

use common::cluster::{Cluster, bulk, cl};
use common::netfault::Network;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: usize = 4;
const ROUNDS: usize = 3;
const STEPS_PER_ROUND: usize = 24;

/// One key's history as the two sides of the partition know it.
#[derive(Default)]
struct Model {
    deltas: Vec<i64>,
    /// Increments each side has seen: 0 the majority (nodes 0 and 1), 1
    /// the cut-off node 2.
    known: [BTreeSet<usize>; 2],
    /// Increments a DEL had seen.
    removed: BTreeSet<usize>,
}

impl Model {
    fn heal(&mut self) {
        let all: BTreeSet<usize> = self.known[0].union(&self.known[1]).copied().collect();
        self.known = [all.clone(), all];
    }

    fn expected(&self) -> Option<String> {
        let unseen: Vec<i64> = (0..self.deltas.len())
            .filter(|e| !self.removed.contains(e))
            .map(|e| self.deltas[e])
            .collect();
        (!unseen.is_empty()).then(|| unseen.iter().sum::<i64>().to_string())
    }
}

#[test]
fn increments_no_delete_had_seen_all_count_after_each_heal() {
    let seed = std::env::var("COUNTER_PARTITION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("COUNTER_PARTITION_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Network::new();
    let c = Cluster::start_for_partition(&mut net);
    let mut conns = [c.conn(0), c.conn(1), c.conn(2)];
    let mut models: Vec<Model> = (0..KEYS).map(|_| Model::default()).collect();
    for round in 0..ROUNDS {
        c.isolate_last(&mut net);
        for step in 0..STEPS_PER_ROUND {
            let k = rng.random_range(0..KEYS);
            let key = format!("counter:{k}");
            // Majority through node 0 or 1 at QUORUM, or the cut-off node 2
            // at ONE.
            let node = rng.random_range(0..3);
            let (side, level) = if node == 2 { (1, "ONE") } else { (0, "QUORUM") };
            let m = &mut models[k];
            if rng.random_range(0..5) == 0 {
                println!("round {round} step {step}: DEL {key} via node {node} ({level})");
                cl(&mut conns[node], level, &["DEL", &key])
                    .unwrap_or_else(|e| panic!("round {round} step {step}: DEL {key}: {e}"));
                let seen = m.known[side].clone();
                m.removed.extend(seen);
            } else {
                let d: i64 = rng.random_range(1..10);
                println!("round {round} step {step}: INCRBY {key} {d} via node {node} ({level})");
                cl(&mut conns[node], level, &["INCRBY", &key, &d.to_string()])
                    .unwrap_or_else(|e| panic!("round {round} step {step}: INCRBY {key}: {e}"));
                m.known[side].insert(m.deltas.len());
                m.deltas.push(d);
            }
        }
        c.heal_and_repair(&mut net);
        for (k, m) in models.iter_mut().enumerate() {
            m.heal();
            let key = format!("counter:{k}");
            for (node, conn) in conns.iter_mut().enumerate() {
                let got = cl(conn, "ALL", &["GET", &key]).expect("GET");
                if bulk(&got) != m.expected() {
                    for n in 0..3 {
                        let mut other = c.conn(n);
                        println!(
                            "ONE VGET via {n}: {:?}",
                            cl(&mut other, "ONE", &["VGET", &key])
                        );
                        println!(
                            "ONE GET via {n}: {:?}",
                            cl(&mut other, "ONE", &["GET", &key])
                        );
                    }
                    println!("ALL VGET: {:?}", cl(conn, "ALL", &["VGET", &key]));
                }
                assert_eq!(
                    bulk(&got),
                    m.expected(),
                    "seed {seed} round {round}: {key} through node {node}"
                );
            }
        }
    }
}
