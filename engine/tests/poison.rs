//! A failed WAL write refuses writes (`WalPoisoned`, and
//! `stats().background_error` says why) and undoes the write whose record
//! failed; once the file can grow again, writes resume by themselves, and a
//! reopen finds every acknowledged write and not the failed one. The failure
//! is real: a child process (this test binary re-executed) lowers its own
//! file-size limit so the WAL's `write` fails with EFBIG, then raises it.

mod common;

use std::process::Command;

use ringkv_engine::{CompactionStrategy, Engine, Error, FsyncPolicy, Value, WriteBatch};

const CHILD_ENV: &str = "RINGKV_POISON_CHILD_DIR";

#[test]
fn poison_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut opts = common::small_options(CompactionStrategy::Leveled);
    opts.fsync = FsyncPolicy::Always;
    opts.memtable_size_bytes = 64 << 20;
    let e = Engine::open(&dir, opts).unwrap();
    let set_fsize = |bytes: u64| {
        // SAFETY: plain libc calls in a single-purpose child process: ignore
        // SIGXFSZ so an oversized write returns EFBIG, then set the soft
        // file-size limit (the hard one stays, so it can be raised again).
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
            lim.rlim_cur = bytes.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
    };
    set_fsize(256 * 1024);
    // Every fourth value is long enough that the log writes it from the
    // batch's own memory (a write may fail inside it).
    let value = |i: u32| {
        let width = if i % 4 == 3 { 70_000 } else { 1000 };
        let digits = i.to_string();
        Value::new("0".repeat(width - digits.len()) + &digits)
    };
    let mut failed = None;
    for i in 0..10_000u32 {
        let mut b = WriteBatch::new();
        b.put(format!("k{i}"), value(i));
        // A key every batch overwrites, twice: the failed batch's two
        // versions of it are undone, newest first, down to the last
        // acknowledged one.
        b.put("shared", Value::new("overwritten in the same batch"));
        b.put("shared", value(i));
        match e.write(b).and_then(|s| e.wait_durable(s)) {
            Ok(()) => {}
            Err(err) => {
                failed = Some((i, err));
                break;
            }
        }
    }
    let (failed_at, err) = failed.expect("the file-size limit never made a write fail");
    assert_eq!(failed_at % 4, 3, "meant to fail inside a long value");
    assert!(
        matches!(err, Error::WalPoisoned { .. } | Error::Io { .. }),
        "{err:?}"
    );
    let after = || {
        let mut b = WriteBatch::new();
        b.put("after", Value::new("x"));
        e.write(b).and_then(|s| e.wait_durable(s))
    };
    assert!(matches!(after(), Err(Error::WalPoisoned { .. })));
    assert!(e.stats().background_error.is_some());
    // The failed write was undone; every acknowledged one is readable.
    assert_eq!(e.get(format!("k{failed_at}").as_bytes()).unwrap(), None);
    let shared_before = failed_at.checked_sub(1).map(value);
    assert_eq!(e.get(b"shared").unwrap(), shared_before);
    for i in 0..failed_at {
        assert_eq!(e.get(format!("k{i}").as_bytes()).unwrap(), Some(value(i)));
    }
    // Room again: writes resume without a restart (the committer probes
    // once a second).
    set_fsize(u64::MAX);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while after().is_err() {
        assert!(std::time::Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(e.stats().background_error.is_none());
    assert_eq!(e.stats().wal_write_failures, 1);
    assert_eq!(e.stats().wal_write_recoveries, 1);
    for i in failed_at + 1..failed_at + 100 {
        let mut b = WriteBatch::new();
        b.put(format!("k{i}"), value(i));
        e.write(b).and_then(|s| e.wait_durable(s)).unwrap();
    }
    // A reopen replays the WAL (cut back to its last whole record before
    // the later appends): everything acknowledged, not the failed write.
    drop(e);
    let e = Engine::open(&dir, common::small_options(CompactionStrategy::Leveled)).unwrap();
    assert_eq!(e.get(format!("k{failed_at}").as_bytes()).unwrap(), None);
    assert_eq!(e.get(b"shared").unwrap(), shared_before);
    for i in (0..failed_at).chain(failed_at + 1..failed_at + 100) {
        assert_eq!(
            e.get(format!("k{i}").as_bytes()).unwrap(),
            Some(value(i)),
            "k{i}"
        );
    }
    assert_eq!(e.get(b"after").unwrap(), Some(Value::new("x")));
    println!("POISON-CHECKS-PASSED");
}

#[test]
fn failed_wal_write_refuses_writes_until_the_file_grows_again() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "poison_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("POISON-CHECKS-PASSED"),
        "child failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}
