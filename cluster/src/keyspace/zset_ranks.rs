//! ZRANK and ZREVRANK of a split sorted set from a copy of its score order.
//!
//! A split sorted set's rank was counted by walking its score index from
//! the nearer end to the member: O(rank) entries, and every re-score
//! (ZINCRBY, ZADD of a new score) leaves two deleted index entries that
//! the walk passes until compaction drops them. After 20,000 ZINCRBYs on
//! an 800-member set, a ZRANK took 0.9 ms (1,136 calls a second against
//! 106,000 before them; Redis answers from its skip list in O(log n)).
//!
//! Instead, one walk of the ascending index copies the set's order
//! (`(score, member)` as the index sorts them) and keeps it for the
//! collection's header version ([`header_version`]); a rank is then a
//! binary search. The partial write path, which knows each member's old
//! and new score, applies its changes to a copy made at the header it
//! replaces and moves the copy to the header it writes, so a leaderboard's
//! ZINCRBYs and ZRANKs interleave without walks. Any other write of the
//! set (a whole-record write, a replica's merge, an expiry) writes a header
//! with another version, and the next rank walks again. A member the copy
//! does not hold where its score says sends the reader back to the walk.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_engine::{Engine, Snapshot};

use super::per_collection::{CollectionId, KeptPerCollection, collection_id};
use super::rank_pieces::{self, RankPieces};
use super::score_index::{self, ScoreWindow, sortable};
use super::split::{get_member, header_version};
use super::{Keyspace, LexWindow, Need};
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Item, Kind};

/// Copies kept at most, the least recently made dropped first.
const MAX_ORDERS: usize = 8;
/// Bytes a copy holds at most, counted as its members' names plus
/// [`ENTRY_BYTES`] each (a larger set counts its ranks by walking, as
/// before; a larger list reads by index from the nearer end).
pub(super) const MAX_ORDER_BYTES: usize = 8 << 20;
/// What a copy spends per member beside its name.
pub(super) const ENTRY_BYTES: usize = 48;

/// Entries a walk reads before it judges from them whether the whole
/// copy would fit.
const SIZE_SAMPLE: usize = 1024;

/// Members with their items, in some order.
pub(super) type MemberItems = Vec<(Bytes, Vec<Item>)>;

/// One index entry: the sortable score and the member.
pub(super) type Entry = (u64, Bytes);

struct Order {
    version: u64,
    /// Ascending, as the index sorts them (a list: its positions, each at
    /// score 0). A deque, so that pops at either end of a list do not move
    /// the rest.
    entries: VecDeque<Entry>,
    /// What it holds, counted as [`MAX_ORDER_BYTES`] counts.
    bytes: usize,
}

/// Bytes `entries` count for against [`MAX_ORDER_BYTES`].
fn entry_bytes<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> usize {
    entries
        .into_iter()
        .map(|(_, m)| m.len() + ENTRY_BYTES)
        .sum()
}

/// The copies kept, per sorted set.
type Orders = KeptPerCollection<Order, MAX_ORDERS>;

/// The copies of split sorted sets' score order and split lists' positions
/// (`super::list_index`) of a keyspace.
pub struct RankOrders {
    inner: Mutex<Orders>,
    /// Bytes a copy may take when made ([`MAX_ORDER_BYTES`]; a test
    /// lowers it to read ranks and indexes from pieces).
    set_copy_bytes: AtomicUsize,
    /// Copies made (each one walk of a sorted set's index or a list's
    /// positions).
    pub walks: AtomicU64,
    /// Counts per piece of the sets too large for a copy.
    pub(super) pieces: RankPieces,
}

/// What a write changed in a sorted set's index.
#[derive(Clone, Debug, Default)]
pub(super) struct IndexChanges {
    pub removed: Vec<Entry>,
    pub added: Vec<Entry>,
}

impl Default for RankOrders {
    fn default() -> Self {
        RankOrders {
            inner: Mutex::default(),
            set_copy_bytes: AtomicUsize::new(MAX_ORDER_BYTES),
            walks: AtomicU64::new(0),
            pieces: RankPieces::default(),
        }
    }
}

