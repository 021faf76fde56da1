//! Requests and replies of the node-to-node protocol and their bodies
//! (`docs/protocol/node-rpc.md`). Each request kind has one reply kind,
//! `kind | 0x80`; any request may instead get [`kind::ERROR`]. Kind numbers
//! are never reused.

use bytes::Bytes;

use crate::codec::{BodyReader, BodyWriter, DecodeError};
use crate::membership::MemberState;
use crate::version::codec::{clock_bytes, decode_clock};
use crate::version::{CollectionOp, CollectionReply, VectorClock};

/// Frame kinds of requests; the reply to kind `k` is `k | 0x80`.
pub mod kind {
    /// `states` → `states`: push-pull gossip.
    pub const GOSSIP: u8 = 0x10;
    /// `db:u32 key` → `present:u8 [record]`: a replica's local record.
    pub const READ: u8 = 0x11;
    /// `db:u32 key record` → empty: merge a record into the local one.
    pub const MERGE: u8 = 0x12;
    /// `db:u32 key op` → `record outcome`: coordinate a write as a replica.
    pub const APPLY: u8 = 0x13;
    /// `db:u32 cursor:u64 count:u32` → `next:u64 done:u8 n:u32 (token:u64 key)*n`.
    pub const SCAN: u8 = 0x14;
    /// `n:u32 db:u32*n` → empty: give the databases fresh namespaces.
    pub const FLUSH: u8 = 0x15;
    /// `owner:u64 db:u32 key record` → empty: keep a hint for a down replica.
    pub const HINT: u8 = 0x16;
    /// `db:u32 depth:u8 n:u32 (start:u64 end:u64)*n` → `n:u32 leaf:u64*n`:
    /// the leaf level of the Merkle tree of the records in these ranges.
    pub const TREE: u8 = 0x17;
    /// `db:u32 n:u32 (start:u64 end:u64)*n after:u8 [token:u64 key] limit:u32`
    /// → `n:u32 (token:u64 key record)*n`: a page of records in ranges.
    pub const FETCH: u8 = 0x18;
    /// Several keys' records at once (protocol version 4).
    pub const READ_MANY: u8 = 0x19;
    /// Merge several keys' records at once (protocol version 4).
    pub const MERGE_MANY: u8 = 0x1A;
    /// `shard:u8 channel message` → `receivers:u64`: deliver a published
    /// message to this node's subscribers (protocol version 6).
    pub const PUBLISH: u8 = 0x1B;
    /// `from:u64 db:u32 n:u32 key*n` → empty: node `from` has clients
    /// blocked on these keys; tell it when they change (protocol 6).
    pub const INTEREST: u8 = 0x1C;
    /// `db:u32 key` → empty: a key another node was told about changed.
    pub const WAKE: u8 = 0x1D;
    /// `db:u32 key` → `present:u8 [clock]`: the causal context of a
    /// replica's record, read without its members (protocol version 7).
    pub const CLOCK: u8 = 0x1E;
    /// `db:u32 key base:clock actor:u64 now_ms:u64 op` → empty: apply a
    /// collection write the coordinating replica applied, if this replica's
    /// record has exactly the context `base` (protocol version 7).
    pub const APPLY_AT: u8 = 0x1F;
    /// `n:u32 db:u32*n` → empty: drop the hints of these databases (the
    /// first step of a flush, protocol version 9).
    pub const DROP_HINTS: u8 = 0x20;
    /// empty → `replicas:u32`: the settings every member must share, asked
    /// by a node joining or restarting through a seed (protocol 10).
    pub const SETTINGS: u8 = 0x21;
    /// `db:u32 n:u32 key*n` → `n:u32 (present:u8 [clock])*n`: the causal
    /// contexts of several keys' records, one per key in order (the
    /// CLOCKs of commands running at once, protocol version 13).
    pub const CLOCK_MANY: u8 = 0x22;
    /// `db:u32 n:u32 (key base:clock actor:u64 now_ms:u64 op)*n` →
    /// `n:u32 (ok:u8 [code:u8 text])*n`: several APPLY_ATs, each answered
    /// as it would be alone (the shipped writes of commands running at
    /// once, protocol version 13).
    pub const APPLY_AT_MANY: u8 = 0x23;
    /// Reply to any request that failed: `text`.
    pub const ERROR: u8 = 0x7F;
    /// Bit set in every reply kind.
    pub const REPLY: u8 = 0x80;
}

