//! The calling side of node-to-node RPC: one authenticated, multiplexed
//! connection per peer, opened on first use and reopened after a failure.
//!
//! Each connection has a writer task (fed by a bounded channel; the frames
//! queued at once go out in one write) and a buffered reader task; replies
//! are matched to callers by frame id. A call that outlives its timeout
//! gets [`RpcError::Timeout`] and its late reply is dropped. The pool lock (a `parking_lot::Mutex`) is never held across an
//! `.await`.
//!
//! A call that times out while its connection delivered nothing at all
//! retires that connection (its socket closes once the calls still waiting
//! on it have timed out) and the next call dials afresh: a socket stuck in TCP's retransmission backoff
//! after a partition would otherwise keep failing every call to a peer
//! that is back up. A connection to a slow peer that still delivers other
//! replies is kept. Node sockets also use TCP keepalive and
//! `TCP_USER_TIMEOUT` ([`tune_peer_socket`]) so the kernel gives up on a
//! dead path in seconds, not minutes.
//!
//! One connection to a peer is opened at a time (the caller holding that
//! address's `opening` lock; the others wait and then reuse it), so a
//! burst of calls to a peer that just came back costs one handshake, not
//! one per call, and stays far under the peer's bound on unauthenticated
//! connections ([`super::gate`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::BufReader;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::frame::{self, Frame, FrameError};
use super::message::{Request, Response};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// No reply within the timeout.
    #[error("timed out")]
    Timeout,
    /// The peer could not be reached, or the connection broke.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The peer failed the request, and said why.
    #[error("remote error: {text}")]
    Failed {
        /// What kind of failure.
        code: super::ErrorCode,
        /// The peer's text.
        text: String,
    },
    /// The peer's answer made no sense here (a reply of the wrong kind, a
    /// body that does not decode, an authentication that failed).
    #[error("remote error: {0}")]
    Remote(String),
    /// The peer refused the handshake and said why: a wrong cluster
    /// secret, or its protected mode. Trying again does not help until a
    /// configuration changes.
    #[error("{addr} refused: {reason}")]
    Refused {
        /// The peer's cluster address.
        addr: String,
        /// The text of its REFUSED frame.
        reason: String,
    },
    /// The peer does not speak the node protocol: not a ringkv cluster port.
    #[error("{addr} is not a ringkv cluster port ({what})")]
    NotRingkv {
        /// The address called.
        addr: String,
        /// What was found there instead.
        what: String,
    },
}

