//! Entry points for fuzzing the decoders of on-disk bytes, which a damaged
//! disk or a crafted file can make arbitrary: SSTable blocks, footers,
//! properties and whole tables; WAL records, batches and replay; version
//! edits and manifest recovery. Not part of the engine's API.
//!
//! Each target takes any bytes and returns a [`Tally`] of how many decoder
//! calls accepted or rejected them. Rejection is fine; a panic is a bug,
//! either in a decoder or in a property the target asserts (a decoded value
//! re-encodes to one that decodes the same; a damaged file is reported as
//! damage, not as an I/O error; replay and recovery are repeatable). The
//! cargo-fuzz targets in `fuzz/` call these functions, and the smoke tests
//! (`engine/tests/fuzz_smoke.rs`, `cluster/tests/fuzz_smoke.rs`) run them
//! through [`smoke`] on every `cargo test`.
//!
//! The first input byte selects a mode (see each target); the rest is what
//! the decoders read. Files are written to a fresh directory under
//! `std::env::temp_dir()` (set `TMPDIR` to a tmpfs for speed) and removed.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use crate::options::CompactionStrategy;
use bytes::Bytes;

use crate::batch::{WriteBatch, decode_batch, encode_batch};
use crate::cache::TableCache;
use crate::error::Error;
use crate::format::{CURRENT_FILE, MANIFEST_PREFIX, MANIFEST_RECORD_EDIT, WAL_RECORD_BATCH};
use crate::iter::InternalIter;
use crate::manifest::{self, ManifestWriter, VersionEdit};
use crate::sstable::block::{
    Block, BlockBuilder, BlockIter, TRAILER_LEN, cmp_ikey, decode_value, split_internal_key,
};
use crate::sstable::builder::TableBuilder;
use crate::sstable::footer::{Footer, Handle};
use crate::sstable::index::{decode_handle, encode_handle};
use crate::sstable::reader::TableReader;
use crate::sstable::{Properties, bloom, sst_path};
use crate::value::{InternalValue, Kind, Value};
use crate::version::Version;
use crate::wal::{self, record};

/// Most entries a target walks in one block or table.
const MAX_STEPS: usize = 4096;

/// How many decoder calls accepted and rejected a target's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls that decoded something.
    pub accepted: u64,
    /// Calls that refused the input with an error.
    pub rejected: u64,
}

impl Tally {
    /// Counts one decoder call.
    pub fn note<T, E>(&mut self, r: &Result<T, E>) {
        match r {
            Ok(_) => self.accepted += 1,
            Err(_) => self.rejected += 1,
        }
    }

    /// Adds another tally.
    pub fn add(&mut self, other: Tally) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
    }
}

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Option<Scratch> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, AtomicOrdering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ringkv-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        Some(Scratch(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that an error reading arbitrary bytes from a readable file
/// reports damage (corruption, a checksum, an unknown version), never an
/// I/O failure: that would mean a decoder let an out-of-range offset or
/// length through to a read.
fn assert_damage(e: &Error) {
    match e {
        Error::UnreadableManifest { cause, .. } => assert_damage(cause),
        Error::Corruption { .. }
        | Error::ChecksumMismatch { .. }
        | Error::UnsupportedVersion { .. } => {}
        other => panic!("damaged bytes reported as something else: {other:?}"),
    }
}

/// Splits `input` as `(len:u16le chunk[len])*`; a last chunk cut short by
/// the end of the input is returned as the tail.
fn chunks(input: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some((len, body)) = rest.split_first_chunk::<2>() {
        let Some((chunk, tail)) = body.split_at_checked(usize::from(u16::from_le_bytes(*len)))
        else {
            break;
        };
        out.push(chunk);
        rest = tail;
    }
    (out, rest)
}

/// `header`, each chunk of `input` framed as a log record of type `rtype`
/// (checksums made valid), then the tail as it is (a torn record).
fn frame_log<'a>(header: &[u8], input: &'a [u8], rtype: u8) -> (Vec<u8>, Vec<&'a [u8]>) {
    let (payloads, tail) = chunks(input);
    let mut out = header.to_vec();
    for p in &payloads {
        record::append_record(&mut out, rtype, p);
    }
    out.extend_from_slice(tail);
    (out, payloads)
}

/// The inverse of [`frame_log`]'s chunking: `(len:u16le chunk)*`.
fn unchunk<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let n = u16::try_from(p.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(p.get(..usize::from(n)).unwrap_or(p));
    }
    out
}

