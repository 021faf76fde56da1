//! The phi-accrual failure detector (Hayashibara et al., 2004), as Cassandra
//! uses it to judge gossip peers.
//!
//! Instead of a yes/no timeout, the detector keeps a window of the
//! intervals between a peer's heartbeats and reports a suspicion level phi:
//! roughly, `phi = x` means the chance that a heartbeat is still to come
//! after this much silence is `10^-x`. Like Cassandra, it models intervals
//! as exponentially distributed, so phi is `elapsed / mean * log10(e)`,
//! which adapts to each peer's observed rhythm and to network jitter.
//!
//! Pure state: the caller owns the clock and passes `now` to every call, so
//! tests drive it with synthetic instants. One detector per peer; not
//! shared between threads by itself.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Default phi threshold above which a node is considered down.
///
/// With the exponential model, 8 means about 18.4 mean intervals of silence
/// (Cassandra's default `phi_convict_threshold`). Lower convicts faster but
/// flaps on a congested network; higher waits longer before failing over.
#[cfg(test)]
pub const DEFAULT_PHI_THRESHOLD: f64 = 8.0;

/// Intervals kept; older ones are dropped so the mean follows the peer's
/// current rhythm. Cassandra keeps 1000 as well.
pub const WINDOW_SIZE: usize = 1000;

/// Intervals longer than this many expected intervals are not sampled.
///
/// A peer that pauses (GC, VM migration, partition) and comes back would
/// otherwise add one huge interval that inflates the mean, making the
/// detector slow to notice its next real failure for up to a whole window.
/// Such a gap is already judged by phi while it happens (at 8 the peer is
/// down after ~18 mean intervals), so dropping it loses nothing. Cassandra
/// does the same with a fixed cap (`MAX_INTERVAL_IN_NANO`, 2 s); scaling with
/// the expected interval keeps the rule meaningful for any gossip period.
/// The cost: a peer whose rhythm really slows beyond 10x is never learned,
/// and is judged down while it stays that slow.
pub const MAX_INTERVAL_FACTOR: u32 = 10;

/// Floor of the mean interval, in ms, so a burst of back-to-back heartbeats
/// (zero intervals) cannot make phi divide by zero or jump to infinity on
/// the first millisecond of silence.
const MIN_MEAN_MS: f64 = 1.0;

/// A phi-accrual failure detector for one peer.
#[derive(Clone, Debug)]
pub struct PhiDetector {
    /// The most recent inter-arrival intervals in ms, oldest first; at most
    /// [`WINDOW_SIZE`] and never empty.
    intervals: VecDeque<f64>,
    /// Sum of `intervals`, kept so the mean is O(1).
    sum_ms: f64,
    /// Longer intervals are not sampled; see [`MAX_INTERVAL_FACTOR`].
    max_interval_ms: f64,
    /// When the last heartbeat arrived; `None` until the first.
    last: Option<Instant>,
}

impl PhiDetector {
    /// A detector for a peer expected to heartbeat every
    /// `expected_interval`.
    ///
    /// `expected_interval` seeds the window with one sample so a new peer is
    /// judged before samples exist (Cassandra bootstraps similarly); real
    /// intervals soon outweigh it. It also sets the largest interval that is
    /// sampled, [`MAX_INTERVAL_FACTOR`] times it.
    pub fn new(expected_interval: Duration) -> Self {
        let seed = duration_ms(expected_interval);
        PhiDetector {
            intervals: VecDeque::from([seed]),
            sum_ms: seed,
            max_interval_ms: seed * f64::from(MAX_INTERVAL_FACTOR),
            last: None,
        }
    }

    /// Records a heartbeat (a newer heartbeat version seen for the peer) at
    /// `now`. A `now` earlier than the previous heartbeat counts as a zero
    /// interval rather than panicking.
    pub fn heartbeat(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let interval = duration_ms(now.saturating_duration_since(last));
            if interval <= self.max_interval_ms {
                self.push(interval);
            }
        }
        self.last = Some(now);
    }

    fn push(&mut self, interval_ms: f64) {
        if self.intervals.len() == WINDOW_SIZE {
            if let Some(old) = self.intervals.pop_front() {
                self.sum_ms -= old;
            }
        }
        self.intervals.push_back(interval_ms);
        self.sum_ms += interval_ms;
    }

    /// Mean of the window in ms, floored at [`MIN_MEAN_MS`].
    fn mean_ms(&self) -> f64 {
        // The window is never empty (seeded in `new`); max(1) is belt and
        // braces against a division by zero.
        let mean = self.sum_ms / self.intervals.len().max(1) as f64;
        mean.max(MIN_MEAN_MS)
    }

    /// Moves the last heartbeat `gap` later: silence during which this
    /// node itself was not running (paused, starved) is not the peer's.
    pub fn forgive(&mut self, gap: Duration) {
        self.last = self.last.map(|l| l + gap);
    }

    /// Number of intervals in the window (at most [`WINDOW_SIZE`]).
    #[cfg(test)]
    pub fn window_len(&self) -> usize {
        self.intervals.len()
    }

    /// Suspicion level at `now`: `elapsed / mean * log10(e)`, elapsed since
    /// the last heartbeat (the exponential-distribution approximation
    /// Cassandra uses). 0 before any heartbeat, and 0 if `now` precedes it.
    pub fn phi(&self, now: Instant) -> f64 {
        let Some(last) = self.last else {
            return 0.0;
        };
        let elapsed = duration_ms(now.saturating_duration_since(last));
        elapsed / self.mean_ms() * std::f64::consts::LOG10_E
    }

    /// True if `phi(now)` is above `threshold` (usually
    /// [`DEFAULT_PHI_THRESHOLD`]).
    #[cfg(test)]
    pub fn is_down(&self, now: Instant, threshold: f64) -> bool {
        self.phi_if_up(now, threshold).is_none()
    }

    /// `phi(now)` while it is not above `threshold`; `None` once it is
    /// (the peer is judged down).
    pub fn phi_if_up(&self, now: Instant, threshold: f64) -> Option<f64> {
        let phi = self.phi(now);
        (phi <= threshold || phi.is_nan()).then_some(phi)
    }
}

