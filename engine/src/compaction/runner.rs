//! Running compactions: the background loop, the merge with its drop rules,
//! and the install.
//!
//! Drop rules, applied to each key's versions in sequence order (newest first):
//! 1. A version in the same snapshot stripe as a newer version of the key
//!    (`stripe`) is seen by no snapshot the newer one is not: dropped.
//! 2. An expired put becomes a tombstone dated at its expiry; a put the
//!    `CompactionFilter` deletes becomes a tombstone dated now (same seq).
//! 3. A tombstone is dropped only if (a) no live snapshot is older than it,
//!    (b) `tombstone_grace` has passed since its date, and (c) no file outside
//!    the compaction (as of the pick) could hold an older version of the key
//!    — checked per key against every other run. Versions it hides go with it
//!    (rule 1).
//!
//! Outputs are cut at `target_file_size` only between user keys, so a run's
//! files never share a key.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::strategy::{InputRun, PickContext, Reason, Task, manual_task, pick};
use super::stripe;
use crate::FilterDecision;
use crate::db::Inner;
use crate::error::{Error, Result};
use crate::iter::InternalIter;
use crate::iter::merge::MergeIter;
use crate::manifest::{AddedFile, VersionEdit};
use crate::sstable::builder::TableBuilder;
use crate::sstable::reader::RunIter;
use crate::sstable::sst_path;
use crate::stats::Counters;
use crate::value::{InternalValue, Kind};
use crate::version::{FileMeta, Version};

/// Every run's files that are not compaction inputs, for the per-key
/// "could an older version survive elsewhere?" check.
pub(crate) struct Others {
    runs: Vec<Vec<Arc<FileMeta>>>,
}

impl Others {
    /// The files of `v` not among `inputs`.
    pub(crate) fn new(v: &Version, inputs: &HashSet<u64>) -> Self {
        let runs = v
            .runs_by_age()
            .map(|(_, r)| {
                r.files
                    .iter()
                    .filter(|f| !inputs.contains(&f.number))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|r| !r.is_empty())
            .collect();
        Others { runs }
    }

    /// True if some other file holds `key` in its range with data older than `seq`.
    pub(crate) fn may_have_older(&self, key: &[u8], seq: u64) -> bool {
        self.runs.iter().any(|files| {
            let i = files.partition_point(|f| f.props.largest.as_ref() < key);
            files
                .get(i)
                .is_some_and(|f| f.props.smallest.as_ref() <= key && f.props.min_seq < seq)
        })
    }
}

/// Counters of one merge.
#[derive(Default)]
struct MergeOutcome {
    outputs: Vec<FileMeta>,
    dropped: u64,
}

impl Inner {
    /// A compaction thread's loop.
    pub(crate) fn compaction_loop(self: &Arc<Self>) {
        loop {
            {
                let mut g = self.bg.m.lock();
                if !g.compaction_requested && !g.shutdown {
                    self.bg.compact_cv.wait_for(&mut g, Duration::from_secs(1));
                }
                if g.shutdown {
                    return;
                }
                g.compaction_requested = false;
            }
            while self.bg_stopped().is_none() && !self.bg.m.lock().shutdown {
                let Some((task, others)) = self.start_task(None) else {
                    self.clear_passing_bg_error(crate::db::BgWork::Compaction);
                    break;
                };
                let r = self.execute(&task, &others);
                if self.finish_task(&task, r) {
                    self.backoff(crate::db::BG_RETRY);
                    break;
                }
            }
            let mut st = self.structure.lock();
            self.purge_obsolete(&mut st);
        }
    }

