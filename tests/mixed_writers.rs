//! Two coordinators writing the same keys at once, each mixing pipelined
//! plain SETs (which a cluster node writes together, one batch per
//! replica, with no read at the command layer) with read-modify-write
//! commands (INCRBY, APPEND, SET NX) in the same pipelines. What the
//! documentation promises must hold on every node afterwards:
//!
//! - a key SET through both ends with one or two siblings (VGET), each the
//!   last value one of the coordinators wrote: a coordinator's own later
//!   write supersedes its earlier ones, and nothing older comes back;
//!   GET answers one of them;
//! - counters incremented through both count every acknowledged
//!   increment;
//! - APPENDs through one coordinator keep their order and every byte;
//! - each SET NX has exactly one winner across the two, whose value stays.
//!
//! Every loop is bounded; the servers are killed by PID when the test ends.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use common::cluster::{Cluster, bulk, cl, sibling_values};

const ROUNDS: usize = 100;
const SHARED: usize = 24;
const COUNTERS: usize = 6;

/// What one coordinator's writer acknowledged.
struct Written {
    /// Per shared key, the last value it SET.
    last: Vec<String>,
    /// Acknowledged increments per counter.
    increments: Vec<i64>,
    /// The SET NX rounds it won.
    nx_won: BTreeSet<usize>,
    /// Everything it appended, in order.
    appended: String,
}

fn writer(port: u16, name: &'static str, by: i64, rounds: &Barrier) -> Written {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let mut con = client.get_connection().expect("connection");
    let mut w = Written {
        last: vec![String::new(); SHARED],
        increments: vec![0; COUNTERS],
        nx_won: BTreeSet::new(),
        appended: String::new(),
    };
    for round in 0..ROUNDS {
        // Both writers send each round's pipeline at the same moment, so
        // their writes of one key are often concurrent.
        rounds.wait();
        let mut p = redis::pipe();
        // A run of plain SETs on distinct keys (written together), broken
        // by read-modify-writes, then another run.
        for j in 0..SHARED / 2 {
            p.cmd("SET")
                .arg(format!("s:{j}"))
                .arg(format!("{name}-{round}-{j}"));
        }
        for c in 0..COUNTERS {
            p.cmd("INCRBY").arg(format!("c:{c}")).arg(by);
        }
        p.cmd("APPEND")
            .arg(format!("log:{name}"))
            .arg(format!("{round},"));
        p.cmd("SET").arg(format!("nx:{round}")).arg(name).arg("NX");
        for j in SHARED / 2..SHARED {
            p.cmd("SET")
                .arg(format!("s:{j}"))
                .arg(format!("{name}-{round}-{j}"));
        }
        let replies: Vec<redis::Value> = p.query(&mut con).expect("pipeline");
        let mut replies = replies.into_iter();
        for j in 0..SHARED / 2 {
            assert_eq!(replies.next(), Some(redis::Value::Okay), "{name} s:{j}");
            w.last[j] = format!("{name}-{round}-{j}");
        }
        for c in 0..COUNTERS {
            assert!(
                matches!(replies.next(), Some(redis::Value::Int(_))),
                "{name} c:{c}"
            );
            w.increments[c] += by;
        }
        assert!(matches!(replies.next(), Some(redis::Value::Int(_))));
        w.appended.push_str(&format!("{round},"));
        match replies.next() {
            Some(redis::Value::Okay) => {
                w.nx_won.insert(round);
            }
            Some(redis::Value::Nil) => {}
            other => panic!("{name} SET NX nx:{round}: {other:?}"),
        }
        for j in SHARED / 2..SHARED {
            assert_eq!(replies.next(), Some(redis::Value::Okay), "{name} s:{j}");
            w.last[j] = format!("{name}-{round}-{j}");
        }
    }
    w
}

#[test]
fn pipelined_sets_and_read_modify_writes_through_two_coordinators_keep_their_promises() {
    let c = Cluster::start(3);
    let (pa, pb) = (c.nodes[0].port, c.nodes[1].port);
    let rounds = Arc::new(Barrier::new(2));
    let ra = Arc::clone(&rounds);
    let a = thread::spawn(move || writer(pa, "a", 1, &ra));
    let b = thread::spawn(move || writer(pb, "b", 2, &rounds));
    let a = a.join().expect("writer a");
    let b = b.join().expect("writer b");

    for node in 0..3 {
        let mut con = c.conn(node);
        for j in 0..SHARED {
            let key = format!("s:{j}");
            let got = sibling_values(&mut con, "ALL", &key);
            let last: BTreeSet<&str> = [a.last[j].as_str(), b.last[j].as_str()].into();
            assert!(
                !got.is_empty() && got.iter().all(|v| last.contains(v.as_str())),
                "node {node} {key}: siblings {got:?}, last writes {last:?}"
            );
            let value = bulk(&cl(&mut con, "ALL", &["GET", &key]).unwrap());
            assert!(
                value.as_ref().is_some_and(|v| got.contains(v)),
                "node {node} {key}: GET {value:?} not among {got:?}"
            );
        }
        for k in 0..COUNTERS {
            let got = bulk(&cl(&mut con, "ALL", &["GET", &format!("c:{k}")]).unwrap());
            let total = a.increments[k] + b.increments[k];
            assert_eq!(got, Some(total.to_string()), "node {node} c:{k}");
        }
        for (name, w) in [("a", &a), ("b", &b)] {
            let got = bulk(&cl(&mut con, "ALL", &["GET", &format!("log:{name}")]).unwrap());
            assert_eq!(
                got.as_deref(),
                Some(w.appended.as_str()),
                "node {node} log:{name}"
            );
        }
        for round in 0..ROUNDS {
            let winner = match (a.nx_won.contains(&round), b.nx_won.contains(&round)) {
                (true, false) => "a",
                (false, true) => "b",
                won => panic!("nx:{round}: SET NX won by (a, b) = {won:?}"),
            };
            let got = bulk(&cl(&mut con, "ALL", &["GET", &format!("nx:{round}")]).unwrap());
            assert_eq!(got.as_deref(), Some(winner), "node {node} nx:{round}");
        }
    }
    // Every replica holds the same siblings of each shared key (the ALL
    // reads above repaired any that were behind): read at ONE, a node
    // answers from its own record.
    let views: Vec<Vec<Vec<String>>> = (0..3)
        .map(|node| {
            let mut con = c.conn(node);
            (0..SHARED)
                .map(|j| sibling_values(&mut con, "ONE", &format!("s:{j}")))
                .collect()
        })
        .collect();
    assert!(views.iter().all(|v| *v == views[0]), "{views:?}");
    let concurrent = views[0].iter().filter(|s| s.len() > 1).count();
    eprintln!("{concurrent} of {SHARED} shared keys ended with two siblings");
}
