//! A local cluster of real node processes for the cluster tests: started
//! one after the other through the first node as seed, with fast gossip.

use std::time::{Duration, Instant};

use super::netfault::Network;
use super::{TestServer, query};

/// Gossip fast so failure detection takes about two seconds.
pub const GOSSIP_MS: &str = "100";

pub struct Cluster {
    /// The nodes, the seed first.
    pub nodes: Vec<TestServer>,
}

pub fn info_field(node: &TestServer, field: &str) -> Option<String> {
    let mut con = node.conn();
    let text: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

impl Cluster {
    /// Starts `n` nodes one after the other, each seeded with the first.
    pub fn start(n: usize) -> Cluster {
        let first = TestServer::start_with(&["--gossip-interval-ms", GOSSIP_MS]);
        let seed = format!("127.0.0.1:{}", first.cluster_port);
        let mut nodes = vec![first];
        for _ in 1..n {
            nodes.push(TestServer::start_with(&[
                "--gossip-interval-ms",
                GOSSIP_MS,
                "--seeds",
                &seed,
            ]));
        }
        let c = Cluster { nodes };
        c.wait_all_up();
        c
    }

    /// Waits until every node sees every member up, normal, with its
    /// tokens on the ring and at its current address (a restarted node
    /// comes back on new ports), and none is rebuilding.
    pub fn wait_all_up(&self) {
        let n = self.nodes.len();
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|s| format!("{}:{} ", s.host, s.port))
            .collect();
        // Up to a minute each: on a loaded 2-core machine running other
        // clusters' tests beside this one, gossip can take a while to
        // settle. On a timeout the node's last view is in the message.
        for (i, node) in self.nodes.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut last = String::new();
            loop {
                let view = node.client().get_connection().ok().and_then(|mut con| {
                    redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query::<String>(&mut con)
                        .ok()
                });
                if let Some(text) = view {
                    let lines: Vec<&str> = text.lines().collect();
                    let up = lines.len() == n
                        && lines
                            .iter()
                            .all(|l| l.contains("normal up ") && !l.contains("tokens=0 "))
                        && addrs.iter().all(|a| text.contains(a.as_str()));
                    if up {
                        break;
                    }
                    last = text;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for every member up on the ring; node {i} sees:\n{last}\nexpected client ports: {addrs:?}; exited: {:?}",
                    self.exited_nodes()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // A node back from a kill -9 (or a replaced disk) serves reads from
        // its own record only once it has rebuilt from its peers.
        for node in &self.nodes {
            wait_for("every node rebuilt", Duration::from_secs(60), || {
                info_field(node, "cluster_rebuilding").as_deref() == Some("0")
            });
        }
    }

    /// The indexes of the nodes whose process has exited (a zombie not
    /// yet reaped, or gone).
    pub fn exited_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running() && self.nodes[i].has_exited())
            .collect()
    }

    pub fn conn(&self, i: usize) -> redis::Connection {
        self.nodes[i].conn()
    }
}

pub fn cl(con: &mut redis::Connection, level: &str, args: &[&str]) -> Result<redis::Value, String> {
    let mut all = vec!["CL", level];
    all.extend_from_slice(args);
    query(con, &all)
}

/// The values VGET shows for `key` at `level` through `con`, sorted: one
/// per sibling.
pub fn sibling_values(con: &mut redis::Connection, level: &str, key: &str) -> Vec<String> {
    let v = cl(con, level, &["VGET", key]).unwrap_or_else(|e| panic!("VGET {key}: {e}"));
    let redis::Value::Array(parts) = v else {
        panic!("VGET {key} reply {v:?}")
    };
    let Some(redis::Value::Array(vals)) = parts.get(1) else {
        panic!("VGET {key} values {parts:?}")
    };
    let mut vals: Vec<String> = vals.iter().filter_map(bulk).collect();
    vals.sort();
    vals
}

