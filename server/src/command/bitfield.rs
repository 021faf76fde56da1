//! BITFIELD and BITFIELD_RO: integers of 1 to 64 bits at any bit offset of
//! a string, with Redis 7.0's grammar, replies, overflow rules and error
//! texts (`bitops.c`, `bitfieldGeneric`).
//!
//! Every operation is parsed before anything is read, so a bad argument
//! anywhere answers its error and changes nothing. A command with a SET or
//! an INCRBY takes the key lock, reads the string, applies its operations
//! in order to one copy (each sees the ones before it) and writes the copy
//! back once, keeping the key's TTL as SETBIT does; it writes nothing when
//! the bytes come out unchanged (no WATCH disturbed). A missing key is
//! created zero-filled up to the farthest bit a write reaches, even when
//! every write is refused by OVERFLOW FAIL, as in Redis.
//!
//! Bits are numbered as for SETBIT: bit 0 is the high bit of byte 0, and a
//! field's most significant bit comes first.

use bytes::{Bytes, BytesMut};
use ringkv_cluster::Entry;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use super::bits::{check_bit_offset, parse_bit_offset};
use crate::reply_error::{CmdResult, ReplyError, text};

/// An encoding argument that is not `i1`..`i64` or `u1`..`u63`.
const BAD_TYPE: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
/// OVERFLOW followed by anything but WRAP, SAT or FAIL.
const BAD_OVERFLOW: &str = "Invalid OVERFLOW type specified";
/// BITFIELD_RO given a SET or an INCRBY.
const RO_GET_ONLY: &str = "BITFIELD_RO only supports the GET subcommand";

/// What an INCRBY or SET does with a result the field cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    /// Keep the low bits (two's complement for signed fields).
    Wrap,
    /// Stop at the field's least or greatest value.
    Sat,
    /// Refuse: nothing is written, the reply is a null.
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One parsed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Op {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Parses `i<bits>` or `u<bits>`.
fn parse_type(raw: &[u8]) -> Result<(bool, u32), ReplyError> {
    let bad = || ReplyError::err(BAD_TYPE);
    let (signed, digits) = match raw.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(bad()),
    };
    let bits = ringkv_resp::string_to_i64(digits).ok_or_else(bad)?;
    let most = if signed { 64 } else { 63 };
    if !(1..=most).contains(&bits) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// Parses an offset: a bit number, or `#N` for the N-th field of this
/// width (N times `bits`).
fn parse_offset(raw: &[u8], bits: u32, max_bytes: u64) -> Result<u64, ReplyError> {
    match raw.strip_prefix(b"#") {
        Some(index) => {
            let bad = || ReplyError::err(text::BIT_OFFSET);
            let n = ringkv_resp::string_to_i64(index).ok_or_else(bad)?;
            let offset = n.checked_mul(i64::from(bits)).ok_or_else(bad)?;
            check_bit_offset(offset, max_bytes)
        }
        None => parse_bit_offset(raw, max_bytes),
    }
}

/// Parses the operations after the key (`args[2..]`).
fn parse_ops(args: &[Bytes], max_bytes: u64) -> Result<Vec<Op>, ReplyError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = arg(args, j);
        let mut kind = if is(sub, "get") && remaining >= 2 {
            OpKind::Get
        } else if is(sub, "set") && remaining >= 3 {
            OpKind::Set(0)
        } else if is(sub, "incrby") && remaining >= 3 {
            OpKind::IncrBy(0)
        } else if is(sub, "overflow") && remaining >= 1 {
            let name = arg(args, j + 1);
            overflow = if is(name, "wrap") {
                Overflow::Wrap
            } else if is(name, "sat") {
                Overflow::Sat
            } else if is(name, "fail") {
                Overflow::Fail
            } else {
                return Err(ReplyError::err(BAD_OVERFLOW));
            };
            j += 2;
            continue;
        } else {
            return Err(ReplyError::syntax());
        };
        let (signed, bits) = parse_type(arg(args, j + 1))?;
        let offset = parse_offset(arg(args, j + 2), bits, max_bytes)?;
        if let OpKind::Set(v) | OpKind::IncrBy(v) = &mut kind {
            *v = parse_i64(arg(args, j + 3))?;
        }
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// The unsigned field of `bits` bits at bit `offset` of `value` (0 past
/// its end).
fn get_unsigned(value: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, i| {
        (acc << 1) | u64::from(super::bits::bit_at(value, offset + i))
    })
}