    /// Picks a task (or uses `manual`) and marks its inputs busy.
    fn start_task(&self, manual: Option<Task>) -> Option<(Task, Others)> {
        let mut st = self.structure.lock();
        let task = match manual {
            Some(t) => t,
            None => {
                if st.compaction.manual {
                    return None;
                }
                let ctx = PickContext {
                    version: &st.version,
                    opts: &self.opts,
                    busy: &st.compaction.busy,
                    pointers: &st.compaction.pointers,
                    ttl_exhausted: &st.compaction.ttl_exhausted,
                    now_ms: self.now_ms(),
                };
                pick(self.strategy(), &ctx)?
            }
        };
        let inputs: HashSet<u64> = task.files().map(|f| f.number).collect();
        let others = Others::new(&st.version, &inputs);
        st.compaction.busy.extend(inputs);
        st.compaction.running += 1;
        Some((task, others))
    }

    /// Releases `task`'s inputs and records its outcome; true if it failed.
    fn finish_task(&self, task: &Task, r: Result<()>) -> bool {
        let mut st = self.structure.lock();
        for f in task.files() {
            st.compaction.busy.remove(&f.number);
        }
        st.compaction.running -= 1;
        drop(st);
        let failed = match r {
            Ok(()) => {
                self.clear_passing_bg_error(crate::db::BgWork::Compaction);
                false
            }
            Err(Error::Closed) => false,
            Err(e) => {
                self.set_bg_error(&e, crate::db::BgWork::Compaction);
                true
            }
        };
        self.signal_done();
        failed
    }

    /// Runs `task` and installs its result.
    fn execute(&self, task: &Task, others: &Others) -> Result<()> {
        let started = Instant::now();
        if task.trivial_move {
            let mut st = self.structure.lock();
            let mut edit = VersionEdit::default();
            for f in task.files() {
                edit.deleted.push(f.number);
                edit.added.push(AddedFile {
                    level: task.output_level,
                    run_id: task.output_run_id,
                    meta: f.clone(),
                });
            }
            self.log_and_apply(&mut st, edit, None)?;
            self.advance_pointer(&mut st.compaction.pointers, task);
            drop(st);
            // Out of level 0, a table no longer earns its pinned blocks.
            if task.output_level > 0 {
                for f in task
                    .inputs
                    .iter()
                    .filter(|r| r.level == 0)
                    .flat_map(|r| &r.files)
                {
                    self.tables.reopen(f.number);
                }
            }
            Counters::add(&self.stats.compactions, 1);
            self.signal_compaction();
            return Ok(());
        }
        let outcome = self.merge(task, others)?;
        let mut st = self.structure.lock();
        let mut edit = VersionEdit::default();
        edit.deleted.extend(task.files().map(|f| f.number));
        let written: u64 = outcome.outputs.iter().map(|m| m.size).sum();
        let numbers: Vec<u64> = outcome.outputs.iter().map(|m| m.number).collect();
        for m in outcome.outputs {
            edit.added.push(AddedFile {
                level: task.output_level,
                run_id: task.output_run_id,
                meta: Arc::new(m),
            });
        }
        if let Err(e) = self.log_and_apply(&mut st, edit, None) {
            for n in numbers {
                let _ = std::fs::remove_file(sst_path(&self.dir, n));
            }
            return Err(e);
        }
        if task.reason == Reason::Ttl && outcome.dropped == 0 {
            st.compaction.ttl_exhausted.extend(numbers.iter().copied());
        }
        self.advance_pointer(&mut st.compaction.pointers, task);
        drop(st);
        Counters::add(&self.stats.compactions, 1);
        Counters::add(&self.stats.bytes_written_compaction, written);
        Counters::add(&self.stats.bytes_read_compaction, task.input_bytes());
        Counters::add(
            &self.stats.compaction_micros,
            started.elapsed().as_micros() as u64,
        );
        tracing::debug!(reason = ?task.reason, inputs = task.files().count(), in_bytes = task.input_bytes(), out_bytes = written, level = task.output_level, ms = started.elapsed().as_millis() as u64, "compaction done");
        self.signal_compaction();
        Ok(())
    }

