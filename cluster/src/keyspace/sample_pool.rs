//! Random picks from a large split collection without a walk per pick:
//! SPOP, SRANDMEMBER, HRANDFIELD and ZRANDMEMBER of a few members.
//!
//! Members are stored in member order with no index by position, so a
//! uniform pick by position walks the member keys up to it: O(*n*) per
//! call (14 ms on a 200,000-member set). For a small pick from a large
//! collection, one walk instead draws [`POOL_PICKS`] distinct positions
//! at random and keeps their members, shuffled, in a pool for the
//! collection's generation; each later pick takes the next member from
//! the pool and reads it (a point read), skipping one removed since. The
//! pool is drawn again once used up, or once the collection's size has
//! moved by more than a quarter since.
//!
//! Each pick is still a uniform one among the members present when its
//! pool was drawn, and the picks of one call are distinct. Members added
//! after the draw are not picked until the next one (at most
//! [`POOL_PICKS`] picks later). A pool only ever proposes members: what a
//! pick returns is read at the caller's snapshot, so a stale pool can
//! skew which members are picked, never what a reply holds.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;

/// A collection has at least this many members for its picks to come from
/// a pool (below, the walk is short).
pub const POOL_MIN_MEMBERS: u64 = 2048;
/// A call picking more than this many members walks (its reply is large
/// anyway).
pub const POOL_MAX_CALL: usize = 64;
/// Positions drawn per walk.
pub const POOL_PICKS: usize = 1024;
/// Bytes of member names a pool keeps at most (it stops short of
/// [`POOL_PICKS`] for long members).
const POOL_MAX_BYTES: usize = 256 << 10;
/// Pools kept at most, the least recently drawn dropped first.
const MAX_POOLS: usize = 32;

/// Which collection a pool is for: namespace, key and generation.
type PoolKey = (u32, Bytes, u64);

struct Pool {
    /// Members not yet proposed, taken from the end.
    members: Vec<Bytes>,
    /// The collection's size when the pool was drawn.
    drawn_at_count: u64,
}

#[derive(Default)]
struct Pools {
    by_key: HashMap<PoolKey, Pool>,
    /// Keys in the order their pools were drawn.
    order: VecDeque<PoolKey>,
}

/// The pools of a keyspace.
#[derive(Default)]
pub struct SamplePools {
    inner: Mutex<Pools>,
}

/// Whether a pick of `count` (SRANDMEMBER's sign convention) among `len`
/// members comes from a pool.
pub fn pooled(len: u64, count: i64) -> bool {
    len >= POOL_MIN_MEMBERS
        && count != 0
        && usize::try_from(count.unsigned_abs()).is_ok_and(|c| c <= POOL_MAX_CALL)
}

impl SamplePools {
    /// The next member the pool of `(ns, key, generation)` proposes, if it
    /// has one and the collection (now `count` members) has not moved by
    /// more than a quarter since the draw.
    pub fn next(&self, ns: u32, key: &[u8], generation: u64, count: u64) -> Option<Bytes> {
        let mut pools = self.inner.lock();
        let id: PoolKey = (ns, Bytes::copy_from_slice(key), generation);
        let pool = pools.by_key.get_mut(&id)?;
        let drift = pool.drawn_at_count.abs_diff(count);
        if drift > pool.drawn_at_count / 4 {
            pool.members.clear();
        }
        pool.members.pop()
    }

    /// Keeps `members` (drawn at random, in random order, when the
    /// collection had `count`) as the pool of `(ns, key, generation)`.
    pub fn fill(&self, ns: u32, key: &[u8], generation: u64, count: u64, members: Vec<Bytes>) {
        let mut kept = Vec::with_capacity(members.len());
        let mut bytes = 0usize;
        for m in members {
            bytes += m.len();
            if bytes > POOL_MAX_BYTES && !kept.is_empty() {
                break;
            }
            kept.push(m);
        }
        let mut pools = self.inner.lock();
        let id: PoolKey = (ns, Bytes::copy_from_slice(key), generation);
        let pool = Pool {
            members: kept,
            drawn_at_count: count,
        };
        if pools.by_key.insert(id.clone(), pool).is_none() {
            pools.order.push_back(id);
        }
        while pools.order.len() > MAX_POOLS {
            if let Some(old) = pools.order.pop_front() {
                pools.by_key.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("m{i}"))).collect()
    }

    #[test]
    fn a_pool_proposes_each_member_once_then_runs_dry() {
        let pools = SamplePools::default();
        assert_eq!(pools.next(0, b"k", 1, 5000), None);
        pools.fill(0, b"k", 1, 5000, names(3));
        let got: Vec<_> = std::iter::from_fn(|| pools.next(0, b"k", 1, 5000)).collect();
        assert_eq!(got, vec!["m2", "m1", "m0"]);
        // Another generation of the key has no pool.
        pools.fill(0, b"k", 1, 5000, names(3));
        assert_eq!(pools.next(0, b"k", 2, 5000), None);
    }

    #[test]
    fn a_pool_is_dropped_once_the_collection_moved_by_a_quarter() {
        let pools = SamplePools::default();
        pools.fill(0, b"k", 1, 4000, names(10));
        assert!(pools.next(0, b"k", 1, 4900).is_some());
        assert_eq!(pools.next(0, b"k", 1, 5100), None);
        assert_eq!(pools.next(0, b"k", 1, 4000), None);
    }

    #[test]
    fn pools_are_bounded_in_number_and_bytes() {
        let pools = SamplePools::default();
        for g in 0..(MAX_POOLS as u64 + 5) {
            pools.fill(0, b"k", g, 5000, names(2));
        }
        assert_eq!(pools.next(0, b"k", 0, 5000), None, "the oldest is dropped");
        assert!(pools.next(0, b"k", MAX_POOLS as u64 + 4, 5000).is_some());
        let long = vec![Bytes::from(vec![b'x'; 100 << 10]); 10];
        pools.fill(1, b"k", 1, 5000, long);
        let kept = std::iter::from_fn(|| pools.next(1, b"k", 1, 5000)).count();
        assert_eq!(kept, 2, "256 KiB of 100 KiB members");
    }

    #[test]
    fn only_small_picks_from_large_collections_are_pooled() {
        assert!(pooled(POOL_MIN_MEMBERS, 1));
        assert!(pooled(1_000_000, -64));
        assert!(!pooled(POOL_MIN_MEMBERS - 1, 1));
        assert!(!pooled(1_000_000, 65));
        assert!(!pooled(1_000_000, 0));
        assert!(!pooled(1_000_000, i64::MIN));
    }
}