/// A write a coordinator asks a key's coordinating replica to perform.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Store a value. `context` is a client's causal context string (VSET);
    /// `None` supersedes everything the replica holds.
    Put {
        /// The value.
        value: Bytes,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
        /// The causal context the writer saw.
        context: Option<String>,
    },
    /// Write a versioned tombstone.
    Delete,
    /// INCRBY-style integer add to the counter CRDT.
    AddInt(i64),
    /// INCRBYFLOAT add to the counter CRDT.
    AddFloat(f64),
    /// PFADD these elements to the key's HyperLogLog.
    PfAdd(Vec<Bytes>),
    /// PFMERGE: raise the key's HyperLogLog to `registers` (one byte per
    /// register, the union of the sources); `dense` when a source was.
    PfMerge {
        /// The union's registers, [`ringkv_hll::REGISTERS`] bytes.
        registers: Bytes,
        /// Whether some source was dense (the result then is).
        dense: bool,
    },
    /// A write of a hash or set (body: [`CollectionOp::encode`]).
    Collection(CollectionOp),
    /// Write the key's string again with this expiry (0: none), as the
    /// receiver holds it (protocol version 12).
    Expire {
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
    /// Store `value` (a tombstone when `None`) and answer the string it
    /// replaced ([`Outcome::Previous`]): GETDEL, GETSET, SET ... GET
    /// (protocol version 12).
    Swap {
        /// The new value; `None` deletes.
        value: Option<Bytes>,
        /// Absolute expiry of the new value, unix ms (0: none).
        expire_at_ms: u64,
        /// [`swap`] bits (NX, XX, KEEPTTL, GET).
        flags: u8,
    },
}

/// Flags of [`Op::Swap`] (`crate::Mutation::Swap`).
pub mod swap {
    /// Only if the key is missing (SET NX).
    pub const NX: u8 = 1;
    /// Only if the key exists (SET XX).
    pub const XX: u8 = 2;
    /// Keep the key's expiry (SET KEEPTTL); `expire_at_ms` is ignored.
    pub const KEEPTTL: u8 = 4;
    /// The previous value is wanted: a key that is not a string is refused
    /// (`-WRONGTYPE`, GETDEL, GETSET, SET ... GET).
    pub const GET: u8 = 8;
}

/// What applying an [`Op`] produced besides the new record.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The write was applied.
    Done,
    /// A counter op was applied; the counter's new value as Redis prints it.
    Counter(Bytes),
    /// The op was refused (e.g. the value is not an integer); nothing changed.
    Refused(String),
    /// PFADD: whether a register changed (or the key was created).
    Changed(bool),
    /// A HyperLogLog op on a value that is not one; nothing changed.
    NotHll,
    /// A HyperLogLog op on a damaged HyperLogLog; nothing changed.
    CorruptHll,
    /// A hash or set op was applied; its reply.
    Collection(CollectionReply),
    /// An op on a key holding another type; nothing changed.
    WrongType,
    /// A swap: the string the key held, if any, and whether it wrote.
    Swapped {
        /// The string read.
        previous: Option<Bytes>,
        /// Whether the write was made.
        applied: bool,
    },
}

