//! The one table of configuration keys. Each row declares a key once: its
//! field, type, default, name, whether `CONFIG SET` may change it at run
//! time, its section, and its documentation. The `Config` struct, its
//! defaults, `CONFIG GET`/`CONFIG SET`, the command-line flags and the
//! sample `ringkv.toml` are all generated from this table.

use crate::value::{
    ByteSize, CompactionStrategy, ConfValue, Consistency, FsyncPolicy, LogLevel, ProtectedAction,
};

/// One configuration key, as the table declares it.
#[derive(Clone, Copy)]
pub struct KeySpec {
    /// The kebab-case name used in files, flags, `CONFIG GET` and `RINGKV_*` (upper snake case).
    pub name: &'static str,
    /// `server`, `engine` or `cluster`: where the sample file lists it.
    pub section: &'static str,
    /// What the key does, its range and its trade-off.
    pub help: &'static str,
    /// Whether `CONFIG SET` may change it on a running server.
    pub settable: bool,
    /// Whether the value is a secret (a password): `CONFIG GET` shows
    /// [`SECRET_MASK`] instead when it is set; it is never logged.
    pub secret: bool,
    /// The accepted syntax, e.g. `yes|no`.
    pub syntax: fn() -> &'static str,
    /// Renders the key's current value.
    pub get: fn(&Config) -> String,
    /// Parses and stores a new value; the error says what was expected.
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

/// What `CONFIG GET` shows for a secret key that is set (an unset one shows
/// as empty, so tools can still tell whether a password is required).
pub const SECRET_MASK: &str = "********";

impl KeySpec {
    /// The value as `CONFIG GET` shows it: the current value, but for a set
    /// secret the [`SECRET_MASK`].
    pub fn shown(&self, config: &Config) -> String {
        let value = (self.get)(config);
        if self.secret && !value.is_empty() {
            SECRET_MASK.to_string()
        } else {
            value
        }
    }
}

macro_rules! config_keys {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty = $default:expr, $name:literal, $section:literal, settable = $settable:literal $(, secret = $secret:literal)?;
    )*) => {
        /// The whole server configuration. Built by [`crate::load`] from defaults,
        /// the TOML file, `RINGKV_*` environment variables and flags, then validated.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $( $field: $default, )* }
            }
        }

        /// Every key, in the order the sample file and `CONFIG GET *` list them.
        pub static KEYS: &[KeySpec] = &[
            $( KeySpec {
                name: $name,
                section: $section,
                help: concat!($($doc, "\n"),*),
                settable: $settable,
                secret: false $(|| $secret)?,
                syntax: <$ty as ConfValue>::syntax,
                get: |c: &Config| c.$field.render(),
                set: |c: &mut Config, text: &str| {
                    c.$field = <$ty as ConfValue>::parse_conf(text)?;
                    Ok(())
                },
            }, )*
        ];
    };
}

