//! The memtable's ordered map of keys: one entry per user key (its oldest
//! record here), ordered by key, cut into 8-byte slices as a trie of
//! B-trees (the layout of Masstree, Mao, Kohler and Morris, EuroSys 2012).
//!
//! Why not one B-tree of whole keys: the keys of one collection's members
//! share their first 30 bytes and more (namespace, token, key, generation),
//! so a cached 8-byte prefix decides none of the dozen comparisons of an
//! insert, and each one reads the other key from its record, a cache miss.
//! That insert (`BTreeMap::insert` and its `memcmp`) was 12% of the
//! server's CPU under ZADD to a 1,000,000-member sorted set, done under
//! the memtable's write lock that every writer waits for.
//!
//! Here a layer is a B-tree keyed by one 8-byte slice of the key (a `u64`,
//! big-endian, zero-padded) and how many of its bytes the key has (0 to 8
//! when the key ends in this slice, [`LONGER`] when it goes on). Keys that
//! share a slice and go on share a next layer, keyed by their next slice;
//! a key alone with its slice stays in the entry until a second one comes.
//! Every comparison is of two integers inside a B-tree node, and keys that
//! share a long prefix pass through small layers one node deep.
//!
//! Order: slices compare as the padded bytes do, and among keys with the
//! same padded slice, the ones ending there are prefixes of each other
//! and of every key that goes on, so ordering by length is key order.
//!
//! Depth is bounded: below [`MAX_DEPTH`] layers (256 bytes of shared
//! prefix, which only contrived keys have), keys go into one B-tree of
//! whole keys, as before, so a key of megabytes costs no more layers.

use std::collections::{BTreeMap, BTreeSet, btree_map, btree_set};
use std::ops::Bound;

use super::arena::Rec;

/// The length recorded for a key that goes on past this slice.
const LONGER: u8 = 9;

/// Layers below which keys are ordered whole.
const MAX_DEPTH: usize = 32;

/// Slices a layer holds in a sorted vector before it becomes a B-tree: a
/// B-tree leaf is 368 bytes however few keys it holds, and most layers
/// hold a handful (ten keys whose last digit alone differs).
const SMALL_LAYER: usize = 16;

/// Bytes charged for a new layer: its box (32 bytes) and its vector's
/// first allocation (four 32-byte slots). Charged in full, so keys made to
/// share long prefixes in pairs (a layer per 8 shared bytes) cannot hold
/// more memory than the memtable is charged.
pub(super) const LAYER_CHARGE: usize = 160;

/// Bytes charged per key: its slice and entry (32 bytes) in a vector or
/// B-tree leaf at its usual fill, with the inner nodes above it.
pub(super) const KEY_CHARGE: usize = 48;

/// One 8-byte slice of a key and how many of its bytes the key has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Slice {
    bytes: u64,
    len: u8,
}

impl Slice {
    /// The slice starting `rest`: its first 8 bytes, and their count, or
    /// [`LONGER`] when `rest` goes on.
    fn of(rest: &[u8]) -> Slice {
        let mut b = [0u8; 8];
        let n = rest.len().min(8);
        b[..n].copy_from_slice(&rest[..n]);
        Slice {
            bytes: u64::from_be_bytes(b),
            len: if rest.len() > 8 { LONGER } else { n as u8 },
        }
    }
}

/// A key ordered by its whole bytes (below [`MAX_DEPTH`]).
#[derive(Clone, Copy, Debug)]
struct Whole(Rec);

impl PartialEq for Whole {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}
impl Eq for Whole {}
impl PartialOrd for Whole {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Whole {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key().cmp(other.0.key())
    }
}
impl std::borrow::Borrow<[u8]> for Whole {
    fn borrow(&self) -> &[u8] {
        self.0.key()
    }
}

/// What a slice leads to: the one key with it, the layer of the keys that
/// share it, or (at the depth bound) those keys ordered whole.
#[derive(Debug)]
enum Entry {
    Key(Rec),
    Layer(Box<Layer>),
    // Boxed so an entry is 16 bytes, as the other two are: this one is rare.
    #[allow(clippy::box_collection)]
    Whole(Box<BTreeSet<Whole>>),
}

/// One layer: its slices, in a sorted vector while they are few.
#[derive(Debug)]
enum Layer {
    Small(Vec<(Slice, Entry)>),
    Big(BTreeMap<Slice, Entry>),
}

