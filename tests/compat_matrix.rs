//! The client compatibility matrix: one scenario — connect, AUTH against
//! `requirepass`, SELECT, strings, expiry, counters, pipelines, MULTI/EXEC
//! with a WATCH conflict, SCAN over 10,000 keys, RESP3 through HELLO 3, and
//! error handling — run with four real clients, each asserting the exact
//! replies Redis 7.0 gives:
//!
//! - the `redis` crate (this file, [`redis_crate_scenario`]),
//! - redis-py (`tests/clients/python/scenario.py`, pinned in its
//!   `requirements.txt`),
//! - ioredis (`tests/clients/node/scenario.js`, pinned in `package.json` and
//!   `package-lock.json`),
//! - redis-cli, including `--pipe` mass insertion and `--scan`.
//!
//! `.ci/run` installs the Python and Node packages, so in CI (`CI` set)
//! a missing client fails its test; locally it is skipped with a loud
//! message saying how to install it.
//!
//! Every scenario also passes against a real redis-server: start one with
//! `redis-server --port N --save "" --requirepass compat-secret` and set
//! `RINGKV_COMPAT_REFERENCE_PORT=N` to point the matrix at it instead of a
//! ringkv-server (it runs FLUSHALL there).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use redis::Value;

const PASSWORD: &str = "compat-secret";
/// Upper bound for one client's whole scenario.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

/// The server a scenario runs against.
struct Target {
    port: u16,
    _server: Option<TestServer>,
}

fn target() -> Target {
    if let Some(port) = std::env::var("RINGKV_COMPAT_REFERENCE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        return Target {
            port,
            _server: None,
        };
    }
    let server = TestServer::start_with(&["--requirepass", PASSWORD]);
    Target {
        port: server.port,
        _server: Some(server),
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// In CI a missing client is a failure; locally the test is skipped loudly.
fn unavailable(what: &str, how: &str) {
    let message = format!("{what} is not available: {how} (.ci/run does this)");
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
}

fn run_scenario(program: &str, args: &[&str], cwd: &Path) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let deadline = std::time::Instant::now() + SCENARIO_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("scenario output");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    print!("{out}");
    assert!(
        status.is_some_and(|s| s.success()),
        "{program} scenario failed ({status:?}):\n{out}{err}"
    );
}

