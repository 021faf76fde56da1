//! Random picks read from a mid-size split collection without a walk per
//! call: SRANDMEMBER, HRANDFIELD and ZRANDMEMBER of up to
//! [`POOL_MAX_CALL`] members from a collection below [`POOL_MIN_MEMBERS`]
//! (larger ones pick from a pool, `super::sample_pool`).
//!
//! Such a read walked every member key up to its picks, on every call
//! (24,771 SRANDMEMBER calls a second on a 1,000-member set, from 50
//! clients), and more where removals left deletions that the walk passes
//! until compaction drops them (0.75 ms a call on a set of 500 left of
//! 20,000, against Redis's 0.11). Instead, one walk copies the
//! collection's member names, in member order, and keeps the copy for as
//! long as the collection's header is unchanged: same generation, clock,
//! size, write time and expiry. Every write of a member changes the header,
//! so the copy is exactly the collection a read sees, and a pick from it is
//! Redis's: uniform, distinct within a call for a positive count, repeats
//! allowed for a negative one, independent across calls. Each picked member
//! is read (a point read) at the caller's snapshot; one missing (the copy
//! disagrees with the members) sends the caller back to the walk.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_engine::{Engine, Snapshot};

use super::per_collection::{CollectionId, KeptPerCollection, collection_id, in_one_buffer};
use super::sample_pool::{POOL_MAX_CALL, POOL_MIN_MEMBERS};
use super::split::{get_member, header_version, visit_member_names};
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Item, Kind};

/// Copies kept at most, the least recently made dropped first.
const MAX_COPIES: usize = 8;
/// Bytes of names a copy holds at most (a collection with longer names is
/// walked per call, as before).
const MAX_COPY_BYTES: usize = 1 << 20;

struct Copy {
    /// The header it was made under ([`header_version`]).
    version: u64,
    names: Arc<Vec<Bytes>>,
}

/// The copies kept, per collection.
type Copies = KeptPerCollection<Copy, MAX_COPIES>;

/// The member-name copies of a keyspace.
#[derive(Default)]
pub struct NameCopies {
    inner: Mutex<Copies>,
    /// Copies made (each one walk of a collection's member keys).
    pub made: AtomicU64,
}

/// Whether a read's pick of `count` (SRANDMEMBER's sign convention) from
/// a split collection of `len` members comes from a copy of its names.
pub fn copied(kind: Kind, len: u64, count: i64) -> bool {
    kind != Kind::List
        && len < POOL_MIN_MEMBERS
        && count != 0
        && usize::try_from(count.unsigned_abs()).is_ok_and(|c| c <= POOL_MAX_CALL)
}

impl NameCopies {
    /// The copy of `(ns, key, generation)` made under `version`, if kept.
    fn get(&self, id: &CollectionId, version: u64) -> Option<Arc<Vec<Bytes>>> {
        let copies = self.inner.lock();
        copies
            .get(id)
            .filter(|c| c.version == version)
            .map(|c| Arc::clone(&c.names))
    }

    /// Keeps `names` (read under `version`) as the copy of `id`, in one
    /// buffer (a name read from the engine shares its record key's
    /// allocation), unless they pass [`MAX_COPY_BYTES`]; returns them.
    fn keep(&self, id: CollectionId, version: u64, names: Vec<Bytes>) -> Arc<Vec<Bytes>> {
        let total: usize = names.iter().map(Bytes::len).sum();
        if total > MAX_COPY_BYTES {
            return Arc::new(names);
        }
        let copied = Arc::new(in_one_buffer(&names));
        self.made.fetch_add(1, Ordering::Relaxed);
        let copy = Copy {
            version,
            names: Arc::clone(&copied),
        };
        self.inner.lock().insert(id, copy);
        copied
    }
}

