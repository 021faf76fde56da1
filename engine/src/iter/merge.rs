//! `MergeIter`: merges any number of internal iterators into one stream in
//! internal-key order, with a tournament (loser) tree: each step replays
//! one leaf-to-root path, `ceil(log2 k)` key comparisons for `k` sources.
//!
//! Why not a linear scan: a compaction of six level-0 runs into level 1
//! merges seven sources, and a scan compared the smallest against all six
//! others for every entry it wrote. The keys of one collection's members
//! share their first 30 bytes and more, so each comparison is a long
//! `memcmp` behind two virtual calls; the scan was the largest part of a
//! compaction's CPU (`docs/performance.md`).

use std::cmp::Ordering;

use super::InternalIter;
use crate::error::Result;
use crate::memtable::cmp_internal;
use crate::value::InternalValue;

/// A k-way merge of internal iterators. Equal internal keys cannot occur
/// (sequence numbers are unique), so ties do not arise; were they to, the
/// lower-numbered source would come first.
pub(crate) struct MergeIter {
    children: Vec<Box<dyn InternalIter>>,
    /// `tree[0]`: the source holding the smallest entry; `tree[p]` for
    /// `1 <= p < k`: the source that lost the match at internal node `p`
    /// (leaf `i` sits at node `k + i`, the parent of node `p` is `p / 2`).
    tree: Vec<usize>,
    cur: Option<usize>,
    /// Positioned to read backward: the greatest entry wins.
    reverse: bool,
}

impl MergeIter {
    /// Merges `children` (unpositioned).
    pub(crate) fn new(children: Vec<Box<dyn InternalIter>>) -> Self {
        let k = children.len();
        MergeIter {
            children,
            tree: vec![0; k.max(1)],
            cur: None,
            reverse: false,
        }
    }