impl Default for Layer {
    fn default() -> Self {
        Layer::Small(Vec::new())
    }
}

impl Layer {
    fn get(&self, slice: &Slice) -> Option<&Entry> {
        match self {
            Layer::Small(v) => v
                .binary_search_by(|(s, _)| s.cmp(slice))
                .ok()
                .and_then(|i| v.get(i))
                .map(|(_, e)| e),
            Layer::Big(m) => m.get(slice),
        }
    }

    fn get_mut(&mut self, slice: &Slice) -> Option<&mut Entry> {
        match self {
            Layer::Small(v) => match v.binary_search_by(|(s, _)| s.cmp(slice)) {
                Ok(i) => v.get_mut(i).map(|(_, e)| e),
                Err(_) => None,
            },
            Layer::Big(m) => m.get_mut(slice),
        }
    }

    /// Sets `slice`'s entry, in place of any it had; returns whether it had
    /// none.
    fn insert(&mut self, slice: Slice, entry: Entry) -> bool {
        if let Layer::Small(v) = self {
            match v.binary_search_by(|(s, _)| s.cmp(&slice)) {
                Ok(i) => {
                    if let Some(slot) = v.get_mut(i) {
                        slot.1 = entry;
                    }
                    return false;
                }
                Err(i) if v.len() < SMALL_LAYER => {
                    v.insert(i, (slice, entry));
                    return true;
                }
                Err(_) => *self = Layer::Big(std::mem::take(v).into_iter().collect()),
            }
        }
        match self {
            Layer::Big(m) => m.insert(slice, entry).is_none(),
            Layer::Small(_) => false,
        }
    }

    /// `slice`'s entry, or (when it has none) `None` after setting it to
    /// `make()`: one search either way.
    fn existing_or_insert(
        &mut self,
        slice: Slice,
        make: impl FnOnce() -> Entry,
    ) -> Option<&mut Entry> {
        if let Layer::Small(v) = self {
            match v.binary_search_by(|(s, _)| s.cmp(&slice)) {
                Ok(_) => {}
                Err(i) if v.len() < SMALL_LAYER => {
                    v.insert(i, (slice, make()));
                    return None;
                }
                Err(_) => *self = Layer::Big(std::mem::take(v).into_iter().collect()),
            }
        }
        match self {
            // Found above (a second search of at most 16 slices, which the
            // borrow checker needs).
            Layer::Small(v) => v
                .binary_search_by(|(s, _)| s.cmp(&slice))
                .ok()
                .and_then(|i| v.get_mut(i))
                .map(|(_, e)| e),
            Layer::Big(m) => match m.entry(slice) {
                btree_map::Entry::Vacant(e) => {
                    e.insert(make());
                    None
                }
                btree_map::Entry::Occupied(e) => Some(e.into_mut()),
            },
        }
    }

    fn remove(&mut self, slice: &Slice) {
        match self {
            Layer::Small(v) => {
                if let Ok(i) = v.binary_search_by(|(s, _)| s.cmp(slice)) {
                    v.remove(i);
                }
            }
            Layer::Big(m) => {
                m.remove(slice);
            }
        }
    }

    /// The entries between `lower` and `upper`, in slice order (either end
    /// first).
    fn range(&self, lower: Bound<Slice>, upper: Bound<Slice>) -> LayerRange<'_> {
        match self {
            Layer::Small(v) => {
                let start = match lower {
                    Bound::Unbounded => 0,
                    Bound::Included(f) => v.partition_point(|(s, _)| *s < f),
                    Bound::Excluded(f) => v.partition_point(|(s, _)| *s <= f),
                };
                let end = match upper {
                    Bound::Unbounded => v.len(),
                    Bound::Included(t) => v.partition_point(|(s, _)| *s <= t),
                    Bound::Excluded(t) => v.partition_point(|(s, _)| *s < t),
                };
                LayerRange::Small(v.get(start..end.max(start)).unwrap_or_default().iter())
            }
            Layer::Big(m) => LayerRange::Big(m.range((lower, upper))),
        }
    }
}

