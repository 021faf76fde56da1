//! Byte encodings of versioned values: record format 2 (the engine value of
//! a user key and the node-to-node form of a key's state), the reader of
//! record format 1, and the client-facing causal context string. The
//! grammar, invariants and worked examples are in `docs/formats/record.md`
//! §3; a change there changes this file and bumps the format byte.
//!
//! Decoding takes untrusted bytes (a peer's message, a damaged disk): every
//! read is bounds-checked, nothing here indexes or unwraps, and counts are
//! never trusted for allocation beyond the bytes actually present.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::Actor;
use super::clock::{Dot, VectorClock};
use super::collection::{Collection, Element, Item, Kind, Tag};
use super::counter::{Counter, Slot};
use super::counter_history::{History, Removed, Slots};
use super::member_history::{MemberHistories, MemberHistory, Removal};
use super::siblings::{Payload, Sibling};

/// Record format 1: `format:u8=1 kind:u8=0 payload`, one unversioned string
/// (still read, never written by this module).
pub const RECORD_FORMAT_V1: u8 = 1;
/// Record format 2: a sibling set with vector clocks.
pub const RECORD_FORMAT_V2: u8 = 2;
/// Format-1 kind of a string.
pub const KIND_STRING: u8 = 0;
/// Payload tag of a plain value.
pub const TAG_VALUE: u8 = 0;
/// Payload tag of a deletion.
pub const TAG_TOMBSTONE: u8 = 1;
/// Payload tag of a counter.
pub const TAG_COUNTER: u8 = 2;
/// Payload tag of a HyperLogLog (PFADD, PFMERGE): a value in Redis's
/// representation whose concurrent siblings join by register maximum.
pub const TAG_HLL: u8 = 3;
/// Payload tag of a hash or set: members with the tags of the writes that
/// hold them (`super::collection`).
pub const TAG_COLLECTION: u8 = 4;
/// Payload prefix: the counter lineages the write ended
/// ([`super::counter_history`]), followed by the payload itself (a value,
/// tombstone or counter).
pub const TAG_HISTORY: u8 = 5;
/// Payload prefix: what removals of counter members had seen
/// ([`super::member_history`]), after any [`TAG_HISTORY`] prefix and before
/// a collection (its own), a tombstone or a value (what it replaced).
pub const TAG_MEMBER_HISTORY: u8 = 6;
/// Member history flag: a removal is recorded.
const MEMBER_HISTORY_REMOVAL: u8 = 1;
/// Item element tag of a plain value.
const ELEMENT_VALUE: u8 = 0;
/// Item element tag of a counter.
const ELEMENT_COUNTER: u8 = 1;
/// Smallest encoded item: tag, ts, element tag and an empty value.
const MIN_ITEM_LEN: usize = 8 + 8 + 8 + 1 + 4;
/// Version byte of the causal context string.
pub const CONTEXT_VERSION: u8 = 1;

/// Encoded size of one dot (actor, counter, ts).
const DOT_LEN: usize = 24;
/// Smallest encoded sibling: two u64s, an empty clock, a tombstone tag.
const MIN_SIBLING_LEN: usize = 8 + 8 + 2 + 1;

/// Why bytes could not be decoded as a versioned record or context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("record is empty")]
    Empty,
    /// The first byte names a record format this version does not read.
    #[error("unsupported record format {found} (this version reads {supported:?})")]
    UnsupportedFormat {
        /// The format byte found.
        found: u8,
        /// The formats this version reads.
        supported: [u8; 2],
    },
    /// A format-1 record of a kind other than string.
    #[error("unknown record kind {kind} in format 1")]
    UnknownKind {
        /// The kind byte found.
        kind: u8,
    },
    /// A field runs past the end of the input.
    #[error("truncated at byte {offset}: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Which field.
        what: &'static str,
        /// Its size.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A payload tag that is not 0, 1 or 2.
    #[error("unknown payload tag {tag} at byte {offset}")]
    UnknownPayloadTag {
        /// The tag found.
        tag: u8,
        /// Where it sits.
        offset: usize,
    },
    /// A field breaks an invariant of the format (see `record.md`).
    #[error("invalid record at byte {offset}: {what}")]
    Invalid {
        /// Where the offending field sits.
        offset: usize,
        /// Which invariant is broken.
        what: &'static str,
    },
    /// Bytes follow the last sibling (or the context's checksum).
    #[error("{len} trailing bytes at byte {offset}")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
        /// How many.
        len: usize,
    },
    /// A causal context string that is not lowercase/uppercase hex of even length.
    #[error("causal context is not hex")]
    NotHex,
    /// A causal context of an unknown version.
    #[error("unsupported causal context version {found} (this version reads {supported})")]
    UnsupportedContextVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A causal context whose CRC32C does not match (a typo or truncation).
    #[error("causal context checksum mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    ChecksumMismatch {
        /// The checksum stored in the context.
        expected: u32,
        /// The checksum of the bytes received.
        actual: u32,
    },
}

