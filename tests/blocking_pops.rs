//! Blocked clients served as Redis serves them when what a key holds does
//! not suit the first client waiting on it: a wake-up passes down the
//! key's queue to a client that can pop it, a client blocked on several
//! keys is served from a key that became ready even when an earlier key
//! now holds another type, registering on many keys costs linear time, and
//! BLMPOP/BZMPOP check their arguments in Redis's order; a push replies
//! once the clients it served have popped; clients queue on a key in the
//! order their commands arrived. Every wait is
//! bounded; the server is killed by PID when each test ends.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use redis::Value;

/// Runs `args` on a new connection in a thread; returns its reply.
fn in_thread(s: &TestServer, args: &[&str]) -> thread::JoinHandle<Result<Value, String>> {
    let mut con = s.conn();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        query(&mut con, &args)
    })
}

/// Waits until `key` is gone (its element popped), at most 1.5 s: well
/// before the 4 s timeout of the waiter in front, whose leaving would also
/// wake the next one.
fn popped_soon(c: &mut redis::Connection, key: &str) {
    let deadline = Instant::now() + Duration::from_millis(1500);
    while ok(c, &["EXISTS", key]) != int(0) {
        assert!(Instant::now() < deadline, "{key} was not served in time");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_waiter_that_cannot_pop_what_a_key_holds_passes_the_wake_up_on() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // A sorted-set pop first in line, a list pop behind it: a push serves
    // the list pop, and the sorted-set pop waits on.
    let zpop = in_thread(&s, &["BZPOPMIN", "q", "4"]);
    s.wait_blocked(1);
    let lpop = in_thread(&s, &["BLPOP", "q", "8"]);
    s.wait_blocked(2);
    assert_eq!(ok(c, &["RPUSH", "q", "v1"]), int(1));
    popped_soon(c, "q");
    assert_eq!(
        lpop.join().unwrap().unwrap(),
        bulks(&[Some("q"), Some("v1")])
    );
    assert_eq!(zpop.join().unwrap().unwrap(), Value::Nil);
    // The other way round: a list pop first, then a sorted-set pop.
    let lpop = in_thread(&s, &["BLPOP", "z", "4"]);
    s.wait_blocked(1);
    let zpop = in_thread(&s, &["BZPOPMIN", "z", "8"]);
    s.wait_blocked(2);
    assert_eq!(ok(c, &["ZADD", "z", "1", "m"]), int(1));
    popped_soon(c, "z");
    assert_eq!(
        zpop.join().unwrap().unwrap(),
        bulks(&[Some("z"), Some("m"), Some("1")])
    );
    assert_eq!(lpop.join().unwrap().unwrap(), Value::Nil);
    // BLMOVE whose source turns into a sorted set does not hold it either.
    let bmove = in_thread(&s, &["BLMOVE", "w", "d", "LEFT", "LEFT", "4"]);
    s.wait_blocked(1);
    let zpop = in_thread(&s, &["BZPOPMAX", "w", "8"]);
    s.wait_blocked(2);
    assert_eq!(ok(c, &["ZADD", "w", "2", "n"]), int(1));
    popped_soon(c, "w");
    assert_eq!(
        zpop.join().unwrap().unwrap(),
        bulks(&[Some("w"), Some("n"), Some("2")])
    );
    assert_eq!(bmove.join().unwrap().unwrap(), Value::Nil);
}

#[test]
fn a_client_on_several_keys_is_served_from_the_one_that_became_ready() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // Its first key now holds a string: the push onto the second serves it.
    let first = in_thread(&s, &["BLPOP", "t1", "t2", "4"]);
    s.wait_blocked(1);
    let second = in_thread(&s, &["BLPOP", "t2", "8"]);
    s.wait_blocked(2);
    assert_eq!(ok(c, &["SET", "t1", "string"]), okay());
    assert_eq!(ok(c, &["RPUSH", "t2", "v1", "v2"]), int(2));
    assert_eq!(
        first.join().unwrap().unwrap(),
        bulks(&[Some("t2"), Some("v1")])
    );
    assert_eq!(
        second.join().unwrap().unwrap(),
        bulks(&[Some("t2"), Some("v2")])
    );
    // The same for BLMPOP, BZPOPMIN and BZMPOP.
    for (first_key, wait, fill, want) in [
        (
            "a1",
            &["BLMPOP", "5", "2", "a1", "a2", "LEFT"][..],
            &["RPUSH", "a2", "x"][..],
            Value::Array(vec![bulk("a2"), bulks(&[Some("x")])]),
        ),
        (
            "b1",
            &["BZPOPMIN", "b1", "b2", "5"],
            &["ZADD", "b2", "1", "x"],
            bulks(&[Some("b2"), Some("x"), Some("1")]),
        ),
        (
            "c1",
            &["BZMPOP", "5", "2", "c1", "c2", "MIN"],
            &["ZADD", "c2", "1", "x"],
            Value::Array(vec![
                bulk("c2"),
                Value::Array(vec![bulks(&[Some("x"), Some("1")])]),
            ]),
        ),
    ] {
        let waiter = in_thread(&s, wait);
        s.wait_blocked(1);
        assert_eq!(ok(c, &["SET", first_key, "string"]), okay());
        ok(c, fill);
        assert_eq!(waiter.join().unwrap().unwrap(), want, "{wait:?}");
    }
    // A key of another type at the first call still answers WRONGTYPE.
    assert!(err(c, &["BLPOP", "t1", "t2", "1"]).starts_with("WRONGTYPE"));
}

