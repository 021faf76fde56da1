//! Opening a data directory never destroys it (issue 15): a directory that
//! holds a database but lost `CURRENT`, whose `CURRENT` or manifest cannot
//! be read, or whose live WAL is missing or shorter than its header, is
//! refused with an error naming the file, and every file stays exactly as
//! it was (names and sizes); the live-WAL loss can be accepted with
//! `Options::wal_missing_ok`. Files the manifest does not know are moved
//! into `orphaned/`, not deleted. A fresh directory, and one left by a first
//! open that was interrupted, still open.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{key, open, small_options};
use ringkv_engine::{CompactionStrategy, Engine, Error, FsyncPolicy, Options, Value};

/// Keys `0..FLUSHED` end up in an SSTable, `FLUSHED..FLUSHED + IN_WAL` only in the live WAL.
const FLUSHED: u64 = 1000;
const IN_WAL: u64 = 200;

fn value_for(i: u64) -> Vec<u8> {
    format!("value-{i}-{}", "q".repeat((i % 30) as usize)).into_bytes()
}

/// Options whose memtable never fills in these tests: only `flush` makes SSTables.
fn opts() -> Options {
    let mut o = small_options(CompactionStrategy::Leveled);
    o.memtable_size_bytes = 64 << 20;
    o.fsync = FsyncPolicy::Always;
    o
}

/// Writes `FLUSHED` keys, flushes them to an SSTable, then writes `IN_WAL`
/// more that stay in the live WAL, and closes the engine.
fn build(dir: &Path) -> Options {
    let o = opts();
    let e = open(dir, &o);
    for i in 0..FLUSHED {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.flush().unwrap();
    for i in FLUSHED..FLUSHED + IN_WAL {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.shutdown().unwrap();
    drop(e);
    o
}

/// Every file under `dir` (recursively) with its size.
fn listing(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, meta.len());
            }
        }
    }
    out
}

/// The one file in `dir` whose name ends with `suffix`.
fn only(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one *{suffix} in {found:?}");
    found.into_iter().next().unwrap()
}

/// Keys in `present` hold their values; keys in `absent` are not there.
fn assert_keys(e: &Engine, present: std::ops::Range<u64>, absent: std::ops::Range<u64>) {
    for i in present {
        let got = e.get(&key(i)).unwrap().map(|v| v.data.to_vec());
        assert_eq!(got, Some(value_for(i)), "key {i} lost");
    }
    for i in absent {
        assert!(
            e.get(&key(i)).unwrap().is_none(),
            "key {i} unexpectedly present"
        );
    }
}

const ALL: std::ops::Range<u64> = 0..FLUSHED + IN_WAL;

#[test]
fn missing_current_in_a_database_is_fatal_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let current = dir.path().join("CURRENT");
    let manifest_name = std::fs::read_to_string(&current).unwrap();
    std::fs::remove_file(&current).unwrap();
    let before = listing(dir.path());

    let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
    match &err {
        Error::MissingCurrent { file, found } => {
            assert_eq!(file, &current);
            assert!(found.starts_with(dir.path()), "{found:?}");
            assert!(found.exists(), "{found:?}");
        }
        other => panic!("expected MissingCurrent, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&current.display().to_string()), "{text}");
    assert!(text.contains("MANIFEST-"), "{text}");
    assert_eq!(listing(dir.path()), before, "open changed the directory");

    // The recovery the message describes brings every key back.
    std::fs::write(&current, manifest_name).unwrap();
    let e = open(dir.path(), &opts);
    assert_keys(&e, ALL, 0..0);
}

#[test]
fn missing_current_with_data_only_in_the_wal_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts();
    {
        let e = open(dir.path(), &o);
        for i in 0..IN_WAL {
            e.put(key(i), Value::new(value_for(i))).unwrap();
        }
        e.shutdown().unwrap();
    }
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let before = listing(dir.path());
    let err = Engine::open(dir.path(), o).unwrap_err();
    match &err {
        Error::MissingCurrent { found, .. } => {
            assert!(found.to_string_lossy().ends_with(".wal"), "{found:?}")
        }
        other => panic!("expected MissingCurrent, got {other:?}"),
    }
    assert_eq!(listing(dir.path()), before);
}