// ---------------------------------------------------------------- SSTable

/// SSTable decoding. The input after the mode byte is decoded as one block
/// (entries, values, index handles, seeks), as properties, as an index
/// handle, its last 64 bytes as a footer, and as a bloom filter. Then a
/// table is opened from a file and read whole, then by seeks and point
/// lookups: with mode bit 0 set the input is that file as it is; clear,
/// it is `n:u8 len:u16le*(n%5+2) bytes` — `n%5` data blocks, the filter,
/// the properties and (the rest) the index block — which the target lays
/// out as a table with valid checksums and footer, so the fuzzer reaches
/// the reader's block decoding without forging CRCs. Each section is also
/// decoded alone.
pub fn sstable_block(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let Some((&mode, rest)) = data.split_first() else {
        return t;
    };
    block_decoders(&mut t, rest);
    if mode & 1 == 1 {
        open_table(&mut t, rest);
    } else {
        let sections = table_sections(rest);
        for s in &sections {
            walk_block(&mut t, s);
        }
        open_table(&mut t, &lay_out_table(&sections));
    }
    t
}

/// Every decoder that reads a block-sized buffer, on `b`.
fn block_decoders(t: &mut Tally, b: &[u8]) {
    walk_block(t, b);
    let props = Properties::decode(b);
    t.note(&props);
    if let Ok(p) = props {
        let mut again = Vec::new();
        p.encode(&mut again);
        assert_eq!(
            Properties::decode(&again).as_ref(),
            Ok(&p),
            "properties change when re-encoded"
        );
    }
    let handle = decode_handle(b);
    t.note(&handle);
    if let Ok(h) = handle {
        let mut again = Vec::new();
        encode_handle(&mut again, h);
        assert_eq!(
            decode_handle(&again),
            Ok(h),
            "a block handle changes when re-encoded"
        );
    }
    let tail = b.get(b.len().saturating_sub(crate::format::SST_FOOTER_LEN)..);
    let footer = Footer::decode(tail.unwrap_or_default(), b.len() as u64);
    t.note(&footer);
    if let Ok(f) = footer {
        let limit = (b.len() - crate::format::SST_FOOTER_LEN) as u64;
        for h in [f.index, f.filter, f.props] {
            assert!(
                h.offset + h.len + 4 <= limit,
                "footer handle {h:?} past {limit}"
            );
        }
        assert_eq!(
            Some(&f.encode()[..]),
            tail,
            "a footer changes when re-encoded"
        );
    }
    let _ = bloom::may_contain(b, bloom::key_hash(b));
}

/// Decodes `b` as a block and walks it: every entry, its value and index
/// handle, then seeks to some of its keys and to keys it does not hold.
fn walk_block(t: &mut Tally, b: &[u8]) {
    let block = Block::decode(Bytes::copy_from_slice(b));
    t.note(&block);
    let Ok(block) = block else {
        return;
    };
    let mut it = BlockIter::new(block.clone());
    it.seek_first();
    let mut targets: Vec<Vec<u8>> = Vec::new();
    for _ in 0..MAX_STEPS {
        if !it.valid() {
            break;
        }
        let (_, _, kind) =
            split_internal_key(it.key()).expect("a valid entry's key holds a trailer");
        t.note(&decode_value(it.block_bytes(), it.value(), kind));
        t.note(&decode_handle(it.value()));
        if targets.len() < 4 {
            targets.push(it.key().to_vec());
        }
        it.next();
    }
    targets.push(vec![0; TRAILER_LEN]);
    targets.push(vec![0xff; TRAILER_LEN + 3]);
    let mut probe = b.get(..b.len().min(16)).unwrap_or_default().to_vec();
    probe.extend_from_slice(&[0x01, 0, 0, 0, 0, 0, 0, 0x80]);
    targets.push(probe);
    for target in &targets {
        let mut it = BlockIter::new(block.clone());
        it.seek(target);
        if it.valid() {
            assert_ne!(
                cmp_ikey(it.key(), target),
                Ordering::Less,
                "a seek stopped before its target"
            );
        }
    }
}

