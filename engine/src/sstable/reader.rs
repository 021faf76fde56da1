//! Reading an SSTable: the footer at open, then blocks on demand with `pread`
//! through the block cache, each verified against its crc32c before use. A
//! bad checksum is `ChecksumMismatch` naming the file and block offset; a
//! structurally bad block is `Corruption`. Nothing unverified is returned.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::block::{Block, BlockIter, decode_value, put_internal_key, split_internal_key};
use super::bloom;
use super::footer::{Footer, FooterError, Handle};
use super::index::TableIndex;
use crate::cache::{BLOCK_OVERHEAD, CacheInner, Cached, PinCharge};
use crate::coding::{DecodeError, u32_at};
use crate::error::{Error, Result};
use crate::format::{BLOCK_TRAILER_LEN, SST_FOOTER_LEN, SST_VERSION};
use crate::iter::InternalIter;
use crate::stats::Counters;
use crate::value::{InternalValue, Kind};
use crate::version::FileMeta;

/// An open SSTable: its descriptor and footer.
#[derive(Debug)]
pub(crate) struct TableReader {
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    file: File,
    /// File size: where blocks must end (before the footer).
    size: u64,
    footer: Footer,
    /// The filter and index, once a level-0 read pinned them.
    pinned: OnceLock<Pinned>,
}

/// A level-0 table's filter and index, held by its reader
/// (`crate::cache`, "Pinned blocks").
#[derive(Debug)]
struct Pinned {
    filter: Option<Bytes>,
    index: Arc<TableIndex>,
    _charge: PinCharge,
}

/// Which block a read is for (the filter is kept raw).
#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Block,
    Index,
    Raw,
}

impl TableReader {
    /// Opens `path` and checks its footer. `size` comes from the manifest.
    pub(crate) fn open(path: PathBuf, number: u64, size: u64) -> Result<TableReader> {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let actual = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if actual != size || size < SST_FOOTER_LEN as u64 {
            return Err(Error::corruption(
                &path,
                0,
                format!("file is {actual} bytes, manifest says {size}"),
            ));
        }
        let mut buf = [0u8; SST_FOOTER_LEN];
        let at = size - SST_FOOTER_LEN as u64;
        file.read_exact_at(&mut buf, at)
            .map_err(|e| Error::io(&path, e))?;
        let footer = Footer::decode(&buf, size).map_err(|e| match e {
            FooterError::BadMagic => Error::corruption(&path, at, "bad SSTable magic"),
            FooterError::Checksum { expected, actual } => Error::ChecksumMismatch {
                file: path.clone(),
                offset: at,
                expected,
                actual,
            },
            FooterError::Version(found) => Error::UnsupportedVersion {
                file: path.clone(),
                found,
                supported: SST_VERSION,
            },
            FooterError::BadHandle => {
                Error::corruption(&path, at, "footer handle outside the file")
            }
        })?;
        Ok(TableReader {
            number,
            path,
            file,
            size,
            footer,
            pinned: OnceLock::new(),
        })
    }

    fn corrupt(&self, h: Handle, e: DecodeError) -> Error {
        Error::corruption(&self.path, h.offset + e.at as u64, e.what)
    }

