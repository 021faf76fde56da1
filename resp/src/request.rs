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
//! Parsing is resumable, as Redis's is (`multibulklen`, `bulklen`,
//! `qb_pos`): a request arriving over many reads is examined once, not
//! rescanned from its first byte on every read ([`RequestDecoder`]).
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
use ringkv_number::string_to_i64;

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
            max_multibulk_len: i32::MAX as u64,
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

/// Splits requests off a read buffer, resuming where the previous call
/// stopped.
///
/// A request may arrive over many reads. The decoder keeps what it learnt
/// of the request at the front of the buffer — for a multibulk, how many
/// arguments are complete, where the next one's `$<len>` line starts, how
/// far the search for that line's end got, and the length of a bulk still
/// arriving — so each buffered byte is examined a bounded number of times
/// however the request is split, instead of the whole partial request being
/// rescanned on every read (which made a slowly trickled request with a
/// million arguments cost a core).
///
/// Contract: between calls the caller only appends to the buffer (and lets
/// `decode` remove what it consumed); the state is offsets into it. A
/// buffer shorter than the state expects resets the decoder.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    /// What is known of the request at the front of the buffer; reset each
    /// time a request (or an empty one) is split off.
    front: Front,
    /// Buffered bytes examined so far: searched for a line end or parsed.
    /// Bulk data is skipped, not examined.
    examined: u64,
}

/// Progress through the request at the front of the buffer.
#[derive(Debug)]
enum Front {
    /// Nothing parsed yet. The first line (a `*<count>` header, or an inline
    /// request) has been searched up to `searched` for its end, in vain.
    Start { searched: usize },
    /// A multibulk array whose header has been parsed.
    Multibulk(Partial),
}

impl Default for Front {
    fn default() -> Self {
        Front::Start { searched: 0 }
    }
}

impl Front {
    /// How many buffered bytes this state assumes are still there.
    fn assumes(&self) -> usize {
        match self {
            Front::Start { searched } => *searched,
            Front::Multibulk(p) => p.searched,
        }
    }
}

/// A multibulk array received in part.
#[derive(Debug)]
struct Partial {
    /// Arguments its header announced (at least 1).
    count: usize,
    /// Start and end offsets of the arguments complete so far.
    ranges: Vec<(usize, usize)>,
    /// Where the next argument's `$<len>` line starts.
    next: usize,
    /// How far the search for the `\r` ending that line got (`>= next`).
    searched: usize,
    /// The next argument's data once its header is parsed: start and end
    /// offsets (the data and its `\r\n` may still be arriving).
    bulk: Option<(usize, usize)>,
}

/// What one step of decoding found.
enum Step {
    /// More bytes are needed.
    Incomplete,
    /// A multibulk header was parsed; its arguments follow.
    Started(Partial),
    /// The multibulk at the front is complete.
    Complete,
    /// An empty request (`*0`, `*-1`, a blank line) of this many bytes.
    Empty(usize),
    /// An inline request of `consumed` bytes.
    Inline { consumed: usize, args: Vec<Bytes> },
}

impl RequestDecoder {
    /// A decoder with no pending frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes the buffer must hold before the pending frame can complete, if
    /// known (a bulk argument is arriving; 0 otherwise); the connection may
    /// reserve that much before reading.
    pub fn needed(&self) -> usize {
        match &self.front {
            Front::Multibulk(Partial {
                bulk: Some((_, end)),
                ..
            }) => end.saturating_add(2),
            _ => 0,
        }
    }

    /// Buffered bytes this decoder has examined so far — searched for a
    /// line end, or parsed as a header or inline line; bulk data is skipped
    /// unexamined. Header bytes are examined about twice (searched, then
    /// parsed), every other byte at most once, plus one byte per call while
    /// a header's `\n` is awaited: the work is linear in the input however
    /// it is split across reads.
    pub fn examined(&self) -> u64 {
        self.examined
    }

