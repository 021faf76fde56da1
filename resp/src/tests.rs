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

/// `args` framed as a multibulk request.
pub(crate) fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
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
    // Also when the line's end arrives with it.
    let mut whole = b"ECHO ".to_vec();
    whole.extend_from_slice(&long);
    whole.extend_from_slice(b"\r\n");
    assert_eq!(
        decode_all(&whole, &Limits::default()).1,
        Some(ProtocolError::TooBigInlineRequest)
    );
    let mut fits = b"ECHO ".to_vec();
    fits.extend_from_slice(&long[..request::INLINE_MAX_BYTES - 10]);
    fits.extend_from_slice(b"\r\n");
    assert_eq!(decode_all(&fits, &Limits::default()).1, None);
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

/// Feeds `wire` to one decoder in pieces cut at `cuts` (offsets, any
/// order), decoding everything buffered after each piece as the server
/// does. Returns the requests, the error if any, and the bytes examined.
fn decode_split(
    wire: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> (Vec<Request>, Option<ProtocolError>, u64) {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
    cuts.push(wire.len());
    cuts.sort_unstable();
    let mut buf = BytesMut::new();
    let mut dec = RequestDecoder::new();
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buf.extend_from_slice(&wire[from..cut]);
        from = cut;
        loop {
            match dec.decode(&mut buf, limits) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => break,
                Err(e) => return (out, Some(e), dec.examined()),
            }
        }
    }
    (out, None, dec.examined())
}

#[test]
fn a_trickled_100k_argument_request_is_examined_in_linear_work() {
    let n = 100_000;
    let args: Vec<Vec<u8>> = (0..n).map(|i| format!("{i}").into_bytes()).collect();
    let wire = multibulk(&args);
    let mut buf = BytesMut::new();
    let mut dec = RequestDecoder::new();
    let mut got = None;
    let mut fed = 0u64;
    for (calls, piece) in (1u64..).zip(wire.chunks(7)) {
        buf.extend_from_slice(piece);
        fed += piece.len() as u64;
        if let Some(req) = dec.decode(&mut buf, &Limits::default()).unwrap() {
            got = Some(req);
        }
        // Header bytes are searched and then parsed (twice), data bytes are
        // skipped, and a call may re-look at one '\r' awaiting its '\n'.
        // Rescanning the partial request on each call breaks this at once.
        assert!(
            dec.examined() <= 2 * fed + calls,
            "after {fed} bytes in {calls} calls the decoder had examined {} bytes",
            dec.examined()
        );
    }
    let req = got.expect("the request completes once every byte is in");
    assert_eq!(req.args.len(), n);
    assert_eq!(req.args[n - 1].as_ref(), format!("{}", n - 1).as_bytes());
    assert!(buf.is_empty());
}

#[test]
fn a_trickled_inline_request_is_examined_in_linear_work() {
    let mut line = b"SET k ".to_vec();
    line.extend(std::iter::repeat_n(b'v', request::INLINE_MAX_BYTES - 100));
    line.extend_from_slice(b"\r\n");
    let cuts: Vec<usize> = (1..line.len()).collect();
    let (reqs, err, examined) = decode_split(&line, &cuts, &Limits::default());
    assert_eq!(err, None);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].args[2].len(), request::INLINE_MAX_BYTES - 100);
    // Searched once for '\n', then split into words once.
    assert!(examined <= 2 * line.len() as u64, "examined {examined}");
}

#[test]
fn a_header_split_between_cr_and_lf_resumes() {
    let wire = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    for cut in 1..wire.len() {
        let (reqs, err, _) = decode_split(wire, &[cut], &Limits::default());
        assert_eq!(err, None, "cut at {cut}");
        assert_eq!(reqs.len(), 1, "cut at {cut}");
        assert_eq!(reqs[0].args, [&b"GET"[..], b"k"], "cut at {cut}");
    }
}

