//! ZRANK, ZREVRANK, ZRANGE by rank and ZCOUNT of a split sorted set too
//! large for a copy of its order (`super::zset_ranks`), and LINDEX, LRANGE
//! and LSET of a split list too large for a copy of its positions
//! (`super::list_index`): counts per piece of the set's score index (the
//! list's positions).
//!
//! A set of more than about 170,000 members (8 MiB at 48 bytes a member)
//! gets no copy of its order, and its ranks were counted by walking the
//! index from the nearer end: 52 ms for the middle of 300,000 members,
//! where Redis's skip list, keeping the span of each link, answers in
//! O(log n).
//!
//! Instead, one walk of the index cuts it into pieces of
//! [`PIECE_ENTRIES`] entries and keeps, per piece, the least entry it may
//! hold and how many it holds. A rank is the sum of the counts of the
//! pieces before the member's, plus a walk of its piece from both of its
//! ends to it (a score's count below it likewise, for ZCOUNT); a window
//! by rank starts its walk in the piece holding its first rank. The
//! partial write path, which knows each index entry it adds and removes,
//! moves the counts from the header it replaces to the header it writes
//! (as it moves a copy of the order); a piece grown past twice its size
//! is cut again by the next read that walks it. Any other write (a whole
//! record, a replica's merge, an expiry) leaves the pieces at an older
//! header version, and they are made anew; writes made while a read walks
//! the index to make them are applied to what it makes.
//!
//! A walk of the whole index costs more than a walk to a rank near an
//! end, so the pieces are made by a set's second read that finds none,
//! not its first.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use super::per_collection::{CollectionId, KeptPerCollection};
use super::score_index;
use super::split::{header_version, member_prefix, prefix_end};
use super::zset_ranks::{Entry, IndexChanges, SetAt};
use crate::error::Result;
use crate::version::collection::Kind;

/// Entries in a piece when it is made or cut; a piece is cut again once
/// writes have grown it past twice this.
const PIECE_ENTRIES: usize = 512;
/// Sets whose pieces are kept at most, the least recently made dropped
/// first.
const MAX_SETS: usize = 8;
/// Bytes of piece bounds kept for one set at most (a set whose members'
/// names would take more counts its ranks by walking).
const MAX_BOUND_BYTES: usize = 4 << 20;
/// What a bound costs beside its member's name.
const BOUND_BYTES: usize = 40;
/// Writes recorded at most while a set's pieces are being made (a walk of
/// 1,000,000 entries takes about 0.2 s); past it they are made stale.
const MAX_PENDING: usize = 100_000;

/// A write's changes to a set, from the header version it replaced to the
/// one it wrote.
type Pending = (u64, u64, IndexChanges);

/// The pieces of one set's ascending score index.
struct Pieces {
    /// The header version they count.
    version: u64,
    /// Piece `i` holds the entries from `bounds[i]` up to `bounds[i + 1]`
    /// (the last, to the index's end); `bounds[0]` is below every entry.
    /// Empty: not made yet, a rank read asked for them once.
    bounds: Vec<Entry>,
    counts: Vec<u64>,
    bytes: usize,
    /// The version they were at when a read at another one missed them
    /// (the header's write had not moved them yet, or they are stale).
    missed: Option<u64>,
    /// While a read makes them (one walk, at its snapshot): the writes
    /// since, applied to the pieces it makes before they are kept.
    making: Option<Vec<Pending>>,
}

impl Pieces {
    fn wanted(version: u64) -> Self {
        Pieces {
            version,
            bounds: Vec::new(),
            counts: Vec::new(),
            bytes: 0,
            missed: None,
            making: None,
        }
    }

    /// Made anew by the read that asked: emptied, writes recorded.
    fn remake(&mut self) {
        self.bounds.clear();
        self.counts.clear();
        self.bytes = 0;
        self.making = Some(Vec::new());
    }

