//! `kill -9` test: a child process (this test binary re-executed in writer
//! mode) writes with `appendfsync always` and prints each key only after
//! `wait_durable` returned; the parent kills it with SIGKILL at a random
//! moment, reopens the database, and checks that every acknowledged write is
//! there with its exact value (nothing half-written), 30+ times in a row.
//! Small memtables put flushes, compactions and manifest writes in the blast
//! radius too. Bounded in iterations and time.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use ringkv_engine::{CompactionStrategy, Engine, FsyncPolicy, Options, Value, WriteBatch};

const CHILD_ENV: &str = "RINGKV_CRASH_CHILD_DIR";

fn opts(strategy: CompactionStrategy) -> Options {
    let mut o = common::small_options(strategy);
    o.fsync = FsyncPolicy::Always;
    o.memtable_size_bytes = 24 * 1024;
    o
}

fn value_for(i: u64) -> Vec<u8> {
    let mut v = format!("{i}:").into_bytes();
    v.resize(10 + (i as usize * 37) % 700, b'a' + (i % 26) as u8);
    v
}

/// Writer mode: only active when the parent set `CHILD_ENV`.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var("RINGKV_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let strategy = if start % 2 == 0 {
        CompactionStrategy::Leveled
    } else {
        CompactionStrategy::SizeTiered
    };
    let e = Engine::open(&dir, opts(strategy)).unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = start;
    // Bounded even if nobody kills us.
    while i < start + 200_000 {
        use std::io::Write;
        if i % 5 == 0 {
            let mut b = WriteBatch::new();
            for j in i..i + 3 {
                b.put(common::key(j), Value::new(value_for(j)));
            }
            let seq = e.write(b).unwrap();
            e.wait_durable(seq).unwrap();
            writeln!(out, "ack {i} 3").unwrap();
            i += 3;
        } else {
            e.put(common::key(i), Value::new(value_for(i))).unwrap();
            writeln!(out, "ack {i} 1").unwrap();
            i += 1;
        }
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acked: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut iterations = 0;
    while iterations < 32 && Instant::now() < deadline {
        iterations += 1;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("RINGKV_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let _ = child.wait();
        // A line without its newline was being printed when the kill hit: not acknowledged.
        let complete = match stdout.rfind('\n') {
            Some(p) => &stdout[..=p],
            None => "",
        };
        for line in BufReader::new(complete.as_bytes()).lines() {
            let line = line.unwrap();
            let mut w = line.split_whitespace();
            if w.next() != Some("ack") {
                continue;
            }
            let first: u64 = w.next().unwrap().parse().unwrap();
            let n: u64 = w.next().unwrap().parse().unwrap();
            acked.extend(first..first + n);
            next = next.max(first + n);
        }
        next += 10;
        let e = Engine::open(dir.path(), opts(CompactionStrategy::Leveled)).unwrap();
        for &i in &acked {
            let got = e.get(&common::key(i)).unwrap();
            assert_eq!(
                got.map(|v| v.data.to_vec()),
                Some(value_for(i)),
                "iteration {iterations}: key {i} lost or damaged"
            );
        }
        // Nothing unacknowledged may be half there either: every present key has its exact value.
        for r in e
            .iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
            .unwrap()
        {
            let (k, v) = r.unwrap();
            let i: u64 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
            assert_eq!(v.data.to_vec(), value_for(i), "key {i} has a damaged value");
        }
        e.shutdown().unwrap();
    }
    assert!(iterations >= 30, "only {iterations} iterations ran in time");
    assert!(
        acked.len() > 100,
        "the writer acknowledged too little ({}) for the test to mean anything",
        acked.len()
    );
}
