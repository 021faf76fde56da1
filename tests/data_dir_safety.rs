//! Issue 15, findings 2 and 7, with real processes: a server killed with
//! `kill -9` whose data directory then lost `CURRENT`, or its live
//! write-ahead log, must refuse to start, say which file is missing, and
//! leave every file as it was; it used to start empty (deleting every
//! SSTable) or silently drop the writes since the last SAVE. With
//! `--wal-missing-ok yes` the operator accepts the WAL's loss and it starts
//! with what SAVE flushed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use redis::Value::Nil;

/// Keys `k0..k9999` are written and SAVEd (flushed to SSTables); keys
/// `k10000..k11999` are written after and live only in the WAL.
const SAVED: usize = 10_000;
const AFTER_SAVE: usize = 2_000;

fn set_range(c: &mut redis::Connection, keys: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    for i in keys {
        pipe.cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("v{i}"))
            .ignore();
    }
    pipe.query::<()>(c).expect("pipelined SETs");
}

/// A server holding both kinds of keys, then killed with SIGKILL.
fn killed_server_with_data() -> TestServer {
    let mut s = TestServer::start();
    {
        let c = &mut s.conn();
        set_range(c, 0..SAVED);
        ok(c, &["SAVE"]);
        set_range(c, SAVED..SAVED + AFTER_SAVE);
    }
    s.kill();
    s
}

/// Every file under `dir` (recursively) with its size.
fn listing(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read data dir") {
            let e = e.expect("dir entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).expect("under dir").to_path_buf();
                out.insert(rel, meta.len());
            }
        }
    }
    out
}

fn assert_present(c: &mut redis::Connection, keys: impl IntoIterator<Item = usize>) {
    for i in keys {
        assert_eq!(
            ok(c, &["GET", &format!("k{i}")]),
            bulk(&format!("v{i}")),
            "k{i} lost"
        );
    }
}

#[test]
fn missing_current_stops_the_server_and_changes_nothing() {
    let mut s = killed_server_with_data();
    let dir = s.data_dir();
    let current = dir.join("CURRENT");
    let manifest_name = std::fs::read_to_string(&current).expect("read CURRENT");
    std::fs::remove_file(&current).expect("remove CURRENT");
    let before = listing(&dir);
    assert!(
        before.keys().any(|p| p.to_string_lossy().ends_with(".sst")),
        "SAVE left no SSTable: {before:?}"
    );

    let refused = s.start_expecting_exit(Duration::from_secs(30));
    assert!(!refused.status.success(), "{:?}", refused.status);
    assert!(
        refused.stderr.contains(&current.display().to_string()),
        "the error does not name CURRENT:\n{}",
        refused.stderr
    );
    assert_eq!(
        listing(&dir),
        before,
        "the refused start changed the data directory"
    );

    // Restoring CURRENT as the message says brings every key back.
    std::fs::write(&current, manifest_name).expect("restore CURRENT");
    s.restart();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["DBSIZE"]), int((SAVED + AFTER_SAVE) as i64));
    assert_present(c, [0, SAVED - 1, SAVED, SAVED + AFTER_SAVE - 1]);
}

#[test]
fn missing_live_wal_stops_the_server_unless_the_loss_is_accepted() {
    let mut s = killed_server_with_data();
    let dir = s.data_dir();
    // The newest WAL is the live one: the manifest's log number names it
    // since SAVE, and it holds every write after SAVE.
    let wal = std::fs::read_dir(&dir)
        .expect("read data dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max()
        .expect("a WAL file");
    std::fs::remove_file(&wal).expect("remove the WAL");
    let before = listing(&dir);

    let refused = s.start_expecting_exit(Duration::from_secs(30));
    assert!(!refused.status.success(), "{:?}", refused.status);
    assert!(
        refused.stderr.contains(&wal.display().to_string()),
        "the error does not name the WAL:\n{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("wal-missing-ok"),
        "the error does not say how to accept the loss:\n{}",
        refused.stderr
    );
    assert_eq!(
        listing(&dir),
        before,
        "the refused start changed the data directory"
    );

    // The operator accepts the loss: the server starts with what SAVE flushed.
    s.add_args(&["--wal-missing-ok", "yes"]);
    s.restart();
    let c = &mut s.conn();
    assert_present(c, [0, SAVED / 2, SAVED - 1]);
    for i in [SAVED, SAVED + AFTER_SAVE - 1] {
        assert_eq!(
            ok(c, &["GET", &format!("k{i}")]),
            Nil,
            "k{i} written after SAVE"
        );
    }
}
