//! The writes of hashes and sets, applied by a key's coordinating replica
//! to what it holds ([`Siblings::apply_collection`]), and their node-to-node
//! encoding (the body of `Op::Collection`, `docs/formats/node-rpc.md`).
//!
//! Each write reads the key's [`View`], changes it, and stores the result
//! as one sibling superseding everything the replica holds; the members it
//! set carry the write's [`Tag`]. A write that changes nothing stores
//! nothing; one that empties the collection stores a tombstone (whose
//! clock removes exactly what it had seen).

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::borrow::Cow;

use bytes::Bytes;
use rand::seq::index;

use super::Actor;
use super::collection::{
    Collection, Element, Item, Kind, Tag, cmp_scores, element_score, latest_item, score_text,
};
use super::counter::{Counter, CounterError};
use super::member_history::{MemberHistory, fresh_lineage, resolve_member};
use super::siblings::{Payload, Siblings, View};

/// A write of a hash or set.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectionOp {
    /// HSET, HMSET, HSETNX, SADD: store each member's value; with
    /// `if_absent` only members not present (HSETNX).
    Put {
        /// The type the key must hold (or gets).
        kind: Kind,
        /// Member and value (empty for a set).
        pairs: Vec<(Bytes, Bytes)>,
        /// Store only absent members.
        if_absent: bool,
    },
    /// HDEL, SREM: remove these members.
    Remove {
        /// The type the key must hold.
        kind: Kind,
        /// The members.
        members: Vec<Bytes>,
    },
    /// HINCRBY: add to a field's integer counter.
    AddInt {
        /// The field.
        member: Bytes,
        /// The increment.
        delta: i64,
    },
    /// HINCRBYFLOAT: add to a field's float counter.
    AddFloat {
        /// The field.
        member: Bytes,
        /// The increment.
        delta: f64,
    },
    /// SPOP, ZPOPMIN, ZPOPMAX, ZMPOP, LPOP, RPOP: remove up to `count`
    /// members, chosen at random, by score, or (a list) from the head
    /// (`Min`) or the tail (`Max`).
    Pop {
        /// The type the key must hold.
        kind: Kind,
        /// How many.
        count: u64,
        /// Which members.
        end: PopEnd,
    },
    /// ZADD (and ZINCRBY, which is ZADD INCR): scores for members, with
    /// Redis's NX, XX, GT, LT, CH and INCR flags ([`zadd`] bits).
    ZAdd {
        /// Member and score (or increment).
        pairs: Vec<(Bytes, f64)>,
        /// [`zadd`] bits.
        flags: u8,
    },
    /// LPUSH, RPUSH, LPUSHX, RPUSHX: add `values` at one end, each in
    /// turn (so LPUSH a b c leaves c first); with `if_exists` only onto an
    /// existing list. Replies the new length.
    Push {
        /// At the head (LPUSH) or the tail.
        left: bool,
        /// The elements.
        values: Vec<Bytes>,
        /// Only onto an existing list (LPUSHX, RPUSHX).
        if_exists: bool,
    },
    /// LSET: the element at `index` (negative from the tail) gets `value`.
    ListSet {
        /// The index.
        index: i64,
        /// The new value.
        value: Bytes,
    },
    /// LINSERT: `value` before or after the first element equal to
    /// `pivot`. Replies the new length, `Nil` when no element equals it.
    ListInsert {
        /// Before the pivot, or after it.
        before: bool,
        /// The value to find.
        pivot: Bytes,
        /// The value inserted.
        value: Bytes,
    },
    /// LREM: remove up to `|count|` elements equal to `value`, from the
    /// head (count > 0), the tail (count < 0) or all (0).
    ListRemove {
        /// Redis's count.
        count: i64,
        /// The value.
        value: Bytes,
    },
    /// LTRIM: keep only the elements from `start` to `stop` (inclusive,
    /// negative from the tail).
    ListTrim {
        /// First index kept.
        start: i64,
        /// Last index kept.
        stop: i64,
    },
    /// Replace whatever the key holds by these members (RENAME, COPY,
    /// MOVE, RESTORE-like copies, the *STORE commands); no members deletes
    /// the key.
    Replace {
        /// The type written.
        kind: Kind,
        /// Member and value.
        pairs: Vec<(Bytes, Bytes)>,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
    /// ZREMRANGEBYSCORE: remove every member whose score lies between
    /// `min` and `max` (each excluded when its flag says so). Replies how
    /// many were removed.
    RemoveScores {
        /// The least score.
        min: f64,
        /// Whether `min` itself is left out.
        min_exclusive: bool,
        /// The greatest score.
        max: f64,
        /// Whether `max` itself is left out.
        max_exclusive: bool,
    },
    /// EXPIRE family, PERSIST: the collection gets a new expiry as a new
    /// write superseding what the coordinator holds, its members and their
    /// tags unchanged (so a concurrent removal elsewhere still removes
    /// what it saw). Replies 1, or 0 (nothing written) when the key is
    /// absent.
    Expire {
        /// The type the key must hold.
        kind: Kind,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
}

/// Which members a [`CollectionOp::Pop`] removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopEnd {
    /// Chosen at random (SPOP).
    Random,
    /// The lowest scores (ZPOPMIN); a list's head (LPOP).
    Min,
    /// The highest scores (ZPOPMAX); a list's tail (RPOP).
    Max,
}

