//! The memtable's arena: every version is one record copied into large
//! chunks of memory, `header | key | value`, and the ordered map and the
//! newest-version index hold only a pointer to it.
//!
//! Why: a version used to be two `Bytes` handles and a sequence in a
//! B-tree node (96 bytes) plus a copy of both handles in a hash index (88
//! bytes), about 340 bytes of memory beyond its key and value once node
//! fill and table growth were counted. A memtable charged for less than it
//! held, and one holding 116-byte versions flushed about half of what
//! RocksDB's flushes at the same budget, which made leveled compaction
//! write more (`docs/performance.md`). A record's own overhead is its
//! 40-byte header (48 when its value is long enough to be shared, see
//! [`COPY_OUT_MAX`]); the map holds 16 bytes and the index 8 per key, and
//! each record points at the key's next older and next newer records in
//! the memtable.
//!
//! Safety. Chunks are raw allocations that live as long as the arena (the
//! memtable). A record is written once, by the memtable's single writer,
//! before any map or index entry points at it; readers reach a record only
//! through those entries, taken under the lock the writer published them
//! with, so they see it whole. No `&mut` to a chunk is ever formed: the
//! writer copies into the unwritten tail with raw pointer writes, and
//! readers borrow only bytes already written, which never change again.
//! The one exception is a record's `next` field (its key's next newer
//! version), set when that version is written or taken out again: it is
//! only ever read and written as an atomic, and no reference to it exists.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::value::{InternalValue, Kind};

/// Size of one arena chunk.
pub(super) const CHUNK_SIZE: usize = 1 << 20;

/// A record larger than this gets a chunk of its own, so one large value
/// neither leaves most of a chunk unused nor starts a new one early.
const OWN_CHUNK_ABOVE: usize = CHUNK_SIZE / 8;

/// Values up to this many bytes are copied out to a reader; larger ones
/// are handed out as a `Bytes` sharing the chunk (no copy).
const COPY_OUT_MAX: usize = 256;

/// Record alignment (the header holds `u64`s).
const ALIGN: usize = 8;

/// `seq << 8 | kind: u64 | time_ms:u64 | key_len:u32 | value_len:u32 |
/// prev:*const u8 | next:*const u8`, native byte order: the arena is
/// memory, never written to disk. `prev` is the record of the same key's
/// next older version in this arena (null for the oldest), `next` of its
/// next newer one (null for the newest). Sequence numbers fit in 56 bits
/// (an SSTable's internal key stores them so). A record whose value is
/// longer than [`COPY_OUT_MAX`] has the chunk's address (`*const Chunk`)
/// after the header, for the `Bytes` that share its value; the key and the
/// value follow.
///
/// Why the chunk's address only there: it was in every header, 8 bytes
/// that records with short values (most, and all of a collection's
/// members) never use, as the kind byte's word was; a memtable of such
/// versions held 14% more bytes than it needed, and flushed that much
/// less per memtable.
pub(super) const HEADER: usize = 40;

const SEQ_KIND_AT: usize = 0;
const TIME_AT: usize = 8;
const KEY_LEN_AT: usize = 16;
const VALUE_LEN_AT: usize = 20;
const PREV_AT: usize = 24;
const NEXT_AT: usize = 32;

/// Where the key starts in a record with a value of `value_len` bytes:
/// after the header, and the chunk's address when the value is shared.
const fn key_at(value_len: usize) -> usize {
    if value_len > COPY_OUT_MAX {
        HEADER + 8
    } else {
        HEADER
    }
}

