//! The memtable: an ordered map (a B-tree behind a reader-writer lock) of
//! every version written since the last rotation, ordered by (user key
//! ascending, sequence descending), so the first entry at or after
//! `(key, snapshot)` is the newest version visible to that snapshot.
//!
//! Why a B-tree and not a lock-free skiplist: an insert into a skiplist of a
//! few hundred thousand entries is ~20 dependent cache misses, and it was the
//! largest single cost of a SET (18% of the server's CPU under
//! `redis-benchmark -t set -P 16`). A B-tree node holds eleven keys side by
//! side, so the same insert is 1.8x faster, an in-order walk (a flush) 7x
//! faster and dropping a flushed memtable 2.5x faster (measured on 400k
//! versions of 100k keys, `docs/performance.md`).
//!
//! Thread safety:
//! 1. Inserts happen only under the engine's write lock (so sequence order and
//!    WAL order agree), each batch under one write lock of the map.
//! 2. Readers take the map's read lock for one lookup or one batch of
//!    iterator steps (`scan`); nothing holds it across calls, so a long scan
//!    never blocks writers for longer than one batch.
//! 3. `approx_bytes` only grows; it decides rotation, so it may lag by one batch.
//! 4. Beside the map, a hash index maps each user key to its newest
//!    version, so a point read at the latest snapshot costs one hash probe
//!    and takes no lock. Both are updated under the write lock before the
//!    batch's sequence is published, so a reader whose snapshot covers a
//!    version finds the key in the index; when the indexed version is newer
//!    than the snapshot the read falls back to the map.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use parking_lot::RwLock;

use crate::value::InternalValue;

/// Per-entry bookkeeping charged on top of key and value bytes: the entry's
/// share of its B-tree node, two `Bytes` handles and the sequence number.
const ENTRY_OVERHEAD: usize = 96;

/// Charged per insert for the hash index slot (key and value handles,
/// sequence, table overhead).
const INDEX_OVERHEAD: usize = 64;

/// Size of one arena chunk. Keys and values are copied into chunks this
/// large, so a flushed memtable is freed a chunk at a time instead of two
/// or four small allocations per version, most of them freed by another
/// thread than the one that made them (which cost the flush thread more
/// than writing the SSTable did).
const ARENA_CHUNK: usize = 1 << 20;

/// Bytes larger than this are kept as they came (no copy), so one large
/// value neither leaves most of a chunk unused nor costs a second copy of
/// itself.
const ARENA_MAX_COPY: usize = ARENA_CHUNK / 8;

/// Copies `b` into the arena's current chunk (a new chunk when it is
/// full) and returns it as a slice of the chunk: one reference count per
/// chunk, no allocation per copy. Large bytes are returned as they are.
fn arena_copy(arena: &mut BytesMut, b: Bytes) -> Bytes {
    if b.len() > ARENA_MAX_COPY {
        return b;
    }
    if arena.capacity() - arena.len() < b.len() {
        *arena = BytesMut::with_capacity(ARENA_CHUNK);
    }
    arena.extend_from_slice(&b);
    arena.split().freeze()
}

/// Key of a map entry. `prefix` caches the first 8 key bytes inside the
/// B-tree node, so most comparisons during a search never dereference the
/// key's own allocation.
#[derive(Clone, Debug)]
pub(crate) struct MemKey {
    pub(crate) prefix: u64,
    pub(crate) user: Bytes,
    pub(crate) seq: u64,
}

/// The first 8 bytes of `key`, big-endian, zero-padded: comparing prefixes
/// agrees with comparing keys whenever the prefixes differ.
fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// A borrowed view of an internal key, so lookups need no allocation.
pub(crate) trait KeyView {
    fn prefix(&self) -> u64;
    fn user(&self) -> &[u8];
    fn seq(&self) -> u64;
}

