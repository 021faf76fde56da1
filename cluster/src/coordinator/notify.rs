//! What the coordinator tells the server it serves: which keys changed on
//! this node ([`ChangeObserver`], so clients blocked on them look again),
//! and messages published on any node ([`MessageSink`]).
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

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;

use super::Coordinator;
use crate::rpc::{Request, Response};

/// Delivers a message to this node's subscribers: `(shard, channel,
/// message)` → how many received it.
pub type MessageSink = Arc<dyn Fn(bool, &Bytes, &Bytes) -> u64 + Send + Sync>;

/// Called with `(db, key)` after a write changed the key's record on this
/// node: one this node coordinated, one it applied or merged for another
/// coordinator, a hint delivered to it.
pub type ChangeObserver = Arc<dyn Fn(u32, &[u8]) + Send + Sync>;

impl Coordinator {
    /// Sets who hears of every change of a record on this node.
    pub fn set_change_observer(&self, observer: ChangeObserver) {
        *self.change_observer.write() = Some(observer);
    }

    /// Tells the observer that `key` changed here.
    pub(crate) fn changed(&self, db: u32, key: &[u8]) {
        if let Some(o) = self.change_observer.read().as_ref() {
            o(db, key);
        }
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
