//! Opening a database: take the directory lock, rebuild the version from the
//! manifest, delete files no version needs, replay unflushed WALs into
//! memtables and flush them to level 0, start a fresh WAL and a fresh
//! manifest, then start the background threads.
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

use parking_lot::{Mutex, RwLock};

use super::flush::write_memtable;
use super::{BgSignal, Inner, Structure, WriteState, strategy_code};
use crate::cache::TableCache;
use crate::compaction::CompactionState;
use crate::error::{Error, Result};
use crate::format::{LOCK_FILE, SST_SUFFIX, WAL_SUFFIX};
use crate::manifest::{self, AddedFile, ManifestWriter, VersionEdit, snapshot_edit};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::snapshot::SnapshotList;
use crate::sstable::sst_path;
use crate::stats::Counters;
use crate::version::SuperVersion;
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

fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (num, ext) = name.split_once('.')?;
    if num.len() < 6 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((num.parse().ok()?, ext))
}

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<Inner>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock = lock_dir(dir)?;
    let rec = manifest::recover(dir)?.unwrap_or_default();
    let mut version = rec.version;
    let live: BTreeSet<u64> = version.files().map(|f| f.number).collect();

    // Every file the manifest names must exist before anything is deleted.
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
    // Inventory the directory.
    let mut wals = Vec::new();
    let mut max_number = rec.next_file_number.max(rec.manifest_number);
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name();
        let Some((n, ext)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        max_number = max_number.max(n);
        if ext == WAL_SUFFIX {
            if n >= rec.log_number {
                wals.push(n);
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        } else if ext == SST_SUFFIX && !live.contains(&n) {
            // Written by a flush or compaction that never reached the manifest.
            let _ = std::fs::remove_file(e.path());
        }
    }
    wals.sort_unstable();
    let next_file = AtomicU64::new(max_number + 1);
    let stats = Arc::new(Counters::default());

    // Replay WALs, flushing to level 0 whenever the memtable fills.
    let mut last_seq = rec.last_seq;
    let mut mem = Memtable::new(0);
    let mut added = Vec::new();
    let now = (opts.clock)();
    let flush = |mem: &Memtable, added: &mut Vec<AddedFile>| -> Result<()> {
        let n = next_file.fetch_add(1, Ordering::SeqCst);
        let (meta, _) = write_memtable(
            dir,
            n,
            mem,
            opts.block_size_bytes,
            opts.bloom_bits_per_key,
            &[],
            now,
            &stats,
        )?;
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
    for &n in &wals {
        let replayed = wal::replay(&wal_path(dir, n))?;
        for b in replayed.batches {
            for (seq, (k, v)) in (b.start_seq..).zip(b.ops) {
                if seq > rec.last_seq {
                    mem.insert(k, seq, v);
                }
                last_seq = last_seq.max(seq);
            }
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
    version = version.apply(&edit);

    // Fresh WAL and manifest; then the replayed WALs are garbage.
    let wal_no = next_file.fetch_add(1, Ordering::SeqCst);
    let wal_file = Arc::new(WalFile::create(dir, wal_no)?);
    wal_file.sync()?;
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
    let manifest = ManifestWriter::create(dir, manifest_no, &snap)?;
    for n in wals {
        let _ = std::fs::remove_file(wal_path(dir, n));
    }

    let version = Arc::new(version);
    let mem = Arc::new(Memtable::new(wal_no));
    let tables = TableCache::new(
        dir.to_path_buf(),
        opts.block_cache_bytes,
        opts.max_open_files,
        opts.block_size_bytes,
        stats.clone(),
    );
    let inner = Arc::new(Inner {
        dir: dir.to_path_buf(),
        committer: Committer::new(opts.fsync, last_seq),
        write: Mutex::new(WriteState {
            log: LogBuffer::new(wal_file, last_seq),
            mem: mem.clone(),
            next_seq: last_seq + 1,
        }),
        visible_seq: AtomicU64::new(last_seq),
        sv: RwLock::new(Arc::new(SuperVersion {
            mem,
            imms: Vec::new(),
            version: version.clone(),
        })),
        structure: Mutex::new(Structure {
            version,
            manifest,
            log_number: wal_no,
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
