//! The hash table behind the newest-version index: record pointers in
//! 64-byte buckets, each holding the 7-bit tags of its seven slots beside
//! the slots themselves, so a probe reads one cache line before it reads
//! a record (a table whose tags and slots live apart reads two).
//!
//! Because a bucket's place follows from the hash alone, the bucket of a
//! key about to be read can be fetched into the CPU's caches without
//! reading the table ([`BucketTable::bucket_address`]): a pipelined
//! batch's keys start loading together, before the first of them runs.
//!
//! A key lives in its home bucket (the hash's low bits) or, when that is
//! full, in the first bucket after it with a free slot. Each bucket counts
//! the keys stored past it this way (`overflow`): a probe stops at the
//! first bucket whose count is zero. A removal gives back the counts it
//! took; a count that reached its maximum stays there, which costs probes
//! their early stop but never a wrong answer.

use std::ptr::NonNull;

use super::arena::Rec;

/// Slots a bucket holds: seven 8-byte slots, their seven tags and the
/// overflow count fill one cache line.
const SLOTS: usize = 7;

/// Keys a table holds per bucket before it grows (11 in 14 slots, 79%
/// full): longer runs of full buckets past that make probes long.
const MAX_LOAD_NUM: usize = 11;
const MAX_LOAD_DEN: usize = 2;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    /// 0 for a free slot, else the tag of the slot's key ([`tag`]).
    tags: [u8; SLOTS],
    /// Keys whose home bucket lies before this one and whose probe passed
    /// this one full; saturates.
    overflow: u8,
    slots: [Option<Rec>; SLOTS],
}

const EMPTY: Bucket = Bucket {
    tags: [0; SLOTS],
    overflow: 0,
    slots: [None; SLOTS],
};

/// The tag of a hash: its top seven bits, with the high bit set so that
/// no tag is 0 (a free slot).
fn tag(hash: u64) -> u8 {
    0x80 | (hash >> 57) as u8
}

pub(super) struct BucketTable {
    buckets: Vec<Bucket>,
    len: usize,
}

