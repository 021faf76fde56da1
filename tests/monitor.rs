//! MONITOR: the lines Redis prints, what is left out, leaving the mode,
//! and the limits that keep a monitor from costing the server.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Reads the next monitor line and checks it ends with `tail` (the
/// quoted command) and names database `db`.
fn expect_line(m: &mut RawConn, db: u32, tail: &str) {
    let line = m.read_reply();
    let line = line.trim_end();
    assert!(line.starts_with('+'), "not a status line: {line:?}");
    assert!(line.contains(&format!(" [{db} 127.0.0.1:")), "{line:?}");
    assert!(line.ends_with(tail), "{line:?} does not end with {tail:?}");
}

#[test]
fn monitor_shows_each_command_as_redis_prints_it() {
    let s = TestServer::start();
    let mut m = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), "+OK\r\n");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "foo", "bar"]), "+OK\r\n");
    expect_line(&mut m, 0, r#""SET" "foo" "bar""#);
    // Refused before running: not shown. Administrative: not shown.
    assert!(c.cmd(&["NOSUCH", "x"]).starts_with("-ERR unknown command"));
    assert!(c.cmd(&["GET"]).starts_with("-ERR wrong number"));
    c.cmd(&["CONFIG", "GET", "port"]);
    // Escaped as sdscatrepr; on the database the command ran in.
    c.cmd(&["SELECT", "3"]);
    expect_line(&mut m, 3, r#""SELECT" "3""#);
    c.send_cmd(&[b"SET", b"k", b"a \"q\"\\\n\x00\xff"]);
    c.read_reply();
    expect_line(&mut m, 3, r#""SET" "k" "a \"q\"\\\n\x00\xff""#);
    // A transaction: MULTI, each command as EXEC runs it, then EXEC.
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["INCR", "n"]), "+QUEUED\r\n");
    c.cmd(&["EXEC"]);
    expect_line(&mut m, 3, r#""MULTI""#);
    expect_line(&mut m, 3, r#""INCR" "n""#);
    expect_line(&mut m, 3, r#""EXEC""#);
    // Credentials never appear, even of a failed AUTH.
    assert!(c.cmd(&["AUTH", "user", "secret"]).starts_with('-'));
    expect_line(&mut m, 3, r#""AUTH" "(redacted)" "(redacted)""#);
    c.cmd(&["HELLO", "2", "AUTH", "default", "secret"]);
    expect_line(&mut m, 3, r#""HELLO" "2" "AUTH" "(redacted)" "(redacted)""#);
    // A second MONITOR gets no reply: PING's reply comes next, then the
    // PING's own line.
    m.send_cmd(&[b"MONITOR"]);
    m.send_cmd(&[b"PING"]);
    assert_eq!(m.read_reply(), "+PONG\r\n");
    expect_line(&mut m, 0, r#""PING""#);
    let list = c.cmd(&["CLIENT", "LIST"]);
    assert_eq!(list.matches("flags=O").count(), 1, "{list}");
    assert!(c.cmd(&["INFO", "clients"]).contains("monitor_clients:1"));
    expect_line(&mut m, 3, r#""INFO" "clients""#);
    assert!(s.metrics().contains("ringkv_monitor_clients 1"));
    // RESET leaves monitor mode.
    assert_eq!(m.cmd(&["RESET"]), "+RESET\r\n");
    c.cmd(&["SET", "after", "reset"]);
    assert_eq!(m.cmd(&["PING"]), "+PONG\r\n");
    assert!(!c.cmd(&["CLIENT", "LIST"]).contains("flags=O"));
    assert!(c.cmd(&["INFO", "clients"]).contains("monitor_clients:0"));
}

/// A blocking command is shown once, when it starts, however often it is
/// retried while it waits; CL shows the command it wraps (redacted as that
/// command is), not itself; a monitor that goes away stops being counted.
#[test]
fn blocked_commands_once_cl_unwrapped_and_gone_monitors_forgotten() {
    let s = TestServer::start();
    let mut m = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), "+OK\r\n");
    let mut waiter = s.raw();
    waiter.send_cmd(&[b"BLPOP", b"q", b"0"]);
    expect_line(&mut m, 0, r#""BLPOP" "q" "0""#);
    let mut c = s.raw();
    // A wake-up that serves nothing (another type, then gone) retries it.
    c.cmd(&["SET", "q", "x"]);
    c.cmd(&["DEL", "q"]);
    c.cmd(&["RPUSH", "q", "1"]);
    assert!(waiter.read_reply().contains('1'));
    c.cmd(&["RPUSH", "q", "2"]);
    expect_line(&mut m, 0, r#""SET" "q" "x""#);
    expect_line(&mut m, 0, r#""DEL" "q""#);
    expect_line(&mut m, 0, r#""RPUSH" "q" "1""#);
    expect_line(&mut m, 0, r#""RPUSH" "q" "2""#);
    assert!(
        c.cmd(&["CL", "ONE", "AUTH", "user", "secret"])
            .starts_with('-')
    );
    c.cmd(&["CL", "ONE", "SET", "k", "v"]);
    expect_line(&mut m, 0, r#""AUTH" "(redacted)" "(redacted)""#);
    expect_line(&mut m, 0, r#""SET" "k" "v""#);
    assert!(c.cmd(&["INFO", "clients"]).contains("monitor_clients:1"));
    drop(m);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.cmd(&["INFO", "clients"]).contains("monitor_clients:0") {
        assert!(
            Instant::now() < deadline,
            "a closed monitor is still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn monitors_and_subscribers_outlive_the_idle_timeout() {
    let s = TestServer::start_with(&["--timeout", "1"]);
    let mut m = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), "+OK\r\n");
    let mut sub = s.raw();
    sub.cmd(&["SUBSCRIBE", "news"]);
    let mut idle = s.raw();
    idle.cmd(&["PING"]);
    std::thread::sleep(Duration::from_millis(2600));
    assert!(
        idle.is_closed(),
        "an idle plain client is closed by timeout"
    );
    let mut c = s.raw();
    assert_eq!(c.cmd(&["PUBLISH", "news", "hi"]), ":1\r\n");
    assert!(sub.read_reply().contains("hi"));
    expect_line(&mut m, 0, r#""SUBSCRIBE" "news""#);
    expect_line(&mut m, 0, r#""PING""#);
    expect_line(&mut m, 0, r#""PUBLISH" "news" "hi""#);
}

#[test]
fn a_monitor_that_does_not_read_is_disconnected_at_its_output_limit() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 256kb 0 0"
        ]),
        "+OK\r\n"
    );
    let mut slow = s.raw();
    assert_eq!(slow.cmd(&["MONITOR"]), "+OK\r\n");
    // Never read again: the lines of 64 MB of writes must not pile up.
    let value = "x".repeat(64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dropped = false;
    for _ in 0..1024 {
        c.cmd(&["SET", "big", &value]);
        if !c.cmd(&["CLIENT", "LIST"]).contains("flags=O") {
            dropped = true;
            break;
        }
        assert!(Instant::now() < deadline, "took too long");
    }
    assert!(dropped, "the slow monitor was never dropped");
    let info = c.cmd(&["INFO", "stats"]);
    assert!(info.contains("pubsub_output_limit_disconnects:1"), "{info}");
    // A line past the limit on its own (100 KB of bytes escaped as \xHH)
    // is never built: the monitor is disconnected at once.
    let mut m = s.raw();
    assert_eq!(m.cmd(&["MONITOR"]), "+OK\r\n");
    c.send_cmd(&[b"SET", b"bin", &vec![0xffu8; 100 * 1024]]);
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert!(m.is_closed(), "the monitor outlived a line past its limit");
    let info = c.cmd(&["INFO", "stats"]);
    assert!(info.contains("pubsub_output_limit_disconnects:2"), "{info}");
}
