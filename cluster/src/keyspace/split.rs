//! Large collections stored split: a header record at the key and one
//! member record per member, so a write of one member reads and writes
//! that member, not the collection (`docs/formats/record.md` §3.6).
//!
//! A key's record is stored split when it is one live collection sibling
//! of at least [`split_at`] members; it goes back inline (record format 2)
//! below [`inline_at`], or when it stops being one collection sibling (a
//! concurrent sibling, a tombstone, a string). The split form is a storage
//! detail of this node: every reader that asks for the record gets the
//! same [`Siblings`] the inline form decodes to ([`Keyspace::read_record`]
//! materialises it), and replicas exchange records as before.
//!
//! Member records live in a namespace of their own (the database's with
//! [`MEMBER_NS_BIT`] set), so key scans, SCAN and DBSIZE never see them:
//! `[ns | MEMBER_NS_BIT: u32][token(key): u64][len(key): u32][key]
//! [generation: u64][member]`, ordered by member. A generation is drawn at
//! random whenever a collection is split anew (or its expiry changes): a
//! header names the generation of its members, and members of any other
//! generation are never read. They are deleted in the background
//! ([`super::reclaim`]), from a queue kept in the metadata namespace so a
//! restart resumes it.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::ops::Bound;

use bytes::{BufMut, Bytes, BytesMut};
use ringkv_engine::{Engine, Snapshot, Value, WriteBatch};

use super::list_ends::{list_end, list_end_record, list_first, tail_members, visit_members_back};
pub(super) use super::need::{Need, Through};
use super::reclaim::{queue_reclaim, reclaim_at_expiry};
use super::sample_pool::{self, SamplePools};
use super::score_index::{self, ScoreWindow};
use crate::error::{Error, Result};
use crate::token;
use crate::version::codec::{self, SplitHeader};
use crate::version::collection::{Collection, Item, Kind};
use crate::version::member_history::resolve_member;
use crate::version::siblings::Sibling;
use crate::version::{History, MemberHistories, Payload, Siblings};

/// A collection of `kind` with at least this many members is stored split.
///
/// An inline collection is rewritten whole by every write and decoded
/// whole by every read, so a hash or set of a few hundred members cost
/// several kilobytes of WAL per HSET or SADD and a whole decode per HGET
/// or SISMEMBER (3 to 10 times the split form's cost at 100 and 300
/// members, `docs/performance.md`): hashes, sets and lists split early.
/// A list's pops leave dead positions at its ends, but its header's
/// bounds start reads past them; an inline list of 256 elements cost 80
/// µs of CPU per LPUSH and RPOP against 5.5 µs split, and 50 µs per
/// LRANGE 0 9 against 8. Sorted sets split at 128 members: split, every
/// re-score leaves a dead score-index entry that walks of the index pass
/// until compaction drops it, but ranks and rank windows are read from a
/// copy of the set's order (`super::zset_ranks`), and inline, each ZINCRBY
/// rewrote the whole set (5,700 a second at 400 members, 46,000 split).
pub const fn split_at(kind: Kind) -> usize {
    match kind {
        Kind::Hash | Kind::Set | Kind::List => 64,
        Kind::ZSet => 128,
    }
}

/// A split collection of `kind` with fewer members than this goes back
/// inline (half or a quarter of [`split_at`], so a collection around the
/// threshold does not change form on every write).
pub const fn inline_at(kind: Kind) -> usize {
    match kind {
        Kind::Hash | Kind::Set | Kind::List => 32,
        Kind::ZSet => 64,
    }
}
pub use crate::namespace::MEMBER_NS_BIT;

/// A key's engine value, decoded: siblings, or a split collection's header.
pub(super) enum Stored {
    /// Record format 1 or 2.
    Inline(Siblings),
    /// Record format 3: the members are records of their own.
    Split(SplitHeader),
}

