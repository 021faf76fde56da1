//! What the coordinator tells the server it serves: which keys changed on
//! this node ([`ChangeObserver`], so clients blocked on them look again),
//! and messages published on any node ([`MessageSink`]).
//!
//! A node whose clients block on keys it may not replicate registers its
//! interest with every live node (`Request::Interest`, renewed while the
//! clients wait); a node where such a key changes sends it a
//! `Request::Wake`, which its observer hears as a local change.
//!
//! Cluster-wide publish/subscribe delivery. The server keeps the
//! subscriptions of its own clients and hands the coordinator a
//! [`MessageSink`]; a message published on any node is delivered to the
//! local sink and sent to every other live node (`Request::Publish`),
//! whose sink delivers it to its subscribers. The reply counts the
//! receivers on every node that answered, as Redis Cluster counts them.
//!
//! Delivery is at most once: a node that is down, partitioned or too slow
//! to answer within the request timeout misses the message, and nothing
//! retries it. A publisher's messages reach each node in the order it
//! published them, since PUBLISH answers only after every node did.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;

use super::Coordinator;
use crate::ring::NodeId;
use crate::rpc::{Request, Response};

/// How long a node's interest in a key lasts unless renewed.
pub const INTEREST_TTL: Duration = Duration::from_millis(INTEREST_TTL_MS);
const INTEREST_TTL_MS: u64 = 10_000;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Per key, the nodes with clients blocked on it and until when.
pub(crate) type InterestTable = HashMap<(u32, Bytes), HashMap<NodeId, Instant>>;

/// Delivers a message to this node's subscribers: `(shard, channel,
/// message)` → how many received it.
pub type MessageSink = Arc<dyn Fn(bool, &Bytes, &Bytes) -> u64 + Send + Sync>;

/// Called with `(db, key)` after a write changed the key's record on this
/// node: one this node coordinated, one it applied or merged for another
/// coordinator, a hint delivered to it.
pub type ChangeObserver = Arc<dyn Fn(u32, &[u8]) + Send + Sync>;

impl Coordinator {
    /// Sets who hears of every change of a record on this node: once, at
    /// start (every write reads it, so it is not behind a lock); a second
    /// observer is refused with a warning.
    pub fn set_change_observer(&self, observer: ChangeObserver) {
        if self.change_observer.set(observer).is_err() {
            tracing::warn!("a change observer is already set; the new one is ignored");
        }
    }

    /// `key` changed here: tells the observer, and wakes the nodes that
    /// registered interest in it (fire and forget).
    pub(crate) fn changed(&self, db: u32, key: &[u8]) {
        self.changed_locally(db, key);
        let nodes = self.interested_nodes(db, key);
        if nodes.is_empty() {
            return;
        }
        let req = Request::Wake {
            db,
            key: Bytes::copy_from_slice(key),
        };
        let timeout = self.timeout();
        for id in nodes {
            let Some(addr) = self.members.cluster_addr(id) else {
                continue;
            };
            let (rpc, req) = (Arc::clone(&self.rpc), req.clone());
            tokio::spawn(async move {
                let _ = rpc.call(&addr, &req, timeout).await;
            });
        }
    }

    /// Tells this node's observer that `key` changed.
    pub(crate) fn changed_locally(&self, db: u32, key: &[u8]) {
        self.behind.wake(&self.keyspace, db, key);
        if let Some(o) = self.change_observer.get() {
            o(db, key);
        }
    }

    /// Node `from` has clients blocked on `keys` of `db`: it is woken when
    /// they change here during the next [`INTEREST_TTL`].
    pub(crate) fn note_interest(&self, from: NodeId, db: u32, keys: Vec<Bytes>) {
        let until = Instant::now() + INTEREST_TTL;
        let mut table = self.interest.lock();
        table.retain(|_, nodes| {
            nodes.retain(|_, t| *t > Instant::now());
            !nodes.is_empty()
        });
        for key in keys {
            // A copy: the key is a slice of the peer's request frame.
            let key = Bytes::copy_from_slice(&key);
            table.entry((db, key)).or_default().insert(from, until);
        }
        self.interest_until_ms
            .fetch_max(unix_ms() + INTEREST_TTL_MS, AtomicOrdering::AcqRel);
    }

    fn interested_nodes(&self, db: u32, key: &[u8]) -> Vec<NodeId> {
        // Every write on the node passes here: no lock once every
        // interest has expired.
        let until = self.interest_until_ms.load(AtomicOrdering::Acquire);
        // 0: no node ever registered interest (and no clock read).
        if until == 0 || unix_ms() > until {
            return Vec::new();
        }
        let table = self.interest.lock();
        let now = Instant::now();
        table
            .get(&(db, Bytes::copy_from_slice(key)))
            .map(|nodes| {
                nodes
                    .iter()
                    .filter(|(_, t)| **t > now)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// This node has clients blocked on `keys` of `db`: asks every live
    /// node to wake it when one of them changes there. Renew it within
    /// [`INTEREST_TTL`] while the clients wait.
    pub async fn register_interest(self: &Arc<Self>, db: u32, keys: Vec<Bytes>) {
        let (up, _) = self.members.peers();
        if up.is_empty() {
            return;
        }
        let req = Request::Interest {
            from: self.me,
            db,
            keys,
        };
        join_all(up.iter().map(|id| self.call(*id, &req))).await;
    }

    /// Sets where messages published on any node are delivered here.
    pub fn set_message_sink(&self, sink: MessageSink) {
        *self.message_sink.write() = Some(sink);
    }

    /// Delivers a message to this node's subscribers only.
    pub(crate) fn deliver_local(&self, shard: bool, channel: &Bytes, message: &Bytes) -> u64 {
        let sink = self.message_sink.read().clone();
        sink.map_or(0, |s| s(shard, channel, message))
    }

    /// PUBLISH (or SPUBLISH when `shard`): delivers `message` on `channel`
    /// to the subscribers of every live node; how many received it.
    pub async fn publish(self: &Arc<Self>, shard: bool, channel: Bytes, message: Bytes) -> u64 {
        let local = self.deliver_local(shard, &channel, &message);
        let (up, _) = self.members.peers();
        if up.is_empty() {
            return local;
        }
        let req = Request::Publish {
            shard,
            channel,
            message,
        };
        let replies = join_all(up.iter().map(|id| self.call(*id, &req))).await;
        let remote: u64 = replies
            .into_iter()
            .map(|r| match r {
                Ok(Response::Delivered(n)) => n,
                _ => {
                    self.stats.publish_failures.inc();
                    0
                }
            })
            .sum();
        local + remote
    }
}
