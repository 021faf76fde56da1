//! Random picks from a large split collection without a walk per pick:
//! SPOP, SRANDMEMBER, HRANDFIELD and ZRANDMEMBER of a few members.
//!
//! Members are stored in member order with no index by position, so a
//! uniform pick by position walks the member keys up to it: O(*n*) per
//! call (14 ms on a 200,000-member set), and more where earlier pops and
//! removals left deletions that the walk passes until compaction drops
//! them. For a small pick from a large collection, one walk instead draws
//! [`pool_size`] distinct positions at random (for a read, one per 16
//! members, at least 1,024; for a pop, every member, up to 65,536) and
//! keeps their members, shuffled, in a pool for the collection's
//! generation; each later pick takes the next member from the pool and
//! reads it (a point read), skipping one removed since. The pool is drawn
//! again once a quarter of it is left (by the one caller that noticed,
//! after its own picks, while the others go on taking what is left), or at
//! once when the collection's size has moved by more than a quarter from
//! what the pool expects (its size at the draw, less the members a pop
//! took from it). A caller that finds no pool while another draws it
//! walks for its own picks, as without a pool.
//!
//! Each pick is still a uniform one among the members present when its
//! pool was drawn, and the picks of one call are distinct. Members added
//! after the draw are not picked until the next one. A pool only ever proposes members: what a
//! pick returns is read at the caller's snapshot, so a stale pool can
//! skew which members are picked, never what a reply holds.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::ops::Bound;

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_engine::{Engine, Snapshot};

use super::list_ends::list_first;
use super::per_collection::{KeptPerCollection, collection_id, in_one_buffer};
use super::split::{get_member, member_items, member_key, member_prefix, prefix_end};
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Item, Kind};

/// A collection has at least this many members for a read's picks
/// (SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) to come from a pool (below, the
/// walk is short).
pub const POOL_MIN_MEMBERS: u64 = 2048;
/// The same for a pop's picks (SPOP): every split set (it goes back
/// inline below 32 members). A pool proposes each member once, so its
/// picks are distinct across calls, not only within one: for reads of a
/// smaller collection that would show (no repeat in hundreds of single
/// picks), but a popped member leaves the collection, so pops are
/// distinct anyway. Walking per pop cost 120-170 µs at 1,000 members
/// (SPOP from one client: 5,600 pops a second), all of it under the
/// key's record lock; and a set emptied by pops leaves a deletion per
/// member behind, which each walk passes: popping the last 256 members
/// of a set that had held 63,000 walked 63,000 deletions per pop, 2 to 6
/// ms each.
pub const POOL_MIN_POP_MEMBERS: u64 = 32;

/// Who picks at random: a read, or a pop whose picks leave the collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picker {
    /// SRANDMEMBER, HRANDFIELD, ZRANDMEMBER.
    Read,
    /// SPOP.
    Pop,
}

/// A call picking more than this many members, or more than a quarter
/// of a pool ([`pooled`]), walks: its point reads would cost about what
/// the walk does.
pub const POOL_MAX_CALL: usize = 64;
/// Positions drawn per walk at least ([`pool_size`]).
pub const POOL_PICKS: usize = 1024;
/// Positions drawn per walk at most.
const POOL_MAX_PICKS: usize = 65_536;
/// Bytes a pool holds at most, its members' names and a slot of
/// [`POOL_SLOT_BYTES`] each (it stops short of [`pool_size`] for long
/// members).
const POOL_MAX_BYTES: usize = 2 << 20;
/// What a pool spends per member beside its name (its `Bytes` handle).
const POOL_SLOT_BYTES: usize = 32;
/// Pools kept at most, the least recently drawn dropped first: with
/// [`POOL_MAX_BYTES`], 16 MiB at most.
const MAX_POOLS: usize = 8;

/// How long a draw may take before another caller may draw instead (the
/// first one failed, or its thread is stuck).
const DRAW_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    /// Members not yet proposed, taken from the end.
    members: Vec<Bytes>,
    /// How many members the pool held when drawn.
    drawn: usize,
    /// The collection's size when the pool was drawn.
    drawn_at_count: u64,
    /// Members a pop took from the pool since (each one leaves the
    /// collection, so the size it expects falls by as many).
    popped: u64,
    /// When a caller took on drawing it again, if one has.
    drawing_since: Option<Instant>,
}

