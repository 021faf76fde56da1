//! Split collections' records (`docs/formats/record.md` §3.6): the header
//! at the key and one member record per member.

use bytes::{BufMut, Bytes, BytesMut};

use super::super::VectorClock;
use super::super::collection::{Item, Kind};
use super::super::member_history::MemberHistories;
use super::{
    DOT_LEN, DecodeError, RECORD_FORMAT_V2, Reader, put_blob, put_clock, put_items,
    put_member_histories,
};

/// First byte of the header record of a collection stored split: its
/// members are records of their own (`docs/formats/record.md` §3.6).
/// Format 3 (read only) has no flags; format 4 adds them.
pub const RECORD_FORMAT_SPLIT: u8 = 4;
/// The first split-header format, without flags (read only).
pub const RECORD_FORMAT_SPLIT_V3: u8 = 3;
/// Split-header flag: a sorted set's members also have score-index
/// entries (`docs/formats/record.md` §3.6).
const SPLIT_FLAG_SCORE_INDEX: u8 = 1;
/// Split-header flag: the member records (and score-index entries) of this
/// generation carry no engine expiry; the header's expiry alone decides,
/// and a timed reclaim entry deletes them once it passes
/// (`docs/formats/record.md` §3.6).
const SPLIT_FLAG_UNEXPIRING_MEMBERS: u8 = 2;
/// Split-header flag: member histories follow the flags
/// (`docs/formats/record.md` §3.6).
const SPLIT_FLAG_MEMBER_HISTORIES: u8 = 4;
/// Split-header flag: a sorted set's score index has ascending entries
/// only; reads from the highest score walk them down
/// (`docs/formats/record.md` §3.6).
const SPLIT_FLAG_ASCENDING_ONLY: u8 = 8;
/// First byte of a split collection's member record.
pub const MEMBER_FORMAT: u8 = 1;

/// What the header record of a split collection holds: the one sibling of
/// the key (a live collection) without its members, their count, and the
/// generation naming its member records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitHeader {
    /// The collection's type.
    pub kind: Kind,
    /// Names this incarnation's member records: a new one whenever the
    /// members are replaced wholesale, so old ones are never read again.
    pub generation: u64,
    /// How many members there are.
    pub count: u64,
    /// The sibling's write time.
    pub ts_ms: u64,
    /// The sibling's expiry (unix ms, 0 = none).
    pub expire_at_ms: u64,
    /// The sibling's clock.
    pub clock: VectorClock,
    /// A list's first position (at most its least member), so a read at
    /// the head starts there instead of passing the deletions of earlier
    /// pops; for a sorted set, the same bound in its ascending score-index
    /// order (format 4); empty for the other kinds or when not known.
    pub first: Bytes,
    /// A list's last position (at least its greatest member), so a push or
    /// pop at the tail starts there; for a sorted set, a bound in its
    /// descending score-index order (format 4); empty for the other kinds
    /// or when not known.
    pub last: Bytes,
    /// Whether a sorted set's members have score-index entries (always,
    /// for a sorted set split by this version; never in format 3).
    pub score_index: bool,
    /// Whether its score index also has descending entries (generations
    /// made before flag bit 3; never for a new one, whose reads from the
    /// highest score walk the ascending entries down).
    pub descending_index: bool,
    /// Whether this generation's member records carry no engine expiry, so
    /// a new expiry rewrites only the header (always, for a generation
    /// made by this version; never in format 3).
    pub unexpiring_members: bool,
    /// What removals of counter members had seen
    /// (`super::super::member_history`); usually empty.
    pub member_histories: MemberHistories,
}

