//! The unversioned stored record, format 1: what the engine held as the
//! value of a user key before versioned values. Documented in
//! `docs/formats/record.md` §3.1; record format 2 (siblings with vector
//! clocks), which also reads format 1, is [`crate::version`].
//!
//! ```text
//! record := format:u8 (= 1) kind:u8 payload[..]
//! kind   := 0 (string)
//! ```
//!
//! The expiry is not in the record: it is the engine's per-value metadata,
//! so the engine can drop expired records during compaction. The checksum
//! is the engine's (every WAL record and SSTable block carries a CRC32C).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Current record format version.
pub const RECORD_FORMAT: u8 = 1;

/// What kind of Redis value a record holds. Only strings exist today; the
/// tag leaves room for the collection types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Redis string (also used for integers and floats, as in Redis).
    String = 0,
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The kind of value.
    pub kind: Kind,
    /// The value's bytes (a zero-copy slice of the stored value).
    pub payload: Bytes,
}

impl Record {
    /// A string record.
    pub fn string(payload: Bytes) -> Self {
        Record {
            kind: Kind::String,
            payload,
        }
    }

    /// Encodes the record. The payload is copied into a fresh allocation so
    /// the stored value never pins a client's read buffer.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(2 + self.payload.len());
        out.put_u8(RECORD_FORMAT);
        out.put_u8(self.kind as u8);
        out.put_slice(&self.payload);
        out.freeze()
    }

    /// Decodes a stored value; `key` names the key in the error.
    pub fn decode(stored: &Bytes, key: &[u8]) -> Result<Record> {
        match stored.get(..2) {
            Some([RECORD_FORMAT, 0]) => Ok(Record {
                kind: Kind::String,
                payload: stored.slice(2..),
            }),
            Some([RECORD_FORMAT, kind]) => Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: format!("unknown record kind {kind}"),
            }),
            Some([format, _]) => Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: format!(
                    "unsupported record format {format} (this version reads {RECORD_FORMAT})"
                ),
            }),
            _ => Err(Error::CorruptRecord {
                key: key.to_vec(),
                what: "record shorter than its header".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_formats() {
        let r = Record::string(Bytes::from_static(b"hello"));
        let enc = r.encode();
        assert_eq!(&enc[..], b"\x01\x00hello");
        assert_eq!(Record::decode(&enc, b"k").unwrap(), r);
        assert!(Record::decode(&Bytes::from_static(b"\x02\x00x"), b"k").is_err());
        assert!(Record::decode(&Bytes::from_static(b"\x01\x09x"), b"k").is_err());
        assert!(Record::decode(&Bytes::from_static(b"\x01"), b"k").is_err());
    }
}
