//! The read path: memtable → immutable memtables → SSTables, bloom filter
//! before any data block; and the construction of range iterators.

use std::ops::Bound;

use bytes::Bytes;

use super::Inner;
use crate::error::Result;
use crate::iter::merge::MergeIter;
use crate::iter::{EngineIter, InternalIter, MemIter};
use crate::sstable::bloom::key_hash;
use crate::sstable::reader::RunIter;
use crate::stats::Counters;
use crate::value::{InternalValue, Value};
use crate::version::Version;

impl Inner {
    /// The newest version of `key` visible at `seq`, if live.
    pub(crate) fn get_at_seq(&self, key: &[u8], seq: u64) -> Result<Option<Value>> {
        Counters::add(&self.stats.point_reads, 1);
        let sv = self.sv_now();
        let found = match sv.mem.get(key, seq) {
            Some((_, v)) => Some(v),
            None => match sv.imms.iter().find_map(|m| m.get(key, seq)) {
                Some((_, v)) => Some(v),
                None => self.get_from_version(&sv.version, key, seq)?,
            },
        };
        Ok(found.and_then(|v| {
            if v.time_ms != 0 && v.kind == crate::value::Kind::Put && self.opts.hide_expired {
                v.visible(self.now_ms())
            } else {
                v.visible(0)
            }
        }))
    }

    /// Looks `key` up in the SSTables. Candidate files (one per run at most) are
    /// probed in descending max-sequence order, and the search stops only when
    /// no remaining candidate can hold a newer version than the one found, so
    /// the answer is right whatever order runs ended up in.
    fn get_from_version(&self, v: &Version, key: &[u8], seq: u64) -> Result<Option<InternalValue>> {
        let mut cands = crate::version::Candidates::new();
        v.candidates(key, &mut cands);
        if cands.is_empty() {
            return Ok(None);
        }
        cands.retain(|(_, f)| f.props.min_seq <= seq);
        cands.sort_by_key(|(_, f)| std::cmp::Reverse(f.props.max_seq));
        let hash = key_hash(key);
        let mut best: Option<(u64, InternalValue)> = None;
        for &(level, f) in &cands {
            if best.as_ref().is_some_and(|(s, _)| f.props.max_seq <= *s) {
                break;
            }
            Counters::add(&self.stats.sstables_probed, 1);
            let r = self.tables.reader(f)?;
            let sees_all = seq >= f.props.max_seq;
            if let Some((s, val)) =
                r.get(&self.tables.inner, key, hash, seq, level == 0, sees_all)?
            {
                if best.as_ref().is_none_or(|(b, _)| s > *b) {
                    best = Some((s, val));
                }
            }
        }
        Ok(best.map(|(_, v)| v))
    }

    /// A merged iterator, unpositioned, over every source that may hold a
    /// key of `[lower, upper)`, for a reader at `seq` (the memtables yield
    /// only the version of each key it sees). With `fill_cache` off,
    /// SSTable blocks it reads are not cached.
    ///
    /// Of each sorted run only the files whose key range meets the range
    /// are kept, and a run with none is left out: a short range read (a
    /// list's ends, a collection's members) then seeks the few files that
    /// can hold its keys, not one file (an index, a block) per run.
    pub(crate) fn merged(
        &self,
        sv: &crate::version::SuperVersion,
        seq: u64,
        fill_cache: bool,
        (lower, upper): (Bound<&[u8]>, Bound<&[u8]>),
    ) -> MergeIter {
        let mut children: Vec<Box<dyn InternalIter>> = Vec::with_capacity(2 + sv.imms.len() + 8);
        children.push(Box::new(MemIter::new(sv.mem.clone(), Some(seq))));
        for m in &sv.imms {
            children.push(Box::new(MemIter::new(m.clone(), Some(seq))));
        }
        for (_, run) in sv.version.runs_by_age() {
            let files = run.files_within(lower, upper);
            if files.is_empty() {
                continue;
            }
            children.push(Box::new(RunIter::new(
                files.to_vec(),
                self.tables.inner.clone(),
                fill_cache,
            )));
        }
        MergeIter::new(children)
    }

    /// The public iterator over `[lower, upper)` at `seq`, ascending or
    /// (`reverse`) descending.
    pub(crate) fn iter_at(
        &self,
        (lower, upper): (Bound<Bytes>, Bound<Bytes>),
        seq: u64,
        fill_cache: bool,
        reverse: bool,
    ) -> Result<EngineIter> {
        let sv = self.current_sv();
        let merge = self.merged(&sv, seq, fill_cache, (bound_ref(&lower), bound_ref(&upper)));
        // At time 0 nothing has expired: the embedder judges expiry.
        let now = if self.opts.hide_expired {
            self.now_ms()
        } else {
            0
        };
        Ok(if reverse {
            EngineIter::new_reverse(merge, seq, lower, upper, now)
        } else {
            EngineIter::new(merge, seq, lower, upper, now)
        })
    }
}

/// `bound` borrowed.
fn bound_ref(bound: &Bound<Bytes>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(&k[..]),
        Bound::Excluded(k) => Bound::Excluded(&k[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}