/// A request.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Gossip push: the sender's view of every member.
    Gossip(Vec<MemberState>),
    /// The settings every member must share.
    Settings,
    /// Read the local records of several keys of one database (a
    /// pipeline's GETs, fanned out together).
    ReadMany {
        /// Database index.
        db: u32,
        /// User keys.
        keys: Vec<Bytes>,
    },
    /// Merge records of several keys of one database (a pipeline's SETs,
    /// fanned out together); the reply says which were merged.
    MergeMany {
        /// Database index.
        db: u32,
        /// (user key, encoded siblings).
        items: Vec<(Bytes, Bytes)>,
    },
    /// Read the local record of a key.
    Read {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
    },
    /// Merge `record` (encoded siblings) into the local record of a key.
    Merge {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
        /// Encoded siblings.
        record: Bytes,
    },
    /// Apply a write as the key's coordinating replica.
    Apply {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
        /// Unix ms after which the caller has stopped waiting (and may
        /// have sent the write to another replica): a request held up in
        /// the network past it is refused, not applied (protocol version
        /// 11; 0 = no deadline).
        deadline_ms: u64,
        /// The write.
        op: Op,
    },
    /// A page of the local keys of `db` from ring position `cursor`.
    Scan {
        /// Database index.
        db: u32,
        /// First token to visit.
        cursor: u64,
        /// Keys to visit at most.
        count: u32,
    },
    /// Flush databases.
    Flush(Vec<u32>),
    /// Drop the hints of databases about to be flushed.
    DropHints(Vec<u32>),
    /// Keep `record` for `owner`, a preferred replica that is down.
    Hint {
        /// The replica the write is for.
        owner: u64,
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
        /// Encoded siblings.
        record: Bytes,
    },
    /// The Merkle leaves of `db`'s records in `ranges`.
    Tree {
        /// Database index.
        db: u32,
        /// log2 of the number of leaves.
        depth: u8,
        /// Ring ranges `(start, end]`.
        ranges: Vec<(u64, u64)>,
    },
    /// Deliver a message published on another node to this node's
    /// subscribers (PUBLISH, SPUBLISH).
    Publish {
        /// A shard channel (SPUBLISH) rather than a channel.
        shard: bool,
        /// The channel.
        channel: Bytes,
        /// The message.
        message: Bytes,
    },
    /// Node `from` has clients blocked on `keys`: wake it when they
    /// change here (for a while, see `coordinator::notify`).
    Interest {
        /// The interested node.
        from: u64,
        /// Database index.
        db: u32,
        /// User keys.
        keys: Vec<Bytes>,
    },
    /// A key this node asked about changed on the sender.
    Wake {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
    },
    /// A page of `db`'s records in `ranges`, after position `after`.
    Fetch {
        /// Database index.
        db: u32,
        /// Ring ranges `(start, end]`.
        ranges: Vec<(u64, u64)>,
        /// Where the previous page ended.
        after: Option<(u64, Bytes)>,
        /// Records at most.
        limit: u32,
    },
    /// The causal context of the local record of a key.
    Clock {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
    },
    /// The causal contexts of the local records of several keys of one
    /// database (the [`Request::Clock`]s of commands running at once).
    ClockMany {
        /// Database index.
        db: u32,
        /// User keys.
        keys: Vec<Bytes>,
    },
    /// Apply `op` as actor `actor` at time `now_ms`, the way the
    /// coordinating replica applied it, if the local record's context is
    /// `base` (so the result is the coordinator's record); otherwise answer
    /// [`ErrorCode::Diverged`] without applying, and the coordinator sends
    /// its whole record instead.
    ApplyAt {
        /// Database index.
        db: u32,
        /// The write, its key and base.
        item: ApplyAtItem,
    },
    /// Several [`Request::ApplyAt`]s in one database, each applied as it
    /// would be alone (concurrently) and answered on its own.
    ApplyAtMany {
        /// Database index.
        db: u32,
        /// The writes.
        items: Vec<ApplyAtItem>,
    },
}

/// A collection write shipped to a replica ([`Request::ApplyAt`], or one
/// of a [`Request::ApplyAtMany`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyAtItem {
    /// User key.
    pub key: Bytes,
    /// The context of the record the coordinator applied `op` to.
    pub base: VectorClock,
    /// The coordinator's actor.
    pub actor: u64,
    /// The coordinator's clock reading when it applied `op`.
    pub now_ms: u64,
    /// The write (a random pop already resolved to the members it took).
    pub op: CollectionOp,
}

impl ApplyAtItem {
    /// The APPLY_AT of this write in `db`.
    pub fn into_request(self, db: u32) -> Request {
        Request::ApplyAt { db, item: self }
    }

    fn encode(&self, w: &mut BodyWriter) {
        w.bytes(&self.key)
            .bytes(&clock_bytes(&self.base))
            .u64(self.actor)
            .u64(self.now_ms)
            .bytes(&self.op.encode());
    }

    fn decode(r: &mut BodyReader) -> Result<ApplyAtItem, DecodeError> {
        Ok(ApplyAtItem {
            key: r.bytes("key")?,
            base: read_clock(r)?,
            actor: r.u64("actor")?,
            now_ms: r.u64("now")?,
            op: CollectionOp::decode(&r.bytes("collection op")?)
                .ok_or_else(|| DecodeError("damaged collection op".into()))?,
        })
    }
}

/// A reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// Gossip pull: the receiver's view.
    Gossip(Vec<MemberState>),
    /// A [`Request::Settings`]'s answer.
    Settings {
        /// Replicas per key (`replicas`): where a key lives depends on it.
        replicas: u32,
    },
    /// A local record, if any.
    Record(Option<Bytes>),
    /// The local records of a [`Request::ReadMany`], one per key, in order.
    RecordPerKey(Vec<Option<Bytes>>),
    /// Per item of a [`Request::MergeMany`], in order: whether it was merged
    /// (and is durable as the node's fsync policy makes writes).
    MergedPerKey(Vec<bool>),
    /// Done.
    Ack,
    /// Result of an [`Request::Apply`].
    Applied {
        /// The replica's new record (encoded siblings).
        record: Bytes,
        /// What happened.
        outcome: Outcome,
    },
    /// A scan page: live keys with their tokens, and where to go on.
    ScanPage {
        /// Token to continue from (meaningless when `done`).
        next: u64,
        /// No keys at or after `next`.
        done: bool,
        /// (token, key) in ring order.
        keys: Vec<(u64, Bytes)>,
    },
    /// Merkle leaf hashes.
    Tree(Vec<u64>),
    /// Records: (token, key, encoded siblings), in ring order.
    Records(Vec<(u64, Bytes, Bytes)>),
    /// How many subscribers of the node received a [`Request::Publish`].
    Delivered(u64),
    /// A [`Request::Clock`]'s answer: the record's context, if any record.
    Clock(Option<VectorClock>),
    /// A [`Request::ClockMany`]'s answer: one [`Response::Clock`] per key,
    /// in order.
    ClockPerKey(Vec<Option<VectorClock>>),
    /// A [`Request::ApplyAtMany`]'s answer: per write, in order,
    /// [`Response::Ack`] or [`Response::Error`].
    PerKey(Vec<Response>),
    /// The request failed: why, as a code a caller acts on, and as text.
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// What happened, for logs and error replies.
        text: String,
    },
}

