//! The `Reply` value every command returns, and its encoding for RESP2 or
//! RESP3 (chosen per connection by `HELLO`).
//!
//! Scalars are encoded with `redis-protocol`'s borrowed frames. Aggregates
//! write their own headers (`*n`, `%n`, `~n`) and then each element, so an
//! aggregate never needs a second tree of frames, and maps keep the field
//! order Redis documents (the crate's map frames are hash maps).
//!
//! RESP2 has no map, set, double, boolean or verbatim types; they degrade as
//! Redis degrades them: a map becomes a flat array of key, value, ...; a set
//! an array; a double a bulk string; a boolean the integer 1 or 0; a
//! verbatim string a bulk string; every null `$-1` (or `*-1` for a null array).

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use redis_protocol::{resp2, resp3};
use ringkv_number::format_double;

/// Which protocol a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The number `HELLO` reports (`proto`).
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// A command's reply, independent of the protocol it is sent in.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A simple (status) string without CR or LF, e.g. `+PONG`.
    Simple(Cow<'static, str>),
    /// An error; the text starts with its prefix (`ERR ...`, `WRONGTYPE ...`).
    Error(Cow<'static, str>),
    /// An integer.
    Int(i64),
    /// A bulk (binary-safe) string.
    Bulk(Bytes),
    /// The null bulk string (`$-1`; `_` in RESP3).
    Nil,
    /// The null array (`*-1`; `_` in RESP3).
    NilArray,
    /// An array.
    Array(Vec<Reply>),
    /// Ordered key/value pairs (a flat array in RESP2).
    Map(Vec<(Reply, Reply)>),
    /// A set (an array in RESP2).
    Set(Vec<Reply>),
    /// A double (a bulk string in RESP2).
    Double(f64),
    /// A boolean (1 or 0 in RESP2).
    Bool(bool),
    /// A verbatim string with its three-letter format, e.g. `txt` (a bulk string in RESP2).
    Verbatim(&'static str, Bytes),
    /// An out-of-band message (pub/sub): a RESP3 push, a RESP2 array.
    Push(Vec<Reply>),
    /// A big number, its decimal digits (a bulk string in RESP2).
    BigNumber(Cow<'static, str>),
    /// RESP3 attributes: key/value pairs about the reply that follows,
    /// which is sent separately (nothing in RESP2).
    Attribute(Vec<(Reply, Reply)>),
    /// Several replies sent back to back for one command (SUBSCRIBE of
    /// several channels answers once per channel).
    Many(Vec<Reply>),
    /// A reply already encoded in the protocol of the connection it is
    /// sent on ([`Reply::streamed_array`]), sent as it is.
    Raw(Bytes),
}

impl Reply {
    /// A simple string from static text.
    pub const fn simple(text: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(text))
    }

    /// A bulk string copied from `data`.
    pub fn bulk(data: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data.as_ref()))
    }

    /// An error reply; `text` includes the prefix, e.g. `"ERR syntax error"`.
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Whether this is a push notification, or several and nothing else
    /// (a SUBSCRIBE's confirmations): what a client gets even with its
    /// replies turned off (CLIENT REPLY OFF or SKIP), as in Redis.
    pub fn is_push(&self) -> bool {
        match self {
            Reply::Push(_) => true,
            Reply::Many(all) => !all.is_empty() && all.iter().all(Reply::is_push),
            _ => false,
        }
    }

    /// An array of `len` elements encoded in `proto` as `items` yields
    /// them, one at a time: a reply of millions of elements (random picks
    /// with repeats) costs its encoding, not a [`Reply`] per element too.
    /// `items` must yield exactly `len` replies.
    pub fn streamed_array(
        len: usize,
        proto: Protocol,
        items: impl IntoIterator<Item = Reply>,
    ) -> Reply {
        let mut out = BytesMut::new();
        header(&mut out, b'*', len);
        for item in items {
            item.encode(proto, &mut out);
        }
        Reply::Raw(out.freeze())
    }

    /// Appends the encoding of this reply in `proto` to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match proto {
            Protocol::Resp2 => self.encode_resp2(out),
            Protocol::Resp3 => self.encode_resp3(out),
        }
    }

    fn encode_resp2(&self, out: &mut BytesMut) {
        use resp2::types::BorrowedFrame as F;
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Simple(s) => leaf2(out, &F::SimpleString(sanitize(s).as_bytes())),
            Reply::Error(e) => leaf2(out, &F::Error(&sanitize(e))),
            Reply::Int(i) => integer(out, *i),
            Reply::Bulk(b) | Reply::Verbatim(_, b) => bulk(out, b),
            Reply::Nil => leaf2(out, &F::Null),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|r| r.encode_resp2(out));
            }
            Reply::Many(replies) => replies.iter().for_each(|r| r.encode_resp2(out)),
            Reply::Map(pairs) => {
                header(out, b'*', pairs.len() * 2);
                for (k, v) in pairs {
                    k.encode_resp2(out);
                    v.encode_resp2(out);
                }
            }
            Reply::Double(d) => leaf2(out, &F::BulkString(format_double(*d).as_bytes())),
            Reply::Bool(b) => leaf2(out, &F::Integer(i64::from(*b))),
            Reply::BigNumber(n) => leaf2(out, &F::BulkString(n.as_bytes())),
            Reply::Attribute(_) => {}
            Reply::Raw(b) => out.put_slice(b),
        }
    }

    fn encode_resp3(&self, out: &mut BytesMut) {
        use resp3::types::BorrowedFrame as F;
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Simple(s) => leaf3(
                out,
                &F::SimpleString {
                    data: sanitize(s).as_bytes(),
                    attributes: None,
                },
            ),
            Reply::Error(e) => leaf3(
                out,
                &F::SimpleError {
                    data: &sanitize(e),
                    attributes: None,
                },
            ),
            Reply::Int(i) => integer(out, *i),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Verbatim(fmt, b) => {
                // The crate only knows the txt and mkd formats; write the frame directly.
                header(out, b'=', b.len() + 4);
                out.put_slice(fmt.as_bytes());
                out.put_u8(b':');
                out.put_slice(b);
                out.put_slice(b"\r\n");
            }
            Reply::Nil | Reply::NilArray => leaf3(out, &F::Null),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|r| r.encode_resp3(out));
            }
            Reply::Set(items) => {
                header(out, b'~', items.len());
                items.iter().for_each(|r| r.encode_resp3(out));
            }
            Reply::Push(items) => {
                header(out, b'>', items.len());
                items.iter().for_each(|r| r.encode_resp3(out));
            }
            Reply::Many(replies) => replies.iter().for_each(|r| r.encode_resp3(out)),
            Reply::Map(pairs) => {
                header(out, b'%', pairs.len());
                for (k, v) in pairs {
                    k.encode_resp3(out);
                    v.encode_resp3(out);
                }
            }
            Reply::Double(d) => {
                out.put_u8(b',');
                out.put_slice(format_double(*d).as_bytes());
                out.put_slice(b"\r\n");
            }
            Reply::Bool(b) => leaf3(
                out,
                &F::Boolean {
                    data: *b,
                    attributes: None,
                },
            ),
            Reply::BigNumber(n) => {
                out.put_u8(b'(');
                out.put_slice(sanitize(n).as_bytes());
                out.put_slice(b"\r\n");
            }
            Reply::Attribute(pairs) => {
                header(out, b'|', pairs.len());
                for (k, v) in pairs {
                    k.encode_resp3(out);
                    v.encode_resp3(out);
                }
            }
            Reply::Raw(b) => out.put_slice(b),
        }
    }
}