impl Pool {
    /// Whether the caller should draw the pool again: it runs low and no
    /// other caller has taken that on (recently).
    fn claim_draw(&mut self) -> bool {
        let low = self.members.len() < self.drawn / 4;
        let free = self
            .drawing_since
            .is_none_or(|t| t.elapsed() > DRAW_TIMEOUT);
        if low && free {
            self.drawing_since = Some(Instant::now());
        }
        low && free
    }
}

/// The pools kept, per collection.
type Pools = KeptPerCollection<Pool, MAX_POOLS>;

/// The pools of a keyspace.
#[derive(Default)]
pub struct SamplePools {
    inner: Mutex<Pools>,
    /// Pools drawn (each one walk of a collection's member keys).
    pub draws: AtomicU64,
    /// Members proposed by pools.
    pub proposed: AtomicU64,
    /// Copies of mid-size collections' member names (`super::sample_names`).
    pub names: super::sample_names::NameCopies,
}

/// What [`SamplePools::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Take {
    /// The next member the pool proposes, if it has one.
    pub member: Option<Bytes>,
    /// Whether this caller is to draw the pool again
    /// ([`SamplePools::fill`]), once it has its picks.
    pub draw: bool,
}

/// Positions a walk draws for a pool of a collection of `len` members
/// picked by `picker`.
///
/// A read's pool: one per 16 members, between [`POOL_PICKS`] and
/// [`POOL_MAX_PICKS`], so a pick's share of the walks is about 21 member
/// keys (a pool is drawn again when a quarter is left) whatever the size.
/// The walk visits every member record (each a cache miss, about 100 ns);
/// with one per 64, SPOP on a 260,000-member set spent most of its time
/// walking.
///
/// A pop's pool: every member, up to [`POOL_MAX_PICKS`] (and 2 MiB of
/// names). Pops shrink the collection and leave a deletion per member
/// that every walk passes until compaction drops them, so a pop's share
/// of a walk grows as the set empties: with one per 16, SPOP of a 63,000
/// member set spent 11-16 µs a pop, most of it passing deletions. Drawing
/// all of it, a set is walked about once per quarter of it popped.
pub fn pool_size(len: usize, picker: Picker) -> usize {
    match picker {
        Picker::Read => (len / 16).clamp(POOL_PICKS, POOL_MAX_PICKS).min(len),
        Picker::Pop => len.min(POOL_MAX_PICKS),
    }
}

/// Whether a pick of `count` (SRANDMEMBER's sign convention) among `len`
/// members by `picker` comes from a pool.
pub fn pooled(len: u64, count: i64, picker: Picker) -> bool {
    let min_members = match picker {
        Picker::Read => POOL_MIN_MEMBERS,
        Picker::Pop => POOL_MIN_POP_MEMBERS,
    };
    len >= min_members
        && count != 0
        && usize::try_from(count.unsigned_abs()).is_ok_and(|c| {
            let quarter_pool = usize::try_from(len / 256).unwrap_or(usize::MAX);
            c <= POOL_MAX_CALL.max(quarter_pool)
        })
}

impl SamplePools {
    /// The next member the pool of `(ns, key, generation)` (a collection
    /// of `count` members now) proposes to `picker`, and whether this
    /// caller is to draw the pool again. A pool whose collection's size
    /// moved by more than a quarter from what it expects (its size at the
    /// draw, less what pops took from the pool) proposes nothing.
    pub fn take(&self, ns: u32, key: &[u8], generation: u64, count: u64, picker: Picker) -> Take {
        let mut pools = self.inner.lock();
        let id = collection_id(ns, key, generation);
        let Some(pool) = pools.get_mut(&id) else {
            // The first caller draws; until it has, others walk.
            pools.insert(
                id,
                Pool {
                    members: Vec::new(),
                    drawn: 0,
                    drawn_at_count: count,
                    popped: 0,
                    drawing_since: Some(Instant::now()),
                },
            );
            return Take {
                member: None,
                draw: true,
            };
        };
        let expected = pool.drawn_at_count.saturating_sub(pool.popped);
        if expected.abs_diff(count) > pool.drawn_at_count / 4 {
            pool.members.clear();
        }
        let member = pool.members.pop();
        if member.is_some() {
            self.proposed.fetch_add(1, Ordering::Relaxed);
            if picker == Picker::Pop {
                pool.popped += 1;
            }
        }
        Take {
            member,
            draw: pool.claim_draw(),
        }
    }