    /// The piece that holds `entry` if present.
    fn piece_of(&self, entry: &Entry) -> usize {
        self.bounds
            .partition_point(|b| b <= entry)
            .saturating_sub(1)
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Piece `i`, with the count of the entries before it.
    fn at(&self, i: usize) -> Option<PieceAt> {
        Some(PieceAt {
            index: i,
            before: self.counts.get(..i)?.iter().sum(),
            count: *self.counts.get(i)?,
            from: self.bounds.get(i)?.clone(),
            to: self.bounds.get(i + 1).cloned(),
        })
    }

    /// The piece that holds ascending rank `rank`.
    fn holding_rank(&self, rank: u64) -> Option<PieceAt> {
        let mut before = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            if rank < before + count {
                return self.at(i);
            }
            before += count;
        }
        None
    }

    /// `changes` counted; false when a count would go below zero.
    fn apply(&mut self, changes: &IndexChanges) -> bool {
        for e in &changes.removed {
            let i = self.piece_of(e);
            match self.counts.get_mut(i) {
                Some(c) if *c > 0 => *c -= 1,
                _ => return false,
            }
        }
        for e in &changes.added {
            let i = self.piece_of(e);
            match self.counts.get_mut(i) {
                Some(c) => *c += 1,
                None => return false,
            }
        }
        true
    }
}

/// One piece of a set's index, as a read finds it.
#[derive(Clone, Debug)]
struct PieceAt {
    index: usize,
    /// Entries in the pieces before it.
    before: u64,
    count: u64,
    from: Entry,
    /// The next piece's bound; `None` for the last piece.
    to: Option<Entry>,
}

/// What a read finds of a set's pieces.
enum Found<T> {
    At(T),
    /// None to read: count by walking, as before.
    Walk,
    /// Make them now.
    Make,
}

/// The pieces kept, per sorted set, for a keyspace.
pub(super) struct RankPieces {
    inner: Mutex<KeptPerCollection<Pieces, MAX_SETS>>,
    /// Entries a piece holds when made (a test makes smaller ones).
    size: AtomicUsize,
    /// Pieces made (each one walk of a set's whole index).
    pub walks: AtomicU64,
    /// Pieces cut again after writes grew them.
    pub cuts: AtomicU64,
}

impl Default for RankPieces {
    fn default() -> Self {
        RankPieces {
            inner: Mutex::default(),
            size: AtomicUsize::new(PIECE_ENTRIES),
            walks: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
        }
    }
}

impl RankPieces {
    /// Entries a piece holds when made or cut.
    pub(super) fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn set_size(&self, size: usize) {
        self.size.store(size.max(2), Ordering::Relaxed);
    }

    pub(super) fn holds_any(&self) -> bool {
        !self.inner.lock().is_empty()
    }

    /// Whether `id` has pieces, or a read asked for them.
    pub(super) fn holds(&self, id: &CollectionId) -> bool {
        self.inner.lock().get(id).is_some()
    }

    /// `pick` applied to the pieces of `id` at `version`, which must count
    /// `len` entries.
    fn find<T>(
        &self,
        id: &CollectionId,
        (version, len): (u64, u64),
        pick: impl FnOnce(&Pieces) -> Option<T>,
    ) -> Found<T> {
        let mut kept = self.inner.lock();
        let Some(pieces) = kept.get_mut(id) else {
            kept.insert(id.clone(), Pieces::wanted(version));
            return Found::Walk;
        };
        if pieces.bounds.is_empty() {
            // Another read is making them: walk meanwhile.
            if pieces.making.is_some() {
                return Found::Walk;
            }
            pieces.remake();
            return Found::Make;
        }
        if pieces.version != version {
            // Missed twice at the same version: no write is moving them.
            if pieces.missed == Some(pieces.version) {
                pieces.remake();
                return Found::Make;
            }
            pieces.missed = Some(pieces.version);
            return Found::Walk;
        }
        if pieces.total() != len {
            kept.remove(id);
            return Found::Walk;
        }
        match pick(pieces) {
            Some(found) => Found::At(found),
            None => Found::Walk,
        }
    }

    /// `pieces`, made at the version they hold, kept with the writes made
    /// since applied (those that follow from that version; the rest were
    /// in the walk's snapshot already).
    fn keep(&self, id: CollectionId, mut pieces: Pieces) {
        self.walks.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.inner.lock();
        let writes = kept.get_mut(&id).and_then(|p| p.making.take());
        for (before, after, changes) in writes.into_iter().flatten() {
            if before != pieces.version {
                continue;
            }
            if !pieces.apply(&changes) {
                kept.remove(&id);
                return;
            }
            pieces.version = after;
        }
        kept.insert(id, pieces);
    }

