//! A randomized fault test, Jepsen style, on a 3-node cluster at QUORUM
//! with `appendfsync everysec`.
//!
//! Clients write through every node (SET, DEL and INCR on keys each client
//! owns alone, and on a hash, a set, a sorted set and a list of their own:
//! HSET/HDEL of fields, HINCRBY, SADD/SREM of members, ZADD/ZREM of new
//! members and of members whose score changes, ZINCRBY, RPUSH/LPOP of
//! elements; now and then INCR, SADD, HINCRBY and two SETs (or an MSET)
//! of five of those keys in one pipeline, which a cluster runs
//! concurrently; a sliding
//! window in a second sorted set, trimmed by
//! ZREMRANGEBYSCORE; EXPIRE and PERSIST of the hash and the sorted set; so
//! the expected end state is known; the set and the sorted set grow past
//! the size where a collection is stored split)
//! while one node at a time is hit by a fault drawn at random:
//! - `kill -9`, then a restart on the same directory;
//! - SIGSTOP for 1-3 s, then SIGCONT;
//! - a power cut: `kill -9`, then every WAL file cut back to its length at
//!   least one second earlier (more than `everysec` can lose), then a
//!   restart;
//! - a disk replacement: `kill -9`, the directory emptied, a restart at the
//!   same address.
//!
//! After each fault the cluster heals (every node up, the victim rebuilt)
//! before the next. At the end every key is read at ALL through every node
//! after CLUSTER REPAIR: a key holds its last acknowledged value or the value
//! of a write that failed after it (its outcome unknown), never anything
//! older (a lost write or a resurrected delete); a counter (INCR, HINCRBY)
//! holds at least its acknowledged increments and at most those plus the
//! failed ones, and its replies only go up; each counter is also reset
//! now and then (the string by DEL, the hash field by HSET to 0, the
//! sorted-set member by ZADD of score 0, so those keys never empty), after
//! which it holds at least the increments acknowledged since
//! (observed-remove: those the reset had not seen may add); a hash field
//! obeys the key rule;
//! a set holds every member whose SADD was acknowledged and not removed,
//! and none whose SREM was acknowledged, and SCARD counts what SMEMBERS
//! returns; a sorted set obeys the set rule for its new members (each with
//! the one score it was given), the key rule for the scores of its
//! re-scored members and the counter rule for its ZINCRBY member, returns
//! its members in score order, and ZCARD and ZCOUNT count them; the
//! window obeys the rule in `fault_random/window.rs`, and the hash's and
//! sorted set's expiry the key rule; a list holds every element whose
//! RPUSH was acknowledged and no acknowledged LPOP returned, none that an
//! acknowledged LPOP returned, nothing never pushed, in push order, and no
//! LPOP returns an element twice or one never pushed.
//!
//! Bounded: `FAULT_TEST_SECONDS` of faults (default 25), then the checks.
//! `FAULT_TEST_SEED` replays a run (the seed is printed). Run it longer
//! by hand, e.g. `FAULT_TEST_SECONDS=600 cargo test --release --test
//! fault_random -- --nocapture`.

mod common;
#[path = "fault_random/expiry.rs"]
mod expiry;
#[path = "fault_random/pipelined.rs"]
mod pipelined;
#[path = "fault_random/window.rs"]
mod window;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, bulk, cl, repair, wait_for};
use common::power_cut::{WalSampler, cut_back};
use common::query;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLIENTS: usize = 4;
const KEYS_PER_CLIENT: usize = 24;
/// Longest a client waits for a reply (a SIGSTOPped node never answers).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);
/// Most operations one client makes, whatever the duration.
const MAX_OPS_PER_CLIENT: u64 = 2_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a client knows of one counter.
#[derive(Default)]
struct CounterHistory {
    acked: i64,
    failed: i64,
    last_reply: i64,
    /// Resets of the counter tried (DEL, HSET to 0, ZADD of score 0).
    resets: u64,
    /// Increments acknowledged since the last acknowledged DEL: counted
    /// whatever the DEL had seen (observed-remove), unless a DEL that
    /// failed came after it (it may have applied at any time since).
    acked_since_reset: i64,
    /// A DEL failed since the last acknowledged one.
    uncertain: bool,
    /// The last reply came before a DEL.
    reset_since_reply: bool,
}

