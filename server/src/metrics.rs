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

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, IntGauge, Opts, Registry, TextEncoder};
use ringkv_engine::Engine;
use tokio::net::TcpListener;

use crate::command::table::{COMMANDS, CommandSpec};
use crate::command_stats::{CommandCollector, CommandStats};
use crate::stat::{Row, counter, gauge, ratio};

/// One (sub)command's statistics slot ([`Metrics::command`]).
pub struct CommandSlot<'a> {
    stats: &'a CommandStats,
    index: usize,
}

impl CommandSlot<'_> {
    /// Records one call that took `micros`, and counts it for INFO
    /// `latencystats` when `fine`.
    pub fn record(&self, micros: u64, failed: bool, fine: bool) {
        self.stats.record(self.index, micros, failed);
        if fine {
            self.stats.record_fine(self.index, micros);
        }
    }

    /// Records one refused call.
    pub fn reject(&self) {
        self.stats.reject(self.index);
    }
}

/// Every metric the server exports.
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Every command's and subcommand's figures; see [`Metrics::command`].
    commands: Arc<CommandStats>,
    /// Index in `commands` of each container's first subcommand, by top-level index.
    sub_base: Vec<usize>,
    /// Connected clients.
    pub connected_clients: IntGauge,
}

impl Metrics {
    /// Registers every metric, including the engine collector for `engine`.
    pub fn new(
        engine: Engine,
        cluster: Arc<ringkv_cluster::Coordinator>,
    ) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let mut names: Vec<String> = COMMANDS.iter().map(|s| s.name.to_string()).collect();
        let mut sub_base = vec![0; COMMANDS.len()];
        for (i, spec) in COMMANDS.iter().enumerate() {
            if let Some(slot) = sub_base.get_mut(i) {
                *slot = names.len();
            }
            names.extend(
                spec.subcommands
                    .iter()
                    .map(|sub| format!("{}|{}", spec.name, sub.name)),
            );
        }
        let commands = Arc::new(CommandStats::new(names));
        registry.register(Box::new(CommandCollector::new(Arc::clone(&commands))?))?;

        let reg = |c: Box<dyn Collector>| registry.register(c);
        let connected_clients = IntGauge::new("ringkv_connected_clients", "Connected clients")?;
        reg(Box::new(connected_clients.clone()))?;
        reg(Box::new(EngineCollector::new(engine)?))?;
        reg(Box::new(crate::cluster_metrics::ClusterCollector::new(
            cluster,
        )?))?;

        Ok(Metrics {
            registry,
            commands,
            sub_base,
            connected_clients,
        })
    }

    /// The statistics slot of a (sub)command from the static table.
    pub fn command(
        &self,
        parent: Option<&CommandSpec>,
        spec: &CommandSpec,
    ) -> Option<CommandSlot<'_>> {
        let index_in = |table: &[CommandSpec], s: &CommandSpec| {
            let base = table.as_ptr() as usize;
            let addr = std::ptr::from_ref(s) as usize;
            let size = std::mem::size_of::<CommandSpec>();
            (addr >= base && addr < base + std::mem::size_of_val(table))
                .then(|| (addr - base) / size)
        };
        let index = match parent {
            None => index_in(COMMANDS, spec)?,
            Some(p) => {
                let pi = index_in(COMMANDS, p)?;
                let si = index_in(p.subcommands, spec)?;
                self.sub_base.get(pi)? + si
            }
        };
        Some(CommandSlot {
            stats: &self.commands,
            index,
        })
    }

    /// Every command's figures, for INFO commandstats and RESETSTAT.
    pub fn commands(&self) -> &CommandStats {
        &self.commands
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
        let mut c = EngineCollector {
            engine,
            descs: Vec::new(),
        };
        c.descs = crate::stat::descs_of(c.collect())?;
        Ok(c)
    }
}

