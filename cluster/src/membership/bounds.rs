//! What a received state may claim about a member (`docs/protocol/gossip.md`,
//! "Bounds on what a state may claim"). A state is accepted on
//! `(generation, version)` alone, so without a limit one state from a peer
//! that knows the cluster secret, or from a bug, could claim a version the
//! member can never outbid (`u64::MAX`: a live node announced `left` for
//! good) or a generation that outranks all its later restarts. As Cassandra refuses a gossip
//! generation more than a year ahead of its clock, a receiver ignores,
//! counts and logs a state that claims more than the member could have
//! announced:
//!
//! - a `generation` (the member's start time, unix ms) more than
//!   [`AHEAD_MS`] (a day) ahead of this node's clock;
//! - a `version` above [`version_limit`]: one version per millisecond of
//!   the member's life (as measured by a clock up to
//!   [`AHEAD_MS`] (a day) ahead of this node's), plus
//!   [`MAX_REMOVALS`] steps of `CLUSTER REMOVE`.
//!
//! The limit depends only on the state and the clock, never on what this
//! node held before, so the order states arrive in still does not change
//! the outcome, and a node that missed earlier states is never stuck
//! rejecting the later ones.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{MemberState, REMOVAL_VERSION_STEP};

/// How far ahead of this node's clock a member's generation may be, in
/// milliseconds: the clock skew between members tolerated. A day, far above the skew of
/// clocks kept by NTP and above the hours a restored VM can run before its
/// clock is corrected; a member further ahead has every state ignored
/// (and counted) until the clocks agree. A smaller value would shorten how
/// long a forged generation within it outranks the member's restarts, but
/// would turn a badly set clock into a member that looks down.
const AHEAD_MS: u64 = 24 * 60 * 60 * 1000;

/// Removals by `CLUSTER REMOVE` allowed for in one generation of a member.
/// Each adds [`REMOVAL_VERSION_STEP`] (2^32) to the version, and may be
/// refuted (+1) by the member if it was running after all, then removed
/// again: an operator's action each time, so a million is never reached
/// in practice, and the limit stays far below `u64::MAX` (about 2^52).
pub const MAX_REMOVALS: u64 = 1 << 20;

/// At most one warning about ignored states per this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// This node's clock, in unix ms (the unit of generations).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The highest version a member whose generation is `generation` can have
/// announced by `now_ms` (this node's clock).
///
/// A member raises its version once per gossip round (`gossip-interval-ms`
/// is at least 10 ms, and rounds do not catch up after a delay), once per
/// change of its own status or tokens (a handful in a life), and by one
/// above a copy of itself it refutes. One version per millisecond since
/// its start is thus ten times the fastest heartbeat; the member's age is
/// measured by a clock [`AHEAD_MS`] (a day) ahead of this node's, so a
/// member whose clock runs ahead (its generation in this node's future)
/// still has a day's worth of versions (86.4 million) to spare. On top of
/// that come [`MAX_REMOVALS`] removals: `CLUSTER REMOVE` announces the
/// member at its version + [`REMOVAL_VERSION_STEP`], and the member's
/// refutation is one above that.
pub fn version_limit(generation: u64, now_ms: u64) -> u64 {
    now_ms
        .saturating_add(AHEAD_MS)
        .saturating_sub(generation)
        .saturating_add(MAX_REMOVALS.saturating_mul(REMOVAL_VERSION_STEP))
}

/// The highest version of this node's own state it still refutes when a
/// peer announces it: [`version_limit`] as a node whose clock is up to
/// [`AHEAD_MS`] (a day) ahead of this one computes it. Any copy a peer
/// within the tolerated skew could have accepted is thus refuted (so this
/// node is never left out by a copy it ignored), and the refutation, one
/// above, cannot overflow.
pub fn own_version_limit(generation: u64, now_ms: u64) -> u64 {
    version_limit(generation, now_ms.saturating_add(AHEAD_MS))
}

/// Why a received state was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Its generation is more than [`AHEAD_MS`] (a day) ahead.
    FutureGeneration,
    /// Its version is above what the member can have announced.
    ImplausibleVersion,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::FutureGeneration => "generation too far ahead of this node's clock",
            Rejection::ImplausibleVersion => "version above what the member can have announced",
        }
    }
}

/// Checks a state a peer sent about another member (`own` false) or about
/// this node itself (`own` true: the wider [`own_version_limit`]).
pub fn check(s: &MemberState, now_ms: u64, own: bool) -> Result<(), Rejection> {
    if s.generation > now_ms.saturating_add(AHEAD_MS) {
        return Err(Rejection::FutureGeneration);
    }
    let limit = if own {
        own_version_limit(s.generation, now_ms)
    } else {
        version_limit(s.generation, now_ms)
    };
    if s.version > limit {
        return Err(Rejection::ImplausibleVersion);
    }
    Ok(())
}

/// Limits the warnings about ignored states to one per [`LOG_INTERVAL`],
/// each saying how many were left out since the last.
#[derive(Default)]
pub struct RejectLog {
    last: Option<Instant>,
    left_out: u64,
}

impl RejectLog {
    /// Logs that `s` was ignored for `why`, unless a warning went out less
    /// than [`LOG_INTERVAL`] before `now`.
    pub fn note(&mut self, s: &MemberState, why: Rejection, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < LOG_INTERVAL)
        {
            self.left_out = self.left_out.saturating_add(1);
            return;
        }
        tracing::warn!(
            member = format!("{:016x}", s.id),
            generation = s.generation,
            version = s.version,
            status = s.status.as_str(),
            left_out = self.left_out,
            "ignoring a gossiped member state: {} (a misbehaving peer, or clocks more than a \
             day apart)",
            why.as_str()
        );
        self.last = Some(now);
        self.left_out = 0;
    }
}