config_keys! {
    // ---------------------------------------------------------------- server
    /// Addresses to listen on for clients, space-separated. The default keeps
    /// the server private to this machine (see protected-mode).
    bind: Vec<String> = vec!["127.0.0.1".to_string()], "bind", "server", settable = false;
    /// TCP port for Redis clients.
    port: u16 = 6379, "port", "server", settable = false;
    /// When yes and no requirepass is set, clients from addresses other than
    /// loopback are refused with Redis's DENIED error.
    protected_mode: bool = true, "protected-mode", "server", settable = true;
    /// Password clients must give with AUTH (empty: no password).
    requirepass: String = String::new(), "requirepass", "server", settable = true, secret = true;
    /// Most clients connected at once; one more gets "max number of clients reached".
    /// Lowered at start (with a warning) to fit the open-file limit.
    maxclients: usize = 10000, "maxclients", "server", settable = true;
    /// Length of the queue of connections not yet accepted (`listen(2)`
    /// backlog; the kernel caps it at `net.core.somaxconn`).
    tcp_backlog: u32 = 511, "tcp-backlog", "server", settable = false;
    /// Close a client idle for this many seconds (0: never).
    timeout: u64 = 0, "timeout", "server", settable = true;
    /// Number of databases (SELECT 0..databases-1), each its own keyspace.
    databases: u32 = 16, "databases", "server", settable = false;
    /// Largest bulk string a client may send (a value or argument).
    proto_max_bulk_len: ByteSize = ByteSize::mib(512), "proto-max-bulk-len", "server", settable = true;
    /// Most arguments one command may carry (the multibulk length).
    proto_max_multibulk_len: u64 = 1024 * 1024, "proto-max-multibulk-len", "server", settable = true;
    /// Most unparsed input buffered for one client before it is disconnected.
    client_query_buffer_limit: ByteSize = ByteSize::gib(1), "client-query-buffer-limit", "server", settable = true;
    /// Log verbosity: debug, verbose, notice or warning (or nothing).
    loglevel: LogLevel = LogLevel::Notice, "loglevel", "server", settable = true;
    /// Directory holding the data (write-ahead logs, SSTables, manifest).
    dir: String = "./data".to_string(), "dir", "server", settable = false;
    /// TCP port of the Prometheus /metrics HTTP endpoint (0: client port + 1000).
    metrics_port: u16 = 0, "metrics-port", "server", settable = false;
    /// Address the /metrics endpoint listens on. Empty: the first `bind`
    /// address if it is loopback, else 127.0.0.1, so metrics stay on this
    /// machine unless set to something else (e.g. 0.0.0.0).
    metrics_bind: String = String::new(), "metrics-bind", "server", settable = false;
    /// How many times a second server housekeeping (statistics sampling) runs, 1..=500. Expired keys are reclaimed by compaction, which checks every second.
    hz: u32 = 10, "hz", "server", settable = true;
    /// Who may run DEBUG, as in Redis 7: no (nobody), yes (everyone) or local
    /// (clients connected from a loopback address). DEBUG SLEEP stalls the
    /// client that sends it and DEBUG RELOAD forces a flush, so keep it off
    /// where untrusted clients connect.
    enable_debug_command: ProtectedAction = ProtectedAction::No, "enable-debug-command", "server", settable = false;

    // ---------------------------------------------------------------- engine
    /// When the write-ahead log is fsynced: always (before every reply, group
    /// commit), everysec (written before the reply, fsynced each second) or no.
    appendfsync: FsyncPolicy = FsyncPolicy::EverySec, "appendfsync", "engine", settable = true;
    /// leveled (fewer runs: cheaper reads, less space) or size-tiered (cheaper
    /// writes). Switchable live; the tree converges to the new shape.
    compaction_strategy: CompactionStrategy = CompactionStrategy::Leveled, "compaction-strategy", "engine", settable = true;
    /// Bytes a memtable holds before it is frozen and flushed to an SSTable.
    memtable_size: ByteSize = ByteSize::mib(64), "memtable-size", "engine", settable = false;
    /// Frozen memtables waiting for flush before writes stall.
    max_immutable_memtables: usize = 2, "max-immutable-memtables", "engine", settable = false;
    /// Uncompressed size of an SSTable data block.
    block_size: ByteSize = ByteSize::kib(4), "block-size", "engine", settable = false;
    /// Byte budget of the block cache shared by all SSTables.
    block_cache_size: ByteSize = ByteSize::mib(128), "block-cache-size", "engine", settable = false;
    /// Bloom filter bits per key (10 gives about 1% false positives; 0 disables).
    bloom_bits_per_key: u32 = 10, "bloom-bits-per-key", "engine", settable = false;
    /// Most SSTable files kept open at once.
    max_open_files: usize = 1000, "max-open-files", "engine", settable = false;
    /// Level-0 files that trigger a compaction into level 1 (leveled).
    l0_compaction_trigger: usize = 4, "l0-compaction-trigger", "engine", settable = false;
    /// Level-0 sorted runs at which each write is slowed down.
    l0_slowdown_trigger: usize = 8, "l0-slowdown-trigger", "engine", settable = false;
    /// Level-0 sorted runs at which writes stop until compaction catches up.
    l0_stop_trigger: usize = 12, "l0-stop-trigger", "engine", settable = false;
    /// Size ratio between adjacent levels (leveled).
    level_size_ratio: u64 = 10, "level-size-ratio", "engine", settable = false;
    /// Target size of level 1; level n holds level1 * ratio^(n-1) (leveled).
    level1_max_size: ByteSize = ByteSize::mib(256), "level1-max-size", "engine", settable = false;
    /// Size at which compaction output is cut into a new SSTable.
    target_file_size: ByteSize = ByteSize::mib(64), "target-file-size", "engine", settable = false;
    /// Fewest runs of similar size merged together (size-tiered).
    tiered_min_threshold: usize = 4, "tiered-min-threshold", "engine", settable = false;
    /// Most runs merged in one compaction (size-tiered).
    tiered_max_threshold: usize = 32, "tiered-max-threshold", "engine", settable = false;
    /// Estimated bytes awaiting compaction at which writes stop.
    pending_compaction_bytes_limit: ByteSize = ByteSize::gib(64), "pending-compaction-bytes-limit", "engine", settable = false;
    /// Background compaction threads.
    compaction_threads: usize = 1, "compaction-threads", "engine", settable = false;
    /// Compaction write rate limit in bytes per second (0: unlimited).
    compaction_rate_limit: ByteSize = ByteSize(0), "compaction-rate-limit", "engine", settable = true;
    /// Start even when the write-ahead log the manifest names as live is
    /// missing or shorter than its 16-byte header, losing the writes it held
    /// since the last flush. With no, such a start fails and names the file,
    /// changing nothing. Set it for one start after deciding the loss is
    /// acceptable, then set it back.
    wal_missing_ok: bool = false, "wal-missing-ok", "engine", settable = false;

    // --------------------------------------------------------------- cluster
    /// TCP port for node-to-node traffic (gossip, replication); 0: client port + 10000.
    /// A node with no seeds listens on it only when this is set (not 0), or
    /// once it has had peers (CLUSTER JOIN): a cluster of one keeps it closed.
    cluster_port: u16 = 0, "cluster-port", "cluster", settable = false;
    /// Address other nodes use to reach this one (empty: the first bind address).
    cluster_announce_ip: String = String::new(), "cluster-announce-ip", "cluster", settable = false;
    /// Client port announced to the cluster (0: `port`), for a node behind
    /// port forwarding or NAT.
    cluster_announce_port: u16 = 0, "cluster-announce-port", "cluster", settable = false;
    /// Cluster port announced to other nodes (0: the cluster port it
    /// listens on), for a node behind port forwarding or a proxy.
    cluster_announce_bus_port: u16 = 0, "cluster-announce-bus-port", "cluster", settable = false;
    /// Source address of outgoing node-to-node connections (empty: chosen
    /// by the operating system), for hosts with several addresses.
    bind_source_addr: String = String::new(), "bind-source-addr", "cluster", settable = false;
    /// Cluster ports of existing members to join through, host:port comma-separated.
    /// Empty: this node starts a cluster of its own.
    seeds: Vec<String> = Vec::new(), "seeds", "cluster", settable = false;
    /// N: how many nodes hold each key (capped at the number of members).
    replicas: usize = 3, "replicas", "cluster", settable = false;
    /// Virtual nodes (ring tokens) this node takes when it first joins; more
    /// spreads ownership more evenly.
    vnodes: usize = 128, "vnodes", "cluster", settable = false;
    /// Shared secret authenticating node-to-node connections (HMAC-SHA256
    /// challenge); every member must use the same value. Without it the
    /// cluster port admits loopback peers only (protected mode), and a node
    /// whose cluster port would listen on a non-loopback bind address
    /// refuses to start.
    cluster_secret: String = String::new(), "cluster-secret", "cluster", settable = false, secret = true;
    /// Consistency level of reads unless a client chooses (CONSISTENCY, CL):
    /// one, two, three, quorum or all.
    read_consistency: Consistency = Consistency::Quorum, "read-consistency", "cluster", settable = true;
    /// Consistency level of writes unless a client chooses: one, two, three,
    /// quorum, all or any.
    write_consistency: Consistency = Consistency::Quorum, "write-consistency", "cluster", settable = true;
    /// How long a coordinator waits for replicas before answering NOQUORUM (milliseconds).
    replica_timeout_ms: u64 = 2000, "replica-timeout-ms", "cluster", settable = true;
    /// Milliseconds between gossip rounds; the failure detector learns the
    /// expected heartbeat interval from it.
    gossip_interval_ms: u64 = 1000, "gossip-interval-ms", "cluster", settable = false;
    /// Phi-accrual suspicion level above which a silent node is marked down
    /// (8: a false alarm about once in 10^8 intervals under the model).
    phi_threshold: f64 = 8.0, "phi-threshold", "cluster", settable = true;
    /// Whether reads that find stale or missing replicas write the merged
    /// version back to them.
    read_repair: bool = true, "read-repair", "cluster", settable = true;
    /// How long a hint for a down replica is kept before it is dropped
    /// (milliseconds); anti-entropy repairs what an expired hint carried.
    hint_max_age_ms: u64 = 10_800_000, "hint-max-age-ms", "cluster", settable = true;
    /// Hints replayed per second at most, per node, when their owners return.
    hint_replay_rate: u64 = 2000, "hint-replay-rate", "cluster", settable = true;
    /// Milliseconds between background anti-entropy rounds, in which this
    /// node compares Merkle trees with every replica it shares ranges with
    /// (0: only on CLUSTER REPAIR, and after CLUSTER REMOVE).
    anti_entropy_interval_ms: u64 = 600_000, "anti-entropy-interval-ms", "cluster", settable = true;
    /// Seconds a deletion's tombstone is kept before compaction may purge
    /// it. Must exceed hint-max-age-ms and the time a node may stay down,
    /// or a replica that missed the delete can bring the value back.
    gc_grace_seconds: u64 = 864_000, "gc-grace-seconds", "cluster", settable = false;
}
