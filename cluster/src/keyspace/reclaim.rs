//! The background deletion of replaced split-collection generations: a
//! queue of member prefixes kept in the metadata namespace (written in the
//! same batch that stops a header naming them), and a thread that deletes
//! each queued generation's member records and score-index entries, then
//! its queue entry (`docs/formats/record.md` §3.6, "Replaced generations").
//!
//! A generation whose members carry no engine expiry is queued with a
//! time when its header gets an expiry: the entry is due then, and its
//! members are deleted only if by then no live header names the
//! generation (an EXPIRE or PERSIST since moved or removed the expiry:
//! the entry waits, and the header's newer expiry, queued with it, is
//! what counts). That look is taken under the key's record lock, and an
//! expired header's generation is never written again, so nothing races
//! the deletion.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ops::Bound;
use std::sync::mpsc;

use bytes::Bytes;
use ringkv_engine::{Engine, Value, WriteBatch};

use super::score_index;
use super::split::{self, member_prefix, prefix_end};
use crate::error::Result;

/// Metadata name prefix of the queue of member generations to delete.
const RECLAIM_PREFIX: &[u8] = b"reclaim/";
/// Member records deleted per engine batch by the reclaimer.
const RECLAIM_BATCH: usize = 1024;

fn reclaim_name(ns: u32, key: &[u8], generation: u64) -> Vec<u8> {
    let mut name = RECLAIM_PREFIX.to_vec();
    name.extend_from_slice(&member_prefix(ns, key, generation));
    name
}

/// Queues `generation`'s member records of `key` for deletion, in the same
/// batch that stops the header naming them.
pub(super) fn queue_reclaim(batch: &mut WriteBatch, ns: u32, key: &[u8], generation: u64) {
    batch.put(
        crate::namespace::meta_key(&reclaim_name(ns, key, generation)),
        Value::new(Bytes::new()),
    );
}

/// Keeps the timed queue entry of a live generation whose members carry
/// no engine expiry in step with its header's new expiry, in the batch
/// that writes the header: queued for deletion once `expire_at_ms` has
/// passed and no live header names the generation (an earlier entry of it
/// replaced), or, with no expiry (PERSIST), no entry at all. (A live
/// header's generation has no untimed entry: those are queued only when a
/// header stops naming it.)
pub(super) fn reclaim_at_expiry(
    batch: &mut WriteBatch,
    ns: u32,
    key: &[u8],
    generation: u64,
    expire_at_ms: u64,
) {
    let name = crate::namespace::meta_key(&reclaim_name(ns, key, generation));
    if expire_at_ms == 0 {
        batch.delete(name);
    } else {
        batch.put(
            name,
            Value::new(Bytes::copy_from_slice(&expire_at_ms.to_be_bytes())),
        );
    }
}

/// The keyspace's clock (unix ms).
pub(super) type Clock = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

/// The longest the reclaimer sleeps between passes while timed entries
/// wait (a clock that jumps is noticed within it).
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// The reclaimer's counters.
#[derive(Debug, Default)]
pub struct ReclaimStats {
    /// Replaced generations queued and not yet deleted (as of the last
    /// pass's start, less those it finished).
    pub pending: std::sync::atomic::AtomicU64,
    /// Member records deleted.
    pub members: std::sync::atomic::AtomicU64,
    /// Generations whose members are all deleted.
    pub generations: std::sync::atomic::AtomicU64,
}

/// Deletes the member records of replaced generations in the background:
/// a thread that takes the queue from the metadata namespace when woken
/// (after a write that queued one, and once at start).
pub(super) struct Reclaimer {
    /// What the reclaimer has done, for INFO and metrics.
    pub(super) stats: std::sync::Arc<ReclaimStats>,
    /// When the next pass starts on its own (unix ms; `u64::MAX`: not
    /// before a wake), 0 while a pass runs: a timed entry due later needs
    /// no wake ([`wake_by`](Self::wake_by)).
    next_pass: std::sync::Arc<std::sync::atomic::AtomicU64>,
    wake: Option<parking_lot::Mutex<mpsc::Sender<()>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the keyspace closes: a pass stops at its next batch (the
    /// queue keeps what is left for the next start).
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Reclaimer {
    /// Starts the thread; it ends when the reclaimer is dropped.
    pub(super) fn start(
        engine: Engine,
        clock: Clock,
        record_locks: std::sync::Arc<crate::locks::KeyLocks>,
    ) -> Reclaimer {
        let (tx, rx) = mpsc::channel::<()>();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let stats = std::sync::Arc::new(ReclaimStats::default());
        let counting = std::sync::Arc::clone(&stats);
        let next_pass = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let scheduling = std::sync::Arc::clone(&next_pass);
        let spawned = std::thread::Builder::new()
            .name("ringkv-reclaim".into())
            .spawn(move || {
                loop {
                    // Entries written from here on are seen by this pass,
                    // or their writers wake the next one.
                    scheduling.store(0, std::sync::atomic::Ordering::SeqCst);
                    let pass = reclaim_queued(&engine, &record_locks, &stopping, &counting, clock());
                    let next = match pass {
                        Ok(next) => next,
                        Err(e) => {
                            tracing::warn!(error = %e, "reclaiming replaced collection members failed");
                            None
                        }
                    };
                    let woken = match next {
                        None => {
                            scheduling.store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
                            rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
                        }
                        Some(at) => {
                            let now = clock();
                            let wait = std::time::Duration::from_millis(at.saturating_sub(now))
                                .min(MAX_SLEEP);
                            let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                            scheduling.store(
                                now.saturating_add(millis),
                                std::sync::atomic::Ordering::SeqCst,
                            );
                            rx.recv_timeout(wait)
                        }
                    };
                    if woken == Err(mpsc::RecvTimeoutError::Disconnected) {
                        return;
                    }
                    // Coalesce a burst of wake-ups into one pass.
                    while rx.try_recv().is_ok() {}
                }
            });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the member reclaimer");
                None
            }
        };
        Reclaimer {
            stats,
            next_pass,
            wake: Some(parking_lot::Mutex::new(tx)),
            thread,
            stop,
        }
    }