/// Splits `input` as `n:u8 len:u16le*(n%5+2) bytes` into `n%5` data blocks,
/// the filter, the properties and the index (the rest). Lengths past the
/// end are cut to what is there.
fn table_sections(input: &[u8]) -> Vec<&[u8]> {
    let Some((&n, mut rest)) = input.split_first() else {
        return vec![&[][..]; 3];
    };
    let count = usize::from(n % 5) + 2;
    let mut lens = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, tail) = match rest.split_first_chunk::<2>() {
            Some((len, tail)) => (usize::from(u16::from_le_bytes(*len)), tail),
            None => (0, rest),
        };
        lens.push(len);
        rest = tail;
    }
    let mut out = Vec::with_capacity(count + 1);
    for len in lens {
        let (section, tail) = rest.split_at(len.min(rest.len()));
        out.push(section);
        rest = tail;
    }
    out.push(rest);
    out
}

/// Writes `sections` (data blocks..., filter, properties, index) as a table:
/// each block followed by its crc32c, then a valid footer.
fn lay_out_table(sections: &[&[u8]]) -> Vec<u8> {
    let mut file = Vec::new();
    let mut handles = Vec::with_capacity(sections.len());
    for s in sections {
        handles.push(Handle {
            offset: file.len() as u64,
            len: s.len() as u64,
        });
        file.extend_from_slice(s);
        file.extend_from_slice(&crc32c::crc32c(s).to_le_bytes());
    }
    let at = |from_end: usize| {
        handles
            .len()
            .checked_sub(from_end)
            .and_then(|i| handles.get(i))
            .copied()
            .unwrap_or_default()
    };
    let footer = Footer {
        index: at(1),
        props: at(2),
        filter: at(3),
    };
    file.extend_from_slice(&footer.encode());
    file
}

/// Opens `file` as an SSTable and reads it: whole, by seeks, by point lookups.
fn open_table(t: &mut Tally, file: &[u8]) {
    let Some(dir) = Scratch::new() else {
        return;
    };
    let path = sst_path(dir.path(), 1);
    if std::fs::write(&path, file).is_err() {
        return;
    }
    let reader = TableReader::open(path, 1, file.len() as u64);
    t.note(&reader);
    let reader = match reader {
        Ok(r) => Arc::new(r),
        Err(e) => return assert_damage(&e),
    };
    let cache = TableCache::new(dir.path().to_path_buf(), 1 << 20, 16, 4096, Arc::default());
    let c = &cache.inner;
    let mut it = crate::sstable::reader::TableIter::new(reader.clone(), c.clone());
    let mut keys: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut r = it.seek_first();
    for _ in 0..MAX_STEPS {
        if r.is_err() || !it.valid() {
            break;
        }
        if keys.len() < 4 {
            keys.push((it.user_key().to_vec(), it.seq()));
        }
        r = it.next();
    }
    t.note(&r);
    if let Err(e) = &r {
        assert_damage(e);
    }
    keys.push((Vec::new(), u64::MAX));
    keys.push((b"zzzz".to_vec(), 0));
    for (i, (key, seq)) in keys.iter().enumerate() {
        let r = it.seek(key, *seq);
        t.note(&r);
        if let Err(e) = &r {
            assert_damage(e);
        }
        // Every other read as a level-0 table's, pinning filter and index.
        let got = reader.get(c, key, bloom::key_hash(key), *seq, i % 2 == 1, i % 3 == 0);
        t.note(&got);
        if let Err(e) = &got {
            assert_damage(e);
        }
    }
}

