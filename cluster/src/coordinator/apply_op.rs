//! Applying one replicated operation ([`Op`]) to a key's record on the
//! replica that takes it, and what it answers ([`Outcome`]).

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::mutation::swap;
use crate::rpc::{Op, Outcome};
use crate::version::counter::CounterError;
use crate::version::{Actor, CounterValue, OpError, Payload, Siblings, VectorClock, View};

/// Applies one write to a record as actor `me` at `now`.
pub(super) fn apply_op(
    sibs: &mut Siblings,
    op: Op,
    context: Option<&VectorClock>,
    me: Actor,
    now: u64,
) -> Outcome {
    match op {
        Op::Put {
            value,
            expire_at_ms,
            ..
        } => {
            sibs.write(context, me, now, Payload::Value(value), expire_at_ms);
            Outcome::Done
        }
        Op::Delete => {
            sibs.write(None, me, now, Payload::Tombstone, 0);
            Outcome::Done
        }
        Op::AddInt(d) => counter_outcome(sibs.add_int(me, now, d)),
        Op::AddFloat(d) => counter_outcome(sibs.add_float(me, now, d)),
        Op::PfAdd(elements) => hll_outcome(sibs.pf_add(me, now, &elements).map(Outcome::Changed)),
        Op::Collection(op) => match sibs.apply_collection(me, now, &op) {
            Ok(reply) => Outcome::Collection(reply),
            Err(OpError::WrongType) => Outcome::WrongType,
            Err(OpError::Refused(text)) => Outcome::Refused(text),
        },
        Op::PfMerge { registers, dense } => hll_outcome(
            sibs.pf_merge(me, now, &registers, dense)
                .map(|()| Outcome::Done),
        ),
        Op::Swap {
            value,
            expire_at_ms,
            flags,
        } => swap(sibs, value, expire_at_ms, flags, me, now),
        Op::Expire { expire_at_ms } => match sibs.set_string_expiry(me, now, expire_at_ms) {
            Some(_) => Outcome::Done,
            None => Outcome::WrongType,
        },
    }
}

/// [`Op::Swap`]: what the record holds read (a string as GET reads it: a
/// counter's value, a HyperLogLog's bytes) and, if the [`swap`] flags
/// allow, replaced by `value` or a tombstone, in one step under the record
/// lock; nothing written when there is nothing to delete. With
/// [`swap::GET`] a hash, set, sorted set or list is refused; without it,
/// it is replaced as SET replaces it.
fn swap(
    sibs: &mut Siblings,
    value: Option<Bytes>,
    expire_at_ms: u64,
    flags: u8,
    me: Actor,
    now: u64,
) -> Outcome {
    let (exists, previous, expiry) = match sibs.view(now) {
        View::Absent => (false, None, 0),
        View::Plain(s) => (
            true,
            crate::version::payload_bytes(&s.payload),
            s.expire_at_ms,
        ),
        View::Collection { expire_at_ms, .. } => {
            if flags & swap::GET != 0 {
                return Outcome::WrongType;
            }
            (true, None, expire_at_ms)
        }
    };
    let (nx, xx) = (flags & swap::NX != 0, flags & swap::XX != 0);
    let applied = if exists { !nx } else { !xx };
    if applied {
        let expire_at_ms = if flags & swap::KEEPTTL != 0 {
            expiry
        } else {
            expire_at_ms
        };
        match value {
            Some(v) => {
                sibs.write(None, me, now, Payload::Value(v), expire_at_ms);
            }
            None if exists => {
                sibs.write(None, me, now, Payload::Tombstone, 0);
            }
            None => {}
        }
    }
    Outcome::Swapped { previous, applied }
}

fn hll_outcome(r: std::result::Result<Outcome, ringkv_hll::Invalid>) -> Outcome {
    match r {
        Ok(o) => o,
        Err(ringkv_hll::Invalid::NotHll) => Outcome::NotHll,
        Err(ringkv_hll::Invalid::Corrupt) => Outcome::CorruptHll,
        Err(ringkv_hll::Invalid::WrongType) => Outcome::WrongType,
    }
}

/// The causal context a VSET carries, decoded (its CRC catches typos).
pub(super) fn op_context(op: &Op) -> Result<Option<VectorClock>> {
    match op {
        Op::Put {
            context: Some(c), ..
        } => VectorClock::from_context_string(c)
            .map(Some)
            .map_err(|e| Error::BadContext(e.to_string())),
        _ => Ok(None),
    }
}

fn counter_outcome(r: std::result::Result<CounterValue, CounterError>) -> Outcome {
    match r {
        Ok(v) => Outcome::Counter(v.to_bytes()),
        Err(CounterError::WrongType) => Outcome::WrongType,
        Err(e) => Outcome::Refused(e.to_string()),
    }
}

pub(super) fn refused_to_error(o: Outcome) -> Result<Outcome> {
    match o {
        Outcome::Refused(text) => Err(Error::NotApplied(text)),
        Outcome::NotHll => Err(Error::NotHll),
        Outcome::WrongType => Err(Error::WrongType),
        Outcome::CorruptHll => Err(Error::CorruptHll),
        other => Ok(other),
    }
}
