//! A cluster node's life: identity, ring tokens, the cluster port, joining
//! through seeds, and the gossip loop.
//!
//! Start-up ([`start`]):
//! 1. The node id and ring tokens are read from the local engine's meta
//!    namespace (`cluster/node-id`, `cluster/tokens`, see
//!    `docs/formats/record.md`); a first start draws a random id.
//! 2. The cluster port starts answering (gossip, replica requests).
//! 3. A node without tokens learns the ring from its seeds (retrying for up
//!    to [`JOIN_WAIT`]), chooses tokens by stealing from the richest
//!    members ([`crate::ring::allocate_tokens`]), persists them and
//!    announces itself `normal`. With no seeds it starts a cluster of one.
//! 4. The gossip loop runs every `gossip-interval-ms` until shutdown.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::RwLock;
use ringkv_conf::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::coordinator::{ClusterStats, Coordinator, Settings};
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::membership::{MemberState, Membership, Status};
use crate::ring::{Ring, allocate_tokens};
use crate::rpc::server::{RequestHandler, serve};
use crate::rpc::{Request, Response, RpcClient};

/// How long a new node keeps asking its seeds for the ring.
pub const JOIN_WAIT: Duration = Duration::from_secs(30);

const NODE_ID_KEY: &[u8] = b"cluster/node-id";
const TOKENS_KEY: &[u8] = b"cluster/tokens";

struct Handler(Arc<Coordinator>);

