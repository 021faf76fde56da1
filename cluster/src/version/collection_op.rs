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

use bytes::Bytes;
use rand::seq::index;

use super::Actor;
use super::collection::{
    Collection, Element, Kind, Tag, cmp_scores, element_score, latest_item, put_blob, put_u32,
    score_text, take_blob, take_u32,
};
use super::counter::{Counter, CounterError};
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
    /// SPOP, ZPOPMIN, ZPOPMAX, ZMPOP: remove up to `count` members, chosen
    /// at random or by score.
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
    /// Replace whatever the key holds by these members (RENAME, COPY,
    /// MOVE, RESTORE-like copies, EXPIRE, the *STORE commands); no members
    /// deletes the key.
    Replace {
        /// The type written.
        kind: Kind,
        /// Member and value.
        pairs: Vec<(Bytes, Bytes)>,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
}

/// Which members a [`CollectionOp::Pop`] removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopEnd {
    /// Chosen at random (SPOP).
    Random,
    /// The lowest scores (ZPOPMIN).
    Min,
    /// The highest scores (ZPOPMAX).
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
    /// Nothing (ZAdd INCR that a flag stopped).
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
        let kind = match op {
            CollectionOp::Put { kind, .. }
            | CollectionOp::Remove { kind, .. }
            | CollectionOp::Pop { kind, .. }
            | CollectionOp::Replace { kind, .. } => *kind,
            CollectionOp::AddInt { .. } | CollectionOp::AddFloat { .. } => Kind::Hash,
            CollectionOp::ZAdd { .. } => Kind::ZSet,
        };
        let taken = self.take_sole_collection(now_ms, kind);
        let was_taken = taken.is_some();
        let (mut coll, expire_at_ms) = match taken {
            Some(t) => t,
            None => match self.view(now_ms) {
                View::Absent => (Collection::new(kind), 0),
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

    /// Stores `coll` (a tombstone when empty) superseding everything held.
    fn store(&mut self, actor: Actor, now_ms: u64, coll: Collection, expire_at_ms: u64) {
        if coll.is_empty() {
            self.write(None, actor, now_ms, Payload::Tombstone, 0);
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
            let removed = members.iter().filter(|m| coll.remove(m)).count() as u64;
            (CollectionReply::Count(removed), removed > 0)
        }
        CollectionOp::AddInt { member, delta } => {
            let mut counter = counter_of(coll, member);
            let value = counter
                .add_int(actor, *delta)
                .map_err(|e| refusal(e, "hash value is not an integer"))?;
            coll.put(member.clone(), tag, now_ms, Element::Counter(counter));
            (CollectionReply::Value(value.to_bytes()), true)
        }
        CollectionOp::AddFloat { member, delta } => {
            let mut counter = counter_of(coll, member);
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
                coll.remove(m);
            }
            let changed = !picked.is_empty();
            (CollectionReply::Pairs(picked), changed)
        }
        CollectionOp::ZAdd { pairs, flags } => zadd_into(coll, pairs, *flags, actor, tag, now_ms)?,
        // Handled before the view is taken.
        CollectionOp::Replace { .. } => (CollectionReply::Count(0), false),
    };
    Ok((reply, changed))
}

