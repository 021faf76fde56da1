//! Opening a database: take the directory lock, take stock of the directory,
//! rebuild the version from the manifest, check that every file it needs is
//! there, replay unflushed WALs into memtables and flush them to level 0,
//! start a fresh WAL and a fresh manifest, clear away what no version needs,
//! then start the background threads.
//!
//! Opening never destroys a database (`docs/operations.md`, "The data
//! directory"). Every check runs before anything in the directory changes
//! (beyond creating it and its `LOCK` file):
//! a directory that holds data but no `CURRENT`, an unreadable `CURRENT` or
//! manifest, a missing SSTable, or a live WAL that is missing or shorter
//! than its header (unless `Options::wal_missing_ok`) stops `open` with an
//! error naming the file. Afterwards a file is deleted only when the
//! manifest proves it obsolete; other files the engine does not need are
//! moved into `orphaned/` (see `dir`).
//!
//! Crash safety: every step leaves the directory recoverable. The old WALs
//! are deleted only after the fresh manifest (whose log number is past them)
//! is durable and CURRENT names it.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::dir::{self, Inventory};
use super::flush::write_memtable;
use super::{BgSignal, Inner, Structure, WriteState, strategy_code};
use crate::cache::TableCache;
use crate::compaction::CompactionState;
use crate::error::{Error, Result};
use crate::format::LOCK_FILE;
use crate::manifest::{self, AddedFile, ManifestWriter, VersionEdit, snapshot_edit};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::snapshot::SnapshotList;
use crate::sstable::sst_path;
use crate::stats::Counters;
use crate::version::{SuperVersion, Version};
use crate::wal::committer::{Committer, LogBuffer};
use crate::wal::{self, WalFile, wal_path};

fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock on a descriptor we own for the duration of the call; no memory is shared.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(Error::Locked {
            path: dir.to_path_buf(),
        });
    }
    Ok(f)
}

/// What the checks found: the recovered manifest state and the WALs that
/// hold writes no SSTable has.
struct Found {
    inv: Inventory,
    rec: manifest::Recovered,
    fresh: bool,
    live: BTreeSet<u64>,
    /// WALs at or above the log number, oldest first.
    wals: Vec<u64>,
}

/// The state an open hands to the engine.
struct Ready {
    version: Version,
    wal_file: Arc<WalFile>,
    /// The active memtable: empty, or (read-only open) the replayed writes.
    mem: Memtable,
    manifest: ManifestWriter,
    log_number: u64,
    last_seq: u64,
    /// Set by a read-only open: writes are refused with it until the disk
    /// takes writes again.
    refuse_writes: Option<String>,
}

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<Inner>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock = lock_dir(dir)?;
    let found = take_stock(dir, &opts)?;
    let max_number = found
        .rec
        .next_file_number
        .max(found.rec.manifest_number)
        .max(found.inv.max_number());
    let next_file = AtomicU64::new(max_number + 1);
    let stats = Arc::new(Counters::default());
    crate::memtable::chunk_pool::allow(opts.memtable_size_bytes);
    let ready = match open_writable(dir, &opts, &found, &next_file, &stats) {
        Ok(r) => r,
        Err(e) if e.is_write_failure() && read_only_possible(dir, &found) => {
            tracing::error!(error = %e, "no room on disk to open normally: serving reads, refusing writes until the disk takes writes again");
            open_read_only(dir, &opts, &found, e.to_string())?
        }
        Err(e) => return Err(e),
    };
    assemble(dir, opts, lock, next_file, stats, ready)
}