    /// Asks for a pass over the queue.
    pub(super) fn wake(&self) {
        if let Some(w) = &self.wake {
            let _ = w.lock().send(());
        }
    }

    /// Asks for a pass for a timed entry just written that is due at
    /// `due_ms` (0: an entry removed, nothing due sooner), unless the next
    /// pass comes no later anyway: an EXPIRE repeated on a large
    /// collection then costs no pass each (a pass reads the whole queue,
    /// and every version of a rewritten entry still in the memtable).
    pub(super) fn wake_by(&self, due_ms: u64) {
        if due_ms != 0 && due_ms < self.next_pass.load(std::sync::atomic::Ordering::SeqCst) {
            self.wake();
        }
    }
}

impl Drop for Reclaimer {
    /// Stops the thread and waits for it, so its handle on the engine (and
    /// the engine's directory lock) is gone when the keyspace is.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Deletes every queued generation's members that are due at `now`, then
/// its queue entry, until `stop` is set. Returns when the earliest entry
/// still waiting is due (`None`: none waits).
pub(crate) fn reclaim_queued(
    engine: &Engine,
    record_locks: &crate::locks::KeyLocks,
    stop: &std::sync::atomic::AtomicBool,
    stats: &ReclaimStats,
    now: u64,
) -> Result<Option<u64>> {
    use std::sync::atomic::Ordering::Relaxed;
    let queue_start = crate::namespace::meta_key(RECLAIM_PREFIX);
    let queue_end = prefix_end(&queue_start).unwrap_or_default();
    let queued: Vec<(Bytes, Bytes)> = engine
        .iter(
            Bound::Included(&queue_start[..]),
            Bound::Excluded(&queue_end[..]),
            None,
        )?
        .map(|item| item.map(|(k, v)| (k, v.data)))
        .collect::<std::result::Result<_, _>>()?;
    let mut waiting: Option<u64> = None;
    let mut due = Vec::with_capacity(queued.len());
    for (entry, at) in queued {
        let Some(members) = entry.get(queue_start.len()..) else {
            continue;
        };
        match waits_until(engine, record_locks, members, &at, now)? {
            Some(until) => waiting = Some(waiting.map_or(until, |w| w.min(until))),
            None => due.push(entry),
        }
    }
    stats.pending.store(due.len() as u64, Relaxed);
    for entry in due {
        let Some(members) = entry.get(queue_start.len()..) else {
            continue;
        };
        let index = score_index::index_prefix(members);
        for prefix in [members, &index[..]] {
            let Some(end) = prefix_end(prefix) else {
                continue;
            };
            loop {
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    return Ok(None);
                }
                let mut batch = WriteBatch::new();
                let mut n = 0usize;
                for item in engine.iter_uncached(
                    Bound::Included(prefix),
                    Bound::Excluded(&end[..]),
                    None,
                )? {
                    let (k, _) = item?;
                    batch.delete(k);
                    n += 1;
                    if n >= RECLAIM_BATCH {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
                engine.write(batch)?;
                stats.members.fetch_add(n as u64, Relaxed);
                engine.throttle();
            }
        }
        let mut done = WriteBatch::new();
        done.delete(entry.clone());
        engine.write(done)?;
        stats.generations.fetch_add(1, Relaxed);
        let _ = stats
            .pending
            .fetch_update(Relaxed, Relaxed, |p| Some(p.saturating_sub(1)));
    }
    Ok(waiting)
}

/// For a queue entry of `members` (a member prefix) with value `at`:
/// `None` if its members are to be deleted now, or when to look again.
/// An untimed entry is always due. A timed one is due once its time has
/// passed and no live header names the generation; while a live header
/// names it, the entry waits for that header's expiry (`u64::MAX`, checked
/// again at the next pass, for one without).
///
/// Decided under the key's record lock: a writer checks the header's
/// expiry and writes under it, so a write that saw the header live has
/// landed before this look (a PERSIST keeps the generation; a member
/// written just before the expiry is deleted with the rest), and every
/// write after it finds the header expired or gone, and so starts a new
/// generation. A generation found dead here stays dead.
fn waits_until(
    engine: &Engine,
    record_locks: &crate::locks::KeyLocks,
    members: &[u8],
    at: &[u8],
    now: u64,
) -> Result<Option<u64>> {
    let Ok(at) = <[u8; 8]>::try_from(at) else {
        return Ok(None);
    };
    let at = u64::from_be_bytes(at);
    if at > now {
        return Ok(Some(at));
    }
    let Some((ns, key, generation)) = split::parse_member_prefix(members) else {
        return Ok(None);
    };
    let _writers = record_locks.blocking_lock_one(crate::token::token(&key));
    let Some(stored) = engine.get(&crate::token::engine_key(ns, &key))? else {
        return Ok(None);
    };
    // A header that does not decode names nothing this entry could keep.
    match split::decode_stored(&stored, &key) {
        Ok(split::Stored::Split(h)) if h.generation == generation && !h.is_expired(now) => {
            Ok(Some(if h.expire_at_ms == 0 {
                u64::MAX
            } else {
                h.expire_at_ms
            }))
        }
        _ => Ok(None),
    }
}
