//! The write-ahead log (`docs/formats/wal.md`). One WAL file per memtable;
//! each record holds one whole write batch. This module owns the file header,
//! file creation and replay; `record` frames records, `committer` batches
//! appends into group-committed writes and fsyncs.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub(crate) mod committer;
pub(crate) mod record;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;

use crate::batch::{DecodedBatch, SharedValue, decode_batch, pieces};
use crate::coding::Cursor;
use crate::error::{Error, Result};
use crate::format::{WAL_HEADER_LEN, WAL_MAGIC, WAL_RECORD_BATCH, WAL_SUFFIX, WAL_VERSION};

/// Path of WAL number `n` in `dir`.
pub(crate) fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.{WAL_SUFFIX}"))
}

/// The 16-byte file header: magic, version, crc32c of the previous 12 bytes.
pub(crate) fn header_bytes() -> [u8; WAL_HEADER_LEN] {
    let mut h = [0u8; WAL_HEADER_LEN];
    let mut v = Vec::with_capacity(WAL_HEADER_LEN);
    v.extend_from_slice(&WAL_MAGIC);
    v.extend_from_slice(&WAL_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    h.copy_from_slice(&v);
    h
}

/// An open WAL file being appended to. Written only by the group-commit
/// leader (who holds the committer's I/O lock), so no lock of its own.
#[derive(Debug)]
pub(crate) struct WalFile {
    pub(crate) path: PathBuf,
    file: File,
    /// Set when bytes were written since the last fsync. Set by the leader
    /// after each append, cleared just before an fsync (the `everysec` fsync
    /// runs outside the I/O lock, so an append racing it only causes one
    /// extra fsync later, never a missed one).
    dirty: AtomicBool,
    /// Set until the directory entry of a newly created file has been made
    /// durable by the first `sync`.
    needs_dir_sync: AtomicBool,
    /// Bytes of whole records (and the header) written so far: where the
    /// next append goes. A failed append is cut back to it.
    len: AtomicU64,
}

impl WalFile {
    /// Creates WAL `number` in `dir` with its header. Nothing is fsynced
    /// here: creation happens under the engine's write lock, so the header
    /// and the directory entry become durable with the file's first `sync`
    /// (which every acknowledgement under `always` waits for). A crash before
    /// that leaves a missing, empty or torn-header file, which replay treats
    /// as empty.
    pub(crate) fn create(dir: &Path, number: u64) -> Result<WalFile> {
        let path = wal_path(dir, number);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if let Err(e) = file.write_all(&header_bytes()) {
            // A full disk: no half-made log is left behind (its number is
            // simply skipped).
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(&path, e));
        }
        Ok(WalFile {
            path,
            file,
            dirty: AtomicBool::new(true),
            needs_dir_sync: AtomicBool::new(true),
            len: AtomicU64::new(WAL_HEADER_LEN as u64),
        })
    }

    /// Reopens WAL `number` (already replayed, so it ends with a whole
    /// record) to append to it. Used when a full disk leaves no room for a
    /// fresh WAL at open.
    pub(crate) fn open_existing(dir: &Path, number: u64) -> Result<WalFile> {
        let path = wal_path(dir, number);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len < WAL_HEADER_LEN as u64 {
            return Err(Error::corruption(&path, 0, "WAL shorter than its header"));
        }
        Ok(WalFile {
            path,
            file,
            dirty: AtomicBool::new(false),
            needs_dir_sync: AtomicBool::new(false),
            len: AtomicU64::new(len),
        })
    }

    /// Appends `data` (whole records) at the end of what was written. When
    /// the write fails part-way (a full disk, a file-size limit), the file
    /// is cut back to its last whole record, so a later append never follows
    /// a torn one (replay stops at the first bad record); see
    /// `Committer::fail_write`.
    /// `shared` are values to write from their own memory, each at its
    /// place in `data` (`SharedValue::at`, in order).
    pub(crate) fn append(&self, data: &[u8], shared: &[SharedValue]) -> Result<()> {
        let mut at = self.len.load(Ordering::Acquire);
        for piece in pieces(data, 0, shared) {
            let piece = piece.bytes();
            if let Err(e) = self.file.write_all_at(piece, at) {
                self.dirty.store(true, Ordering::Relaxed);
                self.cut_back();
                return Err(Error::io(&self.path, e));
            }
            at += piece.len() as u64;
        }
        self.len.store(at, Ordering::Release);
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Drops whatever a failed append left past the last whole record.
    /// Shrinking a file needs no free space; if it still fails, the torn
    /// bytes stay until the next append overwrites them or replay cuts them.
    fn cut_back(&self) {
        let at = self.len.load(Ordering::Acquire);
        if let Err(e) = self.file.set_len(at) {
            tracing::warn!(file = %self.path.display(), error = %e, "could not cut a failed WAL append back");
        }
    }

    /// Whether the file can take another append: writes a block of zeros
    /// past the last record and cuts it off again. Used to notice that space
    /// came back after a failed append (a crash in between leaves zeros,
    /// which replay treats as a torn tail).
    pub(crate) fn probe(&self) -> Result<()> {
        const PROBE: [u8; 4096] = [0; 4096];
        let at = self.len.load(Ordering::Acquire);
        let r = self.file.write_all_at(&PROBE, at);
        let cut = self.file.set_len(at);
        r.map_err(|e| Error::io(&self.path, e))?;
        cut.map_err(|e| Error::io(&self.path, e))
    }

    /// fsyncs the file if anything was written since the last fsync.
    pub(crate) fn sync(&self) -> Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            if let Err(e) = self.file.sync_data() {
                self.dirty.store(true, Ordering::Relaxed);
                return Err(Error::io(&self.path, e));
            }
        }
        if self.needs_dir_sync.load(Ordering::Acquire) {
            if let Some(dir) = self.path.parent() {
                sync_dir(dir)?;
            }
            self.needs_dir_sync.store(false, Ordering::Release);
        }
        Ok(())
    }
}