impl RpcError {
    /// Whether the peer answered in a way that retrying cannot change
    /// ([`RpcError::Refused`], [`RpcError::NotRingkv`]).
    pub fn is_definitive(&self) -> bool {
        matches!(self, RpcError::Refused { .. } | RpcError::NotRingkv { .. })
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>;

struct Conn {
    tx: mpsc::Sender<(Frame, oneshot::Sender<Frame>)>,
    alive: Arc<AtomicBool>,
    /// When a frame last arrived, in ms since the pool's `epoch`.
    last_rx_ms: Arc<AtomicU64>,
    /// The reader and writer tasks, ended when the last caller lets go of
    /// the connection (a stuck socket is closed then, not left to TCP).
    tasks: [tokio::task::AbortHandle; 2],
}

impl Conn {
    /// Takes the connection out of service: new calls dial afresh, while
    /// calls already waiting on it keep their own timeouts.
    fn retire(&self) {
        self.alive.store(false, Ordering::Release);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The connection pool.
pub struct RpcClient {
    my_id: u64,
    secret: String,
    source: Option<IpAddr>,
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    /// Per address: held by the one caller opening a connection to it.
    opening: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    next_id: AtomicU64,
    /// Origin of the connections' `last_rx_ms`.
    epoch: std::time::Instant,
    /// Connections retired because a call timed out on them in silence.
    retired: AtomicU64,
}

impl RpcClient {
    /// A pool that authenticates as `my_id` with `secret`; its connections
    /// leave from `source` when given (`bind-source-addr`).
    pub fn new(my_id: u64, secret: String, source: Option<IpAddr>) -> Self {
        RpcClient {
            my_id,
            secret,
            source,
            conns: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            epoch: std::time::Instant::now(),
            retired: AtomicU64::new(0),
        }
    }

    /// Connections retired so far because a call timed out while they
    /// delivered nothing.
    pub fn retired_connections(&self) -> u64 {
        self.retired.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// After a call on pooled connection `pool` begun at `since_ms` timed
    /// out: retires the connection if no frame arrived on it since.
    fn retire_if_silent(&self, pool: &str, since_ms: u64) {
        let mut conns = self.conns.lock();
        let silent = conns
            .get(pool)
            .is_some_and(|c| c.last_rx_ms.load(Ordering::Acquire) < since_ms);
        if silent {
            if let Some(c) = conns.remove(pool) {
                c.retire();
                self.retired.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    peer = pool,
                    "a call timed out on a silent connection; redialing next time"
                );
            }
        }
    }

    /// The source address of outgoing connections (`bind-source-addr`).
    pub fn source(&self) -> Option<IpAddr> {
        self.source
    }

    /// Sends `req` to the node at `addr` (its cluster port) and waits for the
    /// reply, at most `timeout` including connecting, plus
    /// [`transfer_allowance`] for a long request.
    pub async fn call(
        &self,
        addr: &str,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        let (kind, body) = req.encode();
        let timeout = timeout.saturating_add(transfer_allowance(body.len()));
        let pool = pool_key(addr, body.len());
        // Awake time only: a pause of this process is not the peer's delay.
        let since_ms = self.now_ms();
        match crate::timer::within(timeout, self.call_inner(addr, &pool, kind, body)).await {
            Some(r) => r,
            None => {
                self.retire_if_silent(&pool, since_ms);
                Err(RpcError::Timeout)
            }
        }
    }

    /// `pool` names the pooled connection to `addr` the call goes on
    /// ([`pool_key`]).
    async fn call_inner(
        &self,
        addr: &str,
        pool: &str,
        kind: u8,
        body: Bytes,
    ) -> Result<Response, RpcError> {
        let conn = self.connection(addr, pool).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (done_tx, done_rx) = oneshot::channel();
        if conn
            .tx
            .send((Frame { kind, id, body }, done_tx))
            .await
            .is_err()
        {
            self.forget(pool, &conn);
            return Err(RpcError::Unreachable("connection closed".into()));
        }
        let Ok(reply) = done_rx.await else {
            self.forget(pool, &conn);
            return Err(RpcError::Unreachable("connection lost".into()));
        };
        match Response::decode(kind, reply.kind, reply.body) {
            Ok(Response::Error { code, text }) => Err(RpcError::Failed { code, text }),
            Ok(r) => Ok(r),
            Err(e) => Err(RpcError::Remote(e.to_string())),
        }
    }

    fn forget(&self, pool: &str, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock();
        if conns.get(pool).is_some_and(|c| Arc::ptr_eq(c, conn)) {
            conns.remove(pool);
        }
    }

    fn live(&self, pool: &str) -> Option<Arc<Conn>> {
        self.conns
            .lock()
            .get(pool)
            .filter(|c| c.alive.load(Ordering::Acquire))
            .cloned()
    }

    /// The pooled connection `pool` to `addr`, dialled if there is none.
    async fn connection(&self, addr: &str, pool: &str) -> Result<Arc<Conn>, RpcError> {
        if let Some(c) = self.live(pool) {
            return Ok(c);
        }
        let turn = Arc::clone(self.opening.lock().entry(pool.to_string()).or_default());
        let _turn = turn.lock().await;
        // Whoever held the turn before may have connected.
        if let Some(c) = self.live(pool) {
            return Ok(c);
        }
        let conn = Arc::new(self.open(addr).await?);
        self.conns
            .lock()
            .insert(pool.to_string(), Arc::clone(&conn));
        Ok(conn)
    }

    async fn open(&self, addr: &str) -> Result<Conn, RpcError> {
        let mut stream = dial(addr, self.source)
            .await
            .map_err(|e| RpcError::Unreachable(format!("{addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        tune_peer_socket(&stream);
        frame::connect_handshake(&mut stream, &self.secret, self.my_id)
            .await
            .map_err(|e| match e {
                FrameError::Refused(reason) => RpcError::Refused {
                    addr: addr.to_string(),
                    reason,
                },
                e @ FrameError::BadMagic { .. } => RpcError::NotRingkv {
                    addr: addr.to_string(),
                    what: e.to_string(),
                },
                FrameError::Auth(t) => {
                    RpcError::Remote(format!("{addr}: authentication failed: {t}"))
                }
                other => RpcError::Unreachable(format!("{addr}: {other}")),
            })?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::with_capacity(frame::READ_BUFFER, rd);
        let (tx, mut rx) = mpsc::channel::<(Frame, oneshot::Sender<Frame>)>(1024);
        let alive = Arc::new(AtomicBool::new(true));
        let last_rx_ms = Arc::new(AtomicU64::new(self.now_ms()));
        let pending: Pending = Arc::default();
        let writer = {
            let pending = Arc::clone(&pending);
            let alive = Arc::clone(&alive);
            tokio::spawn(async move {
                let _ = frame::write_queued(&mut wr, &mut rx, |(f, done)| {
                    pending.lock().insert(f.id, done);
                    f
                })
                .await;
                alive.store(false, Ordering::Release);
            })
        };
        let reader = {
            let alive = Arc::clone(&alive);
            let last_rx_ms = Arc::clone(&last_rx_ms);
            let epoch = self.epoch;
            tokio::spawn(async move {
                while let Ok(Some(f)) = frame::read_frame(&mut rd).await {
                    last_rx_ms.store(
                        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
                        Ordering::Release,
                    );
                    let waiter = pending.lock().remove(&f.id);
                    if let Some(w) = waiter {
                        let _ = w.send(f);
                    }
                }
                alive.store(false, Ordering::Release);
                // Dropping the senders fails every call still waiting.
                pending.lock().clear();
            })
        };
        Ok(Conn {
            tx,
            alive,
            last_rx_ms,
            tasks: [writer.abort_handle(), reader.abort_handle()],
        })
    }
}

/// How long unacknowledged data may stay unacknowledged on a node socket
/// before the kernel drops the connection (`TCP_USER_TIMEOUT`).
const PEER_USER_TIMEOUT_MS: libc::c_int = 10_000;

/// Keepalive and `TCP_USER_TIMEOUT` on a node-to-node socket: an idle
/// connection whose peer vanished is probed after 5 s and dropped after 3
/// unanswered probes 2 s apart; one with data in flight is dropped once it
/// has gone unacknowledged for [`PEER_USER_TIMEOUT_MS`]. Best effort.
pub(crate) fn tune_peer_socket(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
        // SAFETY: setsockopt on a socket we own, with a c_int option value
        // whose size we pass.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 2);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    set(
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        PEER_USER_TIMEOUT_MS,
    );
}

/// Connects to `addr`, from `source` when given.
pub(crate) async fn dial(addr: &str, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(source, 0))?;
        match socket.connect(target).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("no address of {addr} in the family of bind-source-addr {source}"),
        )
    }))
}

/// Requests longer than this go to a peer on a connection of their own.
const BULK_ABOVE: usize = 1 << 20;

/// The pooled connection a request of `len` bytes to `addr` goes on: the
/// address itself, or for a request longer than [`BULK_ABOVE`] a second
/// connection to it kept for such requests. On one connection, every
/// request queued behind a long one waits until the whole of it has been
/// written and read: during a 256 MB SET through a 3-node cluster, SETs of
/// other keys stalled for up to 4.8 s.
fn pool_key(addr: &str, len: usize) -> std::borrow::Cow<'_, str> {
    if len > BULK_ABOVE {
        std::borrow::Cow::Owned(format!("{addr} bulk"))
    } else {
        std::borrow::Cow::Borrowed(addr)
    }
}

