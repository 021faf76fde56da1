//! The cluster layer's error type.

use std::fmt;
use std::time::Duration;

use crate::ring::NodeId;
use crate::rpc::RpcError;

/// Result alias for the cluster crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong below the command layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, corruption, closed, poisoned WAL).
    /// Its message is part of this one and not also a `source`, so a
    /// printed error chain (`{:#}`) names it once.
    #[error("storage: {0}")]
    Engine(ringkv_engine::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record for key {key:?}: {what}")]
    CorruptRecord {
        /// The user key.
        key: Vec<u8>,
        /// What is wrong with it.
        what: String,
    },
    /// `databases` is lower than a database that holds data.
    #[error(
        "database {db} holds data but databases is {databases}: start with databases {need} or \
         more (a lower value would let compaction delete the databases beyond it), or FLUSHALL \
         with the old value first"
    )]
    DatabasesLowered {
        /// The configured number of databases.
        databases: u32,
        /// A database at or beyond it that holds data.
        db: u32,
        /// The value that serves it.
        need: u32,
    },
    /// The namespace table stored in the engine is damaged.
    #[error("corrupt namespace table: {what}")]
    CorruptNamespaces {
        /// What is wrong with it.
        what: String,
    },
    /// Fewer replicas answered than the consistency level needs (clients
    /// see it as `-NOQUORUM <this text>`).
    #[error("needed {required} replicas, {answered} answered")]
    NoQuorum {
        /// Replicas the level needs.
        required: usize,
        /// Replicas that answered (or were reachable) in time.
        answered: usize,
    },
    /// A replica refused a counter operation (e.g. the value is not an
    /// integer); the text is Redis's, without the `ERR ` prefix.
    #[error("{0}")]
    NotApplied(String),
    /// A HyperLogLog command on a value that is not one (clients see
    /// `-WRONGTYPE Key is not a valid HyperLogLog string value.`).
    #[error("Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// A command on a key holding another type (`-WRONGTYPE ...`).
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A HyperLogLog command on a damaged one (`-INVALIDOBJ`).
    #[error("Corrupted HLL object detected")]
    CorruptHll,
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
    /// An operator command or a start that the cluster's state does not
    /// allow (nothing was changed).
    #[error("{0}")]
    Refused(Refusal),
    /// A repair, rebuild or hand-over did not reach every peer it needed.
    #[error("{0}")]
    Sync(SyncFailure),
    /// The cluster port cannot be opened.
    #[error("{0}")]
    Port(PortError),
    /// A node's own state stored in its engine (node id, tokens, actor,
    /// member table) is damaged.
    #[error("stored {what}")]
    CorruptNodeState {
        /// Which item, and what is wrong with it.
        what: String,
    },
    /// A background task this request waited for panicked or was cancelled.
    #[error("{what} task failed: {cause}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Why it ended.
        cause: String,
    },
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

impl From<ringkv_engine::Error> for Error {
    fn from(e: ringkv_engine::Error) -> Self {
        Error::Engine(e)
    }
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
            Error::Engine(_)
            | Error::CorruptRecord { .. }
            | Error::CorruptNamespaces { .. }
            | Error::DatabasesLowered { .. } => ErrorCode::Storage,
            Error::CorruptNodeState { .. } => ErrorCode::Storage,
            Error::NotApplied(_)
            | Error::BadContext(_)
            | Error::DbOutOfRange { .. }
            | Error::NotHll
            | Error::WrongType
            | Error::CorruptHll
            | Error::Refused(_) => ErrorCode::Refused,
            Error::NoQuorum { .. }
            | Error::Sync(_)
            | Error::Port(_)
            | Error::Task { .. }
            | Error::Seeds(_)
            | Error::Peer { .. }
            | Error::BadReply { .. } => ErrorCode::Internal,
        }
    }
}

