//! State shared by every connection: configuration, keyspace, clients,
//! statistics, the transaction gate and the shutdown signal.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use ringkv_cluster::{Coordinator, Keyspace};
use ringkv_conf::{Config, Consistency};
use ringkv_resp::Limits;
use tokio::sync::watch;

use crate::client::ClientRegistry;
use crate::command::txn::WatchRegistry;
use crate::metrics::Metrics;
use crate::stat::ServerStats;

/// The server: everything a command may need.
pub struct Server {
    /// Current configuration (CONFIG SET changes the runtime-settable keys).
    pub config: RwLock<Config>,
    /// The configured read and write consistency levels, kept in step
    /// with `config` (every command reads them; see [`DefaultLevels`]).
    pub levels: DefaultLevels,
    /// The limits every socket read applies, kept in step with `config`
    /// like `levels` (see [`InputSettings`]).
    pub input: InputSettings,
    /// The configuration file given at start-up (for CONFIG REWRITE).
    pub config_file: Option<PathBuf>,
    /// This node's local store.
    pub keyspace: Keyspace,
    /// The coordinator: every data command reads and writes through it.
    pub cluster: Arc<Coordinator>,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// The server's counters (INFO `# Stats` and `/metrics`).
    pub stats: ServerStats,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Keys watched by clients, for WATCH/EXEC.
    pub watches: WatchRegistry,
    /// The cursors of HSCAN, SSCAN and ZSCAN over large collections.
    pub scan_cursors: crate::scan_cursors::ScanCursors,
    /// Every command holds it shared (but the long cluster administration
    /// commands, which touch no key themselves); EXEC holds it
    /// exclusively, so a transaction runs isolated from every other
    /// command on this node (`crate::exec_gate`).
    pub exec_gate: crate::exec_gate::ExecGate,
    /// Flips to true when the server begins to shut down.
    pub shutdown: watch::Sender<bool>,
    /// When the server started.
    pub started: Instant,
    /// Unix seconds at start.
    pub started_unix: u64,
    /// A random 40-hex-digit id of this run (INFO run_id).
    pub run_id: String,
    /// Unix seconds of the last SAVE/BGSAVE (start time until then).
    pub last_save_unix: AtomicU64,
    /// The engine's write count when the last SAVE/BGSAVE began (when the
    /// server opened, until then): INFO's `rdb_changes_since_last_save`
    /// counts from it.
    pub saved_writes: AtomicU64,
    /// Set by DEBUG SET-ACTIVE-EXPIRE. Expired keys are never visible and
    /// their space is reclaimed by compaction either way, so nothing reads it.
    pub active_expire: AtomicBool,
    /// The TCP port clients connect to.
    pub port: u16,
    /// Commands per second over the last second (INFO instantaneous_ops_per_sec).
    pub ops_per_sec: AtomicU64,
    /// The last count of keys per database (INFO keyspace).
    pub census: crate::info::Census,
    /// Memory that LCS, SETRANGE and APPEND may hold at once.
    pub transient_memory: crate::transient::TransientMemory,
    /// Clients blocked in BLPOP and the like, per key.
    pub blocking: Arc<crate::blocking::Blocking>,
    /// CLIENT PAUSE.
    pub client_pause: crate::client_pause::ClientPause,
    /// This node's pub/sub subscriptions.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Redis's encoding thresholds, for OBJECT ENCODING only.
    pub encoding_limits: crate::encoding_limits::EncodingLimits,
    /// SLOWLOG's entries and settings.
    pub slowlog: crate::slowlog::SlowLog,
    /// LATENCY's samples and `latency-monitor-threshold`.
    pub latency: crate::latency::LatencyMonitor,
    /// `latency-tracking` and its percentiles (INFO `latencystats`).
    pub latency_tracking: crate::latency_tracking::LatencyTracking,
}

/// The configured `read-consistency` and `write-consistency`, readable
/// without the configuration's lock: a lock taken shared by every command
/// still moves its cache line between cores on every command.
#[derive(Default)]
pub struct DefaultLevels {
    read: AtomicU8,
    write: AtomicU8,
}

