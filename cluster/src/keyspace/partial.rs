//! Reads and writes that touch only the members they need: a split
//! collection's header and the member records a command names (or the few
//! at an end of a list), never the whole collection ([`super::split`]).
//! A node that is the only replica of its keys uses them for every
//! collection command; in a cluster, a write shipped to replicas as an
//! operation on an agreed base ([`crate::coordinator`]'s delta writes) and
//! a read whose replicas agree on the record's context use them too.
//!
//! A write runs the same collection write as every other path
//! ([`Siblings::apply_collection`] through the caller's function) on a
//! record that holds only the needed members, then stores the members it
//! changed and the new header. Every member the write could touch, or
//! whose absence it could observe, is among those loaded, so the result is
//! the one the whole record would give; only the count (the replies of
//! LPUSH and RPUSH) comes from the header.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::borrow::Cow;

use bytes::Bytes;
use ringkv_engine::{Value, WriteBatch};

use super::early_read::EarlyRead;
use super::list_ends;
use super::partial_plan::{PartialPlan, SplitWrite, WholeWrite};
use super::score_index::ScoreWindow;
use super::split::{self, Need, Stored, header_version};
use super::{Ack, Keyspace, Updated, ValueType, live_entry};
use crate::error::{Error, Result};
use crate::token;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Collection, Item, Kind, ListWindow};
use crate::version::member_history::{resolve_member, resolved_bytes};
use crate::version::siblings::Sibling;
use crate::version::{History, MemberHistories, Payload, Siblings, VectorClock};

/// What a partial read found: the key's type, expiry and member count, and
/// the members asked for with the values a read shows, in member order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialRead {
    /// The key's type.
    pub kind: ValueType,
    /// Its expiry (unix ms, 0 = none).
    pub expire_at_ms: u64,
    /// How many members it has (0 for a string).
    pub len: u64,
    /// The members asked for that are present, with their values.
    pub members: Vec<(Bytes, Bytes)>,
    /// What a [`Need::Rank`] (the member's rank, if present) or a
    /// [`Need::CountScores`] (the members in range) counted; `None` for the
    /// other needs.
    pub counted: Option<u64>,
}

impl PartialRead {
    /// The value of `member`, if it was asked for and is present.
    pub fn get(&self, member: &[u8]) -> Option<&Bytes> {
        self.members
            .iter()
            .find(|(m, _)| m.as_ref() == member)
            .map(|(_, v)| v)
    }

    /// The part of a key's whole value that `need` asks for (a string:
    /// its type and expiry).
    pub fn of_entry(e: &super::Entry, need: Need<'_>) -> Self {
        match &e.members {
            Some(all) => PartialRead::cut(e.kind, e.expire_at_ms, all, need),
            None => PartialRead {
                kind: e.kind,
                expire_at_ms: e.expire_at_ms,
                len: 0,
                members: Vec::new(),
                counted: None,
            },
        }
    }

