//! A failed WAL write poisons the engine: the error is sticky, later writes
//! are refused with `WalPoisoned`, and `stats().background_error` says why.
//! The failure is real: a child process (this test binary re-executed) lowers
//! its own file-size limit so the WAL's `write` fails with EFBIG.

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
    // SAFETY: plain libc calls in a single-purpose child process: ignore
    // SIGXFSZ so an oversized write returns EFBIG, then cap file sizes.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit {
            rlim_cur: 64 * 1024,
            rlim_max: 64 * 1024,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let mut failed = None;
    for i in 0..10_000u32 {
        let mut b = WriteBatch::new();
        b.put(format!("k{i}"), Value::new(vec![b'x'; 1000]));
        match e.write(b).and_then(|s| e.wait_durable(s)) {
            Ok(()) => {}
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    let err = failed.expect("the file-size limit never made a write fail");
    assert!(
        matches!(err, Error::WalPoisoned { .. } | Error::Io { .. }),
        "{err:?}"
    );
    let again = e.write({
        let mut b = WriteBatch::new();
        b.put("after", Value::new("x"));
        b
    });
    assert!(matches!(again, Err(Error::WalPoisoned { .. })), "{again:?}");
    assert!(e.stats().background_error.is_some());
    println!("POISON-CHECKS-PASSED");
}

#[test]
fn failed_wal_write_poisons_the_engine() {
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