impl KeyView for MemKey {
    fn prefix(&self) -> u64 {
        self.prefix
    }
    fn user(&self) -> &[u8] {
        &self.user
    }
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// A lookup key borrowing its user key.
pub(crate) struct LookupKey<'a> {
    prefix: u64,
    user: &'a [u8],
    seq: u64,
}

impl<'a> LookupKey<'a> {
    pub(crate) fn new(user: &'a [u8], seq: u64) -> Self {
        LookupKey {
            prefix: key_prefix(user),
            user,
            seq,
        }
    }
}

impl KeyView for LookupKey<'_> {
    fn prefix(&self) -> u64 {
        self.prefix
    }
    fn user(&self) -> &[u8] {
        self.user
    }
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// Internal-key order: user key ascending, then sequence descending.
pub(crate) fn cmp_internal(a_user: &[u8], a_seq: u64, b_user: &[u8], b_seq: u64) -> Ordering {
    a_user.cmp(b_user).then_with(|| b_seq.cmp(&a_seq))
}

/// `cmp_internal`, deciding on the cached prefixes when they differ.
fn cmp_views(a: &(impl KeyView + ?Sized), b: &(impl KeyView + ?Sized)) -> Ordering {
    a.prefix()
        .cmp(&b.prefix())
        .then_with(|| cmp_internal(a.user(), a.seq(), b.user(), b.seq()))
}

impl<'a> PartialEq for dyn KeyView + 'a {
    fn eq(&self, other: &Self) -> bool {
        cmp_views(self, other) == Ordering::Equal
    }
}
impl<'a> Eq for dyn KeyView + 'a {}
impl<'a> PartialOrd for dyn KeyView + 'a {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<'a> Ord for dyn KeyView + 'a {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        cmp_views(self, other) == Ordering::Equal
    }
}
impl Eq for MemKey {}
impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for MemKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// One entry as iterators carry it.
pub(crate) type MemEntry = (Bytes, u64, InternalValue);

/// The versions of a memtable and the arena chunk their bytes are copied
/// into, behind one lock: inserts (serialised by the engine's write lock)
/// take it to write, readers to read the map.
#[derive(Default)]
struct Versions {
    map: BTreeMap<MemKey, InternalValue>,
    /// See [`arena_copy`].
    arena: BytesMut,
}

