//! Time limits that count only the time this process was running.
//!
//! A replica timeout measured on the wall clock expires during a pause of
//! the whole process (SIGSTOP, a VM freeze, a long stall): on waking, every
//! wait in flight would fail at once, although the replies it waited for
//! are already in the socket buffers, read a moment later. An
//! [`AwakeTimer`] advances in small steps and does not count a step that
//! took far longer than it should have: that time the process was not
//! running, and the peers were not slow.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

/// Shortest step of an [`AwakeTimer`].
const MIN_STEP: Duration = Duration::from_millis(1);
/// Longest step of an [`AwakeTimer`].
const MAX_STEP: Duration = Duration::from_millis(50);
/// A step overrunning its length by more than this (and by more than
/// [`PAUSE_STEPS`] steps) was a pause of this process, not time a peer
/// took: it counts as one step. Scheduling delays of a busy node stay well
/// below it and count in full.
const PAUSE_OVERRUN: Duration = Duration::from_millis(250);
/// See [`PAUSE_OVERRUN`].
const PAUSE_STEPS: u32 = 5;

/// A time limit spent across one or more waits, counting awake time only.
#[derive(Debug)]
pub struct AwakeTimer {
    limit: Duration,
    counted: Duration,
    step: Duration,
}

impl AwakeTimer {
    /// A timer of `limit`.
    pub fn new(limit: Duration) -> Self {
        AwakeTimer {
            limit,
            counted: Duration::ZERO,
            step: (limit / 20).clamp(MIN_STEP, MAX_STEP),
        }
    }

    /// Whether the limit is spent.
    #[cfg(test)]
    pub fn expired(&self) -> bool {
        self.counted >= self.limit
    }

    /// The time `gap` that passed over a step of `step` counts as.
    fn count(&mut self, gap: Duration, step: Duration) {
        let awake = if gap > step + PAUSE_OVERRUN.max(step * PAUSE_STEPS) {
            step
        } else {
            gap
        };
        self.counted = self.counted.saturating_add(awake);
    }

    /// Waits for `fut` while the limit lasts; `None` if it ran out first.
    /// `fut` is always polled at least once, so what is already there (a
    /// reply queued in a channel) is taken even from a spent timer.
    pub async fn run<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        let mut last = Instant::now();
        loop {
            let left = self.limit.saturating_sub(self.counted);
            if left.is_zero() {
                return fut.as_mut().now_or_never();
            }
            let step = left.min(self.step);
            let done = tokio::select! {
                biased;
                out = &mut fut => Some(out),
                () = tokio::time::sleep(step) => None,
            };
            let now = Instant::now();
            self.count(now.saturating_duration_since(last), step);
            last = now;
            if done.is_some() {
                return done;
            }
        }
    }
}

/// `fut` within `limit` of awake time; `None` if it did not finish.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    AwakeTimer::new(limit).run(fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_overran_by_a_pause_counts_as_one_step() {
        let mut t = AwakeTimer::new(Duration::from_millis(500));
        let step = Duration::from_millis(25);
        // Three seconds stopped: only the step counts.
        t.count(Duration::from_secs(3), step);
        assert_eq!(t.counted, step);
        // An ordinary late wake-up counts in full.
        t.count(Duration::from_millis(120), step);
        assert_eq!(t.counted, step + Duration::from_millis(120));
        assert!(!t.expired());
        for _ in 0..20 {
            t.count(step, step);
        }
        assert!(t.expired());
    }

    #[tokio::test]
    async fn a_wait_ends_with_its_future_or_at_the_limit() {
        let got = within(Duration::from_millis(200), async { 7 }).await;
        assert_eq!(got, Some(7));
        let started = Instant::now();
        let never = within(Duration::from_millis(60), std::future::pending::<()>()).await;
        assert_eq!(never, None);
        assert!(started.elapsed() >= Duration::from_millis(60));
        // One timer spread over several waits spends one limit.
        let mut t = AwakeTimer::new(Duration::from_millis(60));
        assert_eq!(
            t.run(tokio::time::sleep(Duration::from_millis(20))).await,
            Some(())
        );
        assert_eq!(t.run(std::future::pending::<()>()).await, None);
        assert!(t.expired());
        // A spent timer still takes what is ready.
        assert_eq!(t.run(async { 3 }).await, Some(3));
    }
}
