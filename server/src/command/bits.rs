//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP, with Redis
//! 7.0's argument order, replies and error texts (`bitops.c`).
//!
//! A bitmap is a plain string value: bit 0 is the most significant bit of
//! byte 0. Offsets are bounded as Redis bounds them: the byte holding the
//! bit must lie below `proto-max-bulk-len` (at most 512 MB). Every range computation is a
//! pure function below, so the edge cases (negative indexes, BYTE/BIT
//! units, empty ranges) are unit-tested without a server.
//!
//! Writers (SETBIT, BITOP) take the key lock first, like every other
//! read-modify-write, and write through `Ctx::apply` so WATCH and
//! durability behave as for SET. SETBIT keeps the key's TTL (it modifies the
//! value in place); BITOP replaces the destination and clears its TTL.

use bytes::{Bytes, BytesMut};
use ringkv_cluster::{Entry, Write};
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use crate::reply_error::{CmdResult, ReplyError, text};

/// `ERR bit is not an integer or out of range` (SETBIT's value).
const BIT_VALUE: &str = "bit is not an integer or out of range";
/// BITPOS's bit argument.
const BIT_ONE_OR_ZERO: &str = "The bit argument must be 1 or 0.";
/// BITOP NOT with other than one source.
const NOT_SINGLE_SOURCE: &str = "BITOP NOT must be called with a single source key.";

/// Parses a bit offset as Redis's `getBitOffsetFromArgument` does: a 64-bit
/// integer, not negative, whose byte (`offset >> 3`) lies below
/// `max_bytes` (`super::strings::max_string_len`).
pub fn parse_bit_offset(raw: &[u8], max_bytes: u64) -> Result<u64, ReplyError> {
    let offset = ringkv_resp::string_to_i64(raw).ok_or(ReplyError::err(text::BIT_OFFSET))?;
    check_bit_offset(offset, max_bytes)
}

/// [`parse_bit_offset`]'s bound on an offset already read as a number
/// (BITFIELD's `#N` form multiplies before checking).
pub fn check_bit_offset(offset: i64, max_bytes: u64) -> Result<u64, ReplyError> {
    u64::try_from(offset)
        .ok()
        .filter(|o| o >> 3 < max_bytes)
        .ok_or(ReplyError::err(text::BIT_OFFSET))
}

/// The bit at `offset` (bit 0 is the high bit of byte 0); 0 past the end.
pub fn bit_at(value: &[u8], offset: u64) -> u8 {
    let byte = usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| value.get(i))
        .copied()
        .unwrap_or(0);
    (byte >> (7 - (offset & 7))) & 1
}

/// Redis's index normalisation for BITCOUNT/BITPOS ranges over `total`
/// units (bytes or bits): negative indexes count from the end, then both
/// ends are clamped into `[0, total-1]`. The result may be empty
/// (`start > end`, or `end == -1` for an empty string).
pub fn clamp_range(start: i64, end: i64, total: i64) -> (i64, i64) {
    let start = if start < 0 {
        total.saturating_add(start)
    } else {
        start
    };
    let end = if end < 0 {
        total.saturating_add(end)
    } else {
        end
    };
    let (start, mut end) = (start.max(0), end.max(0));
    if end >= total {
        end = total - 1;
    }
    (start, end)
}

/// The unit a BITCOUNT/BITPOS range is given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Byte indexes (the default).
    Byte,
    /// Bit indexes (Redis 7.0's `BIT`).
    Bit,
}

fn parse_unit(raw: &[u8]) -> Result<Unit, ReplyError> {
    if is(raw, "BIT") {
        Ok(Unit::Bit)
    } else if is(raw, "BYTE") {
        Ok(Unit::Byte)
    } else {
        Err(ReplyError::syntax())
    }
}

