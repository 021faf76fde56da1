//! Leveled compaction (LevelDB/RocksDB style). Level 0 holds flushed runs;
//! each deeper level is one sorted run with a target size
//! `level1_max_bytes * level_size_ratio^(n-1)`.
//!
//! Decision order:
//! 1. Level 0 is due ([`l0_due`]): merge every level-0 run with the
//!    overlapping files of level 1. It is due at `l0_compaction_trigger`
//!    runs once it holds at least as many bytes as the level-1 files it
//!    overlaps, and otherwise at twice the trigger or two runs below
//!    `l0_slowdown_trigger`, whichever is fewer (never below the trigger). Each level-0 compaction rewrites the level-1
//!    files it overlaps; when flushes are small beside level 1 (random
//!    writes over a level 1 of hundreds of megabytes) waiting for a few
//!    more runs spreads that rewrite over more new data: at most about
//!    twice the new data is written when it is due by size, instead of
//!    1 + level 1 / level 0 times. The cost is a few more filter checks per
//!    point read while level 0 holds more runs.
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

/// Whether level 0 is due to be merged into level 1 (the module's rule
/// 1): it holds a run no flush could have made (several files, or larger
/// than two memtables: size-tiered left it), or `l0_compaction_trigger`
/// runs holding at least the bytes of the level-1 files their key range
/// overlaps, or [`l0_max_deferred_runs`] runs.
pub(crate) fn l0_due(v: &Version, opts: &Options) -> bool {
    let Some(l0) = v.levels.first() else {
        return false;
    };
    let foreign = l0
        .runs
        .iter()
        .any(|r| r.files.len() > 1 || r.bytes() > 2 * opts.memtable_size_bytes as u64);
    let runs = l0.runs.len();
    if foreign || runs >= l0_max_deferred_runs(opts) {
        return true;
    }
    if runs < opts.l0_compaction_trigger {
        return false;
    }
    match l0_range(v) {
        Some((lo, hi)) => {
            let below: u64 = overlapping(v, 1, &lo, &hi).iter().map(|f| f.size).sum();
            l0.bytes() >= below
        }
        None => true,
    }
}

/// Level-0 runs at which level 0 is merged down whatever level 1 holds:
/// twice the trigger, but two below the slowdown trigger at most, so
/// flushes during that compaction still find room before writes are
/// slowed; never below the trigger.
pub(crate) fn l0_max_deferred_runs(opts: &Options) -> usize {
    opts.l0_compaction_trigger
        .saturating_mul(2)
        .min(opts.l0_slowdown_trigger.saturating_sub(2))
        .max(opts.l0_compaction_trigger)
}

/// The smallest and largest user keys of level 0's runs.
fn l0_range(v: &Version) -> Option<(Bytes, Bytes)> {
    let (mut lo, mut hi): (Option<Bytes>, Option<Bytes>) = (None, None);
    for r in &v.levels.first()?.runs {
        if let Some((a, b)) = r.range() {
            lo = Some(lo.map_or(a.clone(), |x| x.min(a)));
            hi = Some(hi.map_or(b.clone(), |x| x.max(b)));
        }
    }
    Some((lo?, hi?))
}

/// Estimated bytes compaction must still rewrite: the excess of each level
/// over its target, and all of level 0 once it is due.
pub(crate) fn pending_bytes(v: &Version, opts: &Options) -> u64 {
    let mut debt = 0u64;
    if l0_due(v, opts) {
        debt += v.levels.first().map_or(0, |l| l.bytes());
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
    if l0_due(v, opts) {
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
    let (lo, hi) = l0_range(v)?;
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
    fn l0_waits_for_more_runs_while_level1_dwarfs_it() {
        // Trigger 2, slowdown 6: merged at 2 runs when they hold as many
        // bytes as the level-1 files they overlap, else at 4.
        let o = Options {
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 6,
            ..Options::default()
        };
        let (busy, ex, p) = (HashSet::new(), HashSet::new(), Default::default());
        let l1 = || {
            vec![
                (1, 1, file(1, "a", "m", 300)),
                (1, 1, file(2, "n", "z", 300)),
            ]
        };
        let with_l0 = |runs: &[(u64, &str, &str, u64)]| {
            let mut files = l1();
            files.extend(
                runs.iter()
                    .map(|&(n, lo, hi, size)| (0, n, file(n, lo, hi, size))),
            );
            version(&files)
        };
        // Two runs of 100 bytes over the whole key space: 200 < 600.
        let v = with_l0(&[(10, "a", "z", 100), (11, "b", "y", 100)]);
        assert!(!l0_due(&v, &o));
        assert!(pick(&ctx(&v, &o, &busy, &p, &ex)).is_none());
        assert_eq!(pending_bytes(&v, &o), 0, "a waiting level 0 is no debt");
        // Three runs over one file's range: 300 >= 300.
        let v = with_l0(&[
            (10, "a", "c", 100),
            (11, "b", "d", 100),
            (12, "c", "e", 100),
        ]);
        assert!(l0_due(&v, &o));
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert_eq!(t.reason, Reason::Level0);
        let mut inputs: Vec<u64> = t.files().map(|f| f.number).collect();
        inputs.sort();
        assert_eq!(inputs, vec![1, 10, 11, 12]);
        // Four runs are due whatever level 1 holds (slowdown 6 - 2).
        let v = with_l0(&[(10, "a", "z", 10), (11, "a", "z", 10), (12, "a", "z", 10)]);
        assert!(!l0_due(&v, &o));
        let v = with_l0(&[
            (10, "a", "z", 10),
            (11, "a", "z", 10),
            (12, "a", "z", 10),
            (13, "a", "z", 10),
        ]);
        assert!(l0_due(&v, &o));
        assert_eq!(pending_bytes(&v, &o), 40);
        // Below the trigger nothing is due, even with level 1 empty.
        let v = version(&[(0, 10, file(10, "a", "z", 100))]);
        assert!(!l0_due(&v, &o));
        // An empty level 1 never delays the trigger.
        let v = version(&[
            (0, 10, file(10, "a", "z", 1)),
            (0, 11, file(11, "a", "z", 1)),
        ]);
        assert!(l0_due(&v, &o));
    }

    #[test]
    fn the_deferral_cap_never_falls_below_the_trigger() {
        let o = Options {
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 4,
            ..Options::default()
        };
        assert_eq!(l0_max_deferred_runs(&o), 4);
        let o = Options::default();
        assert_eq!(l0_max_deferred_runs(&o), 6);
        let o = Options {
            l0_compaction_trigger: 3,
            l0_slowdown_trigger: 20,
            ..Options::default()
        };
        assert_eq!(l0_max_deferred_runs(&o), 6);
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
