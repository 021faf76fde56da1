//! The stock Redis tools against ringkv: redis-benchmark and redis-cli
//! (including --pipe mass insertion and --scan).

mod common;

use std::time::Duration;

use common::*;

fn benchmark(s: &TestServer, extra: &[&str]) -> String {
    require_tool("redis-benchmark");
    let port = s.port.to_string();
    let mut args = vec!["-h", "127.0.0.1", "-p", port.as_str(), "-q"];
    args.extend_from_slice(extra);
    let (out, errs, ok) = run_tool("redis-benchmark", &args, None, Duration::from_secs(300));
    assert!(ok, "redis-benchmark failed: {out}\n{errs}");
    let all = format!("{out}{errs}");
    assert!(
        !all.contains("ERR") && !all.to_lowercase().contains("error"),
        "redis-benchmark saw errors:\n{all}"
    );
    assert!(!all.contains("WARNING"), "redis-benchmark warned:\n{all}");
    all
}

#[test]
fn redis_benchmark_collection_tests_run_without_errors() {
    let s = TestServer::start();
    for pipeline in ["1", "16"] {
        let out = benchmark(
            &s,
            &[
                "-t",
                "hset,sadd,spop,zadd,zpopmin",
                "-n",
                "2000",
                "-c",
                "20",
                "-P",
                pipeline,
                "-r",
                "100",
            ],
        );
        for test in ["HSET", "SADD", "SPOP", "ZADD", "ZPOPMIN"] {
            assert!(
                out.contains(&format!("{test}: ")),
                "missing {test} in:\n{out}"
            );
        }
    }
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let s = TestServer::start();
    for pipeline in ["1", "16"] {
        let out = benchmark(
            &s,
            &[
                "-t",
                "ping,set,get,incr,mset",
                "-n",
                "20000",
                "-c",
                "50",
                "-P",
                pipeline,
                "-r",
                "10000",
            ],
        );
        for test in [
            "PING_INLINE",
            "PING_MBULK",
            "SET",
            "GET",
            "INCR",
            "MSET (10 keys)",
        ] {
            assert!(
                out.contains(&format!("{test}: ")),
                "missing {test} in:\n{out}"
            );
        }
    }
}

/// Every test redis-benchmark runs when given no `-t`, in its order.
const DEFAULT_TESTS: &[&str] = &[
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// redis-benchmark's whole default test list, with and without pipelining,
/// on one node and through a 3-node cluster: no error reply. Its lists
/// grow to the request count and a list is one record today, so the count
/// stays small (`docs/performance.md`).
#[test]
fn redis_benchmark_default_run_completes_without_errors() {
    let single = TestServer::start();
    let cluster = common::cluster::Cluster::start(3);
    for (s, n) in [(&single, "500"), (&cluster.nodes[0], "200")] {
        for pipeline in ["1", "16"] {
            let out = benchmark(s, &["-n", n, "-c", "20", "-P", pipeline]);
            for test in DEFAULT_TESTS {
                assert!(
                    out.contains(&format!("{test}: ")),
                    "missing {test} in:\n{out}"
                );
            }
        }
    }
}

#[test]
fn redis_cli_pipe_and_scan() {
    require_tool("redis-cli");
    let s = TestServer::start();
    let port = s.port.to_string();
    let mut input = Vec::new();
    for i in 0..20_000 {
        input.extend_from_slice(&encode_cmd(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
    }
    // Three times: a connection that marks its socket drained must still
    // wake for input the poller reported meanwhile (a mark taken after the
    // read lost that report, and --pipe stalled in most runs).
    for _ in 0..3 {
        let (out, errs, ok) = run_tool(
            "redis-cli",
            &["-p", &port, "--pipe"],
            Some(&input),
            Duration::from_secs(120),
        );
        assert!(ok, "redis-cli --pipe failed: {out}{errs}");
        assert!(out.contains("errors: 0, replies: 20000"), "{out}{errs}");
    }
    let (out, errs, ok) = run_tool(
        "redis-cli",
        &["-p", &port, "--scan", "--pattern", "key:1*"],
        None,
        Duration::from_secs(60),
    );
    assert!(ok, "{errs}");
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    got.dedup();
    let mut want: Vec<String> = (0..20_000)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1"))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    let (out, _, ok) = run_tool(
        "redis-cli",
        &["-p", &port, "dbsize"],
        None,
        Duration::from_secs(30),
    );
    assert!(ok);
    assert_eq!(out.trim(), "20000");
}
