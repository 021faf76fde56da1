//! Positions of list elements: dense, unique, totally ordered identifiers
//! (a Logoot-style sequence CRDT), so a list is an observed-remove map from
//! position to value whose member order is the list order.
//!
//! A position is a sequence of *levels*, each `digit:u64be actor:u64be
//! counter:u64be seq:u32be` (28 bytes). Positions compare as their bytes
//! do: level by level, a prefix first. The last level of a new position
//! carries the writing write's tag and the element's index within that
//! write, so two writes never make the same position, and two replicas
//! pushing at one end concurrently order their elements by tag, the same
//! on every replica. Between any two positions another one exists
//! ([`between`]), so LINSERT never moves an element. Pushes at either end
//! step the first level's digit by one from the end element's, so a list
//! built by pushes keeps one-level positions.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;

use super::collection::Tag;

/// Bytes in one level.
pub const LEVEL_BYTES: usize = 28;

/// The first digit of the first element of an empty list.
const START: u64 = 1 << 63;

/// One level of a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Level {
    digit: u64,
    actor: u64,
    counter: u64,
    seq: u32,
}

/// The identity a new element's last level carries: its write and its
/// index among the elements that write made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The write.
    pub tag: Tag,
    /// The element's index within the write.
    pub seq: u32,
}

impl Origin {
    fn level(self, digit: u64) -> Level {
        Level {
            digit,
            actor: self.tag.actor,
            counter: self.tag.counter,
            seq: self.seq,
        }
    }
}

fn levels(position: &[u8]) -> Vec<Level> {
    position
        .chunks_exact(LEVEL_BYTES)
        .map(|c| {
            let u64_at = |at: usize| {
                c.get(at..at + 8)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map_or(0, u64::from_be_bytes)
            };
            let seq = c
                .get(24..28)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map_or(0, u32::from_be_bytes);
            Level {
                digit: u64_at(0),
                actor: u64_at(8),
                counter: u64_at(16),
                seq,
            }
        })
        .collect()
}

fn encode(levels: &[Level]) -> Bytes {
    let mut out = Vec::with_capacity(levels.len() * LEVEL_BYTES);
    for l in levels {
        out.extend_from_slice(&l.digit.to_be_bytes());
        out.extend_from_slice(&l.actor.to_be_bytes());
        out.extend_from_slice(&l.counter.to_be_bytes());
        out.extend_from_slice(&l.seq.to_be_bytes());
    }
    Bytes::from(out)
}

/// A position before `first` (the list's first element; `None` when the
/// list is empty): one level, its digit one below `first`'s.
pub fn before_first(first: Option<&[u8]>, origin: Origin) -> Bytes {
    let Some(first) = first else {
        return encode(&[origin.level(START)]);
    };
    match levels(first).first() {
        Some(l) if l.digit >= 2 => encode(&[origin.level(l.digit - 1)]),
        _ => between(None, Some(first), origin),
    }
}

/// A position after `last` (the list's last element; `None` when empty).
pub fn after_last(last: Option<&[u8]>, origin: Origin) -> Bytes {
    let Some(last) = last else {
        return encode(&[origin.level(START)]);
    };
    match levels(last).first() {
        Some(l) if l.digit < u64::MAX => encode(&[origin.level(l.digit + 1)]),
        _ => between(Some(last), None, origin),
    }
}