/// Decodes a key's engine value.
pub(super) fn decode_stored(stored: &Value, key: &[u8]) -> Result<Stored> {
    let corrupt = |what: String| Error::CorruptRecord {
        key: key.to_vec(),
        what,
    };
    if is_split_header(stored) {
        return codec::decode_split_header(&stored.data)
            .map(Stored::Split)
            .map_err(|e| corrupt(e.to_string()));
    }
    Siblings::decode_shared(&stored.data, stored.expire_at_ms)
        .map(Stored::Inline)
        .map_err(|e| corrupt(e.to_string()))
}

/// Whether a key's engine value is a split collection's header (told by
/// its first byte, without decoding anything).
pub(super) fn is_split_header(stored: &Value) -> bool {
    matches!(
        stored.data.first(),
        Some(&(codec::RECORD_FORMAT_SPLIT | codec::RECORD_FORMAT_SPLIT_V3))
    )
}

/// The prefix of every member record of `key`'s `generation` in the
/// database whose namespace is `ns`.
pub(super) fn member_prefix(ns: u32, key: &[u8], generation: u64) -> BytesMut {
    let mut out = BytesMut::with_capacity(4 + 8 + 4 + key.len() + 8 + 16);
    out.put_u32(ns | MEMBER_NS_BIT);
    out.put_u64(token::token(key));
    out.put_u32(u32::try_from(key.len()).unwrap_or(u32::MAX));
    out.put_slice(key);
    out.put_u64(generation);
    out
}

/// The database namespace, key and generation a [`member_prefix`] names;
/// `None` if `prefix` is not one.
pub(super) fn parse_member_prefix(prefix: &[u8]) -> Option<(u32, Bytes, u64)> {
    let ns = u32::from_be_bytes(prefix.get(..4)?.try_into().ok()?) & !MEMBER_NS_BIT;
    let len = u32::from_be_bytes(prefix.get(12..16)?.try_into().ok()?);
    let end = 16usize.checked_add(usize::try_from(len).ok()?)?;
    let key = Bytes::copy_from_slice(prefix.get(16..end)?);
    let generation = prefix.get(end..)?;
    let generation = u64::from_be_bytes(generation.try_into().ok()?);
    Some((ns, key, generation))
}

pub(super) fn member_key(prefix: &[u8], member: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(prefix.len() + member.len());
    out.put_slice(prefix);
    out.put_slice(member);
    out.freeze()
}

/// The first key after every key starting with `prefix` (`None` if the
/// prefix is all 0xFF, which a member prefix never is: its namespace is
/// below 0xFFFF_FFFF).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads a split collection's members, in member order,
/// until `take` says stop.
/// `take` gets each member and its items and returns whether to go on.
pub(super) fn visit_members(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    take: impl FnMut(Bytes, Vec<Item>) -> bool,
) -> Result<()> {
    // A list starts at its first position: the deletions its head pops
    // left before it are never passed.
    let from = list_first(header);
    visit_members_from(engine, snapshot, ns, key, header, (from, true), take)
}

/// [`visit_members`] from member `from.0` (included when `from.1`).
fn visit_members_from(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    from: (&[u8], bool),
    mut take: impl FnMut(Bytes, Vec<Item>) -> bool,
) -> Result<()> {
    walk_member_records(engine, snapshot, ns, key, header, from, |member, value| {
        Ok(take(member, member_items(key, value)?))
    })
}

/// The names of the members of the split collection under `header`, in
/// member order, to `take` until it returns false, without decoding their
/// items (copies of the names, `super::sample_names`, `super::list_index`).
pub(super) fn visit_member_names(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    mut take: impl FnMut(Bytes) -> bool,
) -> Result<()> {
    let from = (list_first(header), true);
    walk_member_records(engine, snapshot, ns, key, header, from, |member, _| {
        Ok(take(member))
    })
}

