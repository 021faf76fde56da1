//! `WriteBatch`, the unit of atomicity, and its encoding as a WAL record
//! payload (`docs/formats/wal.md` §2, "batch").

use bytes::Bytes;

use crate::coding::{Cursor, DecodeError, put_bytes, put_varint};
use crate::format::{OP_DELETE, OP_PUT};
use crate::value::{InternalValue, Value};

/// One operation of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BatchOp {
    /// Store `value` under the key.
    Put(Bytes, Value),
    /// Delete the key.
    Delete(Bytes),
}

/// An ordered group of puts and deletes applied atomically: all of them
/// become visible (and durable) together, with consecutive sequence numbers.
/// A later operation on the same key in one batch wins.
#[derive(Clone, Default, Debug)]
pub struct WriteBatch {
    pub(crate) ops: Vec<BatchOp>,
    /// Key and value bytes, for memtable accounting and stats.
    pub(crate) payload_bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` under `key`.
    pub fn put(&mut self, key: impl Into<Bytes>, value: Value) {
        let key = key.into();
        self.payload_bytes += key.len() + value.data.len();
        self.ops.push(BatchOp::Put(key, value));
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl Into<Bytes>) {
        let key = key.into();
        self.payload_bytes += key.len();
        self.ops.push(BatchOp::Delete(key));
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.payload_bytes = 0;
    }
}

/// Values longer than this are not copied into the log's buffer: the log
/// writes them from the batch's own `Bytes` (the bytes on disk are the
/// same). Each copy of a large value is fresh memory the kernel faults in
/// and zeroes (about half a second per 256 MB here), made under the
/// engine's write lock, which every other write waited for.
pub(crate) const SHARE_VALUE_ABOVE: usize = 64 * 1024;

/// A value the log writes from its own memory: it belongs at `at` in the
/// buffer it was encoded into (the bytes before `at` precede it, the bytes
/// from `at` on follow it). `crc` is `crc32c(bytes)`.
#[derive(Clone, Debug)]
pub(crate) struct SharedValue {
    pub(crate) at: usize,
    pub(crate) bytes: Bytes,
    pub(crate) crc: u32,
}

/// A run of a log buffer's bytes, or a shared value between two runs.
pub(crate) enum Piece<'a> {
    Own(&'a [u8]),
    Shared(&'a SharedValue),
}

/// `data` from `from` on, with `shared` (positions in `data`, in order, at
/// or after `from`) in their places: the bytes the log writes, in order.
pub(crate) fn pieces<'a>(
    data: &'a [u8],
    from: usize,
    shared: &'a [SharedValue],
) -> impl Iterator<Item = Piece<'a>> {
    let tail = data
        .get(shared.last().map_or(from, |v| v.at)..)
        .unwrap_or_default();
    let mut at = from;
    shared
        .iter()
        .flat_map(move |v| {
            let before = data.get(at..v.at).unwrap_or_default();
            at = v.at;
            [Piece::Own(before), Piece::Shared(v)]
        })
        .chain(std::iter::once(Piece::Own(tail)))
}

impl Piece<'_> {
    /// The piece's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Piece::Own(b) => b,
            Piece::Shared(v) => &v.bytes,
        }
    }
}

/// Bytes of `shared` values together.
pub(crate) fn shared_len(shared: &[SharedValue]) -> usize {
    shared.iter().map(|v| v.bytes.len()).sum()
}

/// The checksums of the values of `batch` that the log will share
/// ([`SHARE_VALUE_ABOVE`]), in order: computed before the engine's write
/// lock is taken, so the lock is not held over the values' bytes.
pub(crate) fn shared_value_crcs(batch: &WriteBatch) -> Vec<u32> {
    batch
        .ops
        .iter()
        .filter_map(|op| match op {
            BatchOp::Put(_, v) if v.data.len() > SHARE_VALUE_ABOVE => Some(crc32c::crc32c(&v.data)),
            _ => None,
        })
        .collect()
}

/// Encodes a batch payload: `start_seq:u64le count:u32le write_ms:u64le op*`.
pub(crate) fn encode_batch(buf: &mut Vec<u8>, start_seq: u64, write_ms: u64, batch: &WriteBatch) {
    encode_batch_sharing(buf, None, start_seq, write_ms, batch);
}

/// [`encode_batch`], leaving out the values longer than
/// [`SHARE_VALUE_ABOVE`] when `shared` is given: each is added there, with
/// its checksum from `shared_value_crcs`, as a [`SharedValue`] at the
/// position its bytes belong.
pub(crate) fn encode_batch_sharing(
    buf: &mut Vec<u8>,
    mut shared: Option<(&mut Vec<SharedValue>, &[u32])>,
    start_seq: u64,
    write_ms: u64,
    batch: &WriteBatch,
) {
    buf.extend_from_slice(&start_seq.to_le_bytes());
    buf.extend_from_slice(&(batch.ops.len() as u32).to_le_bytes());
    buf.extend_from_slice(&write_ms.to_le_bytes());
    let mut crcs = shared.as_ref().map_or(&[][..], |(_, c)| *c).iter();
    for op in &batch.ops {
        match op {
            BatchOp::Put(k, v) => {
                buf.push(OP_PUT);
                put_bytes(buf, k);
                match shared.as_mut() {
                    Some((out, _)) if v.data.len() > SHARE_VALUE_ABOVE => {
                        put_varint(buf, v.data.len() as u64);
                        let crc = crcs
                            .next()
                            .copied()
                            .unwrap_or_else(|| crc32c::crc32c(&v.data));
                        out.push(SharedValue {
                            at: buf.len(),
                            bytes: v.data.clone(),
                            crc,
                        });
                    }
                    _ => put_bytes(buf, &v.data),
                }
                put_varint(buf, v.expire_at_ms);
            }
            BatchOp::Delete(k) => {
                buf.push(OP_DELETE);
                put_bytes(buf, k);
            }
        }
    }
}

/// Upper bound of `encode_batch`'s output size, to reserve once.
pub(crate) fn encoded_batch_len(batch: &WriteBatch) -> usize {
    20 + batch.payload_bytes + batch.ops.len() * 22
}

/// A decoded batch: its first sequence number, write time and operations as
/// (key, internal value) in order; op `i` has sequence `start_seq + i`.
#[derive(Debug)]
pub(crate) struct DecodedBatch {
    pub(crate) start_seq: u64,
    /// Replay dates tombstones from the ops; kept for tests and fuzzing.
    pub(crate) write_ms: u64,
    pub(crate) ops: Vec<(Bytes, InternalValue)>,
}

/// Decodes a batch payload. `payload` is a `Bytes` so keys and values are
/// zero-copy slices of it.
pub(crate) fn decode_batch(payload: &Bytes) -> Result<DecodedBatch, DecodeError> {
    let mut c = Cursor::new(payload);
    let start_seq = c.u64le("batch start seq")?;
    let count = c.u32le("batch count")? as usize;
    let write_ms = c.u64le("batch write time")?;
    // Each op needs at least 2 bytes, so a count larger than that is corrupt
    // (and must not drive a huge allocation).
    if count > c.remaining() / 2 + 1 {
        return Err(DecodeError {
            at: 8,
            what: "batch count larger than payload",
        });
    }
    let mut ops = Vec::with_capacity(count);
    let slice = |s: &[u8]| payload.slice_ref(s);
    for _ in 0..count {
        let tag = c.u8("op tag")?;
        let key = slice(c.len_bytes("op key")?);
        match tag {
            OP_PUT => {
                let data = slice(c.len_bytes("op value")?);
                let expire = c.varint("op expiry")?;
                ops.push((key, InternalValue::put(Value::with_expiry(data, expire))));
            }
            OP_DELETE => ops.push((key, InternalValue::tombstone(write_ms))),
            _ => {
                return Err(DecodeError {
                    at: c.pos().saturating_sub(1),
                    what: "unknown op tag",
                });
            }
        }
    }
    if !c.is_empty() {
        return Err(DecodeError {
            at: c.pos(),
            what: "trailing bytes after batch",
        });
    }
    Ok(DecodedBatch {
        start_seq,
        write_ms,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_with_expiry_and_deletes() {
        let mut b = WriteBatch::new();
        b.put(&b""[..], Value::new("empty key"));
        b.put("k", Value::with_expiry("v", 1234));
        b.delete("gone");
        let mut buf = Vec::new();
        encode_batch(&mut buf, 42, 99, &b);
        assert!(buf.len() <= encoded_batch_len(&b));
        let d = decode_batch(&Bytes::from(buf)).unwrap();
        assert_eq!(d.start_seq, 42);
        assert_eq!(d.write_ms, 99);
        assert_eq!(d.ops.len(), 3);
        assert_eq!(
            d.ops[1].1,
            InternalValue::put(Value::with_expiry("v", 1234))
        );
        assert_eq!(
            d.ops[2],
            (Bytes::from("gone"), InternalValue::tombstone(99))
        );
    }

    #[test]
    fn truncated_or_garbage_batches_are_errors() {
        let mut b = WriteBatch::new();
        b.put("key", Value::new("value"));
        let mut buf = Vec::new();
        encode_batch(&mut buf, 1, 2, &b);
        for cut in 0..buf.len() {
            assert!(
                decode_batch(&Bytes::copy_from_slice(&buf[..cut])).is_err(),
                "cut {cut}"
            );
        }
        let mut bad = buf.clone();
        bad[20] = 9; // unknown op tag
        assert!(decode_batch(&Bytes::from(bad)).is_err());
        let mut huge = buf;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&Bytes::from(huge)).is_err());
    }
}
