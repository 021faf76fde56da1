//! Statistics declared once, rendered twice: as INFO fields and as
//! Prometheus metrics.
//!
//! - A server counter is a [`Stat`]: one Prometheus counter, incremented
//!   once per event, and a baseline that CONFIG RESETSTAT moves. INFO shows
//!   the count since the last reset, `/metrics` the monotonic total, from
//!   the same increment.
//! - A subsystem's figures (engine, cluster) are a table of [`Row`]s, each
//!   naming its INFO field, its metric, its help text, its kind and how to
//!   read it. INFO ([`write_info`]) and the scrape ([`metric_families`])
//!   walk the same table, so a figure cannot be in one and not the other.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use ringkv_sharded::ShardedCounter;

/// A counter shown in INFO since the last CONFIG RESETSTAT and in
/// Prometheus since start. Counted per thread ([`ShardedCounter`]): the
/// busiest of these (commands processed, keyspace hits, network bytes)
/// move on every command.
pub struct Stat {
    counter: Arc<ShardedCounter>,
    baseline: AtomicU64,
}

impl Stat {
    /// A counter registered in `registry` as `metric`.
    pub fn new(registry: &Registry, metric: &str, help: &str) -> prometheus::Result<Stat> {
        let counter = Arc::new(ShardedCounter::default());
        registry.register(Box::new(ShardedCollector::new(
            metric,
            help,
            Arc::clone(&counter),
        )?))?;
        Ok(Stat {
            counter,
            baseline: AtomicU64::new(0),
        })
    }

    /// Counts one event.
    pub fn inc(&self) {
        self.counter.add(1);
    }

    /// Counts `n`.
    pub fn add(&self, n: u64) {
        self.counter.add(n);
    }

    /// Since start (never goes back).
    pub fn total(&self) -> u64 {
        self.counter.sum()
    }

    /// Since the last [`Stat::reset`] (INFO).
    pub fn since_reset(&self) -> u64 {
        self.total()
            .saturating_sub(self.baseline.load(Ordering::Relaxed))
    }

    /// CONFIG RESETSTAT: INFO counts from zero again.
    pub fn reset(&self) {
        self.baseline.store(self.total(), Ordering::Relaxed);
    }
}

/// A [`Stat`]'s counter as one Prometheus counter.
struct ShardedCollector {
    metric: String,
    help: String,
    counter: Arc<ShardedCounter>,
    descs: Vec<prometheus::core::Desc>,
}

impl ShardedCollector {
    fn new(metric: &str, help: &str, counter: Arc<ShardedCounter>) -> prometheus::Result<Self> {
        let mut c = ShardedCollector {
            metric: metric.to_string(),
            help: help.to_string(),
            counter,
            descs: Vec::new(),
        };
        c.descs = descs_of(c.collect())?;
        Ok(c)
    }
}

