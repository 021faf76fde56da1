//! Versioned values, Riak style: vector clocks, siblings and a counter CRDT.
//!
//! Pure data structures, no I/O. A replica coordinating a write increments
//! its own actor (node id) in the key's [`VectorClock`]; [`Siblings`] keeps
//! every write no other write has seen, so concurrent writes on different
//! replicas are never lost silently, and reconciles replicas with
//! [`Siblings::merge`] (commutative, associative, idempotent). Plain reads
//! resolve siblings by last-write-wins ([`Siblings::live`]); the INCR family
//! uses a [`Counter`] CRDT so concurrent increments add up.
//!
//! - [`clock`]: [`Dot`], [`VectorClock`], pruning and client contexts.
//! - [`counter`]: [`Counter`], its value typing and Redis number texts.
//! - [`siblings`]: [`Payload`], [`Sibling`], [`Siblings`], [`View`].
//! - [`collection`]: hashes and sets as observed-remove maps;
//!   [`collection_op`]: their writes; lists are the same map keyed by
//!   [`list_position`]s; [`member_history`]: what removing a counter
//!   member had seen of it.
//! - [`codec`]: record format 2 (and the format 1 reader), the causal
//!   context string; documented in `docs/formats/record.md`.

pub mod clock;
pub mod codec;
pub mod collection;
pub mod collection_op;
mod collection_wire;
pub mod counter;
pub mod counter_history;
pub mod list_op;
pub mod list_position;
pub mod member_history;
mod reconcile;
pub mod siblings;
mod string_expiry;

#[cfg(test)]
mod collection_tests;
#[cfg(test)]
mod counter_history_tests;
#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod member_history_tests;
#[cfg(test)]
mod member_records_model;
#[cfg(test)]
pub(crate) mod tests;

pub use clock::VectorClock;
pub use collection::{Kind, Members};
pub use collection_op::{CollectionOp, CollectionReply, OpError, PopEnd, zadd};
pub use counter::CounterValue;
pub use counter_history::History;
pub use member_history::MemberHistories;
pub use siblings::{Payload, Siblings, View, payload_bytes};
#[cfg(test)]
pub use {
    clock::Dot,
    codec::DecodeError,
    counter::{Counter, CounterError},
    siblings::Sibling,
};

/// An actor of a vector clock: the node id of the coordinating replica.
pub type Actor = u64;

/// Most dots a write leaves in its clock (Riak's `small_vclock` =
/// `big_vclock`). Above it, dots idle for [`YOUNG_CLOCK_MS`] are pruned.
pub const MAX_CLOCK_ENTRIES: usize = 32;

/// Dots younger than this (one day) are never pruned, however long the
/// clock (Riak's `young_vclock`).
pub const YOUNG_CLOCK_MS: u64 = 24 * 60 * 60 * 1000;

/// Seed of the hash naming a counter's base ([`base_id`]). Stored in
/// records: never change it, or counters of one base stop joining.
pub const BASE_ID_SEED: u64 = 0x7269_6e67_6b76_0002; // "ringkv" + 2
