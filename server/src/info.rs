//! INFO: Redis's sections (server, clients, memory, persistence, stats,
//! replication, cpu, errorstats, commandstats, keyspace) plus `# Engine`.
//!
//! Key counts for `# Keyspace` come from a census: a full pass over every
//! database, run in the background at most every [`CENSUS_MAX_AGE`] and
//! reported with its age. A small keyspace is counted on the spot so its
//! figures are exact; DBSIZE always counts exactly.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::command::connection::REDIS_COMPAT_VERSION;
use crate::shared::{Server, unix_micros};

/// The allocator the `ringkv-server` binary installs (`server/src/main.rs`),
/// for INFO's `mem_allocator`.
pub const MEM_ALLOCATOR: &str = "mimalloc";

/// How old the keyspace census may get before INFO starts a new one.
pub const CENSUS_MAX_AGE: Duration = Duration::from_secs(10);

/// Below this many keys in total, INFO recounts synchronously.
const SYNC_CENSUS_LIMIT: u64 = 100_000;

/// Counts of one database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbCount {
    /// Live keys.
    pub keys: u64,
    /// Live keys with an expiry.
    pub expires: u64,
    /// Average remaining TTL of keys with an expiry, in ms.
    pub avg_ttl_ms: u64,
}

/// The last keyspace census.
#[derive(Default)]
pub struct Census {
    last: Mutex<Option<(Instant, Vec<DbCount>)>>,
    running: AtomicBool,
}

impl Census {
    async fn count(server: &Arc<Server>) -> Vec<DbCount> {
        let ks = &server.keyspace;
        let now = ks.now_ms();
        let mut out = Vec::new();
        for db in 0..ks.databases() {
            let acc = Arc::new(Mutex::new((0u64, 0u64, 0u128)));
            let sink = Arc::clone(&acc);
            let res = ks
                .for_each_key(db, move |_, expire_at| {
                    let mut a = sink.lock();
                    a.0 += 1;
                    if expire_at != 0 {
                        a.1 += 1;
                        a.2 += u128::from(expire_at.saturating_sub(now));
                    }
                    true
                })
                .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, db, "keyspace census failed");
            }
            let (keys, expires, ttl_sum) = *acc.lock();
            let avg_ttl_ms = if expires == 0 {
                0
            } else {
                u64::try_from(ttl_sum / u128::from(expires)).unwrap_or(0)
            };
            out.push(DbCount {
                keys,
                expires,
                avg_ttl_ms,
            });
        }
        out
    }

    /// The current counts: recounted now if the last census is stale and
    /// small, otherwise the last census (a background recount is started
    /// when it is stale).
    pub async fn counts(server: &Arc<Server>) -> Vec<DbCount> {
        let census = &server.census;
        let last = census.last.lock().clone();
        let fresh = last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < CENSUS_MAX_AGE);
        if fresh {
            return last.map(|(_, c)| c).unwrap_or_default();
        }
        let small = last
            .as_ref()
            .is_none_or(|(_, c)| c.iter().map(|d| d.keys).sum::<u64>() < SYNC_CENSUS_LIMIT);
        if small {
            let counts = Self::count(server).await;
            *census.last.lock() = Some((Instant::now(), counts.clone()));
            return counts;
        }
        if !census.running.swap(true, Ordering::AcqRel) {
            let server = Arc::clone(server);
            tokio::spawn(async move {
                let counts = Self::count(&server).await;
                *server.census.last.lock() = Some((Instant::now(), counts));
                server.census.running.store(false, Ordering::Release);
            });
        }
        last.map(|(_, c)| c).unwrap_or_default()
    }

    /// Forgets the last census (after FLUSHDB/FLUSHALL).
    pub fn invalidate(&self) {
        *self.last.lock() = None;
    }
}

/// Sections in `INFO` / `INFO default` order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "engine",
    "cluster",
    "keyspace",
];
/// Sections `INFO all` adds.
const EXTRA_SECTIONS: &[&str] = &["commandstats", "latencystats"];

/// Which sections a list of INFO arguments selects, in output order.
pub fn select_sections(args: &[String]) -> Vec<&'static str> {
    let all: Vec<&'static str> = DEFAULT_SECTIONS
        .iter()
        .chain(EXTRA_SECTIONS)
        .copied()
        .collect();
    if args.is_empty() {
        return DEFAULT_SECTIONS.to_vec();
    }
    let wants = |s: &str| args.iter().any(|a| a == s);
    if wants("all") || wants("everything") {
        return all;
    }
    all.into_iter()
        .filter(|s| wants(s) || (wants("default") && DEFAULT_SECTIONS.contains(s)))
        .collect()
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units.get(u).unwrap_or(&"B"))
    }
}

/// Resident set size of this process, from /proc (0 if unavailable).
pub fn rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