/// Why a peer failed a request: the first byte of an ERROR reply's body
/// (protocol version 3, `docs/protocol/node-rpc.md`). A caller decides by
/// the code, never by the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Anything else; the text says what.
    Internal,
    /// The replica may have lost data and is syncing with its peers: the
    /// request was neither read nor applied, so another replica may be
    /// asked.
    Rebuilding,
    /// The replica's storage failed (a full disk, an I/O error, damage).
    Storage,
    /// The request was understood and refused (a counter change on a
    /// non-number, a bad causal context, a database out of range).
    Refused,
    /// The request could not be decoded.
    BadRequest,
    /// An [`Request::ApplyAt`] found a record of another context: nothing
    /// was applied (protocol version 7).
    Diverged,
    /// An [`Request::Apply`] arrived after its deadline: nothing was
    /// applied (protocol version 11).
    Late,
}

impl ErrorCode {
    fn byte(self) -> u8 {
        match self {
            ErrorCode::Internal => 0,
            ErrorCode::Rebuilding => 1,
            ErrorCode::Storage => 2,
            ErrorCode::Refused => 3,
            ErrorCode::BadRequest => 4,
            ErrorCode::Diverged => 5,
            ErrorCode::Late => 6,
        }
    }

    /// A code from a newer peer reads as `Internal`.
    fn from_byte(b: u8) -> ErrorCode {
        match b {
            1 => ErrorCode::Rebuilding,
            2 => ErrorCode::Storage,
            3 => ErrorCode::Refused,
            4 => ErrorCode::BadRequest,
            5 => ErrorCode::Diverged,
            6 => ErrorCode::Late,
            _ => ErrorCode::Internal,
        }
    }
}

impl Response {
    /// An ERROR reply.
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Response {
        Response::Error {
            code,
            text: text.into(),
        }
    }
}

fn put_ranges(w: &mut BodyWriter, ranges: &[(u64, u64)]) {
    w.u32(ranges.len() as u32);
    for (a, b) in ranges {
        w.u64(*a).u64(*b);
    }
}

fn get_ranges(r: &mut BodyReader) -> Result<Vec<(u64, u64)>, DecodeError> {
    let n = r.count("range count", 16)?;
    (0..n)
        .map(|_| Ok((r.u64("range start")?, r.u64("range end")?)))
        .collect()
}

/// A list of databases: `n:u32 db:u32*n` (FLUSH, DROP_HINTS).
fn put_dbs(w: &mut BodyWriter, dbs: &[u32]) {
    w.u32(dbs.len() as u32);
    for db in dbs {
        w.u32(*db);
    }
}

fn get_dbs(r: &mut BodyReader) -> Result<Vec<u32>, DecodeError> {
    let n = r.count("db count", 4)?;
    (0..n).map(|_| r.u32("db")).collect()
}

/// A clock sent as a blob ([`clock_bytes`]).
fn read_clock(r: &mut BodyReader) -> Result<VectorClock, DecodeError> {
    decode_clock(&r.bytes("clock")?).map_err(|e| DecodeError(format!("clock: {e}")))
}

/// A record's context, or that there is no record: `present:u8 [clock]`.
fn put_clock(w: &mut BodyWriter, clock: Option<&VectorClock>) {
    match clock {
        Some(c) => w.u8(1).bytes(&clock_bytes(c)),
        None => w.u8(0),
    };
}

/// What [`put_clock`] wrote.
fn get_clock(r: &mut BodyReader) -> Result<Option<VectorClock>, DecodeError> {
    Ok(match r.u8("present")? {
        0 => None,
        _ => Some(read_clock(r)?),
    })
}

/// `db:u32 n:u32 key*n`, as READ_MANY and CLOCK_MANY send them.
fn put_db_and_keys(w: &mut BodyWriter, db: u32, keys: &[Bytes]) {
    w.u32(db).u32(keys.len() as u32);
    for k in keys {
        w.bytes(k);
    }
}