/// A memtable and the WAL file that holds its records.
pub(crate) struct Memtable {
    versions: RwLock<Versions>,
    /// Newest version of every user key in `versions`.
    newest: DashMap<Bytes, (u64, InternalValue), ahash::RandomState>,
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
        Memtable {
            versions: RwLock::new(Versions::default()),
            newest: DashMap::with_hasher(ahash::RandomState::new()),
            bytes: AtomicUsize::new(0),
            wal_number,
            sealed_seq: AtomicU64::new(0),
        }
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
        self.insert_all([(user, seq, v)]);
    }

    /// Inserts the versions of one batch under one lock of the map. Called
    /// only under the engine's write lock.
    pub(crate) fn insert_all(&self, batch: impl IntoIterator<Item = MemEntry>) {
        let mut guard = self.versions.write();
        let Versions { map, arena } = &mut *guard;
        let mut add = 0;
        for (user, seq, mut v) in batch {
            add += user.len() + v.data.len() + ENTRY_OVERHEAD + INDEX_OVERHEAD;
            let user = arena_copy(arena, user);
            v.data = arena_copy(arena, std::mem::take(&mut v.data));
            let prefix = key_prefix(&user);
            self.newest.insert(user.clone(), (seq, v.clone()));
            map.insert(MemKey { prefix, user, seq }, v);
        }
        drop(guard);
        self.bytes.fetch_add(add, AtomicOrdering::Relaxed);
    }

    /// Takes version `seq` of `user` out again: its WAL record could not be
    /// written (see `wal::committer`). The next older version, if any,
    /// becomes the newest. Called only under the engine's write lock.
    pub(crate) fn remove(&self, user: &[u8], seq: u64) {
        let probe = LookupKey::new(user, seq);
        let mut guard = self.versions.write();
        let map = &mut guard.map;
        let Some(removed) = map.remove(&probe as &dyn KeyView) else {
            return;
        };
        let add = user.len() + removed.data.len() + ENTRY_OVERHEAD + INDEX_OVERHEAD;
        self.bytes
            .fetch_sub(add.min(self.approx_bytes()), AtomicOrdering::Relaxed);
        let newest_is_it = self.newest.get(user).is_some_and(|n| n.0 == seq);
        if !newest_is_it {
            return;
        }
        let below = LookupKey::new(user, seq.saturating_sub(1));
        let older = map
            .range::<dyn KeyView, _>((Bound::Included(&below as &dyn KeyView), Bound::Unbounded))
            .next()
            .filter(|(k, _)| k.user.as_ref() == user && k.seq < seq)
            .map(|(k, v)| (k.seq, v.clone()));
        drop(guard);
        match older {
            Some(v) => {
                self.newest.insert(Bytes::copy_from_slice(user), v);
            }
            None => {
                self.newest.remove(user);
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
        self.versions.read().map.len()
    }

    /// True when nothing was inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.versions.read().map.is_empty()
    }

    /// The newest version of `key` with sequence <= `snapshot`.
    pub(crate) fn get(&self, key: &[u8], snapshot: u64) -> Option<(u64, InternalValue)> {
        {
            let newest = self.newest.get(key)?;
            if newest.0 <= snapshot {
                return Some((newest.0, newest.1.clone()));
            }
        }
        let probe = LookupKey::new(key, snapshot);
        let versions = self.versions.read();
        let (k, v) = versions
            .map
            .range::<dyn KeyView, _>((Bound::Included(&probe as &dyn KeyView), Bound::Unbounded))
            .next()?;
        if k.user.as_ref() == key {
            Some((k.seq, v.clone()))
        } else {
            None
        }
    }

    /// Calls `f` on every entry in internal order, holding the read lock
    /// throughout: for a frozen memtable (a flush), which no one writes.
    pub(crate) fn for_each<E>(
        &self,
        mut f: impl FnMut(&Bytes, u64, &InternalValue) -> Result<(), E>,
    ) -> Result<(), E> {
        for (k, v) in self.versions.read().map.iter() {
            f(&k.user, k.seq, v)?;
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
        let lk;
        let bound: Bound<&dyn KeyView> = match from {
            Bound::Included((k, s)) => {
                lk = LookupKey::new(k, s);
                Bound::Included(&lk)
            }
            Bound::Excluded((k, s)) => {
                lk = LookupKey::new(k, s);
                Bound::Excluded(&lk)
            }
            Bound::Unbounded => Bound::Unbounded,
        };
        let versions = self.versions.read();
        let mut taken = 0usize;
        let mut last_user: Option<&Bytes> = None;
        for (k, v) in versions
            .map
            .range::<dyn KeyView, _>((bound, Bound::Unbounded))
        {
            if let Some(at) = newest_at {
                if k.seq > at || last_user == Some(&k.user) {
                    continue;
                }
                last_user = Some(&k.user);
            }
            if taken == max {
                return true;
            }
            out.push((k.user.clone(), k.seq, v.clone()));
            taken += 1;
        }
        false
    }
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

    #[test]
    fn arena_copies_read_back_across_chunks_and_large_values() {
        let m = Memtable::new(1);
        let sizes = [
            0usize,
            1,
            100,
            4096,
            ARENA_MAX_COPY,
            ARENA_MAX_COPY + 1,
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
            let want = expected.iter().find(|(ek, _)| ek == k).unwrap();
            assert_eq!(&v.data, &want.1);
            walked += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(walked, expected.len());
    }

    #[test]
    fn prefix_order_agrees_with_key_order() {
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            b"a",
            b"a\0",
            b"a\0\x01",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefgi",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        for a in keys {
            for b in keys {
                let (x, y) = (LookupKey::new(a, 1), LookupKey::new(b, 1));
                assert_eq!(cmp_views(&x, &y), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
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
}