/// Request bytes a peer is given a second for, beyond the replica timeout.
const ALLOWED_BYTES_PER_SECOND: usize = 64 << 20;

/// Extra time a request of `len` bytes is given: one second per 64 MB.
/// Sending, reading and applying a long value takes time in proportion to
/// its length: with the replica timeout alone (2 s by default), a 256 MB
/// SET through a 3-node cluster answered NOQUORUM in most runs on a 2-core
/// machine, although every replica applied it.
pub(crate) fn transfer_allowance(len: usize) -> Duration {
    Duration::from_millis((len / (ALLOWED_BYTES_PER_SECOND / 1000)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_requests_get_a_second_per_64_mb() {
        assert_eq!(transfer_allowance(0), Duration::ZERO);
        assert_eq!(transfer_allowance(64 << 10), Duration::from_millis(0));
        assert_eq!(transfer_allowance(64 << 20), Duration::from_millis(1000));
        assert_eq!(transfer_allowance(512 << 20), Duration::from_millis(8000));
    }

    #[test]
    fn long_requests_have_a_connection_of_their_own() {
        assert_eq!(pool_key("127.0.0.1:7000", 0), "127.0.0.1:7000");
        assert_eq!(pool_key("127.0.0.1:7000", BULK_ABOVE), "127.0.0.1:7000");
        assert_eq!(
            pool_key("127.0.0.1:7000", BULK_ABOVE + 1),
            "127.0.0.1:7000 bulk"
        );
    }
}
