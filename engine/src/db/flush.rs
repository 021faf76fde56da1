//! Flush: an immutable memtable becomes a level-0 SSTable (one new sorted
//! run), the manifest records it with the new log number, the memtable leaves
//! the super-version in the same swap, and its WAL files are deleted.
//!
//! At flush, versions no snapshot can see (hidden by a newer version of the
//! same key in this memtable) are dropped, and expired values become
//! tombstones dated at their expiry (smaller, and they still shadow older
//! versions in SSTables).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Inner, Structure};
use crate::compaction::stripe;
use crate::error::{Error, Result};
use crate::manifest::{AddedFile, VersionEdit};
use crate::memtable::{Memtable, Visit};
use crate::options::Options;
use crate::sstable::builder::TableBuilder;
use crate::sstable::sst_path;
use crate::stats::Counters;
use crate::value::InternalValue;
use crate::version::FileMeta;
use crate::wal::wal_path;

/// Writes `mem` as SSTable `number` in `dir`. Returns `None` (and no file) if
/// nothing survives, plus the memtable's highest sequence.
pub(crate) fn write_memtable(
    dir: &Path,
    number: u64,
    mem: &Memtable,
    opts: &Options,
    snapshots: &[u64],
    now_ms: u64,
    stats: &Counters,
) -> Result<(Option<FileMeta>, u64)> {
    let path = sst_path(dir, number);
    let mut b = TableBuilder::create(&path, opts.block_size_bytes, opts.bloom_bits_per_key)?;
    let mut max_seq = 0;
    // The key and visibility stripe of the last version written.
    let mut last_key: Vec<u8> = Vec::new();
    let mut last_stripe: Option<usize> = None;
    let r = mem.for_each(|key, seq, v| {
        max_seq = max_seq.max(seq);
        let s = stripe(snapshots, seq);
        if last_stripe == Some(s) && last_key == key {
            Counters::add(&stats.versions_dropped, 1);
            return Ok(Visit::Older);
        }
        last_key.clear();
        last_key.extend_from_slice(key);
        last_stripe = Some(s);
        let v = v.read();
        // An expired put goes as it is when the embedder judges expiry
        // (compaction asks it what to keep).
        if opts.hide_expired && v.is_expired(now_ms) {
            Counters::add(&stats.expired_dropped, 1);
            b.add(key, seq, &InternalValue::tombstone(v.time_ms))?;
        } else {
            b.add(key, seq, &v)?;
        }
        // Stripe 0: no live snapshot lies below this version, so every
        // older one is hidden from every reader; they are not visited.
        Ok(if s == 0 { Visit::NextKey } else { Visit::Older })
    });
    if let Err(e) = r {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    if b.is_empty() {
        drop(b);
        let _ = std::fs::remove_file(&path);
        return Ok((None, max_seq));
    }
    let (size, props) = match b.finish(now_ms) {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    Ok((
        Some(FileMeta {
            number,
            size,
            props,
        }),
        max_seq,
    ))
}

impl Inner {
    /// The flush thread's loop.
    pub(crate) fn flush_loop(self: &Arc<Self>) {
        loop {
            {
                let mut g = self.bg.m.lock();
                if !g.flush_requested && !g.shutdown {
                    self.bg
                        .flush_cv
                        .wait_for(&mut g, Duration::from_millis(500));
                }
                if g.shutdown {
                    return;
                }
                g.flush_requested = false;
            }
            if self.bg_stopped().is_some() {
                continue;
            }
            while let Some(mem) = self.current_sv().imms.last().cloned() {
                if self.bg.m.lock().shutdown {
                    return;
                }
                match self.flush_one(&mem) {
                    Ok(()) => self.clear_passing_bg_error(super::BgWork::Flush),
                    Err(Error::Closed) => return,
                    Err(e) => {
                        self.set_bg_error(&e, super::BgWork::Flush);
                        self.backoff(super::BG_RETRY);
                        break;
                    }
                }
            }
            if self.current_sv().imms.is_empty() {
                self.clear_passing_bg_error(super::BgWork::Flush);
            }
        }
    }

    /// Flushes the oldest immutable memtable `mem`.
    fn flush_one(&self, mem: &Arc<Memtable>) -> Result<()> {
        // Every record of `mem` must be in its WAL (or discarded after a
        // failed append) first: an SSTable never carries a failed write.
        let sealed = mem.sealed_seq();
        if sealed > 0 {
            self.committer.wait_written(sealed, self)?;
        }
        let number = self.next_file.fetch_add(1, Ordering::SeqCst);
        let snapshots = self.snapshots.list();
        let (meta, max_seq) = write_memtable(
            &self.dir,
            number,
            mem,
            &self.opts,
            &snapshots,
            self.now_ms(),
            &self.stats,
        )?;
        let mut st = self.structure.lock();
        // The memtable after `mem` (next newer) holds the oldest still-needed WAL.
        let next_log = {
            let sv = self.current_sv();
            let pos = sv.imms.iter().position(|m| Arc::ptr_eq(m, mem));
            match pos {
                Some(0) | None => sv.mem.wal_number,
                Some(i) => sv
                    .imms
                    .get(i - 1)
                    .map_or(sv.mem.wal_number, |m| m.wal_number),
            }
        };
        // The edit names WAL `next_log` as the live log: its header must be
        // durable first, or a power cut could leave the manifest naming a WAL
        // that `open` refuses as shorter than its header.
        if let Err(e) = crate::wal::sync_existing(&self.dir, next_log) {
            if meta.is_some() {
                let _ = std::fs::remove_file(sst_path(&self.dir, number));
            }
            return Err(e);
        }
        let mut edit = VersionEdit {
            log_number: Some(next_log),
            last_seq: Some(max_seq),
            ..VersionEdit::default()
        };
        if let Some(m) = &meta {
            edit.added.push(AddedFile {
                level: 0,
                run_id: number,
                meta: Arc::new(m.clone()),
            });
        }
        // Before the super-version without `mem` is published (see
        // `Inner::flushed_seq`).
        self.flushed_seq
            .fetch_max(max_seq.max(sealed), Ordering::AcqRel);
        if let Err(e) = self.install(&mut st, edit, Some(mem)) {
            if meta.is_some() {
                let _ = std::fs::remove_file(sst_path(&self.dir, number));
            }
            return Err(e);
        }
        drop(st);
        if let Some(m) = &meta {
            Counters::add(&self.stats.bytes_written_flush, m.size);
        }
        Counters::add(&self.stats.flushes, 1);
        for n in mem.wal_number..next_log {
            let p = wal_path(&self.dir, n);
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %p.display(), error = %e, "could not delete flushed WAL");
                }
            }
        }
        self.signal_done();
        self.signal_compaction();
        Ok(())
    }

    /// `log_and_apply`, also removing the flushed memtable `flushed` from the
    /// super-version in the same swap (so no reader sees it missing from both).
    pub(crate) fn install(
        &self,
        st: &mut Structure,
        edit: VersionEdit,
        flushed: Option<&Arc<Memtable>>,
    ) -> Result<()> {
        self.log_and_apply(st, edit, flushed)
    }

    /// See `Engine::flush`.
    pub(crate) fn flush_all(&self) -> Result<()> {
        self.check_writable()?;
        {
            let mut w = self.write.lock();
            self.rotate_locked(&mut w, true)?;
        }
        self.signal_flush();
        loop {
            if self.current_sv().imms.is_empty() {
                return Ok(());
            }
            if let Some(e) = self.bg_error() {
                return Err(e);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            self.signal_flush();
            self.wait_done(Duration::from_millis(50));
        }
    }
}