    fn drop_set(&self, id: &CollectionId) {
        self.inner.lock().remove(id);
    }

    /// Piece `at` of `id` at `version`, cut in two or more at `bounds`
    /// (after its own) with `counts`, if it has not changed since it was
    /// walked.
    fn cut(&self, id: &CollectionId, version: u64, at: &PieceAt, cut: Cut) {
        let mut kept = self.inner.lock();
        let Some(pieces) = kept.get_mut(id) else {
            return;
        };
        let i = at.index;
        if pieces.version != version
            || pieces.counts.get(i) != Some(&at.count)
            || cut.counts.iter().sum::<u64>() != at.count
            || cut.counts.len() != cut.bounds.len() + 1
        {
            return;
        }
        pieces.bytes += bound_bytes(&cut.bounds);
        pieces.bounds.splice(i + 1..i + 1, cut.bounds);
        pieces.counts.splice(i..=i, cut.counts);
        self.cuts.fetch_add(1, Ordering::Relaxed);
        if pieces.bytes > MAX_BOUND_BYTES {
            kept.remove(id);
        }
    }

    /// After a write of `id` that replaced the header at `before` with one
    /// at `after`: pieces at `before` count `changes` and move to
    /// `after`; other pieces of `id` stay, for reads to find stale.
    pub(super) fn apply(&self, id: &CollectionId, before: u64, after: u64, changes: &IndexChanges) {
        let mut kept = self.inner.lock();
        let Some(pieces) = kept.get_mut(id) else {
            return;
        };
        if pieces.bounds.is_empty() {
            pieces.version = after;
            if let Some(writes) = &mut pieces.making {
                if writes.len() < MAX_PENDING {
                    writes.push((before, after, changes.clone()));
                } else {
                    // Too many to keep: the pieces made will be stale.
                    writes.clear();
                }
            }
            return;
        }
        if pieces.version != before {
            return;
        }
        if !pieces.apply(changes) {
            kept.remove(id);
            return;
        }
        pieces.version = after;
        pieces.missed = None;
    }
}

fn bound_bytes(bounds: &[Entry]) -> usize {
    bounds.iter().map(|(_, m)| m.len() + BOUND_BYTES).sum()
}

/// A piece's new bounds (after its own) and counts.
#[derive(Default)]
struct Cut {
    bounds: Vec<Entry>,
    counts: Vec<u64>,
}

impl Cut {
    /// `entry`, the `n`th of a walk, counted in pieces of `size`.
    fn count(&mut self, n: usize, entry: impl FnOnce() -> Entry, size: usize) {
        if n > 0 && n % size == 0 {
            self.bounds.push(entry());
        }
        match self.counts.last_mut() {
            Some(c) if n % size != 0 => *c += 1,
            _ => self.counts.push(1),
        }
    }
}

/// Where `set`'s entries lie in the engine: a sorted set's ascending
/// score index, or a list's member keys (its positions, each an entry at
/// score 0).
fn entries_prefix(set: &SetAt<'_>) -> Vec<u8> {
    let prefix = member_prefix(set.ns, set.key, set.header.generation);
    match set.header.kind {
        Kind::List => prefix.to_vec(),
        _ => score_index::tagged(&score_index::index_prefix(&prefix), false),
    }
}

fn entry_key(set: &SetAt<'_>, base: &[u8], (score, member): &Entry) -> Vec<u8> {
    let mut key = Vec::with_capacity(base.len() + 8 + member.len());
    key.extend_from_slice(base);
    if set.header.kind != Kind::List {
        key.extend_from_slice(&score.to_be_bytes());
    }
    key.extend_from_slice(member);
    key
}

