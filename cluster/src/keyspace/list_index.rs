//! LINDEX and LRANGE far from both ends of a split list, from a copy of its
//! positions.
//!
//! A split list's elements are member keys ordered by position, with no
//! index by rank: an element in the middle was found by walking from the
//! nearer end, decoding every element passed. In a 100,000-element list,
//! LINDEX 50000 took 21 ms (Redis: 0.1 ms).
//!
//! Instead, a read at least [`LIST_COPY_MIN_DISTANCE`] elements from both
//! ends copies the list's positions in one walk of its member keys (names
//! only), kept per header version as a sorted set's order is
//! (`super::zset_ranks`, whose store holds both); the elements of a window
//! are then read by name. Pushes and pops, written by the partial write
//! path, apply their positions to a copy made at the header they replace
//! and move it to the header they write, so a queue's pushes and pops do
//! not undo it; any other write (LSET, LINSERT, LREM, LTRIM, a replica's
//! merge) writes a header at another version, and the next read far from
//! the ends walks again. Reads near an end walk from it, as before: a
//! short walk costs less than a point read per element.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::VecDeque;

use bytes::Bytes;

use super::per_collection::in_one_buffer;
use super::split::{header_version, visit_member_names};
use super::zset_ranks::{
    ENTRY_BYTES, Entry, IndexChanges, MAX_ORDER_BYTES, RankOrders, SetAt, names_in,
};
use crate::error::Result;
use crate::version::collection::{Collection, Kind};
use crate::version::list_position::LEVEL_BYTES;

/// How far from the nearer end (in elements) a read's window must start
/// for the read to use, or make, a copy of the list's positions.
pub(super) const LIST_COPY_MIN_DISTANCE: usize = 256;

/// The most elements a list may have for a copy of its positions (each
/// position is at least one level long; a list whose positions are longer
/// stops its walk at [`MAX_ORDER_BYTES`]).
const LIST_COPY_MAX_MEMBERS: u64 = (MAX_ORDER_BYTES / (LEVEL_BYTES + ENTRY_BYTES)) as u64;

/// The positions a partial write of a list added and removed, as entries
/// of a copy of its positions (score 0: the position is the order).
pub(super) fn position_changes(previous: &Collection, now: &Collection) -> IndexChanges {
    let entry = |m: &Bytes| (0, m.clone());
    IndexChanges {
        removed: previous
            .iter()
            .filter(|(m, _)| now.items(m).is_none())
            .map(|(m, _)| entry(m))
            .collect(),
        added: now
            .iter()
            .filter(|(m, _)| previous.items(m).is_none())
            .map(|(m, _)| entry(m))
            .collect(),
    }
}

impl SetAt<'_> {
    /// Every position of the list, in order; `None` past `max_bytes` or
    /// when the count disagrees with the header.
    fn walk_positions(&self, max_bytes: usize) -> Result<Option<VecDeque<Entry>>> {
        let header = self.header;
        let mut names = Vec::with_capacity(usize::try_from(header.count).unwrap_or(0));
        let mut bytes = 0usize;
        let mut within = true;
        visit_member_names(self.engine, self.snapshot, self.ns, self.key, header, |m| {
            bytes += m.len() + ENTRY_BYTES;
            within = bytes <= max_bytes;
            names.push(m);
            within
        })?;
        if !within || u64::try_from(names.len()).ok() != Some(header.count) {
            return Ok(None);
        }
        Ok(Some(
            in_one_buffer(&names).into_iter().map(|m| (0, m)).collect(),
        ))
    }
}

/// The positions of indexes `from..to` of the list `set`, from its copy
/// (made by one walk when there is none at its header), or for a list too
/// large to copy from counts per piece of its positions
/// (`super::rank_pieces`); `None` when the window is near an end, or
/// neither serves: the caller walks from the nearer end.
fn indexed_positions(
    set: &SetAt<'_>,
    orders: &RankOrders,
    (from, to): (usize, usize),
) -> Result<Option<Vec<Bytes>>> {
    let len = usize::try_from(set.header.count).unwrap_or(usize::MAX);
    if set.header.kind != Kind::List || from.min(len.saturating_sub(to)) < LIST_COPY_MIN_DISTANCE {
        return Ok(None);
    }
    let (id, version) = (set.id(), header_version(set.header));
    let copied = orders.read(&id, (version, set.header.count), |e| names_in(e, from, to));
    if let Some(names) = copied {
        return Ok(names);
    }
    if set.header.count <= LIST_COPY_MAX_MEMBERS && !orders.pieces.holds(&id) {
        if let Some(entries) = set.walk_positions(orders.copy_bytes())? {
            let names = names_in(&entries, from, to);
            orders.keep(id, version, entries);
            return Ok(names);
        }
    }
    // Too large for a copy: from counts per piece of its positions.
    let index = |i: usize| u64::try_from(i).unwrap_or(u64::MAX);
    super::rank_pieces::names_in_ranks(set, &orders.pieces, index(from), index(to))
}