#[test]
fn redis_py_scenario() {
    let dir = clients_dir().join("python");
    let venv = dir.join(".venv/bin/python");
    let python = if venv.exists() {
        venv.to_string_lossy().into_owned()
    } else if Command::new("python3")
        .args(["-c", "import redis"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        "python3".to_string()
    } else {
        return unavailable(
            "redis-py",
            "python3 -m venv tests/clients/python/.venv && tests/clients/python/.venv/bin/pip install -r tests/clients/python/requirements.txt",
        );
    };
    let t = target();
    let port = t.port.to_string();
    run_scenario(
        &python,
        &["scenario.py", "127.0.0.1", &port, PASSWORD],
        &dir,
    );
}

#[test]
fn ioredis_scenario() {
    let dir = clients_dir().join("node");
    if !have_tool("node") || !dir.join("node_modules/ioredis").exists() {
        return unavailable("ioredis", "cd tests/clients/node && npm ci");
    }
    let t = target();
    let port = t.port.to_string();
    run_scenario("node", &["scenario.js", "127.0.0.1", &port, PASSWORD], &dir);
}

// ---------------------------------------------------------------- redis crate

fn connect(port: u16, path: &str) -> redis::Connection {
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/{path}");
    let c = redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    c
}

fn simple(s: &str) -> Value {
    Value::SimpleString(s.to_string())
}

#[test]
fn redis_crate_scenario() {
    let t = target();
    let port = t.port;
    // AUTH: refused without a password and with a wrong one.
    let mut anon = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .expect("connect without a password");
    assert_eq!(
        err(&mut anon, &["GET", "k"]),
        "NOAUTH Authentication required."
    );
    let wrong = redis::Client::open(format!("redis://:wrong@127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .err()
        .expect("a wrong password is refused");
    // The crate turns the server's WRONGPASS into its own error kind.
    assert_eq!(
        wrong.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{wrong:?}"
    );
    let c = &mut connect(port, "");
    assert_eq!(ok(c, &["PING"]), simple("PONG"));
    assert_eq!(ok(c, &["AUTH", PASSWORD]), Value::Okay);
    assert_eq!(ok(c, &["FLUSHALL"]), Value::Okay);
    // SELECT: databases are separate keyspaces.
    let c5 = &mut connect(port, "5");
    assert_eq!(ok(c5, &["SET", "where", "five"]), Value::Okay);
    assert_eq!(ok(c, &["GET", "where"]), Value::Nil);
    assert_eq!(ok(c5, &["GET", "where"]), bulk("five"));
    assert_eq!(err(c, &["SELECT", "16"]), "ERR DB index is out of range");
    assert_eq!(ok(c5, &["DBSIZE"]), int(1));
    strings(c);
    expiry(c);
    counters(c);
    hyperloglog(c);
    collections(c);
    lists_and_pubsub(c, port);
    pipelines(c);
    transactions(c, &mut connect(port, ""), port);
    scan(&mut connect(port, "7"));
    resp3(port);
    // Errors leave the connection usable.
    assert_eq!(
        err(c, &["NOSUCHCMD", "a", "b"]),
        "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        err(c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(err(c, &["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
    assert_eq!(
        err(c, &["SETBIT", "bits", "4294967296", "1"]),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(ok(c, &["PING"]), simple("PONG"));
}

fn strings(c: &mut redis::Connection) {
    assert_eq!(ok(c, &["SET", "s", "Hello"]), Value::Okay);
    assert_eq!(ok(c, &["APPEND", "s", " World"]), int(11));
    assert_eq!(ok(c, &["GETRANGE", "s", "-5", "-1"]), bulk("World"));
    assert_eq!(ok(c, &["SETRANGE", "s", "6", "Redis"]), int(11));
    assert_eq!(ok(c, &["SET", "s", "x", "NX"]), Value::Nil);
    assert_eq!(ok(c, &["SET", "s", "new", "GET"]), bulk("Hello Redis"));
    assert_eq!(ok(c, &["MSET", "a", "1", "b", "2"]), Value::Okay);
    assert_eq!(
        ok(c, &["MGET", "a", "missing", "b"]),
        bulks(&[Some("1"), None, Some("2")])
    );
    assert_eq!(ok(c, &["GETDEL", "a"]), bulk("1"));
    let binary: Vec<u8> = (0..=255).collect();
    let _: () = redis::cmd("SET").arg("bin").arg(&binary).query(c).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("bin").query(c).unwrap();
    assert_eq!(back, binary);
    assert_eq!(ok(c, &["SETBIT", "bits", "7", "1"]), int(0));
    assert_eq!(ok(c, &["BITPOS", "bits", "1"]), int(7));
    ok(c, &["SET", "foobar", "foobar"]);
    assert_eq!(ok(c, &["BITCOUNT", "foobar", "5", "30", "BIT"]), int(17));
    assert_eq!(ok(c, &["BITOP", "NOT", "inv", "bits"]), int(1));
    ok(c, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(ok(c, &["LCS", "key1", "key2"]), bulk("mytext"));
    let pair = |a: i64, b: i64| Value::Array(vec![int(a), int(b)]);
    assert_eq!(
        ok(
            c,
            &[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN"
            ]
        ),
        Value::Array(vec![
            bulk("matches"),
            Value::Array(vec![Value::Array(vec![pair(4, 7), pair(5, 8), int(4)])]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "foobar"]), bulk("embstr"));
    assert_eq!(ok(c, &["COPY", "s", "s2"]), int(1));
    assert_eq!(ok(c, &["RENAMENX", "s2", "s"]), int(0));
}

fn expiry(c: &mut redis::Connection) {
    assert_eq!(ok(c, &["SET", "e", "v", "EX", "100"]), Value::Okay);
    assert_eq!(ok(c, &["TTL", "e"]), int(100));
    assert_eq!(ok(c, &["EXPIRE", "e", "10", "GT"]), int(0));
    assert_eq!(ok(c, &["EXPIRE", "e", "10", "LT"]), int(1));
    assert_eq!(ok(c, &["PERSIST", "e"]), int(1));
    assert_eq!(ok(c, &["TTL", "e"]), int(-1));
    assert_eq!(ok(c, &["SET", "short", "v", "PX", "150"]), Value::Okay);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ok(c, &["GET", "short"]), Value::Nil);
    assert_eq!(
        err(c, &["SET", "e", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
}

fn counters(c: &mut redis::Connection) {
    assert_eq!(ok(c, &["INCR", "n"]), int(1));
    assert_eq!(ok(c, &["INCRBY", "n", "41"]), int(42));
    assert_eq!(ok(c, &["DECRBY", "n", "50"]), int(-8));
    ok(c, &["SET", "f", "10.5"]);
    assert_eq!(ok(c, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    ok(c, &["SET", "word", "abc"]);
    assert_eq!(
        err(c, &["INCR", "word"]),
        "ERR value is not an integer or out of range"
    );
}

fn hyperloglog(c: &mut redis::Connection) {
    assert_eq!(ok(c, &["PFADD", "hll", "a", "b", "c"]), int(1));
    assert_eq!(ok(c, &["PFADD", "hll", "a"]), int(0));
    assert_eq!(ok(c, &["PFCOUNT", "hll"]), int(3));
    ok(c, &["PFADD", "hll2", "c", "d"]);
    assert_eq!(ok(c, &["PFCOUNT", "hll", "hll2"]), int(4));
    assert_eq!(ok(c, &["PFMERGE", "hll3", "hll", "hll2"]), Value::Okay);
    assert_eq!(ok(c, &["PFCOUNT", "hll3"]), int(4));
    assert_eq!(
        err(c, &["PFADD", "word", "x"]),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
}

fn collections(c: &mut redis::Connection) {
    assert_eq!(
        ok(c, &["HSET", "user:1", "name", "ada", "age", "36"]),
        int(2)
    );
    assert_eq!(ok(c, &["HGET", "user:1", "name"]), bulk("ada"));
    let all: std::collections::HashMap<String, String> =
        redis::cmd("HGETALL").arg("user:1").query(c).unwrap();
    assert_eq!(all.get("age").map(String::as_str), Some("36"));
    assert_eq!(ok(c, &["HINCRBY", "user:1", "age", "1"]), int(37));
    assert_eq!(ok(c, &["HDEL", "user:1", "name"]), int(1));
    assert_eq!(ok(c, &["HLEN", "user:1"]), int(1));
    assert_eq!(ok(c, &["SADD", "tags", "a", "b", "c"]), int(3));
    assert_eq!(ok(c, &["SISMEMBER", "tags", "a"]), int(1));
    let mut members: Vec<String> = redis::cmd("SMEMBERS").arg("tags").query(c).unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    assert_eq!(ok(c, &["SREM", "tags", "a"]), int(1));
    assert_eq!(ok(c, &["ZADD", "board", "10", "ann", "20", "bob"]), int(2));
    assert_eq!(ok(c, &["ZINCRBY", "board", "15", "ann"]), bulk("25"));
    let ranked: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("board")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(c)
        .unwrap();
    assert_eq!(
        ranked,
        [("bob".to_string(), 20.0), ("ann".to_string(), 25.0)]
    );
    assert_eq!(ok(c, &["ZREVRANK", "board", "ann"]), int(0));
    assert_eq!(
        err(c, &["HGET", "word", "x"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

fn lists_and_pubsub(c: &mut redis::Connection, port: u16) {
    assert_eq!(ok(c, &["RPUSH", "queue", "a", "b"]), int(2));
    assert_eq!(ok(c, &["LPUSH", "queue", "z"]), int(3));
    let all: Vec<String> = redis::cmd("LRANGE")
        .arg("queue")
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap();
    assert_eq!(all, ["z", "a", "b"]);
    assert_eq!(
        ok(c, &["BLPOP", "queue", "1"]),
        Value::Array(vec![bulk("queue"), bulk("z")])
    );
    assert_eq!(ok(c, &["BRPOP", "empty", "0.05"]), Value::Nil);
    let mut sub_con = connect(port, "");
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").unwrap();
    assert_eq!(ok(c, &["PUBLISH", "news", "hello"]), int(1));
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
}

fn pipelines(c: &mut redis::Connection) {
    let mut p = redis::pipe();
    for _ in 0..1000 {
        p.cmd("INCR").arg("pipe:n");
    }
    let replies: Vec<i64> = p.query(c).unwrap();
    assert_eq!(replies, (1..=1000).collect::<Vec<_>>());
}

fn transactions(c: &mut redis::Connection, other: &mut redis::Connection, port: u16) {
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx")
        .arg("1")
        .cmd("INCR")
        .arg("tx")
        .query(c)
        .unwrap();
    assert_eq!(replies, Value::Array(vec![Value::Okay, int(2)]));
    ok(c, &["SET", "watched", "0"]);
    assert_eq!(ok(c, &["WATCH", "watched"]), Value::Okay);
    ok(other, &["SET", "watched", "changed"]);
    let aborted: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("watched")
        .arg("mine")
        .query(c)
        .unwrap();
    assert_eq!(aborted, Value::Nil, "EXEC after a WATCH conflict");
    assert_eq!(ok(c, &["GET", "watched"]), bulk("changed"));
    // A queued error makes EXEC answer EXECABORT (over a raw socket: the
    // crate's pipeline would reject the arity error itself).
    let mut raw = RawConn::connect(port);
    raw.cmd(&["AUTH", PASSWORD]);
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert!(
        raw.cmd(&["SET", "only-key"])
            .starts_with("-ERR wrong number")
    );
    assert_eq!(raw.cmd(&["SET", "aborted", "1"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(ok(c, &["EXISTS", "aborted"]), int(0));
}

fn scan(c7: &mut redis::Connection) {
    ok(c7, &["FLUSHDB"]);
    let mut expected = BTreeSet::new();
    for batch in 0..10 {
        let mut p = redis::pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            let key = format!("key:{i}");
            p.cmd("SET").arg(&key).arg(i).ignore();
            expected.insert(key);
        }
        p.query::<()>(c7).unwrap();
    }
    assert_eq!(ok(c7, &["DBSIZE"]), int(10_000));
    let all: BTreeSet<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("COUNT")
        .arg(500)
        .clone()
        .iter::<String>(c7)
        .unwrap()
        .collect();
    assert_eq!(all, expected);
    let matching: BTreeSet<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg("key:1*")
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter::<String>(c7)
        .unwrap()
        .collect();
    let want: BTreeSet<String> = expected
        .iter()
        .filter(|k| k.starts_with("key:1"))
        .cloned()
        .collect();
    assert_eq!(matching, want);
    assert_eq!(err(c7, &["SCAN", "x"]), "ERR invalid cursor");
    ok(c7, &["FLUSHDB"]);
}

fn resp3(port: u16) {
    let c = &mut connect(port, "?protocol=resp3");
    let Value::Map(hello) = ok(c, &["HELLO", "3"]) else {
        panic!("HELLO 3 must answer a map");
    };
    assert!(hello.contains(&(bulk("proto"), int(3))));
    assert!(hello.contains(&(bulk("server"), bulk("redis"))));
    assert_eq!(ok(c, &["GET", "missing"]), Value::Nil);
    let pair = |a: i64, b: i64| Value::Array(vec![int(a), int(b)]);
    assert_eq!(
        ok(c, &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"]),
        Value::Map(vec![
            (
                bulk("matches"),
                Value::Array(vec![Value::Array(vec![pair(4, 7), pair(5, 8)])])
            ),
            (bulk("len"), int(6)),
        ])
    );
    assert_eq!(
        ok(c, &["CONFIG", "GET", "databases"]),
        Value::Map(vec![(bulk("databases"), bulk("16"))])
    );
    assert_eq!(ok(c, &["INCRBYFLOAT", "r3f", "1.5"]), bulk("1.5"));
    assert_eq!(
        err(c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
}

// ------------------------------------------------------------------ redis-cli

/// Runs redis-cli against `port` with the password; returns stdout.
fn cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str(), "-a", PASSWORD, "--no-auth-warning"];
    all.extend_from_slice(args);
    let (out, errs, ok) = run_tool("redis-cli", &all, stdin, Duration::from_secs(120));
    assert!(ok, "redis-cli {args:?} failed: {out}{errs}");
    out
}

#[test]
fn redis_cli_scenario() {
    require_tool("redis-cli");
    let t = target();
    let port = t.port;
    let p = port.to_string();
    // AUTH.
    let (out, _, _) = run_tool(
        "redis-cli",
        &["-p", &p, "GET", "k"],
        None,
        Duration::from_secs(30),
    );
    // redis-cli prints an error reply followed by an empty line.
    assert_eq!(out, "NOAUTH Authentication required.\n\n");
    let (_, errs, _) = run_tool(
        "redis-cli",
        &["-p", &p, "-a", "wrong", "--no-auth-warning", "PING"],
        None,
        Duration::from_secs(30),
    );
    assert!(
        errs.contains("AUTH failed: WRONGPASS invalid username-password pair or user is disabled."),
        "{errs}"
    );
    assert_eq!(cli(port, &["FLUSHALL"], None), "OK\n");
    // SELECT, strings, counters, expiry; nil prints as an empty line.
    assert_eq!(
        cli(port, &["-n", "5", "SET", "where", "five"], None),
        "OK\n"
    );
    assert_eq!(cli(port, &["GET", "where"], None), "\n");
    assert_eq!(cli(port, &["-n", "5", "GET", "where"], None), "five\n");
    let session = b"SET s Hello\nAPPEND s \" World\"\nGETRANGE s -5 -1\nMSET a 1 b 2\n\
MGET a missing b\nINCRBYFLOAT f 10.5\nSETBIT bits 7 1\nBITCOUNT bits\nSET e v EX 100\nTTL e\n\
PERSIST e\nTTL e\nLCS s s LEN\nPFADD h x y z\nPFCOUNT h\nHSET hh f v\nHGET hh f\n\
SADD ss m\nSCARD ss\nZADD zz 1.5 m\nZSCORE zz m\n";
    assert_eq!(
        cli(port, &[], Some(session)),
        "OK\n11\nWorld\nOK\n1\n\n2\n10.5\n0\n1\nOK\n100\n1\n-1\n11\n1\n3\n1\nv\n1\n1\n1\n1.5\n"
    );
    assert_eq!(
        cli(port, &["-r", "100", "INCR", "n"], None).lines().last(),
        Some("100")
    );
    // MULTI/EXEC in one session, then a WATCH conflict from a second client.
    assert_eq!(
        cli(port, &[], Some(b"MULTI\nSET tx 1\nINCR tx\nEXEC\n")),
        "OK\nQUEUED\nQUEUED\nOK\n2\n"
    );
    assert_eq!(watch_conflict(port), "OK\nOK\nQUEUED\n\n");
    assert_eq!(cli(port, &["GET", "wk"], None), "changed\n");
    // Errors: the session goes on after each.
    assert_eq!(
        cli(port, &[], Some(b"NOSUCHCMD a\nGET\nINCR s\nPING\n")),
        "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' \n\n\
         ERR wrong number of arguments for 'get' command\n\n\
         ERR value is not an integer or out of range\n\nPONG\n"
    );
    // RESP3.
    let hello = cli(port, &["-3", "HELLO", "3"], None);
    assert!(
        hello.starts_with("server redis\nversion "),
        "HELLO 3 in redis-cli -3:\n{hello}"
    );
    assert!(hello.contains("\nproto 3\n"), "{hello}");
    // Mass insertion and SCAN over 10,000 keys.
    let mut input = Vec::new();
    for i in 0..10_000 {
        input.extend_from_slice(&encode_cmd(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
    }
    let out = cli(port, &["-n", "7", "--pipe"], Some(&input));
    assert!(out.contains("errors: 0, replies: 10000"), "{out}");
    assert_eq!(cli(port, &["-n", "7", "DBSIZE"], None), "10000\n");
    let scanned = cli(port, &["-n", "7", "--scan", "--pattern", "key:1*"], None);
    let got: BTreeSet<&str> = scanned.lines().collect();
    let want: BTreeSet<String> = (0..10_000)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1"))
        .collect();
    assert_eq!(got, want.iter().map(String::as_str).collect());
    assert_eq!(cli(port, &["-n", "7", "FLUSHDB"], None), "OK\n");
}

/// One redis-cli session WATCHes `wk`; once it answered, a second client
/// changes the key; then the session's transaction must abort (EXEC nil).
fn watch_conflict(port: u16) -> String {
    assert_eq!(cli(port, &["SET", "wk", "0"], None), "OK\n");
    let p = port.to_string();
    let mut child = Command::new("redis-cli")
        .args(["-p", &p, "-a", PASSWORD, "--no-auth-warning"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-cli");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let next_line = |out: &mut String| {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("redis-cli answered in time");
        out.push_str(&line);
        out.push('\n');
    };
    stdin.write_all(b"WATCH wk\n").expect("write");
    next_line(&mut out);
    assert_eq!(cli(port, &["SET", "wk", "changed"], None), "OK\n");
    stdin
        .write_all(b"MULTI\nSET wk mine\nEXEC\n")
        .expect("write");
    drop(stdin);
    for _ in 0..3 {
        next_line(&mut out);
    }
    let _ = child.wait();
    out
}
