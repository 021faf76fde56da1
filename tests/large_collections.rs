//! Collections large enough to be stored split (a header and one record
//! per member, `docs/formats/record.md` §3.6) against a real server:
//! random commands on a big hash, set and sorted set agree with an
//! in-test model at every step, through memtable flushes and compactions
//! (a tiny memtable) and a restart (lists: `large_lists.rs`); DEL of a big
//! key is at once and final;
//! a scan pages a big hash and returns each field once while it changes;
//! by-score and by-rank reads, ZRANK, ZCOUNT and pops of a big sorted set
//! (read from its score index) agree with a model; random picks from a
//! big set come from a pool (one walk for many picks) and SPOP returns
//! each member once.
//!
//! Every loop is bounded; the server is killed by PID when the test ends.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

/// Bigger than the split size (512), with room to shrink and grow.
const FILL: usize = 1500;

fn start() -> TestServer {
    TestServer::start_with(&["--memtable-size", "262144"])
}

fn bulk_of(v: Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8(b).expect("utf-8")),
        other => panic!("not a bulk string: {other:?}"),
    }
}

#[test]
fn large_hashes_sets_and_sorted_sets_behave_as_models() {
    let mut s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(12);
    let mut hash: BTreeMap<String, i64> = BTreeMap::new();
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut zset: BTreeMap<String, i64> = BTreeMap::new();
    let name = |i: u32| format!("m{i:05}");
    for chunk in 0..FILL as u32 / 100 {
        let (mut h, mut st, mut z) = (
            vec!["HSET".to_string(), "h".into()],
            vec!["SADD".to_string(), "s".into()],
            vec!["ZADD".to_string(), "z".into()],
        );
        for i in chunk * 100..chunk * 100 + 100 {
            h.extend([name(i), i.to_string()]);
            st.push(name(i));
            z.extend([i.to_string(), name(i)]);
            hash.insert(name(i), i64::from(i));
            set.insert(name(i));
            zset.insert(name(i), i64::from(i));
        }
        for args in [h, st, z] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(int_of(ok(c, &args)), 100);
        }
    }
    let universe = 2 * FILL as u32;
    for step in 0..3000 {
        let m = name(rng.random_range(0..universe));
        match rng.random_range(0..9u32) {
            0 => {
                let v: i64 = rng.random_range(0..1000);
                let added = int_of(ok(c, &["HSET", "h", &m, &v.to_string()]));
                assert_eq!(added, i64::from(hash.insert(m, v).is_none()), "step {step}");
            }
            1 => {
                let by: i64 = rng.random_range(-5..5);
                let got = int_of(ok(c, &["HINCRBY", "h", &m, &by.to_string()]));
                let e = hash.entry(m).or_insert(0);
                *e += by;
                assert_eq!(got, *e, "step {step}");
            }
            2 => {
                let removed = int_of(ok(c, &["HDEL", "h", &m]));
                assert_eq!(removed, i64::from(hash.remove(&m).is_some()), "step {step}");
            }
            3 => {
                let other = name(rng.random_range(0..universe));
                let got: Vec<Option<String>> = match ok(c, &["HMGET", "h", &m, &other]) {
                    Value::Array(items) => items.into_iter().map(bulk_of).collect(),
                    v => panic!("{v:?}"),
                };
                let want: Vec<Option<String>> = [&m, &other]
                    .iter()
                    .map(|k| hash.get(*k).map(i64::to_string))
                    .collect();
                assert_eq!(got, want, "step {step}");
                assert_eq!(int_of(ok(c, &["HLEN", "h"])), hash.len() as i64);
            }
            4 => {
                let added = int_of(ok(c, &["SADD", "s", &m]));
                assert_eq!(added, i64::from(set.insert(m)), "step {step}");
            }
            5 => {
                let removed = int_of(ok(c, &["SREM", "s", &m]));
                assert_eq!(removed, i64::from(set.remove(&m)), "step {step}");
                assert_eq!(int_of(ok(c, &["SCARD", "s"])), set.len() as i64);
            }
            6 => {
                let is = int_of(ok(c, &["SISMEMBER", "s", &m]));
                assert_eq!(is, i64::from(set.contains(&m)), "step {step}");
            }
            7 => {
                let score: i64 = rng.random_range(0..5000);
                let added = int_of(ok(c, &["ZADD", "z", &score.to_string(), &m]));
                assert_eq!(
                    added,
                    i64::from(zset.insert(m, score).is_none()),
                    "step {step}"
                );
            }
            _ => {
                let got = bulk_of(ok(c, &["ZSCORE", "z", &m]));
                assert_eq!(got, zset.get(&m).map(i64::to_string), "step {step}");
                assert_eq!(int_of(ok(c, &["ZCARD", "z"])), zset.len() as i64);
            }
        }
        if step % 1000 == 0 {
            assert_eq!(ok(c, &["SAVE"]), okay());
        }
    }
    s.restart();
    let c = &mut s.conn();
    let all = strings(ok(c, &["HKEYS", "h"]));
    assert_eq!(all, hash.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        sorted_strings(ok(c, &["SMEMBERS", "s"])),
        set.iter().cloned().collect::<Vec<_>>()
    );
    let mut by_score: Vec<(i64, String)> = zset.iter().map(|(m, s)| (*s, m.clone())).collect();
    by_score.sort();
    let want: Vec<String> = by_score.into_iter().map(|(_, m)| m).collect();
    assert_eq!(strings(ok(c, &["ZRANGE", "z", "0", "-1"])), want);
    // A big key goes at once, and stays gone.
    assert_eq!(ok(c, &["DEL", "h", "s"]), int(2));
    assert_eq!(ok(c, &["EXISTS", "h", "s"]), int(0));
    // Their members are deleted in the background, and INFO counts them.
    let info = |c: &mut redis::Connection, field: &str| -> u64 {
        let text: String = redis::cmd("INFO").query(c).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let reclaimed = |c: &mut redis::Connection| info(c, "collection_members_reclaimed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Both keys' generations: the reclaimer may take the first DEL's
    // before the second is queued, and then count nothing pending.
    while (reclaimed(c) < 1000
        || info(c, "lazyfree_pending_objects") > 0
        || info(c, "lazyfreed_objects") < 2)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(reclaimed(c) >= 1000, "reclaimed {}", reclaimed(c));
    // Redis's names for the same: nothing pending, both keys' members freed.
    assert_eq!(info(c, "lazyfree_pending_objects"), 0);
    assert!(info(c, "lazyfreed_objects") >= 2);
    assert_eq!(ok(c, &["HLEN", "h"]), int(0));
    assert_eq!(ok(c, &["HSET", "h", "again", "1"]), int(1));
    assert_eq!(ok(c, &["HLEN", "h"]), int(1));
    s.restart();
    let c = &mut s.conn();
    assert_eq!(strings(ok(c, &["HKEYS", "h"])), ["again"]);
    assert_eq!(ok(c, &["EXISTS", "s"]), int(0));
    assert_eq!(int_of(ok(c, &["ZCARD", "z"])), zset.len() as i64);
}

/// The `[cursor, items]` of a *SCAN reply.
fn scan_reply(v: Value) -> (String, Vec<String>) {
    match v {
        Value::Array(mut parts) if parts.len() == 2 => {
            let items = strings(parts.pop().expect("items"));
            let cursor = bulk_of(parts.pop().expect("cursor")).expect("cursor");
            (cursor, items)
        }
        other => panic!("not a scan reply: {other:?}"),
    }
}

#[test]
fn a_scan_of_a_large_collection_pages_and_returns_each_member_once_while_it_changes() {
    let s = start();
    let c = &mut s.conn();
    for chunk in 0..20 {
        let mut args = vec!["HSET".to_string(), "h".into()];
        for i in chunk * 100..(chunk + 1) * 100 {
            args.extend([format!("f{i:05}"), "v".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
    }
    // Walk with COUNT 150 while adding fields and deleting others: every
    // field present throughout comes back exactly once.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let (mut cursor, mut pages) = ("0".to_string(), 0);
    loop {
        let (next, items) = scan_reply(ok(c, &["HSCAN", "h", &cursor, "COUNT", "150"]));
        pages += 1;
        assert!(pages < 100, "the walk does not end");
        for field in items.chunks(2).map(|p| p[0].clone()) {
            *seen.entry(field).or_default() += 1;
        }
        ok(c, &["HSET", "h", &format!("new{pages}"), "v"]);
        ok(c, &["HDEL", "h", &format!("f{:05}", 1999 - pages)]);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(pages > 5, "{pages} pages");
    assert!(seen.values().all(|n| *n == 1), "a field came back twice");
    for i in 0..2000 - pages - 1 {
        assert!(seen.contains_key(&format!("f{i:05}")), "f{i:05} missing");
    }
    // MATCH filters a page; a cursor this node never gave gets every
    // field, and the walk ends.
    let (_, items) = scan_reply(ok(c, &["HSCAN", "h", "0", "MATCH", "f000*"]));
    assert_eq!(items.len(), 2 * 100);
    let fields = usize::try_from(int_of(ok(c, &["HLEN", "h"]))).expect("HLEN");
    let (next, items) = scan_reply(ok(c, &["HSCAN", "h", "12345"]));
    assert_eq!((next.as_str(), items.len()), ("0", 2 * fields));
    assert_eq!(items.first().map(String::as_str), Some("f00000"));
    // A small collection comes back whole, with cursor 0.
    ok(c, &["SADD", "small", "a", "b", "c"]);
    let (next, items) = scan_reply(ok(c, &["SSCAN", "small", "0", "COUNT", "1"]));
    assert_eq!((next.as_str(), items.len()), ("0", 3));
}

#[test]
fn a_large_sorted_set_answers_ranges_ranks_counts_and_pops_as_a_model() {
    let mut s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(5);
    let mut model: BTreeMap<String, i64> = BTreeMap::new();
    for chunk in 0..30 {
        let mut args = vec!["ZADD".to_string(), "z".into()];
        for i in chunk * 100..(chunk + 1) * 100 {
            let score = rng.random_range(-500..500i64);
            args.extend([score.to_string(), format!("m{i:05}")]);
            model.insert(format!("m{i:05}"), score);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
    }
    let ordered = |model: &BTreeMap<String, i64>| {
        let mut v: Vec<(i64, String)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        v.sort();
        v
    };
    for step in 0..300 {
        let sorted = ordered(&model);
        let lo = rng.random_range(-520..520i64);
        let hi = lo + rng.random_range(0..200i64);
        let in_range: Vec<&(i64, String)> = sorted
            .iter()
            .filter(|(s, _)| (lo..=hi).contains(s))
            .collect();
        let (offset, count) = (rng.random_range(0..5usize), rng.random_range(1..12usize));
        match step % 6 {
            0 => {
                let want: Vec<String> = in_range
                    .iter()
                    .skip(offset)
                    .take(count)
                    .map(|p| p.1.clone())
                    .collect();
                let got = strings(ok(
                    c,
                    &[
                        "ZRANGEBYSCORE",
                        "z",
                        &lo.to_string(),
                        &hi.to_string(),
                        "LIMIT",
                        &offset.to_string(),
                        &count.to_string(),
                    ],
                ));
                assert_eq!(got, want, "step {step}");
            }
            1 => {
                let want: Vec<String> = in_range
                    .iter()
                    .rev()
                    .skip(offset)
                    .take(count)
                    .map(|p| p.1.clone())
                    .collect();
                let got = strings(ok(
                    c,
                    &[
                        "ZREVRANGEBYSCORE",
                        "z",
                        &hi.to_string(),
                        &lo.to_string(),
                        "LIMIT",
                        &offset.to_string(),
                        &count.to_string(),
                    ],
                ));
                assert_eq!(got, want, "step {step}");
            }
            2 => {
                let got = int_of(ok(c, &["ZCOUNT", "z", &lo.to_string(), &hi.to_string()]));
                assert_eq!(got, in_range.len() as i64, "step {step}");
            }
            3 => {
                let (rank, (_, m)) = {
                    let i = rng.random_range(0..sorted.len());
                    (i, &sorted[i])
                };
                assert_eq!(
                    int_of(ok(c, &["ZRANK", "z", m])),
                    rank as i64,
                    "step {step}"
                );
                let rev = (sorted.len() - 1 - rank) as i64;
                assert_eq!(int_of(ok(c, &["ZREVRANK", "z", m])), rev, "step {step}");
            }
            4 => {
                let end = if rng.random_bool(0.5) {
                    "ZPOPMIN"
                } else {
                    "ZPOPMAX"
                };
                let got = strings(ok(c, &[end, "z", "3"]));
                let picked: Vec<&(i64, String)> = if end == "ZPOPMIN" {
                    sorted.iter().take(3).collect()
                } else {
                    sorted.iter().rev().take(3).collect()
                };
                let want: Vec<String> = picked
                    .iter()
                    .flat_map(|(s, m)| [m.clone(), s.to_string()])
                    .collect();
                assert_eq!(got, want, "step {step}");
                for (_, m) in picked {
                    model.remove(m);
                }
            }
            _ => {
                let m = format!("m{:05}", rng.random_range(0..3000));
                let score = rng.random_range(-500..500i64);
                ok(c, &["ZADD", "z", &score.to_string(), &m]);
                model.insert(m, score);
            }
        }
        if step == 150 {
            s.restart();
            *c = s.conn();
        }
    }
    let sorted = ordered(&model);
    let want: Vec<String> = sorted.iter().take(10).map(|p| p.1.clone()).collect();
    assert_eq!(strings(ok(c, &["ZRANGE", "z", "0", "9"])), want);
    let want: Vec<String> = sorted.iter().rev().take(10).map(|p| p.1.clone()).collect();
    assert_eq!(strings(ok(c, &["ZREVRANGE", "z", "0", "9"])), want);
}

/// A field of INFO as a number (0 when absent).
fn info_u64(c: &mut redis::Connection, field: &str) -> u64 {
    let text: String = redis::cmd("INFO").query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn random_picks_from_a_large_set_come_from_a_pool_and_spop_empties_it() {
    let s = start();
    let c = &mut s.conn();
    let n = 3000;
    for chunk in 0..n / 500 {
        let mut args = vec!["SADD".to_string(), "s".into()];
        args.extend((chunk * 500..(chunk + 1) * 500).map(|i| format!("m{i:05}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
    }
    for _ in 0..100 {
        let picks = strings(ok(c, &["SRANDMEMBER", "s", "5"]));
        let distinct: BTreeSet<&String> = picks.iter().collect();
        assert_eq!(distinct.len(), 5, "{picks:?}");
        assert!(picks.iter().all(|m| m.len() == 6 && m.starts_with('m')));
    }
    // 500 picks from one or two walks, not one walk per call.
    let (draws, picked) = (
        info_u64(c, "collection_sample_draws"),
        info_u64(c, "collection_sample_picks"),
    );
    assert!((1..=2).contains(&draws), "{draws} draws");
    assert!(picked >= 500, "{picked} picks");
    // SPOP until empty, one or three at a time: each member exactly once.
    let mut popped = BTreeSet::new();
    for round in 0..n {
        let count = if round % 2 == 0 { "1" } else { "3" };
        let got = strings(ok(c, &["SPOP", "s", count]));
        if got.is_empty() {
            break;
        }
        for m in got {
            assert!(popped.insert(m.clone()), "{m} popped twice");
        }
    }
    assert_eq!(popped.len(), n);
    assert_eq!(ok(c, &["EXISTS", "s"]), int(0));
}

#[test]
fn expire_and_persist_of_a_large_hash_change_its_header_not_its_members() {
    let s = start();
    let c = &mut s.conn();
    let n = 2000;
    for chunk in 0..n / 500 {
        let mut args = vec!["HSET".to_string(), "h".into()];
        for i in chunk * 500..(chunk + 1) * 500 {
            args.extend([format!("f{i:05}"), "v".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
    }
    let reclaimed = |c: &mut redis::Connection| info_u64(c, "collection_members_reclaimed");
    let before = reclaimed(c);
    // A WATCHing transaction sees the EXPIRE as a change.
    let w = &mut s.conn();
    ok(w, &["WATCH", "h"]);
    assert_eq!(ok(c, &["EXPIRE", "h", "1000"]), int(1));
    ok(w, &["MULTI"]);
    ok(w, &["HSET", "h", "x", "1"]);
    assert_eq!(ok(w, &["EXEC"]), Value::Nil);
    let ttl = int_of(ok(c, &["TTL", "h"]));
    assert!((999..=1000).contains(&ttl), "{ttl}");
    assert_eq!(ok(c, &["EXPIRE", "h", "2000", "NX"]), int(0));
    assert_eq!(ok(c, &["EXPIRE", "h", "2000", "GT"]), int(1));
    assert_eq!(ok(c, &["PERSIST", "h"]), int(1));
    assert_eq!(ok(c, &["TTL", "h"]), int(-1));
    assert_eq!(ok(c, &["PERSIST", "h"]), int(0));
    assert_eq!(int_of(ok(c, &["HLEN", "h"])), n as i64);
    assert_eq!(
        bulk_of(ok(c, &["HGET", "h", "f01999"])).as_deref(),
        Some("v")
    );
    // No member was rewritten, so no replaced generation was deleted.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(reclaimed(c), before);
    // An expiry that passes: the key is gone at once, its members go in
    // the background, and the key can be written anew.
    assert_eq!(ok(c, &["PEXPIRE", "h", "300"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(ok(c, &["EXISTS", "h"]), int(0));
    assert_eq!(ok(c, &["HLEN", "h"]), int(0));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reclaimed(c) < before + n as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        reclaimed(c) >= before + n as u64,
        "reclaimed {}",
        reclaimed(c)
    );
    assert_eq!(ok(c, &["HSET", "h", "again", "1"]), int(1));
    assert_eq!(strings(ok(c, &["HKEYS", "h"])), ["again"]);
}

/// A hash, set or sorted set of a couple of hundred members is stored one
/// record per member: a write to one member appends about that member to
/// the WAL (a sorted set's, its two score-index entries too), not the
/// whole collection (inline, a SADD to a set of 200 members wrote about
/// 9 KB, a ZADD to a sorted set of 200 about 11 KB).
#[test]
fn a_write_to_a_mid_size_hash_or_set_logs_the_member_not_the_collection() {
    let s = start();
    let c = &mut s.conn();
    let n = 200;
    let mut hset = vec!["HSET".to_string(), "h".into()];
    let mut sadd = vec!["SADD".to_string(), "s".into()];
    let mut zadd = vec!["ZADD".to_string(), "z".into()];
    for i in 0..n {
        hset.extend([format!("field-{i:05}"), format!("value-{i:05}")]);
        sadd.push(format!("member-{i:05}"));
        zadd.extend([i.to_string(), format!("member-{i:05}")]);
    }
    for args in [&hset, &sadd, &zadd] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int_of(ok(c, &args)), n as i64);
    }
    let writes = 50;
    let logged_per_write = |c: &mut redis::Connection, write: &dyn Fn(usize) -> Vec<String>| {
        let before = info_u64(c, "wal_written_bytes");
        for i in 0..writes {
            let args = write(i);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(c, &args);
        }
        (info_u64(c, "wal_written_bytes") - before) / writes as u64
    };
    let hash = logged_per_write(c, &|i| {
        ["HSET", "h", &format!("field-{:05}", i * 3), "changed"]
            .map(String::from)
            .to_vec()
    });
    let set = logged_per_write(c, &|i| {
        ["SADD", "s", &format!("new-{i}")]
            .map(String::from)
            .to_vec()
    });
    let zset = logged_per_write(c, &|i| {
        ["ZADD", "z", "-1", &format!("member-{:05}", i * 3)]
            .map(String::from)
            .to_vec()
    });
    assert!(hash < 1024, "HSET logged {hash} bytes per write");
    assert!(set < 1024, "SADD logged {set} bytes per write");
    assert!(zset < 2048, "ZADD logged {zset} bytes per write");
    // And the members read back as written.
    assert_eq!(int_of(ok(c, &["HLEN", "h"])), n as i64);
    assert_eq!(
        bulk_of(ok(c, &["HGET", "h", "field-00003"])).as_deref(),
        Some("changed")
    );
    assert_eq!(int_of(ok(c, &["SCARD", "s"])), (n + writes) as i64);
    assert_eq!(int_of(ok(c, &["SISMEMBER", "s", "new-7"])), 1);
    assert_eq!(int_of(ok(c, &["ZCARD", "z"])), n as i64);
    assert_eq!(strings(ok(c, &["ZRANGE", "z", "0", "0"])), ["member-00000"]);
}

/// Many connections incrementing the same few members of a large hash
/// and a large sorted set, one command at a time, through memtable
/// flushes (a tiny memtable): each write reads its members before it
/// waits for the key's lock and keeps that read only if no one wrote them
/// meanwhile (`cluster/src/keyspace/early_read.rs`), so every increment
/// lands exactly once.
#[test]
fn concurrent_increments_of_a_large_hash_and_sorted_set_all_land() {
    const WRITERS: usize = 8;
    const EACH: usize = 250;
    let s = start();
    let c = &mut s.conn();
    // Split: more members than either kind keeps inline.
    for i in 0..600 {
        ok(c, &["HSET", "h", &format!("filler:{i:04}"), "x"]);
        ok(c, &["ZADD", "z", &i.to_string(), &format!("filler:{i:04}")]);
    }
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let mut c = s.conn();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let f = format!("hot:{}", i % 3);
                    ok(&mut c, &["HINCRBY", "h", &f, "1"]);
                    ok(&mut c, &["ZINCRBY", "z", "1", &f]);
                    // A write of another member between: the key's header
                    // changes, the hot members' records do not.
                    ok(&mut c, &["HSET", "h", &format!("t{t}:{i}"), "v"]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let mut total_h = 0;
    let mut total_z = 0.0;
    for i in 0..3 {
        let f = format!("hot:{i}");
        let count = bulk_of(ok(c, &["HGET", "h", &f])).expect("counted");
        total_h += count.parse::<i64>().expect("an integer");
        let score = bulk_of(ok(c, &["ZSCORE", "z", &f])).expect("scored");
        total_z += score.parse::<f64>().expect("a score");
    }
    assert_eq!(total_h, (WRITERS * EACH) as i64);
    assert_eq!(total_z, (WRITERS * EACH) as f64);
    assert_eq!(
        int_of(ok(c, &["HLEN", "h"])),
        (600 + 3 + WRITERS * EACH) as i64
    );
}

/// ZRANK, ZREVRANK, ZRANGE by rank in the middle and ZCOUNT of a sorted
/// set too large for a copy of its order (180,000 members) are answered from
/// counts per piece of its score index: made by one walk at the set's
/// second rank read, then kept by its writes (ZADD, ZINCRBY, ZREM), and
/// every answer matches a model.
#[test]
fn ranks_in_the_middle_of_a_sorted_set_too_large_for_a_copy() {
    let s = TestServer::start_with(&[]);
    let c = &mut s.conn();
    let n = 180_000i64;
    let name = |i: i64| format!("m{i:06}");
    let mut model: Vec<(i64, String)> = (0..n).map(|i| (i * 2, name(i))).collect();
    for chunk in 0..n / 2000 {
        let mut args = vec!["ZADD".to_string(), "z".into()];
        for i in chunk * 2000..(chunk + 1) * 2000 {
            args.extend([(i * 2).to_string(), name(i)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c, &args);
    }
    let check = |c: &mut redis::Connection, model: &[(i64, String)]| {
        let len = model.len();
        for at in [len / 3, len / 2, len / 2 + 7, 2 * len / 3] {
            let member = &model[at].1;
            assert_eq!(ok(c, &["ZRANK", "z", member]), int(at as i64), "{member}");
            let rev = (len - 1 - at) as i64;
            assert_eq!(ok(c, &["ZREVRANK", "z", member]), int(rev), "{member}");
        }
        for (min, max) in [("(90000", "+inf"), ("100000", "(250001"), ("-inf", "77777")] {
            let bound = |b: &str| match b {
                "+inf" => (i64::MAX, false),
                "-inf" => (i64::MIN, false),
                _ => match b.strip_prefix('(') {
                    Some(n) => (n.parse().unwrap(), true),
                    None => (b.parse().unwrap(), false),
                },
            };
            let ((lo, lo_ex), (hi, hi_ex)) = (bound(min), bound(max));
            let inside =
                |s: i64| (s > lo || (!lo_ex && s == lo)) && (s < hi || (!hi_ex && s == hi));
            let want = model.iter().filter(|(s, _)| inside(*s)).count();
            assert_eq!(
                ok(c, &["ZCOUNT", "z", min, max]),
                int(want as i64),
                "{min} {max}"
            );
        }
        let start = len / 2 - 2;
        let got = strings(ok(
            c,
            &["ZRANGE", "z", &start.to_string(), &(start + 4).to_string()],
        ));
        let want: Vec<String> = model[start..start + 5]
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        assert_eq!(got, want);
    };
    check(c, &model);
    assert_eq!(info_u64(c, "collection_rank_piece_walks"), 1);
    let mut rng = StdRng::seed_from_u64(5);
    for round in 0..300 {
        let i = rng.random_range(0..n + 100);
        let member = name(i);
        let old = model.iter().position(|(_, m)| *m == member);
        match round % 3 {
            0 => {
                let score = rng.random_range(0..2 * n);
                ok(c, &["ZADD", "z", &score.to_string(), &member]);
                if let Some(p) = old {
                    model.remove(p);
                }
                let at = model.partition_point(|e| *e < (score, member.clone()));
                model.insert(at, (score, member));
            }
            1 => {
                if let Some(p) = old {
                    ok(c, &["ZINCRBY", "z", "3", &member]);
                    let (score, m) = model.remove(p);
                    let at = model.partition_point(|e| *e < (score + 3, m.clone()));
                    model.insert(at, (score + 3, m));
                }
            }
            _ => {
                ok(c, &["ZREM", "z", &member]);
                if let Some(p) = old {
                    model.remove(p);
                }
            }
        }
        if round % 50 == 49 {
            check(c, &model);
        }
    }
    assert_eq!(
        info_u64(c, "collection_rank_piece_walks"),
        1,
        "the writes moved the counts along"
    );
}
