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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, bulk, cl};

const INCREMENTS_PER_CLIENT: usize = 1_500;

#[test]
fn every_increment_is_consumed_once_or_still_counted() {
    let c = Cluster::start(3);
    let key = "consumed";
    let done = Arc::new(AtomicBool::new(false));
    // Two incrementers through nodes 1 and 2.
    let incrementers: Vec<_> = [1usize, 2]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            std::thread::spawn(move || {
                let mut acked = 0i64;
                for _ in 0..INCREMENTS_PER_CLIENT {
                    if cl(&mut con, "QUORUM", &["INCR", key]).is_ok() {
                        acked += 1;
                    }
                }
                acked
            })
        })
        .collect();
    // Consumers through nodes 0 and 2: GETDEL, and now and then GETSET to
    // 0. Two of them at once must not both answer one increment.
    let consumers: Vec<_> = [0usize, 2]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut consumed, mut calls) = (0i64, 0u64);
                let deadline = Instant::now() + Duration::from_secs(60);
                while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                    calls += 1;
                    let reply = if calls % 4 == 0 {
                        cl(&mut con, "QUORUM", &["GETSET", key, "0"])
                    } else {
                        cl(&mut con, "QUORUM", &["GETDEL", key])
                    };
                    let got = reply.unwrap_or_else(|e| panic!("call {calls}: {e}"));
                    consumed += bulk(&got).map_or(0, |v| v.parse::<i64>().expect("a number"));
                    std::thread::sleep(Duration::from_millis(2));
                }
                (consumed, calls)
            })
        })
        .collect();
    let acked: i64 = incrementers
        .into_iter()
        .map(|t| t.join().expect("incrementer"))
        .sum();
    done.store(true, Ordering::Relaxed);
    let (consumed, calls) = consumers
        .into_iter()
        .map(|t| t.join().expect("consumer"))
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    let mut con = c.conn(0);
    let left = bulk(&cl(&mut con, "ALL", &["GET", key]).expect("GET"))
        .map_or(0, |v| v.parse::<i64>().expect("a number"));
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
    let incrementers: Vec<_> = [1usize, 2]
        .into_iter()
        .map(|node| {
            let mut con = c.conn(node);
            std::thread::spawn(move || {
                for _ in 0..INCREMENTS_PER_CLIENT {
                    cl(&mut con, "QUORUM", &["INCR", key]).expect("INCR");
                }
            })
        })
        .collect();
    let expirer = {
        let mut con = c.conn(0);
        let done = done.clone();
        std::thread::spawn(move || {
            let mut calls = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                calls += 1;
                let command: &[&str] = if calls % 3 == 0 {
                    &["PERSIST", key]
                } else {
                    &["EXPIRE", key, "1000"]
                };
                cl(&mut con, "QUORUM", command).unwrap_or_else(|e| panic!("call {calls}: {e}"));
                std::thread::sleep(Duration::from_millis(2));
            }
            calls
        })
    };
    for t in incrementers {
        t.join().expect("incrementer");
    }
    done.store(true, Ordering::Relaxed);
    let calls = expirer.join().expect("expirer");
    let mut con = c.conn(0);
    let total = bulk(&cl(&mut con, "ALL", &["GET", key]).expect("GET"))
        .map_or(0, |v| v.parse::<i64>().expect("a number"));
    println!("{calls} expiry changes; total {total}");
    assert!(calls > 10, "the expiry changed alongside the increments");
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
