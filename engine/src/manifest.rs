//! The manifest (`docs/formats/manifest.md`): an append-only log of
//! `VersionEdit`s from which `open` rebuilds the exact tree shape, log number,
//! next file number, last sequence and compaction strategy.
//!
//! On every open a fresh manifest is written holding one edit that describes
//! the whole recovered state; then `CURRENT` is replaced atomically (write
//! `CURRENT.tmp`, fsync, rename, fsync the directory) and older manifests are
//! deleted. Each later edit is appended and fsynced before the version it
//! describes is published, so after a crash the manifest never names a file
//! that was not completely written, and a torn last record is an edit that
//! never took effect.
//!
//! A `CURRENT` or manifest that exists but cannot be read is
//! `Error::UnreadableManifest` naming it; whether a missing `CURRENT` means a
//! new database is decided by `open` from what else the directory holds.
//!
//! Callers hold the engine's structure lock while appending (see `db`).

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::coding::{Cursor, DecodeError, put_varint};
use crate::error::{Error, Result};
use crate::format::{
    CURRENT_FILE, MANIFEST_MAGIC, MANIFEST_PREFIX, MANIFEST_RECORD_EDIT, MANIFEST_VERSION, edit_tag,
};
use crate::options::CompactionStrategy;
use crate::sstable::Properties;
use crate::version::{FileMeta, Version};
use crate::wal::record::{append_record, read_records};
use crate::wal::sync_dir;

/// A file added by an edit, with its placement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AddedFile {
    pub(crate) level: usize,
    pub(crate) run_id: u64,
    pub(crate) meta: Arc<FileMeta>,
}

/// One atomic change to the tree's shape and counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VersionEdit {
    pub(crate) log_number: Option<u64>,
    pub(crate) next_file_number: Option<u64>,
    pub(crate) last_seq: Option<u64>,
    pub(crate) strategy: Option<CompactionStrategy>,
    pub(crate) added: Vec<AddedFile>,
    pub(crate) deleted: Vec<u64>,
}

fn strategy_code(s: CompactionStrategy) -> u8 {
    match s {
        CompactionStrategy::Leveled => 0,
        CompactionStrategy::SizeTiered => 1,
    }
}

impl VersionEdit {
    /// Encodes the edit as `field*` (see the format doc, §2).
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        if let Some(v) = self.log_number {
            buf.push(edit_tag::LOG_NUMBER);
            put_varint(buf, v);
        }
        if let Some(v) = self.next_file_number {
            buf.push(edit_tag::NEXT_FILE_NUMBER);
            put_varint(buf, v);
        }
        if let Some(v) = self.last_seq {
            buf.push(edit_tag::LAST_SEQ);
            put_varint(buf, v);
        }
        if let Some(s) = self.strategy {
            buf.push(edit_tag::COMPACTION_STRATEGY);
            buf.push(strategy_code(s));
        }
        for n in &self.deleted {
            buf.push(edit_tag::DELETE_FILE);
            put_varint(buf, *n);
        }
        for a in &self.added {
            buf.push(edit_tag::ADD_FILE);
            put_varint(buf, a.level as u64);
            put_varint(buf, a.run_id);
            put_varint(buf, a.meta.number);
            put_varint(buf, a.meta.size);
            let mut props = Vec::new();
            a.meta.props.encode(&mut props);
            put_varint(buf, props.len() as u64);
            buf.extend_from_slice(&props);
        }
    }

    /// Decodes one edit payload.
    pub(crate) fn decode(buf: &[u8]) -> std::result::Result<VersionEdit, DecodeError> {
        let mut c = Cursor::new(buf);
        let mut e = VersionEdit::default();
        while !c.is_empty() {
            let at = c.pos();
            match c.u8("edit tag")? {
                edit_tag::LOG_NUMBER => e.log_number = Some(c.varint("log number")?),
                edit_tag::NEXT_FILE_NUMBER => {
                    e.next_file_number = Some(c.varint("next file number")?)
                }
                edit_tag::LAST_SEQ => e.last_seq = Some(c.varint("last seq")?),
                edit_tag::COMPACTION_STRATEGY => {
                    e.strategy = Some(match c.u8("strategy")? {
                        0 => CompactionStrategy::Leveled,
                        1 => CompactionStrategy::SizeTiered,
                        _ => {
                            return Err(DecodeError {
                                at: at + 1,
                                what: "unknown compaction strategy",
                            });
                        }
                    })
                }
                edit_tag::DELETE_FILE => e.deleted.push(c.varint("deleted file")?),
                edit_tag::ADD_FILE => {
                    let level = c.varint_len(crate::version::NUM_LEVELS - 1, "level")?;
                    let run_id = c.varint("run id")?;
                    let number = c.varint("file number")?;
                    let size = c.varint("file size")?;
                    let props = Properties::decode(c.len_bytes("file properties")?)?;
                    e.added.push(AddedFile {
                        level,
                        run_id,
                        meta: Arc::new(FileMeta {
                            number,
                            size,
                            props,
                        }),
                    });
                }
                _ => {
                    return Err(DecodeError {
                        at,
                        what: "unknown edit tag",
                    });
                }
            }
        }
        Ok(e)
    }
}

