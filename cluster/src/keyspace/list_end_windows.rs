//! The positions nearest each end of a split list, kept between pops.
//!
//! A pop of `count` elements reads `count + 1` from its end: the popped
//! ones and the one after, whose position becomes the header's new bound
//! (`super::list_ends`). The end element is at the header's bound, but
//! the ones after it are found by walking: an engine iterator that seeks
//! every sorted run, most of an RPOP's CPU on a long list.
//!
//! So a walk from an end reads [`WINDOW_EXTRA`] elements more than it
//! needs and keeps them (positions, and values of up to
//! [`MAX_KEPT_VALUE`] bytes), per header version as the copies of a
//! list's positions are kept (`super::list_index`). A window at an end is
//! the run of live elements there: nothing live lies beyond its outermost
//! entry (the list's end) or between two of its entries. The next pop or
//! push at that end takes its elements from the window, reading by one
//! point read only those kept by position alone. The partial write that
//! pops or pushes applies its changes to a window made at the header it
//! replaces and moves it to the header it writes (a removed element
//! inside the window leaves it, a rewritten one is rewritten, an added
//! one inside or beyond it joins it; changes past its inner end change
//! nothing there), so a queue's pushes at one end keep the window at the
//! other. Any other write writes a header at another version, and the
//! next pop walks again.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_engine::{Engine, Snapshot};

use super::Need;
use super::per_collection::{CollectionId, KeptPerCollection, collection_id, in_one_buffer};
use super::sample_pool::SamplePools;
use super::split::{get_member, header_version, load_members};
use super::zset_ranks::MemberItems;
use crate::error::Result;
use crate::version::codec::SplitHeader;
use crate::version::collection::{Collection, Element, Item, Kind};

/// Positions a walk from an end reads beyond what its write needs.
pub(super) const WINDOW_EXTRA: usize = 32;

/// The most entries one side of a window keeps (pushes at its end add to
/// it; the innermost are let go).
const MAX_SIDE: usize = 2 * WINDOW_EXTRA;

/// The most elements a write takes from a window; a larger pop walks.
const MAX_TAKEN: usize = 4;

/// An element's value longer than this is not kept in a window, only its
/// position (it is read by a point read when popped).
const MAX_KEPT_VALUE: usize = 512;

/// Lists with windows kept, the oldest made dropped first (at most
/// `2 * MAX_SIDE * MAX_KEPT_VALUE` bytes of values each).
const MAX_WINDOWS: usize = 128;

/// A position and, for a short element, what it holds (copied, so that
/// it keeps no block or request buffer alive).
type Entry = (Bytes, Option<Vec<Item>>);

/// The live elements nearest each end of one list at one header version,
/// ascending by position; an empty side is not known.
struct Window {
    version: u64,
    head: VecDeque<Entry>,
    tail: VecDeque<Entry>,
}

/// The windows of a keyspace's split lists.
#[derive(Default)]
pub struct ListEndWindows {
    inner: Mutex<KeptPerCollection<Window, MAX_WINDOWS>>,
    /// Walks from an end that made or refilled a window.
    pub walks: AtomicU64,
    /// Writes whose end elements a window named.
    pub served: AtomicU64,
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Head,
    Tail,
}

/// `items` as a window keeps them: copied when the element is short.
fn kept_items(items: &[Item]) -> Option<Vec<Item>> {
    let short = items.iter().all(|i| match &i.element {
        Element::Value(v) => v.len() <= MAX_KEPT_VALUE,
        Element::Counter(_) => false,
    });
    short.then(|| {
        items
            .iter()
            .map(|i| Item {
                element: Element::Value(Bytes::copy_from_slice(&i.element.bytes())),
                ..i.clone()
            })
            .collect()
    })
}

