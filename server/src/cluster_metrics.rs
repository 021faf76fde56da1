//! Prometheus view of the cluster: membership by state and the
//! coordinator's counters, read at scrape time from
//! [`ringkv_cluster::coordinator::ClusterStats`] (plain atomics).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};
use ringkv_cluster::Coordinator;
use ringkv_cluster::{LatencyHistogram, PerLevel};

use crate::stat::{Row, counter, gauge, ratio};

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
        let descs = crate::stat::descs_of(c.collect())?;
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
        out.extend(crate::stat::metric_families(CLUSTER_ROWS, &self.cluster));
        let lat = &stats.replica_latency;
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

/// The cluster's figures: INFO `# Cluster` (and CLUSTER INFO) and the
/// `ringkv_cluster_*` metrics.
pub static CLUSTER_ROWS: &[Row<Arc<Coordinator>>] = &[
    gauge(
        "cluster_known_nodes",
        "ringkv_cluster_known_nodes",
        "Members this node knows of, in any state",
        |c| c.members().views().len() as u64,
    ),
    gauge(
        "cluster_vnodes",
        "ringkv_cluster_vnodes",
        "Virtual nodes on the ring",
        |c| c.members().ring().vnodes().len() as u64,
    ),
    ratio(
        "cluster_my_ownership",
        "ringkv_cluster_my_ownership_ratio",
        "Share of the token space this node owns as primary",
        |c| {
            let ring = c.members().ring();
            ring.ownership().get(&c.id()).copied().unwrap_or(0.0)
        },
        4,
    ),
    gauge(
        "cluster_rebuilding",
        "ringkv_cluster_rebuilding",
        "1 while this node syncs with its peers after it may have lost data (it applies no write and answers no read from its own record)",
        |c| u64::from(c.is_rebuilding()),
    ),
    counter(
        "cluster_rpc_connections_retired",
        "ringkv_cluster_rpc_connections_retired_total",
        "Node-to-node connections dropped after a call timed out on them in silence",
        |c| c.rpc_connections_retired(),
    ),
    gauge(
        "cluster_replicas_effective",
        "ringkv_cluster_replicas_effective",
        "Replicas each key has on the current ring (the configured count, or fewer members)",
        |c| c.effective_replicas() as u64,
    ),
    counter(
        "cluster_unavailable",
        "ringkv_cluster_unavailable_total",
        "Requests answered NOQUORUM",
        |c| c.stats().unavailable.get(),
    ),
    counter(
        "cluster_replica_timeouts",
        "ringkv_cluster_replica_timeouts_total",
        "Replica calls that timed out",
        |c| c.stats().replica_timeouts.get(),
    ),
    counter(
        "cluster_late_applies_refused",
        "ringkv_cluster_late_applies_refused_total",
        "Writes forwarded to this node that arrived after the forwarding node stopped waiting, refused unapplied",
        |c| c.stats().late_applies_refused.get(),
    ),
    counter(
        "cluster_publish_failures",
        "ringkv_cluster_publish_failures_total",
        "Published messages a live node did not confirm delivering (at-most-once: not retried)",
        |c| c.stats().publish_failures.get(),
    ),
    counter(
        "cluster_messages_received",
        "ringkv_cluster_messages_received_total",
        "Published messages delivered to this node's subscribers from other nodes",
        |c| c.stats().messages_received.get(),
    ),
    counter(
        "cluster_read_repairs",
        "ringkv_cluster_read_repairs_total",
        "Replicas brought up to date by read repair",
        |c| c.stats().read_repairs.get(),
    ),
    counter(
        "cluster_speculative_reads",
        "ringkv_cluster_speculative_reads_total",
        "Key reads that asked more replicas than their level needs: one asked failed or had not answered within speculative-read-ms",
        |c| c.stats().speculative_reads.get(),
    ),
    counter(
        "cluster_delta_writes",
        "ringkv_cluster_delta_writes_total",
        "Collection writes shipped to a replica as the operation on an agreed base",
        |c| c.stats().delta_writes.get(),
    ),
    counter(
        "cluster_delta_diverged",
        "ringkv_cluster_delta_diverged_total",
        "Shipped collection writes a replica could not apply (another base): the whole record was sent",
        |c| c.stats().delta_diverged.get(),
    ),
    counter(
        "cluster_digest_reads",
        "ringkv_cluster_digest_reads_total",
        "Collection reads answered from local members after the replicas agreed on the record's context",
        |c| c.stats().digest_reads.get(),
    ),
    counter(
        "cluster_clock_requests",
        "ringkv_cluster_clock_requests_total",
        "Requests for replicas' record contexts (CLOCK, CLOCK_MANY) that collection writes and reads sent, batched per replica",
        |c| c.stats().clock_requests.get(),
    ),
    counter(
        "cluster_clock_keys",
        "ringkv_cluster_clock_keys_total",
        "Keys those requests asked about (over cluster_clock_requests: the batch size)",
        |c| c.stats().clock_keys.get(),
    ),
    counter(
        "cluster_digest_mismatches",
        "ringkv_cluster_digest_mismatches_total",
        "Collection reads whose replicas disagreed: read whole and repaired",
        |c| c.stats().digest_mismatches.get(),
    ),
    counter(
        "cluster_caught_up",
        "ringkv_cluster_caught_up_total",
        "Collection reads and writes of a split collection that waited for this node's record to catch up with the other replicas' instead of reading it whole from them",
        |c| c.stats().caught_up.get(),
    ),
    counter(
        "cluster_heavy_steps",
        "ringkv_cluster_heavy_steps_total",
        "Steps on a large collection (read, merged, diffed, encoded or decoded whole) run after handing the runtime thread's other tasks to another thread",
        |_| ringkv_cluster::heavy_steps().0,
    ),
    counter(
        "cluster_heavy_step_usec",
        "ringkv_cluster_heavy_step_microseconds_total",
        "Time those steps took",
        |_| ringkv_cluster::heavy_steps().1,
    ),
    counter(
        "cluster_replica_calls",
        "ringkv_cluster_replica_calls_total",
        "Calls to other replicas",
        |c| c.stats().replica_latency.count.get(),
    ),
    ratio(
        "cluster_replica_latency_avg_usec",
        "ringkv_cluster_replica_latency_avg_microseconds",
        "Mean round trip of a call to another replica",
        |c| {
            let lat = &c.stats().replica_latency;
            let calls = lat.count.get();
            if calls == 0 {
                0.0
            } else {
                lat.sum_micros.get() as f64 / calls as f64
            }
        },
        1,
    ),
    counter(
        "cluster_gossip_rounds",
        "ringkv_cluster_gossip_rounds_total",
        "Gossip rounds run",
        |c| c.stats().gossip_rounds.get(),
    ),
    counter(
        "cluster_gossip_rejected_states",
        "ringkv_cluster_gossip_rejected_states_total",
        "Gossiped member states ignored for claiming more than the member can have announced (a generation over a day ahead, an impossible version)",
        |c| c.members().rejected_states(),
    ),
    counter(
        "cluster_local_pauses",
        "ringkv_cluster_local_pauses_total",
        "Times this node was paused long enough that peers' silence during it was forgiven",
        |c| c.stats().local_pauses.get(),
    ),
    gauge(
        "cluster_port_listening",
        "ringkv_cluster_port_listening",
        "1 while the cluster port accepts node-to-node connections (a cluster of one keeps it closed until CLUSTER JOIN)",
        |c| u64::from(c.cluster_port().is_listening()),
    ),
    gauge(
        "cluster_port_protected_mode",
        "ringkv_cluster_port_protected_mode",
        "1 while the cluster port has no secret and accepts loopback peers only",
        |c| u64::from(c.cluster_port().is_protected()),
    ),
    counter(
        "cluster_handshakes_refused",
        "ringkv_cluster_handshakes_refused_total",
        "Cluster-port connections refused or dropped before they authenticated (protected mode, too many unauthenticated connections, a failed or unfinished handshake)",
        |c| c.stats().handshakes_refused.get(),
    ),
    gauge(
        "cluster_hints_pending",
        "ringkv_cluster_hints_pending",
        "Hints stored on this node awaiting delivery",
        |c| c.hints().pending(),
    ),
    counter(
        "cluster_hints_stored",
        "ringkv_cluster_hints_stored_total",
        "Hints stored for replicas that were down or did not acknowledge",
        |c| c.hints().stats.stored.get(),
    ),
    counter(
        "cluster_hints_replayed",
        "ringkv_cluster_hints_replayed_total",
        "Hints delivered to their replica",
        |c| c.hints().stats.replayed.get(),
    ),
    counter(
        "cluster_hints_expired",
        "ringkv_cluster_hints_expired_total",
        "Hints dropped at hint-max-age-ms",
        |c| c.hints().stats.expired.get(),
    ),
    counter(
        "cluster_hints_flushed",
        "ringkv_cluster_hints_flushed_total",
        "Hints dropped because FLUSHDB or FLUSHALL emptied their database",
        |c| c.hints().stats.flushed.get(),
    ),
    gauge(
        "collection_reclaim_pending",
        "ringkv_collection_reclaim_pending",
        "Replaced generations of large collections' members waiting for background deletion",
        |c| c.keyspace().reclaim_stats().pending.load(Ordering::Relaxed),
    ),
    counter(
        "collection_members_reclaimed",
        "ringkv_collection_members_reclaimed_total",
        "Member records of deleted or replaced large collections deleted in the background",
        |c| c.keyspace().reclaim_stats().members.load(Ordering::Relaxed),
    ),
    counter(
        "collection_sample_draws",
        "ringkv_collection_sample_draws_total",
        "Pools of random picks drawn from large collections (one walk of the member keys each)",
        |c| c.keyspace().sample_stats().0,
    ),
    counter(
        "collection_sample_picks",
        "ringkv_collection_sample_picks_total",
        "Members proposed for SPOP, SRANDMEMBER, HRANDFIELD or ZRANDMEMBER by pools of random picks",
        |c| c.keyspace().sample_stats().1,
    ),
    counter(
        "collection_order_copies",
        "ringkv_collection_order_copies_total",
        "Walks that copied a large sorted set's order or a large list's positions, for ranks and indexes",
        |c| c.keyspace().order_copies(),
    ),
    counter(
        "collection_list_end_walks",
        "ringkv_collection_list_end_walks_total",
        "Walks from a large list's end that kept the elements nearest it, for the pops that follow",
        |c| c.keyspace().list_end_stats().0,
    ),
    counter(
        "collection_list_end_reads_spared",
        "ringkv_collection_list_end_reads_spared_total",
        "Pushes and pops of a large list that took their end elements from those kept, without a walk",
        |c| c.keyspace().list_end_stats().1,
    ),
    counter(
        "collection_rank_piece_walks",
        "ringkv_collection_rank_piece_walks_total",
        "Walks that counted a sorted set too large for a copy of its order in pieces, for ranks",
        |c| c.keyspace().rank_piece_stats().0,
    ),
    counter(
        "collection_rank_pieces_cut",
        "ringkv_collection_rank_pieces_cut_total",
        "Pieces of a large sorted set's index that writes grew past twice their size, cut again",
        |c| c.keyspace().rank_piece_stats().1,
    ),
    counter(
        "cluster_anti_entropy_rounds",
        "ringkv_cluster_anti_entropy_rounds_total",
        "Anti-entropy rounds (background, CLUSTER REPAIR, join, leave)",
        |c| c.anti_entropy_stats().rounds.get(),
    ),
    counter(
        "cluster_anti_entropy_trees_compared",
        "ringkv_cluster_anti_entropy_trees_compared_total",
        "Merkle trees compared with a peer",
        |c| c.anti_entropy_stats().trees_compared.get(),
    ),
    counter(
        "cluster_anti_entropy_ranges_differing",
        "ringkv_cluster_anti_entropy_ranges_differing_total",
        "Merkle leaves (token slices) found different",
        |c| c.anti_entropy_stats().ranges_differing.get(),
    ),
    counter(
        "cluster_anti_entropy_keys_repaired",
        "ringkv_cluster_anti_entropy_keys_repaired_total",
        "Keys repaired by anti-entropy, here or on a peer",
        |c| c.anti_entropy_stats().keys_repaired.get(),
    ),
    gauge(
        "cluster_anti_entropy_last_round_ms",
        "ringkv_cluster_anti_entropy_last_round_milliseconds",
        "Duration of the last anti-entropy round",
        |c| c.anti_entropy_stats().last_round_ms.load(Ordering::Relaxed),
    ),
];
