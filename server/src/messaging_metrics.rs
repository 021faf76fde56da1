//! What blocked clients and pub/sub look like to an operator: INFO fields
//! (`clients` and `stats` sections) and `ringkv_*` Prometheus metrics from
//! one table of rows over a [`Messaging`] snapshot.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use crate::blocking::Blocking;
use crate::pubsub::{Family, PubSub};
use crate::stat::{Row, counter, gauge};

/// The figures at one moment.
pub struct Messaging {
    blocked_clients: u64,
    blocking_keys: u64,
    blocked_served: u64,
    blocked_timeouts: u64,
    channels: u64,
    patterns: u64,
    shard_channels: u64,
    published: u64,
    delivered: u64,
    output_limit_disconnects: u64,
    monitors: u64,
}

impl Messaging {
    /// Reads the counters.
    pub fn sample(blocking: &Blocking, pubsub: &PubSub) -> Self {
        Messaging {
            blocked_clients: blocking.blocked_clients() as u64,
            blocking_keys: blocking.blocking_keys() as u64,
            blocked_served: blocking.served.load(Ordering::Relaxed),
            blocked_timeouts: blocking.timed_out.load(Ordering::Relaxed),
            channels: pubsub.active(Family::Channel) as u64,
            patterns: pubsub.active(Family::Pattern) as u64,
            shard_channels: pubsub.active(Family::Shard) as u64,
            published: pubsub.stats.published.load(Ordering::Relaxed),
            delivered: pubsub.stats.delivered.load(Ordering::Relaxed),
            output_limit_disconnects: pubsub
                .stats
                .output_limit_disconnects
                .load(Ordering::Relaxed),
            monitors: pubsub.monitors.len() as u64,
        }
    }
}

/// INFO `clients` rows after `blocked_clients`.
pub static CLIENT_ROWS: &[Row<Messaging>] = &[
    gauge(
        "blocking_keys",
        "ringkv_blocking_keys",
        "Keys that blocked clients wait on",
        |m| m.blocking_keys,
    ),
    gauge(
        "monitor_clients",
        "ringkv_monitor_clients",
        "Connections in MONITOR mode (each command is formatted for them)",
        |m| m.monitors,
    ),
];

/// INFO `stats` rows.
pub static STATS_ROWS: &[Row<Messaging>] = &[
    gauge(
        "pubsub_channels",
        "ringkv_pubsub_channels",
        "Channels with subscribers on this node",
        |m| m.channels,
    ),
    gauge(
        "pubsub_patterns",
        "ringkv_pubsub_patterns",
        "Patterns with subscribers on this node",
        |m| m.patterns,
    ),
    gauge(
        "pubsubshard_channels",
        "ringkv_pubsub_shard_channels",
        "Shard channels with subscribers on this node",
        |m| m.shard_channels,
    ),
    counter(
        "pubsub_messages_published",
        "ringkv_pubsub_messages_published_total",
        "PUBLISH and SPUBLISH commands run on this node",
        |m| m.published,
    ),
    counter(
        "pubsub_messages_delivered",
        "ringkv_pubsub_messages_delivered_total",
        "Messages queued to this node's subscribers, published on any node",
        |m| m.delivered,
    ),
    counter(
        "pubsub_output_limit_disconnects",
        "ringkv_pubsub_output_limit_disconnects_total",
        "Subscribers and monitors disconnected past the pubsub client-output-buffer-limit",
        |m| m.output_limit_disconnects,
    ),
    counter(
        "blocked_served",
        "ringkv_blocked_served_total",
        "Blocking commands served after waiting",
        |m| m.blocked_served,
    ),
    counter(
        "blocked_timeouts",
        "ringkv_blocked_timeouts_total",
        "Blocking commands whose timeout passed",
        |m| m.blocked_timeouts,
    ),
];

/// Prometheus collector over the same rows (plus the blocked clients).
pub struct MessagingCollector {
    blocking: Arc<Blocking>,
    pubsub: Arc<PubSub>,
    descs: Vec<Desc>,
}

/// The blocked-clients gauge (INFO prints it in Redis's fixed line).
static BLOCKED_ROWS: &[Row<Messaging>] = &[gauge(
    "blocked_clients",
    "ringkv_blocked_clients",
    "Clients waiting in a blocking command",
    |m| m.blocked_clients,
)];

impl MessagingCollector {
    /// A collector over this node's blocked clients and subscriptions.
    pub fn new(blocking: Arc<Blocking>, pubsub: Arc<PubSub>) -> Result<Self, prometheus::Error> {
        let mut c = MessagingCollector {
            blocking,
            pubsub,
            descs: Vec::new(),
        };
        c.descs = crate::stat::descs_of(c.collect())?;
        Ok(c)
    }
}

impl Collector for MessagingCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let m = Messaging::sample(&self.blocking, &self.pubsub);
        let mut out = crate::stat::metric_families(BLOCKED_ROWS, &m);
        out.extend(crate::stat::metric_families(CLIENT_ROWS, &m));
        out.extend(crate::stat::metric_families(STATS_ROWS, &m));
        out
    }
}
