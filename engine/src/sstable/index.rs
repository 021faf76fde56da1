//! The index block: one entry per data block, key = the block's last internal
//! key, value = `offset:varint len:varint` of the block. Restart interval 1,
//! so a seek is a pure binary search.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::coding::{Cursor, DecodeError, put_varint};
use crate::sstable::footer::Handle;

/// Restart interval of index blocks.
pub(crate) const INDEX_RESTART_INTERVAL: usize = 1;

/// Encodes a data block handle as an index value.
pub(crate) fn encode_handle(out: &mut Vec<u8>, h: Handle) {
    put_varint(out, h.offset);
    put_varint(out, h.len);
}

/// Decodes an index value.
pub(crate) fn decode_handle(v: &[u8]) -> Result<Handle, DecodeError> {
    let mut c = Cursor::new(v);
    let offset = c.varint("block offset")?;
    let len = c.varint("block length")?;
    if !c.is_empty() {
        return Err(DecodeError {
            at: c.pos(),
            what: "trailing bytes after block handle",
        });
    }
    Ok(Handle { offset, len })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let h = Handle {
            offset: 123_456,
            len: 4096,
        };
        let mut b = Vec::new();
        encode_handle(&mut b, h);
        assert_eq!(decode_handle(&b).unwrap(), h);
        assert!(decode_handle(&b[..1]).is_err());
        b.push(0);
        assert!(decode_handle(&b).is_err());
    }
}