/// Appends `clock := n:u16be (actor:u64be counter:u64be ts:u64be)*n`.
///
/// A clock longer than `u16::MAX` dots (not reachable: actors are node ids
/// and writes prune to 32) keeps its newest dots, which is a prune: safe.
pub fn put_clock(out: &mut BytesMut, clock: &VectorClock) {
    let dots = clock.dots();
    if let Ok(n) = u16::try_from(dots.len()) {
        out.put_u16(n);
        for d in dots {
            put_dot(out, d);
        }
    } else {
        let mut kept = clock.clone();
        kept.prune(usize::from(u16::MAX), 0, u64::MAX);
        put_clock(out, &kept);
    }
}

fn put_dot(out: &mut BytesMut, d: &Dot) {
    out.put_u64(d.actor);
    out.put_u64(d.counter);
    out.put_u64(d.ts_ms);
}

/// The encoded clock alone (the key of canonical ordering and base ids).
pub fn clock_bytes(clock: &VectorClock) -> BytesMut {
    let mut out = BytesMut::with_capacity(2 + DOT_LEN * clock.len());
    put_clock(&mut out, clock);
    out
}

/// Appends `sibling := ts_ms:u64be expire_at_ms:u64be clock payload`.
pub fn put_sibling(out: &mut BytesMut, s: &Sibling) {
    out.put_u64(s.ts_ms);
    out.put_u64(s.expire_at_ms);
    put_clock(out, &s.clock);
    if !s.history.is_empty() {
        out.put_u8(TAG_HISTORY);
        put_history(out, &s.history);
    }
    let members = match &s.payload {
        Payload::Collection(c) => c.member_histories(),
        _ => &s.member_histories,
    };
    if !members.is_empty() {
        out.put_u8(TAG_MEMBER_HISTORY);
        put_member_histories(out, members);
    }
    match &s.payload {
        Payload::Value(b) => {
            out.put_u8(TAG_VALUE);
            put_blob(out, b);
        }
        Payload::Tombstone => out.put_u8(TAG_TOMBSTONE),
        Payload::Hll(b) => {
            out.put_u8(TAG_HLL);
            put_blob(out, b);
        }
        Payload::Collection(c) => {
            out.put_u8(TAG_COLLECTION);
            out.put_u8(c.kind().code());
            out.put_u32(u32::try_from(c.len()).unwrap_or(u32::MAX));
            for (member, items) in c.iter() {
                put_blob(out, member);
                put_items(out, items);
            }
        }
        Payload::Counter(c) => {
            out.put_u8(TAG_COUNTER);
            put_counter(out, c);
        }
    }
}

/// Appends `items := n:u16be item*n`, `item := actor:u64be counter:u64be
/// ts:u64be element` (a member's writes, inside a collection or as a member
/// record of a split collection).
fn put_items(out: &mut BytesMut, items: &[Item]) {
    out.put_u16(u16::try_from(items.len()).unwrap_or(u16::MAX));
    for item in items.iter().take(usize::from(u16::MAX)) {
        out.put_u64(item.tag.actor);
        out.put_u64(item.tag.counter);
        out.put_u64(item.ts_ms);
        match &item.element {
            Element::Value(v) => {
                out.put_u8(ELEMENT_VALUE);
                put_blob(out, v);
            }
            Element::Counter(c) => {
                out.put_u8(ELEMENT_COUNTER);
                put_counter(out, c);
            }
        }
    }
}

