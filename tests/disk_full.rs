//! A full disk, for real: the server runs on a small tmpfs of its own (see
//! `common::small_disk`; skipped, loudly, where user and mount namespaces
//! are not allowed). Writes that do not fit are refused with `-MISCONF`
//! and are never readable; once space returns, writes resume without a
//! restart; a node restarted on a full disk serves reads and refuses writes
//! until space returns. Every acknowledged write survives a `kill -9`.

mod common;

use std::time::{Duration, Instant};

use common::small_disk::SmallDisk;
use common::{TestServer, query};

const DISK_BYTES: u64 = 8 << 20;

fn start() -> Option<(TestServer, SmallDisk)> {
    let started = TestServer::start_prepared(&["--memtable-size", "1mb"], |dir| {
        let disk = SmallDisk::mount(dir, DISK_BYTES)?;
        let prefix = disk.command_prefix();
        Some((disk, prefix))
    });
    if started.is_none() {
        eprintln!(
            "SKIPPED: this machine does not allow `unshare -Urm` (user and mount namespaces)"
        );
    }
    started
}

fn value(i: u32) -> String {
    format!("{i:0>2000}")
}

fn get(con: &mut redis::Connection, key: &str) -> Option<String> {
    match query(con, &["GET", key]).expect("GET works on a full disk") {
        redis::Value::Nil => None,
        redis::Value::BulkString(b) => Some(String::from_utf8(b).expect("utf8")),
        other => panic!("GET {key}: {other:?}"),
    }
}

fn info(con: &mut redis::Connection, field: &str) -> String {
    let text: String = redis::cmd("INFO").query(con).expect("INFO");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// SETs k{from}.. until the disk refuses one; returns its index.
fn write_until_full(con: &mut redis::Connection, from: u32) -> u32 {
    for i in from..from + 20_000 {
        if let Err(e) = query(con, &["SET", &format!("k{i}"), &value(i)]) {
            assert!(e.starts_with("MISCONF"), "SET k{i}: {e}");
            return i;
        }
    }
    panic!("the disk never filled");
}

/// Waits (bounded) until a write succeeds again.
fn wait_writable(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match query(con, &["SET", "probe", "1"]) {
            Ok(_) => return,
            Err(e) => {
                assert!(e.starts_with("MISCONF"), "{e}");
                assert!(Instant::now() < deadline, "writes did not resume: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn check_keys(con: &mut redis::Connection, acked: &[u32], failed: u32) {
    for &i in acked {
        assert_eq!(
            get(con, &format!("k{i}")),
            Some(value(i)),
            "k{i} was acknowledged"
        );
    }
    assert_eq!(
        get(con, &format!("k{failed}")),
        None,
        "k{failed} was refused"
    );
}

#[test]
fn writes_refused_on_a_full_disk_resume_when_space_returns() {
    let Some((mut server, disk)) = start() else {
        return;
    };
    // Space taken now and given back later.
    disk.fill("reserve", 2 << 20);
    let mut con = server.conn();
    let failed = write_until_full(&mut con, 0);
    assert!(failed > 100, "only {failed} writes fitted");
    // The refused write is not readable, through this client or another,
    // and the connection stays usable.
    let mut other = server.conn();
    assert_eq!(get(&mut other, &format!("k{failed}")), None);
    let e = query(&mut other, &["SET", "x", "1"]).expect_err("the disk is full");
    assert!(e.starts_with("MISCONF"), "{e}");
    assert_eq!(info(&mut other, "aof_last_write_status"), "err");
    let acked: Vec<u32> = (0..failed).collect();
    check_keys(&mut con, &acked, failed);

    disk.remove("reserve");
    wait_writable(&mut con);
    assert_eq!(info(&mut con, "aof_last_write_status"), "ok");
    // Flushes and compactions retry too, and say so once they succeed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !info(&mut con, "background_error").is_empty() {
        assert!(Instant::now() < deadline, "background work never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info(&mut con, "rdb_last_bgsave_status"), "ok");
    assert_eq!(get(&mut con, &format!("k{failed}")), None);
    let more: Vec<u32> = (failed + 1..failed + 200).collect();
    for &i in &more {
        common::ok(&mut con, &["SET", &format!("k{i}"), &value(i)]);
    }
    assert!(
        info(&mut con, "wal_write_failures")
            .parse::<u64>()
            .unwrap_or(0)
            >= 1
    );

    // Nothing acknowledged is lost and the refused write stays gone
    // across a kill -9.
    server.kill();
    server.restart();
    let mut con = server.conn();
    let all: Vec<u32> = acked.iter().chain(&more).copied().collect();
    check_keys(&mut con, &all, failed);
}

#[test]
fn a_node_restarted_on_a_full_disk_serves_reads_until_space_returns() {
    let Some((mut server, disk)) = start() else {
        return;
    };
    let mut con = server.conn();
    let acked: Vec<u32> = (0..600).collect();
    for &i in &acked {
        common::ok(&mut con, &["SET", &format!("k{i}"), &value(i)]);
    }
    server.kill();
    let filled = disk.fill_all("filler");
    assert!(filled > 0);
    // Starts (no room for a fresh WAL or manifest), serves reads, refuses writes.
    server.restart();
    let mut con = server.conn();
    check_keys(&mut con, &acked, 600);
    let e = query(&mut con, &["SET", "x", "1"]).expect_err("the disk is full");
    assert!(e.starts_with("MISCONF"), "{e}");
    assert_eq!(info(&mut con, "aof_last_write_status"), "err");

    disk.remove("filler");
    wait_writable(&mut con);
    common::ok(&mut con, &["SET", "k600", &value(600)]);
    server.kill();
    server.restart();
    let mut con = server.conn();
    let all: Vec<u32> = (0..=600).collect();
    check_keys(&mut con, &all, 601);
}