/// What [`put_db_and_keys`] wrote.
fn db_and_keys(r: &mut BodyReader) -> Result<(u32, Vec<Bytes>), DecodeError> {
    let db = r.u32("db")?;
    let n = r.count("key count", 4)?;
    let keys = (0..n).map(|_| r.bytes("key")).collect::<Result<_, _>>()?;
    Ok((db, keys))
}

impl Request {
    /// The frame kind and body.
    pub fn encode(&self) -> (u8, Bytes) {
        let mut w = BodyWriter::new();
        let k = match self {
            Request::Gossip(states) => {
                crate::membership::encode_states(&mut w, states);
                kind::GOSSIP
            }
            Request::Settings => kind::SETTINGS,
            Request::Read { db, key } => {
                w.u32(*db).bytes(key);
                kind::READ
            }
            Request::MergeMany { db, items } => {
                w.u32(*db).u32(items.len() as u32);
                for (k, rec) in items {
                    w.bytes(k).bytes(rec);
                }
                kind::MERGE_MANY
            }
            Request::ReadMany { db, keys } => {
                put_db_and_keys(&mut w, *db, keys);
                kind::READ_MANY
            }
            Request::Merge { db, key, record } => {
                w.u32(*db).bytes(key).bytes(record);
                kind::MERGE
            }
            Request::Apply {
                db,
                key,
                deadline_ms,
                op,
            } => {
                w.u32(*db).bytes(key).u64(*deadline_ms);
                match op {
                    Op::Put {
                        value,
                        expire_at_ms,
                        context,
                    } => {
                        w.u8(0).bytes(value).u64(*expire_at_ms);
                        match context {
                            Some(c) => w.u8(1).str(c),
                            None => w.u8(0),
                        };
                    }
                    Op::Delete => {
                        w.u8(1);
                    }
                    Op::AddInt(d) => {
                        w.u8(2).i64(*d);
                    }
                    Op::AddFloat(d) => {
                        w.u8(3).f64(*d);
                    }
                    Op::PfAdd(elements) => {
                        w.u8(4).u32(elements.len() as u32);
                        for e in elements {
                            w.bytes(e);
                        }
                    }
                    Op::PfMerge { registers, dense } => {
                        w.u8(5).u8(u8::from(*dense)).bytes(registers);
                    }
                    Op::Collection(op) => {
                        w.u8(6).bytes(&op.encode());
                    }
                    Op::Swap {
                        value,
                        expire_at_ms,
                        flags,
                    } => {
                        w.u8(7).u8(*flags);
                        match value {
                            Some(v) => w.u8(1).bytes(v),
                            None => w.u8(0),
                        };
                        w.u64(*expire_at_ms);
                    }
                    Op::Expire { expire_at_ms } => {
                        w.u8(8).u64(*expire_at_ms);
                    }
                }
                kind::APPLY
            }
            Request::Scan { db, cursor, count } => {
                w.u32(*db).u64(*cursor).u32(*count);
                kind::SCAN
            }
            Request::Flush(dbs) => {
                put_dbs(&mut w, dbs);
                kind::FLUSH
            }
            Request::DropHints(dbs) => {
                put_dbs(&mut w, dbs);
                kind::DROP_HINTS
            }
            Request::Hint {
                owner,
                db,
                key,
                record,
            } => {
                w.u64(*owner).u32(*db).bytes(key).bytes(record);
                kind::HINT
            }
            Request::Tree { db, depth, ranges } => {
                w.u32(*db).u8(*depth);
                put_ranges(&mut w, ranges);
                kind::TREE
            }
            Request::Fetch {
                db,
                ranges,
                after,
                limit,
            } => {
                w.u32(*db);
                put_ranges(&mut w, ranges);
                match after {
                    Some((t, k)) => w.u8(1).u64(*t).bytes(k),
                    None => w.u8(0),
                };
                w.u32(*limit);
                kind::FETCH
            }
            Request::Publish {
                shard,
                channel,
                message,
            } => {
                w.u8(u8::from(*shard)).bytes(channel).bytes(message);
                kind::PUBLISH
            }
            Request::Interest { from, db, keys } => {
                w.u64(*from).u32(*db).u32(keys.len() as u32);
                for k in keys {
                    w.bytes(k);
                }
                kind::INTEREST
            }
            Request::Wake { db, key } => {
                w.u32(*db).bytes(key);
                kind::WAKE
            }
            Request::Clock { db, key } => {
                w.u32(*db).bytes(key);
                kind::CLOCK
            }
            Request::ClockMany { db, keys } => {
                put_db_and_keys(&mut w, *db, keys);
                kind::CLOCK_MANY
            }
            Request::ApplyAt { db, item } => {
                w.u32(*db);
                item.encode(&mut w);
                kind::APPLY_AT
            }
            Request::ApplyAtMany { db, items } => {
                w.u32(*db).u32(items.len() as u32);
                for item in items {
                    item.encode(&mut w);
                }
                kind::APPLY_AT_MANY
            }
        };
        (k, w.finish())
    }

