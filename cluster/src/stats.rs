//! Coordinator counters the server turns into Prometheus metrics and INFO
//! `# Cluster` fields. Split by thread ([`ringkv_sharded`]): reads and
//! writes count on every request.

use std::time::Duration;

use ringkv_conf::Consistency;

/// A monotonically increasing count.
#[derive(Default, Debug)]
pub struct Counter(ringkv_sharded::ShardedCounter);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.add(n);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.sum()
    }
}

/// Requests counted per consistency level.
#[derive(Default, Debug)]
pub struct PerLevel([Counter; 6]);

impl PerLevel {
    /// Every level, in the order [`PerLevel::get`] indexes them.
    pub const LEVELS: [Consistency; 6] = [
        Consistency::One,
        Consistency::Two,
        Consistency::Three,
        Consistency::Quorum,
        Consistency::All,
        Consistency::Any,
    ];

    fn index(level: Consistency) -> usize {
        Self::LEVELS.iter().position(|&l| l == level).unwrap_or(0)
    }
    /// Counts one request at `level`.
    pub fn inc(&self, level: Consistency) {
        if let Some(c) = self.0.get(Self::index(level)) {
            c.inc();
        }
    }
    /// Requests at `level` so far.
    pub fn get(&self, level: Consistency) -> u64 {
        self.0.get(Self::index(level)).map_or(0, Counter::get)
    }
}

/// Round-trip times of replica calls: count, sum and fixed buckets.
#[derive(Default, Debug)]
pub struct LatencyHistogram {
    /// Calls observed.
    pub count: Counter,
    /// Sum of round trips in microseconds.
    pub sum_micros: Counter,
    /// Calls at or under each bound of [`LatencyHistogram::BOUNDS_MICROS`].
    pub buckets: [Counter; 10],
}

impl LatencyHistogram {
    /// Upper bounds of the buckets, in microseconds.
    pub const BOUNDS_MICROS: [u64; 10] = [
        100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000,
    ];
    /// Records one round trip.
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count.inc();
        self.sum_micros.add(micros);
        for (bound, bucket) in Self::BOUNDS_MICROS.iter().zip(&self.buckets) {
            if micros <= *bound {
                bucket.inc();
            }
        }
    }
}

/// Everything the coordinator counts.
#[derive(Default, Debug)]
pub struct ClusterStats {
    /// Coordinated reads per level.
    pub reads: PerLevel,
    /// Coordinated writes per level.
    pub writes: PerLevel,
    /// Requests answered NOQUORUM (too few replicas up or answering).
    pub unavailable: Counter,
    /// Replica calls that timed out.
    pub replica_timeouts: Counter,
    /// Writes another node asked this one to coordinate that arrived after
    /// the caller had stopped waiting, refused unapplied.
    pub late_applies_refused: Counter,
    /// Replicas brought up to date by read repair.
    pub read_repairs: Counter,
    /// Key reads that asked more replicas than their level needs: one
    /// asked failed, or had not answered within `speculative-read-ms`.
    pub speculative_reads: Counter,
    /// Collection writes this node shipped to a replica as the operation
    /// on an agreed base (a few bytes instead of the whole record).
    pub delta_writes: Counter,
    /// Of those, replicas whose record had another context: they were sent
    /// the whole record instead.
    pub delta_diverged: Counter,
    /// Collection reads answered from this node's members alone after the
    /// replicas the level asks agreed on the record's context.
    pub digest_reads: Counter,
    /// Collection reads whose replicas disagreed: read whole and repaired.
    pub digest_mismatches: Counter,
    /// Collection reads and writes of a split collection whose record here
    /// was behind the other replicas' and caught up (the shipped writes on
    /// their way arrived) within a short wait: no whole read was needed.
    pub caught_up: Counter,
    /// CLOCK and CLOCK_MANY requests sent (the contexts collection writes
    /// and reads ask replicas for, batched per replica).
    pub clock_requests: Counter,
    /// Keys those requests asked about: over `clock_requests`, the batch
    /// size.
    pub clock_keys: Counter,
    /// Replica call round trips.
    pub replica_latency: LatencyHistogram,
    /// Gossip rounds run.
    pub gossip_rounds: Counter,
    /// Times this node found it had itself been paused (longer than
    /// `LOCAL_PAUSE_INTERVALS` gossip intervals) and forgave its peers.
    pub local_pauses: Counter,
    /// Cluster-port connections refused or dropped before they
    /// authenticated: protected mode, too many unauthenticated connections,
    /// a failed or unfinished handshake ([`crate::rpc::gate`]).
    pub handshakes_refused: Counter,
    /// Published messages a live node did not confirm delivering.
    pub publish_failures: Counter,
    /// Published messages delivered to this node from other nodes.
    pub messages_received: Counter,
}