/// State rebuilt from a manifest.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) version: Version,
    pub(crate) log_number: u64,
    pub(crate) next_file_number: u64,
    pub(crate) last_seq: u64,
    pub(crate) strategy: Option<CompactionStrategy>,
    pub(crate) manifest_number: u64,
    /// Every file number an edit of this manifest deleted (a trivial move
    /// deletes and re-adds the same number: subtract the live files). Such a
    /// file left on disk is provably obsolete.
    pub(crate) deleted: BTreeSet<u64>,
    /// Length of the manifest's whole records (a torn tail is past it).
    pub(crate) valid_len: u64,
}

fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{MANIFEST_PREFIX}{n:06}"))
}

/// `MANIFEST-NNNNNN` (digits only) → `NNNNNN`; anything else → `None`.
pub(crate) fn parse_manifest_name(name: &str) -> Option<u64> {
    let num = name.strip_prefix(MANIFEST_PREFIX)?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse().ok()
}

/// The 16-byte manifest header: magic, version, crc32c of the previous 12 bytes.
pub(crate) fn header() -> Vec<u8> {
    let mut h = Vec::with_capacity(16);
    h.extend_from_slice(&MANIFEST_MAGIC);
    h.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Reads `CURRENT` and replays the manifest it names. `Ok(None)` when
/// `CURRENT` does not exist (the caller decides whether that is a new
/// database); any other failure is `UnreadableManifest` naming `CURRENT` or
/// the manifest.
pub(crate) fn recover(dir: &Path) -> Result<Option<Recovered>> {
    let current = dir.join(CURRENT_FILE);
    let unreadable = |file: &Path, cause: Error| Error::UnreadableManifest {
        file: file.to_path_buf(),
        cause: Box::new(cause),
    };
    let name = match std::fs::read_to_string(&current) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(&current, Error::io(&current, e))),
    };
    // Trimmed: an operator restoring CURRENT by hand may leave a newline
    // (or none, or a CR); no manifest name holds whitespace.
    let name = name.trim();
    let number = parse_manifest_name(name).ok_or_else(|| {
        unreadable(
            &current,
            Error::corruption(
                &current,
                0,
                format!("CURRENT names {name:?}, not a manifest"),
            ),
        )
    })?;
    let path = manifest_path(dir, number);
    replay(&path, number)
        .map(Some)
        .map_err(|e| unreadable(&path, e))
}

