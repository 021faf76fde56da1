//! Issue 15, findings 6, 9 and 12: hardening against abusive or careless
//! clients, checked on the real binary.
//!
//! - DEBUG is off unless `enable-debug-command` allows the client, as in
//!   Redis 7, and a DEBUG SLEEP inside EXEC stalls only its own client.
//! - Secrets never show in CONFIG GET (SPEC §2).
//! - INFO names the allocator the binary really uses.
//! - SELECT/MOVE/COPY out of range and SCAN's cursor reply as Redis 7.0.
//! - A request trickled in small pieces costs the server CPU in proportion
//!   to the bytes, not to bytes times reads.
//! - An idle connection gives its read and reply buffers back.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Redis 7's reply to DEBUG when `enable-debug-command` refuses the client.
const DEBUG_REFUSED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

#[test]
fn debug_is_refused_by_default_with_redis_text() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(err(c, &["DEBUG", "SLEEP", "0"]), DEBUG_REFUSED);
    assert_eq!(err(c, &["DEBUG", "HELP"]), DEBUG_REFUSED);
    // Inside MULTI the refusal is immediate and makes EXEC abort.
    ok(c, &["MULTI"]);
    assert_eq!(err(c, &["DEBUG", "SLEEP", "0"]), DEBUG_REFUSED);
    assert_eq!(
        err(c, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    let shown: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("enable-debug-command")
        .query(c)
        .unwrap();
    assert_eq!(shown, ["enable-debug-command", "no"]);
    assert_eq!(
        err(c, &["CONFIG", "SET", "enable-debug-command", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config"
    );
}

#[test]
fn debug_is_checked_before_authentication_as_in_redis() {
    let s = TestServer::start_with(&["--requirepass", "pw"]);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&["DEBUG", "SLEEP", "0"]),
        format!("-{DEBUG_REFUSED}\r\n")
    );
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        "-NOAUTH Authentication required.\r\n"
    );
}

#[test]
fn debug_yes_allows_it_and_local_allows_loopback_clients() {
    for setting in ["yes", "local"] {
        let s = TestServer::start_with(&["--enable-debug-command", setting]);
        let c = &mut s.conn();
        assert_eq!(ok(c, &["DEBUG", "SLEEP", "0"]), okay(), "{setting}");
        let shown: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("enable-debug-command")
            .query(c)
            .unwrap();
        assert_eq!(shown, ["enable-debug-command", setting]);
        // DEBUG ERROR: the text is the whole error, as client test suites expect.
        let mut raw = s.raw();
        assert_eq!(
            raw.cmd(&["DEBUG", "ERROR", "ERR invalid password"]),
            "-ERR invalid password\r\n"
        );
        assert_eq!(raw.cmd(&["DEBUG", "error", "foo\r\nba"]), "-foo  ba\r\n");
        assert_eq!(
            raw.cmd(&["DEBUG", "ERROR"]),
            "-ERR unknown subcommand or wrong number of arguments for 'ERROR'. Try DEBUG HELP.\r\n"
        );
        assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
    }
}

/// `MULTI; DEBUG SLEEP n; EXEC` used to sleep while EXEC held the node-wide
/// transaction gate, so every other client waited n seconds (up to an hour).
#[test]
fn debug_sleep_inside_exec_stalls_only_its_own_client() {
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let client = s.client();
    let (exec_sent, exec_started) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        let mut con = client.get_connection().expect("connect");
        let _: () = redis::cmd("MULTI").query(&mut con).expect("MULTI");
        for cmd in [&["DEBUG", "SLEEP", "3"][..], &["SET", "slept", "yes"]] {
            let _: redis::Value = redis::cmd(cmd[0])
                .arg(&cmd[1..])
                .query(&mut con)
                .expect("queued");
        }
        exec_sent.send(Instant::now()).expect("main thread waits");
        let replies: Vec<redis::Value> = redis::cmd("EXEC").query(&mut con).expect("EXEC");
        (replies, Instant::now())
    });
    let c = &mut s.conn();
    let sent = exec_started.recv().expect("EXEC sent");
    // Let the EXEC reach its sleep.
    std::thread::sleep(Duration::from_millis(300));
    // Every command here would wait for the rest of the sleep if the EXEC
    // still held the gate.
    for i in 0..20 {
        ok(c, &["SET", &format!("k{i}"), "v"]);
        assert_eq!(ok(c, &["PING"]), redis::Value::SimpleString("PONG".into()));
    }
    let others_done = Instant::now();
    let (replies, exec_answered) = sleeper.join().expect("sleeper");
    assert_eq!(replies, vec![okay(), okay()]);
    assert_eq!(ok(c, &["GET", "slept"]), bulk("yes"));
    assert!(
        exec_answered.duration_since(sent) >= Duration::from_secs(3),
        "EXEC answered after {:?}, before its DEBUG SLEEP 3 ended",
        exec_answered.duration_since(sent)
    );
    assert!(
        others_done < exec_answered,
        "another client's 40 commands finished only after the sleeping EXEC answered ({:?} after it was sent)",
        others_done.duration_since(sent)
    );
}

