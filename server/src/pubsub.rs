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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use ringkv_resp::Reply;
use tokio::sync::mpsc;

use crate::client::ClientHandle;
use crate::glob::Glob;

/// What a queued message costs besides its bytes: its slot in the
/// subscriber's queue and the headers of the shared buffers it points to.
const QUEUED_OVERHEAD: usize = std::mem::size_of::<Message>() + 96;

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
    /// A MONITOR line ([`crate::monitor`]).
    Monitor(Arc<str>),
}

impl Message {
    /// The memory it takes while queued (for the output limit): its
    /// bytes, its slot in the queue and the allocations behind its parts.
    /// Counting the bytes alone let a subscriber that never reads hold
    /// several times its limit in tiny messages.
    pub fn size(&self) -> usize {
        QUEUED_OVERHEAD
            + match self {
                Message::Channel { channel, payload } | Message::Shard { channel, payload } => {
                    channel.len() + payload.len()
                }
                Message::Pattern {
                    pattern,
                    channel,
                    payload,
                } => pattern.len() + channel.len() + payload.len(),
                Message::Monitor(line) => line.len(),
            }
    }

    /// The reply that carries it: a RESP3 push, a RESP2 array; a MONITOR
    /// line is a simple string in both, as Redis sends it.
    pub fn reply(&self) -> Reply {
        let items = match self {
            Message::Monitor(line) => return Reply::Simple(line.to_string().into()),
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
    /// Since when the queue has been over the soft limit.
    over_soft_since: Mutex<Option<Instant>>,
}

impl Subscriber {
    /// A written message leaves the queue's count.
    pub fn written(&self, message: &Message) {
        self.handle
            .output_pending
            .fetch_sub(message.size(), Ordering::AcqRel);
    }

    /// The subscribed client's id.
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Disconnects this subscriber: `pending` bytes would pass its output
    /// limit.
    pub(crate) fn disconnect_over_limit(&self, pending: usize, stats: &PubSubStats) {
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
    }

    /// Queues `message`, or disconnects a subscriber over its limit.
    pub(crate) fn offer(
        &self,
        message: Message,
        limit: ringkv_conf::OutputLimit,
        stats: &PubSubStats,
    ) -> bool {
        let size = message.size();
        let pending = self.handle.output_pending.fetch_add(size, Ordering::AcqRel) + size;
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
            self.handle.output_pending.fetch_sub(size, Ordering::AcqRel);
            self.disconnect_over_limit(pending, stats);
            return false;
        }
        if self.queue.send(message).is_err() {
            self.handle.output_pending.fetch_sub(size, Ordering::AcqRel);
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
    /// The names subscribed, per [`Family`].
    names: [BTreeSet<Bytes>; 3],
    /// MONITOR lines of this connection's own commands, written after the
    /// command's reply (where Redis puts them), not queued before it.
    pub own_monitor_lines: Vec<Message>,
}

impl Drop for Subscriptions {
    /// Messages never written leave the connection's output count (RESET
    /// drops the queue; a later SUBSCRIBE starts from nothing). Closed
    /// first, so a publisher still holding the subscriber fails to queue
    /// and takes its own message back off the count.
    fn drop(&mut self) {
        self.queue.close();
        while let Ok(m) = self.queue.try_recv() {
            self.subscriber.written(&m);
        }
    }
}

impl Subscriptions {
    /// A connection's empty subscriptions.
    pub fn new(handle: Arc<ClientHandle>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Subscriptions {
            subscriber: Arc::new(Subscriber {
                handle,
                queue: tx,
                over_soft_since: Mutex::new(None),
            }),
            queue: rx,
            names: Default::default(),
            own_monitor_lines: Vec::new(),
        }
    }

    /// The channels, patterns or shard channels subscribed.
    pub fn names(&self, family: Family) -> &BTreeSet<Bytes> {
        &self.names[family as usize]
    }

    /// What a (un)subscribe reply counts: channels and patterns together,
    /// shard channels apart (as Redis counts them).
    pub fn count(&self, family: Family) -> usize {
        match family {
            Family::Shard => self.names(Family::Shard).len(),
            Family::Channel | Family::Pattern => {
                self.names(Family::Channel).len() + self.names(Family::Pattern).len()
            }
        }
    }

    /// Whether any subscription is left (the connection is in subscribed
    /// mode while there is).
    pub fn any(&self) -> bool {
        self.names.iter().any(|n| !n.is_empty())
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

/// The subscribers of one channel, pattern or shard channel.
struct Listeners {
    /// The compiled pattern (PSUBSCRIBE only).
    glob: Option<Glob>,
    subscribers: Subscribers,
}

/// Every subscription on this node.
#[derive(Default)]
pub struct PubSub {
    /// Name → listeners, per [`Family`].
    families: [RwLock<HashMap<Bytes, Listeners>>; 3],
    /// Counters.
    pub stats: PubSubStats,
    /// The connections in MONITOR mode, which receive their lines through
    /// the same queues ([`crate::monitor`]).
    pub monitors: crate::monitor::Monitors,
}

/// Which family of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// SUBSCRIBE.
    Channel = 0,
    /// PSUBSCRIBE.
    Pattern = 1,
    /// SSUBSCRIBE.
    Shard = 2,
}

impl Family {
    /// Channels or shard channels, as PUBLISH/SPUBLISH and PUBSUB name them.
    pub fn of(shard: bool) -> Family {
        if shard {
            Family::Shard
        } else {
            Family::Channel
        }
    }
}

impl PubSub {
    fn family(&self, family: Family) -> &RwLock<HashMap<Bytes, Listeners>> {
        &self.families[family as usize]
    }

    /// Adds `subs`'s subscriber to `name` in `family`; whether it is new.
    pub fn subscribe(&self, subs: &mut Subscriptions, family: Family, name: &Bytes) -> bool {
        // Kept for the subscription's life: a copy, not a slice pinning the
        // subscriber's read buffer.
        let name = &Bytes::copy_from_slice(name);
        if !subs.names[family as usize].insert(name.clone()) {
            return false;
        }
        let id = subs.subscriber.handle.id;
        self.family(family)
            .write()
            .entry(name.clone())
            .or_insert_with(|| Listeners {
                glob: (family == Family::Pattern).then(|| Glob::new(name, false)),
                subscribers: HashMap::new(),
            })
            .subscribers
            .insert(id, Arc::clone(&subs.subscriber));
        true
    }

    /// Removes `subs`'s subscriber from `name` in `family`; whether it was
    /// subscribed.
    pub fn unsubscribe(&self, subs: &mut Subscriptions, family: Family, name: &Bytes) -> bool {
        if !subs.names[family as usize].remove(name) {
            return false;
        }
        self.leave(family, name, subs.subscriber.handle.id);
        true
    }

    /// Drops every subscription of a closing (or RESET) connection.
    pub fn forget(&self, subs: &mut Subscriptions) {
        for family in [Family::Channel, Family::Pattern, Family::Shard] {
            for name in std::mem::take(&mut subs.names[family as usize]) {
                self.leave(family, &name, subs.subscriber.handle.id);
            }
        }
    }

    /// Takes subscriber `id` off `name`'s listeners.
    fn leave(&self, family: Family, name: &Bytes, id: u64) {
        let mut map = self.family(family).write();
        if let Some(l) = map.get_mut(name) {
            l.subscribers.remove(&id);
            if l.subscribers.is_empty() {
                map.remove(name);
            }
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
        let mut offer = |subscribers: &Subscribers, m: &Message| {
            for s in subscribers.values() {
                n += u64::from(s.offer(m.clone(), limit, &self.stats));
            }
        };
        // Copied once, for every subscriber, and only if there is one: the
        // arguments are slices of the publisher's read buffer (or a peer's
        // frame), and a queued slice would keep that whole buffer alive.
        let mut copies: Option<(Bytes, Bytes)> = None;
        let mut copied = || {
            copies
                .get_or_insert_with(|| {
                    (
                        Bytes::copy_from_slice(channel),
                        Bytes::copy_from_slice(payload),
                    )
                })
                .clone()
        };
        if let Some(l) = self.family(Family::of(shard)).read().get(channel) {
            let (channel, payload) = copied();
            let m = if shard {
                Message::Shard { channel, payload }
            } else {
                Message::Channel { channel, payload }
            };
            offer(&l.subscribers, &m);
        }
        if !shard {
            for (pattern, l) in self.family(Family::Pattern).read().iter() {
                if l.glob.as_ref().is_some_and(|g| g.matches(channel)) {
                    let (channel, payload) = copied();
                    let m = Message::Pattern {
                        pattern: pattern.clone(),
                        channel,
                        payload,
                    };
                    offer(&l.subscribers, &m);
                }
            }
        }
        self.stats.delivered.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Channels (or shard channels) with subscribers matching `pattern`
    /// (all when `None`), sorted.
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let glob = pattern.map(|p| Glob::new(p, false));
        let mut out: Vec<Bytes> = self
            .family(Family::of(shard))
            .read()
            .keys()
            .filter(|c| glob.as_ref().is_none_or(|g| g.matches(c)))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Subscribers of `channel`.
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        self.family(Family::of(shard))
            .read()
            .get(channel)
            .map_or(0, |l| l.subscribers.len())
    }

    /// How many channels, patterns or shard channels have subscribers.
    pub fn active(&self, family: Family) -> usize {
        self.family(family).read().len()
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
