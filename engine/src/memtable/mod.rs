//! The memtable: every version written since the last rotation, in
//! internal-key order (user key ascending, sequence descending). An
//! ordered map of keys ([`keys`]: B-trees of 8-byte key slices, behind a
//! reader-writer lock) holds one entry per user key; each version's
//! record points at the same key's next older one, and an index maps each
//! key to its newest record, so a key's versions are its newest record
//! and the chain behind it.
//!
//! Why B-trees and not a lock-free skiplist: an insert into a skiplist of a
//! few hundred thousand entries is ~20 dependent cache misses, and it was the
//! largest single cost of a SET (18% of the server's CPU under
//! `redis-benchmark -t set -P 16`). A B-tree node holds eleven keys side by
//! side, so the same insert is 1.8x faster, an in-order walk (a flush) 7x
//! faster and dropping a flushed memtable 2.5x faster (measured on 400k
//! versions of 100k keys, `docs/performance.md`). Why slices and not whole
//! keys: see [`keys`] (the members of one collection share their first 30
//! bytes and more).
//!
//! Why one entry per key and not per version: a new version of a key the
//! memtable already holds (an overwrite, a collection's header, a counter)
//! then changes no B-tree at all.
//!
//! Each version is one record in an arena ([`arena`]), linked to its
//! key's next older and next newer records: the map holds an entry per
//! key (the key's oldest record's address, under its slice) and the index
//! of newest versions ([`index`]) an 8-byte slot per key, so a memtable's
//! memory is its keys and values plus a record header a version and about
//! 60 bytes a key (and 160 bytes per layer of keys sharing a slice),
//! and what it is charged is what it holds (the index: its tables'
//! allocations, as they grow).
//!
//! Thread safety:
//! 1. Inserts happen only under the engine's write lock (so sequence order and
//!    WAL order agree), each batch under one write lock of the map.
//! 2. Readers take the map's read lock for one lookup or one batch of
//!    iterator steps (`scan`); nothing holds it across calls, so a long scan
//!    never blocks writers for longer than one batch. What they return is
//!    owned (copied, or sharing an arena chunk it keeps alive).
//! 3. `approx_bytes` only grows; it decides rotation, so it may lag by one batch.
//! 4. A point read takes no lock on the map: one probe of the index, then
//!    the chain back to the newest version at or below its snapshot. The
//!    index, the chains and the map are updated under the write lock
//!    before the batch's sequence is published, so a reader whose snapshot
//!    covers a version finds it; a version newer than its snapshot it
//!    steps over. A new version links to the older one; the older one's
//!    link to it (what scans follow to tell a key written once) is set
//!    under the map's write lock, which scans exclude.
//! 5. A version is taken out again (`remove`, a failed WAL write) only
//!    while it is its key's newest: the failed writes are the newest of
//!    all, and are undone newest first.

mod arena;
mod buckets;
pub(crate) use arena::{Prepared, chunk_pool, prepare};
mod index;
mod keys;

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::value::{InternalValue, Kind};
use arena::{Arena, Rec, record_size};
use index::NewestIndex;
use keys::{KEY_CHARGE, KeyMap};

/// Internal-key order: user key ascending, then sequence descending.
pub(crate) fn cmp_internal(a_user: &[u8], a_seq: u64, b_user: &[u8], b_seq: u64) -> Ordering {
    a_user.cmp(b_user).then_with(|| b_seq.cmp(&a_seq))
}

/// What a [`Memtable::for_each`] visitor wants after one version.
pub(crate) enum Visit {
    /// The key's next older version, if any.
    Older,
    /// The next key: the older versions of this one are not wanted.
    NextKey,
}

/// One entry as iterators carry it.
pub(crate) type MemEntry = (Bytes, u64, InternalValue);

/// The value of a version `Memtable::for_each` visits, read on demand.
pub(crate) struct LazyValue(Rec);

impl LazyValue {
    /// The value, as reads carry it (copied, or sharing its chunk).
    pub(crate) fn read(&self) -> InternalValue {
        self.0.internal_value()
    }
}