impl RankOrders {
    /// Sorted sets and lists get copies of their order of at most
    /// `copy_bytes`, and pieces of `piece_entries` beyond.
    #[cfg(test)]
    pub(super) fn set_limits(&self, copy_bytes: usize, piece_entries: usize) {
        self.set_copy_bytes.store(copy_bytes, Ordering::Relaxed);
        self.pieces.set_size(piece_entries);
    }

    pub(super) fn copy_bytes(&self) -> usize {
        self.set_copy_bytes.load(Ordering::Relaxed)
    }

    /// The ascending rank of `entry` in the copy of `id` at `version`;
    /// `None` without one, or when the copy does not hold it (the copy is
    /// dropped).
    fn rank(&self, id: &CollectionId, version: u64, entry: &Entry) -> Option<u64> {
        let mut orders = self.inner.lock();
        let order = orders.get(id).filter(|o| o.version == version)?;
        match order.entries.binary_search(entry) {
            Ok(i) => u64::try_from(i).ok(),
            Err(_) => {
                orders.remove(id);
                None
            }
        }
    }

    /// `pick` applied to the copy of `id` at `version`, if there is one
    /// and it holds `len` members (the header's count: a copy that lost
    /// track of a write is not read).
    pub(super) fn read<T>(
        &self,
        id: &CollectionId,
        (version, len): (u64, u64),
        pick: impl FnOnce(&VecDeque<Entry>) -> T,
    ) -> Option<T> {
        let orders = self.inner.lock();
        let order = orders.get(id).filter(|o| o.version == version)?;
        if u64::try_from(order.entries.len()).ok() != Some(len) {
            return None;
        }
        Some(pick(&order.entries))
    }

    pub(super) fn keep(&self, id: CollectionId, version: u64, entries: VecDeque<Entry>) {
        self.walks.fetch_add(1, Ordering::Relaxed);
        let bytes = entry_bytes(&entries);
        let order = Order {
            version,
            entries,
            bytes,
        };
        self.inner.lock().insert(id, order);
    }

    /// Whether any copy is kept (a write need not work out its changes
    /// without one).
    pub(super) fn holds_any(&self) -> bool {
        !self.inner.lock().is_empty() || self.pieces.holds_any()
    }

    /// After a write of `id` that replaced the header at `before` with one
    /// at `after`: a copy at `before` takes `changes` and moves to `after`;
    /// any other copy of `id` is dropped.
    pub(super) fn apply(&self, id: &CollectionId, before: u64, after: u64, changes: &IndexChanges) {
        self.pieces.apply(id, before, after, changes);
        let mut orders = self.inner.lock();
        let Some(order) = orders.get_mut(id) else {
            return;
        };
        order.bytes = (order.bytes + entry_bytes(&changes.added))
            .saturating_sub(entry_bytes(&changes.removed));
        if order.version != before
            || order.bytes > MAX_ORDER_BYTES
            || !apply_changes(&mut order.entries, changes)
        {
            orders.remove(id);
            return;
        }
        order.version = after;
    }
}

/// The names of `entries[from..to]`; `None` when that is not a range of
/// them.
pub(super) fn names_in(entries: &VecDeque<Entry>, from: usize, to: usize) -> Option<Vec<Bytes>> {
    if from > to || to > entries.len() {
        return None;
    }
    Some(entries.range(from..to).map(|(_, m)| m.clone()).collect())
}

/// `changes` applied to `entries` (ascending); false when they do not fit
/// (a removed entry missing, an added one present).
/// A change at either end (a list's push or pop, a new lowest or highest
/// score) is made there without a search: a search of a large copy misses
/// the cache at each step.
fn apply_changes(entries: &mut VecDeque<Entry>, changes: &IndexChanges) -> bool {
    for e in &changes.removed {
        if entries.front() == Some(e) {
            entries.pop_front();
            continue;
        }
        if entries.back() == Some(e) {
            entries.pop_back();
            continue;
        }
        match entries.binary_search(e) {
            Ok(i) => {
                entries.remove(i);
            }
            Err(_) => return false,
        }
    }
    for e in &changes.added {
        if entries.front().is_none_or(|f| e < f) {
            entries.push_front(e.clone());
            continue;
        }
        if entries.back().is_some_and(|b| e > b) {
            entries.push_back(e.clone());
            continue;
        }
        match entries.binary_search(e) {
            Ok(_) => return false,
            Err(i) => entries.insert(i, e.clone()),
        }
    }
    true
}

