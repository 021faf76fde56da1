//! Hinted handoff: writes held for a replica that could not take them.
//!
//! A hint is a key's record (encoded siblings) kept for one intended owner,
//! or a marker (an empty record) standing for this node's record of the
//! key when the hint is replayed.
//! Hints are created when a write's preferred replica is down (the stand-in
//! node of the sloppy quorum keeps it) or did not acknowledge in time (the
//! coordinator keeps it). They live in the node-local metadata namespace of
//! the engine, so they survive a restart, as
//!
//! `hint/<owner u64 BE><created unix ms u64 BE><seq u64 BE>` →
//! `version:u8 (1) crc32c:u32 db:u32 key_len:u32 key record`
//!
//! (`docs/formats/hints.md`); the CRC covers everything after itself.
//! Ordered by owner, then age, so replay walks one owner's hints oldest
//! first.
//!
//! [`replay_loop`] runs on every node: when gossip holds an owner up, its
//! hints are merged into it (a MERGE request, idempotent) at most
//! `hint-replay-rate` per second and deleted once acknowledged. Hints older
//! than `hint-max-age-ms` are dropped and counted as expired; anti-entropy
//! repairs what they carried.
//!
//! FLUSHDB and FLUSHALL drop the hints of the databases they empty, on
//! every member and before any member gives them fresh namespaces
//! ([`Hints::drop_dbs`], the `DROP_HINTS` request): a hint replayed after
//! a flush would be merged into the new, empty database and bring back a
//! key the flush removed. The fence ([`Hints::fence`]) makes the drop wait
//! for a replay round in flight, so none is delivered after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::Result;
use crate::keyspace::Keyspace;
use crate::ring::NodeId;
use crate::stats::Counter;

const PREFIX: &[u8] = b"hint/";
const VERSION: u8 = 1;
/// How often the replay loop wakes.
pub(crate) const TICK: Duration = Duration::from_millis(200);

/// A stored hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// Its metadata name (for deletion).
    pub name: Bytes,
    /// The replica it is for.
    pub owner: NodeId,
    /// When it was stored (unix ms).
    pub created_ms: u64,
    /// Database index.
    pub db: u32,
    /// User key.
    pub key: Bytes,
    /// Encoded siblings.
    pub record: Bytes,
}

/// Hint counters for metrics and INFO.
#[derive(Default, Debug)]
pub struct HintStats {
    /// Hints stored now.
    pub pending: AtomicU64,
    /// Hints stored since start.
    pub stored: Counter,
    /// Hints delivered to their owner (or, for an owner that left, to the
    /// key's current replicas).
    pub replayed: Counter,
    /// Hints dropped for age.
    pub expired: Counter,
    /// Hints dropped because FLUSHDB or FLUSHALL emptied their database.
    pub flushed: Counter,
}

/// Replay settings, changeable at run time.
#[derive(Debug)]
pub struct HintSettings {
    /// Maximum age in ms.
    pub max_age_ms: AtomicU64,
    /// Replays per second.
    pub replay_rate: AtomicU64,
}

/// The hint store of one node.
pub struct Hints {
    keyspace: Keyspace,
    seq: AtomicU64,
    /// Counters.
    pub stats: HintStats,
    /// Knobs.
    pub settings: HintSettings,
    /// `(owner, db, key)` of the markers stored by this run and not yet
    /// replayed: one is enough per key, as its replay reads the record.
    markers: parking_lot::Mutex<std::collections::HashSet<(NodeId, u32, Bytes)>>,
    /// Held (shared) by a replay round, and exclusively by [`Hints::drop_dbs`].
    pub(crate) fence: tokio::sync::RwLock<()>,
}

fn name(owner: NodeId, created_ms: u64, seq: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(PREFIX.len() + 24);
    b.put_slice(PREFIX);
    b.put_u64(owner);
    b.put_u64(created_ms);
    b.put_u64(seq);
    b.freeze()
}

fn encode_value(db: u32, key: &[u8], record: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(8 + key.len() + record.len());
    body.put_u32(db);
    body.put_u32(u32::try_from(key.len()).unwrap_or(u32::MAX));
    body.put_slice(key);
    body.put_slice(record);
    let mut out = BytesMut::with_capacity(5 + body.len());
    out.put_u8(VERSION);
    out.put_u32(crc32c::crc32c(&body));
    out.put_slice(&body);
    out.freeze()
}

