//! DEBUG PROTOCOL <type>: one reply of each RESP type, as redis-server
//! sends it, for client libraries and test suites that check their
//! parsers (Redis's own `unit/protocol` does).

use ringkv_resp::{Protocol, Reply};

use super::args::is;
use crate::reply_error::{CmdResult, ReplyError};

/// The reply DEBUG PROTOCOL `name` answers a client speaking `proto`.
pub fn reply(name: &[u8], proto: Protocol) -> CmdResult {
    let text = |s: &'static str| Reply::Bulk(bytes::Bytes::from_static(s.as_bytes()));
    let ints = || (0..3).map(Reply::Int).collect::<Vec<_>>();
    Ok(if is(name, "string") {
        text("Hello World")
    } else if is(name, "integer") {
        Reply::Int(12345)
    } else if is(name, "double") {
        // Redis's test value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        Reply::Double(3.141)
    } else if is(name, "bignum") {
        Reply::BigNumber("1234567999999999999999999999999999999".into())
    } else if is(name, "null") {
        Reply::Nil
    } else if is(name, "array") {
        Reply::Array(ints())
    } else if is(name, "set") {
        Reply::Set(ints())
    } else if is(name, "map") {
        Reply::Map(
            (0..3)
                .map(|j| (Reply::Int(j), Reply::Bool(j == 1)))
                .collect(),
        )
    } else if is(name, "attrib") {
        // Attributes are not a reply: a real one follows (alone in RESP2).
        Reply::Many(vec![
            Reply::Attribute(vec![(
                text("key-popularity"),
                Reply::Array(vec![text("key:123"), Reply::Int(90)]),
            )]),
            text("Some real reply following the attribute"),
        ])
    } else if is(name, "push") {
        if proto == Protocol::Resp2 {
            return Err(ReplyError::err("RESP2 is not supported by this command"));
        }
        Reply::Many(vec![
            Reply::Push(vec![text("server-cpu-usage"), Reply::Int(42)]),
            text("Some real reply following the push reply"),
        ])
    } else if is(name, "true") {
        Reply::Bool(true)
    } else if is(name, "false") {
        Reply::Bool(false)
    } else if is(name, "verbatim") {
        Reply::Verbatim(
            "txt",
            bytes::Bytes::from_static(b"This is a verbatim\nstring"),
        )
    } else {
        return Err(ReplyError::err(
            "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ));
    })
}