/// The positions LRANGE `start stop` returns of the list `set`
/// ([`super::Need::Range`]), from the copy of its positions; `None` when
/// the copy does not serve the read (an empty window, one near an end, a
/// list too large to copy).
pub(super) fn indexed_names(
    set: &SetAt<'_>,
    orders: &RankOrders,
    (start, stop): (i64, i64),
) -> Result<Option<Vec<Bytes>>> {
    let len = usize::try_from(set.header.count).unwrap_or(usize::MAX);
    let window = crate::version::list_op::trim_range(start, stop, len);
    if window.1 <= window.0 {
        return Ok(None);
    }
    indexed_positions(set, orders, window)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
pub(super) mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::keyspace::split_tests::{apply, header_of};
    use crate::keyspace::{Keyspace, Need, live_entry};
    use crate::version::{CollectionOp, PopEnd};
    use rand::{Rng, SeedableRng};

    /// The whole list, as the record holds it: (position, element) in order.
    pub(in crate::keyspace) fn model(ks: &Keyspace, key: &[u8]) -> Vec<(Bytes, Bytes)> {
        let record = ks.read_record(0, key).unwrap().unwrap();
        let members = live_entry(&record, ks.now_ms()).unwrap().members.unwrap();
        members
            .map
            .iter()
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect()
    }

    pub(in crate::keyspace) fn push(left: bool, values: Vec<Bytes>) -> CollectionOp {
        CollectionOp::Push {
            left,
            values,
            if_exists: false,
        }
    }

    /// Elements "e1", "e2", ... made in turn.
    #[derive(Default)]
    pub(in crate::keyspace) struct Elements(std::cell::Cell<u32>);

    impl Elements {
        pub(in crate::keyspace) fn value(&self) -> Bytes {
            self.0.set(self.0.get() + 1);
            Bytes::from(format!("e{}", self.0.get()))
        }

        /// A keyspace in a new directory with the list `l` of 2,000
        /// elements, and the elements that made them.
        pub(in crate::keyspace) async fn filled() -> (tempfile::TempDir, Keyspace, Elements) {
            let dir = tempfile::tempdir().unwrap();
            let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
            let elements = Elements::default();
            elements.fill(&ks).await;
            (dir, ks, elements)
        }

        /// The list `l` of `ks`, 2,000 elements pushed at the tail.
        pub(in crate::keyspace) async fn fill(&self, ks: &Keyspace) {
            for _ in 0..20 {
                let values = (0..100).map(|_| self.value()).collect();
                apply(ks, b"l", &push(false, values)).await.0.unwrap();
            }
            assert_eq!(header_of(ks, b"l").unwrap().count, 2000, "stored split");
        }
    }

    /// A random write of a list whose elements `elements` made: pushes of one to three at the head or one
    /// at the tail, pops, and with weight `rewrites` (1.0: 3 in 20) an
    /// LSET, an LINSERT or an LREM.
    pub(in crate::keyspace) fn random_op(
        rng: &mut rand::rngs::StdRng,
        elements: &Elements,
        rewrites: f64,
    ) -> CollectionOp {
        let value = || elements.value();
        let made = elements.0.get();
        let named = Bytes::from(format!("e{}", rng.random_range(1..made.max(2))));
        if rng.random_bool((0.15 * rewrites).min(1.0)) {
            return match rng.random_range(0..3) {
                0 => CollectionOp::ListSet {
                    index: rng.random_range(-1500..1500),
                    value: value(),
                },
                1 => CollectionOp::ListInsert {
                    before: rng.random_bool(0.5),
                    pivot: named,
                    value: value(),
                },
                _ => CollectionOp::ListRemove {
                    count: 1,
                    value: named,
                },
            };
        }
        match rng.random_range(0..17) {
            0..=4 => push(true, (0..rng.random_range(1..4)).map(|_| value()).collect()),
            5..=9 => push(false, vec![value()]),
            10..=13 => CollectionOp::Pop {
                kind: Kind::List,
                count: rng.random_range(1..3),
                end: PopEnd::Min,
            },
            _ => CollectionOp::Pop {
                kind: Kind::List,
                count: 1,
                end: PopEnd::Max,
            },
        }
    }

    /// Random pushes, pops, LSETs, LINSERTs and LREMs of a split list, each
    /// followed by reads of windows far from both ends, near them, and
    /// across them: every read is the whole list's slice, and only the
    /// writes that are not pushes or pops make the next read far from the
    /// ends walk the list again.
    #[tokio::test(flavor = "multi_thread")]
    async fn reads_by_index_follow_pushes_pops_and_rewrites() {
        let (_dir, ks, elements) = Elements::filled().await;
        let walks = || ks.inner.ranks.walks.load(Ordering::Relaxed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut rewrites, mut checked, mut by_copy) = (0, 0, 0);
        for round in 0..1500 {
            let op = random_op(&mut rng, &elements, 1.0);
            let rewrite = !matches!(op, CollectionOp::Push { .. } | CollectionOp::Pop { .. });
            let before = walks();
            let _ = apply(&ks, b"l", &op).await;
            rewrites += usize::from(rewrite);
            let all = model(&ks, b"l");
            let len = all.len() as i64;
            let mid = rng.random_range(300..len - 300);
            let windows = [
                (mid, mid),
                (mid - 5, mid + 20),
                (-mid, -mid + 3),
                (2, 30),
                (-40, -1),
                (10, len - 10),
                (mid, len + 100),
                (len + 5, len + 9),
            ];
            for (start, stop) in windows {
                let read = ks
                    .read_partial(0, b"l", Need::Range { start, stop })
                    .unwrap()
                    .unwrap();
                let (from, to) = crate::version::list_op::trim_range(start, stop, all.len());
                let want = all.get(from..to.max(from)).unwrap_or_default();
                assert_eq!(read.members, want, "round {round} window {start} {stop}");
                checked += 1;
            }
            let walked = walks() - before;
            assert!(walked <= 1, "round {round}: {walked} walks for one state");
            if !rewrite && round > 0 {
                assert_eq!(walked, 0, "round {round}: a push or pop kept the copy");
                by_copy += 1;
            }
        }
        assert!(checked >= 12_000 && by_copy > 1000, "{checked} {by_copy}");
        assert!(
            walks() <= 1 + rewrites as u64,
            "{} walks, {rewrites} rewrites",
            walks()
        );
    }
}
