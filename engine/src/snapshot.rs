//! Snapshots: a pinned sequence number. Reads at a snapshot see exactly the
//! writes with sequence <= it; compaction keeps every version some live
//! snapshot can see. Released when the `Snapshot` is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Live snapshot sequence numbers with reference counts.
#[derive(Default, Debug)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<u64, usize>>,
}

impl SnapshotList {
    /// Registers a snapshot at `seq`.
    pub(crate) fn acquire(&self, seq: u64) {
        *self.live.lock().entry(seq).or_insert(0) += 1;
    }

    fn release(&self, seq: u64) {
        let mut l = self.live.lock();
        if let Some(n) = l.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                l.remove(&seq);
            }
        }
    }

    /// Every live snapshot sequence, ascending.
    pub(crate) fn list(&self) -> Vec<u64> {
        self.live.lock().keys().copied().collect()
    }
}

/// A consistent read point. Cheap to hold; compaction keeps the versions it
/// needs until it is dropped.
pub struct Snapshot {
    seq: u64,
    list: Arc<SnapshotList>,
}

impl Snapshot {
    pub(crate) fn new(seq: u64, list: Arc<SnapshotList>) -> Self {
        list.acquire(seq);
        Snapshot { seq, list }
    }

    /// The pinned sequence number: reads see writes with sequence <= this.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.list.release(self.seq);
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.seq).finish()
    }
}