    /// Block `h`, from the cache or read and checked. A block read is
    /// cached only with `fill` (a compaction reads without it: its inputs
    /// are deleted when it ends, and caching them would evict what readers
    /// use, as RocksDB's and LevelDB's compactions read with `fill_cache`
    /// off).
    fn read_block(&self, c: &CacheInner, h: Handle, kind: BlockKind, fill: bool) -> Result<Cached> {
        let key = (self.number, h.offset);
        if let Some(b) = c.blocks.get(&key) {
            Counters::add(&c.stats.block_cache_hits, 1);
            return Ok(b);
        }
        Counters::add(&c.stats.block_cache_misses, 1);
        // Index entries are not checked at open as footer handles are: one
        // pointing past the blocks is corruption, and must not size the
        // buffer (a huge length would abort on allocation).
        let blocks_end = self.size.saturating_sub(SST_FOOTER_LEN as u64);
        let end = h
            .offset
            .checked_add(h.len)
            .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN as u64));
        if end.is_none_or(|e| e > blocks_end) {
            return Err(Error::corruption(
                &self.path,
                h.offset,
                format!("block of {} bytes outside the file", h.len),
            ));
        }
        let len = usize::try_from(h.len)
            .map_err(|_| Error::corruption(&self.path, h.offset, "block too large"))?;
        let mut buf = vec![0u8; len + 4];
        self.file
            .read_exact_at(&mut buf, h.offset)
            .map_err(|e| Error::io(&self.path, e))?;
        let expected = u32_at(&buf, len).unwrap_or(0);
        buf.truncate(len);
        let actual = crc32c::crc32c(&buf);
        if expected != actual {
            return Err(Error::ChecksumMismatch {
                file: self.path.clone(),
                offset: h.offset,
                expected,
                actual,
            });
        }
        let data = Bytes::from(buf);
        let v = match kind {
            BlockKind::Raw => Cached::Raw(data),
            BlockKind::Block => Cached::Block(Block::decode(data).map_err(|e| self.corrupt(h, e))?),
            BlockKind::Index => {
                let block = Block::decode(data).map_err(|e| self.corrupt(h, e))?;
                Cached::Index(Arc::new(
                    TableIndex::decode(block).map_err(|e| self.corrupt(h, e))?,
                ))
            }
        };
        if fill {
            c.blocks.insert(key, v.clone());
        }
        Ok(v)
    }

    fn block(&self, c: &CacheInner, h: Handle, fill: bool) -> Result<Block> {
        match self.read_block(c, h, BlockKind::Block, fill)? {
            Cached::Block(b) => Ok(b),
            _ => Err(self.wrong_kind(h)),
        }
    }

    /// Drops the table's index and filter from the block cache (the table
    /// was deleted). Its data blocks are left to the cache's eviction: no
    /// one reads them again, so they go first, and finding them would mean
    /// one removal per block.
    pub(crate) fn forget_cached(&self, c: &CacheInner) {
        for h in [self.footer.index, self.footer.filter] {
            c.blocks.remove(&(self.number, h.offset));
        }
    }

    /// The table's index, decoded.
    fn index(&self, c: &CacheInner) -> Result<Arc<TableIndex>> {
        if let Some(p) = self.pinned.get() {
            return Ok(p.index.clone());
        }
        let h = self.footer.index;
        match self.read_block(c, h, BlockKind::Index, true)? {
            Cached::Index(i) => Ok(i),
            _ => Err(self.wrong_kind(h)),
        }
    }

    /// The table's bloom filter.
    fn filter(&self, c: &CacheInner) -> Result<Bytes> {
        if let Some(Pinned {
            filter: Some(f), ..
        }) = self.pinned.get()
        {
            return Ok(f.clone());
        }
        match self.read_block(c, self.footer.filter, BlockKind::Raw, true)? {
            Cached::Raw(b) => Ok(b),
            _ => Err(self.wrong_kind(self.footer.filter)),
        }
    }

    /// The filter and index pinned, pinning them now if the budget has
    /// room (`None` if not: the caller reads them through the cache). They
    /// leave the cache, so they are charged once.
    fn pin(&self, c: &CacheInner) -> Result<Option<&Pinned>> {
        if let Some(p) = self.pinned.get() {
            return Ok(Some(p));
        }
        let filter = match self.footer.filter.len > 0 {
            true => Some(self.filter(c)?),
            false => None,
        };
        let index = self.index(c)?;
        let bytes = filter
            .as_ref()
            .map_or(0, |f| f.len() as u64 + BLOCK_OVERHEAD)
            + index.bytes() as u64
            + BLOCK_OVERHEAD;
        let Some(charge) = c.pins.reserve(bytes) else {
            return Ok(None);
        };
        // Another reader may have pinned them meanwhile: then this charge
        // drops with the unused values.
        let pinned = self.pinned.get_or_init(|| Pinned {
            filter,
            index,
            _charge: charge,
        });
        for h in [self.footer.index, self.footer.filter] {
            c.blocks.remove(&(self.number, h.offset));
        }
        Ok(Some(pinned))
    }

    fn wrong_kind(&self, h: Handle) -> Error {
        Error::corruption(&self.path, h.offset, "block cached with the wrong kind")
    }

    /// The newest version of `key` with sequence <= `snapshot` in this
    /// table. `pin`: the table is in level 0, so its filter and index are
    /// pinned if the budget has room. `sees_all`: `snapshot` sees every
    /// version in the table, so the version found is the table's newest
    /// and may be kept in the row cache (`crate::row_cache`).
    pub(crate) fn get(
        &self,
        c: &CacheInner,
        key: &[u8],
        hash: u64,
        snapshot: u64,
        pin: bool,
        sees_all: bool,
    ) -> Result<Option<(u64, InternalValue)>> {
        let stats = &c.stats;
        let filtered = self.footer.filter.len > 0;
        let pinned = match pin {
            true => self.pin(c)?,
            false => self.pinned.get(),
        };
        if filtered {
            let cached;
            let filter = match pinned {
                Some(Pinned {
                    filter: Some(f), ..
                }) => f,
                _ => {
                    cached = self.filter(c)?;
                    &cached
                }
            };
            Counters::add(&stats.bloom_checks, 1);
            if !bloom::may_contain(filter, hash) {
                Counters::add(&stats.bloom_useful, 1);
                return Ok(None);
            }
        }
        if let Some((seq, value)) = c.rows.get(self.number, key, hash) {
            // The table's newest version of the key: the answer if the
            // snapshot sees it.
            if seq <= snapshot {
                Counters::add(&stats.row_cache_hits, 1);
                return Ok(Some((seq, value)));
            }
        }
        let mut target = Vec::with_capacity(key.len() + 8);
        put_internal_key(&mut target, key, snapshot.min(u64::MAX >> 8), Kind::Put);
        let cached;
        let index = match pinned {
            Some(p) => &p.index,
            None => {
                cached = self.index(c)?;
                &cached
            }
        };
        let found = match index.handle(index.seek(&target)) {
            Some(h) => {
                let mut it = BlockIter::new(self.block(c, h, true)?);
                it.seek(&target);
                if let Some(e) = it.status() {
                    return Err(self.corrupt(h, e));
                }
                match it.valid().then(|| split_internal_key(it.key())).flatten() {
                    Some((user, seq, kind)) if user == key => Some((
                        seq,
                        decode_value(it.block_bytes(), it.value(), kind)
                            .map_err(|e| self.corrupt(h, e))?,
                    )),
                    _ => None,
                }
            }
            None => None,
        };
        match &found {
            Some((seq, value))
                if sees_all && c.rows.insert(self.number, key, hash, *seq, value) =>
            {
                Counters::add(&stats.row_cache_fills, 1);
            }
            Some(_) => {}
            None if filtered => Counters::add(&stats.bloom_false_positives, 1),
            None => {}
        }
        Ok(found)
    }
}

