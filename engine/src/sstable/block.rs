//! Block codec (`docs/formats/sstable.md` §2, "block"). Data and index blocks
//! share it:
//!
//! ```text
//! block   := entry* restart:u32le* num_restarts:u32le
//! entry   := shared:varint unshared:varint value_len:varint key_delta[unshared] value[value_len]
//! on disk := block crc32c(block):u32le
//! ```
//!
//! Keys are internal keys (`user_key ++ trailer:u64le`, trailer = seq << 8 |
//! kind) ordered by user key ascending then sequence descending. Every
//! `restart_interval`-th key is stored whole and its offset listed as a
//! restart point, so a seek binary-searches restarts then scans forward.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::cmp::Ordering;

use bytes::Bytes;

use crate::coding::{Cursor, DecodeError, put_varint, u32_at, u64_at};
use crate::format::{OP_DELETE, OP_PUT};
use crate::value::{InternalValue, Kind};

/// Length of the trailer appended to a user key to make an internal key.
pub(crate) const TRAILER_LEN: usize = 8;

/// Appends the internal key for `(user, seq, kind)` to `out`.
pub(crate) fn put_internal_key(out: &mut Vec<u8>, user: &[u8], seq: u64, kind: Kind) {
    out.extend_from_slice(user);
    let k = match kind {
        Kind::Put => OP_PUT,
        Kind::Delete => OP_DELETE,
    };
    out.extend_from_slice(&((seq << 8) | u64::from(k)).to_le_bytes());
}

/// Splits an internal key into user key, sequence and kind byte.
pub(crate) fn split_internal_key(ikey: &[u8]) -> Option<(&[u8], u64, u8)> {
    let n = ikey.len().checked_sub(TRAILER_LEN)?;
    let t = u64_at(ikey, n)?;
    Some((ikey.get(..n)?, t >> 8, (t & 0xff) as u8))
}

/// Internal-key order on encoded keys. Malformed (short) keys sort first; they
/// never get this far because blocks are checksummed and decoded strictly.
pub(crate) fn cmp_ikey(a: &[u8], b: &[u8]) -> Ordering {
    match (split_internal_key(a), split_internal_key(b)) {
        (Some((au, aseq, _)), Some((bu, bseq, _))) => au.cmp(bu).then_with(|| bseq.cmp(&aseq)),
        _ => a.len().cmp(&b.len()),
    }
}

/// Encodes a value field: put = `expire:varint data`, tombstone = `time:varint`.
pub(crate) fn put_value(out: &mut Vec<u8>, v: &InternalValue) {
    let data = value_parts(out, v);
    out.extend_from_slice(data);
}

/// A value field in two parts: its head (the time) appended to `head`,
/// and the data that follows it, returned (empty for a tombstone).
pub(crate) fn value_parts<'v>(head: &mut Vec<u8>, v: &'v InternalValue) -> &'v [u8] {
    put_varint(head, v.time_ms);
    match v.kind {
        Kind::Put => &v.data,
        Kind::Delete => &[],
    }
}

/// Decodes a value field for an entry of `kind` (the trailer's kind byte).
/// `block` is the block the value lives in so data is a zero-copy slice.
pub(crate) fn decode_value(
    block: &Bytes,
    value: &[u8],
    kind: u8,
) -> Result<InternalValue, DecodeError> {
    let mut c = Cursor::new(value);
    let time_ms = c.varint("value time")?;
    match kind {
        OP_PUT => {
            let rest = c.bytes(c.remaining(), "value data")?;
            Ok(InternalValue {
                kind: Kind::Put,
                data: block.slice_ref(rest),
                time_ms,
            })
        }
        OP_DELETE if c.is_empty() => Ok(InternalValue::tombstone(time_ms)),
        _ => Err(DecodeError {
            at: 0,
            what: "bad value kind",
        }),
    }
}

/// Builds one block.
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    interval: usize,
    counter: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// A builder storing every `interval`-th key whole.
    pub(crate) fn new(interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            interval: interval.max(1),
            counter: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Adds an entry; keys must arrive in internal order.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        self.add_parts(key, value, &[]);
    }

    /// Adds an entry whose value is `head` then `tail`, copied once into
    /// the block. The block's buffer is sized for the entry and the
    /// block's restarts: a long value (hundreds of MB) grew it by doubling
    /// before, each step copying everything so far into fresh memory.
    pub(crate) fn add_parts(&mut self, key: &[u8], head: &[u8], tail: &[u8]) {
        let value_len = head.len() + tail.len();
        let shared = if self.counter < self.interval {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let unshared = key.get(shared..).unwrap_or_default();
        self.buf
            .reserve(3 * 10 + unshared.len() + value_len + 4 * self.restarts.len() + 8);
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, unshared.len() as u64);
        put_varint(&mut self.buf, value_len as u64);
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(head);
        self.buf.extend_from_slice(tail);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
        self.entries += 1;
    }

    /// Bytes the finished block will take (before its trailer).
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// True when nothing was added since the last `finish`.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends restarts and count, returns the block bytes, and resets.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.entries = 0;
        self.last_key.clear();
        out
    }
}

