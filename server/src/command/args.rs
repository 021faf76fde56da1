//! Typed argument parsing: numbers with Redis's strictness and error texts,
//! and a cursor that reads options in order, matching flags
//! case-insensitively and rejecting what is left over.

use bytes::Bytes;

use crate::reply_error::{ReplyError, text};

/// Parses a 64-bit integer as Redis's `string2ll` does.
pub fn parse_i64(arg: &[u8]) -> Result<i64, ReplyError> {
    ringkv_resp::string_to_i64(arg).ok_or_else(ReplyError::not_integer)
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

/// The float value of `arg`, or `None` if Redis would reject it.
pub fn parse_float_text(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty()
        || s.len() > 5000
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts "nan", "inf" spelled other ways and a leading '+';
            // Redis accepts a leading '+' too but never NaN.
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            let unsigned = lower.trim_start_matches(['+', '-']);
            if unsigned.starts_with("0x") {
                // strtold reads C99 hex floats ("0x10", "0x1.8p3"): so does Redis.
                let negative = lower.starts_with('-');
                let sign_len = lower.len() - unsigned.len();
                if sign_len > 1 {
                    return None;
                }
                let v = parse_hex_float(unsigned.get(2..)?)?;
                if negative { -v } else { v }
            } else {
                lower.parse::<f64>().ok()?
            }
        }
    };
    if v.is_nan() { None } else { Some(v) }
}

/// The value of a hex float's digits after `0x`: `h[.h][p[+-]d]`, at
/// least one hex digit, a binary exponent in decimal.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.split_once('p') {
        Some((m, e)) => {
            let digits = e.trim_start_matches(['+', '-']);
            if digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || e.len() - digits.len() > 1
            {
                return None;
            }
            // Huge exponents saturate: the value is then 0 or infinite anyway.
            (
                m,
                e.parse::<i64>().unwrap_or(if e.starts_with('-') {
                    i64::MIN
                } else {
                    i64::MAX
                }),
            )
        }
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let frac_bits = i64::try_from(frac_part.len()).ok()?.checked_mul(4)?;
    let shift = exponent.saturating_sub(frac_bits).clamp(-2200, 2200);
    Some(value * 2f64.powi(i32::try_from(shift).ok()?))
}

/// Formats a float as INCRBYFLOAT replies: up to 17 significant digits in
/// plain notation, trailing zeros removed (Redis's `%.17Lf` then trim).
pub fn format_float_human(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip text, converted to plain (non-exponent) notation.
    let s = format!("{v}");
    if !s.contains('e') && !s.contains('E') {
        return trim_zeros(s);
    }
    let precise = format!("{v:.17}");
    trim_zeros(precise)
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".to_string()
        } else {
            t.to_string()
        }
    } else if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

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