/// A position in one layer.
enum LayerRange<'a> {
    Small(std::slice::Iter<'a, (Slice, Entry)>),
    Big(btree_map::Range<'a, Slice, Entry>),
}

impl<'a> LayerRange<'a> {
    /// The next entry from the low end, or (`back`) from the high end.
    fn step(&mut self, back: bool) -> Option<&'a Entry> {
        match (self, back) {
            (LayerRange::Small(it), false) => it.next().map(|(_, e)| e),
            (LayerRange::Small(it), true) => it.next_back().map(|(_, e)| e),
            (LayerRange::Big(it), false) => it.next().map(|(_, e)| e),
            (LayerRange::Big(it), true) => it.next_back().map(|(_, e)| e),
        }
    }
}

/// The ordered set of a memtable's keys, each with its oldest record.
#[derive(Debug, Default)]
pub(super) struct KeyMap {
    root: Layer,
    len: usize,
}

impl KeyMap {
    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds the key of `rec` (the memtable adds only keys it does not hold;
    /// one it holds has its record replaced, and is charged and counted
    /// once). Returns the bytes to charge for it.
    pub(super) fn insert(&mut self, rec: Rec) -> usize {
        let key = rec.key();
        let mut charge = KEY_CHARGE;
        let mut layer = &mut self.root;
        let mut depth = 0;
        loop {
            let rest = key.get(depth * 8..).unwrap_or_default();
            let slice = Slice::of(rest);
            if slice.len != LONGER {
                if !layer.insert(slice, Entry::Key(rec)) {
                    return 0;
                }
                break;
            }
            let Some(entry) = layer.existing_or_insert(slice, || {
                if depth + 1 < MAX_DEPTH {
                    Entry::Key(rec)
                } else {
                    Entry::Whole(Box::new(BTreeSet::from([Whole(rec)])))
                }
            }) else {
                break;
            };
            if let Entry::Key(other) = *entry {
                if other.key() == key {
                    *entry = Entry::Key(rec);
                    return 0;
                }
                // A second key with this slice: both move to a new layer.
                let mut next = Layer::default();
                next.insert(
                    Slice::of(other.key().get((depth + 1) * 8..).unwrap_or_default()),
                    Entry::Key(other),
                );
                *entry = Entry::Layer(Box::new(next));
                charge += LAYER_CHARGE;
            }
            match entry {
                Entry::Layer(next) => {
                    layer = next;
                    depth += 1;
                }
                Entry::Whole(set) => {
                    if set.replace(Whole(rec)).is_some() {
                        return 0;
                    }
                    break;
                }
                Entry::Key(_) => unreachable!("a shared slice leads to a layer"),
            }
        }
        self.len += 1;
        charge
    }

    /// Takes `key` out; returns whether it was held. Layers it leaves
    /// empty stay until the memtable is dropped (a removal is rare: the
    /// undoing of a failed WAL write).
    pub(super) fn remove(&mut self, key: &[u8]) -> bool {
        let mut layer = &mut self.root;
        let mut depth = 0;
        let slice = loop {
            let slice = Slice::of(key.get(depth * 8..).unwrap_or_default());
            if !matches!(layer.get(&slice), Some(Entry::Layer(_))) {
                break slice;
            }
            match layer.get_mut(&slice) {
                Some(Entry::Layer(next)) => layer = next,
                _ => return false,
            }
            depth += 1;
        };
        let (removed, drop_entry) = match layer.get_mut(&slice) {
            Some(Entry::Whole(set)) => (set.remove(key), set.is_empty()),
            Some(Entry::Key(rec)) => {
                let same = rec.key() == key;
                (same, same)
            }
            _ => (false, false),
        };
        if drop_entry {
            layer.remove(&slice);
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Every key's record, in key order.
    pub(super) fn iter(&self) -> Iter<'_> {
        Iter {
            stack: vec![Frame::Layer(
                self.root.range(Bound::Unbounded, Bound::Unbounded),
            )],
            back: false,
        }
    }

    /// Every key's record, in descending key order.
    pub(super) fn iter_back(&self) -> Iter<'_> {
        Iter {
            stack: vec![Frame::Layer(
                self.root.range(Bound::Unbounded, Bound::Unbounded),
            )],
            back: true,
        }
    }

    /// The records of the keys at or after `from`, in key order.
    pub(super) fn range_from(&self, from: &[u8]) -> Iter<'_> {
        self.range_toward(from, false)
    }