/// The checks. Nothing in the directory changes until all of them pass.
fn take_stock(dir: &Path, opts: &Options) -> Result<Found> {
    let inv = Inventory::scan(dir)?;
    let recovered = manifest::recover(dir)?;
    let fresh = recovered.is_none();
    if fresh {
        dir::check_current_missing(dir, &inv)?;
    }
    let rec = recovered.unwrap_or_default();
    let live: BTreeSet<u64> = rec.version.files().map(|f| f.number).collect();
    for n in &live {
        let p = sst_path(dir, *n);
        if !p.exists() {
            return Err(Error::corruption(
                p,
                0,
                "SSTable named by the manifest is missing",
            ));
        }
    }
    if !fresh {
        dir::check_live_wal(dir, rec.log_number, opts.wal_missing_ok)?;
    }
    // WALs at or above the log number hold writes no SSTable has.
    let wals: Vec<u64> = inv
        .wals
        .iter()
        .map(|w| w.number)
        .filter(|n| *n >= rec.log_number)
        .collect();
    Ok(Found {
        inv,
        rec,
        fresh,
        live,
        wals,
    })
}

/// The normal open: replay the WALs into level-0 SSTables, start a fresh
/// WAL and a fresh manifest, clear away what no version needs. A failure
/// before the fresh manifest is live removes the files this attempt made.
fn open_writable(
    dir: &Path,
    opts: &Options,
    found: &Found,
    next_file: &AtomicU64,
    stats: &Arc<Counters>,
) -> Result<Ready> {
    let rec = &found.rec;
    let mut made: Vec<std::path::PathBuf> = Vec::new();
    let r = replay_and_start(dir, opts, found, next_file, stats, &mut made);
    if r.is_err() {
        for p in &made {
            let _ = std::fs::remove_file(p);
        }
    }
    let (version, wal_file, wal_no, last_seq) = r?;
    // Before the fresh manifest supersedes the old one, move aside what the
    // manifest does not know. A manifest CURRENT never named was written by
    // an open that stopped before its switch (its L0 files are among the
    // unknown SSTables, its data still in the WALs); an SSTable no edit
    // names is the output of a flush or compaction that never reached the
    // manifest, or a file put here by hand. Neither is needed, but neither
    // is provably garbage if CURRENT or the manifest was restored from
    // elsewhere, so they are kept.
    for m in &found.inv.manifests {
        if found.fresh || m.number > rec.manifest_number {
            dir::move_aside(dir, &m.path, "a manifest CURRENT does not name");
        }
    }
    let mut replaced = Vec::new();
    for t in &found.inv.ssts {
        if found.live.contains(&t.number) {
            continue;
        }
        if rec.deleted.contains(&t.number) {
            replaced.push(t);
        } else {
            dir::move_aside(dir, &t.path, "an SSTable the manifest does not name");
        }
    }
    let manifest_no = next_file.fetch_add(1, Ordering::SeqCst);
    let strategy = opts.compaction_strategy;
    if rec.strategy.is_some_and(|s| s != strategy) {
        tracing::info!(from = %rec.strategy.map_or("", |s| s.as_str()), to = %strategy, "compaction strategy changed by options at open");
    }
    let snap = snapshot_edit(
        &version,
        wal_no,
        next_file.load(Ordering::SeqCst),
        last_seq,
        strategy,
    );
    let manifest = match ManifestWriter::create(dir, manifest_no, &snap) {
        Ok(m) => m,
        Err(e) => {
            // If CURRENT still names the old manifest, the files made for
            // the new one are garbage; if the switch happened, they are live.
            if current_unchanged(dir, found) {
                for p in &made {
                    let _ = std::fs::remove_file(p);
                }
            }
            return Err(e);
        }
    };
    // Provably obsolete now: the replayed WALs (their data is in the L0
    // files the fresh manifest names), WALs below the old log number
    // (flushed before the crash), and SSTables a recorded compaction edit
    // replaced (left behind when the process stopped before deleting them).
    for &n in &found.wals {
        dir::delete_obsolete(&wal_path(dir, n), "a WAL replayed into SSTables");
    }
    for w in found.inv.wals.iter().filter(|w| w.number < rec.log_number) {
        dir::delete_obsolete(&w.path, "a WAL below the manifest's log number");
    }
    for t in replaced {
        dir::delete_obsolete(&t.path, "an SSTable a compaction replaced");
    }
    Ok(Ready {
        version,
        wal_file,
        mem: Memtable::new(wal_no),
        manifest,
        log_number: wal_no,
        last_seq,
        refuse_writes: None,
    })
}

