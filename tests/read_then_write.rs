//! Commands that read a string and write it back, run on a counter that
//! other nodes increment at the same time: GETDEL and GETSET consuming it
//! through two nodes (every acknowledged increment is either in the value
//! some GETDEL or GETSET answered, or still in the counter at the end,
//! once), and EXPIRE and PERSIST changing its expiry (every increment
//! kept); and SET NX through three nodes at once (one winner). The read
//! and the write are one step where the write is applied
//! (`Mutation::Swap`, `Mutation::Expire`; a swap always by the key's first
//! replica), so an increment applied there between them cannot be
//! replaced unseen.
//!
//! Three real node processes; bounded counts; nodes killed by PID.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, bulk, cl};

const INCREMENTS_PER_CLIENT: usize = 1_500;

/// INCR of `key`, `INCREMENTS_PER_CLIENT` times through each of nodes 1
/// and 2 at once; each thread answers how many were acknowledged.
fn increment_through_two_nodes(c: &Cluster, key: &'static str) -> Vec<JoinHandle<i64>> {
    [1usize, 2]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            std::thread::spawn(move || {
                let acked = (0..INCREMENTS_PER_CLIENT)
                    .filter(|_| cl(&mut con, "QUORUM", &["INCR", key]).is_ok())
                    .count();
                acked as i64
            })
        })
        .collect()
}

/// The acknowledged increments of [`increment_through_two_nodes`], once
/// all are made; then sets `done`.
fn join_increments(threads: Vec<JoinHandle<i64>>, done: &AtomicBool) -> i64 {
    let acked = threads
        .into_iter()
        .map(|t| t.join().expect("incrementer"))
        .sum();
    done.store(true, Ordering::Relaxed);
    acked
}

/// Runs `step` (given the call's number, from 1) through node `node` every
/// 2 ms until `done` is set, for at most 60 s; the thread answers how many
/// calls it made.
fn repeat_until_done(
    c: &Cluster,
    node: usize,
    done: &Arc<AtomicBool>,
    mut step: impl FnMut(&mut redis::Connection, u64) + Send + 'static,
) -> JoinHandle<u64> {
    let mut con = c.conn(node);
    let done = done.clone();
    std::thread::spawn(move || {
        let mut calls = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
            calls += 1;
            step(&mut con, calls);
            std::thread::sleep(Duration::from_millis(2));
        }
        calls
    })
}

/// The counter `key` as every replica holds it (0 when missing).
fn total(c: &Cluster, key: &str) -> i64 {
    bulk(&cl(&mut c.conn(0), "ALL", &["GET", key]).expect("GET"))
        .map_or(0, |v| v.parse::<i64>().expect("a number"))
}

#[test]
fn every_increment_is_consumed_once_or_still_counted() {
    let c = Cluster::start(3);
    let key = "consumed";
    let done = Arc::new(AtomicBool::new(false));
    let incrementers = increment_through_two_nodes(&c, key);
    // Consumers through nodes 0 and 2: GETDEL, and now and then GETSET to
    // 0. Two of them at once must not both answer one increment.
    let consumed = Arc::new(AtomicI64::new(0));
    let consumers: Vec<_> = [0usize, 2]
        .into_iter()
        .map(|node| {
            let consumed = consumed.clone();
            repeat_until_done(&c, node, &done, move |con, call| {
                let reply = if call % 4 == 0 {
                    cl(con, "QUORUM", &["GETSET", key, "0"])
                } else {
                    cl(con, "QUORUM", &["GETDEL", key])
                };
                let got = reply.unwrap_or_else(|e| panic!("call {call}: {e}"));
                let value = bulk(&got).map_or(0, |v| v.parse::<i64>().expect("a number"));
                consumed.fetch_add(value, Ordering::Relaxed);
            })
        })
        .collect();
    let acked = join_increments(incrementers, &done);
    let calls: u64 = consumers
        .into_iter()
        .map(|t| t.join().expect("consumer"))
        .sum();
    let consumed = consumed.load(Ordering::Relaxed);
    let left = total(&c, key);
    println!("acked {acked}, consumed {consumed} in {calls} calls, left {left}");
    assert!(calls > 10, "the consumer ran alongside the increments");
    assert_eq!(
        acked,
        2 * INCREMENTS_PER_CLIENT as i64,
        "no increment failed"
    );
    assert_eq!(consumed + left, acked);
}

/// EXPIRE (and PERSIST) of a counter that other nodes increment at the
/// same time, as a rate limiter does: no acknowledged increment is lost.
#[test]
fn an_expiry_set_while_others_increment_keeps_every_increment() {
    let c = Cluster::start(3);
    let key = "limited";
    let done = Arc::new(AtomicBool::new(false));
    let incrementers = increment_through_two_nodes(&c, key);
    let expirer = repeat_until_done(&c, 0, &done, move |con, call| {
        let command: &[&str] = if call % 3 == 0 {
            &["PERSIST", key]
        } else {
            &["EXPIRE", key, "1000"]
        };
        cl(con, "QUORUM", command).unwrap_or_else(|e| panic!("call {call}: {e}"));
    });
    let acked = join_increments(incrementers, &done);
    let calls = expirer.join().expect("expirer");
    let total = total(&c, key);
    println!("{calls} expiry changes; total {total}");
    assert!(calls > 10, "the expiry changed alongside the increments");
    assert_eq!(
        acked,
        2 * INCREMENTS_PER_CLIENT as i64,
        "no increment failed"
    );
    assert_eq!(total, 2 * INCREMENTS_PER_CLIENT as i64);
}

/// SET NX through three nodes at once, as a lock taken by three clients:
/// one winner per key (the replica that applies the write decides, under
/// its record lock, while every node sends the write to the same one).
#[test]
fn set_nx_through_three_nodes_at_once_has_one_winner() {
    const ROUNDS: usize = 150;
    let c = Cluster::start(3);
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let racers: Vec<_> = (0..3usize)
        .map(|node| {
            let mut con = c.conn(node);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                (0..ROUNDS)
                    .map(|round| {
                        barrier.wait();
                        let key = format!("lock:{round}");
                        let me = format!("node{node}");
                        let got = cl(&mut con, "QUORUM", &["SET", &key, &me, "NX", "PX", "60000"])
                            .unwrap_or_else(|e| panic!("round {round}: {e}"));
                        got == redis::Value::Okay
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let wins: Vec<Vec<bool>> = racers
        .into_iter()
        .map(|t| t.join().expect("racer"))
        .collect();
    let mut con = c.conn(0);
    for round in 0..ROUNDS {
        let winners: Vec<usize> = wins
            .iter()
            .enumerate()
            .filter(|(_, won)| won.get(round) == Some(&true))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let holder = bulk(&cl(&mut con, "ALL", &["GET", &format!("lock:{round}")]).expect("GET"));
        assert_eq!(holder, Some(format!("node{}", winners[0])), "round {round}");
    }
}