impl CounterHistory {
    /// Records one increment's outcome; an anomaly if its reply cannot be.
    fn record(&mut self, name: &str, reply: Result<i64, ()>, anomalies: &mut Vec<String>) {
        match reply {
            Ok(r) => {
                self.acked += 1;
                self.acked_since_reset += 1;
                let impossible = if self.resets == 0 {
                    r <= self.last_reply || r < self.acked || r > self.acked + self.failed
                } else {
                    // Increments a DEL had not seen may still add (any
                    // made so far); those after the last DEL must.
                    (!self.reset_since_reply && r <= self.last_reply)
                        || (!self.uncertain && r < self.acked_since_reset)
                        || r > self.acked + self.failed
                };
                if impossible {
                    anomalies.push(format!(
                        "{name}: replied {r} after {} (acked {}, failed {}, {} since the last DEL, resets {})",
                        self.last_reply, self.acked, self.failed, self.acked_since_reset, self.resets
                    ));
                }
                self.last_reply = r;
                self.reset_since_reply = false;
            }
            Err(()) => self.failed += 1,
        }
    }

    /// Records a DEL of the counter and whether it was acknowledged.
    fn record_reset(&mut self, acked: bool) {
        self.resets += 1;
        self.reset_since_reply = true;
        if acked {
            self.acked_since_reset = 0;
            self.uncertain = false;
        } else {
            self.uncertain = true;
        }
    }

    /// Whether `total` is a value the counter may end with.
    fn allows(&self, total: i64) -> bool {
        let floor = match (self.resets, self.uncertain) {
            (0, _) => self.acked,
            (_, false) => self.acked_since_reset,
            (_, true) => 0,
        };
        total >= floor && total <= self.acked + self.failed
    }
}

/// What one client knows of its keys, counters, hash fields and set.
#[derive(Default)]
struct History {
    /// Per key: the states it may end in (`None`: absent). The first entry
    /// is the last acknowledged state; later ones are writes that failed
    /// after it.
    keys: Vec<Vec<Option<String>>>,
    /// The same for the fields of the client's hash.
    fields: Vec<Vec<Option<String>>>,
    incr: CounterHistory,
    hincr: CounterHistory,
    /// The members of the client's set.
    members: Members,
    /// The new members of the client's sorted set (member `z{n}` has score
    /// n).
    zmembers: Members,
    /// The scores (`None`: absent) sorted-set member `s{i}` may end with,
    /// as `fields`.
    scores: Vec<Vec<Option<String>>>,
    /// ZINCRBY of the sorted set's member `n`.
    zincr: CounterHistory,
    /// The sliding window (a second sorted set).
    window: window::Window,
    /// EXPIRE and PERSIST of the hash and of the sorted set.
    hash_expiry: expiry::Expiry,
    zset_expiry: expiry::Expiry,
    /// List elements surely present: RPUSH acknowledged, not popped.
    list_in: VecDeque<String>,
    /// Elements that may be present (an RPUSH or LPOP that failed).
    list_maybe: std::collections::BTreeSet<String>,
    /// Elements an acknowledged LPOP returned.
    popped: std::collections::BTreeSet<String>,
    ops: u64,
    errors: u64,
    anomalies: Vec<String>,
}

/// What a client knows of the members it added to and removed from a set
/// or a sorted set.
#[derive(Default)]
struct Members {
    /// Added (acknowledged) and not removed since.
    present: std::collections::BTreeSet<String>,
    /// Removed (acknowledged).
    removed: std::collections::BTreeSet<String>,
}