fn put_counter(out: &mut BytesMut, c: &Counter) {
    put_blob(out, &c.base);
    out.put_u64(c.base_id);
    put_slots(out, c.slots());
}

/// `n:u16be slot*n`, `slot := actor:u64be seq:u64be int_total:i64be
/// float_total:u64be (bits)`. One slot per actor: bounded like clocks, far
/// below `u16::MAX`.
fn put_slots<'a>(out: &mut BytesMut, slots: impl ExactSizeIterator<Item = (Actor, &'a Slot)>) {
    let n = u16::try_from(slots.len()).unwrap_or(u16::MAX);
    out.put_u16(n);
    for (actor, slot) in slots.take(usize::from(n)) {
        out.put_u64(actor);
        out.put_u64(slot.seq);
        out.put_i64(slot.int_total);
        out.put_u64(slot.float_total.to_bits());
    }
}

/// `n:u16be removed*n`, `removed := lineage:u64be removed_ms:u64be floors
/// seen` (both `slots`). At most `MAX_REMOVED_LINEAGES` entries.
fn put_history(out: &mut BytesMut, h: &History) {
    let n = u16::try_from(h.iter().len()).unwrap_or(u16::MAX);
    out.put_u16(n);
    for e in h.iter().take(usize::from(n)) {
        out.put_u64(e.lineage);
        out.put_u64(e.removed_ms);
        put_slots(out, e.floors.iter().map(|(a, s)| (*a, s)));
        put_slots(out, e.seen.iter().map(|(a, s)| (*a, s)));
    }
}

/// `n:u16be entry*n`, `entry := member:blob flags:u8 [ts_ms:u64be
/// actor:u64be counter:u64be] history` (the removal when flag 1 is set;
/// `history` as [`put_history`]). Members strictly increasing, at most
/// `MAX_MEMBER_HISTORIES`.
fn put_member_histories(out: &mut BytesMut, m: &MemberHistories) {
    let n = u16::try_from(m.len()).unwrap_or(u16::MAX);
    out.put_u16(n);
    for (member, h) in m.iter().take(usize::from(n)) {
        put_blob(out, member);
        match h.removal {
            Some(r) => {
                out.put_u8(MEMBER_HISTORY_REMOVAL);
                out.put_u64(r.ts_ms);
                out.put_u64(r.tag.actor);
                out.put_u64(r.tag.counter);
            }
            None => out.put_u8(0),
        }
        put_history(out, &h.history);
    }
}

/// `len:u32be bytes`. Values are bounded far below 4 GiB by the server's
/// proto-max-bulk-len; a longer one is cut at `u32::MAX` bytes.
fn put_blob(out: &mut BytesMut, b: &[u8]) {
    let n = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.put_u32(n);
    out.put_slice(b.get(..n as usize).unwrap_or(b));
}

/// Encodes `record := format:u8=2 count:u16be sibling*count`.
///
/// More than `u16::MAX` siblings (a key written concurrently 65536 times
/// and never read) keeps the last ones in the given (canonical) order.
pub fn encode_record(siblings: &[Sibling]) -> Bytes {
    let n = u16::try_from(siblings.len()).unwrap_or(u16::MAX);
    let skip = siblings.len() - usize::from(n);
    let mut out = BytesMut::with_capacity(3 + siblings.len() * 64);
    out.put_u8(RECORD_FORMAT_V2);
    out.put_u16(n);
    for s in siblings.iter().skip(skip) {
        put_sibling(&mut out, s);
    }
    out.freeze()
}

/// Decodes a record of format 2, or of format 1 as one value sibling with
/// an empty clock, `ts_ms` 0 and expiry `legacy_expire_at_ms` (format 1
/// keeps the expiry in the engine's metadata, which the caller passes).
///
/// # Errors
/// Any [`DecodeError`] but the context ones; never panics.
pub fn decode_record(bytes: &[u8], legacy_expire_at_ms: u64) -> Result<Vec<Sibling>, DecodeError> {
    decode_record_from(bytes, None, legacy_expire_at_ms)
}