/// Applies `damage` to a built database, expects `UnreadableManifest`
/// naming `expected(dir)` with nothing changed, then `repair`s it and
/// expects every key back.
fn unreadable_case(
    damage: &dyn Fn(&Path),
    expected: &dyn Fn(&Path) -> PathBuf,
    repair: &dyn Fn(&Path),
) {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    damage(dir.path());
    let before = listing(dir.path());
    let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
    let want = expected(dir.path());
    match &err {
        Error::UnreadableManifest { file, .. } => assert_eq!(file, &want),
        other => panic!("expected UnreadableManifest for {want:?}, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&want.display().to_string()),
        "{err}"
    );
    assert_eq!(listing(dir.path()), before, "open changed the directory");
    repair(dir.path());
    let e = open(dir.path(), &opts);
    assert_keys(&e, ALL, 0..0);
}

/// The one `MANIFEST-*` file in `dir`.
fn manifest(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one manifest in {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn unreadable_current_or_manifest_is_fatal_and_changes_nothing() {
    let saved = std::sync::Mutex::new(Vec::new());
    let save = |p: &Path| *saved.lock().unwrap() = std::fs::read(p).unwrap();
    let restore = |p: &Path| std::fs::write(p, &*saved.lock().unwrap()).unwrap();
    let current = |d: &Path| d.join("CURRENT");

    // CURRENT names a manifest that is not there.
    unreadable_case(
        &|d| {
            save(&current(d));
            std::fs::write(current(d), "MANIFEST-999999\n").unwrap();
        },
        &|d| d.join("MANIFEST-999999"),
        &|d| restore(&current(d)),
    );
    // CURRENT holds garbage.
    unreadable_case(
        &|d| {
            save(&current(d));
            std::fs::write(current(d), "not a manifest name\n").unwrap();
        },
        &current,
        &|d| restore(&current(d)),
    );
    // The manifest is cut inside its header.
    unreadable_case(
        &|d| {
            let m = manifest(d);
            save(&m);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&m)
                .unwrap()
                .set_len(10)
                .unwrap();
        },
        &manifest,
        &|d| restore(&manifest(d)),
    );
    // A byte of the manifest's snapshot record is flipped.
    unreadable_case(
        &|d| {
            let m = manifest(d);
            save(&m);
            let mut b = std::fs::read(&m).unwrap();
            b[30] ^= 0x5a;
            std::fs::write(&m, b).unwrap();
        },
        &manifest,
        &|d| restore(&manifest(d)),
    );
}

#[test]
fn missing_live_wal_is_fatal_unless_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = build(dir.path());
    let wal = only(dir.path(), ".wal");
    std::fs::remove_file(&wal).unwrap();
    let before = listing(dir.path());

    let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
    match &err {
        Error::MissingWal { file, found_len } => {
            assert_eq!(file, &wal);
            assert_eq!(*found_len, None);
        }
        other => panic!("expected MissingWal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&wal.display().to_string()), "{text}");
    assert!(text.contains("wal-missing-ok"), "{text}");
    assert_eq!(listing(dir.path()), before, "open changed the directory");

    // Accepting the loss opens with what the SSTable holds.
    opts.wal_missing_ok = true;
    {
        let e = open(dir.path(), &opts);
        assert_keys(&e, 0..FLUSHED, FLUSHED..FLUSHED + IN_WAL);
        e.put(key(5000), Value::new("after")).unwrap();
    }
    // The database is whole again: the next open needs no option.
    opts.wal_missing_ok = false;
    let e = open(dir.path(), &opts);
    assert_keys(&e, 0..FLUSHED, FLUSHED..FLUSHED + IN_WAL);
    assert!(e.get(&key(5000)).unwrap().is_some());
}

#[test]
fn wal_cut_below_its_header_is_fatal_unless_the_loss_is_accepted() {
    for len in [0u64, 9, 15] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = build(dir.path());
        let wal = only(dir.path(), ".wal");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(len)
            .unwrap();
        let before = listing(dir.path());
        let err = Engine::open(dir.path(), opts.clone()).unwrap_err();
        match &err {
            Error::MissingWal { file, found_len } => {
                assert_eq!(file, &wal);
                assert_eq!(*found_len, Some(len));
            }
            other => panic!("cut to {len}: expected MissingWal, got {other:?}"),
        }
        assert!(err.to_string().contains("header"), "{err}");
        assert_eq!(
            listing(dir.path()),
            before,
            "cut to {len}: directory changed"
        );
        opts.wal_missing_ok = true;
        let e = open(dir.path(), &opts);
        assert_keys(&e, 0..FLUSHED, FLUSHED..FLUSHED + IN_WAL);
    }
}

#[test]
fn wal_cut_back_to_its_header_or_mid_record_still_opens() {
    // Exactly the header: a WAL whose records were all lost to a power cut.
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let wal = only(dir.path(), ".wal");
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(16).unwrap();
    drop(f);
    let e = open(dir.path(), &opts);
    assert_keys(&e, 0..FLUSHED, FLUSHED..FLUSHED + IN_WAL);
    drop(e);

    // Mid-record: a torn tail, recovered up to the last whole record.
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let wal = only(dir.path(), ".wal");
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let e = open(dir.path(), &opts);
    assert_keys(
        &e,
        0..FLUSHED + IN_WAL - 1,
        FLUSHED + IN_WAL - 1..FLUSHED + IN_WAL,
    );
}

#[test]
fn unknown_sstable_is_moved_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let opts = build(dir.path());
    let stray = dir.path().join("000999.sst");
    let stray_bytes = b"an SSTable this manifest never named".to_vec();
    std::fs::write(&stray, &stray_bytes).unwrap();
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "the operator's own file").unwrap();

    let e = open(dir.path(), &opts);
    assert_keys(&e, ALL, 0..0);
    assert!(
        !stray.exists(),
        "the stray SSTable is still in the directory"
    );
    let moved = dir.path().join("orphaned").join("000999.sst");
    assert_eq!(std::fs::read(&moved).unwrap(), stray_bytes);
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "the operator's own file",
        "a file the engine does not name was touched"
    );
    drop(e);

    // A second stray of the same name does not overwrite the first.
    std::fs::write(&stray, b"another one").unwrap();
    let e = open(dir.path(), &opts);
    assert_keys(&e, ALL, 0..0);
    assert_eq!(std::fs::read(&moved).unwrap(), stray_bytes);
    let orphaned = listing(&dir.path().join("orphaned"));
    assert_eq!(orphaned.len(), 2, "{orphaned:?}");
}

