//! Sorted string tables (`docs/formats/sstable.md`): immutable files of
//! internal entries in key order.
//!
//! - `block`: data/index block codec (prefix-compressed keys, restart points, crc).
//! - `bloom`: the whole-file bloom filter over user keys.
//! - `footer`: the fixed footer locating index, filter and properties.
//! - `index`: reading the index block (last key of each data block → handle).
//! - `builder`: writes a table from a sorted stream.
//! - `reader`: point lookups and iteration, through the block cache.
//!
//! This file holds the properties block codec.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub(crate) mod block;
pub(crate) mod bloom;
pub(crate) mod builder;
pub(crate) mod footer;
pub(crate) mod index;
pub(crate) mod reader;

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::coding::{Cursor, DecodeError, put_bytes, put_varint};
use crate::format::{SST_SUFFIX, prop_tag};

/// Path of SSTable number `n` in `dir`.
pub(crate) fn sst_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.{SST_SUFFIX}"))
}

/// Summary of a table, stored in its properties block and copied into the
/// manifest so compaction decisions need no file access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    pub(crate) smallest: Bytes,
    pub(crate) largest: Bytes,
    pub(crate) min_seq: u64,
    pub(crate) max_seq: u64,
    pub(crate) entries: u64,
    pub(crate) tombstones: u64,
    pub(crate) expiring: u64,
    pub(crate) earliest_expiry: u64,
    pub(crate) latest_expiry: u64,
    pub(crate) newest_tombstone_ms: u64,
    pub(crate) data_blocks: u64,
    pub(crate) created_ms: u64,
}

impl Properties {
    /// Encodes as `(tag:u8 value)*`; keys are varint-length-prefixed bytes,
    /// numbers varints. Unknown tags are skipped by readers only if they are
    /// numbers (tags never change type).
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(prop_tag::SMALLEST_KEY);
        put_bytes(buf, &self.smallest);
        buf.push(prop_tag::LARGEST_KEY);
        put_bytes(buf, &self.largest);
        for (tag, v) in [
            (prop_tag::MIN_SEQ, self.min_seq),
            (prop_tag::MAX_SEQ, self.max_seq),
            (prop_tag::ENTRIES, self.entries),
            (prop_tag::TOMBSTONES, self.tombstones),
            (prop_tag::EXPIRING, self.expiring),
            (prop_tag::EARLIEST_EXPIRY, self.earliest_expiry),
            (prop_tag::LATEST_EXPIRY, self.latest_expiry),
            (prop_tag::NEWEST_TOMBSTONE_MS, self.newest_tombstone_ms),
            (prop_tag::DATA_BLOCKS, self.data_blocks),
            (prop_tag::CREATED_MS, self.created_ms),
        ] {
            buf.push(tag);
            put_varint(buf, v);
        }
    }

    /// Decodes what `encode` wrote.
    pub(crate) fn decode(buf: &[u8]) -> Result<Properties, DecodeError> {
        let mut c = Cursor::new(buf);
        let mut p = Properties::default();
        while !c.is_empty() {
            let at = c.pos();
            match c.u8("property tag")? {
                prop_tag::SMALLEST_KEY => {
                    p.smallest = Bytes::copy_from_slice(c.len_bytes("smallest key")?)
                }
                prop_tag::LARGEST_KEY => {
                    p.largest = Bytes::copy_from_slice(c.len_bytes("largest key")?)
                }
                prop_tag::MIN_SEQ => p.min_seq = c.varint("min seq")?,
                prop_tag::MAX_SEQ => p.max_seq = c.varint("max seq")?,
                prop_tag::ENTRIES => p.entries = c.varint("entries")?,
                prop_tag::TOMBSTONES => p.tombstones = c.varint("tombstones")?,
                prop_tag::EXPIRING => p.expiring = c.varint("expiring")?,
                prop_tag::EARLIEST_EXPIRY => p.earliest_expiry = c.varint("earliest expiry")?,
                prop_tag::LATEST_EXPIRY => p.latest_expiry = c.varint("latest expiry")?,
                prop_tag::NEWEST_TOMBSTONE_MS => {
                    p.newest_tombstone_ms = c.varint("tombstone time")?
                }
                prop_tag::DATA_BLOCKS => p.data_blocks = c.varint("data blocks")?,
                prop_tag::CREATED_MS => p.created_ms = c.varint("created")?,
                _ => {
                    return Err(DecodeError {
                        at,
                        what: "unknown property tag",
                    });
                }
            }
        }
        if p.smallest > p.largest || p.min_seq > p.max_seq {
            return Err(DecodeError {
                at: 0,
                what: "inverted key or sequence range",
            });
        }
        Ok(p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip_and_reject_garbage() {
        let p = Properties {
            smallest: Bytes::from("a"),
            largest: Bytes::from("z"),
            min_seq: 3,
            max_seq: 9,
            entries: 7,
            tombstones: 2,
            expiring: 1,
            earliest_expiry: 100,
            latest_expiry: 100,
            newest_tombstone_ms: 55,
            data_blocks: 1,
            created_ms: 1000,
        };
        let mut b = Vec::new();
        p.encode(&mut b);
        assert_eq!(Properties::decode(&b).unwrap(), p);
        for cut in 1..b.len() {
            // Either an error or (cut on a field boundary) a different value: never a panic.
            let _ = Properties::decode(b.get(..cut).unwrap());
        }
        assert!(Properties::decode(&[99, 1]).is_err());
    }
}
