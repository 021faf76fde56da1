//! The shape of the tree: which SSTables exist, in which level and sorted run.
//! A `Version` is immutable; every flush or compaction builds a new one by
//! applying a `VersionEdit` (see `manifest.rs`) and publishes it in a new
//! `SuperVersion`, the `Arc` snapshot readers take under a very short lock.
//!
//! Layout invariants:
//! 1. Level 0 holds any number of sorted runs, newest first (ordered by run id,
//!    descending); a run is one or more files with disjoint key ranges.
//! 2. Levels 1.. hold at most one run each (leveled: the level; size-tiered
//!    after a switch: an older tier).
//! 3. For every key, newer versions normally sit in earlier runs, but readers
//!    never rely on it: point reads order candidate files by max sequence and
//!    iterators merge by sequence, so a tree reshaped by strategy switches is
//!    still read correctly.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::manifest::VersionEdit;
use crate::memtable::Memtable;
use crate::sstable::Properties;

/// Number of levels (L0..L6).
pub(crate) const NUM_LEVELS: usize = 7;

/// One SSTable as the version knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileMeta {
    /// File number (`000123.sst`).
    pub(crate) number: u64,
    /// File size in bytes.
    pub(crate) size: u64,
    /// Key range, sequence range and counters, as in the file's properties block.
    pub(crate) props: Properties,
}

impl FileMeta {
    /// True when the file's key range intersects `[lo, hi]`.
    pub(crate) fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.props.smallest.as_ref() <= hi && lo <= self.props.largest.as_ref()
    }
}

/// The files a point read probes, with their levels: borrowed from the
/// version the read holds, so a read allocates nothing and touches no
/// reference count for them unless more runs than this exist.
pub(crate) type Candidates<'a> = smallvec::SmallVec<[(usize, &'a Arc<FileMeta>); 16]>;

/// A sorted run: files with disjoint key ranges, ordered by smallest key.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Identity and age (larger = newer in level 0).
    pub(crate) id: u64,
    pub(crate) files: Vec<Arc<FileMeta>>,
}

impl Run {
    /// Total bytes of the run's files.
    pub(crate) fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The file whose range holds `key`, if any (binary search).
    pub(crate) fn find(&self, key: &[u8]) -> Option<&Arc<FileMeta>> {
        let i = self
            .files
            .partition_point(|f| f.props.largest.as_ref() < key);
        self.files
            .get(i)
            .filter(|f| f.props.smallest.as_ref() <= key)
    }

    /// The run's files whose key range meets `[lower, upper)` (either
    /// bound may be inclusive, exclusive or absent): a contiguous slice,
    /// as the files are disjoint and ordered.
    pub(crate) fn files_within(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> &[Arc<FileMeta>] {
        let from = match lower {
            Bound::Included(l) => self.files.partition_point(|f| f.props.largest.as_ref() < l),
            Bound::Excluded(l) => self
                .files
                .partition_point(|f| f.props.largest.as_ref() <= l),
            Bound::Unbounded => 0,
        };
        let to = match upper {
            Bound::Included(u) => self
                .files
                .partition_point(|f| f.props.smallest.as_ref() <= u),
            Bound::Excluded(u) => self
                .files
                .partition_point(|f| f.props.smallest.as_ref() < u),
            Bound::Unbounded => self.files.len(),
        };
        self.files.get(from..to.max(from)).unwrap_or_default()
    }

    /// Smallest and largest user key of the run.
    pub(crate) fn range(&self) -> Option<(Bytes, Bytes)> {
        Some((
            self.files.first()?.props.smallest.clone(),
            self.files.last()?.props.largest.clone(),
        ))
    }
}

/// One level: its runs (level 0: newest first; other levels: at most one).
#[derive(Debug, Clone, Default)]
pub(crate) struct Level {
    pub(crate) runs: Vec<Run>,
}

impl Level {
    /// Total bytes in the level.
    pub(crate) fn bytes(&self) -> u64 {
        self.runs.iter().map(Run::bytes).sum()
    }

    /// Number of files in the level.
    pub(crate) fn files(&self) -> usize {
        self.runs.iter().map(|r| r.files.len()).sum()
    }
}

/// An immutable shape of the tree.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) levels: Vec<Level>,
}

impl Default for Version {
    fn default() -> Self {
        Version {
            levels: vec![Level::default(); NUM_LEVELS],
        }
    }
}

