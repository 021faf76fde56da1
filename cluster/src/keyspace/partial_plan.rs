//! How a partial write of a key goes, decided under the key's record
//! lock before anything is awaited ([`Keyspace::update_partial`]): the
//! members of a split collection, or the record whole.

use ringkv_engine::Snapshot;

use super::Keyspace;
use super::early_read::EarlyRead;
use super::partial::PartialTarget;
use super::split::{self, Need, Stored};
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Collection, Kind};

/// What a partial write does.
pub(super) enum PartialPlan {
    /// Writes the members it needs of a split collection.
    Split(SplitWrite),
    /// Writes the record whole.
    Whole(WholeWrite),
}

/// A partial write that writes the record whole.
pub(super) enum WholeWrite {
    /// Updates the record from its stored form (`None`: no key).
    Stored(Option<Stored>),
    /// Replaces a split collection whatever it holds (DEL, SET).
    Replace(SplitHeader),
    /// A write of another type against a live split collection: it sees
    /// the header alone, for its `-WRONGTYPE`.
    WrongKind(SplitHeader),
}

/// A write of a split collection's members: its header, kind, the members
/// it needs and the snapshot they were read at.
pub(super) struct SplitWrite {
    pub(super) header: SplitHeader,
    pub(super) kind: Kind,
    pub(super) loaded: Collection,
    pub(super) snapshot: Snapshot,
}

impl Keyspace {
    /// Decides [`Keyspace::update_partial`]'s way of writing `key` (engine
    /// key `ekey`), with the members `early` read before the lock when they
    /// are still the newest. Called under the key's record lock.
    #[allow(
        clippy::too_many_arguments,
        reason = "the key, what the write targets and needs, and what was read early"
    )]
    pub(super) fn plan_partial(
        &self,
        ns: u32,
        key: &[u8],
        ekey: &[u8],
        target: PartialTarget,
        need: Need<'_>,
        mut early: Option<EarlyRead>,
        now: u64,
    ) -> Result<PartialPlan> {
        let engine = &self.inner.engine;
        let early_header = early
            .as_mut()
            .and_then(|e| e.take_header_if_newest(engine, ekey, now));
        let header = match early_header {
            Some(h) => h,
            None => match engine.get(ekey)? {
                Some(v) => match split::decode_stored(&v, key)? {
                    Stored::Split(h) => h,
                    inline => return Ok(PartialPlan::Whole(WholeWrite::Stored(Some(inline)))),
                },
                None => return Ok(PartialPlan::Whole(WholeWrite::Stored(None))),
            },
        };
        let expired = header.expire_at_ms != 0 && header.expire_at_ms <= now;
        let kind = match target {
            PartialTarget::Replace => return Ok(PartialPlan::Whole(WholeWrite::Replace(header))),
            _ if !expired && target != PartialTarget::Collection(header.kind) => {
                return Ok(PartialPlan::Whole(WholeWrite::WrongKind(header)));
            }
            PartialTarget::Collection(kind) => kind,
            PartialTarget::String => header.kind,
        };
        // A sorted set split without a score index gets one by a whole write.
        if header.kind != kind || expired || (kind == Kind::ZSet && !header.score_index) {
            return Ok(PartialPlan::Whole(WholeWrite::Stored(Some(Stored::Split(
                header,
            )))));
        }
        // LTRIM that removes most of a list, or leaves it short enough to
        // be stored whole: the whole list, as before.
        if let Need::Trim { start, stop } = need {
            if !super::write_need::trims_at_ends(start, stop, header.count) {
                return Ok(PartialPlan::Whole(WholeWrite::Stored(Some(Stored::Split(
                    header,
                )))));
            }
        }
        // Writers of this key are serialised by the record lock; the
        // snapshot only pins what the member reads see.
        let snapshot = engine.snapshot();
        let early =
            early.and_then(|e| e.still_newest(engine, ns, key, kind, header.generation, need));
        let loaded = match early {
            Some(members) => members,
            None => Collection::from_member_records(
                kind,
                self.load_for_write(&snapshot, ns, key, &header, need)?,
            ),
        };
        // LREM found its matches past the window it reads through: the
        // whole list, written whole.
        if let Need::HeadThrough { scan, .. } | Need::TailThrough { scan, .. } = need {
            if loaded.len() >= scan {
                return Ok(PartialPlan::Whole(WholeWrite::Stored(Some(Stored::Split(
                    header,
                )))));
            }
        }
        Ok(PartialPlan::Split(SplitWrite {
            header,
            kind,
            loaded,
            snapshot,
        }))
    }
}
