//! Unit and property tests of framing and encoding. Tests may unwrap: a panic is a failure.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

fn decode_all(input: &[u8], limits: &Limits) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
    let mut buf = BytesMut::from(input);
    let mut dec = RequestDecoder::new();
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf, limits) {
            Ok(Some(req)) => out.push(req.args.iter().map(|a| a.to_vec()).collect()),
            Ok(None) => return (out, None, buf.len()),
            Err(e) => return (out, Some(e), buf.len()),
        }
    }
}

fn words(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn pipelined_multibulk_requests_decode_in_order() {
    let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET";
    let (reqs, err, rest) = decode_all(input, &Limits::default());
    assert_eq!(reqs, vec![words(&["PING"]), words(&["SET", "k", ""])]);
    assert_eq!(err, None);
    assert_eq!(rest, 11, "the incomplete GET stays buffered");
}

#[test]
fn inline_requests_follow_sdssplitargs() {
    let input = b"set k \"a b\\x41\\n\"\r\nGET 'it\\'s'\n   \r\nping\n";
    let (reqs, err, _) = decode_all(input, &Limits::default());
    assert_eq!(err, None);
    assert_eq!(
        reqs,
        vec![
            words(&["set", "k", "a bA\n"]),
            words(&["GET", "it's"]),
            words(&["ping"])
        ]
    );
}

#[test]
fn unbalanced_quotes_are_a_protocol_error() {
    for bad in [&b"set k \"abc\r\n"[..], b"set k \"a\"b\r\n", b"get 'x\r\n"] {
        let (_, err, _) = decode_all(bad, &Limits::default());
        assert_eq!(err, Some(ProtocolError::UnbalancedQuotes), "{bad:?}");
    }
    assert_eq!(
        ProtocolError::UnbalancedQuotes.to_string(),
        "ERR Protocol error: unbalanced quotes in request"
    );
}

#[test]
fn header_errors_use_redis_texts() {
    let cases: &[(&[u8], &str)] = &[
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$536870913\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
    ];
    for (input, text) in cases {
        let (_, err, _) = decode_all(input, &Limits::default());
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(*text),
            "{input:?}"
        );
    }
}

