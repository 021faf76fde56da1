//! The cursors of HSCAN, SSCAN and ZSCAN over large collections.
//!
//! A collection's members are ordered by member, so a page resumes after
//! the last member the previous page returned, and a walk returns every
//! member present from its start to its end exactly once, whatever is
//! added or removed meanwhile. Redis's cursors are integers, so this node
//! keeps the last member of each page it handed out under a random cursor
//! number: at most [`CAPACITY`] cursors and [`MAX_BYTES`] of keys and
//! members, the oldest forgotten first. A cursor this node does not know
//! (forgotten, given by another node, or made up) gets every member in
//! one page and ends the walk (`command::collections::scan_collection`).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;

/// Cursors remembered at most.
pub const CAPACITY: usize = 16_384;
/// Bytes of keys and members remembered at most.
pub const MAX_BYTES: usize = 16 << 20;

struct Saved {
    db: u32,
    key: Bytes,
    after: Bytes,
}

#[derive(Default)]
struct Cursors {
    by_id: HashMap<u64, Saved>,
    order: VecDeque<u64>,
    bytes: usize,
}

/// The cursors handed out by this node.
#[derive(Default)]
pub struct ScanCursors {
    inner: Mutex<Cursors>,
}

impl ScanCursors {
    /// A new cursor for a page of `key` in database `db` that ended at
    /// member `after`.
    pub fn save(&self, db: u32, key: &[u8], after: Bytes) -> u64 {
        let mut c = self.inner.lock();
        let id = loop {
            // Never 0 (the end of a walk) and never one in use.
            let id = rand::random::<u64>();
            if id != 0 && !c.by_id.contains_key(&id) {
                break id;
            }
        };
        c.bytes += key.len() + after.len();
        c.by_id.insert(
            id,
            Saved {
                db,
                key: Bytes::copy_from_slice(key),
                after,
            },
        );
        c.order.push_back(id);
        while c.order.len() > CAPACITY || (c.bytes > MAX_BYTES && c.order.len() > 1) {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(s) = c.by_id.remove(&old) {
                c.bytes -= s.key.len() + s.after.len();
            }
        }
        id
    }

    /// The member after which cursor `id` resumes a walk of `key` in
    /// database `db`; `None` if this node does not know it for that key.
    /// A cursor can be used again (a client retrying a page).
    pub fn resume(&self, db: u32, key: &[u8], id: u64) -> Option<Bytes> {
        let c = self.inner.lock();
        c.by_id
            .get(&id)
            .filter(|s| s.db == db && s.key.as_ref() == key)
            .map(|s| s.after.clone())
    }

    /// How many cursors are remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().by_id.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_resumes_only_its_own_key() {
        let cursors = ScanCursors::default();
        let id = cursors.save(0, b"k", Bytes::from_static(b"m5"));
        assert_ne!(id, 0);
        assert_eq!(cursors.resume(0, b"k", id), Some(Bytes::from_static(b"m5")));
        assert_eq!(cursors.resume(0, b"k", id), Some(Bytes::from_static(b"m5")));
        assert_eq!(cursors.resume(1, b"k", id), None);
        assert_eq!(cursors.resume(0, b"other", id), None);
        assert_eq!(cursors.resume(0, b"k", id.wrapping_add(1)), None);
    }

    #[test]
    fn the_oldest_cursors_are_forgotten() {
        let cursors = ScanCursors::default();
        let first = cursors.save(0, b"k", Bytes::from_static(b"a"));
        for _ in 0..CAPACITY {
            cursors.save(0, b"k", Bytes::from_static(b"b"));
        }
        assert_eq!(cursors.len(), CAPACITY);
        assert_eq!(cursors.resume(0, b"k", first), None);
        let big = Bytes::from(vec![b'x'; MAX_BYTES / 2 + 1]);
        let a = cursors.save(0, b"k", big.clone());
        let b = cursors.save(0, b"k", big);
        assert_eq!(cursors.resume(0, b"k", a), None, "over the byte budget");
        assert!(cursors.resume(0, b"k", b).is_some());
    }
}
