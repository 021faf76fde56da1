//! `ringkv-server`: the Redis-compatible front door of ringkv.
//!
//! Layout:
//! - [`listener`]: accepts clients under `maxclients` and protected mode.
//! - [`connection`]: one task per client: frame, execute, await durability, reply.
//! - [`command`]: the command table, dispatch and one module per command group.
//! - [`pipeline`]: runs independent commands of one pipeline batch together.
//! - [`client`]: per-connection state and the registry behind CLIENT LIST/KILL.
//! - [`reply_error`]: error replies and Redis's texts.
//! - [`info`], [`metrics`], [`stat`]: INFO, the Prometheus endpoint, and the
//!   statistics both render from one declaration.
//! - [`shared`]: state every connection shares.
//! - [`engine_options`]: the storage engine's options from the configuration.
//! - [`glob`]: Redis glob patterns.
//!
//! A request flows: listener → connection (`resp` framing) → `command::execute`
//! → handler → `cluster::Keyspace` → engine; the reply flows back the same way.

pub mod blocking;
pub mod client;
pub mod client_pause;
pub mod cluster_metrics;
pub mod command;
pub mod command_stats;
pub mod connection;
pub mod encoding_limits;
pub mod engine_options;
pub mod exec_gate;
pub mod fd_limit;
pub mod glob;
pub mod huge_pages;
pub mod info;
pub mod key_run;
pub mod latency;
pub mod latency_tracking;
pub mod listener;
pub mod messaging_metrics;
pub mod metrics;
pub mod monitor;
pub mod pipeline;
pub mod pubsub;
pub mod reply_error;
pub mod scan_cursors;
pub mod shared;
pub mod slowlog;
pub mod stat;
pub mod transient;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use ringkv_cluster::Keyspace;
use ringkv_conf::{Config, LiveHook, LogLevel};
use tracing_subscriber::{EnvFilter, reload};

use shared::Server;

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;
static LOG_FILTER: OnceLock<FilterHandle> = OnceLock::new();

fn filter_for(level: LogLevel) -> EnvFilter {
    let directive = match level {
        LogLevel::Debug => "debug",
        LogLevel::Verbose => "info,ringkv_server=debug",
        LogLevel::Notice => "info",
        LogLevel::Warning => "warn",
        LogLevel::Nothing => "off",
    };
    EnvFilter::new(directive)
}

/// Installs the log subscriber at `level`; `CONFIG SET loglevel` changes it later.
pub fn init_logging(level: LogLevel) {
    use tracing_subscriber::prelude::*;
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        )
        .try_init();
    if installed.is_ok() {
        let _ = LOG_FILTER.set(handle);
    }
}

/// Applies the live keys a `CONFIG SET` changed, in the order given, each
/// through the hook its row in the key table names. Called before the new
/// configuration is published; an error fails the command. The match is
/// exhaustive: a new [`LiveHook`] does not compile until it is handled here.
pub fn apply_config(server: &Server, next: &Config, changed: &[LiveHook]) -> anyhow::Result<()> {
    let engine = server.keyspace.engine();
    for hook in changed {
        match hook {
            // Read from the configuration where it is used.
            LiveHook::ReadWhereUsed => {}
            LiveHook::FsyncPolicy => {
                engine.set_fsync_policy(engine_options::fsync_policy(next.appendfsync))
            }
            LiveHook::CompactionStrategy => engine.set_compaction_strategy(
                engine_options::compaction_strategy(next.compaction_strategy),
            )?,
            LiveHook::CompactionRateLimit => {
                engine.set_compaction_rate_limit(next.compaction_rate_limit.bytes())
            }
            LiveHook::CoordinatorSettings
            | LiveHook::AntiEntropyInterval
            | LiveHook::Hints
            | LiveHook::PhiThreshold => server.cluster.reconfigure(next),
            LiveHook::MaxClients => {
                if let Some(cap) = fd_limit::max_clients_cap().filter(|&c| next.maxclients > c) {
                    anyhow::bail!(
                        "The operating system is not able to handle the specified number of clients, try with {cap}"
                    );
                }
            }
            LiveHook::LogLevel => {
                if let Some(h) = LOG_FILTER.get() {
                    h.reload(filter_for(next.loglevel))?;
                }
            }
        }
    }
    Ok(())
}