    /// True if source `a`'s entry comes before source `b`'s in the
    /// direction of reading. An exhausted source comes after every other.
    fn before(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.children[a], &self.children[b]);
        match (ca.valid(), cb.valid()) {
            (false, _) => false,
            (true, false) => true,
            (true, true) => {
                let order = cmp_internal(ca.user_key(), ca.seq(), cb.user_key(), cb.seq());
                match if self.reverse { order.reverse() } else { order } {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => a < b,
                }
            }
        }
    }

    /// Plays every match again (after every source moved).
    fn rebuild(&mut self) {
        let k = self.children.len();
        if k == 0 {
            self.cur = None;
            return;
        }
        // winners[p]: the winner at node p (leaves are their own winners).
        let mut winners = vec![0usize; 2 * k];
        for (i, w) in winners[k..].iter_mut().enumerate() {
            *w = i;
        }
        for p in (1..k).rev() {
            let (a, b) = (winners[2 * p], winners[2 * p + 1]);
            let (win, lose) = if self.before(b, a) { (b, a) } else { (a, b) };
            winners[p] = win;
            self.tree[p] = lose;
        }
        self.tree[0] = if k == 1 { 0 } else { winners[1] };
        self.settle();
    }

    /// Plays the matches on source `leaf`'s path again (after it moved).
    fn replay(&mut self, leaf: usize) {
        let mut winner = leaf;
        let mut p = (self.children.len() + leaf) / 2;
        while p >= 1 {
            let other = self.tree[p];
            if self.before(other, winner) {
                self.tree[p] = winner;
                winner = other;
            }
            p /= 2;
        }
        self.tree[0] = winner;
        self.settle();
    }

    fn settle(&mut self) {
        let top = self.tree[0];
        self.cur = self.children.get(top).filter(|c| c.valid()).map(|_| top);
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
        if let Some(i) = self.cur {
            if let Some(c) = self.children.get_mut(i) {
                c.next()?;
            }
            self.replay(i);
        }
        Ok(())
    }
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
        self.reverse = false;
        for c in &mut self.children {
            c.seek(user, seq)?;
        }
        self.rebuild();
        Ok(())
    }
    fn seek_first(&mut self) -> Result<()> {
        self.reverse = false;
        for c in &mut self.children {
            c.seek_first()?;
        }
        self.rebuild();
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        if let Some(i) = self.cur {
            if let Some(c) = self.children.get_mut(i) {
                c.prev()?;
            }
            self.replay(i);
        }
        Ok(())
    }
    fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()> {
        self.reverse = true;
        for c in &mut self.children {
            c.seek_for_prev(user, seq)?;
        }
        self.rebuild();
        Ok(())
    }
    fn seek_last(&mut self) -> Result<()> {
        self.reverse = true;
        for c in &mut self.children {
            c.seek_last()?;
        }
        self.rebuild();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::value::Kind;

    /// A source over sorted `(user key, seq)` entries.
    struct VecIter {
        entries: Vec<(Vec<u8>, u64)>,
        pos: usize,
        value: InternalValue,
    }

    impl InternalIter for VecIter {
        fn valid(&self) -> bool {
            self.pos < self.entries.len()
        }
        fn user_key(&self) -> &[u8] {
            &self.entries[self.pos].0
        }
        fn seq(&self) -> u64 {
            self.entries[self.pos].1
        }
        fn value(&self) -> &InternalValue {
            &self.value
        }
        fn next(&mut self) -> Result<()> {
            self.pos += 1;
            Ok(())
        }
        fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
            self.pos = self
                .entries
                .partition_point(|(k, s)| cmp_internal(k, *s, user, seq) == Ordering::Less);
            Ok(())
        }
        // Backward, `pos` past the end (`usize::MAX`) means exhausted.
        fn prev(&mut self) -> Result<()> {
            self.pos = self.pos.checked_sub(1).unwrap_or(usize::MAX);
            Ok(())
        }
        fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()> {
            let n = self
                .entries
                .partition_point(|(k, s)| cmp_internal(k, *s, user, seq) != Ordering::Greater);
            self.pos = n.checked_sub(1).unwrap_or(usize::MAX);
            Ok(())
        }
        fn seek_last(&mut self) -> Result<()> {
            self.pos = self.entries.len().checked_sub(1).unwrap_or(usize::MAX);
            Ok(())
        }
    }

    fn sorted(mut e: Vec<(Vec<u8>, u64)>) -> Vec<(Vec<u8>, u64)> {
        e.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
        e
    }

    fn merge_of(sources: &[Vec<(Vec<u8>, u64)>]) -> MergeIter {
        MergeIter::new(
            sources
                .iter()
                .map(|e| {
                    Box::new(VecIter {
                        entries: e.clone(),
                        pos: 0,
                        value: InternalValue {
                            kind: Kind::Put,
                            data: bytes::Bytes::new(),
                            time_ms: 0,
                        },
                    }) as Box<dyn InternalIter>
                })
                .collect(),
        )
    }

    fn drain(m: &mut MergeIter) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        while m.valid() {
            out.push((m.user_key().to_vec(), m.seq()));
            m.next().unwrap();
        }
        out
    }

    fn drain_back(m: &mut MergeIter) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        while m.valid() {
            out.push((m.user_key().to_vec(), m.seq()));
            m.prev().unwrap();
        }
        out
    }

    proptest! {
        /// Any number of sources (empty ones too) merge into internal-key
        /// order, from the start and from any seek target.
        #[test]
        fn merges_in_internal_key_order(
            entries in proptest::collection::vec(
                (0usize..9, proptest::collection::vec(0u8..4, 0..4)), 0..120),
            target in (proptest::collection::vec(0u8..4, 0..4), 0u64..200),
        ) {
            let sources_n = entries.iter().map(|(s, _)| s + 1).max().unwrap_or(0);
            let mut sources = vec![Vec::new(); sources_n];
            // Unique sequence numbers, as the engine's are.
            for (seq, (s, key)) in entries.into_iter().enumerate() {
                sources[s].push((key, seq as u64));
            }
            let sources: Vec<_> = sources.into_iter().map(sorted).collect();
            let all = sorted(sources.iter().flatten().cloned().collect());

            let mut m = merge_of(&sources);
            m.seek_first().unwrap();
            prop_assert_eq!(drain(&mut m), all.clone());

            m.seek_last().unwrap();
            prop_assert_eq!(drain_back(&mut m), all.iter().rev().cloned().collect::<Vec<_>>());

            let (user, seq) = target;
            m.seek_for_prev(&user, seq).unwrap();
            let want: Vec<_> = all
                .iter()
                .rev()
                .filter(|(k, s)| cmp_internal(k, *s, &user, seq) != Ordering::Greater)
                .cloned()
                .collect();
            prop_assert_eq!(drain_back(&mut m), want);

            m.seek(&user, seq).unwrap();
            let want: Vec<_> = all
                .into_iter()
                .filter(|(k, s)| cmp_internal(k, *s, &user, seq) != Ordering::Less)
                .collect();
            prop_assert_eq!(drain(&mut m), want);
        }
    }
}