/// Two-level iterator over one table: index block, then data blocks.
pub(crate) struct TableIter {
    table: Arc<TableReader>,
    cache: Arc<CacheInner>,
    /// Whether data blocks read are cached (see `TableReader::read_block`).
    fill_cache: bool,
    /// The decoded index, once loaded, and the entry whose block `data` is.
    index: Option<Arc<TableIndex>>,
    at: usize,
    data: Option<BlockIter>,
    data_h: Handle,
    seq: u64,
    value: InternalValue,
    valid: bool,
}

impl TableIter {
    /// An unpositioned iterator over `table`.
    pub(crate) fn new(table: Arc<TableReader>, cache: Arc<CacheInner>) -> Self {
        TableIter {
            table,
            cache,
            fill_cache: true,
            index: None,
            at: 0,
            data: None,
            data_h: Handle::default(),
            seq: 0,
            value: InternalValue::tombstone(0),
            valid: false,
        }
    }

    fn index(&mut self) -> Result<Arc<TableIndex>> {
        if let Some(i) = &self.index {
            return Ok(i.clone());
        }
        let i = self.table.index(&self.cache)?;
        self.index = Some(i.clone());
        Ok(i)
    }

    /// Loads the data block of index entry `at`; past the last, the
    /// iterator is exhausted (false).
    fn load_data(&mut self, at: usize) -> Result<bool> {
        self.at = at;
        let Some(h) = self.index()?.handle(at) else {
            self.valid = false;
            self.data = None;
            return Ok(false);
        };
        let b = self.table.block(&self.cache, h, self.fill_cache)?;
        self.data = Some(BlockIter::new(b));
        self.data_h = h;
        Ok(true)
    }

