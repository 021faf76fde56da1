//! Per-command latency percentiles (INFO `latencystats`, Redis 7's
//! `latency-tracking`): each command's calls since CONFIG RESETSTAT in a
//! fine log-linear histogram, from which INFO reports the percentiles
//! `latency-tracking-info-percentiles` names (default `50 99 99.9`), as
//! `latency_percentiles_usec_<command>:p50=...,p99=...,p99.9=...`.
//!
//! A bucket is one microsecond wide below 16 µs; above, each power of two
//! is cut in 16, so a reported value is at most 1/16 (6.25%) above the
//! calls it stands for (Redis's HDR histogram keeps two significant
//! digits). The counts live in [`crate::command_stats::CommandStats`], per
//! thread and allocated on a command's first call: 544 counters (4.3 KB) a
//! command a thread.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

/// Sub-buckets per power of two, and the width in microseconds of the
/// exact buckets below it.
const SUB: u64 = 16;
/// Powers of two kept: calls slower than 2^37 µs (38 hours) count in the
/// last bucket.
const MAX_POWER: u32 = 36;
/// Buckets of one histogram.
pub const BUCKETS: usize = (SUB as usize) * (MAX_POWER as usize - 4 + 2);

/// The bucket of a call that took `micros`.
pub fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros();
    if power > MAX_POWER {
        return BUCKETS - 1;
    }
    let sub = (micros >> (power - 4)) & (SUB - 1);
    (SUB as usize) * (power as usize - 3) + sub as usize
}

/// The highest number of microseconds bucket `b` holds.
pub fn bucket_top(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let power = b / SUB + 3;
    let sub = b % SUB;
    let width = 1u64 << (power - 4);
    (SUB + sub) * width + width - 1
}

/// The value at percentile `p` (0 to 100) of `counts` (calls per bucket),
/// in microseconds: the top of the bucket where the calls below it first
/// reach that share; for 0, the least bucket that holds a call.
pub fn value_at(counts: &[u64], p: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (b, &n) in counts.iter().enumerate() {
        seen = seen.saturating_add(n);
        if seen >= rank {
            return bucket_top(b);
        }
    }
    bucket_top(counts.len().saturating_sub(1))
}

/// `latency-tracking` and `latency-tracking-info-percentiles`, settings
/// held in this node's memory (CONFIG SET, CONFIG GET), as Redis has them.
pub struct LatencyTracking {
    enabled: AtomicBool,
    percentiles: RwLock<Vec<f64>>,
}

impl Default for LatencyTracking {
    fn default() -> Self {
        LatencyTracking {
            enabled: AtomicBool::new(true),
            percentiles: RwLock::new(vec![50.0, 99.0, 99.9]),
        }
    }
}

/// A checked setting ([`LatencyTracking::parse`]).
pub enum Setting {
    /// `latency-tracking yes|no`.
    Enabled(bool),
    /// `latency-tracking-info-percentiles "p1 p2 ..."`.
    Percentiles(Vec<f64>),
}

/// A percentile as Redis prints it: `%f` with trailing zeros (and point)
/// trimmed.
fn percentile_text(p: f64) -> String {
    format!("{p}")
}

impl LatencyTracking {
    /// Whether calls are counted.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The percentiles INFO reports.
    pub fn percentiles(&self) -> Vec<f64> {
        self.percentiles.read().clone()
    }