    /// Memory held for the request at the front of the buffer beyond the
    /// buffer itself: the offsets of its arguments parsed so far. The
    /// caller counts it with the buffer against its query-buffer limit, so
    /// that a request of millions of empty arguments is bounded as its
    /// bytes are.
    pub fn held_bytes(&self) -> usize {
        match &self.front {
            Front::Start { .. } => 0,
            Front::Multibulk(p) => p.ranges.capacity() * std::mem::size_of::<(usize, usize)>(),
        }
    }

    /// Removes and returns the first complete request in `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed. Empty requests (blank
    /// inline lines, `*0`, `*-1`) are consumed and skipped, as Redis does.
    /// On `Err` the connection must reply with the error's text and close.
    /// The limits are applied as each header is parsed: a header parsed
    /// before `limits` changed keeps the check it passed, as in Redis.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Request>, ProtocolError> {
        loop {
            if self.front.assumes() > buf.len() {
                // The caller broke the append-only contract: start afresh.
                self.front = Front::default();
            }
            let step = match &mut self.front {
                Front::Start { searched } => match buf.first() {
                    None => Step::Incomplete,
                    Some(b'*') => start_multibulk(buf, searched, &mut self.examined, limits)?,
                    Some(_) => scan_inline(buf, searched, &mut self.examined)?,
                },
                Front::Multibulk(partial) => {
                    continue_multibulk(buf, partial, &mut self.examined, limits)?
                }
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Started(partial) => self.front = Front::Multibulk(partial),
                Step::Empty(consumed) => {
                    self.front = Front::default();
                    let _ = buf.split_to(consumed);
                }
                Step::Complete => {
                    let Front::Multibulk(p) = std::mem::take(&mut self.front) else {
                        // Only a multibulk completes; nothing to return otherwise.
                        continue;
                    };
                    let frame = buf.split_to(p.next).freeze();
                    let args = p
                        .ranges
                        .into_iter()
                        .map(|(s, e)| frame.slice(s..e))
                        .collect();
                    return Ok(Some(Request {
                        args,
                        inline: false,
                    }));
                }
                Step::Inline { consumed, args } => {
                    self.front = Front::default();
                    let _ = buf.split_to(consumed);
                    return Ok(Some(Request { args, inline: true }));
                }
            }
        }
    }
}

/// Searches for `byte` in the line starting at `start`, resuming at
/// `*searched` (bytes before it are known not to hold it). Moves
/// `*searched` to the byte found, or to the end of the buffer.
fn find_line_byte(
    buf: &[u8],
    start: usize,
    searched: &mut usize,
    examined: &mut u64,
    byte: u8,
) -> Option<usize> {
    let from = (*searched).max(start);
    let rest = buf.get(from..).unwrap_or_default();
    match memchr::memchr(byte, rest) {
        Some(i) => {
            *examined += (i + 1) as u64;
            *searched = from + i;
            Some(from + i)
        }
        None => {
            *examined += rest.len() as u64;
            *searched = buf.len();
            None
        }
    }
}

/// Finds the `\r` ending the header line that starts at `start`,
/// Redis-style: `Ok(None)` if the line (and its `\n`) is not all here yet;
/// `too_big` once more than 64 KB follow `start` without a `\r`.
fn header_line_end(
    buf: &[u8],
    start: usize,
    searched: &mut usize,
    examined: &mut u64,
    too_big: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    match find_line_byte(buf, start, searched, examined, b'\r') {
        None if buf.len().saturating_sub(start) > INLINE_MAX_BYTES => Err(too_big),
        None => Ok(None),
        // Redis requires the byte after '\r' to be present (it assumes '\n').
        Some(cr) if cr + 2 > buf.len() => Ok(None),
        Some(cr) => Ok(Some(cr)),
    }
}

/// Parses the digits of a header line (`buf[from..cr]`), counting them as
/// examined.
fn header_number(buf: &[u8], from: usize, cr: usize, examined: &mut u64) -> Option<i64> {
    let digits = buf.get(from..cr)?;
    *examined += digits.len() as u64;
    string_to_i64(digits)
}

