//! The one table of configuration keys. Each row declares a key once: its
//! field, type, default, name, section, whether `CONFIG SET` may change it
//! at run time and what applies the change there (its [`LiveHook`]), the
//! range or format its value must have, and its documentation. The
//! `Config` struct, its defaults, the per-key half of validation,
//! `CONFIG GET`/`CONFIG SET`, the command-line flags and the sample
//! `ringkv.toml` are all generated from this table.
//!
//! A row reads
//! `field: Type = default, "name", "section", live = Hook | fixed[, range = R][, check = f][, secret = true];`
//! where `R` is any range over the field's type (`1..=500`, `ByteSize::kib(64)..`,
//! `(Excluded(0.0), Unbounded)`) and `f` a function of [`crate::check`]. A
//! live row must name its hook: `live` alone does not compile.

use std::ops::Bound::{Excluded, Unbounded};

use crate::check::{
    host_ports, ip_address_or_empty, not_empty, output_buffer_limits, read_level, some_address,
};
use crate::value::{
    ByteSize, CompactionStrategy, ConfValue, Consistency, FsyncPolicy, LogLevel, ProtectedAction,
};

/// What applies a `CONFIG SET` of a live key on a running server. The server
/// matches on it exhaustively, so a new hook does not compile until the
/// server says what it does; a key whose change needs nothing beyond the new
/// value says so with [`LiveHook::ReadWhereUsed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiveHook {
    /// Nothing to apply: the server reads the key from the current
    /// configuration each time it uses it (per command, connection or tick).
    ReadWhereUsed,
    /// `appendfsync`: the engine's WAL committer changes its fsync policy.
    FsyncPolicy,
    /// `compaction-strategy`: the engine switches strategy (recorded in its
    /// manifest) and the tree converges to the new shape.
    CompactionStrategy,
    /// `compaction-rate-limit`: the engine's compaction write rate.
    CompactionRateLimit,
    /// `replica-timeout-ms`, `read-repair`, `speculative-read-ms`: the
    /// coordinator's settings.
    CoordinatorSettings,
    /// `anti-entropy-interval-ms`: the time between anti-entropy rounds.
    AntiEntropyInterval,
    /// `hint-max-age-ms`, `hint-replay-rate`: the hint store's settings.
    Hints,
    /// `maxclients`: refused above what the open-file limit allows.
    MaxClients,
    /// `phi-threshold`: the failure detector's suspicion level.
    PhiThreshold,
    /// `loglevel`: the log filter is reloaded.
    LogLevel,
}

/// One configuration key, as the table declares it.
#[derive(Clone, Copy)]
pub struct KeySpec {
    /// The kebab-case name used in files, flags, `CONFIG GET` and `RINGKV_*` (upper snake case).
    pub name: &'static str,
    /// `server`, `engine` or `cluster`: where the sample file lists it.
    pub section: &'static str,
    /// What the key does, its range and its trade-off.
    pub help: &'static str,
    /// `Some(hook)`: `CONFIG SET` may change the key on a running server,
    /// and `hook` is what applies the change. `None`: fixed at start.
    pub live: Option<LiveHook>,
    /// Whether the value is a secret (a password): `CONFIG GET` shows
    /// [`SECRET_MASK`] instead when it is set; it is never logged.
    pub secret: bool,
    /// The accepted syntax, e.g. `yes|no`.
    pub syntax: fn() -> &'static str,
    /// Renders the key's current value.
    pub get: fn(&Config) -> String,
    /// Parses and stores a new value; the error says what was expected.
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    /// The problems with the key's value on its own (its range or format),
    /// each naming the key; empty when it is fine.
    pub check: fn(&Config) -> Vec<String>,
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

    /// Whether `CONFIG SET` may change the key on a running server.
    pub fn settable(&self) -> bool {
        self.live.is_some()
    }
}

/// A row's run-time mode: `fixed`, or `live = <LiveHook variant>`.
macro_rules! live_hook {
    (fixed) => {
        None
    };
    (live = $hook:ident) => {
        Some(LiveHook::$hook)
    };
}

macro_rules! config_keys {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty = $default:expr, $name:literal, $section:literal,
            $mode:ident $(= $hook:ident)?
            $(, range = $range:expr)?
            $(, check = $check:path)?
            $(, secret = $secret:literal)?;
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
                live: live_hook!($mode $(= $hook)?),
                secret: false $(|| $secret)?,
                syntax: <$ty as ConfValue>::syntax,
                get: |c: &Config| c.$field.render(),
                set: |c: &mut Config, text: &str| {
                    c.$field = <$ty as ConfValue>::parse_conf(text)?;
                    Ok(())
                },
                check: |_c: &Config| {
                    std::iter::empty::<String>()
                        $( .chain(crate::check::in_range(&($range), &_c.$field)) )?
                        $( .chain($check(&_c.$field)) )?
                        .map(|p| format!("{}: {p}", $name))
                        .collect()
                },
            }, )*
        ];
    };
}

