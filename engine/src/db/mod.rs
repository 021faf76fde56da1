//! The `Engine`: the public handle and the shared state behind it.
//!
//! Locks, in the only order they may be taken:
//! 1. `write` — the write lock: sequence assignment, WAL buffer append and
//!    memtable insert happen under it, so WAL order = sequence order = memtable
//!    order, and a batch becomes visible atomically when `visible_seq` moves.
//! 2. `structure` — the structure lock: flush install, compaction install,
//!    manifest appends, strategy switches. Functions that need it take the
//!    guard (`&mut Structure`) as a parameter.
//! 3. `sv` — the super-version: an `ArcSwap`, read without a lock or a
//!    reference count (`sv_now`), replaced under `write` or `structure`.
//!
//! The committer's I/O lock is taken without holding any of these (it takes
//! `write` briefly itself, see `wal::committer`). Readers take no lock.

mod dir;
mod open;
mod read;
mod write;

pub(crate) mod flush;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use crate::batch::WriteBatch;
use crate::cache::TableCache;
use crate::compaction::CompactionState;
use crate::compaction::stall::WritePressure;
use crate::error::{Error, Result};
use crate::iter::EngineIter;
use crate::manifest::ManifestWriter;
use crate::memtable::Memtable;
use crate::options::{CompactionStrategy, FsyncPolicy, Options};
use crate::snapshot::{Snapshot, SnapshotList};
use crate::stats::{Counters, Stats};
use crate::value::Value;
use crate::version::{FileMeta, SuperVersion, Version};
use crate::wal::WalFile;
use crate::wal::committer::{Chunk, Committer, Durable, DurableSource, LogBuffer, LogSource};

/// A sequence number: every write gets consecutive ones, starting at 1.
pub type SeqNo = u64;

/// State guarded by the write lock.
pub(crate) struct WriteState {
    pub(crate) log: LogBuffer,
    pub(crate) mem: Arc<Memtable>,
    /// Sequence number the next operation gets.
    pub(crate) next_seq: u64,
}

/// A failed flush or compaction (see `Inner::set_bg_error`).
#[derive(Debug, Clone)]
pub(crate) struct BgError {
    pub(crate) text: String,
    /// Not a failure to write: structural work stays stopped.
    pub(crate) lasting: bool,
    /// The work that failed; its next success (or having nothing left to
    /// do) clears a passing error.
    pub(crate) origin: BgWork,
}

/// Background work whose failure is recorded in `Inner::bg_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BgWork {
    Flush,
    Compaction,
    /// A manifest edit (of either): cleared by any later success.
    Manifest,
}

/// How long a failed background write waits before it is tried again.
pub(crate) const BG_RETRY: Duration = Duration::from_secs(1);

/// State guarded by the structure lock.
pub(crate) struct Structure {
    pub(crate) version: Arc<Version>,
    pub(crate) manifest: ManifestWriter,
    /// WALs numbered below this are flushed.
    pub(crate) log_number: u64,
    /// Highest sequence recorded in the manifest.
    pub(crate) last_seq: u64,
    /// Files removed from the version, deleted once no reader holds them.
    pub(crate) obsolete: Vec<Arc<FileMeta>>,
    /// Compaction bookkeeping (busy files, pointers, manual requests).
    pub(crate) compaction: CompactionState,
}

/// Wake-ups for background threads and for writers waiting on them.
#[derive(Default)]
pub(crate) struct BgSignal {
    pub(crate) m: Mutex<BgState>,
    /// Flush thread: an immutable memtable is waiting.
    pub(crate) flush_cv: Condvar,
    /// Compaction threads: the tree changed.
    pub(crate) compact_cv: Condvar,
    /// Writers and `flush`/`compact_all` callers: a flush or compaction finished.
    pub(crate) done_cv: Condvar,
}

/// Guarded by `BgSignal::m`.
#[derive(Default)]
pub(crate) struct BgState {
    pub(crate) flush_requested: bool,
    pub(crate) compaction_requested: bool,
    pub(crate) shutdown: bool,
    /// Bumped after every flush or compaction install.
    pub(crate) generation: u64,
}

