//! ringkv configuration.
//!
//! One typed [`Config`], declared row by row in [`keys`] (name, type,
//! default, section, whether and how `CONFIG SET` changes it at run time,
//! range or format, help). It is built in layers, each overriding the one
//! before:
//!
//! 1. the defaults in the table,
//! 2. a TOML file given with `--config FILE` (flat kebab-case keys),
//! 3. environment variables `RINGKV_<KEY>` (e.g. `RINGKV_COMPACTION_STRATEGY`),
//! 4. command-line flags `--<key> <value>` (e.g. `--port 7000`), named as
//!    redis-server names them where the two overlap.
//!
//! Unknown keys and bad values are rejected at start-up with every problem
//! listed and the key named: each key's own range or format comes from its
//! row (the checks are in `check.rs`), the constraints between keys from
//! [`Config::validate`]. [`sample_toml`] renders the documented sample
//! file from the same table, and a test keeps `ringkv.example.toml` equal to it.

mod check;
mod keys;
mod net;
mod value;

pub use keys::{Config, KEYS, KeySpec, LiveHook, SECRET_MASK};
pub use net::{is_loopback, is_loopback_bind};
pub use value::{
    ByteSize, CompactionStrategy, ConfValue, Consistency, FsyncPolicy, LogLevel, ProtectedAction,
};

use std::ffi::OsString;
use std::fmt::Write as _;

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line could not be parsed, or asked for `--help`/`--version`
    /// (print it and exit with its code).
    #[error("{0}")]
    CommandLine(#[from] clap::Error),
    /// The file or environment could not be read.
    #[error("configuration source: {0}")]
    Source(String),
    /// One or more keys are unknown or have bad values; each entry names its key.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// The key named `name` (case-insensitive, `_` accepted for `-`).
pub fn find_key(name: &str) -> Option<&'static KeySpec> {
    let wanted = normalize_key(name);
    KEYS.iter().find(|k| k.name == wanted)
}

fn normalize_key(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

impl Config {
    /// Renders the value of `name` as `CONFIG GET` shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        find_key(name).map(|k| (k.get)(self))
    }

    /// Parses and stores `value` into `name`, then re-validates the whole
    /// configuration; on any error nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let key = find_key(name).ok_or_else(|| format!("{name}: unknown configuration key"))?;
        let mut next = self.clone();
        (key.set)(&mut next, value).map_err(|e| format!("{}: {e}", key.name))?;
        next.validate().map_err(|problems| problems.join("; "))?;
        *self = next;
        Ok(())
    }

    /// The address the /metrics endpoint listens on (`metrics-bind`, or
    /// the first `bind` address when it is loopback, else 127.0.0.1).
    pub fn metrics_ip(&self) -> std::net::IpAddr {
        if let Ok(ip) = self.metrics_bind.parse() {
            return ip;
        }
        self.bind
            .first()
            .and_then(|a| a.parse().ok())
            .filter(|ip| net::is_loopback(*ip))
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// Checks every key's own range or format (declared in its row of the
    /// table) and the constraints between keys. Returns every problem
    /// found, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut p: Vec<String> = KEYS.iter().flat_map(|key| (key.check)(self)).collect();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                p.push(msg);
            }
        };
        check(
            self.l0_compaction_trigger < self.l0_slowdown_trigger
                && self.l0_slowdown_trigger < self.l0_stop_trigger,
            format!(
                "l0-slowdown-trigger: need l0-compaction-trigger < l0-slowdown-trigger < l0-stop-trigger, got {} < {} < {}",
                self.l0_compaction_trigger, self.l0_slowdown_trigger, self.l0_stop_trigger
            ),
        );
        check(
            self.tiered_min_threshold >= 2
                && self.tiered_min_threshold <= self.tiered_max_threshold,
            format!(
                "tiered-min-threshold: need 2 <= tiered-min-threshold <= tiered-max-threshold, got {} and {}",
                self.tiered_min_threshold, self.tiered_max_threshold
            ),
        );
        check(
            self.gc_grace_seconds.saturating_mul(1000) > self.hint_max_age_ms,
            format!(
                "gc-grace-seconds: must exceed hint-max-age-ms ({} ms), got {} s",
                self.hint_max_age_ms, self.gc_grace_seconds
            ),
        );
        if self.cluster_port_at_start() {
            check(
                self.effective_cluster_port().is_some(),
                format!(
                    "cluster-port: the default, client port + 10000, passes 65535 (port {}); set cluster-port",
                    self.port
                ),
            );
            let host = self.cluster_bind();
            check(
                !self.cluster_secret.is_empty() || is_loopback_bind(host),
                format!(
                    "cluster-secret: required when the cluster port listens beyond loopback \
                     (bind {host}): without it anyone who reaches that port can read, write and \
                     flush every key. Set the same cluster-secret on every member, or bind a \
                     loopback address"
                ),
            );
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    /// The source address for outgoing node-to-node connections, if set
    /// (`validate` has checked that it parses).
    pub fn bind_source_ip(&self) -> Option<std::net::IpAddr> {
        self.bind_source_addr.parse().ok()
    }

    /// The node-to-node port: `cluster-port`, or client port + 10000;
    /// `None` when that default passes 65535.
    pub fn effective_cluster_port(&self) -> Option<u16> {
        if self.cluster_port != 0 {
            Some(self.cluster_port)
        } else {
            self.port.checked_add(10000)
        }
    }

    /// Whether the cluster port listens from start-up: when `seeds` are
    /// given or `cluster-port` is set (not 0). A node with neither is a
    /// cluster of one and opens its cluster port only when `CLUSTER JOIN`
    /// runs (and at every later start, see `cluster/joined` in
    /// `docs/formats/hints.md`), so a single server exposes no node port.
    pub fn cluster_port_at_start(&self) -> bool {
        self.cluster_port != 0 || !self.seeds.is_empty()
    }

    /// The address the cluster port binds: the first `bind` address.
    pub fn cluster_bind(&self) -> &str {
        self.bind.first().map_or("127.0.0.1", String::as_str)
    }

    /// The port of the metrics endpoint: `metrics-port`, or client port + 1000.
    pub fn effective_metrics_port(&self) -> u16 {
        if self.metrics_port != 0 {
            self.metrics_port
        } else {
            self.port.wrapping_add(1000)
        }
    }
}

