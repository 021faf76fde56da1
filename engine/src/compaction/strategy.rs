//! The compaction decision as a pure function: `pick(strategy, ctx)` looks at
//! a version (plus busy files, round-robin pointers and the clock) and returns
//! at most one `Task`; it has no side effects, so tests and simulators can
//! call it directly.
//!
//! Shared by both strategies: the TTL/tombstone pick. A file whose properties
//! show that most of it is tombstones or expired values past their grace is
//! compacted on its own (if no older data overlaps it, so the garbage can
//! really go) — leveled pushes it into the next level otherwise.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::{leveled, tiered};
use crate::options::{CompactionStrategy, Options};
use crate::version::{FileMeta, NUM_LEVELS, Version};

/// Why a task was chosen (for logs and stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Level 0 reached its trigger (leveled).
    Level0,
    /// A level exceeded its target size (leveled).
    LevelSize,
    /// A file moved down without rewriting (no overlap below).
    TrivialMove,
    /// A bucket of similar-size runs reached the threshold (size-tiered).
    Tiered,
    /// Garbage (tombstones, expired values) past grace.
    Ttl,
    /// `compact_all`.
    Manual,
}

/// One sorted run's worth of input files (disjoint, ascending).
#[derive(Clone, Debug)]
pub(crate) struct InputRun {
    pub(crate) level: usize,
    pub(crate) files: Vec<Arc<FileMeta>>,
}

/// A compaction to run: merge `inputs` into one sorted run placed at
/// `output_level` with id `output_run_id`.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub(crate) inputs: Vec<InputRun>,
    pub(crate) output_level: usize,
    pub(crate) output_run_id: u64,
    pub(crate) reason: Reason,
    /// Move the (single) input file to `output_level` without rewriting it.
    pub(crate) trivial_move: bool,
}

impl Task {
    /// Every input file.
    pub(crate) fn files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.inputs.iter().flat_map(|r| r.files.iter())
    }

    /// Total input bytes.
    pub(crate) fn input_bytes(&self) -> u64 {
        self.files().map(|f| f.size).sum()
    }
}

/// What the decision looks at.
pub(crate) struct PickContext<'a> {
    pub(crate) version: &'a Version,
    pub(crate) opts: &'a Options,
    pub(crate) busy: &'a HashSet<u64>,
    pub(crate) pointers: &'a [Option<Bytes>; NUM_LEVELS],
    pub(crate) ttl_exhausted: &'a HashSet<u64>,
    pub(crate) now_ms: u64,
}

impl PickContext<'_> {
    /// True if any of `files` is an input of a running compaction.
    pub(crate) fn any_busy<'f>(&self, mut files: impl Iterator<Item = &'f Arc<FileMeta>>) -> bool {
        files.any(|f| self.busy.contains(&f.number))
    }
}

/// The next compaction under `s`, if any is due.
pub(crate) fn pick(s: CompactionStrategy, ctx: &PickContext<'_>) -> Option<Task> {
    let task = match s {
        CompactionStrategy::Leveled => leveled::pick(ctx),
        CompactionStrategy::SizeTiered => tiered::pick(ctx),
    };
    task.or_else(|| pick_ttl(s, ctx))
}

/// Estimated entries of `f` that compaction could drop now: tombstones and
/// expired values past `grace_ms` (from the properties' time bounds).
pub(crate) fn droppable_estimate(f: &FileMeta, now_ms: u64, grace_ms: u64) -> u64 {
    let p = &f.props;
    let tomb = if p.tombstones > 0 && p.newest_tombstone_ms.saturating_add(grace_ms) <= now_ms {
        p.tombstones
    } else {
        0
    };
    tomb + expired_estimate(f, now_ms, grace_ms)
}

/// Estimated expired values of `f` at `now_ms` (from the properties' time
/// bounds): a compaction of the file alone rewrites each smaller (a
/// tombstone, or the embedder's marker) even where it cannot drop it.
fn expired_estimate(f: &FileMeta, now_ms: u64, grace_ms: u64) -> u64 {
    let p = &f.props;
    if p.expiring == 0 || p.earliest_expiry.saturating_add(grace_ms) > now_ms {
        0
    } else if p.latest_expiry.saturating_add(grace_ms) <= now_ms {
        p.expiring
    } else {
        p.expiring / 2
    }
}

/// Share of a file that must be droppable before it is compacted on its own.
const TTL_GARBAGE_RATIO: f64 = 0.3;

/// True when some other file overlapping `f`'s key range holds data older
/// than `f`'s newest entry (so `f`'s tombstones may still hide something).
pub(crate) fn older_data_overlaps(v: &Version, f: &FileMeta) -> bool {
    v.files().any(|g| {
        g.number != f.number
            && g.overlaps(&f.props.smallest, &f.props.largest)
            && g.props.min_seq < f.props.max_seq
    })
}

fn pick_ttl(s: CompactionStrategy, ctx: &PickContext<'_>) -> Option<Task> {
    let grace = ctx.opts.tombstone_grace.as_millis() as u64;
    let v = ctx.version;
    let deepest = v.deepest_nonempty();
    for (level, lv) in v.levels.iter().enumerate() {
        for run in &lv.runs {
            for f in &run.files {
                if ctx.busy.contains(&f.number)
                    || ctx.ttl_exhausted.contains(&f.number)
                    || f.props.entries == 0
                {
                    continue;
                }
                let mostly = |n: u64| n as f64 >= TTL_GARBAGE_RATIO * f.props.entries as f64;
                if !mostly(droppable_estimate(f, ctx.now_ms, grace)) {
                    continue;
                }
                // The file alone, rewritten where it is.
                let in_place = || Task {
                    inputs: vec![InputRun {
                        level,
                        files: vec![f.clone()],
                    }],
                    output_level: level,
                    output_run_id: run.id,
                    reason: Reason::Ttl,
                    trivial_move: false,
                };
                // At the bottom the runner decides key by key what can go; if
                // nothing could, the output is marked exhausted and not re-picked.
                if level == deepest || !older_data_overlaps(v, f) {
                    return Some(in_place());
                }
                if s == CompactionStrategy::Leveled && level > 0 && level < deepest {
                    if let Some(mut t) = leveled::push_down(ctx, level, f) {
                        t.reason = Reason::Ttl;
                        return Some(t);
                    }
                }
                // Older data overlaps (a level-0 file over the levels below,
                // or a push-down not possible now): nothing can be dropped,
                // but expired values can be rewritten smaller where they
                // are, their entries and order kept. Without this an idle
                // node kept a level-0 file of expired values whole until
                // the next regular compaction.
                if mostly(expired_estimate(f, ctx.now_ms, grace)) {
                    return Some(in_place());
                }
            }
        }
    }
    None
}

/// Every file in the version as one manual task into a single run at the
/// bottom (leveled: the deepest non-empty level, at least 1; size-tiered: the
/// deepest non-empty level, possibly 0).
pub(crate) fn manual_task(s: CompactionStrategy, v: &Version, run_id: u64) -> Option<Task> {
    let inputs: Vec<InputRun> = v
        .runs_by_age()
        .map(|(level, r)| InputRun {
            level,
            files: r.files.clone(),
        })
        .collect();
    if inputs.is_empty() {
        return None;
    }
    let deepest = v.deepest_nonempty();
    let output_level = match s {
        CompactionStrategy::Leveled => deepest.max(1),
        CompactionStrategy::SizeTiered => deepest,
    };
    Some(Task {
        inputs,
        output_level,
        output_run_id: run_id,
        reason: Reason::Manual,
        trivial_move: false,
    })
}