    /// The part of a whole collection that `need` asks for.
    pub fn cut(
        kind: ValueType,
        expire_at_ms: u64,
        all: &crate::version::Members,
        need: Need<'_>,
    ) -> Self {
        // A window of another kind (the caller answers WRONGTYPE), as
        // `Keyspace::read_partial` gives it: no member.
        let other_kind = need.kind().is_some_and(|k| ValueType::of_kind(k) != kind);
        let members = match need {
            _ if other_kind => Vec::new(),
            Need::Members(names) => names
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter_map(|n| all.map.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
            Need::Head(n) => all
                .map
                .iter()
                .take(n)
                .map(|(m, v)| (m.clone(), v.clone()))
                .collect(),
            Need::Tail(n) => {
                let skip = all.map.len().saturating_sub(n);
                all.map
                    .iter()
                    .skip(skip)
                    .map(|(m, v)| (m.clone(), v.clone()))
                    .collect()
            }
            Need::Count => Vec::new(),
            Need::HeadThrough {
                element,
                matches,
                scan,
            } => through(all.map.iter(), element, matches, scan),
            Need::TailThrough {
                element,
                matches,
                scan,
            } => {
                let mut kept = through(all.map.iter().rev(), element, matches, scan);
                kept.reverse();
                kept
            }
            Need::Range { start, stop } => {
                let (from, to) = crate::version::list_op::trim_range(start, stop, all.map.len());
                all.map
                    .iter()
                    .skip(from)
                    .take(to.saturating_sub(from))
                    .map(|(m, v)| (m.clone(), v.clone()))
                    .collect()
            }
            Need::Trim { start, stop } => {
                let len = all.map.len();
                let (head, tail) = crate::version::list_op::trim_ends(start, stop, len);
                let pair = |(m, v): (&Bytes, &Bytes)| (m.clone(), v.clone());
                let first = all.map.iter().take(head).map(pair);
                first
                    .chain(all.map.iter().skip(len - tail).map(pair))
                    .collect()
            }
            Need::Scores(w) => w.select(scored(kind, all)),
            Need::Lex {
                window,
                rev,
                offset,
                count,
            } => super::lex_window::select(window, (rev, offset, count), in_score_order(kind, all)),
            Need::Rank { member, .. } => all
                .map
                .get_key_value(member)
                .map(|(m, v)| (m.clone(), v.clone()))
                .into_iter()
                .collect(),
            Need::CountScores(_) | Need::CountLex(_) => Vec::new(),
            Need::Sample(n) => {
                let all: Vec<(&Bytes, &Bytes)> = all.map.iter().collect();
                random_picks(all.len(), n)
                    .into_iter()
                    .filter_map(|i| all.get(i).map(|(m, v)| ((*m).clone(), (*v).clone())))
                    .collect()
            }
            Need::After { after, count } => {
                let from = match after {
                    Some(m) => std::ops::Bound::Excluded(m),
                    None => std::ops::Bound::Unbounded,
                };
                all.map
                    .range::<[u8], _>((from, std::ops::Bound::Unbounded))
                    .take(count)
                    .map(|(m, v)| (m.clone(), v.clone()))
                    .collect()
            }
            Need::Ranks { start, stop, rev } => {
                match ScoreWindow::ranks(start, stop, rev, all.map.len()) {
                    Some(w) => {
                        let mut picked = w.select(scored(kind, all));
                        if w.rev != rev {
                            picked.reverse();
                        }
                        picked
                    }
                    None => Vec::new(),
                }
            }
        };
        let counted = match need {
            _ if other_kind => None,
            Need::Rank { member, rev } if !members.is_empty() => {
                let ascending = in_score_order(kind, all)
                    .iter()
                    .position(|(m, _)| m.as_ref() == member)
                    .map(|i| i as u64);
                let last = (all.map.len() as u64).saturating_sub(1);
                ascending.map(|i| if rev { last - i } else { i })
            }
            Need::CountLex(window) if kind == ValueType::ZSet => {
                let ordered = in_score_order(kind, all);
                let span = window.span(
                    ordered.len(),
                    |i| ordered.get(i).map(|(m, _)| m.as_ref()),
                    false,
                );
                Some((span.1 - span.0) as u64)
            }
            Need::CountScores(w) if kind == ValueType::ZSet => Some(
                scored(kind, all)
                    .iter()
                    .filter(|(s, _, _)| w.contains(*s))
                    .count() as u64,
            ),
            _ => None,
        };
        PartialRead {
            kind,
            expire_at_ms,
            len: all.map.len() as u64,
            members,
            counted,
        }
    }
}

/// What a [`Need::Members`] read finds of an inline collection's `record`
/// bytes at `now`, read in place ([`codec::peek_members`]): `Some(None)`
/// when it has expired. `None` when the record has another shape (a
/// string, siblings, member histories) or does not decode: the caller
/// decodes it whole.
fn peeked_members(record: &Bytes, names: &[Bytes], now: u64) -> Option<Option<PartialRead>> {
    let mut wanted: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let peeked = crate::version::codec::peek_members(record, &wanted)?;
    if peeked.expire_at_ms != 0 && peeked.expire_at_ms <= now {
        return Some(None);
    }
    let kind = peeked.kind;
    let members = peeked
        .found
        .into_iter()
        .map(|(m, items)| Some((m, resolved_bytes(items, None, kind)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Some(PartialRead {
        kind: ValueType::of_kind(kind),
        expire_at_ms: peeked.expire_at_ms,
        len: peeked.count,
        members,
        counted: None,
    }))
}

/// Positions of `count` members picked at random among `len`, as
/// SRANDMEMBER, HRANDFIELD and ZRANDMEMBER pick them: distinct ones (all,
/// if `count` ≥ `len`) in random order when `count` > 0, `-count` picks
/// with repeats when it is negative.
pub fn random_picks(len: usize, count: i64) -> Vec<usize> {
    use rand::Rng;
    let mut rng = rand::rng();
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        return (0..n).map(|_| rng.random_range(0..len)).collect();
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(len);
    rand::seq::index::sample(&mut rng, len, n).into_vec()
}

/// A sorted set's members in (score, member) order.
fn in_score_order(kind: ValueType, all: &crate::version::Members) -> Vec<(Bytes, Bytes)> {
    ScoreWindow::ends(false, usize::MAX).select(scored(kind, all))
}

/// A sorted set's members with their scores (nothing for another type).
fn scored(kind: ValueType, all: &crate::version::Members) -> Vec<(f64, Bytes, Bytes)> {
    if kind != ValueType::ZSet {
        return Vec::new();
    }
    all.map
        .iter()
        .map(|(m, v)| {
            let score = ringkv_number::parse_f64(v).unwrap_or(0.0);
            (score, m.clone(), v.clone())
        })
        .collect()
}

impl Keyspace {
    /// Reads what `need` asks of `key`: a split collection's header and
    /// only the needed member records; any other record whole. `None` if
    /// the key is absent, deleted or expired.
    pub fn read_partial(&self, db: u32, key: &[u8], need: Need<'_>) -> Result<Option<PartialRead>> {
        let ns = self.namespace(db)?;
        let ekey = token::engine_key(ns, key);
        let engine = &self.inner.engine;
        let now = self.now_ms();
        let Some(v) = engine.get(&ekey)? else {
            return Ok(None);
        };
        let inline =
            |record: &Siblings| live_entry(record, now).map(|e| PartialRead::of_entry(&e, need));
        // Some members of a small collection: read in place from its bytes.
        if let Need::Members(names) = need {
            if let Some(read) = peeked_members(&v.data, names, now) {
                return Ok(read);
            }
        }
        if let Stored::Inline(record) = split::decode_stored(&v, key)? {
            return Ok(inline(&record));
        }
        let snapshot = engine.snapshot();
        let Some(v) = engine.get_at(&ekey, &snapshot)? else {
            return Ok(None);
        };
        let header = match split::decode_stored(&v, key)? {
            Stored::Inline(record) => return Ok(inline(&record)),
            Stored::Split(h) => h,
        };
        if header.expire_at_ms != 0 && header.expire_at_ms <= now {
            return Ok(None);
        }
        let (members, counted) = match need {
            // A list's window of a sorted set, a sorted set's of a list: the
            // caller answers WRONGTYPE from the kind, no member is read.
            _ if need.kind().is_some_and(|k| k != header.kind) => (Vec::new(), None),
            // Random picks may repeat a member millions of times: each is
            // resolved once and its bytes shared.
            Need::Sample(n) => {
                let pools = &self.inner.samples;
                let picked = super::sample_pool::sampled(
                    engine,
                    &snapshot,
                    pools,
                    ns,
                    key,
                    &header,
                    n,
                    super::sample_pool::Picker::Read,
                    |m, items| {
                        let history = header.member_histories.get(&m);
                        resolve_member(&items, history).map(|e| (m, e.bytes_in(header.kind)))
                    },
                )?;
                (picked.into_iter().flatten().collect(), None)
            }
            _ => {
                let pools = &self.inner.samples;
                let set = self.set_at(&snapshot, ns, key, &header);
                let orders = &self.inner.ranks;
                let loaded = match super::zset_ranks::members_by_copy(&set, orders, need)? {
                    Some(loaded) => loaded,
                    None => split::load_members(engine, &snapshot, pools, ns, key, &header, need)?,
                };
                let copied = super::zset_ranks::counted_by_copy(&set, orders, need, &loaded)?;
                let counted = match copied {
                    Some(rank) => Some(rank),
                    None => split::counted(engine, &snapshot, ns, key, &header, need, &loaded)?,
                };
                let members = loaded
                    .into_iter()
                    .filter_map(|(m, items)| {
                        let history = header.member_histories.get(&m);
                        Some((m, resolved_bytes(items, history, header.kind)?))
                    })
                    .collect();
                (members, counted)
            }
        };
        Ok(Some(PartialRead {
            kind: ValueType::of_kind(header.kind),
            expire_at_ms: header.expire_at_ms,
            len: header.count,
            members,
            counted,
        }))
    }

    /// The causal context of this node's record of `key` (the merge of
    /// its siblings' clocks; a split collection's header clock) without
    /// reading any member; `None` when there is no record. Two replicas
    /// whose contexts are equal have seen the same writes and so hold the
    /// same value (the digest of a read, the base of a shipped write).
    pub fn record_context(&self, db: u32, key: &[u8]) -> Result<Option<VectorClock>> {
        Ok(self.stored_context(db, key)?.map(|(clock, _)| clock))
    }

    /// [`Keyspace::record_context`], and whether the record is a
    /// collection stored split (whose whole read is costly).
    pub fn stored_context(&self, db: u32, key: &[u8]) -> Result<Option<(VectorClock, bool)>> {
        let ns = self.namespace(db)?;
        let ekey = token::engine_key(ns, key);
        let Some(v) = self.inner.engine.get(&ekey)? else {
            return Ok(None);
        };
        Ok(Some(match split::decode_stored(&v, key)? {
            Stored::Inline(record) => (record.context(), false),
            Stored::Split(header) => (header.clock, true),
        }))
    }

    /// A write `f` applied to no more of `key`'s record than `target`
    /// needs when the key is stored split, otherwise to the whole record
    /// as [`Keyspace::update_record`] does:
    ///
    /// - [`PartialTarget::Collection`]: a collection write applied to only
    ///   the members `need` names, when the key is a live collection of
    ///   that kind. `count_reply` turns the new member count into the reply
    ///   of a write that answers a length (a push).
    /// - [`PartialTarget::Replace`]: `f` replaces the key whatever it holds
    ///   (DEL, SET without a causal context): it sees no members, its
    ///   result is stored inline, and the members are reclaimed in the
    ///   background, so a large collection is deleted at once.
    ///
    /// A collection write of another kind, or a [`PartialTarget::String`]
    /// write, against a live split collection sees the header's clock and
    /// an empty collection of the header's kind: enough for its
    /// `-WRONGTYPE`, without reading a member.
    pub async fn update_partial<R, F>(
        &self,
        db: u32,
        key: &[u8],
        target: PartialTarget,
        need: Need<'_>,
        f: F,
        count_reply: Option<fn(u64) -> R>,
    ) -> Result<Updated<R>>
    where
        F: FnOnce(&mut Siblings, u64) -> R,
    {
        let ns = self.namespace(db)?;
        let ekey = token::engine_key(ns, key);
        let early = match target {
            PartialTarget::Collection(kind) => EarlyRead::take(self, ns, key, &ekey, kind, need),
            _ => None,
        };
        let _guard = self.inner.record_locks.lock_one(token::token(key)).await;
        let engine = &self.inner.engine;
        let now = self.now_ms();
        // What to do is decided without waiting (in a statement of its own,
        // so that no temporary of it outlives it), then each way is awaited
        // once: every await is a state of this future, and the five awaits
        // of the whole record each held the early read and the header beside
        // their callee (docs/performance.md, "Command futures that carried
        // the cluster's states").
        let plan = self.plan_partial(ns, key, &ekey, target, need, early, now)?;
        let SplitWrite {
            header,
            kind,
            mut loaded,
            snapshot,
        } = match plan {
            PartialPlan::Split(write) => write,
            PartialPlan::Whole(WholeWrite::Stored(stored)) => {
                return self.update_stored(ns, key, ekey, stored, f, now).await;
            }
            PartialPlan::Whole(WholeWrite::Replace(header)) => {
                return self.replace_split(ns, key, ekey, &header, f, now).await;
            }
            PartialPlan::Whole(WholeWrite::WrongKind(header)) => {
                return wrong_kind(&header, f, now);
            }
        };
        match (kind, need) {
            (Kind::List, Need::Range { start, stop }) => {
                let len = usize::try_from(header.count).unwrap_or(usize::MAX);
                let (first, _) = crate::version::list_op::trim_range(start, stop, len);
                loaded.set_list_window(ListWindow::From {
                    first: u64::try_from(first).unwrap_or(u64::MAX),
                    total: header.count,
                });
            }
            (Kind::List, Need::Trim { .. }) => {
                loaded.set_list_window(ListWindow::Ends {
                    total: header.count,
                });
            }
            _ => {}
        }
        loaded.set_member_histories(header.member_histories.clone());
        let mut after = split::sibling_of(&header, Payload::Collection(loaded.clone()));
        let mut out = f(&mut after, now);
        if split::is_sibling_of(&after, &header, &loaded) {
            return Ok(Updated::unchanged(out, after));
        }
        let (sib, changed) = written_collection(&after, kind, &header, key)?;
        let added = changed
            .iter()
            .filter(|(m, _)| loaded.items(m).is_none())
            .count() as u64;
        let removed = loaded
            .iter()
            .filter(|(m, _)| changed.items(m).is_none())
            .count() as u64;
        let count = header.count.saturating_add(added).saturating_sub(removed);
        if let Some(reply) = count_reply {
            out = reply(count);
        }
        // A new expiry is the header's alone, unless the members carry the
        // old one in their engine metadata (a generation an earlier
        // version wrote): then they are stored anew, whole.
        let expiry = sib.expire_at_ms;
        let expiry_changed = expiry != header.expire_at_ms;
        let members_carry_expiry = expiry_changed && !header.unexpiring_members;
        if count < split::inline_at(kind) as u64 || members_carry_expiry {
            // Small again (or empty), or members to store anew: stored as the
            // whole record (inline when small).
            let whole_before = split::materialize(engine, &snapshot, ns, key, &header)?;
            let mut whole = match whole_before.iter().next().map(|s| &s.payload) {
                Some(Payload::Collection(c)) => c.clone(),
                _ => Collection::new(kind),
            };
            for (m, _) in loaded.iter() {
                whole.insert_items(m.clone(), Vec::new());
            }
            for (m, items) in changed.iter() {
                whole.insert_items(m.clone(), items.clone());
            }
            whole.set_member_histories(changed.member_histories().clone());
            let whole_after = Siblings::from_iter([if whole.is_empty() {
                Sibling {
                    expire_at_ms: 0,
                    member_histories: changed.member_histories().clone(),
                    ..sib
                }
            } else {
                Sibling {
                    payload: Payload::Collection(whole),
                    ..sib
                }
            }]);
            return self
                .store(
                    ns,
                    key,
                    ekey,
                    Some(&header),
                    &whole_before,
                    whole_after,
                    out,
                    now,
                )
                .await;
        }
        self.admit_write().await;
        let mut batch = WriteBatch::new();
        if expiry_changed {
            // The members are deleted in the background once it passes.
            super::reclaim::reclaim_at_expiry(&mut batch, ns, key, header.generation, expiry);
        }
        let prefix = split::member_prefix(ns, key, header.generation);
        let member_expiry = if header.unexpiring_members { 0 } else { expiry };
        let index_changes = split::write_member_changes(
            &mut batch,
            &prefix,
            Some(&loaded),
            &changed,
            member_expiry,
            header.descending_index,
        );
        let (first, last) = if kind == Kind::ZSet {
            (
                list_ends::zset_bound(&header.first, &loaded, &changed, need, false),
                list_ends::zset_bound(&header.last, &loaded, &changed, need, true),
            )
        } else {
            (
                list_ends::list_bound(kind, &header.first, &loaded, &changed, true),
                list_ends::list_bound(kind, &header.last, &loaded, &changed, false),
            )
        };
        let next = SplitHeader {
            kind,
            generation: header.generation,
            count,
            ts_ms: sib.ts_ms,
            expire_at_ms: expiry,
            clock: sib.clock.clone(),
            first,
            last,
            score_index: header.score_index,
            descending_index: header.descending_index,
            unexpiring_members: header.unexpiring_members,
            member_histories: changed.member_histories().clone(),
        };
        batch.put(
            ekey,
            Value::with_expiry(crate::version::codec::encode_split_header(&next), expiry),
        );
        let seq = engine.write(batch)?;
        // A copy of the order (a sorted set's, a list's positions) follows.
        let orders = &self.inner.ranks;
        if (index_changes.is_some() || kind == Kind::List) && orders.holds_any() {
            let changes = index_changes
                .unwrap_or_else(|| super::list_index::position_changes(&loaded, &changed));
            let id = super::per_collection::collection_id(ns, key, header.generation);
            let (before, after) = (header_version(&header), header_version(&next));
            orders.apply(&id, before, after, &changes);
        }
        if kind == Kind::List {
            let id = super::per_collection::collection_id(ns, key, header.generation);
            let versions = || (header_version(&header), header_version(&next));
            self.inner.list_ends.apply(&id, versions, &loaded, &changed);
        }
        if expiry_changed {
            self.inner.reclaimer.wake_by(expiry);
        }
        Ok(Updated {
            out,
            record: after,
            stored: None,
            ack: Ack(seq),
        })
    }
}

impl Keyspace {
    /// The members a partial write of the split collection under `header`
    /// needs: a list's window by index from the copy of its positions (as a
    /// read takes it), the elements a pop takes from an end as the window
    /// of that end names them (`list_end_windows`), anything else as
    /// [`split::load_members`] reads it.
    pub(super) fn load_for_write(
        &self,
        snapshot: &ringkv_engine::Snapshot,
        ns: u32,
        key: &[u8],
        header: &SplitHeader,
        need: Need<'_>,
    ) -> Result<Vec<(Bytes, Vec<Item>)>> {
        if let (Kind::List, Need::Range { .. }) = (header.kind, need) {
            let set = self.set_at(snapshot, ns, key, header);
            if let Some(loaded) = super::zset_ranks::members_by_copy(&set, &self.inner.ranks, need)?
            {
                return Ok(loaded);
            }
        }
        let engine = &self.inner.engine;
        let kept = (&self.inner.list_ends, &self.inner.samples);
        super::list_end_windows::load_end(engine, snapshot, kept, (ns, key), header, need)
    }

    /// The rest of [`Keyspace::update_partial`] for a write that replaces
    /// the key (called under its record lock).
    async fn replace_split<R>(
        &self,
        ns: u32,
        key: &[u8],
        ekey: Bytes,
        header: &SplitHeader,
        f: impl FnOnce(&mut Siblings, u64) -> R,
        now: u64,
    ) -> Result<Updated<R>> {
        let before = split::sibling_of(header, Payload::Collection(Collection::new(header.kind)));
        let mut after = before.clone();
        let out = f(&mut after, now);
        if after == before {
            return Ok(Updated::unchanged(out, after));
        }
        // Stored inline (it holds no collection), the members reclaimed.
        if after
            .iter()
            .any(|s| matches!(s.payload, Payload::Collection(_)))
        {
            return Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: "a write replacing a split collection left a collection".into(),
            });
        }
        self.store(ns, key, ekey, Some(header), &before, after, out, now)
            .await
    }
}

/// The members `elements` yields (a whole list's, from either end) that a
/// [`Need::HeadThrough`] keeps ([`split::Through`]), in that order.
fn through<'a>(
    elements: impl Iterator<Item = (&'a Bytes, &'a Bytes)>,
    element: &[u8],
    matches: usize,
    scan: usize,
) -> Vec<(Bytes, Bytes)> {
    let mut through = split::Through::new(matches, scan);
    let mut kept = Vec::new();
    for (m, v) in elements {
        let (keep, more) = through.step(v == element);
        if keep {
            kept.push((m.clone(), v.clone()));
        }
        if !more {
            break;
        }
    }
    kept
}