#[test]
fn sstable_a_compaction_replaced_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts();
    let e = open(dir.path(), &o);
    for i in 0..FLUSHED {
        e.put(key(i), Value::new(value_for(i))).unwrap();
    }
    e.flush().unwrap();
    let input = only(dir.path(), ".sst");
    let bytes = std::fs::read(&input).unwrap();
    e.compact_all().unwrap();
    e.shutdown().unwrap();
    drop(e);
    // A crash between the compaction's manifest edit and the deletion of
    // its input leaves the input behind; the manifest recorded its removal.
    assert!(!input.exists());
    std::fs::write(&input, bytes).unwrap();
    let e = open(dir.path(), &o);
    assert_keys(&e, 0..FLUSHED, 0..0);
    assert!(!input.exists(), "the replaced SSTable was kept");
    assert!(!dir.path().join("orphaned").exists());
}

#[test]
fn fresh_empty_directory_opens() {
    let parent = tempfile::tempdir().unwrap();
    // A directory that does not exist yet, and one that exists but is empty.
    for dir in [parent.path().join("new"), parent.path().to_path_buf()] {
        let o = opts();
        {
            let e = open(&dir, &o);
            e.put(key(1), Value::new(value_for(1))).unwrap();
        }
        let e = open(&dir, &o);
        assert_keys(&e, 1..2, 0..1);
        drop(e);
        std::fs::remove_dir_all(parent.path().join("new")).ok();
    }
}

#[test]
fn directory_left_by_an_interrupted_first_open_still_opens() {
    // A first open killed before CURRENT was written leaves an empty WAL and
    // possibly a manifest: no data, so not a database that lost its CURRENT.
    let dir = tempfile::tempdir().unwrap();
    let o = opts();
    drop(open(dir.path(), &o));
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let stale = manifest(dir.path());
    let e = open(dir.path(), &o);
    e.put(key(1), Value::new(value_for(1))).unwrap();
    let moved = dir.path().join("orphaned").join(stale.file_name().unwrap());
    assert!(moved.exists(), "the stale manifest was not moved aside");
}
