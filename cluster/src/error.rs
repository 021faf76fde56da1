//! The cluster layer's error type.

use std::fmt;
use std::time::Duration;

use crate::rpc::RpcError;

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
    /// Fewer replicas answered than the consistency level needs.
    #[error("NOQUORUM needed {required} replicas, {answered} answered")]
    NoQuorum {
        /// Replicas the level needs.
        required: usize,
        /// Replicas that answered (or were reachable) in time.
        answered: usize,
    },
    /// A replica refused a counter operation (e.g. the value is not an
    /// integer); the text is Redis's, without the `ERR ` prefix.
    #[error("{0}")]
    Refused(String),
    /// A causal context given by a client could not be decoded.
    #[error("invalid causal context: {0}")]
    BadContext(String),
    /// This replica is rebuilding after it may have lost data and refuses
    /// to read or apply from its own record (nothing was done). Peers get
    /// it as the wire code `ErrorCode::Rebuilding`.
    #[error("REBUILDING this replica may have lost data and is syncing with its peers")]
    Rebuilding,
    /// Node-to-node communication failed outside the quorum logic.
    #[error("cluster: {0}")]
    Cluster(String),
    /// No seed could be used to learn the ring: each seed's reason (a
    /// refusal, not a cluster port, no answer in time).
    #[error("{0}")]
    Seeds(SeedFailures),
    /// A database index outside `0..databases`.
    #[error("database {db} out of range (databases = {databases})")]
    DbOutOfRange {
        /// The requested index.
        db: u32,
        /// The configured number of databases.
        databases: u32,
    },
}

/// Why one seed could not be used: its last error.
#[derive(Debug, Clone)]
pub struct SeedFailure {
    /// The seed's address, as configured.
    pub addr: String,
    /// What the last attempt found.
    pub error: RpcError,
}

impl Error {
    /// The code a peer gets when serving its request failed with this
    /// error (`docs/protocol/node-rpc.md`, ERROR).
    pub(crate) fn wire_code(&self) -> crate::rpc::ErrorCode {
        use crate::rpc::ErrorCode;
        match self {
            Error::Rebuilding => ErrorCode::Rebuilding,
            Error::Engine(_) | Error::CorruptRecord { .. } | Error::CorruptNamespaces { .. } => {
                ErrorCode::Storage
            }
            Error::Refused(_) | Error::BadContext(_) | Error::DbOutOfRange { .. } => {
                ErrorCode::Refused
            }
            Error::NoQuorum { .. } | Error::Cluster(_) | Error::Seeds(_) => ErrorCode::Internal,
        }
    }
}

impl fmt::Display for SeedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            RpcError::Refused { reason, .. } => write!(f, "seed {} refused: {reason}", self.addr),
            RpcError::NotRingkv { what, .. } => {
                write!(
                    f,
                    "seed {} is not a ringkv cluster port ({what})",
                    self.addr
                )
            }
            other => write!(f, "seed {}: {other}", self.addr),
        }
    }
}

/// Every seed's reason, for [`Error::Seeds`].
#[derive(Debug, Clone)]
pub struct SeedFailures {
    /// One per seed, in the configured order.
    pub failures: Vec<SeedFailure>,
    /// How long the seeds were tried: `None` when every one refused or
    /// was found not to be a cluster port, which waiting cannot change.
    pub waited: Option<Duration>,
}

impl fmt::Display for SeedFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.waited {
            Some(d) => write!(f, "no seed answered within {}s: ", d.as_secs())?,
            None => f.write_str("cannot join through the seeds: ")?,
        }
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}