    /// The records of the keys at or before `to`, in descending key order.
    pub(super) fn range_to(&self, to: &[u8]) -> Iter<'_> {
        self.range_toward(to, true)
    }

    /// The keys from `at` on in key order, or (`back`) from `at` down: the
    /// frames of the layers `at` passes through, each holding the slices
    /// on the walk's side of `at`'s, the deepest on top.
    fn range_toward(&self, at: &[u8], back: bool) -> Iter<'_> {
        let mut stack = Vec::new();
        let mut layer = &self.root;
        let mut depth = 0;
        // The slices of one layer on the walk's side of `slice`.
        fn side(layer: &Layer, slice: Slice, inclusive: bool, back: bool) -> LayerRange<'_> {
            let bound = if inclusive {
                Bound::Included(slice)
            } else {
                Bound::Excluded(slice)
            };
            if back {
                layer.range(Bound::Unbounded, bound)
            } else {
                layer.range(bound, Bound::Unbounded)
            }
        }
        let on_side = |key: &[u8]| if back { key <= at } else { key >= at };
        loop {
            let rest = at.get(depth * 8..).unwrap_or_default();
            let slice = Slice::of(rest);
            if slice.len != LONGER {
                stack.push(Frame::Layer(side(layer, slice, true, back)));
                break;
            }
            stack.push(Frame::Layer(side(layer, slice, false, back)));
            match layer.get(&slice) {
                None => break,
                Some(Entry::Key(rec)) => {
                    if on_side(rec.key()) {
                        stack.push(Frame::One(Some(*rec)));
                    }
                    break;
                }
                Some(Entry::Whole(set)) => {
                    let range = if back {
                        set.range::<[u8], _>((Bound::Unbounded, Bound::Included(at)))
                    } else {
                        set.range::<[u8], _>((Bound::Included(at), Bound::Unbounded))
                    };
                    stack.push(Frame::Whole(range));
                    break;
                }
                Some(Entry::Layer(next)) => {
                    layer = next;
                    depth += 1;
                }
            }
        }
        Iter { stack, back }
    }
}

enum Frame<'a> {
    Layer(LayerRange<'a>),
    Whole(btree_set::Range<'a, Whole>),
    One(Option<Rec>),
}

/// Records in key order, or (`back`) in descending key order.
pub(super) struct Iter<'a> {
    stack: Vec<Frame<'a>>,
    back: bool,
}