impl RequestHandler for Handler {
    fn handle(
        &self,
        _from: u64,
        req: Request,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + '_>> {
        Box::pin(self.0.serve(req))
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The address other nodes reach this one at, for port `port`.
fn announce(config: &Config, port: u16) -> String {
    let host = if !config.cluster_announce_ip.is_empty() {
        config.cluster_announce_ip.clone()
    } else {
        match config.bind.first().map(String::as_str) {
            None | Some("0.0.0.0") | Some("*") => "127.0.0.1".to_string(),
            Some("::") => "::1".to_string(),
            Some(h) => h.to_string(),
        }
    };
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn encode_tokens(tokens: &[u64]) -> Bytes {
    let mut b = BytesMut::with_capacity(tokens.len() * 8);
    for t in tokens {
        b.put_u64(*t);
    }
    b.freeze()
}

fn decode_tokens(b: &[u8]) -> Result<Vec<u64>> {
    if b.len() % 8 != 0 {
        return Err(Error::Cluster(format!(
            "stored tokens: {} bytes is not a multiple of 8",
            b.len()
        )));
    }
    Ok(b.chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// Starts this node's cluster side on `keyspace`: cluster port, join,
/// gossip. Returns the coordinator the command layer uses.
pub async fn start(
    keyspace: Keyspace,
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<Coordinator>> {
    let id = match keyspace.meta_get(NODE_ID_KEY)? {
        Some(b) => u64::from_be_bytes(
            b.as_ref()
                .try_into()
                .map_err(|_| Error::Cluster("stored node id is not 8 bytes".into()))?,
        ),
        None => {
            let id: u64 = rand::random::<u64>().max(1);
            keyspace
                .meta_put(NODE_ID_KEY, Bytes::copy_from_slice(&id.to_be_bytes()))
                .await?;
            id
        }
    };
    let stored_tokens = match keyspace.meta_get(TOKENS_KEY)? {
        Some(b) => decode_tokens(&b)?,
        None => Vec::new(),
    };
    let cluster_port = config.effective_cluster_port();
    let bind_host = config
        .bind
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into());
    let listener = TcpListener::bind((bind_host.as_str(), cluster_port))
        .await
        .map_err(|e| {
            Error::Cluster(format!(
                "cannot listen on cluster port {bind_host}:{cluster_port}: {e}"
            ))
        })?;
    let interval = Duration::from_millis(config.gossip_interval_ms);
    let me = MemberState {
        id,
        cluster_addr: announce(config, cluster_port),
        client_addr: announce(config, config.port),
        generation: unix_ms(),
        version: 0,
        status: if stored_tokens.is_empty() {
            Status::Joining
        } else {
            Status::Normal
        },
        tokens: stored_tokens.clone(),
    };
    let members = Arc::new(Membership::new(me, interval, config.phi_threshold));
    let rpc = Arc::new(RpcClient::new(id, config.cluster_secret.clone()));
    let coordinator = Arc::new(Coordinator {
        me: id,
        keyspace: keyspace.clone(),
        members: Arc::clone(&members),
        rpc: Arc::clone(&rpc),
        settings: RwLock::new(Settings {
            replicas: config.replicas,
            replica_timeout: Duration::from_millis(config.replica_timeout_ms),
            read_repair: config.read_repair,
        }),
        stats: Arc::new(ClusterStats::default()),
    });
    tokio::spawn(serve(
        listener,
        config.cluster_secret.clone(),
        id,
        Arc::new(Handler(Arc::clone(&coordinator))),
        shutdown.clone(),
    ));
    let seeds: Vec<String> = config
        .seeds
        .iter()
        .filter(|s| **s != announce(config, cluster_port))
        .cloned()
        .collect();
    if stored_tokens.is_empty() {
        let ring = if seeds.is_empty() {
            Ring::default()
        } else {
            learn_ring(&coordinator, &seeds).await?
        };
        let tokens = allocate_tokens(&ring, id, config.vnodes, id);
        keyspace
            .meta_put(TOKENS_KEY, encode_tokens(&tokens))
            .await?;
        members.update_me(|s| {
            s.tokens = tokens;
            s.status = Status::Normal;
        });
        tracing::info!(
            node = format!("{id:016x}"),
            members = ring.nodes().len() + 1,
            "joined the ring"
        );
    } else {
        // A restart: say hello so peers learn the new generation at once.
        for seed in &seeds {
            gossip_with(&coordinator, seed).await;
        }
    }
    tokio::spawn(gossip_loop(
        Arc::clone(&coordinator),
        seeds,
        interval,
        shutdown,
    ));
    Ok(coordinator)
}

/// Asks the seeds for the membership until one answers with a ring.
async fn learn_ring(coordinator: &Arc<Coordinator>, seeds: &[String]) -> Result<Ring> {
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    loop {
        for seed in seeds {
            gossip_with(coordinator, seed).await;
            let ring = coordinator.members.ring();
            if ring.nodes().iter().any(|&n| n != coordinator.me) {
                return Ok((*ring).clone());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Cluster(format!(
                "no seed answered within {}s: {}",
                JOIN_WAIT.as_secs(),
                seeds.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One push-pull gossip exchange with the node at `addr`.
async fn gossip_with(coordinator: &Arc<Coordinator>, addr: &str) -> bool {
    let req = Request::Gossip(coordinator.members.states());
    let timeout = coordinator
        .settings
        .read()
        .replica_timeout
        .min(Duration::from_secs(2));
    match coordinator.rpc.call(addr, &req, timeout).await {
        Ok(Response::Gossip(states)) => {
            coordinator.members.merge(states);
            true
        }
        _ => false,
    }
}

async fn gossip_loop(
    coordinator: Arc<Coordinator>,
    seeds: Vec<String>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        coordinator.members.heartbeat();
        coordinator.stats.gossip_rounds.inc();
        let (up, down) = coordinator.members.peers();
        let mut targets = Vec::new();
        if let Some(&id) = pick(&up) {
            targets.push(id);
        }
        // Probe a down member now and then, so a returning node is noticed
        // even if it does not gossip to us first.
        if !down.is_empty() && rand::random_range(0..=up.len()) == 0 {
            if let Some(&id) = pick(&down) {
                targets.push(id);
            }
        }
        let mut addrs: Vec<String> = targets
            .into_iter()
            .filter_map(|id| coordinator.members.cluster_addr(id))
            .collect();
        if up.is_empty() {
            addrs.extend(seeds.iter().cloned());
        }
        for addr in addrs {
            let c = Arc::clone(&coordinator);
            tokio::spawn(async move {
                gossip_with(&c, &addr).await;
            });
        }
    }
}

fn pick<T>(items: &[T]) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(rand::random_range(0..items.len()))
    }
}