impl DefaultLevels {
    /// Takes the levels of `config` (at start and on CONFIG SET).
    pub fn store(&self, config: &Config) {
        let index = |level| {
            Consistency::ALL
                .iter()
                .position(|&l| l == level)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(0)
        };
        self.read
            .store(index(config.read_consistency), Ordering::Relaxed);
        self.write
            .store(index(config.write_consistency), Ordering::Relaxed);
    }

    fn level(slot: &AtomicU8) -> Consistency {
        let i = usize::from(slot.load(Ordering::Relaxed));
        Consistency::ALL.get(i).copied().unwrap_or(Consistency::One)
    }

    /// The configured read level.
    pub fn read(&self) -> Consistency {
        Self::level(&self.read)
    }

    /// The configured write level.
    pub fn write(&self) -> Consistency {
        Self::level(&self.write)
    }
}

/// `proto-max-bulk-len`, `proto-max-multibulk-len`,
/// `client-query-buffer-limit` and `timeout`: what a connection consults at
/// every read and every request it decodes, readable without the
/// configuration's lock for the reason given at [`DefaultLevels`] (the
/// lock's shared count was 1.7% of SET -P16's samples).
#[derive(Default)]
pub struct InputSettings {
    max_bulk_len: AtomicU64,
    max_multibulk_len: AtomicU64,
    query_buffer_limit: AtomicU64,
    timeout_secs: AtomicU64,
}

impl InputSettings {
    /// Takes the settings of `config` (at start and on CONFIG SET).
    pub fn store(&self, config: &Config) {
        self.max_bulk_len
            .store(config.proto_max_bulk_len.bytes(), Ordering::Relaxed);
        self.max_multibulk_len
            .store(config.proto_max_multibulk_len, Ordering::Relaxed);
        self.query_buffer_limit
            .store(config.client_query_buffer_limit.bytes(), Ordering::Relaxed);
        self.timeout_secs.store(config.timeout, Ordering::Relaxed);
    }

    /// The protocol limits for a client.
    pub fn limits(&self, auth_required: bool) -> Limits {
        Limits {
            max_bulk_len: self.max_bulk_len.load(Ordering::Relaxed),
            max_multibulk_len: self.max_multibulk_len.load(Ordering::Relaxed),
            auth_required,
        }
    }

    /// `client-query-buffer-limit`, in bytes.
    pub fn query_buffer_limit(&self) -> u64 {
        self.query_buffer_limit.load(Ordering::Relaxed)
    }

    /// `timeout`: seconds a client may stay idle (0: forever).
    pub fn timeout_secs(&self) -> u64 {
        self.timeout_secs.load(Ordering::Relaxed)
    }
}

