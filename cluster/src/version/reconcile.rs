//! Reconciling a multiset of siblings ([`super::siblings::Siblings::merge`]):
//! one sibling per write (causally equal clocks), the maximal ones kept,
//! in a canonical order every replica computes alike.

use bytes::BytesMut;

use super::codec;
use super::siblings::{Payload, Sibling};

/// Reconciles a multiset of siblings (see [`Siblings::merge`]) and sorts it
/// canonically.
pub(super) fn normalize(all: Vec<Sibling>) -> Vec<Sibling> {
    if all.len() <= 1 {
        // The common case (a write superseding what it saw): nothing to
        // reconcile or order, and no encoding to build for the comparison.
        return all;
    }
    // Causally equal clocks are one write: keep its tombstone if there is
    // one (the marker compaction leaves of an expired value, which must
    // win wherever it meets the value, `keyspace::markers`), else the
    // greatest encoding. Encodings are built only to choose within such a
    // class, and to order siblings of one time and clock (never, in
    // practice): a large collection's is megabytes.
    let mut distinct: Vec<Sibling> = Vec::with_capacity(all.len());
    for s in all {
        let same_write = distinct
            .iter_mut()
            .find(|k| k.clock.descends(&s.clock) && s.clock.descends(&k.clock));
        match same_write {
            None => distinct.push(s),
            Some(kept) => {
                if preferred_of_one_write(&s, kept) {
                    *kept = s;
                }
            }
        }
    }
    let dominated: Vec<bool> = distinct
        .iter()
        .map(|s| distinct.iter().any(|t| t.clock.dominates(&s.clock)))
        .collect();
    let mut maximal: Vec<Sibling> = distinct
        .into_iter()
        .zip(dominated)
        .filter_map(|(s, dominated)| (!dominated).then_some(s))
        .collect();
    maximal.sort_by(|a, b| {
        a.ts_ms
            .cmp(&b.ts_ms)
            .then_with(|| codec::clock_bytes(&a.clock).cmp(&codec::clock_bytes(&b.clock)))
            .then_with(|| sibling_bytes(a).cmp(&sibling_bytes(b)))
    });
    maximal
}

/// Of two siblings of one write (causally equal clocks), whether `s` is
/// kept over `kept`: a tombstone first, then the greater encoding.
fn preferred_of_one_write(s: &Sibling, kept: &Sibling) -> bool {
    let tombstone = |x: &Sibling| matches!(x.payload, Payload::Tombstone);
    match tombstone(s).cmp(&tombstone(kept)) {
        std::cmp::Ordering::Equal => sibling_bytes(s) > sibling_bytes(kept),
        other => other.is_gt(),
    }
}

fn sibling_bytes(s: &Sibling) -> BytesMut {
    let mut out = BytesMut::new();
    codec::put_sibling(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::version::tests::arb_sibling;

    /// The reconciliation as it was first written, every sibling's encoding
    /// built up front: the reference the one that builds them only to break
    /// ties must agree with, sibling for sibling and in order.
    fn normalized_by_full_encodings(all: Vec<Sibling>) -> Vec<Sibling> {
        let bytes = |s: &Sibling| {
            let mut out = BytesMut::new();
            codec::put_sibling(&mut out, s);
            out
        };
        if all.len() <= 1 {
            return all;
        }
        let mut keyed: Vec<(bool, BytesMut, Sibling)> = all
            .into_iter()
            .map(|s| (matches!(s.payload, Payload::Tombstone), bytes(&s), s))
            .collect();
        keyed.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        let mut distinct: Vec<Sibling> = Vec::new();
        for (_, _, s) in keyed {
            if !distinct
                .iter()
                .any(|k| k.clock.descends(&s.clock) && s.clock.descends(&k.clock))
            {
                distinct.push(s);
            }
        }
        let mut maximal: Vec<Sibling> = distinct
            .iter()
            .filter(|s| !distinct.iter().any(|t| t.clock.dominates(&s.clock)))
            .cloned()
            .collect();
        maximal.sort_by_cached_key(|s| (s.ts_ms, codec::clock_bytes(&s.clock), bytes(s)));
        maximal
    }

    proptest! {
        #[test]
        fn reconciling_builds_encodings_only_for_ties_and_agrees_with_building_them_all(
            all in prop::collection::vec(arb_sibling(), 0..8)
        ) {
            let reference = normalized_by_full_encodings(all.clone());
            prop_assert_eq!(normalize(all), reference);
        }
    }
}
