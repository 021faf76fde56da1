//! Damaged files: a flipped byte in a data block, the index block, the
//! footer, a WAL record in the middle, or the manifest is reported as
//! `Corruption`/`ChecksumMismatch` naming the file — never returned as data,
//! never a panic.

mod common;

use std::ops::Bound;
use std::path::{Path, PathBuf};

use common::{key, open, small_options};
use ringkv_engine::{CompactionStrategy, Engine, Error, FsyncPolicy, Options, Value};

fn value_for(i: u64) -> Vec<u8> {
    format!("value-{i}-{}", "z".repeat((i % 50) as usize)).into_bytes()
}

fn files_with(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, offset: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[offset as usize] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A database of 2000 keys compacted into one run; returns its options.
fn build(dir: &Path) -> Options {
    let opts = small_options(CompactionStrategy::Leveled);
    let e = open(dir, &opts);
    for i in 0..2000 {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.compact_all().unwrap();
    e.shutdown().unwrap();
    opts
}

fn names(err: &Error, file: &Path) -> bool {
    match err {
        Error::Corruption { file: f, .. } | Error::ChecksumMismatch { file: f, .. } => f == file,
        // A damaged manifest stops `open`: the cause names the same file.
        Error::UnreadableManifest { file: f, cause } => f == file && names(cause, file),
        _ => false,
    }
}

/// Every key reads back either correctly or as an error naming `bad`; returns the error count.
fn check_reads(e: &Engine, bad: &Path) -> usize {
    let mut errors = 0;
    for i in 0..2000 {
        match e.get(&key(i)) {
            Ok(v) => assert_eq!(
                v.map(|v| v.data.to_vec()),
                Some(value_for(i)),
                "key {i} wrong"
            ),
            Err(err) => {
                assert!(names(&err, bad), "unexpected error {err:?}");
                errors += 1;
            }
        }
    }
    errors
}

#[test]
fn flipped_byte_in_data_block_is_a_checksum_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let sst = files_with(dir.path(), |n| n.ends_with(".sst"))[0].clone();
    flip(&sst, 40);
    let e = open(dir.path(), &opts);
    let errors = check_reads(&e, &sst);
    assert!(errors > 0, "the damaged block was never read");
    // Either way up, the same: right values, then the damaged block's error.
    for reverse in [false, true] {
        let it = if reverse {
            e.iter_rev(Bound::Unbounded, Bound::Unbounded, None)
        } else {
            e.iter(Bound::Unbounded, Bound::Unbounded, None)
        };
        let mut saw_err = false;
        for r in it.unwrap() {
            match r {
                Ok((k, v)) => {
                    let i: u64 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
                    assert_eq!(v.data.to_vec(), value_for(i));
                }
                Err(err) => {
                    assert!(names(&err, &sst), "{err:?}");
                    assert!(matches!(err, Error::ChecksumMismatch { .. }));
                    saw_err = true;
                }
            }
        }
        assert!(
            saw_err,
            "iteration (reverse: {reverse}) never reported the damaged block"
        );
    }
}

#[test]
fn flipped_byte_in_index_block_is_a_checksum_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    for sst in files_with(dir.path(), |n| n.ends_with(".sst")) {
        let b = std::fs::read(&sst).unwrap();
        let footer = &b[b.len() - 64..];
        let (index_off, index_len) = (u64_at(footer, 0), u64_at(footer, 8));
        flip(&sst, index_off + index_len / 2);
    }
    let e = open(dir.path(), &opts);
    let err = e.get(&key(7)).unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
    assert!(
        e.iter(Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
            .any(|r| r.is_err())
    );
    assert!(
        e.iter_rev(Bound::Unbounded, Bound::Unbounded, None)
            .unwrap()
            .any(|r| r.is_err())
    );
}

#[test]
fn flipped_byte_in_footer_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let sst = files_with(dir.path(), |n| n.ends_with(".sst"))[0].clone();
    let len = std::fs::metadata(&sst).unwrap().len();
    flip(&sst, len - 30);
    let e = open(dir.path(), &opts);
    assert!(check_reads(&e, &sst) > 0);
}

#[test]
fn damaged_wal_record_in_the_middle_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.memtable_size_bytes = 64 << 20;
    opts.fsync = FsyncPolicy::Always;
    let e = open(dir.path(), &opts);
    for i in 0..200 {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.shutdown().unwrap();
    drop(e);
    let wal = files_with(dir.path(), |n| n.ends_with(".wal"))
        .pop()
        .unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    flip(&wal, len / 2);
    let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
    match &err {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, &wal);
            assert!(*offset > 0 && *offset <= len / 2, "offset {offset}");
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

#[test]
fn torn_wal_tail_is_truncated_and_earlier_writes_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::SizeTiered);
    opts.memtable_size_bytes = 64 << 20;
    opts.fsync = FsyncPolicy::Always;
    let e = open(dir.path(), &opts);
    for i in 0..100 {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.shutdown().unwrap();
    drop(e);
    let wal = files_with(dir.path(), |n| n.ends_with(".wal"))
        .pop()
        .unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 5).unwrap();
    f.set_len(len + 4096).unwrap(); // and a zero-filled tail after the torn record
    drop(f);
    let e = open(dir.path(), &opts);
    for i in 0..99 {
        assert_eq!(e.get(&key(i)).unwrap().unwrap().data.to_vec(), value_for(i));
    }
    assert!(e.get(&key(99)).unwrap().is_none());
}

#[test]
fn damaged_manifest_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let manifest = files_with(dir.path(), |n| n.starts_with("MANIFEST-"))
        .pop()
        .unwrap();
    flip(&manifest, 30);
    let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
    assert!(names(&err, &manifest), "{err:?}");
    assert!(err.is_corruption(), "{err:?}");
    // Nothing was deleted: repairing the byte brings every key back.
    flip(&manifest, 30);
    let e = open(dir.path(), &opts);
    assert_eq!(check_reads(&e, &manifest), 0);
}
