//! Prometheus view of the cluster: membership by state and the
//! coordinator's counters, read at scrape time from
//! [`ringkv_cluster::coordinator::ClusterStats`] (plain atomics).

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGaugeVec, Opts};
use ringkv_cluster::Coordinator;
use ringkv_cluster::{LatencyHistogram, PerLevel};

/// Collects cluster metrics from the coordinator.
pub struct ClusterCollector {
    cluster: Arc<Coordinator>,
    descs: Vec<Desc>,
}

impl ClusterCollector {
    /// A collector over `cluster`.
    pub fn new(cluster: Arc<Coordinator>) -> Result<Self, prometheus::Error> {
        let mut c = ClusterCollector {
            cluster,
            descs: Vec::new(),
        };
        let mut descs = Vec::new();
        for family in c.collect() {
            let labels = family
                .get_metric()
                .first()
                .map(|m| m.get_label().iter().map(|l| l.name().to_string()).collect())
                .unwrap_or_default();
            descs.push(Desc::new(
                family.name().to_string(),
                family.help().to_string(),
                labels,
                Default::default(),
            )?);
        }
        c.descs = descs;
        Ok(c)
    }
}

impl Collector for ClusterCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        let views = self.cluster.members().views();
        if let Ok(g) = IntGaugeVec::new(
            Opts::new(
                "ringkv_cluster_members",
                "Members by announced state and local verdict",
            ),
            &["state"],
        ) {
            for state in ["joining", "normal", "leaving", "left", "down"] {
                let n = views.iter().filter(|v| v.summary_state() == state).count();
                g.with_label_values(&[state]).set(n as i64);
            }
            out.extend(g.collect());
        }
        let stats = self.cluster.stats();
        if let Ok(c) = IntCounterVec::new(
            Opts::new(
                "ringkv_cluster_requests_total",
                "Coordinated requests by operation and consistency level",
            ),
            &["op", "level"],
        ) {
            for level in PerLevel::LEVELS {
                let name = level.as_str();
                c.with_label_values(&["read", name])
                    .inc_by(stats.reads.get(level));
                c.with_label_values(&["write", name])
                    .inc_by(stats.writes.get(level));
            }
            out.extend(c.collect());
        }
        if let Ok(g) = prometheus::IntGauge::new(
            "ringkv_cluster_hints_pending",
            "Hints stored on this node awaiting delivery",
        ) {
            g.set(i64::try_from(self.cluster.hints().pending()).unwrap_or(i64::MAX));
            out.extend(g.collect());
        }
        if let Ok(g) = prometheus::IntGauge::new(
            "ringkv_cluster_port_listening",
            "1 while the cluster port accepts node-to-node connections (a cluster of one keeps it closed until CLUSTER JOIN)",
        ) {
            g.set(i64::from(self.cluster.cluster_port().is_listening()));
            out.extend(g.collect());
        }
        if let Ok(g) = prometheus::IntGauge::new(
            "ringkv_cluster_rebuilding",
            "1 while this node syncs with its peers after it may have lost data (it applies no write and answers no read from its own record)",
        ) {
            g.set(i64::from(self.cluster.is_rebuilding()));
            out.extend(g.collect());
        }
        let mut counter = |name: &str, help: &str, v: u64| {
            if let Ok(c) = IntCounter::new(name, help) {
                c.inc_by(v);
                out.extend(c.collect());
            }
        };
        counter(
            "ringkv_cluster_rpc_connections_retired_total",
            "Node-to-node connections dropped after a call timed out on them in silence",
            self.cluster.rpc_connections_retired(),
        );
        counter(
            "ringkv_cluster_unavailable_total",
            "Requests answered NOQUORUM",
            stats.unavailable.get(),
        );
        counter(
            "ringkv_cluster_replica_timeouts_total",
            "Replica calls that timed out",
            stats.replica_timeouts.get(),
        );
        counter(
            "ringkv_cluster_read_repairs_total",
            "Replicas brought up to date by read repair",
            stats.read_repairs.get(),
        );
        counter(
            "ringkv_cluster_gossip_rounds_total",
            "Gossip rounds run",
            stats.gossip_rounds.get(),
        );
        counter(
            "ringkv_cluster_gossip_rejected_states_total",
            "Gossiped member states ignored for claiming more than the member can have announced (a generation over a day ahead, an impossible version)",
            self.cluster.members().rejected_states(),
        );
        counter(
            "ringkv_cluster_handshakes_refused_total",
            "Cluster-port connections refused or dropped before they authenticated (protected mode, too many unauthenticated connections, a failed or unfinished handshake)",
            stats.handshakes_refused.get(),
        );
        counter(
            "ringkv_cluster_local_pauses_total",
            "Times this node was paused long enough that peers' silence during it was forgiven",
            stats.local_pauses.get(),
        );
        let hints = &self.cluster.hints().stats;
        counter(
            "ringkv_cluster_hints_stored_total",
            "Hints stored for replicas that were down or did not acknowledge",
            hints.stored.get(),
        );
        counter(
            "ringkv_cluster_hints_replayed_total",
            "Hints delivered to their replica",
            hints.replayed.get(),
        );
        counter(
            "ringkv_cluster_hints_expired_total",
            "Hints dropped at hint-max-age-ms",
            hints.expired.get(),
        );
        let ae = self.cluster.anti_entropy_stats();
        counter(
            "ringkv_cluster_anti_entropy_rounds_total",
            "Anti-entropy rounds (background, CLUSTER REPAIR, join, leave)",
            ae.rounds.get(),
        );
        counter(
            "ringkv_cluster_anti_entropy_trees_compared_total",
            "Merkle trees compared with a peer",
            ae.trees_compared.get(),
        );
        counter(
            "ringkv_cluster_anti_entropy_ranges_differing_total",
            "Merkle leaves (token slices) found different",
            ae.ranges_differing.get(),
        );
        counter(
            "ringkv_cluster_anti_entropy_keys_repaired_total",
            "Keys repaired by anti-entropy, here or on a peer",
            ae.keys_repaired.get(),
        );
        let lat = &stats.replica_latency;
        counter(
            "ringkv_cluster_replica_calls_total",
            "Calls to other replicas",
            lat.count.get(),
        );
        if let Ok(g) = GaugeVec::new(
            Opts::new(
                "ringkv_cluster_replica_latency_le_seconds_calls",
                "Replica calls whose round trip was at most `le` seconds (cumulative)",
            ),
            &["le"],
        ) {
            for (bound, bucket) in LatencyHistogram::BOUNDS_MICROS.iter().zip(&lat.buckets) {
                let le = format!("{}", *bound as f64 / 1e6);
                g.with_label_values(&[le.as_str()]).set(bucket.get() as f64);
            }
            out.extend(g.collect());
        }
        out
    }
}
