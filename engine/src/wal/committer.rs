//! Group commit: writers append encoded records to an in-memory `LogBuffer`
//! (under the engine's write lock, no syscall); a *leader* later takes every
//! pending byte and issues one `write` per file — and for `always` one fsync —
//! on behalf of everyone queued behind it.
//!
//! Who leads:
//! - `Durable` futures under `everysec`/`no` lead inline when nobody else
//!   holds the I/O lock (no thread hop; a `write` never blocks on the disk
//!   for long); otherwise they register their waker.
//! - Under `always` a future never fsyncs on the polling thread: it registers
//!   its waker and signals the committer thread, which leads with fsync.
//! - `wait_durable` (blocking) leads itself, fsync included.
//! - The committer thread also writes whatever is pending once a second
//!   (fsyncing for `everysec`), and when the buffer grows past
//!   `FLUSH_THRESHOLD`, so the buffer stays bounded without callers.
//!
//! Lock order: engine write lock → (nothing); I/O lock → engine write lock
//! (briefly, to take the buffer) → waiters. A leader never holds the write
//! lock while doing I/O.
//!
//! A failed `write` (a full disk, a file-size limit) poisons the committer
//! until the log can be written again: the file is cut back to its last
//! whole record, every record not written is discarded — its entries taken
//! out of the memtables before any waiter hears of the failure, so a write
//! whose client got an error is never readable — its sequence numbers are
//! remembered as discarded (a `Durable` future for one of them fails even
//! after recovery), and the engine refuses writes. Once a second the
//! committer thread probes the file; when a probe write succeeds, writes
//! resume. A failed `fsync` poisons the committer for good: the kernel may
//! have dropped the dirty pages it could not write, so nothing short of a
//! restart and replay says what is on disk.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::WalFile;
use crate::batch::{SharedValue, pieces, shared_len};
use crate::error::{Error, Result};
use crate::options::FsyncPolicy;

/// Pending bytes above which a write wakes the committer thread.
pub(crate) const FLUSH_THRESHOLD: usize = 1 << 20;

/// Capacity a fresh log buffer starts with.
const BUFFER_START: usize = 64 * 1024;

/// A written buffer up to this capacity is kept for the next fill; a
/// larger one (a large write's) is freed.
const BUFFER_KEEP_MAX: usize = 4 * FLUSH_THRESHOLD;

/// Bytes queued for one WAL file, in order.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) file: Arc<WalFile>,
    pub(crate) data: Vec<u8>,
    /// Values written from their own memory, each where it belongs in `data`.
    pub(crate) shared: Vec<SharedValue>,
    /// Highest sequence number whose record is in `data` or earlier.
    pub(crate) last_seq: u64,
}

impl Chunk {
    /// Bytes this chunk writes to its file.
    pub(crate) fn len(&self) -> usize {
        self.data.len() + shared_len(&self.shared)
    }

    /// The chunk's records as one buffer (its shared values copied in).
    pub(crate) fn joined(self) -> Vec<u8> {
        if self.shared.is_empty() {
            return self.data;
        }
        let mut out = Vec::with_capacity(self.len());
        for p in pieces(&self.data, 0, &self.shared) {
            out.extend_from_slice(p.bytes());
        }
        out
    }
}

impl LogBuffer {
    /// Bytes pending for the active file.
    pub(crate) fn pending_len(&self) -> usize {
        self.buf.len() + shared_len(&self.shared)
    }
}

/// Records appended but not yet handed to the OS. Guarded by the engine's
/// write lock; records are appended in sequence order.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    /// The WAL of the active memtable.
    pub(crate) file: Arc<WalFile>,
    /// Encoded records for `file`.
    pub(crate) buf: Vec<u8>,
    /// Long values of those records, not copied into `buf`: each is
    /// written where it belongs in it (`SharedValue::at`).
    pub(crate) shared: Vec<SharedValue>,
    /// Highest sequence number appended to `buf` (or earlier).
    pub(crate) last_seq: u64,
    /// Whole buffers of earlier (rotated-away) WAL files, oldest first.
    pub(crate) sealed: Vec<Chunk>,
    /// Set once the committer thread was signalled for this fill.
    pub(crate) signalled: bool,
}

impl LogBuffer {
    /// A buffer appending to `file`, continuing after `last_seq`.
    pub(crate) fn new(file: Arc<WalFile>, last_seq: u64) -> Self {
        LogBuffer {
            file,
            buf: Vec::with_capacity(BUFFER_START),
            shared: Vec::new(),
            last_seq,
            sealed: Vec::new(),
            signalled: false,
        }
    }

