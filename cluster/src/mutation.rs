//! The vocabulary the command layer changes keys with. A command says what
//! it wants done to one key ([`Mutation`]); the coordinator turns that into
//! the node-to-node operation its replicas apply (`rpc::Op`, whose wire
//! encoding stays inside this crate) and reports what it produced
//! ([`Applied`]). New data types add variants here, not wire types in the
//! server.

use bytes::Bytes;

use crate::rpc::{Op, Outcome};
use crate::version::{CollectionOp, CollectionReply, VectorClock};

/// A change to one key.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// Store `value` (the SET family). It supersedes what `context` covers
    /// (VSET, see [`CausalContext`]), or everything the replicas hold.
    Set {
        /// The value.
        value: Bytes,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
        /// The causal context the writer read, if it passed one.
        context: Option<CausalContext>,
    },
    /// Delete the key (a versioned tombstone).
    Delete,
    /// EXPIRE and its family, PERSIST, GETEX on a string: the string written
    /// again with this expiry (0: none) as the replica applying the write
    /// holds it, so an increment applied there meanwhile is kept.
    Expire {
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
    /// A write decided by what the key holds: GETDEL (`value` None), GETSET,
    /// SET with NX, XX, GET or KEEPTTL. The replica that applies it reads
    /// the key under its record lock, stores `value` (or a tombstone) if
    /// the [`swap`] flags allow, and answers what it read
    /// ([`Applied::Swapped`]), so no write applied there in between is
    /// replaced unseen, and two SET NX through different nodes leave one
    /// winner (as long as they reach the same replica first).
    Swap {
        /// The new value; `None` deletes.
        value: Option<Bytes>,
        /// Absolute expiry of the new value, unix ms (0: none).
        expire_at_ms: u64,
        /// [`swap`] bits.
        flags: u8,
    },
    /// Add to the key's integer counter (INCR, INCRBY, DECR, DECRBY).
    IncrBy(i64),
    /// Add to the key's float counter (INCRBYFLOAT).
    IncrByFloat(f64),
    /// Add elements to the key's HyperLogLog (PFADD).
    PfAdd(Vec<Bytes>),
    /// Raise the key's HyperLogLog to the union of others (PFMERGE):
    /// `registers` one byte per register, `dense` when a source was dense.
    PfMerge {
        /// The union's registers ([`ringkv_hll::REGISTERS`] bytes).
        registers: Bytes,
        /// Whether some source was dense.
        dense: bool,
    },
    /// Change a hash or set.
    Collection(CollectionOp),
}

/// What a [`Mutation`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The change was made.
    Done,
    /// A counter changed; its new value as Redis prints it.
    Counter(Bytes),
    /// PFADD: whether the HyperLogLog changed.
    Changed(bool),
    /// A hash or set change's reply.
    Collection(CollectionReply),
    /// A swap: the string the key held (`None`: missing, or not a string
    /// when the swap does not ask for it), and whether the write was made.
    Swapped {
        /// The string read.
        previous: Option<Bytes>,
        /// Whether the write was made (NX and XX may refuse it).
        applied: bool,
    },
}

/// Flags of [`Mutation::Swap`] (the bits its operation carries).
pub use crate::rpc::swap;

/// Every live version of a key and the context covering them all (VGET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    /// The causal context, as VSET takes it back.
    pub context: String,
    /// The live values (siblings that are neither deleted nor expired).
    pub values: Vec<Bytes>,
}

/// A causal context as VGET returns it and VSET takes it: the version the
/// writer saw, checked when parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CausalContext(String);

impl CausalContext {
    /// Parses a context string; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<CausalContext, String> {
        VectorClock::from_context_string(text).map_err(|e| e.to_string())?;
        Ok(CausalContext(text.to_string()))
    }
}

impl Mutation {
    /// The replicated operation that carries this change.
    pub(crate) fn into_op(self) -> Op {
        match self {
            Mutation::Set {
                value,
                expire_at_ms,
                context,
            } => Op::Put {
                value,
                expire_at_ms,
                context: context.map(|c| c.0),
            },
            Mutation::Delete => Op::Delete,
            Mutation::Expire { expire_at_ms } => Op::Expire { expire_at_ms },
            Mutation::Swap {
                value,
                expire_at_ms,
                flags,
            } => Op::Swap {
                value,
                expire_at_ms,
                flags,
            },
            Mutation::IncrBy(n) => Op::AddInt(n),
            Mutation::IncrByFloat(f) => Op::AddFloat(f),
            Mutation::PfAdd(elements) => Op::PfAdd(elements),
            Mutation::PfMerge { registers, dense } => Op::PfMerge { registers, dense },
            Mutation::Collection(op) => Op::Collection(op),
        }
    }
}

impl Applied {
    /// What an applied operation's outcome means to the caller (a refused
    /// operation was turned into an error before).
    pub(crate) fn from_outcome(o: Outcome) -> Applied {
        match o {
            Outcome::Counter(v) => Applied::Counter(v),
            Outcome::Changed(c) => Applied::Changed(c),
            Outcome::Collection(r) => Applied::Collection(r),
            Outcome::Swapped { previous, applied } => Applied::Swapped { previous, applied },
            Outcome::Done
            | Outcome::Refused(_)
            | Outcome::NotHll
            | Outcome::CorruptHll
            | Outcome::WrongType => Applied::Done,
        }
    }
}
