//! Counters reset and incremented on both sides of real network partitions
//! (tests/common/netfault.rs cuts a 2|1 split between node processes): a
//! string (INCRBY, DEL), a field of a small hash (HINCRBY, HDEL, DEL), a
//! field of a hash large enough to be stored split (HINCRBY, HDEL), a
//! member of a small sorted set (ZINCRBY, ZREM, DEL) and one of a split
//! sorted set (ZINCRBY, ZREM). After each heal, every node
//! reads at ALL exactly the sum of the increments no removal had seen when
//! it was made, and the counter is missing exactly when there is none
//! (observed-remove, `docs/data-types.md`).
//!
//! Random but reproducible (`COUNTER_PARTITION_SEED`); rounds and steps
//! are bounded; nodes are killed by PID when the test ends.

mod common;

use std::collections::BTreeSet;

use common::cluster::{Cluster, bulk, cl};
use common::netfault::Network;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 3;
const STEPS_PER_ROUND: usize = 32;
/// Fields of the large hash besides its counter: above the 64 that store
/// a hash split.
const PADDING: usize = 100;
/// Members of the large sorted set besides its counter: above the 512
/// that store a sorted set split (with a score index).
const ZSET_PADDING: usize = 600;

/// The counters, one per way of storing one.
#[derive(Clone, Copy, Debug)]
enum Counter {
    String,
    SmallHash,
    LargeHash,
    SortedSet,
    LargeSortedSet,
}

const COUNTERS: [Counter; 5] = [
    Counter::String,
    Counter::SmallHash,
    Counter::LargeHash,
    Counter::SortedSet,
    Counter::LargeSortedSet,
];

impl Counter {
    fn key(self) -> String {
        format!("counter:{self:?}")
    }

    fn increment(self, d: i64) -> Vec<String> {
        let (key, d) = (self.key(), d.to_string());
        match self {
            Counter::String => vec!["INCRBY".into(), key, d],
            Counter::SmallHash | Counter::LargeHash => vec!["HINCRBY".into(), key, "f".into(), d],
            Counter::SortedSet | Counter::LargeSortedSet => {
                vec!["ZINCRBY".into(), key, d, "m".into()]
            }
        }
    }

    /// A removal of the counter: of its member, or of the whole key (not
    /// for the split ones, whose DEL does not record its present counters,
    /// `docs/data-types.md`).
    fn removal(self, whole_key: bool) -> Vec<String> {
        let key = self.key();
        match self {
            Counter::String => vec!["DEL".into(), key],
            Counter::SmallHash | Counter::SortedSet if whole_key => vec!["DEL".into(), key],
            Counter::SmallHash | Counter::LargeHash => vec!["HDEL".into(), key, "f".into()],
            Counter::SortedSet | Counter::LargeSortedSet => vec!["ZREM".into(), key, "m".into()],
        }
    }

    fn read(self) -> Vec<String> {
        let key = self.key();
        match self {
            Counter::String => vec!["GET".into(), key],
            Counter::SmallHash | Counter::LargeHash => vec!["HGET".into(), key, "f".into()],
            Counter::SortedSet | Counter::LargeSortedSet => vec!["ZSCORE".into(), key, "m".into()],
        }
    }
}

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

/// The score of `m` in `key` as ZRANGEBYSCORE ... WITHSCORES lists it
/// (through the score index of a split sorted set).
fn ranged_score(conn: &mut redis::Connection, key: &str) -> Option<String> {
    let all = cl(
        conn,
        "ONE",
        &["ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES"],
    )
    .expect("ZRANGEBYSCORE");
    let redis::Value::Array(items) = all else {
        panic!("ZRANGEBYSCORE: {all:?}");
    };
    items
        .chunks(2)
        .find(|pair| bulk(&pair[0]).as_deref() == Some("m"))
        .and_then(|pair| pair.get(1).and_then(bulk))
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
    // The large hash's other fields, and sorted sets that other members
    // keep alive (a ZREM of the counter then leaves them in place).
    let padding = |command: &str, key: String, n: usize, value: &dyn Fn(usize) -> String| {
        let mut args = vec![command.to_string(), key];
        for i in 0..n {
            let (member, v) = (format!("pad:{i}"), value(i));
            if command == "HSET" {
                args.extend([member, v]);
            } else {
                args.extend([v, member]);
            }
        }
        args
    };
    for args in [
        padding("HSET", Counter::LargeHash.key(), PADDING, &|_| "x".into()),
        padding("ZADD", Counter::SortedSet.key(), 1, &|_| "1".into()),
        padding("ZADD", Counter::LargeSortedSet.key(), ZSET_PADDING, &|i| {
            format!("{}", i as f64 / 7.0 - 40.0)
        }),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cl(&mut conns[0], "ALL", &args).expect("padding");
    }
    let mut models: Vec<Model> = COUNTERS.iter().map(|_| Model::default()).collect();
    for round in 0..ROUNDS {
        c.isolate_last(&mut net);
        for step in 0..STEPS_PER_ROUND {
            let k = rng.random_range(0..COUNTERS.len());
            let counter = COUNTERS[k];
            // Majority through node 0 or 1 at QUORUM, or the cut-off node 2
            // at ONE.
            let node = rng.random_range(0..3);
            let (side, level) = if node == 2 { (1, "ONE") } else { (0, "QUORUM") };
            let m = &mut models[k];
            let command = if rng.random_range(0..5) == 0 {
                let seen = m.known[side].clone();
                m.removed.extend(seen);
                counter.removal(rng.random_bool(0.5))
            } else {
                let d: i64 = rng.random_range(1..10);
                m.known[side].insert(m.deltas.len());
                m.deltas.push(d);
                counter.increment(d)
            };
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            println!("round {round} step {step}: {args:?} via node {node} ({level})");
            cl(&mut conns[node], level, &args)
                .unwrap_or_else(|e| panic!("round {round} step {step}: {args:?}: {e}"));
        }
        c.heal_and_repair(&mut net);
        for (k, m) in models.iter_mut().enumerate() {
            m.heal();
            let counter = COUNTERS[k];
            let read = counter.read();
            let read: Vec<&str> = read.iter().map(String::as_str).collect();
            for (node, conn) in conns.iter_mut().enumerate() {
                let got = cl(conn, "ALL", &read).expect("read");
                if bulk(&got) != m.expected() {
                    for n in 0..3 {
                        let mut other = c.conn(n);
                        println!("ONE read via {n}: {:?}", cl(&mut other, "ONE", &read));
                    }
                    let key = counter.key();
                    println!("ALL VGET: {:?}", cl(conn, "ALL", &["VGET", &key]));
                }
                assert_eq!(
                    bulk(&got),
                    m.expected(),
                    "seed {seed} round {round}: {counter:?} through node {node}"
                );
                if matches!(counter, Counter::SortedSet | Counter::LargeSortedSet) {
                    assert_eq!(
                        ranged_score(conn, &counter.key()),
                        m.expected(),
                        "seed {seed} round {round}: {counter:?} ranged through node {node}"
                    );
                }
            }
        }
    }
    // The large hash kept every other field.
    let key = Counter::LargeHash.key();
    for conn in conns.iter_mut() {
        let fields = cl(conn, "ONE", &["HLEN", &key]).expect("HLEN");
        let has_counter = models[2].expected().is_some();
        assert_eq!(
            fields,
            redis::Value::Int(PADDING as i64 + i64::from(has_counter)),
            "seed {seed}"
        );
    }
}