/// The inclusive bit span `[first, last]` that a (clamped, non-empty)
/// range covers, or `None` when the range is empty.
fn bit_span(value: &[u8], start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    let total = match unit {
        Unit::Byte => len,
        Unit::Bit => len.saturating_mul(8),
    };
    let (start, end) = clamp_range(start, end, total);
    if start > end {
        return None;
    }
    let (start, end) = (u64::try_from(start).ok()?, u64::try_from(end).ok()?);
    Some(match unit {
        Unit::Byte => (start * 8, end * 8 + 7),
        Unit::Bit => (start, end),
    })
}

/// Number of set bits in the inclusive bit span `[first, last]`.
pub fn count_bits(value: &[u8], first: u64, last: u64) -> u64 {
    let mut n = 0u64;
    let mut i = first;
    while i <= last {
        if i % 8 == 0 && i + 7 <= last {
            // Whole bytes at once.
            let from = usize::try_from(i / 8).unwrap_or(usize::MAX);
            let to = usize::try_from(last.saturating_add(1) / 8).unwrap_or(usize::MAX);
            let bytes = value.get(from..to.min(value.len())).unwrap_or_default();
            n += bytes.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
            i = (to as u64) * 8;
            continue;
        }
        n += u64::from(bit_at(value, i));
        i += 1;
    }
    n
}