#[test]
fn limits_apply_to_the_header_parsed_after_they_change() {
    // AUTH completes first; the next request is framed with the limits the
    // server passes after AUTH succeeded.
    let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n"[..]);
    let mut dec = RequestDecoder::new();
    let strict = Limits {
        auth_required: true,
        ..Limits::default()
    };
    assert!(dec.decode(&mut buf, &strict).unwrap().is_some());
    assert_eq!(dec.decode(&mut buf, &Limits::default()), Ok(None));
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
        (
            Reply::Double(0.1),
            b"$19\r\n0.10000000000000001\r\n",
            b",0.10000000000000001\r\n",
        ),
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

/// One request on the wire and the arguments it decodes to (`None`: an
/// empty request the decoder skips): multibulk with arbitrary bytes, inline
/// words, or the empty forms `*0`, `*-1` and blank lines.
fn arb_wire_request() -> impl Strategy<Value = (Vec<u8>, Option<Vec<Vec<u8>>>)> {
    prop_oneof![
        4 => proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6)
            .prop_map(|args| (multibulk(&args), Some(args))),
        2 => (proptest::collection::vec("[a-zA-Z0-9]{1,10}", 1..5), any::<bool>()).prop_map(
            |(words, crlf)| {
                let mut line = words.join(" ").into_bytes();
                line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                let args = words.into_iter().map(String::into_bytes).collect();
                (line, Some(args))
            }
        ),
        1 => prop_oneof![
            Just(b"*0\r\n".to_vec()),
            Just(b"*-1\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"  \n".to_vec()),
        ]
        .prop_map(|w| (w, None)),
    ]
}

proptest! {
    /// Bulk strings, integers and aggregate headers are written directly,
    /// not through the protocol crate: byte for byte what it writes.
    #[test]
    fn direct_encodings_match_the_protocol_crate(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        i in any::<i64>(),
        n in 0usize..100_000,
    ) {
        use redis_protocol::{resp2, resp3};
        let crate2 = |f: &resp2::types::BorrowedFrame<'_>| {
            let mut out = BytesMut::new();
            resp2::encode::extend_encode_borrowed(&mut out, f, false).unwrap();
            out.to_vec()
        };
        let crate3 = |f: &resp3::types::BorrowedFrame<'_>| {
            let mut out = BytesMut::new();
            resp3::encode::complete::extend_encode_borrowed(&mut out, f, false).unwrap();
            out.to_vec()
        };
        let bulk = Reply::Bulk(Bytes::from(data.clone()));
        prop_assert_eq!(
            encoded(&bulk, Protocol::Resp2),
            crate2(&resp2::types::BorrowedFrame::BulkString(&data))
        );
        prop_assert_eq!(
            encoded(&bulk, Protocol::Resp3),
            crate3(&resp3::types::BorrowedFrame::BlobString { data: &data, attributes: None })
        );
        prop_assert_eq!(
            encoded(&Reply::Int(i), Protocol::Resp2),
            crate2(&resp2::types::BorrowedFrame::Integer(i))
        );
        prop_assert_eq!(
            encoded(&Reply::Int(i), Protocol::Resp3),
            crate3(&resp3::types::BorrowedFrame::Number { data: i, attributes: None })
        );
        let items = vec![Reply::Ok; n % 7];
        let mut want = format!("*{}\r\n", items.len()).into_bytes();
        want.extend(std::iter::repeat_n(&b"+OK\r\n"[..], n % 7).flatten());
        prop_assert_eq!(encoded(&Reply::Array(items), Protocol::Resp2), want);
        let mut out = BytesMut::new();
        crate::reply::header(&mut out, b'*', n);
        prop_assert_eq!(out.to_vec(), format!("*{n}\r\n").into_bytes());
    }

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
    fn a_pipeline_split_anywhere_decodes_as_when_fed_whole(
        reqs in proptest::collection::vec(arb_wire_request(), 1..12),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..24),
    ) {
        let wire: Vec<u8> = reqs.iter().flat_map(|(w, _)| w.clone()).collect();
        let expected: Vec<Vec<Vec<u8>>> = reqs.iter().filter_map(|(_, r)| r.clone()).collect();
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        let (whole, whole_err, _) = decode_split(&wire, &[], &Limits::default());
        let (split, split_err, examined) = decode_split(&wire, &cuts, &Limits::default());
        prop_assert_eq!(whole_err, None);
        prop_assert_eq!(split_err, None);
        prop_assert_eq!(&split, &whole);
        let args: Vec<Vec<Vec<u8>>> = split
            .iter()
            .map(|r| r.args.iter().map(|a| a.to_vec()).collect())
            .collect();
        prop_assert_eq!(args, expected);
        prop_assert!(examined <= 2 * wire.len() as u64 + cuts.len() as u64 + 1);
    }

    #[test]
    fn garbage_split_anywhere_decodes_as_when_fed_whole(
        input in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'$'), Just(b'*'), Just(b'1')],
            0..300,
        ),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..16),
        auth_required in any::<bool>(),
    ) {
        let limits = Limits { auth_required, ..Limits::default() };
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        let whole = decode_split(&input, &[], &limits);
        let split = decode_split(&input, &cuts, &limits);
        prop_assert_eq!((whole.0, whole.1), (split.0, split.1));
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