/// Parses the `*<count>` line at the front of `buf`.
fn start_multibulk(
    buf: &[u8],
    searched: &mut usize,
    examined: &mut u64,
    limits: &Limits,
) -> Result<Step, ProtocolError> {
    let Some(cr) = header_line_end(
        buf,
        0,
        searched,
        examined,
        ProtocolError::TooBigMultibulkCount,
    )?
    else {
        return Ok(Step::Incomplete);
    };
    let count = header_number(buf, 1, cr, examined)
        .filter(|&n| n <= i64::from(i32::MAX))
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    if u64::try_from(count).is_ok_and(|n| n > limits.max_multibulk_len) {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if count > UNAUTHENTICATED_MAX_ARGS && limits.auth_required {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    let next = cr + 2;
    if count <= 0 {
        return Ok(Step::Empty(next));
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(Step::Started(Partial {
        count,
        ranges: Vec::with_capacity(count.min(1024)),
        next,
        searched: next,
        bulk: None,
    }))
}

/// Parses as many further arguments of `p` as are buffered.
fn continue_multibulk(
    buf: &[u8],
    p: &mut Partial,
    examined: &mut u64,
    limits: &Limits,
) -> Result<Step, ProtocolError> {
    while p.ranges.len() < p.count {
        let (start, end) = match p.bulk {
            Some(known) => known,
            None => {
                let Some(cr) = header_line_end(
                    buf,
                    p.next,
                    &mut p.searched,
                    examined,
                    ProtocolError::TooBigBulkCount,
                )?
                else {
                    return Ok(Step::Incomplete);
                };
                match buf.get(p.next) {
                    Some(b'$') => {}
                    Some(&other) => return Err(ProtocolError::ExpectedDollar(other)),
                    None => return Ok(Step::Incomplete),
                }
                let len = header_number(buf, p.next + 1, cr, examined)
                    .filter(|&n| n >= 0 && u64::try_from(n).is_ok_and(|n| n <= limits.max_bulk_len))
                    .ok_or(ProtocolError::InvalidBulkLength)?;
                if len > UNAUTHENTICATED_MAX_BULK && limits.auth_required {
                    return Err(ProtocolError::UnauthenticatedBulkLength);
                }
                let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
                let start = cr + 2;
                let known = (start, start.saturating_add(len));
                p.bulk = Some(known);
                known
            }
        };
        // Like Redis, the two bytes after the data are skipped unchecked.
        if end.saturating_add(2) > buf.len() {
            return Ok(Step::Incomplete);
        }
        p.ranges.push((start, end));
        p.next = end + 2;
        p.searched = p.next;
        p.bulk = None;
    }
    Ok(Step::Complete)
}

/// Splits the inline request at the front of `buf` into words.
fn scan_inline(
    buf: &[u8],
    searched: &mut usize,
    examined: &mut u64,
) -> Result<Step, ProtocolError> {
    let Some(nl) = find_line_byte(buf, 0, searched, examined, b'\n') else {
        if buf.len() > INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        return Ok(Step::Incomplete);
    };
    // Longer than Redis takes, even when its end arrived with it (Redis
    // reads at most 16 KB at a time and refuses a line once 64 KB of it
    // are buffered without an end).
    if nl > INLINE_MAX_BYTES {
        return Err(ProtocolError::TooBigInlineRequest);
    }
    let line_end = if nl > 0 && buf.get(nl - 1) == Some(&b'\r') {
        nl - 1
    } else {
        nl
    };
    let line = buf.get(..line_end).unwrap_or_default();
    *examined += line.len() as u64;
    let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
    if args.is_empty() {
        return Ok(Step::Empty(nl + 1));
    }
    Ok(Step::Inline {
        consumed: nl + 1,
        args: args.into_iter().map(Bytes::from).collect(),
    })
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