/// The engine's figures: INFO `# Engine` and the `ringkv_engine_*` metrics.
pub static ENGINE_ROWS: &[Row<ringkv_engine::Stats>] = &[
    gauge(
        "sequence",
        "ringkv_engine_sequence",
        "Highest sequence number visible to readers",
        |s| s.seq,
    ),
    gauge(
        "memtable_bytes",
        "ringkv_engine_memtable_bytes",
        "Bytes in the active memtable",
        |s| s.memtable_bytes,
    ),
    gauge(
        "immutable_memtables",
        "ringkv_engine_immutable_memtables",
        "Frozen memtables awaiting flush",
        |s| s.immutable_memtables as u64,
    ),
    gauge(
        "wal_bytes",
        "ringkv_engine_wal_bytes",
        "Bytes in live write-ahead logs",
        |s| s.wal_bytes,
    ),
    gauge(
        "l0_runs",
        "ringkv_engine_l0_runs",
        "Sorted runs in level 0",
        |s| s.l0_runs as u64,
    ),
    gauge(
        "pending_compaction_bytes",
        "ringkv_engine_pending_compaction_bytes",
        "Estimated bytes awaiting compaction",
        |s| s.pending_compaction_bytes,
    ),
    gauge(
        "live_sst_bytes",
        "ringkv_engine_live_sst_bytes",
        "Bytes in live SSTables",
        |s| s.live_sst_bytes,
    ),
    gauge(
        "open_files",
        "ringkv_engine_open_files",
        "SSTables held open",
        |s| s.open_files as u64,
    ),
    gauge(
        "block_cache_bytes",
        "ringkv_engine_block_cache_bytes",
        "Bytes held by the block cache",
        |s| s.block_cache_bytes,
    ),
    gauge(
        "block_cache_capacity",
        "ringkv_engine_block_cache_capacity_bytes",
        "Block cache budget",
        |s| s.block_cache_capacity,
    ),
    gauge(
        "block_cache_pinned_bytes",
        "ringkv_engine_block_cache_pinned_bytes",
        "Block cache bytes pinned by level-0 tables (filters and indexes)",
        |s| s.block_cache_pinned_bytes,
    ),
    gauge(
        "row_cache_bytes",
        "ringkv_engine_row_cache_bytes",
        "Block cache bytes held by the row cache (the newest version of hot keys, per table)",
        |s| s.row_cache_bytes,
    ),
    ratio(
        "write_amplification",
        "ringkv_engine_write_amplification",
        "Bytes written by flush and compaction per byte written to the WAL",
        |s| s.write_amplification,
        2,
    ),
    ratio(
        "sstables_probed_per_read",
        "ringkv_engine_sstables_probed_per_read",
        "SSTables probed per point read",
        |s| {
            if s.point_reads == 0 {
                0.0
            } else {
                s.sstables_probed as f64 / s.point_reads as f64
            }
        },
        2,
    ),
    counter(
        "flushes",
        "ringkv_engine_flushes_total",
        "Memtables flushed to SSTables",
        |s| s.flushes,
    ),
    counter(
        "compactions",
        "ringkv_engine_compactions_total",
        "Compactions completed",
        |s| s.compactions,
    ),
    counter(
        "wal_written_bytes",
        "ringkv_engine_wal_written_bytes_total",
        "Bytes written to the write-ahead log",
        |s| s.bytes_written_wal,
    ),
    counter(
        "flush_written_bytes",
        "ringkv_engine_flush_written_bytes_total",
        "Bytes written by flushes",
        |s| s.bytes_written_flush,
    ),
    counter(
        "compaction_written_bytes",
        "ringkv_engine_compaction_written_bytes_total",
        "Bytes written by compactions",
        |s| s.bytes_written_compaction,
    ),
    counter(
        "compaction_read_bytes",
        "ringkv_engine_compaction_read_bytes_total",
        "Bytes read by compactions",
        |s| s.bytes_read_compaction,
    ),
    counter(
        "compaction_micros",
        "ringkv_engine_compaction_microseconds_total",
        "Time compactions spent merging",
        |s| s.compaction_micros,
    ),
    counter(
        "point_reads",
        "ringkv_engine_point_reads_total",
        "Point reads",
        |s| s.point_reads,
    ),
    counter(
        "bloom_checks",
        "ringkv_engine_bloom_checks_total",
        "Bloom filter checks",
        |s| s.bloom_checks,
    ),
    counter(
        "bloom_useful",
        "ringkv_engine_bloom_useful_total",
        "Bloom filter checks that skipped a table",
        |s| s.bloom_useful,
    ),
    counter(
        "bloom_false_positives",
        "ringkv_engine_bloom_false_positives_total",
        "Bloom filter checks that passed for an absent key",
        |s| s.bloom_false_positives,
    ),
    counter(
        "block_cache_hits",
        "ringkv_engine_block_cache_hits_total",
        "Block cache hits",
        |s| s.block_cache_hits,
    ),
    counter(
        "block_cache_misses",
        "ringkv_engine_block_cache_misses_total",
        "Block cache misses",
        |s| s.block_cache_misses,
    ),
    counter(
        "row_cache_hits",
        "ringkv_engine_row_cache_hits_total",
        "Point reads of an SSTable answered by the row cache",
        |s| s.row_cache_hits,
    ),
    counter(
        "row_cache_fills",
        "ringkv_engine_row_cache_fills_total",
        "Rows kept by the row cache (read from a data block, a second time since the doorkeeper cleared)",
        |s| s.row_cache_fills,
    ),
    counter(
        "write_stall_slowdowns",
        "ringkv_engine_write_slowdowns_total",
        "Writes delayed by back-pressure",
        |s| s.stall_slowdowns,
    ),
    counter(
        "write_stall_stops",
        "ringkv_engine_write_stops_total",
        "Writes stopped by back-pressure",
        |s| s.stall_stops,
    ),
    counter(
        "write_stall_micros",
        "ringkv_engine_write_stall_microseconds_total",
        "Time writes spent stalled",
        |s| s.stall_micros,
    ),
    counter(
        "tombstones_dropped",
        "ringkv_engine_tombstones_dropped_total",
        "Tombstones dropped by compaction",
        |s| s.tombstones_dropped,
    ),
    counter(
        "expired_dropped",
        "ringkv_engine_expired_dropped_total",
        "Expired values dropped by compaction",
        |s| s.expired_dropped,
    ),
    counter(
        "expired_markers",
        "ringkv_engine_expired_markers_total",
        "Expired keys compaction kept as markers of their causal history",
        |s| s.expired_markers,
    ),
    counter(
        "wal_write_failures",
        "ringkv_engine_wal_write_failures_total",
        "WAL appends that failed (writes refused until the disk took writes again)",
        |s| s.wal_write_failures,
    ),
    counter(
        "wal_write_recoveries",
        "ringkv_engine_wal_write_recoveries_total",
        "Times writes resumed after a failed WAL append or a read-only start",
        |s| s.wal_write_recoveries,
    ),
    gauge(
        "background_error_active",
        "ringkv_engine_background_error",
        "1 while the engine refuses writes or background work fails (disk full, I/O error, damage)",
        |s| u64::from(s.background_error.is_some()),
    ),
];