impl ListEndWindows {
    /// The `n` entries at `end` of the list `id` (all it has, when fewer),
    /// in list order, if the window at `version` (worked out only when `id`
    /// has a window) holds them; `bound` is
    /// the header's bound at that end (at or beyond the end element),
    /// which the window's outer entry must not pass.
    fn ends(
        &self,
        id: &CollectionId,
        version: impl FnOnce() -> u64,
        (end, n, count): (End, usize, u64),
        bound: &[u8],
    ) -> Option<Vec<Entry>> {
        let mut windows = self.inner.lock();
        let window = windows.get(id)?;
        if window.version != version() {
            return None;
        }
        let side = match end {
            End::Head => &window.head,
            End::Tail => &window.tail,
        };
        let outer = match end {
            End::Head => side.front(),
            End::Tail => side.back(),
        }?;
        let passes = match end {
            End::Head => outer.0.as_ref() < bound,
            End::Tail => outer.0.as_ref() > bound,
        };
        if passes && !bound.is_empty() {
            windows.remove(id);
            return None;
        }
        let whole = u64::try_from(side.len()).ok() == Some(count);
        if side.len() < n && !whole {
            return None;
        }
        let n = n.min(side.len());
        Some(match end {
            End::Head => side.iter().take(n).cloned().collect(),
            End::Tail => side.iter().skip(side.len() - n).cloned().collect(),
        })
    }

    /// Keeps `entries` (ascending, the live elements nearest `end` of the
    /// list `id` at `version`), with the window's other side if it is at
    /// the same version.
    fn keep(&self, id: CollectionId, version: u64, end: End, entries: VecDeque<Entry>) {
        let mut windows = self.inner.lock();
        if let Some(w) = windows.get_mut(&id).filter(|w| w.version == version) {
            match end {
                End::Head => w.head = entries,
                End::Tail => w.tail = entries,
            }
            return;
        }
        let (head, tail) = match end {
            End::Head => (entries, VecDeque::new()),
            End::Tail => (VecDeque::new(), entries),
        };
        windows.insert(
            id,
            Window {
                version,
                head,
                tail,
            },
        );
    }

    fn forget(&self, id: &CollectionId) {
        self.inner.lock().remove(id);
    }

    #[cfg(test)]
    fn holds(&self, id: &CollectionId) -> bool {
        self.inner.lock().get(id).is_some()
    }

    /// After a partial write of the list `id` that loaded `loaded`, left
    /// `changed` and replaced the header at version `before` with one at
    /// `after` (`versions`, worked out only when `id` has a window): a
    /// window at `before` takes the elements it removed, added and rewrote
    /// and moves to `after`; any other window of `id` is dropped.
    pub(super) fn apply(
        &self,
        id: &CollectionId,
        versions: impl FnOnce() -> (u64, u64),
        loaded: &Collection,
        changed: &Collection,
    ) {
        let mut windows = self.inner.lock();
        let Some(w) = windows.get_mut(id) else {
            return;
        };
        let (before, after) = versions();
        if w.version != before
            || !apply_side(&mut w.head, End::Head, loaded, changed)
            || !apply_side(&mut w.tail, End::Tail, loaded, changed)
        {
            windows.remove(id);
            return;
        }
        w.version = after;
    }
}

/// A write's changes applied to one side of a window: an element inside
/// its span (from its inner entry to the list's end) that the write
/// removed leaves it, one it rewrote is rewritten, one it added inside or
/// beyond the span joins it. False when a removed or rewritten element
/// inside the span was not in it, or an added one was (the window was
/// wrong).
fn apply_side(
    side: &mut VecDeque<Entry>,
    end: End,
    loaded: &Collection,
    changed: &Collection,
) -> bool {
    let find = |side: &VecDeque<Entry>, p: &Bytes| side.binary_search_by(|(q, _)| q.cmp(p));
    let within = |side: &VecDeque<Entry>, p: &Bytes| match end {
        End::Head => side.back().is_some_and(|(inner, _)| p <= inner),
        End::Tail => side.front().is_some_and(|(inner, _)| p >= inner),
    };
    for (p, _) in loaded.iter().filter(|(p, _)| changed.items(p).is_none()) {
        if within(side, p) {
            match find(side, p) {
                Ok(i) => {
                    side.remove(i);
                }
                Err(_) => return false,
            }
        }
    }
    for (p, items) in changed.iter() {
        let was = loaded.items(p);
        if was == Some(items.as_slice()) {
            continue;
        }
        let beyond = match end {
            End::Head => side.front().is_some_and(|(outer, _)| p < outer),
            End::Tail => side.back().is_some_and(|(outer, _)| p > outer),
        };
        if !within(side, p) && !beyond {
            continue;
        }
        match (find(side, p), was) {
            (Ok(i), Some(_)) => {
                if let Some(e) = side.get_mut(i) {
                    e.1 = kept_items(items);
                }
            }
            (Err(i), None) => side.insert(i, (p.clone(), kept_items(items))),
            _ => return false,
        }
    }
    while side.len() > MAX_SIDE {
        match end {
            End::Head => side.pop_back(),
            End::Tail => side.pop_front(),
        };
    }
    true
}