impl From<&'static str> for Reply {
    fn from(s: &'static str) -> Self {
        Reply::Simple(Cow::Borrowed(s))
    }
}

fn leaf2(out: &mut BytesMut, frame: &resp2::types::BorrowedFrame<'_>) {
    // Encoding into a growable buffer can only fail on a frame the crate
    // cannot represent; every frame built here is representable.
    let _ = resp2::encode::extend_encode_borrowed(out, frame, false);
}

fn leaf3(out: &mut BytesMut, frame: &resp3::types::BorrowedFrame<'_>) {
    let _ = resp3::encode::complete::extend_encode_borrowed(out, frame, false);
}

/// An aggregate's header: `kind`, `len` in decimal, CRLF.
pub(crate) fn header(out: &mut BytesMut, kind: u8, len: usize) {
    number_line(out, kind, len, 0);
}

/// A bulk string, `$<len>\r\n<data>\r\n` in RESP2 and RESP3 alike,
/// written directly: it is the most frequent reply (every GET, every
/// element of an array), and the protocol crate's generic encoder
/// measured the frame's length, then wrote it piece by piece.
fn bulk(out: &mut BytesMut, data: &[u8]) {
    number_line(out, b'$', data.len(), data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// An integer, `:<i>\r\n` in RESP2 and RESP3 alike.
fn integer(out: &mut BytesMut, i: i64) {
    number_line(out, b':', i, 0);
}

/// `kind`, `n` in decimal and CRLF, with room reserved for `more` bytes
/// after them.
fn number_line(out: &mut BytesMut, kind: u8, n: impl itoa::Integer, more: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    out.reserve(digits.len() + 3 + more);
    out.put_u8(kind);
    out.put_slice(digits.as_bytes());
    out.put_slice(b"\r\n");
}

/// Status and error lines cannot contain CR or LF; Redis replaces them with
/// spaces, and so do we.
fn sanitize(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        Cow::Owned(s.replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(s)
    }
}