/// The sibling a collection write left and the members it holds (none,
/// when it stored a tombstone because the loaded members ran out).
fn written_collection<'a>(
    after: &'a Siblings,
    kind: Kind,
    header: &SplitHeader,
    key: &[u8],
) -> Result<(Sibling, Cow<'a, Collection>)> {
    let mut it = after.iter();
    let only = match (it.next(), it.next()) {
        (Some(only), None) => only,
        _ => {
            return Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: "a partial collection write left other than one sibling".into(),
            });
        }
    };
    // A write that left its loaded members empty stored a tombstone; the
    // collection keeps its expiry then. A collection written carries the
    // expiry the write gave it (EXPIRE's new one, or the header's).
    let (members, expire_at_ms) = match &only.payload {
        Payload::Collection(c) if c.kind() == kind => (Cow::Borrowed(c), only.expire_at_ms),
        Payload::Tombstone => {
            let mut none = Collection::new(kind);
            none.set_member_histories(only.member_histories.clone());
            (Cow::Owned(none), header.expire_at_ms)
        }
        _ => {
            return Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: "a partial collection write changed the key's type".into(),
            });
        }
    };
    let sib = Sibling {
        clock: only.clock.clone(),
        ts_ms: only.ts_ms,
        expire_at_ms,
        payload: Payload::Tombstone,
        history: History::new(),
        member_histories: MemberHistories::new(),
    };
    Ok((sib, members))
}

/// What a write given to [`Keyspace::update_partial`] needs of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialTarget {
    /// A collection write of this kind (HSET, SADD, LPUSH...).
    Collection(Kind),
    /// A write that replaces the key whatever it holds (DEL, SET).
    Replace,
    /// A write that applies only to a string, counter or HyperLogLog
    /// (INCR, APPEND, PFADD...).
    String,
}

/// `f`, a write that cannot apply to the live split collection `header`
/// describes, run on a stand-in record: the header's clock and an empty
/// collection of its kind. The write refuses (`-WRONGTYPE`) before it
/// looks at a member; one that would change the stand-in is refused the
/// same way rather than stored.
fn wrong_kind<R, F>(header: &SplitHeader, f: F, now: u64) -> Result<Updated<R>>
where
    F: FnOnce(&mut Siblings, u64) -> R,
{
    let before = split::sibling_of(header, Payload::Collection(Collection::new(header.kind)));
    let mut after = before.clone();
    let out = f(&mut after, now);
    if after != before {
        return Err(Error::WrongType);
    }
    Ok(Updated::unchanged(out, after))
}
