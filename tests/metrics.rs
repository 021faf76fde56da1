//! The Prometheus endpoint returns valid text exposition with the
//! per-command histograms and the engine figures.

mod common;

use std::collections::BTreeMap;

use common::*;
use redis::Value;

/// Parses Prometheus text format strictly enough to catch malformed output:
/// every sample line is `name{labels} value` with a float value, every family
/// has TYPE before samples, and histogram buckets are cumulative.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().expect("TYPE name");
            let kind = parts.next().expect("TYPE kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let name = series.split('{').next().unwrap();
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "bad labels: {line}"
                );
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(v.starts_with('"'), "{line}");
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            typed.contains(family) || typed.contains(name),
            "sample before TYPE: {line}"
        );
        samples.insert(series.to_string(), v);
    }
    samples
}

#[test]
fn metrics_endpoint_serves_valid_prometheus_text() {
    let s = TestServer::start();
    let c = &mut s.conn();
    for i in 0..25 {
        ok(c, &["SET", &format!("k{i}"), "v"]);
    }
    ok(c, &["GET", "k1"]);
    ok(c, &["GET", "missing"]);
    let _ = err(c, &["INCR", "k1"]);
    let _ = err(c, &["NOSUCHCMD"]);
    let m = parse(&s.metrics());
    assert_eq!(
        m.get("ringkv_command_duration_seconds_count{cmd=\"set\"}"),
        Some(&25.0)
    );
    assert_eq!(
        m.get("ringkv_command_duration_seconds_count{cmd=\"get\"}"),
        Some(&2.0)
    );
    assert_eq!(
        m.get("ringkv_command_duration_seconds_bucket{cmd=\"set\",le=\"+Inf\"}"),
        Some(&25.0)
    );
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| k.starts_with("ringkv_command_duration_seconds_bucket{cmd=\"set\""))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 10, "per-command histogram buckets");
    assert_eq!(
        m.get("ringkv_command_failed_total{cmd=\"incr\"}"),
        Some(&1.0)
    );
    assert_eq!(m.get("ringkv_keyspace_hits_total"), Some(&1.0));
    assert_eq!(m.get("ringkv_keyspace_misses_total"), Some(&1.0));
    assert!(
        m.get("ringkv_errors_total{kind=\"ERR\"}")
            .is_some_and(|v| *v >= 2.0)
    );
    assert!(m.get("ringkv_connected_clients").is_some_and(|v| *v >= 1.0));
    assert!(
        m.get("ringkv_net_input_bytes_total")
            .is_some_and(|v| *v > 0.0)
    );
    for engine in [
        "ringkv_engine_memtable_bytes",
        "ringkv_engine_pending_compaction_bytes",
        "ringkv_engine_write_stall_microseconds_total",
        "ringkv_engine_block_cache_hits_total",
        "ringkv_engine_row_cache_hits_total",
        "ringkv_engine_row_cache_bytes",
        "ringkv_engine_bloom_useful_total",
    ] {
        assert!(m.contains_key(engine), "missing {engine}");
    }
}