/// [`decode_record`] of bytes already shared: values, members and counter
/// bases are slices of `bytes` instead of copies.
///
/// # Errors
/// As [`decode_record`].
pub fn decode_shared_record(
    bytes: &Bytes,
    legacy_expire_at_ms: u64,
) -> Result<Vec<Sibling>, DecodeError> {
    decode_record_from(bytes, Some(bytes), legacy_expire_at_ms)
}

/// The expiry and value of a record of exactly one sibling holding a plain
/// value (format 2, no history, no member histories), the common shape of
/// a string, read without building its siblings or its clock: a point read
/// of such a key needs no more. `None` for any other shape, and for bytes
/// [`decode_shared_record`] would refuse (each dot is read and checked by
/// the decoder's own `Reader::dot`), so the caller's full decode reports
/// what is wrong. Whenever this returns a value, [`decode_shared_record`]
/// returns that one sibling.
pub fn peek_plain_value(bytes: &Bytes) -> Option<(u64, Bytes)> {
    let (mut r, expire_at_ms) = Reader::sole_sibling_of(bytes, TAG_VALUE)?;
    let value = r.blob("value").ok()?;
    r.finish().ok()?;
    Some((expire_at_ms, value))
}

fn decode_record_from(
    bytes: &[u8],
    shared: Option<&Bytes>,
    legacy_expire_at_ms: u64,
) -> Result<Vec<Sibling>, DecodeError> {
    let (&format, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    match format {
        RECORD_FORMAT_V1 => {
            let (&kind, payload) = rest.split_first().ok_or(DecodeError::Truncated {
                offset: 1,
                what: "format-1 kind",
                needed: 1,
                available: 0,
            })?;
            if kind != KIND_STRING {
                return Err(DecodeError::UnknownKind { kind });
            }
            Ok(vec![Sibling {
                clock: VectorClock::new(),
                ts_ms: 0,
                expire_at_ms: legacy_expire_at_ms,
                payload: Payload::Value(Bytes::copy_from_slice(payload)),
                history: History::new(),
                member_histories: MemberHistories::new(),
            }])
        }
        RECORD_FORMAT_V2 => {
            let mut r = Reader {
                buf: bytes,
                shared,
                pos: 1,
            };
            let count = r.u16("sibling count")?;
            let mut out = Vec::with_capacity(usize::from(count).min(r.left() / MIN_SIBLING_LEN));
            for _ in 0..count {
                out.push(r.sibling()?);
            }
            r.finish()?;
            Ok(out)
        }
        found => Err(DecodeError::UnsupportedFormat {
            found,
            supported: [RECORD_FORMAT_V1, RECORD_FORMAT_V2],
        }),
    }
}

/// `hex(version:u8=1 clock crc32c:u32be)`, the CRC covering version and clock.
pub fn encode_context(clock: &VectorClock) -> String {
    let mut raw = BytesMut::with_capacity(1 + 2 + DOT_LEN * clock.len() + 4);
    raw.put_u8(CONTEXT_VERSION);
    put_clock(&mut raw, clock);
    let crc = crc32c::crc32c(&raw);
    raw.put_u32(crc);
    let mut s = String::with_capacity(raw.len() * 2);
    for b in raw.iter() {
        s.push(hex_digit(b >> 4));
        s.push(hex_digit(b & 0xf));
    }
    s
}

/// Parses [`encode_context`]'s output (hex digits in either case).
///
/// # Errors
/// [`DecodeError::NotHex`], [`DecodeError::ChecksumMismatch`],
/// [`DecodeError::UnsupportedContextVersion`] or a clock error.
pub fn decode_context(s: &str) -> Result<VectorClock, DecodeError> {
    let text = s.as_bytes();
    if text.len() % 2 != 0 {
        return Err(DecodeError::NotHex);
    }
    let raw = text
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_value(*hi)? << 4) | hex_value(*lo)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or(DecodeError::NotHex)?;
    let Some((body, crc)) = raw.split_last_chunk::<4>() else {
        return Err(DecodeError::Truncated {
            offset: 0,
            what: "causal context",
            needed: 1 + 2 + 4,
            available: raw.len(),
        });
    };
    let expected = u32::from_be_bytes(*crc);
    let actual = crc32c::crc32c(body);
    if expected != actual {
        return Err(DecodeError::ChecksumMismatch { expected, actual });
    }
    let mut r = Reader {
        buf: body,
        shared: None,
        pos: 0,
    };
    let version = r.u8("context version")?;
    if version != CONTEXT_VERSION {
        return Err(DecodeError::UnsupportedContextVersion {
            found: version,
            supported: CONTEXT_VERSION,
        });
    }
    let clock = r.clock()?;
    r.finish()?;
    Ok(clock)
}

