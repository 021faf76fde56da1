//! What a memtable is charged (and so when it rotates) tracks the memory it
//! holds, also for keys made to share long prefixes in pairs, each pair
//! costing the key map a layer per 8 shared bytes. Measured with a counting
//! allocator, so this test has its own binary.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{open, small_options};
use ringkv_engine::{CompactionStrategy, Value, WriteBatch};

struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn memtable_charge_tracks_memory_for_keys_sharing_long_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.memtable_size_bytes = 256 << 20; // no rotation during the test
    let e = open(dir.path(), &opts);
    let before_charge = e.stats().memtable_bytes as isize;
    let before = HELD.load(Ordering::Relaxed);
    for i in 0..4_000u32 {
        // Two keys sharing 240 bytes: 30 layers of the key map.
        let base = format!("{i:08}").repeat(30);
        let mut b = WriteBatch::new();
        b.put(format!("{base}a").into_bytes(), Value::new("1"));
        b.put(format!("{base}b").into_bytes(), Value::new("1"));
        e.write(b).unwrap();
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    let charged = e.stats().memtable_bytes as isize - before_charge;
    assert!(
        charged * 10 >= held * 8,
        "memtable charged {charged} bytes for {held} allocated"
    );
}
