//! Request framing: splits complete client requests off a connection's read
//! buffer, exactly as redis-server's `processMultibulkBuffer` and
//! `processInlineBuffer` do — same limits, same acceptance of odd input, same
//! `Protocol error: ...` texts — so that every client and tool sees what
//! Redis would show it.
//!
//! A request starting with `*` is a multibulk array of bulk strings; any
//! other first byte starts an inline request, one line split into words the
//! way `redis-cli` quotes them (`sdssplitargs`).
//!
//! Arguments are zero-copy slices of the frozen frame. Callers that keep an
//! argument beyond the request (e.g. store it) should copy it, or the whole
//! read buffer it shares stays alive.
//!
//! Why not `redis_protocol::resp2::decode`: it is a client-side decoder. It
//! has no inline commands, none of the server limits (it would buffer a
//! claimed 4 GB bulk), and none of Redis's error texts, which clients and
//! tests match on. The reply side does use `redis-protocol` (see `reply.rs`).

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;

/// Longest inline request, and longest `*<n>`/`$<n>` header line, that
/// Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// Before AUTH (when a password is required) a client may send at most this
/// many arguments in one request, as in Redis.
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;

/// Before AUTH (when a password is required) a bulk argument may be at most
/// this long, as in Redis.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16384;

/// The limits a decoder enforces; the server fills them from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`).
    pub max_bulk_len: u64,
    /// Most arguments in one request (`proto-max-multibulk-len`).
    pub max_multibulk_len: u64,
    /// Whether the connection still has to authenticate; tightens the limits.
    pub auth_required: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            auth_required: false,
        }
    }
}

/// One complete client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The command name followed by its arguments; never empty.
    pub args: Vec<Bytes>,
    /// Whether it arrived as an inline request rather than a multibulk array.
    pub inline: bool,
}

/// Splits requests off a read buffer. Keeps how many bytes the frame being
/// received needs, so a large value arriving in many reads is not re-scanned
/// on every read.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    /// Buffered bytes needed before the pending frame can be complete (0: unknown).
    needed: usize,
}

impl RequestDecoder {
    /// A decoder with no pending frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes the buffer must hold before the pending frame can complete, if
    /// known; the connection may reserve that much before reading.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Removes and returns the first complete request in `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed. Empty requests (blank
    /// inline lines, `*0`, `*-1`) are consumed and skipped, as Redis does.
    /// On `Err` the connection must reply with the error's text and close.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Request>, ProtocolError> {
        loop {
            if buf.is_empty() || buf.len() < self.needed {
                return Ok(None);
            }
            let scanned = if buf.first() == Some(&b'*') {
                scan_multibulk(buf, limits)?
            } else {
                scan_inline(buf)?
            };
            match scanned {
                Scan::Incomplete { needed } => {
                    self.needed = needed;
                    return Ok(None);
                }
                Scan::Empty { consumed } => {
                    self.needed = 0;
                    let _ = buf.split_to(consumed);
                }
                Scan::Multibulk { consumed, ranges } => {
                    self.needed = 0;
                    let frame = buf.split_to(consumed).freeze();
                    let args = ranges.into_iter().map(|(s, e)| frame.slice(s..e)).collect();
                    return Ok(Some(Request {
                        args,
                        inline: false,
                    }));
                }
                Scan::Inline { consumed, args } => {
                    self.needed = 0;
                    let _ = buf.split_to(consumed);
                    return Ok(Some(Request { args, inline: true }));
                }
            }
        }
    }
}

enum Scan {
    Incomplete {
        needed: usize,
    },
    Empty {
        consumed: usize,
    },
    Multibulk {
        consumed: usize,
        ranges: Vec<(usize, usize)>,
    },
    Inline {
        consumed: usize,
        args: Vec<Bytes>,
    },
}

