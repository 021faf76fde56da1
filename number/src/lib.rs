//! Numbers as Redis reads and prints them, in one place for every crate:
//! the protocol layer (RESP lengths, replies), the cluster (counter CRDT
//! values) and the command layer (arguments, INCRBYFLOAT replies).
//!
//! - [`string_to_i64`]: Redis's `string2ll` (strict: no `+`, no spaces, no
//!   leading zeros).
//! - [`parse_f64`]: what Redis's `strtold` accepts (decimal, exponent, C99
//!   hex, `inf`; never NaN).
//! - [`format_float`]: INCRBYFLOAT's plain-notation text.
//! - [`format_double`]: a double in a reply, as Redis 7.0's `addReplyDouble`
//!   prints it (`%.17g`, `inf`, `nan`); [`format_score`] the same for a score.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

/// Parses a decimal integer with the strictness of Redis's `string2ll`: an
/// optional `-`, no `+`, no spaces, no leading zeros, no overflow.
pub fn string_to_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(v).ok().map(|v| -v)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a float as Redis's `strtold` accepts it: decimal, exponent or C99
/// hex notation, `inf`/`-inf`; no surrounding spaces, no NaN.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
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
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            let unsigned = lower.trim_start_matches(['+', '-']);
            if let Some(hex) = unsigned.strip_prefix("0x") {
                if lower.len() - unsigned.len() > 1 {
                    return None;
                }
                let v = parse_hex_float(hex)?;
                if lower.starts_with('-') { -v } else { v }
            } else {
                lower.parse::<f64>().ok()?
            }
        }
    };
    if v.is_nan() { None } else { Some(v) }
}

/// The value of a hex float's digits after `0x`: `h[.h][p[+-]d]`.
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
            let saturated = if e.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            };
            (m, e.parse::<i64>().unwrap_or(saturated))
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
    // In two steps: 2^shift alone is 0 (or infinite) below 2^-1022 (above
    // 2^1023) where value * 2^shift is still a subnormal (finite) number.
    let shift = i32::try_from(shift).ok()?;
    let half = shift / 2;
    Some(value * 2f64.powi(half) * 2f64.powi(shift - half))
}

/// Formats a float as INCRBYFLOAT replies: plain notation (never an
/// exponent), the shortest digits that read back as the same `f64` (at
/// most 17 significant), but no more than 17 decimals, rounded, as Redis's
/// `%.17Lf` keeps (`1e-20` is `0`, `1.23456789e-10` is
/// `0.00000000012345679`); trailing zeros and a trailing `.` removed, `-0`
/// as `0`. The same text as the server's `format_float_human`
/// (`server/src/command/args.rs`).
pub fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{v}");
    let decimals = s.split_once('.').map_or(0, |(_, f)| f.len());
    if !s.contains('e') && !s.contains('E') && decimals <= 17 {
        return trim_zeros(&s);
    }
    trim_zeros(&format!("{v:.17}"))
}

fn trim_zeros(s: &str) -> String {
    let t = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    };
    if t == "-0" { "0".into() } else { t.into() }
}

/// Formats a sorted-set score as Redis 7.0 replies with it: C's `%.17g`
/// (17 significant digits, exponent form below 1e-4 or from 1e17, trailing
/// zeros removed), `inf` and `-inf` for infinities.
pub fn format_score(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // A whole number of at most 17 digits prints as that integer under
    // `%.17g` (it is the double's exact value): no exact float formatting,
    // which costs microseconds (ZADD and ZPOPMIN replies, most scores).
    if d.fract() == 0.0 && d.abs() < 1e17 {
        return (d as i64).to_string();
    }
    format_g17(d)
}

/// C's `%.17g` of a finite, non-zero `d`, by exact float formatting.
fn format_g17(d: f64) -> String {
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exp.unsigned_abs());
    }
    let decimals = usize::try_from(16 - exp).unwrap_or(0);
    trim(&format!("{d:.decimals$}"))
}

/// Formats a double as Redis 7.0's `addReplyDouble` does, in RESP2 bulk
/// strings and RESP3 doubles alike: C's `%.17g` ([`format_score`]), `inf`,
/// `-inf`, and `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    format_score(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_i64_matches_redis_string2ll() {
        assert_eq!(string_to_i64(b"0"), Some(0));
        assert_eq!(string_to_i64(b"-1"), Some(-1));
        assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(string_to_i64(bad), None, "{bad:?}");
        }
    }

    /// The integer shortcut prints what the exact formatting prints.
    #[test]
    fn whole_scores_print_as_exact_formatting_does() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Whole numbers of every magnitude below 1e17, either sign.
            let digits = i % 18;
            let d = (x % 10u64.pow(digits).max(1)) as f64 * if i % 2 == 0 { 1.0 } else { -1.0 };
            if d != 0.0 {
                assert_eq!(format_score(d), format_g17(d), "{d}");
            }
        }
    }

    #[test]
    fn scores_format_like_printf_17g() {
        assert_eq!(format_score(1.1), "1.1000000000000001");
        assert_eq!(format_score(1.5), "1.5");
        assert_eq!(format_score(10.0), "10");
        assert_eq!(format_score(-2.0), "-2");
        assert_eq!(format_score(0.0), "0");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(1e17), "1e+17");
        assert_eq!(format_score(1e17 - 16.0), "99999999999999984");
        assert_eq!(format_score(-123_456.0), "-123456");
        assert_eq!(format_score(9_007_199_254_740_993.0), "9007199254740992");
        assert_eq!(format_score(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_score(1e16), "10000000000000000");
        assert_eq!(format_score(0.0001), "0.0001");
        assert_eq!(format_score(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_score(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_score(3.0e-300), "3.0000000000000002e-300");
        assert_eq!(format_score(1.0 / 3.0), "0.33333333333333331");
        assert_eq!(format_score(1e300), "1.0000000000000001e+300");
        assert_eq!(format_score(5e-324), "4.9406564584124654e-324");
    }

    #[test]
    fn floats_format_like_incrbyfloat() {
        assert_eq!(format_float(10.5), "10.5");
        assert_eq!(format_float(3.0e3), "3000");
        assert_eq!(format_float(-0.0), "0");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(f64::INFINITY), "inf");
        assert_eq!(format_float(1e20), "100000000000000000000");
        // At most 17 decimals, rounded, as Redis's %.17Lf.
        assert_eq!(format_float(1e-20), "0");
        assert_eq!(format_float(-1e-20), "0");
        assert_eq!(format_float(1.23456789e-10), "0.00000000012345679");
        assert_eq!(format_float(5e-18), "0.00000000000000001");
    }

    #[test]
    fn floats_parse_as_strtold_accepts_them() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        // Subnormal hex floats keep their value (2^-1070 alone is below
        // the normal range, so it is scaled in two steps).
        assert_eq!(parse_f64(b"0x1p-1070"), Some(f64::from_bits(1 << 4)));
        assert_eq!(parse_f64(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(parse_f64(b"0x1p1023"), Some(2f64.powi(1023)));
        assert_eq!(parse_f64(b"0x0.8p-1073"), Some(f64::from_bits(1)));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        for bad in [&b""[..], b"nan", b" 1", b"1 ", b"abc", b"--1"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles_print_as_replies_show_them() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NAN), "nan");
        // %.17g, as redis-server 7.0 sends a RESP3 double.
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(-0.000001), "-9.9999999999999995e-07");
    }
}