impl Members {
    /// The member a step works on: when `remove` and one is known present,
    /// one of those, to remove (`true`); otherwise `new`, to add.
    fn pick(&self, rng: &mut StdRng, remove: bool, new: String) -> (String, bool) {
        if !remove || self.present.is_empty() {
            return (new, false);
        }
        let i = rng.random_range(0..self.present.len());
        let member = self.present.iter().nth(i).cloned().unwrap_or_default();
        (member, true)
    }

    /// Books an add or remove of `member`: one whose outcome is unknown
    /// (not `acked`) may or may not have been applied.
    fn record(&mut self, member: String, remove: bool, acked: bool) {
        if remove {
            self.present.remove(&member);
        }
        match (acked, remove) {
            (true, false) => {
                self.present.insert(member);
            }
            (true, true) => {
                self.removed.insert(member);
            }
            (false, _) => {}
        }
    }
}

fn hash_name(client: usize) -> String {
    format!("fhash{client}")
}

fn set_name(client: usize) -> String {
    format!("fset{client}")
}

fn zset_name(client: usize) -> String {
    format!("fzset{client}")
}

fn list_name(client: usize) -> String {
    format!("flist{client}")
}

/// The push number in a list element `e{n}`.
fn element_number(e: &str) -> u64 {
    e.trim_start_matches('e').parse().unwrap_or(0)
}

/// One RPUSH (`push`) or LPOP on the client's list, with its bookkeeping;
/// whether the connection still works.
fn list_step(h: &mut History, conn: &mut redis::Connection, c: usize, push: bool) -> bool {
    let list = list_name(c);
    if push {
        let e = format!("e{}", h.ops);
        return match query(conn, &["RPUSH", &list, &e]) {
            Ok(_) => {
                h.list_in.push_back(e);
                true
            }
            Err(_) => {
                h.list_maybe.insert(e);
                false
            }
        };
    }
    match query(conn, &["LPOP", &list]) {
        Ok(redis::Value::BulkString(b)) => {
            let e = String::from_utf8_lossy(&b).into_owned();
            if h.popped.contains(&e) {
                h.anomalies.push(format!("{list}: LPOP returned {e} twice"));
            } else if let Some(i) = h.list_in.iter().position(|x| *x == e) {
                // Elements before it were surely present: a lost push.
                for skipped in h.list_in.drain(..i).collect::<Vec<_>>() {
                    if !h.list_maybe.contains(&skipped) {
                        h.anomalies
                            .push(format!("{list}: LPOP returned {e} before {skipped}"));
                    }
                }
                h.list_in.pop_front();
            } else if !h.list_maybe.remove(&e) {
                h.anomalies
                    .push(format!("{list}: LPOP returned {e}, never pushed"));
            }
            h.popped.insert(e);
            true
        }
        Ok(redis::Value::Nil) => {
            if let Some(first) = h.list_in.front() {
                h.anomalies.push(format!(
                    "{list}: LPOP found nothing while {first} was acknowledged"
                ));
            }
            true
        }
        Ok(other) => {
            h.anomalies.push(format!("LPOP {list} replied {other:?}"));
            true
        }
        Err(_) => {
            // It may have taken the head: that element may now be gone.
            if let Some(first) = h.list_in.pop_front() {
                h.list_maybe.insert(first);
            }
            false
        }
    }
}

