//! The cluster port against strangers (issue 15): protected mode without a
//! `cluster-secret`, nothing allocated before authentication beyond a
//! small frame, bounded and counted unauthenticated connections, seeds
//! that refuse saying why, and a cluster of one that keeps the port closed.
//! Against a peer that knows the secret: gossip that claims more than a
//! member can have announced is ignored and counted.
//!
//! Non-loopback peers cannot be simulated here (tests talk over loopback
//! only): the protected-mode predicate itself is unit-tested in
//! `cluster/src/rpc/gate.rs` and `conf/src/net.rs`; here loopback peers
//! without a secret keep working (every cluster test relies on it).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, GOSSIP_MS, cl, info_field, wait_for};
use common::{TestServer, free_port, run_expecting_exit, server_binary, start_refused};
use ringkv_cluster::wire::{MemberState, Request, Response, RpcClient, Status};

/// The resident set size of process `pid`, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    common::proc_status_bytes(pid, "VmRSS")
}

/// A frame header (`docs/protocol/node-rpc.md`) of an AUTH frame claiming
/// a body of `len` bytes.
fn auth_header(len: u32) -> Vec<u8> {
    let mut h = vec![0x52, 0x4B, 2, 2];
    h.extend_from_slice(&0u64.to_be_bytes());
    h.extend_from_slice(&len.to_be_bytes());
    h
}

#[test]
fn a_cluster_port_beyond_loopback_without_a_secret_is_refused_at_start() {
    // The server must refuse before it binds anything.
    let (port, cport, mport) = (free_port(), free_port(), free_port());
    let refused = run_expecting_exit(
        &[
            "--bind",
            "0.0.0.0",
            "--port",
            &port.to_string(),
            "--cluster-port",
            &cport.to_string(),
            "--metrics-port",
            &mport.to_string(),
        ],
        Duration::from_secs(15),
    );
    assert!(!refused.status.success(), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("cluster-secret: required")
            && refused.stderr.contains("bind 0.0.0.0"),
        "the refusal names cluster-secret and the bind address:\n{}",
        refused.stderr
    );
}