/// The `n` elements at one end of the split list under `header`
/// ([`Need::Head`] or [`Need::Tail`]), in member order: from the window
/// of that end where it holds them (a point read for each it holds by
/// position only); otherwise as [`load_members`] reads them, a pop's by a
/// walk that reads [`WINDOW_EXTRA`] more and keeps them as the window.
pub(super) fn load_end(
    engine: &Engine,
    snapshot: &Snapshot,
    (windows, pools): (&ListEndWindows, &SamplePools),
    (ns, key): (u32, &[u8]),
    header: &SplitHeader,
    need: Need<'_>,
) -> Result<Vec<(Bytes, Vec<Item>)>> {
    let (end, n, bound) = match need {
        Need::Head(n) => (End::Head, n, &header.first),
        Need::Tail(n) => (End::Tail, n, &header.last),
        _ => return load_members(engine, snapshot, pools, ns, key, header, need),
    };
    if header.kind != Kind::List || n == 0 {
        return load_members(engine, snapshot, pools, ns, key, header, need);
    }
    let id = collection_id(ns, key, header.generation);
    let version = || header_version(header);
    if n <= MAX_TAKEN {
        if let Some(entries) = windows.ends(&id, version, (end, n, header.count), bound) {
            if let Some(found) = read_entries(engine, snapshot, (ns, key), header, entries)? {
                windows.served.fetch_add(1, Ordering::Relaxed);
                return Ok(found);
            }
            windows.forget(&id);
        }
    }
    if n == 1 {
        // A push: its end by a point read (`list_ends::list_end_record`).
        return load_members(engine, snapshot, pools, ns, key, header, need);
    }
    let wider = match end {
        End::Head => Need::Head(n.saturating_add(WINDOW_EXTRA)),
        End::Tail => Need::Tail(n.saturating_add(WINDOW_EXTRA)),
    };
    let mut read = load_members(engine, snapshot, pools, ns, key, header, wider)?;
    windows.walks.fetch_add(1, Ordering::Relaxed);
    let names: Vec<Bytes> = read.iter().map(|(p, _)| p.clone()).collect();
    let entries = in_one_buffer(&names)
        .into_iter()
        .zip(&read)
        .map(|(p, (_, items))| (p, kept_items(items)))
        .collect();
    windows.keep(id, version(), end, entries);
    match end {
        End::Head => read.truncate(n),
        End::Tail => {
            read.drain(..read.len().saturating_sub(n));
        }
    }
    Ok(read)
}