/// Why a membership command (CLUSTER JOIN, LEAVE, REMOVE) or a start was
/// refused: the cluster's state does not allow it, and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An empty directory at the address of a member that was leaving.
    #[error(
        "the member at this address, {0:016x}, was leaving when it went down: \
         take it off with CLUSTER REMOVE {0:016x} on another node, then start this one"
    )]
    ReplacedMemberWasLeaving(NodeId),
    /// The stored id has left the cluster.
    #[error(
        "this node's id has left the cluster (CLUSTER REMOVE, or CLUSTER LEAVE) and cannot \
         come back: start it with an empty data directory to join as a new member"
    )]
    IdHasLeft,
    /// Another process serves this node's id.
    #[error(
        "another process serves this node's id {id:016x} at {addr} (a copy of its data \
         directory?): two processes with one id lose writes; stop one, or start this one with \
         an empty data directory to join as a new member"
    )]
    TwinRunning { id: NodeId, addr: String },
    /// A restarted member's seed answers for another cluster.
    #[error(
        "seed {0} belongs to another cluster: none of its members is this node or a member \
         this node knew, and gossiping with it would merge two rings without moving their data; \
         start this node with its own cluster's seeds, or with an empty data directory to join \
         that cluster as a new member"
    )]
    SeedOfAnotherCluster(String),
    /// A seed's cluster keeps another number of replicas per key.
    #[error(
        "seed {seed} keeps {theirs} replicas per key and this node was started with \
         replicas {ours}: every member must use the same value, or they disagree on which \
         nodes hold a key and reads miss acknowledged writes; start this node with \
         replicas {theirs}"
    )]
    ReplicasDiffer {
        /// The seed asked.
        seed: String,
        /// Its `replicas`.
        theirs: u32,
        /// This node's.
        ours: u32,
    },
    /// CLUSTER JOIN on a node that has left.
    #[error("this node has left its cluster: restart it to join as a new member")]
    JoinAfterLeaving,
    /// CLUSTER JOIN naming this node's own cluster port.
    #[error(
        "CLUSTER JOIN names this node's own cluster port: give a member of the cluster to join"
    )]
    JoinSelf,
    /// CLUSTER JOIN on a node that holds keys.
    #[error(
        "this node holds keys, and a joining node's own keys are not carried over: \
         FLUSHALL it first (or start it with an empty data directory), then join"
    )]
    JoinWithKeys,
    /// CLUSTER JOIN on a node already in a cluster.
    #[error("this node is already a member of a cluster")]
    AlreadyMember,
    /// CLUSTER LEAVE on a node that has left.
    #[error("this node has already left")]
    AlreadyLeft,
    /// CLUSTER LEAVE on a node without ranges.
    #[error("this node does not own ranges on the ring")]
    NotOnRing,
    /// CLUSTER LEAVE on the only member.
    #[error("this node is the only member; there is no one to hand its data to")]
    OnlyMember,
    /// CLUSTER LEAVE while this node joins or already leaves.
    #[error("this node is not normal: it is joining, or a CLUSTER LEAVE of it is running")]
    NotNormal,
    /// Another member is joining or leaving.
    #[error("node {node:016x} is {status}: run CLUSTER LEAVE once it has finished")]
    OtherMovement {
        /// The moving member.
        node: NodeId,
        /// `joining` or `leaving`.
        status: &'static str,
    },
    /// A member that would take over ranges is down.
    #[error(
        "node {0:016x} would take over ranges but is down: \
         run CLUSTER LEAVE again once it is up, or CLUSTER REMOVE it"
    )]
    SuccessorDown(NodeId),
    /// CLUSTER REMOVE of this node.
    #[error("this is the node itself: run CLUSTER LEAVE to take it out")]
    RemoveSelf,
    /// CLUSTER REMOVE of an id nobody knows.
    #[error("unknown node {0:016x}")]
    UnknownNode(NodeId),
    /// CLUSTER REMOVE of a member that is up.
    #[error("node {0:016x} is up: stop it first, or run CLUSTER LEAVE on it")]
    NodeUp(NodeId),
    /// CLUSTER REMOVE of a member that has left.
    #[error("node {0:016x} has already left")]
    NodeLeft(NodeId),
    /// CLUSTER REMOVE of a member announced at a version no removal beats.
    #[error(
        "node {0:016x} was announced at a version too high for a removal peers would \
         accept (a misbehaving peer?)"
    )]
    VersionTooHigh(NodeId),
}

/// A repair, rebuild or hand-over that did not reach every peer it needed.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// Replicas a rebuild needs are down.
    #[error("replicas down: {}", hex_ids(.0))]
    ReplicasDown(Vec<NodeId>),
    /// A rebuild failed with some peers.
    #[error("sync failed with {}", describe_failures(.0))]
    Rebuild(Vec<(NodeId, Error)>),
    /// A CLUSTER REPAIR round failed with some peers.
    #[error(
        "repair failed with {} of {} peers: {}",
        .failed.len(),
        .failed.len() + .succeeded,
        describe_failures(.failed)
    )]
    Repair {
        /// The peers that failed, with why.
        failed: Vec<(NodeId, Error)>,
        /// How many peers were synced.
        succeeded: usize,
    },
    /// A background anti-entropy round reached no peer.
    #[error("anti-entropy failed with all {0} peers")]
    AllPeers(usize),
    /// CLUSTER LEAVE could not stream a range to its next replica.
    #[error("handing ranges to node {node:016x} failed: {cause}")]
    HandOff {
        /// The next replica.
        node: NodeId,
        /// Why.
        cause: Box<Error>,
    },
}

/// Why the cluster port cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// No secret, and a non-loopback bind address.
    #[error(
        "cluster-secret is not set, and the cluster port would listen beyond loopback \
         (bind {0}): set the same cluster-secret on every member, or bind a \
         loopback address"
    )]
    NoSecret(String),
    /// The default port (client port + 10000) does not exist.
    #[error("cluster-port: the default, client port + 10000, passes 65535; set cluster-port")]
    NoPort,
    /// The bind failed.
    #[error("cannot listen on cluster port {host}:{port}: {source}")]
    Bind {
        /// The bind address.
        host: String,
        /// The port.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
}

fn hex_ids(ids: &[NodeId]) -> String {
    ids.iter()
        .map(|p| format!("{p:016x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `id (error), ...` for the peers a round failed with.
pub(crate) fn describe_failures(failed: &[(NodeId, Error)]) -> String {
    failed
        .iter()
        .map(|(p, e)| format!("{p:016x} ({e})"))
        .collect::<Vec<_>>()
        .join(", ")
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