/// ZADD's flags, as bits of [`CollectionOp::ZAdd`]'s `flags`.
pub mod zadd {
    /// Only add new members.
    pub const NX: u8 = 1;
    /// Only update existing members.
    pub const XX: u8 = 2;
    /// Only update when the new score is greater.
    pub const GT: u8 = 4;
    /// Only update when the new score is less.
    pub const LT: u8 = 8;
    /// Count changed members too.
    pub const CH: u8 = 16;
    /// Add the score to the current one (one pair); reply with the result.
    pub const INCR: u8 = 32;
}

/// What a [`CollectionOp`] answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CollectionReply {
    /// Members added (Put, ZAdd), removed (Remove) or written (Replace).
    Count(u64),
    /// A counter's new value or a new score as stored (AddInt, AddFloat,
    /// ZAdd INCR).
    Value(Bytes),
    /// The members removed with their values (Pop).
    Pairs(Vec<(Bytes, Bytes)>),
    /// Nothing (ZAdd INCR that a flag stopped; ListInsert without its
    /// pivot).
    Nil,
}

/// Why a [`CollectionOp`] was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    /// The key holds another type.
    WrongType,
    /// Refused with Redis's error text (without the `ERR ` prefix).
    Refused(String),
}

impl Siblings {
    /// Applies `op` coordinated by `actor` at `now_ms`.
    ///
    /// # Errors
    /// [`OpError`]; nothing is stored then.
    pub fn apply_collection(
        &mut self,
        actor: Actor,
        now_ms: u64,
        op: &CollectionOp,
    ) -> Result<CollectionReply, OpError> {
        let tag = Tag {
            actor,
            counter: self.next_counter(actor),
        };
        if let CollectionOp::Replace {
            kind,
            pairs,
            expire_at_ms,
        } = op
        {
            let mut coll = Collection::new(*kind);
            for (m, v) in pairs {
                coll.put(m.clone(), tag, now_ms, Element::Value(v.clone()));
            }
            let n = coll.len() as u64;
            self.store(actor, now_ms, coll, *expire_at_ms);
            return Ok(CollectionReply::Count(n));
        }
        if let CollectionOp::Expire { kind, expire_at_ms } = op {
            return self.expire_collection(actor, now_ms, *kind, *expire_at_ms);
        }
        let kind = match op {
            CollectionOp::Put { kind, .. }
            | CollectionOp::Remove { kind, .. }
            | CollectionOp::Pop { kind, .. }
            | CollectionOp::Replace { kind, .. }
            | CollectionOp::Expire { kind, .. } => *kind,
            CollectionOp::AddInt { .. } | CollectionOp::AddFloat { .. } => Kind::Hash,
            CollectionOp::ZAdd { .. } | CollectionOp::RemoveScores { .. } => Kind::ZSet,
            CollectionOp::Push { .. }
            | CollectionOp::ListSet { .. }
            | CollectionOp::ListInsert { .. }
            | CollectionOp::ListRemove { .. }
            | CollectionOp::ListTrim { .. } => Kind::List,
        };
        let taken = self.take_sole_collection(now_ms, kind);
        let was_taken = taken.is_some();
        let (mut coll, expire_at_ms) = match taken {
            Some(t) => t,
            None => match self.view(now_ms) {
                View::Absent => {
                    let mut fresh = Collection::new(kind);
                    fresh.set_member_histories(self.member_histories_at(Some(kind), now_ms));
                    (fresh, 0)
                }
                View::Plain(_) => return Err(OpError::WrongType),
                View::Collection {
                    collection,
                    expire_at_ms,
                } if collection.kind() == kind => (collection.into_owned(), expire_at_ms),
                View::Collection { .. } => return Err(OpError::WrongType),
            },
        };
        // Every refusal in `change` comes before `coll` is changed.
        match change(&mut coll, op, actor, tag, now_ms) {
            Ok((reply, true)) => {
                self.store(actor, now_ms, coll, expire_at_ms);
                Ok(reply)
            }
            Ok((reply, false)) => {
                if was_taken {
                    self.put_back_sole_collection(coll);
                }
                Ok(reply)
            }
            Err(e) => {
                if was_taken {
                    self.put_back_sole_collection(coll);
                }
                Err(e)
            }
        }
    }

