//! `MergeIter`: merges any number of internal iterators into one stream in
//! internal-key order. Sources are few (memtables plus sorted runs), so the
//! smallest is found by a linear scan, which beats a heap at this size and
//! needs no re-keying.

use std::cmp::Ordering;

use super::InternalIter;
use crate::error::Result;
use crate::memtable::cmp_internal;
use crate::value::InternalValue;

/// A k-way merge of internal iterators. Equal internal keys cannot occur
/// (sequence numbers are unique), so ties do not arise.
pub(crate) struct MergeIter {
    children: Vec<Box<dyn InternalIter>>,
    cur: Option<usize>,
}

impl MergeIter {
    /// Merges `children` (unpositioned).
    pub(crate) fn new(children: Vec<Box<dyn InternalIter>>) -> Self {
        MergeIter {
            children,
            cur: None,
        }
    }

    fn pick(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let bc = &self.children[b];
                    if cmp_internal(c.user_key(), c.seq(), bc.user_key(), bc.seq())
                        == Ordering::Less
                    {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        self.cur = best;
    }

    fn current(&self) -> Option<&dyn InternalIter> {
        self.cur.and_then(|i| self.children.get(i)).map(|c| &**c)
    }
}

impl InternalIter for MergeIter {
    fn valid(&self) -> bool {
        self.cur.is_some()
    }
    fn user_key(&self) -> &[u8] {
        self.current().map_or(&[], |c| c.user_key())
    }
    fn seq(&self) -> u64 {
        self.current().map_or(0, |c| c.seq())
    }
    fn value(&self) -> &InternalValue {
        match self.current() {
            Some(c) => c.value(),
            None => {
                static EMPTY: InternalValue = InternalValue {
                    kind: crate::value::Kind::Delete,
                    data: bytes::Bytes::new(),
                    time_ms: 0,
                };
                &EMPTY
            }
        }
    }
    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.cur.and_then(|i| self.children.get_mut(i)) {
            c.next()?;
        }
        self.pick();
        Ok(())
    }
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
        for c in &mut self.children {
            c.seek(user, seq)?;
        }
        self.pick();
        Ok(())
    }
    fn seek_first(&mut self) -> Result<()> {
        for c in &mut self.children {
            c.seek_first()?;
        }
        self.pick();
        Ok(())
    }
}
