//! Committed files of every on-disk format version (`tests/fixtures/v1/`):
//! a small database whose data sits in an SSTable, the manifest and an
//! unflushed WAL, read back through the public API and checked key by key;
//! and damaged copies of it (a flipped byte in an SSTable data block, in a WAL
//! record followed by valid ones, in the manifest) that must be reported as
//! corruption naming the file, never returned as data.
//!
//! `cargo test -p ringkv-engine --test fixtures -- --ignored regenerate`
//! rewrites them; do that only together with a format version bump.

mod common;

use std::path::{Path, PathBuf};

use ringkv_engine::{CompactionStrategy, Engine, Error, FsyncPolicy, Options, Value, WriteBatch};

const CLOCK_MS: u64 = 1_700_000_000_000;

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn opts() -> Options {
    let mut o = common::small_options(CompactionStrategy::Leveled);
    o.fsync = FsyncPolicy::Always;
    common::FakeClock::new(CLOCK_MS).install(&mut o);
    o
}

/// What the fixture database holds: (key, value, expiry).
fn expected() -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    let mut v: Vec<(Vec<u8>, Vec<u8>, u64)> = (0..40u32)
        .map(|i| {
            (
                format!("sst-key-{i:03}").into_bytes(),
                format!("value {i}").into_bytes(),
                0,
            )
        })
        .collect();
    v.push((
        b"ttl".to_vec(),
        b"expires far ahead".to_vec(),
        CLOCK_MS + 1_000_000_000,
    ));
    v.push((Vec::new(), b"the empty key".to_vec(), 0));
    for i in 0..6u32 {
        v.push((
            format!("wal-key-{i}").into_bytes(),
            format!("wal value {i}").into_bytes(),
            0,
        ));
    }
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn file_ending(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(suffix))
        })
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

#[test]
#[ignore = "rewrites the committed fixtures"]
fn regenerate() {
    let root = fixture_root();
    let _ = std::fs::remove_dir_all(&root);
    let work = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(work.path(), opts()).unwrap();
        for (k, v, exp) in expected()
            .iter()
            .filter(|(k, _, _)| !k.starts_with(b"wal-"))
        {
            e.put(k.clone(), Value::with_expiry(v.clone(), *exp))
                .unwrap();
        }
        e.put("deleted", Value::new("gone")).unwrap();
        e.delete("deleted").unwrap();
        e.flush().unwrap();
        let mut b = WriteBatch::new();
        for (k, v, _) in expected().iter().filter(|(k, _, _)| k.starts_with(b"wal-")) {
            b.put(k.clone(), Value::new(v.clone()));
        }
        b.delete("sst-key-000");
        let seq = e.write(b).unwrap();
        e.wait_durable(seq).unwrap();
        e.put("sst-key-000", Value::new("value 0")).unwrap();
        e.put("wal-later", Value::new("x")).unwrap();
        e.delete("wal-later").unwrap();
        e.shutdown().unwrap();
    }
    let good = root.join("db");
    copy_dir(work.path(), &good);
    let _ = std::fs::remove_file(good.join("LOCK"));
    let damage = |name: &str, suffix: &str, at: &dyn Fn(usize) -> usize| {
        let d = root.join(name);
        copy_dir(&good, &d);
        let f = file_ending(&d, suffix);
        let mut b = std::fs::read(&f).unwrap();
        let i = at(b.len());
        b[i] ^= 0x20;
        std::fs::write(&f, b).unwrap();
    };
    damage("db-bad-sst-block", ".sst", &|_| 30);
    // Inside the first batch record's payload; two valid records follow it.
    damage("db-bad-wal-record", ".wal", &|_| 16 + 9 + 4);
    // Inside the manifest's snapshot record (after the 16-byte header).
    damage("db-bad-manifest", "MANIFEST-", &|_| 24);
}

fn open_copy(name: &str) -> (tempfile::TempDir, Result<Engine, Error>) {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&fixture_root().join(name), t.path());
    let r = Engine::open(t.path(), opts());
    (t, r)
}

#[test]
fn v1_database_reads_back_exactly() {
    let (_t, e) = open_copy("db");
    let e = e.unwrap();
    let got: Vec<(Vec<u8>, Vec<u8>, u64)> = e
        .iter(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded, None)
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.data.to_vec(), v.expire_at_ms)
        })
        .collect();
    assert_eq!(got, expected());
    assert!(e.get(b"deleted").unwrap().is_none());
    assert!(e.get(b"wal-later").unwrap().is_none());
    assert_eq!(
        e.get(b"ttl").unwrap().unwrap().expire_at_ms,
        CLOCK_MS + 1_000_000_000
    );
}

fn names_file(err: &Error, suffix: &str) -> bool {
    match err {
        Error::Corruption { file, .. } | Error::ChecksumMismatch { file, .. } => {
            file.to_string_lossy().contains(suffix)
        }
        // A damaged manifest stops `open`: the cause names the same file.
        Error::UnreadableManifest { file, cause } => {
            file.to_string_lossy().contains(suffix) && names_file(cause, suffix)
        }
        _ => false,
    }
}

#[test]
fn v1_damaged_sstable_block_is_a_checksum_error() {
    let (_t, e) = open_copy("db-bad-sst-block");
    let e = e.unwrap();
    let mut errors = 0;
    for (k, v, _) in expected() {
        match e.get(&k) {
            Ok(got) => assert_eq!(got.map(|g| g.data.to_vec()), Some(v)),
            Err(err) => {
                assert!(names_file(&err, ".sst"), "{err:?}");
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
}

#[test]
fn v1_damaged_wal_record_is_corruption() {
    let (_t, r) = open_copy("db-bad-wal-record");
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { .. }) && names_file(&err, ".wal"),
        "{err:?}"
    );
}

#[test]
fn v1_damaged_manifest_is_corruption() {
    let (_t, r) = open_copy("db-bad-manifest");
    let err = r.unwrap_err();
    assert!(names_file(&err, "MANIFEST-"), "{err:?}");
    assert!(err.is_corruption(), "{err:?}");
}
