//! Expired keys as markers of their causal history.
//!
//! A key written with an expiry is a write like any other: its record's
//! vector clock supersedes the versions it saw. Once the expiry passes the
//! value is gone for readers, but the clock must stay for as long as a
//! tombstone's does (`gc-grace-seconds`), or an older version still held
//! by a replica that missed the write (down, partitioned, its hint replayed
//! too late) would find nothing to lose against: read repair, hinted
//! handoff and anti-entropy would copy it back, live and without expiry.
//!
//! So the engine leaves expiry to this crate (`hide_expired` off: reads
//! return expired records, which every reader here judges by its siblings'
//! expiry), and when compaction meets an expired record it asks
//! [`KeyspaceFilter::expired`], which keeps a marker until the grace has
//! passed since the expiry: an inline record's expired values become
//! tombstones with the same clocks, times and expiry (the value's bytes
//! are dropped), a split collection's header is kept as it is (its members
//! are deleted at the expiry, `super::reclaim`). Member records, score
//! entries and metadata are data, not history: they go at their expiry.
//!
//! A node that is a cluster of one keeps no markers (no other replica holds
//! a version to outlive; [`super::Keyspace::set_alone`]).
//!
//! A marker and the expired value it replaced have one clock: merged, the
//! tombstone is kept (`Siblings::merge`), so replicas that compacted at
//! different moments converge on the marker.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use ringkv_engine::{CompactionFilter, FilterDecision};

use crate::namespace::{MEMBER_NS_BIT, META_NAMESPACE};
use crate::version::codec::{self, RECORD_FORMAT_SPLIT, RECORD_FORMAT_SPLIT_V3, RECORD_FORMAT_V2};
use crate::version::siblings::Sibling;
use crate::version::{Payload, Siblings};

/// Until when a sibling must be kept as history: a tombstone for the grace
/// after it was written (or, a marker, after the expiry it stands for); a
/// value with an expiry for the grace after that expiry; 0 for a value
/// that never expires (always).
pub(super) fn history_until(s: &Sibling, grace_ms: u64) -> u64 {
    match s.payload {
        Payload::Tombstone => s.ts_ms.max(s.expire_at_ms).saturating_add(grace_ms),
        _ if s.expire_at_ms == 0 => 0,
        _ => s.expire_at_ms.saturating_add(grace_ms),
    }
}

/// The engine-level expiry of a record: when compaction may first look at
/// it again — every value at its expiry (compaction then keeps the record
/// as a marker for the grace period, this module), tombstones after the
/// grace period. 0 (never) while any sibling is a value without expiry.
pub(super) fn engine_expiry(record: &Siblings, gc_grace_ms: u64) -> u64 {
    let mut latest = 0u64;
    for sib in record.iter() {
        let until = match &sib.payload {
            Payload::Tombstone => history_until(sib, gc_grace_ms),
            _ if sib.expire_at_ms == 0 => return 0,
            _ => sib.expire_at_ms,
        };
        latest = latest.max(until);
    }
    latest
}

/// The compaction filter of the keyspace: entries of retired namespaces
/// are deleted (`crate::namespace`), expired records kept as markers.
pub(super) struct KeyspaceFilter {
    pub(super) namespaces: Arc<dyn CompactionFilter>,
    pub(super) grace_ms: Arc<AtomicU64>,
    /// False while this node is a cluster of one: no other replica holds
    /// a version an expired record must outlive, so it goes at once, as on
    /// a single Redis (markers of ten days of short-lived keys would be
    /// disk spent for nothing).
    pub(super) keep_markers: Arc<AtomicBool>,
}

impl CompactionFilter for KeyspaceFilter {
    fn decide(&self, key: &[u8], value: &[u8], expire_at_ms: u64) -> FilterDecision {
        self.namespaces.decide(key, value, expire_at_ms)
    }

    fn expired(
        &self,
        key: &[u8],
        value: &[u8],
        _expire_at_ms: u64,
        now_ms: u64,
    ) -> Option<(Bytes, u64)> {
        let ns = u32::from_be_bytes(*key.first_chunk::<4>()?);
        if ns == META_NAMESPACE || ns & MEMBER_NS_BIT != 0 {
            return None;
        }
        if !self.keep_markers.load(Ordering::Relaxed)
            || self.namespaces.decide(key, value, 0) == FilterDecision::Delete
        {
            return None;
        }
        marker(value, self.grace_ms.load(Ordering::Relaxed), now_ms)
    }
}