fn decode(name: Bytes, value: Bytes) -> std::result::Result<Hint, String> {
    let mut n = name.slice(..);
    if n.len() != PREFIX.len() + 24 || !n.starts_with(PREFIX) {
        return Err(format!("bad hint name of {} bytes", n.len()));
    }
    n.advance(PREFIX.len());
    let owner = n.get_u64();
    let created_ms = n.get_u64();
    let mut v = value;
    if v.len() < 13 {
        return Err("hint value too short".into());
    }
    let version = v.get_u8();
    if version != VERSION {
        return Err(format!("hint version {version} is not {VERSION}"));
    }
    let crc = v.get_u32();
    if crc32c::crc32c(&v) != crc {
        return Err("hint checksum mismatch".into());
    }
    let db = v.get_u32();
    let key_len = v.get_u32() as usize;
    if v.len() < key_len {
        return Err("hint key truncated".into());
    }
    let key = v.split_to(key_len);
    Ok(Hint {
        name,
        owner,
        created_ms,
        db,
        key,
        record: v,
    })
}

impl Hints {
    /// Opens the hint store kept in `keyspace`, counting what it holds.
    pub fn open(keyspace: Keyspace, max_age_ms: u64, replay_rate: u64) -> Result<Hints> {
        let hints = Hints {
            markers: Default::default(),
            fence: tokio::sync::RwLock::new(()),
            keyspace,
            seq: AtomicU64::new(rand::random::<u32>() as u64),
            stats: HintStats::default(),
            settings: HintSettings {
                max_age_ms: AtomicU64::new(max_age_ms),
                replay_rate: AtomicU64::new(replay_rate),
            },
        };
        let mut count = 0u64;
        hints.each_page(|page| count += page.len() as u64)?;
        hints.stats.pending.store(count, Ordering::Relaxed);
        Ok(hints)
    }

    /// Visits every stored hint (name and value), a page at a time.
    fn each_page(&self, mut visit: impl FnMut(Vec<(Bytes, Bytes)>)) -> Result<()> {
        const PAGE: usize = 4096;
        let mut from = PREFIX.to_vec();
        loop {
            let page = self.keyspace.meta_scan(PREFIX, &from, PAGE)?;
            let next = (page.len() == PAGE)
                .then(|| page.last().map(|(last, _)| [&last[..], &[0]].concat()))
                .flatten();
            visit(page);
            match next {
                Some(n) => from = n,
                None => return Ok(()),
            }
        }
    }

    /// Hints stored now.
    pub fn pending(&self) -> u64 {
        self.stats.pending.load(Ordering::Relaxed)
    }

