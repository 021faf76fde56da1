//! Rebuilding a node that may have lost acknowledged data.
//!
//! A node that starts with a fresh actor ([`crate::actor`]) after an
//! unclean stop, or that replaces a lost member with an empty directory,
//! may hold less than it (or the member it replaces) once acknowledged. Until it has synced every range it replicates with
//! every other replica of that range (Merkle anti-entropy, pulling what it
//! lacks), it is *rebuilding*: it coordinates requests but neither applies
//! a write to its own record nor counts its own record toward a read (see
//! [`crate::coordinator`]), and refuses other coordinators' reads and
//! applies, so no reply is built on the data it lost. It still merges the
//! records other replicas send it, so it misses no new write.
//!
//! A round needs every replica it shares ranges with up and answering; it
//! is retried every [`RETRY`] until one succeeds. A joining node rebuilds
//! once its streaming has finished and it is `normal`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::antientropy::RepairSummary;
use crate::coordinator::Coordinator;
use crate::error::{Error, Result, SyncFailure};
use crate::membership::Status;
use crate::ring::NodeId;

/// Time between rebuild attempts.
pub const RETRY: Duration = Duration::from_millis(500);

impl Coordinator {
    /// Syncs this node's ranges with every replica it shares them with on
    /// the serving ring; an error names each peer that was down or failed.
    pub(crate) async fn rebuild_round(self: &Arc<Self>) -> Result<RepairSummary> {
        let (ring, mine, peers) = self.round_targets(false);
        let down: Vec<NodeId> = peers
            .iter()
            .copied()
            .filter(|&p| !self.members.is_up(p))
            .collect();
        if !down.is_empty() {
            return Err(Error::Sync(SyncFailure::ReplicasDown(down)));
        }
        let (summary, failed) = self.sync_each_peer(&mine, &ring, &peers).await;
        if !failed.is_empty() {
            return Err(Error::Sync(SyncFailure::Rebuild(failed)));
        }
        Ok(summary)
    }
}

/// Runs rebuild rounds until one succeeds, then lets this node apply
/// writes and answer reads from its own record again.
pub(crate) async fn rebuild_loop(
    coordinator: Arc<Coordinator>,
    mut shutdown: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut attempts = 0u64;
    while coordinator.is_rebuilding() {
        let normal = coordinator
            .members
            .my_state()
            .is_some_and(|s| s.status == Status::Normal);
        if normal {
            attempts += 1;
            match coordinator.rebuild_round().await {
                Ok(s) if s.peers == 0 => {
                    coordinator.rebuilding.store(false, Ordering::Release);
                    tracing::info!("no other replica to rebuild from; applying writes");
                    return;
                }
                Ok(s) => {
                    coordinator.rebuilding.store(false, Ordering::Release);
                    tracing::warn!(
                        pulled = s.keys_pulled,
                        peers = s.peers,
                        ms = started.elapsed().as_millis() as u64,
                        "rebuilt after a possible loss of data; applying writes and serving reads again"
                    );
                    return;
                }
                Err(e) if attempts % 20 == 1 => {
                    tracing::warn!(error = %e, "still rebuilding: writes are applied by other replicas meanwhile");
                }
                Err(_) => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
