use super::*;
use std::io::Write as _;

fn args(a: &[&str]) -> Vec<String> {
    std::iter::once("ringkv-server")
        .chain(a.iter().copied())
        .map(String::from)
        .collect()
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_are_valid_and_match_redis() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(c.port, 6379);
    assert_eq!(c.bind, ["127.0.0.1"]);
    assert_eq!(c.maxclients, 10000);
    assert_eq!(c.proto_max_bulk_len.bytes(), 512 * 1024 * 1024);
    assert_eq!(c.client_query_buffer_limit.bytes(), 1024 * 1024 * 1024);
    assert_eq!(c.appendfsync, FsyncPolicy::EverySec);
    assert_eq!(c.effective_metrics_port(), 7379);
}

#[test]
fn flags_override_env_which_overrides_file() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    writeln!(
        file,
        "port = 7000\nmaxclients = 5\nappendfsync = \"always\"\nbind = [\"127.0.0.1\", \"::1\"]"
    )
    .unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let env = vec![
        ("RINGKV_MAXCLIENTS".to_string(), "6".to_string()),
        (
            "RINGKV_COMPACTION_STRATEGY".to_string(),
            "size-tiered".to_string(),
        ),
    ];
    let c = load_from(args(&["--config", &path, "--port", "7001"]), env).unwrap();
    assert_eq!(c.port, 7001);
    assert_eq!(c.maxclients, 6);
    assert_eq!(c.appendfsync, FsyncPolicy::Always);
    assert_eq!(c.compaction_strategy, CompactionStrategy::SizeTiered);
    assert_eq!(c.bind, ["127.0.0.1", "::1"]);
}

#[test]
fn bad_values_and_unknown_keys_are_all_named() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    writeln!(
        file,
        "compaction-strategy = \"lvl\"\nno-such-key = 1\nport = \"x\""
    )
    .unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let err = load_from(args(&["--config", &path]), no_env()).unwrap_err();
    let Error::Invalid(problems) = err else {
        panic!("expected Invalid, got {err}")
    };
    let all = problems.join("\n");
    assert!(
        all.contains("compaction-strategy: expected leveled|size-tiered, got \"lvl\""),
        "{all}"
    );
    assert!(
        all.contains("no-such-key: unknown configuration key"),
        "{all}"
    );
    assert!(all.contains("port: expected an integer"), "{all}");
}

#[test]
fn unknown_environment_key_is_rejected() {
    let env = vec![("RINGKV_PROT".to_string(), "1".to_string())];
    let err = load_from(args(&[]), env).unwrap_err();
    assert!(
        err.to_string().contains("prot: unknown configuration key"),
        "{err}"
    );
}

#[test]
fn cross_key_constraints_are_checked() {
    let err = load_from(args(&["--l0-slowdown-trigger", "20"]), no_env()).unwrap_err();
    assert!(
        err.to_string().contains("l0-slowdown-trigger: need"),
        "{err}"
    );
}

#[test]
fn bind_source_addr_must_be_an_ip_address() {
    let err = load_from(args(&["--bind-source-addr", "node-a"]), no_env()).unwrap_err();
    assert!(
        err.to_string()
            .contains("bind-source-addr: not an IP address: 'node-a'"),
        "{err}"
    );
    let ok = load_from(args(&["--bind-source-addr", "127.0.0.5"]), no_env()).unwrap();
    assert_eq!(ok.bind_source_ip(), "127.0.0.5".parse().ok());
    assert_eq!(Config::default().bind_source_ip(), None);
}