    /// Moves everything pending into `out`, oldest first. `spare` (an
    /// empty buffer a leader wrote out before, or nothing) becomes the new
    /// buffer: refilling memory already touched, instead of a fresh
    /// allocation the kernel must fault in and zero page by page (2-3% of
    /// the server's CPU samples under pipelined writes went there).
    pub(crate) fn take(&mut self, out: &mut Vec<Chunk>, spare: &mut Vec<u8>) {
        out.append(&mut self.sealed);
        if !self.buf.is_empty() {
            let next = if spare.capacity() >= BUFFER_START {
                spare.clear();
                std::mem::take(spare)
            } else {
                Vec::with_capacity(BUFFER_START)
            };
            let data = std::mem::replace(&mut self.buf, next);
            out.push(Chunk {
                file: self.file.clone(),
                data,
                shared: std::mem::take(&mut self.shared),
                last_seq: self.last_seq,
            });
        }
        self.signalled = false;
    }

    /// Starts appending to `file`; what was buffered for the old file is sealed.
    pub(crate) fn rotate(&mut self, file: Arc<WalFile>) {
        let data = std::mem::take(&mut self.buf);
        let old = std::mem::replace(&mut self.file, file);
        self.sealed.push(Chunk {
            file: old,
            data,
            shared: std::mem::take(&mut self.shared),
            last_seq: self.last_seq,
        });
    }
}

/// Where a leader takes pending bytes from (the engine, under its write lock).
pub(crate) trait LogSource: Send + Sync {
    /// Moves every pending chunk into `out`; `spare` may become the new
    /// buffer (`LogBuffer::take`).
    fn take_pending(&self, out: &mut Vec<Chunk>, spare: &mut Vec<u8>);
    /// Called after a failed append, with the committer already poisoned
    /// (so no write can add records any more): takes the rest of the pending
    /// records, undoes every record of `failed` and of the rest in the
    /// memtables, and returns the highest sequence number among them.
    fn discard(&self, failed: Vec<Chunk>) -> Option<u64>;
    /// The WAL file appends go to now (the one to probe after a failure).
    fn active_file(&self) -> Arc<WalFile>;
}

/// At most this many discarded ranges are remembered (one per failure).
const MAX_DISCARDED_RANGES: usize = 1024;

struct Waiter {
    id: u64,
    seq: u64,
    waker: Waker,
}

#[derive(Default)]
struct Waiters {
    list: Vec<Waiter>,
    next_id: u64,
}

#[derive(Default)]
struct Signal {
    requested: bool,
    shutdown: bool,
}

/// Held while doing WAL I/O: the leader token.
#[derive(Default)]
struct IoState {
    /// Files written since their last fsync.
    dirty: Vec<Arc<WalFile>>,
    scratch: Vec<Chunk>,
    /// The last buffer written out, emptied, for the next take.
    spare: Vec<u8>,
}

/// The group committer. One per engine.
pub(crate) struct Committer {
    io: Mutex<IoState>,
    /// Highest sequence number handed to the OS. Written only by the leader.
    written_seq: AtomicU64,
    /// Highest sequence number fsynced. Written only by the leader.
    synced_seq: AtomicU64,
    waiters: Mutex<Waiters>,
    poisoned: AtomicBool,
    poison: Mutex<Option<String>>,
    /// Set with `poisoned` when an fsync failed: no recovery without restart.
    poison_final: AtomicBool,
    /// Sequence ranges (inclusive) whose records were discarded after a
    /// failed append, with the failure's text; oldest first.
    discarded: Mutex<Vec<(u64, u64, String)>>,
    any_discarded: AtomicBool,
    /// Failed appends and recoveries (Relaxed: statistics).
    pub(crate) write_failures: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    policy: AtomicU8,
    signal: Mutex<Signal>,
    cv: Condvar,
    /// Bytes handed to the OS (Relaxed: a statistic).
    pub(crate) bytes_written: AtomicU64,
}

fn policy_code(p: FsyncPolicy) -> u8 {
    match p {
        FsyncPolicy::Always => 0,
        FsyncPolicy::EverySec => 1,
        FsyncPolicy::No => 2,
    }
}

