//! Leveled compaction (LevelDB/RocksDB style). Level 0 holds flushed runs;
//! each deeper level is one sorted run with a target size
//! `level1_max_bytes * level_size_ratio^(n-1)`.
//!
//! Decision order:
//! 1. Level 0 has `l0_compaction_trigger` runs or more: merge every level-0
//!    run with the overlapping files of level 1.
//! 2. Otherwise the level with the highest size/target score >= 1: pick the
//!    next file after the level's compact pointer (round robin over the key
//!    space) and merge it with the overlapping files of the next level; with
//!    no overlap the file is moved down without rewriting (trivial move).
//!
//! A tree coming from size-tiered has many (possibly large) level-0 runs: rule
//! 1 pushes them into level 1 (also below the trigger, as soon as level 0
//! holds a run no flush could have made), rule 2 then cascades them down.

use std::sync::Arc;

use bytes::Bytes;

use super::strategy::{InputRun, PickContext, Reason, Task};
use crate::options::Options;
use crate::version::{FileMeta, NUM_LEVELS, Version};

/// Target size of level `n` (n >= 1).
pub(crate) fn target_bytes(opts: &Options, n: usize) -> u64 {
    let mut t = opts.level1_max_bytes;
    for _ in 1..n {
        t = t.saturating_mul(opts.level_size_ratio);
    }
    t
}

