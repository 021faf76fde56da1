//! The latency monitor (LATENCY LATEST, HISTORY, RESET, DOCTOR, HISTOGRAM),
//! as Redis keeps it: with `latency-monitor-threshold` set to N
//! milliseconds (0, the default, turns it off), every command that took N
//! ms or more is a sample of the event `command` (`fast-command` for a
//! command flagged fast). Each event keeps its last 160 samples, at most
//! one per second (the largest of that second), and the largest latency
//! ever seen. Not sampled, as in the slow log: blocking commands, whose
//! time includes the wait. The setting is per node and not persisted,
//! set by CONFIG SET under its Redis name.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use ringkv_resp::Reply;

/// Samples kept per event.
const SAMPLES: usize = 160;

/// One event's samples: (unix seconds, milliseconds), oldest first.
#[derive(Default)]
struct Series {
    samples: VecDeque<(i64, u64)>,
    max: u64,
}

/// The node's latency monitor.
#[derive(Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold`, milliseconds (0: off).
    threshold_ms: AtomicI64,
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    /// Samples a command that took `micros` if it reached the threshold.
    pub fn record_command(&self, fast: bool, micros: u64) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        let ms = micros / 1000;
        if threshold <= 0 || i64::try_from(ms).unwrap_or(i64::MAX) < threshold {
            return;
        }
        let event = if fast { "fast-command" } else { "command" };
        let now = i64::try_from(crate::shared::unix_secs()).unwrap_or(i64::MAX);
        self.add_sample(event, ms, now);
    }

    fn add_sample(&self, event: &'static str, ms: u64, now: i64) {
        let mut events = self.events.lock();
        let series = events.entry(event).or_default();
        series.max = series.max.max(ms);
        match series.samples.back_mut() {
            Some((t, latency)) if *t == now => *latency = (*latency).max(ms),
            _ => {
                if series.samples.len() == SAMPLES {
                    series.samples.pop_front();
                }
                series.samples.push_back((now, ms));
            }
        }
    }

    /// LATENCY LATEST: per event, its name, the time and latency of its
    /// newest sample, and its largest latency.
    pub fn latest(&self) -> Reply {
        let events = self.events.lock();
        Reply::Array(
            events
                .iter()
                .filter_map(|(name, s)| {
                    let (t, ms) = s.samples.back()?;
                    Some(Reply::Array(vec![
                        Reply::bulk(*name),
                        Reply::Int(*t),
                        int(*ms),
                        int(s.max),
                    ]))
                })
                .collect(),
        )
    }

    /// LATENCY HISTORY event: its samples, oldest first, as (time, ms).
    pub fn history(&self, event: &[u8]) -> Reply {
        let events = self.events.lock();
        let samples = events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, s)| {
                s.samples
                    .iter()
                    .map(|(t, ms)| Reply::Array(vec![Reply::Int(*t), int(*ms)]))
                    .collect()
            })
            .unwrap_or_default();
        Reply::Array(samples)
    }

    /// LATENCY RESET [event ...]: forgets the named events (all without
    /// names); returns how many it forgot.
    pub fn reset(&self, names: &[bytes::Bytes]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|name, _| !names.iter().any(|n| n == name.as_bytes()));
        before - events.len()
    }

    /// LATENCY DOCTOR: what the samples say, in words.
    pub fn doctor(&self, slowlog_slower_than_us: i64) -> String {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        let events = self.events.lock();
        if events.is_empty() && threshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this \
                    ringkv node. You may use \"CONFIG SET latency-monitor-threshold \
                    <milliseconds>.\" in order to enable it.\n"
                .to_string();
        }
        if events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this ringkv \
                    node, not in the slightest bit. I honestly think you ought to sit down \
                    calmly, take a stress pill, and think things over.\n"
                .to_string();
        }
        let mut out = String::from(
            "Dave, I have observed latency spikes in this ringkv node. You don't mind talking \
             about it, do you Dave?\n\n",
        );
        for (i, (name, s)) in events.iter().enumerate() {
            let n = s.samples.len().max(1) as u64;
            let avg = s.samples.iter().map(|(_, ms)| ms).sum::<u64>() / n;
            let (first, last) = match (s.samples.front(), s.samples.back()) {
                (Some((f, _)), Some((l, _))) => (*f, *l),
                _ => (0, 0),
            };
            let _ = writeln!(
                out,
                "{}. {name}: {} latency spikes (average {avg}ms, worst {}ms) over the last {} \
                 seconds.",
                i + 1,
                s.samples.len(),
                s.max,
                last - first
            );
        }
        out.push_str("\nI have a few advices for you:\n\n");
        if events.contains_key("command") {
            if slowlog_slower_than_us < 0 {
                out.push_str(
                    "- The slow log is disabled: CONFIG SET slowlog-log-slower-than to see \
                     which commands are slow.\n",
                );
            }
            out.push_str(
                "- Check SLOWLOG GET for the slow commands; commands over large \
                 collections (HGETALL, SMEMBERS, ZRANGE of a whole set, KEYS) take time \
                 proportional to what they return.\n",
            );
        }
        if events.contains_key("fast-command") {
            out.push_str(
                "- Fast commands were slow: the machine was likely short of CPU (other \
                 processes, or a compaction or flush of this node at the same moment; see \
                 INFO engine and the write stall figures).\n",
            );
        }
        out
    }

    /// `latency-monitor-threshold` by its Redis name, for CONFIG GET.
    pub fn all(&self) -> [(&'static str, String); 1] {
        [(
            "latency-monitor-threshold",
            self.threshold_ms.load(Ordering::Relaxed).to_string(),
        )]
    }

    /// `Ok(None)` if `name` is not the setting; the checked value
    /// otherwise, or why it is refused.
    pub fn parse(name: &str, value: &str) -> Result<Option<i64>, String> {
        if !name.eq_ignore_ascii_case("latency-monitor-threshold") {
            return Ok(None);
        }
        match value.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v)),
            Ok(_) => Err(format!(
                "argument must be between 0 and {} inclusive",
                i64::MAX
            )),
            Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
        }
    }

    /// Applies a threshold [`LatencyMonitor::parse`] checked.
    pub fn store(&self, threshold_ms: i64) {
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
    }
}

fn int(v: u64) -> Reply {
    Reply::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_one_per_second_the_last_160_and_the_max() {
        let m = LatencyMonitor::default();
        m.record_command(false, 50_000);
        assert_eq!(m.latest(), Reply::Array(vec![]), "off by default");
        m.store(10);
        m.record_command(false, 9_999);
        assert_eq!(m.latest(), Reply::Array(vec![]), "under the threshold");
        m.add_sample("command", 12, 100);
        m.add_sample("command", 30, 100);
        m.add_sample("command", 11, 100);
        for t in 101..=300 {
            m.add_sample("command", 20, t);
        }
        let events = m.events.lock();
        let s = &events["command"];
        assert_eq!(s.samples.len(), SAMPLES);
        assert_eq!(s.samples.front(), Some(&(141, 20)));
        assert_eq!(s.max, 30);
        drop(events);
        assert_eq!(
            m.latest(),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("command"),
                Reply::Int(300),
                Reply::Int(20),
                Reply::Int(30)
            ])])
        );
        m.add_sample("fast-command", 15, 300);
        assert_eq!(m.reset(&[bytes::Bytes::from_static(b"FAST-COMMAND")]), 0);
        assert_eq!(m.reset(&[bytes::Bytes::from_static(b"fast-command")]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert_eq!(m.history(b"command"), Reply::Array(vec![]));
    }
}
