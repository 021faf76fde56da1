//! The counter CRDT behind INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.
//!
//! A PN-counter grown from a base string: each actor owns one [`Slot`] that
//! only it writes (its integer and float totals and a sequence number), and
//! replicas join slots by taking, per actor, the one with the higher
//! sequence. Concurrent increments on different replicas therefore add up
//! instead of overwriting each other. Its byte encoding (the `counter`
//! payload of record format 2) is in `docs/formats/record.md`.
//!
//! Typing follows Redis's observable behaviour: the value is an integer
//! while the base is a Redis integer and no float was ever added (every
//! float total is 0); otherwise it is a float. INCR on a float-typed value
//! is allowed when the value is exactly an integer, as Redis allows INCR on
//! "11" after `INCRBYFLOAT` 1.0 stored "11".
//!
//! The number parsers and [`format_float`] repeat the server's
//! (`resp`'s `string_to_i64` and `server/src/command/args.rs`'s
//! `parse_float_text` and `format_float_human`): this crate must not depend
//! on `resp` or `server`, and the two must agree so a counter renders the
//! text a plain string would hold.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Actor;

/// The value of a counter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CounterValue {
    /// An integer value (INCR replies with it as an integer).
    Int(i64),
    /// A float value (INCRBYFLOAT replies with its [`format_float`] text).
    Float(f64),
}

impl CounterValue {
    /// The value as a client reads it with GET: decimal for integers,
    /// [`format_float`] for floats.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            CounterValue::Int(v) => Bytes::from(v.to_string()),
            CounterValue::Float(v) => Bytes::from(format_float(*v)),
        }
    }
}

/// Why a counter operation failed. Each variant's text is Redis's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// INCR family on a value that is not a 64-bit integer.
    #[error("value is not an integer or out of range")]
    NotInteger,
    /// INCRBYFLOAT on a value that is not a number.
    #[error("value is not a valid float")]
    NotFloat,
    /// The integer result (or one actor's running total) leaves `i64`.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// The float result would be NaN or infinite.
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
}

/// One actor's contribution to a counter. Written only by that actor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Slot {
    /// Number of additions the actor made; the join keeps the higher.
    pub seq: u64,
    /// Sum of the actor's integer additions.
    pub int_total: i64,
    /// Sum of the actor's float additions.
    pub float_total: f64,
}

impl Slot {
    /// The join order: sequence first; the rest only breaks ties (which a
    /// correct history never has) so the join stays deterministic.
    fn rank(&self) -> (u64, i64, u64) {
        (self.seq, self.int_total, self.float_total.to_bits())
    }
}

/// Slots compare bit for bit (floats by their bits), so states are `Eq`.
impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}

impl Eq for Slot {}

/// A PN-counter CRDT state grown from a base string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The string value the counter started from (`"0"` for a missing key).
    pub base: Bytes,
    /// Identity of that base: 0 for a missing key, otherwise a hash of the
    /// encoded clock of the sibling it grew from (see
    /// [`super::Siblings::add_int`]). Two counters join only when both
    /// `base_id` and `base` are equal.
    pub base_id: u64,
    slots: BTreeMap<Actor, Slot>,
}

impl Counter {
    /// A counter at `base` with no additions.
    pub fn new(base: Bytes, base_id: u64) -> Self {
        Counter {
            base,
            base_id,
            slots: BTreeMap::new(),
        }
    }

    /// A counter with the given slots (the decoder's constructor).
    pub(super) fn from_parts(base: Bytes, base_id: u64, slots: BTreeMap<Actor, Slot>) -> Self {
        Counter {
            base,
            base_id,
            slots,
        }
    }

    /// The slots, by actor.
    pub fn slots(&self) -> impl ExactSizeIterator<Item = (Actor, &Slot)> {
        self.slots.iter().map(|(a, s)| (*a, s))
    }

    /// The current value: base + every int total + every float total.
    ///
    /// # Errors
    /// [`CounterError::NotFloat`] if the base is not a number;
    /// [`CounterError::Overflow`] if an integer-typed sum leaves `i64`
    /// (only concurrent additions merged together can get there).
    pub fn value(&self) -> Result<CounterValue, CounterError> {
        if self.is_int_typed() {
            if let Some(base) = parse_i64(&self.base) {
                return i64::try_from(i128::from(base) + self.int_sum())
                    .map(CounterValue::Int)
                    .map_err(|_| CounterError::Overflow);
            }
        }
        self.float_value()
            .map(CounterValue::Float)
            .ok_or(CounterError::NotFloat)
    }

