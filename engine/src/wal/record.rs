//! Log-record framing shared by the WAL and the manifest
//! (`docs/formats/wal.md` §2 and §5):
//!
//! ```text
//! record := crc:u32le len:u32le type:u8 payload[len]     crc = crc32c(type ++ payload)
//! ```
//!
//! The reader classifies what it finds after the last good record: a torn
//! tail (incomplete record, checksum failure with nothing valid after it, or
//! a zero-filled tail) is reported as the length to truncate to; a bad record
//! followed by a valid one is `Corruption` naming the file and offset.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use bytes::Bytes;

use crate::coding::{u32_at, u64_at};
use crate::error::{Error, Result};
use crate::format::{LOG_MAX_PAYLOAD, LOG_RECORD_HEADER_LEN};

/// Appends one framed record to `buf`.
pub(crate) fn append_record(buf: &mut Vec<u8>, rtype: u8, payload: &[u8]) {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[rtype]), payload);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.push(rtype);
    buf.extend_from_slice(payload);
}

/// Frames a record whose payload was already written into `buf` after a
/// reserved header at `start` (avoids copying large batches twice).
pub(crate) fn reserve_header(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; LOG_RECORD_HEADER_LEN]);
    start
}

/// Fills in the header reserved at `start` for the payload that follows it.
#[cfg(test)]
pub(crate) fn finish_header(buf: &mut [u8], start: usize, rtype: u8) {
    finish_header_sharing(buf, start, rtype, &[]);
}

/// [`finish_header`] for a record whose payload also has `shared` values
/// (each at or after `start`, in order) that are not in `buf`: the length
/// and checksum cover them where they belong.
#[expect(
    clippy::indexing_slicing,
    reason = "start came from reserve_header on this buffer"
)]
pub(crate) fn finish_header_sharing(
    buf: &mut [u8],
    start: usize,
    rtype: u8,
    shared: &[crate::batch::SharedValue],
) {
    use crate::batch::{Piece, pieces, shared_len};
    let payload_start = start + LOG_RECORD_HEADER_LEN;
    buf[start + 8] = rtype;
    let len = buf.len() - payload_start + shared_len(shared);
    // A shared value's checksum was taken before the write lock.
    let crc = pieces(buf, start + 8, shared).fold(0, |crc, p| match p {
        Piece::Own(b) => crc32c::crc32c_append(crc, b),
        Piece::Shared(v) => crc32c::crc32c_combine(crc, v.crc, v.bytes.len()),
    });
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&(len as u32).to_le_bytes());
}

/// One record read back: its file offset and payload (a slice of the file).
#[derive(Debug)]
pub(crate) struct LogRecord {
    pub(crate) offset: u64,
    pub(crate) payload: Bytes,
}

/// What `read_records` found.
#[derive(Debug)]
pub(crate) struct LogContents {
    /// Every good record, in file order.
    pub(crate) records: Vec<LogRecord>,
    /// Length of the valid prefix; bytes past it are a torn tail to truncate.
    pub(crate) valid_len: u64,
}

/// Checks a record at `at`: `Some(end)` if a whole record with a matching
/// checksum and known type starts there.
fn record_at(data: &[u8], at: usize, valid_type: &dyn Fn(u8) -> bool) -> Option<usize> {
    let crc = u32_at(data, at)?;
    let len = u32_at(data, at + 4)? as usize;
    if len > LOG_MAX_PAYLOAD {
        return None;
    }
    let rtype = *data.get(at + 8)?;
    let end = at.checked_add(LOG_RECORD_HEADER_LEN)?.checked_add(len)?;
    let body = data.get(at + 8..end)?;
    if !valid_type(rtype) || crc32c::crc32c(body) != crc {
        return None;
    }
    Some(end)
}

/// Longest stretch scanned for a valid record after a bad one; a torn tail is
/// at most one unsynced write, so anything valid further away is not a tail.
const RESYNC_SCAN_LIMIT: usize = 8 << 20;