/// Each member record from member `from.0` (included when `from.1`), its
/// name and stored value, to `take` until it returns false.
fn walk_member_records(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    from: (&[u8], bool),
    mut take: impl FnMut(Bytes, &Value) -> Result<bool>,
) -> Result<()> {
    let prefix = member_prefix(ns, key, header.generation);
    let end = prefix_end(&prefix).unwrap_or_default();
    let start = member_key(&prefix, from.0);
    let lower = if from.1 {
        Bound::Included(&start[..])
    } else {
        Bound::Excluded(&start[..])
    };
    let iter = engine.iter(lower, Bound::Excluded(&end[..]), Some(snapshot))?;
    for item in iter {
        let (ekey, value) = item?;
        let member = tail_of(ekey, prefix.len());
        if !take(member, &value)? {
            break;
        }
    }
    Ok(())
}

/// The bytes of an engine key from `from` on (a member's name after its
/// prefix, a user key after the namespace and token), without copying:
/// the key is advanced in place. A slice would turn a key read into its
/// own buffer into a shared one, an allocation and two atomic counts per
/// key read (LRANGE's elements, SCAN's keys).
pub(super) fn tail_of(mut ekey: Bytes, from: usize) -> Bytes {
    let from = from.min(ekey.len());
    bytes::Buf::advance(&mut ekey, from);
    ekey
}

/// The items a member record of `key` holds.
pub(super) fn member_items(key: &[u8], value: &Value) -> Result<Vec<Item>> {
    codec::decode_member(&value.data).map_err(|e| Error::CorruptRecord {
        key: key.to_vec(),
        what: format!("member record: {e}"),
    })
}

/// One member's items, if it is present.
pub(super) fn get_member(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    member: &[u8],
) -> Result<Option<Vec<Item>>> {
    let prefix = member_prefix(ns, key, header.generation);
    match engine.get_at(&member_key(&prefix, member), snapshot)? {
        None => Ok(None),
        Some(v) => member_items(key, &v).map(Some),
    }
}

/// The one sibling a split header stands for, holding `payload` (the
/// collection, or some of its members).
pub(super) fn sibling_of(header: &SplitHeader, mut payload: Payload) -> Siblings {
    if let Payload::Collection(c) = &mut payload {
        if c.member_histories().is_empty() {
            c.set_member_histories(header.member_histories.clone());
        }
    }
    Siblings::from_iter([Sibling {
        clock: header.clock.clone(),
        ts_ms: header.ts_ms,
        expire_at_ms: header.expire_at_ms,
        payload,
        history: History::new(),
        member_histories: MemberHistories::new(),
    }])
}

/// Whether `record` is still what [`sibling_of`] made of `header` and
/// `members` (which carry the header's member histories): a write that
/// changed nothing, found without a copy of the record to compare with.
pub(super) fn is_sibling_of(record: &Siblings, header: &SplitHeader, members: &Collection) -> bool {
    let mut all = record.iter();
    let (Some(sibling), None) = (all.next(), all.next()) else {
        return false;
    };
    // Every field named, so a new one is not left out of the comparison.
    let Sibling {
        clock,
        ts_ms,
        expire_at_ms,
        payload,
        history,
        member_histories,
    } = sibling;
    *clock == header.clock
        && *ts_ms == header.ts_ms
        && *expire_at_ms == header.expire_at_ms
        && history.is_empty()
        && member_histories.is_empty()
        && matches!(payload, Payload::Collection(c) if c == members)
}

/// Every member of a split collection, as the record it stands for.
pub(super) fn materialize(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
) -> Result<Siblings> {
    let heavy = header.count >= crate::cpu_bound::HEAVY_MEMBERS;
    crate::cpu_bound::heavy_if(heavy, || {
        materialize_here(engine, snapshot, ns, key, header)
    })
}

/// [`materialize`] on this thread.
fn materialize_here(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
) -> Result<Siblings> {
    let mut members = Vec::with_capacity(usize::try_from(header.count).unwrap_or(0).min(1 << 20));
    visit_members(engine, snapshot, ns, key, header, |m, items| {
        members.push((m, items));
        true
    })?;
    let collection = Collection::from_member_records(header.kind, members);
    // As the inline form decodes: no members is no collection.
    let payload = if collection.is_empty() {
        Payload::Tombstone
    } else {
        Payload::Collection(collection)
    };
    Ok(sibling_of(header, payload))
}