    /// Keeps `members` (drawn at random, in random order, when the
    /// collection had `count`) as the pool of `(ns, key, generation)`.
    pub fn fill(&self, ns: u32, key: &[u8], generation: u64, count: u64, members: Vec<Bytes>) {
        let mut bytes = 0usize;
        let keep = members
            .iter()
            .take_while(|m| {
                bytes += m.len() + POOL_SLOT_BYTES;
                bytes <= POOL_MAX_BYTES
            })
            .count()
            .max(1)
            .min(members.len());
        let kept = in_one_buffer(members.get(..keep).unwrap_or_default());
        self.draws.fetch_add(1, Ordering::Relaxed);
        let pool = Pool {
            drawn: kept.len(),
            members: kept,
            drawn_at_count: count,
            popped: 0,
            drawing_since: None,
        };
        self.inner
            .lock()
            .insert(collection_id(ns, key, generation), pool);
    }
}

/// `decode` of the members [`Need::Sample`]`(n)` picks, in the order picked:
/// each distinct member decoded once and its result cloned for a repeat
/// (so a read with millions of repeats shares one value per member).
#[allow(
    clippy::too_many_arguments,
    reason = "the collection, where its pool is, and what to pick"
)]
pub(super) fn sampled<T: Clone>(
    engine: &Engine,
    snapshot: &Snapshot,
    pools: &SamplePools,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    n: i64,
    picker: Picker,
    mut decode: impl FnMut(Bytes, Vec<Item>) -> T,
) -> Result<Vec<T>> {
    if picker == Picker::Read && super::sample_names::copied(header.kind, header.count, n) {
        let names = &pools.names;
        let from_copy = super::sample_names::copied_picks(
            engine,
            snapshot,
            names,
            ns,
            key,
            header,
            n,
            &mut decode,
        )?;
        if let Some(picked) = from_copy {
            return Ok(picked);
        }
    }
    if header.kind != Kind::List && pooled(header.count, n, picker) {
        let from_pool = pooled_picks(
            engine,
            snapshot,
            pools,
            ns,
            key,
            header,
            n,
            picker,
            &mut decode,
        )?;
        if let Some(picked) = from_pool {
            return Ok(picked);
        }
    }
    let len = usize::try_from(header.count).unwrap_or(usize::MAX);
    let picks = super::random_picks(len, n);
    let found = members_at(engine, snapshot, ns, key, header, &picks, decode)?;
    Ok(picks.iter().filter_map(|i| found.get(i).cloned()).collect())
}

/// `|n|` picks of [`sampled`] from the collection's pool, drawing it
/// (one walk) when it is empty or low:
/// distinct members, each read at `snapshot`. `None` when even a fresh
/// pool could not supply them (most of its members removed since): the
/// caller walks.
#[allow(
    clippy::too_many_arguments,
    reason = "the collection, where its pool is, and what to pick"
)]
fn pooled_picks<T>(
    engine: &Engine,
    snapshot: &Snapshot,
    pools: &SamplePools,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    n: i64,
    picker: Picker,
    decode: &mut impl FnMut(Bytes, Vec<Item>) -> T,
) -> Result<Option<Vec<T>>> {
    let want = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(want);
    let mut taken = std::collections::HashSet::with_capacity(want);
    // Whether this caller is to draw the pool again, and whether it has.
    let (mut draw, mut drawn) = (false, false);
    while out.len() < want {
        let take = pools.take(ns, key, header.generation, header.count, picker);
        draw |= take.draw;
        match take.member {
            // Each member once per call, and one removed since not at all.
            Some(m) if taken.insert(m.clone()) => {
                if let Some(items) = get_member(engine, snapshot, ns, key, header, &m)? {
                    out.push(decode(m, items));
                }
            }
            Some(_) => {}
            // Another caller is drawing it, or even a fresh pool ran dry.
            None if !draw || drawn => return Ok(None),
            None => {
                draw_pool(engine, snapshot, pools, ns, key, header, picker)?;
                (draw, drawn) = (false, true);
            }
        }
    }
    if draw {
        draw_pool(engine, snapshot, pools, ns, key, header, picker)?;
    }
    Ok(Some(out))
}