    /// Stores a hint for `owner` durably.
    pub async fn store(&self, owner: NodeId, db: u32, key: &[u8], record: &[u8]) -> Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let n = name(owner, self.keyspace.now_ms(), seq);
        self.keyspace
            .meta_put(&n, encode_value(db, key, record))
            .await?;
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        self.stats.stored.inc();
        Ok(())
    }

    /// Stores a **marker** for `owner`: a hint with an empty record, whose
    /// replay sends this node's record of `key` as it is then. Kept by the
    /// replica that applied a write (its record holds the write from then
    /// on), so a large collection's missed writes are not each kept as a
    /// copy of the whole collection; one marker per key is kept at a time.
    pub async fn store_marker(&self, owner: NodeId, db: u32, key: &[u8]) -> Result<()> {
        let id = (owner, db, Bytes::copy_from_slice(key));
        if !self.markers.lock().insert(id.clone()) {
            return Ok(());
        }
        let stored = self.store(owner, db, key, &[]).await;
        if stored.is_err() {
            self.markers.lock().remove(&id);
        }
        stored
    }

    /// A marker's replay is about to read the record: a write missed from
    /// now on needs a marker of its own.
    pub fn replaying_marker(&self, owner: NodeId, db: u32, key: &Bytes) {
        self.markers.lock().remove(&(owner, db, key.clone()));
    }

    /// The owners that have hints here.
    pub fn owners(&self) -> Result<Vec<NodeId>> {
        let mut owners = Vec::new();
        let mut from = PREFIX.to_vec();
        loop {
            let Some((n, _)) = self.keyspace.meta_scan(PREFIX, &from, 1)?.pop() else {
                return Ok(owners);
            };
            let Some(owner) = n.get(PREFIX.len()..PREFIX.len() + 8) else {
                return Ok(owners);
            };
            let owner = u64::from_be_bytes(owner.try_into().unwrap_or_default());
            owners.push(owner);
            match owner.checked_add(1) {
                Some(next) => {
                    from = PREFIX.to_vec();
                    from.extend_from_slice(&next.to_be_bytes());
                }
                None => return Ok(owners),
            }
        }
    }

    /// Up to `limit` of `owner`'s hints, oldest first. Unreadable entries
    /// (bad checksum) are deleted and logged.
    pub async fn oldest(&self, owner: NodeId, limit: usize) -> Result<Vec<Hint>> {
        let mut prefix = PREFIX.to_vec();
        prefix.extend_from_slice(&owner.to_be_bytes());
        let page = self.keyspace.meta_scan(&prefix, &prefix, limit)?;
        let mut out = Vec::with_capacity(page.len());
        let mut bad = Vec::new();
        for (n, v) in page {
            match decode(n.clone(), v) {
                Ok(h) => out.push(h),
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unreadable hint");
                    bad.push(n);
                }
            }
        }
        self.remove(&bad).await?;
        Ok(out)
    }

    /// Deletes hints by name.
    pub async fn remove(&self, names: &[Bytes]) -> Result<()> {
        self.keyspace.meta_delete(names).await?;
        let _ = self
            .stats
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(names.len() as u64))
            });
        Ok(())
    }

    /// Drops every hint (and marker) of the databases `dbs`, once no
    /// replay round is in flight; returns how many. FLUSHDB and FLUSHALL
    /// call it on every member before the databases get fresh namespaces.
    pub async fn drop_dbs(&self, dbs: &[u32]) -> Result<u64> {
        let _fence = self.fence.write().await;
        self.markers.lock().retain(|(_, db, _)| !dbs.contains(db));
        let mut doomed = Vec::new();
        self.each_page(|page| {
            // An unreadable hint is left to replay, which drops it.
            doomed.extend(page.into_iter().filter_map(|(n, v)| {
                decode(n, v)
                    .ok()
                    .filter(|h| dbs.contains(&h.db))
                    .map(|h| h.name)
            }));
        })?;
        self.remove(&doomed).await?;
        let dropped = doomed.len() as u64;
        self.stats.flushed.add(dropped);
        Ok(dropped)
    }

    /// Whether `hint` is past the maximum age at `now_ms`.
    pub fn is_expired(&self, hint: &Hint, now_ms: u64) -> bool {
        now_ms.saturating_sub(hint.created_ms) > self.settings.max_age_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_corruption_is_caught() {
        let v = encode_value(3, b"key", b"\x02rec");
        let n = name(42, 1000, 7);
        let h = decode(n.clone(), v.clone()).unwrap();
        assert_eq!((h.owner, h.created_ms, h.db), (42, 1000, 3));
        assert_eq!(&h.key[..], b"key");
        assert_eq!(&h.record[..], b"\x02rec");
        for i in 0..v.len() {
            let mut bad = v.to_vec();
            bad[i] ^= 0x40;
            assert!(decode(n.clone(), Bytes::from(bad)).is_err(), "flip at {i}");
        }
        assert!(decode(Bytes::from_static(b"hint/x"), v).is_err());
    }

    #[tokio::test]
    async fn one_marker_per_owner_and_key_until_its_replay_reads_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        let hints = Hints::open(ks, 60_000, 100).unwrap();
        for _ in 0..5 {
            hints.store_marker(7, 0, b"big").await.unwrap();
        }
        hints.store_marker(7, 1, b"big").await.unwrap();
        hints.store_marker(8, 0, b"big").await.unwrap();
        assert_eq!(hints.pending(), 3, "one per owner, database and key");
        let kept = hints.oldest(7, 10).await.unwrap();
        assert_eq!(kept.len(), 2);
        assert!(
            kept.iter().all(|h| h.record.is_empty()),
            "markers carry no record"
        );
        // Once a replay is about to read the record, a write missed after
        // that needs a marker of its own.
        hints.replaying_marker(7, 0, &Bytes::from_static(b"big"));
        hints.store_marker(7, 0, b"big").await.unwrap();
        assert_eq!(hints.pending(), 4);
    }
}
