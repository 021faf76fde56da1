//! Replies at the edges, held to what redis-server 7.0.15 answers: each
//! case here once differed (blocking timeouts under a millisecond, RESET,
//! CLIENT REPLY SKIP twice, arity of subcommands, database indexes beyond
//! 32 bits, the empty key and glob patterns, INFO's CPU title, RESP3 sets).

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_blocking_timeout_under_a_millisecond_waits_a_millisecond_not_forever() {
    let s = TestServer::start();
    let mut raw = s.raw();
    for (cmd, timeout) in [
        (vec!["BLPOP", "nokey"], "0.0005"),
        (vec!["BRPOP", "nokey"], "1e-10"),
        (vec!["BZPOPMIN", "nokey"], "0.0009"),
        (vec!["BLMOVE", "nokey", "dst", "LEFT", "RIGHT"], "0.0001"),
    ] {
        let mut args = cmd.clone();
        args.push(timeout);
        let started = Instant::now();
        let reply = raw.cmd(&args);
        assert!(
            reply == "*-1\r\n" || reply == "$-1\r\n",
            "{args:?} answered {reply:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} waited"
        );
    }
    // BLMPOP's timeout comes first.
    assert_eq!(
        raw.cmd(&["BLMPOP", "0.0004", "1", "nokey", "LEFT"]),
        "*-1\r\n"
    );
    // Rounded up: -0.0001 s is 0 ms, which is "forever" and not negative;
    // a large timeout is accepted. Both block, so another client unblocks.
    let id = raw.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    for timeout in ["-0.0001", "9223372036854775"] {
        let mut admin = s.raw();
        raw.send_cmd(&[b"BLPOP", b"nokey", timeout.as_bytes()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let unblocked = admin.cmd(&["CLIENT", "UNBLOCK", &id]);
            if unblocked == ":1\r\n" {
                break;
            }
            assert!(Instant::now() < deadline, "BLPOP {timeout} never blocked");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(raw.read_reply(), "*-1\r\n", "BLPOP {timeout}");
    }
    assert_eq!(
        raw.cmd(&["BLPOP", "nokey", "-0.001"]),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        raw.cmd(&["BLPOP", "nokey", "1e300"]),
        "-ERR timeout is negative\r\n"
    );
}

#[test]
fn reset_forgets_the_name_and_skip_twice_skips_the_next_command_too() {
    let s = TestServer::start();
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["CLIENT", "SETNAME", "nm"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]), "$-1\r\n");
    // Redis 7.0's RESET leaves NO-EVICT on.
    let info = raw.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains("flags=e"), "{info}");

    // Two SKIPs: the second is skipped, and arms a skip of the SET.
    raw.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    raw.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    raw.send_cmd(&[b"SET", b"a", b"1"]);
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
    // One SKIP skips one reply.
    raw.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    raw.send_cmd(&[b"SET", b"a", b"2"]);
    assert_eq!(raw.cmd(&["GET", "a"]), "$1\r\n2\r\n");
    // SKIP while OFF changes nothing; ON answers.
    raw.send_cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    raw.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    raw.send_cmd(&[b"SET", b"a", b"3"]);
    assert_eq!(raw.cmd(&["CLIENT", "REPLY", "ON"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "a"]), "$1\r\n3\r\n");
}

#[test]
fn subcommands_refuse_extra_arguments_as_redis_does() {
    let s = TestServer::start();
    let mut raw = s.raw();
    for (args, want) in [
        (
            vec!["SLOWLOG", "GET", "1", "2"],
            "-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n",
        ),
        (
            vec!["SLOWLOG", "GET", "a", "b"],
            "-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n",
        ),
        (
            vec!["SLOWLOG", "GET", "a"],
            "-ERR count should be greater than or equal to -1\r\n",
        ),
        (
            vec!["PUBSUB", "CHANNELS", "a", "b"],
            "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n",
        ),
        (
            vec!["PUBSUB", "SHARDCHANNELS", "a", "b"],
            "-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.\r\n",
        ),
        (
            vec!["CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"],
            "-ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.\r\n",
        ),
        (
            vec!["CLIENT", "UNBLOCK", "a", "b"],
            "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n",
        ),
        (
            vec!["CLIENT", "UNBLOCK", "a"],
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            vec!["CONFIG", "SET", "timeout", "0", "x"],
            "-ERR syntax error\r\n",
        ),
        (
            vec!["CONFIG", "SET", "timeout"],
            "-ERR wrong number of arguments for 'config|set' command\r\n",
        ),
    ] {
        assert_eq!(raw.cmd(&args), want, "{args:?}");
    }
}

