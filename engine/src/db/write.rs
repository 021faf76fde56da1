//! The write path: sequence assignment, WAL buffering, memtable insert,
//! rotation, the hard stop when memtables are full, throttling, shutdown and
//! stats.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Inner, Structure};
use crate::batch::{
    BatchOp, WriteBatch, encode_batch_sharing, encoded_batch_len, shared_value_crcs,
};
use crate::compaction::stall::WritePressure;
use crate::error::{Error, Result};
use crate::format::{LOG_MAX_PAYLOAD, WAL_RECORD_BATCH};
use crate::manifest::VersionEdit;
use crate::memtable::{Memtable, NewVersion, prepare};
use crate::stats::{Counters, LevelStats, Stats};
use crate::value::Kind;
use crate::version::SuperVersion;
use crate::wal::committer::FLUSH_THRESHOLD;
use crate::wal::{WalFile, record};

/// Refuses a batch whose WAL payload would be larger than one log record
/// may be: replay treats such a record as damaged (`docs/formats/wal.md`
/// §2), so writing it would acknowledge a write that a restart loses.
/// Reachable only with limits raised far past Redis's defaults (a value
/// over 1 GiB).
fn check_batch_len(encoded_len: usize) -> Result<()> {
    if encoded_len > LOG_MAX_PAYLOAD {
        return Err(Error::InvalidArgument(format!(
            "a write of {encoded_len} bytes is larger than the {LOG_MAX_PAYLOAD} bytes one log record holds"
        )));
    }
    Ok(())
}

/// A batch with fewer key and value bytes than this has no record long
/// enough for `prepare` to copy (a shortcut for the common write).
const PREPARE_ABOVE: usize = 64 * 1024;

