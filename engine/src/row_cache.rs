//! The row cache: the newest version of a key in one SSTable, kept by
//! table number and a hash of the user key (the row names its key, which a
//! read checks), so that a point read of a hot key finds its
//! answer without the table's index, the block cache and a seek through
//! the data block (`docs/performance.md`, "Point reads of hot keys: a row
//! cache").
//!
//! A table never changes once written and its number is never reused
//! while the engine runs, so an entry is never stale: an entry of a
//! deleted table is only never asked for again, and goes by eviction. An
//! entry holds the table's newest version of the key; it answers a reader
//! whose snapshot sees that version, and is filled only by a reader that
//! sees every version in the table (the version it found is then the
//! newest there). Values are copied out of their block, so an entry does
//! not hold a 4 KB block alive for a short value; a row larger than
//! [`MAX_ROW_BYTES`] is not kept.
//!
//! A row is kept at its second read, not its first: a doorkeeper (two
//! bits per hash of table and key, cleared once a quarter of its bits are
//! set) remembers first reads. Most reads of a table happen once per key: the
//! read before a write (the write's newer version is in the memtable from
//! then on) and scans of cold keys; keeping those would cost an allocation
//! and an eviction each and push hot rows out.
//!
//! Its budget is a share of the block cache's (`crate::cache`), so the
//! two together stay within `block_cache_bytes`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;

use crate::coding::{u32_at, u64_at};
use crate::format::{OP_DELETE, OP_PUT};
use crate::value::{InternalValue, Kind};

/// Per-entry bookkeeping charged with each row (the cache's entry and
/// slot, the row's reference counts and allocation).
const ROW_OVERHEAD: u64 = 96;

/// Rows with a longer key and value together are read from their block.
const MAX_ROW_BYTES: usize = 4096;

/// An entry's key: the table and the user key's hash
/// (`sstable::bloom::key_hash`). Two keys of one table with the same hash
/// share an entry, the one kept last: a row names its key, and a read of
/// the other key finds it is not its own.
type RowKey = (u64, u64);

/// A kept row, one allocation beside its reference counts, so that a hit
/// touches one or two cache lines:
///
/// ```text
/// seq:u64le time_ms:u64le kind:u8 key_len:u32le key value
/// ```
///
/// `kind` is the op byte of the WAL and SSTables (`format::OP_PUT`,
/// `format::OP_DELETE`).
type Row = Arc<[u8]>;

const SEQ_AT: usize = 0;
const TIME_AT: usize = 8;
const KIND_AT: usize = 16;
const KEY_LEN_AT: usize = 17;
const ROW_HEAD: usize = KEY_LEN_AT + 4;

fn encode_row(key: &[u8], seq: u64, value: &InternalValue) -> Option<Row> {
    let key_len = u32::try_from(key.len()).ok()?;
    let mut row = Vec::with_capacity(ROW_HEAD + key.len() + value.data.len());
    row.extend_from_slice(&seq.to_le_bytes());
    row.extend_from_slice(&value.time_ms.to_le_bytes());
    row.push(match value.kind {
        Kind::Put => OP_PUT,
        Kind::Delete => OP_DELETE,
    });
    row.extend_from_slice(&key_len.to_le_bytes());
    row.extend_from_slice(key);
    row.extend_from_slice(&value.data);
    Some(row.into())
}

/// The row's sequence number and value, if it is `key`'s.
fn decode_row(row: &[u8], key: &[u8]) -> Option<(u64, InternalValue)> {
    let key_len = u32_at(row, KEY_LEN_AT)? as usize;
    let key_end = ROW_HEAD.checked_add(key_len)?;
    if row.get(ROW_HEAD..key_end)? != key {
        return None;
    }
    let kind = match *row.get(KIND_AT)? {
        OP_PUT => Kind::Put,
        OP_DELETE => Kind::Delete,
        _ => return None,
    };
    let value = InternalValue {
        kind,
        data: Bytes::copy_from_slice(row.get(key_end..)?),
        time_ms: u64_at(row, TIME_AT)?,
    };
    Some((u64_at(row, SEQ_AT)?, value))
}

#[derive(Clone)]
struct RowWeight;

impl Weighter<RowKey, Row> for RowWeight {
    fn weight(&self, _k: &RowKey, row: &Row) -> u64 {
        row.len() as u64 + ROW_OVERHEAD
    }
}

/// The doorkeeper's hash of a row: the key's (`sstable::bloom::key_hash`)
/// mixed with the table's number.
fn row_hash(table: u64, key_hash: u64) -> u64 {
    (key_hash ^ table.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd)
        .rotate_left(29)
}