/// What tells one state of a split collection from another: a write of any
/// member writes a header with a new clock and, for an added or removed
/// member, a new size.
pub(super) fn header_version(header: &SplitHeader) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        header.generation,
        &header.clock,
        header.count,
        header.ts_ms,
        header.expire_at_ms,
    )
        .hash(&mut h);
    h.finish()
}

/// The one live collection sibling of `record`, if that is all it holds.
pub(super) fn sole_collection(record: &Siblings) -> Option<(&Sibling, &Collection)> {
    let mut it = record.iter();
    let only = it.next()?;
    if it.next().is_some() {
        return None;
    }
    match &only.payload {
        Payload::Collection(c) => Some((only, c)),
        _ => None,
    }
}

/// How a write leaves a key's storage.
pub(super) struct Placement {
    /// The key's new engine value.
    pub main: Value,
    /// Whether the record stays or becomes split (`main` is a header).
    pub split: bool,
    /// Whether a replaced generation of members was queued for deletion.
    pub reclaims: bool,
}

/// Adds to `batch` the writes that store `after` for `key`, whose stored
/// form was `old` (a split header, if it was split) holding `before`.
/// Members that did not change are not rewritten. Returns the key's new
/// engine value (the caller puts it) and what became of the members.
///
/// A generation made here has members without engine expiry (the header's
/// decides): a new expiry keeps it, rewrites only the header, and queues
/// the members' deletion for when that expiry passes. A generation of an
/// earlier version, whose members carry the expiry, gets a new generation
/// when the expiry changes; an expired header's generation is never
/// written again.
#[allow(
    clippy::too_many_arguments,
    reason = "the key, both of its states, and the time"
)]
pub(super) fn place(
    batch: &mut WriteBatch,
    ns: u32,
    key: &[u8],
    old: Option<&SplitHeader>,
    before: &Siblings,
    after: &Siblings,
    engine_expiry: u64,
    now: u64,
) -> Placement {
    let split = sole_collection(after).filter(|(_, c)| {
        c.len() >= split_at(c.kind()) || (old.is_some() && c.len() >= inline_at(c.kind()))
    });
    let Some((sib, coll)) = split else {
        if let Some(h) = old {
            queue_reclaim(batch, ns, key, h.generation);
        }
        return Placement {
            main: Value::with_expiry(after.encode(), engine_expiry),
            split: false,
            reclaims: old.is_some(),
        };
    };
    // A sorted set split before score indexes existed gets one by a new
    // generation, as does one whose members carry an expiry that changes.
    let same = old.filter(|h| {
        h.kind == coll.kind()
            && !h.is_expired(now)
            && (h.unexpiring_members || h.expire_at_ms == sib.expire_at_ms)
            && (h.kind != Kind::ZSet || h.score_index)
    });
    let generation = match same {
        Some(h) => h.generation,
        None => {
            if let Some(h) = old {
                queue_reclaim(batch, ns, key, h.generation);
            }
            fresh_generation(old.map(|h| h.generation))
        }
    };
    let unexpiring = same.is_none_or(|h| h.unexpiring_members);
    let member_expiry = if unexpiring { 0 } else { engine_expiry };
    let prefix = member_prefix(ns, key, generation);
    let previous = same.and_then(|_| sole_collection(before)).map(|(_, c)| c);
    // A whole-record write: its new header's version retires any copy of
    // the set's order (`super::zset_ranks`).
    // A generation made now indexes its scores ascending only.
    let descending = same.is_some_and(|h| h.descending_index);
    let _ = write_member_changes(batch, &prefix, previous, coll, member_expiry, descending);
    // A fresh generation without expiry has no entry to keep in step.
    let expiry_changed = match same {
        Some(h) => h.expire_at_ms != sib.expire_at_ms,
        None => sib.expire_at_ms != 0,
    };
    if unexpiring && expiry_changed {
        reclaim_at_expiry(batch, ns, key, generation, sib.expire_at_ms);
    }
    let header = SplitHeader {
        kind: coll.kind(),
        generation,
        count: coll.len() as u64,
        ts_ms: sib.ts_ms,
        expire_at_ms: sib.expire_at_ms,
        clock: sib.clock.clone(),
        first: list_end(coll, true),
        last: list_end(coll, false),
        score_index: coll.kind() == Kind::ZSet,
        descending_index: coll.kind() == Kind::ZSet && descending,
        unexpiring_members: unexpiring,
        member_histories: coll.member_histories().clone(),
    };
    Placement {
        main: Value::with_expiry(codec::encode_split_header(&header), engine_expiry),
        split: true,
        reclaims: old.is_some() && same.is_none()
            || unexpiring && expiry_changed && sib.expire_at_ms != 0,
    }
}

