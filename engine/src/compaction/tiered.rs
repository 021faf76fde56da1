//! Size-tiered compaction (Cassandra STCS style). Sorted runs, taken in age
//! order (newest first: level-0 runs, then any deeper level's run left by
//! leveled), are grouped into buckets of adjacent runs of similar size: a run
//! joins the current bucket when its size is within [0.5x, 1.5x] of the
//! bucket's average (runs under `SMALL_RUN_BYTES` all count as similar).
//! When a bucket holds `tiered_min_threshold` runs, up to
//! `tiered_max_threshold` of them are merged into one run, split into
//! `target_file_size` files, which takes the bucket's place in the age order
//! (level 0 if every input was there; otherwise the deepest input level —
//! this is how the runs of a formerly leveled tree are treated as tiers).
//!
//! Only adjacent runs are merged, so "earlier run = newer data" keeps holding
//! (readers do not rely on it, but it keeps the merge cheap and the shape
//! easy to reason about).

use super::strategy::{InputRun, PickContext, Reason, Task};
use crate::options::Options;
use crate::version::{Run, Version};

/// Runs smaller than this are all in one size class.
pub(crate) const SMALL_RUN_BYTES: u64 = 1 << 20;

/// A bucket: `len` adjacent runs starting at `start` in age order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) bytes: u64,
}

impl Bucket {
    fn avg(&self) -> u64 {
        self.bytes / self.len.max(1) as u64
    }
}

fn similar(size: u64, avg: u64) -> bool {
    (size < SMALL_RUN_BYTES && avg < SMALL_RUN_BYTES) || (size * 2 >= avg && size * 2 <= avg * 3)
}

/// Buckets of `runs` (age order); a run for which `skip` is true (busy)
/// belongs to no bucket and separates its neighbours.
pub(crate) fn buckets(runs: &[(usize, &Run)], skip: &dyn Fn(&Run) -> bool) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut cur: Option<Bucket> = None;
    for (i, (_, r)) in runs.iter().enumerate() {
        if skip(r) {
            out.extend(cur.take());
            continue;
        }
        let size = r.bytes();
        cur = match cur {
            Some(mut b) if similar(size, b.avg()) => {
                b.len += 1;
                b.bytes += size;
                Some(b)
            }
            other => {
                out.extend(other);
                Some(Bucket {
                    start: i,
                    len: 1,
                    bytes: size,
                })
            }
        };
    }
    out.extend(cur);
    out
}

/// (runs in the smallest-average bucket, bytes in buckets due for compaction).
pub(crate) fn stall_measure(v: &Version, opts: &Options) -> (usize, u64) {
    let runs: Vec<(usize, &Run)> = v.runs_by_age().collect();
    let bs = buckets(&runs, &|_| false);
    let smallest = bs.iter().min_by_key(|b| b.avg()).map_or(0, |b| b.len);
    let pending = bs
        .iter()
        .filter(|b| b.len >= opts.tiered_min_threshold)
        .map(|b| b.bytes)
        .sum();
    (smallest, pending)
}

/// The size-tiered decision.
pub(crate) fn pick(ctx: &PickContext<'_>) -> Option<Task> {
    let v = ctx.version;
    let opts = ctx.opts;
    let runs: Vec<(usize, &Run)> = v.runs_by_age().collect();
    let bs = buckets(&runs, &|r| ctx.any_busy(r.files.iter()));
    let b = bs
        .iter()
        .filter(|b| b.len >= opts.tiered_min_threshold)
        .min_by_key(|b| b.avg())?;
    let take = b.len.min(opts.tiered_max_threshold);
    let window = runs.get(b.start..b.start + take)?;
    let inputs: Vec<InputRun> = window
        .iter()
        .map(|(l, r)| InputRun {
            level: *l,
            files: r.files.clone(),
        })
        .collect();
    let deepest = window.iter().map(|(l, _)| *l).max()?;
    let output_run_id = if deepest == 0 {
        window.iter().map(|(_, r)| r.id).max()?
    } else {
        window
            .iter()
            .filter(|(l, _)| *l == deepest)
            .map(|(_, r)| r.id)
            .next()?
    };
    Some(Task {
        inputs,
        output_level: deepest,
        output_run_id,
        reason: Reason::Tiered,
        trivial_move: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::Properties;
    use crate::version::FileMeta;
    use bytes::Bytes;
    use std::sync::Arc;

    fn run(id: u64, bytes: u64) -> Run {
        Run {
            id,
            files: vec![Arc::new(FileMeta {
                number: id,
                size: bytes,
                props: Properties {
                    smallest: Bytes::from("a"),
                    largest: Bytes::from("z"),
                    ..Properties::default()
                },
            })],
        }
    }

    #[test]
    fn buckets_group_adjacent_similar_sizes() {
        let mb = 1 << 20;
        let rs = [
            run(9, 10 * mb),
            run(8, 12 * mb),
            run(7, 9 * mb),
            run(6, 40 * mb),
            run(5, 45 * mb),
        ];
        let runs: Vec<(usize, &Run)> = rs.iter().map(|r| (0, r)).collect();
        let b = buckets(&runs, &|_| false);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].start, b[0].len), (0, 3));
        assert_eq!((b[1].start, b[1].len), (3, 2));
        let b = buckets(&runs, &|r| r.id == 8);
        assert_eq!(b.len(), 3);
    }
}