/// The elements of `entries`, each held one as it is and the others by
/// one point read; `None` if one of those is missing (the window was
/// wrong).
fn read_entries(
    engine: &Engine,
    snapshot: &Snapshot,
    (ns, key): (u32, &[u8]),
    header: &SplitHeader,
    entries: Vec<Entry>,
) -> Result<Option<MemberItems>> {
    let mut out = Vec::with_capacity(entries.len());
    for (p, items) in entries {
        let items = match items {
            Some(items) => items,
            None => match get_member(engine, snapshot, ns, key, header, &p)? {
                Some(items) => items,
                None => return Ok(None),
            },
        };
        out.push((p, items));
    }
    Ok(Some(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::keyspace::list_index::tests::{Elements, model, push, random_op};
    use crate::keyspace::split_tests::apply;
    use crate::version::{CollectionOp, CollectionReply, PopEnd};
    use rand::{Rng, SeedableRng};

    /// Random pushes and pops at both ends of a split list, with LSETs,
    /// LINSERTs and LREMs among them: every pop returns the elements the
    /// list had at its end, the list stays the model's, and pops of one or
    /// two are mostly served by the windows, walking about once per
    /// [`WINDOW_EXTRA`] pops at an end or after another write.
    #[tokio::test(flavor = "multi_thread")]
    async fn pops_from_the_windows_take_the_ends() {
        let (_dir, ks, elements) = Elements::filled().await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let windows = &ks.inner.list_ends;
        let (mut pops, mut rewrites) = (0u64, 0u64);
        for round in 0..3000 {
            let op = if rng.random_bool(0.1) {
                // An LSET at an end, inside the windows.
                let index = [0, 1, 2, -1, -2, -3][rng.random_range(0..6)];
                CollectionOp::ListSet {
                    index,
                    value: elements.value(),
                }
            } else if rng.random_bool(0.5) {
                let count = rng.random_range(1..4);
                let end = if rng.random_bool(0.5) {
                    PopEnd::Min
                } else {
                    PopEnd::Max
                };
                CollectionOp::Pop {
                    kind: Kind::List,
                    count,
                    end,
                }
            } else {
                random_op(&mut rng, &elements, 0.2)
            };
            let before = model(&ks, b"l");
            if before.len() < 200 {
                let values = (0..1000).map(|_| elements.value()).collect();
                apply(&ks, b"l", &push(rng.random_bool(0.5), values))
                    .await
                    .0
                    .unwrap();
                continue;
            }
            let (reply, _) = apply(&ks, b"l", &op).await;
            let after = model(&ks, b"l");
            match op {
                CollectionOp::Pop { count, end, .. } => {
                    pops += 1;
                    let n = usize::try_from(count).unwrap();
                    let want: Vec<Bytes> = match end {
                        PopEnd::Min => before.iter().take(n).map(|(_, v)| v.clone()).collect(),
                        _ => before
                            .iter()
                            .rev()
                            .take(n)
                            .map(|(_, v)| v.clone())
                            .collect(),
                    };
                    let Ok(CollectionReply::Pairs(got)) = reply else {
                        panic!("round {round}: {reply:?}");
                    };
                    let got: Vec<Bytes> = got.into_iter().map(|(_, v)| v).collect();
                    assert_eq!(got, want, "round {round}: {end:?} {count}");
                    assert_eq!(after.len(), before.len() - n, "round {round}");
                }
                CollectionOp::Push { .. } => {}
                _ => rewrites += 1,
            }
        }
        let walks = windows.walks.load(Ordering::Relaxed);
        let served = windows.served.load(Ordering::Relaxed);
        assert!(
            pops > 1000 && served > pops * 3 / 4,
            "{served} of {pops} pops served"
        );
        assert!(
            walks < pops / 4 + 2 * rewrites + 50,
            "{walks} walks, {pops} pops"
        );
    }

    fn item(v: &str) -> Vec<Item> {
        vec![Item {
            tag: crate::version::collection::Tag {
                actor: 1,
                counter: 1,
            },
            ts_ms: 1,
            element: Element::Value(Bytes::copy_from_slice(v.as_bytes())),
        }]
    }

    fn side(items: &[&str]) -> VecDeque<Entry> {
        items
            .iter()
            .map(|s| (Bytes::copy_from_slice(s.as_bytes()), Some(item(s))))
            .collect()
    }

    fn list(items: &[(&str, &str)]) -> Collection {
        let mut c = Collection::new(Kind::List);
        for (p, v) in items {
            c.insert_items(Bytes::copy_from_slice(p.as_bytes()), item(v));
        }
        c
    }

    fn names(side: &VecDeque<Entry>) -> Vec<&[u8]> {
        side.iter().map(|(p, _)| p.as_ref()).collect()
    }

    #[test]
    fn a_side_takes_the_changes_within_its_span() {
        // The tail's span starts at its inner entry "m": a pop of "t".
        let mut tail = side(&["m", "p", "t"]);
        let popped = (list(&[("p", "p"), ("t", "t")]), list(&[("p", "p")]));
        assert!(apply_side(&mut tail, End::Tail, &popped.0, &popped.1));
        assert_eq!(names(&tail), [b"m", b"p"]);
        // A push at the other end, a removal before the span: no change.
        let other = (list(&[("c", "c")]), list(&[("a", "a")]));
        assert!(apply_side(&mut tail, End::Tail, &other.0, &other.1));
        assert_eq!(names(&tail), [b"m", b"p"]);
        // A push at this end, an insert inside the span and a rewrite.
        let (before, after) = (
            list(&[("p", "p")]),
            list(&[("p", "P"), ("n", "n"), ("z", "z")]),
        );
        assert!(apply_side(&mut tail, End::Tail, &before, &after));
        assert_eq!(names(&tail), [b"m", b"n", b"p", b"z"]);
        assert_eq!(tail[2].1, Some(item("P")));
        // A removal inside the span of a position it does not hold.
        let wrong = (list(&[("o", "o")]), Collection::new(Kind::List));
        assert!(!apply_side(&mut tail, End::Tail, &wrong.0, &wrong.1));

        let mut head = side(&["c", "f"]);
        let (before, after) = (list(&[("c", "c")]), list(&[("a", "a"), ("x", "x")]));
        assert!(apply_side(&mut head, End::Head, &before, &after));
        assert_eq!(names(&head), [b"a", b"f"]);
        // Emptied: not known, and nothing joins it.
        let mut head = side(&["c"]);
        let (before, after) = (list(&[("c", "c")]), list(&[("b", "b")]));
        assert!(apply_side(&mut head, End::Head, &before, &after));
        assert!(head.is_empty());
        // A long value is kept by position only; pushes past the cap let
        // the innermost go.
        let mut head = side(&["m"]);
        let long = "v".repeat(MAX_KEPT_VALUE + 1);
        let pushes: Vec<(String, &str)> = (0..MAX_SIDE + 5)
            .map(|i| (format!("a{i:03}"), long.as_str()))
            .collect();
        let pushes: Vec<(&str, &str)> = pushes.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        let (before, after) = (Collection::new(Kind::List), list(&pushes));
        assert!(apply_side(&mut head, End::Head, &before, &after));
        assert_eq!(head.len(), MAX_SIDE);
        assert!(
            head.iter()
                .all(|(p, items)| p.as_ref() != b"m" && items.is_none())
        );
    }

    #[test]
    fn a_window_serves_only_its_version_and_its_bound() {
        let windows = ListEndWindows::default();
        let id = collection_id(0, b"l", 1);
        windows.keep(id.clone(), 7, End::Tail, side(&["k", "m", "p"]));
        let at = |version, n, bound: &str| {
            windows
                .ends(&id, || version, (End::Tail, n, 10), bound.as_bytes())
                .map(|e| e.into_iter().map(|(p, _)| p).collect::<Vec<_>>())
        };
        let ps = |v: &[&str]| -> Vec<Bytes> {
            v.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert_eq!(at(7, 2, "p"), Some(ps(&["m", "p"])));
        assert_eq!(at(8, 2, "p"), None);
        assert_eq!(at(7, 4, "p"), None, "fewer than asked, not the whole list");
        let popped = (list(&[("m", "m"), ("p", "p")]), list(&[("m", "m")]));
        windows.apply(&id, || (7, 9), &popped.0, &popped.1);
        assert_eq!(at(7, 2, "m"), None);
        assert_eq!(at(9, 2, "m"), Some(ps(&["k", "m"])));
        // A bound beyond the end element serves; one before it drops the
        // window (it was wrong).
        assert_eq!(at(9, 2, "n"), Some(ps(&["k", "m"])));
        assert_eq!(at(9, 2, "l"), None);
        assert!(!windows.holds(&id));
    }
}