/// The signed (two's complement) field of `bits` bits at bit `offset`.
fn get_signed(value: &[u8], offset: u64, bits: u32) -> i64 {
    let raw = get_unsigned(value, offset, bits);
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Writes the low `bits` bits of `field` at bit `offset` of `value`,
/// which is long enough.
fn set_field(value: &mut [u8], offset: u64, bits: u32, field: u64) {
    for i in 0..u64::from(bits) {
        let on = (field >> (u64::from(bits) - 1 - i)) & 1;
        let at = offset + i;
        let Some(byte) = usize::try_from(at >> 3).ok().and_then(|b| value.get_mut(b)) else {
            return;
        };
        let shift = 7 - (at & 7);
        *byte = (*byte & !(1 << shift)) | ((on as u8) << shift);
    }
}

/// `old + incr` in an unsigned field of `bits` bits (`old` is in range):
/// the value to store, or `None` when it overflows under FAIL.
fn unsigned_result(old: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let sum = i128::from(old) + i128::from(incr);
    if (0..=i128::from(max)).contains(&sum) {
        return Some(sum as u64);
    }
    match overflow {
        Overflow::Wrap => Some((sum as u64) & max),
        Overflow::Sat => Some(if sum < 0 { 0 } else { max }),
        Overflow::Fail => None,
    }
}

/// `value + incr` in a signed field of `bits` bits (an INCRBY: `value` is
/// the field, in range; a SET: `value` is the argument, any 64-bit number,
/// and `incr` is 0). Overflow is judged as Redis judges it: by the headroom
/// above and below `value`, computed in 64 bits that wrap. A SET of a
/// number so far below the field's range that the headroom above it
/// wraps negative (i64::MIN into a 3-bit field) counts as overflowing
/// upward, so SAT stores the maximum there, as Redis does.
fn signed_result(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits != 64;
    let up =
        value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr);
    let down =
        value < min || (narrow && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr);
    if !up && !down {
        return Some(value.wrapping_add(incr));
    }
    match overflow {
        Overflow::Wrap => {
            let low = (value as u64).wrapping_add(incr as u64);
            Some(if !narrow {
                low as i64
            } else if low & (1 << (bits - 1)) != 0 {
                (low | (u64::MAX << bits)) as i64
            } else {
                (low & !(u64::MAX << bits)) as i64
            })
        }
        Overflow::Sat => Some(if up { max } else { min }),
        Overflow::Fail => None,
    }
}

/// Runs `ops` over `value` (grown as needed by the caller), returning the
/// replies.
fn run_ops(value: &mut [u8], ops: &[Op]) -> Vec<Reply> {
    ops.iter()
        .map(|op| {
            let mask = if op.bits == 64 {
                u64::MAX
            } else {
                (1u64 << op.bits) - 1
            };
            match (op.kind, op.signed) {
                (OpKind::Get, _) => get_reply(value, op),
                (OpKind::Set(v) | OpKind::IncrBy(v), true) => {
                    let old = get_signed(value, op.offset, op.bits);
                    let (base, incr) = match op.kind {
                        OpKind::IncrBy(_) => (old, v),
                        _ => (v, 0),
                    };
                    match signed_result(base, incr, op.bits, op.overflow) {
                        Some(new) => {
                            set_field(value, op.offset, op.bits, new as u64 & mask);
                            Reply::Int(if matches!(op.kind, OpKind::Set(_)) {
                                old
                            } else {
                                new
                            })
                        }
                        None => Reply::Nil,
                    }
                }
                (OpKind::Set(v) | OpKind::IncrBy(v), false) => {
                    let old = get_unsigned(value, op.offset, op.bits);
                    let result = match op.kind {
                        OpKind::IncrBy(_) => unsigned_result(old, v, op.bits, op.overflow),
                        // SET checks its value as an increment of 0 on it,
                        // taken as an unsigned 64-bit number (so -1 is
                        // 2^64 - 1: too large, wrapped to all ones).
                        _ => unsigned_set_result(v as u64, op.bits, op.overflow),
                    };
                    match result {
                        Some(new) => {
                            set_field(value, op.offset, op.bits, new);
                            Reply::Int(if matches!(op.kind, OpKind::Set(_)) {
                                old as i64
                            } else {
                                new as i64
                            })
                        }
                        None => Reply::Nil,
                    }
                }
            }
        })
        .collect()
}