/// Puts the members of `now` that differ from `previous` (all of them
/// without one) and deletes those `previous` held and `now` does not; a
/// sorted set's score index follows (its descending entries too when the
/// generation has them), and its changes are returned.
pub(super) fn write_member_changes(
    batch: &mut WriteBatch,
    prefix: &[u8],
    previous: Option<&Collection>,
    now: &Collection,
    engine_expiry: u64,
    descending: bool,
) -> Option<super::zset_ranks::IndexChanges> {
    let index_changes = (now.kind() == Kind::ZSet).then(|| {
        let index = score_index::index_prefix(prefix);
        score_index::write_changes(batch, &index, previous, now, engine_expiry, descending)
    });
    for (member, items) in now.iter() {
        if previous.and_then(|p| p.items(member)) != Some(items.as_slice()) {
            batch.put(
                member_key(prefix, member),
                Value::with_expiry(codec::encode_member(items), engine_expiry),
            );
        }
    }
    for (member, _) in previous.into_iter().flat_map(Collection::iter) {
        if now.items(member).is_none() {
            batch.delete(member_key(prefix, member));
        }
    }
    index_changes
}

/// Whether the list element `m` (its items) shows the value `element`.
fn holds(header: &SplitHeader, m: &Bytes, items: &[Item], element: &[u8]) -> bool {
    let history = header.member_histories.get(m);
    resolve_member(items, history).is_some_and(|e| e.bytes_in(header.kind) == element)
}