/// Inputs for [`sstable_block`]: small tables written by the table builder,
/// as files (mode 1) and as sections (mode 0), and single blocks.
pub fn sstable_block_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (entries, block_size, bloom_bits) in [(0, 4096, 10), (1, 4096, 0), (12, 96, 10)] {
        let Some(file) = build_table(entries, block_size, bloom_bits) else {
            continue;
        };
        let mut raw = vec![1];
        raw.extend_from_slice(&file);
        out.push(raw);
        if let Some(sections) = split_table(&file) {
            out.push(sections);
        }
    }
    let mut b = BlockBuilder::new(2);
    for i in 0..5u64 {
        let mut k = Vec::new();
        crate::sstable::block::put_internal_key(&mut k, b"key", 10 - i, Kind::Put);
        let mut v = Vec::new();
        crate::sstable::block::put_value(
            &mut v,
            &InternalValue::put(Value::with_expiry(vec![b'v'; i as usize], i)),
        );
        b.add(&k, &v);
    }
    let mut one = vec![1];
    one.extend_from_slice(&b.finish());
    out.push(one);
    out
}

/// A table of `entries` entries (puts, expiring puts and tombstones).
fn build_table(entries: u64, block_size: usize, bloom_bits: u32) -> Option<Vec<u8>> {
    let dir = Scratch::new()?;
    let path = sst_path(dir.path(), 7);
    let mut b = TableBuilder::create(&path, block_size, bloom_bits).ok()?;
    for i in 0..entries {
        let key = format!("key{:03}", i / 2);
        let seq = 100 - i;
        let v = match i % 3 {
            0 => InternalValue::put(Value::new(format!("value-{i}"))),
            1 => InternalValue::put(Value::with_expiry("short", 5000 + i)),
            _ => InternalValue::tombstone(4000 + i),
        };
        b.add(key.as_bytes(), seq, &v).ok()?;
    }
    b.finish(1000).ok()?;
    std::fs::read(&path).ok()
}

/// A built table as [`table_sections`] input (mode 0), or `None` when its
/// blocks do not fit the layout (more than four data blocks).
fn split_table(file: &[u8]) -> Option<Vec<u8>> {
    let footer_at = file.len().checked_sub(crate::format::SST_FOOTER_LEN)?;
    let footer = Footer::decode(file.get(footer_at..)?, file.len() as u64).ok()?;
    let block = |h: Handle| file.get(h.offset as usize..(h.offset + h.len) as usize);
    let index = block(footer.index)?;
    let mut data = Vec::new();
    let mut it = BlockIter::new(Block::decode(Bytes::copy_from_slice(index)).ok()?);
    it.seek_first();
    while it.valid() {
        data.push(block(decode_handle(it.value()).ok()?)?);
        it.next();
    }
    if data.len() > 4 {
        return None;
    }
    let mut sections = data.clone();
    sections.push(block(footer.filter)?);
    sections.push(block(footer.props)?);
    let mut out = vec![0, data.len() as u8];
    for s in &sections {
        out.extend_from_slice(&u16::try_from(s.len()).ok()?.to_le_bytes());
    }
    for s in &sections {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(index);
    Some(out)
}

// -------------------------------------------------------------------- WAL

/// WAL decoding. The input after the mode byte is decoded as a batch
/// payload and read as a stream of log records (each payload then decoded
/// as a batch). Then it becomes a `.wal` file that is replayed twice: with
/// mode bit 0 set the file is the input as it is; clear, it is a valid
/// header followed by each `len:u16le payload` chunk of the input framed as
/// a record with a valid checksum (type: a batch, or with mode bit 1 set
/// `mode >> 2`), then whatever is left as a torn tail.
///
/// Properties: a decoded batch re-encodes to one that decodes the same; a
/// replay that fails reports damage and leaves the file as it was; one that
/// succeeds can be repeated, finding the same batches and nothing to cut.
pub fn wal_records(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let Some((&mode, rest)) = data.split_first() else {
        return t;
    };
    let whole = Bytes::copy_from_slice(rest);
    batch_round_trip(&mut t, &whole);
    let stream = record::read_records(Path::new("fuzz.wal"), &whole, 0, &|k| k == WAL_RECORD_BATCH);
    t.note(&stream);
    match stream {
        Ok(c) => {
            assert!(
                c.valid_len <= rest.len() as u64,
                "valid length past the input"
            );
            for r in &c.records {
                batch_round_trip(&mut t, &r.payload);
            }
        }
        Err(e) => assert_damage(&e),
    }
    let file = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let rtype = if mode & 2 == 2 {
            mode >> 2
        } else {
            WAL_RECORD_BATCH
        };
        let (file, payloads) = frame_log(&wal::header_bytes(), rest, rtype);
        for p in payloads {
            batch_round_trip(&mut t, &Bytes::copy_from_slice(p));
        }
        file
    };
    replay_twice(&mut t, &file);
    t
}