config_keys! {
    // ---------------------------------------------------------------- server
    /// Addresses to listen on for clients, space-separated. The default keeps
    /// the server private to this machine (see protected-mode).
    bind: Vec<String> = vec!["127.0.0.1".to_string()], "bind", "server", fixed, check = some_address;
    /// TCP port for Redis clients.
    port: u16 = 6379, "port", "server", fixed, range = 1..=65535;
    /// When yes and no requirepass is set, clients from addresses other than
    /// loopback are refused with Redis's DENIED error.
    protected_mode: bool = true, "protected-mode", "server", live = ReadWhereUsed;
    /// Password clients must give with AUTH (empty: no password).
    requirepass: String = String::new(), "requirepass", "server", live = ReadWhereUsed, secret = true;
    /// Most clients connected at once; one more gets "max number of clients reached".
    /// Lowered at start (with a warning) to fit the open-file limit.
    maxclients: usize = 10000, "maxclients", "server", live = MaxClients, range = 1..;
    /// Length of the queue of connections not yet accepted (`listen(2)`
    /// backlog; the kernel caps it at `net.core.somaxconn`).
    tcp_backlog: u32 = 511, "tcp-backlog", "server", fixed;
    /// Threads that serve clients and the cluster (0: one per CPU core).
    /// On a machine of two cores that also runs the clients, 1 serves
    /// unpipelined requests faster and pipelined ones slower.
    io_threads: usize = 0, "io-threads", "server", fixed, range = 0..=1024;
    /// Turn transparent huge pages off for this process at start, as
    /// Redis's key of the same name does: a first write to fresh memory
    /// then zeroes a 4 KB page instead of a 2 MB one, which a thread did
    /// while other writes waited for it.
    disable_thp: bool = true, "disable-thp", "server", fixed;
    /// Close a client idle for this many seconds (0: never).
    timeout: u64 = 0, "timeout", "server", live = ReadWhereUsed, range = 0..=2_147_483_647;
    /// Number of databases (SELECT 0..databases-1), each its own keyspace.
    databases: u32 = 16, "databases", "server", fixed, range = 1..=10_000;
    /// Largest bulk string a client may send (a value or argument).
    proto_max_bulk_len: ByteSize = ByteSize::mib(512), "proto-max-bulk-len", "server", live = ReadWhereUsed, range = ByteSize::mib(1)..;
    /// Most arguments one command may carry (the multibulk length); Redis 7.0's limit is 2147483647. The arguments parsed so far count toward client-query-buffer-limit. At least 1024, so a client can always send the CONFIG SET that raises it again.
    proto_max_multibulk_len: u64 = i32::MAX as u64, "proto-max-multibulk-len", "server", live = ReadWhereUsed, range = 1024..;
    /// Most unparsed input buffered for one client before it is disconnected.
    client_query_buffer_limit: ByteSize = ByteSize::gib(1), "client-query-buffer-limit", "server", live = ReadWhereUsed, range = ByteSize::mib(1)..;
    /// Output limits per client class, as Redis writes them: `class hard
    /// soft soft-seconds` for `normal`, `replica` and `pubsub`. A subscriber
    /// whose undelivered messages pass the pubsub hard limit, or stay over
    /// the soft limit for soft-seconds, is disconnected.
    client_output_buffer_limit: String = "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60".to_string(), "client-output-buffer-limit", "server", live = ReadWhereUsed, check = output_buffer_limits;
    /// Log verbosity: debug, verbose, notice or warning (or nothing).
    loglevel: LogLevel = LogLevel::Notice, "loglevel", "server", live = LogLevel;
    /// Directory holding the data (write-ahead logs, SSTables, manifest).
    dir: String = "./data".to_string(), "dir", "server", fixed, check = not_empty;
    /// TCP port of the Prometheus /metrics HTTP endpoint (0: client port + 1000).
    metrics_port: u16 = 0, "metrics-port", "server", fixed;
    /// Address the /metrics endpoint listens on. Empty: the first `bind`
    /// address if it is loopback, else 127.0.0.1, so metrics stay on this
    /// machine unless set to something else (e.g. 0.0.0.0).
    metrics_bind: String = String::new(), "metrics-bind", "server", fixed, check = ip_address_or_empty;
    /// How many times a second server housekeeping (statistics sampling) runs, 1..=500. Expired keys are reclaimed by compaction, which checks every second.
    hz: u32 = 10, "hz", "server", live = ReadWhereUsed, range = 1..=500;
    /// Who may run DEBUG, as in Redis 7: no (nobody), yes (everyone) or local
    /// (clients connected from a loopback address). DEBUG SLEEP stalls the
    /// client that sends it and DEBUG RELOAD forces a flush, so keep it off
    /// where untrusted clients connect.
    enable_debug_command: ProtectedAction = ProtectedAction::No, "enable-debug-command", "server", fixed;

    // ---------------------------------------------------------------- engine
    /// When the write-ahead log is fsynced: always (before every reply, group
    /// commit), everysec (written before the reply, fsynced each second) or no.
    appendfsync: FsyncPolicy = FsyncPolicy::EverySec, "appendfsync", "engine", live = FsyncPolicy;
    /// leveled (fewer runs: cheaper reads, less space) or size-tiered (cheaper
    /// writes). Switchable live; the tree converges to the new shape.
    compaction_strategy: CompactionStrategy = CompactionStrategy::Leveled, "compaction-strategy", "engine", live = CompactionStrategy;
    /// Bytes a memtable holds before it is frozen and flushed to an SSTable.
    memtable_size: ByteSize = ByteSize::mib(64), "memtable-size", "engine", fixed, range = ByteSize::kib(64)..;
    /// Frozen memtables waiting for flush before writes stall.
    max_immutable_memtables: usize = 2, "max-immutable-memtables", "engine", fixed, range = 1..;
    /// Uncompressed size of an SSTable data block.
    block_size: ByteSize = ByteSize::kib(4), "block-size", "engine", fixed, range = ByteSize(256)..=ByteSize::mib(1);
    /// Byte budget of the block cache shared by all SSTables (an eighth of
    /// it is kept for the filters and indexes that level-0 tables pin).
    block_cache_size: ByteSize = ByteSize::mib(128), "block-cache-size", "engine", fixed;
    /// Bloom filter bits per key (10 gives about 1% false positives; 0 disables).
    bloom_bits_per_key: u32 = 10, "bloom-bits-per-key", "engine", fixed, range = 0..=32;
    /// Most SSTable files kept open at once.
    max_open_files: usize = 1000, "max-open-files", "engine", fixed, range = 16..;
    /// Level-0 files that trigger a compaction into level 1 (leveled); while level 0 holds fewer bytes than the level-1 files it overlaps, it waits for up to twice as many (at most l0-slowdown-trigger - 2).
    l0_compaction_trigger: usize = 4, "l0-compaction-trigger", "engine", fixed, range = 1..;
    /// Level-0 sorted runs at which each write is slowed down.
    l0_slowdown_trigger: usize = 8, "l0-slowdown-trigger", "engine", fixed;
    /// Level-0 sorted runs at which writes stop until compaction catches up.
    l0_stop_trigger: usize = 12, "l0-stop-trigger", "engine", fixed;
    /// Size ratio between adjacent levels (leveled).
    level_size_ratio: u64 = 10, "level-size-ratio", "engine", fixed, range = 2..;
    /// Target size of level 1; level n holds level1 * ratio^(n-1) (leveled).
    level1_max_size: ByteSize = ByteSize::mib(256), "level1-max-size", "engine", fixed, range = ByteSize::kib(64)..;
    /// Size at which compaction output is cut into a new SSTable.
    target_file_size: ByteSize = ByteSize::mib(64), "target-file-size", "engine", fixed, range = ByteSize::kib(64)..;
    /// Fewest runs of similar size merged together (size-tiered).
    tiered_min_threshold: usize = 4, "tiered-min-threshold", "engine", fixed;
    /// Most runs merged in one compaction (size-tiered).
    tiered_max_threshold: usize = 32, "tiered-max-threshold", "engine", fixed;
    /// Estimated bytes awaiting compaction at which writes stop.
    pending_compaction_bytes_limit: ByteSize = ByteSize::gib(64), "pending-compaction-bytes-limit", "engine", fixed;
    /// Background compaction threads.
    compaction_threads: usize = 1, "compaction-threads", "engine", fixed, range = 1..=64;
    /// Compaction write rate limit in bytes per second (0: unlimited).
    compaction_rate_limit: ByteSize = ByteSize(0), "compaction-rate-limit", "engine", live = CompactionRateLimit;
    /// Start even when the write-ahead log the manifest names as live is
    /// missing or shorter than its 16-byte header, losing the writes it held
    /// since the last flush. With no, such a start fails and names the file,
    /// changing nothing. Set it for one start after deciding the loss is
    /// acceptable, then set it back.
    wal_missing_ok: bool = false, "wal-missing-ok", "engine", fixed;

    // --------------------------------------------------------------- cluster
    /// TCP port for node-to-node traffic (gossip, replication); 0: client port + 10000.
    /// A node with no seeds listens on it only when this is set (not 0), or
    /// once it has had peers (CLUSTER JOIN): a cluster of one keeps it closed.
    cluster_port: u16 = 0, "cluster-port", "cluster", fixed;
    /// Address other nodes use to reach this one (empty: the first bind address).
    cluster_announce_ip: String = String::new(), "cluster-announce-ip", "cluster", fixed;
    /// Client port announced to the cluster (0: `port`), for a node behind
    /// port forwarding or NAT.
    cluster_announce_port: u16 = 0, "cluster-announce-port", "cluster", fixed;
    /// Cluster port announced to other nodes (0: the cluster port it
    /// listens on), for a node behind port forwarding or a proxy.
    cluster_announce_bus_port: u16 = 0, "cluster-announce-bus-port", "cluster", fixed;
    /// Source address of outgoing node-to-node connections (empty: chosen
    /// by the operating system), for hosts with several addresses.
    bind_source_addr: String = String::new(), "bind-source-addr", "cluster", fixed, check = ip_address_or_empty;
    /// Cluster ports of existing members to join through, host:port comma-separated.
    /// Empty: this node starts a cluster of its own.
    seeds: Vec<String> = Vec::new(), "seeds", "cluster", fixed, check = host_ports;
    /// N: how many nodes hold each key (capped at the number of members).
    replicas: usize = 3, "replicas", "cluster", fixed, range = 1..=16;
    /// Virtual nodes (ring tokens) this node takes when it first joins; more
    /// spreads ownership more evenly.
    vnodes: usize = 128, "vnodes", "cluster", fixed, range = 1..=4096;
    /// Shared secret authenticating node-to-node connections (HMAC-SHA256
    /// challenge); every member must use the same value. Without it the
    /// cluster port admits loopback peers only (protected mode), and a node
    /// whose cluster port would listen on a non-loopback bind address
    /// refuses to start.
    cluster_secret: String = String::new(), "cluster-secret", "cluster", fixed, secret = true;
    /// Consistency level of reads unless a client chooses (CONSISTENCY, CL):
    /// one, two, three, quorum or all.
    read_consistency: Consistency = Consistency::Quorum, "read-consistency", "cluster", live = ReadWhereUsed, check = read_level;
    /// Consistency level of writes unless a client chooses: one, two, three,
    /// quorum, all or any.
    write_consistency: Consistency = Consistency::Quorum, "write-consistency", "cluster", live = ReadWhereUsed;
    /// How long a coordinator waits for replicas before answering NOQUORUM (milliseconds).
    replica_timeout_ms: u64 = 2000, "replica-timeout-ms", "cluster", live = CoordinatorSettings, range = 1..=600_000;
    /// Milliseconds between gossip rounds; the failure detector learns the
    /// expected heartbeat interval from it.
    gossip_interval_ms: u64 = 1000, "gossip-interval-ms", "cluster", fixed, range = 10..=60_000;
    /// Phi-accrual suspicion level above which a silent node is marked down
    /// (8: a false alarm about once in 10^8 intervals under the model).
    phi_threshold: f64 = 8.0, "phi-threshold", "cluster", live = PhiThreshold, range = (Excluded(0.0), Unbounded);
    /// Whether reads that find stale or missing replicas write the merged
    /// version back to them.
    read_repair: bool = true, "read-repair", "cluster", live = CoordinatorSettings;
    /// A read asks only the replicas its level needs (this node first when
    /// it is one, a replica silent for longer than usual last), and the
    /// other live replicas too once one of those fails or has not answered
    /// within this many milliseconds (at most half of `replica-timeout-ms`).
    /// 0: every read asks every live replica at once.
    speculative_read_ms: u64 = 10, "speculative-read-ms", "cluster", live = CoordinatorSettings, range = 0..=60_000;
    /// How long a hint for a down replica is kept before it is dropped
    /// (milliseconds); anti-entropy repairs what an expired hint carried.
    hint_max_age_ms: u64 = 10_800_000, "hint-max-age-ms", "cluster", live = Hints;
    /// Hints replayed per second at most, per node, when their owners return.
    hint_replay_rate: u64 = 2000, "hint-replay-rate", "cluster", live = Hints, range = 1..;
    /// Milliseconds between background anti-entropy rounds, in which this
    /// node compares Merkle trees with every replica it shares ranges with
    /// (0: only on CLUSTER REPAIR, and after CLUSTER REMOVE).
    anti_entropy_interval_ms: u64 = 600_000, "anti-entropy-interval-ms", "cluster", live = AntiEntropyInterval;
    /// Seconds a deletion's tombstone is kept before compaction may purge
    /// it. Must exceed hint-max-age-ms and the time a node may stay down,
    /// or a replica that missed the delete can bring the value back.
    gc_grace_seconds: u64 = 864_000, "gc-grace-seconds", "cluster", fixed;
}
