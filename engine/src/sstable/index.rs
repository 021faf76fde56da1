//! The index block: one entry per data block, key = the block's last internal
//! key, value = `offset:varint len:varint` of the block. Restart interval 1,
//! so a seek is a pure binary search.
//!
//! Readers decode it once into a [`TableIndex`] (cached so in the block
//! cache): a binary search over the block's entries touches a cache line per
//! step, and on a table of tens of megabytes (an index of tens of thousands
//! of entries) those misses were most of a point read's time.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::cmp::Ordering;

use super::block::{Block, BlockIter, cmp_ikey, split_internal_key};
use crate::coding::{Cursor, DecodeError, put_varint};
use crate::sstable::footer::Handle;

/// Restart interval of index blocks.
pub(crate) const INDEX_RESTART_INTERVAL: usize = 1;

/// Encodes a data block handle as an index value.
pub(crate) fn encode_handle(out: &mut Vec<u8>, h: Handle) {
    put_varint(out, h.offset);
    put_varint(out, h.len);
}

/// Decodes an index value.
pub(crate) fn decode_handle(v: &[u8]) -> Result<Handle, DecodeError> {
    let mut c = Cursor::new(v);
    let offset = c.varint("block offset")?;
    let len = c.varint("block length")?;
    if !c.is_empty() {
        return Err(DecodeError {
            at: c.pos(),
            what: "trailing bytes after block handle",
        });
    }
    Ok(Handle { offset, len })
}

/// A decoded index block. Besides the entries (keys back to back, handles
/// decoded), it keeps per entry the eight bytes of its user key that follow
/// the prefix every entry's user key shares, big-endian and zero-padded: a
/// dense array whose order is the entries' order, so a seek binary-searches
/// it and compares whole keys only among the few entries it cannot tell
/// apart.
#[derive(Debug)]
pub(crate) struct TableIndex {
    /// The internal keys, back to back.
    keys: Vec<u8>,
    /// Where each key ends in `keys`.
    ends: Vec<u32>,
    handles: Vec<Handle>,
    /// The length of the user-key prefix all entries share.
    common: usize,
    /// Per entry, the eight user-key bytes after `common`.
    prefixes: Vec<u64>,
}

/// The eight bytes of `rest` (zero-padded) as a big-endian number: ordered
/// as the byte strings are, up to ties.
fn prefix_of(rest: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(rest) {
        *d = *s;
    }
    u64::from_be_bytes(a)
}

impl TableIndex {
    /// Decodes every entry of `block`; an entry that does not decode is an
    /// error at its position.
    pub(crate) fn decode(block: Block) -> Result<TableIndex, DecodeError> {
        let mut it = BlockIter::new(block);
        let (mut keys, mut ends, mut handles) = (Vec::new(), Vec::new(), Vec::new());
        it.seek_first();
        while it.valid() {
            keys.extend_from_slice(it.key());
            ends.push(u32::try_from(keys.len()).map_err(|_| DecodeError {
                at: 0,
                what: "index block too large",
            })?);
            handles.push(decode_handle(it.value())?);
            it.next();
        }
        if let Some(e) = it.status() {
            return Err(e);
        }
        let mut index = TableIndex {
            keys,
            ends,
            handles,
            common: 0,
            prefixes: Vec::new(),
        };
        let n = index.len();
        if n > 0 {
            let first = index.user_key(0);
            let last = index.user_key(n - 1);
            index.common = first.iter().zip(last).take_while(|(a, b)| a == b).count();
            index.prefixes = (0..n)
                .map(|i| prefix_of(index.user_key(i).get(index.common..).unwrap_or_default()))
                .collect();
        }
        Ok(index)
    }