/// Shared engine state; background threads hold an `Arc` of it.
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    pub(crate) write: Mutex<WriteState>,
    pub(crate) committer: Committer,
    /// Highest sequence whose batch is fully in the memtable (Release on store).
    pub(crate) visible_seq: AtomicU64,
    /// The highest sequence a flush has taken out of the memtables (at
    /// open: every sequence recovered). Stored before the super-version
    /// without the flushed memtable is published, so a reader that loads
    /// the super-version first and this second never misses a version
    /// that left the memtables ([`Engine::written_since`]).
    pub(crate) flushed_seq: AtomicU64,
    /// The memtables and SSTable version readers start from. Loaded on
    /// every point read and write: an `RwLock<Arc<_>>` there took the
    /// lock's and the `Arc`'s counts shared on every operation, moving
    /// their cache lines between cores each time.
    pub(crate) sv: ArcSwap<SuperVersion>,
    pub(crate) structure: Mutex<Structure>,
    pub(crate) next_file: AtomicU64,
    pub(crate) snapshots: Arc<SnapshotList>,
    pub(crate) stats: Arc<Counters>,
    /// Serialises `compact_all` calls.
    pub(crate) manual_lock: Mutex<()>,
    pub(crate) closed: AtomicBool,
    pub(crate) bg: BgSignal,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) strategy: AtomicU8,
    pub(crate) rate_limit: AtomicU64,
    pub(crate) tables: TableCache,
    pub(crate) bg_error: Mutex<Option<BgError>>,
    /// Stall measure and debt, recomputed at every version install.
    pub(crate) stall_runs: AtomicUsize,
    pub(crate) pending_compaction_bytes: AtomicU64,
    /// Holds the directory's flock for the engine's lifetime.
    pub(crate) _lock: std::fs::File,
}

pub(crate) fn strategy_from(code: u8) -> CompactionStrategy {
    if code == 1 {
        CompactionStrategy::SizeTiered
    } else {
        CompactionStrategy::Leveled
    }
}

pub(crate) fn strategy_code(s: CompactionStrategy) -> u8 {
    match s {
        CompactionStrategy::Leveled => 0,
        CompactionStrategy::SizeTiered => 1,
    }
}

impl Inner {
    /// The reader's snapshot of memtables and version.
    pub(crate) fn current_sv(&self) -> Arc<SuperVersion> {
        self.sv.load_full()
    }

    /// The current super-version for one point read or one write's checks,
    /// with no reference count taken. Whatever keeps it longer (an
    /// iterator, a flush) takes [`Inner::current_sv`].
    pub(crate) fn sv_now(&self) -> arc_swap::Guard<Arc<SuperVersion>> {
        self.sv.load()
    }

    /// Unix ms from the configured clock.
    pub(crate) fn now_ms(&self) -> u64 {
        (self.opts.clock)()
    }

    /// The strategy in force.
    pub(crate) fn strategy(&self) -> CompactionStrategy {
        strategy_from(self.strategy.load(Ordering::Relaxed))
    }

    /// Records a failed flush or compaction. A failure to write (a full
    /// disk, an I/O error) is retried (see `backoff`) and cleared by the
    /// next success; any other error (corruption) stops structural work for
    /// good. A lasting error is never replaced by a passing one.
    pub(crate) fn set_bg_error(&self, e: &Error, origin: BgWork) {
        let lasting = !e.is_write_failure();
        let mut g = self.bg_error.lock();
        match &*g {
            Some(held) if held.lasting => {}
            Some(_) if !lasting => {
                // Still failing: logged once, when it started.
                tracing::debug!(error = %e, "background write failed again");
                *g = Some(BgError {
                    text: e.to_string(),
                    lasting,
                    origin,
                });
            }
            _ => {
                if lasting {
                    tracing::error!(error = %e, "background work failed; flush and compaction stopped");
                } else {
                    tracing::error!(error = %e, "background write failed; retrying");
                }
                *g = Some(BgError {
                    text: e.to_string(),
                    lasting,
                    origin,
                });
            }
        }
        drop(g);
        self.bg.done_cv.notify_all();
    }

    /// Clears a passing background error of `work` (or of a manifest
    /// edit) after `work` succeeded or found nothing left to do.
    pub(crate) fn clear_passing_bg_error(&self, work: BgWork) {
        let mut g = self.bg_error.lock();
        if g.as_ref()
            .is_some_and(|b| !b.lasting && (b.origin == work || b.origin == BgWork::Manifest))
        {
            tracing::warn!("background writes succeed again");
            *g = None;
        }
    }

    /// The background error, lasting or passing, if any: writers that wait
    /// on flushes give up with it.
    pub(crate) fn bg_error(&self) -> Option<Error> {
        self.bg_error
            .lock()
            .as_ref()
            .map(|b| Error::Background(b.text.clone()))
    }

    /// The lasting background error that stopped structural work, if any.
    pub(crate) fn bg_stopped(&self) -> Option<Error> {
        self.bg_error
            .lock()
            .as_ref()
            .filter(|b| b.lasting)
            .map(|b| Error::Background(b.text.clone()))
    }

