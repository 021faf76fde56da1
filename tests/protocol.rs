//! Protocol-level behaviour over raw sockets: pipelining, inline commands,
//! malformed frames, limits and connection caps. Every case checks the
//! server keeps serving other clients.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn still_serving(s: &TestServer) {
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["PING"]),
        "+PONG\r\n",
        "server must keep serving other clients"
    );
}

#[test]
fn ten_thousand_pipelined_commands_in_one_write_answer_in_order() {
    let s = TestServer::start();
    let mut wire = Vec::new();
    for _ in 0..10_000 {
        wire.extend_from_slice(&encode_cmd(&[b"INCR", b"counter"]));
    }
    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&wire).unwrap());
    let mut reader = BufReader::new(stream);
    for expected in 1..=10_000 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!(":{expected}\r\n"));
    }
    sender.join().unwrap();
}

#[test]
fn inline_commands_work() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send(b"SET greeting \"hello world\"\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    c.send(b"GET greeting\n");
    assert_eq!(c.read_reply(), "$11\r\nhello world\r\n");
    c.send(b"\r\n   \r\nPING\r\n");
    assert_eq!(c.read_reply(), "+PONG\r\n", "blank lines are ignored");
    c.send(b"SET k \"unbalanced\r\n");
    assert_eq!(
        c.read_reply(),
        "-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert!(c.is_closed(), "a protocol error closes the connection");
    still_serving(&s);
}

#[test]
fn malformed_frames_get_redis_errors_and_close() {
    let s = TestServer::start();
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$999999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$600000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n+PING\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"*-\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (input, expected) in cases {
        let mut c = s.raw();
        c.send(input);
        assert_eq!(
            c.read_reply(),
            *expected,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(c.is_closed());
    }
    // Replies for requests before the bad frame are still sent.
    let mut c = s.raw();
    let mut wire = encode_cmd(&[b"SET", b"a", b"1"]);
    wire.extend_from_slice(b"*1\r\n:1\r\n");
    c.send(&wire);
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert_eq!(
        c.read_reply(),
        "-ERR Protocol error: expected '$', got ':'\r\n"
    );
    still_serving(&s);
}

#[test]
fn garbage_and_half_frames_never_hurt_the_server() {
    let s = TestServer::start();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..40 {
        let mut bytes = Vec::new();
        for _ in 0..(round * 13 % 300 + 1) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        if round % 3 == 0 {
            bytes.insert(0, b'*');
        }
        let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let _ = stream.write_all(&bytes);
        drop(stream);
    }
    // Half a frame, then disconnect.
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
        .unwrap();
    drop(stream);
    still_serving(&s);
    assert_eq!(
        s.raw().cmd(&["EXISTS", "k"]),
        ":0\r\n",
        "a half frame is never executed"
    );
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let s = TestServer::start_with(&["--maxclients", "2"]);
    // The harness's readiness probe may still hold a slot for a moment.
    let admitted = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut c = s.raw();
            c.send_cmd(&[b"PING"]);
            if c.read_reply() == "+PONG\r\n" {
                return c;
            }
            assert!(std::time::Instant::now() < deadline, "never admitted");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut a = admitted();
    let b = admitted();
    let mut third = s.raw();
    assert_eq!(third.read_reply(), "-ERR max number of clients reached\r\n");
    assert!(third.is_closed());
    drop(b);
    // The slot frees once the client leaves.
    drop(admitted());
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn query_buffer_limit_disconnects_the_client() {
    let s = TestServer::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(b"*2\r\n$3\r\nGET\r\n$10000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..100 {
        if stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        let mut c = RawConn::connect(s.port);
        drop(c.cmd(&["PING"]));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16];
        closed = matches!(std::io::Read::read(&mut stream, &mut buf), Ok(0) | Err(_));
    }
    assert!(
        closed,
        "a client over client-query-buffer-limit is disconnected"
    );
    still_serving(&s);
}

#[test]
fn a_request_may_carry_more_than_a_million_arguments_as_in_redis_7() {
    // Redis 7.0's only limit on the argument count is i32::MAX (6.x had
    // 1024 * 1024, which ringkv once kept): an ECHO with 1,100,000
    // arguments is parsed whole and refused for its arity, not its size.
    let s = TestServer::start();
    let n = 1_100_000usize;
    let mut req = format!("*{n}\r\n$4\r\nECHO\r\n").into_bytes();
    for _ in 1..n {
        req.extend_from_slice(b"$0\r\n\r\n");
    }
    let mut c = s.raw();
    c.send(&req);
    assert_eq!(
        c.read_reply(),
        "-ERR wrong number of arguments for 'echo' command\r\n"
    );
    let mut c = s.raw();
    c.send(b"*2147483648\r\n");
    assert_eq!(
        c.read_reply(),
        "-ERR Protocol error: invalid multibulk length\r\n"
    );
}

#[test]
fn parsed_arguments_count_toward_the_query_buffer_limit() {
    // 200,000 empty arguments are 1.2 MB of input but 3 MB of parsed
    // offsets: under a 2 MB limit the client is disconnected before the
    // request completes, though its buffer alone stays under the limit.
    let s = TestServer::start_with(&["--client-query-buffer-limit", "2mb"]);
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = b"*5000000\r\n$4\r\nECHO\r\n".to_vec();
    for _ in 0..200_000 {
        req.extend_from_slice(b"$0\r\n\r\n");
    }
    let _ = stream.write_all(&req);
    let mut buf = [0u8; 16];
    assert!(
        matches!(std::io::Read::read(&mut stream, &mut buf), Ok(0) | Err(_)),
        "disconnected"
    );
    still_serving(&s);
}

#[test]
fn unauthenticated_clients_cannot_send_big_frames() {
    let s = TestServer::start_with(&["--requirepass", "pw"]);
    let mut c = s.raw();
    c.send(b"*11\r\n");
    assert_eq!(
        c.read_reply(),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let mut c = s.raw();
    c.send(b"*2\r\n$3\r\nGET\r\n$20000\r\n");
    assert_eq!(
        c.read_reply(),
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    let mut ok = s.raw();
    assert_eq!(ok.cmd(&["AUTH", "pw"]), "+OK\r\n");
    let big = "v".repeat(20_000);
    assert_eq!(ok.cmd(&["SET", "k", &big]), "+OK\r\n");
}

#[test]
fn resp3_replies_after_hello_3() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert!(c.cmd(&["HELLO", "3"]).starts_with("%7"));
    assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert!(c.cmd(&["CONFIG", "GET", "port"]).starts_with("%1\r\n"));
    assert!(
        c.cmd(&["INFO", "server"]).starts_with("="),
        "INFO is a verbatim string in RESP3"
    );
    assert_eq!(c.cmd(&["MGET", "k", "nope"]), "*2\r\n$1\r\nv\r\n_\r\n");
}

#[test]
fn resp3_command_info_sends_sets_where_redis_7_0_does() {
    // Flags, categories, tips, key specs and their flags, and an empty
    // subcommand list are sets; these are redis-server 7.0.15's bytes.
    let s = TestServer::start();
    let mut c = s.raw();
    c.send(b"HELLO 3\r\n");
    let _ = c.read_reply();
    c.send(b"COMMAND INFO get\r\n");
    assert_eq!(
        c.read_reply(),
        "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
         ~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n\
         +RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n\
         $4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n\
         $5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n\
         $5\r\nlimit\r\n:0\r\n~0\r\n"
    );
}

#[test]
fn debug_protocol_answers_each_resp_type_as_redis_does() {
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let mut c = s.raw();
    // RESP2: attributes left out, big numbers and doubles as bulk strings,
    // booleans as integers, no push.
    for (name, want) in [
        (
            "attrib",
            "$39\r\nSome real reply following the attribute\r\n",
        ),
        ("bignum", "$37\r\n1234567999999999999999999999999999999\r\n"),
        ("double", "$5\r\n3.141\r\n"),
        ("true", ":1\r\n"),
        ("map", "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n"),
        ("push", "-ERR RESP2 is not supported by this command\r\n"),
    ] {
        assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", name]), want, "{name}");
    }
    c.send(b"HELLO 3\r\n");
    let _ = c.read_reply();
    for (name, want) in [
        ("bignum", "(1234567999999999999999999999999999999\r\n"),
        ("double", ",3.141\r\n"),
        ("false", "#f\r\n"),
        ("set", "~3\r\n:0\r\n:1\r\n:2\r\n"),
        ("verbatim", "=29\r\ntxt:This is a verbatim\nstring\r\n"),
        ("null", "_\r\n"),
    ] {
        assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", name]), want, "{name}");
    }
    // An attribute, then the reply it describes; a push, then the reply.
    c.send(b"DEBUG PROTOCOL attrib\r\n");
    assert_eq!(c.read_reply(), "|1\r\n");
    assert_eq!(c.read_reply(), "$14\r\nkey-popularity\r\n");
    assert_eq!(c.read_reply(), "*2\r\n$7\r\nkey:123\r\n:90\r\n");
    assert_eq!(
        c.read_reply(),
        "$39\r\nSome real reply following the attribute\r\n"
    );
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "push"]),
        ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
    );
    assert_eq!(
        c.read_reply(),
        "$40\r\nSome real reply following the push reply\r\n"
    );
    assert!(
        c.cmd(&["DEBUG", "PROTOCOL", "nope"])
            .starts_with("-ERR Wrong protocol type name.")
    );
}