#[test]
fn the_cluster_port_listens_at_start_only_when_asked() {
    let alone = Config::default();
    assert!(
        !alone.cluster_port_at_start(),
        "a cluster of one keeps it closed"
    );
    assert_eq!(alone.effective_cluster_port(), Some(16379));
    let c = load_from(args(&["--cluster-port", "17000"]), no_env()).unwrap();
    assert!(c.cluster_port_at_start());
    let env = vec![("RINGKV_CLUSTER_PORT".to_string(), "17000".to_string())];
    assert!(load_from(args(&[]), env).unwrap().cluster_port_at_start());
    let c = load_from(args(&["--seeds", "127.0.0.1:17000"]), no_env()).unwrap();
    assert!(c.cluster_port_at_start());
    assert_eq!(c.effective_cluster_port(), Some(16379));
    // 0 given explicitly is the default: "client port + 10000 when needed".
    let c = load_from(args(&["--cluster-port", "0"]), no_env()).unwrap();
    assert!(!c.cluster_port_at_start());
}

#[test]
fn a_cluster_port_beyond_loopback_needs_a_cluster_secret() {
    for flags in [
        &["--bind", "0.0.0.0", "--cluster-port", "17000"][..],
        &["--bind", "10.0.0.1", "--seeds", "10.0.0.2:17000"][..],
        &["--bind", "::", "--cluster-port", "17000"][..],
    ] {
        let err = load_from(args(flags), no_env()).unwrap_err().to_string();
        assert!(
            err.contains("cluster-secret: required when the cluster port listens beyond loopback"),
            "{flags:?}: {err}"
        );
    }
    // With a secret, on loopback, or with the cluster port closed: fine.
    for flags in [
        &[
            "--bind",
            "0.0.0.0",
            "--cluster-port",
            "17000",
            "--cluster-secret",
            "s",
        ][..],
        &["--bind", "127.0.0.2", "--cluster-port", "17000"][..],
        &["--bind", "::1", "--seeds", "[::1]:17000"][..],
        &["--bind", "0.0.0.0", "--requirepass", "pw"][..],
    ] {
        load_from(args(flags), no_env()).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    }
}