    fn advance_pointer(&self, pointers: &mut [Option<bytes::Bytes>], task: &Task) {
        if let Some(first) = task.inputs.first() {
            if first.level > 0 && first.level + 1 == task.output_level {
                if let (Some(p), Some(f)) = (pointers.get_mut(first.level), first.files.last()) {
                    *p = Some(f.props.largest.clone());
                }
            }
        }
    }

    /// Merges the task's inputs into new files.
    fn merge(&self, task: &Task, others: &Others) -> Result<MergeOutcome> {
        let cache = self.tables.inner.clone();
        let children: Vec<Box<dyn InternalIter>> = task
            .inputs
            .iter()
            .map(|r: &InputRun| {
                Box::new(RunIter::new(r.files.clone(), cache.clone(), false))
                    as Box<dyn InternalIter>
            })
            .collect();
        let mut it = MergeIter::new(children);
        it.seek_first()?;
        let snapshots = self.snapshots.list();
        let now = self.now_ms();
        let grace = self.opts.tombstone_grace.as_millis() as u64;
        let filter = self.opts.compaction_filter.clone();
        let target = self.opts.target_file_size_bytes;
        let mut out = MergeOutcome::default();
        let mut builder: Option<(u64, TableBuilder)> = None;
        let mut cur_key: Vec<u8> = Vec::new();
        let mut have_key = false;
        let mut last_stripe: Option<usize> = None;
        let mut steps: u64 = 0;
        let mut written_before: u64 = 0;
        let started = Instant::now();
        let result = (|| -> Result<()> {
            while it.valid() {
                steps += 1;
                if steps % 1024 == 0 {
                    if self.bg.m.lock().shutdown {
                        return Err(Error::Closed);
                    }
                    let cur = builder.as_ref().map_or(0, |(_, b)| b.estimated_size());
                    self.rate_limit(started, written_before + cur);
                }
                let seq = it.seq();
                if !have_key || it.user_key() != &cur_key[..] {
                    cur_key.clear();
                    cur_key.extend_from_slice(it.user_key());
                    have_key = true;
                    last_stripe = None;
                    if builder
                        .as_ref()
                        .is_some_and(|(_, b)| b.estimated_size() >= target)
                    {
                        if let Some((n, b)) = builder.take() {
                            let (size, props) = b.finish(now)?;
                            written_before += size;
                            out.outputs.push(FileMeta {
                                number: n,
                                size,
                                props,
                            });
                        }
                    }
                }
                let s = stripe(&snapshots, seq);
                if last_stripe == Some(s) {
                    Counters::add(&self.stats.versions_dropped, 1);
                    out.dropped += 1;
                    it.next()?;
                    continue;
                }
                last_stripe = Some(s);
                // The entry as it is written, unless expiry or the filter
                // turn it into a tombstone (borrowed: most entries pass
                // through unchanged, and a clone is two atomic operations).
                let stored = it.value();
                let mut replaced: Option<InternalValue> = None;
                let mut expired = false;
                if stored.kind == Kind::Put {
                    if stored.is_expired(now) {
                        let marker = filter
                            .as_ref()
                            .and_then(|f| f.expired(&cur_key, &stored.data, stored.time_ms, now))
                            .filter(|(_, until)| *until > now);
                        replaced = Some(match marker {
                            Some((data, time_ms)) => {
                                Counters::add(&self.stats.expired_markers, 1);
                                InternalValue {
                                    kind: Kind::Put,
                                    data,
                                    time_ms,
                                }
                            }
                            None => {
                                expired = true;
                                InternalValue::tombstone(stored.time_ms)
                            }
                        });
                    } else if let Some(f) = &filter {
                        match f.decide(&cur_key, &stored.data, stored.time_ms) {
                            FilterDecision::Keep => {}
                            FilterDecision::Delete => {
                                Counters::add(&self.stats.filter_deleted, 1);
                                replaced = Some(InternalValue::tombstone(now));
                            }
                            FilterDecision::Replace(data) => {
                                replaced = Some(InternalValue {
                                    kind: Kind::Put,
                                    data,
                                    time_ms: stored.time_ms,
                                });
                            }
                        }
                    }
                }
                let v = replaced.as_ref().unwrap_or(stored);
                if v.kind == Kind::Delete
                    && s == 0
                    && now >= v.time_ms.saturating_add(grace)
                    && !others.may_have_older(&cur_key, seq)
                {
                    let c = if expired {
                        &self.stats.expired_dropped
                    } else {
                        &self.stats.tombstones_dropped
                    };
                    Counters::add(c, 1);
                    out.dropped += 1;
                    it.next()?;
                    continue;
                }
                if builder.is_none() {
                    let n = self.next_file.fetch_add(1, Ordering::SeqCst);
                    let b = TableBuilder::create(
                        &sst_path(&self.dir, n),
                        self.opts.block_size_bytes,
                        self.opts.bloom_bits_per_key,
                    )?;
                    builder = Some((n, b));
                }
                if let Some((_, b)) = builder.as_mut() {
                    b.add(&cur_key, seq, v)?;
                }
                it.next()?;
            }
            if let Some((n, b)) = builder.take() {
                let (size, props) = b.finish(now)?;
                out.outputs.push(FileMeta {
                    number: n,
                    size,
                    props,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            if let Some((n, _)) = builder {
                let _ = std::fs::remove_file(sst_path(&self.dir, n));
            }
            for m in &out.outputs {
                let _ = std::fs::remove_file(sst_path(&self.dir, m.number));
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Sleeps so that `written` bytes since `started` stay under the rate limit.
    fn rate_limit(&self, started: Instant, written: u64) {
        let rate = self.rate_limit.load(Ordering::Relaxed);
        if rate == 0 {
            return;
        }
        let due = Duration::from_secs_f64(written as f64 / rate as f64);
        let elapsed = started.elapsed();
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(Duration::from_millis(200)));
        }
    }

    /// See `Engine::compact_all`.
    pub(crate) fn compact_all(&self) -> Result<()> {
        self.flush_all()?;
        let _one_at_a_time = self.manual_lock.lock();
        self.structure.lock().compaction.manual = true;
        let r = (|| {
            loop {
                if self.structure.lock().compaction.running == 0 {
                    break;
                }
                if let Some(e) = self.bg_error() {
                    return Err(e);
                }
                if self.closed.load(Ordering::Acquire) {
                    return Err(Error::Closed);
                }
                self.wait_done(Duration::from_millis(20));
            }
            let task = {
                let st = self.structure.lock();
                let id = self.next_file.fetch_add(1, Ordering::SeqCst);
                manual_task(self.strategy(), &st.version, id)
            };
            let Some(task) = task else { return Ok(()) };
            let (task, others) = self.start_task(Some(task)).ok_or(Error::Closed)?;
            let r = self.execute(&task, &others);
            let failed = r.as_ref().err().map(Error::duplicate);
            let _ = self.finish_task(&task, r);
            match failed {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })();
        self.structure.lock().compaction.manual = false;
        self.signal_compaction();
        r
    }

    /// See `Engine::set_compaction_strategy`.
    pub(crate) fn set_strategy(&self, s: crate::options::CompactionStrategy) -> Result<()> {
        let mut st = self.structure.lock();
        let old = self
            .strategy
            .swap(crate::db::strategy_code(s), Ordering::Relaxed);
        if old == crate::db::strategy_code(s) {
            return Ok(());
        }
        let edit = VersionEdit {
            strategy: Some(s),
            ..VersionEdit::default()
        };
        if let Err(e) = self.log_and_apply(&mut st, edit, None) {
            self.strategy.store(old, Ordering::Relaxed);
            return Err(e);
        }
        drop(st);
        tracing::info!(strategy = %s, "compaction strategy switched");
        self.signal_compaction();
        self.signal_done();
        Ok(())
    }
}