/// Parses a clock encoded alone ([`clock_bytes`]), as node-to-node
/// requests carry it.
///
/// # Errors
/// A truncated or invalid clock, or bytes after it.
pub fn decode_clock(bytes: &[u8]) -> Result<VectorClock, DecodeError> {
    let mut r = Reader {
        buf: bytes,
        shared: None,
        pos: 0,
    };
    let clock = r.clock()?;
    r.finish()?;
    Ok(clock)
}

fn hex_digit(v: u8) -> char {
    char::from_digit(u32::from(v), 16).unwrap_or('0')
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

/// A bounds-checked cursor over untrusted bytes.
/// Blobs up to this length are copied out of a shared record rather than
/// sliced from it. A slice turns a record read into its own buffer into a
/// shared one (an allocation) and counts references atomically on every
/// clone and drop; a short copy costs less, and frees the record at once.
const COPIED_BLOB_MAX: usize = 64;

struct Reader<'a> {
    buf: &'a [u8],
    /// `buf` as shared bytes, when the caller has them: blobs are then
    /// slices of it rather than copies.
    shared: Option<&'a Bytes>,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let truncated = DecodeError::Truncated {
            offset: self.pos,
            what,
            needed: n,
            available: self.left(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let out = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A blob's start and bytes, borrowed (no copy, no shared count).
    fn blob_slice(&mut self, what: &'static str) -> Result<(usize, &'a [u8]), DecodeError> {
        let n = self.u32(what)?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Invalid {
            offset: self.pos,
            what: "length exceeds address space",
        })?;
        let start = self.pos;
        Ok((start, self.take(n, what)?))
    }

    fn blob(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let (start, bytes) = self.blob_slice(what)?;
        Ok(match self.shared {
            Some(shared) if bytes.len() > COPIED_BLOB_MAX => {
                shared.slice(start..start + bytes.len())
            }
            _ => Bytes::copy_from_slice(bytes),
        })
    }

    /// A reader of `bytes`, a format-2 record of exactly one sibling whose
    /// payload tag is `tag` (no counter history, no member histories),
    /// placed after that tag, and the sibling's expiry; the clock's dots
    /// are checked as the full decode checks them. `None` for any other
    /// record, or bytes the full decode would refuse.
    fn sole_sibling_of(bytes: &'a Bytes, tag: u8) -> Option<(Reader<'a>, u64)> {
        let mut r = Reader {
            buf: bytes,
            shared: Some(bytes),
            pos: 0,
        };
        if r.u8("record format").ok()? != RECORD_FORMAT_V2 || r.u16("sibling count").ok()? != 1 {
            return None;
        }
        let _ts_ms = r.u64("sibling ts").ok()?;
        let expire_at_ms = r.u64("sibling expiry").ok()?;
        let mut previous_actor = None;
        for _ in 0..r.u16("clock length").ok()? {
            previous_actor = Some(r.dot(previous_actor).ok()?.actor);
        }
        (r.u8("payload tag").ok()? == tag).then_some((r, expire_at_ms))
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.left() {
            0 => Ok(()),
            len => Err(DecodeError::TrailingBytes {
                offset: self.pos,
                len,
            }),
        }
    }

    fn clock(&mut self) -> Result<VectorClock, DecodeError> {
        let n = self.u16("clock length")?;
        let mut dots: Vec<Dot> = Vec::with_capacity(usize::from(n).min(self.left() / DOT_LEN));
        for _ in 0..n {
            let dot = self.dot(dots.last().map(|prev| prev.actor))?;
            dots.push(dot);
        }
        Ok(VectorClock::from_sorted_dots(dots))
    }

    /// One dot of a clock whose previous dot (if any) names
    /// `previous_actor`: its counter is never 0, and actors strictly
    /// increase.
    fn dot(&mut self, previous_actor: Option<u64>) -> Result<Dot, DecodeError> {
        let at = self.pos;
        let dot = Dot {
            actor: self.u64("dot actor")?,
            counter: self.u64("dot counter")?,
            ts_ms: self.u64("dot ts")?,
        };
        if dot.counter == 0 {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "dot counter 0",
            });
        }
        if previous_actor.is_some_and(|prev| prev >= dot.actor) {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "clock actors not strictly increasing",
            });
        }
        Ok(dot)
    }

    fn sibling(&mut self) -> Result<Sibling, DecodeError> {
        let ts_ms = self.u64("sibling ts")?;
        let expire_at_ms = self.u64("sibling expiry")?;
        let clock = self.clock()?;
        let mut tag_at = self.pos;
        let mut tag = self.u8("payload tag")?;
        let mut history = History::new();
        if tag == TAG_HISTORY {
            history = self.history()?;
            tag_at = self.pos;
            tag = self.u8("payload tag")?;
            if !matches!(
                tag,
                TAG_VALUE | TAG_TOMBSTONE | TAG_COUNTER | TAG_MEMBER_HISTORY
            ) {
                return Err(DecodeError::Invalid {
                    offset: tag_at,
                    what: "history before a payload other than a value, tombstone or counter",
                });
            }
        }
        let mut member_histories = MemberHistories::new();
        if tag == TAG_MEMBER_HISTORY {
            member_histories = self.member_histories()?;
            tag_at = self.pos;
            tag = self.u8("payload tag")?;
            let fits = match tag {
                TAG_VALUE | TAG_TOMBSTONE => true,
                TAG_COLLECTION => history.is_empty(),
                _ => false,
            };
            if !fits {
                return Err(DecodeError::Invalid {
                    offset: tag_at,
                    what: "member history before a payload other than a value, tombstone or collection",
                });
            }
        }
        let payload = match tag {
            TAG_VALUE => Payload::Value(self.blob("value")?),
            TAG_TOMBSTONE => Payload::Tombstone,
            TAG_COUNTER => Payload::Counter(self.counter()?),
            TAG_HLL => Payload::Hll(self.blob("hyperloglog")?),
            TAG_COLLECTION => {
                let mut c = self.collection()?;
                c.set_member_histories(std::mem::take(&mut member_histories));
                Payload::Collection(c)
            }
            tag => {
                return Err(DecodeError::UnknownPayloadTag {
                    tag,
                    offset: tag_at,
                });
            }
        };
        Ok(Sibling {
            clock,
            ts_ms,
            expire_at_ms,
            payload,
            history,
            member_histories,
        })
    }

    fn member_histories(&mut self) -> Result<MemberHistories, DecodeError> {
        let n = self.u16("member history count")?;
        let mut entries: Vec<(Bytes, MemberHistory)> =
            Vec::with_capacity(usize::from(n).min(self.left() / 7));
        for _ in 0..n {
            let at = self.pos;
            let member = self.blob("member history member")?;
            if entries.last().is_some_and(|(prev, _)| *prev >= member) {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "member histories not strictly increasing",
                });
            }
            let flags_at = self.pos;
            let removal = match self.u8("member history flags")? {
                0 => None,
                MEMBER_HISTORY_REMOVAL => Some(Removal {
                    ts_ms: self.u64("member removal time")?,
                    tag: Tag {
                        actor: self.u64("member removal actor")?,
                        counter: self.u64("member removal counter")?,
                    },
                }),
                _ => {
                    return Err(DecodeError::Invalid {
                        offset: flags_at,
                        what: "unknown member history flags",
                    });
                }
            };
            let history = self.history()?;
            let entry = MemberHistory { removal, history };
            if entry.is_empty() {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "empty member history",
                });
            }
            entries.push((member, entry));
        }
        Ok(MemberHistories::from_sorted(entries))
    }

    fn history(&mut self) -> Result<History, DecodeError> {
        let n = self.u16("history count")?;
        let mut entries = Vec::with_capacity(usize::from(n).min(self.left() / 20));
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            let at = self.pos;
            let lineage = self.u64("history lineage")?;
            if prev.is_some_and(|p| p >= lineage) {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "history lineages not strictly increasing",
                });
            }
            prev = Some(lineage);
            let removed_ms = self.u64("history time")?;
            let floors = self.slots()?;
            let seen = self.slots()?;
            entries.push(Removed {
                lineage,
                removed_ms,
                floors,
                seen,
            });
        }
        Ok(History::from_sorted(entries))
    }

    fn collection(&mut self) -> Result<Collection, DecodeError> {
        let at = self.pos;
        let kind = Kind::from_code(self.u8("collection kind")?).ok_or(DecodeError::Invalid {
            offset: at,
            what: "unknown collection kind",
        })?;
        let n = self.u32("member count")?;
        let mut members: Vec<(Bytes, Vec<Item>)> =
            Vec::with_capacity((n as usize).min(self.left() / MIN_ITEM_LEN));
        for _ in 0..n {
            let at = self.pos;
            let member = self.blob("member")?;
            if members.last().is_some_and(|(prev, _)| *prev >= member) {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "members not strictly increasing",
                });
            }
            let items = self.items(at)?;
            members.push((member, items));
        }
        if members.is_empty() {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "empty collection",
            });
        }
        // Checked above: members strictly increasing, items non-empty and
        // strictly increasing by tag.
        Ok(Collection::from_sorted(kind, members))
    }

    /// A member's items (see [`put_items`]): at least one, tags strictly
    /// increasing from counter 1. `at` is where the member starts.
    fn items(&mut self, at: usize) -> Result<Vec<Item>, DecodeError> {
        let count = self.u16("item count")?;
        if count == 0 {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "member without items",
            });
        }
        let mut items = Vec::with_capacity(usize::from(count).min(self.left() / MIN_ITEM_LEN));
        for _ in 0..count {
            let at = self.pos;
            let tag = Tag {
                actor: self.u64("item actor")?,
                counter: self.u64("item counter")?,
            };
            if tag.counter == 0 || items.last().is_some_and(|p: &Item| p.tag >= tag) {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "item tags not strictly increasing from counter 1",
                });
            }
            let ts_ms = self.u64("item ts")?;
            let element = match self.u8("element tag")? {
                ELEMENT_VALUE => Element::Value(self.blob("member value")?),
                ELEMENT_COUNTER => Element::Counter(self.counter()?),
                tag => {
                    return Err(DecodeError::UnknownPayloadTag {
                        tag,
                        offset: at + 24,
                    });
                }
            };
            items.push(Item {
                tag,
                ts_ms,
                element,
            });
        }
        Ok(items)
    }

    fn counter(&mut self) -> Result<Counter, DecodeError> {
        let base = self.blob("counter base")?;
        let base_id = self.u64("counter base id")?;
        let slots = self.slots()?;
        Ok(Counter::from_parts(base, base_id, slots))
    }

    fn slots(&mut self) -> Result<Slots, DecodeError> {
        let n = self.u16("slot count")?;
        let mut slots = BTreeMap::new();
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            let at = self.pos;
            let actor = self.u64("slot actor")?;
            let seq = self.u64("slot seq")?;
            let int_total = i64::from_be_bytes(self.array("slot int total")?);
            let float_total = f64::from_bits(self.u64("slot float total")?);
            if !float_total.is_finite() {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "slot float total not finite",
                });
            }
            if prev.is_some_and(|p| p >= actor) {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "slot actors not strictly increasing",
                });
            }
            prev = Some(actor);
            slots.insert(
                actor,
                Slot {
                    seq,
                    int_total,
                    float_total,
                },
            );
        }
        Ok(slots)
    }
}

mod peek;
mod split;
pub use peek::peek_members;
pub use split::{
    RECORD_FORMAT_SPLIT, RECORD_FORMAT_SPLIT_V3, SplitHeader, decode_member, decode_split_header,
    encode_member, encode_split_header,
};