/// The process's peak resident size (`VmHWM`), bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// MEMORY STATS: the figures ringkv has, under Redis's names where Redis
/// has the figure (the process's resident size stands for what the
/// allocator holds) and under ringkv's own for the engine's memory.
pub fn memory_stats(server: &Server) -> Vec<(&'static str, u64)> {
    let s = server.keyspace.engine().stats();
    let (qbufs, _) = server.clients.query_buffers();
    vec![
        ("peak.allocated", peak_rss_bytes()),
        ("total.allocated", rss_bytes()),
        ("clients.normal", qbufs as u64),
        ("memtable.bytes", s.memtable_bytes),
        ("block-cache.bytes", s.block_cache_bytes),
        ("block-cache.capacity", s.block_cache_capacity),
        (
            "lazyfree.pending-objects",
            server
                .keyspace
                .reclaim_stats()
                .pending
                .load(Ordering::Relaxed),
        ),
    ]
}

/// MEMORY DOCTOR: the same figures in words.
pub fn memory_doctor(server: &Server) -> String {
    let mut out = String::from(
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n\n",
    );
    for (name, v) in memory_stats(server) {
        if name.ends_with("-objects") {
            let _ = writeln!(out, "{name}: {v}");
        } else {
            let _ = writeln!(out, "{name}: {}", human_bytes(v));
        }
    }
    out
}

fn cpu_times() -> (f64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer we pass,
    // which points to properly sized, writable memory.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    // SAFETY: getrusage returned 0, so it initialised the struct.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_stime), secs(u.ru_utime))
}

