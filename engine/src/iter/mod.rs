//! Iteration. Every source (memtable, SSTable, sorted run) implements
//! `InternalIter` over internal keys (user key ascending, sequence
//! descending); `MergeIter` merges any number of them; `EngineIter` turns the
//! merged stream into the public view: the newest version visible at one
//! snapshot per key, without tombstones or expired values, within bounds.

pub(crate) mod engine_iter;
pub(crate) mod merge;

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::memtable::{MemEntry, Memtable};
use crate::value::InternalValue;

pub use engine_iter::EngineIter;

/// An iterator over internal entries. Callers position it with `seek` (or
/// `seek_first`) before reading forward, `next` only while `valid`; or with
/// `seek_for_prev` (or `seek_last`) before reading backward, `prev` only
/// while `valid`. One positioning sets the direction until the next.
pub(crate) trait InternalIter: Send {
    /// True while positioned on an entry.
    fn valid(&self) -> bool;
    /// User key of the current entry.
    fn user_key(&self) -> &[u8];
    /// Sequence number of the current entry.
    fn seq(&self) -> u64;
    /// Value of the current entry.
    fn value(&self) -> &InternalValue;
    /// Advances to the next entry.
    fn next(&mut self) -> Result<()>;
    /// Positions at the first entry at or after `(user, seq)` in internal order.
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()>;
    /// Positions at the first entry.
    fn seek_first(&mut self) -> Result<()> {
        self.seek(&[], u64::MAX)
    }
    /// Moves back to the entry before this one.
    fn prev(&mut self) -> Result<()>;
    /// Positions at the last entry at or before `(user, seq)` in internal
    /// order: a key's versions with sequences `seq` and above, and every
    /// key before it.
    fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()>;
    /// Positions at the last entry.
    fn seek_last(&mut self) -> Result<()>;
}

/// Entries fetched from the memtable per refill: one read lock per batch.
const MEM_BATCH: usize = 64;

/// Entries the first refill after a seek fetches; each refill after it
/// fetches four times more, up to [`MEM_BATCH`]. Many reads want a few
/// entries after a seek (a list's head for LPUSH, a page of ten), and a
/// batch is copied whole: a first batch of 64 made LPUSH to a long list
/// spend 6% of its time copying entries it never read.
const MEM_FIRST_BATCH: usize = 8;

/// Iterator over one memtable, fetching entries in small batches so no
/// lock or map borrow outlives a call (the iterator is `'static`).
/// Backward, it yields one version per key, the one a reader at
/// `newest_at` sees: what a reader's reverse scan needs.
pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    buf: Vec<MemEntry>,
    pos: usize,
    more: bool,
    /// Only the version each key shows a reader at this sequence.
    newest_at: Option<u64>,
    /// Entries the next refill fetches.
    batch: usize,
}

impl MemIter {
    /// An unpositioned iterator over `mem`: every version of every key, or
    /// (`newest_at`) only the one a reader at that sequence sees.
    pub(crate) fn new(mem: Arc<Memtable>, newest_at: Option<u64>) -> Self {
        MemIter {
            mem,
            buf: Vec::new(),
            pos: 0,
            more: false,
            newest_at,
            batch: MEM_FIRST_BATCH,
        }
    }

    fn fill_back(&mut self, to: Bound<&[u8]>) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let at = self.newest_at.unwrap_or(u64::MAX);
        self.more = self.mem.scan_back(to, self.batch, &mut buf, at);
        self.batch = (self.batch * 4).min(MEM_BATCH);
        self.buf = buf;
        self.pos = 0;
    }

    fn fill(&mut self, from: Bound<(&[u8], u64)>) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.more = self.mem.scan(from, self.batch, &mut buf, self.newest_at);
        self.batch = (self.batch * 4).min(MEM_BATCH);
        self.buf = buf;
        self.pos = 0;
    }

    fn cur(&self) -> Option<&MemEntry> {
        self.buf.get(self.pos)
    }
}

impl InternalIter for MemIter {
    fn valid(&self) -> bool {
        self.pos < self.buf.len()
    }
    fn user_key(&self) -> &[u8] {
        self.cur().map_or(&[], |e| &e.0[..])
    }
    fn seq(&self) -> u64 {
        self.cur().map_or(0, |e| e.1)
    }
    fn value(&self) -> &InternalValue {
        static EMPTY: InternalValue = InternalValue {
            kind: crate::value::Kind::Delete,
            data: Bytes::new(),
            time_ms: 0,
        };
        self.cur().map_or(&EMPTY, |e| &e.2)
    }
    fn next(&mut self) -> Result<()> {
        self.pos += 1;
        if self.pos >= self.buf.len() && self.more {
            if let Some((k, s, _)) = self.buf.last().cloned() {
                // With one version per key, the next batch starts after
                // every version of the last key ((k, 0) sorts last).
                let s = if self.newest_at.is_some() { 0 } else { s };
                self.fill(Bound::Excluded((&k, s)));
            }
        }
        Ok(())
    }
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
        self.batch = MEM_FIRST_BATCH;
        self.fill(Bound::Included((user, seq)));
        Ok(())
    }
    fn seek_first(&mut self) -> Result<()> {
        self.batch = MEM_FIRST_BATCH;
        self.fill(Bound::Unbounded);
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.pos += 1;
        if self.pos >= self.buf.len() && self.more {
            if let Some((k, _, _)) = self.buf.last().cloned() {
                self.fill_back(Bound::Excluded(&k));
            }
        }
        Ok(())
    }
    fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()> {
        self.batch = MEM_FIRST_BATCH;
        self.fill_back(Bound::Included(user));
        // `user`'s version lies after `(user, seq)` when it is older.
        if self.cur().is_some_and(|e| &e.0[..] == user && e.1 < seq) {
            self.prev()?;
        }
        Ok(())
    }
    fn seek_last(&mut self) -> Result<()> {
        self.batch = MEM_FIRST_BATCH;
        self.fill_back(Bound::Unbounded);
        Ok(())
    }
}

/// The smallest key strictly greater than every key starting with `prefix`,
/// or `None` if there is none (prefix empty or all 0xff).
pub fn prefix_successor(prefix: &[u8]) -> Option<Bytes> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last != 0xff {
            v.push(last + 1);
            return Some(Bytes::from(v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_skips_ff_bytes() {
        assert_eq!(prefix_successor(b"ab").unwrap(), Bytes::from("ac"));
        assert_eq!(prefix_successor(b"a\xff").unwrap(), Bytes::from("b"));
        assert!(prefix_successor(b"\xff\xff").is_none());
        assert!(prefix_successor(b"").is_none());
    }
}