#[test]
fn oversized_headers_and_inline_requests_are_rejected() {
    let long = vec![b'a'; request::INLINE_MAX_BYTES + 1];
    assert_eq!(
        decode_all(&long, &Limits::default()).1,
        Some(ProtocolError::TooBigInlineRequest)
    );
    let mut mb = b"*".to_vec();
    mb.extend_from_slice(&long);
    assert_eq!(
        decode_all(&mb, &Limits::default()).1,
        Some(ProtocolError::TooBigMultibulkCount)
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', request::INLINE_MAX_BYTES + 1));
    assert_eq!(
        decode_all(&bulk, &Limits::default()).1,
        Some(ProtocolError::TooBigBulkCount)
    );
}

#[test]
fn configured_limits_apply() {
    let limits = Limits {
        max_bulk_len: 10,
        max_multibulk_len: 3,
        auth_required: false,
    };
    assert_eq!(
        decode_all(b"*4\r\n", &limits).1,
        Some(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        decode_all(b"*1\r\n$11\r\n", &limits).1,
        Some(ProtocolError::InvalidBulkLength)
    );
    assert!(
        decode_all(b"*1\r\n$10\r\n0123456789\r\n", &limits)
            .1
            .is_none()
    );
}

#[test]
fn unauthenticated_clients_get_tighter_limits() {
    let limits = Limits {
        auth_required: true,
        ..Limits::default()
    };
    assert_eq!(
        decode_all(b"*11\r\n", &limits).1,
        Some(ProtocolError::UnauthenticatedMultibulkLength)
    );
    assert_eq!(
        decode_all(b"*1\r\n$16385\r\n", &limits).1,
        Some(ProtocolError::UnauthenticatedBulkLength)
    );
    assert!(
        decode_all(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", &limits)
            .1
            .is_none()
    );
}

#[test]
fn empty_requests_are_skipped() {
    let (reqs, err, rest) = decode_all(
        b"*0\r\n*-1\r\n\r\n\n*1\r\n$4\r\nPING\r\n",
        &Limits::default(),
    );
    assert_eq!(reqs, vec![words(&["PING"])]);
    assert_eq!((err, rest), (None, 0));
}

#[test]
fn large_bulk_reports_the_bytes_it_needs() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$100000\r\nabc"[..]);
    let mut dec = RequestDecoder::new();
    assert_eq!(dec.decode(&mut buf, &Limits::default()), Ok(None));
    assert_eq!(dec.needed(), 13 + 9 + 100_000 + 2);
}

#[test]
fn string_to_i64_matches_redis_string2ll() {
    assert_eq!(string_to_i64(b"0"), Some(0));
    assert_eq!(string_to_i64(b"-1"), Some(-1));
    assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"01",
        b"+1",
        b" 1",
        b"1 ",
        b"9223372036854775808",
        b"1a",
    ] {
        assert_eq!(string_to_i64(bad), None, "{bad:?}");
    }
}

fn encoded(r: &Reply, p: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    r.encode(p, &mut out);
    out.to_vec()
}

#[test]
fn replies_encode_as_redis_sends_them() {
    use Protocol::*;
    let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
    let cases: Vec<(Reply, &[u8], &[u8])> = vec![
        (Reply::Ok, b"+OK\r\n", b"+OK\r\n"),
        (Reply::simple("PONG"), b"+PONG\r\n", b"+PONG\r\n"),
        (
            Reply::error("ERR bad\r\nthing"),
            b"-ERR bad  thing\r\n",
            b"-ERR bad  thing\r\n",
        ),
        (Reply::Int(-7), b":-7\r\n", b":-7\r\n"),
        (Reply::bulk("hi"), b"$2\r\nhi\r\n", b"$2\r\nhi\r\n"),
        (Reply::Nil, b"$-1\r\n", b"_\r\n"),
        (Reply::NilArray, b"*-1\r\n", b"_\r\n"),
        (map, b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
        (
            Reply::Set(vec![Reply::Int(1)]),
            b"*1\r\n:1\r\n",
            b"~1\r\n:1\r\n",
        ),
        (Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n"),
        (Reply::Bool(true), b":1\r\n", b"#t\r\n"),
        (
            Reply::Verbatim("txt", Bytes::from_static(b"x")),
            b"$1\r\nx\r\n",
            b"=5\r\ntxt:x\r\n",
        ),
    ];
    for (reply, r2, r3) in cases {
        assert_eq!(encoded(&reply, Resp2), r2, "{reply:?} in RESP2");
        assert_eq!(encoded(&reply, Resp3), r3, "{reply:?} in RESP3");
    }
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        Just(Reply::Ok),
        Just(Reply::Nil),
        any::<i64>().prop_map(Reply::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Reply::Bulk(v.into())),
        "[a-zA-Z ]{0,20}".prop_map(|s| Reply::Simple(s.into())),
        any::<bool>().prop_map(Reply::Bool),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            // Map keys are strings, as in every Redis reply (the crate's decoder
            // cannot hash aggregate keys).
            proptest::collection::vec(("[a-z]{1,8}".prop_map(Reply::bulk), inner), 0..4)
                .prop_map(Reply::Map),
        ]
    })
}

proptest! {
    #[test]
    fn multibulk_round_trips_in_any_chunking(
        reqs in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 1..6), 1..8),
        chunk in 1usize..64,
    ) {
        let wire: Vec<u8> = reqs.iter().flat_map(|r| multibulk(r)).collect();
        let mut buf = BytesMut::new();
        let mut dec = RequestDecoder::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(req) = dec.decode(&mut buf, &Limits::default()).unwrap() {
                got.push(req.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        prop_assert_eq!(got, reqs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn decoder_never_panics_on_garbage(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&input, &Limits::default());
        let _ = decode_all(&input, &Limits { auth_required: true, ..Limits::default() });
    }

    #[test]
    fn resp2_replies_parse_back_with_redis_protocol(reply in arb_reply()) {
        let bytes = encoded(&reply, Protocol::Resp2);
        let (_, used) = redis_protocol::resp2::decode::decode(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
    }

    #[test]
    fn resp3_replies_parse_back_with_redis_protocol(reply in arb_reply()) {
        let bytes = encoded(&reply, Protocol::Resp3);
        let (_, used) = redis_protocol::resp3::decode::complete::decode(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
    }
}