    /// Decodes a request body of frame kind `k`.
    pub fn decode(k: u8, body: Bytes) -> Result<Request, DecodeError> {
        let mut r = BodyReader::new(body);
        let req = match k {
            kind::GOSSIP => Request::Gossip(crate::membership::decode_states(&mut r)?),
            kind::SETTINGS => Request::Settings,
            kind::READ => Request::Read {
                db: r.u32("db")?,
                key: r.bytes("key")?,
            },
            kind::MERGE => Request::Merge {
                db: r.u32("db")?,
                key: r.bytes("key")?,
                record: r.bytes("record")?,
            },
            kind::MERGE_MANY => {
                let db = r.u32("db")?;
                let n = r.count("item count", 8)?;
                Request::MergeMany {
                    db,
                    items: (0..n)
                        .map(|_| Ok((r.bytes("key")?, r.bytes("record")?)))
                        .collect::<Result<_, DecodeError>>()?,
                }
            }
            kind::READ_MANY => {
                let (db, keys) = db_and_keys(&mut r)?;
                Request::ReadMany { db, keys }
            }
            kind::CLOCK_MANY => {
                let (db, keys) = db_and_keys(&mut r)?;
                Request::ClockMany { db, keys }
            }
            kind::APPLY => {
                let db = r.u32("db")?;
                let key = r.bytes("key")?;
                let deadline_ms = r.u64("deadline")?;
                let op = match r.u8("op")? {
                    0 => {
                        let value = r.bytes("value")?;
                        let expire_at_ms = r.u64("expiry")?;
                        let context = match r.u8("context flag")? {
                            0 => None,
                            1 => Some(r.string("context")?),
                            f => return Err(DecodeError(format!("context flag {f}"))),
                        };
                        Op::Put {
                            value,
                            expire_at_ms,
                            context,
                        }
                    }
                    1 => Op::Delete,
                    2 => Op::AddInt(r.i64("delta")?),
                    3 => Op::AddFloat(r.f64("delta")?),
                    4 => {
                        let n = r.count("elements", 4)?;
                        Op::PfAdd(
                            (0..n)
                                .map(|_| r.bytes("element"))
                                .collect::<Result<_, _>>()?,
                        )
                    }
                    5 => {
                        let dense = r.u8("dense")? != 0;
                        let registers = r.bytes("registers")?;
                        if registers.len() != ringkv_hll::REGISTERS {
                            return Err(DecodeError(format!(
                                "registers: {} bytes, not {}",
                                registers.len(),
                                ringkv_hll::REGISTERS
                            )));
                        }
                        Op::PfMerge { registers, dense }
                    }
                    6 => {
                        let body = r.bytes("collection op")?;
                        Op::Collection(
                            CollectionOp::decode(&body)
                                .ok_or_else(|| DecodeError("damaged collection op".into()))?,
                        )
                    }
                    7 => {
                        let flags = r.u8("swap flags")?;
                        let value = match r.u8("swap value flag")? {
                            0 => None,
                            1 => Some(r.bytes("value")?),
                            f => return Err(DecodeError(format!("swap flag {f}"))),
                        };
                        let expire_at_ms = r.u64("expiry")?;
                        Op::Swap {
                            value,
                            expire_at_ms,
                            flags,
                        }
                    }
                    8 => Op::Expire {
                        expire_at_ms: r.u64("expiry")?,
                    },
                    t => return Err(DecodeError(format!("unknown op {t}"))),
                };
                Request::Apply {
                    db,
                    key,
                    deadline_ms,
                    op,
                }
            }
            kind::SCAN => Request::Scan {
                db: r.u32("db")?,
                cursor: r.u64("cursor")?,
                count: r.u32("count")?,
            },
            kind::FLUSH => Request::Flush(get_dbs(&mut r)?),
            kind::DROP_HINTS => Request::DropHints(get_dbs(&mut r)?),
            kind::HINT => Request::Hint {
                owner: r.u64("owner")?,
                db: r.u32("db")?,
                key: r.bytes("key")?,
                record: r.bytes("record")?,
            },
            kind::TREE => Request::Tree {
                db: r.u32("db")?,
                depth: r.u8("depth")?,
                ranges: get_ranges(&mut r)?,
            },
            kind::FETCH => {
                let db = r.u32("db")?;
                let ranges = get_ranges(&mut r)?;
                let after = match r.u8("after flag")? {
                    0 => None,
                    1 => Some((r.u64("after token")?, r.bytes("after key")?)),
                    f => return Err(DecodeError(format!("after flag {f}"))),
                };
                Request::Fetch {
                    db,
                    ranges,
                    after,
                    limit: r.u32("limit")?,
                }
            }
            kind::PUBLISH => Request::Publish {
                shard: r.u8("shard")? != 0,
                channel: r.bytes("channel")?,
                message: r.bytes("message")?,
            },
            kind::INTEREST => {
                let from = r.u64("from")?;
                let db = r.u32("db")?;
                let n = r.count("key count", 4)?;
                Request::Interest {
                    from,
                    db,
                    keys: (0..n).map(|_| r.bytes("key")).collect::<Result<_, _>>()?,
                }
            }
            kind::WAKE => Request::Wake {
                db: r.u32("db")?,
                key: r.bytes("key")?,
            },
            kind::CLOCK => Request::Clock {
                db: r.u32("db")?,
                key: r.bytes("key")?,
            },
            kind::APPLY_AT => {
                let db = r.u32("db")?;
                ApplyAtItem::decode(&mut r)?.into_request(db)
            }
            kind::APPLY_AT_MANY => {
                let db = r.u32("db")?;
                // A write is at least its three lengths and two u64s.
                let n = r.count("write count", 28)?;
                Request::ApplyAtMany {
                    db,
                    items: (0..n)
                        .map(|_| ApplyAtItem::decode(&mut r))
                        .collect::<Result<_, _>>()?,
                }
            }
            other => return Err(DecodeError(format!("unknown request kind {other:#x}"))),
        };
        r.end("request")?;
        Ok(req)
    }
}