/// The marker an expired key's record leaves at `now_ms`, and until when it
/// is kept; `None` once its history may go (or for a record that keeps no
/// history: format 1 has no clock).
pub(super) fn marker(value: &[u8], grace_ms: u64, now_ms: u64) -> Option<(Bytes, u64)> {
    match value.first() {
        Some(&RECORD_FORMAT_V2) => {
            let record = Siblings::decode_shared(&Bytes::copy_from_slice(value), 0).ok()?;
            // A record with a live sibling is not expired as a whole (the
            // engine's expiry and the record disagree only for a record
            // written under other rules): kept as it is, until its first
            // live sibling's expiry (u64::MAX: never).
            let live_until = record
                .iter()
                .filter(|s| !s.is_absent(now_ms))
                .map(|s| match s.expire_at_ms {
                    0 => u64::MAX,
                    at => at,
                })
                .min();
            if let Some(until) = live_until {
                return Some((Bytes::copy_from_slice(value), until));
            }
            let until = record
                .iter()
                .map(|s| history_until(s, grace_ms))
                .max()
                .filter(|&u| u > now_ms)?;
            let kept: Siblings = record
                .iter()
                .map(|s| Sibling {
                    payload: Payload::Tombstone,
                    ..s.clone()
                })
                .collect();
            Some((kept.encode(), until))
        }
        Some(&(RECORD_FORMAT_SPLIT | RECORD_FORMAT_SPLIT_V3)) => {
            let header = codec::decode_split_header(value).ok()?;
            let until = header.expire_at_ms.saturating_add(grace_ms);
            (header.expire_at_ms != 0 && until > now_ms)
                .then(|| (Bytes::copy_from_slice(value), until))
        }
        _ => None,
    }
}

impl super::Keyspace {
    /// Sets how long tombstones are kept before compaction may purge them
    /// (`gc-grace-seconds`); applies to records written from now on.
    pub fn set_gc_grace_ms(&self, ms: u64) {
        self.inner.gc_grace_ms.store(ms, Ordering::Relaxed);
    }

    /// Tells the keyspace whether this node is a cluster of one: then an
    /// expired record is dropped by compaction instead of kept as a marker
    /// (no other replica holds a version it must outlive).
    pub fn set_alone(&self, alone: bool) {
        self.inner.keep_markers.store(!alone, Ordering::Relaxed);
    }