/// The command-line interface: `--config FILE` plus one `--<key>` flag per key.
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new("ringkv-server")
        .about("ringkv: a Redis-compatible, distributed, persistent key-value store")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(
            clap::Arg::new("config")
                .long("config")
                .value_name("FILE")
                .help("TOML configuration file (flat keys, see ringkv.example.toml)"),
        )
        .arg(
            clap::Arg::new("print-sample-config")
                .long("print-sample-config")
                .action(clap::ArgAction::SetTrue)
                .help("Print the documented sample configuration (every key and default) and exit"),
        );
    for key in KEYS {
        let help = key.help.split_whitespace().collect::<Vec<_>>().join(" ");
        cmd = cmd.arg(
            clap::Arg::new(key.name)
                .long(key.name)
                .value_name((key.syntax)().to_ascii_uppercase())
                .help(help)
                .allow_hyphen_values(true),
        );
    }
    cmd
}

/// Builds the configuration from the process's arguments and environment.
pub fn load<I, T>(args: I) -> Result<Config, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let vars = std::env::vars().filter(|(k, _)| k.starts_with("RINGKV_"));
    load_from(args, vars)
}

/// Builds the configuration from explicit arguments and environment pairs
/// (`RINGKV_*` names); [`load`] passes the process's own.
pub fn load_from<I, T, E>(args: I, env: E) -> Result<Config, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
    E: IntoIterator<Item = (String, String)>,
{
    let matches = command().try_get_matches_from(args)?;
    let mut builder = config::Config::builder();
    if let Some(path) = matches.get_one::<String>("config") {
        builder =
            builder.add_source(config::File::new(path, config::FileFormat::Toml).required(true));
    }
    let env_map: config::Map<String, String> = env.into_iter().collect();
    builder = builder.add_source(config::Environment::with_prefix("RINGKV").source(Some(env_map)));
    for key in KEYS {
        if let Some(v) = matches.get_one::<String>(key.name) {
            builder = builder
                .set_override(key.name, v.as_str())
                .map_err(|e| Error::Source(e.to_string()))?;
        }
    }
    let layered = builder.build().map_err(|e| Error::Source(e.to_string()))?;
    let table: config::Map<String, config::Value> = layered
        .try_deserialize()
        .map_err(|e| Error::Source(e.to_string()))?;

    let mut cfg = Config::default();
    let mut problems = Vec::new();
    let mut names: Vec<_> = table.into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (raw_name, value) in names {
        let Some(key) = find_key(&raw_name) else {
            problems.push(format!("{raw_name}: unknown configuration key"));
            continue;
        };
        let text = match value_text(value) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", key.name));
                continue;
            }
        };
        if let Err(e) = (key.set)(&mut cfg, &text) {
            problems.push(format!("{}: {e}", key.name));
        }
    }
    if problems.is_empty() {
        if let Err(mut p) = cfg.validate() {
            problems.append(&mut p);
        }
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Flattens a layered value to the text the key parsers take: scalars as
/// written, arrays joined with commas.
fn value_text(value: config::Value) -> Result<String, String> {
    match value.kind {
        config::ValueKind::Array(items) => {
            let parts: Result<Vec<_>, _> = items.into_iter().map(value_text).collect();
            Ok(parts?.join(","))
        }
        config::ValueKind::Table(_) => Err("expected a value, got a table".into()),
        config::ValueKind::Nil => Ok(String::new()),
        _ => value.into_string().map_err(|e| e.to_string()),
    }
}

/// The documented sample configuration file: every key with its help text
/// and default, grouped by section.
pub fn sample_toml() -> String {
    render_toml(&Config::default())
}

/// Renders `config` as a documented TOML file (CONFIG REWRITE writes this).
pub fn render_toml(config: &Config) -> String {
    let defaults = config;
    let mut out = String::from(
        "# ringkv sample configuration: every key, its default and what it does.\n\
         # Keys are flat and kebab-case. Environment variables RINGKV_<KEY> (upper snake\n\
         # case) and flags --<key> override this file. Keys marked [runtime] can also be\n\
         # changed on a running server with CONFIG SET.\n",
    );
    let mut section = "";
    for key in KEYS {
        if key.section != section {
            section = key.section;
            let _ = write!(out, "\n# ---- {section} ----\n");
        }
        out.push('\n');
        for line in key.help.lines() {
            let _ = writeln!(out, "# {}", line.trim());
        }
        let runtime = if key.settable() { " [runtime]" } else { "" };
        let _ = writeln!(out, "# type: {}{runtime}", (key.syntax)());
        let _ = writeln!(out, "{} = {}", key.name, toml_literal(key, defaults));
    }
    out
}

fn toml_literal(key: &KeySpec, cfg: &Config) -> String {
    let text = (key.get)(cfg);
    match (key.syntax)() {
        "integer" | "number" => text,
        "list" => {
            let items: Vec<String> = text.split_whitespace().map(|w| format!("{w:?}")).collect();
            format!("[{}]", items.join(", "))
        }
        _ => format!("{text:?}"),
    }
}

/// One class's output limit of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    /// Disconnect at once past this many bytes (0: no limit).
    pub hard: u64,
    /// Disconnect when over this many bytes for `soft_seconds` (0: none).
    pub soft: u64,
    /// How long the soft limit may be passed.
    pub soft_seconds: u64,
}

