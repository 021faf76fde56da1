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
    /// A request to a peer failed: it could not be reached, timed out, or
    /// answered with an error (whose wire code the `RpcError` keeps).
    #[error("{what} {node:016x}: {cause}")]
    Peer {
        /// The peer.
        node: u64,
        /// What was asked, e.g. "tree from", "merge into".
        what: &'static str,
        /// Why it failed.
        cause: RpcError,
    },
    /// A peer answered with a reply that makes no sense for the request,
    /// or with a record that does not decode.
    #[error("{what} {node:016x}: {problem}")]
    BadReply {
        /// The peer.
        node: u64,
        /// What was asked.
        what: &'static str,
        /// What was wrong with the answer.
        problem: String,
    },
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
    /// A reply of the wrong kind from `node`, asked `what`.
    pub(crate) fn unexpected(node: u64, what: &'static str, reply: &impl fmt::Debug) -> Error {
        Error::BadReply {
            node,
            what,
            problem: format!("unexpected reply {reply:?}"),
        }
    }

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
            Error::NoQuorum { .. }
            | Error::Cluster(_)
            | Error::Seeds(_)
            | Error::Peer { .. }
            | Error::BadReply { .. } => ErrorCode::Internal,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::ErrorCode;

    #[test]
    fn peer_errors_name_the_node_what_was_asked_and_why() {
        let e = Error::Peer {
            node: 0xab,
            what: "tree from",
            cause: RpcError::Timeout,
        };
        assert_eq!(e.to_string(), "tree from 00000000000000ab: timed out");
        let e = Error::Peer {
            node: 1,
            what: "merge into",
            cause: RpcError::Failed {
                code: ErrorCode::Storage,
                text: "disk full".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "merge into 0000000000000001: remote error: disk full"
        );
        assert_eq!(e.wire_code(), ErrorCode::Internal);
        let e = Error::unexpected(2, "read from", &"Ack");
        assert_eq!(
            e.to_string(),
            "read from 0000000000000002: unexpected reply \"Ack\""
        );
        assert_eq!(Error::Rebuilding.wire_code(), ErrorCode::Rebuilding);
    }
}