/// A GET's reply: the field's value.
fn get_reply(value: &[u8], op: &Op) -> Reply {
    if op.signed {
        Reply::Int(get_signed(value, op.offset, op.bits))
    } else {
        Reply::Int(get_unsigned(value, op.offset, op.bits) as i64)
    }
}

/// The value an unsigned SET stores: `v` (the 64-bit pattern of the
/// argument) when it fits in `bits` bits, else as `overflow` says.
fn unsigned_set_result(v: u64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    if v <= max {
        return Some(v);
    }
    match overflow {
        Overflow::Wrap => Some(v & max),
        Overflow::Sat => Some(max),
        Overflow::Fail => None,
    }
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset
/// value | [OVERFLOW ...] INCRBY type offset increment] ...
pub async fn bitfield(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let ops = parse_ops(args, super::strings::max_string_len(cx))?;
    let farthest = ops
        .iter()
        .filter(|op| op.kind != OpKind::Get)
        .map(|op| op.offset + u64::from(op.bits) - 1)
        .max();
    let Some(farthest) = farthest else {
        return get_only(cx, key, &ops).await;
    };
    // Below proto-max-bulk-len bytes (the offsets were bounded), so it fits.
    let len = usize::try_from(farthest >> 3).map_err(|_| ReplyError::err(text::BIT_OFFSET))? + 1;
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let current = cx.peek_string(cx.db(), key).await?;
    let (old, expire_at_ms) = current.map_or((None, 0), |e| (Some(e.value), e.expire_at_ms));
    let mut value = BytesMut::from(old.as_deref().unwrap_or_default());
    if value.len() < len {
        value.resize(len, 0);
    }
    let replies = run_ops(&mut value, &ops);
    if old.as_deref() != Some(&value[..]) {
        cx.put(key, Entry::with_expiry(value.freeze(), expire_at_ms))
            .await?;
    }
    Ok(Reply::Array(replies))
}

/// BITFIELD_RO key [GET type offset] ...
pub async fn bitfield_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let ops = parse_ops(args, super::strings::max_string_len(cx))?;
    if ops.iter().any(|op| op.kind != OpKind::Get) {
        return Err(ReplyError::err(RO_GET_ONLY));
    }
    get_only(cx, arg(args, 1), &ops).await
}