/// A node reads ahead in a pipeline to start loading the next read's key
/// (`prefetch_next_key`): keys of every shape, and a SELECT between the
/// reads, still answer exactly as one request at a time.
#[test]
fn pipelined_reads_of_every_key_shape_answer_as_one_at_a_time() {
    let s = TestServer::start();
    let mut c = s.conn();
    let keys: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"k".to_vec(),
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec(),
        vec![0u8, 255, 13, 10, 36],
        vec![b'a'; 116],
        vec![b'b'; 117],
        vec![b'c'; 1024],
        vec![b'd'; 5000],
    ];
    for (db, tag) in [(0, "zero"), (5, "five")] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg(format!("{tag}-{i}"))
                .query(&mut c)
                .unwrap();
        }
    }
    redis::cmd("SELECT").arg(0).query::<()>(&mut c).unwrap();
    let mut p = redis::pipe();
    for db in [0, 5] {
        p.cmd("SELECT").arg(db).ignore();
        for key in &keys {
            p.cmd("GET").arg(key);
            p.cmd("STRLEN").arg(key);
            p.cmd("GET").arg(b"absent");
        }
    }
    let replies: Vec<redis::Value> = p.query(&mut c).unwrap();
    let mut expected = Vec::new();
    for tag in ["zero", "five"] {
        for i in 0..keys.len() {
            let value = format!("{tag}-{i}");
            expected.push(redis::Value::BulkString(value.clone().into_bytes()));
            expected.push(redis::Value::Int(value.len() as i64));
            expected.push(redis::Value::Nil);
        }
    }
    assert_eq!(replies, expected);
    still_serving(&s);
}