/// A split sorted set as a reader sees it: the engine, the reader's
/// snapshot, and the key's namespace, name and header.
pub(super) struct SetAt<'a> {
    pub engine: &'a Engine,
    pub snapshot: &'a Snapshot,
    pub ns: u32,
    pub key: &'a [u8],
    pub header: &'a SplitHeader,
}

impl SetAt<'_> {
    /// Whether the set has a score index to copy.
    fn indexed(&self) -> bool {
        self.header.kind == Kind::ZSet && self.header.score_index
    }

    pub(super) fn id(&self) -> CollectionId {
        collection_id(self.ns, self.key, self.header.generation)
    }

    /// The members `names` (from a copy of the order), with their items,
    /// in that order; `None` when one is missing: the copy disagrees with
    /// the members, and the caller reads them by walking.
    pub(super) fn members_named(&self, names: Vec<Bytes>) -> Result<Option<MemberItems>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let (engine, snapshot, header) = (self.engine, self.snapshot, self.header);
            match get_member(engine, snapshot, self.ns, self.key, header, &name)? {
                Some(items) => out.push((name, items)),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Every entry of the set's ascending index from its lower bound, in
    /// order; `None` past `max_bytes` or when the count disagrees
    /// with the header.
    fn walk_order(&self, max_bytes: usize) -> Result<Option<VecDeque<Entry>>> {
        // A set whose copy cannot fit is not walked: every entry costs at
        // least ENTRY_BYTES, and the first entries tell the rest's size.
        // (Each ZRANK of a set of 300,000 members walked 170,000 entries,
        // about 20 ms, before finding that out.)
        let count = usize::try_from(self.header.count).unwrap_or(usize::MAX);
        if count.saturating_mul(ENTRY_BYTES) > max_bytes {
            return Ok(None);
        }
        let mut entries = VecDeque::with_capacity(count.min(1 << 20));
        let (mut bytes, mut fits) = (0usize, true);
        let whole = rank_pieces::walk(self, &(0, Bytes::new()), None, |(score, member)| {
            bytes += member.len() + ENTRY_BYTES;
            let estimate = (bytes / (entries.len() + 1)).saturating_mul(count);
            fits = bytes <= max_bytes && !(entries.len() == SIZE_SAMPLE && estimate > max_bytes);
            // Copied: a slice would keep the whole engine key's buffer.
            entries.push_back((score, Bytes::copy_from_slice(&member)));
            fits
        })?;
        let counted = u64::try_from(entries.len()).ok() == Some(self.header.count);
        Ok((whole && fits && counted).then_some(entries))
    }
}

/// The ascending rank of `member` at `score` in `set`, from its copy (one
/// walk of the index when there is none at its header); `None` when the
/// copy cannot answer (too large, or it disagrees with the set): the
/// caller walks as before.
pub(super) fn ascending_rank(
    set: &SetAt<'_>,
    orders: &RankOrders,
    score: f64,
    member: &[u8],
) -> Result<Option<u64>> {
    if !set.indexed() {
        return Ok(None);
    }
    let (id, version) = (set.id(), header_version(set.header));
    let entry = (sortable(score), Bytes::copy_from_slice(member));
    if let Some(rank) = orders.rank(&id, version, &entry) {
        return Ok(Some(rank));
    }
    // A set with pieces, or too large for a copy: ranks by its pieces.
    if !orders.pieces.holds(&id) {
        if let Some(entries) = set.walk_order(orders.copy_bytes())? {
            let rank = entries.binary_search(&entry).ok();
            if rank.is_some() {
                orders.keep(id, version, entries);
            }
            return Ok(rank.and_then(|r| u64::try_from(r).ok()));
        }
    }
    rank_pieces::ascending_rank(set, &orders.pieces, &entry)
}