#[test]
fn keys_made_ready_by_one_transaction_serve_in_the_order_they_were_written() {
    let s = TestServer::start();
    let c = &mut s.conn();
    for (wait, want) in [
        (
            &["BLPOP", "m1", "m2", "5"][..],
            bulks(&[Some("m2"), Some("b")]),
        ),
        (
            &["BLMPOP", "5", "2", "m1", "m2", "RIGHT"],
            Value::Array(vec![bulk("m2"), bulks(&[Some("b")])]),
        ),
    ] {
        ok(c, &["DEL", "m1", "m2"]);
        let waiter = in_thread(&s, wait);
        s.wait_blocked(1);
        let mut tx = redis::pipe();
        tx.atomic()
            .cmd("RPUSH")
            .arg("m2")
            .arg("b")
            .cmd("RPUSH")
            .arg("m1")
            .arg("a");
        let _: Value = tx.query(c).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), want, "{wait:?}");
    }
}

/// The contents of `key` as bulk strings.
fn items(c: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap()
}

#[test]
fn a_push_replies_once_the_clients_it_served_have_popped() {
    // As in Redis, which serves blocked clients before it writes the
    // replies of the command that made their keys ready: what the pusher
    // reads next shows the pops, the moves they made, and the clients
    // those moves served. Several rounds, since a reply that raced the
    // waiters would pass now and then.
    let s = TestServer::start();
    let c = &mut s.conn();
    for round in 0..8 {
        // A chain: list1 -> list2 -> list3.
        ok(c, &["DEL", "list1", "list2", "list3"]);
        let first = in_thread(&s, &["BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0"]);
        s.wait_blocked(1);
        let second = in_thread(&s, &["BLMOVE", "list2", "list3", "LEFT", "RIGHT", "0"]);
        s.wait_blocked(2);
        assert_eq!(ok(c, &["RPUSH", "list1", "foo"]), int(1));
        assert_eq!(
            (items(c, "list1"), items(c, "list2"), items(c, "list3")),
            (vec![], vec![], vec!["foo".to_string()]),
            "round {round}: linked moves"
        );
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        // A circle: list1 -> list2 -> list1, which ends with the element
        // back in list1 and both clients served.
        ok(c, &["DEL", "list1", "list2"]);
        let first = in_thread(&s, &["BRPOPLPUSH", "list1", "list2", "0"]);
        s.wait_blocked(1);
        let second = in_thread(&s, &["BRPOPLPUSH", "list2", "list1", "0"]);
        s.wait_blocked(2);
        ok(c, &["RPUSH", "list1", "foo"]);
        assert_eq!(
            (items(c, "list1"), items(c, "list2")),
            (vec!["foo".to_string()], vec![]),
            "round {round}: circular moves"
        );
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        // Two clients on one key, one push of two elements: both served.
        let a = in_thread(&s, &["BLPOP", "q", "0"]);
        s.wait_blocked(1);
        let b = in_thread(&s, &["BLPOP", "q", "0"]);
        s.wait_blocked(2);
        ok(c, &["RPUSH", "q", "x", "y"]);
        assert_eq!(ok(c, &["EXISTS", "q"]), int(0), "round {round}: two pops");
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
        // A move into a watched key, made by the push's waiter, fails the
        // watcher's EXEC that follows the push.
        ok(c, &["DEL", "src", "dst"]);
        let mover = in_thread(&s, &["BRPOPLPUSH", "src", "dst", "0"]);
        s.wait_blocked(1);
        let watcher = &mut s.conn();
        ok(watcher, &["WATCH", "dst"]);
        ok(watcher, &["MULTI"]);
        ok(watcher, &["GET", "somekey"]);
        ok(c, &["LPUSH", "src", "element"]);
        assert_eq!(ok(watcher, &["EXEC"]), Value::Nil, "round {round}: watch");
        mover.join().unwrap().unwrap();
    }
}