/// Answers operations that are all GETs: a read, no lock, no write.
async fn get_only(cx: &mut Ctx<'_>, key: &Bytes, ops: &[Op]) -> CmdResult {
    let value = cx.read(key).await?.map(|e| e.value).unwrap_or_default();
    Ok(Reply::Array(
        ops.iter().map(|op| get_reply(&value, op)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn types_and_offsets_parse_as_in_redis() {
        assert_eq!(parse_type(b"i64").unwrap(), (true, 64));
        assert_eq!(parse_type(b"u63").unwrap(), (false, 63));
        for bad in ["u64", "i65", "i0", "u", "x8", "", "i-1", "u 8"] {
            assert!(parse_type(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(parse_offset(b"#3", 8, 1 << 29).unwrap(), 24);
        assert_eq!(parse_offset(b"17", 8, 1 << 29).unwrap(), 17);
        for bad in ["-1", "#-1", "x", "#", "#9223372036854775807", "4294967296"] {
            assert!(parse_offset(bad.as_bytes(), 8, 1 << 29).is_err(), "{bad}");
        }
    }

    #[test]
    fn grammar_errors_come_before_any_effect() {
        let max = 1 << 29;
        assert!(parse_ops(&b(&["bitfield", "k"]), max).unwrap().is_empty());
        let ops = parse_ops(
            &b(&[
                "bitfield", "k", "overflow", "sat", "incrby", "u8", "#1", "5", "get", "i4", "0",
            ]),
            max,
        )
        .unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].overflow, Overflow::Sat);
        assert_eq!(ops[0].offset, 8);
        assert_eq!(ops[1].kind, OpKind::Get);
        for bad in [
            &["bitfield", "k", "get", "u8"][..],
            &["bitfield", "k", "set", "u8", "0"],
            &["bitfield", "k", "overflow"],
            &["bitfield", "k", "bogus", "u8", "0"],
            &["bitfield", "k", "set", "u8", "0", "x"],
            &["bitfield", "k", "overflow", "maybe", "get", "u8", "0"],
        ] {
            assert!(parse_ops(&b(bad), max).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut v = vec![0u8; 2];
        set_field(&mut v, 4, 8, 0xAB);
        assert_eq!(v, [0x0A, 0xB0]);
        assert_eq!(get_unsigned(&v, 4, 8), 0xAB);
        assert_eq!(get_signed(&v, 4, 8), 0xABu8 as i8 as i64);
        // Past the end reads as zeros.
        assert_eq!(get_unsigned(&v, 12, 16), 0);
        let mut v = vec![0u8; 8];
        set_field(&mut v, 0, 64, u64::MAX);
        assert_eq!(get_signed(&v, 0, 64), -1);
    }

    #[test]
    fn overflow_rules_match_redis() {
        // u2: 0..=3.
        assert_eq!(unsigned_result(3, 1, 2, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_result(3, 1, 2, Overflow::Sat), Some(3));
        assert_eq!(unsigned_result(3, 1, 2, Overflow::Fail), None);
        assert_eq!(unsigned_result(0, -1, 2, Overflow::Wrap), Some(3));
        assert_eq!(unsigned_result(0, -1, 2, Overflow::Sat), Some(0));
        // 2^63 below zero wraps to 0 in 63 bits, as Redis masks it.
        assert_eq!(unsigned_result(0, i64::MIN, 63, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_result(5, i64::MIN, 63, Overflow::Wrap), Some(5));
        // i8: -128..=127.
        assert_eq!(signed_result(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_result(127, 1, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_result(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_result(-128, -1, 8, Overflow::Fail), None);
        assert_eq!(signed_result(100, 300, 8, Overflow::Wrap), Some(400 - 512));
        assert_eq!(
            signed_result(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(
            signed_result(i64::MIN, -1, 64, Overflow::Sat),
            Some(i64::MIN)
        );
        // SET into i3 (-4..=3), as redis-server 7 answers: far enough
        // below the range, the headroom above wraps and SAT gives the
        // maximum; just above that point, the minimum.
        assert_eq!(signed_result(i64::MIN, 0, 3, Overflow::Sat), Some(3));
        assert_eq!(signed_result(i64::MIN, 0, 3, Overflow::Wrap), Some(0));
        assert_eq!(signed_result(i64::MIN + 3, 0, 3, Overflow::Sat), Some(3));
        assert_eq!(signed_result(i64::MIN + 3, 0, 3, Overflow::Wrap), Some(3));
        assert_eq!(signed_result(i64::MIN + 4, 0, 3, Overflow::Sat), Some(-4));
        assert_eq!(signed_result(i64::MIN + 4, 0, 3, Overflow::Wrap), Some(-4));
        assert_eq!(signed_result(-100, 0, 3, Overflow::Sat), Some(-4));
        assert_eq!(signed_result(i64::MAX, 0, 3, Overflow::Sat), Some(3));
        assert_eq!(signed_result(i64::MAX, 0, 3, Overflow::Wrap), Some(-1));
        assert_eq!(signed_result(i64::MIN, 0, 3, Overflow::Fail), None);
        assert_eq!(signed_result(2, 0, 3, Overflow::Fail), Some(2));
        // SET of -1 into u8: the 64-bit pattern is too large.
        assert_eq!(
            unsigned_set_result(-1i64 as u64, 8, Overflow::Wrap),
            Some(255)
        );
        assert_eq!(
            unsigned_set_result(-1i64 as u64, 8, Overflow::Sat),
            Some(255)
        );
        assert_eq!(unsigned_set_result(-1i64 as u64, 8, Overflow::Fail), None);
    }

    #[test]
    fn operations_see_the_ones_before_them() {
        let ops = parse_ops(
            &b(&[
                "bitfield", "k", "set", "u8", "0", "200", "incrby", "u8", "0", "100", "overflow",
                "fail", "incrby", "u8", "0", "250", "get", "u8", "0",
            ]),
            1 << 29,
        )
        .unwrap();
        let mut v = vec![0u8; 1];
        let replies = run_ops(&mut v, &ops);
        assert_eq!(
            replies,
            vec![Reply::Int(0), Reply::Int(44), Reply::Nil, Reply::Int(44)]
        );
    }
}
