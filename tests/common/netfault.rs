//! A fault-injecting TCP proxy for node-to-node traffic: one listener in
//! front of each node's cluster port, which the node announces
//! (`--cluster-announce-bus-port`) so every peer reaches it through the
//! proxy. Each node sends from its own loopback address
//! (`--bind-source-addr 127.0.0.x`, the address it listens on too), which
//! tells the proxy who is calling.
//!
//! Cutting a pair of nodes behaves like a network partition, not like a
//! crash: nothing is refused or reset, bytes between the two simply stop
//! flowing (new connections are accepted and held, established ones stop
//! being forwarded), so callers see timeouts. Healing lets the held bytes
//! through in order, as TCP retransmission would after a short partition.
//!
//! [`Network::partition_stuck`] cuts like a long partition instead: an
//! established connection that tries to carry bytes during the cut stays
//! silent for good, even after the heal (as a socket deep in TCP's
//! retransmission backoff does for minutes); connections opened during or
//! after the cut work once it heals.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

/// How often held traffic and the stop flag are looked at.
const POLL: Duration = Duration::from_millis(10);

#[derive(Default)]
struct State {
    stop: AtomicBool,
    /// Node index by the address its outgoing connections leave from.
    sources: Mutex<HashMap<IpAddr, usize>>,
    /// Where the proxy of node i forwards: node i's real cluster address.
    targets: Mutex<Vec<Option<SocketAddr>>>,
    /// Pairs of nodes (lower index first) that cannot reach each other.
    cut: Mutex<HashSet<(usize, usize)>>,
    /// Cut pairs whose established connections get stuck for good.
    stuck: Mutex<HashSet<(usize, usize)>>,
    /// Every socket the proxy opened or accepted, shut down when it drops.
    sockets: Mutex<Vec<TcpStream>>,
}

impl State {
    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.lock().contains(&(a.min(b), a.max(b)))
    }

    fn is_stuck_cut(&self, a: usize, b: usize) -> bool {
        self.is_cut(a, b) && self.stuck.lock().contains(&(a.min(b), a.max(b)))
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits while `a` and `b` are cut apart; false if the proxy stopped.
    fn wait_connected(&self, a: usize, b: usize) -> bool {
        while self.is_cut(a, b) {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(POLL);
        }
        !self.stopped()
    }

    fn keep(&self, s: &TcpStream) {
        if let Ok(c) = s.try_clone() {
            self.sockets.lock().push(c);
        }
    }
}

/// The proxies of one test cluster.
#[derive(Default)]
pub struct Network {
    state: Arc<State>,
    acceptors: Vec<JoinHandle<()>>,
}

impl Network {
    pub fn new() -> Network {
        Network::default()
    }

    /// Adds a proxy for the next node, which lives at and sends from
    /// `host`; returns the node's index and the proxy's port on `host`,
    /// which the node must announce as its cluster port.
    pub fn front(&mut self, host: IpAddr) -> (usize, u16) {
        let listener = TcpListener::bind((host, 0)).expect("proxy listener");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy addr").port();
        let node = {
            let mut targets = self.state.targets.lock();
            targets.push(None);
            targets.len() - 1
        };
        self.state.sources.lock().insert(host, node);
        let state = Arc::clone(&self.state);
        self.acceptors.push(std::thread::spawn(move || {
            accept_loop(&state, &listener, node);
        }));
        (node, port)
    }

    /// Points the proxy of `node` at its real cluster address (once the
    /// node is up and its port known). Connections wait until then.
    pub fn set_target(&self, node: usize, addr: SocketAddr) {
        self.state.targets.lock()[node] = Some(addr);
    }

    /// Splits the nodes into `sides`: every pair across two sides is cut.
    pub fn partition(&self, sides: &[&[usize]]) {
        let mut cut = self.state.cut.lock();
        for (i, a_side) in sides.iter().enumerate() {
            for b_side in &sides[i + 1..] {
                for &a in a_side.iter() {
                    for &b in b_side.iter() {
                        cut.insert((a.min(b), a.max(b)));
                    }
                }
            }
        }
    }

    /// As [`partition`](Self::partition), but connections that try to
    /// carry bytes across the cut stay silent for good.
    pub fn partition_stuck(&self, sides: &[&[usize]]) {
        self.partition(sides);
        let cut = self.state.cut.lock().clone();
        self.state.stuck.lock().extend(cut);
    }

    /// Ends every cut; held traffic flows again (but not on connections a
    /// stuck cut froze).
    pub fn heal(&self) {
        self.state.cut.lock().clear();
        self.state.stuck.lock().clear();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        for s in self.state.sockets.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        for a in self.acceptors.drain(..) {
            let _ = a.join();
        }
    }
}

fn accept_loop(state: &Arc<State>, listener: &TcpListener, node: usize) {
    while !state.stopped() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                state.keep(&stream);
                let state = Arc::clone(state);
                std::thread::spawn(move || relay(&state, stream, peer, node));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Carries one connection from `peer` to `node`, holding it while the two
/// are cut apart.
fn relay(state: &Arc<State>, caller: TcpStream, peer: SocketAddr, node: usize) {
    // A connection from an unknown address (not a node) is never cut.
    let from = state
        .sources
        .lock()
        .get(&peer.ip())
        .copied()
        .unwrap_or(node);
    let target = loop {
        if !state.wait_connected(from, node) {
            return;
        }
        if let Some(t) = state.targets.lock()[node] {
            break t;
        }
        std::thread::sleep(POLL);
    };
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = caller.shutdown(Shutdown::Both);
        return;
    };
    state.keep(&upstream);
    let _ = upstream.set_nodelay(true);
    let _ = caller.set_nodelay(true);
    let (Ok(caller_rd), Ok(upstream_rd)) = (caller.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = {
        let state = Arc::clone(state);
        std::thread::spawn(move || pump(&state, upstream_rd, caller, from, node))
    };
    pump(state, caller_rd, upstream, from, node);
    let _ = back.join();
}

/// Copies `src` to `dst` until either closes, holding each chunk while
/// nodes `a` and `b` are cut apart.
fn pump(state: &State, mut src: TcpStream, mut dst: TcpStream, a: usize, b: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.is_stuck_cut(a, b) {
            // Frozen for good: never forward again (until the proxy stops).
            while !state.stopped() {
                std::thread::sleep(POLL);
            }
            break;
        }
        if !state.wait_connected(a, b) || dst.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = dst.shutdown(Shutdown::Write);
}
