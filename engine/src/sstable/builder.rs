//! Writes one SSTable from entries arriving in internal-key order:
//! data blocks (cut at `block_size_bytes`), then the bloom filter, the
//! properties block, the index block and the footer; then fsync.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::Properties;
use super::block::{BlockBuilder, put_internal_key, value_parts};
use super::bloom;
use super::footer::{Footer, Handle};
use super::index::{INDEX_RESTART_INTERVAL, encode_handle};
use crate::error::{Error, Result};
use crate::value::{InternalValue, Kind};

/// Keys stored whole every this many entries in data blocks.
const DATA_RESTART_INTERVAL: usize = 16;

/// An SSTable being written.
pub(crate) struct TableBuilder {
    path: PathBuf,
    file: BufWriter<File>,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    block_size: usize,
    bloom_bits: u32,
    hashes: Vec<u64>,
    last_user: Option<Vec<u8>>,
    props: Properties,
    key_buf: Vec<u8>,
    val_buf: Vec<u8>,
}

impl TableBuilder {
    /// Creates the file at `path`.
    pub(crate) fn create(path: &Path, block_size: usize, bloom_bits: u32) -> Result<TableBuilder> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(TableBuilder {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(256 * 1024, file),
            offset: 0,
            data: BlockBuilder::new(DATA_RESTART_INTERVAL),
            index: BlockBuilder::new(INDEX_RESTART_INTERVAL),
            block_size,
            bloom_bits,
            hashes: Vec::new(),
            last_user: None,
            props: Properties {
                min_seq: u64::MAX,
                ..Properties::default()
            },
            key_buf: Vec::with_capacity(64),
            val_buf: Vec::with_capacity(256),
        })
    }

    /// Adds one entry; entries must arrive in internal-key order.
    pub(crate) fn add(&mut self, user: &[u8], seq: u64, v: &InternalValue) -> Result<()> {
        let new_key = self.last_user.as_deref() != Some(user);
        if new_key {
            if self.bloom_bits > 0 {
                self.hashes.push(bloom::key_hash(user));
            }
            if self.last_user.is_none() {
                self.props.smallest = Bytes::copy_from_slice(user);
            }
            let lu = self.last_user.get_or_insert_with(Vec::new);
            lu.clear();
            lu.extend_from_slice(user);
        }
        let p = &mut self.props;
        p.entries += 1;
        p.min_seq = p.min_seq.min(seq);
        p.max_seq = p.max_seq.max(seq);
        match v.kind {
            Kind::Delete => {
                p.tombstones += 1;
                p.newest_tombstone_ms = p.newest_tombstone_ms.max(v.time_ms);
            }
            Kind::Put if v.time_ms != 0 => {
                p.expiring += 1;
                p.earliest_expiry = if p.earliest_expiry == 0 {
                    v.time_ms
                } else {
                    p.earliest_expiry.min(v.time_ms)
                };
                p.latest_expiry = p.latest_expiry.max(v.time_ms);
            }
            Kind::Put => {}
        }
        self.key_buf.clear();
        put_internal_key(&mut self.key_buf, user, seq, v.kind);
        // The value field is the time, then the data: the data goes into
        // the block directly, not through `val_buf` (one copy of a long
        // value less).
        self.val_buf.clear();
        let data = value_parts(&mut self.val_buf, v);
        self.data.add_parts(&self.key_buf, &self.val_buf, data);
        if self.data.estimated_size() >= self.block_size {
            self.finish_data_block()?;
        }
        Ok(())
    }

    /// Bytes written so far plus the open block: where to cut output files.
    pub(crate) fn estimated_size(&self) -> u64 {
        self.offset + self.data.estimated_size() as u64
    }

    /// True when no entry was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.props.entries == 0
    }

    fn write_block(&mut self, block: &[u8]) -> Result<Handle> {
        let h = Handle {
            offset: self.offset,
            len: block.len() as u64,
        };
        let crc = crc32c::crc32c(block);
        self.file
            .write_all(block)
            .map_err(|e| Error::io(&self.path, e))?;
        self.file
            .write_all(&crc.to_le_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        self.offset += block.len() as u64 + 4;
        Ok(h)
    }

    fn finish_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let last = self.data.last_key().to_vec();
        let block = self.data.finish();
        let h = self.write_block(&block)?;
        let mut v = Vec::with_capacity(12);
        encode_handle(&mut v, h);
        self.index.add(&last, &v);
        self.props.data_blocks += 1;
        Ok(())
    }

    /// Writes filter, properties, index and footer, fsyncs, and returns the
    /// file size and properties. `now_ms` is recorded as the creation time.
    pub(crate) fn finish(mut self, now_ms: u64) -> Result<(u64, Properties)> {
        self.finish_data_block()?;
        if let Some(l) = &self.last_user {
            self.props.largest = Bytes::copy_from_slice(l);
        }
        if self.props.entries == 0 {
            self.props.min_seq = 0;
        }
        self.props.created_ms = now_ms;
        let filter = bloom::build(&self.hashes, self.bloom_bits);
        let filter_h = self.write_block(&filter)?;
        let mut pb = Vec::new();
        self.props.encode(&mut pb);
        let props_h = self.write_block(&pb)?;
        let index = self.index.finish();
        let index_h = self.write_block(&index)?;
        let footer = Footer {
            index: index_h,
            filter: filter_h,
            props: props_h,
        }
        .encode();
        self.file
            .write_all(&footer)
            .map_err(|e| Error::io(&self.path, e))?;
        self.offset += footer.len() as u64;
        let file = self
            .file
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        Ok((self.offset, self.props))
    }
}