/// Redis's default limit of the pubsub class: 32mb 8mb 60.
pub const PUBSUB_OUTPUT_LIMIT: OutputLimit = OutputLimit {
    hard: 32 << 20,
    soft: 8 << 20,
    soft_seconds: 60,
};

/// Parses `client-output-buffer-limit` (`class hard soft seconds` groups,
/// classes `normal`, `replica`/`slave`, `pubsub`): each class's limit.
///
/// # Errors
/// What is wrong with the text.
pub fn parse_output_limits(text: &str) -> Result<Vec<(String, OutputLimit)>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() % 4 != 0 {
        return Err("expected groups of 'class hard soft seconds'".into());
    }
    words
        .chunks_exact(4)
        .map(|g| {
            let [class, hard, soft, secs] = g else {
                return Err("expected groups of 'class hard soft seconds'".into());
            };
            let class = class.to_ascii_lowercase();
            if !matches!(class.as_str(), "normal" | "replica" | "slave" | "pubsub") {
                return Err(format!("unknown client class '{class}'"));
            }
            let hard = <ByteSize as ConfValue>::parse_conf(hard)?.bytes();
            let soft = <ByteSize as ConfValue>::parse_conf(soft)?.bytes();
            let soft_seconds = secs
                .parse::<u64>()
                .map_err(|_| format!("bad soft seconds '{secs}'"))?;
            Ok((
                class,
                OutputLimit {
                    hard,
                    soft,
                    soft_seconds,
                },
            ))
        })
        .collect()
}

/// `client-output-buffer-limit` after a CONFIG SET of `update` on
/// `current`, as redis-server applies one: the classes `update` names take
/// its limits (the last group of a class wins; `slave` is `replica`), the
/// others keep theirs, so an empty `update` changes nothing.
///
/// # Errors
/// What is wrong with `update`.
pub fn merge_output_limits(current: &str, update: &str) -> Result<String, String> {
    parse_output_limits(update)?;
    let groups = |text: &str| -> Vec<(String, String)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .chunks_exact(4)
            .filter_map(|g| {
                let (class, limits) = g.split_first()?;
                let class = match class.to_ascii_lowercase().as_str() {
                    "slave" => "replica".to_string(),
                    other => other.to_string(),
                };
                Some((class, limits.join(" ")))
            })
            .collect()
    };
    let mut merged = groups(current);
    for (class, limits) in groups(update) {
        match merged.iter_mut().find(|(c, _)| *c == class) {
            Some(slot) => slot.1 = limits,
            None => merged.push((class, limits)),
        }
    }
    Ok(merged
        .iter()
        .map(|(class, limits)| format!("{class} {limits}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The pubsub class's limit in `client-output-buffer-limit` (the default
/// when the text does not name it).
pub fn pubsub_output_limit(text: &str) -> OutputLimit {
    parse_output_limits(text)
        .ok()
        .and_then(|l| l.into_iter().rev().find(|(c, _)| c == "pubsub"))
        .map_or(PUBSUB_OUTPUT_LIMIT, |(_, l)| l)
}

#[cfg(test)]
mod tests;
