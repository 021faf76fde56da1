//! The requests that commands running at once send one replica, sent
//! together: the CLOCKs of collection writes and reads as one CLOCK_MANY,
//! their shipped operations (APPLY_AT) as one APPLY_AT_MANY, per replica
//! and database, instead of a request per key.
//!
//! Every collection write led here first asks the other replicas for the
//! key's causal context ([`Coordinator::catch_up`]), then ships the write
//! to them as an operation on that base; a collection read compares
//! contexts before it reads members alone (digest read). A pipeline's
//! commands on distinct keys run concurrently, and so do many clients'
//! commands: each request on its own costs a frame, a dispatch and
//! wake-ups on both nodes per key and replica, the largest part of a
//! pipelined collection write's CPU on its coordinator.
//!
//! The first command to send a replica a request of one kind in a
//! database opens a batch and starts a task that lets the tasks ready on
//! this worker run first ([`tokio::task::yield_now`]); the commands that
//! send the same replica the same kind meanwhile join the batch; then the
//! task sends it, at most [`KEYS_PER_REQUEST`] keys a request (a batch of
//! one as the single-key request), and hands each command its key's
//! answer. A replica answers each key of a batch as it would the
//! single-key request (the writes of an APPLY_AT_MANY are applied
//! concurrently, as separate requests would be); a request that fails or
//! times out fails every key in it, as the replica's silence would. The
//! sending task is not the commands': one that stops waiting (its client
//! gone, its own timeout) leaves the others' answers unaffected.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::sync::oneshot;

use super::Coordinator;
use crate::ring::NodeId;
use crate::rpc::{ApplyAtItem, Request, Response, RpcError};
use crate::version::VectorClock;

/// Keys one batched request carries at most: a larger batch is several
/// requests, sent together, so no request or reply grows with the load.
pub(crate) const KEYS_PER_REQUEST: usize = 64;

/// A replica's answer about one key's context: `Some(None)` when it holds
/// no record, `None` when it did not answer.
pub(super) type ClockAnswer = Option<Option<VectorClock>>;

/// Batches open for sending, by replica and database: items of type `T`,
/// each answered with an `A`.
pub(crate) struct PeerBatches<T, A> {
    open: parking_lot::Mutex<HashMap<(NodeId, u32), Batch<T, A>>>,
}

/// The items of one open batch.
type Batch<T, A> = Vec<Asker<T, A>>;

impl<T, A> Default for PeerBatches<T, A> {
    fn default() -> Self {
        PeerBatches {
            open: parking_lot::Mutex::new(HashMap::new()),
        }
    }
}

/// An item to send, and where its answer goes.
struct Asker<T, A> {
    item: T,
    answer: oneshot::Sender<A>,
}

impl<T, A> PeerBatches<T, A> {
    /// Adds `item` to the batch for (`peer`, `db`); whether it opened it.
    fn join(&self, peer: NodeId, db: u32, item: T, answer: oneshot::Sender<A>) -> bool {
        let mut open = self.open.lock();
        let batch = open.entry((peer, db)).or_default();
        batch.push(Asker { item, answer });
        batch.len() == 1
    }

    /// Closes the batch for (`peer`, `db`): later items open another.
    fn close(&self, peer: NodeId, db: u32) -> Batch<T, A> {
        self.open.lock().remove(&(peer, db)).unwrap_or_default()
    }
}

/// The batches of each kind of request.
#[derive(Default)]
pub(crate) struct Batches {
    clocks: PeerBatches<Bytes, ClockAnswer>,
    applies: PeerBatches<ApplyAtItem, Result<Response, RpcError>>,
}

