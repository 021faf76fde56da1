//! Per-command figures: calls, time, failures and refusals for INFO
//! `commandstats`, and the same as Prometheus metrics
//! (`ringkv_command_duration_seconds`, `ringkv_command_failed_total`,
//! `ringkv_command_rejected_total`, labelled `cmd`).
//!
//! Every command records here, so the cells are split by thread
//! ([`ringkv_sharded`]): each shard holds a row of cells, one per command,
//! and a reader sums the shards. INFO shows the counts since the last
//! CONFIG RESETSTAT (a baseline taken then), Prometheus the totals since
//! start, which never go back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType};

use ringkv_sharded::{shard, shard_count};

/// Latency bucket bounds, microseconds: 10 µs to 2.5 s.
pub const LATENCY_BUCKETS_US: [u64; 17] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000, 2_500_000,
];

const CALLS: usize = 0;
const USEC: usize = 1;
const FAILED: usize = 2;
const REJECTED: usize = 3;
/// Cells of a command's baseline: its four counts and its buckets.
const BASELINE: usize = 4 + LATENCY_BUCKETS_US.len();

/// One command's cells in one shard: calls, microseconds, failed,
/// rejected, then the calls per latency bucket (a call slower than the
/// last bound is in none).
#[repr(align(64))]
struct Cell {
    counts: [AtomicU64; 4],
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// One command's figures since the last reset (INFO `commandstats`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandFigures<'a> {
    /// Full name (`get`, `client|list`).
    pub name: &'a str,
    /// Calls.
    pub calls: u64,
    /// Microseconds spent.
    pub usec: u64,
    /// Calls that returned an error.
    pub failed: u64,
    /// Calls refused before running (arity, auth, transaction state).
    pub rejected: u64,
}

/// One command's calls since the last reset by latency (LATENCY HISTOGRAM).
pub struct CommandHistogram<'a> {
    /// Full name.
    pub name: &'a str,
    /// Calls.
    pub calls: u64,
    /// Per bucket that holds calls: its bound (microseconds; `u64::MAX`
    /// past the last bound) and the calls that took at most that long.
    pub cdf: Vec<(u64, u64)>,
}

/// Every command's figures.
pub struct CommandStats {
    names: Vec<String>,
    /// `shards[s][i]`: command `i`'s cells in shard `s`.
    shards: Box<[Box<[Cell]>]>,
    /// Command `i`'s totals at the last CONFIG RESETSTAT: its counts, then
    /// its calls per latency bucket.
    baseline: Box<[[AtomicU64; BASELINE]]>,
    /// `fine[s][i]`: command `i`'s calls in shard `s` since the last
    /// reset, per bucket of [`crate::latency_tracking`], allocated at its
    /// first call there.
    fine: Box<[Box<[OnceLock<FineCounts>]>]>,
}

/// One command's calls in one shard by fine latency bucket.
type FineCounts = Box<[AtomicU64]>;

impl CommandStats {
    /// Figures for the commands `names`, in that order (a command's index
    /// is its place there).
    pub fn new(names: Vec<String>) -> Self {
        let row = || (0..names.len()).map(|_| Cell::default()).collect();
        let fine_row = || (0..names.len()).map(|_| OnceLock::new()).collect();
        CommandStats {
            shards: (0..shard_count()).map(|_| row()).collect(),
            fine: (0..shard_count()).map(|_| fine_row()).collect(),
            baseline: (0..names.len())
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            names,
        }
    }

    fn cell(&self, index: usize) -> Option<&Cell> {
        self.shards.get(shard())?.get(index)
    }