/// Replays the WALs into level-0 SSTables (flushing whenever the memtable
/// fills) and creates the fresh WAL; every file made is listed in `made`.
/// Returns the version with the new L0 files, the WAL, its number and the
/// last sequence number.
fn replay_and_start(
    dir: &Path,
    opts: &Options,
    found: &Found,
    next_file: &AtomicU64,
    stats: &Arc<Counters>,
    made: &mut Vec<std::path::PathBuf>,
) -> Result<(Version, Arc<WalFile>, u64, u64)> {
    let rec = &found.rec;
    let mut last_seq = rec.last_seq;
    let mut mem = Memtable::new(0);
    let mut added = Vec::new();
    let now = (opts.clock)();
    let mut flush = |mem: &Memtable, added: &mut Vec<AddedFile>| -> Result<()> {
        let n = next_file.fetch_add(1, Ordering::SeqCst);
        made.push(sst_path(dir, n));
        let (meta, _) = write_memtable(dir, n, mem, opts, &[], now, stats)?;
        if let Some(m) = meta {
            Counters::add(&stats.bytes_written_flush, m.size);
            added.push(AddedFile {
                level: 0,
                run_id: n,
                meta: Arc::new(m),
            });
        }
        Ok(())
    };
    for &n in &found.wals {
        for (seq, k, v) in replayed_ops(dir, n)? {
            if seq > rec.last_seq {
                mem.insert(k, seq, v);
            }
            last_seq = last_seq.max(seq);
            if mem.approx_bytes() >= opts.memtable_size_bytes {
                flush(&mem, &mut added)?;
                mem = Memtable::new(0);
            }
        }
    }
    if !mem.is_empty() {
        flush(&mem, &mut added)?;
    }
    let edit = VersionEdit {
        added,
        ..VersionEdit::default()
    };
    let version = rec.version.apply(&edit);
    let wal_no = next_file.fetch_add(1, Ordering::SeqCst);
    made.push(wal_path(dir, wal_no));
    let wal_file = Arc::new(WalFile::create(dir, wal_no)?);
    wal_file.sync()?;
    Ok((version, wal_file, wal_no, last_seq))
}

/// Every operation of WAL `n` as (sequence, key, value), in order.
fn replayed_ops(
    dir: &Path,
    n: u64,
) -> Result<impl Iterator<Item = (u64, bytes::Bytes, crate::value::InternalValue)>> {
    let replayed = wal::replay(&wal_path(dir, n))?;
    Ok(replayed
        .batches
        .into_iter()
        .flat_map(|b| (b.start_seq..).zip(b.ops).map(|(seq, (k, v))| (seq, k, v))))
}

/// Whether a read-only open can serve this directory: it appends to the
/// newest existing WAL and manifest, so both must exist, and `CURRENT`
/// must still name the manifest the checks read.
fn read_only_possible(dir: &Path, found: &Found) -> bool {
    !found.fresh && !found.wals.is_empty() && current_unchanged(dir, found)
}

/// Whether `CURRENT` still names the manifest the checks read (none, for
/// a new database).
fn current_unchanged(dir: &Path, found: &Found) -> bool {
    match manifest::recover(dir) {
        Ok(None) => found.fresh,
        Ok(Some(r)) => !found.fresh && r.manifest_number == found.rec.manifest_number,
        Err(_) => false,
    }
}