    /// Takes the data block's current entry, if it has one (true).
    fn take_entry(&mut self) -> Result<bool> {
        let Some(d) = &self.data else {
            return Ok(false);
        };
        if let Some(e) = d.status() {
            self.valid = false;
            return Err(self.table.corrupt(self.data_h, e));
        }
        if !d.valid() {
            return Ok(false);
        }
        let (_, seq, kind) = split_internal_key(d.key()).ok_or_else(|| {
            self.table.corrupt(
                self.data_h,
                DecodeError {
                    at: 0,
                    what: "short key",
                },
            )
        })?;
        self.value = decode_value(d.block_bytes(), d.value(), kind)
            .map_err(|e| self.table.corrupt(self.data_h, e))?;
        self.seq = seq;
        self.valid = true;
        Ok(true)
    }

    /// Settles on the current data entry, moving to later blocks past empty ones.
    fn settle(&mut self) -> Result<()> {
        while !self.take_entry()? {
            if !self.load_data(self.at + 1)? {
                return Ok(());
            }
            if let Some(d) = self.data.as_mut() {
                d.seek_first();
            }
        }
        Ok(())
    }

    /// Settles on the current data entry, moving to earlier blocks past
    /// empty ones.
    fn settle_back(&mut self) -> Result<()> {
        while !self.take_entry()? {
            let Some(at) = self.at.checked_sub(1) else {
                self.valid = false;
                self.data = None;
                return Ok(());
            };
            if !self.load_data(at)? {
                return Ok(());
            }
            if let Some(d) = self.data.as_mut() {
                d.seek_to_last();
            }
        }
        Ok(())
    }

    /// Positions at the last entry of the last block.
    fn last_block_last_entry(&mut self) -> Result<()> {
        let Some(last) = self.index()?.len().checked_sub(1) else {
            self.valid = false;
            self.data = None;
            return Ok(());
        };
        if self.load_data(last)? {
            if let Some(d) = self.data.as_mut() {
                d.seek_to_last();
            }
        }
        self.settle_back()
    }
}