#[test]
fn database_indexes_beyond_32_bits_get_redis_range_error() {
    let s = TestServer::start();
    let mut raw = s.raw();
    let wide = "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
    let range = "-ERR DB index is out of range\r\n";
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    for (args, want) in [
        (vec!["SELECT", "2147483648"], wide),
        (vec!["SELECT", "-2147483649"], wide),
        (vec!["SELECT", "-1"], range),
        (vec!["SELECT", "99"], range),
        (vec!["MOVE", "k", "2147483648"], wide),
        (vec!["MOVE", "k", "99"], range),
        (vec!["COPY", "k", "k2", "DB", "2147483648"], wide),
        (vec!["COPY", "k", "k2", "DB", "99"], range),
        (
            vec!["SELECT", "x"],
            "-ERR value is not an integer or out of range\r\n",
        ),
    ] {
        assert_eq!(raw.cmd(&args), want, "{args:?}");
    }
}

#[test]
fn the_empty_key_is_matched_by_star_alone_as_in_redis() {
    let s = TestServer::start();
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["SET", "", "1"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "a", "1"]), "+OK\r\n");
    // `*` is every key; any other pattern must match, and an empty string
    // matches only the empty pattern (Redis's stringmatchlen).
    let all = raw.cmd(&["KEYS", "*"]);
    assert!(all.starts_with("*2\r\n"), "{all}");
    assert_eq!(raw.cmd(&["KEYS", "**"]), "*1\r\n$1\r\na\r\n");
    assert_eq!(raw.cmd(&["KEYS", ""]), "*1\r\n$0\r\n\r\n");
    assert_eq!(
        raw.cmd(&["SCAN", "0", "MATCH", "**", "COUNT", "100"]),
        "*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"
    );
    let scanned = raw.cmd(&["SCAN", "0", "MATCH", "*", "COUNT", "100"]);
    assert!(
        scanned.starts_with("*2\r\n$1\r\n0\r\n*2\r\n") && scanned.contains("$0\r\n\r\n"),
        "{scanned}"
    );
    assert_eq!(raw.cmd(&["HSET", "h", "", "v", "f", "w"]), ":2\r\n");
    assert_eq!(
        raw.cmd(&["HSCAN", "h", "0", "MATCH", "?*"]),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nw\r\n"
    );
    let every = raw.cmd(&["HSCAN", "h", "0", "MATCH", "*"]);
    assert!(
        every.starts_with("*2\r\n$1\r\n0\r\n*4\r\n") && every.contains("$0\r\n\r\n"),
        "{every}"
    );

    // PSUBSCRIBE * hears no PUBLISH to the empty channel.
    let mut sub = s.raw();
    let confirm = sub.cmd(&["PSUBSCRIBE", "*"]);
    assert!(confirm.contains("psubscribe"), "{confirm}");
    assert_eq!(raw.cmd(&["PUBLISH", "", "m"]), ":0\r\n");
    assert_eq!(raw.cmd(&["PUBLISH", "c", "m"]), ":1\r\n");
}

#[test]
fn info_cpu_title_and_resp3_key_flags_are_redis_own() {
    let s = TestServer::start();
    let mut raw = s.raw();
    let info = raw.cmd(&["INFO", "cpu"]);
    assert!(info.contains("# CPU\r\n"), "{info}");
    assert!(raw.cmd(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"]),
        "*1\r\n*2\r\n$1\r\nk\r\n~2\r\n+OW\r\n+update\r\n"
    );
}
