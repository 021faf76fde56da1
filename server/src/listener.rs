//! Accepts client connections: enforces `maxclients` and protected mode,
//! registers each client, and spawns its connection task.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::client::ClientHandle;
use crate::connection;
use crate::reply_error::text;
use crate::shared::Server;

/// Sent to a non-loopback client when protected mode refuses it.
const DENIED: &str = "-DENIED ringkv is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers you may adopt one of the following solutions: 1) Disable protected mode by sending the command 'CONFIG SET protected-mode no' from the loopback interface, making sure the server is not reachable from the internet. 2) Set 'protected-mode = \"no\"' in the configuration file and restart the server. 3) Start the server with the '--protected-mode no' option. 4) Set a password with requirepass. You only need to do one of the above things for the server to accept connections from the outside.\r\n";

/// Binds a listening socket on `addr` with a `listen(2)` backlog of
/// `backlog` (`tcp-backlog`; tokio's own bind uses 1024 or the platform's
/// default, and Redis uses 511).
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Backs off after a failed `accept` (typically EMFILE: no descriptor left)
/// instead of spinning on a connection the kernel keeps offering, and logs
/// at most one line a second about it.
pub struct AcceptBackoff {
    last_log: Option<std::time::Instant>,
    failed: u64,
}

impl AcceptBackoff {
    /// No failure yet.
    pub fn new() -> Self {
        AcceptBackoff {
            last_log: None,
            failed: 0,
        }
    }

    /// Records a failed accept on `what` and sleeps a little.
    pub async fn failed(&mut self, what: &str, e: &std::io::Error) {
        self.failed += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1))
        {
            tracing::warn!(error = %e, failures = self.failed, listener = what, "accept failed; backing off");
            self.last_log = Some(std::time::Instant::now());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff::new()
    }
}

/// Accepts connections on `listener` until shutdown begins.
pub async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    let mut shutdown = server.shutdown.subscribe();
    let mut backoff = AcceptBackoff::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let (socket, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                backoff.failed("clients", &e).await;
                continue;
            }
        };
        admit(&server, socket, addr).await;
    }
}

async fn admit(server: &Arc<Server>, mut socket: TcpStream, addr: SocketAddr) {
    let _ = socket.set_nodelay(true);
    server.stats.connections_received.inc();
    let (maxclients, protected, has_password) = {
        let c = server.config.read();
        (c.maxclients, c.protected_mode, !c.requirepass.is_empty())
    };
    let refusal = if protected && !has_password && !ringkv_conf::is_loopback(addr.ip()) {
        Some(("protected_mode", DENIED.to_string()))
    } else if server.clients.len() >= maxclients {
        Some(("maxclients", format!("-ERR {}\r\n", text::MAX_CLIENTS)))
    } else {
        None
    };
    if let Some((reason, reply)) = refusal {
        server.stats.rejected_connections.inc(reason);
        tracing::debug!(%addr, reason, "connection refused");
        // Best effort: the client may already be gone.
        let _ = socket.write_all(reply.as_bytes()).await;
        let _ = socket.shutdown().await;
        return;
    }
    let laddr = socket.local_addr().unwrap_or(addr);
    let fd = i64::from(socket.as_raw_fd());
    let handle = Arc::new(ClientHandle::new(server.clients.next_id(), addr, laddr, fd));
    server.clients.insert(Arc::clone(&handle));
    server.metrics.connected_clients.inc();
    tokio::spawn(connection::serve(Arc::clone(server), socket, handle));
}