/// The first bit equal to `target` in the inclusive bit span, if any.
pub fn first_bit(value: &[u8], target: u8, first: u64, last: u64) -> Option<u64> {
    let mut i = first;
    while i <= last {
        if i % 8 == 0 && i + 7 <= last {
            let byte = usize::try_from(i / 8)
                .ok()
                .and_then(|b| value.get(b))
                .copied()
                .unwrap_or(0);
            let probe = if target == 1 { byte } else { !byte };
            if probe == 0 {
                i += 8;
                continue;
            }
            return Some(i + u64::from(probe.leading_zeros()));
        }
        if bit_at(value, i) == target {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITCOUNT over a range given as `(start, end, unit)`, or the whole value.
pub fn bitcount(value: &[u8], range: Option<(i64, i64, Unit)>) -> i64 {
    let span = match range {
        None if value.is_empty() => None,
        None => Some((0, value.len() as u64 * 8 - 1)),
        Some((start, end, unit)) => bit_span(value, start, end, unit),
    };
    span.map_or(0, |(first, last)| {
        i64::try_from(count_bits(value, first, last)).unwrap_or(i64::MAX)
    })
}

/// A BITPOS range: start, optional end, unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PosRange {
    /// First index.
    pub start: i64,
    /// Last index, when given.
    pub end: Option<i64>,
    /// Unit of both.
    pub unit: Unit,
}

/// BITPOS on an existing value, as Redis answers it: the first `bit` in the
/// range; -1 for an empty range or no set bit; for a clear bit that is not
/// there, the bit just past the value unless an explicit end was given.
pub fn bitpos(value: &[u8], bit: u8, range: Option<PosRange>) -> i64 {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    let (span, end_given) = match range {
        None => (bit_span(value, 0, len - 1, Unit::Byte), false),
        Some(r) => {
            let default_end = match r.unit {
                Unit::Byte => len - 1,
                Unit::Bit => len.saturating_mul(8).saturating_add(7),
            };
            let end = r.end.unwrap_or(default_end);
            (bit_span(value, r.start, end, r.unit), r.end.is_some())
        }
    };
    let Some((first, last)) = span else {
        return -1;
    };
    match first_bit(value, bit, first, last) {
        Some(pos) => i64::try_from(pos).unwrap_or(i64::MAX),
        // A missing clear bit: without an explicit end the value counts as
        // padded with zeros, so the answer is the first bit after it.
        None if bit == 0 && !end_given => i64::try_from(last + 1).unwrap_or(i64::MAX),
        None => -1,
    }
}

/// A BITOP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// Bitwise AND; a missing or shorter source counts as zeros.
    And,
    /// Bitwise OR.
    Or,
    /// Bitwise XOR.
    Xor,
    /// Bitwise NOT of the single source.
    Not,
}

/// The result of BITOP over `sources` (missing keys are empty strings): as
/// long as the longest source, shorter ones padded with zero bytes.
pub fn bitop(op: BitOp, sources: &[Bytes]) -> Bytes {
    let maxlen = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = BytesMut::zeroed(maxlen);
    for (j, dst) in out.iter_mut().enumerate() {
        let mut bytes = sources.iter().map(|s| s.get(j).copied().unwrap_or(0));
        let first = bytes.next().unwrap_or(0);
        *dst = match op {
            BitOp::And => bytes.fold(first, |acc, b| acc & b),
            BitOp::Or => bytes.fold(first, |acc, b| acc | b),
            BitOp::Xor => bytes.fold(first, |acc, b| acc ^ b),
            BitOp::Not => !first,
        };
    }
    out.freeze()
}

/// SETBIT key offset value: replies with the bit's previous value.
pub async fn setbit(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let offset = parse_bit_offset(arg(args, 2), super::strings::max_string_len(cx))?;
    let on = parse_i64(arg(args, 3)).map_err(|_| ReplyError::err(BIT_VALUE))?;
    let on = u8::try_from(on)
        .ok()
        .filter(|b| *b <= 1)
        .ok_or(ReplyError::err(BIT_VALUE))?;
    // The offset passed the bound, so the byte index fits in memory sizes.
    let byte = usize::try_from(offset >> 3).map_err(|_| ReplyError::err(text::BIT_OFFSET))?;
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let current = cx.peek_string(cx.db(), key).await?;
    let (old, expire_at_ms) = current.map_or((None, 0), |e| (Some(e.value), e.expire_at_ms));
    let old_len = old.as_ref().map_or(0, Bytes::len);
    let previous = old.as_deref().map_or(0, |v| bit_at(v, offset));
    // As in Redis, a bit already set as asked on a value long enough is no
    // write at all: no WATCH is disturbed.
    if old.is_some() && previous == on && byte < old_len {
        return Ok(Reply::Int(i64::from(previous)));
    }
    let mut value = BytesMut::from(old.as_deref().unwrap_or_default());
    if value.len() <= byte {
        value.resize(byte + 1, 0);
    }
    let shift = 7 - (offset & 7);
    if let Some(b) = value.get_mut(byte) {
        *b = (*b & !(1 << shift)) | (on << shift);
    }
    cx.put(key, Entry::with_expiry(value.freeze(), expire_at_ms))
        .await?;
    Ok(Reply::Int(i64::from(previous)))
}

/// GETBIT key offset.
pub async fn getbit(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = parse_bit_offset(arg(args, 2), super::strings::max_string_len(cx))?;
    Ok(match cx.read(arg(args, 1)).await? {
        Some(e) => Reply::Int(i64::from(bit_at(&e.value, offset))),
        None => Reply::Int(0),
    })
}

/// BITCOUNT key [start end [BYTE | BIT]].
pub async fn bitcount_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis looks the key up first: a missing key answers 0 whatever follows.
    let Some(entry) = cx.read(arg(args, 1)).await? else {
        return Ok(Reply::Int(0));
    };
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let start = parse_i64(arg(args, 2))?;
            let end = parse_i64(arg(args, 3))?;
            // Checked before the unit, as Redis does.
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let unit = match args.get(4) {
                Some(u) => parse_unit(u)?,
                None => Unit::Byte,
            };
            Some((start, end, unit))
        }
        _ => return Err(ReplyError::syntax()),
    };
    Ok(Reply::Int(bitcount(&entry.value, range)))
}