    /// [`CollectionOp::Expire`]: the live collection (the join of its
    /// siblings, or the members a split collection's write loaded) written
    /// again with `expire_at_ms`, under a clock that supersedes everything
    /// held. Not through [`store`](Self::store): a split collection's write
    /// may load no member, and its empty collection is not a deletion.
    fn expire_collection(
        &mut self,
        actor: Actor,
        now_ms: u64,
        kind: Kind,
        expire_at_ms: u64,
    ) -> Result<CollectionReply, OpError> {
        let coll = match self.take_sole_collection(now_ms, kind) {
            Some((coll, current)) if current == expire_at_ms => {
                self.put_back_sole_collection(coll);
                return Ok(CollectionReply::Count(1));
            }
            Some((coll, _)) => coll,
            None => match self.view(now_ms) {
                View::Absent => return Ok(CollectionReply::Count(0)),
                View::Collection { collection, .. } if collection.kind() == kind => {
                    collection.into_owned()
                }
                View::Plain(_) | View::Collection { .. } => return Err(OpError::WrongType),
            },
        };
        self.write(None, actor, now_ms, Payload::Collection(coll), expire_at_ms);
        Ok(CollectionReply::Count(1))
    }

    /// Stores `coll` (a tombstone when empty) superseding everything held.
    fn store(&mut self, actor: Actor, now_ms: u64, mut coll: Collection, expire_at_ms: u64) {
        coll.prune_member_histories(now_ms);
        if coll.is_empty() {
            // The write may have taken the collection out of this record:
            // what it recorded of its counter members goes with the
            // tombstone.
            let recorded = coll.member_histories();
            let more = (!recorded.is_empty()).then_some(recorded);
            self.write_recording(None, actor, now_ms, Payload::Tombstone, 0, more);
        } else {
            self.write(None, actor, now_ms, Payload::Collection(coll), expire_at_ms);
        }
    }
}