/// One block of arena memory.
pub(super) struct Chunk {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a chunk is plain memory owned by one arena. Its bytes are
// written only by the arena's single writer, before anything that lets
// another thread reach them is published, and never changed afterwards.
unsafe impl Send for Chunk {}
// SAFETY: as for `Send`; shared access only reads bytes already written.
unsafe impl Sync for Chunk {}

impl Chunk {
    fn new(size: usize) -> Arc<Chunk> {
        let layout = Layout::from_size_align(size.max(ALIGN), ALIGN)
            .unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()));
        if layout.size() == CHUNK_SIZE {
            if let Some(ptr) = chunk_pool::take() {
                return Arc::new(Chunk { ptr, layout });
            }
        }
        // SAFETY: the layout's size is non-zero.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        Arc::new(Chunk { ptr, layout })
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.layout.size() == CHUNK_SIZE && chunk_pool::keep(self.ptr) {
            return;
        }
        // SAFETY: allocated in `Chunk::new` with this layout, freed once
        // (a chunk kept in the pool is not freed here).
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Standard-size chunks of dropped memtables, kept for the next ones.
///
/// A fresh chunk is fresh memory: the first write to each of its pages
/// faults, and the kernel zeroes the page (a whole 2 MB one where
/// transparent huge pages are on). Under SET -P16 that zeroing alone was 4%
/// of the server's CPU, every memtable paying it again for the memory the
/// last flushed one had just given back. The pool keeps up to one
/// memtable's worth of chunks (the largest `memtable_size_bytes` of the
/// engines opened in the process), so a steady write load reuses the
/// same pages; what the pool holds stays within the memory the memtables
/// are budgeted anyway (the active one fills from it).
pub(crate) mod chunk_pool {
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use parking_lot::Mutex;

    use super::CHUNK_SIZE;

    /// A chunk no memtable uses, allocated with the standard chunk layout
    /// and owned by the pool.
    struct FreeChunk(NonNull<u8>);

    // SAFETY: plain memory nobody else references; whoever takes it from
    // the pool owns it.
    unsafe impl Send for FreeChunk {}

    static FREE: Mutex<Vec<FreeChunk>> = Mutex::new(Vec::new());
    /// Most chunks the pool keeps.
    static LIMIT: AtomicUsize = AtomicUsize::new(0);

    /// Lets the pool keep up to `memtable_bytes` of chunks (the largest
    /// asked for in this process wins).
    pub(crate) fn allow(memtable_bytes: usize) {
        LIMIT.fetch_max(memtable_bytes / CHUNK_SIZE, Ordering::Relaxed);
    }

    pub(super) fn take() -> Option<NonNull<u8>> {
        FREE.lock().pop().map(|c| c.0)
    }

    /// Keeps `ptr` (a standard chunk no longer used) if the pool has room.
    pub(super) fn keep(ptr: NonNull<u8>) -> bool {
        let mut free = FREE.lock();
        if free.len() >= LIMIT.load(Ordering::Relaxed) {
            return false;
        }
        free.push(FreeChunk(ptr));
        true
    }
}

/// A record in an arena. Valid while the arena that wrote it is alive:
/// the memtable keeps its arena as long as any map or index entry (the
/// only holders of records) exists, and hands out owned copies or
/// `Bytes` that keep the chunk alive.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rec(NonNull<u8>);

// SAFETY: a record is immutable once written (see the module comment).
unsafe impl Send for Rec {}
// SAFETY: as for `Send`.
unsafe impl Sync for Rec {}

impl Rec {
    /// A record at `at` that is never read: for tests of tables that hold
    /// records without reading them.
    #[cfg(test)]
    pub(super) fn fake(at: NonNull<u8>) -> Rec {
        Rec(at)
    }