/// Renders the INFO text for `sections`.
pub async fn render(server: &Arc<Server>, sections: &[&str]) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut title = section.to_string();
        if *section == "cpu" {
            // Redis's one section title in capitals.
            title.make_ascii_uppercase();
        } else if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let _ = write!(out, "# {title}\r\n");
        match *section {
            "server" => server_section(server, &mut out),
            "clients" => clients_section(server, &mut out),
            "memory" => memory_section(server, &mut out),
            "persistence" => persistence_section(server, &mut out),
            "stats" => stats_section(server, &mut out),
            "replication" => {
                out.push_str("role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n")
            }
            "cpu" => {
                let (sys, user) = cpu_times();
                let _ = write!(out, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
            }
            "errorstats" => {
                for (prefix, n) in server.stats.error_replies() {
                    let _ = write!(out, "errorstat_{prefix}:count={n}\r\n");
                }
            }
            "commandstats" => commandstats_section(server, &mut out),
            "latencystats" => server.latency_tracking.info(
                server.metrics.commands().fine_histograms().into_iter(),
                &mut out,
            ),
            "engine" => engine_section(server, &mut out),
            "cluster" => {
                // Redis's one field here: ringkv does not speak the Redis
                // Cluster protocol (no slots, no MOVED), every node serves
                // every key, so a client must not switch to cluster mode
                // (as CONFIG GET cluster-enabled says too).
                out.push_str("cluster_enabled:0\r\n");
                for line in cluster_lines(server) {
                    out.push_str(&line);
                    out.push_str("\r\n");
                }
            }
            "keyspace" => {
                for (db, c) in Census::counts(server).await.iter().enumerate() {
                    if c.keys > 0 {
                        let _ = write!(
                            out,
                            "db{db}:keys={},expires={},avg_ttl={}\r\n",
                            c.keys, c.expires, c.avg_ttl_ms
                        );
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The `# Cluster` fields (also CLUSTER INFO): members by state, the ring,
/// coordinator requests by level, failures, repairs and replica latency.
pub fn cluster_lines(server: &Server) -> Vec<String> {
    use ringkv_cluster::PerLevel;
    let c = &server.cluster;
    let views = c.members().views();
    let up = views
        .iter()
        .filter(|v| v.up && v.summary_state() != "left")
        .count();
    let count = |st: &str| views.iter().filter(|v| v.summary_state() == st).count();
    let stats = c.stats();
    let ring = c.members().ring();
    let mut lines = vec![
        format!(
            "cluster_state:{}",
            if ring.is_empty() { "joining" } else { "ok" }
        ),
        format!("cluster_node_id:{:016x}", c.id()),
        format!("cluster_actor:{:016x}", c.actor()),
        format!("cluster_members_up:{up}"),
        format!("cluster_members_down:{}", count("down")),
        format!("cluster_members_joining:{}", count("joining")),
        format!("cluster_members_normal:{}", count("normal")),
        format!("cluster_members_leaving:{}", count("leaving")),
        format!("cluster_members_left:{}", count("left")),
        format!(
            "cluster_replicas_configured:{}",
            server.config.read().replicas
        ),
    ];
    for level in PerLevel::LEVELS {
        let name = level.as_str();
        lines.push(format!("cluster_reads_{name}:{}", stats.reads.get(level)));
        lines.push(format!("cluster_writes_{name}:{}", stats.writes.get(level)));
    }
    let mut rows = String::new();
    crate::stat::write_info(crate::cluster_metrics::CLUSTER_ROWS, c, &mut rows);
    lines.extend(rows.split_terminator("\r\n").map(str::to_string));
    lines
}

fn server_section(server: &Server, out: &mut String) {
    let c = server.config.read();
    let uptime = server.started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let config_file = server
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = write!(
        out,
        "redis_version:{REDIS_COMPAT_VERSION}\r\nringkv_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nexecutable:{exe}\r\nconfig_file:{config_file}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        server.run_id,
        server.port,
        unix_micros(),
        uptime / 86400,
        c.hz,
    );
}

fn clients_section(server: &Server, out: &mut String) {
    let (_, max_qbuf) = server.clients.query_buffers();
    let _ = write!(
        out,
        "connected_clients:{}\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{max_qbuf}\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
        server.clients.len(),
        server.config.read().maxclients,
        server.blocking.blocked_clients() + server.client_pause.waiting(),
        server.blocking.blocked_clients(),
    );
    let m = crate::messaging_metrics::Messaging::sample(&server.blocking, &server.pubsub);
    crate::stat::write_info(crate::messaging_metrics::CLIENT_ROWS, &m, out);
}

fn memory_section(server: &Server, out: &mut String) {
    let rss = rss_bytes();
    let s = server.keyspace.engine().stats();
    let (qbufs, _) = server.clients.query_buffers();
    let _ = write!(
        out,
        "used_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nmemtable_bytes:{}\r\nblock_cache_bytes:{}\r\nblock_cache_capacity:{}\r\nclients_query_buffers:{qbufs}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_allocator:{MEM_ALLOCATOR}\r\nlazyfree_pending_objects:{}\r\n",
        human_bytes(rss),
        human_bytes(rss),
        s.memtable_bytes,
        s.block_cache_bytes,
        s.block_cache_capacity,
        // Redis's lazy free: deleted or replaced large collections whose
        // members the background reclaimer has not deleted yet.
        server
            .keyspace
            .reclaim_stats()
            .pending
            .load(Ordering::Relaxed),
    );
}

fn persistence_section(server: &Server, out: &mut String) {
    let s = server.keyspace.engine().stats();
    let fsync = server.config.read().appendfsync;
    let status = |failed: bool| if failed { "err" } else { "ok" };
    // The WAL is Redis's AOF; flushes and compactions stand for its RDB saves.
    let wal = status(s.wal_error.is_some());
    let saves = status(s.flush_error.is_some());
    let _ = write!(
        out,
        "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{saves}\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_last_write_status:{wal}\r\nappendfsync:{fsync}\r\nwal_bytes:{}\r\n",
        // Engine write batches (a command's writes of one key are one).
        s.writes
            .saturating_sub(server.saved_writes.load(Ordering::Relaxed)),
        server.last_save_unix.load(Ordering::Relaxed),
        s.wal_bytes,
    );
}

fn stats_section(server: &Server, out: &mut String) {
    let st = &server.stats;
    for (field, n) in st.info_fields() {
        let _ = write!(out, "{field}:{n}\r\n");
    }
    let rejected: u64 = st.rejected_connections.since_reset().values().sum();
    let errors: u64 = st.error_replies().values().sum();
    let _ = write!(
        out,
        "instantaneous_ops_per_sec:{}\r\nrejected_connections:{rejected}\r\nexpired_keys:{}\r\nevicted_keys:0\r\ntotal_error_replies:{errors}\r\nlazyfreed_objects:{}\r\n",
        server.ops_per_sec.load(Ordering::Relaxed),
        // Expired records dropped by compaction, or (in a cluster) kept as
        // the markers of their history (`docs/operations.md`).
        {
            let engine = server.keyspace.engine().stats();
            engine.expired_markers + engine.expired_dropped
        },
        server
            .keyspace
            .reclaim_stats()
            .generations
            .load(Ordering::Relaxed),
    );
    let m = crate::messaging_metrics::Messaging::sample(&server.blocking, &server.pubsub);
    crate::stat::write_info(crate::messaging_metrics::STATS_ROWS, &m, out);
}

fn commandstats_section(server: &Server, out: &mut String) {
    for c in server.metrics.commands().since_reset() {
        let (calls, rejected, failed, usec) = (c.calls, c.rejected, c.failed, c.usec);
        if calls == 0 && rejected == 0 {
            continue;
        }
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            c.name
        );
    }
}

fn engine_section(server: &Server, out: &mut String) {
    crate::metrics::engine_info(server.keyspace.engine(), out);
}
