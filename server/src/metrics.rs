//! Prometheus metrics and the `/metrics` HTTP endpoint.
//!
//! Server metrics are registered once and updated on the hot path through
//! pre-resolved handles (no label lookup per command). Engine metrics are a
//! [`Collector`] that reads the engine's statistics snapshot at scrape time,
//! so the engine keeps plain atomics and knows nothing of Prometheus.
//! Names follow `ringkv_<subsystem>_<what>_<unit>`; counters end in `_total`.
//!
//! Per-command figures for `INFO commandstats` are kept separately in
//! [`CommandStats`] because `CONFIG RESETSTAT` resets them, while Prometheus
//! counters must never go backwards.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use ringkv_engine::Engine;
use tokio::net::TcpListener;

use crate::command::table::{COMMANDS, CommandSpec};

/// Latency buckets, seconds: 10 µs to 2.5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Figures for one command: resettable ones for INFO, monotonic ones for Prometheus.
pub struct CommandStats {
    /// Full name (`get`, `client|list`).
    pub name: String,
    /// Calls since start or CONFIG RESETSTAT.
    pub calls: AtomicU64,
    /// Microseconds spent, since start or RESETSTAT.
    pub usec: AtomicU64,
    /// Calls that returned an error.
    pub failed: AtomicU64,
    /// Calls refused before running (arity, auth, transaction state).
    pub rejected: AtomicU64,
    latency: Histogram,
    failed_total: IntCounter,
    rejected_total: IntCounter,
}

impl CommandStats {
    /// Records one call.
    pub fn record(&self, micros: u64, failed: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.usec.fetch_add(micros, Ordering::Relaxed);
        self.latency.observe(micros as f64 / 1e6);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.failed_total.inc();
        }
    }

    /// Records one refused call.
    pub fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.rejected_total.inc();
    }

    /// Zeroes the INFO figures (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for a in [&self.calls, &self.usec, &self.failed, &self.rejected] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// Every metric the server exports.
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// One entry per command and subcommand; see [`Metrics::command`].
    commands: Vec<CommandStats>,
    /// Index in `commands` of each container's first subcommand, by top-level index.
    sub_base: Vec<usize>,
    /// Connected clients.
    pub connected_clients: IntGauge,
    /// Connections accepted.
    pub connections_received: IntCounter,
    /// Connections refused, by reason (`maxclients`, `protected_mode`).
    pub connections_rejected: IntCounterVec,
    /// Bytes read from clients.
    pub net_input_bytes: IntCounter,
    /// Bytes written to clients.
    pub net_output_bytes: IntCounter,
    /// Error replies and protocol errors, by kind (reply prefix or protocol error).
    pub errors: IntCounterVec,
    /// Reads that found their key.
    pub keyspace_hits: IntCounter,
    /// Reads that did not.
    pub keyspace_misses: IntCounter,
}

