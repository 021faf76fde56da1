//! Publish/subscribe against a real server: Redis 7.0's replies for the
//! (P|S)SUBSCRIBE family, PUBLISH counts, PUBSUB introspection, the RESP2
//! subscribed mode and RESP3 pushes, and a subscriber that does not read
//! being disconnected at its output limit, which counts what its queued
//! messages really take.
//!
//! Every wait is bounded; servers are killed by PID when the test ends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use redis::Value;

fn publish(c: &mut redis::Connection, channel: &str, message: &str) -> i64 {
    match ok(c, &["PUBLISH", channel, message]) {
        Value::Int(n) => n,
        other => panic!("PUBLISH replied {other:?}"),
    }
}

#[test]
fn subscribers_receive_what_is_published_and_publish_counts_them() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let mut sub = s.raw();
    sub.send_cmd(&[b"SUBSCRIBE", b"news", b"sport"]);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n"
    );
    let mut psub = s.raw();
    psub.send_cmd(&[b"PSUBSCRIBE", b"n*"]);
    assert_eq!(
        psub.read_reply(),
        "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n"
    );
    assert_eq!(publish(c, "news", "hello"), 2);
    assert_eq!(publish(c, "nothing-here", "x"), 1);
    assert_eq!(publish(c, "weather", "x"), 0);
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    assert_eq!(
        psub.read_reply(),
        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    assert_eq!(
        psub.read_reply(),
        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$12\r\nnothing-here\r\n$1\r\nx\r\n"
    );
    // Order per publisher.
    for i in 0..100 {
        publish(c, "sport", &i.to_string());
    }
    for i in 0..100 {
        let m = i.to_string();
        assert_eq!(
            sub.read_reply(),
            format!(
                "*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n${}\r\n{m}\r\n",
                m.len()
            )
        );
    }
    // Introspection.
    assert_eq!(
        sorted_strings(ok(c, &["PUBSUB", "CHANNELS"])),
        ["news", "sport"]
    );
    assert_eq!(
        sorted_strings(ok(c, &["PUBSUB", "CHANNELS", "s*"])),
        ["sport"]
    );
    assert_eq!(
        ok(c, &["PUBSUB", "NUMSUB", "news", "none"]),
        Value::Array(vec![bulk("news"), int(1), bulk("none"), int(0)])
    );
    assert_eq!(ok(c, &["PUBSUB", "NUMPAT"]), int(1));
    // Shard channels.
    let mut ssub = s.raw();
    ssub.send_cmd(&[b"SSUBSCRIBE", b"orders"]);
    assert_eq!(
        ssub.read_reply(),
        "*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"
    );
    assert_eq!(ok(c, &["SPUBLISH", "orders", "o1"]), int(1));
    assert_eq!(
        ssub.read_reply(),
        "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\no1\r\n"
    );
    assert_eq!(strings(ok(c, &["PUBSUB", "SHARDCHANNELS"])), ["orders"]);
    assert_eq!(
        ok(c, &["PUBSUB", "SHARDNUMSUB", "orders"]),
        Value::Array(vec![bulk("orders"), int(1)])
    );
    // A closed subscriber is forgotten.
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ok(c, &["PUBSUB", "NUMSUB", "news"]) != Value::Array(vec![bulk("news"), int(0)]) {
        assert!(Instant::now() < deadline, "closed subscriber still counted");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscribed_mode_allows_only_pubsub_commands_in_resp2_and_pushes_in_resp3() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send_cmd(&[b"SUBSCRIBE", b"a"]);
    c.read_reply();
    assert_eq!(
        c.cmd(&["GET", "x"]),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(c.cmd(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(c.cmd(&["PING", "hi"]), "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    assert_eq!(
        c.cmd(&["UNSUBSCRIBE"]),
        "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
    );
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(
        c.cmd(&["UNSUBSCRIBE"]),
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    assert_eq!(
        c.cmd(&["PUNSUBSCRIBE"]),
        "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
    );
    // RESET leaves subscribed mode.
    c.send_cmd(&[b"SUBSCRIBE", b"b"]);
    c.read_reply();
    assert_eq!(c.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(c.cmd(&["GET", "x"]), "$-1\r\n");

    // RESP3: pushes, and every command allowed while subscribed.
    let mut r3 = s.raw();
    r3.cmd(&["HELLO", "3"]);
    assert_eq!(
        r3.cmd(&["SUBSCRIBE", "c"]),
        ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
    );
    assert_eq!(r3.cmd(&["GET", "x"]), "_\r\n");
    assert_eq!(r3.cmd(&["PING"]), "+PONG\r\n");
    // Its own message arrives before the reply, as from Redis.
    r3.send_cmd(&[b"PUBLISH", b"c", b"m"]);
    assert_eq!(
        r3.read_reply(),
        ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
    );
    assert_eq!(r3.read_reply(), ":1\r\n");

    // With replies off (or skipped) subscription confirmations and
    // messages still arrive, other replies do not, as from Redis 7.0.
    for protocol in ["2", "3"] {
        let mut quiet = s.raw();
        if protocol == "3" {
            quiet.cmd(&["HELLO", "3"]);
        }
        let push = if protocol == "3" { ">" } else { "*" };
        quiet.send_cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
        quiet.send_cmd(&[b"SUBSCRIBE", b"quiet"]);
        assert_eq!(
            quiet.read_reply(),
            format!("{push}3\r\n$9\r\nsubscribe\r\n$5\r\nquiet\r\n:1\r\n")
        );
        quiet.send_cmd(&[b"PING"]);
        let mut publisher = s.conn();
        ok(&mut publisher, &["PUBLISH", "quiet", "hi"]);
        assert_eq!(
            quiet.read_reply(),
            format!("{push}3\r\n$7\r\nmessage\r\n$5\r\nquiet\r\n$2\r\nhi\r\n"),
            "no PONG before the message"
        );
        quiet.send_cmd(&[b"UNSUBSCRIBE", b"quiet"]);
        assert_eq!(
            quiet.read_reply(),
            format!("{push}3\r\n$11\r\nunsubscribe\r\n$5\r\nquiet\r\n:0\r\n")
        );
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_disconnected_at_its_output_limit() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(
        ok(
            c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 256kb 0 0"
            ]
        ),
        okay()
    );
    // The other classes keep their limits, as in redis-server; an empty
    // setting changes nothing.
    let shown = |c: &mut redis::Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("client-output-buffer-limit")
            .query(c)
            .expect("CONFIG GET")
    };
    let want = "normal 0 0 0 replica 256mb 64mb 60 pubsub 256kb 0 0";
    assert_eq!(shown(c)[1], want);
    assert_eq!(
        ok(c, &["CONFIG", "SET", "client-output-buffer-limit", ""]),
        okay()
    );
    assert_eq!(shown(c)[1], want);
    let mut slow = s.raw(); // never read again
    slow.send_cmd(&[b"SUBSCRIBE", b"flood"]);
    slow.read_reply();
    // Never read again: 64 MB published must not pile up in the server.
    let message = "x".repeat(64 * 1024);
    let mut delivered_to_none = false;
    for _ in 0..1024 {
        if publish(c, "flood", &message) == 0 {
            delivered_to_none = true;
            break;
        }
    }
    assert!(delivered_to_none, "the slow subscriber was never dropped");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ok(c, &["PUBSUB", "NUMSUB", "flood"]) != Value::Array(vec![bulk("flood"), int(0)]) {
        assert!(
            Instant::now() < deadline,
            "the dropped subscriber is still subscribed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
    assert!(info.contains("pubsub_output_limit_disconnects:1"), "{info}");
}

/// Tiny messages to a subscriber that never reads: the limit counts what
/// each queued message costs (its slot and buffers, not only its bytes),
/// and the messages do not keep the publisher's read buffers alive. 2,000
/// pipelined 1-byte messages at a time once took the server past 900 MB
/// under the 32 MB default limit.
#[test]
fn tiny_messages_to_a_subscriber_that_does_not_read_stay_within_its_limit() {
    let s = TestServer::start();
    let mut slow = s.raw(); // never read after the confirmation
    slow.send_cmd(&[b"SUBSCRIBE", b"tiny"]);
    slow.read_reply();
    let before = s.memory("VmRSS");
    let mut publisher = s.raw();
    let batch = b"*3\r\n$7\r\nPUBLISH\r\n$4\r\ntiny\r\n$1\r\nx\r\n".repeat(2_000);
    let mut omem_seen = false;
    let mut dropped = false;
    for round in 0..1_000 {
        publisher.send(&batch);
        let mut last = String::new();
        for _ in 0..2_000 {
            last = publisher.read_reply();
        }
        if !omem_seen && round % 10 == 9 {
            // The queue (once the socket's buffers are full) shows in
            // CLIENT LIST as the subscriber's omem.
            let list = publisher.cmd(&["CLIENT", "LIST"]);
            omem_seen = list.lines().any(|l| {
                l.contains("sub=1")
                    && l.split(' ')
                        .find_map(|f| f.strip_prefix("omem="))
                        .and_then(|v| v.parse::<u64>().ok())
                        .is_some_and(|v| v > 0)
            });
        }
        if last == ":0\r\n" {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the subscriber was never disconnected");
    assert!(
        omem_seen,
        "CLIENT LIST showed no omem for the queued messages"
    );
    let peak = s.memory("VmHWM");
    assert!(
        peak < before + 200 * 1024 * 1024,
        "resident went from {} MB to a peak of {} MB under a 32 MB limit",
        before >> 20,
        peak >> 20
    );
}