impl Iterator for Iter<'_> {
    type Item = Rec;

    fn next(&mut self) -> Option<Rec> {
        let back = self.back;
        loop {
            let next = match self.stack.last_mut()? {
                Frame::One(one) => one.take(),
                Frame::Whole(range) => if back {
                    range.next_back()
                } else {
                    range.next()
                }
                .map(|w| w.0),
                Frame::Layer(range) => match range.step(back) {
                    None => None,
                    Some(Entry::Key(rec)) => Some(*rec),
                    Some(Entry::Layer(next)) => {
                        let all = next.range(Bound::Unbounded, Bound::Unbounded);
                        self.stack.push(Frame::Layer(all));
                        continue;
                    }
                    Some(Entry::Whole(set)) => {
                        self.stack.push(Frame::Whole(set.range::<Whole, _>(..)));
                        continue;
                    }
                },
            };
            match next {
                Some(rec) => return Some(rec),
                None => {
                    self.stack.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::arena::Arena;
    use super::*;
    use crate::value::Kind;
    use proptest::prelude::*;

    /// Keys that end inside a slice, on its boundary and past it; share
    /// 8, 16 and 47 bytes; hold zero bytes where padding would be; and
    /// share more than the depth bound.
    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        let tail = proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xFF)], 0..20);
        (0usize..6, tail).prop_map(|(shape, tail)| {
            let head: Vec<u8> = match shape {
                0 => Vec::new(),
                1 => b"prefix00".to_vec(),
                2 => b"prefix00prefix01".to_vec(),
                3 => vec![7u8; 47],
                4 => vec![0u8; 8],
                _ => vec![3u8; MAX_DEPTH * 8 + 5],
            };
            [head, tail].concat()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn agrees_with_an_ordered_set(
            keys in proptest::collection::vec(key_strategy(), 1..200),
            removals in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
            bounds in proptest::collection::vec(key_strategy(), 1..10),
        ) {
            let mut arena = Arena::default();
            let mut map = KeyMap::default();
            let mut model = std::collections::BTreeSet::new();
            for (i, k) in keys.iter().enumerate() {
                let rec = arena.push(i as u64 + 1, Kind::Put, 0, k, b"v", None, None);
                let charge = map.insert(rec);
                prop_assert_eq!(charge > 0, model.insert(k.clone()), "{:?}", k);
            }
            for r in removals {
                let k = &keys[r.index(keys.len())];
                prop_assert_eq!(map.remove(k), model.remove(k));
            }
            prop_assert_eq!(map.len(), model.len());
            let walked: Vec<Vec<u8>> = map.iter().map(|r| r.key().to_vec()).collect();
            prop_assert_eq!(&walked, &model.iter().cloned().collect::<Vec<_>>());
            for b in bounds.iter().chain(keys.iter()) {
                let got: Vec<Vec<u8>> = map.range_from(b).map(|r| r.key().to_vec()).collect();
                let want: Vec<Vec<u8>> = model.range(b.clone()..).cloned().collect();
                prop_assert_eq!(got, want, "from {:?}", b);
                let got: Vec<Vec<u8>> = map.range_to(b).map(|r| r.key().to_vec()).collect();
                let want: Vec<Vec<u8>> = model.range(..=b.clone()).rev().cloned().collect();
                prop_assert_eq!(got, want, "down from {:?}", b);
            }
        }
    }

    /// Layers that grow past the vector's size into a B-tree, and many
    /// small ones (members numbered in sequence, as in a benchmark).
    #[test]
    fn small_and_big_layers_keep_key_order() {
        let mut arena = Arena::default();
        let mut map = KeyMap::default();
        let mut model = std::collections::BTreeSet::new();
        let head = [9u8; 27];
        for i in (0..3000u64).rev().step_by(7).chain(0..3000) {
            let key = [&head[..], format!("m:{i:012}").as_bytes()].concat();
            if model.insert(key.clone()) {
                map.insert(arena.push(i + 1, Kind::Put, 0, &key, b"", None, None));
            }
        }
        for i in (0..3000u64).step_by(3) {
            let key = [&head[..], format!("m:{i:012}").as_bytes()].concat();
            assert_eq!(map.remove(&key), model.remove(&key));
        }
        let walked: Vec<Vec<u8>> = map.iter().map(|r| r.key().to_vec()).collect();
        assert_eq!(walked, model.iter().cloned().collect::<Vec<_>>());
        for i in [0u64, 1, 10, 999, 1000, 1001, 2999, 3000] {
            let from = [&head[..], format!("m:{i:012}").as_bytes()].concat();
            let got: Vec<Vec<u8>> = map.range_from(&from).map(|r| r.key().to_vec()).collect();
            let want: Vec<Vec<u8>> = model.range(from.clone()..).cloned().collect();
            assert_eq!(got, want);
            let got: Vec<Vec<u8>> = map.range_to(&from).map(|r| r.key().to_vec()).collect();
            let want: Vec<Vec<u8>> = model.range(..=from.clone()).rev().cloned().collect();
            assert_eq!(got, want);
        }
    }

    /// The charges assume these sizes (a layer's box, a slot's slice and
    /// entry); a change of layout must revisit them.
    #[test]
    fn charges_match_the_layout() {
        use std::mem::size_of;
        assert_eq!(size_of::<Entry>(), 16);
        assert_eq!(size_of::<(Slice, Entry)>(), 32);
        assert_eq!(size_of::<Layer>(), 32);
        assert!(KEY_CHARGE >= size_of::<(Slice, Entry)>() * 3 / 2);
        assert!(LAYER_CHARGE >= size_of::<Layer>() + 4 * size_of::<(Slice, Entry)>());
    }

    #[test]
    fn slices_order_as_their_keys() {
        let keys: [&[u8]; 10] = [
            b"",
            b"\0",
            b"a",
            b"a\0",
            b"a\0\x01",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefgi",
            b"abcdefgi\0\0\0\0\0\0\0\0\0",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ];
        for a in keys {
            for b in keys {
                let (x, y) = (Slice::of(a), Slice::of(b));
                if x != y {
                    assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} vs {b:?}");
                }
            }
        }
    }
}