/// Rebuilds the state recorded in manifest `number` at `path`.
fn replay(path: &Path, number: u64) -> Result<Recovered> {
    let path = path.to_path_buf();
    let data = Bytes::from(std::fs::read(&path).map_err(|e| Error::io(&path, e))?);
    let head = header();
    let got = data.get(..16).unwrap_or_default();
    if got.get(..8) != head.get(..8) {
        return Err(Error::corruption(
            &path,
            0,
            "bad manifest magic or short header",
        ));
    }
    if got != &head[..] {
        let found = crate::coding::u32_at(got, 8).unwrap_or(0);
        let stored = crate::coding::u32_at(got, 12).unwrap_or(0);
        let actual = crc32c::crc32c(got.get(..12).unwrap_or_default());
        if stored != actual {
            return Err(Error::ChecksumMismatch {
                file: path,
                offset: 0,
                expected: stored,
                actual,
            });
        }
        return Err(Error::UnsupportedVersion {
            file: path,
            found,
            supported: MANIFEST_VERSION,
        });
    }
    let contents = read_records(&path, &data, 16, &|t| t == MANIFEST_RECORD_EDIT)?;
    // The first record (the snapshot edit) was fsynced before CURRENT named
    // this file, so it can never be a torn tail: without it the file is damaged.
    if contents.records.is_empty() {
        return Err(Error::corruption(
            &path,
            16,
            "manifest has no valid snapshot record",
        ));
    }
    let mut r = Recovered {
        manifest_number: number,
        ..Recovered::default()
    };
    for rec in &contents.records {
        let edit = VersionEdit::decode(&rec.payload).map_err(|e| {
            Error::corruption(
                &path,
                rec.offset,
                format!("bad version edit: {} at +{}", e.what, e.at),
            )
        })?;
        r.version = r.version.apply(&edit);
        r.deleted.extend(edit.deleted.iter().copied());
        if let Some(v) = edit.log_number {
            r.log_number = v;
        }
        if let Some(v) = edit.next_file_number {
            r.next_file_number = v;
        }
        if let Some(v) = edit.last_seq {
            r.last_seq = r.last_seq.max(v);
        }
        if let Some(s) = edit.strategy {
            r.strategy = Some(s);
        }
    }
    if contents.valid_len < data.len() as u64 {
        tracing::warn!(file = %path.display(), "ignoring torn manifest tail (an edit that never completed)");
    }
    r.valid_len = contents.valid_len;
    Ok(r)
}

/// The open manifest being appended to. Owned by the structure-lock state.
#[derive(Debug)]
pub(crate) struct ManifestWriter {
    path: PathBuf,
    file: File,
    /// Bytes of whole records written: where the next edit goes.
    len: u64,
}

impl ManifestWriter {
    /// Writes manifest `number` holding `snapshot` (the whole current state),
    /// points `CURRENT` at it atomically, and deletes the manifests numbered
    /// below it: `CURRENT` named one of them (or none), and the new one,
    /// complete and fsynced before the switch, supersedes it. `open` has
    /// moved aside any manifest `CURRENT` never named before calling this.
    pub(crate) fn create(
        dir: &Path,
        number: u64,
        snapshot: &VersionEdit,
    ) -> Result<ManifestWriter> {
        let path = manifest_path(dir, number);
        let mut buf = header();
        let mut payload = Vec::new();
        snapshot.encode(&mut payload);
        append_record(&mut buf, MANIFEST_RECORD_EDIT, &payload);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let written = file
            .write_all(&buf)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&path, e));
        if let Err(e) = written {
            // Not named by CURRENT yet: a full disk leaves nothing behind.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let len = buf.len() as u64;
        let tmp = dir.join(format!("{CURRENT_FILE}.tmp"));
        let mut t = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        t.write_all(format!("{MANIFEST_PREFIX}{number:06}\n").as_bytes())
            .map_err(|e| Error::io(&tmp, e))?;
        t.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(t);
        std::fs::rename(&tmp, dir.join(CURRENT_FILE)).map_err(|e| Error::io(&tmp, e))?;
        sync_dir(dir)?;
        // Older manifests are garbage once CURRENT names the new one.
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                if parse_manifest_name(name).is_some_and(|n| n < number) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(ManifestWriter { path, file, len })
    }

    /// Reopens manifest `number` (the one `CURRENT` names) to append after
    /// its `valid_len` bytes of whole records; a torn tail past them is cut
    /// off (shrinking needs no free space). Used when a full disk leaves no
    /// room for a fresh manifest at open.
    pub(crate) fn open_existing(dir: &Path, number: u64, valid_len: u64) -> Result<ManifestWriter> {
        let path = manifest_path(dir, number);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if size > valid_len {
            file.set_len(valid_len).map_err(|e| Error::io(&path, e))?;
        }
        Ok(ManifestWriter {
            path,
            file,
            len: valid_len,
        })
    }

    /// Appends one edit and fsyncs it. A failed write (a full disk) is cut
    /// back to the last whole edit, so the edit can be tried again later
    /// (the caller installs nothing on error). A failed fsync, or a cut that
    /// fails, leaves the manifest's state unknown: that error is not a
    /// write failure (`Error::is_write_failure`), so structural work stops.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        let mut payload = Vec::new();
        edit.encode(&mut payload);
        let mut buf = Vec::with_capacity(payload.len() + 9);
        append_record(&mut buf, MANIFEST_RECORD_EDIT, &payload);
        if let Err(e) = self.file.write_all_at(&buf, self.len) {
            if let Err(cut) = self.file.set_len(self.len) {
                return Err(Error::Background(format!(
                    "manifest {} holds a torn edit ({e}) that could not be cut off ({cut})",
                    self.path.display()
                )));
            }
            return Err(Error::io(&self.path, e));
        }
        if let Err(e) = self.file.sync_data() {
            return Err(Error::Background(format!(
                "manifest {} could not be fsynced: {e}",
                self.path.display()
            )));
        }
        self.len += buf.len() as u64;
        Ok(())
    }
}

