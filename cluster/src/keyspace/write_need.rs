//! What a collection write needs of a split collection's members
//! ([`WriteNeed`], [`collection_need`]): the members it names, the window
//! of a list or sorted set it works at, or a list's elements through the
//! matches of a value.

use bytes::Bytes;

use super::ScoreWindow;
use super::split::{self, Need};
use crate::version::collection::Kind;
use crate::version::{CollectionOp, PopEnd};

/// The elements LREM and LINSERT read from an end of a split list for
/// their matches (LINSERT: its pivot) before they give up on a window and
/// write the whole list: a window's write costs more per element than the
/// whole record's, so only matches near an end are worth it.
const THROUGH_WINDOW: usize = 1024;

/// Whether LTRIM `start stop` of a split list of `count` elements reads
/// and writes only the elements it removes from either end
/// ([`Need::Trim`]): when they are at most half the list and what it
/// keeps stays split. Otherwise the whole list is read and written.
pub(super) fn trims_at_ends(start: i64, stop: i64, count: u64) -> bool {
    use crate::version::list_op::{trim_ends, trim_range};
    let len = usize::try_from(count).unwrap_or(usize::MAX);
    let (head, tail) = trim_ends(start, stop, len);
    let (keep_from, keep_to) = trim_range(start, stop, len);
    head.saturating_add(tail) <= len / 2
        && keep_to.saturating_sub(keep_from) >= split::inline_at(Kind::List)
}

/// What a write needs of a split collection: the members it names, a
/// window (the end of a list it works at, a window by score or index), or
/// a list's elements through the matches of a value; [`WriteNeed::need`]
/// borrows it, not the write, so the write can be moved into its closure.
pub(crate) struct WriteNeed {
    names: Vec<Bytes>,
    window: Option<Need<'static>>,
    /// LREM and LINSERT: the value (the pivot), the matches to read
    /// through, and whether from the tail (LREM's negative count).
    through: Option<(Bytes, usize, bool)>,
}

impl WriteNeed {
    /// A write that needs `need` alone (no names).
    pub(crate) fn only(need: Need<'static>) -> WriteNeed {
        WriteNeed {
            names: Vec::new(),
            window: Some(need),
            through: None,
        }
    }

    /// What to read.
    pub(crate) fn need(&self) -> Need<'_> {
        match (&self.through, self.window) {
            (Some((element, matches, from_tail)), _) => {
                Need::through(element, *matches, THROUGH_WINDOW, *from_tail)
            }
            (None, Some(window)) => window,
            (None, None) => Need::Members(&self.names),
        }
    }
}

/// What a collection write needs of a split collection: its kind and
/// [`WriteNeed`] (`None` when it needs every member: random or by-score
/// pops, LREM of every match, a replacement).
pub(crate) fn collection_need(op: &CollectionOp) -> Option<(Kind, WriteNeed)> {
    // LREM of the first (last) `count` matches: the elements through the
    // last of them, which is all the write looks at; LINSERT's first
    // pivot, and the elements either side of it.
    let through = match op {
        CollectionOp::ListRemove { count, value } => {
            let matches = usize::try_from(count.unsigned_abs())
                .ok()
                .filter(|&n| n > 0)?;
            Some((value.clone(), matches, *count < 0))
        }
        CollectionOp::ListInsert { pivot, .. } => Some((pivot.clone(), 1, false)),
        _ => None,
    };
    if through.is_some() {
        let need = WriteNeed {
            names: Vec::new(),
            window: None,
            through,
        };
        return Some((Kind::List, need));
    }
    let (kind, names, window) = collection_window(op)?;
    Some((
        kind,
        WriteNeed {
            names,
            window,
            through: None,
        },
    ))
}

/// [`collection_need`] of the writes that name members or work at a
/// window: the kind, the names, the window (`None`: the names).
fn collection_window(op: &CollectionOp) -> Option<(Kind, Vec<Bytes>, Option<Need<'static>>)> {
    let names = |pairs: &[(Bytes, Bytes)]| pairs.iter().map(|(m, _)| m.clone()).collect();
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Some(match op {
        CollectionOp::Put { kind, pairs, .. } => (*kind, names(pairs), None),
        CollectionOp::Remove { kind, members } => (*kind, members.clone(), None),
        CollectionOp::AddInt { member, .. } | CollectionOp::AddFloat { member, .. } => {
            (Kind::Hash, vec![member.clone()], None)
        }
        CollectionOp::ZAdd { pairs, .. } => (
            Kind::ZSet,
            pairs.iter().map(|(m, _)| m.clone()).collect(),
            None,
        ),
        // SPOP: members picked at random, then all of them popped.
        CollectionOp::Pop {
            kind: Kind::Set,
            count,
            end: PopEnd::Random,
        } => (
            Kind::Set,
            Vec::new(),
            Some(Need::Sample(i64::try_from(*count).unwrap_or(i64::MAX))),
        ),
        CollectionOp::Push { left: true, .. } => (Kind::List, Vec::new(), Some(Need::Head(1))),
        // LSET: the element at the index alone (from the copy of the list's
        // positions far from both ends), told where it lies.
        CollectionOp::ListSet { index, .. } => (
            Kind::List,
            Vec::new(),
            Some(Need::Range {
                start: *index,
                stop: *index,
            }),
        ),
        CollectionOp::Push { left: false, .. } => (Kind::List, Vec::new(), Some(Need::Tail(1))),
        // LTRIM: the elements it removes from either end, and the new ends.
        CollectionOp::ListTrim { start, stop } => (
            Kind::List,
            Vec::new(),
            Some(Need::Trim {
                start: *start,
                stop: *stop,
            }),
        ),
        // One more than popped: the new first (last) element.
        CollectionOp::Pop {
            kind: Kind::List,
            count,
            end: PopEnd::Min,
        } => (
            Kind::List,
            Vec::new(),
            Some(Need::Head(usize_of(*count).saturating_add(1))),
        ),
        CollectionOp::Pop {
            kind: Kind::List,
            count,
            end: PopEnd::Max,
        } => (
            Kind::List,
            Vec::new(),
            Some(Need::Tail(usize_of(*count).saturating_add(1))),
        ),
        // The members in range, from the score index.
        CollectionOp::RemoveScores {
            min,
            min_exclusive,
            max,
            max_exclusive,
        } => (
            Kind::ZSet,
            Vec::new(),
            Some(Need::Scores(ScoreWindow {
                min: *min,
                min_exclusive: *min_exclusive,
                max: *max,
                max_exclusive: *max_exclusive,
                ..ScoreWindow::ends(false, usize::MAX)
            })),
        ),
        // No member: the header alone changes.
        CollectionOp::Expire { kind, .. } => (*kind, Vec::new(), Some(Need::Count)),
        // The lowest (highest) scores, from the score index.
        CollectionOp::Pop {
            kind: Kind::ZSet,
            count,
            end: end @ (PopEnd::Min | PopEnd::Max),
        } => (
            Kind::ZSet,
            Vec::new(),
            Some(Need::Scores(ScoreWindow::ends(
                *end == PopEnd::Max,
                usize_of(*count),
            ))),
        ),
        _ => return None,
    })
}

/// Whether `op` replies with the collection's new length (a push, an
/// insert that found its pivot), which a partial write takes from the
/// header.
pub(crate) fn replies_length(op: &CollectionOp) -> bool {
    matches!(
        op,
        CollectionOp::Push { .. } | CollectionOp::ListInsert { .. }
    )
}