/// A decoded (checksum-verified) block: the bytes and where restarts start.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub(crate) data: Bytes,
    restarts_at: usize,
    num_restarts: usize,
}

impl Block {
    /// Validates the restart array of `data` (a block without its trailer).
    pub(crate) fn decode(data: Bytes) -> Result<Block, DecodeError> {
        let len = data.len();
        let bad = |what| DecodeError { at: len, what };
        let n_at = len
            .checked_sub(4)
            .ok_or(bad("block shorter than its restart count"))?;
        let n = u32_at(&data, n_at).ok_or(bad("block restart count"))? as usize;
        let restarts_at = n
            .checked_mul(4)
            .and_then(|b| n_at.checked_sub(b))
            .ok_or(bad("restart array larger than block"))?;
        if n == 0 && restarts_at != 0 {
            return Err(bad("block with entries but no restart point"));
        }
        for i in 0..n {
            let r = u32_at(&data, restarts_at + 4 * i).ok_or(bad("restart point"))? as usize;
            if r >= restarts_at.max(1) && !(r == 0 && restarts_at == 0) {
                return Err(bad("restart point past entries"));
            }
        }
        Ok(Block {
            data,
            restarts_at,
            num_restarts: n,
        })
    }

    fn restart(&self, i: usize) -> usize {
        u32_at(&self.data, self.restarts_at + 4 * i).unwrap_or(0) as usize
    }
}

/// An entry decoded for a walk backward: its offset, where its key ends in
/// `BlockIter::back_keys`, its value's range and the next entry's offset.
#[derive(Clone, Copy)]
struct BackEntry {
    at: usize,
    key_end: usize,
    value: (usize, usize),
    next: usize,
}

/// Cursor over one block. Errors (a corrupt entry despite a good checksum,
/// i.e. a bug or a crafted file) surface through `status`.
pub(crate) struct BlockIter {
    block: Block,
    key: Vec<u8>,
    value: (usize, usize),
    /// Offset of the next entry to decode.
    next: usize,
    /// Offset of the current entry.
    cur: usize,
    /// Walking backward: the entries of the current restart interval
    /// before the current one, decoded once ([`BackEntry`]), their keys
    /// back to back in `back_keys`.
    back: Vec<BackEntry>,
    back_keys: Vec<u8>,
    valid: bool,
    err: Option<DecodeError>,
}

impl BlockIter {
    /// An unpositioned iterator over `block`.
    pub(crate) fn new(block: Block) -> Self {
        BlockIter {
            block,
            key: Vec::new(),
            value: (0, 0),
            next: 0,
            cur: 0,
            back: Vec::new(),
            back_keys: Vec::new(),
            valid: false,
            err: None,
        }
    }

    pub(crate) fn valid(&self) -> bool {
        self.valid
    }