/// A sorted set of at most this many members gets a copy of its order
/// made for a read by rank (ZRANGE start stop) when it has none; a larger
/// one is read from its copy only if a ZRANK made one (a walk of the whole
/// index would cost more than the read's own).
const RANKS_COPY_MAX_MEMBERS: u64 = 16_384;

/// `pick` applied to the copy of `set`'s order (made by one walk of its
/// index when there is none and the set has at most
/// [`RANKS_COPY_MAX_MEMBERS`] members); `None` when there is no copy to
/// read, or `pick` finds nothing in it (the caller reads the index).
fn from_copy<T>(
    set: &SetAt<'_>,
    orders: &RankOrders,
    pick: impl Fn(&VecDeque<Entry>) -> Option<T>,
) -> Result<Option<T>> {
    from_copy_up_to(set, orders, RANKS_COPY_MAX_MEMBERS, pick)
}

/// [`from_copy`], making a copy for a set of at most `max_members`.
fn from_copy_up_to<T>(
    set: &SetAt<'_>,
    orders: &RankOrders,
    max_members: u64,
    pick: impl Fn(&VecDeque<Entry>) -> Option<T>,
) -> Result<Option<T>> {
    if !set.indexed() {
        return Ok(None);
    }
    let (id, version) = (set.id(), header_version(set.header));
    if let Some(found) = orders.read(&id, (version, set.header.count), &pick) {
        return Ok(found);
    }
    if set.header.count > max_members {
        return Ok(None);
    }
    let Some(entries) = set.walk_order(orders.copy_bytes())? else {
        return Ok(None);
    };
    let found = pick(&entries);
    orders.keep(id, version, entries);
    Ok(found)
}

/// The members of ranks `start..=stop` (Redis's indexes, REV when `rev`)
/// of `set`, in that order, from its copy of the order; `None` when there
/// is none to read (the caller reads the index).
pub(super) fn ranked_names(
    set: &SetAt<'_>,
    orders: &RankOrders,
    (start, stop): (i64, i64),
    rev: bool,
) -> Result<Option<Vec<Bytes>>> {
    let len = usize::try_from(set.header.count).unwrap_or(usize::MAX);
    let (from, to) = crate::version::list_op::trim_range(start, stop, len);
    if !set.indexed() {
        return Ok(None);
    }
    if to <= from {
        return Ok(Some(Vec::new()));
    }
    // Descending ranks `from..to` are ascending `len - to..len - from`.
    let (lo, hi) = if rev {
        (len - to, len - from)
    } else {
        (from, to)
    };
    let mut names = from_copy(set, orders, |entries| names_in(entries, lo, hi))?;
    // Far from both ends of a set with no copy: from its pieces.
    if names.is_none() && lo.min(len - hi) >= orders.pieces.size() {
        let ranks = |r: usize| u64::try_from(r).unwrap_or(u64::MAX);
        names = rank_pieces::names_in_ranks(set, &orders.pieces, ranks(lo), ranks(hi))?;
    }
    Ok(names.map(|names| {
        if rev {
            names.into_iter().rev().collect()
        } else {
            names
        }
    }))
}

/// The ascending indexes `lo..hi` of the entries of `entries` whose score
/// lies between `w`'s bounds.
fn score_span(entries: &VecDeque<Entry>, w: &ScoreWindow) -> (usize, usize) {
    let (min, max) = (sortable(w.min), sortable(w.max));
    let lo = entries.partition_point(|(s, _)| *s < min || (w.min_exclusive && *s == min));
    let hi = entries.partition_point(|(s, _)| *s < max || (!w.max_exclusive && *s == max));
    (lo, hi.max(lo))
}

/// The ascending indexes `lo..hi` of the entries of `entries` that
/// `window` selects ([`LexWindow::span`]): by binary search when every
/// score is equal (the first and the last), as lex ranges expect.
fn lex_span(entries: &VecDeque<Entry>, window: &LexWindow, rev: bool) -> (usize, usize) {
    let member = |i: usize| entries.get(i).map(|(_, m)| m.as_ref());
    match (entries.front(), entries.back()) {
        (Some(first), Some(last)) if first.0 == last.0 => {
            window.span_ascending(entries.len(), member)
        }
        _ => window.span(entries.len(), member, rev),
    }
}

