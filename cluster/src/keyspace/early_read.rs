//! A collection write's member reads, done before it takes the key's
//! record lock and kept if nothing wrote those members meanwhile.
//!
//! Writes of one key are serialised by its record lock, so the time a
//! write holds it bounds the key's write rate. Reading a member of a large
//! collection is a point read in the SSTables (filter, index and data
//! block, most of them cache misses): 5-6 µs of the 18 µs a ZADD held the
//! lock at 1,000,000 members, against about 1 µs at 1,000, where every
//! member is in the memtable. Read before the lock, in parallel with the
//! holder, that cost leaves the serial part.
//!
//! Under the lock the write checks, per member, that no version newer
//! than the early read's snapshot exists ([`Engine::written_since`]: the
//! memtables alone, no SSTable read) and that the header still names the
//! generation the members were read under. If either fails (another
//! writer changed one of those members, a flush took newer versions out
//! of the memtables, the key was deleted and created anew), the members
//! are read again under the lock, as without this. The header read early
//! serves the same way when no version of it is newer than the snapshot.

use ringkv_engine::{Engine, Snapshot};

use super::split::{self, Need, Stored};
use crate::version::codec::SplitHeader;
use crate::version::collection::{Collection, Kind};

/// Members of a split collection read before the record lock, with the
/// header they were read under.
pub(super) struct EarlyRead {
    snapshot: Snapshot,
    header: Option<SplitHeader>,
    generation: u64,
    kind: Kind,
    members: Collection,
}

impl EarlyRead {
    /// Reads, with no lock, the members `need` names of the split
    /// collection of `kind` under `ekey` (`key` in namespace `ns`). `None`
    /// when there is nothing worth reading early: the need names no
    /// member, the key is not a live split collection of that kind (a
    /// sorted set without a score index is rewritten whole), or a read
    /// failed (the read under the lock reports it).
    pub(super) fn take(
        keyspace: &super::Keyspace,
        ns: u32,
        key: &[u8],
        ekey: &[u8],
        kind: Kind,
        need: Need<'_>,
    ) -> Option<EarlyRead> {
        if !matches!(need, Need::Members(names) if !names.is_empty()) {
            return None;
        }
        let engine = &keyspace.inner.engine;
        let snapshot = engine.snapshot();
        // A record stored whole (a small collection) is read under the lock
        // from the memtable anyway: not decoded here too.
        let stored = engine.get_at(ekey, &snapshot).ok()??;
        if !split::is_split_header(&stored) {
            return None;
        }
        let header = match split::decode_stored(&stored, key) {
            Ok(Stored::Split(h)) => h,
            _ => return None,
        };
        let expired = header.expire_at_ms != 0 && header.expire_at_ms <= keyspace.now_ms();
        if header.kind != kind || expired || (kind == Kind::ZSet && !header.score_index) {
            return None;
        }
        let records = split::load_members(
            engine,
            &snapshot,
            &keyspace.inner.samples,
            ns,
            key,
            &header,
            need,
        )
        .ok()?;
        Some(EarlyRead {
            snapshot,
            generation: header.generation,
            header: Some(header),
            kind,
            members: Collection::from_member_records(kind, records),
        })
    }

    /// The header read early, if it is still the key's newest record (no
    /// version of `ekey` newer than the early read's snapshot) and has not
    /// expired by `now`: the write under the lock then neither reads nor
    /// decodes it again. One that expired in between is read again, so the
    /// write sees what the engine shows of it then. Taken once.
    pub(super) fn take_header_if_newest(
        &mut self,
        engine: &Engine,
        ekey: &[u8],
        now: u64,
    ) -> Option<SplitHeader> {
        if engine.written_since(ekey, &self.snapshot) {
            return None;
        }
        self.header.take().filter(|h| !h.is_expired(now))
    }

    /// The members read early, if they are still the newest: the header
    /// `generation` (read under the lock) is the one they were read under,
    /// it is still a collection of their kind, and no member `need` names
    /// has a version newer than the early read's snapshot.
    pub(super) fn still_newest(
        self,
        engine: &Engine,
        ns: u32,
        key: &[u8],
        kind: Kind,
        generation: u64,
        need: Need<'_>,
    ) -> Option<Collection> {
        let Need::Members(names) = need else {
            return None;
        };
        if self.generation != generation || self.kind != kind {
            return None;
        }
        let prefix = split::member_prefix(ns, key, generation);
        let unchanged = names
            .iter()
            .all(|m| !engine.written_since(&split::member_key(&prefix, m), &self.snapshot));
        unchanged.then_some(self.members)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::keyspace::Keyspace;
    use crate::keyspace::split_tests::{header_of, put_hash};

    /// The header read early serves the write under the lock only while
    /// no newer version of it exists: a write of the key between the
    /// early read and the lock (another connection's HSET) makes the write
    /// read it again, so it counts from the header that write left.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_early_header_serves_only_while_it_is_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
        put_hash(&ks, b"h", 100).await;
        let ns = ks.namespace(0).unwrap();
        let ekey = crate::token::engine_key(ns, b"h");
        let names = [Bytes::from_static(b"f1")];
        let need = Need::Members(&names);
        let read = || EarlyRead::take(&ks, ns, b"h", &ekey, Kind::Hash, need).unwrap();

        let mut unchanged = read();
        let header = unchanged.take_header_if_newest(ks.engine(), &ekey, 0);
        assert_eq!(header, header_of(&ks, b"h"));
        assert_eq!(header.map(|h| h.count), Some(100));
        assert_eq!(
            unchanged.take_header_if_newest(ks.engine(), &ekey, 0),
            None,
            "taken once"
        );

        // A header that expired between the early read and the lock is
        // read again.
        let mut expiring = read();
        if let Some(h) = expiring.header.as_mut() {
            h.expire_at_ms = 5_000;
        }
        assert_eq!(
            expiring.take_header_if_newest(ks.engine(), &ekey, 5_000),
            None
        );
        let mut live = read();
        if let Some(h) = live.header.as_mut() {
            h.expire_at_ms = 5_000;
        }
        assert!(
            live.take_header_if_newest(ks.engine(), &ekey, 4_999)
                .is_some()
        );

        let mut overtaken = read();
        put_hash(&ks, b"h", 101).await;
        assert_eq!(overtaken.take_header_if_newest(ks.engine(), &ekey, 0), None);
        assert_eq!(header_of(&ks, b"h").map(|h| h.count), Some(101));
    }
}