/// One version to insert, borrowed from the write batch.
pub(crate) struct NewVersion<'a> {
    pub(crate) user: &'a [u8],
    pub(crate) seq: u64,
    pub(crate) kind: Kind,
    /// Expiry of a put, write time of a tombstone (`InternalValue::time_ms`).
    pub(crate) time_ms: u64,
    pub(crate) data: &'a [u8],
    /// The key and value copied already, for a long one ([`prepare`]).
    pub(crate) prepared: Option<Prepared>,
}

/// The keys of a memtable and the arena their versions' records live in,
/// behind one lock: inserts (serialised by the engine's write lock) take
/// it to write, readers to read the map.
#[derive(Default)]
struct Versions {
    map: KeyMap,
    arena: Arena,
}

/// A memtable and the WAL file that holds its records.
pub(crate) struct Memtable {
    versions: RwLock<Versions>,
    /// Newest version of every user key in `versions`. Its records live in
    /// `versions.arena`, which lives as long as the memtable.
    newest: NewestIndex,
    bytes: AtomicUsize,
    /// Number of the first WAL file whose records live here; once this memtable
    /// is flushed, WALs below the next memtable's number may be deleted.
    pub(crate) wal_number: u64,
    /// The highest sequence number inserted, set when the memtable is
    /// frozen: a flush waits until the WAL holds (or discarded) every record
    /// up to it, so no SSTable carries a write whose record failed.
    sealed_seq: AtomicU64,
}

impl Memtable {
    /// An empty memtable logging to WAL `wal_number`.
    pub(crate) fn new(wal_number: u64) -> Self {
        Self::sized_for(wal_number, 0)
    }

    /// An empty memtable logging to WAL `wal_number`, its index sized for
    /// `keys` keys (the memtable it replaces held that many: a workload's
    /// memtables hold about as many keys each) and charged for that size
    /// at once, as it would be charged once grown to it.
    pub(crate) fn sized_for(wal_number: u64, keys: usize) -> Self {
        let newest = NewestIndex::with_capacity(keys);
        let charged = newest.allocated();
        Memtable {
            versions: RwLock::new(Versions::default()),
            newest,
            bytes: AtomicUsize::new(charged),
            wal_number,
            sealed_seq: AtomicU64::new(0),
        }
    }

    /// How many user keys it holds.
    pub(crate) fn key_count(&self) -> usize {
        self.newest.len()
    }

    /// Records the last sequence number inserted (at rotation).
    pub(crate) fn seal(&self, last_seq: u64) {
        self.sealed_seq.store(last_seq, AtomicOrdering::Release);
    }

    /// See `sealed_seq` (0: nothing to wait for, e.g. replayed at open).
    pub(crate) fn sealed_seq(&self) -> u64 {
        self.sealed_seq.load(AtomicOrdering::Acquire)
    }

    /// Inserts one version (WAL replay). Called only under the engine's
    /// write lock, or before the engine is shared.
    pub(crate) fn insert(&self, user: Bytes, seq: u64, v: InternalValue) {
        self.insert_all([NewVersion {
            user: &user,
            seq,
            kind: v.kind,
            time_ms: v.time_ms,
            data: &v.data,
            prepared: None,
        }]);
    }