    /// The address a [`Rec::fake`] was made with.
    #[cfg(test)]
    pub(super) fn fake_address(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Asks the CPU to bring the record's first two cache lines (its
    /// header, key and a short value) into its caches, without waiting
    /// for them: a read of the record soon after finds them there.
    pub(super) fn prefetch(self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let at = self.0.as_ptr().cast::<i8>().cast_const();
            // SAFETY: a prefetch is a hint that reads nothing and cannot
            // fault; both addresses lie within or just past the record.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(at);
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64));
            }
        }
    }

    fn read_u64(self, at: usize) -> u64 {
        // SAFETY: `at + 8 <= HEADER`, or `at == HEADER` in a record with a
        // long value (the chunk's address follows its header); the header
        // was written whole before the record was published, and records
        // are 8-aligned.
        unsafe { self.0.as_ptr().add(at).cast::<u64>().read() }
    }

    fn read_u32(self, at: usize) -> u32 {
        // SAFETY: as in `read_u64`, with 4-byte alignment.
        unsafe { self.0.as_ptr().add(at).cast::<u32>().read() }
    }

    pub(super) fn seq(self) -> u64 {
        self.read_u64(SEQ_KIND_AT) >> 8
    }

    pub(super) fn time_ms(self) -> u64 {
        self.read_u64(TIME_AT)
    }

    pub(super) fn kind(self) -> Kind {
        match self.read_u64(SEQ_KIND_AT) & 0xff {
            0 => Kind::Put,
            _ => Kind::Delete,
        }
    }

    /// The same key's next older version in this arena, if any.
    pub(super) fn prev(self) -> Option<Rec> {
        let at = self.read_u64(PREV_AT) as usize as *mut u8;
        // A record of the same arena, written before this one (see `push`),
        // so alive and immutable as long as this one.
        NonNull::new(at).map(Rec)
    }

    /// The `next` field, as the atomic it only ever is accessed as.
    fn next_field(self) -> &'static AtomicU64 {
        // SAFETY: 8-aligned, inside the header, and accessed only through
        // this atomic once the record is published (see the module
        // comment); the arena outlives every use of it (see `Rec`).
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().add(NEXT_AT).cast::<u64>()) }
    }

    /// The same key's next newer version in this arena, if any. Read
    /// under the map's lock, which its writer holds to set it.
    pub(super) fn next(self) -> Option<Rec> {
        let at = self.next_field().load(Ordering::Acquire) as usize as *mut u8;
        NonNull::new(at).map(Rec)
    }

    /// Links `newer` as the next newer version (or unlinks it: `None`).
    /// Called only by the memtable's writer.
    pub(super) fn set_next(self, newer: Option<Rec>) {
        let at = newer.map_or(0, |r| r.0.as_ptr() as usize as u64);
        self.next_field().store(at, Ordering::Release);
    }

    fn key_len(self) -> usize {
        self.read_u32(KEY_LEN_AT) as usize
    }

    fn value_len(self) -> usize {
        self.read_u32(VALUE_LEN_AT) as usize
    }

    /// The record's user key, borrowed for as long as the caller holds
    /// what keeps the arena alive (`'a` is chosen by the memtable, which
    /// ties it to a borrow of itself or of its map).
    pub(super) fn key<'a>(self) -> &'a [u8] {
        // SAFETY: the key was written after the header before publication
        // and never changes; the arena outlives the borrow (see `Rec`).
        unsafe {
            std::slice::from_raw_parts(
                self.0.as_ptr().add(key_at(self.value_len())),
                self.key_len(),
            )
        }
    }

    fn value_ptr(self) -> *const u8 {
        // SAFETY: within the record.
        unsafe {
            self.0
                .as_ptr()
                .add(key_at(self.value_len()) + self.key_len())
        }
    }

    /// The value as owned bytes: copied when small, else a `Bytes` that
    /// shares (and keeps alive) the chunk.
    pub(super) fn value_bytes(self) -> Bytes {
        let len = self.value_len();
        // SAFETY: the value was written before publication and never
        // changes; the arena is alive during this call (see `Rec`).
        let value = unsafe { std::slice::from_raw_parts(self.value_ptr(), len) };
        if len <= COPY_OUT_MAX {
            return Bytes::copy_from_slice(value);
        }
        // Written after the header of every record with a value this long.
        let chunk = self.read_u64(HEADER) as usize as *const Chunk;
        // SAFETY: `chunk` is `Arc::as_ptr` of the chunk holding this
        // record, and the arena holds that `Arc` while the record is
        // reachable, so taking one more strong count is sound.
        let chunk = unsafe {
            Arc::increment_strong_count(chunk);
            Arc::from_raw(chunk)
        };
        Bytes::from_owner(ChunkSlice {
            _chunk: chunk,
            ptr: value.as_ptr(),
            len,
        })
    }

    /// The version as iterators and reads carry it.
    pub(super) fn internal_value(self) -> InternalValue {
        let kind = self.kind();
        InternalValue {
            kind,
            data: match kind {
                Kind::Put => self.value_bytes(),
                Kind::Delete => Bytes::new(),
            },
            time_ms: self.time_ms(),
        }
    }
}