impl InternalIter for TableIter {
    fn valid(&self) -> bool {
        self.valid
    }
    fn user_key(&self) -> &[u8] {
        self.data
            .as_ref()
            .and_then(|d| split_internal_key(d.key()))
            .map_or(&[], |(u, _, _)| u)
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn value(&self) -> &InternalValue {
        &self.value
    }
    fn next(&mut self) -> Result<()> {
        if let Some(d) = self.data.as_mut() {
            d.next();
        }
        self.settle()
    }
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
        let mut target = Vec::with_capacity(user.len() + 8);
        put_internal_key(&mut target, user, seq.min(u64::MAX >> 8), Kind::Put);
        let at = self.index()?.seek(&target);
        if !self.load_data(at)? {
            return Ok(());
        }
        if let Some(d) = self.data.as_mut() {
            d.seek(&target);
        }
        self.settle()
    }
    fn seek_first(&mut self) -> Result<()> {
        if !self.load_data(0)? {
            return Ok(());
        }
        if let Some(d) = self.data.as_mut() {
            d.seek_first();
        }
        self.settle()
    }
    fn prev(&mut self) -> Result<()> {
        if let Some(d) = self.data.as_mut() {
            d.prev();
        }
        self.settle_back()
    }
    fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()> {
        let mut target = Vec::with_capacity(user.len() + 8);
        put_internal_key(&mut target, user, seq.min(u64::MAX >> 8), Kind::Put);
        // The first block that may hold a key at or after the target; the
        // last entry at or before it is there or in a block before.
        let at = self.index()?.seek(&target);
        if !self.load_data(at)? {
            return self.last_block_last_entry();
        }
        if let Some(d) = self.data.as_mut() {
            d.seek_for_prev(&target);
        }
        self.settle_back()
    }
    fn seek_last(&mut self) -> Result<()> {
        self.last_block_last_entry()
    }
}

/// Iterator over a sorted run: its files one after another, opened lazily.
pub(crate) struct RunIter {
    files: Vec<Arc<FileMeta>>,
    cache: Arc<CacheInner>,
    fill_cache: bool,
    pos: usize,
    cur: Option<TableIter>,
}

impl RunIter {
    /// An unpositioned iterator over `files` (disjoint, ascending). With
    /// `fill_cache` off (a compaction, a bulk scan) the data blocks it reads
    /// are not cached (see `TableReader::read_block`).
    pub(crate) fn new(files: Vec<Arc<FileMeta>>, cache: Arc<CacheInner>, fill_cache: bool) -> Self {
        RunIter {
            files,
            cache,
            fill_cache,
            pos: 0,
            cur: None,
        }
    }

    fn open(&mut self, i: usize) -> Result<bool> {
        self.pos = i;
        let Some(f) = self.files.get(i) else {
            self.cur = None;
            return Ok(false);
        };
        let r = self.cache.reader(f)?;
        let mut it = TableIter::new(r, self.cache.clone());
        it.fill_cache = self.fill_cache;
        self.cur = Some(it);
        Ok(true)
    }

    fn skip_exhausted_back(&mut self) -> Result<()> {
        while self.cur.as_ref().is_some_and(|c| !c.valid()) {
            let Some(i) = self.pos.checked_sub(1) else {
                self.cur = None;
                return Ok(());
            };
            if !self.open(i)? {
                return Ok(());
            }
            if let Some(c) = self.cur.as_mut() {
                c.seek_last()?;
            }
        }
        Ok(())
    }

    fn skip_exhausted(&mut self) -> Result<()> {
        while self.cur.as_ref().is_some_and(|c| !c.valid()) {
            if !self.open(self.pos + 1)? {
                return Ok(());
            }
            if let Some(c) = self.cur.as_mut() {
                c.seek_first()?;
            }
        }
        Ok(())
    }
}