impl Inner {
    /// See `Engine::write`.
    pub(crate) fn write(&self, batch: &WriteBatch) -> Result<u64> {
        self.check_writable()?;
        if batch.is_empty() {
            return Ok(self.visible_seq.load(Ordering::Acquire));
        }
        let encoded_len = encoded_batch_len(batch);
        check_batch_len(encoded_len)?;
        // Long values are checksummed for the log and copied for the
        // memtable before the write lock is taken: done under it, every
        // other write waited for them.
        let shared_crcs = shared_value_crcs(batch);
        let mut prepared: Vec<_> = if batch.payload_bytes > PREPARE_ABOVE {
            batch
                .ops
                .iter()
                .map(|op| match op {
                    BatchOp::Put(k, v) => prepare(k, &v.data),
                    BatchOp::Delete(_) => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.make_room()?;
        let now = self.now_ms();
        let n = batch.len() as u64;
        let mut w = self.write.lock();
        // Again under the lock: a failed WAL append poisons the committer,
        // then discards what the buffer holds under this lock, so a record
        // must not join the buffer after that (see `wal::committer`).
        self.check_writable()?;
        let start = w.next_seq;
        let last = start + n - 1;
        {
            let log = &mut w.log;
            let (buf, shared) = (&mut log.buf, &mut log.shared);
            if shared_crcs.is_empty() {
                buf.reserve(encoded_len + 9);
            }
            let h = record::reserve_header(buf);
            let first_shared = shared.len();
            encode_batch_sharing(buf, Some((shared, &shared_crcs)), start, now, batch);
            let this_record = shared.get(first_shared..).unwrap_or_default();
            record::finish_header_sharing(buf, h, WAL_RECORD_BATCH, this_record);
        }
        w.log.last_seq = last;
        w.mem
            .insert_all((start..).zip(batch.ops.iter().enumerate()).map(
                |(seq, (i, op))| match op {
                    BatchOp::Put(k, v) => NewVersion {
                        user: k,
                        seq,
                        kind: Kind::Put,
                        time_ms: v.expire_at_ms,
                        data: &v.data,
                        prepared: prepared.get_mut(i).and_then(Option::take),
                    },
                    BatchOp::Delete(k) => NewVersion {
                        user: k,
                        seq,
                        kind: Kind::Delete,
                        time_ms: now,
                        data: &[],
                        prepared: None,
                    },
                },
            ));
        w.next_seq = last + 1;
        // Publishing after every insert makes the batch visible atomically.
        self.visible_seq.store(last, Ordering::Release);
        let signal = w.log.pending_len() >= FLUSH_THRESHOLD && !w.log.signalled;
        if signal {
            w.log.signalled = true;
        }
        if w.mem.approx_bytes() >= self.opts.memtable_size_bytes {
            if let Err(e) = self.maybe_rotate(&mut w) {
                // The batch is applied; the next write retries the rotation and reports.
                tracing::warn!(error = %e, "could not start a new WAL; memtable keeps growing");
            }
        }
        drop(w);
        if signal {
            self.committer.request();
        }
        Counters::add(&self.stats.user_bytes_written, batch.payload_bytes as u64);
        Counters::add(&self.stats.writes, 1);
        Ok(last)
    }

    /// Freezes the active memtable if fewer than `max_immutable_memtables`
    /// wait (or `force`). Caller holds the write lock. Returns whether it rotated.
    pub(crate) fn rotate_locked(&self, w: &mut super::WriteState, force: bool) -> Result<bool> {
        if w.mem.is_empty() {
            return Ok(false);
        }
        if !force && self.current_sv().imms.len() >= self.opts.max_immutable_memtables {
            return Ok(false);
        }
        let n = self.next_file.fetch_add(1, Ordering::SeqCst);
        let file = Arc::new(WalFile::create(&self.dir, n)?);
        w.log.rotate(file);
        // Sized for as many keys as the one it replaces, at most one per
        // 64 bytes of the memtable's budget.
        let keys = w.mem.key_count().min(self.opts.memtable_size_bytes / 64);
        let old = std::mem::replace(&mut w.mem, Arc::new(Memtable::sized_for(n, keys)));
        old.seal(w.next_seq.saturating_sub(1));
        self.sv.rcu(|g| {
            let mut imms = Vec::with_capacity(g.imms.len() + 1);
            imms.push(old.clone());
            imms.extend(g.imms.iter().cloned());
            SuperVersion {
                mem: w.mem.clone(),
                imms,
                version: g.version.clone(),
            }
        });
        self.committer.request();
        self.signal_flush();
        Ok(true)
    }

    fn maybe_rotate(&self, w: &mut super::WriteState) -> Result<bool> {
        self.rotate_locked(w, false)
    }

    /// Blocks while the memtable is full and the immutable list is full (the
    /// hard stop that bounds memory); rotates when there is room.
    fn make_room(&self) -> Result<()> {
        let limit = self.opts.memtable_size_bytes;
        let mut stalled: Option<Instant> = None;
        let result = loop {
            let (mem_bytes, imms) = {
                let sv = self.sv_now();
                (sv.mem.approx_bytes(), sv.imms.len())
            };
            if mem_bytes < limit {
                break Ok(());
            }
            if imms < self.opts.max_immutable_memtables {
                let mut w = self.write.lock();
                if w.mem.approx_bytes() >= limit {
                    if let Err(e) = self.maybe_rotate(&mut w) {
                        break Err(e);
                    }
                }
                continue;
            }
            if let Some(e) = self.bg_error() {
                break Err(e);
            }
            if let Err(e) = self.check_writable() {
                break Err(e);
            }
            if stalled.is_none() {
                stalled = Some(Instant::now());
                Counters::add(&self.stats.stall_stops, 1);
            }
            self.signal_flush();
            self.wait_done(Duration::from_millis(50));
        };
        if let Some(t) = stalled {
            Counters::add(&self.stats.stall_micros, t.elapsed().as_micros() as u64);
        }
        result
    }

    /// See `Engine::write_pressure`.
    pub(crate) fn write_pressure(&self) -> WritePressure {
        let sv = self.sv_now();
        // The immutable list first: the active memtable's size is written
        // by every insert, so reading it moves its cache line from the core
        // that wrote last (1.6% of SET -P16 when it came first).
        if sv.imms.len() >= self.opts.max_immutable_memtables
            && sv.mem.approx_bytes() >= self.opts.memtable_size_bytes
        {
            return WritePressure::Stop;
        }
        crate::compaction::stall::pressure(
            &self.opts,
            self.stall_runs.load(Ordering::Relaxed),
            self.pending_compaction_bytes.load(Ordering::Relaxed),
        )
    }

    /// See `Engine::throttle`.
    pub(crate) fn throttle(&self) {
        let start = Instant::now();
        let mut stopped = false;
        loop {
            match self.write_pressure() {
                WritePressure::Normal => break,
                WritePressure::Slowdown { delay } => {
                    Counters::add(&self.stats.stall_slowdowns, 1);
                    std::thread::sleep(delay);
                    break;
                }
                WritePressure::Stop => {
                    if !stopped {
                        stopped = true;
                        Counters::add(&self.stats.stall_stops, 1);
                    }
                    if self.bg_error().is_some() || self.check_writable().is_err() {
                        break;
                    }
                    self.signal_flush();
                    self.signal_compaction();
                    self.wait_done(Duration::from_millis(50));
                }
            }
        }
        let waited = start.elapsed();
        if waited > Duration::from_micros(50) {
            Counters::add(&self.stats.stall_micros, waited.as_micros() as u64);
        }
    }

    /// Appends `edit` to the manifest and installs the version it produces.
    /// Caller holds the structure lock (`st`). A manifest failure is sticky.
    pub(crate) fn log_and_apply(
        &self,
        st: &mut Structure,
        mut edit: VersionEdit,
        flushed: Option<&Arc<Memtable>>,
    ) -> Result<()> {
        if let Some(e) = self.bg_stopped() {
            return Err(e);
        }
        edit.next_file_number = Some(self.next_file.load(Ordering::SeqCst));
        // The directory entries of the files the edit names (new SSTables, a
        // new live WAL) must be durable before the edit is: after a power cut
        // `open` refuses a manifest naming a file that is not there.
        if !edit.added.is_empty() || edit.log_number.is_some() {
            crate::wal::sync_dir(&self.dir)?;
        }
        if let Err(e) = st.manifest.append(&edit) {
            self.set_bg_error(&e, super::BgWork::Manifest);
            return Err(e);
        }
        if let Some(l) = edit.log_number {
            st.log_number = l;
        }
        if let Some(s) = edit.last_seq {
            st.last_seq = st.last_seq.max(s);
        }
        let new_version = Arc::new(st.version.apply(&edit));
        for f in st.version.files() {
            if edit.deleted.contains(&f.number)
                && !edit.added.iter().any(|a| a.meta.number == f.number)
            {
                st.obsolete.push(f.clone());
            }
        }
        st.version = new_version.clone();
        self.sv.rcu(|g| {
            let imms = match flushed {
                Some(m) => g
                    .imms
                    .iter()
                    .filter(|x| !Arc::ptr_eq(x, m))
                    .cloned()
                    .collect(),
                None => g.imms.clone(),
            };
            SuperVersion {
                mem: g.mem.clone(),
                imms,
                version: new_version.clone(),
            }
        });
        self.refresh_pressure(st);
        self.purge_obsolete(st);
        Ok(())
    }

    /// Recomputes the stall measure and compaction debt for `st.version`.
    pub(crate) fn refresh_pressure(&self, st: &Structure) {
        let (runs, pending) =
            crate::compaction::stall::measure(&st.version, &self.opts, self.strategy());
        self.stall_runs.store(runs, Ordering::Relaxed);
        self.pending_compaction_bytes
            .store(pending, Ordering::Relaxed);
    }

    /// Deletes obsolete SSTables no reader holds any more.
    pub(crate) fn purge_obsolete(&self, st: &mut Structure) {
        st.obsolete.retain(|f| {
            if Arc::strong_count(f) > 1 {
                return true;
            }
            self.tables.evict(f.number);
            let p = crate::sstable::sst_path(&self.dir, f.number);
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %p.display(), error = %e, "could not delete obsolete SSTable");
                }
            }
            false
        });
    }