/// Finds the `\r` ending the header line that starts at `from`, Redis-style:
/// `Ok(None)` if the line (and its `\n`) is not all here yet.
fn header_line_end(
    buf: &[u8],
    from: usize,
    too_big: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or_default();
    match memchr::memchr(b'\r', rest) {
        None if rest.len() > INLINE_MAX_BYTES => Err(too_big),
        None => Ok(None),
        // Redis requires the byte after '\r' to be present (it assumes '\n').
        Some(i) if from + i + 2 > buf.len() => Ok(None),
        Some(i) => Ok(Some(from + i)),
    }
}

fn scan_multibulk(buf: &[u8], limits: &Limits) -> Result<Scan, ProtocolError> {
    let Some(cr) = header_line_end(buf, 0, ProtocolError::TooBigMultibulkCount)? else {
        return Ok(Scan::Incomplete { needed: 0 });
    };
    let count = buf
        .get(1..cr)
        .and_then(string_to_i64)
        .filter(|&n| n <= i64::from(i32::MAX))
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    if u64::try_from(count).is_ok_and(|n| n > limits.max_multibulk_len) {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if count > UNAUTHENTICATED_MAX_ARGS && limits.auth_required {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Scan::Empty { consumed: pos });
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut ranges = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let Some(cr) = header_line_end(buf, pos, ProtocolError::TooBigBulkCount)? else {
            return Ok(Scan::Incomplete { needed: 0 });
        };
        match buf.get(pos) {
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedDollar(other)),
            None => return Ok(Scan::Incomplete { needed: 0 }),
        }
        let len = buf
            .get(pos + 1..cr)
            .and_then(string_to_i64)
            .filter(|&n| n >= 0 && u64::try_from(n).is_ok_and(|n| n <= limits.max_bulk_len))
            .ok_or(ProtocolError::InvalidBulkLength)?;
        if len > UNAUTHENTICATED_MAX_BULK && limits.auth_required {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
        let start = cr + 2;
        // Like Redis, the two bytes after the data are skipped unchecked.
        let end = start + len;
        if end + 2 > buf.len() {
            return Ok(Scan::Incomplete { needed: end + 2 });
        }
        ranges.push((start, end));
        pos = end + 2;
    }
    Ok(Scan::Multibulk {
        consumed: pos,
        ranges,
    })
}

fn scan_inline(buf: &[u8]) -> Result<Scan, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        return Ok(Scan::Incomplete { needed: 0 });
    };
    let line_end = if nl > 0 && buf.get(nl - 1) == Some(&b'\r') {
        nl - 1
    } else {
        nl
    };
    let line = buf.get(..line_end).unwrap_or_default();
    let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
    if args.is_empty() {
        return Ok(Scan::Empty { consumed: nl + 1 });
    }
    Ok(Scan::Inline {
        consumed: nl + 1,
        args: args.into_iter().map(Bytes::from).collect(),
    })
}

/// Parses a decimal integer with the strictness of Redis's `string2ll`: an
/// optional `-`, no `+`, no spaces, no leading zeros, no overflow.
pub fn string_to_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(v).ok().map(|v| -v)
        }
    } else {
        i64::try_from(v).ok()
    }
}

fn is_space(c: u8) -> bool {
    // C's isspace in the "C" locale.
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits an inline line into words as Redis's `sdssplitargs` does:
/// whitespace separates words; `"..."` understands `\n \r \t \b \a \xHH` and
/// `\<c>`; `'...'` understands `\'`; a closing quote must be followed by
/// whitespace or the end. `None` means unbalanced quotes. As in C, a NUL
/// byte ends the line.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match memchr::memchr(0, line) {
        Some(nul) => line.get(..nul).unwrap_or_default(),
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(at(p)) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && hex(at(p + 2)).is_some()
                    && hex(at(p + 3)).is_some()
                {
                    let (hi, lo) = (hex(at(p + 2))?, hex(at(p + 3))?);
                    current.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => current.push(c),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