/// fsyncs WAL `number`'s bytes so far (its header at least) through a
/// descriptor of its own. Called before a manifest edit names the file as the
/// live log (the edit's append fsyncs the directory entry first, see
/// `Inner::log_and_apply`): `create` does not fsync (it runs under the write
/// lock), and `open` refuses a live WAL that is missing or shorter than its
/// header, so a power cut must never be able to leave it so.
pub(crate) fn sync_existing(dir: &Path, number: u64) -> Result<()> {
    let path = wal_path(dir, number);
    File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&path, e))
}

/// fsyncs a directory so created, renamed or deleted entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// What replaying one WAL produced.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub(crate) batches: Vec<DecodedBatch>,
    /// True when a torn tail was cut off.
    pub(crate) truncated: bool,
}

/// Reads WAL `path`: checks the header, decodes every batch, truncates a torn
/// tail in place (so later appends never follow garbage), and reports a bad
/// record with valid data after it as `Corruption`.
pub(crate) fn replay(path: &Path) -> Result<Replayed> {
    let data = Bytes::from(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let mut truncated = false;
    let valid_len = if data.len() < WAL_HEADER_LEN {
        // Torn while being created: nothing was acknowledged from it.
        truncated = !data.is_empty();
        0
    } else {
        check_header(path, &data)?;
        let contents =
            record::read_records(path, &data, WAL_HEADER_LEN, &|t| t == WAL_RECORD_BATCH)?;
        let mut batches = Vec::with_capacity(contents.records.len());
        for r in &contents.records {
            let b = decode_batch(&r.payload).map_err(|e| {
                Error::corruption(
                    path,
                    r.offset,
                    format!("bad batch payload: {} at +{}", e.what, e.at),
                )
            })?;
            batches.push(b);
        }
        if contents.valid_len < data.len() as u64 {
            truncated = true;
        }
        if !truncated {
            return Ok(Replayed { batches, truncated });
        }
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        f.set_len(contents.valid_len)
            .map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))?;
        tracing::warn!(file = %path.display(), kept = contents.valid_len, dropped = data.len() as u64 - contents.valid_len, "truncated torn WAL tail");
        return Ok(Replayed { batches, truncated });
    };
    // Header itself torn: rewrite an empty, valid file.
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(&header_bytes())
        .map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))?;
    let _ = valid_len;
    Ok(Replayed {
        batches: Vec::new(),
        truncated,
    })
}

fn check_header(path: &Path, data: &[u8]) -> Result<()> {
    let mut c = Cursor::new(data);
    let bad = |what: &str| Error::corruption(path, 0, what.to_string());
    let magic = c.bytes(8, "magic").map_err(|_| bad("short header"))?;
    if magic != WAL_MAGIC {
        return Err(bad("bad WAL magic"));
    }
    let version = c.u32le("version").map_err(|_| bad("short header"))?;
    let crc = c.u32le("crc").map_err(|_| bad("short header"))?;
    let actual = crc32c::crc32c(data.get(..12).unwrap_or_default());
    if crc != actual {
        return Err(Error::ChecksumMismatch {
            file: path.to_path_buf(),
            offset: 0,
            expected: crc,
            actual,
        });
    }
    if version != WAL_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: WAL_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::batch::{WriteBatch, encode_batch};
    use crate::value::Value;

    fn write_wal(dir: &Path, n: u64, batches: usize) -> PathBuf {
        let w = WalFile::create(dir, n).unwrap();
        for i in 0..batches {
            let mut b = WriteBatch::new();
            b.put(format!("k{i}"), Value::new(format!("v{i}")));
            let mut buf = Vec::new();
            let s = record::reserve_header(&mut buf);
            encode_batch(&mut buf, i as u64 + 1, 0, &b);
            record::finish_header(&mut buf, s, WAL_RECORD_BATCH);
            w.append(&buf, &[]).unwrap();
        }
        w.sync().unwrap();
        w.path.clone()
    }

    #[test]
    fn replay_returns_every_batch() {
        let d = tempfile::tempdir().unwrap();
        let p = write_wal(d.path(), 1, 10);
        let r = replay(&p).unwrap();
        assert_eq!(r.batches.len(), 10);
        assert!(!r.truncated);
    }

    #[test]
    fn torn_tail_is_truncated_and_replay_is_stable() {
        let d = tempfile::tempdir().unwrap();
        let p = write_wal(d.path(), 1, 10);
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 3).unwrap();
        let r = replay(&p).unwrap();
        assert_eq!(r.batches.len(), 9);
        assert!(r.truncated);
        let r2 = replay(&p).unwrap();
        assert_eq!(r2.batches.len(), 9);
        assert!(!r2.truncated);
    }

    #[test]
    fn bad_header_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = write_wal(d.path(), 1, 1);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[0] = b'X';
        std::fs::write(&p, &bytes).unwrap();
        assert!(replay(&p).unwrap_err().is_corruption());
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[0] = WAL_MAGIC[0];
        bytes[8] = 9;
        let crc = crc32c::crc32c(&bytes[..12]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(
            replay(&p).unwrap_err(),
            Error::UnsupportedVersion { found: 9, .. }
        ));
    }
}