#[test]
fn waiting_on_many_keys_costs_linear_time() {
    let s = TestServer::start();
    let c = &mut s.conn();
    // 100,000 distinct keys: registering them took 18 s (a linear search
    // per key) and stalled every other client; now a fraction of a second.
    let keys: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
    let mut args = vec!["BLPOP"];
    args.extend(keys.iter().map(String::as_str));
    args.push("0.01");
    let started = Instant::now();
    assert_eq!(ok(c, &args), Value::Nil);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "BLPOP on 100,000 keys took {took:?}"
    );
}

#[test]
fn blocking_multi_pops_check_the_timeout_last_and_read_it_as_redis_does() {
    let s = TestServer::start();
    let c = &mut s.conn();
    for (args, want) in [
        (
            &["BLMPOP", "-1", "1", "a", "LEFT", "COUNT", "0"][..],
            "ERR count should be greater than 0",
        ),
        (
            &["BLMPOP", "x", "1", "a", "LEFT", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["BZMPOP", "-1", "0", "a", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["BLMPOP", "-1", "1", "a", "UP"], "ERR syntax error"),
        (
            &["BLMPOP", "-1", "1", "a", "LEFT"],
            "ERR timeout is negative",
        ),
        // Redis reads timeouts as long doubles.
        (
            &["BLPOP", "a", "1e-5000"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BLPOP", "a", "1e5000"],
            "ERR timeout is not a float or out of range",
        ),
        (&["BLPOP", "a", "1e400"], "ERR timeout is negative"),
    ] {
        assert_eq!(err(c, args), want, "{args:?}");
    }
    // Too small for a double, not for a long double: a millisecond.
    let started = Instant::now();
    assert_eq!(ok(c, &["BLPOP", "a", "1e-400"]), Value::Nil);
    assert_eq!(ok(c, &["BZPOPMIN", "a", "2e-324"]), Value::Nil);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn clients_queue_on_a_key_in_the_order_their_commands_arrived() {
    // A's BLPOP waits behind a DEBUG SLEEP in its own pipeline; B's BLPOP,
    // sent while A sleeps, registers first. Redis takes up A's input
    // first and blocks A first, so the first push serves A.
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let c = &mut s.conn();
    let mut a = s.raw();
    let mut pipeline = encode_cmd(&[b"DEBUG", b"SLEEP", b"0.4"]);
    pipeline.extend(encode_cmd(&[b"BLPOP", b"q", b"0"]));
    a.send(&pipeline);
    // Its input is read once its sleep has begun.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
        if list.contains("cmd=debug") {
            break;
        }
        assert!(Instant::now() < deadline, "DEBUG SLEEP never ran: {list}");
        thread::sleep(Duration::from_millis(5));
    }
    let b = in_thread(&s, &["BLPOP", "q", "0"]);
    s.wait_blocked(2);
    assert_eq!(ok(c, &["RPUSH", "q", "first"]), int(1));
    assert_eq!(a.read_reply(), "+OK\r\n");
    assert_eq!(a.read_reply(), "*2\r\n$1\r\nq\r\n$5\r\nfirst\r\n");
    assert_eq!(ok(c, &["RPUSH", "q", "second"]), int(1));
    assert_eq!(
        b.join().unwrap().unwrap(),
        bulks(&[Some("q"), Some("second")])
    );
}