impl BucketTable {
    /// A table with room for `keys` keys before it grows.
    pub(super) fn with_capacity(keys: usize) -> Self {
        BucketTable {
            buckets: vec![EMPTY; buckets_for(keys)],
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the table's buckets take.
    pub(super) fn allocation_size(&self) -> usize {
        self.buckets.capacity() * size_of::<Bucket>()
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Where the bucket of `hash` starts, and the mask that picked it: for
    /// a prefetch hint, which may outlive the table (see
    /// [`BucketTable::bucket_address`]).
    pub(super) fn layout(&self) -> (usize, usize) {
        (self.buckets.as_ptr() as usize, self.mask())
    }

    /// The address of the home bucket of `hash` in a table laid out as
    /// `layout` said. Only ever a hint to prefetch: the table may have
    /// grown and freed that memory since, and a prefetch of any address
    /// is harmless.
    pub(super) fn bucket_address((base, mask): (usize, usize), hash: u64) -> usize {
        base.wrapping_add((hash as usize & mask).wrapping_mul(size_of::<Bucket>()))
    }

    /// The bucket and slot of the record `hash` and `eq` pick, if any.
    fn position(&self, hash: u64, mut eq: impl FnMut(Rec) -> bool) -> Option<(usize, usize)> {
        let tag = tag(hash);
        let mask = self.mask();
        let mut at = hash as usize & mask;
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[at];
            for (s, &t) in bucket.tags.iter().enumerate() {
                if t == tag {
                    if let Some(rec) = bucket.slots[s] {
                        if eq(rec) {
                            return Some((at, s));
                        }
                    }
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// The record `hash` and `eq` pick, if any.
    pub(super) fn find(&self, hash: u64, eq: impl FnMut(Rec) -> bool) -> Option<Rec> {
        let (b, s) = self.position(hash, eq)?;
        self.buckets[b].slots[s]
    }

    /// The record `hash` and `eq` pick, in its slot, to replace it.
    pub(super) fn find_mut(&mut self, hash: u64, eq: impl FnMut(Rec) -> bool) -> Option<&mut Rec> {
        let (b, s) = self.position(hash, eq)?;
        self.buckets[b].slots[s].as_mut()
    }

    /// The first record in the home bucket of `hash` whose tag matches,
    /// without comparing keys: a prefetch's guess.
    pub(super) fn first_tag_match(&self, hash: u64) -> Option<Rec> {
        let tag = tag(hash);
        let bucket = &self.buckets[hash as usize & self.mask()];
        let s = bucket.tags.iter().position(|&t| t == tag)?;
        bucket.slots[s]
    }

    /// Stores `rec`, whose key the table does not hold, under `hash`;
    /// `rehash` gives the hash of a stored record when the table grows.
    pub(super) fn insert_unique(&mut self, hash: u64, rec: Rec, rehash: impl Fn(Rec) -> u64) {
        if self.len + 1 > max_keys(self.buckets.len()) {
            self.grow(&rehash);
        }
        self.place(hash, rec);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, rec: Rec) {
        let tag = tag(hash);
        let mask = self.mask();
        let mut at = hash as usize & mask;
        // The load limit leaves free slots, so the walk ends.
        loop {
            let bucket = &mut self.buckets[at];
            if let Some(s) = bucket.tags.iter().position(|&t| t == 0) {
                bucket.tags[s] = tag;
                bucket.slots[s] = Some(rec);
                return;
            }
            bucket.overflow = bucket.overflow.saturating_add(1);
            at = (at + 1) & mask;
        }
    }

    fn grow(&mut self, rehash: &impl Fn(Rec) -> u64) {
        let doubled = vec![EMPTY; self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        // A slot holds a record exactly when its tag is set.
        for &rec in old.iter().flat_map(|b| b.slots.iter().flatten()) {
            self.place(rehash(rec), rec);
        }
    }

    /// Forgets the record `hash` and `eq` pick, if any.
    pub(super) fn remove(&mut self, hash: u64, eq: impl FnMut(Rec) -> bool) {
        let Some((b, s)) = self.position(hash, eq) else {
            return;
        };
        self.buckets[b].tags[s] = 0;
        self.buckets[b].slots[s] = None;
        self.len -= 1;
        // Give back the counts its placement took on the way.
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while at != b {
            let bucket = &mut self.buckets[at];
            if bucket.overflow != u8::MAX {
                bucket.overflow -= 1;
            }
            at = (at + 1) & mask;
        }
    }
}

/// Buckets (a power of two) for `keys` keys within the load limit.
fn buckets_for(keys: usize) -> usize {
    keys.saturating_mul(MAX_LOAD_DEN)
        .div_ceil(MAX_LOAD_NUM)
        .max(1)
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
}

fn max_keys(buckets: usize) -> usize {
    buckets.saturating_mul(MAX_LOAD_NUM) / MAX_LOAD_DEN
}

/// Starts loading the cache line at `address` and returns at once.
pub(super) fn prefetch_line(address: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that reads nothing and cannot fault,
        // whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

// A bucket is one cache line.
const _: () = assert!(size_of::<Bucket>() == 64);
const _: () = assert!(size_of::<Option<Rec>>() == size_of::<NonNull<u8>>());

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Distinct fake records: the table never reads through them.
    fn rec(n: usize) -> Rec {
        Rec::fake(NonNull::new(((n + 1) * 8) as *mut u8).expect("not null"))
    }

    fn id(r: Rec) -> usize {
        r.fake_address() / 8 - 1
    }

    #[test]
    fn keys_are_found_replaced_and_removed_across_growth() {
        // Hashes that crowd a few home buckets, so probes overflow.
        let hash = |k: usize| (k as u64 % 5).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64) << 58;
        let mut table = BucketTable::with_capacity(0);
        let mut model: HashMap<usize, usize> = HashMap::new();
        for k in 0..2_000 {
            table.insert_unique(hash(k), rec(k), |r| hash(id(r)));
            model.insert(k, k);
            if k % 3 == 0 {
                let gone = k / 2;
                if model.remove(&gone).is_some() {
                    table.remove(hash(gone), |r| id(r) == gone);
                }
            }
        }
        for k in 0..2_000 {
            let found = table.find(hash(k), |r| id(r) == k).map(id);
            assert_eq!(found, model.get(&k).copied(), "key {k}");
        }
        assert_eq!(table.len(), model.len());
        // Replacing a slot keeps the key findable under its new record.
        let k = 1_999;
        *table.find_mut(hash(k), |r| id(r) == k).expect("present") = rec(k);
        assert_eq!(table.find(hash(k), |r| id(r) == k).map(id), Some(k));
    }

    #[test]
    fn removals_give_back_overflow_so_probes_stop_early() {
        // Every key in one home bucket.
        let hash = |k: usize| (k as u64) << 57;
        let mut table = BucketTable::with_capacity(64);
        for k in 0..20 {
            table.insert_unique(hash(k), rec(k), |r| hash(id(r)));
        }
        assert!(table.buckets[0].overflow > 0);
        for k in 0..20 {
            table.remove(hash(k), |r| id(r) == k);
        }
        assert_eq!(table.len(), 0);
        assert!(table.buckets.iter().all(|b| b.overflow == 0));
        assert!(table.buckets.iter().all(|b| b.tags == [0; SLOTS]));
    }

    #[test]
    fn capacity_holds_the_keys_asked_for_without_growing() {
        for keys in [0, 1, 7, 100, 30_000] {
            let table = BucketTable::with_capacity(keys);
            assert!(max_keys(table.buckets.len()) >= keys, "{keys}");
            assert!(table.buckets.len().is_power_of_two());
        }
    }

    #[test]
    fn a_bucket_address_is_its_place_in_the_table() {
        let table = BucketTable::with_capacity(1_000);
        let hash = 0xDEAD_BEEF_u64;
        let at = BucketTable::bucket_address(table.layout(), hash);
        let home = &table.buckets[hash as usize & table.mask()];
        assert_eq!(at, std::ptr::from_ref(home) as usize);
        assert_eq!(at % 64, 0);
    }
}
