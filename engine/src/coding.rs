//! Small encoding helpers shared by every format: LEB128 varints, fixed-width
//! little-endian integers, length-prefixed byte strings, and a bounds-checked
//! reading cursor. Decoding never panics: a short or malformed input is an
//! `Err(DecodeError)` that the caller turns into `Error::Corruption` with the
//! file and offset it knows.

/// Why a decoder stopped; the caller knows the file and adds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Offset inside the decoded buffer where decoding failed.
    pub(crate) at: usize,
    /// What was being decoded.
    pub(crate) what: &'static str,
}

/// Appends `v` as an unsigned LEB128 varint (1..=10 bytes).
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Bytes `put_varint` would write for `v`.
#[cfg(test)]
pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends a varint length followed by the bytes.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A bounds-checked cursor over a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Current offset from the start of the buffer.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when everything was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { at: self.pos, what }
    }

    /// Reads `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.err(what))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.err(what))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian u32.
    pub(crate) fn u32le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let s = self.bytes(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_le_bytes(a))
    }

    /// Reads a little-endian u64.
    pub(crate) fn u64le(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let s = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        // Most varints in a block (lengths, shared prefixes) fit one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8(what)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                self.pos = start;
                return Err(self.err(what));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.pos = start;
        Err(self.err(what))
    }

    /// Reads a varint that must fit in `usize` and be at most `max`.
    pub(crate) fn varint_len(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let at = self.pos;
        let v = self.varint(what)?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(DecodeError { at, what }),
        }
    }

    /// Reads a varint length then that many bytes.
    pub(crate) fn len_bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint_len(self.remaining(), what)?;
        self.bytes(n, what)
    }
}

/// Reads a little-endian u32 at `at` from `buf`, if in bounds.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let s = buf.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

/// Reads a little-endian u64 at `at` from `buf`, if in bounds.
pub(crate) fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let s = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint("v").unwrap(), v);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_varints_are_errors() {
        assert!(Cursor::new(&[0x80]).varint("v").is_err());
        assert!(Cursor::new(&[0xff; 11]).varint("v").is_err());
        assert!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint("v")
                .is_err()
        );
        assert!(Cursor::new(&[5, 1, 2]).len_bytes("b").is_err());
        assert!(Cursor::new(&[1, 2]).u32le("u").is_err());
    }
}