/// Files of `level` overlapping `[lo, hi]`.
pub(crate) fn overlapping(v: &Version, level: usize, lo: &[u8], hi: &[u8]) -> Vec<Arc<FileMeta>> {
    v.levels
        .get(level)
        .map(|l| {
            l.runs
                .iter()
                .flat_map(|r| r.files.iter())
                .filter(|f| f.overlaps(lo, hi))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn next_run_id(v: &Version, level: usize) -> u64 {
    v.levels
        .get(level)
        .and_then(|l| l.runs.first())
        .map_or(level as u64, |r| r.id)
}

/// Estimated bytes compaction must still rewrite: the excess of each level
/// over its target, and all of level 0 once it reached its trigger.
pub(crate) fn pending_bytes(v: &Version, opts: &Options) -> u64 {
    let mut debt = 0u64;
    if let Some(l0) = v.levels.first() {
        let foreign = l0
            .runs
            .iter()
            .any(|r| r.files.len() > 1 || r.bytes() > 2 * opts.memtable_size_bytes as u64);
        if l0.runs.len() >= opts.l0_compaction_trigger || foreign {
            debt += l0.bytes();
        }
    }
    for n in 1..NUM_LEVELS - 1 {
        if let Some(l) = v.levels.get(n) {
            debt += l.bytes().saturating_sub(target_bytes(opts, n));
        }
    }
    debt
}

/// The leveled decision.
pub(crate) fn pick(ctx: &PickContext<'_>) -> Option<Task> {
    let v = ctx.version;
    let opts = ctx.opts;
    let l0 = v.levels.first()?;
    // Runs a flush cannot have produced (several files, or larger than two
    // memtables) come from size-tiered: push them down right away.
    let foreign = l0
        .runs
        .iter()
        .any(|r| r.files.len() > 1 || r.bytes() > 2 * opts.memtable_size_bytes as u64);
    if l0.runs.len() >= opts.l0_compaction_trigger || foreign {
        if let Some(t) = pick_l0(ctx) {
            return Some(t);
        }
    }
    // Highest score first among levels 1..=5 (level 6 has nowhere to go).
    let mut scored: Vec<(f64, usize)> = (1..NUM_LEVELS - 1)
        .filter_map(|n| {
            let bytes = v.levels.get(n)?.bytes();
            let score = bytes as f64 / target_bytes(opts, n) as f64;
            (score >= 1.0).then_some((score, n))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, n) in scored {
        let files: Vec<Arc<FileMeta>> = v
            .levels
            .get(n)?
            .runs
            .iter()
            .flat_map(|r| r.files.iter())
            .cloned()
            .collect();
        if files.is_empty() {
            continue;
        }
        // Round robin: the first file after the pointer, wrapping around.
        let start = match &ctx.pointers[n] {
            Some(p) => files.partition_point(|f| f.props.largest.as_ref() <= p.as_ref()),
            None => 0,
        };
        for i in 0..files.len() {
            let f = &files[(start + i) % files.len()];
            if ctx.busy.contains(&f.number) {
                continue;
            }
            if let Some(t) = push_down(ctx, n, f) {
                return Some(t);
            }
        }
    }
    None
}

/// Merge every level-0 run with the overlapping level-1 files.
fn pick_l0(ctx: &PickContext<'_>) -> Option<Task> {
    let v = ctx.version;
    let l0 = v.levels.first()?;
    if ctx.any_busy(l0.runs.iter().flat_map(|r| r.files.iter())) {
        return None;
    }
    let (mut lo, mut hi): (Option<Bytes>, Option<Bytes>) = (None, None);
    for r in &l0.runs {
        if let Some((a, b)) = r.range() {
            lo = Some(lo.map_or(a.clone(), |x| x.min(a)));
            hi = Some(hi.map_or(b.clone(), |x| x.max(b)));
        }
    }
    let (lo, hi) = (lo?, hi?);
    let below = overlapping(v, 1, &lo, &hi);
    if ctx.any_busy(below.iter()) {
        return None;
    }
    let mut inputs: Vec<InputRun> = l0
        .runs
        .iter()
        .map(|r| InputRun {
            level: 0,
            files: r.files.clone(),
        })
        .collect();
    if !below.is_empty() {
        inputs.push(InputRun {
            level: 1,
            files: below,
        });
    }
    Some(Task {
        inputs,
        output_level: 1,
        output_run_id: next_run_id(v, 1),
        reason: Reason::Level0,
        trivial_move: false,
    })
}

/// Merge file `f` of level `n` with the overlapping files of level `n + 1`
/// (or move it down if nothing overlaps).
pub(crate) fn push_down(ctx: &PickContext<'_>, n: usize, f: &Arc<FileMeta>) -> Option<Task> {
    let v = ctx.version;
    if n + 1 >= NUM_LEVELS {
        return None;
    }
    let below = overlapping(v, n + 1, &f.props.smallest, &f.props.largest);
    if ctx.any_busy(below.iter()) {
        return None;
    }
    let trivial = below.is_empty();
    let mut inputs = vec![InputRun {
        level: n,
        files: vec![f.clone()],
    }];
    if !below.is_empty() {
        inputs.push(InputRun {
            level: n + 1,
            files: below,
        });
    }
    Some(Task {
        inputs,
        output_level: n + 1,
        output_run_id: next_run_id(v, n + 1),
        reason: if trivial {
            Reason::TrivialMove
        } else {
            Reason::LevelSize
        },
        trivial_move: trivial,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::manifest::{AddedFile, VersionEdit};
    use crate::sstable::Properties;

    fn file(n: u64, lo: &str, hi: &str, size: u64) -> Arc<FileMeta> {
        Arc::new(FileMeta {
            number: n,
            size,
            props: Properties {
                smallest: Bytes::from(lo.to_string()),
                largest: Bytes::from(hi.to_string()),
                min_seq: n,
                max_seq: n,
                entries: 10,
                ..Properties::default()
            },
        })
    }

    fn version(files: &[(usize, u64, Arc<FileMeta>)]) -> Version {
        let edit = VersionEdit {
            added: files
                .iter()
                .map(|(l, r, f)| AddedFile {
                    level: *l,
                    run_id: *r,
                    meta: f.clone(),
                })
                .collect(),
            ..VersionEdit::default()
        };
        Version::default().apply(&edit)
    }

    fn ctx<'a>(
        v: &'a Version,
        o: &'a Options,
        busy: &'a HashSet<u64>,
        p: &'a [Option<Bytes>; NUM_LEVELS],
        ex: &'a HashSet<u64>,
    ) -> PickContext<'a> {
        PickContext {
            version: v,
            opts: o,
            busy,
            pointers: p,
            ttl_exhausted: ex,
            now_ms: 0,
        }
    }

    #[test]
    fn l0_trigger_merges_all_l0_runs_with_overlapping_l1() {
        let o = Options {
            l0_compaction_trigger: 2,
            ..Options::default()
        };
        let v = version(&[
            (0, 10, file(10, "c", "f", 100)),
            (0, 11, file(11, "a", "d", 100)),
            (1, 1, file(1, "a", "b", 100)),
            (1, 1, file(2, "e", "g", 100)),
            (1, 1, file(3, "x", "z", 100)),
        ]);
        let (busy, ex, p) = (HashSet::new(), HashSet::new(), Default::default());
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert_eq!(t.reason, Reason::Level0);
        assert_eq!(t.output_level, 1);
        let mut inputs: Vec<u64> = t.files().map(|f| f.number).collect();
        inputs.sort();
        assert_eq!(inputs, vec![1, 2, 10, 11]);
        // A busy input blocks the task instead of compacting around it.
        let busy: HashSet<u64> = [2].into();
        assert!(pick(&ctx(&v, &o, &busy, &p, &ex)).is_none());
    }

    #[test]
    fn oversized_level_pushes_files_down_round_robin() {
        let o = Options {
            level1_max_bytes: 150,
            ..Options::default()
        };
        let v = version(&[
            (1, 1, file(1, "a", "b", 100)),
            (1, 1, file(2, "c", "d", 100)),
            (2, 2, file(3, "c", "c", 10)),
        ]);
        let (busy, ex) = (HashSet::new(), HashSet::new());
        let mut p: [Option<Bytes>; NUM_LEVELS] = Default::default();
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert!(t.trivial_move, "file 1 overlaps nothing below");
        assert_eq!(t.files().map(|f| f.number).collect::<Vec<_>>(), vec![1]);
        p[1] = Some(Bytes::from("b"));
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert_eq!(t.reason, Reason::LevelSize);
        assert_eq!(t.files().map(|f| f.number).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(t.output_level, 2);
    }

    #[test]
    fn pending_bytes_counts_excess_over_targets() {
        let o = Options {
            level1_max_bytes: 150,
            ..Options::default()
        };
        let v = version(&[
            (1, 1, file(1, "a", "b", 100)),
            (1, 1, file(2, "c", "d", 100)),
        ]);
        assert_eq!(pending_bytes(&v, &o), 50);
    }
}