/// The members `need` asks for with their items, in member order.
pub(super) fn load_members(
    engine: &Engine,
    snapshot: &Snapshot,
    pools: &SamplePools,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    need: Need<'_>,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    let mut out = Vec::new();
    match need {
        Need::Members(names) => {
            let names: std::collections::BTreeSet<&Bytes> = names.iter().collect();
            for name in names {
                if let Some(items) = get_member(engine, snapshot, ns, key, header, name)? {
                    out.push((name.clone(), items));
                }
            }
        }
        Need::Head(1) | Need::Tail(1)
            if let Some(end) = list_end_record(engine, snapshot, ns, key, header, need)? =>
        {
            out.push(end);
        }
        Need::Head(n) => {
            let mut left = n;
            if left > 0 {
                visit_members(engine, snapshot, ns, key, header, |m, items| {
                    out.push((m, items));
                    left -= 1;
                    left > 0
                })?;
            }
        }
        Need::Tail(n) => out = tail_members(engine, snapshot, ns, key, header, n)?,
        Need::Count => {}
        Need::HeadThrough {
            element,
            matches,
            scan,
        }
        | Need::TailThrough {
            element,
            matches,
            scan,
        } => {
            // A search from the tail walks down and keeps what it read in
            // member order.
            let from_tail = matches!(need, Need::TailThrough { .. });
            let mut through = Through::new(matches, scan);
            if through.wants_any() {
                let take = |m: Bytes, items: Vec<Item>| {
                    let (keep, more) = through.step(holds(header, &m, &items, element));
                    if keep {
                        out.push((m, items));
                    }
                    more
                };
                if from_tail {
                    visit_members_back(engine, snapshot, ns, key, header, take)?;
                    out.reverse();
                } else {
                    visit_members(engine, snapshot, ns, key, header, take)?;
                }
            }
        }
        Need::Range { start, stop } => {
            let len = usize::try_from(header.count).unwrap_or(usize::MAX);
            let (from, to) = crate::version::list_op::trim_range(start, stop, len);
            if to > from {
                let near_head = from <= len.saturating_sub(to);
                let (end, skip) = if near_head {
                    (Need::Head(to), from)
                } else {
                    (Need::Tail(len - from), 0)
                };
                out = load_members(engine, snapshot, pools, ns, key, header, end)?;
                out.drain(..skip.min(out.len()));
                out.truncate(to - from);
            }
        }
        Need::Trim { start, stop } => {
            let len = usize::try_from(header.count).unwrap_or(usize::MAX);
            let (head, tail) = crate::version::list_op::trim_ends(start, stop, len);
            out = load_members(engine, snapshot, pools, ns, key, header, Need::Head(head))?;
            if tail > 0 {
                let last =
                    load_members(engine, snapshot, pools, ns, key, header, Need::Tail(tail))?;
                // Disjoint unless the count is off: then each member once.
                let seen = out.last().map(|(m, _)| m.clone());
                out.extend(last.into_iter().filter(|(m, _)| seen.as_ref() < Some(m)));
            }
        }
        Need::Scores(w) => out = scored_members(engine, snapshot, ns, key, header, &w)?,
        Need::Lex {
            window,
            rev,
            offset,
            count,
        } => {
            let all = ScoreWindow::ends(false, usize::MAX);
            let all = scored_members(engine, snapshot, ns, key, header, &all)?;
            out = super::lex_window::select(window, (rev, offset, count), all);
        }
        Need::Rank { member, .. } => {
            if let Some(items) = get_member(engine, snapshot, ns, key, header, member)? {
                out.push((Bytes::copy_from_slice(member), items));
            }
        }
        Need::CountScores(_) | Need::CountLex(_) => {}
        Need::Sample(n) => {
            // Only a pop loads members by sample (reads pick in
            // `Keyspace::read_partial`).
            let pop = sample_pool::Picker::Pop;
            out =
                sample_pool::sampled(engine, snapshot, pools, ns, key, header, n, pop, |m, i| {
                    (m, i)
                })?;
        }
        Need::After { after, count } => {
            let from = match after {
                Some(m) => (m, false),
                None => (list_first(header), true),
            };
            if count > 0 {
                visit_members_from(engine, snapshot, ns, key, header, from, |m, items| {
                    out.push((m, items));
                    out.len() < count
                })?;
            }
        }
        Need::Ranks { start, stop, rev } => {
            let len = usize::try_from(header.count).unwrap_or(usize::MAX);
            if let Some(w) = ScoreWindow::ranks(start, stop, rev, len) {
                out = scored_members(engine, snapshot, ns, key, header, &w)?;
                if w.rev != rev {
                    out.reverse();
                }
            }
        }
    }
    Ok(out)
}