/// A piece's keys: from `from` (not below the header's `first` bound), up
/// to `to` (excluded; the end of the entries without one), and the length
/// of the entries' prefix.
fn piece_keys(set: &SetAt<'_>, from: &Entry, to: Option<&Entry>) -> (Vec<u8>, Vec<u8>, usize) {
    let base = entries_prefix(set);
    let mut first = base.clone();
    first.extend_from_slice(&set.header.first);
    let start = entry_key(set, &base, from).max(first);
    let end = match to {
        Some(to) => entry_key(set, &base, to),
        None => prefix_end(&base).unwrap_or_default(),
    };
    (start, end, base.len())
}

/// An entry's engine key parsed back into an [`Entry`].
fn parsed(
    set: &SetAt<'_>,
    item: ringkv_engine::Result<(Bytes, ringkv_engine::Value)>,
    at: usize,
) -> Result<Option<Entry>> {
    let (ekey, _) = item?;
    if set.header.kind == Kind::List {
        return Ok(Some((0, ekey.slice(at.min(ekey.len())..))));
    }
    let entry = score_index::parse_entry(&ekey, at, false);
    Ok(entry.map(|(s, m)| (score_index::sortable(s), m)))
}

/// The entries of `set`'s ascending index from `from` up to `to`
/// ([`piece_keys`]), to `visit` until it returns false; false when an
/// entry does not parse.
pub(super) fn walk(
    set: &SetAt<'_>,
    from: &Entry,
    to: Option<&Entry>,
    mut visit: impl FnMut(Entry) -> bool,
) -> Result<bool> {
    let (start, end, at) = piece_keys(set, from, to);
    let iter = set.engine.iter(
        Bound::Included(&start[..]),
        Bound::Excluded(&end[..]),
        Some(set.snapshot),
    )?;
    for item in iter {
        let Some(entry) = parsed(set, item, at)? else {
            return Ok(false);
        };
        if !visit(entry) {
            break;
        }
    }
    Ok(true)
}

/// The entries before `entry` in the piece `at`, counted from both of its
/// ends at once (as `score_index::rank` counts a whole set), so the cost
/// is the entry's distance from the nearer end of its piece. With
/// `member`, `entry` is a member the piece must hold (`None` when it does
/// not); without, any bound (a score with no member: before every member
/// at that score).
fn below_in_piece(
    set: &SetAt<'_>,
    at: &PieceAt,
    entry: &Entry,
    member: bool,
) -> Result<Option<u64>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (start, end, prefix) = piece_keys(set, &at.from, at.to.as_ref());
    let range = (Bound::Included(&start[..]), Bound::Excluded(&end[..]));
    let mut up = set.engine.iter(range.0, range.1, Some(set.snapshot))?;
    let mut down = set.engine.iter_rev(range.0, range.1, Some(set.snapshot))?;
    let (mut below, mut above) = (0u64, 0u64);
    loop {
        let Some(item) = up.next() else {
            return Ok((!member && below == at.count).then_some(below));
        };
        match parsed(set, item, prefix)?.map(|e| e.cmp(entry)) {
            Some(Less) => below += 1,
            Some(Equal) if member => return Ok(Some(below)),
            Some(_) if !member => return Ok(Some(below)),
            _ => return Ok(None),
        }
        let Some(item) = down.next() else {
            return Ok((!member && above == at.count).then_some(0));
        };
        match parsed(set, item, prefix)?.map(|e| e.cmp(entry)) {
            Some(Greater) => above += 1,
            Some(Equal) if member => return Ok(at.count.checked_sub(above + 1)),
            Some(Equal) => above += 1,
            Some(Less) if !member => return Ok(at.count.checked_sub(above)),
            _ => return Ok(None),
        }
    }
}

/// One walk of `set`'s whole index, cut in pieces of `size`; `None` when
/// the bounds would pass [`MAX_BOUND_BYTES`] or the count disagrees with
/// the header.
fn make(set: &SetAt<'_>, version: u64, size: usize) -> Result<Option<Pieces>> {
    let below_all: Entry = (0, Bytes::new());
    let mut cut = Cut::default();
    let (mut n, mut bytes) = (0usize, 0usize);
    let whole = walk(set, &below_all, None, |(score, member)| {
        if n > 0 && n % size == 0 {
            bytes += member.len() + BOUND_BYTES;
        }
        // Copied: a slice would keep the whole engine key's buffer.
        cut.count(n, || (score, Bytes::copy_from_slice(&member)), size);
        n += 1;
        bytes <= MAX_BOUND_BYTES
    })?;
    if !whole || bytes > MAX_BOUND_BYTES || u64::try_from(n).ok() != Some(set.header.count) {
        return Ok(None);
    }
    let mut bounds = vec![below_all];
    bounds.extend(cut.bounds);
    Ok(Some(Pieces {
        version,
        bytes,
        bounds,
        counts: cut.counts,
        missed: None,
        making: None,
    }))
}