impl Metrics {
    /// Registers every metric, including the engine collector for `engine`.
    pub fn new(
        engine: Engine,
        cluster: Arc<ringkv_cluster::Coordinator>,
    ) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ringkv_command_duration_seconds",
                "Command latency, by command",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["cmd"],
        )?;
        let failed = IntCounterVec::new(
            Opts::new(
                "ringkv_command_failed_total",
                "Commands that returned an error, by command",
            ),
            &["cmd"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "ringkv_command_rejected_total",
                "Commands refused before running, by command",
            ),
            &["cmd"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(failed.clone()))?;
        registry.register(Box::new(rejected.clone()))?;

        let mut commands = Vec::new();
        let mut sub_base = vec![0; COMMANDS.len()];
        let mut add = |name: String| {
            commands.push(CommandStats {
                latency: latency.with_label_values(&[name.as_str()]),
                failed_total: failed.with_label_values(&[name.as_str()]),
                rejected_total: rejected.with_label_values(&[name.as_str()]),
                calls: AtomicU64::new(0),
                usec: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                name,
            });
        };
        for spec in COMMANDS {
            add(spec.name.to_string());
        }
        let mut next = COMMANDS.len();
        for (i, spec) in COMMANDS.iter().enumerate() {
            if let Some(slot) = sub_base.get_mut(i) {
                *slot = next;
            }
            for sub in spec.subcommands {
                add(format!("{}|{}", spec.name, sub.name));
                next += 1;
            }
        }

        let reg = |c: Box<dyn Collector>| registry.register(c);
        let connected_clients = IntGauge::new("ringkv_connected_clients", "Connected clients")?;
        let connections_received = IntCounter::new(
            "ringkv_connections_received_total",
            "Client connections accepted",
        )?;
        let connections_rejected = IntCounterVec::new(
            Opts::new(
                "ringkv_connections_rejected_total",
                "Client connections refused, by reason",
            ),
            &["reason"],
        )?;
        let net_input_bytes =
            IntCounter::new("ringkv_net_input_bytes_total", "Bytes read from clients")?;
        let net_output_bytes =
            IntCounter::new("ringkv_net_output_bytes_total", "Bytes written to clients")?;
        let errors = IntCounterVec::new(
            Opts::new(
                "ringkv_errors_total",
                "Error replies and protocol errors, by kind",
            ),
            &["kind"],
        )?;
        let keyspace_hits = IntCounter::new(
            "ringkv_keyspace_hits_total",
            "Key lookups that found the key",
        )?;
        let keyspace_misses = IntCounter::new(
            "ringkv_keyspace_misses_total",
            "Key lookups that did not find the key",
        )?;
        reg(Box::new(connected_clients.clone()))?;
        reg(Box::new(connections_received.clone()))?;
        reg(Box::new(connections_rejected.clone()))?;
        reg(Box::new(net_input_bytes.clone()))?;
        reg(Box::new(net_output_bytes.clone()))?;
        reg(Box::new(errors.clone()))?;
        reg(Box::new(keyspace_hits.clone()))?;
        reg(Box::new(keyspace_misses.clone()))?;
        reg(Box::new(EngineCollector::new(engine)?))?;
        reg(Box::new(crate::cluster_metrics::ClusterCollector::new(
            cluster,
        )?))?;

        Ok(Metrics {
            registry,
            commands,
            sub_base,
            connected_clients,
            connections_received,
            connections_rejected,
            net_input_bytes,
            net_output_bytes,
            errors,
            keyspace_hits,
            keyspace_misses,
        })
    }

    /// The statistics slot of a (sub)command from the static table.
    pub fn command(
        &self,
        parent: Option<&CommandSpec>,
        spec: &CommandSpec,
    ) -> Option<&CommandStats> {
        let index_in = |table: &[CommandSpec], s: &CommandSpec| {
            let base = table.as_ptr() as usize;
            let addr = std::ptr::from_ref(s) as usize;
            let size = std::mem::size_of::<CommandSpec>();
            (addr >= base && addr < base + std::mem::size_of_val(table))
                .then(|| (addr - base) / size)
        };
        match parent {
            None => index_in(COMMANDS, spec).and_then(|i| self.commands.get(i)),
            Some(p) => {
                let pi = index_in(COMMANDS, p)?;
                let si = index_in(p.subcommands, spec)?;
                self.commands.get(self.sub_base.get(pi)? + si)
            }
        }
    }

    /// Every command's figures, for INFO commandstats and RESETSTAT.
    pub fn all_commands(&self) -> &[CommandStats] {
        &self.commands
    }

    /// Counts an error reply or protocol error of `kind`.
    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on an invalid family, which the
        // registry has already rejected at registration.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Exposes the engine's statistics snapshot at scrape time.
struct EngineCollector {
    engine: Engine,
    descs: Vec<Desc>,
}

impl EngineCollector {
    fn new(engine: Engine) -> Result<Self, prometheus::Error> {
        // Descriptors are built from a sample collection so `desc()` and
        // `collect()` always agree.
        let mut c = EngineCollector {
            engine,
            descs: Vec::new(),
        };
        let mut descs = Vec::new();
        for family in c.collect() {
            descs.push(Desc::new(
                family.name().to_string(),
                family.help().to_string(),
                if family.name().starts_with("ringkv_engine_level_") {
                    vec!["level".into()]
                } else {
                    vec![]
                },
                Default::default(),
            )?);
        }
        c.descs = descs;
        Ok(c)
    }
}

