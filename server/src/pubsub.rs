//! Publish/subscribe on this node: who subscribes to which channels,
//! patterns and shard channels, and delivery of a message to them. The
//! coordinator carries a message published on another node here
//! ([`ringkv_cluster::MessageSink`]), so subscribers on every node receive
//! it.
//!
//! Each subscribed connection has a queue of undelivered messages that its
//! connection task drains to the socket. A subscriber that does not read
//! is disconnected when its queue passes the pubsub class of
//! `client-output-buffer-limit` (hard limit at once, soft limit after its
//! seconds), as Redis does: a slow reader never grows the server's memory
//! without bound.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use ringkv_resp::Reply;
use tokio::sync::mpsc;

use crate::client::ClientHandle;
use crate::glob::Glob;

/// A message on its way to one subscriber.
#[derive(Clone, Debug)]
pub enum Message {
    /// On a subscribed channel.
    Channel {
        /// The channel.
        channel: Bytes,
        /// The message.
        payload: Bytes,
    },
    /// On a channel matching a subscribed pattern.
    Pattern {
        /// The pattern.
        pattern: Bytes,
        /// The channel.
        channel: Bytes,
        /// The message.
        payload: Bytes,
    },
    /// On a subscribed shard channel.
    Shard {
        /// The channel.
        channel: Bytes,
        /// The message.
        payload: Bytes,
    },
}

impl Message {
    /// The bytes it holds (for the output limit).
    pub fn size(&self) -> usize {
        match self {
            Message::Channel { channel, payload } | Message::Shard { channel, payload } => {
                channel.len() + payload.len() + 32
            }
            Message::Pattern {
                pattern,
                channel,
                payload,
            } => pattern.len() + channel.len() + payload.len() + 40,
        }
    }

    /// The reply that carries it: a RESP3 push, a RESP2 array.
    pub fn reply(&self) -> Reply {
        let items = match self {
            Message::Channel { channel, payload } => vec![
                Reply::bulk("message"),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ],
            Message::Pattern {
                pattern,
                channel,
                payload,
            } => vec![
                Reply::bulk("pmessage"),
                Reply::Bulk(pattern.clone()),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ],
            Message::Shard { channel, payload } => vec![
                Reply::bulk("smessage"),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ],
        };
        Reply::Push(items)
    }
}

/// One subscribed connection, as publishers see it.
pub struct Subscriber {
    handle: Arc<ClientHandle>,
    queue: mpsc::UnboundedSender<Message>,
    /// Bytes queued and not yet written to the socket.
    pending: AtomicUsize,
    /// Since when the queue has been over the soft limit.
    over_soft_since: Mutex<Option<Instant>>,
}

impl Subscriber {
    /// A written message leaves the queue's count.
    pub fn written(&self, message: &Message) {
        self.pending.fetch_sub(message.size(), Ordering::AcqRel);
    }

    /// Queues `message`, or disconnects a subscriber over its limit.
    fn offer(
        &self,
        message: Message,
        limit: ringkv_conf::OutputLimit,
        stats: &PubSubStats,
    ) -> bool {
        let size = message.size();
        let pending = self.pending.fetch_add(size, Ordering::AcqRel) + size;
        let over_hard = limit.hard > 0 && pending as u64 > limit.hard;
        let over_soft = limit.soft > 0 && pending as u64 > limit.soft;
        let soft_expired = {
            let mut since = self.over_soft_since.lock();
            if over_soft {
                let start = *since.get_or_insert_with(Instant::now);
                start.elapsed().as_secs() >= limit.soft_seconds
            } else {
                *since = None;
                false
            }
        };
        if over_hard || soft_expired {
            self.pending.fetch_sub(size, Ordering::AcqRel);
            if !self.handle.killed.load(Ordering::Acquire) {
                stats
                    .output_limit_disconnects
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    client = self.handle.id,
                    addr = %self.handle.addr,
                    pending,
                    "closing subscriber over its pubsub output buffer limit"
                );
                self.handle.kill();
            }
            return false;
        }
        if self.queue.send(message).is_err() {
            self.pending.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }
}

/// A connection's own subscriptions and message queue.
pub struct Subscriptions {
    /// What publishers hold.
    pub subscriber: Arc<Subscriber>,
    /// Messages to write.
    pub queue: mpsc::UnboundedReceiver<Message>,
    /// Channels.
    pub channels: BTreeSet<Bytes>,
    /// Patterns.
    pub patterns: BTreeSet<Bytes>,
    /// Shard channels.
    pub shard_channels: BTreeSet<Bytes>,
}

impl Subscriptions {
    /// A connection's empty subscriptions.
    pub fn new(handle: Arc<ClientHandle>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Subscriptions {
            subscriber: Arc::new(Subscriber {
                handle,
                queue: tx,
                pending: AtomicUsize::new(0),
                over_soft_since: Mutex::new(None),
            }),
            queue: rx,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
        }
    }

    /// Channels and patterns (what SUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether any subscription is left (the connection is in subscribed
    /// mode while there is).
    pub fn any(&self) -> bool {
        self.count() + self.shard_channels.len() > 0
    }
}

type Subscribers = HashMap<u64, Arc<Subscriber>>;