/// A position strictly between `low` and `high` (`None`: the list's
/// start or end), given `low < high`. Digits of a last level are never 0,
/// so below any position there is always room.
pub fn between(low: Option<&[u8]>, high: Option<&[u8]>, origin: Origin) -> Bytes {
    let p = low.map(levels).unwrap_or_default();
    let q = high.map(levels);
    let mut prefix: Vec<Level> = Vec::new();
    // Whether the prefix so far equals `p`'s / `q`'s, so they still bound
    // the next level.
    let (mut p_bounds, mut q_bounds) = (true, q.is_some());
    for i in 0.. {
        let pl = if p_bounds { p.get(i).copied() } else { None };
        let ql = if q_bounds {
            q.as_ref().and_then(|q| q.get(i).copied())
        } else {
            None
        };
        let lo = u128::from(pl.map_or(0, |l| l.digit));
        let hi = ql.map_or(u128::from(u64::MAX) + 1, |l| u128::from(l.digit));
        if hi > lo + 1 {
            let digit = u64::try_from(lo + (hi - lo) / 2).unwrap_or(u64::MAX);
            prefix.push(origin.level(digit));
            return encode(&prefix);
        }
        match (pl, ql) {
            (Some(pl), ql) => {
                // No digit between: share `p`'s level and go deeper. Past
                // it, `q` no longer bounds unless it shares the level.
                q_bounds = ql == Some(pl);
                prefix.push(pl);
            }
            (None, Some(ql)) if ql.digit == 0 => {
                // `p` ended: share `q`'s level (an inner one) and go deeper.
                p_bounds = false;
                prefix.push(ql);
            }
            (None, _) => {
                // `q`'s digit is 1 here: an inner level with digit 0 sorts
                // below it, and the new last level goes under that.
                prefix.push(origin.level(0));
                prefix.push(origin.level(START));
                return encode(&prefix);
            }
        }
        if prefix.len() > p.len().max(q.as_ref().map_or(0, Vec::len)) + 2 {
            // Only damaged positions get here; any unique position will do.
            break;
        }
    }
    prefix.push(origin.level(START));
    encode(&prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn origin(counter: u64, seq: u32) -> Origin {
        Origin {
            tag: Tag { actor: 7, counter },
            seq,
        }
    }

    #[test]
    fn pushes_keep_one_level() {
        let a = after_last(None, origin(1, 0));
        let b = after_last(Some(&a), origin(2, 0));
        let c = before_first(Some(&a), origin(3, 0));
        assert!(c < a && a < b);
        assert_eq!(b.len(), LEVEL_BYTES);
        assert_eq!(c.len(), LEVEL_BYTES);
    }

    #[test]
    fn concurrent_pushes_order_by_tag() {
        let a = after_last(None, origin(1, 0));
        let x = after_last(
            Some(&a),
            Origin {
                tag: Tag {
                    actor: 1,
                    counter: 2,
                },
                seq: 0,
            },
        );
        let y = after_last(
            Some(&a),
            Origin {
                tag: Tag {
                    actor: 2,
                    counter: 2,
                },
                seq: 0,
            },
        );
        assert!(a < x && x < y);
    }

    #[test]
    fn digit_one_below_leaves_room() {
        // A first element whose digit is 1: a push before it still fits.
        let low = encode(&[origin(1, 0).level(1)]);
        let new = before_first(Some(&low), origin(2, 0));
        assert!(new < low);
        let newer = before_first(Some(&new), origin(3, 0));
        assert!(newer < new);
    }

    proptest! {
        /// Random inserts anywhere (and at both ends) keep every position
        /// unique and strictly between its neighbours.
        #[test]
        fn inserts_stay_ordered(spots in prop::collection::vec(0usize..1000, 1..300)) {
            let mut list: Vec<Bytes> = Vec::new();
            for (n, spot) in spots.into_iter().enumerate() {
                let o = origin(n as u64 + 1, 0);
                let at = spot % (list.len() + 1);
                let low = at.checked_sub(1).and_then(|i| list.get(i)).map(|b| &b[..]);
                let high = list.get(at).map(|b| &b[..]);
                let new = match (spot % 3, at) {
                    (0, 0) => before_first(high, o),
                    (1, a) if a == list.len() => after_last(low, o),
                    _ => between(low, high, o),
                };
                if let Some(l) = low { prop_assert!(l < &new[..]); }
                if let Some(h) = high { prop_assert!(&new[..] < h); }
                list.insert(at, new);
            }
        }

        /// Repeated inserts at one spot grow positions slowly.
        #[test]
        fn same_spot_inserts_grow_slowly(n in 1usize..200) {
            let mut low = after_last(None, origin(1, 0));
            let high = after_last(Some(&low), origin(2, 0));
            for i in 0..n {
                let new = between(Some(&low), Some(&high), origin(i as u64 + 3, 0));
                prop_assert!(low < new && new < high);
                low = new;
            }
            prop_assert!(low.len() <= LEVEL_BYTES * (2 + n / 60));
        }
    }
}