/// One sorted-set operation (`roll` in 75..85): a new member (75-78), the
/// removal of one known present (79-80), a new score for, or the removal
/// of, a re-scored member (81-82), a ZINCRBY (83-84); with its
/// bookkeeping; whether the connection still works.
fn zset_step(
    h: &mut History,
    conn: &mut redis::Connection,
    c: usize,
    roll: u32,
    rng: &mut StdRng,
) -> bool {
    let zset = zset_name(c);
    if roll >= 83 {
        let reply = match query(conn, &["ZINCRBY", &zset, "1", "n"]) {
            Ok(v) => match bulk(&v).and_then(|s| s.parse::<f64>().ok()) {
                Some(r) => Ok(r as i64),
                None => {
                    h.anomalies.push(format!("ZINCRBY {zset} replied {v:?}"));
                    return true;
                }
            },
            Err(_) => Err(()),
        };
        let ok = reply.is_ok();
        h.zincr
            .record(&format!("ZINCRBY {zset}"), reply, &mut h.anomalies);
        return ok;
    }
    if roll >= 81 {
        let f = rng.random_range(0..KEYS_PER_CLIENT);
        let member = format!("s{f}");
        let (state, result) = if roll == 81 {
            let score = format!("{}", h.ops);
            let r = query(conn, &["ZADD", &zset, &score, &member]);
            (Some(score), r)
        } else {
            (None, query(conn, &["ZREM", &zset, &member]))
        };
        return match result {
            Ok(_) => {
                h.scores[f] = vec![state];
                true
            }
            Err(_) => {
                h.scores[f].push(state);
                false
            }
        };
    }
    let (member, remove) = h.zmembers.pick(rng, roll >= 79, format!("z{}", h.ops));
    let acked = if remove {
        query(conn, &["ZREM", &zset, &member]).is_ok()
    } else {
        query(conn, &["ZADD", &zset, &h.ops.to_string(), &member]).is_ok()
    };
    h.zmembers.record(member, remove, acked);
    acked
}

/// A step on the sliding window (rolls 92-98: one in seven a trim, which
/// keeps the last 12,000 operations' members, several hundred, past the
/// size where a collection is stored split; one in seven a ZPOPMIN) or an
/// EXPIRE or PERSIST of the hash or the sorted set (roll 99) once its
/// counter member exists. Whether it was acknowledged (a step skipped is).
fn expiry_or_window_step(
    h: &mut History,
    conn: &mut redis::Connection,
    c: usize,
    roll: u32,
    rng: &mut StdRng,
) -> bool {
    if roll < 99 {
        let step = match roll {
            98 => window::Step::Trim,
            97 => window::Step::Pop,
            _ => window::Step::Add,
        };
        return h
            .window
            .step(conn, c, h.ops, step, 12_000, &mut h.anomalies);
    }
    let set = rng.random_bool(0.6);
    if rng.random_bool(0.5) {
        h.hincr.acked == 0 || h.hash_expiry.step(conn, &hash_name(c), set)
    } else {
        h.zincr.acked == 0 || h.zset_expiry.step(conn, &zset_name(c), set)
    }
}

fn key_name(client: usize, k: usize) -> String {
    format!("f{client}:{k}")
}

fn counter_name(client: usize) -> String {
    format!("fctr{client}")
}

fn connect(port: u16) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let con = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .ok()?;
    con.set_read_timeout(Some(CLIENT_TIMEOUT)).ok()?;
    con.set_write_timeout(Some(CLIENT_TIMEOUT)).ok()?;
    Some(con)
}