/// SLOWLOG as Redis keeps it: entries above `slowlog-log-slower-than`,
/// newest first, at most `slowlog-max-len`, arguments cut as Redis cuts them.
#[test]
fn slowlog_keeps_slow_commands_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(
        ok(c, &["SLOWLOG", "LEN"]),
        int(0),
        "nothing takes 10 ms here"
    );
    ok(c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(c, &["SLOWLOG", "RESET"]);
    ok(c, &["CLIENT", "SETNAME", "tester"]);
    let long = "x".repeat(130);
    ok(c, &["SET", "k", &long]);
    let Value::Array(entries) = ok(c, &["SLOWLOG", "GET", "1"]) else {
        panic!("an array of entries");
    };
    assert_eq!(entries.len(), 1);
    let Value::Array(entry) = &entries[0] else {
        panic!("an entry is an array");
    };
    assert_eq!(entry.len(), 6, "id, time, duration, args, address, name");
    let cut = format!("{}... (2 more bytes)", "x".repeat(128));
    assert_eq!(
        entry[3],
        bulks(&[Some("SET"), Some("k"), Some(cut.as_str())])
    );
    assert_eq!(entry[5], bulk("tester"));
    // AUTH and HELLO may carry a password: never logged.
    let _ = query(c, &["AUTH", "secret"]);
    let Value::Array(newest) = ok(c, &["SLOWLOG", "GET", "1"]) else {
        panic!("an array");
    };
    assert!(!format!("{newest:?}").contains("secret"));
    assert_eq!(
        err(c, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
    ok(c, &["CONFIG", "SET", "slowlog-max-len", "2"]);
    assert_eq!(ok(c, &["SLOWLOG", "LEN"]), int(2));
    let Value::Array(all) = ok(c, &["SLOWLOG", "GET", "-1"]) else {
        panic!("an array");
    };
    assert_eq!(all.len(), 2);
    ok(c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    ok(c, &["SLOWLOG", "RESET"]);
    ok(c, &["SET", "k", "v"]);
    assert_eq!(ok(c, &["SLOWLOG", "LEN"]), int(0), "-1 logs nothing");
    assert_eq!(
        ok(c, &["CONFIG", "GET", "slowlog-*"]),
        bulks(&[
            Some("slowlog-log-slower-than"),
            Some("-1"),
            Some("slowlog-max-len"),
            Some("2")
        ])
    );
}

/// DEBUG SLEEP sleeps after the command has let other clients in, yet its
/// time is the command's, in SLOWLOG and command statistics, alone or in
/// EXEC (which itself is not logged), as in Redis.
#[test]
fn slowlog_counts_the_time_debug_sleep_slept() {
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let c = &mut s.conn();
    ok(c, &["CONFIG", "SET", "slowlog-log-slower-than", "100000"]);
    ok(c, &["DEBUG", "SLEEP", "0.2"]);
    ok(c, &["MULTI"]);
    ok(c, &["DEBUG", "SLEEP", "0.15"]);
    ok(c, &["EXEC"]);
    let Value::Array(entries) = ok(c, &["SLOWLOG", "GET", "-1"]) else {
        panic!("an array of entries");
    };
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (entry, secs, min_micros) in [
        (&entries[0], "0.15", 150_000),
        (&entries[1], "0.2", 200_000),
    ] {
        let Value::Array(entry) = entry else {
            panic!("an entry is an array");
        };
        let Value::Int(micros) = entry[2] else {
            panic!("a duration");
        };
        assert!(micros >= min_micros, "{entry:?}");
        assert_eq!(entry[3], bulks(&[Some("DEBUG"), Some("SLEEP"), Some(secs)]));
    }
}

/// LATENCY: off by default; with a threshold, a command at least that slow
/// is a sample of `command`, and LATEST, HISTORY, RESET and DOCTOR report
/// it as Redis does.
#[test]
fn latency_monitor_samples_commands_over_its_threshold() {
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let c = &mut s.conn();
    ok(c, &["DEBUG", "SLEEP", "0.05"]);
    assert_eq!(ok(c, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(c).unwrap();
    assert!(
        doctor.contains("Latency monitoring is disabled"),
        "{doctor}"
    );
    // A threshold well above what a plain command takes on a loaded
    // machine, so only the sleep is sampled.
    ok(c, &["CONFIG", "SET", "latency-monitor-threshold", "200"]);
    ok(c, &["DEBUG", "SLEEP", "0.3"]);
    let Value::Array(events) = ok(c, &["LATENCY", "LATEST"]) else {
        panic!("an array of events");
    };
    let event = events
        .iter()
        .find_map(|e| match e {
            Value::Array(e) if e.first() == Some(&bulk("command")) => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a command event: {events:?}"));
    let (Value::Int(latest), Value::Int(max)) = (&event[2], &event[3]) else {
        panic!("latencies: {event:?}");
    };
    assert!(*latest >= 300 && max >= latest, "{event:?}");
    let Value::Array(history) = ok(c, &["LATENCY", "HISTORY", "command"]) else {
        panic!("an array of samples");
    };
    assert!(!history.is_empty());
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(c).unwrap();
    assert!(
        doctor.contains("1. command: ") && doctor.contains("latency spikes"),
        "{doctor}"
    );
    assert_eq!(ok(c, &["LATENCY", "RESET", "nosuch"]), int(0));
    assert_eq!(ok(c, &["LATENCY", "RESET", "command"]), int(1));
    assert_eq!(
        ok(c, &["LATENCY", "HISTORY", "command"]),
        Value::Array(vec![])
    );
    // HISTOGRAM: calls since CONFIG RESETSTAT by latency, per command; a
    // container's name stands for its subcommands; unknown names skipped.
    ok(c, &["CONFIG", "RESETSTAT"]);
    ok(c, &["SET", "a", "b"]);
    ok(c, &["SET", "c", "d"]);
    ok(c, &["CLIENT", "ID"]);
    let Value::Array(h) = ok(c, &["LATENCY", "HISTOGRAM", "nosuch", "set", "client"]) else {
        panic!("a map");
    };
    assert_eq!(h.len(), 4, "set and client|id: {h:?}");
    assert_eq!((&h[0], &h[2]), (&bulk("set"), &bulk("client|id")));
    let Value::Array(set) = &h[1] else {
        panic!("set's figures: {h:?}");
    };
    assert_eq!(
        (&set[0], &set[1], &set[2]),
        (&bulk("calls"), &int(2), &bulk("histogram_usec"))
    );
    let Value::Array(buckets) = &set[3] else {
        panic!("buckets: {set:?}");
    };
    assert_eq!(buckets.last(), Some(&int(2)), "cumulative: {buckets:?}");
    assert_eq!(
        ok(c, &["LATENCY", "HISTOGRAM", "nosuch"]),
        Value::Array(vec![])
    );
    assert_eq!(
        err(c, &["CONFIG", "SET", "latency-monitor-threshold", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'latency-monitor-threshold') - argument must be between 0 and 9223372036854775807 inclusive"
    );
}

/// INFO latencystats: each command's percentiles since CONFIG RESETSTAT,
/// the ones `latency-tracking-info-percentiles` names, nothing while
/// `latency-tracking` is off; a sleep shows at its length.
#[test]
fn latencystats_report_each_commands_percentiles_as_redis_does() {
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let c = &mut s.conn();
    let stats = |c: &mut redis::Connection| -> String {
        redis::cmd("INFO").arg("latencystats").query(c).unwrap()
    };
    let line_of = |text: &str, cmd: &str| -> Option<String> {
        let prefix = format!("latency_percentiles_usec_{cmd}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    };
    assert_eq!(
        ok(c, &["CONFIG", "GET", "latency-tracking*"]),
        Value::Array(vec![
            bulk("latency-tracking"),
            bulk("yes"),
            bulk("latency-tracking-info-percentiles"),
            bulk("50 99 99.9"),
        ])
    );
    ok(c, &["CONFIG", "RESETSTAT"]);
    ok(c, &["SET", "a", "b"]);
    ok(c, &["CLIENT", "ID"]);
    let text = stats(c);
    assert!(text.starts_with("# Latencystats\r\n"), "{text}");
    let set = line_of(&text, "set").expect("set's line");
    let fields: Vec<&str> = set.split(',').collect();
    assert_eq!(fields.len(), 3, "{set}");
    for (field, p) in fields.iter().zip(["p50=", "p99=", "p99.9="]) {
        let value = field.strip_prefix(p).unwrap_or_else(|| panic!("{set}"));
        assert!(value.parse::<f64>().is_ok(), "{set}");
    }
    assert!(line_of(&text, "client|id").is_some(), "{text}");
    assert!(line_of(&text, "get").is_none(), "{text}");

    ok(
        c,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 50.0 100.0",
        ],
    );
    assert_eq!(
        ok(c, &["CONFIG", "GET", "latency-tracking-info-percentiles"]),
        Value::Array(vec![
            bulk("latency-tracking-info-percentiles"),
            bulk("0 50 100")
        ])
    );
    let set = line_of(&stats(c), "set").expect("set's line");
    assert!(
        set.starts_with("p0=") && set.contains(",p50=") && set.contains(",p100="),
        "{set}"
    );
    let refused = redis::cmd("CONFIG")
        .arg("SET")
        .arg("latency-tracking-info-percentiles")
        .arg("10.0 50.0 101.0")
        .query::<()>(c)
        .expect_err("a percentile over 100");
    assert!(
        refused
            .to_string()
            .contains("Invalid latency-tracking-info-percentiles"),
        "{refused}"
    );

    // A 50 ms sleep's p50 is at least 50,000 µs (and at most a bucket,
    // 1/16, above the time it took).
    ok(
        c,
        &["CONFIG", "SET", "latency-tracking-info-percentiles", "50"],
    );
    ok(c, &["DEBUG", "SLEEP", "0.05"]);
    let debug = line_of(&stats(c), "debug").expect("debug's line");
    let p50: f64 = debug
        .strip_prefix("p50=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{debug}"));
    assert!(p50 >= 50_000.0, "{debug}");

    // Off: nothing counted; a reset forgets what was.
    ok(c, &["CONFIG", "SET", "latency-tracking", "no"]);
    ok(c, &["CONFIG", "RESETSTAT"]);
    ok(c, &["SET", "a", "b"]);
    assert!(line_of(&stats(c), "set").is_none());
    ok(c, &["CONFIG", "SET", "latency-tracking", "yes"]);
    ok(c, &["SET", "a", "b"]);
    assert!(line_of(&stats(c), "set").is_some());
    // In INFO all, not in the default INFO.
    let all: String = redis::cmd("INFO").arg("all").query(c).unwrap();
    assert!(all.contains("# Latencystats"));
    let default: String = redis::cmd("INFO").query(c).unwrap();
    assert!(!default.contains("# Latencystats"));
}

/// A figure of INFO's `# Engine` section.
fn engine_figure(con: &mut redis::Connection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("engine").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn hot_reads_of_flushed_keys_are_served_by_the_row_cache_and_read_right() {
    let server = TestServer::start_with(&["--memtable-size", "1mb"]);
    let mut con = server.conn();
    let value = |i: u32, round: u32| format!("{i}-{round}-{}", "v".repeat(300));
    // About 1.2 MB a round: every round flushes.
    for round in 0..3u32 {
        for i in 0..4000u32 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(value(i, round))
                .arg("EX")
                .arg(1000 + i)
                .query(&mut con)
                .unwrap();
        }
        let _: () = redis::cmd("HSET")
            .arg("h")
            .arg(format!("f{round}"))
            .arg(value(round, round))
            .query(&mut con)
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while engine_figure(&mut con, "flushes") < 2 {
        assert!(std::time::Instant::now() < deadline, "no flush");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for pass in 0..3 {
        for i in (0..4000u32).step_by(7) {
            let got: Option<String> = redis::cmd("GET")
                .arg(format!("k{i}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(got, Some(value(i, 2)), "k{i} pass {pass}");
        }
        for round in 0..3u32 {
            let got: Option<String> = redis::cmd("HGET")
                .arg("h")
                .arg(format!("f{round}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(got, Some(value(round, round)), "f{round} pass {pass}");
        }
    }
    assert!(engine_figure(&mut con, "row_cache_hits") > 0);
    assert!(engine_figure(&mut con, "row_cache_bytes") > 0);
    // A row keeps the value's expiry, and a newer write or a delete wins
    // over it.
    let ttl: i64 = redis::cmd("TTL").arg("k700").query(&mut con).unwrap();
    assert!((1600..=1700).contains(&ttl), "{ttl}");
    let _: () = redis::cmd("SET")
        .arg("k700")
        .arg("new")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("DEL").arg("k7").query(&mut con).unwrap();
    for _ in 0..3 {
        let got: Option<String> = redis::cmd("GET").arg("k700").query(&mut con).unwrap();
        assert_eq!(got.as_deref(), Some("new"));
        let got: Option<String> = redis::cmd("GET").arg("k7").query(&mut con).unwrap();
        assert_eq!(got, None);
    }
}
