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
//!
//! A node with no peers is a cluster of one: every key is owned locally.
//! This crate depends on `engine` and `conf`, never on `resp` or `server`.

pub mod error;
pub mod keyspace;
pub mod locks;
pub mod namespace;
pub mod record;
pub mod token;
pub mod version;

pub use error::{Error, Result};
pub use keyspace::{Ack, Entry, Keyspace, ScanPage, Write};