pub fn bulk(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

impl Cluster {
    /// Starts one more node seeded with the first (a join).
    pub fn add_node(&mut self, extra: &[&str]) {
        let seed = format!("127.0.0.1:{}", self.nodes[0].cluster_port);
        let mut args = vec!["--gossip-interval-ms", GOSSIP_MS, "--seeds", &seed];
        args.extend_from_slice(extra);
        self.nodes.push(TestServer::start_with(&args));
    }

    /// Starts `n` nodes with extra flags on every node.
    pub fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let mut first_args = vec!["--gossip-interval-ms", GOSSIP_MS];
        first_args.extend_from_slice(extra);
        let first = TestServer::start_with(&first_args);
        let mut c = Cluster { nodes: vec![first] };
        for _ in 1..n {
            c.add_node(extra);
        }
        c.wait_all_up();
        c
    }

    /// Starts `n` nodes whose node-to-node traffic goes through `net`, so
    /// the test can cut them apart: node i and its proxy listen on
    /// 127.0.0.(21+i), the node sends from there and announces the proxy's
    /// port as its cluster port.
    pub fn start_behind(net: &mut Network, n: usize, extra: &[&str]) -> Cluster {
        let mut c = Cluster { nodes: Vec::new() };
        let mut seed = String::new();
        for i in 0..n {
            let host = format!("127.0.0.{}", 21 + i);
            let (node, proxy_port) = net.front(host.parse().expect("loopback address"));
            let proxy_port = proxy_port.to_string();
            let mut args = vec![
                "--gossip-interval-ms",
                GOSSIP_MS,
                "--bind-source-addr",
                &host,
                "--cluster-announce-bus-port",
                &proxy_port,
            ];
            if i > 0 {
                args.extend_from_slice(&["--seeds", &seed]);
            }
            args.extend_from_slice(extra);
            let server = TestServer::start_on(&host, &args);
            let target = format!("{host}:{}", server.cluster_port);
            net.set_target(node, target.parse().expect("cluster address"));
            if i == 0 {
                seed = format!("{host}:{proxy_port}");
            }
            c.nodes.push(server);
        }
        c.wait_all_up();
        c
    }

    /// Three nodes behind `net` for a partition test: no background
    /// anti-entropy (so only hints and repair heal) and a short replica
    /// timeout (so writes on a side that lost a replica answer quickly).
    pub fn start_for_partition(net: &mut Network) -> Cluster {
        Cluster::start_behind(
            net,
            3,
            &[
                "--anti-entropy-interval-ms",
                "0",
                "--replica-timeout-ms",
                "300",
            ],
        )
    }

    /// Cuts node 2 off from nodes 0 and 1 and waits until it sees both
    /// down.
    pub fn isolate_last(&self, net: &mut Network) {
        net.partition(&[&[0, 1], &[2]]);
        wait_for(
            "the minority sees both others down",
            Duration::from_secs(20),
            || info_field(&self.nodes[2], "cluster_members_down").as_deref() == Some("2"),
        );
    }

    /// Heals the partition, waits for every node up and every hint
    /// delivered, then runs CLUSTER REPAIR on each node: afterwards every
    /// replica holds every write.
    pub fn heal_and_repair(&self, net: &mut Network) {
        net.heal();
        self.wait_all_up();
        wait_for("every hint delivered", Duration::from_secs(30), || {
            self.hints_pending() == 0
        });
        for node in &self.nodes {
            repair(node);
        }
    }

    /// Hints stored on the running nodes, summed.
    pub fn hints_pending(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .filter_map(|n| info_field(n, "cluster_hints_pending"))
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    }
}

/// A bounded write load through one node: SETs of fresh keys at a level,
/// each acknowledged key recorded, every error counted.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<LoadResult>>,
}

/// What a load did: the acknowledged (key, value) pairs and the errors.
#[derive(Default)]
pub struct LoadResult {
    /// Acknowledged writes.
    pub acked: Vec<(String, String)>,
    /// Error texts, one per failed write.
    pub errors: Vec<String>,
}

impl Load {
    /// Starts writing `prefix:<i>` through `node` at `level`, at most `max`
    /// writes and for at most `limit`, until stopped.
    pub fn start(
        node: &TestServer,
        prefix: &str,
        level: &str,
        max: usize,
        limit: Duration,
    ) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let client = node.client();
        let prefix = prefix.to_string();
        let level = level.to_string();
        let handle = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut errors = Vec::new();
            let started = Instant::now();
            let Ok(mut con) = client.get_connection() else {
                return LoadResult {
                    acked,
                    errors: vec!["cannot connect".to_string()],
                };
            };
            for i in 0..max {
                if flag.load(std::sync::atomic::Ordering::Relaxed) || started.elapsed() > limit {
                    break;
                }
                let key = format!("{prefix}:{i}");
                let value = format!("v{i}");
                match cl(&mut con, &level, &["SET", &key, &value]) {
                    Ok(_) => acked.push((key, value)),
                    Err(e) => errors.push(e),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            LoadResult { acked, errors }
        });
        Load {
            stop,
            handle: Some(handle),
        }
    }

    /// Lets the load run for `d` (or until it ends), then finishes it.
    pub fn finish_after(self, d: Duration) -> LoadResult {
        std::thread::sleep(d);
        self.finish()
    }

    /// Stops the load and returns what it did.
    pub fn finish(mut self) -> LoadResult {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().expect("load thread"))
            .unwrap_or_default()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The reply of CLUSTER REPAIR through `node`, parsed into its counters
/// (`peers`, `trees`, `ranges_differing`, `keys_pulled`, `keys_pushed`).
pub fn repair(node: &TestServer) -> std::collections::HashMap<String, u64> {
    let mut con = node.conn();
    let text: String = redis::cmd("CLUSTER")
        .arg("REPAIR")
        .query(&mut con)
        .expect("CLUSTER REPAIR");
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}