/// The members `w` selects (ZRANGEBYSCORE and its REV and LIMIT forms) of
/// `set`, in the window's order, from its copy of the order; `None` when
/// there is none to read.
pub(super) fn window_names(
    set: &SetAt<'_>,
    orders: &RankOrders,
    w: &ScoreWindow,
) -> Result<Option<Vec<Bytes>>> {
    let copied = from_copy(set, orders, |entries| {
        let span = score_span(entries, w);
        let (from, to) = super::lex_window::picked_range(span, w.rev, w.offset, w.count);
        let names = names_in(entries, from, to)?;
        Some(if w.rev {
            names.into_iter().rev().collect()
        } else {
            names
        })
    })?;
    // An offset a walk would pass, in a set with no copy: counted on its
    // pieces instead.
    if copied.is_none() && set.indexed() && w.offset >= orders.pieces.size() {
        return rank_pieces::window_names(set, &orders.pieces, w);
    }
    Ok(copied)
}

impl Keyspace {
    /// The split sorted set `key` under `header`, as `snapshot` sees it.
    pub(super) fn set_at<'a>(
        &'a self,
        snapshot: &'a ringkv_engine::Snapshot,
        ns: u32,
        key: &'a [u8],
        header: &'a SplitHeader,
    ) -> SetAt<'a> {
        SetAt {
            engine: &self.inner.engine,
            snapshot,
            ns,
            key,
            header,
        }
    }
}

/// The members `need` asks for, read by name from a copy of the
/// collection's order: a split sorted set's ranks ([`Need::Ranks`]) and
/// score windows ([`Need::Scores`]), a split list's indexes far from both
/// ends ([`Need::Range`], `super::list_index`). `None` when no copy serves
/// the read: the caller walks.
pub(super) fn members_by_copy(
    set: &SetAt<'_>,
    orders: &RankOrders,
    need: Need<'_>,
) -> Result<Option<MemberItems>> {
    let names = match need {
        Need::Ranks { start, stop, rev } => ranked_names(set, orders, (start, stop), rev)?,
        Need::Range { start, stop } => {
            super::list_index::indexed_names(set, orders, (start, stop))?
        }
        Need::Scores(w) => window_names(set, orders, &w)?,
        // A lex range reads the whole set without a copy: one is made at
        // any size its bound allows.
        Need::Lex {
            window,
            rev,
            offset,
            count,
        } => from_copy_up_to(set, orders, u64::MAX, |entries| {
            let span = lex_span(entries, window, rev);
            let picked = super::lex_window::picked(span, rev, offset, count);
            picked
                .into_iter()
                .map(|i| entries.get(i).map(|(_, m)| m.clone()))
                .collect()
        })?,
        _ => None,
    };
    match names {
        Some(names) => set.members_named(names),
        None => Ok(None),
    }
}