    /// How long tombstones are kept, in milliseconds.
    pub fn gc_grace_ms(&self) -> u64 {
        self.inner.gc_grace_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::clock::VectorClock;

    fn sibling(actor: u64, ts_ms: u64, expire_at_ms: u64, payload: Payload) -> Sibling {
        let mut clock = VectorClock::default();
        clock.increment(actor, ts_ms);
        Sibling {
            clock,
            ts_ms,
            expire_at_ms,
            payload,
            history: crate::version::History::new(),
            member_histories: crate::version::MemberHistories::new(),
        }
    }

    const GRACE: u64 = 1_000;

    #[test]
    fn an_expired_value_leaves_its_clock_until_the_grace_has_passed() {
        let value = sibling(1, 10, 100, Payload::Value(Bytes::from_static(b"v")));
        let record: Siblings = std::iter::once(value.clone()).collect();
        let (bytes, until) = marker(&record.encode(), GRACE, 150).expect("a marker");
        assert_eq!(until, 100 + GRACE);
        let kept = Siblings::decode_shared(&bytes, 0).expect("decodes");
        let only: Vec<&Sibling> = kept.iter().collect();
        assert_eq!(only.len(), 1);
        assert_eq!(only.first().map(|s| &s.clock), Some(&value.clock));
        assert!(matches!(
            only.first().map(|s| &s.payload),
            Some(Payload::Tombstone)
        ));
        // The marker itself goes once the grace has passed.
        assert!(marker(&bytes, GRACE, 150).is_some());
        assert!(marker(&bytes, GRACE, 100 + GRACE).is_none());
    }

    #[test]
    fn the_marker_wins_over_the_expired_value_it_replaced() {
        let value = sibling(1, 10, 100, Payload::Value(Bytes::from_static(b"v")));
        let record: Siblings = std::iter::once(value).collect();
        let (bytes, _) = marker(&record.encode(), GRACE, 150).expect("a marker");
        let marked = Siblings::decode_shared(&bytes, 0).expect("decodes");
        // Either way round: replicas that compacted at different moments
        // converge on the marker.
        let mut a = record.clone();
        a.merge(&marked);
        assert_eq!(a.encode(), marked.encode());
        let mut b = marked.clone();
        b.merge(&record);
        assert_eq!(b.encode(), marked.encode());
    }

    #[test]
    fn an_older_version_loses_against_the_marker() {
        // Actor 1 wrote "old", then (having seen it) "v" expiring at 100.
        let mut clock = VectorClock::default();
        clock.increment(1, 5);
        let older: Siblings = std::iter::once(Sibling {
            clock: clock.clone(),
            ts_ms: 5,
            expire_at_ms: 0,
            payload: Payload::Value(Bytes::from_static(b"old")),
            history: crate::version::History::new(),
            member_histories: crate::version::MemberHistories::new(),
        })
        .collect();
        clock.increment(1, 10);
        let newer: Siblings = std::iter::once(Sibling {
            clock,
            ts_ms: 10,
            expire_at_ms: 100,
            payload: Payload::Value(Bytes::from_static(b"v")),
            history: crate::version::History::new(),
            member_histories: crate::version::MemberHistories::new(),
        })
        .collect();
        let (bytes, _) = marker(&newer.encode(), GRACE, 150).expect("a marker");
        let marked = Siblings::decode_shared(&bytes, 0).expect("decodes");
        let mut merged = older.clone();
        merged.merge(&marked);
        assert_eq!(merged.encode(), marked.encode());
        assert!(merged.live(150).is_none());
    }

    #[test]
    fn a_live_sibling_keeps_the_record_whole_until_it_expires() {
        let live: Siblings = [
            sibling(1, 10, 100, Payload::Value(Bytes::from_static(b"a"))),
            sibling(2, 11, 500, Payload::Value(Bytes::from_static(b"b"))),
        ]
        .into_iter()
        .collect();
        let encoded = live.encode();
        assert_eq!(marker(&encoded, GRACE, 150), Some((encoded.clone(), 500)));
        let forever: Siblings =
            std::iter::once(sibling(2, 11, 0, Payload::Value(Bytes::from_static(b"b")))).collect();
        let encoded = forever.encode();
        assert_eq!(
            marker(&encoded, GRACE, 150),
            Some((encoded.clone(), u64::MAX))
        );
    }

    #[test]
    fn a_cluster_of_one_keeps_no_markers() {
        struct KeepAll;
        impl CompactionFilter for KeepAll {
            fn decide(&self, _: &[u8], _: &[u8], _: u64) -> FilterDecision {
                FilterDecision::Keep
            }
        }
        let filter = KeyspaceFilter {
            namespaces: Arc::new(KeepAll),
            grace_ms: Arc::new(AtomicU64::new(GRACE)),
            keep_markers: Arc::new(AtomicBool::new(true)),
        };
        let record: Siblings = std::iter::once(sibling(
            1,
            10,
            100,
            Payload::Value(Bytes::from_static(b"v")),
        ))
        .collect();
        let key = crate::token::engine_key(1, b"k");
        assert!(filter.expired(&key, &record.encode(), 100, 150).is_some());
        filter.keep_markers.store(false, Ordering::Relaxed);
        assert!(filter.expired(&key, &record.encode(), 100, 150).is_none());
        // Member records never leave one.
        filter.keep_markers.store(true, Ordering::Relaxed);
        let member = [&(1u32 | MEMBER_NS_BIT).to_be_bytes()[..], b"rest"].concat();
        assert!(
            filter
                .expired(&member, &record.encode(), 100, 150)
                .is_none()
        );
    }

    #[test]
    fn format_one_records_and_foreign_bytes_leave_no_marker() {
        assert_eq!(marker(&[1, 0, b'x'], GRACE, 150), None);
        assert_eq!(marker(&[], GRACE, 150), None);
        assert_eq!(marker(&[2, 0xff], GRACE, 150), None);
    }
}
