//! The fixed 64-byte SSTable footer (`docs/formats/sstable.md` §2):
//!
//! ```text
//! footer := index_off:u64le index_len:u64le filter_off:u64le filter_len:u64le
//!           props_off:u64le props_len:u64le version:u32le crc:u32le magic:u64le
//! ```
//!
//! `crc` is crc32c of the 52 bytes before it. Lengths exclude each block's
//! 4-byte checksum trailer.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::coding::{u32_at, u64_at};
use crate::format::{SST_FOOTER_LEN, SST_MAGIC, SST_VERSION};

/// Where a block lives: offset and length (without the trailer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Handle {
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// The decoded footer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) index: Handle,
    pub(crate) filter: Handle,
    pub(crate) props: Handle,
}

/// Why a footer was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FooterError {
    /// Not an SSTable (or truncated): the magic is wrong.
    BadMagic,
    /// Checksum of the footer fields failed.
    Checksum { expected: u32, actual: u32 },
    /// A newer format.
    Version(u32),
    /// A handle points outside the file.
    BadHandle,
}

impl Footer {
    /// Encodes the footer.
    pub(crate) fn encode(&self) -> [u8; SST_FOOTER_LEN] {
        let mut v = Vec::with_capacity(SST_FOOTER_LEN);
        for h in [self.index, self.filter, self.props] {
            v.extend_from_slice(&h.offset.to_le_bytes());
            v.extend_from_slice(&h.len.to_le_bytes());
        }
        v.extend_from_slice(&SST_VERSION.to_le_bytes());
        let crc = crc32c::crc32c(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        v.extend_from_slice(&SST_MAGIC.to_le_bytes());
        let mut out = [0u8; SST_FOOTER_LEN];
        out.copy_from_slice(&v);
        out
    }

    /// Decodes the last `SST_FOOTER_LEN` bytes of a file of `file_len` bytes.
    pub(crate) fn decode(buf: &[u8], file_len: u64) -> Result<Footer, FooterError> {
        if buf.len() != SST_FOOTER_LEN || u64_at(buf, 56) != Some(SST_MAGIC) {
            return Err(FooterError::BadMagic);
        }
        let expected = u32_at(buf, 52).ok_or(FooterError::BadMagic)?;
        let actual = crc32c::crc32c(buf.get(..52).ok_or(FooterError::BadMagic)?);
        if expected != actual {
            return Err(FooterError::Checksum { expected, actual });
        }
        let version = u32_at(buf, 48).ok_or(FooterError::BadMagic)?;
        if version != SST_VERSION {
            return Err(FooterError::Version(version));
        }
        let h = |i: usize| -> Result<Handle, FooterError> {
            let offset = u64_at(buf, 16 * i).ok_or(FooterError::BadHandle)?;
            let len = u64_at(buf, 16 * i + 8).ok_or(FooterError::BadHandle)?;
            let end = offset
                .checked_add(len)
                .and_then(|e| e.checked_add(4))
                .ok_or(FooterError::BadHandle)?;
            if end > file_len.saturating_sub(SST_FOOTER_LEN as u64) {
                return Err(FooterError::BadHandle);
            }
            Ok(Handle { offset, len })
        };
        Ok(Footer {
            index: h(0)?,
            filter: h(1)?,
            props: h(2)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trips_and_rejects_damage() {
        let f = Footer {
            index: Handle {
                offset: 100,
                len: 20,
            },
            filter: Handle {
                offset: 10,
                len: 30,
            },
            props: Handle {
                offset: 50,
                len: 40,
            },
        };
        let b = f.encode();
        assert_eq!(Footer::decode(&b, 1000).unwrap(), f);
        assert_eq!(Footer::decode(&b, 100), Err(FooterError::BadHandle));
        let mut bad = b;
        bad[3] ^= 1;
        assert!(matches!(
            Footer::decode(&bad, 1000),
            Err(FooterError::Checksum { .. })
        ));
        let mut bad = b;
        bad[63] ^= 1;
        assert_eq!(Footer::decode(&bad, 1000), Err(FooterError::BadMagic));
        assert_eq!(Footer::decode(&b[1..], 1000), Err(FooterError::BadMagic));
    }
}