/// Reads every record of `data` (a whole file) starting at `start`.
/// `file` names the file in errors; `valid_type` says which record types exist.
pub(crate) fn read_records(
    file: &Path,
    data: &Bytes,
    start: usize,
    valid_type: &dyn Fn(u8) -> bool,
) -> Result<LogContents> {
    let mut records = Vec::new();
    let mut pos = start;
    while pos < data.len() {
        if let Some(end) = record_at(data, pos, valid_type) {
            records.push(LogRecord {
                offset: pos as u64,
                payload: data.slice(pos + LOG_RECORD_HEADER_LEN..end),
            });
            pos = end;
            continue;
        }
        // Not a good record. Decide torn tail versus corruption: look for any
        // valid record further on.
        let rest = data.get(pos..).unwrap_or_default();
        if rest.iter().all(|&b| b == 0) {
            break; // zero-filled tail (preallocated or torn page)
        }
        let limit = rest.len().min(RESYNC_SCAN_LIMIT);
        let found = (1..limit).find(|&d| {
            u64_at(data, pos + d).is_some_and(|h| h != 0)
                && record_at(data, pos + d, valid_type).is_some()
        });
        if let Some(d) = found {
            let what = match u32_at(data, pos + 4) {
                Some(len) if (len as usize) > LOG_MAX_PAYLOAD => {
                    format!("record length {len} out of range")
                }
                Some(_) if rest.len() < LOG_RECORD_HEADER_LEN => {
                    "truncated record header".to_string()
                }
                Some(_) => "record checksum or type mismatch".to_string(),
                None => "truncated record header".to_string(),
            };
            return Err(Error::corruption(
                file,
                pos as u64,
                format!("{what}; a valid record follows at offset {}", pos + d),
            ));
        }
        break;
    }
    Ok(LogContents {
        records,
        valid_len: pos as u64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    fn ok(t: u8) -> bool {
        t == 1
    }

    fn three() -> Vec<u8> {
        let mut b = Vec::new();
        append_record(&mut b, 1, b"alpha");
        append_record(&mut b, 1, b"");
        let s = reserve_header(&mut b);
        b.extend_from_slice(b"gamma-gamma");
        finish_header(&mut b, s, 1);
        b
    }

    #[test]
    fn records_round_trip() {
        let b = Bytes::from(three());
        let c = read_records(Path::new("t"), &b, 0, &ok).unwrap();
        assert_eq!(c.records.len(), 3);
        assert_eq!(&c.records[0].payload[..], b"alpha");
        assert_eq!(&c.records[2].payload[..], b"gamma-gamma");
        assert_eq!(c.valid_len, b.len() as u64);
    }

    #[test]
    fn every_truncation_is_a_torn_tail() {
        let full = three();
        for cut in 0..full.len() {
            let b = Bytes::copy_from_slice(&full[..cut]);
            let c = read_records(Path::new("t"), &b, 0, &ok).unwrap();
            assert!(c.valid_len <= cut as u64);
        }
    }

    #[test]
    fn zero_filled_tail_is_truncated() {
        let mut full = three();
        let len = full.len();
        full.extend_from_slice(&[0u8; 100]);
        let c = read_records(Path::new("t"), &Bytes::from(full), 0, &ok).unwrap();
        assert_eq!(c.records.len(), 3);
        assert_eq!(c.valid_len, len as u64);
    }

    #[test]
    fn bad_record_followed_by_valid_one_is_corruption() {
        let mut full = three();
        full[10] ^= 0xff; // inside "alpha"
        let err = read_records(Path::new("wal-x"), &Bytes::from(full), 0, &ok).unwrap_err();
        match err {
            Error::Corruption { file, offset, .. } => {
                assert_eq!(file, Path::new("wal-x"));
                assert_eq!(offset, 0);
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn bad_last_record_is_a_torn_tail() {
        let mut full = three();
        let n = full.len();
        full[n - 1] ^= 0x01;
        let c = read_records(Path::new("t"), &Bytes::from(full), 0, &ok).unwrap();
        assert_eq!(c.records.len(), 2);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u64;
        for len in 0..200 {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = read_records(Path::new("t"), &Bytes::from(v), 0, &ok);
        }
    }
}