/// BITPOS key bit [start [end [BYTE | BIT]]].
pub async fn bitpos_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bit = parse_i64(arg(args, 2))?;
    let bit = match bit {
        0 => 0u8,
        1 => 1u8,
        _ => return Err(ReplyError::err(BIT_ONE_OR_ZERO)),
    };
    // A missing key is an endless run of zeros.
    let Some(entry) = cx.read(arg(args, 1)).await? else {
        return Ok(Reply::Int(if bit == 1 { -1 } else { 0 }));
    };
    let range = match args.len() {
        3 => None,
        4..=6 => {
            let start = parse_i64(arg(args, 3))?;
            let unit = match args.get(5) {
                Some(u) => parse_unit(u)?,
                None => Unit::Byte,
            };
            let end = match args.get(4) {
                Some(e) => Some(parse_i64(e)?),
                None => None,
            };
            Some(PosRange { start, end, unit })
        }
        _ => return Err(ReplyError::syntax()),
    };
    Ok(Reply::Int(bitpos(&entry.value, bit, range)))
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: replies with the length of
/// the stored result; an empty result deletes the destination.
pub async fn bitop_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let name = arg(args, 1);
    let op = if is(name, "AND") {
        BitOp::And
    } else if is(name, "OR") {
        BitOp::Or
    } else if is(name, "XOR") {
        BitOp::Xor
    } else if is(name, "NOT") {
        BitOp::Not
    } else {
        return Err(ReplyError::syntax());
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(ReplyError::err(NOT_SINGLE_SOURCE));
    }
    let dest = arg(args, 2);
    let source_keys = args.get(3..).unwrap_or_default();
    let _lock = cx.ks().lock(args.iter().skip(2).map(|k| k.as_ref())).await;
    let mut sources = Vec::with_capacity(source_keys.len());
    for key in source_keys {
        sources.push(cx.read(key).await?.map_or_else(Bytes::new, |e| e.value));
    }
    let result = bitop(op, &sources);
    let len = result.len();
    let db = cx.db();
    if len > 0 {
        cx.put(dest, Entry::new(result)).await?;
    } else if cx.peek_shallow(db, dest).await?.is_some() {
        cx.apply(vec![Write::Delete {
            db,
            key: dest.clone(),
        }])
        .await?;
    }
    Ok(Reply::Int(i64::try_from(len).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_bounded_like_redis() {
        let max = 512 * 1024 * 1024;
        assert_eq!(parse_bit_offset(b"0", max).unwrap(), 0);
        assert_eq!(parse_bit_offset(b"4294967295", max).unwrap(), 4294967295);
        for bad in [&b"4294967296"[..], b"-1", b"x", b"1.5", b"", b" 1"] {
            assert_eq!(
                parse_bit_offset(bad, max),
                Err(ReplyError::err(text::BIT_OFFSET)),
                "{bad:?}"
            );
        }
        assert!(parse_bit_offset(b"8388607", 1024 * 1024).is_ok());
        assert!(parse_bit_offset(b"8388608", 1024 * 1024).is_err());
    }

    #[test]
    fn bits_are_big_endian_within_bytes() {
        let v = [0b1000_0001u8, 0xff];
        assert_eq!(bit_at(&v, 0), 1);
        assert_eq!(bit_at(&v, 1), 0);
        assert_eq!(bit_at(&v, 7), 1);
        assert_eq!(bit_at(&v, 8), 1);
        assert_eq!(bit_at(&v, 16), 0, "past the end reads 0");
        assert_eq!(bit_at(&v, u64::MAX), 0);
    }

    #[test]
    fn bitcount_matches_redis_examples() {
        let foobar = b"foobar";
        assert_eq!(bitcount(foobar, None), 26);
        assert_eq!(bitcount(foobar, Some((0, 0, Unit::Byte))), 4);
        assert_eq!(bitcount(foobar, Some((1, 1, Unit::Byte))), 6);
        assert_eq!(bitcount(foobar, Some((1, 1, Unit::Bit))), 1);
        assert_eq!(bitcount(foobar, Some((5, 30, Unit::Bit))), 17);
        assert_eq!(bitcount(foobar, Some((0, -1, Unit::Byte))), 26);
        assert_eq!(bitcount(foobar, Some((-2, -1, Unit::Byte))), 7);
        assert_eq!(bitcount(foobar, Some((-1, -2, Unit::Byte))), 0);
        assert_eq!(bitcount(foobar, Some((3, 1, Unit::Byte))), 0);
        assert_eq!(bitcount(foobar, Some((0, 1000, Unit::Byte))), 26);
        assert_eq!(bitcount(foobar, Some((i64::MIN, i64::MAX, Unit::Bit))), 26);
        assert_eq!(bitcount(b"", None), 0);
        assert_eq!(bitcount(b"", Some((0, -1, Unit::Bit))), 0);
    }

    #[test]
    fn bitpos_matches_redis_examples() {
        let v = [0xff, 0xf0, 0x00];
        assert_eq!(bitpos(&v, 0, None), 12);
        let r = |start, end, unit| Some(PosRange { start, end, unit });
        assert_eq!(bitpos(&[0x00, 0xff, 0xf0], 1, r(0, None, Unit::Byte)), 8);
        assert_eq!(bitpos(&[0x00, 0xff, 0xf0], 1, r(2, None, Unit::Byte)), 16);
        assert_eq!(
            bitpos(&[0x00, 0xff, 0xf0], 1, r(2, Some(-1), Unit::Byte)),
            16
        );
        assert_eq!(bitpos(&[0x00, 0xff, 0xf0], 1, r(7, Some(15), Unit::Bit)), 8);
        assert_eq!(bitpos(&[0x00, 0xff, 0xf0], 1, r(7, Some(-3), Unit::Bit)), 8);
        assert_eq!(bitpos(&[0x00, 0x00, 0x00], 1, None), -1);
        // All ones: a clear bit is the one after the value, unless an end
        // was given.
        assert_eq!(bitpos(&[0xff, 0xff], 0, None), 16);
        assert_eq!(bitpos(&[0xff, 0xff], 0, r(0, None, Unit::Byte)), 16);
        assert_eq!(bitpos(&[0xff, 0xff], 0, r(0, Some(-1), Unit::Byte)), -1);
        assert_eq!(bitpos(&[0xff, 0xff], 0, r(3, None, Unit::Bit)), 16);
        assert_eq!(bitpos(&[0xff, 0xff], 0, r(3, Some(10), Unit::Bit)), -1);
        // Empty ranges and empty values.
        assert_eq!(bitpos(&[0xff], 1, r(2, Some(1), Unit::Byte)), -1);
        assert_eq!(bitpos(b"", 0, None), -1);
        assert_eq!(bitpos(b"", 1, None), -1);
        // Bits outside a BIT range are ignored at both edges.
        assert_eq!(bitpos(&[0b0100_0010], 1, r(2, Some(5), Unit::Bit)), -1);
        assert_eq!(bitpos(&[0b1011_1101], 0, r(2, Some(5), Unit::Bit)), -1);
        assert_eq!(bitpos(&[0b1011_1101], 0, r(1, Some(5), Unit::Bit)), 1);
    }

    #[test]
    fn bitop_pads_short_sources_with_zeros() {
        let a = Bytes::from_static(b"\xff\x0f");
        let b = Bytes::from_static(b"\x0f");
        assert_eq!(bitop(BitOp::And, &[a.clone(), b.clone()]), &b"\x0f\x00"[..]);
        assert_eq!(bitop(BitOp::Or, &[a.clone(), b.clone()]), &b"\xff\x0f"[..]);
        assert_eq!(bitop(BitOp::Xor, &[a.clone(), b.clone()]), &b"\xf0\x0f"[..]);
        assert_eq!(
            bitop(BitOp::Not, std::slice::from_ref(&a)),
            &b"\x00\xf0"[..]
        );
        assert_eq!(bitop(BitOp::And, &[a, Bytes::new()]), &b"\x00\x00"[..]);
        assert!(bitop(BitOp::Or, &[Bytes::new(), Bytes::new()]).is_empty());
    }
}
