//! Vector clocks: the causal history of one key's value.
//!
//! One [`Dot`] per actor (a node id) that ever coordinated a write of the
//! key, Riak style: the coordinating replica increments its own entry. The
//! byte encoding (`clock` in record format 2) and the client-facing causal
//! context string are documented in `docs/formats/record.md`; both are
//! produced by [`super::codec`].

use super::Actor;
use super::codec::{self, DecodeError};

/// One entry of a vector clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dot {
    /// The node that coordinated the events counted here.
    pub actor: Actor,
    /// How many events `actor` coordinated; never 0 in a valid clock.
    pub counter: u64,
    /// Wall time (unix ms) of `actor`'s last event. Used only by
    /// [`VectorClock::prune`]; it takes no part in causality.
    pub ts_ms: u64,
}

/// A vector clock: dots sorted by actor, no duplicate actors, no zero
/// counters (an absent actor means counter 0).
///
/// `PartialEq` is structural (it also compares the pruning timestamps);
/// causal equality is "each [`descends`](Self::descends) the other".
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VectorClock {
    /// Invariant: strictly increasing by actor, every counter > 0.
    dots: Vec<Dot>,
}

impl VectorClock {
    /// The empty clock: no events. Every clock descends it.
    pub fn new() -> Self {
        VectorClock::default()
    }

    /// Builds a clock from dots in any order. Duplicate actors keep the
    /// greater counter (ties: the later `ts_ms`); zero counters are dropped.
    pub fn from_dots(dots: impl IntoIterator<Item = Dot>) -> Self {
        let mut clock = VectorClock::new();
        for dot in dots {
            if dot.counter > 0 {
                clock.absorb(dot);
            }
        }
        clock
    }

    /// Builds a clock from dots already sorted strictly by actor with
    /// non-zero counters (the decoder checks this before calling).
    pub(super) fn from_sorted_dots(dots: Vec<Dot>) -> Self {
        debug_assert!(
            dots.windows(2)
                .all(|w| matches!(w, [a, b] if a.actor < b.actor))
        );
        debug_assert!(dots.iter().all(|d| d.counter > 0));
        VectorClock { dots }
    }

    /// The dots, sorted by actor.
    pub fn dots(&self) -> &[Dot] {
        &self.dots
    }

    /// The number of events of `actor` this clock has seen (0 if none).
    pub fn counter(&self, actor: Actor) -> u64 {
        self.find(actor).map_or(0, |d| d.counter)
    }

    /// Records a new event coordinated by `actor` at wall time `now_ms`.
    /// The counter saturates at `u64::MAX` (unreachable in practice).
    pub fn increment(&mut self, actor: Actor, now_ms: u64) {
        match self.dots.binary_search_by_key(&actor, |d| d.actor) {
            Ok(i) => {
                if let Some(d) = self.dots.get_mut(i) {
                    d.counter = d.counter.saturating_add(1);
                    d.ts_ms = now_ms;
                }
            }
            Err(i) => self.dots.insert(
                i,
                Dot {
                    actor,
                    counter: 1,
                    ts_ms: now_ms,
                },
            ),
        }
    }

    /// Merges `other` in: per actor the greater counter, with that dot's
    /// timestamp (equal counters: the later timestamp, so merge stays
    /// commutative). The result descends both inputs.
    pub fn merge(&mut self, other: &VectorClock) {
        for dot in &other.dots {
            self.absorb(*dot);
        }
    }

    /// Whether this clock has seen every event `other` has (`self >= other`
    /// entrywise). Reflexive; every clock descends the empty clock.
    pub fn descends(&self, other: &VectorClock) -> bool {
        other
            .dots
            .iter()
            .all(|d| self.counter(d.actor) >= d.counter)
    }

    /// Whether this clock has seen everything `other` has and more.
    pub fn dominates(&self, other: &VectorClock) -> bool {
        self.descends(other) && !other.descends(self)
    }

    /// Whether neither clock descends the other: the events are concurrent.
    pub fn concurrent(&self, other: &VectorClock) -> bool {
        !self.descends(other) && !other.descends(self)
    }

    /// Bounds the clock to `max_entries` dots, Riak's small/big/young/old
    /// rule with small = big: while the clock is too long, the dot with the
    /// oldest `ts_ms` is dropped, unless it is younger than `young_ms` (then
    /// pruning stops and the clock stays longer than the bound).
    ///
    /// Why this is safe enough: dropping a dot only makes the clock *smaller*.
    /// A smaller clock can fail to descend a clock it really supersedes, so a
    /// later merge keeps both values as siblings ("false siblings") that a
    /// client or LWW resolution settles; it can never make a clock descend
    /// one it has not seen, so no concurrent write is ever discarded
    /// silently. Only actors idle for `young_ms` lose their dot, and by then
    /// every replica has normally converged past their old events.
    pub fn prune(&mut self, max_entries: usize, young_ms: u64, now_ms: u64) {
        while self.dots.len() > max_entries {
            let Some((i, oldest)) = self
                .dots
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| (d.ts_ms, d.actor))
            else {
                return;
            };
            if now_ms.saturating_sub(oldest.ts_ms) < young_ms {
                return;
            }
            self.dots.remove(i);
        }
    }

    /// The number of actors in the clock.
    pub fn len(&self) -> usize {
        self.dots.len()
    }

    /// Whether the clock is empty (no events seen).
    pub fn is_empty(&self) -> bool {
        self.dots.is_empty()
    }

    /// The clock as an opaque causal context for clients: lowercase hex of
    /// `version:u8=1 clock crc32c:u32be` (see `docs/formats/record.md`), so
    /// a mistyped context is detected rather than silently misread.
    pub fn to_context_string(&self) -> String {
        codec::encode_context(self)
    }

    /// Parses a string made by [`to_context_string`](Self::to_context_string).
    ///
    /// # Errors
    /// [`DecodeError`] if it is not hex of even length, has an unknown
    /// version, fails its checksum, or holds an invalid clock.
    pub fn from_context_string(s: &str) -> Result<VectorClock, DecodeError> {
        codec::decode_context(s)
    }

    fn find(&self, actor: Actor) -> Option<&Dot> {
        self.dots
            .binary_search_by_key(&actor, |d| d.actor)
            .ok()
            .and_then(|i| self.dots.get(i))
    }

    /// Merges one dot in (`dot.counter > 0`).
    fn absorb(&mut self, dot: Dot) {
        match self.dots.binary_search_by_key(&dot.actor, |d| d.actor) {
            Ok(i) => {
                if let Some(mine) = self.dots.get_mut(i) {
                    if (dot.counter, dot.ts_ms) > (mine.counter, mine.ts_ms) {
                        *mine = dot;
                    }
                }
            }
            Err(i) => self.dots.insert(i, dot),
        }
    }
}