/// First reads seen since the last clearing: two bits of one word per hash
/// of table and key (a blocked Bloom filter), cleared once a quarter of the
/// bits are set, so that at most about one in sixteen first reads passes
/// for a second.
struct Doorkeeper {
    bits: Box<[AtomicU64]>,
    set: AtomicUsize,
}

/// The doorkeeper's largest size, in bits (2 MB): a larger row cache's
/// doorkeeper remembers fewer first reads than it holds rows, and clears
/// more often, rather than take memory beside the cache's budget.
const DOORKEEPER_MAX_BITS: usize = 1 << 24;

impl Doorkeeper {
    /// A doorkeeper of `n` bits, rounded up to a power of two between
    /// 4,096 and [`DOORKEEPER_MAX_BITS`].
    fn new(n: usize) -> Self {
        let words = n
            .checked_next_power_of_two()
            .unwrap_or(DOORKEEPER_MAX_BITS)
            .clamp(4096, DOORKEEPER_MAX_BITS)
            / 64;
        Doorkeeper {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            set: AtomicUsize::new(0),
        }
    }

    /// Whether `hash` was seen before; marks it seen.
    fn seen(&self, hash: u64) -> bool {
        let words = self.bits.len();
        let mask = (1u64 << (hash & 63)) | (1u64 << ((hash >> 6) & 63));
        // `words` is a power of two: the mask keeps the index in range.
        let Some(word) = self.bits.get((hash >> 12) as usize & (words - 1)) else {
            return false;
        };
        if word.load(Ordering::Relaxed) & mask == mask {
            return true;
        }
        let before = word.fetch_or(mask, Ordering::Relaxed);
        if before & mask == mask {
            return true;
        }
        let added = (mask & !before).count_ones() as usize;
        // A quarter of the bits set: forget every first read (a second
        // read then counts as a first again, which only delays a row).
        if self.set.fetch_add(added, Ordering::Relaxed) + added >= words * 16 {
            self.set.store(0, Ordering::Relaxed);
            for w in &*self.bits {
                w.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// The cache of rows, weighted by bytes.
pub(crate) struct RowCache {
    rows: quick_cache::sync::Cache<RowKey, Row, RowWeight>,
    doorkeeper: Doorkeeper,
}

impl RowCache {
    /// A cache of at most `bytes` (nothing is kept with a budget of 0).
    pub(crate) fn new(bytes: u64) -> Self {
        let est_items = (bytes / (ROW_OVERHEAD + 64)).max(16) as usize;
        RowCache {
            rows: quick_cache::sync::Cache::with_weighter(est_items, bytes, RowWeight),
            // Eight bits per row the budget holds: cleared at a quarter
            // full, two bits a read, it remembers about as many first
            // reads as there are rows.
            doorkeeper: Doorkeeper::new(est_items.saturating_mul(8)),
        }
    }

    /// The newest version of `key` in table `table` with its sequence
    /// number, if it is kept (`key_hash` is the key's hash,
    /// `sstable::bloom::key_hash`). The value is copied out of the row:
    /// a fresh buffer of this thread's allocator, where a shared one
    /// would take an atomic count on a line other cores touch.
    pub(crate) fn get(
        &self,
        table: u64,
        key: &[u8],
        key_hash: u64,
    ) -> Option<(u64, InternalValue)> {
        let row = self.rows.get(&(table, key_hash))?;
        decode_row(&row, key)
    }

    /// Keeps `value`, the newest version of `key` in table `table`, if
    /// this is the row's second read at least; a row longer than
    /// [`MAX_ROW_BYTES`] is not kept. True if kept.
    pub(crate) fn insert(
        &self,
        table: u64,
        key: &[u8],
        key_hash: u64,
        seq: u64,
        value: &InternalValue,
    ) -> bool {
        if key.len() + value.data.len() > MAX_ROW_BYTES {
            return false;
        }
        if !self.doorkeeper.seen(row_hash(table, key_hash)) {
            return false;
        }
        let Some(row) = encode_row(key, seq, value) else {
            return false;
        };
        self.rows.insert((table, key_hash), row);
        true
    }

    /// Bytes the rows take, their bookkeeping included.
    pub(crate) fn bytes(&self) -> u64 {
        self.rows.weight()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;
    use crate::sstable::bloom::key_hash;

    fn put(data: &[u8]) -> InternalValue {
        InternalValue {
            kind: Kind::Put,
            data: Bytes::copy_from_slice(data),
            time_ms: 0,
        }
    }

    #[test]
    fn a_row_is_found_by_its_table_and_key_only() {
        let c = RowCache::new(1 << 20);
        assert!(!c.insert(7, b"k", 1, 42, &put(b"v")), "a first read");
        assert!(c.get(7, b"k", 1).is_none());
        assert!(c.insert(7, b"k", 1, 42, &put(b"v")), "a second read");
        let (seq, value) = c.get(7, b"k", 1).unwrap();
        assert_eq!(
            (seq, &value.data[..], value.kind),
            (42, &b"v"[..], Kind::Put)
        );
        assert!(c.get(8, b"k", 1).is_none(), "another table");
        assert!(c.get(7, b"k", 2).is_none(), "another hash");
        // Keys whose hashes collide: each read checks the key kept.
        assert!(c.get(7, b"k2", 1).is_none(), "another key, same hash");
        assert!(c.get(7, b"", 1).is_none());
        let gone = InternalValue {
            kind: Kind::Delete,
            data: Bytes::new(),
            time_ms: 9,
        };
        c.insert(7, b"k2", 1, 50, &gone);
        assert!(c.get(7, b"k", 1).is_none(), "replaced by the colliding key");
        let (seq, value) = c.get(7, b"k2", 1).unwrap();
        assert_eq!((seq, value), (50, gone));
    }

    #[test]
    fn a_row_holds_a_copy_of_its_value_not_the_block() {
        let block = Bytes::from(vec![1u8; 4096]);
        let c = RowCache::new(1 << 20);
        let v = InternalValue {
            kind: Kind::Put,
            data: block.slice(10..20),
            time_ms: 5,
        };
        c.insert(1, b"k", 9, 3, &v);
        c.insert(1, b"k", 9, 3, &v);
        drop(v);
        // The block's buffer has no other owner left: the row copied.
        assert!(block.is_unique());
        let (_, value) = c.get(1, b"k", 9).unwrap();
        assert_eq!(&value.data[..], &[1u8; 10][..]);
        assert_eq!(value.time_ms, 5);
    }

    #[test]
    fn rows_stay_within_the_budget_and_long_rows_are_not_kept() {
        let c = RowCache::new(64 << 10);
        for i in 0..10_000u32 {
            let key = i.to_be_bytes();
            for _ in 0..2 {
                c.insert(1, &key, key_hash(&key), 1, &put(&[0u8; 100]));
            }
        }
        assert!(c.bytes() <= 64 << 10, "{} bytes", c.bytes());
        let key = 9_999u32.to_be_bytes();
        assert!(
            c.get(1, &key, key_hash(&key)).is_some(),
            "a recent row is kept"
        );
        c.insert(2, b"long", 1, 1, &put(&[0u8; MAX_ROW_BYTES]));
        c.insert(2, b"long", 1, 1, &put(&[0u8; MAX_ROW_BYTES]));
        assert!(c.get(2, b"long", 1).is_none());
        let none = RowCache::new(0);
        none.insert(1, b"k", 1, 1, &put(b"v"));
        none.insert(1, b"k", 1, 1, &put(b"v"));
        assert!(none.get(1, b"k", 1).is_none());
    }

    #[test]
    fn a_damaged_row_reads_as_absent() {
        let row = encode_row(b"key", 7, &put(b"value")).unwrap();
        assert_eq!(decode_row(&row, b"key").unwrap().0, 7);
        for cut in 0..row.len() - b"value".len() {
            assert!(decode_row(&row[..cut], b"key").is_none(), "cut at {cut}");
        }
        let mut bad = row.to_vec();
        bad[KIND_AT] = 0;
        assert!(decode_row(&bad, b"key").is_none(), "unknown kind");
    }

    #[test]
    fn the_doorkeeper_is_sized_within_its_bounds() {
        assert_eq!(Doorkeeper::new(0).bits.len() * 64, 4096);
        assert_eq!(Doorkeeper::new(5000).bits.len() * 64, 8192);
        assert_eq!(
            Doorkeeper::new(usize::MAX).bits.len() * 64,
            DOORKEEPER_MAX_BITS
        );
    }

    #[test]
    fn the_doorkeeper_forgets_once_a_quarter_full() {
        let d = Doorkeeper::new(4096);
        let h = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
        assert!(!d.seen(h(0)));
        assert!(d.seen(h(0)));
        // Few first reads pass for second ones while it fills.
        let passed = (1..400).filter(|&i| d.seen(h(i))).count();
        assert!(passed < 40, "{passed} of 399");
        // 1,024 bits set clear it: h(0) is new again.
        for i in 400..1000 {
            d.seen(h(i));
        }
        assert!(d.set.load(Ordering::Relaxed) < 1024);
        assert!(!d.seen(h(0)));
    }
}