/// `pick` applied to `set`'s pieces: found, or made by one walk when a
/// read asked for them before. `None`: the caller walks as before.
fn piece<T>(
    set: &SetAt<'_>,
    kept: &RankPieces,
    pick: impl Fn(&Pieces) -> Option<T>,
) -> Result<Option<T>> {
    let id = set.id();
    let version = header_version(set.header);
    match kept.find(&id, (version, set.header.count), &pick) {
        Found::At(found) => Ok(Some(found)),
        Found::Walk => Ok(None),
        Found::Make => match make(set, version, kept.size())? {
            Some(pieces) => {
                let found = pick(&pieces);
                kept.keep(id, pieces);
                Ok(found)
            }
            None => {
                kept.drop_set(&id);
                Ok(None)
            }
        },
    }
}

/// Piece `at`, grown by writes past twice the size pieces are made at,
/// walked whole and cut; false when it does not hold the entries its
/// count says.
fn cut_grown(set: &SetAt<'_>, kept: &RankPieces, at: &PieceAt) -> Result<bool> {
    let size = kept.size();
    if at.count <= 2 * u64::try_from(size).unwrap_or(u64::MAX) {
        return Ok(true);
    }
    let mut cut = Cut::default();
    let mut n = 0usize;
    let walked = walk(set, &at.from, at.to.as_ref(), |e| {
        cut.count(n, || (e.0, Bytes::copy_from_slice(&e.1)), size);
        n += 1;
        true
    })?;
    if !walked || u64::try_from(n).ok() != Some(at.count) {
        return Ok(false);
    }
    kept.cut(&set.id(), header_version(set.header), at, cut);
    Ok(true)
}

/// The entries of `set` before `entry` ([`below_in_piece`]), from the
/// piece `at` (cut first if writes grew it); `None` when the pieces
/// disagree with the entries they count, and they are dropped.
fn below(
    set: &SetAt<'_>,
    kept: &RankPieces,
    at: &PieceAt,
    entry: &Entry,
    member: bool,
) -> Result<Option<u64>> {
    let counted = if cut_grown(set, kept, at)? {
        below_in_piece(set, at, entry, member)?.filter(|n| !member || *n < at.count)
    } else {
        None
    };
    if counted.is_none() {
        kept.drop_set(&set.id());
    }
    Ok(counted.map(|n| at.before + n))
}

/// The ascending rank of `entry` (a member present in the sorted set
/// `set`), from the set's pieces; `None` when they cannot answer (the
/// caller walks).
pub(super) fn ascending_rank(
    set: &SetAt<'_>,
    kept: &RankPieces,
    entry: &Entry,
) -> Result<Option<u64>> {
    match piece(set, kept, |p| p.at(p.piece_of(entry)))? {
        Some(at) => below(set, kept, &at, entry, true),
        None => Ok(None),
    }
}

/// The members of ascending ranks `lo..hi` of the sorted set `set` (the
/// positions of indexes `lo..hi` of the list `set`), from the piece that
/// holds rank `lo` on; `None` when the pieces cannot answer.
pub(super) fn names_in_ranks(
    set: &SetAt<'_>,
    kept: &RankPieces,
    lo: u64,
    hi: u64,
) -> Result<Option<Vec<Bytes>>> {
    let want = usize::try_from(hi.saturating_sub(lo)).unwrap_or(usize::MAX);
    if want == 0 {
        return Ok(Some(Vec::new()));
    }
    let Some(at) = piece(set, kept, |p| p.holding_rank(lo))? else {
        return Ok(None);
    };
    let mut skip = lo - at.before;
    let mut names = Vec::with_capacity(want.min(1 << 16));
    let walked = cut_grown(set, kept, &at)?
        && walk(set, &at.from, None, |(_, member)| {
            if skip > 0 {
                skip -= 1;
            } else {
                names.push(member);
            }
            names.len() < want
        })?;
    if !walked || names.len() != want {
        kept.drop_set(&set.id());
        return Ok(None);
    }
    Ok(Some(names))
}