/// A duration in (fractional) milliseconds.
fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_millis(100);

    /// A detector that has seen `count` heartbeats every `BEAT` from `start`;
    /// returns it with the time of the last heartbeat.
    fn steady(start: Instant, count: u32) -> (PhiDetector, Instant) {
        let mut d = PhiDetector::new(BEAT);
        let mut now = start;
        for _ in 0..count {
            d.heartbeat(now);
            now += BEAT;
        }
        (d, now - BEAT)
    }

    #[test]
    fn phi_is_zero_before_any_heartbeat() {
        let d = PhiDetector::new(BEAT);
        let now = Instant::now();
        assert_eq!(d.phi(now + Duration::from_secs(60)), 0.0);
        assert!(!d.is_down(now, DEFAULT_PHI_THRESHOLD));
    }

    #[test]
    fn regular_heartbeats_keep_phi_low() {
        let (d, last) = steady(Instant::now(), 50);
        assert!(d.phi(last) < 0.01);
        // One interval late is far from suspicious.
        let phi = d.phi(last + BEAT);
        assert!(phi < 1.0, "phi {phi}");
        assert!(!d.is_down(last + BEAT * 2, DEFAULT_PHI_THRESHOLD));
    }

    #[test]
    fn twenty_silent_intervals_mark_the_peer_down_until_it_resumes() {
        let (mut d, last) = steady(Instant::now(), 50);
        let silent = last + BEAT * 20;
        let phi = d.phi(silent);
        assert!(phi > DEFAULT_PHI_THRESHOLD, "phi {phi}");
        assert!(d.is_down(silent, DEFAULT_PHI_THRESHOLD));

        // The peer comes back: the 2 s gap is beyond the sampling cap, so
        // the mean stays at 100 ms and the detector stays as sensitive.
        d.heartbeat(silent);
        assert!(d.phi(silent) < 0.01);
        let mut now = silent;
        for _ in 0..5 {
            now += BEAT;
            d.heartbeat(now);
        }
        assert!(!d.is_down(now + BEAT, DEFAULT_PHI_THRESHOLD));
        assert!((d.mean_ms() - 100.0).abs() < 1e-6, "mean {}", d.mean_ms());
        assert!(d.is_down(now + BEAT * 20, DEFAULT_PHI_THRESHOLD));
    }

    #[test]
    fn a_long_gap_within_the_cap_is_learned() {
        let (mut d, last) = steady(Instant::now(), 3);
        // 500 ms is under 10 x 100 ms: sampled, so the mean grows.
        d.heartbeat(last + BEAT * 5);
        assert!(d.mean_ms() > 100.0);
    }

    #[test]
    fn window_is_bounded() {
        let (d, _) = steady(Instant::now(), 3 * WINDOW_SIZE as u32);
        assert_eq!(d.window_len(), WINDOW_SIZE);
    }

    #[test]
    fn phi_follows_a_slower_peer() {
        let start = Instant::now();
        let mut d = PhiDetector::new(BEAT);
        let slow = Duration::from_millis(500);
        let mut now = start;
        for _ in 0..200 {
            d.heartbeat(now);
            now += slow;
        }
        let last = now - slow;
        // 5 x BEAT of silence is one interval for this peer: not suspicious.
        assert!(!d.is_down(last + slow * 2, DEFAULT_PHI_THRESHOLD));
        assert!(d.is_down(last + slow * 20, DEFAULT_PHI_THRESHOLD));
    }

    #[test]
    fn clock_going_backwards_does_not_panic() {
        let (mut d, last) = steady(Instant::now(), 3);
        let earlier = last.checked_sub(BEAT).unwrap_or(last);
        assert_eq!(d.phi(earlier), 0.0);
        d.heartbeat(earlier);
        assert!(d.phi(earlier + BEAT).is_finite());
    }
}
