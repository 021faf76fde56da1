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
//! are read again under the lock, as without this.

use ringkv_engine::{Engine, Snapshot};

use super::split::{self, Need, Stored};
use crate::version::collection::{Collection, Kind};

/// Members of a split collection read before the record lock.
pub(super) struct EarlyRead {
    snapshot: Snapshot,
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
            kind,
            members: Collection::from_member_records(kind, records),
        })
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
