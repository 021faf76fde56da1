//! ringkv's cluster layer: where a key lives and how it is read and written.
//!
//! Layout:
//! - [`token`]: the ring token of a key and the engine key layout
//!   `[namespace][token][key]`.
//! - [`record`]: the stored value format.
//! - [`version`]: vector clocks, siblings and the counter CRDT of versioned
//!   values, and their record format 2.
//! - [`namespace`]: one namespace per Redis database; O(1) FLUSHDB.
//! - [`locks`]: striped key locks making read-modify-write commands atomic.
//! - [`keyspace`]: the API the command layer uses.
//! - [`ring`]: the consistent-hash ring of virtual nodes, preference lists
//!   and token allocation for joining nodes.
//! - [`failure`]: the phi-accrual failure detector judging peers up or down.
//! - [`rpc`]: the node-to-node protocol (frames, messages, pool, server).
//! - [`membership`]: the gossiped member table and up/down verdicts.
//! - [`coordinator`]: quorum reads and writes, read repair, cluster scans.
//! - [`hints`]: hinted handoff: writes kept for down replicas, replayed.
//! - [`antientropy`]: Merkle-tree comparison and streaming between replicas
//!   (background repair, CLUSTER REPAIR, join and leave streaming).
//! - [`node`]: start-up, joining through seeds, the gossip loop, leaving;
//!   [`port`]: when the cluster port listens, and protected mode on it;
//!   [`seeds`]: learning the ring from seeds, and why a seed was refused.
//! - [`actor`]: the identity versions are stamped with, fresh whenever
//!   this node may have lost data; [`rebuild`]: syncing such a node with
//!   its peers before it applies writes or answers reads again.
//!
//! (`fuzzing`, hidden and not API, holds the fuzz targets of the decoders
//! of untrusted bytes, shared by `fuzz/` and the smoke tests.)
//!
//! A node with no peers is a cluster of one: every key is owned locally.
//! This crate depends on `engine` and `conf`, never on `resp` or `server`.

pub mod actor;
pub mod antientropy;
pub mod coordinator;
pub mod error;
pub mod failure;
#[doc(hidden)]
pub mod fuzzing;
pub mod hints;
pub mod keyspace;
pub mod locks;
pub mod membership;
pub mod namespace;
pub mod node;
pub mod port;
pub mod rebuild;
pub mod record;
pub mod ring;
pub mod rpc;
pub mod seeds;
pub mod timer;
pub mod token;
pub mod version;

pub use coordinator::{ClusterScanPage, Coordinator};
pub use error::{Error, Result};
pub use keyspace::{Ack, Entry, Keyspace, ScanPage, Write};
pub use ringkv_conf::Consistency;