impl Committer {
    /// A committer whose log is durable up to `recovered_seq`.
    pub(crate) fn new(policy: FsyncPolicy, recovered_seq: u64) -> Self {
        Committer {
            io: Mutex::new(IoState::default()),
            written_seq: AtomicU64::new(recovered_seq),
            synced_seq: AtomicU64::new(recovered_seq),
            waiters: Mutex::new(Waiters::default()),
            poisoned: AtomicBool::new(false),
            poison: Mutex::new(None),
            poison_final: AtomicBool::new(false),
            discarded: Mutex::new(Vec::new()),
            any_discarded: AtomicBool::new(false),
            write_failures: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            policy: AtomicU8::new(policy_code(policy)),
            signal: Mutex::new(Signal::default()),
            cv: Condvar::new(),
            bytes_written: AtomicU64::new(0),
        }
    }

    /// The current fsync policy.
    pub(crate) fn policy(&self) -> FsyncPolicy {
        match self.policy.load(Ordering::Relaxed) {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }

    /// Changes the fsync policy; takes effect for the next durability check.
    pub(crate) fn set_policy(&self, p: FsyncPolicy) {
        self.policy.store(policy_code(p), Ordering::Relaxed);
        self.request();
    }

    /// The sticky error, if a write or fsync failed.
    pub(crate) fn poison_error(&self) -> Option<Error> {
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        let cause = self.poison.lock().clone().unwrap_or_default();
        Some(Error::WalPoisoned { cause })
    }

    /// Text of the sticky error for stats.
    pub(crate) fn poison_text(&self) -> Option<String> {
        self.poison.lock().clone()
    }

    /// Highest sequence number written to the OS.
    pub(crate) fn written_seq(&self) -> u64 {
        self.written_seq.load(Ordering::Acquire)
    }

    /// True when `seq` is durable under the current policy.
    pub(crate) fn is_durable(&self, seq: u64) -> bool {
        match self.policy() {
            FsyncPolicy::Always => self.synced_seq.load(Ordering::Acquire) >= seq,
            _ => self.written_seq.load(Ordering::Acquire) >= seq,
        }
    }

    /// Wakes the committer thread to lead.
    pub(crate) fn request(&self) {
        let mut s = self.signal.lock();
        s.requested = true;
        self.cv.notify_one();
    }

    /// Asks the committer thread to do a final lead and exit.
    pub(crate) fn request_shutdown(&self) {
        let mut s = self.signal.lock();
        s.shutdown = true;
        self.cv.notify_one();
    }

    /// A failed fsync: writes are refused until the process restarts.
    fn set_poison(&self, e: &Error) {
        self.poison_final.store(true, Ordering::Release);
        let mut p = self.poison.lock();
        if p.is_none() {
            tracing::error!(error = %e, "WAL fsync failed; refusing writes until restart");
            *p = Some(e.to_string());
        }
        drop(p);
        self.poisoned.store(true, Ordering::Release);
        self.wake_all();
    }

    fn wake_all(&self) {
        let list = std::mem::take(&mut self.waiters.lock().list);
        for w in list {
            w.waker.wake();
        }
    }

    /// A failed append (the file was already cut back to its last whole
    /// record): refuse writes, discard every record not written (`failed`
    /// and whatever is still pending), and only then tell the waiters.
    /// Under `always` the records written before the failure are fsynced
    /// first, so their waiters succeed: only discarded writes fail.
    /// Caller holds the I/O lock (`io`).
    fn fail_write(&self, io: &mut IoState, e: &Error, failed: Vec<Chunk>, src: &dyn LogSource) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
        {
            let mut p = self.poison.lock();
            if p.is_none() {
                tracing::error!(error = %e, "WAL write failed; refusing writes until the log can be written again");
                *p = Some(e.to_string());
            }
        }
        // Writers check this under the engine's write lock, which `discard`
        // takes: after it, no record can join the buffer.
        self.poisoned.store(true, Ordering::Release);
        if let Some(last) = src.discard(failed) {
            let first = self.written_seq.load(Ordering::Acquire) + 1;
            if last >= first {
                let mut d = self.discarded.lock();
                if d.len() >= MAX_DISCARDED_RANGES {
                    d.remove(0);
                }
                d.push((first, last, e.to_string()));
                self.any_discarded.store(true, Ordering::Release);
            }
            // Every sequence up to `last` is now written or discarded.
            self.written_seq.fetch_max(last, Ordering::AcqRel);
        }
        if self.policy() == FsyncPolicy::Always {
            let upto = self.written_seq.load(Ordering::Acquire);
            for f in io.dirty.drain(..) {
                if let Err(e) = f.sync() {
                    self.set_poison(&e);
                    return;
                }
            }
            self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        }
        self.wake_all();
    }

