//! ringkv's cluster layer: where a key lives and how it is read and written.
//!
//! The command layer talks to it through this root only:
//! - [`Keyspace`] (the local store: databases, locks, scans) and
//!   [`Coordinator`] (quorum reads and writes across the ring, membership,
//!   repair), started by [`start`] and changed by [`join`], [`leave`],
//!   [`remove`] and [`Coordinator::reconfigure`];
//! - the change vocabulary: a [`Mutation`] of one key, what it
//!   [`Applied`], a VSET [`CausalContext`], VGET's [`Versions`];
//! - [`Error`], [`Ack`] (durability to await), statistics types.
//!
//! [`wire`] exposes the node-to-node protocol to what must speak it from
//! outside (tests acting as a peer, fuzz targets). Everything else is
//! private, laid out by concern:
//! - `token`, `namespace`, `locks`, `keyspace`: the engine key layout
//!   `[namespace][token][key]`, one namespace per Redis database, striped
//!   key locks, the local store;
//! - `version`: vector clocks, siblings and the counter CRDT, record
//!   format 2;
//! - `ring`, `failure`, `membership`: virtual-node ring, phi-accrual
//!   failure detector, the gossiped member table;
//! - `rpc`: frames, messages, the peer connection pool and server;
//! - `coordinator`: plans, quorum reads and writes, read repair, serving
//!   peers' requests; `hints`: hinted handoff; `antientropy`: Merkle
//!   trees and streaming between replicas;
//! - `node`, `port`, `seeds`: start-up, joining, the gossip loop, leaving,
//!   the cluster port; `actor`, `rebuild`: the identity versions are
//!   stamped with and rebuilding a node that may have lost data.
//!
//! (`fuzzing`, hidden and not API, holds the fuzz targets of the decoders
//! of untrusted bytes, shared by `fuzz/` and the smoke tests.)
//!
//! A node with no peers is a cluster of one: every key is owned locally.
//! This crate depends on `engine`, `conf` and `number`, never on `resp` or
//! `server`.

mod actor;
mod antientropy;
mod codec;
mod coordinator;
mod cpu_bound;
mod error;
mod failure;
#[doc(hidden)]
pub mod fuzzing;
mod hints;
mod keyspace;
mod locks;
mod member_table;
mod membership;
mod mutation;
mod namespace;
mod node;
mod port;
mod rebuild;
mod ring;
mod rpc;
mod seeds;
mod stats;
mod timer;
mod token;
mod version;
pub mod wire;

pub use antientropy::RepairSummary;
pub use coordinator::{ChangeObserver, ClusterScanPage, Coordinator, INTEREST_TTL, MessageSink};
pub use cpu_bound::heavy_steps;
pub use error::{Error, PortError, Refusal, Result, SyncFailure};
pub use keyspace::{
    Ack, Entry, Keyspace, LexBound, LexWindow, Need, PartialRead, ScanPage, ScoreWindow, ValueType,
    Write, random_picks,
};
pub use locks::{KeyHold, holding_scope};
pub use mutation::{Applied, CausalContext, Mutation, Versions, swap};
pub use node::{join, leave, remove, start};
pub use ringkv_conf::Consistency;
pub use stats::{ClusterStats, LatencyHistogram, PerLevel};
pub use version::collection::{cmp_scores, score_text};
pub use version::list_op::{normalize as list_index, trim_range as list_trim_range};
pub use version::{CollectionOp, CollectionReply, Kind, Members, PopEnd, zadd};
