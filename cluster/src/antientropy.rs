//! Anti-entropy: Merkle trees over token ranges, compared between two
//! nodes, and the differing keys streamed both ways and merged by vector
//! clock.
//!
//! For a pair of nodes and a database, the tree covers the records whose
//! tokens lie in the ranges both replicate. Its leaves split the token space
//! into `2^depth` equal slices; a leaf is the wrapping sum of
//! `xxh3(key_len, key, record)` over its records (order-free, so each side
//! builds it in one pass), and each inner node hashes its two children. The
//! asking node fetches the peer's leaf level (TREE request), hashes it up
//! the same way and walks both trees from the root to the leaves that
//! differ. It then pulls the peer's records in those slices (FETCH, paged),
//! merges them into its own, and merges back into the peer (MERGE) every
//! record the peer lacked or held older.
//!
//! The same exchange serves three callers:
//! - the background rounds (`anti-entropy-interval-ms`) and `CLUSTER
//!   REPAIR`: with every replica this node shares ranges with;
//! - a joining (or wiped and replaced) node: with the current owners of
//!   the ranges it takes over, before it serves;
//! - a leaving node: with the nodes that take over its ranges, before it
//!   leaves.

use std::sync::atomic::AtomicU64;

use crate::keyspace::ranges::token_intervals;
use crate::stats::Counter;
use crate::version::Siblings;

/// log2 of the leaves per tree: 1024 slices of the token space.
pub const DEPTH: u8 = 10;
/// The deepest tree a TREE request may ask for (65536 leaves).
pub const MAX_DEPTH: u8 = 16;
/// Differing leaves whose records are streamed in one batch.
pub(crate) const LEAVES_PER_BATCH: usize = 64;
/// Records per FETCH page.
pub(crate) const PAGE: u32 = 512;

/// Anti-entropy counters for metrics and INFO.
#[derive(Default, Debug)]
pub struct AntiEntropyStats {
    /// Rounds run (background, CLUSTER REPAIR, join, leave).
    pub rounds: Counter,
    /// Trees compared (one per peer and database with shared ranges).
    pub trees_compared: Counter,
    /// Leaves (token slices) found different.
    pub ranges_differing: Counter,
    /// Keys repaired, here or on a peer.
    pub keys_repaired: Counter,
    /// Unix ms of the last completed round (0: none yet).
    pub last_round_ms: AtomicU64,
}

/// What one exchange or round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairSummary {
    /// Peers exchanged with.
    pub peers: usize,
    /// Trees compared.
    pub trees: u64,
    /// Leaves that differed.
    pub ranges_differing: u64,
    /// Keys this node took from peers.
    pub keys_pulled: u64,
    /// Keys this node gave to peers.
    pub keys_pushed: u64,
}

impl RepairSummary {
    pub(crate) fn add(&mut self, o: RepairSummary) {
        self.peers += o.peers;
        self.trees += o.trees;
        self.ranges_differing += o.ranges_differing;
        self.keys_pulled += o.keys_pulled;
        self.keys_pushed += o.keys_pushed;
    }
}

/// A Merkle tree over `2^depth` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves, the last level is the root alone.
    levels: Vec<Vec<u64>>,
}

impl MerkleTree {
    /// Builds the tree above `leaves` (a power of two of them).
    pub fn from_leaves(leaves: Vec<u64>) -> MerkleTree {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = below
                .chunks(2)
                .map(|pair| {
                    let mut b = [0u8; 16];
                    b[..8].copy_from_slice(&pair[0].to_le_bytes());
                    b[8..].copy_from_slice(&pair.get(1).copied().unwrap_or(0).to_le_bytes());
                    xxhash_rust::xxh3::xxh3_64(&b)
                })
                .collect();
            levels.push(up);
        }
        MerkleTree { levels }
    }

    /// The root hash.
    #[cfg(test)]
    pub fn root(&self) -> u64 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(0)
    }

    /// Indexes of the leaves that differ from `other`'s, found top-down
    /// (subtrees with equal hashes are not descended). Trees of different
    /// shapes differ everywhere.
    pub fn differing_leaves(&self, other: &MerkleTree) -> Vec<usize> {
        if self.levels.len() != other.levels.len()
            || self.levels.first().map(Vec::len) != other.levels.first().map(Vec::len)
        {
            return (0..self.levels.first().map_or(0, Vec::len)).collect();
        }
        let mut frontier = vec![0usize];
        for level in (0..self.levels.len()).rev() {
            let (a, b) = (&self.levels[level], &other.levels[level]);
            let differing: Vec<usize> = frontier
                .into_iter()
                .filter(|&i| a.get(i) != b.get(i))
                .collect();
            if level == 0 {
                return differing;
            }
            let width = self.levels[level - 1].len();
            frontier = differing
                .into_iter()
                .flat_map(|i| [2 * i, 2 * i + 1])
                .filter(|&i| i < width)
                .collect();
        }
        Vec::new()
    }
}