/// Written bytes of a chunk, owned by a `Bytes`: keeps the chunk alive.
struct ChunkSlice {
    _chunk: Arc<Chunk>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the slice is immutable memory kept alive by `_chunk`.
unsafe impl Send for ChunkSlice {}
// SAFETY: as for `Send`.
unsafe impl Sync for ChunkSlice {}

impl AsRef<[u8]> for ChunkSlice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` lies in written bytes of `_chunk`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Bytes a record of this key and value takes in the arena.
pub(super) fn record_size(key_len: usize, value_len: usize) -> usize {
    (key_at(value_len) + key_len + value_len).next_multiple_of(ALIGN)
}

/// A record of a long value whose key and value were copied into a chunk
/// of its own before the engine's write lock was taken ([`prepare`]);
/// [`Arena::push`] writes its header.
///
/// Why: a copy of a long value is fresh memory the kernel faults in and
/// zeroes page by page, about half a second for 256 MB here. Made under
/// the write lock, it held up every other write for that long.
pub(crate) struct Prepared {
    chunk: Arc<Chunk>,
    key_len: usize,
    value_len: usize,
}

/// Copies `key` and `value` into a chunk of their own when their record
/// gets one anyway (it is longer than [`OWN_CHUNK_ABOVE`]); `None` for a
/// shorter record, which `push` copies into a shared chunk.
pub(crate) fn prepare(key: &[u8], value: &[u8]) -> Option<Prepared> {
    let size = record_size(key.len(), value.len());
    if size <= OWN_CHUNK_ABOVE {
        return None;
    }
    let chunk = Chunk::new(size);
    let key_start = key_at(value.len());
    // SAFETY: the chunk is `size` bytes, the record's whole length, and
    // nothing else knows of it yet.
    unsafe {
        let at = chunk.ptr.as_ptr();
        std::ptr::copy_nonoverlapping(key.as_ptr(), at.add(key_start), key.len());
        std::ptr::copy_nonoverlapping(value.as_ptr(), at.add(key_start + key.len()), value.len());
    }
    Some(Prepared {
        chunk,
        key_len: key.len(),
        value_len: value.len(),
    })
}

/// The chunks records are written into.
#[derive(Default)]
pub(super) struct Arena {
    chunks: Vec<Arc<Chunk>>,
    /// Bytes used of the last chunk of size `CHUNK_SIZE`.
    used: usize,
    /// Index in `chunks` of that chunk (`None` before the first).
    current: Option<usize>,
}

impl Arena {
    /// Copies one version into the arena and returns its record; `prev`
    /// is the record of the key's next older version, which must be one
    /// of this arena's. `prepared`, if given, holds this key and value
    /// already ([`prepare`]): only the header is written. Called only by
    /// the memtable's writer (under its write lock).
    #[allow(clippy::too_many_arguments, reason = "one record's fields")]
    pub(super) fn push(
        &mut self,
        seq: u64,
        kind: Kind,
        time_ms: u64,
        key: &[u8],
        value: &[u8],
        prev: Option<Rec>,
        prepared: Option<Prepared>,
    ) -> Rec {
        debug_assert!(seq < 1 << 56, "sequence numbers fit in 56 bits");
        let size = record_size(key.len(), value.len());
        let copy = prepared.is_none();
        let (chunk, offset) = match prepared {
            Some(p) => {
                debug_assert_eq!((p.key_len, p.value_len), (key.len(), value.len()));
                self.chunks.push(p.chunk);
                (&self.chunks[self.chunks.len() - 1], 0)
            }
            None => self.reserve(size),
        };
        // SAFETY: `offset + size` bytes fit in the chunk (`reserve`), no
        // other record uses them, and nothing has published them yet.
        let kind_byte = match kind {
            Kind::Put => 0,
            Kind::Delete => 1,
        };
        let key_start = key_at(value.len());
        unsafe {
            let at = chunk.ptr.as_ptr().add(offset);
            at.add(SEQ_KIND_AT)
                .cast::<u64>()
                .write(seq << 8 | kind_byte);
            at.add(TIME_AT).cast::<u64>().write(time_ms);
            at.add(KEY_LEN_AT).cast::<u32>().write(len_u32(key.len()));
            at.add(VALUE_LEN_AT)
                .cast::<u32>()
                .write(len_u32(value.len()));
            at.add(PREV_AT)
                .cast::<u64>()
                .write(prev.map_or(0, |r| r.0.as_ptr() as usize as u64));
            at.add(NEXT_AT).cast::<u64>().write(0);
            if key_start > HEADER {
                at.add(HEADER)
                    .cast::<u64>()
                    .write(Arc::as_ptr(chunk) as usize as u64);
            }
            if copy {
                std::ptr::copy_nonoverlapping(key.as_ptr(), at.add(key_start), key.len());
                std::ptr::copy_nonoverlapping(
                    value.as_ptr(),
                    at.add(key_start + key.len()),
                    value.len(),
                );
            }
            Rec(NonNull::new_unchecked(at))
        }
    }

    /// A chunk and an offset with `size` free bytes.
    fn reserve(&mut self, size: usize) -> (&Arc<Chunk>, usize) {
        if size > OWN_CHUNK_ABOVE {
            self.chunks.push(Chunk::new(size));
            return (&self.chunks[self.chunks.len() - 1], 0);
        }
        let i = match self.current {
            Some(i) if CHUNK_SIZE - self.used >= size => i,
            _ => {
                self.chunks.push(Chunk::new(CHUNK_SIZE));
                self.used = 0;
                *self.current.insert(self.chunks.len() - 1)
            }
        };
        let at = self.used;
        self.used += size;
        (&self.chunks[i], at)
    }
}

/// A key or value length as the header stores it. Keys and values are
/// bounded by the protocol's bulk limit (at most 512 MB by default, and a
/// `u32` can hold 4 GB), so this never saturates in practice.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_across_chunks_and_own_chunks() {
        let mut arena = Arena::default();
        let mut recs: Vec<(Rec, Vec<u8>, Vec<u8>, Kind)> = Vec::new();
        for i in 0..5_000u64 {
            let key = format!("key{i}").into_bytes();
            let n = match i % 50 {
                0 => OWN_CHUNK_ABOVE + 1,
                1 => COPY_OUT_MAX + 1,
                _ => (i % 300) as usize,
            };
            let value = vec![(i % 251) as u8; n];
            let kind = if i % 7 == 0 { Kind::Delete } else { Kind::Put };
            // Every other long record is prepared outside the arena.
            let prepared = (i % 100 == 0).then(|| prepare(&key, &value)).flatten();
            assert_eq!(prepared.is_some(), i % 100 == 0);
            recs.push((
                arena.push(
                    i + 1,
                    kind,
                    i * 3,
                    &key,
                    &value,
                    recs.last().map(|r| r.0),
                    prepared,
                ),
                key,
                value,
                kind,
            ));
        }
        for (i, (rec, key, value, kind)) in recs.iter().enumerate() {
            assert_eq!(rec.seq(), i as u64 + 1);
            assert_eq!(rec.time_ms(), i as u64 * 3);
            assert_eq!(rec.key(), &key[..]);
            assert_eq!(rec.kind(), *kind);
            assert_eq!(&rec.value_bytes()[..], &value[..]);
            let prev = rec.prev().map(|p| p.seq());
            assert_eq!(prev, i.checked_sub(1).map(|p| p as u64 + 1));
            assert!(rec.next().is_none());
        }
        // Only a value long enough to be shared carries the chunk's address.
        assert_eq!(
            record_size(10, COPY_OUT_MAX),
            (HEADER + 10 + COPY_OUT_MAX).next_multiple_of(ALIGN)
        );
        assert_eq!(
            record_size(10, COPY_OUT_MAX + 1),
            (HEADER + 8 + 10 + COPY_OUT_MAX + 1).next_multiple_of(ALIGN)
        );
        recs[0].0.set_next(Some(recs[1].0));
        assert_eq!(recs[0].0.next().map(|r| r.seq()), Some(2));
        recs[0].0.set_next(None);
        assert!(recs[0].0.next().is_none());
        // A value handed out without a copy outlives the arena.
        let shared = recs[1].0.value_bytes();
        drop(recs);
        drop(arena);
        assert_eq!(&shared[..], &vec![1u8; COPY_OUT_MAX + 1][..]);
    }
}