impl Response {
    /// The frame kind (given the request's) and body.
    pub fn encode(&self, request_kind: u8) -> (u8, Bytes) {
        let mut w = BodyWriter::new();
        match self {
            Response::Gossip(states) => crate::membership::encode_states(&mut w, states),
            Response::Settings { replicas } => {
                w.u32(*replicas);
            }
            Response::Record(rec) => match rec {
                Some(r) => {
                    w.u8(1).bytes(r);
                }
                None => {
                    w.u8(0);
                }
            },
            Response::RecordPerKey(recs) => {
                w.u32(recs.len() as u32);
                for rec in recs {
                    match rec {
                        Some(r) => w.u8(1).bytes(r),
                        None => w.u8(0),
                    };
                }
            }
            Response::MergedPerKey(done) => {
                w.u32(done.len() as u32);
                for d in done {
                    w.u8(u8::from(*d));
                }
            }
            Response::Ack => {}
            Response::Applied { record, outcome } => {
                w.bytes(record);
                match outcome {
                    Outcome::Done => w.u8(0),
                    Outcome::Counter(v) => w.u8(1).bytes(v),
                    Outcome::Refused(t) => w.u8(2).str(t),
                    Outcome::Changed(c) => w.u8(3).u8(u8::from(*c)),
                    Outcome::NotHll => w.u8(4),
                    Outcome::CorruptHll => w.u8(5),
                    Outcome::Collection(reply) => w.u8(6).bytes(&reply.encode()),
                    Outcome::WrongType => w.u8(7),
                    Outcome::Swapped { previous, applied } => {
                        w.u8(8).u8(u8::from(*applied));
                        match previous {
                            Some(v) => w.u8(1).bytes(v),
                            None => w.u8(0),
                        }
                    }
                };
            }
            Response::ScanPage { next, done, keys } => {
                w.u64(*next).u8(u8::from(*done)).u32(keys.len() as u32);
                for (t, k) in keys {
                    w.u64(*t).bytes(k);
                }
            }
            Response::Tree(leaves) => {
                w.u32(leaves.len() as u32);
                for l in leaves {
                    w.u64(*l);
                }
            }
            Response::Records(recs) => {
                w.u32(recs.len() as u32);
                for (t, k, rec) in recs {
                    w.u64(*t).bytes(k).bytes(rec);
                }
            }
            Response::Delivered(n) => {
                w.u64(*n);
            }
            Response::Clock(clock) => put_clock(&mut w, clock.as_ref()),
            Response::ClockPerKey(clocks) => {
                w.u32(clocks.len() as u32);
                for clock in clocks {
                    put_clock(&mut w, clock.as_ref());
                }
            }
            Response::PerKey(replies) => {
                w.u32(replies.len() as u32);
                for reply in replies {
                    match reply {
                        Response::Error { code, text } => w.u8(0).u8(code.byte()).str(text),
                        // Only an acknowledgement or an error is carried.
                        _ => w.u8(1),
                    };
                }
            }
            Response::Error { code, text } => {
                w.u8(code.byte()).str(text);
                return (kind::ERROR, w.finish());
            }
        }
        (request_kind | kind::REPLY, w.finish())
    }