/// Applies `op` (not Replace) to `coll`: the reply and whether it changed.
/// A refusal leaves `coll` unchanged.
fn change(
    coll: &mut Collection,
    op: &CollectionOp,
    actor: Actor,
    tag: Tag,
    now_ms: u64,
) -> Result<(CollectionReply, bool), OpError> {
    let (reply, changed) = match op {
        CollectionOp::Put {
            pairs, if_absent, ..
        } => {
            let (mut added, mut changed) = (0u64, false);
            for (m, v) in pairs {
                let present = coll.element(m);
                if present.is_some() && *if_absent {
                    continue;
                }
                if present.is_none() {
                    added += 1;
                }
                // Stored even when the value is the same: the fresh tag
                // is what makes this add win over a concurrent removal
                // it did not see.
                coll.put(m.clone(), tag, now_ms, Element::Value(v.clone()));
                changed = true;
            }
            (CollectionReply::Count(added), changed)
        }
        CollectionOp::Remove { members, .. } => {
            let removed = members
                .iter()
                .filter(|m| coll.remove(m, tag, now_ms))
                .count() as u64;
            (CollectionReply::Count(removed), removed > 0)
        }
        CollectionOp::AddInt { member, delta } => {
            let mut counter = counter_of(coll, member, tag);
            let value = counter
                .add_int(actor, *delta)
                .map_err(|e| refusal(e, "hash value is not an integer"))?;
            coll.put(member.clone(), tag, now_ms, Element::Counter(counter));
            (CollectionReply::Value(value.to_bytes()), true)
        }
        CollectionOp::AddFloat { member, delta } => {
            let mut counter = counter_of(coll, member, tag);
            let value = counter
                .add_float(actor, *delta)
                .map_err(|e| refusal(e, "hash value is not a float"))?;
            coll.put(member.clone(), tag, now_ms, Element::Counter(counter));
            (CollectionReply::Value(value.to_bytes()), true)
        }
        CollectionOp::Pop { count, end, .. } => {
            let n = usize::try_from(*count)
                .unwrap_or(usize::MAX)
                .min(coll.len());
            let picked = pick(coll, n, *end);
            for (m, _) in &picked {
                coll.remove(m, tag, now_ms);
            }
            let changed = !picked.is_empty();
            (CollectionReply::Pairs(picked), changed)
        }
        CollectionOp::ZAdd { pairs, flags } => zadd_into(coll, pairs, *flags, actor, tag, now_ms)?,
        CollectionOp::RemoveScores {
            min,
            min_exclusive,
            max,
            max_exclusive,
        } => {
            let gone: Vec<Bytes> = coll
                .to_members()
                .map
                .into_iter()
                .filter(|(_, v)| {
                    let s = ringkv_number::parse_f64(v).unwrap_or(0.0);
                    super::collection::score_between(s, *min, *min_exclusive, *max, *max_exclusive)
                })
                .map(|(m, _)| m)
                .collect();
            for m in &gone {
                coll.remove(m, tag, now_ms);
            }
            (CollectionReply::Count(gone.len() as u64), !gone.is_empty())
        }
        CollectionOp::Push { .. }
        | CollectionOp::ListSet { .. }
        | CollectionOp::ListInsert { .. }
        | CollectionOp::ListRemove { .. }
        | CollectionOp::ListTrim { .. } => super::list_op::change_list(coll, op, tag, now_ms)?,
        // Handled before the view is taken.
        CollectionOp::Replace { .. } | CollectionOp::Expire { .. } => {
            (CollectionReply::Count(0), false)
        }
    };
    Ok((reply, changed))
}

