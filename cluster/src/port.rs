//! The cluster port: where it binds, when it listens, and who may use it.
//!
//! A node listens on its cluster port from start-up when it is asked to
//! ([`ringkv_conf::Config::cluster_port_at_start`]: `seeds` given or
//! `cluster-port` set), or when it has been a member of a cluster with
//! peers before (the `cluster/joined` marker, `docs/formats/hints.md`,
//! written by `CLUSTER JOIN` and when gossip first shows a peer up), so a
//! member restarted without its seeds does not drop out of its cluster.
//! Otherwise it is a cluster of one and the port stays closed until
//! `CLUSTER JOIN` opens it, before the node asks anyone for the ring.
//!
//! The port binds the first `bind` address. With no `cluster-secret` it is
//! in protected mode ([`crate::rpc::gate`]): only loopback peers are
//! admitted, and it refuses to bind a non-loopback address at all (the
//! configuration check refuses such a start; [`ClusterPort::listen`]
//! refuses such a `CLUSTER JOIN`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringkv_conf::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{Error, PortError, Result};
use crate::ring::NodeId;
use crate::rpc::gate::Gate;
use crate::rpc::server::{RequestHandler, serve};
use crate::stats::ClusterStats;

/// Present (value `1`) once this node has been a member of a cluster with
/// peers (`CLUSTER JOIN` run, even if it then failed, or a peer seen up),
/// so later starts listen for peers too. Deleted with the node id when the
/// node leaves.
pub(crate) const JOINED_KEY: &[u8] = b"cluster/joined";

/// The cluster port of this node.
pub struct ClusterPort {
    /// The address it binds (the first `bind` address).
    host: String,
    /// The port (`None`: client port + 10000 passes 65535).
    port: Option<u16>,
    secret: String,
    my_id: NodeId,
    gate: Arc<Gate>,
    shutdown: watch::Receiver<bool>,
    /// Bound at start-up when the node listens from the start; taken by
    /// the first [`ClusterPort::listen`].
    bound: parking_lot::Mutex<Option<TcpListener>>,
    /// True once serving. The async mutex serialises [`ClusterPort::listen`]
    /// (two `CLUSTER JOIN`s at once bind once); held across the bind only.
    started: tokio::sync::Mutex<bool>,
    /// Mirror of `started` for readers that cannot wait (INFO).
    listening: AtomicBool,
    /// Whether [`JOINED_KEY`] is stored (read at start, set by [`mark_joined`]).
    pub(crate) joined: AtomicBool,
}

impl ClusterPort {
    /// The cluster port of a node configured by `config`, `joined` telling
    /// whether [`JOINED_KEY`] is stored. Binds it now if the node listens
    /// from start-up, so a node that cannot get its port fails before it
    /// takes tokens. Refusals are counted in `stats`.
    pub(crate) async fn new(
        config: &Config,
        my_id: NodeId,
        stats: Arc<ClusterStats>,
        shutdown: watch::Receiver<bool>,
        joined: bool,
    ) -> Result<ClusterPort> {
        let listen_now = config.cluster_port_at_start() || joined;
        let port = ClusterPort {
            host: config.cluster_bind().to_string(),
            port: config.effective_cluster_port(),
            secret: config.cluster_secret.clone(),
            my_id,
            gate: Gate::new(!config.cluster_secret.is_empty(), stats),
            shutdown,
            bound: parking_lot::Mutex::new(None),
            started: tokio::sync::Mutex::new(false),
            listening: AtomicBool::new(false),
            joined: AtomicBool::new(joined),
        };
        if listen_now {
            let listener = port.bind().await?;
            *port.bound.lock() = Some(listener);
        } else {
            tracing::info!(
                "a cluster of one: the cluster port stays closed until CLUSTER JOIN \
                 (set cluster-port or seeds to open it at start)"
            );
        }
        Ok(port)
    }

    /// Whether the port is to listen from start-up (asked to by the
    /// configuration, or a member of a cluster with peers before).
    pub(crate) fn listens_at_start(&self) -> bool {
        self.bound.lock().is_some()
    }

    /// Whether the port accepts connections now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Whether protected mode is on (no `cluster-secret`: loopback peers only).
    pub fn is_protected(&self) -> bool {
        self.gate.is_protected()
    }

    async fn bind(&self) -> Result<TcpListener> {
        let host = self.host.as_str();
        if self.is_protected() && !ringkv_conf::is_loopback_bind(host) {
            return Err(Error::Port(PortError::NoSecret(host.to_string())));
        }
        let Some(port) = self.port else {
            return Err(Error::Port(PortError::NoPort));
        };
        TcpListener::bind((host, port)).await.map_err(|source| {
            Error::Port(PortError::Bind {
                host: host.to_string(),
                port,
                source,
            })
        })
    }

    /// Starts serving node requests with `handler`, on the port bound at
    /// start-up or bound now. Does nothing if already serving.
    pub(crate) async fn listen(&self, handler: Arc<dyn RequestHandler>) -> Result<()> {
        let mut started = self.started.lock().await;
        if *started {
            return Ok(());
        }
        let prebound = self.bound.lock().take();
        let listener = match prebound {
            Some(l) => l,
            None => self.bind().await?,
        };
        let at = listener
            .local_addr()
            .map_or_else(|_| self.host.clone(), |a| a.to_string());
        if self.is_protected() {
            tracing::info!(
                "cluster port listening on {at} in protected mode: no cluster-secret, so only \
                 loopback peers are accepted"
            );
        } else {
            tracing::info!("cluster port listening on {at}");
        }
        tokio::spawn(serve(
            listener,
            self.secret.clone(),
            self.my_id,
            handler,
            Arc::clone(&self.gate),
            self.shutdown.clone(),
        ));
        *started = true;
        self.listening.store(true, Ordering::Release);
        Ok(())
    }
}