/// The open for a full disk: nothing is written. The replayed writes stay
/// in the active memtable (their WALs stay live), appends go to the newest
/// existing WAL, edits to the existing manifest, and writes are refused
/// until a probe write to the WAL succeeds (see `wal::committer`).
fn open_read_only(dir: &Path, opts: &Options, found: &Found, cause: String) -> Result<Ready> {
    let rec = &found.rec;
    let oldest = found.wals.first().copied().unwrap_or(rec.log_number);
    let newest = found.wals.last().copied().unwrap_or(rec.log_number);
    let mem = Memtable::new(oldest);
    let mut last_seq = rec.last_seq;
    for &n in &found.wals {
        for (seq, k, v) in replayed_ops(dir, n)? {
            if seq > rec.last_seq {
                mem.insert(k, seq, v);
            }
            last_seq = last_seq.max(seq);
        }
    }
    if rec.strategy.is_some_and(|s| s != opts.compaction_strategy) {
        tracing::info!(to = %opts.compaction_strategy, "compaction strategy changed by options at open");
    }
    Ok(Ready {
        version: rec.version.clone(),
        wal_file: Arc::new(WalFile::open_existing(dir, newest)?),
        mem,
        manifest: ManifestWriter::open_existing(dir, rec.manifest_number, rec.valid_len)?,
        log_number: rec.log_number,
        last_seq,
        refuse_writes: Some(format!("no room on disk at start-up: {cause}")),
    })
}

/// Builds the engine around `ready` and starts its threads.
fn assemble(
    dir: &Path,
    opts: Options,
    lock: std::fs::File,
    next_file: AtomicU64,
    stats: Arc<Counters>,
    ready: Ready,
) -> Result<Arc<Inner>> {
    let strategy = opts.compaction_strategy;
    let last_seq = ready.last_seq;
    let version = Arc::new(ready.version);
    let mem = Arc::new(ready.mem);
    let tables = TableCache::new(
        dir.to_path_buf(),
        opts.block_cache_bytes,
        opts.max_open_files,
        opts.block_size_bytes,
        stats.clone(),
    );
    let committer = Committer::new(opts.fsync, last_seq);
    if let Some(cause) = ready.refuse_writes {
        committer.refuse_until_writable(cause);
    }
    let inner = Arc::new(Inner {
        dir: dir.to_path_buf(),
        committer,
        write: Mutex::new(WriteState {
            log: LogBuffer::new(ready.wal_file, last_seq),
            mem: mem.clone(),
            next_seq: last_seq + 1,
        }),
        visible_seq: AtomicU64::new(last_seq),
        flushed_seq: AtomicU64::new(last_seq),
        sv: arc_swap::ArcSwap::new(Arc::new(SuperVersion {
            mem,
            imms: Vec::new(),
            version: version.clone(),
        })),
        structure: Mutex::new(Structure {
            version,
            manifest: ready.manifest,
            log_number: ready.log_number,
            last_seq,
            obsolete: Vec::new(),
            compaction: CompactionState::default(),
        }),
        next_file,
        snapshots: Arc::new(SnapshotList::default()),
        stats,
        manual_lock: Mutex::new(()),
        closed: AtomicBool::new(false),
        bg: BgSignal::default(),
        threads: Mutex::new(Vec::new()),
        strategy: AtomicU8::new(strategy_code(strategy)),
        rate_limit: AtomicU64::new(opts.compaction_rate_limit_bytes_per_sec),
        tables,
        bg_error: Mutex::new(None),
        stall_runs: AtomicUsize::new(0),
        pending_compaction_bytes: AtomicU64::new(0),
        opts,
        _lock: lock,
    });
    {
        let st = inner.structure.lock();
        inner.refresh_pressure(&st);
    }
    start_threads(&inner)?;
    Ok(inner)
}

fn start_threads(inner: &Arc<Inner>) -> Result<()> {
    let mut threads = inner.threads.lock();
    let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name)
            .spawn(f)
            .map_err(|e| Error::io("thread", e))
    };
    let i = inner.clone();
    threads.push(spawn(
        "ringkv-wal".into(),
        Box::new(move || i.committer.run(&*i)),
    )?);
    let i = inner.clone();
    threads.push(spawn(
        "ringkv-flush".into(),
        Box::new(move || i.flush_loop()),
    )?);
    for n in 0..inner.opts.compaction_threads {
        let i = inner.clone();
        threads.push(spawn(
            format!("ringkv-compact-{n}"),
            Box::new(move || i.compaction_loop()),
        )?);
    }
    Ok(())
}
