//! Learning the ring from seeds, and saying why a seed could not be used.
//!
//! A new node (or `CLUSTER JOIN`) gossips with its seeds until one answers
//! with a ring ([`learn_ring`]). A seed that answers but cannot be used
//! stops being asked: one that refuses the handshake (a wrong
//! `cluster-secret`, its protected mode) and one that does not speak the
//! node protocol at all. When every seed is such, the start fails at once
//! with each seed's reason; otherwise it keeps trying for [`JOIN_WAIT`].
//!
//! A port that says nothing when connected to (a Redis client port: the
//! client speaks first there) makes the handshake time out, like a slow
//! node would. A seed that timed out is therefore probed once
//! ([`probe`]): if it still sends no CHALLENGE, it is sent a RESP `PING`,
//! and an answer that is not a node frame marks it not a ringkv cluster
//! port.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::coordinator::Coordinator;
use crate::error::{Error, Refusal, Result, SeedFailure, SeedFailures};
use crate::ring::Ring;
use crate::rpc::frame::MAGIC;
use crate::rpc::{Request, Response, RpcError};

/// How long a new node keeps asking its seeds for the ring.
pub const JOIN_WAIT: Duration = Duration::from_secs(30);
/// Pause between rounds over the seeds.
const RETRY: Duration = Duration::from_millis(200);
/// Bound of each step of [`probe`]: connecting, waiting for a first byte,
/// waiting for an answer to `PING`.
const PROBE_STEP: Duration = Duration::from_secs(1);

/// One push-pull gossip exchange with the node at `addr`.
pub(crate) async fn exchange(
    coordinator: &Arc<Coordinator>,
    addr: &str,
) -> std::result::Result<(), RpcError> {
    let req = Request::Gossip(coordinator.members.states());
    let timeout = coordinator
        .settings
        .read()
        .replica_timeout
        .min(Duration::from_secs(2));
    match coordinator.rpc.call(addr, &req, timeout).await? {
        Response::Gossip(states) => {
            coordinator.members.merge(states);
            Ok(())
        }
        other => Err(RpcError::Remote(format!(
            "{addr}: unexpected reply to GOSSIP: {other:?}"
        ))),
    }
}

/// Checks that the node at `addr` keeps the replicas per key this node
/// was configured with (`ours`): where a key lives depends on it, so a
/// member with another value would read and write other nodes than the
/// rest. A mismatch is [`Refusal::ReplicasDiffer`]; a seed that cannot be
/// asked is reported as the exchange with it would be.
pub(crate) async fn check_settings(
    rpc: &crate::rpc::RpcClient,
    addr: &str,
    ours: usize,
    timeout: Duration,
) -> std::result::Result<std::result::Result<(), Refusal>, RpcError> {
    match rpc.call(addr, &Request::Settings, timeout).await? {
        Response::Settings { replicas } if usize::try_from(replicas).ok() == Some(ours) => {
            Ok(Ok(()))
        }
        Response::Settings { replicas } => Ok(Err(Refusal::ReplicasDiffer {
            seed: addr.to_string(),
            theirs: replicas,
            ours: u32::try_from(ours).unwrap_or(u32::MAX),
        })),
        other => Err(RpcError::Remote(format!(
            "{addr}: unexpected reply to SETTINGS: {other:?}"
        ))),
    }
}