    /// The two settings by their Redis names, for CONFIG GET.
    pub fn all(&self) -> [(&'static str, String); 2] {
        let percentiles = self.percentiles.read();
        [
            (
                "latency-tracking",
                if self.enabled() { "yes" } else { "no" }.to_string(),
            ),
            (
                "latency-tracking-info-percentiles",
                percentiles
                    .iter()
                    .map(|&p| percentile_text(p))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]
    }

    /// `Ok(None)` if `name` is not one of the settings; the checked value
    /// otherwise, or why it is refused (Redis's texts).
    pub fn parse(name: &str, value: &str) -> Result<Option<Setting>, String> {
        if name.eq_ignore_ascii_case("latency-tracking") {
            return match value.to_ascii_lowercase().as_str() {
                "yes" => Ok(Some(Setting::Enabled(true))),
                "no" => Ok(Some(Setting::Enabled(false))),
                _ => Err("argument must be 'yes' or 'no'".to_string()),
            };
        }
        if !name.eq_ignore_ascii_case("latency-tracking-info-percentiles") {
            return Ok(None);
        }
        value
            .split_ascii_whitespace()
            .map(|p| match ringkv_number::parse_f64(p.as_bytes()) {
                Some(v) if (0.0..=100.0).contains(&v) => Ok(v),
                _ => Err("Invalid latency-tracking-info-percentiles parameters".to_string()),
            })
            .collect::<Result<Vec<f64>, String>>()
            .map(|v| Some(Setting::Percentiles(v)))
    }

    /// Applies a setting [`LatencyTracking::parse`] checked.
    pub fn store(&self, s: Setting) {
        match s {
            Setting::Enabled(on) => self.enabled.store(on, Ordering::Relaxed),
            Setting::Percentiles(p) => *self.percentiles.write() = p,
        }
    }

    /// INFO `latencystats`: one line per command with calls counted since
    /// the last reset, `(name, calls per bucket)`.
    pub fn info<'a>(
        &self,
        histograms: impl Iterator<Item = (&'a str, Vec<u64>)>,
        out: &mut String,
    ) {
        use std::fmt::Write;
        let percentiles = self.percentiles();
        for (name, counts) in histograms {
            let values: Vec<String> = percentiles
                .iter()
                .map(|&p| {
                    let usec = value_at(&counts, p);
                    format!("p{}={usec}.000", percentile_text(p))
                })
                .collect();
            let _ = write!(
                out,
                "latency_percentiles_usec_{name}:{}\r\n",
                values.join(",")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_16_then_a_sixteenth_of_a_power_wide() {
        for v in 0..16 {
            assert_eq!(bucket_of(v), v as usize);
            assert_eq!(bucket_top(v as usize), v);
        }
        assert_eq!(bucket_of(16), 16);
        assert_eq!(bucket_of(31), 31);
        assert_eq!(bucket_of(32), 32);
        assert_eq!(bucket_of(33), 32);
        assert_eq!(bucket_top(32), 33);
        // Every value lies in its bucket, whose top is within 1/16 above.
        for v in (0..200_000u64).chain([1 << 36, (1 << 37) - 1]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            assert!(bucket_top(b) >= v, "{v}");
            assert!(bucket_top(b) - v <= v / 16, "{v}: {}", bucket_top(b));
            if b > 0 {
                assert!(bucket_top(b - 1) < v, "{v}");
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_come_from_the_bucket_where_the_share_is_reached() {
        let mut counts = vec![0u64; BUCKETS];
        for v in 1..=100u64 {
            counts[bucket_of(v * 1000)] += 1;
        }
        let p50 = value_at(&counts, 50.0);
        assert!((50_000..=50_000 + 50_000 / 16).contains(&p50), "{p50}");
        let p100 = value_at(&counts, 100.0);
        assert!((100_000..=100_000 + 100_000 / 16).contains(&p100), "{p100}");
        assert!(value_at(&counts, 0.0) <= 1000 + 1000 / 16);
        assert_eq!(value_at(&vec![0; BUCKETS], 50.0), 0);
    }

    #[test]
    fn settings_parse_as_redis_checks_them() {
        let t = LatencyTracking::default();
        assert_eq!(t.all()[1].1, "50 99 99.9");
        let Ok(Some(s)) =
            LatencyTracking::parse("latency-tracking-info-percentiles", "0.0 50.0 100.0")
        else {
            panic!("refused");
        };
        t.store(s);
        assert_eq!(t.all()[1].1, "0 50 100");
        for bad in ["10.0 50.0 a", "10.0 50.0 101.0", "-1"] {
            assert!(LatencyTracking::parse("latency-tracking-info-percentiles", bad).is_err());
        }
        assert!(matches!(
            LatencyTracking::parse("latency-tracking-info-percentiles", ""),
            Ok(Some(Setting::Percentiles(p))) if p.is_empty()
        ));
        assert!(LatencyTracking::parse("latency-tracking", "maybe").is_err());
        assert!(matches!(LatencyTracking::parse("maxmemory", "1"), Ok(None)));
    }
}