/// Per-level figures (INFO `levelN:files=..,runs=..,bytes=..`).
type LevelFigure = (
    &'static str,
    &'static str,
    fn(&ringkv_engine::LevelStats) -> u64,
);

const LEVEL_FIGURES: [LevelFigure; 3] = [
    ("files", "SSTables per level", |l| l.files as u64),
    ("runs", "Sorted runs per level", |l| l.runs as u64),
    ("bytes", "Bytes per level", |l| l.bytes),
];

/// The `# Engine` INFO section: the strategy and write state, the rows, and
/// one line per level.
pub fn engine_info(engine: &Engine, out: &mut String) {
    use std::fmt::Write as _;
    let s = engine.stats();
    let stalled = match engine.write_pressure() {
        ringkv_engine::WritePressure::Normal => "no",
        ringkv_engine::WritePressure::Slowdown { .. } => "slowdown",
        ringkv_engine::WritePressure::Stop => "stop",
    };
    let _ = write!(
        out,
        "compaction_strategy:{}\r\nwrite_stalled:{stalled}\r\nbackground_error:{}\r\n",
        s.compaction_strategy,
        s.background_error.as_deref().unwrap_or(""),
    );
    crate::stat::write_info(ENGINE_ROWS, &s, out);
    for (i, level) in s.levels.iter().enumerate() {
        let _ = write!(out, "level{i}:");
        for (n, (name, _, read)) in LEVEL_FIGURES.iter().enumerate() {
            let sep = if n == 0 { "" } else { "," };
            let _ = write!(out, "{sep}{name}={}", read(level));
        }
        out.push_str("\r\n");
    }
}

impl Collector for EngineCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let s = self.engine.stats();
        let mut out = crate::stat::metric_families(ENGINE_ROWS, &s);
        for (name, help, read) in LEVEL_FIGURES {
            let metric = format!("ringkv_engine_level_{name}");
            if let Ok(vec) = prometheus::IntGaugeVec::new(Opts::new(metric, help), &["level"]) {
                for (i, level) in s.levels.iter().enumerate() {
                    vec.with_label_values(&[i.to_string().as_str()])
                        .set(i64::try_from(read(level)).unwrap_or(i64::MAX));
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
