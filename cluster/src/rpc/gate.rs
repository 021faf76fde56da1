//! Admission to the cluster port before a peer has authenticated: all a
//! stranger who can reach the port may make this node hold
//! (`docs/protocol/node-rpc.md`, "Before authentication").
//!
//! - **Protected mode**, as Redis's for clients: with no `cluster-secret`
//!   only loopback peers ([`ringkv_conf::is_loopback`]) are admitted; any
//!   other gets a REFUSED frame saying why, and is closed.
//! - **Bounded handshakes**: at most [`MAX_UNAUTHENTICATED`] connections
//!   are in the handshake at once, at most [`MAX_UNAUTHENTICATED_PER_ADDR`]
//!   of them from one address (an IPv6 /64 counts as one), so one source
//!   cannot take every slot. A connection over either bound is closed at
//!   once, without a frame (the peer's next attempt may well succeed).
//!   The handshake itself reads frames of at most
//!   [`super::frame::MAX_PREAUTH_BODY`] bytes and must end within
//!   [`HANDSHAKE_TIMEOUT`].
//! - **Counted, quietly**: every refused, failed or unfinished handshake
//!   adds one to `handshakes_refused` (INFO `cluster_handshakes_refused`,
//!   `ringkv_cluster_handshakes_refused_total`); the log gets at most one
//!   line per peer address per [`LOG_INTERVAL`] and [`LOG_BURST`] lines
//!   per interval in all, each saying how many were left out.
//!
//! Locks: `per_addr` and `log` are `parking_lot` mutexes held for a map
//! update only, never across an `.await`, never both at once.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::ClusterStats;

/// Most connections in the handshake at once.
pub const MAX_UNAUTHENTICATED: usize = 64;
/// Most connections in the handshake at once from one address. A member
/// opens one pooled connection per peer, so this is far above what the
/// members sharing one address need.
pub const MAX_UNAUTHENTICATED_PER_ADDR: usize = 16;
/// How long a peer has to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one log line per peer address per interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// At most this many log lines about bad peers per [`LOG_INTERVAL`].
pub const LOG_BURST: u32 = 10;
/// Addresses remembered by the log limiter; beyond it lines are skipped.
const LOG_ADDRS: usize = 1024;

/// The text of the REFUSED frame protected mode answers with.
pub const PROTECTED_MODE_TEXT: &str = "protected mode: this node has no cluster-secret, so its \
     cluster port accepts loopback peers only; set the same cluster-secret on every member";

/// Whether protected mode admits `peer`: always with a secret, else only
/// from loopback.
pub fn protected_mode_admits(peer: IpAddr, secret_set: bool) -> bool {
    secret_set || ringkv_conf::is_loopback(peer)
}

/// Why a connection was not admitted to the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `cluster-secret` and a non-loopback peer.
    ProtectedMode,
    /// [`MAX_UNAUTHENTICATED`] handshakes already running.
    Busy,
    /// [`MAX_UNAUTHENTICATED_PER_ADDR`] handshakes already running from
    /// the peer's address.
    BusyAddress,
}

impl Refusal {
    /// The REFUSED text sent before closing, if any: a busy node just
    /// closes, since the peer should simply try again.
    pub fn reply(self) -> Option<&'static str> {
        match self {
            Refusal::ProtectedMode => Some(PROTECTED_MODE_TEXT),
            Refusal::Busy | Refusal::BusyAddress => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::ProtectedMode => "refused by protected mode (no cluster-secret, not loopback)",
            Refusal::Busy => "too many unauthenticated connections",
            Refusal::BusyAddress => "too many unauthenticated connections from this address",
        })
    }
}

/// The admission state of one cluster port.
pub struct Gate {
    /// No `cluster-secret`: loopback peers only.
    protected: bool,
    /// One permit per connection in the handshake.
    slots: Arc<Semaphore>,
    /// Handshakes running per source (see [`source_key`]); entries at 0
    /// are removed.
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    /// Where refusals are counted.
    stats: Arc<ClusterStats>,
    log: Mutex<LogLimiter>,
}

/// A connection's place in the handshake; dropping it frees the place.
pub struct Pass {
    gate: Arc<Gate>,
    key: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut per_addr = self.gate.per_addr.lock();
        if let Some(n) = per_addr.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_addr.remove(&self.key);
            }
        }
    }
}

/// What the per-address bound counts by: the address itself, or for IPv6
/// its /64 (one host usually owns a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl Gate {
    /// The gate of a cluster port; `secret_set` is whether a
    /// `cluster-secret` is configured (else protected mode applies).
    pub fn new(secret_set: bool, stats: Arc<ClusterStats>) -> Arc<Gate> {
        Arc::new(Gate {
            protected: !secret_set,
            slots: Arc::new(Semaphore::new(MAX_UNAUTHENTICATED)),
            per_addr: Mutex::new(HashMap::new()),
            stats,
            log: Mutex::new(LogLimiter::default()),
        })
    }

    /// Whether protected mode is on (no `cluster-secret`).
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// Admits a connection from `peer` to the handshake, or says why not.
    /// Does not count or log a refusal: [`Gate::refused`] does.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Pass, Refusal> {
        if !protected_mode_admits(peer, !self.protected) {
            return Err(Refusal::ProtectedMode);
        }
        let key = source_key(peer);
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)?;
        {
            let mut per_addr = self.per_addr.lock();
            let n = per_addr.entry(key).or_insert(0);
            if *n >= MAX_UNAUTHENTICATED_PER_ADDR {
                return Err(Refusal::BusyAddress);
            }
            *n += 1;
        }
        Ok(Pass {
            gate: Arc::clone(self),
            key,
            _slot: slot,
        })
    }

    /// Counts a connection from `peer` that was refused or whose handshake
    /// failed, and logs it unless the log limiter says enough was said.
    pub fn refused(&self, peer: SocketAddr, why: &dyn fmt::Display) {
        self.stats.handshakes_refused.inc();
        let allowed = self.log.lock().allow(source_key(peer.ip()), Instant::now());
        if let Some(suppressed) = allowed {
            tracing::warn!(
                %peer,
                suppressed,
                "cluster port: connection refused before authentication: {why}"
            );
        }
    }
}