#[test]
fn config_get_never_reveals_secrets() {
    let s = TestServer::start_with(&[
        "--cluster-secret",
        "node-secret-123",
        "--requirepass",
        "client-pw-456",
    ]);
    let c = &mut s.client().get_connection().expect("connect");
    ok(c, &["AUTH", "client-pw-456"]);
    for pattern in ["cluster-secret", "requirepass", "*secret*", "*pass*", "*"] {
        let pairs: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(pattern)
            .query(c)
            .unwrap();
        let all = pairs.join("\n");
        assert!(!all.contains("node-secret-123"), "{pattern}: {all}");
        assert!(!all.contains("client-pw-456"), "{pattern}: {all}");
    }
    let pairs: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("cluster-secret")
        .arg("requirepass")
        .query(c)
        .unwrap();
    // The keys are still listed, a set secret as a mask.
    assert_eq!(
        pairs,
        ["cluster-secret", "********", "requirepass", "********"]
    );
    // An unset secret shows as empty, as redis-server shows it.
    let open = TestServer::start();
    let pairs: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("requirepass")
        .query(&mut open.conn())
        .unwrap();
    assert_eq!(pairs, ["requirepass", ""]);
}

/// Settings that would lock every client out are refused, as Redis
/// refuses them (and values spelled as Redis would not take them): a client `timeout` past Redis's range (one near 2^64
/// once made every connection panic on its first read, the old setting
/// with it, so nothing could undo it), and a multibulk limit too small to
/// send the CONFIG SET that raises it again. The server keeps serving.
#[test]
fn settings_that_would_lock_clients_out_are_refused() {
    let s = TestServer::start();
    let c = &mut s.conn();
    for (key, value, want) in [
        (
            "timeout",
            "18446744073709551615",
            "between 0 and 2147483647",
        ),
        ("timeout", "2147483648", "between 0 and 2147483647"),
        ("proto-max-multibulk-len", "1", "at least 1024"),
        ("proto-max-bulk-len", "1kb", "at least 1mb"),
        (
            "replica-timeout-ms",
            "18446744073709551615",
            "between 1 and 600000",
        ),
        // Read as redis-server reads them.
        ("protected-mode", "1", "argument must be 'yes' or 'no'"),
        ("read-repair", "true", "argument must be 'yes' or 'no'"),
        (
            "maxclients",
            "  1",
            "argument couldn't be parsed into an integer",
        ),
        (
            "proto-max-bulk-len",
            "1gb ",
            "argument must be a memory value",
        ),
    ] {
        let e = err(c, &["CONFIG", "SET", key, value]);
        assert!(
            e.starts_with(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{key}')"
            )) && e.contains(want),
            "{key} {value}: {e}"
        );
    }
    assert_eq!(ok(c, &["CONFIG", "SET", "timeout", "2147483647"]), okay());
    assert_eq!(
        ok(c, &["CONFIG", "SET", "proto-max-multibulk-len", "1024"]),
        okay()
    );
    assert_eq!(ok(c, &["CONFIG", "SET", "protected-mode", "YES"]), okay());
    // New connections are served, and the limits still work.
    let fresh = &mut s.conn();
    assert_eq!(
        ok(fresh, &["PING"]),
        redis::Value::SimpleString("PONG".into())
    );
    assert_eq!(ok(fresh, &["CONFIG", "SET", "timeout", "0"]), okay());
}

#[test]
fn info_names_the_allocator_in_use() {
    let s = TestServer::start();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut s.conn())
        .unwrap();
    assert!(info.contains("\r\nmem_allocator:mimalloc\r\n"), "{info}");
}