/// The hash a record contributes to its leaf.
pub fn item_hash(key: &[u8], record: &Siblings) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(&record.encode());
    h.digest()
}

/// The leaf of `token` in a tree of `2^depth` leaves.
pub fn leaf_of(token: u64, depth: u8) -> usize {
    match depth.min(MAX_DEPTH) {
        0 => 0,
        d => (token >> (64 - u32::from(d))) as usize,
    }
}

/// Ring range `(start, end]` of leaf `i`.
pub fn leaf_range(i: usize, depth: u8) -> (u64, u64) {
    let shift = 64 - u32::from(depth.clamp(1, MAX_DEPTH));
    let lo = (i as u64) << shift;
    let hi = lo | ((1u64 << shift) - 1);
    to_ring_range(lo, hi)
}

/// Inclusive token interval `[lo, hi]` as a ring range.
fn to_ring_range(lo: u64, hi: u64) -> (u64, u64) {
    match (lo, hi) {
        (0, u64::MAX) => (0, 0),
        (0, hi) => (u64::MAX, hi),
        (lo, hi) => (lo - 1, hi),
    }
}

/// The ring ranges lying in both `a` and `b`.
pub fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let ia: Vec<(u64, u64)> = a.iter().copied().flat_map(token_intervals).collect();
    let ib: Vec<(u64, u64)> = b.iter().copied().flat_map(token_intervals).collect();
    let mut out = Vec::new();
    for &(alo, ahi) in &ia {
        for &(blo, bhi) in &ib {
            let (lo, hi) = (alo.max(blo), ahi.min(bhi));
            if lo <= hi {
                out.push(to_ring_range(lo, hi));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_trees_have_no_differences_and_one_change_is_found() {
        let leaves: Vec<u64> = (0..1024u64).map(|i| i * 7).collect();
        let a = MerkleTree::from_leaves(leaves.clone());
        let mut changed = leaves;
        changed[517] ^= 1;
        changed[3] = 99;
        let b = MerkleTree::from_leaves(changed);
        assert!(a.differing_leaves(&a.clone()).is_empty());
        assert_ne!(a.root(), b.root());
        assert_eq!(a.differing_leaves(&b), vec![3, 517]);
    }

    #[test]
    fn leaves_partition_the_token_space() {
        for i in [0usize, 1, 511, 1023] {
            let (start, end) = leaf_range(i, DEPTH);
            assert_eq!(leaf_of(end, DEPTH), i);
            assert_eq!(leaf_of(start.wrapping_add(1), DEPTH), i);
        }
        assert_eq!(leaf_range(0, DEPTH).0, u64::MAX);
        assert_eq!(leaf_range(1023, DEPTH).1, u64::MAX);
    }

    #[test]
    fn intersections_of_plain_and_wrapping_ranges() {
        assert_eq!(intersect(&[(10, 20)], &[(15, 30)]), vec![(15, 20)]);
        assert_eq!(intersect(&[(10, 20)], &[(20, 30)]), vec![]);
        // (100, 5] wraps; with (0, 0] (the whole ring) it is itself.
        assert_eq!(
            intersect(&[(100, 5)], &[(0, 0)]),
            vec![(100, u64::MAX), (u64::MAX, 5)]
        );
        assert_eq!(
            intersect(&[(100, 5)], &[(2, 200)]),
            vec![(100, 200), (2, 5)]
        );
    }
}