/// Decides which log lines about bad peers are written.
#[derive(Default)]
struct LogLimiter {
    /// When each address was last logged.
    last: HashMap<IpAddr, Instant>,
    /// Start of the current interval, and lines written in it.
    window: Option<Instant>,
    in_window: u32,
    /// Lines skipped since the last one written.
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(lines skipped before this one)` if a line about `key` may be
    /// written at `now`, else `None` (and the line is counted as skipped).
    fn allow(&mut self, key: IpAddr, now: Instant) -> Option<u64> {
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < LOG_INTERVAL;
        if !self.window.as_ref().is_some_and(fresh) {
            self.window = Some(now);
            self.in_window = 0;
        }
        if self.last.len() >= LOG_ADDRS {
            self.last.retain(|_, t| fresh(t));
        }
        let quiet = self.last.get(&key).is_some_and(fresh);
        if quiet || self.in_window >= LOG_BURST || self.last.len() >= LOG_ADDRS {
            self.suppressed += 1;
            return None;
        }
        self.last.insert(key, now);
        self.in_window += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn protected_mode_admits_loopback_peers_only() {
        for peer in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(protected_mode_admits(ip(peer), false), "{peer} admitted");
        }
        for peer in ["10.0.0.1", "::ffff:10.0.0.1", "192.168.0.2", "2001:db8::1"] {
            assert!(!protected_mode_admits(ip(peer), false), "{peer} refused");
            assert!(
                protected_mode_admits(ip(peer), true),
                "{peer} with a secret"
            );
        }
        let gate = Gate::new(false, Arc::default());
        assert_eq!(
            gate.admit(ip("::ffff:10.0.0.1")).err(),
            Some(Refusal::ProtectedMode)
        );
        assert!(gate.admit(ip("::ffff:127.0.0.1")).is_ok());
    }

    #[test]
    fn handshakes_are_bounded_in_all_and_per_address() {
        let gate = Gate::new(true, Arc::default());
        let mut passes: Vec<Pass> = (0..MAX_UNAUTHENTICATED_PER_ADDR)
            .map(|_| gate.admit(ip("10.0.0.1")).expect("admitted"))
            .collect();
        assert_eq!(gate.admit(ip("10.0.0.1")).err(), Some(Refusal::BusyAddress));
        // One IPv6 /64 is one source.
        for _ in 0..MAX_UNAUTHENTICATED_PER_ADDR {
            passes.push(gate.admit(ip("2001:db8::7")).expect("admitted"));
        }
        assert_eq!(
            gate.admit(ip("2001:db8::8")).err(),
            Some(Refusal::BusyAddress)
        );
        let mut host = 2u8;
        while passes.len() < MAX_UNAUTHENTICATED {
            if let Ok(p) = gate.admit(IpAddr::from([10, 0, 1, host])) {
                passes.push(p);
            }
            host += 1;
        }
        assert_eq!(gate.admit(ip("10.9.9.9")).err(), Some(Refusal::Busy));
        passes.truncate(MAX_UNAUTHENTICATED_PER_ADDR - 1);
        assert!(gate.admit(ip("10.0.0.1")).is_ok(), "places come back");
        drop(passes);
        assert!(gate.per_addr.lock().is_empty());
    }

    #[test]
    fn log_lines_are_limited_per_address_and_in_all() {
        let mut log = LogLimiter::default();
        let t0 = Instant::now();
        assert_eq!(log.allow(ip("10.0.0.1"), t0), Some(0));
        for _ in 0..1000 {
            assert_eq!(log.allow(ip("10.0.0.1"), t0), None);
        }
        let mut written = 1;
        for host in 0..=255u8 {
            if log.allow(IpAddr::from([10, 0, 2, host]), t0).is_some() {
                written += 1;
            }
        }
        assert_eq!(written, LOG_BURST);
        // The next line written says how many were left out since the last.
        let later = t0 + LOG_INTERVAL;
        let skipped = log.allow(ip("10.0.0.1"), later).expect("a new interval");
        assert_eq!(skipped, 256 - u64::from(LOG_BURST - 1));
    }

    #[test]
    fn refusals_are_counted() {
        let stats = Arc::new(ClusterStats::default());
        let gate = Gate::new(false, Arc::clone(&stats));
        let peer: SocketAddr = "10.0.0.1:5000".parse().expect("addr");
        for _ in 0..3 {
            gate.refused(peer, &Refusal::ProtectedMode);
        }
        assert_eq!(stats.handshakes_refused.get(), 3);
    }
}
