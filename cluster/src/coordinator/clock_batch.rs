//! The CLOCK requests of commands running at once, sent to each replica
//! together: one CLOCK_MANY per replica and database instead of a request
//! per key.
//!
//! Every collection write led here first asks the other replicas for the
//! key's causal context ([`Coordinator::catch_up`]), and a collection read
//! compares contexts before it reads members alone (digest read). A
//! pipeline's commands on distinct keys run concurrently, and so do many
//! clients' commands: each asking on its own costs a frame, a dispatch and
//! a wake-up on both nodes per key and replica, the largest part of a
//! pipelined collection write's CPU on its coordinator.
//!
//! The first command to ask a replica for a context in a database opens a
//! batch and starts a task that lets the tasks ready on this worker run
//! first ([`tokio::task::yield_now`]); the commands that ask the same
//! replica meanwhile join the batch; then the task sends it, at most
//! [`CLOCKS_PER_REQUEST`] keys a request (a batch of one as a plain CLOCK),
//! and hands each asker its key's answer. What a replica answers is what
//! CLOCK answers for each key, read there in turn; a request that fails or
//! times out fails every key in it, as the replica's own failure would.
//! The sending task is not the askers': a command that stops waiting (its
//! client gone, its own timeout) leaves the others' answers unaffected.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use super::Coordinator;
use crate::ring::NodeId;
use crate::rpc::{Request, Response};
use crate::version::VectorClock;

/// Keys one CLOCK_MANY asks about at most: a larger batch is several
/// requests, sent together, so no request or reply grows with the load.
pub(crate) const CLOCKS_PER_REQUEST: usize = 64;

/// A replica's answer about one key: `Some(None)` when it holds no record,
/// `None` when it did not answer.
type ClockAnswer = Option<Option<VectorClock>>;

/// Batches open for sending, by replica and database.
#[derive(Default)]
pub(crate) struct ClockBatches {
    open: parking_lot::Mutex<HashMap<(NodeId, u32), Vec<Asker>>>,
}

/// A key asked about, and where its answer goes.
struct Asker {
    key: Bytes,
    answer: oneshot::Sender<ClockAnswer>,
}

impl ClockBatches {
    /// Adds `key` to the batch for (`peer`, `db`); whether it opened it.
    fn join(
        &self,
        peer: NodeId,
        db: u32,
        key: Bytes,
        answer: oneshot::Sender<ClockAnswer>,
    ) -> bool {
        let mut open = self.open.lock();
        let batch = open.entry((peer, db)).or_default();
        batch.push(Asker { key, answer });
        batch.len() == 1
    }

    /// Closes the batch for (`peer`, `db`): later askers open another.
    fn close(&self, peer: NodeId, db: u32) -> Vec<Asker> {
        self.open.lock().remove(&(peer, db)).unwrap_or_default()
    }
}

impl Coordinator {
    /// The causal context of `key`'s record on replica `peer`, asked
    /// together with the other commands asking `peer` at the same moment
    /// (module documentation).
    pub(super) async fn clock_of(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        key: Bytes,
    ) -> ClockAnswer {
        let (answer, answered) = oneshot::channel();
        if self.clock_batches.join(peer, db, key, answer) {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let batch = this.clock_batches.close(peer, db);
                this.send_clocks(peer, db, batch).await;
            });
        }
        answered.await.ok().flatten()
    }

    /// Sends `batch` to `peer` and answers each asker.
    async fn send_clocks(self: &Arc<Self>, peer: NodeId, db: u32, mut batch: Vec<Asker>) {
        let mut requests = Vec::with_capacity(batch.len().div_ceil(CLOCKS_PER_REQUEST));
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(CLOCKS_PER_REQUEST));
            requests.push(std::mem::replace(&mut batch, rest));
        }
        join_all(
            requests
                .into_iter()
                .map(|askers| self.send_clock_request(peer, db, askers)),
        )
        .await;
    }

    /// One request of a batch: a CLOCK for one key, a CLOCK_MANY for more.
    async fn send_clock_request(&self, peer: NodeId, db: u32, askers: Vec<Asker>) {
        let answers: Vec<ClockAnswer> = match askers.as_slice() {
            [one] => {
                let req = Request::Clock {
                    db,
                    key: one.key.clone(),
                };
                match self.call(peer, &req).await {
                    Ok(Response::Clock(c)) => vec![Some(c)],
                    _ => vec![None],
                }
            }
            _ => {
                let req = Request::ClockMany {
                    db,
                    keys: askers.iter().map(|a| a.key.clone()).collect(),
                };
                match self.call(peer, &req).await {
                    Ok(Response::ClockPerKey(clocks)) if clocks.len() == askers.len() => {
                        clocks.into_iter().map(Some).collect()
                    }
                    _ => vec![None; askers.len()],
                }
            }
        };
        self.stats.clock_requests.inc();
        self.stats.clock_keys.add(askers.len() as u64);
        for (asker, answer) in askers.into_iter().zip(answers) {
            // An asker that stopped waiting has nothing to be told.
            let _ = asker.answer.send(answer);
        }
    }
}