/// `n` members to pop, with their values: random ones, or the lowest or
/// highest scores (ties by member, as Redis orders them).
fn pick(coll: &Collection, n: usize, end: PopEnd) -> Vec<(Bytes, Bytes)> {
    if coll.kind() == Kind::List {
        return super::list_op::ends(coll, n, end == PopEnd::Min);
    }
    let all = coll.to_members().map;
    match end {
        PopEnd::Random => {
            let names: Vec<(&Bytes, &Bytes)> = all.iter().collect();
            index::sample(&mut rand::rng(), names.len(), n)
                .into_iter()
                .filter_map(|i| names.get(i).map(|(m, v)| ((*m).clone(), (*v).clone())))
                .collect()
        }
        PopEnd::Min | PopEnd::Max => {
            let mut scored: Vec<(f64, Bytes, Bytes)> = all
                .into_iter()
                .map(|(m, v)| (ringkv_number::parse_f64(&v).unwrap_or(0.0), m, v))
                .collect();
            scored.sort_by(|a, b| cmp_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
            if end == PopEnd::Max {
                scored.reverse();
            }
            scored.into_iter().take(n).map(|(_, m, v)| (m, v)).collect()
        }
    }
}

/// ZADD's per-member rules (Redis's `zsetAdd`), applied in order.
fn zadd_into(
    coll: &mut Collection,
    pairs: &[(Bytes, f64)],
    flags: u8,
    actor: Actor,
    tag: Tag,
    now_ms: u64,
) -> Result<(CollectionReply, bool), OpError> {
    let has = |f: u8| flags & f != 0;
    let (mut added, mut updated, mut changed) = (0u64, 0u64, false);
    let mut last_score: Option<f64> = None;
    for (member, score) in pairs {
        let current = coll.element(member).and_then(|e| element_score(&e));
        let element = match current {
            Some(_) if has(zadd::NX) => continue,
            None if has(zadd::XX) => continue,
            Some(cur) => {
                let (new, element) = if has(zadd::INCR) {
                    if (cur + score).is_nan() {
                        return Err(OpError::Refused(NAN_SCORE.into()));
                    }
                    incremented(coll, member, *score, cur + score, actor, tag)
                } else {
                    (*score, Element::Value(score_text(*score)))
                };
                if (has(zadd::GT) && new <= cur) || (has(zadd::LT) && new >= cur) {
                    continue;
                }
                if new != cur {
                    updated += 1;
                }
                last_score = Some(new);
                element
            }
            None => {
                let (new, element) = if has(zadd::INCR) {
                    incremented(coll, member, *score, *score, actor, tag)
                } else {
                    (*score, Element::Value(score_text(*score)))
                };
                added += 1;
                last_score = Some(new);
                element
            }
        };
        coll.put(member.clone(), tag, now_ms, element);
        changed = true;
    }
    let reply = if has(zadd::INCR) {
        // The reply keeps the sign of a zero score (stored as 0).
        last_score.map_or(CollectionReply::Nil, |s| {
            CollectionReply::Value(if s == 0.0 && s.is_sign_negative() {
                Bytes::from_static(b"-0")
            } else {
                score_text(s)
            })
        })
    } else if has(zadd::CH) {
        CollectionReply::Count(added + updated)
    } else {
        CollectionReply::Count(added)
    };
    Ok((reply, changed))
}

/// Redis's error for a score increment that gives NaN.
const NAN_SCORE: &str = "resulting score is not a number (NaN)";

/// The score and element ZINCRBY stores for `member` whose score becomes
/// about `new`: a counter (so concurrent increments through other
/// coordinators add up) while the arithmetic is finite, and then the score
/// is the counter's value, which the reply shows too; else the plain
/// score.
fn incremented(
    coll: &Collection,
    member: &[u8],
    delta: f64,
    new: f64,
    actor: Actor,
    tag: Tag,
) -> (f64, Element) {
    if new.is_finite() && delta.is_finite() {
        let mut counter = counter_of(coll, member, tag);
        if counter.add_float(actor, delta).is_ok() {
            let element = Element::Counter(counter);
            if let Some(score) = element_score(&element) {
                // Equal values: the step-by-step sum keeps the sign of a
                // zero as Redis replies it (`-0`); otherwise the stored
                // value, so a later read agrees with the reply.
                return (if score == new { new } else { score }, element);
            }
        }
    }
    (new, Element::Value(score_text(new)))
}

/// The counter HINCRBY grows for `member`, by the write `tag`: its
/// counter (concurrent ones joined, and what other lineages carry), a
/// counter based on its value, or 0 for an absent field.
fn counter_of(coll: &Collection, member: &[u8], tag: Tag) -> Counter {
    let items = coll.items(member).unwrap_or_default();
    counter_for(items, coll.member_histories().get(member), tag)
}

/// The counter the write `tag` grows for a member holding `items` with
/// counter history `history` (see [`counter_of`]).
pub(super) fn counter_for(items: &[Item], history: Option<&MemberHistory>, tag: Tag) -> Counter {
    let mut counter = counter_from(items, resolve_member(items, history));
    // A counter not continued (no slots: the member absent, a value, or
    // only carried increments) starts a lineage no removal ended.
    if let Some(id) = fresh_lineage(history, tag) {
        if counter.slots().len() == 0 {
            counter.base_id = id;
        }
    }
    counter
}

/// The counter an increment grows from the element a read of the member
/// holding `items` shows (`shown`): that counter; a counter based on that
/// value, named by the write that stored it; or 0 in lineage 0.
fn counter_from(items: &[Item], shown: Option<Cow<'_, Element>>) -> Counter {
    match shown {
        Some(Cow::Borrowed(Element::Counter(c))) => c.clone(),
        Some(Cow::Owned(Element::Counter(c))) => c,
        Some(Cow::Borrowed(e @ Element::Value(v))) => {
            let base_id = items
                .iter()
                .find(|i| std::ptr::eq(&i.element, e))
                .or_else(|| latest_item(items))
                .map_or(0, |i| i.tag.base_id());
            Counter::new(v.clone(), base_id)
        }
        Some(Cow::Owned(Element::Value(v))) => {
            Counter::new(v, latest_item(items).map_or(0, |i| i.tag.base_id()))
        }
        None => Counter::new(Bytes::from_static(b"0"), 0),
    }
}

/// A counter error in Redis's words for a hash field.
fn refusal(e: CounterError, not_number: &str) -> OpError {
    match e {
        CounterError::NotInteger | CounterError::NotFloat => OpError::Refused(not_number.into()),
        CounterError::WrongType => OpError::WrongType,
        other => OpError::Refused(other.to_string()),
    }
}