    /// Waits `d` (or until shutdown) before a failed background write is
    /// tried again, so a full disk is not hammered.
    pub(crate) fn backoff(&self, d: Duration) {
        let deadline = std::time::Instant::now() + d;
        let mut g = self.bg.m.lock();
        while !g.shutdown {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.bg.done_cv.wait_for(&mut g, left);
        }
    }

    /// Refuses writes when closed or poisoned.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(e) = self.committer.poison_error() {
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn signal_flush(&self) {
        let mut g = self.bg.m.lock();
        g.flush_requested = true;
        self.bg.flush_cv.notify_one();
    }

    pub(crate) fn signal_compaction(&self) {
        let mut g = self.bg.m.lock();
        g.compaction_requested = true;
        self.bg.compact_cv.notify_all();
    }

    /// Announces a finished flush or compaction to waiters.
    pub(crate) fn signal_done(&self) {
        let mut g = self.bg.m.lock();
        g.generation += 1;
        self.bg.done_cv.notify_all();
    }

    /// Waits up to `timeout` for the next `signal_done`.
    pub(crate) fn wait_done(&self, timeout: Duration) {
        let mut g = self.bg.m.lock();
        let generation = g.generation;
        if g.shutdown {
            return;
        }
        let _ = self.bg.done_cv.wait_while_for(
            &mut g,
            |s| s.generation == generation && !s.shutdown,
            timeout,
        );
    }
}

impl LogSource for Inner {
    fn take_pending(&self, out: &mut Vec<Chunk>, spare: &mut Vec<u8>) {
        self.write.lock().log.take(out, spare);
    }

    fn discard(&self, mut failed: Vec<Chunk>) -> Option<u64> {
        let mut w = self.write.lock();
        w.log.take(&mut failed, &mut Vec::new());
        let sv = self.current_sv();
        let mut highest = None;
        let mut undone = Vec::new();
        for c in failed {
            highest = highest.max(Some(c.last_seq));
            let file = c.file.clone();
            let data = bytes::Bytes::from(c.joined());
            let records = match crate::wal::record::read_records(&file.path, &data, 0, &|t| {
                t == crate::format::WAL_RECORD_BATCH
            }) {
                Ok(r) => r.records,
                Err(e) => {
                    // Our own encoding: unreachable short of a bug.
                    tracing::error!(error = %e, "could not decode discarded WAL records");
                    continue;
                }
            };
            for r in records {
                let Ok(b) = crate::batch::decode_batch(&r.payload) else {
                    continue;
                };
                undone.extend((b.start_seq..).zip(b.ops).map(|(seq, (key, _))| (key, seq)));
            }
        }
        // Newest first: the failed writes are the newest of all, so each is
        // its key's newest version when it is taken out (`Memtable::remove`).
        undone.sort_unstable_by_key(|(_, seq)| std::cmp::Reverse(*seq));
        for (key, seq) in undone {
            sv.mem.remove(&key, seq);
            for m in &sv.imms {
                m.remove(&key, seq);
            }
        }
        drop(w);
        if let Some(h) = highest {
            tracing::warn!(
                through_seq = h,
                "writes whose WAL records failed were undone"
            );
        }
        highest
    }

    fn active_file(&self) -> Arc<WalFile> {
        self.write.lock().log.file.clone()
    }
}

impl DurableSource for Inner {
    fn committer(&self) -> &Committer {
        &self.committer
    }
    fn log_source(&self) -> &dyn LogSource {
        self
    }
}

/// The last `Engine` clone's drop shuts the engine down (best effort).
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.inner.shutdown() {
            tracing::warn!(error = %e, "engine shutdown on drop failed");
        }
    }
}

/// The storage engine. Cheap to clone (an `Arc` inside); `Send + Sync`.
/// Dropping the last clone shuts it down like `shutdown`.
#[derive(Clone)]
pub struct Engine {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.handle.inner.dir)
            .finish_non_exhaustive()
    }
}