#[test]
fn a_huge_frame_header_before_authentication_allocates_nothing_and_closes() {
    let server = TestServer::start();
    let pid = server.pid();
    let cluster_port = server.cluster_port;
    const SEND_AT_MOST: usize = 64 * 1024 * 1024;
    let attackers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", cluster_port)).expect("connect");
                s.set_write_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                s.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let started = Instant::now();
                // 600 MiB claimed, then body bytes for as long as the
                // server takes them.
                let mut sent = 0usize;
                let mut closed = s.write_all(&auth_header(600 * 1024 * 1024)).is_err();
                let chunk = vec![0u8; 64 * 1024];
                while !closed && sent < SEND_AT_MOST && started.elapsed() < Duration::from_secs(30)
                {
                    match s.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(_) => closed = true,
                    }
                }
                if !closed {
                    // Drain the CHALLENGE; then the server must have closed.
                    let mut buf = [0u8; 4096];
                    closed = loop {
                        match s.read(&mut buf) {
                            Ok(0) => break true,
                            Ok(_) => continue,
                            Err(e) => {
                                break !matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                );
                            }
                        }
                    };
                }
                (closed, sent)
            })
        })
        .collect();
    let mut peak = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while attackers.iter().any(|a| !a.is_finished()) && Instant::now() < deadline {
        peak = peak.max(rss_bytes(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    peak = peak.max(rss_bytes(pid));
    for a in attackers {
        let (closed, sent) = a.join().expect("attacker thread");
        assert!(
            closed && sent < SEND_AT_MOST,
            "the server kept a connection that claimed 600 MiB open (sent {sent} bytes of body)"
        );
    }
    assert!(
        peak < 100 * 1024 * 1024,
        "resident size reached {} MiB",
        peak / (1024 * 1024)
    );
    assert!(
        info_field(&server, "cluster_handshakes_refused")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n >= 4),
        "the four are counted"
    );
    // The node still serves.
    let pong: String = redis::cmd("PING").query(&mut server.conn()).expect("PING");
    assert_eq!(pong, "PONG");
}

/// Keeps about `n` connections to `port` open from source 127.0.0.2 that
/// never say a word, opening new ones as the server closes them, until
/// `stop` is set or `limit` passes.
fn idle_connections(port: u16, n: usize, stop: Arc<AtomicBool>, limit: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let deadline = tokio::time::Instant::now() + limit;
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                        let _ = socket.bind("127.0.0.2:0".parse().expect("addr"));
                        let target = ([127, 0, 0, 1], port).into();
                        let connected =
                            tokio::time::timeout(Duration::from_secs(2), socket.connect(target))
                                .await;
                        if let Ok(Ok(mut s)) = connected {
                            let mut buf = [0u8; 256];
                            // Until the server closes (or the bound passes).
                            let _ = tokio::time::timeout_at(deadline, async {
                                while !matches!(s.read(&mut buf).await, Ok(0) | Err(_)) {}
                            })
                            .await;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[test]
fn handshakes_that_never_finish_do_not_keep_a_peer_out_and_are_counted() {
    let seed = TestServer::start_with(&["--gossip-interval-ms", GOSSIP_MS]);
    let stop = Arc::new(AtomicBool::new(false));
    let junk = {
        let (port, stop) = (seed.cluster_port, Arc::clone(&stop));
        std::thread::spawn(move || idle_connections(port, 200, stop, Duration::from_secs(90)))
    };
    let refused = |node: &TestServer| {
        info_field(node, "cluster_handshakes_refused")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The excess over the bounds is closed at once, and counted.
    wait_for(
        "the idle connections to be refused",
        Duration::from_secs(20),
        || refused(&seed) >= 100,
    );
    let joiner = TestServer::start_with(&[
        "--gossip-interval-ms",
        GOSSIP_MS,
        "--seeds",
        &format!("127.0.0.1:{}", seed.cluster_port),
    ]);
    let cluster = Cluster {
        nodes: vec![seed, joiner],
    };
    cluster.wait_all_up();
    stop.store(true, Ordering::Relaxed);
    junk.join().expect("idle connections thread");
    let seed = &cluster.nodes[0];
    assert!(
        refused(seed) >= 184,
        "200 idle connections, at most 16 from one address let in"
    );
    assert!(
        seed.metrics()
            .contains("ringkv_cluster_handshakes_refused_total"),
        "the metric exists"
    );
    assert_eq!(
        info_field(seed, "cluster_port_listening").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(seed, "cluster_port_protected_mode").as_deref(),
        Some("1")
    );
}

#[test]
fn a_member_restarted_with_another_secret_fails_to_start_saying_so() {
    // It used to start, answer PING and give NOQUORUM to every command
    // while hints for it piled up on its peers.
    let mut c = Cluster::start_with(2, &["--cluster-secret", "right"]);
    let seed_addr = format!("127.0.0.1:{}", c.nodes[0].cluster_port);
    c.nodes[1].set_arg("--cluster-secret", "wrong");
    let refused = c.nodes[1].start_expecting_exit(Duration::from_secs(30));
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains(&format!("seed {seed_addr} refused: wrong cluster secret")),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_seed_with_another_secret_makes_the_start_fail_saying_so() {
    let seed = TestServer::start_with(&["--cluster-secret", "right"]);
    let seed_addr = format!("127.0.0.1:{}", seed.cluster_port);
    for secret in [&["--cluster-secret", "wrong"][..], &[][..]] {
        let mut args = vec!["--seeds", seed_addr.as_str()];
        args.extend_from_slice(secret);
        let started = Instant::now();
        let refused = start_refused(&args);
        assert!(!refused.status.success());
        assert!(
            refused
                .stderr
                .contains(&format!("seed {seed_addr} refused: wrong cluster secret")),
            "{secret:?}:\n{}",
            refused.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "an explicit refusal is not waited out"
        );
    }
}

#[test]
fn a_seed_that_is_not_a_cluster_port_makes_the_start_fail_saying_so() {
    let other = TestServer::start();
    // Another ringkv's client port speaks RESP, not the node protocol.
    let wrong = format!("127.0.0.1:{}", other.port);
    let refused = start_refused(&["--seeds", &wrong]);
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains(&format!("seed {wrong} is not a ringkv cluster port")),
        "{}",
        refused.stderr
    );
}

/// A server process started by hand (the harness always passes
/// `--cluster-port`), with no `--cluster-port` and no seeds; killed when
/// dropped.
struct Bare {
    child: Option<Child>,
    port: u16,
    metrics_port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Bare {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the process on its ports and directory; whether it
    /// answered PING within 30 s.
    fn spawn(&mut self) -> bool {
        self.kill();
        let child = Command::new(server_binary())
            .args(["--port", &self.port.to_string()])
            .args(["--metrics-port", &self.metrics_port.to_string()])
            .args(["--bind", "127.0.0.1", "--loglevel", "warning"])
            .args(["--gossip-interval-ms", GOSSIP_MS])
            .arg("--dir")
            .arg(self.dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringkv-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf)
                        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn conn(&self) -> redis::Connection {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client");
        let con = client.get_connection().expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        con
    }

    fn info(&self, field: &str) -> Option<String> {
        let text: String = redis::cmd("INFO")
            .arg("cluster")
            .query(&mut self.conn())
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
    }
}

/// Starts a node with no `--cluster-port` and no seeds on a client port
/// whose default cluster port (port + 10000) is free now; `None` if no
/// such port was found.
fn start_without_cluster_port() -> Option<Bare> {
    for _ in 0..50 {
        let port = free_port();
        let Some(cport) = port.checked_add(10000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", cport)).is_err() {
            continue;
        }
        let mut node = Bare {
            child: None,
            port,
            metrics_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        if node.spawn() {
            return Some(node);
        }
        // Did not come up (a port was taken meanwhile): try others.
    }
    None
}

#[test]
fn a_cluster_of_one_keeps_the_cluster_port_closed_until_cluster_join() {
    let Some(mut node) = start_without_cluster_port() else {
        eprintln!("skipped: found no client port whose port + 10000 was free");
        return;
    };
    let default_cluster_port = node.port + 10000;
    assert!(
        TcpStream::connect(("127.0.0.1", default_cluster_port)).is_err(),
        "a single node without cluster-port or seeds listens on {default_cluster_port}"
    );
    assert_eq!(node.info("cluster_port_listening").as_deref(), Some("0"));

    // Its own cluster port is refused at once (it used to wait out the
    // 30 s of a seed that never answers with a ring).
    let started = Instant::now();
    let own = redis::cmd("CLUSTER")
        .arg("JOIN")
        .arg(format!("127.0.0.1:{default_cluster_port}"))
        .query::<String>(&mut node.conn())
        .expect_err("joined itself");
    assert!(own.to_string().contains("own cluster port"), "{own}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A node that holds keys is refused: they would not be carried over
    // (some merged into the ranges it takes, the rest left behind as keys
    // KEYS lists and no read finds).
    let seed = TestServer::start_with(&["--gossip-interval-ms", GOSSIP_MS]);
    let mut con = node.conn();
    let _: () = redis::cmd("SET")
        .arg("own")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let refused = redis::cmd("CLUSTER")
        .arg("JOIN")
        .arg(format!("127.0.0.1:{}", seed.cluster_port))
        .query::<String>(&mut con)
        .expect_err("a node holding keys joined");
    assert!(refused.to_string().contains("holds keys"), "{refused}");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();

    // CLUSTER JOIN opens it before joining.
    let reply: String = redis::cmd("CLUSTER")
        .arg("JOIN")
        .arg(format!("127.0.0.1:{}", seed.cluster_port))
        .query(&mut node.conn())
        .expect("CLUSTER JOIN");
    assert!(reply.starts_with("OK joined"), "{reply}");
    assert!(
        TcpStream::connect(("127.0.0.1", default_cluster_port)).is_ok(),
        "listening after CLUSTER JOIN"
    );
    assert_eq!(node.info("cluster_port_listening").as_deref(), Some("1"));
    wait_for(
        "the seed to know the joiner",
        Duration::from_secs(10),
        || info_field(&seed, "cluster_known_nodes").as_deref() == Some("2"),
    );

    // A member restarted with the same flags (still no seeds, no
    // cluster-port) stays reachable for its peers.
    assert!(node.spawn(), "the joined node restarts");
    assert_eq!(node.info("cluster_port_listening").as_deref(), Some("1"));
    assert!(
        TcpStream::connect(("127.0.0.1", default_cluster_port)).is_ok(),
        "listening after a restart"
    );
}

/// Sends `states` in a GOSSIP request to the cluster port at `addr`, as a
/// peer that knows `secret` (the node RPC's own client), and returns the
/// table the node answers with.
fn gossip_as_peer(addr: &str, secret: &str, states: Vec<MemberState>) -> Vec<MemberState> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let peer = RpcClient::new(0x0bad_0bad_0bad_0bad, secret.to_string(), None);
        let reply = peer
            .call(addr, &Request::Gossip(states), Duration::from_secs(10))
            .await;
        match reply {
            Ok(Response::Gossip(table)) => table,
            other => panic!("GOSSIP to {addr}: {other:?}"),
        }
    })
}

#[test]
fn an_authenticated_peer_cannot_evict_a_live_member_with_an_unbeatable_state() {
    let secret = "bounded-gossip-secret";
    let cluster = Cluster::start_with(2, &["--cluster-secret", secret]);
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let a_addr = format!("127.0.0.1:{}", a.cluster_port);
    let b_id = info_field(b, "cluster_node_id")
        .and_then(|id| u64::from_str_radix(&id, 16).ok())
        .expect("B's node id");
    let table = gossip_as_peer(&a_addr, secret, Vec::new());
    let held = table.into_iter().find(|s| s.id == b_id).expect("A knows B");
    // B left, at a version B can never outbid; and B left in a generation
    // far ahead, which would outrank all its restarts.
    let mut unbeatable = held.clone();
    unbeatable.status = Status::Left;
    unbeatable.version = u64::MAX;
    let mut far_ahead = held.clone();
    far_ahead.status = Status::Left;
    far_ahead.generation = held.generation + 365 * 24 * 3600 * 1000;
    far_ahead.version = 0;
    let answer = gossip_as_peer(&a_addr, secret, vec![unbeatable, far_ahead]);
    let b_in_answer = answer.iter().find(|s| s.id == b_id).expect("B answered");
    assert_eq!(b_in_answer.status, Status::Normal);
    assert_eq!(b_in_answer.generation, held.generation);
    let rejected = |node: &TestServer| {
        info_field(node, "cluster_gossip_rejected_states")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(rejected(a), 2, "both states ignored and counted");
    assert!(
        a.metrics()
            .contains("ringkv_cluster_gossip_rejected_states_total 2"),
        "the Prometheus counter"
    );

    // Some gossip rounds later A still sees B normal and up, as a replica.
    std::thread::sleep(Duration::from_millis(
        10 * GOSSIP_MS.parse::<u64>().unwrap_or(100),
    ));
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut a.conn())
        .expect("CLUSTER NODES");
    let b_line = nodes
        .lines()
        .find(|l| l.starts_with(&format!("{b_id:016x} ")))
        .expect("B listed");
    assert!(b_line.contains(" normal up "), "{b_line}");
    assert_eq!(info_field(a, "cluster_members_left").as_deref(), Some("0"));
    assert_eq!(info_field(a, "cluster_members_up").as_deref(), Some("2"));
    assert_eq!(
        info_field(a, "cluster_replicas_effective").as_deref(),
        Some("2")
    );
    // A write that needs both replicas still succeeds through A.
    cl(&mut a.conn(), "ALL", &["SET", "bounded", "gossip"]).expect("CL ALL SET through A");
    assert_eq!(rejected(b), 0, "B heard nothing forged");
}
