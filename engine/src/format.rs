//! Magic numbers, format versions and tags of every on-disk format, in one
//! place. Each constant is frozen: a tag number is never reused, a format
//! change bumps the version and updates the document it points to.
//!
//! - WAL: `docs/formats/wal.md`
//! - SSTable: `docs/formats/sstable.md`
//! - Manifest and CURRENT: `docs/formats/manifest.md`

/// First 8 bytes of every WAL file (`docs/formats/wal.md` §1).
pub const WAL_MAGIC: [u8; 8] = *b"RKVWAL\r\n";
/// WAL format version written by this build, stored after the magic.
pub const WAL_VERSION: u32 = 1;
/// Size of the WAL file header: magic, version, header crc.
pub const WAL_HEADER_LEN: usize = 16;
/// Size of a log record header: crc:u32le len:u32le type:u8.
pub const LOG_RECORD_HEADER_LEN: usize = 9;
/// Largest payload a log record may carry (1 GiB); larger lengths are corruption.
pub const LOG_MAX_PAYLOAD: usize = 1 << 30;

/// WAL record type: one whole write batch.
pub const WAL_RECORD_BATCH: u8 = 1;

/// Operation tag inside a batch (and the value kind inside SSTables): a put.
pub const OP_PUT: u8 = 1;
/// Operation tag inside a batch (and the value kind inside SSTables): a tombstone.
pub const OP_DELETE: u8 = 2;

/// First 8 bytes of every manifest file (`docs/formats/manifest.md` §1).
pub const MANIFEST_MAGIC: [u8; 8] = *b"RKVMAN\r\n";
/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;
/// Manifest record type: one version edit.
pub const MANIFEST_RECORD_EDIT: u8 = 1;

/// Version-edit field tags (`docs/formats/manifest.md` §2). Never reuse a number.
pub mod edit_tag {
    /// u64: WAL files numbered below this are flushed and may be deleted.
    pub const LOG_NUMBER: u8 = 1;
    /// u64: the next file number to hand out.
    pub const NEXT_FILE_NUMBER: u8 = 2;
    /// u64: the highest sequence number stored in any SSTable.
    pub const LAST_SEQ: u8 = 3;
    /// u8: compaction strategy (0 leveled, 1 size-tiered).
    pub const COMPACTION_STRATEGY: u8 = 4;
    /// A file added to the version (level, run, metadata).
    pub const ADD_FILE: u8 = 5;
    /// A file removed from the version (file number).
    pub const DELETE_FILE: u8 = 6;
}

/// Last 8 bytes of every SSTable (`docs/formats/sstable.md` §1), stored
/// little-endian so the file ends with the bytes `RKVSST\r\n`.
pub const SST_MAGIC: u64 = u64::from_le_bytes(*b"RKVSST\r\n");
/// SSTable format version, stored in the footer.
pub const SST_VERSION: u32 = 1;
/// Fixed size of the SSTable footer.
pub const SST_FOOTER_LEN: usize = 64;
/// Size of the trailer after every block: crc32c:u32le.
pub const BLOCK_TRAILER_LEN: usize = 4;

/// SSTable property tags (`docs/formats/sstable.md` §2). Never reuse a number.
pub mod prop_tag {
    /// bytes: smallest user key.
    pub const SMALLEST_KEY: u8 = 1;
    /// bytes: largest user key.
    pub const LARGEST_KEY: u8 = 2;
    /// varint: smallest sequence number.
    pub const MIN_SEQ: u8 = 3;
    /// varint: largest sequence number.
    pub const MAX_SEQ: u8 = 4;
    /// varint: number of entries (all versions, tombstones included).
    pub const ENTRIES: u8 = 5;
    /// varint: number of tombstones.
    pub const TOMBSTONES: u8 = 6;
    /// varint: number of puts carrying an expiry.
    pub const EXPIRING: u8 = 7;
    /// varint: earliest expiry (unix ms) among expiring puts (0 if none).
    pub const EARLIEST_EXPIRY: u8 = 8;
    /// varint: latest expiry (unix ms) among expiring puts (0 if none).
    pub const LATEST_EXPIRY: u8 = 9;
    /// varint: newest tombstone time (unix ms) (0 if none).
    pub const NEWEST_TOMBSTONE_MS: u8 = 10;
    /// varint: number of data blocks.
    pub const DATA_BLOCKS: u8 = 11;
    /// varint: unix ms when the file was written.
    pub const CREATED_MS: u8 = 12;
}

/// File-name suffix of write-ahead logs.
pub const WAL_SUFFIX: &str = "wal";
/// File-name suffix of SSTables.
pub const SST_SUFFIX: &str = "sst";
/// Name of the file that names the live manifest.
pub const CURRENT_FILE: &str = "CURRENT";
/// Name of the directory lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Prefix of manifest file names (`MANIFEST-000007`).
pub const MANIFEST_PREFIX: &str = "MANIFEST-";
/// Subdirectory of the data directory that receives files `open` found but
/// the manifest does not know (`docs/operations.md`, "The data directory").
/// Not `lost+found`: that name belongs to the file system at a mount's root.
pub const ORPHANED_DIR: &str = "orphaned";
