//! The cluster layer's error type.

/// Result alias for the cluster crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong below the command layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, corruption, closed, poisoned WAL).
    #[error("storage: {0}")]
    Engine(#[from] ringkv_engine::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record for key {key:?}: {what}")]
    CorruptRecord {
        /// The user key.
        key: Vec<u8>,
        /// What is wrong with it.
        what: String,
    },
    /// The namespace table stored in the engine is damaged.
    #[error("corrupt namespace table: {what}")]
    CorruptNamespaces {
        /// What is wrong with it.
        what: String,
    },
    /// A database index outside `0..databases`.
    #[error("database {db} out of range (databases = {databases})")]
    DbOutOfRange {
        /// The requested index.
        db: u32,
        /// The configured number of databases.
        databases: u32,
    },
}