#[test]
fn a_default_cluster_port_past_65535_is_refused_when_needed() {
    let err = load_from(
        args(&["--port", "60000", "--seeds", "127.0.0.1:17000"]),
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cluster-port: the default"), "{err}");
    let c = load_from(args(&["--port", "60000"]), no_env()).unwrap();
    assert_eq!(c.effective_cluster_port(), None);
}

#[test]
fn unknown_flag_is_a_command_line_error() {
    let err = load_from(args(&["--prot", "1"]), no_env()).unwrap_err();
    assert!(matches!(err, Error::CommandLine(_)));
}

#[test]
fn set_validates_and_leaves_config_unchanged_on_error() {
    let mut c = Config::default();
    c.set("maxclients", "50").unwrap();
    assert_eq!(c.maxclients, 50);
    assert!(c.set("maxclients", "-1").is_err());
    assert!(
        c.set("hz", "0")
            .unwrap_err()
            .contains("hz: must be between 1 and 500")
    );
    assert_eq!(c.maxclients, 50);
    assert_eq!(c.hz, 10);
    assert_eq!(c.get("MAXCLIENTS").as_deref(), Some("50"));
    assert!(c.set("nope", "1").is_err());
}

#[test]
fn every_key_round_trips_through_get_and_set() {
    let defaults = Config::default();
    for key in KEYS {
        let mut c = Config::default();
        let text = (key.get)(&defaults);
        (key.set)(&mut c, &text).unwrap_or_else(|e| panic!("{}: {e}", key.name));
        assert_eq!(c, defaults, "{} did not round-trip", key.name);
    }
}

#[test]
fn sample_file_parses_back_to_the_defaults() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(sample_toml().as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let c = load_from(args(&["--config", &path]), no_env()).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn committed_example_file_is_current() {
    let committed = include_str!("../../ringkv.example.toml");
    assert_eq!(
        committed,
        sample_toml(),
        "ringkv.example.toml is stale: regenerate it with `ringkv-server --print-sample-config`"
    );
}

#[test]
fn readme_documents_every_key() {
    let readme = include_str!("../../README.md");
    for key in KEYS {
        assert!(
            readme.contains(&format!("| `{}` |", key.name)),
            "README.md's configuration table lacks `{}`",
            key.name
        );
    }
}

#[test]
fn wal_missing_ok_defaults_to_no_and_is_not_runtime_settable() {
    let c = Config::default();
    assert!(!c.wal_missing_ok);
    assert_eq!(c.get("wal-missing-ok").as_deref(), Some("no"));
    assert!(!find_key("wal-missing-ok").unwrap().settable());
    let c = load_from(args(&["--wal-missing-ok", "yes"]), no_env()).unwrap();
    assert!(c.wal_missing_ok);
    let env = vec![("RINGKV_WAL_MISSING_OK".to_string(), "yes".to_string())];
    assert!(load_from(args(&[]), env).unwrap().wal_missing_ok);
    let err = load_from(args(&["--wal-missing-ok", "maybe"]), no_env()).unwrap_err();
    assert!(
        err.to_string()
            .contains("wal-missing-ok: expected yes|no, got \"maybe\""),
        "{err}"
    );
}

#[test]
fn enable_debug_command_defaults_to_no_and_is_not_runtime_settable() {
    let c = Config::default();
    assert_eq!(c.enable_debug_command, ProtectedAction::No);
    assert_eq!(c.get("enable-debug-command").as_deref(), Some("no"));
    assert!(!find_key("enable-debug-command").unwrap().settable());
    let c = load_from(args(&["--enable-debug-command", "local"]), no_env()).unwrap();
    assert_eq!(c.enable_debug_command, ProtectedAction::Local);
    let err = load_from(args(&["--enable-debug-command", "maybe"]), no_env()).unwrap_err();
    assert!(
        err.to_string()
            .contains("enable-debug-command: expected no|yes|local, got \"maybe\""),
        "{err}"
    );
}

#[test]
fn secrets_are_masked_when_shown_but_kept_for_rewrite() {
    let c = Config {
        requirepass: "pw".into(),
        cluster_secret: "s3".into(),
        ..Config::default()
    };
    let secret_keys: Vec<&str> = KEYS.iter().filter(|k| k.secret).map(|k| k.name).collect();
    assert_eq!(secret_keys, ["requirepass", "cluster-secret"]);
    for name in secret_keys {
        let key = find_key(name).unwrap();
        assert_eq!(key.shown(&c), SECRET_MASK, "{name}");
        assert_eq!(key.shown(&Config::default()), "", "{name} unset");
    }
    assert_eq!(find_key("port").unwrap().shown(&c), "6379");
    // CONFIG REWRITE writes the real values.
    let toml = render_toml(&c);
    assert!(toml.contains("requirepass = \"pw\""), "{toml}");
    assert!(toml.contains("cluster-secret = \"s3\""), "{toml}");
}

#[test]
fn metrics_stay_on_loopback_unless_metrics_bind_says_otherwise() {
    let mut c = Config::default();
    assert_eq!(c.metrics_ip().to_string(), "127.0.0.1");
    c.bind = vec!["127.0.0.21".into()];
    assert_eq!(c.metrics_ip().to_string(), "127.0.0.21");
    c.bind = vec!["0.0.0.0".into()];
    assert_eq!(
        c.metrics_ip().to_string(),
        "127.0.0.1",
        "a public bind keeps metrics local"
    );
    c.bind = vec!["10.1.2.3".into()];
    assert_eq!(c.metrics_ip().to_string(), "127.0.0.1");
    c.metrics_bind = "0.0.0.0".into();
    assert_eq!(c.metrics_ip().to_string(), "0.0.0.0");
    assert!(c.validate().is_ok());
    c.metrics_bind = "not-an-ip".into();
    assert!(
        c.validate()
            .is_err_and(|p| p.iter().any(|m| m.starts_with("metrics-bind")))
    );
}

/// The keys `CONFIG SET` accepted before the hook moved into the table, each
/// with what applies its change. A new live key fails here until its hook
/// decision is written down (and the macro refuses a live row without one).
#[test]
fn live_keys_are_those_config_set_accepts_each_with_its_hook() {
    use LiveHook::*;
    let live: Vec<(&str, LiveHook)> = KEYS
        .iter()
        .filter_map(|k| k.live.map(|hook| (k.name, hook)))
        .collect();
    assert_eq!(
        live,
        [
            ("protected-mode", ReadWhereUsed),
            ("requirepass", ReadWhereUsed),
            ("maxclients", MaxClients),
            ("timeout", ReadWhereUsed),
            ("proto-max-bulk-len", ReadWhereUsed),
            ("proto-max-multibulk-len", ReadWhereUsed),
            ("client-query-buffer-limit", ReadWhereUsed),
            ("client-output-buffer-limit", ReadWhereUsed),
            ("loglevel", LogLevel),
            ("hz", ReadWhereUsed),
            ("appendfsync", FsyncPolicy),
            ("compaction-strategy", CompactionStrategy),
            ("compaction-rate-limit", CompactionRateLimit),
            ("read-consistency", ReadWhereUsed),
            ("write-consistency", ReadWhereUsed),
            ("replica-timeout-ms", CoordinatorSettings),
            ("phi-threshold", PhiThreshold),
            ("read-repair", CoordinatorSettings),
            ("speculative-read-ms", CoordinatorSettings),
            ("hint-max-age-ms", Hints),
            ("hint-replay-rate", Hints),
            ("anti-entropy-interval-ms", AntiEntropyInterval),
        ]
    );
    for key in KEYS {
        assert_eq!(key.settable(), key.live.is_some(), "{}", key.name);
    }
}

#[test]
fn ranges_in_the_table_name_the_key_the_range_and_the_value() {
    let c = Config::default();
    for (key, value, problem) in [
        ("hz", "501", "hz: must be between 1 and 500, got 501"),
        ("port", "0", "port: must be between 1 and 65535, got 0"),
        ("maxclients", "0", "maxclients: must be at least 1, got 0"),
        (
            "memtable-size",
            "1k",
            "memtable-size: must be at least 64kb, got 1000 bytes",
        ),
        (
            "block-size",
            "2mb",
            "block-size: must be between 256 bytes and 1mb, got 2mb",
        ),
        (
            "bloom-bits-per-key",
            "33",
            "bloom-bits-per-key: must be between 0 and 32, got 33",
        ),
        (
            "phi-threshold",
            "0",
            "phi-threshold: must be greater than 0, got 0",
        ),
        (
            "read-consistency",
            "any",
            "read-consistency: ANY applies to writes only",
        ),
        ("dir", "", "dir: must not be empty"),
    ] {
        let mut next = c.clone();
        let err = next.set(key, value).unwrap_err();
        assert_eq!(err, problem, "{key} {value}");
        assert_eq!(next, c, "{key}: a refused value changes nothing");
    }
    let err = load_from(args(&["--seeds", "a:1,b,c:0"]), no_env()).unwrap_err();
    let Error::Invalid(problems) = err else {
        panic!("expected Invalid, got {err}")
    };
    assert_eq!(
        problems,
        [
            "seeds: expected host:port, got \"b\"",
            "seeds: expected host:port, got \"c:0\""
        ]
    );
}

#[test]
fn an_output_limit_update_changes_only_the_classes_it_names() {
    let current = "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60";
    assert_eq!(merge_output_limits(current, ""), Ok(current.to_string()));
    assert_eq!(
        merge_output_limits(current, "pubsub 1mb 1mb 10"),
        Ok("normal 0 0 0 replica 256mb 64mb 60 pubsub 1mb 1mb 10".to_string())
    );
    // `slave` is `replica`; the last group of a class wins.
    assert_eq!(
        merge_output_limits(current, "SLAVE 1 2 3 normal 4 5 6 normal 7 8 9"),
        Ok("normal 7 8 9 replica 1 2 3 pubsub 32mb 8mb 60".to_string())
    );
    assert_eq!(
        merge_output_limits("pubsub 1 1 1", "normal 2 2 2"),
        Ok("pubsub 1 1 1 normal 2 2 2".to_string())
    );
    assert!(merge_output_limits(current, "pubsub 1mb").is_err());
    assert!(merge_output_limits(current, "admin 1 1 1").is_err());
}