/// Counters for INFO and metrics.
#[derive(Default)]
pub struct PubSubStats {
    /// PUBLISH/SPUBLISH commands run on this node.
    pub published: AtomicU64,
    /// Messages queued to this node's subscribers (from any node).
    pub delivered: AtomicU64,
    /// Subscribers disconnected over their output limit.
    pub output_limit_disconnects: AtomicU64,
}

/// Every subscription on this node.
#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, (Glob, Subscribers)>>,
    shard_channels: RwLock<HashMap<Bytes, Subscribers>>,
    /// Counters.
    pub stats: PubSubStats,
}

/// Which family of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// SUBSCRIBE.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE.
    Shard,
}

impl PubSub {
    /// Adds `subs`'s subscriber to `name` in `family`; whether it is new.
    pub fn subscribe(&self, subs: &mut Subscriptions, family: Family, name: &Bytes) -> bool {
        let id = subs.subscriber.handle.id;
        let sub = Arc::clone(&subs.subscriber);
        let new = match family {
            Family::Channel => subs.channels.insert(name.clone()),
            Family::Pattern => subs.patterns.insert(name.clone()),
            Family::Shard => subs.shard_channels.insert(name.clone()),
        };
        if new {
            match family {
                Family::Channel => {
                    self.channels
                        .write()
                        .entry(name.clone())
                        .or_default()
                        .insert(id, sub);
                }
                Family::Shard => {
                    self.shard_channels
                        .write()
                        .entry(name.clone())
                        .or_default()
                        .insert(id, sub);
                }
                Family::Pattern => {
                    self.patterns
                        .write()
                        .entry(name.clone())
                        .or_insert_with(|| (Glob::new(name, false), HashMap::new()))
                        .1
                        .insert(id, sub);
                }
            }
        }
        new
    }

    /// Removes `subs`'s subscriber from `name` in `family`; whether it was
    /// subscribed.
    pub fn unsubscribe(&self, subs: &mut Subscriptions, family: Family, name: &Bytes) -> bool {
        let id = subs.subscriber.handle.id;
        let was = match family {
            Family::Channel => subs.channels.remove(name),
            Family::Pattern => subs.patterns.remove(name),
            Family::Shard => subs.shard_channels.remove(name),
        };
        if was {
            let drop_from = |map: &mut HashMap<Bytes, Subscribers>| {
                if let Some(s) = map.get_mut(name) {
                    s.remove(&id);
                    if s.is_empty() {
                        map.remove(name);
                    }
                }
            };
            match family {
                Family::Channel => drop_from(&mut self.channels.write()),
                Family::Shard => drop_from(&mut self.shard_channels.write()),
                Family::Pattern => {
                    let mut patterns = self.patterns.write();
                    if let Some((_, s)) = patterns.get_mut(name) {
                        s.remove(&id);
                        if s.is_empty() {
                            patterns.remove(name);
                        }
                    }
                }
            }
        }
        was
    }

    /// Drops every subscription of a closing (or RESET) connection.
    pub fn forget(&self, subs: &mut Subscriptions) {
        let names: Vec<(Family, Bytes)> = subs
            .channels
            .iter()
            .map(|n| (Family::Channel, n.clone()))
            .chain(subs.patterns.iter().map(|n| (Family::Pattern, n.clone())))
            .chain(
                subs.shard_channels
                    .iter()
                    .map(|n| (Family::Shard, n.clone())),
            )
            .collect();
        for (family, name) in names {
            self.unsubscribe(subs, family, &name);
        }
    }

    /// Delivers a message to this node's subscribers, disconnecting those
    /// over `limit`: how many got it.
    pub fn deliver(
        &self,
        shard: bool,
        channel: &Bytes,
        payload: &Bytes,
        limit: ringkv_conf::OutputLimit,
    ) -> u64 {
        let mut n = 0u64;
        if shard {
            if let Some(subs) = self.shard_channels.read().get(channel) {
                for s in subs.values() {
                    let m = Message::Shard {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    n += u64::from(s.offer(m, limit, &self.stats));
                }
            }
        } else {
            if let Some(subs) = self.channels.read().get(channel) {
                for s in subs.values() {
                    let m = Message::Channel {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    n += u64::from(s.offer(m, limit, &self.stats));
                }
            }
            for (pattern, (glob, subs)) in self.patterns.read().iter() {
                if !glob.matches(channel) {
                    continue;
                }
                for s in subs.values() {
                    let m = Message::Pattern {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    n += u64::from(s.offer(m, limit, &self.stats));
                }
            }
        }
        self.stats.delivered.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Channels with subscribers matching `pattern` (all when `None`).
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let glob = pattern.map(|p| Glob::new(p, false));
        let map = if shard {
            self.shard_channels.read()
        } else {
            self.channels.read()
        };
        let mut out: Vec<Bytes> = map
            .keys()
            .filter(|c| glob.as_ref().is_none_or(|g| g.matches(c)))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Subscribers of `channel`.
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard {
            self.shard_channels.read()
        } else {
            self.channels.read()
        };
        map.get(channel).map_or(0, HashMap::len)
    }

    /// Patterns with subscribers.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }
}

/// The reply announcing a (un)subscription: `[kind, name, count]` (a push
/// in RESP3).
pub fn notice(kind: &'static str, name: Option<&Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(kind),
        name.map_or(Reply::Nil, |n| Reply::Bulk(n.clone())),
        Reply::Int(i64::try_from(count).unwrap_or(i64::MAX)),
    ])
}