    /// Records one call of command `index` that took `micros`.
    pub fn record(&self, index: usize, micros: u64, failed: bool) {
        let Some(cell) = self.cell(index) else {
            return;
        };
        let [calls, usec, failures, _] = &cell.counts;
        calls.fetch_add(1, Ordering::Relaxed);
        usec.fetch_add(micros, Ordering::Relaxed);
        if failed {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = LATENCY_BUCKETS_US.partition_point(|&bound| bound < micros);
        if let Some(b) = cell.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one call of command `index` that took `micros` for INFO
    /// `latencystats` (when `latency-tracking` is on).
    pub fn record_fine(&self, index: usize, micros: u64) {
        let Some(slot) = self.fine.get(shard()).and_then(|row| row.get(index)) else {
            return;
        };
        let counts = slot.get_or_init(|| {
            (0..crate::latency_tracking::BUCKETS)
                .map(|_| AtomicU64::new(0))
                .collect()
        });
        if let Some(c) = counts.get(crate::latency_tracking::bucket_of(micros)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Each command's calls since the last reset by fine latency bucket,
    /// for those with any, in table order.
    pub fn fine_histograms(&self) -> Vec<(&str, Vec<u64>)> {
        let mut out = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let mut shards = self
                .fine
                .iter()
                .filter_map(|row| row.get(i)?.get())
                .peekable();
            if shards.peek().is_none() {
                continue;
            }
            let mut sum = vec![0u64; crate::latency_tracking::BUCKETS];
            let mut any = false;
            for counts in shards {
                for (t, c) in sum.iter_mut().zip(counts.iter()) {
                    let n = c.load(Ordering::Relaxed);
                    any |= n > 0;
                    *t = t.saturating_add(n);
                }
            }
            if any {
                out.push((name.as_str(), sum));
            }
        }
        out
    }

    /// Records one refused call of command `index`.
    pub fn reject(&self, index: usize) {
        if let Some(cell) = self.cell(index) {
            cell.counts[REJECTED].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Command `index`'s totals since start: counts and per-bucket calls.
    fn totals(&self, index: usize) -> ([u64; 4], [u64; LATENCY_BUCKETS_US.len()]) {
        let mut counts = [0u64; 4];
        let mut buckets = [0u64; LATENCY_BUCKETS_US.len()];
        for cell in self.shards.iter().filter_map(|row| row.get(index)) {
            for (t, c) in counts.iter_mut().zip(&cell.counts) {
                *t = t.wrapping_add(c.load(Ordering::Relaxed));
            }
            for (t, c) in buckets.iter_mut().zip(&cell.buckets) {
                *t = t.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        (counts, buckets)
    }

    /// Every command's figures since the last reset, in table order.
    pub fn since_reset(&self) -> Vec<CommandFigures<'_>> {
        self.names
            .iter()
            .zip(self.baseline.iter())
            .enumerate()
            .map(|(i, (name, base))| {
                let (counts, _) = self.totals(i);
                let since = |k: usize| counts[k].saturating_sub(base[k].load(Ordering::Relaxed));
                CommandFigures {
                    name,
                    calls: since(CALLS),
                    usec: since(USEC),
                    failed: since(FAILED),
                    rejected: since(REJECTED),
                }
            })
            .collect()
    }

    /// CONFIG RESETSTAT: INFO counts (and LATENCY HISTOGRAM) from zero again.
    pub fn reset(&self) {
        for counts in self
            .fine
            .iter()
            .flat_map(|row| row.iter())
            .filter_map(OnceLock::get)
        {
            for c in counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
        for (i, base) in self.baseline.iter().enumerate() {
            let (counts, buckets) = self.totals(i);
            for (b, c) in base.iter().zip(counts.into_iter().chain(buckets)) {
                b.store(c, Ordering::Relaxed);
            }
        }
    }

    /// LATENCY HISTOGRAM: for each command `wanted` keeps that was called
    /// since the last reset, its name, its calls and, per latency bucket
    /// that holds calls, the bucket's bound (microseconds) and the calls
    /// that took at most that long.
    pub fn histograms(&self, wanted: impl Fn(&str) -> bool) -> Vec<CommandHistogram<'_>> {
        let mut out = Vec::new();
        for (i, (name, base)) in self.names.iter().zip(self.baseline.iter()).enumerate() {
            if !wanted(name) {
                continue;
            }
            let (counts, buckets) = self.totals(i);
            let since = |k: usize, total: u64| {
                total.saturating_sub(base.get(k).map_or(0, |b| b.load(Ordering::Relaxed)))
            };
            let calls = since(CALLS, counts[CALLS]);
            if calls == 0 {
                continue;
            }
            // Buckets that hold calls only, as Redis lists them; the calls
            // slower than the last bound in a last bucket bounded by
            // u64::MAX, so the counts add up to `calls`.
            let mut cumulative = 0u64;
            let mut cdf = Vec::new();
            for (j, (&bound, &n)) in LATENCY_BUCKETS_US.iter().zip(&buckets).enumerate() {
                let n = since(4 + j, n);
                if n > 0 {
                    cumulative = cumulative.saturating_add(n);
                    cdf.push((bound, cumulative));
                }
            }
            if calls > cumulative {
                cdf.push((u64::MAX, calls));
            }
            out.push(CommandHistogram {
                name: name.as_str(),
                calls,
                cdf,
            });
        }
        out
    }

    /// The three metric families, one metric per command.
    fn families(&self) -> Vec<MetricFamily> {
        let mut latency = Vec::with_capacity(self.names.len());
        let mut failed = Vec::with_capacity(self.names.len());
        let mut rejected = Vec::with_capacity(self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            let (counts, buckets) = self.totals(i);
            let mut h = Histogram::default();
            h.set_sample_count(counts[CALLS]);
            h.set_sample_sum(counts[USEC] as f64 / 1e6);
            let mut cumulative = 0u64;
            h.set_bucket(
                LATENCY_BUCKETS_US
                    .iter()
                    .zip(buckets)
                    .map(|(&bound, n)| {
                        cumulative = cumulative.wrapping_add(n);
                        let mut b = Bucket::default();
                        b.set_cumulative_count(cumulative);
                        b.set_upper_bound(bound as f64 / 1e6);
                        b
                    })
                    .collect(),
            );
            let mut m = Metric::from_label(vec![cmd_label(name)]);
            m.set_histogram(h);
            latency.push(m);
            failed.push(counter_metric(name, counts[FAILED]));
            rejected.push(counter_metric(name, counts[REJECTED]));
        }
        vec![
            family(
                "ringkv_command_duration_seconds",
                "Command latency, by command",
                MetricType::HISTOGRAM,
                latency,
            ),
            family(
                "ringkv_command_failed_total",
                "Commands that returned an error, by command",
                MetricType::COUNTER,
                failed,
            ),
            family(
                "ringkv_command_rejected_total",
                "Commands refused before running, by command",
                MetricType::COUNTER,
                rejected,
            ),
        ]
    }
}

fn cmd_label(name: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name("cmd".to_string());
    l.set_value(name.to_string());
    l
}

fn counter_metric(name: &str, value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::from_label(vec![cmd_label(name)]);
    m.set_counter(c);
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

/// [`CommandStats`] as a Prometheus collector.
pub struct CommandCollector {
    stats: Arc<CommandStats>,
    descs: Vec<Desc>,
}

impl CommandCollector {
    /// A collector of `stats`.
    pub fn new(stats: Arc<CommandStats>) -> prometheus::Result<Self> {
        let descs = stats
            .families()
            .iter()
            .map(|f| {
                Desc::new(
                    f.name().to_string(),
                    f.help().to_string(),
                    vec!["cmd".to_string()],
                    HashMap::new(),
                )
            })
            .collect::<prometheus::Result<Vec<_>>>()?;
        Ok(CommandCollector { stats, descs })
    }
}

impl Collector for CommandCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.stats.families()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> CommandStats {
        CommandStats::new(vec!["get".into(), "set".into()])
    }

    #[test]
    fn latency_histogram_lists_buckets_with_calls_since_reset_and_the_slowest() {
        let s = stats();
        s.record(1, 5, false);
        s.reset();
        assert!(s.histograms(|_| true).is_empty(), "nothing since the reset");
        s.record(1, 7, false);
        s.record(1, 40, false);
        s.record(1, 45, false);
        s.record(1, 3_000_000, false);
        let h = s.histograms(|n| n == "set");
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].name, h[0].calls), ("set", 4));
        assert_eq!(h[0].cdf, vec![(10, 1), (50, 3), (u64::MAX, 4)]);
    }

    #[test]
    fn calls_time_and_failures_add_up_and_reset_for_info_only() {
        let s = stats();
        s.record(0, 7, false);
        s.record(0, 30, true);
        s.reject(0);
        s.record(1, 3_000_000, false);
        let figures = s.since_reset();
        assert_eq!(
            figures[0],
            CommandFigures {
                name: "get",
                calls: 2,
                usec: 37,
                failed: 1,
                rejected: 1
            }
        );
        s.reset();
        s.record(0, 1, false);
        assert_eq!(s.since_reset()[0].calls, 1);
        assert_eq!(s.since_reset()[0].usec, 1);
        // The metrics keep counting from start.
        let fams = s.families();
        let get = &fams[0].get_metric()[0];
        assert_eq!(get.get_histogram().get_sample_count(), 3);
        let buckets: Vec<u64> = get
            .get_histogram()
            .get_bucket()
            .iter()
            .map(|b| b.cumulative_count())
            .collect();
        // 1 µs and 7 µs fall at or under 10 µs; 30 µs under 50 µs.
        assert_eq!(&buckets[..3], &[2, 2, 3]);
        assert_eq!(fams[1].get_metric()[0].get_counter().get_value(), 1.0);
        assert_eq!(fams[2].get_metric()[0].get_counter().get_value(), 1.0);
        // 3 s is over every bound: counted, in no bucket.
        let set = fams[0].get_metric()[1].get_histogram();
        assert_eq!(set.get_sample_count(), 1);
        assert_eq!(
            set.get_bucket().last().map(|b| b.cumulative_count()),
            Some(0)
        );
    }

    #[test]
    fn a_bound_itself_falls_in_its_bucket() {
        let s = stats();
        s.record(0, 10, false);
        s.record(0, 11, false);
        let fams = s.families();
        let b = fams[0].get_metric()[0].get_histogram().get_bucket();
        assert_eq!(b[0].cumulative_count(), 1);
        assert_eq!(b[1].cumulative_count(), 2);
    }
}