/// What `need` counts of a split sorted set, from the copy of its order:
/// the rank of the member `loaded` holds ([`Need::Rank`]), or how many
/// members have a score within a window's bounds ([`Need::CountScores`],
/// but for every score: the header's count answers), or how many a lex
/// range selects ([`Need::CountLex`]). `None` when the copy cannot answer:
/// the caller counts on the index, or on every member.
pub(super) fn counted_by_copy(
    set: &SetAt<'_>,
    orders: &RankOrders,
    need: Need<'_>,
    loaded: &[(Bytes, Vec<Item>)],
) -> Result<Option<u64>> {
    match need {
        Need::Rank { rev, .. } => {
            let Some((member, items)) = loaded.first() else {
                return Ok(None);
            };
            let history = set.header.member_histories.get(member);
            let Some(score) = score_index::score_of(items, history) else {
                return Ok(None);
            };
            let ascending = ascending_rank(set, orders, score, member)?;
            let last = set.header.count.saturating_sub(1);
            Ok(ascending.map(|a| if rev { last.saturating_sub(a) } else { a }))
        }
        Need::CountScores(w) if w.min != f64::NEG_INFINITY || w.max != f64::INFINITY => {
            let copied = from_copy(set, orders, |entries| {
                let (lo, hi) = score_span(entries, &w);
                u64::try_from(hi - lo).ok()
            })?;
            // A set with no copy to read (too large for one made for this
            // read, or for any): its pieces.
            if copied.is_none() && set.indexed() {
                return rank_pieces::count_in_scores(set, &orders.pieces, &w);
            }
            Ok(copied)
        }
        // As for a lex range's members, a copy at any size its bound allows.
        Need::CountLex(window) => from_copy_up_to(set, orders, u64::MAX, |entries| {
            let (lo, hi) = lex_span(entries, window, false);
            u64::try_from(hi - lo).ok()
        }),
        _ => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
pub(super) mod tests {
    use super::*;
    use crate::keyspace::split_tests::{apply, header_of};
    use crate::keyspace::{LexBound, LexWindow, Need, live_entry};
    use crate::version::{CollectionOp, zadd};
    use rand::{Rng, SeedableRng};

    /// Every member's rank, from the whole record sorted as Redis sorts.
    pub(in crate::keyspace) fn model_ranks(ks: &Keyspace, key: &[u8]) -> Vec<(Bytes, u64)> {
        let record = ks.read_record(0, key).unwrap().unwrap();
        let members = live_entry(&record, ks.now_ms()).unwrap().members.unwrap();
        let mut scored: Vec<(f64, Bytes)> = members
            .map
            .iter()
            .map(|(m, v)| (std::str::from_utf8(v).unwrap().parse().unwrap(), m.clone()))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        scored
            .into_iter()
            .enumerate()
            .map(|(i, (_, m))| (m, i as u64))
            .collect()
    }

    /// ZINCRBY, ZADD and ZREM interleaved with ZRANK
    /// and ZREVRANK on a split sorted set: every rank read is the model's,
    /// and the writes keep the copy of the order, which is walked for a
    /// few times in all, not per read.
    #[tokio::test(flavor = "multi_thread")]
    async fn ranks_follow_interleaved_rescores_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        let name = |i: usize| Bytes::from(format!("m{i:04}"));
        let n = 700;
        let add = CollectionOp::ZAdd {
            pairs: (0..n).map(|i| (name(i), (i % 50) as f64)).collect(),
            flags: 0,
        };
        apply(&ks, b"z", &add).await.0.unwrap();
        assert!(header_of(&ks, b"z").unwrap().score_index, "stored split");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let walks = || ks.inner.ranks.walks.load(Ordering::Relaxed);
        let mut checked = 0;
        for round in 0..3000 {
            let m = name(rng.random_range(0..n + 50));
            let op = match rng.random_range(0..10) {
                0..=5 => CollectionOp::ZAdd {
                    pairs: vec![(m.clone(), rng.random_range(-5..5) as f64)],
                    flags: zadd::INCR,
                },
                6 | 7 => CollectionOp::ZAdd {
                    pairs: vec![(m.clone(), rng.random_range(0..100) as f64 / 4.0)],
                    flags: 0,
                },
                _ => CollectionOp::Remove {
                    kind: Kind::ZSet,
                    members: vec![m.clone()],
                },
            };
            let _ = apply(&ks, b"z", &op).await;
            if round % 3 == 0 {
                let model = model_ranks(&ks, b"z");
                let len = model.len() as u64;
                for (member, rank) in model.iter().step_by(97) {
                    for rev in [false, true] {
                        let read = ks
                            .read_partial(0, b"z", Need::Rank { member, rev })
                            .unwrap()
                            .unwrap();
                        let want = if rev { len - 1 - rank } else { *rank };
                        assert_eq!(
                            read.counted,
                            Some(want),
                            "round {round} {member:?} rev {rev}"
                        );
                        checked += 1;
                    }
                }
                // ZRANGE by rank, both ways, from the same copy.
                let names: Vec<&Bytes> = model.iter().map(|(m, _)| m).collect();
                for (start, stop) in [(0, 9), (-10, -1), (100, 120), (0, -1), (50, 10)] {
                    for rev in [false, true] {
                        let read = ks
                            .read_partial(0, b"z", Need::Ranks { start, stop, rev })
                            .unwrap()
                            .unwrap();
                        let got: Vec<&Bytes> = read.members.iter().map(|(m, _)| m).collect();
                        let mut order = names.clone();
                        if rev {
                            order.reverse();
                        }
                        let (from, to) =
                            crate::version::list_op::trim_range(start, stop, order.len());
                        let want = order.get(from..to.max(from)).unwrap_or_default();
                        assert_eq!(got, want, "round {round} {start} {stop} rev {rev}");
                    }
                }
                // ZRANGEBYSCORE windows (REV, LIMIT) and ZCOUNT.
                let scored = model_scored(&ks, b"z");
                for _ in 0..6 {
                    let w = random_window(&mut rng);
                    let read = ks.read_partial(0, b"z", Need::Scores(w)).unwrap().unwrap();
                    let got: Vec<Bytes> = read.members.into_iter().map(|(m, _)| m).collect();
                    let want: Vec<Bytes> = w
                        .select(scored.clone())
                        .into_iter()
                        .map(|(m, _)| m)
                        .collect();
                    assert_eq!(got, want, "round {round} {w:?}");
                    let read = ks
                        .read_partial(0, b"z", Need::CountScores(w))
                        .unwrap()
                        .unwrap();
                    let n = scored.iter().filter(|(s, _, _)| w.contains(*s)).count();
                    assert_eq!(read.counted, Some(n as u64), "round {round} {w:?}");
                    checked += 2;
                }
                // ZRANGEBYLEX windows (over mixed scores: Redis's walk of
                // its compact encoding) from the copy, against the whole set.
                let mut ordered = scored.clone();
                ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                for _ in 0..4 {
                    let bound = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..6) {
                        0 => LexBound::Min,
                        1 => LexBound::Max,
                        2 | 3 => LexBound::Inclusive(name(rng.random_range(0..n))),
                        _ => LexBound::Exclusive(name(rng.random_range(0..n))),
                    };
                    let window = LexWindow {
                        min: bound(&mut rng),
                        max: bound(&mut rng),
                    };
                    let (rev, offset, count) = (
                        rng.random_bool(0.5),
                        rng.random_range(0..5),
                        rng.random_range(1..40),
                    );
                    let need = Need::Lex {
                        window: &window,
                        rev,
                        offset,
                        count,
                    };
                    let read = ks.read_partial(0, b"z", need).unwrap().unwrap();
                    let got: Vec<Bytes> = read.members.into_iter().map(|(m, _)| m).collect();
                    let at = |i: usize| ordered.get(i).map(|(_, m, _)| m.as_ref());
                    let span = window.span(ordered.len(), at, rev);
                    let want: Vec<Bytes> =
                        crate::keyspace::lex_window::picked(span, rev, offset, count)
                            .into_iter()
                            .map(|i| ordered[i].1.clone())
                            .collect();
                    assert_eq!(got, want, "round {round} {window:?} rev {rev}");
                    // The walk a set without a copy takes selects the same.
                    let (engine, ns) = (&ks.inner.engine, ks.namespace(0).unwrap());
                    let header = header_of(&ks, b"z").unwrap();
                    let pools = &ks.inner.samples;
                    let snap = engine.snapshot();
                    let walked = super::super::split::load_members(
                        engine, &snap, pools, ns, b"z", &header, need,
                    )
                    .unwrap();
                    let walked: Vec<Bytes> = walked.into_iter().map(|(m, _)| m).collect();
                    assert_eq!(walked, want, "walked, round {round} {window:?} rev {rev}");
                    // ZLEXCOUNT: the span's width, from the copy and walked.
                    let (lo, hi) = window.span(ordered.len(), at, false);
                    let want = hi - lo;
                    let counted = ks.read_partial(0, b"z", Need::CountLex(&window));
                    let counted = counted.unwrap().unwrap().counted;
                    assert_eq!(counted, Some(want as u64), "round {round} {window:?}");
                    let need = Need::CountLex(&window);
                    let walked =
                        super::super::split::counted(engine, &snap, ns, b"z", &header, need, &[]);
                    assert_eq!(walked.unwrap(), Some(want as u64), "walked, {window:?}");
                    checked += 1;
                }
                let absent = ks
                    .read_partial(
                        0,
                        b"z",
                        Need::Rank {
                            member: b"nope",
                            rev: false,
                        },
                    )
                    .unwrap()
                    .unwrap();
                assert_eq!(absent.counted, None);
            }
        }
        assert!(checked > 10_000, "{checked}");
        assert!(
            walks() <= 3,
            "{} walks for 3,000 writes and their reads",
            walks()
        );
    }

    /// Every member with its score, as [`ScoreWindow::select`] takes them.
    pub(in crate::keyspace) fn model_scored(ks: &Keyspace, key: &[u8]) -> Vec<(f64, Bytes, ())> {
        let record = ks.read_record(0, key).unwrap().unwrap();
        let members = live_entry(&record, ks.now_ms()).unwrap().members.unwrap();
        let score = |v: &Bytes| std::str::from_utf8(v).unwrap().parse().unwrap();
        members
            .map
            .iter()
            .map(|(m, v)| (score(v), m.clone(), ()))
            .collect()
    }

    /// A window by score as ZRANGEBYSCORE and its forms make them: bounds
    /// on the scores the test writes or infinite, either exclusive, either
    /// direction, with or without LIMIT.
    fn random_window(rng: &mut rand::rngs::StdRng) -> ScoreWindow {
        let mut bound = |inf: f64| match rng.random_range(0..8) {
            0 => inf,
            _ => f64::from(rng.random_range(-60..120)) / 2.0,
        };
        let (min, max) = (bound(f64::NEG_INFINITY), bound(f64::INFINITY));
        let limited = rng.random_bool(0.5);
        ScoreWindow {
            min,
            min_exclusive: rng.random_bool(0.3),
            max,
            max_exclusive: rng.random_bool(0.3),
            rev: rng.random_bool(0.5),
            offset: if limited { rng.random_range(0..30) } else { 0 },
            count: if limited {
                rng.random_range(1..60)
            } else {
                usize::MAX
            },
        }
    }

    fn e(score: u64, m: &'static str) -> Entry {
        (score, Bytes::from_static(m.as_bytes()))
    }

    #[test]
    fn a_copy_follows_the_writes_made_at_its_header() {
        let orders = RankOrders::default();
        let id = collection_id(0, b"z", 1);
        orders.keep(
            id.clone(),
            10,
            VecDeque::from(vec![e(1, "a"), e(2, "b"), e(3, "c")]),
        );
        assert_eq!(orders.rank(&id, 10, &e(3, "c")), Some(2));
        assert_eq!(orders.rank(&id, 11, &e(3, "c")), None, "another header");
        // a re-scored from 1 to 4: it moves to the end.
        let changes = IndexChanges {
            removed: vec![e(1, "a")],
            added: vec![e(4, "a")],
        };
        orders.apply(&id, 10, 11, &changes);
        assert_eq!(orders.rank(&id, 11, &e(4, "a")), Some(2));
        assert_eq!(orders.rank(&id, 11, &e(2, "b")), Some(0));
        // A write at a header the copy is not at drops it.
        orders.apply(&id, 10, 12, &IndexChanges::default());
        assert_eq!(orders.rank(&id, 11, &e(2, "b")), None);
        // Changes that do not fit drop it too.
        orders.keep(id.clone(), 20, VecDeque::from(vec![e(1, "a")]));
        let missing = IndexChanges {
            removed: vec![e(9, "x")],
            added: vec![],
        };
        orders.apply(&id, 20, 21, &missing);
        assert_eq!(orders.rank(&id, 21, &e(1, "a")), None);
        // An entry the copy lacks drops it.
        orders.keep(id.clone(), 30, VecDeque::from(vec![e(1, "a")]));
        assert_eq!(orders.rank(&id, 30, &e(1, "b")), None);
        assert_eq!(orders.rank(&id, 30, &e(1, "a")), None);
    }
}
