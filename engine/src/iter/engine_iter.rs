//! `EngineIter`, the public range iterator: newest visible version per key at
//! one snapshot, skipping tombstones and expired values, within
//! `[lower, upper)`. It owns `Arc`s to every memtable and SSTable it reads, so
//! it is `Send + 'static` and sees a stable view while the engine moves on.

use std::ops::Bound;

use bytes::Bytes;

use super::InternalIter;
use super::merge::MergeIter;
use crate::error::Result;
use crate::value::Value;

/// Older versions of one key passed by stepping before a scan seeks past
/// the rest.
const SKIP_BY_STEPPING: usize = 4;

/// Iterator over live, unexpired `(key, value)` pairs, consistent at one
/// snapshot, ascending (or descending: [`crate::Engine::iter_rev`]). A
/// corrupted block yields one `Err` item, after which the iterator ends; it
/// never yields wrong data.
pub struct EngineIter {
    merge: MergeIter,
    snapshot: u64,
    /// The bound the walk stops at: the upper one, or the lower one when
    /// `reverse`.
    end: Bound<Bytes>,
    now_ms: u64,
    /// The bound the walk starts from, until it has.
    started: Option<Bound<Bytes>>,
    reverse: bool,
    done: bool,
}

impl EngineIter {
    pub(crate) fn new(
        merge: MergeIter,
        snapshot: u64,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
        now_ms: u64,
    ) -> Self {
        EngineIter {
            merge,
            snapshot,
            end: upper,
            now_ms,
            started: Some(lower),
            reverse: false,
            done: false,
        }
    }

    /// The same iterator over `[lower, upper)` walking from `upper` down.
    pub(crate) fn new_reverse(
        merge: MergeIter,
        snapshot: u64,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
        now_ms: u64,
    ) -> Self {
        EngineIter {
            merge,
            snapshot,
            end: lower,
            now_ms,
            started: Some(upper),
            reverse: true,
            done: false,
        }
    }

    /// The sequence number this iterator reads at.
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot
    }

    fn start(&mut self, lower: Bound<Bytes>) -> Result<()> {
        match &lower {
            Bound::Unbounded => self.merge.seek_first()?,
            Bound::Included(k) | Bound::Excluded(k) => self.merge.seek(k, u64::MAX)?,
        }
        if let Bound::Excluded(k) = &lower {
            while self.merge.valid() && self.merge.user_key() == &k[..] {
                self.merge.next()?;
            }
        }
        Ok(())
    }

    fn beyond_upper(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(u) => key > &u[..],
            Bound::Excluded(u) => key >= &u[..],
        }
    }

    fn below_lower(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(l) => key < &l[..],
            Bound::Excluded(l) => key <= &l[..],
        }
    }

    /// Positions the walk down at the last entry within `upper`.
    fn start_back(&mut self, upper: Bound<Bytes>) -> Result<()> {
        match &upper {
            Bound::Unbounded => self.merge.seek_last()?,
            // Every version of `k`: (k, 0) sorts after all of them.
            Bound::Included(k) => self.merge.seek_for_prev(k, 0)?,
            Bound::Excluded(k) => {
                self.merge.seek_for_prev(k, u64::MAX)?;
                while self.merge.valid() && self.merge.user_key() == &k[..] {
                    self.merge.prev()?;
                }
            }
        }
        Ok(())
    }

    /// The next key down: walking back, a key's versions come oldest
    /// first, so the visible one is the last at or below the snapshot
    /// before the key changes.
    fn step_back(&mut self) -> Result<Option<(Bytes, Value)>> {
        if let Some(upper) = self.started.take() {
            self.start_back(upper)?;
        }
        loop {
            if !self.merge.valid() || self.below_lower(self.merge.user_key()) {
                return Ok(None);
            }
            let key = Bytes::copy_from_slice(self.merge.user_key());
            let mut visible = None;
            while self.merge.valid() && self.merge.user_key() == &key[..] {
                if self.merge.seq() <= self.snapshot {
                    visible = Some(self.merge.value().visible(self.now_ms));
                }
                self.merge.prev()?;
            }
            if let Some(Some(v)) = visible {
                return Ok(Some((key, v)));
            }
        }
    }

    /// Moves past every older version of `key`: a few steps, then (a key
    /// rewritten many times since the last flush) one seek to its oldest
    /// possible version, so a scan costs per key, not per version.
    fn skip_versions(&mut self, key: &[u8]) -> Result<()> {
        for _ in 0..SKIP_BY_STEPPING {
            self.merge.next()?;
            if !self.merge.valid() || self.merge.user_key() != key {
                return Ok(());
            }
        }
        // Internal keys order versions newest first: (key, 0) is the last
        // one a key can have, and no source holds anything between the
        // current position and it that is not a version of `key`.
        self.merge.seek(key, 0)?;
        while self.merge.valid() && self.merge.user_key() == key {
            self.merge.next()?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(Bytes, Value)>> {
        if let Some(lower) = self.started.take() {
            self.start(lower)?;
        }
        loop {
            if !self.merge.valid() {
                return Ok(None);
            }
            if self.merge.seq() > self.snapshot {
                self.merge.next()?;
                continue;
            }
            if self.beyond_upper(self.merge.user_key()) {
                return Ok(None);
            }
            // The first version at or below the snapshot is the one visible.
            let key = Bytes::copy_from_slice(self.merge.user_key());
            let visible = self.merge.value().visible(self.now_ms);
            self.skip_versions(&key)?;
            if let Some(v) = visible {
                return Ok(Some((key, v)));
            }
        }
    }
}

impl Iterator for EngineIter {
    type Item = Result<(Bytes, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = if self.reverse {
            self.step_back()
        } else {
            self.step()
        };
        match step {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::fmt::Debug for EngineIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIter")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}