impl Server {
    /// Builds the shared state around an open keyspace.
    pub fn new(
        config: Config,
        config_file: Option<PathBuf>,
        keyspace: Keyspace,
        cluster: Arc<Coordinator>,
    ) -> anyhow::Result<Arc<Server>> {
        let metrics = Arc::new(Metrics::new(
            keyspace.engine().clone(),
            Arc::clone(&cluster),
        )?);
        let stats = ServerStats::new(&metrics.registry)?;
        let blocking: Arc<crate::blocking::Blocking> = Arc::default();
        let pubsub: Arc<crate::pubsub::PubSub> = Arc::default();
        metrics
            .registry
            .register(Box::new(crate::messaging_metrics::MessagingCollector::new(
                Arc::clone(&blocking),
                Arc::clone(&pubsub),
            )?))?;
        let now = unix_secs();
        let run_id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16)]))
            .collect();
        let port = config.port;
        let transient_memory =
            crate::transient::TransientMemory::new(config.proto_max_bulk_len.bytes());
        let levels = DefaultLevels::default();
        levels.store(&config);
        let input = InputSettings::default();
        input.store(&config);
        // What opening wrote (the namespace table, node metadata) is no change.
        let opened_writes = keyspace.engine().stats().writes;
        let server = Arc::new(Server {
            transient_memory,
            levels,
            input,
            config: RwLock::new(config),
            config_file,
            keyspace,
            cluster,
            clients: ClientRegistry::default(),
            stats,
            metrics,
            watches: WatchRegistry::default(),
            scan_cursors: Default::default(),
            exec_gate: Default::default(),
            shutdown: watch::channel(false).0,
            started: Instant::now(),
            started_unix: now,
            run_id,
            last_save_unix: AtomicU64::new(now),
            saved_writes: AtomicU64::new(opened_writes),
            active_expire: AtomicBool::new(true),
            port,
            ops_per_sec: AtomicU64::new(0),
            census: crate::info::Census::default(),
            blocking,
            client_pause: Default::default(),
            pubsub,
            encoding_limits: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            latency_tracking: Default::default(),
        });
        // Clients blocked on a key look again when its record changes
        // here, whoever coordinated the write.
        let blocking = Arc::clone(&server.blocking);
        server.cluster.set_change_observer(Arc::new(move |db, key| {
            blocking.wake(db, key);
        }));
        // Messages published on any node reach this node's subscribers.
        let weak = Arc::downgrade(&server);
        server
            .cluster
            .set_message_sink(Arc::new(move |shard, channel, message| {
                weak.upgrade()
                    .map_or(0, |s| s.deliver_message(shard, channel, message))
            }));
        Ok(server)
    }

    /// Delivers a published message to this node's subscribers under the
    /// pubsub class of `client-output-buffer-limit`.
    pub fn deliver_message(
        &self,
        shard: bool,
        channel: &bytes::Bytes,
        message: &bytes::Bytes,
    ) -> u64 {
        self.pubsub
            .deliver(shard, channel, message, self.pubsub_output_limit())
    }

    /// The pubsub class of `client-output-buffer-limit`, which subscribers
    /// and monitors are held to.
    fn pubsub_output_limit(&self) -> ringkv_conf::OutputLimit {
        ringkv_conf::pubsub_output_limit(&self.config.read().client_output_buffer_limit)
    }

    /// Shows `client`'s command `args` to the monitors
    /// ([`crate::monitor`]), under the pubsub class of
    /// `client-output-buffer-limit`. A monitor's own command's line waits
    /// in its connection until the command's reply is written.
    pub fn feed_monitors(&self, client: &mut crate::client::Client, args: &[bytes::Bytes]) {
        let limit = self.pubsub_output_limit();
        let len = crate::monitor::line_len(args);
        if limit.hard > 0 && len as u64 > limit.hard {
            // It would disconnect every monitor: not built at all.
            self.pubsub.monitors.disconnect_all(len, &self.pubsub.stats);
            return;
        }
        let handle = &client.handle;
        let line =
            crate::monitor::line(std::time::SystemTime::now(), client.db, &handle.addr, args);
        let own = client
            .subscriptions
            .as_mut()
            .filter(|_| handle.monitor.load(std::sync::atomic::Ordering::Relaxed));
        let except = own.map(|subs| {
            let own_line = crate::pubsub::Message::Monitor(std::sync::Arc::clone(&line));
            subs.own_monitor_lines.push(own_line);
            handle.id
        });
        self.pubsub
            .monitors
            .feed(&line, except, limit, &self.pubsub.stats);
    }

    /// Whether clients must AUTH before running commands.
    pub fn requires_auth(&self) -> bool {
        !self.config.read().requirepass.is_empty()
    }

    /// Begins a graceful shutdown.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Counts an error reply by its prefix (INFO errorstats, metrics).
    pub fn count_error(&self, prefix: &str) {
        self.stats.errors.inc(prefix);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_follow_every_configured_level() {
        let levels = DefaultLevels::default();
        for (&read, &write) in Consistency::ALL.iter().zip(Consistency::ALL.iter().rev()) {
            let config = Config {
                read_consistency: read,
                write_consistency: write,
                ..Config::default()
            };
            levels.store(&config);
            assert_eq!((levels.read(), levels.write()), (read, write));
        }
    }

    #[test]
    fn input_settings_follow_the_configuration() {
        let input = InputSettings::default();
        let config = Config {
            proto_max_bulk_len: ringkv_conf::ByteSize::mib(3),
            proto_max_multibulk_len: 5000,
            client_query_buffer_limit: ringkv_conf::ByteSize::mib(7),
            timeout: 11,
            ..Config::default()
        };
        input.store(&config);
        let limits = input.limits(true);
        assert_eq!(
            (
                limits.max_bulk_len,
                limits.max_multibulk_len,
                limits.auth_required
            ),
            (3 << 20, 5000, true)
        );
        assert_eq!(
            (input.query_buffer_limit(), input.timeout_secs()),
            (7 << 20, 11)
        );
    }
}
