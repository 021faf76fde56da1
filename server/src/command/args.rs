//! Typed argument parsing: numbers with Redis's strictness and error texts,
//! and a cursor that reads options in order, matching flags
//! case-insensitively and rejecting what is left over.

use bytes::Bytes;

use crate::reply_error::{ReplyError, text};

/// Arguments longer than this are kept as they arrived by [`detached`].
const SHARE_ARG_ABOVE: usize = 64 * 1024;

/// An argument to keep beyond its command (a value to store, a queued
/// command): a private copy when short, so that it never keeps the whole
/// read buffer its request is a slice of (which may be hundreds of MB
/// after a large value arrived on the connection). A long one is shared
/// as it is: each copy of a large value is a fresh allocation the kernel
/// must fault in and zero (about half a second per 256 MB here), and it
/// took at least its own length of that buffer.
pub fn detached(b: &Bytes) -> Bytes {
    if b.len() > SHARE_ARG_ABOVE {
        return b.clone();
    }
    Bytes::copy_from_slice(b)
}

/// Parses a 64-bit integer as Redis's `string2ll` does.
pub fn parse_i64(arg: &[u8]) -> Result<i64, ReplyError> {
    ringkv_resp::string_to_i64(arg).ok_or_else(ReplyError::not_integer)
}

/// Parses a database index as Redis's `getIntFromObjectOrReply` does: an
/// integer, within a C int's range, and below `databases`.
pub fn parse_db_index(arg: &[u8], databases: u32) -> Result<u32, ReplyError> {
    let n = parse_i64(arg)?;
    if i32::try_from(n).is_err() {
        return Err(ReplyError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|&db| db < databases)
        .ok_or(ReplyError::err(text::DB_RANGE))
}

/// Parses a non-negative integer (Redis: "value is out of range, must be positive").
pub fn parse_positive(arg: &[u8]) -> Result<i64, ReplyError> {
    let v = parse_i64(arg)?;
    if v < 0 {
        Err(ReplyError::err(text::NOT_POSITIVE))
    } else {
        Ok(v)
    }
}

/// Parses a float as Redis's `string2ld`/`strtold` accepts it: decimal or
/// exponent notation, `inf`/`-inf`; no spaces, no NaN.
pub fn parse_f64(arg: &[u8]) -> Result<f64, ReplyError> {
    parse_float_text(arg).ok_or(ReplyError::err(text::NOT_FLOAT))
}

/// The float value of `arg`, or `None` if Redis would reject it (shared
/// with the counter CRDT, which parses stored values the same way).
pub use ringkv_number::parse_f64 as parse_float_text;

/// Formats a float as INCRBYFLOAT replies: up to 17 significant digits in
/// plain notation, trailing zeros removed (Redis's `%.17Lf` then trim).
pub use ringkv_number::format_float as format_float_human;

/// Reads a command's arguments left to right.
pub struct ArgCursor<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> ArgCursor<'a> {
    /// A cursor over `args` starting at index `start` (1 skips the command name).
    pub fn new(args: &'a [Bytes], start: usize) -> Self {
        ArgCursor { args, pos: start }
    }

    /// Whether arguments remain.
    pub fn has_more(&self) -> bool {
        self.pos < self.args.len()
    }

    /// The next argument, if any.
    pub fn next_arg(&mut self) -> Option<&'a Bytes> {
        let a = self.args.get(self.pos)?;
        self.pos += 1;
        Some(a)
    }

    /// The next argument, or a syntax error.
    pub fn require(&mut self) -> Result<&'a Bytes, ReplyError> {
        self.next_arg().ok_or_else(ReplyError::syntax)
    }

    /// The next argument as an integer (a syntax error if missing).
    pub fn require_i64(&mut self) -> Result<i64, ReplyError> {
        parse_i64(self.require()?)
    }

    /// Consumes the next argument if it equals `flag` case-insensitively.
    pub fn eat(&mut self, flag: &str) -> bool {
        match self.args.get(self.pos) {
            Some(a) if a.eq_ignore_ascii_case(flag.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The remaining arguments.
    pub fn rest(&self) -> &'a [Bytes] {
        self.args.get(self.pos..).unwrap_or_default()
    }

    /// A syntax error unless every argument was consumed.
    pub fn finish(&self) -> Result<(), ReplyError> {
        if self.has_more() {
            Err(ReplyError::syntax())
        } else {
            Ok(())
        }
    }
}

/// The argument at `i` (handlers call this only below the checked arity).
pub fn arg(args: &[Bytes], i: usize) -> &Bytes {
    static EMPTY: Bytes = Bytes::from_static(b"");
    args.get(i).unwrap_or(&EMPTY)
}

/// Whether `a` equals `word` ignoring ASCII case.
pub fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_parsed_like_redis() {
        assert_eq!(parse_float_text(b"1.5"), Some(1.5));
        assert_eq!(parse_float_text(b"-3e2"), Some(-300.0));
        assert_eq!(parse_float_text(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float_text(b".5"), Some(0.5));
        assert_eq!(parse_float_text(b"0x10"), Some(16.0));
        assert_eq!(parse_float_text(b"-0X1.8p1"), Some(-3.0));
        assert_eq!(parse_float_text(b"0x.8"), Some(0.5));
        assert_eq!(parse_float_text(b"0x1p-2"), Some(0.25));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"abc",
            b"1.2.3",
            b"0x",
            b"0x1p",
            b"0xg",
            b"+-0x1",
            b"0x1p+-2",
        ] {
            assert_eq!(parse_float_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn incrbyfloat_formatting_matches_redis() {
        assert_eq!(format_float_human(10.5), "10.5");
        assert_eq!(format_float_human(3.0), "3");
        assert_eq!(format_float_human(5.0e3), "5000");
        assert_eq!(format_float_human(-0.0), "0");
        assert_eq!(format_float_human(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float_human(1e20), "100000000000000000000");
    }

    #[test]
    fn cursor_matches_flags_and_rejects_leftovers() {
        let args: Vec<Bytes> = ["set", "k", "v", "nx", "EX", "10"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut c = ArgCursor::new(&args, 3);
        assert!(c.eat("NX"));
        assert!(!c.eat("XX"));
        assert!(c.eat("ex"));
        assert_eq!(c.require_i64().unwrap(), 10);
        assert!(c.finish().is_ok());
        let mut c = ArgCursor::new(&args, 3);
        assert!(c.eat("nx"));
        assert!(c.finish().is_err());
    }
}