impl InternalIter for RunIter {
    fn valid(&self) -> bool {
        self.cur.as_ref().is_some_and(TableIter::valid)
    }
    fn user_key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[], |c| c.user_key())
    }
    fn seq(&self) -> u64 {
        self.cur.as_ref().map_or(0, TableIter::seq)
    }
    fn value(&self) -> &InternalValue {
        match &self.cur {
            Some(c) => c.value(),
            None => {
                static EMPTY: InternalValue = InternalValue {
                    kind: Kind::Delete,
                    data: Bytes::new(),
                    time_ms: 0,
                };
                &EMPTY
            }
        }
    }
    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.cur.as_mut() {
            c.next()?;
        }
        self.skip_exhausted()
    }
    fn seek(&mut self, user: &[u8], seq: u64) -> Result<()> {
        let i = self
            .files
            .partition_point(|f| f.props.largest.as_ref() < user);
        if self.open(i)? {
            if let Some(c) = self.cur.as_mut() {
                c.seek(user, seq)?;
            }
        }
        self.skip_exhausted()
    }
    fn seek_first(&mut self) -> Result<()> {
        if self.open(0)? {
            if let Some(c) = self.cur.as_mut() {
                c.seek_first()?;
            }
        }
        self.skip_exhausted()
    }
    fn prev(&mut self) -> Result<()> {
        if let Some(c) = self.cur.as_mut() {
            c.prev()?;
        }
        self.skip_exhausted_back()
    }
    fn seek_for_prev(&mut self, user: &[u8], seq: u64) -> Result<()> {
        // The last file whose smallest key is at or before `user`.
        let i = self
            .files
            .partition_point(|f| f.props.smallest.as_ref() <= user);
        let Some(i) = i.checked_sub(1) else {
            self.cur = None;
            return Ok(());
        };
        if self.open(i)? {
            if let Some(c) = self.cur.as_mut() {
                c.seek_for_prev(user, seq)?;
            }
        }
        self.skip_exhausted_back()
    }
    fn seek_last(&mut self) -> Result<()> {
        let Some(last) = self.files.len().checked_sub(1) else {
            self.cur = None;
            return Ok(());
        };
        if self.open(last)? {
            if let Some(c) = self.cur.as_mut() {
                c.seek_last()?;
            }
        }
        self.skip_exhausted_back()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::cache::TableCache;
    use crate::sstable::block::{BlockBuilder, put_value};
    use crate::sstable::index::encode_handle;
    use crate::sstable::sst_path;
    use crate::value::Value;

    fn put_block(file: &mut Vec<u8>, b: &[u8]) -> Handle {
        let h = Handle {
            offset: file.len() as u64,
            len: b.len() as u64,
        };
        file.extend_from_slice(b);
        file.extend_from_slice(&crc32c::crc32c(b).to_le_bytes());
        h
    }

    /// Found by the `sstable_block` fuzz target: an index entry (checksum
    /// valid) whose handle points past the file was read as an I/O error,
    /// and one with a huge length sized the read buffer by it, aborting
    /// the process on allocation.
    #[test]
    fn an_index_handle_outside_the_file_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut key = Vec::new();
        put_internal_key(&mut key, b"a", 1, Kind::Put);
        let mut value = Vec::new();
        put_value(&mut value, &InternalValue::put(Value::new("x")));
        let mut data = BlockBuilder::new(16);
        data.add(&key, &value);
        let data = data.finish();
        for bad in [
            Handle {
                offset: 0,
                len: 1 << 40,
            },
            Handle {
                offset: 1 << 20,
                len: 10,
            },
            Handle {
                offset: u64::MAX - 2,
                len: 10,
            },
            Handle {
                offset: 0,
                len: u64::MAX,
            },
        ] {
            let mut file = Vec::new();
            put_block(&mut file, &data);
            let empty = put_block(&mut file, &[]);
            let mut entry = Vec::new();
            encode_handle(&mut entry, bad);
            let mut index = BlockBuilder::new(1);
            index.add(&key, &entry);
            let index = put_block(&mut file, &index.finish());
            let footer = Footer {
                index,
                filter: empty,
                props: empty,
            };
            file.extend_from_slice(&footer.encode());
            let path = sst_path(dir.path(), 1);
            std::fs::write(&path, &file).unwrap();
            let reader = Arc::new(TableReader::open(path, 1, file.len() as u64).unwrap());
            let cache =
                TableCache::new(dir.path().to_path_buf(), 1 << 20, 16, 4096, Arc::default());
            for pin in [false, true] {
                let err = reader
                    .get(&cache.inner, b"a", bloom::key_hash(b"a"), 5, pin, true)
                    .unwrap_err();
                assert!(matches!(err, Error::Corruption { .. }), "{bad:?}: {err:?}");
            }
            let mut it = TableIter::new(reader, cache.inner.clone());
            let err = it.seek_first().unwrap_err();
            assert!(matches!(err, Error::Corruption { .. }), "{bad:?}: {err:?}");
        }
    }
}