    /// Refuses writes from the start (a read-only open on a full disk);
    /// they resume once a probe write to the WAL succeeds.
    pub(crate) fn refuse_until_writable(&self, cause: String) {
        *self.poison.lock() = Some(cause);
        self.poisoned.store(true, Ordering::Release);
    }

    /// The failure that discarded `seq`'s record, if one did.
    fn discarded_cause(&self, seq: u64) -> Option<Error> {
        if !self.any_discarded.load(Ordering::Acquire) {
            return None;
        }
        let d = self.discarded.lock();
        d.iter()
            .rev()
            .find(|(first, last, _)| (*first..=*last).contains(&seq))
            .map(|(_, _, cause)| Error::WalPoisoned {
                cause: cause.clone(),
            })
    }

    /// How a wait for `seq` ends now: its record was discarded, it is
    /// durable, writes are refused, or it is still pending (`None`).
    fn outcome(&self, seq: u64) -> Option<Result<()>> {
        if let Some(e) = self.discarded_cause(seq) {
            return Some(Err(e));
        }
        if self.is_durable(seq) {
            return Some(Ok(()));
        }
        self.poison_error().map(Err)
    }

    /// After a failed append: whether the active WAL file takes writes
    /// again; if so, writes resume. Called by the committer thread.
    fn try_recover(&self, src: &dyn LogSource) {
        if !self.poisoned.load(Ordering::Acquire) || self.poison_final.load(Ordering::Acquire) {
            return;
        }
        let io = self.io.lock();
        let file = src.active_file();
        if let Err(e) = file.probe() {
            tracing::debug!(error = %e, "WAL still not writable");
            return;
        }
        // Nothing was appended while poisoned (writes are refused), but a
        // record that slipped in would have no home: discard it too.
        if let Some(last) = src.discard(Vec::new()) {
            self.written_seq.fetch_max(last, Ordering::AcqRel);
        }
        *self.poison.lock() = None;
        self.poisoned.store(false, Ordering::Release);
        drop(io);
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(file = %file.path.display(), "WAL writable again; accepting writes");
    }

    /// Leads one or more rounds. The caller holds the I/O lock (`io`).
    fn lead_locked(&self, io: &mut IoState, src: &dyn LogSource, sync: bool) -> Result<()> {
        if let Some(e) = self.poison_error() {
            return Err(e);
        }
        loop {
            let mut chunks = std::mem::take(&mut io.scratch);
            src.take_pending(&mut chunks, &mut io.spare);
            let had_chunks = !chunks.is_empty();
            let mut last = None;
            let mut pending = chunks.drain(..);
            while let Some(c) = pending.next() {
                if let Err(e) = c.file.append(&c.data, &c.shared) {
                    if let Some(l) = last {
                        self.written_seq.fetch_max(l, Ordering::AcqRel);
                    }
                    let failed = std::iter::once(c).chain(pending).collect();
                    self.fail_write(io, &e, failed, src);
                    return Err(e);
                }
                self.bytes_written
                    .fetch_add(c.len() as u64, Ordering::Relaxed);
                if !io.dirty.iter().any(|f| Arc::ptr_eq(f, &c.file)) {
                    io.dirty.push(c.file.clone());
                }
                last = Some(c.last_seq);
                if c.data.capacity() <= BUFFER_KEEP_MAX && c.data.capacity() > io.spare.capacity() {
                    io.spare = c.data;
                }
            }
            drop(pending);
            io.scratch = chunks;
            if let Some(l) = last {
                self.written_seq.fetch_max(l, Ordering::AcqRel);
            }
            if sync {
                let upto = self.written_seq.load(Ordering::Acquire);
                for f in io.dirty.drain(..) {
                    if let Err(e) = f.sync() {
                        self.set_poison(&e);
                        return Err(e);
                    }
                }
                self.synced_seq.fetch_max(upto, Ordering::AcqRel);
            }
            let unsatisfied = self.wake_satisfied();
            if !had_chunks || !unsatisfied {
                return Ok(());
            }
        }
    }