/// Draws the pool of a collection for `picker`: one walk keeping the
/// members at [`pool_size`] distinct random positions, shuffled.
fn draw_pool(
    engine: &Engine,
    snapshot: &Snapshot,
    pools: &SamplePools,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    picker: Picker,
) -> Result<()> {
    use rand::seq::SliceRandom;
    let len = usize::try_from(header.count).unwrap_or(usize::MAX);
    let size = i64::try_from(pool_size(len, picker)).unwrap_or(i64::MAX);
    let picks = super::random_picks(len, size);
    let mut members: Vec<Bytes> = members_at(engine, snapshot, ns, key, header, &picks, |m, _| m)?
        .into_values()
        .collect();
    members.shuffle(&mut rand::rng());
    pools.fill(ns, key, header.generation, header.count, members);
    Ok(())
}

/// The members at positions `picks` (in member order; repeats allowed),
/// each distinct position once, with `decode` of its items: one walk over
/// the members' keys that decodes only the picked ones.
fn members_at<T>(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    picks: &[usize],
    mut decode: impl FnMut(Bytes, Vec<Item>) -> T,
) -> Result<std::collections::HashMap<usize, T>> {
    let mut wanted: Vec<usize> = picks.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = std::collections::HashMap::with_capacity(wanted.len());
    let Some(&last) = wanted.last() else {
        return Ok(found);
    };
    let prefix = member_prefix(ns, key, header.generation);
    let end = prefix_end(&prefix).unwrap_or_default();
    let start = member_key(&prefix, list_first(header));
    let mut next = wanted.iter().peekable();
    for (i, item) in engine
        .iter(
            Bound::Included(&start[..]),
            Bound::Excluded(&end[..]),
            Some(snapshot),
        )?
        .enumerate()
    {
        if i > last {
            break;
        }
        let (ekey, value) = item?;
        if next.peek() != Some(&&i) {
            continue;
        }
        next.next();
        let member = super::split::tail_of(ekey, prefix.len());
        found.insert(i, decode(member, member_items(key, &value)?));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("m{i}"))).collect()
    }

    fn next(pools: &SamplePools, generation: u64, count: u64) -> Option<Bytes> {
        pools.take(0, b"k", generation, count, Picker::Read).member
    }

    #[test]
    fn the_first_caller_draws_and_others_walk_until_it_has() {
        let pools = SamplePools::default();
        let none_draw = Take {
            member: None,
            draw: true,
        };
        assert_eq!(pools.take(0, b"k", 1, 5000, Picker::Read), none_draw);
        let none_walk = Take {
            member: None,
            draw: false,
        };
        assert_eq!(pools.take(0, b"k", 1, 5000, Picker::Read), none_walk);
        pools.fill(0, b"k", 1, 5000, names(POOL_PICKS));
        // Each member once, from the end; a caller is asked to draw again
        // once a quarter is left, and only one.
        let mut draws = 0;
        let mut got = Vec::new();
        while let Take {
            member: Some(m),
            draw,
        } = pools.take(0, b"k", 1, 5000, Picker::Read)
        {
            got.push(m);
            draws += usize::from(draw);
        }
        assert_eq!(got.len(), POOL_PICKS);
        assert_eq!(got.first().map(|m| &m[..]), Some(&b"m1023"[..]));
        assert_eq!(draws, 1);
        // Another generation of the key has its own pool.
        assert_eq!(pools.take(0, b"k", 2, 5000, Picker::Read), none_draw);
    }

    #[test]
    fn a_pool_proposes_nothing_once_the_collection_moved_by_a_quarter() {
        let pools = SamplePools::default();
        pools.fill(0, b"k", 1, 4000, names(10));
        assert!(next(&pools, 1, 4900).is_some());
        assert_eq!(next(&pools, 1, 5100), None);
        assert_eq!(next(&pools, 1, 4000), None);
    }

    /// A pop's pool expects the collection to shrink by what it proposed:
    /// its own pops keep it, members added beside them (more than a quarter
    /// of its size at the draw) retire it. A read's pool expects the size
    /// it was drawn at.
    #[test]
    fn a_pop_pool_expects_the_collection_to_shrink_by_its_pops() {
        let pools = SamplePools::default();
        pools.fill(0, b"k", 1, 1000, names(1000));
        let pop = |count: u64| pools.take(0, b"k", 1, count, Picker::Pop);
        for popped in 0..600 {
            let take = pop(1000 - popped);
            assert!(take.member.is_some() && !take.draw, "pop {popped}");
        }
        // 600 popped: a size of 400 is what it expects, 600 within a
        // quarter of the draw's size, 700 is not.
        assert!(pop(600).member.is_some());
        assert_eq!(pop(700).member, None);
        // A read's pool drawn at 1,000 proposes nothing at 600.
        pools.fill(0, b"k", 2, 1000, names(1000));
        assert!(pools.take(0, b"k", 2, 800, Picker::Read).member.is_some());
        assert_eq!(pools.take(0, b"k", 2, 600, Picker::Read).member, None);
    }

    #[test]
    fn pools_are_bounded_in_number_and_bytes() {
        let pools = SamplePools::default();
        for g in 0..(MAX_POOLS as u64 + 5) {
            pools.fill(0, b"k", g, 5000, names(2));
        }
        assert_eq!(next(&pools, 0, 5000), None, "the oldest is dropped");
        assert!(next(&pools, MAX_POOLS as u64 + 4, 5000).is_some());
        let long = vec![Bytes::from(vec![b'x'; 100 << 10]); 10];
        pools.fill(1, b"k", 1, 5000, long);
        let kept = std::iter::from_fn(|| pools.take(1, b"k", 1, 5000, Picker::Read).member).count();
        assert_eq!(kept, 10, "2 MiB holds ten 100 KiB members");
        let long = vec![Bytes::from(vec![b'x'; 100 << 10]); 30];
        pools.fill(1, b"k", 2, 5000, long);
        let kept = std::iter::from_fn(|| pools.take(1, b"k", 2, 5000, Picker::Read).member).count();
        assert_eq!(kept, 20, "2 MiB of 100 KiB members and their slots");
        let read = Picker::Read;
        assert_eq!(pool_size(3000, read), POOL_PICKS);
        assert_eq!(pool_size(1_000_000, read), 62_500);
        assert_eq!(pool_size(100_000_000, read), POOL_MAX_PICKS);
        // A pop's pool holds every member, up to the same bound.
        assert_eq!(pool_size(40, Picker::Pop), 40);
        assert_eq!(pool_size(3000, Picker::Pop), 3000);
        assert_eq!(pool_size(1_000_000, Picker::Pop), POOL_MAX_PICKS);
    }

    #[test]
    fn only_small_picks_from_large_collections_are_pooled() {
        let read = Picker::Read;
        assert!(pooled(POOL_MIN_MEMBERS, 1, read));
        assert!(pooled(1_000_000, -64, read));
        assert!(!pooled(POOL_MIN_MEMBERS - 1, 1, read));
        assert!(!pooled(10_000, 65, read));
        assert!(pooled(1_000_000, 3_906, read));
        assert!(!pooled(1_000_000, 3_907, read));
        assert!(!pooled(1_000_000, 0, read));
        assert!(!pooled(1_000_000, i64::MIN, read));
        // Pops take from a pool at fewer members.
        assert!(pooled(POOL_MIN_POP_MEMBERS, 1, Picker::Pop));
        assert!(!pooled(POOL_MIN_POP_MEMBERS - 1, 1, Picker::Pop));
        assert!(!pooled(POOL_MIN_POP_MEMBERS, 1, read));
        assert!(pooled(POOL_MIN_POP_MEMBERS, 64, Picker::Pop));
        assert!(!pooled(POOL_MIN_POP_MEMBERS, 65, Picker::Pop));
    }
}
