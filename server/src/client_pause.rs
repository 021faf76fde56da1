//! CLIENT PAUSE and CLIENT UNPAUSE: an operator holds this node's clients
//! (all their commands, or only those that write) for a while, e.g. to let
//! replicas catch up before taking the node down.
//!
//! As in Redis 7.0: a command checks the pause when it is about to run or
//! be queued in MULTI (after its arguments were checked, so a malformed one
//! is answered at once; EXEC counts as a write if anything it queued
//! writes, CL as the command it wraps); a second PAUSE keeps the later end
//! and the stricter mode; UNPAUSE, or the end, lets every waiting command
//! run, each client's in its order; a client waiting here counts in INFO's
//! `blocked_clients`. Only this node's clients are paused: the ring's
//! replication between nodes goes on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::command::table::{CommandSpec, Handler, flag};

#[derive(Clone, Copy, Debug)]
struct Pause {
    end: Instant,
    /// Every command waits (ALL), not only writes (WRITE).
    all: bool,
}

/// The node's client pause.
#[derive(Default)]
pub struct ClientPause {
    /// Whether `state` may hold a pause: every command reads this, and
    /// only takes the lock while a pause is set.
    set: AtomicBool,
    state: Mutex<Option<Pause>>,
    /// Woken when the pause is lifted or changed.
    changed: Notify,
    /// Commands waiting now.
    waiting: AtomicUsize,
}

impl ClientPause {
    /// Pauses for `timeout` (WRITE mode unless `all`); an earlier pause
    /// keeps its end if later and its mode if stricter.
    pub fn pause(&self, timeout: Duration, all: bool) {
        // A timeout past what the clock can hold lasts as long as it can.
        let now = Instant::now();
        let end = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(u32::MAX.into()));
        let mut state = self.state.lock();
        *state = Some(match *state {
            Some(p) if p.end > Instant::now() => Pause {
                end: p.end.max(end),
                all: p.all || all,
            },
            _ => Pause { end, all },
        });
        self.set.store(true, Ordering::Release);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Lifts the pause.
    pub fn unpause(&self) {
        let mut state = self.state.lock();
        *state = None;
        self.set.store(false, Ordering::Release);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Commands waiting for the pause to end.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether a pause is in force now.
    pub fn active(&self) -> bool {
        self.current().is_some()
    }

    /// The pause in force now, if any (one atomic load when none is set;
    /// a pause found over is cleared).
    fn current(&self) -> Option<Pause> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.state.lock();
        match *state {
            Some(p) if p.end > Instant::now() => Some(p),
            _ => {
                *state = None;
                self.set.store(false, Ordering::Release);
                None
            }
        }
    }

    /// The end of the pause a command that writes (`writes`) or not must
    /// wait for, if any.
    pub fn holds(&self, writes: bool) -> Option<Instant> {
        self.current().filter(|p| p.all || writes).map(|p| p.end)
    }

    /// Completes when the pause is lifted or changed (enable it before
    /// reading [`ClientPause::holds`], so no change is missed).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Returns once a command that writes (`writes`) or not may run.
    pub async fn wait(&self, writes: bool) {
        if self.holds(writes).is_none() {
            return;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        loop {
            // Registered before the state is read, so a change between the
            // two is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(end) = self.holds(writes) else {
                return;
            };
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(end) => {}
            }
        }
    }
}

/// Counts a waiting command until dropped (also when its client leaves).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a command counts as a write for CLIENT PAUSE WRITE: it writes,
/// or it may send something on (PUBLISH, SPUBLISH) or change a value while
/// reading it (PFCOUNT caches its count), as Redis's `may-replicate`.
pub fn pauses_as_write(spec: &CommandSpec) -> bool {
    spec.has(flag::WRITE)
        || matches!(
            spec.handler,
            Handler::Publish | Handler::SPublish | Handler::PfCount
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_wait_until_unpause_or_the_end_and_reads_do_not() {
        let p = std::sync::Arc::new(ClientPause::default());
        p.pause(Duration::from_secs(10), false);
        // A read runs at once under WRITE.
        tokio::time::timeout(Duration::from_millis(1), p.wait(false))
            .await
            .unwrap();
        let waiter = tokio::spawn({
            let p = std::sync::Arc::clone(&p);
            async move { p.wait(true).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        assert_eq!(p.waiting(), 1);
        p.unpause();
        waiter.await.unwrap();
        assert_eq!(p.waiting(), 0);
        // ALL holds reads too, until its end; a later WRITE pause keeps
        // the stricter mode and the later end.
        p.pause(Duration::from_secs(5), true);
        p.pause(Duration::from_secs(2), false);
        let started = tokio::time::Instant::now();
        p.wait(false).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(!p.active());
    }
}