impl Engine {
    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Opens the database in `dir`, creating it if it holds no data, or
    /// recovering it: manifest, then every unflushed WAL (torn tails
    /// truncated). Files the manifest does not know are moved into
    /// `dir/orphaned/`, never deleted (see `docs/operations.md`).
    ///
    /// Errors, each returned before anything in `dir` changes unless noted:
    /// `Locked` if another engine holds the directory; `MissingCurrent` if
    /// `CURRENT` is gone but the directory holds data; `UnreadableManifest`
    /// if `CURRENT` or its manifest cannot be read; `Corruption` naming an
    /// SSTable the manifest names but the directory lacks; `MissingWal` if
    /// the live WAL is missing or shorter than its header (unless
    /// `Options::wal_missing_ok`); `Corruption` / `ChecksumMismatch` /
    /// `UnsupportedVersion` for a damaged WAL (earlier WALs may have had
    /// torn tails truncated by then); `Io`.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Engine> {
        let inner = open::open(dir.as_ref(), options.sanitized())?;
        Ok(Engine {
            handle: Arc::new(Handle { inner }),
        })
    }

    /// The newest live version of `key`; `None` if absent, deleted or expired
    /// (per `Options::clock`). Errors only on I/O failure or corruption.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        let inner = self.inner();
        let seq = inner.visible_seq.load(Ordering::Acquire);
        inner.get_at_seq(key, seq)
    }

    /// A hint that `key` is read or written soon: starts loading its
    /// newest version in the active memtable into the CPU's caches and
    /// returns without waiting. A server that has the next request of a
    /// pipeline in hand prefetches its key while it serves the current
    /// one, so that request's memtable probe finds the record in cache.
    pub fn prefetch(&self, key: &[u8]) {
        self.inner().sv_now().mem.prefetch(key);
    }

    /// The step before [`Engine::prefetch`]: starts loading where the
    /// active memtable's index keeps `key`, reading nothing and taking no
    /// lock. A server that has a whole pipelined batch in hand calls it
    /// for every key of the batch at once, so their cache misses overlap;
    /// `prefetch` of each key, just before its request, then finds the
    /// index in cache and fetches the record.
    pub fn prefetch_bucket(&self, key: &[u8]) {
        self.inner().sv_now().mem.prefetch_bucket(key);
    }

    /// Like `get`, as of `snapshot`.
    pub fn get_at(&self, key: &[u8], snapshot: &Snapshot) -> Result<Option<Value>> {
        self.inner().get_at_seq(key, snapshot.seq())
    }

    /// Whether `key` may have a version newer than `snapshot`: false only
    /// when it has none. Answers from the memtables alone, with no SSTable
    /// read, and answers true (may) once a flush has taken out of the
    /// memtables a version newer than the snapshot. A writer serialised
    /// per key reads before taking its lock and checks here, under it,
    /// that what it read is still the newest.
    pub fn written_since(&self, key: &[u8], snapshot: &Snapshot) -> bool {
        let inner = self.inner();
        let seq = snapshot.seq();
        let sv = inner.sv_now();
        if inner.flushed_seq.load(Ordering::Acquire) > seq {
            return true;
        }
        std::iter::once(&sv.mem)
            .chain(sv.imms.iter())
            .any(|m| m.newest_seq(key).is_some_and(|s| s > seq))
    }

    /// Applies `batch` atomically and returns the sequence number of its last
    /// operation (the current sequence for an empty batch). Visible to readers
    /// when this returns; durable once `durable(seq)` resolves. Appends to the
    /// WAL's in-memory buffer and inserts into the memtable under one short lock,
    /// with no syscall and no back-pressure sleep — except that it blocks while
    /// the memtable is full and `max_immutable_memtables` wait for flush.
    ///
    /// Errors: `Closed`, `WalPoisoned`, `Background` (flush failed while the
    /// memtables are full), `Io` (a new WAL could not be created).
    pub fn write(&self, batch: WriteBatch) -> Result<SeqNo> {
        self.inner().write(&batch)
    }

    /// A future resolving when every write up to `seq` is durable per the fsync
    /// policy (`everysec`/`no`: handed to the OS; `always`: fsynced). Polling
    /// never blocks on fsync. Resolves with `WalPoisoned` if the log failed.
    pub fn durable(&self, seq: SeqNo) -> Durable {
        Durable {
            shared: Some(self.inner().clone() as Arc<dyn DurableSource>),
            seq,
            waiter: None,
            yielded: false,
        }
    }

    /// Blocks until `durable(seq)` would resolve, leading the group commit itself.
    pub fn wait_durable(&self, seq: SeqNo) -> Result<()> {
        let inner = self.inner();
        inner.committer.wait_durable(seq, &**inner)
    }

    /// Stores `value` under `key`: throttle, write, wait until durable.
    pub fn put(&self, key: impl Into<Bytes>, value: Value) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.throttle();
        let seq = self.write(b)?;
        self.wait_durable(seq)
    }

    /// Deletes `key`: throttle, write a tombstone, wait until durable.
    pub fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.throttle();
        let seq = self.write(b)?;
        self.wait_durable(seq)
    }

    /// How hard compaction is being pushed; async callers check it before
    /// writing and back off themselves (then report with `record_stall`).
    pub fn write_pressure(&self) -> WritePressure {
        self.inner().write_pressure()
    }

    /// Sleeps per `write_pressure` (a short delay when slowed, until relieved
    /// when stopped, bounded by shutdown) and counts the time as stall time.
    pub fn throttle(&self) {
        self.inner().throttle();
    }

    /// Adds time an async caller spent backing off to the stall statistics.
    pub fn record_stall(&self, waited: Duration) {
        Counters::add(&self.inner().stats.stall_micros, waited.as_micros() as u64);
    }

    /// Pins the current sequence number; released on drop.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner();
        Snapshot::new(
            inner.visible_seq.load(Ordering::Acquire),
            inner.snapshots.clone(),
        )
    }

    /// Ascending iterator over live, unexpired entries in `[lower, upper)`
    /// (any bounds), consistent at `snapshot` (or at the current sequence).
    pub fn iter(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        snapshot: Option<&Snapshot>,
    ) -> Result<EngineIter> {
        self.iter_with(lower, upper, snapshot, true, false)
    }

    /// [`Engine::iter`] walking down: the same entries of `[lower, upper)`,
    /// greatest key first (RocksDB's `SeekForPrev` and `Prev`). A read at
    /// the high end of a range (a list's tail, a sorted set's highest
    /// scores) starts there instead of walking up to it.
    pub fn iter_rev(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        snapshot: Option<&Snapshot>,
    ) -> Result<EngineIter> {
        self.iter_with(lower, upper, snapshot, true, true)
    }

    /// [`Engine::iter`] for a bulk scan (anti-entropy, streaming, a pass
    /// over a whole database, background deletion): it reads blocks the
    /// cache holds, but does not cache those it reads, so a pass over more
    /// than the cache holds does not evict what readers use (RocksDB's
    /// `fill_cache = false`).
    pub fn iter_uncached(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        snapshot: Option<&Snapshot>,
    ) -> Result<EngineIter> {
        self.iter_with(lower, upper, snapshot, false, false)
    }

    fn iter_with(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        snapshot: Option<&Snapshot>,
        fill_cache: bool,
        reverse: bool,
    ) -> Result<EngineIter> {
        let inner = self.inner();
        let seq = snapshot.map_or_else(|| inner.visible_seq.load(Ordering::Acquire), Snapshot::seq);
        let own = |b: Bound<&[u8]>| match b {
            Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k)),
            Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k)),
            Bound::Unbounded => Bound::Unbounded,
        };
        inner.iter_at((own(lower), own(upper)), seq, fill_cache, reverse)
    }

    /// Every live entry whose key starts with `prefix`, ascending.
    pub fn iter_prefix(&self, prefix: &[u8]) -> Result<EngineIter> {
        let upper = crate::iter::prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        let inner = self.inner();
        let seq = inner.visible_seq.load(Ordering::Acquire);
        inner.iter_at(
            (Bound::Included(Bytes::copy_from_slice(prefix)), upper),
            seq,
            true,
            false,
        )
    }

    /// Freezes the memtable and waits until every memtable is an SSTable (Redis SAVE).
    pub fn flush(&self) -> Result<()> {
        self.inner().flush_all()
    }

    /// Writes and fsyncs everything in the WAL buffer now.
    pub fn sync_wal(&self) -> Result<()> {
        let inner = self.inner();
        inner.committer.sync_now(&**inner)
    }

    /// Flushes, then merges every SSTable into one sorted run at the bottom,
    /// dropping what is safe to drop; waits for it.
    pub fn compact_all(&self) -> Result<()> {
        self.inner().compact_all()
    }

    /// Switches the compaction strategy live, persisting it in the manifest; the
    /// tree converges to the new shape through normal compactions.
    pub fn set_compaction_strategy(&self, s: CompactionStrategy) -> Result<()> {
        self.inner().set_strategy(s)
    }

    /// Changes the fsync policy for later durability checks.
    pub fn set_fsync_policy(&self, p: FsyncPolicy) {
        self.inner().committer.set_policy(p);
    }

    /// Limits compaction writes to `bytes_per_sec` (0 = unlimited).
    pub fn set_compaction_rate_limit(&self, bytes_per_sec: u64) {
        self.inner()
            .rate_limit
            .store(bytes_per_sec, Ordering::Relaxed);
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        self.inner().stats()
    }

    /// Writes and fsyncs the WAL, stops background threads; later writes fail
    /// with `Closed`. Idempotent.
    pub fn shutdown(&self) -> Result<()> {
        self.inner().shutdown()
    }

    /// The directory this engine owns.
    pub fn dir(&self) -> &Path {
        &self.inner().dir
    }
}