/// An edit describing the whole of `v` plus counters, for a fresh manifest.
pub(crate) fn snapshot_edit(
    v: &Version,
    log_number: u64,
    next_file_number: u64,
    last_seq: u64,
    strategy: CompactionStrategy,
) -> VersionEdit {
    let mut e = VersionEdit {
        log_number: Some(log_number),
        next_file_number: Some(next_file_number),
        last_seq: Some(last_seq),
        strategy: Some(strategy),
        ..VersionEdit::default()
    };
    for (level, lv) in v.levels.iter().enumerate() {
        for run in &lv.runs {
            for f in &run.files {
                e.added.push(AddedFile {
                    level,
                    run_id: run.id,
                    meta: f.clone(),
                });
            }
        }
    }
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    fn meta(n: u64, lo: &str, hi: &str) -> Arc<FileMeta> {
        Arc::new(FileMeta {
            number: n,
            size: 100 * n,
            props: Properties {
                smallest: Bytes::from(lo.to_string()),
                largest: Bytes::from(hi.to_string()),
                min_seq: 1,
                max_seq: n,
                entries: 3,
                ..Properties::default()
            },
        })
    }

    #[test]
    fn edits_round_trip() {
        let e = VersionEdit {
            log_number: Some(4),
            next_file_number: Some(9),
            last_seq: Some(77),
            strategy: Some(CompactionStrategy::SizeTiered),
            added: vec![AddedFile {
                level: 1,
                run_id: 5,
                meta: meta(5, "a", "k"),
            }],
            deleted: vec![2, 3],
        };
        let mut b = Vec::new();
        e.encode(&mut b);
        assert_eq!(VersionEdit::decode(&b).unwrap(), e);
        for cut in 0..b.len() {
            let _ = VersionEdit::decode(b.get(..cut).unwrap());
        }
    }

    #[test]
    fn manifest_recovers_exact_version() {
        let d = tempfile::tempdir().unwrap();
        let mut v = Version::default();
        let e1 = VersionEdit {
            added: vec![
                AddedFile {
                    level: 0,
                    run_id: 3,
                    meta: meta(3, "a", "c"),
                },
                AddedFile {
                    level: 0,
                    run_id: 4,
                    meta: meta(4, "b", "d"),
                },
                AddedFile {
                    level: 2,
                    run_id: 1,
                    meta: meta(1, "a", "z"),
                },
            ],
            ..VersionEdit::default()
        };
        v = v.apply(&e1);
        let mut w = ManifestWriter::create(
            d.path(),
            10,
            &snapshot_edit(&v, 2, 11, 50, CompactionStrategy::Leveled),
        )
        .unwrap();
        let e2 = VersionEdit {
            deleted: vec![3],
            log_number: Some(6),
            ..VersionEdit::default()
        };
        w.append(&e2).unwrap();
        v = v.apply(&e2);
        let r = recover(d.path()).unwrap().unwrap();
        assert_eq!(r.log_number, 6);
        assert_eq!(r.next_file_number, 11);
        assert_eq!(r.last_seq, 50);
        assert_eq!(r.version.levels[0].runs.len(), 1);
        assert_eq!(r.version.levels[0].runs[0].id, 4);
        assert_eq!(r.version.levels[2].files(), 1);
        assert_eq!(format!("{:?}", r.version.levels), format!("{:?}", v.levels));
    }
}