impl SplitHeader {
    /// Whether the collection has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

/// Encodes `header := format:u8=4 kind:u8 generation:u64be count:u64be
/// ts_ms:u64be expire_at_ms:u64be clock first:blob last:blob flags:u8
/// [member_histories]` (the last when flag 4 is set).
pub fn encode_split_header(h: &SplitHeader) -> Bytes {
    let mut out = BytesMut::with_capacity(
        34 + 2 + h.clock.len() * DOT_LEN + 8 + h.first.len() + h.last.len(),
    );
    out.put_u8(RECORD_FORMAT_SPLIT);
    out.put_u8(h.kind.code());
    out.put_u64(h.generation);
    out.put_u64(h.count);
    out.put_u64(h.ts_ms);
    out.put_u64(h.expire_at_ms);
    put_clock(&mut out, &h.clock);
    put_blob(&mut out, &h.first);
    put_blob(&mut out, &h.last);
    let mut flags = 0;
    if h.score_index {
        flags |= SPLIT_FLAG_SCORE_INDEX;
    }
    if h.unexpiring_members {
        flags |= SPLIT_FLAG_UNEXPIRING_MEMBERS;
    }
    if !h.member_histories.is_empty() {
        flags |= SPLIT_FLAG_MEMBER_HISTORIES;
    }
    if h.score_index && !h.descending_index {
        flags |= SPLIT_FLAG_ASCENDING_ONLY;
    }
    out.put_u8(flags);
    if !h.member_histories.is_empty() {
        put_member_histories(&mut out, &h.member_histories);
    }
    out.freeze()
}

/// Decodes a split collection's header ([`encode_split_header`]).
///
/// # Errors
/// Any [`DecodeError`]; never panics.
pub fn decode_split_header(bytes: &[u8]) -> Result<SplitHeader, DecodeError> {
    let mut r = Reader {
        buf: bytes,
        shared: None,
        pos: 0,
    };
    let format = r.u8("record format")?;
    if format != RECORD_FORMAT_SPLIT && format != RECORD_FORMAT_SPLIT_V3 {
        return Err(DecodeError::UnsupportedFormat {
            found: format,
            supported: [RECORD_FORMAT_V2, RECORD_FORMAT_SPLIT],
        });
    }
    let at = r.pos;
    let kind = Kind::from_code(r.u8("collection kind")?).ok_or(DecodeError::Invalid {
        offset: at,
        what: "unknown collection kind",
    })?;
    let mut header = SplitHeader {
        kind,
        generation: r.u64("generation")?,
        count: r.u64("member count")?,
        ts_ms: r.u64("sibling ts")?,
        expire_at_ms: r.u64("sibling expiry")?,
        clock: r.clock()?,
        first: r.blob("first position")?,
        last: r.blob("last position")?,
        score_index: false,
        descending_index: false,
        unexpiring_members: false,
        member_histories: MemberHistories::new(),
    };
    if format == RECORD_FORMAT_SPLIT {
        let at = r.pos;
        let flags = r.u8("header flags")?;
        let known = SPLIT_FLAG_SCORE_INDEX
            | SPLIT_FLAG_UNEXPIRING_MEMBERS
            | SPLIT_FLAG_MEMBER_HISTORIES
            | SPLIT_FLAG_ASCENDING_ONLY;
        if flags & !known != 0 {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "unknown split header flags",
            });
        }
        header.score_index = flags & SPLIT_FLAG_SCORE_INDEX != 0;
        header.descending_index = header.score_index && flags & SPLIT_FLAG_ASCENDING_ONLY == 0;
        header.unexpiring_members = flags & SPLIT_FLAG_UNEXPIRING_MEMBERS != 0;
        if flags & SPLIT_FLAG_MEMBER_HISTORIES != 0 {
            header.member_histories = r.member_histories()?;
        }
    }
    r.finish()?;
    Ok(header)
}

/// Encodes a member record: `format:u8=1 items` ([`put_items`]).
pub fn encode_member(items: &[Item]) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + 2 + items.len() * 48);
    out.put_u8(MEMBER_FORMAT);
    put_items(&mut out, items);
    out.freeze()
}

/// Decodes a member record ([`encode_member`]); values are slices of `bytes`.
///
/// # Errors
/// Any [`DecodeError`]; never panics.
pub fn decode_member(bytes: &Bytes) -> Result<Vec<Item>, DecodeError> {
    let mut r = Reader {
        buf: bytes,
        shared: Some(bytes),
        pos: 0,
    };
    let format = r.u8("member format")?;
    if format != MEMBER_FORMAT {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "unknown member record format",
        });
    }
    let items = r.items(0)?;
    r.finish()?;
    Ok(items)
}