impl Collector for EngineCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let s = self.engine.stats();
        let mut out = Vec::new();
        let mut gauge = |name: &str, help: &str, v: f64| {
            if let Ok(g) = Gauge::new(name, help) {
                g.set(v);
                out.extend(g.collect());
            }
        };
        gauge(
            "ringkv_engine_memtable_bytes",
            "Bytes in the active memtable",
            s.memtable_bytes as f64,
        );
        gauge(
            "ringkv_engine_immutable_memtables",
            "Frozen memtables awaiting flush",
            s.immutable_memtables as f64,
        );
        gauge(
            "ringkv_engine_wal_bytes",
            "Bytes in live write-ahead logs",
            s.wal_bytes as f64,
        );
        gauge(
            "ringkv_engine_l0_runs",
            "Sorted runs in level 0",
            s.l0_runs as f64,
        );
        gauge(
            "ringkv_engine_pending_compaction_bytes",
            "Estimated bytes awaiting compaction",
            s.pending_compaction_bytes as f64,
        );
        gauge(
            "ringkv_engine_write_amplification",
            "Bytes written by flush and compaction per byte written to the WAL",
            s.write_amplification,
        );
        gauge(
            "ringkv_engine_live_sst_bytes",
            "Bytes in live SSTables",
            s.live_sst_bytes as f64,
        );
        gauge(
            "ringkv_engine_open_files",
            "SSTables held open",
            s.open_files as f64,
        );
        gauge(
            "ringkv_engine_block_cache_bytes",
            "Bytes held by the block cache",
            s.block_cache_bytes as f64,
        );
        gauge(
            "ringkv_engine_block_cache_capacity_bytes",
            "Block cache budget",
            s.block_cache_capacity as f64,
        );
        gauge(
            "ringkv_engine_background_error",
            "1 while the engine refuses writes or background work fails (disk full, I/O error, damage)",
            f64::from(u8::from(s.background_error.is_some())),
        );
        let probes = if s.point_reads == 0 {
            0.0
        } else {
            s.sstables_probed as f64 / s.point_reads as f64
        };
        gauge(
            "ringkv_engine_sstables_probed_per_read",
            "SSTables probed per point read",
            probes,
        );
        let mut counter = |name: &str, help: &str, v: u64| {
            if let Ok(c) = IntCounter::new(name, help) {
                c.inc_by(v);
                out.extend(c.collect());
            }
        };
        counter(
            "ringkv_engine_wal_write_failures_total",
            "WAL appends that failed (writes refused until the disk took writes again)",
            s.wal_write_failures,
        );
        counter(
            "ringkv_engine_wal_write_recoveries_total",
            "Times writes resumed after a failed WAL append or a read-only start",
            s.wal_write_recoveries,
        );
        counter(
            "ringkv_engine_flushes_total",
            "Memtables flushed to SSTables",
            s.flushes,
        );
        counter(
            "ringkv_engine_compactions_total",
            "Compactions completed",
            s.compactions,
        );
        counter(
            "ringkv_engine_wal_written_bytes_total",
            "Bytes written to the write-ahead log",
            s.bytes_written_wal,
        );
        counter(
            "ringkv_engine_flush_written_bytes_total",
            "Bytes written by flushes",
            s.bytes_written_flush,
        );
        counter(
            "ringkv_engine_compaction_written_bytes_total",
            "Bytes written by compactions",
            s.bytes_written_compaction,
        );
        counter(
            "ringkv_engine_point_reads_total",
            "Point reads",
            s.point_reads,
        );
        counter(
            "ringkv_engine_bloom_checks_total",
            "Bloom filter checks",
            s.bloom_checks,
        );
        counter(
            "ringkv_engine_bloom_useful_total",
            "Bloom filter checks that skipped a table",
            s.bloom_useful,
        );
        counter(
            "ringkv_engine_bloom_false_positives_total",
            "Bloom filter checks that passed for an absent key",
            s.bloom_false_positives,
        );
        counter(
            "ringkv_engine_block_cache_hits_total",
            "Block cache hits",
            s.block_cache_hits,
        );
        counter(
            "ringkv_engine_block_cache_misses_total",
            "Block cache misses",
            s.block_cache_misses,
        );
        counter(
            "ringkv_engine_write_slowdowns_total",
            "Writes delayed by back-pressure",
            s.stall_slowdowns,
        );
        counter(
            "ringkv_engine_write_stops_total",
            "Writes stopped by back-pressure",
            s.stall_stops,
        );
        counter(
            "ringkv_engine_write_stall_microseconds_total",
            "Time writes spent stalled",
            s.stall_micros,
        );
        counter(
            "ringkv_engine_tombstones_dropped_total",
            "Tombstones dropped by compaction",
            s.tombstones_dropped,
        );
        counter(
            "ringkv_engine_expired_dropped_total",
            "Expired values dropped by compaction",
            s.expired_dropped,
        );
        for (help, name, value) in [
            (
                "SSTables per level",
                "ringkv_engine_level_files",
                &(|l: &ringkv_engine::LevelStats| l.files as f64)
                    as &dyn Fn(&ringkv_engine::LevelStats) -> f64,
            ),
            (
                "Bytes per level",
                "ringkv_engine_level_bytes",
                &|l: &ringkv_engine::LevelStats| l.bytes as f64,
            ),
            (
                "Sorted runs per level",
                "ringkv_engine_level_runs",
                &|l: &ringkv_engine::LevelStats| l.runs as f64,
            ),
        ] {
            if let Ok(vec) = prometheus::GaugeVec::new(Opts::new(name, help), &["level"]) {
                for (i, level) in s.levels.iter().enumerate() {
                    vec.with_label_values(&[i.to_string().as_str()])
                        .set(value(level));
                }
                out.extend(vec.collect());
            }
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let mut backoff = crate::listener::AcceptBackoff::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                backoff.failed("metrics", &e).await;
                continue;
            }
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = Arc::clone(&metrics);
                async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let mut resp = if req.uri().path() == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(metrics.render())));
        if let Ok(v) = hyper::header::HeaderValue::from_str(prometheus::TEXT_FORMAT) {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"not found; try /metrics\n")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}