    /// Inserts the versions of one batch under one lock of the map. Called
    /// only under the engine's write lock.
    pub(crate) fn insert_all<'a>(&self, batch: impl IntoIterator<Item = NewVersion<'a>>) {
        let mut guard = self.versions.write();
        let Versions { map, arena } = &mut *guard;
        let mut add = 0;
        for v in batch {
            let (rec, index_grown) = self.newest.upsert(v.user, |prev| {
                let new = arena.push(v.seq, v.kind, v.time_ms, v.user, v.data, prev, v.prepared);
                if let Some(older) = prev {
                    older.set_next(Some(new));
                }
                new
            });
            add += record_size(v.user.len(), v.data.len());
            if let Some(grown) = index_grown {
                add += grown + map.insert(rec);
            }
        }
        drop(guard);
        self.bytes.fetch_add(add, AtomicOrdering::Relaxed);
    }

    /// Takes version `seq` of `user` out again: its WAL record could not be
    /// written (see `wal::committer`). Only a key's newest version can be
    /// taken out (the failed writes are the newest of all, undone newest
    /// first); a `seq` newer than the key's newest here is not in this
    /// memtable, and nothing happens. The next older version, if any,
    /// becomes the newest. Called only under the engine's write lock. The
    /// record's bytes stay in the arena until the memtable is dropped.
    pub(crate) fn remove(&self, user: &[u8], seq: u64) {
        let mut guard = self.versions.write();
        let Some(newest) = self.newest.get(user) else {
            return;
        };
        if newest.seq() != seq {
            debug_assert!(newest.seq() < seq, "only a key's newest version is removed");
            return;
        }
        match newest.prev() {
            Some(older) => {
                older.set_next(None);
                self.newest.upsert(user, |_| older);
            }
            None => {
                self.newest.remove(user);
                guard.map.remove(user);
                // The index's table keeps its size (and its charge).
                self.bytes
                    .fetch_sub(KEY_CHARGE.min(self.approx_bytes()), AtomicOrdering::Relaxed);
            }
        }
    }

    /// Approximate memory held, in bytes.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Number of versions held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let versions = self.versions.read();
        versions
            .map
            .iter()
            .map(|rec| self.versions_of(rec).count())
            .sum()
    }

    /// The versions of the key whose oldest record is `oldest`, newest first. A key written once
    /// (its oldest record has no newer one) costs nothing more; for one
    /// written again the index gives the newest, so a key rewritten many
    /// times costs one probe, not a walk up its chain. Called under the
    /// map's lock, which the writer holds to link versions and update the
    /// index, so the two agree.
    fn versions_of<'a>(&'a self, oldest: Rec) -> impl Iterator<Item = Rec> + 'a {
        let newest = match oldest.next() {
            None => oldest,
            Some(_) => self.newest.get(oldest.key()).unwrap_or_else(|| {
                let mut newest = oldest;
                while let Some(newer) = newest.next() {
                    newest = newer;
                }
                newest
            }),
        };
        std::iter::successors(Some(newest), |r| r.prev())
    }

    /// The newest version with a sequence at most `limit` among those of
    /// `oldest`'s key. Most keys have a version or two: walking up from the
    /// oldest costs less than the index probe [`Memtable::versions_of`]
    /// makes, which serves the long chains of keys rewritten many times.
    fn newest_at_most(&self, oldest: Rec, limit: u64) -> Option<Rec> {
        const SHORT_CHAIN: usize = 4;
        let mut found = None;
        let mut rec = Some(oldest);
        for _ in 0..SHORT_CHAIN {
            match rec {
                Some(r) if r.seq() <= limit => {
                    found = Some(r);
                    rec = r.next();
                }
                _ => return found,
            }
        }
        if rec.is_none_or(|r| r.seq() > limit) {
            return found;
        }
        self.versions_of(oldest).find(|r| r.seq() <= limit)
    }

    /// True when nothing was inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.versions.read().map.len() == 0
    }

    /// The sequence of the newest version of `key` here, if any.
    pub(crate) fn newest_seq(&self, key: &[u8]) -> Option<u64> {
        self.newest.get(key).map(|r| r.seq())
    }

    /// Starts loading the newest record of `key` into the CPU's caches
    /// for a read or write of it soon after.
    pub(crate) fn prefetch(&self, key: &[u8]) {
        self.newest.prefetch(key);
    }

    /// Starts loading the index bucket of `key` into the CPU's caches,
    /// the step before [`Memtable::prefetch`], which reads that bucket.
    pub(crate) fn prefetch_bucket(&self, key: &[u8]) {
        self.newest.prefetch_bucket(key);
    }

    /// The newest version of `key` with sequence <= `snapshot`.
    pub(crate) fn get(&self, key: &[u8], snapshot: u64) -> Option<(u64, InternalValue)> {
        let mut rec = self.newest.get(key)?;
        while rec.seq() > snapshot {
            rec = rec.prev()?;
        }
        Some((rec.seq(), rec.internal_value()))
    }

    /// Calls `f` on every entry in internal order, holding the read lock
    /// throughout: for a frozen memtable (a flush), which no one writes.
    /// The value is read only if `f` asks for it, so a version the flush
    /// drops (hidden by a newer one) is never copied; and once `f` answers
    /// [`Visit::NextKey`], the key's older versions are not visited at all
    /// (a key rewritten on every request, a collection's header, has
    /// thousands, each a cache miss to reach and a key to compare).
    pub(crate) fn for_each<E>(
        &self,
        mut f: impl FnMut(&[u8], u64, LazyValue) -> Result<Visit, E>,
    ) -> Result<(), E> {
        let versions = self.versions.read();
        for oldest in versions.map.iter() {
            for rec in self.versions_of(oldest) {
                if let Visit::NextKey = f(rec.key(), rec.seq(), LazyValue(rec))? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Appends up to `max` entries that follow `after` (or start at `start`)
    /// into `out`; returns false when the memtable has nothing more.
    ///
    /// With `newest_at`, only the version of each key a reader at that
    /// sequence sees is appended (the newest at or below it): the versions
    /// above are invisible to it, and the older ones hidden by it, so a
    /// scan of a key rewritten many times copies one entry, not all.
    pub(crate) fn scan(
        &self,
        from: Bound<(&[u8], u64)>,
        max: usize,
        out: &mut Vec<MemEntry>,
        newest_at: Option<u64>,
    ) -> bool {
        // The first key's versions from the bound on; every version of the
        // keys after it.
        let (first, start): (_, &[u8]) = match from {
            Bound::Included((k, s)) => (Some((k, s, true)), k),
            Bound::Excluded((k, s)) => (Some((k, s, false)), k),
            Bound::Unbounded => (None, &[]),
        };
        let in_bound = |user: &[u8], seq: u64| match first {
            Some((k, s, inclusive)) if user == k => seq < s || (inclusive && seq == s),
            _ => true,
        };
        let versions = self.versions.read();
        let mut taken = 0usize;
        for oldest in versions.map.range_from(start) {
            let user = oldest.key();
            if let Some(at) = newest_at {
                // The one version a reader at `at` sees, within the bound.
                let limit = match first {
                    Some((k, s, inclusive)) if user == k => match (inclusive, s.checked_sub(1)) {
                        (true, _) => s.min(at),
                        (false, Some(below)) => below.min(at),
                        (false, None) => continue,
                    },
                    _ => at,
                };
                if let Some(rec) = self.newest_at_most(oldest, limit) {
                    if taken == max {
                        return true;
                    }
                    out.push(mem_entry(rec));
                    taken += 1;
                }
                continue;
            }
            for rec in self.versions_of(oldest) {
                let seq = rec.seq();
                if !in_bound(user, seq) {
                    continue;
                }
                if taken == max {
                    return true;
                }
                out.push(mem_entry(rec));
                taken += 1;
            }
        }
        false
    }

    /// [`Memtable::scan`] backwards, for a reader at `at`: appends up to
    /// `max` keys at or below `to` (below it when `Excluded`), in
    /// descending order, each with the one version that reader sees (keys
    /// with none are passed); returns false when the memtable has nothing
    /// more below.
    pub(crate) fn scan_back(
        &self,
        to: Bound<&[u8]>,
        max: usize,
        out: &mut Vec<MemEntry>,
        at: u64,
    ) -> bool {
        let versions = self.versions.read();
        let (keys, skip) = match to {
            Bound::Included(k) => (versions.map.range_to(k), None),
            Bound::Excluded(k) => (versions.map.range_to(k), Some(k)),
            Bound::Unbounded => (versions.map.iter_back(), None),
        };
        let mut taken = 0usize;
        for oldest in keys {
            let user = oldest.key();
            if skip == Some(user) {
                continue;
            }
            if let Some(rec) = self.newest_at_most(oldest, at) {
                if taken == max {
                    return true;
                }
                out.push(mem_entry(rec));
                taken += 1;
            }
        }
        false
    }
}

/// A scan's copy of the version `rec`: its key, sequence and value.
fn mem_entry(rec: Rec) -> MemEntry {
    (
        Bytes::copy_from_slice(rec.key()),
        rec.seq(),
        rec.internal_value(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn get_returns_newest_version_at_snapshot() {
        let m = Memtable::new(1);
        m.insert(Bytes::from("a"), 1, InternalValue::put(Value::new("a1")));
        m.insert(Bytes::from("a"), 3, InternalValue::put(Value::new("a3")));
        m.insert(Bytes::from("ab"), 2, InternalValue::put(Value::new("ab2")));
        m.insert(Bytes::from(""), 4, InternalValue::tombstone(7));
        assert_eq!(m.get(b"a", 10).unwrap().0, 3);
        assert_eq!(m.get(b"a", 2).unwrap().0, 1);
        assert!(m.get(b"a", 0).is_none());
        assert!(m.get(b"b", 10).is_none());
        assert_eq!(m.get(b"", 10).unwrap().1, InternalValue::tombstone(7));
        assert!(m.approx_bytes() > 0);
        assert_eq!(m.len(), 4);
    }

    /// A memtable sized for the keys it then takes never grows its index
    /// (no rehash under a shard's lock) and is charged about what one grown
    /// to the same keys is.
    #[test]
    fn a_memtable_sized_for_its_keys_never_grows_its_index() {
        let keys = 20_000u64;
        let (sized, grown) = (Memtable::sized_for(2, keys as usize), Memtable::new(2));
        let allocated = sized.newest.allocated();
        for m in [&sized, &grown] {
            for i in 0..keys {
                let v = InternalValue::put(Value::new(format!("v{i}")));
                m.insert(Bytes::from(format!("key:{i:08}")), i + 1, v);
            }
            assert_eq!(m.key_count(), keys as usize);
        }
        assert_eq!(sized.newest.allocated(), allocated, "never grown");
        let (a, b) = (sized.approx_bytes() as f64, grown.approx_bytes() as f64);
        assert!((a / b - 1.0).abs() < 0.25, "charged {a} against {b}");
        assert_eq!(sized.get(b"key:00012345", 100_000).unwrap().0, 12_346);
    }

    #[test]
    fn a_prefetch_changes_nothing_a_read_sees() {
        let m = Memtable::new(1);
        // Keys that share tags are likely among thousands: a prefetch may
        // fetch another key's record, never change what a read finds.
        for i in 0..5000u64 {
            m.prefetch(format!("k{i}").as_bytes());
            m.insert(
                Bytes::from(format!("k{i}")),
                i + 1,
                InternalValue::put(Value::new(format!("v{i}"))),
            );
        }
        for i in 0..6000u64 {
            let key = format!("k{i}");
            m.prefetch(key.as_bytes());
            m.prefetch(b"");
            let found = m.get(key.as_bytes(), u64::MAX).map(|(seq, _)| seq);
            assert_eq!(found, (i < 5000).then_some(i + 1), "{key}");
        }
        assert_eq!(m.len(), 5000);
    }

    #[test]
    fn the_charge_covers_the_records_and_the_index_tables() {
        let m = Memtable::new(1);
        let mut records = 0;
        for i in 0..50_000u64 {
            // Some keys twice: a second version of a key grows no table.
            let key = format!("member:{:08}", i % 40_000);
            let value = vec![7u8; (i % 60) as usize];
            records += record_size(key.len(), value.len());
            // Hints while the index grows: where a table was may be freed.
            m.prefetch_bucket(key.as_bytes());
            m.prefetch(key.as_bytes());
            m.insert(
                Bytes::from(key),
                i + 1,
                InternalValue::put(Value::new(value)),
            );
        }
        let index = m.newest.allocated();
        assert!(index >= 40_000 * 9, "at least a slot and its tag a key");
        assert!(m.approx_bytes() >= records + index + 40_000 * KEY_CHARGE);
        // Every key's newest version is found through the grown index.
        for k in 0..40_000u64 {
            let key = format!("member:{k:08}");
            let newest = if k < 10_000 { 40_000 + k + 1 } else { k + 1 };
            let (seq, _) = m.get(key.as_bytes(), u64::MAX).expect("present");
            assert_eq!(seq, newest, "{key}");
        }
    }

    #[test]
    fn arena_copies_read_back_across_chunks_and_large_values() {
        let m = Memtable::new(1);
        let sizes = [
            0usize,
            1,
            100,
            4096,
            arena::CHUNK_SIZE / 8,
            arena::CHUNK_SIZE / 8 + 1,
            3 << 20,
        ];
        let mut expected = Vec::new();
        for round in 0..40u64 {
            for (i, &n) in sizes.iter().enumerate() {
                let key = Bytes::from(format!("k{round:03}-{i}"));
                let fill = (round as u8).wrapping_mul(31).wrapping_add(i as u8);
                let value = Bytes::from(vec![fill; n]);
                let seq = round * sizes.len() as u64 + i as u64 + 1;
                m.insert(
                    key.clone(),
                    seq,
                    InternalValue::put(Value::new(value.clone())),
                );
                expected.push((key, value));
            }
        }
        for (key, value) in &expected {
            let (_, got) = m.get(key, u64::MAX).unwrap();
            assert_eq!(&got.data, value, "{key:?}");
        }
        let mut walked = 0;
        m.for_each(|k, _, v| {
            let want = expected.iter().find(|(ek, _)| ek[..] == *k).unwrap();
            assert_eq!(&v.read().data, &want.1);
            walked += 1;
            Ok::<_, ()>(Visit::Older)
        })
        .unwrap();
        assert_eq!(walked, expected.len());
    }

    #[test]
    fn scan_walks_in_internal_key_order_in_batches() {
        let m = Memtable::new(1);
        for i in 0..10u64 {
            m.insert(
                Bytes::from(format!("k{}", i % 5)),
                i + 1,
                InternalValue::tombstone(0),
            );
        }
        let mut all = Vec::new();
        let mut more = m.scan(Bound::Unbounded, 3, &mut all, None);
        while more {
            let (k, s, _) = all.last().unwrap().clone();
            more = m.scan(Bound::Excluded((&k, s)), 3, &mut all, None);
        }
        assert_eq!(all.len(), 10);
        for w in all.windows(2) {
            assert_eq!(
                cmp_internal(&w[0].0, w[0].1, &w[1].0, w[1].1),
                Ordering::Less
            );
        }
    }

    /// Random inserts, removals (a failed WAL write: the newest versions,
    /// newest first) and reads against a model of every version: `get` at
    /// any snapshot, `scan` in batches with and without `newest_at`, and
    /// `for_each` agree with it.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            Put(u8, usize),
            Delete(u8),
            RemoveNewest(usize),
            Scan,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                12 => (0u8..KEYS, prop_oneof![0usize..40, 250usize..300, Just(200_000usize)])
                    .prop_map(|(k, n)| Op::Put(k, n)),
                // A few hot keys, whose chains of versions grow long.
                4 => (0u8..4, 0usize..40).prop_map(|(k, n)| Op::Put(k, n)),
                4 => (0u8..KEYS).prop_map(Op::Delete),
                2 => (1usize..4).prop_map(Op::RemoveNewest),
                1 => Just(Op::Scan),
            ]
        }

        const KEYS: u8 = 180;

        fn key(k: u8) -> Vec<u8> {
            // Keys that share 8-byte prefixes, keys shorter than 8 bytes,
            // and keys that share their first 47 bytes (a collection's
            // members share 30 and more), one a prefix of another, zero
            // bytes after it.
            let long = |tail: &[u8]| [&[7u8; 47][..], tail].concat();
            match k % 6 {
                0 => vec![b'p'; (k / 6) as usize],
                1 => format!("prefix00{k}").into_bytes(),
                2 => format!("prefix00/{k:03}").into_bytes(),
                3 => long(format!("{}", k / 6).as_bytes()),
                4 => long(&[0u8; 8][..(k / 6 % 8) as usize]),
                _ => long(format!("{:03}-{}", k / 6, k).as_bytes()),
            }
        }

        type Model = BTreeMap<(Vec<u8>, std::cmp::Reverse<u64>), InternalValue>;

        fn scan_all(m: &Memtable, newest_at: Option<u64>) -> Vec<MemEntry> {
            let mut all = Vec::new();
            let mut more = m.scan(Bound::Unbounded, 5, &mut all, newest_at);
            while more {
                let (k, s, _) = all.last().cloned().unwrap();
                let s = if newest_at.is_some() { 0 } else { s };
                more = m.scan(Bound::Excluded((&k, s)), 5, &mut all, newest_at);
            }
            all
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn memtable_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..400)) {
                let m = Memtable::new(1);
                let mut model: Model = BTreeMap::new();
                let mut recent: Vec<(Vec<u8>, u64)> = Vec::new();
                let mut seq = 0u64;
                for op in ops {
                    match op {
                        Op::Put(k, n) => {
                            seq += 1;
                            let v = InternalValue::put(crate::value::Value {
                                data: Bytes::from(vec![(seq % 251) as u8; n]),
                                expire_at_ms: seq * 10,
                            });
                            m.insert(Bytes::from(key(k)), seq, v.clone());
                            model.insert((key(k), std::cmp::Reverse(seq)), v);
                            recent.push((key(k), seq));
                        }
                        Op::Delete(k) => {
                            seq += 1;
                            let v = InternalValue::tombstone(seq);
                            m.insert(Bytes::from(key(k)), seq, v.clone());
                            model.insert((key(k), std::cmp::Reverse(seq)), v);
                            recent.push((key(k), seq));
                        }
                        Op::Scan => {
                            // Scans between writes: the model holds at any
                            // point, not only at the end.
                            let want: Vec<MemEntry> = model
                                .iter()
                                .map(|((k, s), v)| (Bytes::from(k.clone()), s.0, v.clone()))
                                .collect();
                            prop_assert_eq!(&scan_all(&m, None), &want);
                        }
                        Op::RemoveNewest(n) => {
                            for _ in 0..n {
                                if let Some((k, s)) = recent.pop() {
                                    m.remove(&k, s);
                                    model.remove(&(k, std::cmp::Reverse(s)));
                                }
                            }
                        }
                    }
                }
                prop_assert_eq!(m.len(), model.len());
                for k in 0..KEYS {
                    let k = key(k);
                    for snap in [0, 1, seq / 2, seq, u64::MAX] {
                        let want = model
                            .range((k.clone(), std::cmp::Reverse(snap))..)
                            .next()
                            .filter(|((mk, _), _)| *mk == k)
                            .map(|((_, s), v)| (s.0, v.clone()));
                        prop_assert_eq!(m.get(&k, snap), want);
                    }
                }
                let want: Vec<MemEntry> = model
                    .iter()
                    .map(|((k, s), v)| (Bytes::from(k.clone()), s.0, v.clone()))
                    .collect();
                prop_assert_eq!(&scan_all(&m, None), &want);
                let mut walked = Vec::new();
                m.for_each(|k, s, v| {
                    walked.push((Bytes::copy_from_slice(k), s, v.read()));
                    Ok::<_, ()>(Visit::Older)
                })
                .unwrap();
                prop_assert_eq!(&walked, &want);
                // What a reader at `at` sees from a bound on: the newest
                // version at most `at` of each key, the bound's key limited
                // to the versions the bound lets in.
                let newest_from = |at: u64, from: Bound<(&[u8], u64)>| -> Vec<MemEntry> {
                    let mut newest: Vec<MemEntry> = Vec::new();
                    for e in want.iter().filter(|e| e.1 <= at) {
                        let inside = match from {
                            Bound::Unbounded => true,
                            Bound::Included((k, s)) => {
                                &e.0[..] > k || (&e.0[..] == k && e.1 <= s)
                            }
                            Bound::Excluded((k, s)) => &e.0[..] > k || (&e.0[..] == k && e.1 < s),
                        };
                        if inside && newest.last().map(|l| &l.0) != Some(&e.0) {
                            newest.push(e.clone());
                        }
                    }
                    newest
                };
                for at in [0, 1, seq / 3, seq / 2, seq, u64::MAX] {
                    prop_assert_eq!(&scan_all(&m, Some(at)), &newest_from(at, Bound::Unbounded));
                }
                // Bounds as a seek and an iterator's next batch give them.
                for k in [0u8, 1, 2, 3, 7, 100] {
                    let k = key(k);
                    for s in [0, 1, seq / 3, seq / 2, seq, u64::MAX] {
                        for inclusive in [true, false] {
                            let from = if inclusive {
                                Bound::Included((&k[..], s))
                            } else {
                                Bound::Excluded((&k[..], s))
                            };
                            let at = seq / 2 + 1;
                            let mut got = Vec::new();
                            m.scan(from, usize::MAX, &mut got, Some(at));
                            prop_assert_eq!(&got, &newest_from(at, from));
                        }
                    }
                }
            }
        }
    }
}