/// The ascending ranks the members of the sorted set `set` with a score
/// within `w`'s bounds span, from its pieces: the members below each
/// bound, each counted in its piece; `None` when they cannot answer.
fn score_ranks(
    set: &SetAt<'_>,
    kept: &RankPieces,
    w: &score_index::ScoreWindow,
) -> Result<Option<(u64, u64)>> {
    // Before every member at a score: the score with no member. An
    // excluded minimum, or an included maximum, is the next score's.
    let bound = |score: f64, next: bool| {
        let s = score_index::sortable(score);
        (if next { s.saturating_add(1) } else { s }, Bytes::new())
    };
    let (lo, hi) = (
        bound(w.min, w.min_exclusive),
        bound(w.max, !w.max_exclusive),
    );
    if hi <= lo {
        return Ok(Some((0, 0)));
    }
    let pick = |p: &Pieces| Some((p.at(p.piece_of(&lo))?, p.at(p.piece_of(&hi))?));
    let Some((at_lo, at_hi)) = piece(set, kept, pick)? else {
        return Ok(None);
    };
    let Some(below_lo) = below(set, kept, &at_lo, &lo, false)? else {
        return Ok(None);
    };
    let below_hi = below(set, kept, &at_hi, &hi, false)?;
    Ok(below_hi.map(|n| (below_lo, n.max(below_lo))))
}

/// How many members of the sorted set `set` have a score within `w`'s
/// bounds (ZCOUNT), from its pieces; `None` when they cannot answer.
pub(super) fn count_in_scores(
    set: &SetAt<'_>,
    kept: &RankPieces,
    w: &score_index::ScoreWindow,
) -> Result<Option<u64>> {
    Ok(score_ranks(set, kept, w)?.map(|(lo, hi)| hi - lo))
}