fn batch_round_trip(t: &mut Tally, payload: &Bytes) {
    let decoded = decode_batch(payload);
    t.note(&decoded);
    let Ok(b) = decoded else {
        return;
    };
    let mut wb = WriteBatch::new();
    for (key, v) in &b.ops {
        match v.kind {
            Kind::Put => wb.put(key.clone(), Value::with_expiry(v.data.clone(), v.time_ms)),
            Kind::Delete => wb.delete(key.clone()),
        }
    }
    let mut again = Vec::new();
    encode_batch(&mut again, b.start_seq, b.write_ms, &wb);
    let again = decode_batch(&Bytes::from(again)).expect("a re-encoded batch decodes");
    assert_eq!(
        (again.start_seq, again.write_ms, &again.ops),
        (b.start_seq, b.write_ms, &b.ops),
        "a batch changes when re-encoded"
    );
}

fn replay_twice(t: &mut Tally, file: &[u8]) {
    let Some(dir) = Scratch::new() else {
        return;
    };
    let path = wal::wal_path(dir.path(), 1);
    if std::fs::write(&path, file).is_err() {
        return;
    }
    let first = wal::replay(&path);
    t.note(&first);
    let first = match first {
        Ok(r) => r,
        Err(e) => {
            assert_damage(&e);
            let now = std::fs::read(&path).ok();
            assert_eq!(
                now.as_deref(),
                Some(file),
                "a failed replay changed the WAL"
            );
            return;
        }
    };
    let second = wal::replay(&path).expect("a replayed WAL replays again");
    assert!(!second.truncated, "a second replay cut the WAL again");
    let key = |r: &wal::Replayed| -> Vec<(u64, Vec<(Bytes, InternalValue)>)> {
        r.batches
            .iter()
            .map(|b| (b.start_seq, b.ops.clone()))
            .collect()
    };
    assert_eq!(
        key(&second),
        key(&first),
        "a second replay found other batches"
    );
}

/// Inputs for [`wal_records`]: WAL files as the engine writes them (mode
/// 1), with and without a torn tail, and their batches as chunks (mode 0).
pub fn wal_records_seeds() -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    for n in 0..4u64 {
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put(
                format!("k{n}-{i}"),
                Value::with_expiry(format!("v{i}"), i * 1000),
            );
        }
        b.delete(format!("gone{n}"));
        let mut p = Vec::new();
        encode_batch(&mut p, 10 * n + 1, 1_700_000_000_000 + n, &b);
        payloads.push(p);
    }
    let mut framed = vec![0];
    framed.extend_from_slice(&unchunk(payloads.iter().map(Vec::as_slice)));
    let (file, _) = frame_log(&wal::header_bytes(), framed.get(1..).unwrap_or_default(), 1);
    let mut raw = vec![1];
    raw.extend_from_slice(&file);
    let mut torn = raw.clone();
    torn.truncate(torn.len().saturating_sub(5));
    let mut zeroed = raw.clone();
    zeroed.extend_from_slice(&[0; 40]);
    vec![framed, raw, torn, zeroed, vec![1], vec![0]]
}

// --------------------------------------------------------------- manifest

/// Manifest decoding. The input after the mode byte is decoded as a
/// version edit. Then it becomes a manifest named by `CURRENT` and is
/// recovered: with mode bit 0 set the manifest is the input as it is;
/// clear, it is a valid header followed by each `len:u16le edit` chunk of
/// the input framed as a record with a valid checksum (each chunk is also
/// decoded alone), then whatever is left as a torn tail.
///
/// Properties: a decoded edit re-encodes to one that decodes to the same
/// edit; recovery that fails reports damage; the state recovered from a
/// manifest is the state recovered from the fresh manifest `open` would
/// write for it (its snapshot edit).
pub fn manifest_edit(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let Some((&mode, rest)) = data.split_first() else {
        return t;
    };
    edit_round_trip(&mut t, rest);
    let file = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let (file, payloads) = frame_log(&manifest::header(), rest, MANIFEST_RECORD_EDIT);
        for p in payloads {
            edit_round_trip(&mut t, p);
        }
        file
    };
    recover_twice(&mut t, &file);
    t
}