    /// Wakes every satisfied waiter; returns whether any remain.
    fn wake_satisfied(&self) -> bool {
        let mut w = self.waiters.lock();
        if w.list.is_empty() {
            return false;
        }
        let mut i = 0;
        while i < w.list.len() {
            let seq = w.list.get(i).map_or(0, |x| x.seq);
            if self.is_durable(seq) {
                let x = w.list.swap_remove(i);
                x.waker.wake();
            } else {
                i += 1;
            }
        }
        !w.list.is_empty()
    }

    /// Takes the I/O lock if free and leads (no fsync unless `sync`).
    /// Returns `None` when somebody else is leading.
    fn try_lead(&self, src: &dyn LogSource, sync: bool) -> Option<Result<()>> {
        let mut io = self.io.try_lock()?;
        let r = self.lead_locked(&mut io, src, sync);
        drop(io);
        self.after_lead();
        Some(r)
    }

    /// A waiter registered while we led but not satisfied by us gets the thread.
    fn after_lead(&self) {
        let pending = !self.waiters.lock().list.is_empty();
        if pending {
            self.request();
        }
    }

    /// Blocks until `seq` is durable, leading (with fsync under `always`) as needed.
    pub(crate) fn wait_durable(&self, seq: u64, src: &dyn LogSource) -> Result<()> {
        loop {
            if let Some(r) = self.outcome(seq) {
                return r;
            }
            let mut io = self.io.lock();
            if let Some(r) = self.outcome(seq) {
                return r;
            }
            let sync = self.policy() == FsyncPolicy::Always;
            let r = self.lead_locked(&mut io, src, sync);
            drop(io);
            self.after_lead();
            r?;
            if !self.is_durable(seq) && self.written_seq() < seq {
                // Nothing pending yet covers seq: it was never assigned.
                return Err(Error::InvalidArgument(format!(
                    "sequence {seq} was never written"
                )));
            }
        }
    }

    /// Blocks until every record up to `seq` was handed to the OS or
    /// discarded (a flush of the memtable holding them may then start).
    pub(crate) fn wait_written(&self, seq: u64, src: &dyn LogSource) -> Result<()> {
        loop {
            if self.written_seq() >= seq {
                return Ok(());
            }
            if let Some(e) = self.poison_error() {
                return Err(e);
            }
            let mut io = self.io.lock();
            let r = self.lead_locked(&mut io, src, false);
            drop(io);
            self.after_lead();
            if self.written_seq() >= seq {
                return Ok(());
            }
            r?;
        }
    }

    /// Writes and fsyncs everything pending now.
    pub(crate) fn sync_now(&self, src: &dyn LogSource) -> Result<()> {
        let mut io = self.io.lock();
        let r = self.lead_locked(&mut io, src, true);
        drop(io);
        self.after_lead();
        r
    }