/// Runs the server until SIGTERM, SIGINT or SHUTDOWN, then shuts down
/// gracefully: stops accepting, lets connections finish their batch, and
/// flushes and fsyncs the write-ahead log.
pub async fn run(mut config: Config, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    fd_limit::fit(&mut config);
    let dir = PathBuf::from(&config.dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let opts = engine_options::engine_options(&config);
    let databases = config.databases;
    let open_dir = dir.clone();
    let keyspace = tokio::task::spawn_blocking(move || Keyspace::open(open_dir, opts, databases))
        .await?
        .with_context(|| format!("opening data in {}", dir.display()))?;
    // Every port is bound before this node announces itself to the
    // cluster: a node that cannot start must not take tokens on the ring
    // (a joiner that dies leaves its ranges in motion).
    let mut listeners = Vec::new();
    for addr in &config.bind {
        let ip: IpAddr = addr
            .parse()
            .with_context(|| format!("bind: invalid address {addr:?}"))?;
        let sock = SocketAddr::new(ip, config.port);
        let l = listener::bind(sock, config.tcp_backlog)
            .with_context(|| format!("listening on {sock}"))?;
        listeners.push(l);
    }
    // Loopback unless metrics-bind says otherwise (protected mode covers
    // every port).
    let metrics_ip = config.metrics_ip();
    let metrics_addr = SocketAddr::new(metrics_ip, config.effective_metrics_port());
    let metrics_listener = listener::bind(metrics_addr, config.tcp_backlog)
        .with_context(|| format!("metrics endpoint on {metrics_addr}"))?;
    let (cluster_stop, cluster_stop_rx) = tokio::sync::watch::channel(false);
    let cluster = ringkv_cluster::start(keyspace.clone(), &config, cluster_stop_rx)
        .await
        .context("starting the cluster node")?;
    let server = Server::new(config.clone(), config_file, keyspace, cluster)?;
    {
        let mut stopping = server.shutdown.subscribe();
        tokio::spawn(async move {
            let _ = stopping.wait_for(|s| *s).await;
            let _ = cluster_stop.send(true);
        });
    }

    tokio::spawn(metrics::serve(
        metrics_listener,
        Arc::clone(&server.metrics),
    ));
    tokio::spawn(cron(Arc::clone(&server)));
    tokio::spawn(watch_signals(Arc::clone(&server)));

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        port = config.port,
        bind = ?config.bind,
        metrics = %metrics_addr,
        dir = %dir.display(),
        appendfsync = %config.appendfsync,
        compaction = %config.compaction_strategy,
        "ringkv ready to accept connections"
    );
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(listener::accept_loop(Arc::clone(&server), l)))
        .collect();
    for a in accepting {
        let _ = a.await;
    }

    tracing::info!("shutting down: waiting for clients to finish");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !server.clients.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every stamp this run made is in the WAL now; the engine fsyncs it on
    // close, so the next start may keep this run's actor.
    if let Err(e) = server.cluster.mark_clean_stop().await {
        tracing::warn!(error = %e, "could not record a clean stop: the next start takes a fresh actor");
    }
    let engine = server.keyspace.engine().clone();
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await?
        .context("closing the storage engine")?;
    tracing::info!("ringkv is now ready to exit, bye bye");
    Ok(())
}

async fn watch_signals(server: Arc<Server>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::warn!("received SIGTERM, scheduling shutdown"),
        _ = int.recv() => tracing::warn!("received SIGINT, scheduling shutdown"),
    }
    server.begin_shutdown();
}

/// Periodic housekeeping, `hz` times a second: the ops/sec sample.
async fn cron(server: Arc<Server>) {
    let mut last = (tokio::time::Instant::now(), 0u64);
    let mut shutdown = server.shutdown.subscribe();
    loop {
        let hz = server.config.read().hz.max(1);
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(1000 / u64::from(hz))) => {}
        }
        let now = tokio::time::Instant::now();
        let processed = server.stats.commands_processed.total();
        let secs = now.duration_since(last.0).as_secs_f64();
        if secs >= 1.0 {
            let rate = processed.saturating_sub(last.1) as f64 / secs;
            server.ops_per_sec.store(rate as u64, Ordering::Relaxed);
            last = (now, processed);
        }
    }
}