fn edit_round_trip(t: &mut Tally, b: &[u8]) {
    let decoded = VersionEdit::decode(b);
    t.note(&decoded);
    if let Ok(e) = decoded {
        let mut again = Vec::new();
        e.encode(&mut again);
        assert_eq!(
            VersionEdit::decode(&again),
            Ok(e),
            "a version edit changes when re-encoded"
        );
    }
}

/// A version's shape, order-insensitive within a run: `(level, run id,
/// files sorted by number, size and properties)`.
type Shape = Vec<(usize, u64, Vec<(u64, u64, Vec<u8>)>)>;

fn shape(v: &Version) -> Shape {
    v.runs_by_age()
        .map(|(level, run)| {
            let mut files: Vec<(u64, u64, Vec<u8>)> = run
                .files
                .iter()
                .map(|f| {
                    let mut props = Vec::new();
                    f.props.encode(&mut props);
                    (f.number, f.size, props)
                })
                .collect();
            files.sort();
            (level, run.id, files)
        })
        .collect()
}

fn recover_twice(t: &mut Tally, file: &[u8]) {
    let Some(dir) = Scratch::new() else {
        return;
    };
    let current = format!("{MANIFEST_PREFIX}000001\n");
    let written = std::fs::write(dir.path().join(CURRENT_FILE), current)
        .and_then(|()| std::fs::write(dir.path().join(format!("{MANIFEST_PREFIX}000001")), file));
    if written.is_err() {
        return;
    }
    let first = manifest::recover(dir.path());
    t.note(&first);
    let first = match first {
        Ok(Some(r)) => r,
        Ok(None) => panic!("recovery found no CURRENT"),
        Err(e) => return assert_damage(&e),
    };
    let strategy = first.strategy.unwrap_or(CompactionStrategy::Leveled);
    let snapshot = manifest::snapshot_edit(
        &first.version,
        first.log_number,
        first.next_file_number,
        first.last_seq,
        strategy,
    );
    if ManifestWriter::create(dir.path(), 2, &snapshot).is_err() {
        return;
    }
    let second = manifest::recover(dir.path())
        .expect("a snapshot manifest recovers")
        .expect("CURRENT names the snapshot manifest");
    assert_eq!(
        (
            second.log_number,
            second.next_file_number,
            second.last_seq,
            second.strategy,
            shape(&second.version),
        ),
        (
            first.log_number,
            first.next_file_number,
            first.last_seq,
            Some(strategy),
            shape(&first.version),
        ),
        "the snapshot of a recovered manifest recovers to another state"
    );
}

/// Inputs for [`manifest_edit`]: a manifest as the engine writes it (mode
/// 1: snapshot edit then later edits) and its edits as chunks (mode 0).
pub fn manifest_edit_seeds() -> Vec<Vec<u8>> {
    let meta = |n: u64, lo: &str, hi: &str| crate::version::FileMeta {
        number: n,
        size: 1000 + n,
        props: Properties {
            smallest: Bytes::from(lo.to_string()),
            largest: Bytes::from(hi.to_string()),
            min_seq: n,
            max_seq: 10 * n,
            entries: 3,
            tombstones: 1,
            data_blocks: 1,
            created_ms: 1_700_000_000_000,
            ..Properties::default()
        },
    };
    let add = |level: usize, run_id: u64, n: u64, lo: &str, hi: &str| manifest::AddedFile {
        level,
        run_id,
        meta: Arc::new(meta(n, lo, hi)),
    };
    let edits = [
        VersionEdit {
            log_number: Some(3),
            next_file_number: Some(9),
            last_seq: Some(70),
            strategy: Some(CompactionStrategy::Leveled),
            added: vec![
                add(0, 5, 5, "a", "m"),
                add(0, 6, 6, "c", "z"),
                add(1, 2, 2, "a", "k"),
            ],
            ..VersionEdit::default()
        },
        VersionEdit {
            deleted: vec![5, 6],
            added: vec![add(1, 2, 7, "l", "z")],
            next_file_number: Some(10),
            ..VersionEdit::default()
        },
        VersionEdit {
            log_number: Some(8),
            last_seq: Some(90),
            strategy: Some(CompactionStrategy::SizeTiered),
            ..VersionEdit::default()
        },
    ];
    let payloads: Vec<Vec<u8>> = edits
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            e.encode(&mut b);
            b
        })
        .collect();
    let mut framed = vec![0];
    framed.extend_from_slice(&unchunk(payloads.iter().map(Vec::as_slice)));
    let (file, _) = frame_log(
        &manifest::header(),
        framed.get(1..).unwrap_or_default(),
        MANIFEST_RECORD_EDIT,
    );
    let mut raw = vec![1];
    raw.extend_from_slice(&file);
    let mut torn = raw.clone();
    torn.truncate(torn.len().saturating_sub(3));
    vec![framed, raw, torn, vec![0]]
}