/// One client: each operation through a node drawn at random (so writes
/// reach a node soon after it came back from a fault), one connection per
/// node, dropped when it fails.
fn run_client(c: usize, ports: Arc<Mutex<Vec<u16>>>, stop: Arc<AtomicBool>, seed: u64) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = History {
        keys: vec![vec![None]; KEYS_PER_CLIENT],
        fields: vec![vec![None]; KEYS_PER_CLIENT],
        scores: vec![vec![None]; KEYS_PER_CLIENT],
        ..History::default()
    };
    let mut cons: Vec<Option<redis::Connection>> = (0..3).map(|_| None).collect();
    while !stop.load(Ordering::Relaxed) && h.ops < MAX_OPS_PER_CLIENT {
        let node = rng.random_range(0..3);
        let con = &mut cons[node];
        if con.is_none() {
            let port = ports.lock().expect("ports")[node];
            *con = connect(port);
            if con.is_none() {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        let Some(conn) = con.as_mut() else { continue };
        h.ops += 1;
        let roll = rng.random_range(0..100);
        if roll == 0 {
            // A reset of a counter: observed-remove, the increments made
            // after it all count.
            let (name, hash, zset) = (counter_name(c), hash_name(c), zset_name(c));
            let (args, counter): (Vec<&str>, _) = match rng.random_range(0..3) {
                0 => (vec!["DEL", &name], &mut h.incr),
                1 => (vec!["HSET", &hash, "n", "0"], &mut h.hincr),
                _ => (vec!["ZADD", &zset, "0", "n"], &mut h.zincr),
            };
            let acked = query(conn, &args).is_ok();
            counter.record_reset(acked);
            if !acked {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        if roll < 40 {
            let (name, hash) = (counter_name(c), hash_name(c));
            let (args, counter): (Vec<&str>, _) = if roll < 25 {
                (vec!["INCR", &name], &mut h.incr)
            } else {
                (vec!["HINCRBY", &hash, "n", "1"], &mut h.hincr)
            };
            let reply = match query(conn, &args) {
                Ok(redis::Value::Int(r)) => Ok(r),
                Ok(other) => {
                    h.anomalies.push(format!("{args:?} replied {other:?}"));
                    continue;
                }
                Err(_) => {
                    h.errors += 1;
                    *con = None;
                    Err(())
                }
            };
            counter.record(&args.join(" "), reply, &mut h.anomalies);
            continue;
        }
        if roll < 43 {
            let k = rng.random_range(0..KEYS_PER_CLIENT);
            if !pipelined::step(&mut h, conn, c, k) {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        if roll < 55 {
            // The set: a new member, or the removal of one known present.
            let set = set_name(c);
            let (member, remove) = h.members.pick(&mut rng, roll >= 50, format!("m{}", h.ops));
            let cmd = if remove { "SREM" } else { "SADD" };
            let acked = query(conn, &[cmd, &set, &member]).is_ok();
            h.members.record(member, remove, acked);
            if !acked {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        if (65..75).contains(&roll) {
            if !list_step(&mut h, conn, c, roll < 71) {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        if roll < 65 {
            let f = rng.random_range(0..KEYS_PER_CLIENT);
            let (hash, field) = (hash_name(c), format!("f{f}"));
            let (state, result) = if roll < 62 {
                let v = format!("v{}", h.ops);
                let r = query(conn, &["HSET", &hash, &field, &v]);
                (Some(v), r)
            } else {
                (None, query(conn, &["HDEL", &hash, &field]))
            };
            match result {
                Ok(_) => h.fields[f] = vec![state],
                Err(_) => {
                    h.fields[f].push(state);
                    h.errors += 1;
                    *con = None;
                }
            }
            continue;
        }
        if roll < 85 {
            if !zset_step(&mut h, conn, c, roll, &mut rng) {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        if roll >= 92 {
            if !expiry_or_window_step(&mut h, conn, c, roll, &mut rng) {
                h.errors += 1;
                *con = None;
            }
            continue;
        }
        let k = rng.random_range(0..KEYS_PER_CLIENT);
        let key = key_name(c, k);
        let (state, result) = if roll < 89 {
            let v = format!("v{}", h.ops);
            let r = query(conn, &["SET", &key, &v]);
            (Some(v), r)
        } else {
            (None, query(conn, &["DEL", &key]))
        };
        match result {
            Ok(_) => h.keys[k] = vec![state],
            Err(_) => {
                h.keys[k].push(state);
                h.errors += 1;
                *con = None;
            }
        }
    }
    h
}

/// Waits until the cluster has healed: every node up on every node's view
/// and none rebuilding ([`Cluster::wait_all_up`]); on failure prints what
/// each node sees.
fn wait_healed(c: &Cluster) {
    let healed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.wait_all_up()));
    if healed.is_err() {
        for (i, node) in c.nodes.iter().enumerate() {
            let nodes = node
                .client()
                .get_connection()
                .ok()
                .and_then(|mut con| query(&mut con, &["CLUSTER", "NODES"]).ok())
                .and_then(|v| bulk(&v));
            eprintln!("node {i} (port {}) sees:\n{nodes:?}", node.port);
        }
        panic!("the cluster did not heal");
    }
}

/// An anomaly unless `args` (a count, read at ALL) answers `expected`.
fn count_matches(
    con: &mut redis::Connection,
    node: usize,
    args: &[&str],
    expected: usize,
    anomalies: &mut Vec<String>,
) {
    match cl(con, "ALL", args) {
        Ok(redis::Value::Int(n)) if n == expected as i64 => {}
        other => anomalies.push(format!(
            "node {node}: {args:?} = {other:?}, but {expected} members were read"
        )),
    }
}

/// The end-state checks of one client's sorted set through one node.
fn check_zset(
    con: &mut redis::Connection,
    node: usize,
    zset: &str,
    h: &History,
    anomalies: &mut Vec<String>,
) {
    let flat = match cl(con, "ALL", &["ZRANGE", zset, "0", "-1", "WITHSCORES"]) {
        Ok(v) => common::strings(v),
        Err(e) => return anomalies.push(format!("node {node}: ZRANGE {zset}: {e}")),
    };
    let pairs: Vec<(String, f64)> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].parse().unwrap_or(f64::NAN)))
        .collect();
    if pairs
        .windows(2)
        .any(|w| (w[0].1, &w[0].0) >= (w[1].1, &w[1].0) || w[0].1.is_nan())
    {
        anomalies.push(format!("node {node}: {zset} not in score order: {pairs:?}"));
    }
    let held: std::collections::HashMap<&str, f64> =
        pairs.iter().map(|(m, s)| (m.as_str(), *s)).collect();
    for m in &h.zmembers.present {
        let want: f64 = m.trim_start_matches('z').parse().unwrap_or(f64::NAN);
        match held.get(m.as_str()) {
            Some(&s) if s == want => {}
            Some(s) => anomalies.push(format!("node {node}: {zset} {m} has score {s}")),
            None => anomalies.push(format!("node {node}: {zset} lost acknowledged {m}")),
        }
    }
    for m in h
        .zmembers
        .removed
        .iter()
        .filter(|m| held.contains_key(m.as_str()))
    {
        anomalies.push(format!("node {node}: {zset} holds removed {m}"));
    }
    for (f, allowed) in h.scores.iter().enumerate() {
        let member = format!("s{f}");
        let got = held.get(member.as_str()).map(|s| format!("{s}"));
        if !allowed.contains(&got) {
            anomalies.push(format!(
                "node {node}: {zset} {member} score {got:?}, expected one of {allowed:?}"
            ));
        }
    }
    let total = held.get("n").copied().unwrap_or(0.0) as i64;
    if !h.zincr.allows(total) {
        anomalies.push(format!(
            "node {node}: {zset} n = {total}, acked {} failed {}",
            h.zincr.acked, h.zincr.failed
        ));
    }
    count_matches(con, node, &["ZCARD", zset], pairs.len(), anomalies);
    count_matches(
        con,
        node,
        &["ZCOUNT", zset, "-inf", "+inf"],
        pairs.len(),
        anomalies,
    );
}

#[test]
fn random_faults_lose_no_acknowledged_write_delete_increment_or_member() {
    let seconds = env_u64("FAULT_TEST_SECONDS", 25);
    let seed = env_u64("FAULT_TEST_SEED", rand::random::<u64>());
    println!("fault test: {seconds} s of faults, FAULT_TEST_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Cluster::start_with(
        3,
        &["--appendfsync", "everysec", "--replica-timeout-ms", "1000"],
    );
    let ports = Arc::new(Mutex::new(c.nodes.iter().map(|n| n.port).collect()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (p, s) = (Arc::clone(&ports), Arc::clone(&stop));
            let client_seed = seed.wrapping_add(i as u64 + 1);
            std::thread::spawn(move || run_client(i, p, s, client_seed))
        })
        .collect();
    let sampler = WalSampler::start(c.nodes.iter().map(|n| n.data_dir()).collect());
    let mut restarted = [Instant::now(); 3];
    let mut counts = [0u32; 4];
    let mut cut_bytes = 0u64;
    let mut seeded_first = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(rng.random_range(1000..2500)));
        let v = rng.random_range(0..3);
        let fault = rng.random_range(0..4);
        counts[fault] += 1;
        println!(
            "{:>6.1}s: {} on node {v}",
            started.elapsed().as_secs_f64(),
            ["kill -9", "SIGSTOP", "power cut", "disk replacement"][fault]
        );
        match fault {
            0 => {
                c.nodes[v].kill();
                std::thread::sleep(Duration::from_millis(300));
                c.nodes[v].restart_same_ports();
            }
            1 => {
                c.nodes[v].signal(libc::SIGSTOP);
                std::thread::sleep(Duration::from_millis(rng.random_range(1000..3000)));
                c.nodes[v].signal(libc::SIGCONT);
            }
            2 => {
                let then = sampler.at_least(v, Duration::from_secs(1), restarted[v]);
                c.nodes[v].kill();
                cut_bytes += then.as_deref().map_or(0, cut_back);
                c.nodes[v].restart_same_ports();
            }
            _ => {
                if v == 0 && !seeded_first {
                    // The first node was started without seeds; an empty
                    // replacement must be told where its cluster is.
                    let seed = format!("127.0.0.1:{}", c.nodes[1].cluster_port);
                    c.nodes[0].add_args(&["--seeds", &seed]);
                    seeded_first = true;
                }
                c.nodes[v].kill();
                c.nodes[v].wipe();
                c.nodes[v].restart_same_ports();
            }
        }
        if fault != 1 {
            restarted[v] = Instant::now();
        }
        wait_healed(&c);
    }
    stop.store(true, Ordering::Relaxed);
    let histories: Vec<History> = clients
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    drop(sampler);
    wait_healed(&c);
    wait_for("hints delivered", Duration::from_secs(60), || {
        c.hints_pending() == 0
    });
    for node in &c.nodes {
        repair(node);
    }

    let mut anomalies: Vec<String> = histories
        .iter()
        .flat_map(|h| h.anomalies.iter().cloned())
        .collect();
    for (i, node) in c.nodes.iter().enumerate() {
        let mut con = node.conn();
        for (client, h) in histories.iter().enumerate() {
            for (k, allowed) in h.keys.iter().enumerate() {
                let key = key_name(client, k);
                match cl(&mut con, "ALL", &["GET", &key]) {
                    Ok(v) if allowed.contains(&bulk(&v)) => {}
                    Ok(v) => anomalies.push(format!(
                        "node {i}: {key} = {:?}, expected one of {allowed:?}",
                        bulk(&v)
                    )),
                    Err(e) => anomalies.push(format!("node {i}: GET {key}: {e}")),
                }
            }
            let (name, hash, set) = (counter_name(client), hash_name(client), set_name(client));
            for (args, counter) in [
                (vec!["GET", &name], &h.incr),
                (vec!["HGET", &hash, "n"], &h.hincr),
            ] {
                match cl(&mut con, "ALL", &args) {
                    Ok(v) => {
                        let total: i64 = bulk(&v).and_then(|s| s.parse().ok()).unwrap_or(0);
                        if !counter.allows(total) {
                            anomalies.push(format!(
                                "node {i}: {args:?} = {total}, acked {} failed {}",
                                counter.acked, counter.failed
                            ));
                        }
                    }
                    Err(e) => anomalies.push(format!("node {i}: {args:?}: {e}")),
                }
            }
            for (f, allowed) in h.fields.iter().enumerate() {
                let field = format!("f{f}");
                match cl(&mut con, "ALL", &["HGET", &hash, &field]) {
                    Ok(v) if allowed.contains(&bulk(&v)) => {}
                    Ok(v) => anomalies.push(format!(
                        "node {i}: {hash} {field} = {:?}, expected one of {allowed:?}",
                        bulk(&v)
                    )),
                    Err(e) => anomalies.push(format!("node {i}: HGET {hash} {field}: {e}")),
                }
            }
            match cl(&mut con, "ALL", &["SMEMBERS", &set]) {
                Ok(v) => {
                    let held: std::collections::BTreeSet<String> =
                        common::strings(v).into_iter().collect();
                    for lost in h.members.present.difference(&held) {
                        anomalies.push(format!("node {i}: {set} lost acknowledged {lost}"));
                    }
                    for back in h.members.removed.intersection(&held) {
                        anomalies.push(format!("node {i}: {set} holds removed {back}"));
                    }
                    count_matches(&mut con, i, &["SCARD", &set], held.len(), &mut anomalies);
                }
                Err(e) => anomalies.push(format!("node {i}: SMEMBERS {set}: {e}")),
            }
            check_zset(&mut con, i, &zset_name(client), h, &mut anomalies);
            h.window.check(&mut con, i, client, &mut anomalies);
            h.hash_expiry.check(&mut con, i, &hash, &mut anomalies);
            h.zset_expiry
                .check(&mut con, i, &zset_name(client), &mut anomalies);
            let list = list_name(client);
            match cl(&mut con, "ALL", &["LRANGE", &list, "0", "-1"]) {
                Ok(v) => {
                    let held = common::strings(v);
                    let set: std::collections::BTreeSet<&String> = held.iter().collect();
                    for lost in h.list_in.iter().filter(|e| !set.contains(e)) {
                        anomalies.push(format!("node {i}: {list} lost acknowledged {lost}"));
                    }
                    for e in &held {
                        if h.popped.contains(e) {
                            anomalies.push(format!("node {i}: {list} holds popped {e}"));
                        } else if !h.list_in.contains(e) && !h.list_maybe.contains(e) {
                            anomalies.push(format!("node {i}: {list} holds unknown {e}"));
                        }
                    }
                    // Acknowledged pushes keep their order; a failed one
                    // may have been applied late, anywhere after.
                    let acked: Vec<&String> =
                        held.iter().filter(|e| h.list_in.contains(e)).collect();
                    if set.len() != held.len()
                        || acked
                            .windows(2)
                            .any(|w| element_number(w[0]) >= element_number(w[1]))
                    {
                        anomalies.push(format!("node {i}: {list} out of push order: {held:?}"));
                    }
                }
                Err(e) => anomalies.push(format!("node {i}: LRANGE {list}: {e}")),
            }
        }
    }
    let ops: u64 = histories.iter().map(|h| h.ops).sum();
    let errors: u64 = histories.iter().map(|h| h.errors).sum();
    let acked_incrs: i64 = histories
        .iter()
        .map(|h| h.incr.acked + h.hincr.acked + h.zincr.acked)
        .sum();
    let members: usize = histories
        .iter()
        .map(|h| h.members.present.len() + h.zmembers.present.len())
        .sum();
    let elements: usize = histories.iter().map(|h| h.list_in.len()).sum();
    let trims: u64 = histories.iter().map(|h| h.window.trims).sum();
    let zpops: u64 = histories.iter().map(|h| h.window.pops).sum();
    let windowed: usize = histories.iter().map(|h| h.window.present()).sum();
    let expiries: u64 = histories
        .iter()
        .map(|h| h.hash_expiry.acked + h.zset_expiry.acked)
        .sum();
    let pops: usize = histories.iter().map(|h| h.popped.len()).sum();
    let resets: u64 = histories
        .iter()
        .map(|h| h.incr.resets + h.hincr.resets + h.zincr.resets)
        .sum();
    println!(
        "fault test: faults kill9={} sigstop={} powercut={} (WAL bytes cut {cut_bytes}) \
         replace={}; operations {ops}, client errors {errors}, acknowledged INCR/HINCRBY/ZINCRBY \
         {acked_incrs} (counter resets {resets}), set and sorted-set members {members}, list elements {elements} (popped {pops}), \
         window trims {trims} and pops {zpops} (members left {windowed}), EXPIRE/PERSIST {expiries}; anomalies {}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        anomalies.len()
    );
    assert!(
        anomalies.is_empty(),
        "seed {seed}: {} anomalies, first: {:#?}",
        anomalies.len(),
        &anomalies[..anomalies.len().min(20)]
    );
    assert!(ops > 0, "the clients made no operation");
}