    /// Decodes the reply of frame kind `k` to a request of kind `request_kind`.
    pub fn decode(request_kind: u8, k: u8, body: Bytes) -> Result<Response, DecodeError> {
        let mut r = BodyReader::new(body);
        if k == kind::ERROR {
            let code = ErrorCode::from_byte(r.u8("error code")?);
            let text = r.string("error")?;
            return Ok(Response::Error { code, text });
        }
        if k != request_kind | kind::REPLY {
            return Err(DecodeError(format!(
                "reply kind {k:#x} to a request of kind {request_kind:#x}"
            )));
        }
        let resp = match request_kind {
            kind::GOSSIP => Response::Gossip(crate::membership::decode_states(&mut r)?),
            kind::SETTINGS => Response::Settings {
                replicas: r.u32("replicas")?,
            },
            kind::READ => match r.u8("present")? {
                0 => Response::Record(None),
                _ => Response::Record(Some(r.bytes("record")?)),
            },
            kind::READ_MANY => {
                let n = r.count("record count", 1)?;
                Response::RecordPerKey(
                    (0..n)
                        .map(|_| match r.u8("present")? {
                            0 => Ok(None),
                            _ => Ok(Some(r.bytes("record")?)),
                        })
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
            kind::MERGE_MANY => {
                let n = r.count("item count", 1)?;
                Response::MergedPerKey((0..n).map(|_| Ok(r.u8("merged")? != 0)).collect::<Result<
                    _,
                    DecodeError,
                >>(
                )?)
            }
            kind::MERGE
            | kind::FLUSH
            | kind::DROP_HINTS
            | kind::HINT
            | kind::INTEREST
            | kind::WAKE
            | kind::APPLY_AT => Response::Ack,
            kind::CLOCK => Response::Clock(get_clock(&mut r)?),
            kind::APPLY_AT_MANY => {
                let n = r.count("reply count", 1)?;
                Response::PerKey(
                    (0..n)
                        .map(|_| {
                            Ok(match r.u8("applied")? {
                                0 => Response::Error {
                                    code: ErrorCode::from_byte(r.u8("error code")?),
                                    text: r.string("error")?,
                                },
                                _ => Response::Ack,
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
            kind::CLOCK_MANY => {
                let n = r.count("clock count", 1)?;
                Response::ClockPerKey(
                    (0..n)
                        .map(|_| get_clock(&mut r))
                        .collect::<Result<_, _>>()?,
                )
            }
            kind::PUBLISH => Response::Delivered(r.u64("receivers")?),
            kind::TREE => {
                let n = r.count("leaf count", 8)?;
                Response::Tree((0..n).map(|_| r.u64("leaf")).collect::<Result<_, _>>()?)
            }
            kind::FETCH => {
                let n = r.count("record count", 16)?;
                Response::Records(
                    (0..n)
                        .map(|_| Ok((r.u64("token")?, r.bytes("key")?, r.bytes("record")?)))
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
            kind::APPLY => {
                let record = r.bytes("record")?;
                let outcome = match r.u8("outcome")? {
                    0 => Outcome::Done,
                    1 => Outcome::Counter(r.bytes("counter")?),
                    2 => Outcome::Refused(r.string("refusal")?),
                    3 => Outcome::Changed(r.u8("changed")? != 0),
                    4 => Outcome::NotHll,
                    5 => Outcome::CorruptHll,
                    6 => {
                        let body = r.bytes("collection reply")?;
                        Outcome::Collection(
                            CollectionReply::decode(&body)
                                .ok_or_else(|| DecodeError("damaged collection reply".into()))?,
                        )
                    }
                    7 => Outcome::WrongType,
                    8 => {
                        let applied = r.u8("applied")? != 0;
                        let previous = match r.u8("previous flag")? {
                            0 => None,
                            1 => Some(r.bytes("previous")?),
                            f => return Err(DecodeError(format!("previous flag {f}"))),
                        };
                        Outcome::Swapped { previous, applied }
                    }
                    t => return Err(DecodeError(format!("unknown outcome {t}"))),
                };
                Response::Applied { record, outcome }
            }
            kind::SCAN => {
                let next = r.u64("next")?;
                let done = r.u8("done")? != 0;
                let n = r.count("key count", 12)?;
                let keys = (0..n)
                    .map(|_| Ok((r.u64("token")?, r.bytes("key")?)))
                    .collect::<Result<_, DecodeError>>()?;
                Response::ScanPage { next, done, keys }
            }
            other => return Err(DecodeError(format!("unknown request kind {other:#x}"))),
        };
        r.end("reply")?;
        Ok(resp)
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
