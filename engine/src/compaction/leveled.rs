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
//!    file whose push down rewrites the fewest bytes of the next level per
//!    byte it moves ([`cheapest_first`]; among equals, the next after the
//!    level's compact pointer, round robin over the key space) and merge it
//!    with the overlapping files of the next level; with no overlap the file
//!    is moved down without rewriting (trivial move).
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
        // Round robin from the pointer orders files of equal cost.
        let start = match &ctx.pointers[n] {
            Some(p) => files.partition_point(|f| f.props.largest.as_ref() <= p.as_ref()),
            None => 0,
        };
        let rotated: Vec<Arc<FileMeta>> = files
            .iter()
            .cycle()
            .skip(start)
            .take(files.len())
            .cloned()
            .collect();
        for f in cheapest_first(v, n, rotated) {
            if ctx.busy.contains(&f.number) {
                continue;
            }
            if let Some(t) = push_down(ctx, n, &f) {
                return Some(t);
            }
        }
    }
    None
}

/// Level `n`'s files in the order a size compaction tries them: the fewest
/// bytes of level `n + 1` rewritten per byte pushed down first (RocksDB's
/// `kMinOverlappingRatio`), ties kept in the order given. Round robin
/// alone pushes files down whatever they overlap; under random writes a
/// file whose range level `n + 1` holds little of costs a fraction of one
/// whose range it holds much of, and the data that lands there meanwhile
/// is merged later in bigger batches.
fn cheapest_first(v: &Version, n: usize, files: Vec<Arc<FileMeta>>) -> Vec<Arc<FileMeta>> {
    let below = below_bytes(v, n + 1);
    let mut costed: Vec<(f64, Arc<FileMeta>)> = files
        .into_iter()
        .map(|f| {
            let overlap = below(&f.props.smallest, &f.props.largest);
            (overlap as f64 / f.size.max(1) as f64, f)
        })
        .collect();
    costed.sort_by(|a, b| a.0.total_cmp(&b.0));
    costed.into_iter().map(|(_, f)| f).collect()
}

/// The bytes of `level`'s files overlapping a key range, as a function of
/// the range. A level of one sorted run is binary-searched (its files are
/// disjoint and in key order); any other is scanned.
fn below_bytes(v: &Version, level: usize) -> impl Fn(&[u8], &[u8]) -> u64 + '_ {
    let runs = v
        .levels
        .get(level)
        .map(|l| l.runs.as_slice())
        .unwrap_or_default();
    let sorted = match runs {
        [run] => Some(run.files.as_slice()),
        _ => None,
    };
    move |lo: &[u8], hi: &[u8]| match sorted {
        Some(files) => {
            let first = files.partition_point(|f| f.props.largest.as_ref() < lo);
            files
                .get(first..)
                .unwrap_or_default()
                .iter()
                .take_while(|f| f.props.smallest.as_ref() <= hi)
                .map(|f| f.size)
                .sum()
        }
        None => overlapping(v, level, lo, hi).iter().map(|f| f.size).sum(),
    }
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
    fn oversized_level_pushes_files_down_round_robin_among_equals() {
        let o = Options {
            level1_max_bytes: 150,
            ..Options::default()
        };
        let v = version(&[
            (1, 1, file(1, "a", "b", 100)),
            (1, 1, file(2, "c", "d", 100)),
            (1, 1, file(4, "e", "f", 100)),
            (2, 2, file(3, "c", "c", 10)),
        ]);
        let (busy, ex) = (HashSet::new(), HashSet::new());
        let mut p: [Option<Bytes>; NUM_LEVELS] = Default::default();
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert!(t.trivial_move, "file 1 overlaps nothing below");
        assert_eq!(t.files().map(|f| f.number).collect::<Vec<_>>(), vec![1]);
        // Past file 1, file 4 costs nothing either: it goes before file 2,
        // whose range level 2 holds 10 bytes of.
        p[1] = Some(Bytes::from("b"));
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert_eq!(t.files().map(|f| f.number).collect::<Vec<_>>(), vec![4]);
        // Only file 2 left free: merged with what it overlaps.
        let busy: HashSet<u64> = [1, 4].into();
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        assert_eq!(t.reason, Reason::LevelSize);
        assert_eq!(t.files().map(|f| f.number).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(t.output_level, 2);
    }

    #[test]
    fn a_size_compaction_pushes_down_the_file_that_rewrites_least_below() {
        let o = Options {
            level1_max_bytes: 150,
            ..Options::default()
        };
        // Level 1: three files of 100 bytes. Level 2 holds 400 bytes under
        // file 1's range, 50 under file 2's, 200 under file 3's.
        let v = version(&[
            (1, 1, file(1, "a", "c", 100)),
            (1, 1, file(2, "d", "f", 100)),
            (1, 1, file(3, "g", "i", 100)),
            (2, 2, file(10, "a", "b", 200)),
            (2, 2, file(11, "bb", "c", 200)),
            (2, 2, file(12, "e", "e", 50)),
            (2, 2, file(13, "h", "z", 200)),
        ]);
        let (busy, ex) = (HashSet::new(), HashSet::new());
        let p: [Option<Bytes>; NUM_LEVELS] = Default::default();
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        let mut inputs: Vec<u64> = t.files().map(|f| f.number).collect();
        inputs.sort();
        assert_eq!(inputs, vec![2, 12]);
        // The cheapest busy: the next cheapest, not the next in key order.
        let busy: HashSet<u64> = [2].into();
        let t = pick(&ctx(&v, &o, &busy, &p, &ex)).unwrap();
        let mut inputs: Vec<u64> = t.files().map(|f| f.number).collect();
        inputs.sort();
        assert_eq!(inputs, vec![3, 13]);
        // The binary search and the scan agree on every range.
        let scan = |lo: &str, hi: &str| -> u64 {
            overlapping(&v, 2, lo.as_bytes(), hi.as_bytes())
                .iter()
                .map(|f| f.size)
                .sum()
        };
        let search = below_bytes(&v, 2);
        for (lo, hi) in [
            ("a", "c"),
            ("b", "bb"),
            ("c", "d"),
            ("f", "g"),
            ("0", "zz"),
            ("y", "z"),
        ] {
            assert_eq!(
                search(lo.as_bytes(), hi.as_bytes()),
                scan(lo, hi),
                "{lo}..{hi}"
            );
        }
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
