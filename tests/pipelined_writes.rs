//! Pipelined writes of one hot key from many connections (which a node
//! runs holding the key's lock across each connection's consecutive
//! writes, `server/src/key_run.rs`), interleaved with transactions,
//! WATCH, multi-key moves and reads of the same key, and pushes and pops
//! of a list: every increment, push and pop lands exactly once,
//! transactions stay atomic, and nothing waits on anything forever (every
//! connection has a read timeout, so a deadlock fails the test instead of
//! hanging it).
//!
//! Every loop is bounded; the server is killed by PID when the test ends.

mod common;

use std::thread;

use common::*;

const PIPELINERS: usize = 6;
const BATCHES: usize = 40;
const BATCH: usize = 32;
const TRANSACTIONS: usize = 200;

#[test]
fn pipelined_writes_of_one_key_mix_with_transactions_watches_and_moves() {
    let s = TestServer::start();
    let mut threads = Vec::new();
    // Pipelines of HINCRBY on one field, with SADD/ZADD of one set and
    // one sorted set between, and a read now and then.
    for t in 0..PIPELINERS {
        let mut c = s.conn();
        threads.push(thread::spawn(move || {
            for b in 0..BATCHES {
                let mut p = redis::pipe();
                for i in 0..BATCH {
                    p.cmd("HINCRBY").arg("h").arg("f").arg(1).ignore();
                    if i % 8 == 0 {
                        p.cmd("SADD")
                            .arg("s")
                            .arg(format!("m-{t}-{b}-{i}"))
                            .ignore();
                        p.cmd("ZINCRBY").arg("z").arg(1).arg("x").ignore();
                    }
                    // Each pop follows this connection's own pushes, so the
                    // list is never empty when one runs.
                    if i % 4 == 0 {
                        p.cmd("RPUSH").arg("l").arg(i).ignore();
                        p.cmd("RPUSH").arg("l").arg(i).ignore();
                        p.cmd("LPOP").arg("l").ignore();
                    }
                }
                p.cmd("HGET").arg("h").arg("f");
                let (_seen,): (i64,) = p.query(&mut c).expect("pipeline");
            }
        }));
    }
    // Transactions on the same key: both fields or neither.
    for _ in 0..2 {
        let mut c = s.conn();
        threads.push(thread::spawn(move || {
            for _ in 0..TRANSACTIONS {
                let (_, _): (i64, i64) = redis::pipe()
                    .atomic()
                    .cmd("HINCRBY")
                    .arg("h")
                    .arg("t1")
                    .arg(1)
                    .cmd("HINCRBY")
                    .arg("h")
                    .arg("t2")
                    .arg(1)
                    .query(&mut c)
                    .expect("transaction");
            }
        }));
    }
    // Optimistic transactions: WATCH the key, read, write; an EXEC that
    // finds the key changed writes nothing.
    let watcher = {
        let mut c = s.conn();
        thread::spawn(move || {
            // While the pipelines run, most find the key changed.
            let mut done = 0;
            for _ in 0..TRANSACTIONS {
                let _: () = redis::cmd("WATCH").arg("h").query(&mut c).expect("watch");
                let w: Option<i64> = redis::cmd("HGET")
                    .arg("h")
                    .arg("w")
                    .query(&mut c)
                    .expect("hget");
                let r: Option<(i64,)> = redis::pipe()
                    .atomic()
                    .cmd("HSET")
                    .arg("h")
                    .arg("w")
                    .arg(w.unwrap_or(0) + 1)
                    .query(&mut c)
                    .expect("exec");
                done += usize::from(r.is_some());
            }
            done
        })
    };
    // Moves between the hot set and another (a multi-key lock beside the
    // held key lock).
    let mover = {
        let mut c = s.conn();
        thread::spawn(move || {
            let mut moved = 0;
            for t in 0..PIPELINERS {
                for b in 0..BATCHES {
                    let m = format!("m-{t}-{b}-0");
                    let n: i64 = redis::cmd("SMOVE")
                        .arg("s")
                        .arg("s2")
                        .arg(&m)
                        .query(&mut c)
                        .expect("smove");
                    moved += n;
                }
            }
            moved
        })
    };
    for t in threads {
        t.join().expect("writer thread");
    }
    let watched_writes = watcher.join().expect("watcher");
    mover.join().expect("mover");

    let c = &mut s.conn();
    let get = |c: &mut redis::Connection, f: &str| -> i64 {
        redis::cmd("HGET").arg("h").arg(f).query(c).expect("hget")
    };
    assert_eq!(get(c, "f"), (PIPELINERS * BATCHES * BATCH) as i64);
    assert_eq!(get(c, "t1"), 2 * TRANSACTIONS as i64);
    assert_eq!(get(c, "t2"), 2 * TRANSACTIONS as i64);
    // Every EXEC that ran wrote one more than the value it had read.
    let w: Option<i64> = redis::cmd("HGET").arg("h").arg("w").query(c).expect("hget");
    assert_eq!(w.unwrap_or(0), watched_writes as i64);
    // With the writers gone, a watched transaction goes through.
    let _: () = redis::cmd("WATCH").arg("h").query(c).expect("watch");
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .cmd("HINCRBY")
        .arg("h")
        .arg("w")
        .arg(1)
        .query(c)
        .expect("exec");
    assert_eq!(n, watched_writes as i64 + 1);
    let members: i64 = redis::cmd("SCARD").arg("s").query(c).expect("scard");
    let moved: i64 = redis::cmd("SCARD").arg("s2").query(c).expect("scard");
    assert_eq!(members + moved, (PIPELINERS * BATCHES * BATCH / 8) as i64);
    let len: i64 = redis::cmd("LLEN").arg("l").query(c).expect("llen");
    assert_eq!(len, (PIPELINERS * BATCHES * BATCH / 4) as i64);
    let score: f64 = redis::cmd("ZSCORE")
        .arg("z")
        .arg("x")
        .query(c)
        .expect("zscore");
    assert_eq!(score, (PIPELINERS * BATCHES * BATCH / 8) as f64);
}