// ------------------------------------------------------------ smoke runs

/// A seeded xorshift64* generator: deterministic inputs without a dependency.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A byte, biased towards the values decoders branch on.
    pub fn byte(&mut self) -> u8 {
        const SPECIAL: [u8; 8] = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0x10];
        let r = self.next_u64();
        if r & 3 == 0 {
            SPECIAL
                .get((r >> 8) as usize % SPECIAL.len())
                .copied()
                .unwrap_or(0)
        } else {
            (r >> 16) as u8
        }
    }

    /// `base` with one to four random edits: flipped bits, set bytes,
    /// inserted or removed runs, a cut, a copied run, a spliced-in part of
    /// `other`.
    pub fn mutate(&mut self, base: &[u8], other: &[u8]) -> Vec<u8> {
        let mut v = base.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = v.len();
            let at = self.below(len + 1);
            match self.below(8) {
                0 if len > 0 => {
                    let bit = 1 << self.below(8);
                    if let Some(b) = v.get_mut(at.min(len - 1)) {
                        *b ^= bit;
                    }
                }
                1 if len > 0 => {
                    let b = self.byte();
                    if let Some(x) = v.get_mut(at.min(len - 1)) {
                        *x = b;
                    }
                }
                2 => {
                    let n = 1 + self.below(8);
                    let bytes: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                    v.splice(at..at, bytes);
                }
                3 => {
                    let end = (at + 1 + self.below(16)).min(len);
                    v.drain(at.min(end)..end);
                }
                4 => v.truncate(at),
                5 if len > 0 => {
                    let start = self.below(len);
                    let end = (start + 1 + self.below(32)).min(len);
                    let run = v.get(start..end).unwrap_or_default().to_vec();
                    v.splice(at..at, run);
                }
                6 if !other.is_empty() => {
                    let start = self.below(other.len());
                    let end = (start + 1 + self.below(64)).min(other.len());
                    let part = other.get(start..end).unwrap_or_default();
                    v.splice(at..at, part.iter().copied());
                }
                _ => {
                    // A little-endian or big-endian length-like value.
                    let x = match self.below(4) {
                        0 => 0u32,
                        1 => self.below(300) as u32,
                        2 => u32::MAX,
                        _ => self.next_u64() as u32,
                    };
                    let bytes = if self.below(2) == 0 {
                        x.to_le_bytes()
                    } else {
                        x.to_be_bytes()
                    };
                    let end = (at + 4).min(len);
                    v.splice(at.min(end)..end, bytes);
                }
            }
        }
        v
    }
}

