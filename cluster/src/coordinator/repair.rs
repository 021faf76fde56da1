//! Repair rounds between replicas, driven by the coordinator: background
//! anti-entropy, `CLUSTER REPAIR`, and the streaming of ranges when a node
//! joins, leaves or is removed. The Merkle trees, their leaf layout and the
//! statistics are in `crate::antientropy`, which knows nothing of the
//! coordinator.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::Coordinator;
use crate::antientropy::*;
use crate::error::{Error, Result, SyncFailure};
use crate::ring::{NodeId, Ring};
use crate::rpc::{Request, Response};
use crate::version::Siblings;

/// How long a peer may take to send its Merkle tree of ranges this node
/// has just walked in `walked`: the peer walks the same ranges (its
/// replicas of them), so several times that plus a margin, and never less
/// than the replica timeout. A tree of hundreds of megabytes takes seconds
/// to build; bounded by the replica timeout alone (2 s by default), every
/// repair and every rebuild after a crash failed once a node held about
/// ten million collection members.
fn tree_timeout(replica_timeout: Duration, walked: Duration) -> Duration {
    replica_timeout.max(walked.saturating_mul(4).saturating_add(TREE_MARGIN))
}

/// What a peer's tree is given beyond four times this node's walk.
const TREE_MARGIN: Duration = Duration::from_secs(10);

impl Coordinator {
    /// Counters of anti-entropy.
    pub fn anti_entropy_stats(&self) -> &AntiEntropyStats {
        &self.anti_entropy
    }

    /// The Merkle leaves of this node's records of `db` in `ranges`.
    pub(crate) async fn local_leaves(
        &self,
        db: u32,
        ranges: Vec<(u64, u64)>,
        depth: u8,
    ) -> Result<Vec<u64>> {
        let depth = depth.min(MAX_DEPTH);
        let leaves = Arc::new(Mutex::new(vec![0u64; 1usize << depth]));
        let sink = Arc::clone(&leaves);
        self.keyspace
            .for_each_record(db, ranges, None, move |tok, key, record| {
                if let Some(l) = sink.lock().get_mut(leaf_of(tok, depth)) {
                    *l = l.wrapping_add(item_hash(key, &record));
                }
                true
            })
            .await?;
        let out = std::mem::take(&mut *leaves.lock());
        Ok(out)
    }

    /// Compares `db`'s records in `ranges` with `peer` and streams the
    /// differences both ways.
    pub async fn sync_with(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        ranges: Vec<(u64, u64)>,
    ) -> Result<RepairSummary> {
        let mut sum = RepairSummary {
            trees: 1,
            ..RepairSummary::default()
        };
        let walk = Instant::now();
        let local = MerkleTree::from_leaves(self.local_leaves(db, ranges.clone(), DEPTH).await?);
        let req = Request::Tree {
            db,
            depth: DEPTH,
            ranges: ranges.clone(),
        };
        let timeout = tree_timeout(self.timeout(), walk.elapsed());
        let remote = match self.call_within(peer, &req, timeout).await {
            Ok(Response::Tree(leaves)) => MerkleTree::from_leaves(leaves),
            Ok(other) => return Err(Error::unexpected(peer, "tree from", &other)),
            Err(cause) => {
                return Err(Error::Peer {
                    node: peer,
                    what: "tree from",
                    cause,
                });
            }
        };
        self.anti_entropy.trees_compared.inc();
        let differing = local.differing_leaves(&remote);
        sum.ranges_differing = differing.len() as u64;
        self.anti_entropy.ranges_differing.add(sum.ranges_differing);
        for batch in differing.chunks(LEAVES_PER_BATCH) {
            let slices: Vec<(u64, u64)> = batch.iter().map(|&i| leaf_range(i, DEPTH)).collect();
            let scope = intersect(&ranges, &slices);
            let (pulled, pushed) = self.exchange(peer, db, scope).await?;
            sum.keys_pulled += pulled;
            sum.keys_pushed += pushed;
        }
        Ok(sum)
    }