impl Coordinator {
    /// Sends `item` to `peer` in the batch `pick` selects, and waits for
    /// its answer; `send` sends one request's items and answers each, in
    /// order. `None` if the batch was dropped unsent (the runtime
    /// stopping).
    async fn send_batched<T, A, S, F>(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        item: T,
        pick: fn(&Batches) -> &PeerBatches<T, A>,
        send: S,
    ) -> Option<A>
    where
        T: Send + 'static,
        A: Send + 'static,
        S: Fn(Arc<Coordinator>, NodeId, u32, Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<A>> + Send,
    {
        let (answer, answered) = oneshot::channel();
        if pick(&self.batches).join(peer, db, item, answer) {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let mut batch = pick(&this.batches).close(peer, db);
                let mut requests = Vec::with_capacity(batch.len().div_ceil(KEYS_PER_REQUEST));
                while !batch.is_empty() {
                    let rest = batch.split_off(batch.len().min(KEYS_PER_REQUEST));
                    requests.push(std::mem::replace(&mut batch, rest));
                }
                join_all(requests.into_iter().map(|askers| {
                    let (items, answers): (Vec<T>, Vec<_>) =
                        askers.into_iter().map(|a| (a.item, a.answer)).unzip();
                    let sent = send(Arc::clone(&this), peer, db, items);
                    async move {
                        for (answer, a) in answers.into_iter().zip(sent.await) {
                            // A command that stopped waiting has nothing to
                            // be told.
                            let _ = answer.send(a);
                        }
                    }
                }))
                .await;
            });
        }
        answered.await.ok()
    }

    /// The causal context of `key`'s record on replica `peer`, asked
    /// together with the other commands asking `peer` at the same moment
    /// (module documentation).
    pub(super) async fn clock_of(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        key: Bytes,
    ) -> ClockAnswer {
        self.send_batched(peer, db, key, |b| &b.clocks, send_clocks)
            .await
            .flatten()
    }

    /// An APPLY_AT of `item` to replica `peer`, sent together with the
    /// other commands' to `peer` at the same moment (module
    /// documentation); the reply is what the APPLY_AT alone would get.
    pub(super) async fn apply_at_on(
        self: &Arc<Self>,
        peer: NodeId,
        db: u32,
        item: ApplyAtItem,
    ) -> Result<Response, RpcError> {
        self.send_batched(peer, db, item, |b| &b.applies, send_applies)
            .await
            .unwrap_or_else(|| Err(RpcError::Unreachable("batch dropped unsent".into())))
    }
}

/// One request of CLOCKs: a CLOCK for one key, a CLOCK_MANY for more.
async fn send_clocks(
    this: Arc<Coordinator>,
    peer: NodeId,
    db: u32,
    keys: Vec<Bytes>,
) -> Vec<ClockAnswer> {
    let n = keys.len();
    this.stats.clock_requests.inc();
    this.stats.clock_keys.add(n as u64);
    match <[Bytes; 1]>::try_from(keys) {
        Ok([key]) => match this.call(peer, &Request::Clock { db, key }).await {
            Ok(Response::Clock(c)) => vec![Some(c)],
            _ => vec![None],
        },
        Err(keys) => match this.call(peer, &Request::ClockMany { db, keys }).await {
            Ok(Response::ClockPerKey(clocks)) if clocks.len() == n => {
                clocks.into_iter().map(Some).collect()
            }
            _ => vec![None; n],
        },
    }
}

/// One request of shipped writes: an APPLY_AT for one, an APPLY_AT_MANY
/// for more, answered per write with what its APPLY_AT would get.
async fn send_applies(
    this: Arc<Coordinator>,
    peer: NodeId,
    db: u32,
    items: Vec<ApplyAtItem>,
) -> Vec<Result<Response, RpcError>> {
    let n = items.len();
    match <[ApplyAtItem; 1]>::try_from(items) {
        Ok([item]) => vec![this.call(peer, &item.into_request(db)).await],
        Err(items) => match this.call(peer, &Request::ApplyAtMany { db, items }).await {
            Ok(Response::PerKey(replies)) if replies.len() == n => replies
                .into_iter()
                .map(|r| match r {
                    Response::Error { code, text } => Err(RpcError::Failed { code, text }),
                    other => Ok(other),
                })
                .collect(),
            Ok(other) => vec![Err(RpcError::Remote(format!("unexpected reply {other:?}"))); n],
            Err(e) => vec![Err(e); n],
        },
    }
}
