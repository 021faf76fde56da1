//! Bounds-checked big-endian field codec for node-to-node message bodies
//! (`docs/protocol/node-rpc.md`). A [`BodyReader`] never panics on short or
//! hostile input: every read returns [`DecodeError`] instead.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A message body that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed node message: {0}")]
pub struct DecodeError(pub String);

/// Appends fields to a body.
#[derive(Default)]
pub struct BodyWriter {
    buf: BytesMut,
}

impl BodyWriter {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.put_u8(v);
        self
    }
    /// Appends a `u32` (big-endian).
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.put_u32(v);
        self
    }
    /// Appends a `u64` (big-endian).
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.put_u64(v);
        self
    }
    /// Appends an `i64` (big-endian two's complement).
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.put_i64(v);
        self
    }
    /// Appends an `f64` as its IEEE-754 bits (big-endian).
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.buf.put_u64(v.to_bits());
        self
    }
    /// Appends `len:u32 bytes`.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.put_u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.buf.put_slice(v);
        self
    }
    /// Appends a string as bytes.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// The finished body.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}

/// Reads fields from a body, in order.
pub struct BodyReader {
    buf: Bytes,
}

impl BodyReader {
    /// A reader over `body`.
    pub fn new(body: Bytes) -> Self {
        BodyReader { buf: body }
    }
    fn need(&self, n: usize, what: &str) -> Result<(), DecodeError> {
        if self.buf.remaining() < n {
            return Err(DecodeError(format!(
                "{what}: needs {n} bytes, {} left",
                self.buf.remaining()
            )));
        }
        Ok(())
    }
    /// Reads a `u8`.
    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        self.need(1, what)?;
        Ok(self.buf.get_u8())
    }
    /// Reads a `u32`.
    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        self.need(4, what)?;
        Ok(self.buf.get_u32())
    }
    /// Reads a `u64`.
    pub fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        self.need(8, what)?;
        Ok(self.buf.get_u64())
    }
    /// Reads an `i64`.
    pub fn i64(&mut self, what: &str) -> Result<i64, DecodeError> {
        self.need(8, what)?;
        Ok(self.buf.get_i64())
    }
    /// Reads an `f64`.
    pub fn f64(&mut self, what: &str) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64(what)?))
    }
    /// Reads `len:u32 bytes` without copying.
    pub fn bytes(&mut self, what: &str) -> Result<Bytes, DecodeError> {
        let len = self.u32(what)? as usize;
        self.need(len, what)?;
        Ok(self.buf.split_to(len))
    }
    /// Reads a UTF-8 string.
    pub fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError(format!("{what}: not UTF-8")))
    }
    /// A count of items that follow, refused when the body cannot possibly
    /// hold that many items of at least `min_item` bytes (so a hostile count
    /// cannot make the reader allocate).
    pub fn count(&mut self, what: &str, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.remaining() {
            return Err(DecodeError(format!("{what}: count {n} exceeds the body")));
        }
        Ok(n)
    }
    /// Fails unless every byte was consumed.
    pub fn end(&self, what: &str) -> Result<(), DecodeError> {
        if self.buf.has_remaining() {
            return Err(DecodeError(format!(
                "{what}: {} trailing bytes",
                self.buf.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_short_input_is_an_error() {
        let mut w = BodyWriter::new();
        w.u8(7).u32(9).u64(u64::MAX).i64(-3).f64(1.5).str("hé");
        let body = w.finish();
        let mut r = BodyReader::new(body.clone());
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 9);
        assert_eq!(r.u64("c").unwrap(), u64::MAX);
        assert_eq!(r.i64("d").unwrap(), -3);
        assert_eq!(r.f64("e").unwrap(), 1.5);
        assert_eq!(r.string("f").unwrap(), "hé");
        r.end("x").unwrap();
        for cut in 0..body.len() {
            let mut r = BodyReader::new(body.slice(..cut));
            let ok = r.u8("a").is_ok()
                && r.u32("b").is_ok()
                && r.u64("c").is_ok()
                && r.i64("d").is_ok()
                && r.f64("e").is_ok()
                && r.string("f").is_ok();
            assert!(!ok, "a body cut at {cut} must not decode");
        }
        let mut r = BodyReader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
        assert!(r.count("n", 8).is_err());
    }
}