    /// Pulls `peer`'s records in `scope` and merges them here, then merges
    /// back into `peer` every record it lacked or held older.
    async fn exchange(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        scope: Vec<(u64, u64)>,
    ) -> Result<(u64, u64)> {
        let mut theirs: HashMap<Bytes, Siblings> = HashMap::new();
        let mut after = None;
        let mut pulled = 0u64;
        loop {
            let req = Request::Fetch {
                db,
                ranges: scope.clone(),
                after: after.clone(),
                limit: PAGE,
            };
            let recs = match self.call(peer, &req).await {
                Ok(Response::Records(r)) => r,
                Ok(other) => return Err(Error::unexpected(peer, "fetch from", &other)),
                Err(cause) => {
                    return Err(Error::Peer {
                        node: peer,
                        what: "fetch from",
                        cause,
                    });
                }
            };
            let full = recs.len() as u32 >= PAGE;
            for (tok, key, bytes) in recs {
                let rec = Siblings::decode(&bytes, 0).map_err(|e| Error::BadReply {
                    node: peer,
                    what: "fetch from",
                    problem: format!("bad record: {e}"),
                })?;
                let (changed, _) = self.merge_local(db, &key, &rec).await?;
                if changed {
                    pulled += 1;
                    self.anti_entropy.keys_repaired.inc();
                }
                after = Some((tok, key.clone()));
                theirs.insert(key, rec);
            }
            if !full {
                break;
            }
        }
        let mut pushed = 0u64;
        let mut after = None;
        loop {
            let page = self
                .keyspace
                .range_page(db, scope.clone(), after.clone(), PAGE as usize)
                .await?;
            let full = page.len() >= PAGE as usize;
            for r in page {
                after = Some((r.token, r.key.clone()));
                if theirs.get(&r.key) == Some(&r.record) {
                    continue;
                }
                let req = Request::Merge {
                    db,
                    key: r.key,
                    record: r.record.encode(),
                };
                match self.call(peer, &req).await {
                    Ok(Response::Ack) => {
                        pushed += 1;
                        self.anti_entropy.keys_repaired.inc();
                    }
                    Ok(other) => return Err(Error::unexpected(peer, "merge into", &other)),
                    Err(cause) => {
                        return Err(Error::Peer {
                            node: peer,
                            what: "merge into",
                            cause,
                        });
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok((pulled, pushed))
    }

    /// Syncs every database with `peer` over `ranges`.
    async fn sync_all_dbs(
        self: &Arc<Self>,
        peer: NodeId,
        ranges: Vec<(u64, u64)>,
    ) -> Result<RepairSummary> {
        let mut sum = RepairSummary {
            peers: 1,
            ..RepairSummary::default()
        };
        for db in 0..self.keyspace.databases() {
            sum.add(self.sync_with(peer, db, ranges.clone()).await?);
        }
        Ok(sum)
    }

    /// The serving ring, this node's ranges on it, and the other members
    /// that share some of them (only those judged up, if `only_up`): what
    /// an anti-entropy or rebuild round covers.
    pub(crate) fn round_targets(&self, only_up: bool) -> (Arc<Ring>, Vec<(u64, u64)>, Vec<NodeId>) {
        let ring = self.members.ring();
        let n = self.effective_replicas();
        let mine = ring.replica_ranges(self.me, n);
        let peers: Vec<NodeId> = ring
            .nodes()
            .iter()
            .copied()
            .filter(|&p| p != self.me && (!only_up || self.members.is_up(p)))
            .filter(|&p| !intersect(&mine, &ring.replica_ranges(p, n)).is_empty())
            .collect();
        (ring, mine, peers)
    }

    fn count_round(&self) {
        self.anti_entropy.rounds.inc();
        self.anti_entropy
            .last_round_ms
            .store(self.keyspace.now_ms(), Ordering::Relaxed);
    }

    /// One anti-entropy round: with every member up that shares ranges
    /// with this node on the serving ring. Peers that fail are skipped and
    /// reported in the log; the round goes on with the others.
    pub async fn anti_entropy_round(self: &Arc<Self>) -> Result<RepairSummary> {
        let (ring, mine, peers) = self.round_targets(true);
        let summary = self.sync_peers(&mine, &ring, &peers).await;
        self.count_round();
        summary
    }

    /// `CLUSTER REPAIR`: an anti-entropy round now; unlike the background
    /// round, a peer that fails makes it an error naming each such peer and
    /// why (what the others repaired stays done).
    pub async fn repair_round(self: &Arc<Self>) -> Result<RepairSummary> {
        let (ring, mine, peers) = self.round_targets(true);
        let (summary, failed) = self.sync_each_peer(&mine, &ring, &peers).await;
        self.count_round();
        if failed.is_empty() {
            return Ok(summary);
        }
        Err(Error::Sync(SyncFailure::Repair {
            failed,
            succeeded: summary.peers,
        }))
    }

    /// Syncs `my_ranges` with each of `peers` over the ranges it holds on
    /// `their_ring`. Peers that fail are skipped and logged; an error only
    /// if every peer tried failed.
    pub(crate) async fn sync_peers(
        self: &Arc<Self>,
        my_ranges: &[(u64, u64)],
        their_ring: &Ring,
        peers: &[NodeId],
    ) -> Result<RepairSummary> {
        let (sum, failed) = self.sync_each_peer(my_ranges, their_ring, peers).await;
        if !failed.is_empty() && sum.peers == 0 {
            return Err(Error::Sync(SyncFailure::AllPeers(failed.len())));
        }
        Ok(sum)
    }

    /// Syncs `my_ranges` with each of `peers` over the ranges it holds on
    /// `their_ring`; returns the summary of those that succeeded and the
    /// error of each that failed.
    pub(crate) async fn sync_each_peer(
        self: &Arc<Self>,
        my_ranges: &[(u64, u64)],
        their_ring: &Ring,
        peers: &[NodeId],
    ) -> (RepairSummary, Vec<(NodeId, Error)>) {
        let n = self
            .settings
            .read()
            .replicas
            .min(their_ring.nodes().len())
            .max(1);
        let mut sum = RepairSummary::default();
        let mut failed = Vec::new();
        for &peer in peers {
            let shared = intersect(my_ranges, &their_ring.replica_ranges(peer, n));
            if shared.is_empty() {
                continue;
            }
            match self.sync_all_dbs(peer, shared).await {
                Ok(s) => sum.add(s),
                Err(e) => {
                    tracing::warn!(peer = format!("{peer:016x}"), error = %e, "anti-entropy with a peer failed");
                    failed.push((peer, e));
                }
            }
        }
        (sum, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_tree_gets_several_times_this_nodes_walk() {
        let replica = Duration::from_secs(2);
        // A small walk: the margin, well past the replica timeout.
        assert_eq!(
            tree_timeout(replica, Duration::from_millis(5)),
            Duration::from_millis(10_020)
        );
        // A walk of 12 s (about 460 MB a node): about a minute.
        assert_eq!(
            tree_timeout(replica, Duration::from_secs(12)),
            Duration::from_secs(58)
        );
        // A replica timeout raised past that still rules.
        assert_eq!(
            tree_timeout(Duration::from_secs(120), Duration::from_secs(1)),
            Duration::from_secs(120)
        );
    }
}