/// What a [`Need::Rank`], [`Need::CountScores`] or [`Need::CountLex`]
/// counts of a split sorted set (`None` for any other need or kind, or an
/// absent member): from the score index, or from every member when the set
/// has none (a lex count always reads every member). `loaded` is
/// what [`load_members`] read for `need` (a rank's member, if present).
pub(super) fn counted(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    need: Need<'_>,
    loaded: &[(Bytes, Vec<Item>)],
) -> Result<Option<u64>> {
    if header.kind != Kind::ZSet {
        return Ok(None);
    }
    let index = || score_index::index_prefix(&member_prefix(ns, key, header.generation));
    match need {
        Need::Rank { member, rev } => {
            let Some((found, items)) = loaded.first() else {
                return Ok(None);
            };
            let Some(score) = score_index::score_of(items, header.member_histories.get(found))
            else {
                return Ok(None);
            };
            let ascending = if header.score_index {
                let bounds = (&header.first[..], &header.last[..]);
                score_index::rank(
                    engine,
                    snapshot,
                    (&index(), header.descending_index),
                    bounds,
                    score,
                    member,
                    header.count,
                )?
            } else {
                let mut below = 0u64;
                visit_members(engine, snapshot, ns, key, header, |m, items| {
                    if let Some(s) = score_index::score_of(&items, header.member_histories.get(&m))
                    {
                        let order = crate::version::collection::cmp_scores(s, score)
                            .then_with(|| m.as_ref().cmp(member));
                        below += u64::from(order == std::cmp::Ordering::Less);
                    }
                    true
                })?;
                below
            };
            let last = header.count.saturating_sub(1);
            Ok(Some(if rev {
                last.saturating_sub(ascending)
            } else {
                ascending
            }))
        }
        Need::CountScores(w) => {
            let everything = !w.min_exclusive
                && !w.max_exclusive
                && w.min == f64::NEG_INFINITY
                && w.max == f64::INFINITY;
            if everything {
                return Ok(Some(header.count));
            }
            if header.score_index {
                return score_index::count_in(engine, snapshot, &index(), &w, &header.first)
                    .map(Some);
            }
            let mut n = 0u64;
            visit_members(engine, snapshot, ns, key, header, |m, items| {
                let score = score_index::score_of(&items, header.member_histories.get(&m));
                n += u64::from(score.is_some_and(|s| w.contains(s)));
                true
            })?;
            Ok(Some(n))
        }
        Need::CountLex(window) => {
            let all = ScoreWindow::ends(false, usize::MAX);
            let all = scored_members(engine, snapshot, ns, key, header, &all)?;
            let (lo, hi) = window.span(all.len(), |i| all.get(i).map(|(m, _)| m.as_ref()), false);
            Ok(u64::try_from(hi - lo).ok())
        }
        _ => Ok(None),
    }
}

/// The members of a split sorted set in `w`, in its order: from the score
/// index, or, when the window is a good part of the set (or the set has no
/// index), from every member sorted here, which reads them in one pass.
fn scored_members(
    engine: &Engine,
    snapshot: &Snapshot,
    ns: u32,
    key: &[u8],
    header: &SplitHeader,
    w: &ScoreWindow,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    if header.kind != Kind::ZSet {
        return Ok(Vec::new());
    }
    // A window over every score (by rank, or a pop) that covers half the
    // set or more is read whole, in one pass. One bounded by a score reads
    // the index up to its bound, however many it may hold: ZRANGEBYSCORE
    // and ZREMRANGEBYSCORE without LIMIT have no count to judge it by.
    let half = usize::try_from(header.count / 2).unwrap_or(usize::MAX);
    let every_score = w.min == f64::NEG_INFINITY && w.max == f64::INFINITY;
    if !header.score_index || (every_score && w.offset.saturating_add(w.count) >= half) {
        let mut scored = Vec::new();
        visit_members(engine, snapshot, ns, key, header, |m, items| {
            if let Some(s) = score_index::score_of(&items, header.member_histories.get(&m)) {
                scored.push((s, m, items));
            }
            true
        })?;
        return Ok(w.select(scored));
    }
    let index = score_index::index_prefix(&member_prefix(ns, key, header.generation));
    let mut out = Vec::new();
    let from = if w.rev { &header.last } else { &header.first };
    let index = (&index[..], header.descending_index);
    for name in score_index::members_in(engine, snapshot, index, w, from)? {
        let items = get_member(engine, snapshot, ns, key, header, &name)?.ok_or_else(|| {
            Error::CorruptRecord {
                key: key.to_vec(),
                what: "a score-index entry names a missing member".into(),
            }
        })?;
        out.push((name, items));
    }
    Ok(out)
}

/// A generation other than `old`.
fn fresh_generation(old: Option<u64>) -> u64 {
    loop {
        let g: u64 = rand::random();
        if Some(g) != old {
            return g;
        }
    }
}