/// `n` members to pop, with their values: random ones, or the lowest or
/// highest scores (ties by member, as Redis orders them).
fn pick(coll: &Collection, n: usize, end: PopEnd) -> Vec<(Bytes, Bytes)> {
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
                    incremented(coll, member, *score, cur + score, actor)
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
                    incremented(coll, member, *score, *score, actor)
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
) -> (f64, Element) {
    if new.is_finite() && delta.is_finite() {
        let mut counter = counter_of(coll, member);
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

/// The counter HINCRBY grows for `member`: its counter (concurrent ones
/// joined), a counter based on its value, or 0 for an absent field.
fn counter_of(coll: &Collection, member: &[u8]) -> Counter {
    let zero = Bytes::from_static(b"0");
    let Some(items) = coll.items(member) else {
        return Counter::new(zero, 0);
    };
    match super::collection::resolve_item(items).as_deref() {
        Some(Element::Counter(c)) => c.clone(),
        Some(Element::Value(v)) => {
            let base_id = latest_item(items).map_or(0, |i| i.tag.base_id());
            Counter::new(v.clone(), base_id)
        }
        None => Counter::new(zero, 0),
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

// The wire form: `kind:u8` then per op a tag and its fields (counts and
// lengths u32be, integers u64be/i64be, floats as IEEE bits u64be).
const OP_PUT: u8 = 0;
const OP_REMOVE: u8 = 1;
const OP_ADD_INT: u8 = 2;
const OP_ADD_FLOAT: u8 = 3;
const OP_POP: u8 = 4;
const OP_REPLACE: u8 = 5;
const OP_ZADD: u8 = 6;

impl CollectionOp {
    /// The encoding carried by `Op::Collection`.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            CollectionOp::Put {
                kind,
                pairs,
                if_absent,
            } => {
                out.extend_from_slice(&[OP_PUT, kind.code(), u8::from(*if_absent)]);
                put_u32(&mut out, pairs.len());
                for (m, v) in pairs {
                    put_blob(&mut out, m);
                    put_blob(&mut out, v);
                }
            }
            CollectionOp::Remove { kind, members } => {
                out.extend_from_slice(&[OP_REMOVE, kind.code()]);
                put_u32(&mut out, members.len());
                for m in members {
                    put_blob(&mut out, m);
                }
            }
            CollectionOp::AddInt { member, delta } => {
                out.push(OP_ADD_INT);
                put_blob(&mut out, member);
                out.extend_from_slice(&delta.to_be_bytes());
            }
            CollectionOp::AddFloat { member, delta } => {
                out.push(OP_ADD_FLOAT);
                put_blob(&mut out, member);
                out.extend_from_slice(&delta.to_bits().to_be_bytes());
            }
            CollectionOp::Pop { kind, count, end } => {
                let end = match end {
                    PopEnd::Random => 0,
                    PopEnd::Min => 1,
                    PopEnd::Max => 2,
                };
                out.extend_from_slice(&[OP_POP, kind.code(), end]);
                out.extend_from_slice(&count.to_be_bytes());
            }
            CollectionOp::ZAdd { pairs, flags } => {
                out.extend_from_slice(&[OP_ZADD, *flags]);
                put_u32(&mut out, pairs.len());
                for (m, score) in pairs {
                    put_blob(&mut out, m);
                    out.extend_from_slice(&score.to_bits().to_be_bytes());
                }
            }
            CollectionOp::Replace {
                kind,
                pairs,
                expire_at_ms,
            } => {
                out.extend_from_slice(&[OP_REPLACE, kind.code()]);
                out.extend_from_slice(&expire_at_ms.to_be_bytes());
                put_u32(&mut out, pairs.len());
                for (m, v) in pairs {
                    put_blob(&mut out, m);
                    put_blob(&mut out, v);
                }
            }
        }
        Bytes::from(out)
    }

    /// Decodes [`encode`](Self::encode)'s output; `None` if damaged.
    pub fn decode(b: &Bytes) -> Option<CollectionOp> {
        let mut pos = 0usize;
        let byte = |pos: &mut usize| -> Option<u8> {
            let v = *b.get(*pos)?;
            *pos += 1;
            Some(v)
        };
        let u64_at = |pos: &mut usize| -> Option<u64> {
            let end = pos.checked_add(8)?;
            let raw: [u8; 8] = b.get(*pos..end)?.try_into().ok()?;
            *pos = end;
            Some(u64::from_be_bytes(raw))
        };
        let pairs = |pos: &mut usize| -> Option<Vec<(Bytes, Bytes)>> {
            let n = take_u32(b, pos)?;
            let mut out = Vec::with_capacity(n.min(b.len() / 8));
            for _ in 0..n {
                out.push((take_blob(b, pos)?, take_blob(b, pos)?));
            }
            Some(out)
        };
        let op = match byte(&mut pos)? {
            OP_PUT => {
                let kind = Kind::from_code(byte(&mut pos)?)?;
                let if_absent = byte(&mut pos)? != 0;
                CollectionOp::Put {
                    kind,
                    pairs: pairs(&mut pos)?,
                    if_absent,
                }
            }
            OP_REMOVE => {
                let kind = Kind::from_code(byte(&mut pos)?)?;
                let n = take_u32(b, &mut pos)?;
                let mut members = Vec::with_capacity(n.min(b.len() / 4));
                for _ in 0..n {
                    members.push(take_blob(b, &mut pos)?);
                }
                CollectionOp::Remove { kind, members }
            }
            OP_ADD_INT => CollectionOp::AddInt {
                member: take_blob(b, &mut pos)?,
                delta: u64_at(&mut pos)? as i64,
            },
            OP_ADD_FLOAT => {
                let member = take_blob(b, &mut pos)?;
                let delta = f64::from_bits(u64_at(&mut pos)?);
                if !delta.is_finite() {
                    return None;
                }
                CollectionOp::AddFloat { member, delta }
            }
            OP_POP => {
                let kind = Kind::from_code(byte(&mut pos)?)?;
                let end = match byte(&mut pos)? {
                    0 => PopEnd::Random,
                    1 => PopEnd::Min,
                    2 => PopEnd::Max,
                    _ => return None,
                };
                CollectionOp::Pop {
                    kind,
                    count: u64_at(&mut pos)?,
                    end,
                }
            }
            OP_ZADD => {
                let flags = byte(&mut pos)?;
                let n = take_u32(b, &mut pos)?;
                let mut pairs = Vec::with_capacity(n.min(b.len() / 12));
                for _ in 0..n {
                    let m = take_blob(b, &mut pos)?;
                    let score = f64::from_bits(u64_at(&mut pos)?);
                    if score.is_nan() {
                        return None;
                    }
                    pairs.push((m, score));
                }
                CollectionOp::ZAdd { pairs, flags }
            }
            OP_REPLACE => {
                let kind = Kind::from_code(byte(&mut pos)?)?;
                let expire_at_ms = u64_at(&mut pos)?;
                CollectionOp::Replace {
                    kind,
                    pairs: pairs(&mut pos)?,
                    expire_at_ms,
                }
            }
            _ => return None,
        };
        (pos == b.len()).then_some(op)
    }
}

impl CollectionReply {
    /// The encoding carried by `Outcome::Collection`.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            CollectionReply::Count(n) => {
                out.push(0);
                out.extend_from_slice(&n.to_be_bytes());
            }
            CollectionReply::Value(v) => {
                out.push(1);
                out.extend_from_slice(v);
            }
            CollectionReply::Pairs(ps) => {
                out.push(2);
                put_u32(&mut out, ps.len());
                for (m, v) in ps {
                    put_blob(&mut out, m);
                    put_blob(&mut out, v);
                }
            }
            CollectionReply::Nil => out.push(3),
        }
        Bytes::from(out)
    }

    /// Decodes [`encode`](Self::encode)'s output; `None` if damaged.
    pub fn decode(b: &Bytes) -> Option<CollectionReply> {
        let (&tag, _) = b.split_first()?;
        let mut pos = 1usize;
        match tag {
            0 => {
                let raw: [u8; 8] = b.get(1..9)?.try_into().ok()?;
                (b.len() == 9).then_some(CollectionReply::Count(u64::from_be_bytes(raw)))
            }
            1 => Some(CollectionReply::Value(b.slice(1..))),
            2 => {
                let n = take_u32(b, &mut pos)?;
                let mut ps = Vec::with_capacity(n.min(b.len() / 8));
                for _ in 0..n {
                    ps.push((take_blob(b, &mut pos)?, take_blob(b, &mut pos)?));
                }
                (pos == b.len()).then_some(CollectionReply::Pairs(ps))
            }
            3 => (b.len() == 1).then_some(CollectionReply::Nil),
            _ => None,
        }
    }
}