/// The stable smoke test of one fuzz target, as `engine/tests/fuzz_smoke.rs`
/// and `cluster/tests/fuzz_smoke.rs` run it: [`smoke`] on `seeds` plus
/// 3,000 more inputs within 4 s, from a seed derived from `name` (so each
/// target sees its own fixed inputs), checking that a seed decoded, that
/// an input was refused and that more than the corpus ran. With
/// `FUZZ_CORPUS_DIR` set, the seeds are also written to `<dir>/<name>/`,
/// where `cargo fuzz run` looks for its corpus.
pub fn smoke_test(name: &str, seeds: Vec<Vec<u8>>, target: fn(&[u8]) -> Tally) {
    if let Some(dir) = std::env::var_os("FUZZ_CORPUS_DIR") {
        let dir = Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).expect("write a seed");
        }
    }
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let r = smoke(
        &seeds,
        seed,
        seeds.len() + 3000,
        Duration::from_secs(4),
        target,
    );
    eprintln!("{name}: {r:?}");
    assert!(r.corpus.accepted > 0, "{name}: no seed decoded");
    assert!(r.tally.rejected > 0, "{name}: no input was rejected");
    assert!(r.inputs > seeds.len(), "{name}: only the corpus ran");
}

/// What a [`smoke`] run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmokeReport {
    /// Inputs run (corpus included).
    pub inputs: usize,
    /// Decoder outcomes over all inputs.
    pub tally: Tally,
    /// Decoder outcomes over the corpus alone.
    pub corpus: Tally,
}

/// Runs `target` on every input of `corpus`, then on pseudo-random inputs
/// from `seed` (a quarter fresh random bytes, the rest mutated corpus
/// entries and mutants of mutants) until `max_inputs` inputs ran or
/// `budget` elapsed, whichever comes first. A panicking input is printed
/// in hex before the panic continues, to turn it into a unit test or to
/// replay it with the cargo-fuzz target.
pub fn smoke(
    corpus: &[Vec<u8>],
    seed: u64,
    max_inputs: usize,
    budget: Duration,
    target: impl Fn(&[u8]) -> Tally,
) -> SmokeReport {
    let run = |input: &[u8]| -> Tally {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(input))) {
            Ok(t) => t,
            Err(p) => {
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                eprintln!("failing input ({} bytes): {hex}", input.len());
                std::panic::resume_unwind(p)
            }
        }
    };
    let mut report = SmokeReport::default();
    for input in corpus {
        report.corpus.add(run(input));
        report.inputs += 1;
    }
    report.tally = report.corpus;
    let start = Instant::now();
    let mut rng = XorShift::new(seed);
    let mut last: Vec<u8> = Vec::new();
    while report.inputs < max_inputs && start.elapsed() < budget {
        let input = match (rng.below(4), corpus.is_empty()) {
            (0, _) | (_, true) => {
                let len = rng.below(257);
                (0..len).map(|_| rng.byte()).collect()
            }
            (1, _) if !last.is_empty() => {
                let other = corpus
                    .get(rng.below(corpus.len()))
                    .cloned()
                    .unwrap_or_default();
                rng.mutate(&last, &other)
            }
            _ => {
                let base = corpus
                    .get(rng.below(corpus.len()))
                    .cloned()
                    .unwrap_or_default();
                let other = corpus
                    .get(rng.below(corpus.len()))
                    .cloned()
                    .unwrap_or_default();
                rng.mutate(&base, &other)
            }
        };
        report.tally.add(run(&input));
        report.inputs += 1;
        last = input;
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn seeds_reach_the_decoders_they_are_for() {
        for (name, seeds, target) in [
            (
                "sstable_block",
                sstable_block_seeds(),
                sstable_block as fn(&[u8]) -> Tally,
            ),
            ("wal_records", wal_records_seeds(), wal_records),
            ("manifest_edit", manifest_edit_seeds(), manifest_edit),
        ] {
            assert!(seeds.len() >= 3, "{name}");
            for s in &seeds {
                let t = target(s);
                assert!(t.accepted + t.rejected > 0 || s.len() <= 1, "{name}");
            }
        }
        // The mode-0 table seeds decode into a table that opens and reads.
        let t = sstable_block(&sstable_block_seeds()[1]);
        assert!(t.accepted >= 5, "{t:?}");
    }

    #[test]
    fn chunking_round_trips() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        let joined = unchunk(parts);
        let (got, tail) = chunks(&joined);
        assert_eq!(got, parts);
        assert!(tail.is_empty());
        assert_eq!(table_sections(&[]).len(), 3);
        assert_eq!(table_sections(&[4, 1, 0]).len(), 7);
    }
}