/// Asks the seeds for the membership until one answers with a ring (the
/// next ring: members still joining keep the ranges they took). Fails at
/// once when every seed refused or is not a cluster port, or when a seed
/// keeps another number of replicas per key (before any member is
/// learnt from it), else after [`JOIN_WAIT`]; the error gives each seed's
/// reason.
pub(crate) async fn learn_ring(coordinator: &Arc<Coordinator>, seeds: &[String]) -> Result<Ring> {
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    let mut last: Vec<Option<RpcError>> = vec![None; seeds.len()];
    let mut probed = vec![false; seeds.len()];
    let source = coordinator.rpc.source();
    let (replicas, timeout) = {
        let settings = coordinator.settings.read();
        (
            settings.replicas,
            settings.replica_timeout.min(Duration::from_secs(2)),
        )
    };
    loop {
        for ((seed, last), probed) in seeds.iter().zip(&mut last).zip(&mut probed) {
            if last.as_ref().is_some_and(RpcError::is_definitive) {
                continue;
            }
            let checked = check_settings(&coordinator.rpc, seed, replicas, timeout).await;
            let exchanged = match checked {
                Ok(Err(refusal)) => return Err(Error::Refused(refusal)),
                Ok(Ok(())) => exchange(coordinator, seed).await,
                Err(e) => Err(e),
            };
            *last = match exchanged {
                Ok(()) => {
                    let ring = coordinator.members.ring();
                    if ring.nodes().iter().any(|&n| n != coordinator.me) {
                        return Ok((*coordinator.members.next_ring()).clone());
                    }
                    None
                }
                Err(RpcError::Timeout) if !*probed => {
                    *probed = true;
                    Some(probe(seed, source).await.unwrap_or(RpcError::Timeout))
                }
                Err(e) => Some(e),
            };
        }
        let every_seed_refused = last
            .iter()
            .all(|e| e.as_ref().is_some_and(RpcError::is_definitive));
        let timed_out = tokio::time::Instant::now() >= deadline;
        if every_seed_refused || timed_out {
            let failures = seeds
                .iter()
                .zip(last)
                .map(|(addr, error)| SeedFailure {
                    addr: addr.clone(),
                    error: error.unwrap_or_else(|| {
                        RpcError::Remote("answered without a ring (no member has tokens)".into())
                    }),
                })
                .collect();
            return Err(Error::Seeds(SeedFailures {
                failures,
                waited: (!every_seed_refused).then_some(JOIN_WAIT),
            }));
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Finds out whether `addr`, which sent no CHALLENGE in time, is a ringkv
/// cluster port at all. Connects afresh and waits for a first byte; if
/// none comes, speaks first with a RESP `PING`, as a Redis client would.
/// Returns [`RpcError::NotRingkv`] when the bytes that come back are not
/// the start of a node frame, `None` when it cannot tell (nothing came
/// back, or the magic did: a slow node).
async fn probe(addr: &str, source: Option<IpAddr>) -> Option<RpcError> {
    let mut stream = tokio::time::timeout(PROBE_STEP, crate::rpc::client::dial(addr, source))
        .await
        .ok()?
        .ok()?;
    let mut buf = [0u8; 64];
    let n = match tokio::time::timeout(PROBE_STEP, stream.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) => return None,
        Err(_) => {
            stream.write_all(b"PING\r\n").await.ok()?;
            tokio::time::timeout(PROBE_STEP, stream.read(&mut buf))
                .await
                .ok()?
                .ok()?
        }
    };
    let got = buf.get(..n).unwrap_or_default();
    let magic = MAGIC.to_be_bytes();
    if got.is_empty() || got.starts_with(&magic) || magic.starts_with(got) {
        return None;
    }
    let what = match got.first() {
        Some(b'+' | b'-') => "it answers like a Redis server",
        _ => "it sends something other than ringkv node frames",
    };
    Some(RpcError::NotRingkv {
        addr: addr.to_string(),
        what: what.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn listener() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        (l, addr)
    }

    #[tokio::test]
    async fn a_port_that_answers_ping_like_redis_is_not_a_cluster_port() {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"+PONG\r\n").await;
        });
        let found = probe(&addr, None).await;
        assert!(
            matches!(&found, Some(RpcError::NotRingkv { what, .. }) if what.contains("Redis")),
            "{found:?}"
        );
    }

    #[tokio::test]
    async fn a_port_sending_the_magic_is_not_condemned() {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let _ = s.write_all(&MAGIC.to_be_bytes()).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
        assert!(probe(&addr, None).await.is_none());
    }

    #[test]
    fn failures_name_each_seed_and_its_reason() {
        let refused = SeedFailures {
            failures: vec![
                SeedFailure {
                    addr: "10.0.0.1:17000".into(),
                    error: RpcError::Refused {
                        addr: "10.0.0.1:17000".into(),
                        reason: crate::rpc::frame::WRONG_SECRET.into(),
                    },
                },
                SeedFailure {
                    addr: "10.0.0.2:6379".into(),
                    error: RpcError::NotRingkv {
                        addr: "10.0.0.2:6379".into(),
                        what: "it answers like a Redis server".into(),
                    },
                },
            ],
            waited: None,
        };
        assert_eq!(
            refused.to_string(),
            "cannot join through the seeds: seed 10.0.0.1:17000 refused: wrong cluster secret; \
             seed 10.0.0.2:6379 is not a ringkv cluster port (it answers like a Redis server)"
        );
        let silent = SeedFailures {
            failures: vec![SeedFailure {
                addr: "10.0.0.3:17000".into(),
                error: RpcError::Timeout,
            }],
            waited: Some(JOIN_WAIT),
        };
        assert_eq!(
            silent.to_string(),
            "no seed answered within 30s: seed 10.0.0.3:17000: timed out"
        );
    }
}