    /// Entries (data blocks).
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Entry `i`'s internal key (empty past the end).
    fn key(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
            None => 0,
        } as usize;
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        self.keys.get(start..end).unwrap_or_default()
    }

    fn user_key(&self, i: usize) -> &[u8] {
        split_internal_key(self.key(i)).map_or(&[], |(u, _, _)| u)
    }

    /// Entry `i`'s data block, `None` past the end.
    pub(crate) fn handle(&self, i: usize) -> Option<Handle> {
        self.handles.get(i).copied()
    }

    /// The first entry whose key is >= `target` (an internal key): the data
    /// block that may hold it; `len()` when none does.
    pub(crate) fn seek(&self, target: &[u8]) -> usize {
        let n = self.len();
        let Some((user, _, _)) = split_internal_key(target) else {
            return 0;
        };
        let common = self.key(0).get(..self.common).unwrap_or_default();
        let Some(rest) = user.strip_prefix(common) else {
            // Every entry starts with `common`, and `user` does not.
            return if user < common { 0 } else { n };
        };
        let p = prefix_of(rest);
        let lo = self.prefixes.partition_point(|&x| x < p);
        // The entries with the same eight bytes follow: usually none or one
        // (a second binary search over the rest would cost a cache miss a
        // step), many only when keys differ further on.
        let same = self.prefixes.get(lo..).unwrap_or_default();
        let mut run = same.iter().take(8).take_while(|&&x| x == p).count();
        if run == 8 {
            run = same.partition_point(|&x| x == p);
        }
        let hi = lo + run;
        // Among those, whole keys decide.
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = a + (b - a) / 2;
            if cmp_ikey(self.key(mid), target) == Ordering::Less {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        a
    }

    /// Bytes held (what the block cache charges for it).
    pub(crate) fn bytes(&self) -> usize {
        self.keys.len() + self.len() * (4 + 16 + 8)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let h = Handle {
            offset: 123_456,
            len: 4096,
        };
        let mut b = Vec::new();
        encode_handle(&mut b, h);
        assert_eq!(decode_handle(&b).unwrap(), h);
        assert!(decode_handle(&b[..1]).is_err());
        b.push(0);
        assert!(decode_handle(&b).is_err());
    }

    /// An index over `users` (sorted, distinct) with sequence numbers
    /// `seqs`, and the entries' internal keys.
    fn index_of(entries: &[(Vec<u8>, u64)]) -> (TableIndex, Vec<Vec<u8>>) {
        use crate::sstable::block::{BlockBuilder, put_internal_key};
        use crate::value::Kind;
        let mut b = BlockBuilder::new(INDEX_RESTART_INTERVAL);
        let mut keys = Vec::new();
        for (i, (user, seq)) in entries.iter().enumerate() {
            let mut k = Vec::new();
            put_internal_key(&mut k, user, *seq, Kind::Put);
            let mut v = Vec::new();
            encode_handle(
                &mut v,
                Handle {
                    offset: i as u64 * 100,
                    len: 90,
                },
            );
            b.add(&k, &v);
            keys.push(k);
        }
        let block = Block::decode(bytes::Bytes::from(b.finish())).unwrap();
        (TableIndex::decode(block).unwrap(), keys)
    }

    proptest::proptest! {
        /// The seek over prefixes answers what a binary search over the
        /// whole keys does, for keys sharing long prefixes or not, of any
        /// length, and targets inside, before, after and beside them.
        #[test]
        fn seek_agrees_with_a_search_over_whole_keys(
            stem in proptest::collection::vec(0u8..3, 0..12),
            tails in proptest::collection::btree_set(proptest::collection::vec(0u8..4, 0..12), 1..60),
            seqs in proptest::collection::vec(0u64..5, 60),
            targets in proptest::collection::vec((proptest::collection::vec(0u8..5, 0..24), 0u64..6), 1..40),
        ) {
            use crate::sstable::block::put_internal_key;
            use crate::value::Kind;
            // One entry per user key (a block's last key), in internal order.
            let entries: Vec<(Vec<u8>, u64)> = tails
                .iter()
                .zip(&seqs)
                .map(|(t, s)| ([stem.clone(), t.clone()].concat(), *s))
                .collect();
            let (index, keys) = index_of(&entries);
            proptest::prop_assert_eq!(index.len(), keys.len());
            for (user, seq) in targets {
                for user in [user.clone(), [stem.clone(), user].concat()] {
                    let mut t = Vec::new();
                    put_internal_key(&mut t, &user, seq, Kind::Put);
                    let want = keys.partition_point(|k| cmp_ikey(k, &t) == Ordering::Less);
                    proptest::prop_assert_eq!(index.seek(&t), want, "target {:?}", user);
                }
            }
            for (i, k) in keys.iter().enumerate() {
                proptest::prop_assert_eq!(index.seek(k), i);
                proptest::prop_assert_eq!(index.handle(i).map(|h| h.offset), Some(i as u64 * 100));
            }
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let (index, _) = index_of(&[]);
        assert_eq!(index.len(), 0);
        let mut t = Vec::new();
        crate::sstable::block::put_internal_key(&mut t, b"a", 1, crate::value::Kind::Put);
        assert_eq!(index.seek(&t), 0);
        assert_eq!(index.handle(0), None);
    }
}
