//! The node-to-node encoding of collection writes and their replies: the
//! body of `Op::Collection` and `Outcome::Collection`
//! (`docs/protocol/node-rpc.md`).

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::collection::{Kind, put_blob, put_u32, take_blob, take_u32};
use super::collection_op::{CollectionOp, CollectionReply, PopEnd};

// The wire form: `kind:u8` then per op a tag and its fields (counts and
// lengths u32be, integers u64be/i64be, floats as IEEE bits u64be).
const OP_PUT: u8 = 0;
const OP_REMOVE: u8 = 1;
const OP_ADD_INT: u8 = 2;
const OP_ADD_FLOAT: u8 = 3;
const OP_POP: u8 = 4;
const OP_REPLACE: u8 = 5;
const OP_ZADD: u8 = 6;
const OP_PUSH: u8 = 7;
const OP_LIST_SET: u8 = 8;
const OP_LIST_INSERT: u8 = 9;
const OP_LIST_REMOVE: u8 = 10;
const OP_LIST_TRIM: u8 = 11;
const OP_EXPIRE: u8 = 12;
const OP_REMOVE_SCORES: u8 = 13;

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
            CollectionOp::Push {
                left,
                values,
                if_exists,
            } => {
                out.extend_from_slice(&[OP_PUSH, u8::from(*left), u8::from(*if_exists)]);
                put_u32(&mut out, values.len());
                for v in values {
                    put_blob(&mut out, v);
                }
            }
            CollectionOp::ListSet { index, value } => {
                out.push(OP_LIST_SET);
                out.extend_from_slice(&index.to_be_bytes());
                put_blob(&mut out, value);
            }
            CollectionOp::ListInsert {
                before,
                pivot,
                value,
            } => {
                out.extend_from_slice(&[OP_LIST_INSERT, u8::from(*before)]);
                put_blob(&mut out, pivot);
                put_blob(&mut out, value);
            }
            CollectionOp::ListRemove { count, value } => {
                out.push(OP_LIST_REMOVE);
                out.extend_from_slice(&count.to_be_bytes());
                put_blob(&mut out, value);
            }
            CollectionOp::ListTrim { start, stop } => {
                out.push(OP_LIST_TRIM);
                out.extend_from_slice(&start.to_be_bytes());
                out.extend_from_slice(&stop.to_be_bytes());
            }
            CollectionOp::RemoveScores {
                min,
                min_exclusive,
                max,
                max_exclusive,
            } => {
                out.push(OP_REMOVE_SCORES);
                out.extend_from_slice(&min.to_bits().to_be_bytes());
                out.push(u8::from(*min_exclusive));
                out.extend_from_slice(&max.to_bits().to_be_bytes());
                out.push(u8::from(*max_exclusive));
            }
            CollectionOp::Expire { kind, expire_at_ms } => {
                out.extend_from_slice(&[OP_EXPIRE, kind.code()]);
                out.extend_from_slice(&expire_at_ms.to_be_bytes());
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
            OP_REMOVE_SCORES => {
                let min = f64::from_bits(u64_at(&mut pos)?);
                let min_exclusive = byte(&mut pos)? != 0;
                let max = f64::from_bits(u64_at(&mut pos)?);
                let max_exclusive = byte(&mut pos)? != 0;
                if min.is_nan() || max.is_nan() {
                    return None;
                }
                CollectionOp::RemoveScores {
                    min,
                    min_exclusive,
                    max,
                    max_exclusive,
                }
            }
            OP_EXPIRE => CollectionOp::Expire {
                kind: Kind::from_code(byte(&mut pos)?)?,
                expire_at_ms: u64_at(&mut pos)?,
            },
            OP_REPLACE => {
                let kind = Kind::from_code(byte(&mut pos)?)?;
                let expire_at_ms = u64_at(&mut pos)?;
                CollectionOp::Replace {
                    kind,
                    pairs: pairs(&mut pos)?,
                    expire_at_ms,
                }
            }
            OP_PUSH => {
                let left = byte(&mut pos)? != 0;
                let if_exists = byte(&mut pos)? != 0;
                let n = take_u32(b, &mut pos)?;
                let mut values = Vec::with_capacity(n.min(b.len() / 4));
                for _ in 0..n {
                    values.push(take_blob(b, &mut pos)?);
                }
                CollectionOp::Push {
                    left,
                    values,
                    if_exists,
                }
            }
            OP_LIST_SET => CollectionOp::ListSet {
                index: u64_at(&mut pos)? as i64,
                value: take_blob(b, &mut pos)?,
            },
            OP_LIST_INSERT => CollectionOp::ListInsert {
                before: byte(&mut pos)? != 0,
                pivot: take_blob(b, &mut pos)?,
                value: take_blob(b, &mut pos)?,
            },
            OP_LIST_REMOVE => CollectionOp::ListRemove {
                count: u64_at(&mut pos)? as i64,
                value: take_blob(b, &mut pos)?,
            },
            OP_LIST_TRIM => CollectionOp::ListTrim {
                start: u64_at(&mut pos)? as i64,
                stop: u64_at(&mut pos)? as i64,
            },
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
