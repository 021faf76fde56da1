//! Whole token ranges of the local store, for anti-entropy (Merkle trees)
//! and data streaming on join and decommission, and prefix scans of the
//! node-local metadata namespace (hints).
//!
//! Ranges are ring ranges `(start, end]` as [`crate::ring::Ring`] gives
//! them: `start >= end` wraps through 0, `start == end` is the whole ring.
//! Records are visited with their tombstones: a deletion must travel to a
//! replica that missed it, or the value would come back.

use std::ops::Bound;

use bytes::Bytes;
use ringkv_engine::prefix_successor;

use super::{Keyspace, decode_record};
use crate::error::Result;
use crate::namespace::meta_key;
use crate::token::{self, KEY_PREFIX_LEN};
use crate::version::Siblings;

/// The inclusive token intervals `[lo, hi]` making up ring range
/// `(start, end]`.
pub fn token_intervals((start, end): (u64, u64)) -> Vec<(u64, u64)> {
    use std::cmp::Ordering::*;
    match start.cmp(&end) {
        Less => vec![(start + 1, end)],
        Equal => vec![(0, u64::MAX)],
        Greater => {
            let mut v = Vec::with_capacity(2);
            if start < u64::MAX {
                v.push((start + 1, u64::MAX));
            }
            v.push((0, end));
            v
        }
    }
}

/// Whether `tok` lies in ring range `(start, end]`.
#[cfg(test)]
pub fn range_contains((start, end): (u64, u64), tok: u64) -> bool {
    use std::cmp::Ordering::*;
    match start.cmp(&end) {
        Less => tok > start && tok <= end,
        Equal => true,
        Greater => tok > start || tok <= end,
    }
}

/// One record of a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRecord {
    /// The key's ring token.
    pub token: u64,
    /// The user key.
    pub key: Bytes,
    /// Every sibling, tombstones included.
    pub record: Siblings,
}

impl Keyspace {
    /// Calls `visit` for every record of `db` whose token lies in one of
    /// `ranges`, in ascending `(token, key)` order, starting after position
    /// `after` (exclusive) when given, until it returns false. Runs on a
    /// blocking thread: a range may hold many keys.
    pub async fn for_each_record<F>(
        &self,
        db: u32,
        ranges: Vec<(u64, u64)>,
        after: Option<(u64, Bytes)>,
        visit: F,
    ) -> Result<()>
    where
        F: FnMut(u64, &Bytes, Siblings) -> bool + Send + 'static,
    {
        let ns = self.namespace(db)?;
        let engine = self.inner.engine.clone();
        // Disjoint intervals, ascending: a wrapping range's two halves are
        // visited in token order, so a page position is a clean boundary.
        let mut intervals: Vec<(u64, u64)> = ranges.into_iter().flat_map(token_intervals).collect();
        intervals.sort_unstable();
        let run = move || -> Result<()> {
            let mut visit = visit;
            for (lo, hi) in intervals {
                let lower = match &after {
                    Some((at, _)) if *at > hi => continue,
                    Some((at, key)) if *at >= lo => {
                        Bound::Excluded(token::engine_key(ns, key).to_vec())
                    }
                    _ => Bound::Included(token::position(ns, lo).to_vec()),
                };
                let upper: Vec<u8> = match hi.checked_add(1) {
                    Some(next) => token::position(ns, next).to_vec(),
                    None => token::namespace_prefix(ns.wrapping_add(1)).to_vec(),
                };
                for item in engine.iter_uncached(
                    lower.as_ref().map(Vec::as_slice),
                    Bound::Excluded(&upper),
                    None,
                )? {
                    let (ekey, value) = item?;
                    let Some((_, tok, user)) = token::split_engine_key(&ekey) else {
                        continue;
                    };
                    let record = decode_record(&engine, ns, &ekey, &value, user)?;
                    if !visit(tok, &super::split::tail_of(ekey, KEY_PREFIX_LEN), record) {
                        return Ok(());
                    }
                }
            }
            Ok(())
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// Up to `limit` records of `db` in `ranges`, starting after the key
    /// `after` (a position `(token, key)` from a previous page), for
    /// streaming in bounded pages. The ranges are exhausted when the page
    /// holds fewer than `limit` records.
    pub async fn range_page(
        &self,
        db: u32,
        ranges: Vec<(u64, u64)>,
        after: Option<(u64, Bytes)>,
        limit: usize,
    ) -> Result<Vec<RangeRecord>> {
        let out = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&out);
        self.for_each_record(db, ranges, after, move |tok, key, record| {
            let mut page = sink.lock();
            page.push(RangeRecord {
                token: tok,
                key: key.clone(),
                record,
            });
            page.len() < limit
        })
        .await?;
        let mut page = out.lock();
        Ok(std::mem::take(&mut *page))
    }

    /// Up to `limit` node-local metadata entries whose names start with
    /// `prefix`, from name `from` (inclusive; must start with `prefix`),
    /// ascending by name. Names are returned without the namespace.
    pub fn meta_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let lower = meta_key(from);
        // The namespace prefix is never all 0xFF, so a successor exists.
        let upper = prefix_successor(&meta_key(prefix)).unwrap_or_default();
        let mut out = Vec::new();
        for item in
            self.inner
                .engine
                .iter(Bound::Included(&lower), Bound::Excluded(&upper), None)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            out.push((k.slice(4..), v.data));
        }
        Ok(out)
    }

    /// Deletes node-local metadata entries, durably.
    pub async fn meta_delete(&self, names: &[Bytes]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut batch = ringkv_engine::WriteBatch::new();
        for n in names {
            batch.delete(meta_key(n));
        }
        let seq = self.inner.engine.write(batch)?;
        self.inner.engine.durable(seq).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Payload;

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_cover_a_wrapping_range_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        for i in 0..60 {
            let key = format!("k{i}");
            ks.update_record(0, key.as_bytes(), |s, now| {
                s.write(None, 1, now, Payload::Value(Bytes::from("v")), 0);
            })
            .await
            .unwrap();
        }
        // Wraps through 0 and covers every token but the midpoint.
        let ranges = vec![(1u64 << 63, (1u64 << 63) - 1)];
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = ks
                .range_page(0, ranges.clone(), after.clone(), 7)
                .await
                .unwrap();
            let done = page.len() < 7;
            for r in page {
                after = Some((r.token, r.key.clone()));
                seen.push(r.key);
            }
            if done {
                break;
            }
        }
        let total = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((total, seen.len()), (60, 60));
    }

    #[test]
    fn intervals_cover_plain_wrapping_and_whole_ranges() {
        assert_eq!(token_intervals((10, 20)), vec![(11, 20)]);
        assert_eq!(token_intervals((7, 7)), vec![(0, u64::MAX)]);
        assert_eq!(token_intervals((20, 10)), vec![(21, u64::MAX), (0, 10)]);
        assert_eq!(token_intervals((u64::MAX, 5)), vec![(0, 5)]);
        for r in [(10u64, 20u64), (20, 10), (3, 3)] {
            for t in [0u64, 5, 10, 11, 15, 20, 21, u64::MAX] {
                let inside = token_intervals(r)
                    .iter()
                    .any(|&(lo, hi)| t >= lo && t <= hi);
                assert_eq!(inside, range_contains(r, t), "{r:?} {t}");
            }
        }
    }
}