impl Version {
    /// Every run in age order, newest first: level 0 runs, then each deeper
    /// level's run. Yields `(level, run)`.
    pub(crate) fn runs_by_age(&self) -> impl Iterator<Item = (usize, &Run)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(l, lv)| lv.runs.iter().map(move |r| (l, r)))
    }

    /// Every file of the version.
    pub(crate) fn files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.runs_by_age().flat_map(|(_, r)| r.files.iter())
    }

    /// Files whose range holds `key`, at most one per run, with their
    /// level.
    pub(crate) fn candidates<'a>(&'a self, key: &[u8], out: &mut Candidates<'a>) {
        for (level, run) in self.runs_by_age() {
            if let Some(f) = run.find(key) {
                out.push((level, f));
            }
        }
    }

    /// Total bytes in SSTables.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.levels.iter().map(Level::bytes).sum()
    }

    /// Deepest level holding data (0 if none).
    pub(crate) fn deepest_nonempty(&self) -> usize {
        self.levels
            .iter()
            .rposition(|l| !l.runs.is_empty())
            .unwrap_or(0)
    }

    /// A new version with `edit`'s deletions then additions applied.
    pub(crate) fn apply(&self, edit: &VersionEdit) -> Version {
        let mut v = self.clone();
        if !edit.deleted.is_empty() {
            for level in &mut v.levels {
                for run in &mut level.runs {
                    run.files.retain(|f| !edit.deleted.contains(&f.number));
                }
                level.runs.retain(|r| !r.files.is_empty());
            }
        }
        for add in &edit.added {
            let level_no = add.level.min(NUM_LEVELS - 1);
            let Some(level) = v.levels.get_mut(level_no) else {
                continue;
            };
            let meta = add.meta.clone();
            let run = if level_no == 0 {
                match level.runs.iter().position(|r| r.id == add.run_id) {
                    Some(i) => level.runs.get_mut(i),
                    None => {
                        let at = level.runs.partition_point(|r| r.id > add.run_id);
                        level.runs.insert(
                            at,
                            Run {
                                id: add.run_id,
                                files: Vec::new(),
                            },
                        );
                        level.runs.get_mut(at)
                    }
                }
            } else {
                if level.runs.is_empty() {
                    level.runs.push(Run {
                        id: add.run_id,
                        files: Vec::new(),
                    });
                }
                level.runs.first_mut()
            };
            if let Some(run) = run {
                let at = run
                    .files
                    .partition_point(|f| f.props.smallest < meta.props.smallest);
                run.files.insert(at, meta);
            }
        }
        v
    }
}

/// What readers snapshot: the active memtable, the frozen ones (newest first)
/// and the SSTable version. Swapped as a whole under the structure lock.
pub(crate) struct SuperVersion {
    pub(crate) mem: Arc<Memtable>,
    pub(crate) imms: Vec<Arc<Memtable>>,
    pub(crate) version: Arc<Version>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;

    fn run(ranges: &[(&str, &str)]) -> Run {
        let files = ranges
            .iter()
            .enumerate()
            .map(|(n, (lo, hi))| {
                Arc::new(FileMeta {
                    number: n as u64,
                    size: 1,
                    props: Properties {
                        smallest: Bytes::from(lo.to_string()),
                        largest: Bytes::from(hi.to_string()),
                        ..Properties::default()
                    },
                })
            })
            .collect();
        Run { id: 1, files }
    }

    fn numbers(files: &[Arc<FileMeta>]) -> Vec<u64> {
        files.iter().map(|f| f.number).collect()
    }

    /// A range read keeps the files its range meets, bound by bound.
    #[test]
    fn a_run_gives_a_range_the_files_that_meet_it() {
        use Bound::{Excluded, Included, Unbounded};
        let r = run(&[("b", "d"), ("f", "h"), ("j", "l")]);
        fn b(x: Bound<&str>) -> Bound<&[u8]> {
            x.map(str::as_bytes)
        }
        let within = |lo: Bound<&str>, hi: Bound<&str>| numbers(r.files_within(b(lo), b(hi)));
        assert_eq!(within(Unbounded, Unbounded), vec![0, 1, 2]);
        assert_eq!(within(Included("e"), Excluded("f")), Vec::<u64>::new());
        assert_eq!(within(Included("e"), Included("f")), vec![1]);
        assert_eq!(within(Included("d"), Excluded("j")), vec![0, 1]);
        assert_eq!(within(Excluded("d"), Excluded("j")), vec![1]);
        assert_eq!(within(Excluded("d"), Included("j")), vec![1, 2]);
        assert_eq!(within(Included("a"), Excluded("b")), Vec::<u64>::new());
        assert_eq!(within(Included("a"), Included("b")), vec![0]);
        assert_eq!(within(Excluded("l"), Unbounded), Vec::<u64>::new());
        assert_eq!(within(Included("l"), Unbounded), vec![2]);
        assert_eq!(within(Unbounded, Excluded("g")), vec![0, 1]);
        // A range whose ends cross holds nothing.
        assert_eq!(within(Included("k"), Excluded("c")), Vec::<u64>::new());
    }
}