impl Collector for ShardedCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        match IntCounter::new(self.metric.as_str(), self.help.as_str()) {
            Ok(c) => {
                c.inc_by(self.counter.sum());
                c.collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// A counter by one label (a refusal reason, an error prefix), shown the
/// same two ways as [`Stat`].
pub struct LabelledStat {
    counter: IntCounterVec,
    baseline: parking_lot::Mutex<HashMap<String, u64>>,
}

impl LabelledStat {
    /// A counter vector registered in `registry` as `metric{label}`.
    pub fn new(
        registry: &Registry,
        metric: &str,
        help: &str,
        label: &str,
    ) -> prometheus::Result<LabelledStat> {
        let counter = IntCounterVec::new(Opts::new(metric, help), &[label])?;
        registry.register(Box::new(counter.clone()))?;
        Ok(LabelledStat {
            counter,
            baseline: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Counts one event labelled `value`.
    pub fn inc(&self, value: &str) {
        self.counter.with_label_values(&[value]).inc();
    }

    /// Since start, by label value.
    fn totals(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for family in self.counter.collect() {
            for m in family.get_metric() {
                let label = m
                    .get_label()
                    .first()
                    .map(|l| l.value().to_string())
                    .unwrap_or_default();
                out.push((label, m.get_counter().get_value() as u64));
            }
        }
        out
    }

    /// Since the last reset, by label value, leaving out values with no
    /// count since then.
    pub fn since_reset(&self) -> BTreeMap<String, u64> {
        let baseline = self.baseline.lock();
        self.totals()
            .into_iter()
            .filter_map(|(label, n)| {
                let n = n.saturating_sub(baseline.get(&label).copied().unwrap_or(0));
                (n > 0).then_some((label, n))
            })
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        *self.baseline.lock() = self.totals().into_iter().collect();
    }
}

/// Declares the server's counters once: field, INFO name, metric, help.
macro_rules! server_counters {
    ($($(#[$doc:meta])* $field:ident: $info:literal, $metric:literal, $help:literal;)*) => {
        /// The server's own counters (INFO `# Stats`, `/metrics`).
        pub struct ServerStats {
            $($(#[$doc])* pub $field: Stat,)*
            /// Connections refused, by reason (`maxclients`, `protected_mode`).
            pub rejected_connections: LabelledStat,
            /// Error replies by prefix (`ERR`, `WRONGTYPE`, ...) and protocol
            /// errors (`protocol_<kind>`, not in INFO: Redis counts replies).
            pub errors: LabelledStat,
        }

        impl ServerStats {
            /// Registers every counter in `registry`.
            pub fn new(registry: &Registry) -> prometheus::Result<ServerStats> {
                Ok(ServerStats {
                    $($field: Stat::new(registry, $metric, $help)?,)*
                    rejected_connections: LabelledStat::new(
                        registry,
                        "ringkv_connections_rejected_total",
                        "Client connections refused, by reason",
                        "reason",
                    )?,
                    errors: LabelledStat::new(
                        registry,
                        "ringkv_errors_total",
                        "Error replies and protocol errors, by kind",
                        "kind",
                    )?,
                })
            }

            /// CONFIG RESETSTAT.
            pub fn reset(&self) {
                $(self.$field.reset();)*
                self.rejected_connections.reset();
                self.errors.reset();
            }

            /// Every plain counter as (INFO field, count since the last reset).
            pub fn info_fields(&self) -> Vec<(&'static str, u64)> {
                vec![$(($info, self.$field.since_reset()),)*]
            }
        }
    };
}

server_counters! {
    /// Connections accepted.
    connections_received: "total_connections_received",
        "ringkv_connections_received_total", "Client connections accepted";
    /// Commands run.
    commands_processed: "total_commands_processed",
        "ringkv_commands_processed_total", "Commands run";
    /// Bytes read from clients.
    net_input_bytes: "total_net_input_bytes",
        "ringkv_net_input_bytes_total", "Bytes read from clients";
    /// Bytes written to clients.
    net_output_bytes: "total_net_output_bytes",
        "ringkv_net_output_bytes_total", "Bytes written to clients";
    /// Reads that found their key.
    keyspace_hits: "keyspace_hits",
        "ringkv_keyspace_hits_total", "Key lookups that found the key";
    /// Reads that did not.
    keyspace_misses: "keyspace_misses",
        "ringkv_keyspace_misses_total", "Key lookups that did not find the key";
    /// Connections closed because serving them panicked (each one a bug).
    client_panics: "client_panics",
        "ringkv_client_panics_total", "Client connections closed because serving them panicked (a bug; the log names the client)";
}

impl ServerStats {
    /// Error replies by prefix since the last reset (INFO errorstats).
    pub fn error_replies(&self) -> BTreeMap<String, u64> {
        let mut by_kind = self.errors.since_reset();
        by_kind.retain(|kind, _| !kind.starts_with("protocol_"));
        by_kind
    }
}

/// Whether a row's metric only grows or goes up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A `_total` counter.
    Counter,
    /// A gauge.
    Gauge,
}

/// How a row reads its figure.
pub enum Read<S: ?Sized> {
    /// A count or size.
    Int(fn(&S) -> u64),
    /// A ratio or average, shown in INFO with this many decimals.
    Fixed(fn(&S) -> f64, usize),
}

/// One figure of a subsystem, read from `S`.
pub struct Row<S: ?Sized> {
    /// INFO field name.
    pub info: &'static str,
    /// Prometheus metric name (`_total` for a counter).
    pub metric: &'static str,
    /// Prometheus help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Reads the figure.
    pub read: Read<S>,
}

/// A counter row.
pub const fn counter<S: ?Sized>(
    info: &'static str,
    metric: &'static str,
    help: &'static str,
    read: fn(&S) -> u64,
) -> Row<S> {
    Row {
        kind: Kind::Counter,
        ..gauge(info, metric, help, read)
    }
}

/// An integer gauge row (a size, a count now, a 0/1 flag).
pub const fn gauge<S: ?Sized>(
    info: &'static str,
    metric: &'static str,
    help: &'static str,
    read: fn(&S) -> u64,
) -> Row<S> {
    Row {
        info,
        metric,
        help,
        kind: Kind::Gauge,
        read: Read::Int(read),
    }
}

/// A fractional gauge row, shown in INFO with `places` decimals.
pub const fn ratio<S: ?Sized>(
    info: &'static str,
    metric: &'static str,
    help: &'static str,
    read: fn(&S) -> f64,
    places: usize,
) -> Row<S> {
    Row {
        info,
        metric,
        help,
        kind: Kind::Gauge,
        read: Read::Fixed(read, places),
    }
}

/// Appends `field:value\r\n` for every row.
pub fn write_info<S: ?Sized>(rows: &[Row<S>], source: &S, out: &mut String) {
    for row in rows {
        let _ = match row.read {
            Read::Int(read) => write!(out, "{}:{}\r\n", row.info, read(source)),
            Read::Fixed(read, places) => {
                write!(out, "{}:{:.places$}\r\n", row.info, read(source))
            }
        };
    }
}

/// One metric family per row.
pub fn metric_families<S: ?Sized>(rows: &[Row<S>], source: &S) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    for row in rows {
        match (row.kind, &row.read) {
            (Kind::Counter, Read::Int(read)) => {
                if let Ok(c) = IntCounter::new(row.metric, row.help) {
                    c.inc_by(read(source));
                    out.extend(c.collect());
                }
            }
            (_, Read::Int(read)) => {
                if let Ok(g) = IntGauge::new(row.metric, row.help) {
                    g.set(i64::try_from(read(source)).unwrap_or(i64::MAX));
                    out.extend(g.collect());
                }
            }
            (_, Read::Fixed(read, _)) => {
                if let Ok(g) = Gauge::new(row.metric, row.help) {
                    g.set(read(source));
                    out.extend(g.collect());
                }
            }
        }
    }
    out
}

/// Prometheus descriptors for a collector whose families are `sample`
/// (one collection made at start-up), so `desc()` and `collect()` agree.
pub fn descs_of(sample: Vec<MetricFamily>) -> prometheus::Result<Vec<prometheus::core::Desc>> {
    sample
        .into_iter()
        .map(|family| {
            let labels = family
                .get_metric()
                .first()
                .map(|m| m.get_label().iter().map(|l| l.name().to_string()).collect())
                .unwrap_or_default();
            prometheus::core::Desc::new(
                family.name().to_string(),
                family.help().to_string(),
                labels,
                HashMap::new(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_zeroes_info_but_not_the_metric() {
        let registry = Registry::new();
        let s = Stat::new(&registry, "t_total", "t").expect("register");
        s.add(5);
        s.reset();
        s.inc();
        assert_eq!((s.since_reset(), s.total()), (1, 6));
        let l = LabelledStat::new(&registry, "l_total", "l", "kind").expect("register");
        l.inc("ERR");
        l.inc("ERR");
        l.reset();
        l.inc("WRONGTYPE");
        assert_eq!(
            l.since_reset().into_iter().collect::<Vec<_>>(),
            vec![("WRONGTYPE".to_string(), 1)]
        );
    }

    #[test]
    fn info_and_metrics_come_from_the_same_rows() {
        let rows: [Row<u64>; 2] = [
            counter("things", "ringkv_things_total", "Things", |n| *n),
            ratio("ratio", "ringkv_ratio", "Ratio", |n| *n as f64 / 4.0, 2),
        ];
        let mut info = String::new();
        write_info(&rows, &3, &mut info);
        assert_eq!(info, "things:3\r\nratio:0.75\r\n");
        let families = metric_families(&rows, &3);
        assert_eq!(families.len(), 2);
        assert_eq!(families[0].name(), "ringkv_things_total");
        assert_eq!(families[0].get_metric()[0].get_counter().get_value(), 3.0);
        assert_eq!(families[1].get_metric()[0].get_gauge().get_value(), 0.75);
    }
}