    /// See `Engine::shutdown`.
    pub(crate) fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let r = self.committer.sync_now(self);
        {
            let mut g = self.bg.m.lock();
            g.shutdown = true;
            self.bg.flush_cv.notify_all();
            self.bg.compact_cv.notify_all();
            self.bg.done_cv.notify_all();
        }
        self.committer.request_shutdown();
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        let mut st = self.structure.lock();
        self.purge_obsolete(&mut st);
        r
    }

    /// See `Engine::stats`.
    pub(crate) fn stats(&self) -> Stats {
        let sv = self.current_sv();
        let c = &self.stats;
        let g = Counters::get;
        let levels: Vec<LevelStats> = sv
            .version
            .levels
            .iter()
            .map(|l| LevelStats {
                files: l.files(),
                runs: l.runs.len(),
                bytes: l.bytes(),
            })
            .collect();
        let user = g(&c.user_bytes_written);
        let flushed = g(&c.bytes_written_flush);
        let compacted = g(&c.bytes_written_compaction);
        let reads = g(&c.point_reads);
        let probed = g(&c.sstables_probed);
        let flush_error = self.bg_error.lock().as_ref().map(|b| b.text.clone());
        let wal_error = self.committer.poison_text();
        let background_error = flush_error.clone().or_else(|| wal_error.clone());
        Stats {
            seq: self.visible_seq.load(Ordering::Acquire),
            memtable_bytes: sv.mem.approx_bytes() as u64,
            immutable_memtables: sv.imms.len(),
            immutable_memtable_bytes: sv.imms.iter().map(|m| m.approx_bytes() as u64).sum(),
            wal_bytes: self.committer.bytes_written.load(Ordering::Relaxed),
            l0_runs: levels.first().map_or(0, |l| l.runs),
            levels,
            stall_runs: self.stall_runs.load(Ordering::Relaxed),
            pending_compaction_bytes: self.pending_compaction_bytes.load(Ordering::Relaxed),
            compaction_strategy: self.strategy(),
            flushes: g(&c.flushes),
            compactions: g(&c.compactions),
            bytes_written_wal: user,
            bytes_written_flush: flushed,
            bytes_written_compaction: compacted,
            bytes_read_compaction: g(&c.bytes_read_compaction),
            compaction_micros: g(&c.compaction_micros),
            write_amplification: if user == 0 {
                0.0
            } else {
                (flushed + compacted) as f64 / user as f64
            },
            sstables_probed: probed,
            point_reads: reads,
            probes_per_read: if reads == 0 {
                0.0
            } else {
                probed as f64 / reads as f64
            },
            bloom_checks: g(&c.bloom_checks),
            bloom_useful: g(&c.bloom_useful),
            bloom_false_positives: g(&c.bloom_false_positives),
            block_cache_hits: g(&c.block_cache_hits),
            block_cache_misses: g(&c.block_cache_misses),
            block_cache_bytes: self.tables.cache_bytes(),
            block_cache_capacity: self.tables.cache_capacity(),
            block_cache_pinned_bytes: self.tables.pinned_bytes(),
            row_cache_hits: g(&c.row_cache_hits),
            row_cache_fills: g(&c.row_cache_fills),
            row_cache_bytes: self.tables.row_cache_bytes(),
            stall_slowdowns: g(&c.stall_slowdowns),
            stall_stops: g(&c.stall_stops),
            stall_micros: g(&c.stall_micros),
            tombstones_dropped: g(&c.tombstones_dropped),
            expired_dropped: g(&c.expired_dropped),
            expired_markers: g(&c.expired_markers),
            versions_dropped: g(&c.versions_dropped),
            live_sst_bytes: sv.version.total_bytes(),
            open_files: self.tables.open_files(),
            snapshots: self.snapshots.list().len(),
            writes: g(&c.writes),
            wal_write_failures: self.committer.write_failures.load(Ordering::Relaxed),
            wal_write_recoveries: self.committer.recoveries.load(Ordering::Relaxed),
            background_error,
            wal_error,
            flush_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_larger_than_one_log_record_is_refused() {
        assert!(check_batch_len(LOG_MAX_PAYLOAD).is_ok());
        let err = check_batch_len(LOG_MAX_PAYLOAD + 1).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
