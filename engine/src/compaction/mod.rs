//! Compaction: a pure decision (`strategy::pick`: tree shape in, task out)
//! plus a runner on background threads that merges the task's inputs and
//! installs the outputs.
//!
//! - `strategy`: the `Task` type, shared helpers, TTL/tombstone picking, dispatch.
//! - `leveled`: L0 trigger, level size ratio, compact-pointer file picking.
//! - `tiered`: size buckets of sorted runs, min/max thresholds.
//! - `runner`: the merge (what may be dropped) and the install.
//! - `stall`: write pressure from the tree's shape.

pub(crate) mod leveled;
pub(crate) mod runner;
pub(crate) mod stall;
pub(crate) mod strategy;
pub(crate) mod tiered;

use std::collections::HashSet;

use bytes::Bytes;

use crate::version::NUM_LEVELS;

/// The visibility stripe of `seq`: how many live snapshots are below it.
/// Two versions of a key in the same stripe are seen by exactly the same
/// snapshots, so only the newer one needs to exist.
pub(crate) fn stripe(snapshots: &[u64], seq: u64) -> usize {
    snapshots.partition_point(|&s| s < seq)
}

/// Compaction bookkeeping, guarded by the structure lock.
#[derive(Debug, Default)]
pub(crate) struct CompactionState {
    /// Files that are inputs of a running compaction.
    pub(crate) busy: HashSet<u64>,
    /// Per level, the largest key of the last file compacted out of it
    /// (round-robin picking).
    pub(crate) pointers: [Option<Bytes>; NUM_LEVELS],
    /// Compactions running now.
    pub(crate) running: usize,
    /// A manual `compact_all` wants the tree to itself.
    pub(crate) manual: bool,
    /// Outputs of TTL compactions that could drop nothing: not picked for TTL again.
    pub(crate) ttl_exhausted: HashSet<u64>,
}
