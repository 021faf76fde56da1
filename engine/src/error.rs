//! The engine's one error type. Variants carry structure (file, offset,
//! expected and actual checksums) so callers, metrics and tests can match on
//! them; the `Display` text is for logs.

use std::path::PathBuf;

/// Result alias used by every fallible engine call.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call on `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not follow the documented format (see `docs/formats/`).
    #[error("corruption in {} at offset {offset}: {what}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged record, block or field.
        offset: u64,
        /// What was wrong, for the log.
        what: String,
    },
    /// A stored CRC32C did not match the bytes it covers.
    #[error("checksum mismatch in {} at offset {offset}: expected {expected:#010x}, got {actual:#010x}", file.display())]
    ChecksumMismatch {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the block or record whose checksum failed.
        offset: u64,
        /// The checksum stored on disk.
        expected: u32,
        /// The checksum computed over the bytes read.
        actual: u32,
    },
    /// A file carries a format version this build cannot read.
    #[error("unsupported format version {found} in {} (this build reads {supported})", file.display())]
    UnsupportedVersion {
        /// The file whose header or footer named the version.
        file: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The engine was shut down; no further writes are accepted.
    #[error("engine is closed")]
    Closed,
    /// A WAL write failed (writes are refused until the log takes writes
    /// again, and the writes whose records failed are undone) or an fsync
    /// failed (writes are refused until the process restarts and recovers).
    #[error("write-ahead log could not be written: {cause}")]
    WalPoisoned {
        /// The first failure, as text (the original `io::Error` is not `Clone`).
        cause: String,
    },
    /// Another process (or another `Engine` in this one) holds the directory lock.
    #[error("database directory {} is locked by another engine", path.display())]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },
    /// A background flush or compaction failed; the engine stops structural work.
    #[error("background error: {0}")]
    Background(String),
    /// An argument was outside its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `CURRENT` is missing from a directory that holds a database (`found`
    /// is one of its SSTables, or a WAL with records). Opening it as a new,
    /// empty database would hide that data, so `open` stops before changing
    /// anything (`docs/formats/manifest.md` §5).
    #[error(
        "{} is missing but the directory holds database files (such as {}): refusing to \
         open it as a new, empty database; nothing in the directory was changed. To recover, \
         restore CURRENT from a backup, or write the name of the newest MANIFEST-* file in \
         that directory followed by a newline into it",
        file.display(),
        found.display()
    )]
    MissingCurrent {
        /// The missing `CURRENT` file.
        file: PathBuf,
        /// A file showing that the directory holds data.
        found: PathBuf,
    },
    /// `CURRENT`, or the manifest it names, is missing or cannot be read, so
    /// what the database holds is unknown; `open` stops before changing
    /// anything. `cause` is the underlying error (`Io`, `Corruption`,
    /// `ChecksumMismatch` or `UnsupportedVersion`, naming the same file); it is
    /// part of this message rather than a `source()`, so a printed error chain
    /// shows it once.
    #[error(
        "cannot read {}, which says what the database holds ({cause}); nothing in the \
         directory was changed. To recover, restore it from a backup (for an unsupported \
         version, run a build that reads it)",
        file.display()
    )]
    UnreadableManifest {
        /// `CURRENT` or the `MANIFEST-NNNNNN` it names.
        file: PathBuf,
        /// Why it could not be read.
        cause: Box<Error>,
    },
    /// The write-ahead log the manifest names as live (it holds every write
    /// since the last flush) is missing (`found_len` is `None`) or shorter
    /// than its header (`Some(len)`). `open` stops before changing anything
    /// unless `Options::wal_missing_ok` accepts the loss
    /// (`docs/formats/wal.md` §5).
    #[error(
        "write-ahead log {} {}: it held the writes acknowledged since the last flush; \
         nothing in the directory was changed. To recover, restore it from a backup, or \
         start once with wal-missing-ok yes (engine option wal_missing_ok) to open with \
         what the SSTables hold and lose those writes",
        file.display(),
        describe_wal_len(*found_len)
    )]
    MissingWal {
        /// The WAL file the manifest's log number names.
        file: PathBuf,
        /// Its length when it exists but is shorter than its header.
        found_len: Option<u64>,
    },
}

fn describe_wal_len(found_len: Option<u64>) -> String {
    match found_len {
        None => "is missing".to_string(),
        Some(len) => format!(
            "is {len} bytes long, shorter than its {}-byte header",
            crate::format::WAL_HEADER_LEN
        ),
    }
}

impl Error {
    /// Wraps an `io::Error` with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a `Corruption` error.
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        what: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            what: what.into(),
        }
    }

    /// True for a failure to write (a full disk, a file-size limit, an I/O
    /// error): background work retries it, and it clears once writes go
    /// through again. Damage (corruption, checksums) is not one.
    pub fn is_write_failure(&self) -> bool {
        matches!(self, Error::Io { .. } | Error::WalPoisoned { .. })
    }

    /// True for errors that mean bytes on disk are damaged.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Corruption { .. } | Error::ChecksumMismatch { .. } => true,
            Error::UnreadableManifest { cause, .. } => cause.is_corruption(),
            _ => false,
        }
    }

    /// A cheap clonable copy for fan-out to several waiters (I/O sources become text).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corruption { file, offset, what } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                what: what.clone(),
            },
            Error::ChecksumMismatch {
                file,
                offset,
                expected,
                actual,
            } => Error::ChecksumMismatch {
                file: file.clone(),
                offset: *offset,
                expected: *expected,
                actual: *actual,
            },
            Error::UnsupportedVersion {
                file,
                found,
                supported,
            } => Error::UnsupportedVersion {
                file: file.clone(),
                found: *found,
                supported: *supported,
            },
            Error::Closed => Error::Closed,
            Error::WalPoisoned { cause } => Error::WalPoisoned {
                cause: cause.clone(),
            },
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::Background(s) => Error::Background(s.clone()),
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::MissingCurrent { file, found } => Error::MissingCurrent {
                file: file.clone(),
                found: found.clone(),
            },
            Error::UnreadableManifest { file, cause } => Error::UnreadableManifest {
                file: file.clone(),
                cause: Box::new(cause.duplicate()),
            },
            Error::MissingWal { file, found_len } => Error::MissingWal {
                file: file.clone(),
                found_len: *found_len,
            },
        }
    }
}
