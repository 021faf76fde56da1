//! The data directory as `open` finds it: an inventory of the engine's files,
//! the checks that refuse a directory whose `CURRENT` or live WAL is gone,
//! and moving files the manifest does not know into `orphaned/` instead of
//! deleting them.
//!
//! The rule (`docs/operations.md`, "The data directory";
//! `docs/formats/manifest.md` §5; `docs/formats/wal.md` §5): `open` deletes
//! a file only when the manifest proves it obsolete (a WAL below the log
//! number, an SSTable a recorded edit removed, a manifest older than the one
//! `CURRENT` names). Anything else it does not need is moved aside, and a
//! file it needs but cannot find stops it before it changes anything. Files
//! whose names the engine never uses are left alone.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{CURRENT_FILE, ORPHANED_DIR, SST_SUFFIX, WAL_HEADER_LEN, WAL_SUFFIX};
use crate::manifest::parse_manifest_name;
use crate::wal::{sync_dir, wal_path};

/// One engine file found in the directory.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

/// Which of the engine's file kinds a name denotes.
enum Kind {
    Manifest,
    Sst,
    Wal,
}

/// The engine's files in a data directory, each list sorted by number.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    pub(crate) manifests: Vec<Found>,
    pub(crate) ssts: Vec<Found>,
    pub(crate) wals: Vec<Found>,
}

/// `NNNNNN.ext` (at least six digits) → `(NNNNNN, ext)`.
fn parse_numbered(name: &str) -> Option<(u64, &str)> {
    let (num, ext) = name.split_once('.')?;
    if num.len() < 6 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((num.parse().ok()?, ext))
}

impl Inventory {
    /// Lists the regular files (symlinks followed) at the top of `dir` whose
    /// names the engine uses for manifests, SSTables and WALs. Reads only.
    pub(crate) fn scan(dir: &Path) -> Result<Inventory> {
        let mut inv = Inventory::default();
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(dir, e))?;
            let path = e.path();
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // Other names are not the engine's: never even stat them (a
            // dangling symlink the operator left must not stop a start).
            let (number, kind) = if let Some(number) = parse_manifest_name(&name) {
                (number, Kind::Manifest)
            } else {
                match parse_numbered(&name) {
                    Some((number, SST_SUFFIX)) => (number, Kind::Sst),
                    Some((number, WAL_SUFFIX)) => (number, Kind::Wal),
                    _ => continue,
                }
            };
            let meta = std::fs::metadata(&path).map_err(|err| Error::io(&path, err))?;
            if !meta.is_file() {
                continue;
            }
            let found = Found {
                number,
                path,
                len: meta.len(),
            };
            match kind {
                Kind::Manifest => inv.manifests.push(found),
                Kind::Sst => inv.ssts.push(found),
                Kind::Wal => inv.wals.push(found),
            }
        }
        for list in [&mut inv.manifests, &mut inv.ssts, &mut inv.wals] {
            list.sort_unstable_by_key(|f| f.number);
        }
        Ok(inv)
    }

    /// The highest number any engine file uses (0 if none).
    pub(crate) fn max_number(&self) -> u64 {
        [&self.manifests, &self.ssts, &self.wals]
            .into_iter()
            .flatten()
            .map(|f| f.number)
            .max()
            .unwrap_or(0)
    }

    /// A file showing that the directory holds data: any SSTable, or a WAL
    /// with bytes past its header. Without `CURRENT`, such a directory is a
    /// database that lost its `CURRENT`, not a new one. A directory holding
    /// only header-sized WALs and manifests is what a first open killed
    /// before it wrote `CURRENT` leaves: nothing was ever acknowledged from it.
    pub(crate) fn evidence_of_data(&self) -> Option<&Path> {
        self.ssts
            .first()
            .or_else(|| self.wals.iter().find(|w| w.len > WAL_HEADER_LEN as u64))
            .map(|f| f.path.as_path())
    }
}

/// Refuses to open a directory that holds data but no `CURRENT`.
pub(crate) fn check_current_missing(dir: &Path, inv: &Inventory) -> Result<()> {
    match inv.evidence_of_data() {
        Some(found) => Err(Error::MissingCurrent {
            file: dir.join(CURRENT_FILE),
            found: found.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Checks that WAL `log_number`, which the manifest says holds every write
/// since the last flush, exists with at least a whole header. The engine
/// fsyncs a WAL's header and directory entry before a manifest edit names it
/// (see `wal::sync_existing`), so neither a crash nor a power cut can leave it
/// missing or shorter than that: only an outside hand can. Unless
/// `accept_loss`, that is `Error::MissingWal`; with it, a warning, and replay
/// then treats a short file as empty (a missing one is simply not replayed).
pub(crate) fn check_live_wal(dir: &Path, log_number: u64, accept_loss: bool) -> Result<()> {
    let path = wal_path(dir, log_number);
    let found_len = match std::fs::metadata(&path) {
        Ok(m) if m.len() >= WAL_HEADER_LEN as u64 => return Ok(()),
        Ok(m) => Some(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&path, e)),
    };
    if !accept_loss {
        return Err(Error::MissingWal {
            file: path,
            found_len,
        });
    }
    tracing::warn!(
        file = %path.display(),
        found_len = ?found_len,
        "the live write-ahead log is missing or shorter than its header; opening without \
         the writes it held since the last flush because wal-missing-ok is set"
    );
    Ok(())
}

/// Moves `path` into `dir/orphaned/` (never over an earlier file of the same
/// name) and logs why. A failure is logged and otherwise ignored: the file
/// then stays where it is, which is harmless, since nothing reads a file the
/// manifest does not name and new file numbers are allocated above it.
pub(crate) fn move_aside(dir: &Path, path: &Path, why: &str) {
    let aside = dir.join(ORPHANED_DIR);
    let Some(name) = path.file_name() else {
        return;
    };
    let result = std::fs::create_dir_all(&aside).and_then(|()| {
        let mut target = aside.join(name);
        let mut n = 1u32;
        while target.exists() {
            let mut numbered = name.to_os_string();
            numbered.push(format!(".{n}"));
            target = aside.join(numbered);
            n += 1;
        }
        std::fs::rename(path, &target).map(|()| target)
    });
    match result {
        Ok(target) => {
            tracing::warn!(file = %path.display(), moved_to = %target.display(), why, "moved a file the manifest does not know aside");
            if let Err(e) = sync_dir(&aside).and_then(|()| sync_dir(dir)) {
                tracing::warn!(error = %e, "could not fsync the directories after moving a file aside");
            }
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, why, "could not move a file the manifest does not know aside; leaving it in place");
        }
    }
}

/// Deletes `path`, which the manifest proves obsolete; a failure is logged
/// (the file is deleted or moved aside at a later open).
pub(crate) fn delete_obsolete(path: &Path, why: &str) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::debug!(file = %path.display(), why, "deleted an obsolete file"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, why, "could not delete an obsolete file")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_strictly() {
        assert_eq!(parse_numbered("000012.sst"), Some((12, "sst")));
        assert_eq!(parse_numbered("12.sst"), None);
        assert_eq!(parse_numbered("000012.sst.tmp"), Some((12, "sst.tmp")));
        assert_eq!(parse_manifest_name("MANIFEST-000007"), Some(7));
        assert_eq!(parse_manifest_name("MANIFEST-"), None);
        assert_eq!(parse_manifest_name("MANIFEST-+7"), None);
        assert_eq!(parse_manifest_name("MANIFEST-7/x"), None);
        assert_eq!(parse_manifest_name("CURRENT"), None);
    }
}