/// The members `w` selects (ZRANGEBYSCORE and its REV and LIMIT forms) of
/// the sorted set `set`, in the window's order, from its pieces: the
/// ranks its bounds span, its offset skipped by counts, not walked;
/// `None` when they cannot answer.
pub(super) fn window_names(
    set: &SetAt<'_>,
    kept: &RankPieces,
    w: &score_index::ScoreWindow,
) -> Result<Option<Vec<Bytes>>> {
    let Some((lo, hi)) = score_ranks(set, kept, w)? else {
        return Ok(None);
    };
    let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
        return Ok(None);
    };
    let (from, to) = super::lex_window::picked_range((lo, hi), w.rev, w.offset, w.count);
    let rank = |i: usize| u64::try_from(i).unwrap_or(u64::MAX);
    let names = names_in_ranks(set, kept, rank(from), rank(to))?;
    Ok(names.map(|names| {
        if w.rev {
            names.into_iter().rev().collect()
        } else {
            names
        }
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    fn entry(score: u64, member: &str) -> Entry {
        (score, Bytes::copy_from_slice(member.as_bytes()))
    }

    /// Two pieces at `version`: [below all, (5, "e")) holds 3,
    /// [(5, "e"), end) holds 4.
    fn pieces_at(version: u64) -> Pieces {
        Pieces {
            version,
            bounds: vec![(0, Bytes::new()), entry(5, "e")],
            counts: vec![3, 4],
            bytes: 0,
            missed: None,
            making: None,
        }
    }

    /// [`pieces_at`] version 1 of one set.
    fn two_pieces() -> (RankPieces, CollectionId) {
        let kept = RankPieces::default();
        let id = (0, Bytes::from_static(b"z"), 9);
        kept.keep(id.clone(), pieces_at(1));
        (kept, id)
    }

    fn found(kept: &RankPieces, id: &CollectionId, version: u64, len: u64) -> &'static str {
        match kept.find(id, (version, len), |p| p.at(1)) {
            Found::At(_) => "at",
            Found::Walk => "walk",
            Found::Make => "make",
        }
    }

    /// A read at a version the pieces are not at walks once (a write may
    /// not have moved them yet), and makes them anew when it finds them
    /// still there; a write that moves them clears the miss.
    #[test]
    fn pieces_missed_twice_at_one_version_are_made_anew() {
        let (kept, id) = two_pieces();
        assert_eq!(found(&kept, &id, 1, 7), "at");
        assert_eq!(found(&kept, &id, 1, 8), "walk", "a count that disagrees");
        assert!(!kept.holds(&id), "dropped");
        let (kept, id) = two_pieces();
        assert_eq!(found(&kept, &id, 2, 7), "walk");
        let added = IndexChanges {
            removed: vec![],
            added: vec![entry(2, "b")],
        };
        kept.apply(&id, 1, 2, &added);
        assert_eq!(found(&kept, &id, 2, 8), "at");
        assert_eq!(found(&kept, &id, 3, 8), "walk");
        assert_eq!(found(&kept, &id, 3, 8), "make");
        // A set never read for ranks gets no pieces until asked twice.
        let other = (0, Bytes::from_static(b"y"), 1);
        assert_eq!(found(&kept, &other, 1, 7), "walk");
        assert_eq!(found(&kept, &other, 1, 7), "make");
    }

    /// Writes made while a read walks the set to make its pieces are
    /// recorded and applied to them before they are kept: those that
    /// follow from the walk's version, not those it saw. Meanwhile other
    /// reads walk instead of making them too.
    #[test]
    fn writes_during_a_walk_reach_the_pieces_it_makes() {
        let kept = RankPieces::default();
        let id = (0, Bytes::from_static(b"z"), 9);
        assert_eq!(found(&kept, &id, 1, 7), "walk");
        assert_eq!(found(&kept, &id, 2, 7), "make");
        assert_eq!(found(&kept, &id, 2, 7), "walk", "one read makes them");
        let add = |e: Entry| IndexChanges {
            removed: vec![],
            added: vec![e],
        };
        // Seen by the walk (made at 2): skipped. After it: applied.
        kept.apply(&id, 1, 2, &add(entry(9, "x")));
        kept.apply(&id, 2, 3, &add(entry(1, "a")));
        kept.apply(&id, 3, 4, &add(entry(7, "g")));
        kept.keep(id.clone(), pieces_at(2));
        assert_eq!(found(&kept, &id, 4, 9), "at");
        let counts = kept.inner.lock().get(&id).unwrap().counts.clone();
        assert_eq!(counts, vec![4, 5]);
    }

    /// Changes count in the piece their entry falls in; a removal from a
    /// piece with none left drops the pieces.
    #[test]
    fn changes_count_in_their_pieces() {
        let (kept, id) = two_pieces();
        let changes = IndexChanges {
            removed: vec![entry(1, "a"), entry(9, "z")],
            added: vec![entry(5, "e"), entry(5, "f"), entry(4, "zz")],
        };
        kept.apply(&id, 1, 2, &changes);
        let counts = kept.inner.lock().get(&id).unwrap().counts.clone();
        assert_eq!(counts, vec![3, 5]);
        let too_many = IndexChanges {
            removed: vec![entry(1, "a"); 4],
            added: vec![],
        };
        kept.apply(&id, 2, 3, &too_many);
        assert!(!kept.holds(&id));
    }

    /// A walk's entries counted in pieces of 3: bounds at the 3rd, 6th
    /// and 9th, counts 3, 3, 3, 1.
    #[test]
    fn a_cut_counts_pieces_of_its_size() {
        let mut cut = Cut::default();
        for n in 0..10u64 {
            cut.count(usize::try_from(n).unwrap(), || (n, Bytes::new()), 3);
        }
        let at: Vec<u64> = cut.bounds.iter().map(|(s, _)| *s).collect();
        assert_eq!(at, vec![3, 6, 9]);
        assert_eq!(cut.counts, vec![3, 3, 3, 1]);
    }
}