    /// Adds `delta` in `actor`'s slot (its sequence + 1) and returns the new
    /// value as an integer.
    ///
    /// # Errors
    /// [`CounterError::NotInteger`] if the value is not exactly a 64-bit
    /// integer; [`CounterError::Overflow`] if the result, or `actor`'s own
    /// running total, would leave `i64`. On error the state is unchanged.
    ///
    /// A float-typed value stays float-typed: above 2^53 its later reads
    /// round like any `f64` (Redis keeps such values exact only while they
    /// are written back as integer text).
    pub fn add_int(&mut self, actor: Actor, delta: i64) -> Result<CounterValue, CounterError> {
        let current = match self.value() {
            Ok(CounterValue::Int(v)) => v,
            Ok(CounterValue::Float(f)) => float_as_i64(f).ok_or(CounterError::NotInteger)?,
            Err(CounterError::Overflow) => return Err(CounterError::Overflow),
            Err(_) => return Err(CounterError::NotInteger),
        };
        let new = current.checked_add(delta).ok_or(CounterError::Overflow)?;
        let slot = self.slots.get(&actor).copied().unwrap_or_default();
        let int_total = slot
            .int_total
            .checked_add(delta)
            .ok_or(CounterError::Overflow)?;
        self.slots.insert(
            actor,
            Slot {
                seq: slot.seq.saturating_add(1),
                int_total,
                float_total: slot.float_total,
            },
        );
        Ok(CounterValue::Int(new))
    }

    /// Adds `delta` in `actor`'s slot (its sequence + 1) and returns the new
    /// value, which is float-typed from now on unless the float totals sum
    /// back to zero in every slot.
    ///
    /// # Errors
    /// [`CounterError::NotFloat`] if the value is not a number;
    /// [`CounterError::NanOrInfinity`] if the result is not finite. On error
    /// the state is unchanged.
    pub fn add_float(&mut self, actor: Actor, delta: f64) -> Result<CounterValue, CounterError> {
        let mut next = self.clone();
        let slot = next.slots.entry(actor).or_default();
        slot.seq = slot.seq.saturating_add(1);
        slot.float_total += delta;
        // Judge the value the state will really have, so the reply and every
        // later read agree; a non-finite slot total would poison later sums.
        let f = next.float_value().ok_or(CounterError::NotFloat)?;
        if !f.is_finite() || !next.slots.values().all(|s| s.float_total.is_finite()) {
            return Err(CounterError::NanOrInfinity);
        }
        // Integer-typed only if the float totals are all still 0 (e.g. +0.0).
        let value = next.value().unwrap_or(CounterValue::Float(f));
        *self = next;
        Ok(value)
    }

    /// Joins another replica's state of the same counter in: per actor the
    /// slot with the higher sequence. Commutative, associative, idempotent.
    /// The caller checks that `base` and `base_id` match; this keeps self's.
    pub fn join(&mut self, other: &Counter) {
        for (actor, theirs) in &other.slots {
            let mine = self.slots.entry(*actor).or_default();
            if theirs.rank() > mine.rank() {
                *mine = *theirs;
            }
        }
    }

    /// The bytes a client reads: the value's text; if the integer sum left
    /// `i64`, its exact decimal text (as Redis would hold after a SET); if
    /// the base is not a number, the base itself.
    pub fn render(&self) -> Bytes {
        match self.value() {
            Ok(v) => v.to_bytes(),
            Err(_) => match parse_i64(&self.base) {
                Some(base) if self.is_int_typed() => {
                    Bytes::from((i128::from(base) + self.int_sum()).to_string())
                }
                _ => self.base.clone(),
            },
        }
    }

    fn is_int_typed(&self) -> bool {
        self.slots.values().all(|s| s.float_total == 0.0)
    }

    fn int_sum(&self) -> i128 {
        self.slots.values().map(|s| i128::from(s.int_total)).sum()
    }

    /// base + ints + floats as a float, summed in a fixed order (actor
    /// order) so every replica computes the same bits. `None` if the base
    /// is not a number.
    fn float_value(&self) -> Option<f64> {
        let base = parse_f64(&self.base)?;
        // i128 -> f64 rounds; the sum of i64s always fits i128.
        let ints = self.int_sum() as f64;
        let floats: f64 = self.slots.values().map(|s| s.float_total).sum();
        Some(base + ints + floats)
    }
}

/// `f` as an `i64` if it is exactly an integer in range.
fn float_as_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every f64 below it in magnitude that
    // has no fraction converts exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() != 0.0 || !(-LIMIT..LIMIT).contains(&f) {
        return None;
    }
    Some(f as i64)
}

/// Parses a 64-bit integer as Redis's `string2ll`: optional `-`, no `+`,
/// no spaces, no leading zeros (except "0"), at most 19 digits.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
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
    Some(value * 2f64.powi(i32::try_from(shift).ok()?))
}

/// Formats a float as INCRBYFLOAT replies: plain notation (never an
/// exponent), the shortest digits that read back as the same `f64` (at
/// most 17 significant), trailing zeros and a trailing `.` removed, `-0` as
/// `0`. The same text as the server's `format_float_human`
/// (`server/src/command/args.rs`).
pub fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{v}");
    if !s.contains('e') && !s.contains('E') {
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