/// `decode` of the members a read's pick of `n` ([`copied`]) takes from
/// the copy of the collection's names (made by one walk if there is none
/// for its header), in the order picked; `None` if the copy disagrees with
/// the members read at `snapshot` (the caller walks).
#[allow(
    clippy::too_many_arguments,
    reason = "the collection, where its copy is, and what to pick"
)]
pub(super) fn copied_picks<T: Clone>(
    engine: &Engine,
    snapshot: &Snapshot,
    copies: &NameCopies,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    n: i64,
    decode: &mut impl FnMut(Bytes, Vec<Item>) -> T,
) -> Result<Option<Vec<T>>> {
    let id = collection_id(ns, key, header.generation);
    let version = header_version(header);
    let names = match copies.get(&id, version) {
        Some(names) => names,
        None => {
            let mut all = Vec::with_capacity(usize::try_from(header.count).unwrap_or(0));
            visit_member_names(engine, snapshot, ns, key, header, |m| {
                all.push(m);
                true
            })?;
            copies.keep(id, version, all)
        }
    };
    if u64::try_from(names.len()).ok() != Some(header.count) {
        return Ok(None);
    }
    let picks = super::random_picks(names.len(), n);
    let mut decoded: HashMap<usize, T> = HashMap::with_capacity(picks.len());
    for &i in &picks {
        if decoded.contains_key(&i) {
            continue;
        }
        let Some(name) = names.get(i) else {
            return Ok(None);
        };
        match get_member(engine, snapshot, ns, key, header, name)? {
            Some(items) => {
                decoded.insert(i, decode(name.clone(), items));
            }
            None => return Ok(None),
        }
    }
    Ok(Some(
        picks
            .iter()
            .filter_map(|i| decoded.get(i).cloned())
            .collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::keyspace::split_tests::{apply, header_of};
    use crate::keyspace::{Keyspace, Need};
    use crate::version::{CollectionOp, CollectionReply};

    fn name(i: usize) -> Bytes {
        Bytes::from(format!("m{i:04}"))
    }

    fn put(kind: Kind, names: impl Iterator<Item = usize>) -> CollectionOp {
        CollectionOp::Put {
            kind,
            pairs: names
                .map(|i| (name(i), Bytes::from(format!("v{i}"))))
                .collect(),
            if_absent: false,
        }
    }

    /// Reads of a mid-size set and hash pick from a copy of their names:
    /// single picks are independent across calls (they repeat, as
    /// Redis's do) and spread over every member; a write is seen by the
    /// next read (a removed member is never picked, an added one is, a
    /// changed value reads new); one walk per state of the collection.
    #[tokio::test(flavor = "multi_thread")]
    async fn reads_of_a_mid_size_collection_pick_from_a_copy_of_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        let n = 500;
        apply(&ks, b"s", &put(Kind::Set, 0..n)).await.0.unwrap();
        assert!(header_of(&ks, b"s").is_some(), "stored split");
        let pick = |key: &[u8], count: i64| {
            ks.read_partial(0, key, Need::Sample(count))
                .unwrap()
                .unwrap()
                .members
        };
        let made = || ks.inner.samples.names.made.load(Ordering::Relaxed);
        let singles: Vec<Bytes> = (0..4000).map(|_| pick(b"s", 1)[0].0.clone()).collect();
        assert_eq!(made(), 1, "one walk for 4,000 reads of one state");
        // 100 picks among 500 repeat about ten times; with none the picks
        // would not be independent.
        let first: std::collections::BTreeSet<_> = singles[..100].iter().collect();
        assert!(first.len() < 100, "no repeat in 100 single picks");
        // Each quarter of the member order gets 1,000 ± 27 of them.
        let mut quarters = [0usize; 4];
        for m in &singles {
            let i: usize = std::str::from_utf8(&m[1..]).unwrap().parse().unwrap();
            quarters[i * 4 / n] += 1;
        }
        assert!(
            quarters.iter().all(|q| (800..1200).contains(q)),
            "{quarters:?}"
        );
        // Distinct within a call for a positive count; repeats for a negative.
        let distinct: std::collections::BTreeSet<_> = pick(b"s", 64).into_iter().collect();
        assert_eq!(distinct.len(), 64);
        assert_eq!(pick(b"s", -64).len(), 64);
        // Half removed, one added: the next reads see exactly that.
        let remove = CollectionOp::Remove {
            kind: Kind::Set,
            members: (0..n / 2).map(name).collect(),
        };
        apply(&ks, b"s", &remove).await.0.unwrap();
        apply(&ks, b"s", &put(Kind::Set, n..n + 1)).await.0.unwrap();
        let after: Vec<Bytes> = (0..4000).map(|_| pick(b"s", 1)[0].0.clone()).collect();
        assert!(after.iter().all(|m| m.as_ref() >= name(n / 2).as_ref()));
        assert!(after.contains(&name(n)), "the added member is picked");
        assert_eq!(made(), 2);
        // A hash's values are read at the pick: a changed value reads new.
        apply(&ks, b"h", &put(Kind::Hash, 0..n)).await.0.unwrap();
        let _ = pick(b"h", 1);
        let change = CollectionOp::Put {
            kind: Kind::Hash,
            pairs: (0..n)
                .map(|i| (name(i), Bytes::from(format!("w{i}"))))
                .collect(),
            if_absent: false,
        };
        match apply(&ks, b"h", &change).await.0.unwrap() {
            CollectionReply::Count(0) => {}
            other => panic!("{other:?}"),
        }
        for (m, v) in pick(b"h", -200) {
            let i: usize = std::str::from_utf8(&m[1..]).unwrap().parse().unwrap();
            assert_eq!(v, format!("w{i}"));
        }
    }

    #[test]
    fn only_small_picks_from_mid_size_collections_read_a_copy() {
        assert!(copied(Kind::Set, 500, 1));
        assert!(copied(Kind::Hash, POOL_MIN_MEMBERS - 1, -64));
        assert!(!copied(Kind::Set, POOL_MIN_MEMBERS, 1));
        assert!(!copied(Kind::Set, 500, 65));
        assert!(!copied(Kind::Set, 500, 0));
        assert!(!copied(Kind::List, 500, 1));
        assert!(!copied(Kind::ZSet, 500, i64::MIN));
    }

    #[test]
    fn a_copy_is_kept_for_its_header_and_bounded_in_number() {
        let copies = NameCopies::default();
        let id = |g: u64| (0, Bytes::from_static(b"k"), g);
        let names = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        copies.keep(id(1), 7, names.clone());
        assert_eq!(copies.get(&id(1), 7).as_deref(), Some(&names));
        assert!(copies.get(&id(1), 8).is_none(), "another header");
        for g in 2..=(MAX_COPIES as u64 + 1) {
            copies.keep(id(g), 7, names.clone());
        }
        assert!(copies.get(&id(1), 7).is_none(), "the oldest is dropped");
        assert!(copies.get(&id(2), 7).is_some());
        // Names past the byte bound are returned, not kept.
        let long = vec![Bytes::from(vec![b'x'; MAX_COPY_BYTES + 1])];
        assert_eq!(copies.keep(id(50), 7, long.clone()).as_ref(), &long);
        assert!(copies.get(&id(50), 7).is_none());
    }
}