    /// One poll of a `Durable` future.
    fn poll_durable(
        &self,
        seq: u64,
        id: &mut Option<u64>,
        cx: &mut Context<'_>,
        src: &dyn LogSource,
    ) -> Poll<Result<()>> {
        if let Some(r) = self.outcome(seq) {
            self.deregister(id);
            return Poll::Ready(r);
        }
        let always = self.policy() == FsyncPolicy::Always;
        if !always && self.try_lead(src, false).is_some() {
            if let Some(r) = self.outcome(seq) {
                self.deregister(id);
                return Poll::Ready(r);
            }
        }
        self.register(seq, id, cx.waker());
        // Re-check after registering so a leader that finished in between is not missed.
        if let Some(r) = self.outcome(seq) {
            self.deregister(id);
            return Poll::Ready(r);
        }
        if always {
            self.request();
        } else if self.try_lead(src, false).is_some() {
            if let Some(r) = self.outcome(seq) {
                self.deregister(id);
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    }

    fn register(&self, seq: u64, id: &mut Option<u64>, waker: &Waker) {
        let mut w = self.waiters.lock();
        if let Some(my) = *id {
            if let Some(x) = w.list.iter_mut().find(|x| x.id == my) {
                if !x.waker.will_wake(waker) {
                    x.waker = waker.clone();
                }
                return;
            }
        }
        let my = w.next_id;
        w.next_id += 1;
        w.list.push(Waiter {
            id: my,
            seq,
            waker: waker.clone(),
        });
        *id = Some(my);
    }

    fn deregister(&self, id: &mut Option<u64>) {
        if let Some(my) = id.take() {
            let mut w = self.waiters.lock();
            if let Some(i) = w.list.iter().position(|x| x.id == my) {
                w.list.swap_remove(i);
            }
        }
    }

    /// fsyncs `files` (already written up to `upto`) without the I/O lock.
    fn sync_files(&self, files: &[Arc<WalFile>], upto: u64) {
        for f in files {
            if let Err(e) = f.sync() {
                self.set_poison(&e);
                return;
            }
        }
        self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        self.wake_satisfied();
    }

    /// The committer thread's loop: lead when asked, and once a second (fsync
    /// under `everysec`). Returns after a final lead once shutdown is requested.
    pub(crate) fn run(&self, src: &dyn LogSource) {
        let mut last_sync = Instant::now();
        loop {
            let (requested, shutdown) = {
                let mut s = self.signal.lock();
                if !s.requested && !s.shutdown {
                    let wait = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
                    self.cv.wait_for(&mut s, wait.max(Duration::from_millis(1)));
                }
                let r = (s.requested, s.shutdown);
                s.requested = false;
                r
            };
            let policy = self.policy();
            let tick = last_sync.elapsed() >= Duration::from_secs(1);
            let sync = shutdown
                || (policy == FsyncPolicy::Always && requested)
                || (policy == FsyncPolicy::EverySec && tick);
            if tick {
                last_sync = Instant::now();
            }
            if requested || tick || shutdown {
                let mut io = self.io.lock();
                if sync && policy == FsyncPolicy::EverySec && !shutdown {
                    // Write under the I/O lock, fsync outside it: nobody waits
                    // for an `everysec` fsync, so writers must not queue behind
                    // a slow disk (the file stays open while its Arc lives).
                    if self.lead_locked(&mut io, src, false).is_ok() {
                        let upto = self.written_seq.load(Ordering::Acquire);
                        let files: Vec<Arc<WalFile>> = io.dirty.drain(..).collect();
                        drop(io);
                        self.sync_files(&files, upto);
                    }
                } else {
                    // Errors are sticky and reported through waiters and stats.
                    let _ = self.lead_locked(&mut io, src, sync);
                }
            }
            if tick {
                self.try_recover(src);
            }
            if shutdown {
                return;
            }
        }
    }
}

/// Future returned by `Engine::durable`: resolves when every write up to its
/// sequence number is durable per the fsync policy. Holds no lock between polls.
pub struct Durable {
    pub(crate) shared: Option<Arc<dyn DurableSource>>,
    pub(crate) seq: u64,
    pub(crate) waiter: Option<u64>,
    /// Whether the future has let the other tasks of its thread run once
    /// (see `poll`).
    pub(crate) yielded: bool,
}

impl Durable {
    /// Whether the first poll would let the other ready tasks run before
    /// leading the write (see `poll`): the records are not handed to the
    /// OS yet and the policy is not `always`.
    pub fn would_yield(&self) -> bool {
        !self.yielded
            && self.shared.as_ref().is_some_and(|s| {
                let committer = s.committer();
                committer.policy() != FsyncPolicy::Always && committer.outcome(self.seq).is_none()
            })
    }

    /// This future without its first yield, for a caller that has let the
    /// other tasks run in its runtime's own way (tokio's `yield_now`
    /// defers the task past the ready ones without waking an idle worker
    /// to steal it, as a task waking itself does).
    pub fn without_yield(mut self) -> Self {
        self.yielded = true;
        self
    }
}

/// What a `Durable` future needs from the engine (type-erased so the future is
/// `'static` without naming engine internals).
pub(crate) trait DurableSource: Send + Sync {
    fn committer(&self) -> &Committer;
    fn log_source(&self) -> &dyn LogSource;
}

impl Future for Durable {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(shared) = this.shared.as_ref() else {
            return Poll::Ready(Err(Error::Closed));
        };
        let committer = shared.committer();
        // Before leading the write to the OS, let the other tasks ready on
        // this thread run once: their writes join the buffer, and the lead
        // that follows hands them all over in one `write`, as Redis writes
        // its AOF once per pass of its event loop. Leading at once cost one
        // `pwrite` per unpipelined SET (17,240 requests, 16,824 calls).
        if !this.yielded {
            this.yielded = true;
            if committer.policy() != FsyncPolicy::Always && committer.outcome(this.seq).is_none() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let r = committer.poll_durable(this.seq, &mut this.waiter, cx, shared.log_source());
        if r.is_ready() {
            this.shared = None;
        }
        r
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        if let Some(s) = self.shared.take() {
            s.committer().deregister(&mut self.waiter);
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}
