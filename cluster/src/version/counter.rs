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
//! Numbers are read and printed by `ringkv-number`, as the command layer
//! reads and prints them, so a counter renders the text a plain string
//! would hold.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bytes::Bytes;
use ringkv_number::{format_float, parse_f64, string_to_i64 as parse_i64};

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
    pub fn to_bytes(self) -> Bytes {
        match self {
            CounterValue::Int(v) => Bytes::from(v.to_string()),
            CounterValue::Float(v) => Bytes::from(format_float(v)),
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
    /// An increment of a key that holds a hash or a set.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
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
    pub(super) fn rank(&self) -> (u64, i64, u64) {
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

/// Increments of other lineages a counter's value includes: those no
/// write that ended their lineage had seen (see
/// [`super::counter_history`]). Computed when siblings are read, never
/// stored with the counter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Carried {
    /// Sum of the integer increments.
    pub int: i128,
    /// Sum of the float increments.
    pub float: f64,
    /// Whether a float increment is among them (the value is then a float).
    pub float_typed: bool,
    /// Whether any increment is carried (an INCRBY 0 adds nothing but
    /// still keeps the key).
    pub events: bool,
}

impl Carried {
    /// Adds what `seen` holds above `floor` (one actor of one lineage).
    pub(super) fn add_excess(&mut self, seen: &Slot, floor: &Slot) {
        if seen.seq <= floor.seq {
            return;
        }
        self.events = true;
        self.int += i128::from(seen.int_total) - i128::from(floor.int_total);
        self.float += seen.float_total - floor.float_total;
        if seen.float_total.to_bits() != floor.float_total.to_bits() {
            self.float_typed = true;
        }
    }

    /// Whether no increment is carried.
    pub fn is_zero(&self) -> bool {
        !self.events
    }
}

/// Bit for bit, as slots compare.
impl PartialEq for Carried {
    fn eq(&self, other: &Self) -> bool {
        (
            self.int,
            self.float.to_bits(),
            self.float_typed,
            self.events,
        ) == (
            other.int,
            other.float.to_bits(),
            other.float_typed,
            other.events,
        )
    }
}

impl Eq for Carried {}

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
    /// Increments of other lineages included in the value (not stored).
    pub(super) carried: Carried,
}

impl Counter {
    /// A counter at `base` with no additions.
    pub fn new(base: Bytes, base_id: u64) -> Self {
        Counter {
            base,
            base_id,
            slots: BTreeMap::new(),
            carried: Carried::default(),
        }
    }

    /// A counter with the given slots (the decoder's constructor).
    pub(super) fn from_parts(base: Bytes, base_id: u64, slots: BTreeMap<Actor, Slot>) -> Self {
        Counter {
            base,
            base_id,
            slots,
            carried: Carried::default(),
        }
    }

    /// The slots, by actor.
    pub fn slots(&self) -> impl ExactSizeIterator<Item = (Actor, &Slot)> {
        self.slots.iter().map(|(a, s)| (*a, s))
    }

    /// The current value: base + every int total + every float total +
    /// what is carried from other lineages.
    ///
    /// # Errors
    /// [`CounterError::NotFloat`] if the base is not a number;
    /// [`CounterError::Overflow`] if an integer-typed sum leaves `i64`
    /// (only concurrent additions merged together can get there).
    pub fn value(&self) -> Result<CounterValue, CounterError> {
        if self.is_int_typed() {
            if let Some(base) = parse_i64(&self.base) {
                return i64::try_from(i128::from(base) + self.int_sum() + self.carried.int)
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
            // Float-typed by its base alone ("1e3", "0x10", "007"): the
            // stored text is not an integer, and Redis refuses it. Made
            // float by INCRBYFLOAT, the text is the value's, integral or not.
            Ok(CounterValue::Float(_)) if self.is_int_typed() => {
                return Err(CounterError::NotInteger);
            }
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
        let int_base = parse_i64(&next.base).is_some();
        let slot = next.slots.entry(actor).or_default();
        slot.seq = slot.seq.saturating_add(1);
        slot.float_total += delta;
        if slot.float_total == 0.0 && !int_base {
            // Float additions that sum to zero ("1e3" + 0) still made the
            // value's text a float's ("1000"), which an integer increment
            // then takes, as in Redis: a -0.0 total marks it (no sum of
            // float additions gives -0.0 from the +0.0 a slot starts at).
            // An integer base stays integer-typed, exact beyond 2^53.
            slot.float_total = -0.0;
        }
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
                    Bytes::from((i128::from(base) + self.int_sum() + self.carried.int).to_string())
                }
                _ => self.base.clone(),
            },
        }
    }

    fn is_int_typed(&self) -> bool {
        // +0.0 only: -0.0 marks float additions that summed to zero.
        !self.carried.float_typed
            && self
                .slots
                .values()
                .all(|s| s.float_total.to_bits() == 0f64.to_bits())
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
        let ints = (self.int_sum() + self.carried.int) as f64;
        let floats: f64 = self.slots.values().map(|s| s.float_total).sum();
        if self.carried.is_zero() {
            return Some(base + ints + floats);
        }
        Some(base + ints + floats + self.carried.float)
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