    /// The first decode error met, if any.
    pub(crate) fn status(&self) -> Option<DecodeError> {
        self.err
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.value.0..self.value.1)
            .unwrap_or_default()
    }

    /// The block's bytes (for zero-copy value slices).
    pub(crate) fn block_bytes(&self) -> &Bytes {
        &self.block.data
    }

    /// Decodes the entry at `self.next`; `key` must hold the previous key.
    fn decode_next(&mut self) {
        if self.next >= self.block.restarts_at {
            self.valid = false;
            return;
        }
        let at = self.next;
        let entries = self
            .block
            .data
            .get(..self.block.restarts_at)
            .unwrap_or_default();
        let mut c = Cursor::new(entries.get(at..).unwrap_or_default());
        let r = (|| {
            let shared = c.varint_len(self.key.len(), "shared key length")?;
            let unshared = c.varint_len(entries.len(), "unshared key length")?;
            let vlen = c.varint_len(entries.len(), "value length")?;
            let delta = c.bytes(unshared, "key delta")?;
            let vstart = at + c.pos();
            c.bytes(vlen, "value")?;
            Ok::<_, DecodeError>((shared, delta, vstart, vlen))
        })();
        match r {
            Ok((shared, delta, vstart, vlen)) => {
                self.key.truncate(shared);
                self.key.extend_from_slice(delta);
                if self.key.len() < TRAILER_LEN {
                    self.fail(DecodeError {
                        at,
                        what: "internal key shorter than its trailer",
                    });
                    return;
                }
                self.value = (vstart, vstart + vlen);
                self.next = vstart + vlen;
                self.cur = at;
                self.valid = true;
            }
            Err(e) => self.fail(DecodeError {
                at: at + e.at,
                what: e.what,
            }),
        }
    }

    fn fail(&mut self, e: DecodeError) {
        self.err.get_or_insert(e);
        self.valid = false;
    }

    pub(crate) fn seek_first(&mut self) {
        self.back.clear();
        self.key.clear();
        self.next = 0;
        self.decode_next();
    }

    pub(crate) fn next(&mut self) {
        self.back.clear();
        self.decode_next();
    }

    fn key_at_restart(&self, i: usize) -> Option<&[u8]> {
        let at = self.block.restart(i);
        let entries = self.block.data.get(..self.block.restarts_at)?;
        let mut c = Cursor::new(entries.get(at..)?);
        let shared = c.varint("shared").ok()?;
        if shared != 0 {
            return None;
        }
        let unshared = c.varint_len(entries.len(), "unshared").ok()?;
        let _vlen = c.varint("vlen").ok()?;
        c.bytes(unshared, "key").ok()
    }

    /// Decodes from restart point `r` up to the last entry that starts
    /// before `end` (an entry's offset), which becomes current; invalid
    /// when none does.
    /// The entries before the last are kept for the steps back after it.
    fn decode_before(&mut self, r: usize, end: usize) {
        self.back.clear();
        self.back_keys.clear();
        self.key.clear();
        self.next = self.block.restart(r);
        self.valid = false;
        while self.next < end {
            self.decode_next();
            if !self.valid {
                self.back.clear();
                return;
            }
            self.back_keys.extend_from_slice(&self.key);
            self.back.push(BackEntry {
                at: self.cur,
                key_end: self.back_keys.len(),
                value: self.value,
                next: self.next,
            });
        }
        // The last one decoded is current.
        if let Some(last) = self.back.pop() {
            self.back_keys
                .truncate(last.key_end.saturating_sub(self.key.len()));
        }
    }

    /// Moves to the entry before the current one (invalid at the first):
    /// from the entries of its restart interval decoded for an earlier
    /// step, or by decoding them from the restart point before it, as
    /// entries share their key's prefix with the one before.
    pub(crate) fn prev(&mut self) {
        if let Some(e) = self.back.pop() {
            let start = self.back.last().map_or(0, |b| b.key_end);
            self.key.clear();
            self.key
                .extend_from_slice(self.back_keys.get(start..e.key_end).unwrap_or_default());
            self.back_keys.truncate(start);
            self.cur = e.at;
            self.value = e.value;
            self.next = e.next;
            self.valid = true;
            return;
        }
        let cur = self.cur;
        // The restart points before `cur` (they ascend in a good block; in
        // a bad one this finds some point, and decoding stops at `cur`).
        let (mut lo, mut hi) = (0usize, self.block.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.block.restart(mid) < cur {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1) {
            Some(r) => self.decode_before(r, cur),
            None => self.valid = false,
        }
    }

    /// Positions at the last entry.
    pub(crate) fn seek_to_last(&mut self) {
        match self.block.num_restarts.checked_sub(1) {
            Some(r) => self.decode_before(r, self.block.restarts_at),
            None => self.valid = false,
        }
    }

    /// Positions at the last entry whose key is <= `target` (internal
    /// order); invalid when every key is greater.
    pub(crate) fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if self.err.is_some() {
            return;
        }
        if !self.valid {
            self.seek_to_last();
        } else if cmp_ikey(&self.key, target) == Ordering::Greater {
            self.prev();
        }
    }

    /// Positions at the first entry whose key is >= `target` (internal order).
    pub(crate) fn seek(&mut self, target: &[u8]) {
        self.back.clear();
        // Last restart whose key is < target.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts);
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            match self.key_at_restart(mid) {
                Some(k) if cmp_ikey(k, target) == Ordering::Less => lo = mid,
                Some(_) => hi = mid,
                None => {
                    self.fail(DecodeError {
                        at: self.block.restart(mid),
                        what: "bad restart entry",
                    });
                    return;
                }
            }
        }
        self.key.clear();
        self.next = if self.block.num_restarts == 0 {
            self.block.restarts_at
        } else {
            self.block.restart(lo)
        };
        self.decode_next();
        while self.valid && cmp_ikey(&self.key, target) == Ordering::Less {
            self.decode_next();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    fn ikey(u: &str, seq: u64) -> Vec<u8> {
        let mut k = Vec::new();
        put_internal_key(&mut k, u.as_bytes(), seq, Kind::Put);
        k
    }

    fn build(n: usize, interval: usize) -> (Vec<Vec<u8>>, Block) {
        let mut b = BlockBuilder::new(interval);
        let mut keys = Vec::new();
        for i in 0..n {
            let k = ikey(&format!("key{:04}", i / 2), 1000 - i as u64);
            b.add(&k, format!("v{i}").as_bytes());
            keys.push(k);
        }
        (keys, Block::decode(Bytes::from(b.finish())).unwrap())
    }

    #[test]
    fn block_round_trips_and_seeks() {
        for interval in [1, 3, 16] {
            let (keys, block) = build(100, interval);
            let mut it = BlockIter::new(block.clone());
            it.seek_first();
            for (i, k) in keys.iter().enumerate() {
                assert!(it.valid());
                assert_eq!(it.key(), &k[..]);
                assert_eq!(it.value(), format!("v{i}").as_bytes());
                it.next();
            }
            assert!(!it.valid());
            assert!(it.status().is_none());
            for (i, k) in keys.iter().enumerate() {
                let mut it = BlockIter::new(block.clone());
                it.seek(k);
                assert_eq!(it.key(), &k[..], "interval {interval} i {i}");
            }
            let mut it = BlockIter::new(block.clone());
            it.seek_to_last();
            for (i, k) in keys.iter().enumerate().rev() {
                assert!(it.valid(), "interval {interval} i {i}");
                assert_eq!(it.key(), &k[..]);
                assert_eq!(it.value(), format!("v{i}").as_bytes());
                it.prev();
            }
            assert!(!it.valid());
            assert!(it.status().is_none());
            for (i, k) in keys.iter().enumerate() {
                let mut it = BlockIter::new(block.clone());
                it.seek_for_prev(k);
                assert_eq!(it.key(), &k[..], "interval {interval} i {i}");
                // Just past a key (a newer version of the next user key
                // sorts after it): that key.
                let (user, seq, _) = split_internal_key(k).unwrap();
                let mut after = user.to_vec();
                after.push(0);
                it.seek_for_prev(&ikey(std::str::from_utf8(&after).unwrap(), seq));
                let last_of_user = keys
                    .iter()
                    .rposition(|x| split_internal_key(x).unwrap().0 == user);
                assert_eq!(it.key(), &keys[last_of_user.unwrap()][..]);
            }
            let mut it = BlockIter::new(block.clone());
            it.seek_for_prev(&ikey("key", 5));
            assert!(!it.valid(), "before the first key");
            it.seek_for_prev(&ikey("zzz", 5));
            assert_eq!(it.key(), &keys[keys.len() - 1][..]);
            let mut it = BlockIter::new(block.clone());
            it.seek(&ikey("zzz", 5));
            assert!(!it.valid());
            // A newer seq than any stored version of key0003 lands on its newest version.
            let mut it = BlockIter::new(block);
            it.seek(&ikey("key0003", u64::MAX >> 8));
            assert_eq!(split_internal_key(it.key()).unwrap().0, b"key0003");
        }
    }

    #[test]
    fn empty_block_is_valid_and_empty() {
        let mut b = BlockBuilder::new(16);
        let block = Block::decode(Bytes::from(b.finish())).unwrap();
        let mut it = BlockIter::new(block);
        it.seek_first();
        assert!(!it.valid());
    }

    #[test]
    fn garbage_blocks_give_errors_not_panics() {
        let (_, block) = build(40, 4);
        let raw = block.data.to_vec();
        for cut in 0..raw.len() {
            if let Ok(b) = Block::decode(Bytes::copy_from_slice(&raw[..cut])) {
                let mut it = BlockIter::new(b);
                it.seek_first();
                let mut n = 0;
                while it.valid() && n < 1000 {
                    it.next();
                    n += 1;
                }
                it.seek_to_last();
                while it.valid() && n < 2000 {
                    it.prev();
                    n += 1;
                }
            }
        }
        let mut seed = 1u64;
        for _ in 0..300 {
            let mut r = raw.clone();
            for _ in 0..4 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (seed >> 33) as usize % r.len();
                r[i] ^= (seed >> 20) as u8 | 1;
            }
            if let Ok(b) = Block::decode(Bytes::from(r)) {
                let mut it = BlockIter::new(b.clone());
                it.seek(&ikey("key0010", 5));
                let mut it = BlockIter::new(b);
                it.seek_first();
                let mut n = 0;
                while it.valid() && n < 1000 {
                    let _ = decode_value(it.block_bytes(), it.value(), 1);
                    it.next();
                    n += 1;
                }
                it.seek_for_prev(&ikey("key0010", 5));
                while it.valid() && n < 2000 {
                    it.prev();
                    n += 1;
                }
            }
        }
    }
}