/// Replies checked against redis-server 7.0.15. Redis 7.0 reads SCAN's
/// cursor with `strtoul`, which accepts `-1` (as 2^64-1): it answers with
/// a page, not an error; only a non-number is an invalid cursor.
#[test]
fn db_index_and_cursor_replies_match_redis_7_0() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "a", "1"]);
    assert_eq!(err(c, &["SELECT", "99"]), "ERR DB index is out of range");
    assert_eq!(err(c, &["MOVE", "a", "99"]), "ERR DB index is out of range");
    assert_eq!(
        err(c, &["COPY", "a", "b", "DB", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(err(c, &["SCAN", "x"]), "ERR invalid cursor");
    match ok(c, &["SCAN", "-1"]) {
        redis::Value::Array(page) => {
            assert_eq!(page.len(), 2, "{page:?}");
            assert!(matches!(&page[1], redis::Value::Array(_)), "{page:?}");
        }
        other => panic!("SCAN -1 should answer a page, got {other:?}"),
    }
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
    Duration::from_millis(ticks * 1000 / hz.max(1))
}

/// A 200k-argument request arriving in small pieces was rescanned from
/// its first byte on each read: the server burnt most of a core per such
/// client. Parsing resumes now, so its cost follows the bytes.
#[test]
fn a_trickled_200k_argument_request_costs_little_cpu_and_others_are_served() {
    let s = TestServer::start();
    let n = 200_000usize;
    let mut wire = format!("*{n}\r\n$4\r\nECHO\r\n").into_bytes();
    for i in 1..n {
        let arg = format!("{i:06}");
        wire.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    let mut trickle = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    trickle.set_nodelay(true).expect("nodelay");
    let mut pinger = s.raw();

    let cpu_before = cpu_time(s.pid());
    let started = Instant::now();
    // Three quarters of the request in 16 KB pieces, one every 10 ms: each
    // read used to rescan everything buffered so far.
    let bulk_part = wire.len() * 3 / 4;
    let mut sent = 0;
    let mut pings = 0;
    while sent < bulk_part && started.elapsed() < Duration::from_secs(20) {
        let end = (sent + 16 * 1024).min(bulk_part);
        trickle.write_all(&wire[sent..end]).expect("send piece");
        sent = end;
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(pinger.cmd(&["PING"]), "+PONG\r\n");
        pings += 1;
    }
    assert_eq!(sent, bulk_part, "sending took too long");
    // Then the trickle of the report: 700 bytes a second, in 35-byte pieces,
    // for 6 s, while another client's PINGs are answered.
    let trickle_until = Instant::now() + Duration::from_secs(6);
    let mut last_ping = Instant::now();
    while Instant::now() < trickle_until {
        let end = (sent + 35).min(wire.len() - 1);
        trickle.write_all(&wire[sent..end]).expect("send piece");
        sent = end;
        std::thread::sleep(Duration::from_millis(50));
        if last_ping.elapsed() >= Duration::from_millis(100) {
            assert_eq!(pinger.cmd(&["PING"]), "+PONG\r\n");
            pings += 1;
            last_ping = Instant::now();
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time(s.pid()).saturating_sub(cpu_before);
    eprintln!("server CPU {cpu:?} in {wall:?} ({pings} PINGs answered)");
    assert!(pings >= 50, "only {pings} PINGs answered");
    // The rescanning this guards against burnt most of a core (over half
    // the wall time); the resumed parse takes 1% here alone, and up to 5%
    // was seen in a full `.ci/run`, with the test's neighbours loading
    // both cores. Three times that keeps the test failing on the old
    // behaviour without failing on a busy machine.
    assert!(
        cpu.as_secs_f64() < 0.15 * wall.as_secs_f64(),
        "the server used {cpu:?} of CPU in {wall:?} receiving {sent} bytes of one request"
    );

    // The rest at once: the request completes as one 200k-argument ECHO.
    trickle.write_all(&wire[sent..]).expect("send the rest");
    trickle
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reply = String::new();
    BufReader::new(trickle)
        .read_line(&mut reply)
        .expect("read the reply");
    assert_eq!(
        reply,
        "-ERR wrong number of arguments for 'echo' command\r\n"
    );
}

/// An idle connection gives its buffers back (Redis shrinks an idle
/// client's query buffer too): after a large request, CLIENT LIST shows the
/// read and reply buffers in use, and once the client has been quiet a few
/// seconds, none; the connection still works.
#[test]
fn an_idle_connection_releases_its_buffers() {
    let server = TestServer::start();
    let mut busy = server.raw();
    let big = "x".repeat(200_000);
    assert_eq!(busy.cmd(&["CLIENT", "SETNAME", "busy"]), "+OK\r\n");
    let mut admin = server.conn();
    let field = |admin: &mut redis::Connection, name: &str| -> u64 {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(admin)
            .expect("CLIENT LIST");
        let line = list
            .lines()
            .find(|l| l.contains(" name=busy "))
            .expect("the busy client is listed")
            .to_string();
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    // The buffer grows for the request and is released after 2 s idle:
    // on a loaded machine the look may come after that, so the request is
    // repeated until the grown buffer is seen once (else the test would
    // prove nothing).
    let grew = (0..5).any(|_| {
        assert_eq!(busy.cmd(&["SET", "big", &big]), "+OK\r\n");
        field(&mut admin, "qbuf-free") > 0
    });
    assert!(grew, "the read buffer grew for the request");
    let deadline = Instant::now() + Duration::from_secs(15);
    while field(&mut admin, "qbuf-free") != 0 || field(&mut admin, "rbs") != 0 {
        assert!(Instant::now() < deadline, "an idle client kept its buffers");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(field(&mut admin, "tot-mem"), 0);
    assert_eq!(
        busy.cmd(&["GET", "big"]).len(),
        big.len() + "$200000\r\n\r\n".len()
    );
}
