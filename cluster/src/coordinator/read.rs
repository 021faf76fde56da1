//! Quorum reads: which replicas a read asks, when it asks more, and read
//! repair.
//!
//! A read asks the replicas its level needs and no more: this node first
//! when it is one of the key's replicas (its record costs no round trip),
//! then the next live replicas in preference order, a replica silent for
//! longer than usual (its phi past an eighth of `phi-threshold`) last. The
//! other live replicas are asked too once one of those fails, or has not
//! answered within `speculative-read-ms` (Cassandra's speculative retry):
//! a replica that is stopped but not yet suspected delays a read by that
//! much, not by the replica timeout. At ALL every live replica is needed, so all are
//! asked at once; with `speculative-read-ms 0` every read asks them all, as
//! Riak does.
//!
//! Asking R replicas rather than every live one spares the others a read,
//! a reply and its decode: a third of a QUORUM read's work with three
//! replicas, two thirds of a read at ONE. R + W > N still meets every
//! acknowledged write. Read repair merges the result back into the
//! replicas that answered with less (before the reply when every replica
//! asked has answered, else in the background once the rest do); a
//! replica not asked is brought up to date by hints and anti-entropy.
//!
//! A pipeline's GETs read together ([`Coordinator::get_many`]): one request
//! per peer for all the keys it is asked about. A single read is a batch of
//! one key.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ringkv_conf::Consistency;

use super::{Coordinator, Planning};
use crate::Entry;
use crate::error::{Error, Result};
use crate::keyspace::live_entry;
use crate::ring::NodeId;
use crate::rpc::{Request, Response};
use crate::timer::AwakeTimer;
use crate::version::Siblings;

impl Coordinator {
    /// Reads every sibling of `key` from as many replicas as `level` needs.
    pub(crate) async fn read(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> Result<Siblings> {
        let key = Bytes::copy_from_slice(key);
        let mut read = self.read_many(db, std::slice::from_ref(&key), level).await;
        read.pop().unwrap_or(Err(Error::Task {
            what: "read",
            cause: "no result".into(),
        }))
    }

    /// What [`Coordinator::get`] answers for each of `keys`, with their
    /// replica reads batched: one request per peer for every key it is
    /// asked about (a pipeline's GETs), instead of one per key and replica.
    /// Each key is answered as `get` would: its own quorum, its own
    /// NOQUORUM, read repair of its replicas that were behind.
    pub async fn get_many(
        self: &Arc<Self>,
        db: u32,
        keys: &[Bytes],
        level: Consistency,
    ) -> Vec<Result<Option<Entry>>> {
        let now = self.keyspace.now_ms();
        if self.is_alone() {
            return keys
                .iter()
                .map(|key| self.get_local(db, key, level, now))
                .collect();
        }
        self.read_many(db, keys, level)
            .await
            .into_iter()
            .map(|read| read.map(|rec| live_entry(&rec, now)))
            .collect()
    }

    /// What [`Coordinator::get_shallow`] answers for each of `keys`, in
    /// order (MGET). On a node alone, the keys are read in turn, each
    /// record starting to load [`SHALLOW_PREFETCH_AHEAD`] keys before its
    /// read, so that the cache misses overlap. In a cluster, the keys this
    /// node does not hold as a collection are read together, up to
    /// [`KEYS_PER_BATCH`] at a time ([`Coordinator::get_many`]: one request
    /// per peer per batch instead of one round trip per key); a key held
    /// here as a collection is read as `get_shallow` reads it, by its
    /// header.
    pub async fn get_shallow_many(
        self: &Arc<Self>,
        db: u32,
        keys: &[Bytes],
        level: Consistency,
    ) -> Vec<Result<Option<Entry>>> {
        if self.is_alone() {
            for key in keys.iter().take(SHALLOW_PREFETCH_AHEAD) {
                self.prefetch(db, key);
            }
            return keys
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    if let Some(next) = keys.get(i + SHALLOW_PREFETCH_AHEAD) {
                        self.prefetch(db, next);
                    }
                    self.stats.reads.inc(level);
                    self.keyspace.read_shallow(db, key)
                })
                .collect();
        }
        // Boxed, as `get` boxes its replicas' read: on a node alone MGET's
        // future would otherwise carry this never-run state (3.5 KB).
        Box::pin(self.get_shallow_many_replicated(db, keys, level)).await
    }

    /// [`Coordinator::get_shallow_many`] on a node with peers.
    async fn get_shallow_many_replicated(
        self: &Arc<Self>,
        db: u32,
        keys: &[Bytes],
        level: Consistency,
    ) -> Vec<Result<Option<Entry>>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_BATCH) {
            // Which keys this node holds as a collection (read alone, by
            // their header) and which are read in the batch.
            let mut batched = Vec::with_capacity(chunk.len());
            let mut slots: Vec<Option<Result<Option<Entry>>>> = Vec::with_capacity(chunk.len());
            for key in chunk {
                match self.keyspace.read_shallow(db, key) {
                    Ok(Some(e)) if e.kind != crate::ValueType::String => {
                        slots.push(Some(self.get_shallow(db, key, level).await));
                    }
                    Err(e) => slots.push(Some(Err(e))),
                    Ok(_) => {
                        batched.push(key.clone());
                        slots.push(None);
                    }
                }
            }
            let mut read = self.get_many(db, &batched, level).await.into_iter();
            found.extend(slots.into_iter().map(|slot| {
                slot.or_else(|| read.next()).unwrap_or(Err(Error::Task {
                    what: "read",
                    cause: "no result".into(),
                }))
            }));
        }
        found
    }

    /// Every sibling of each of `keys`, read at `level` (see the module
    /// documentation for which replicas are asked, and when more are).
    async fn read_many(
        self: &Arc<Self>,
        db: u32,
        keys: &[Bytes],
        level: Consistency,
    ) -> Vec<Result<Siblings>> {
        let (speculative, read_repair) = {
            let s = self.settings.read();
            // The others are asked in time to answer within the replica
            // timeout, however the two are set.
            (s.speculative_read.min(s.replica_timeout / 2), s.read_repair)
        };
        let mut reads: Vec<KeyRead> = {
            let planning = self.planning();
            keys.iter()
                .map(|key| self.start_read(&planning, db, key, level))
                .collect()
        };
        let mut asks = Asks::default();
        for (i, read) in reads.iter_mut().enumerate() {
            read.ask(i, speculative.is_zero(), &mut asks);
        }
        let mut calls = FuturesUnordered::new();
        calls.extend(asks.calls(self, db, keys));
        let mut timer = AwakeTimer::new(self.timeout());
        // Never, for a delay past what an instant can hold.
        let mut speculate_at = (!speculative.is_zero())
            .then(|| tokio::time::Instant::now().checked_add(speculative))
            .flatten();
        while !reads.iter().all(KeyRead::settled) && !calls.is_empty() {
            if !reads.iter().any(KeyRead::may_ask_more) {
                speculate_at = None;
            }
            let next = match speculate_at {
                None => Next::Reply(timer.run(calls.next()).await),
                Some(at) => tokio::select! {
                    biased;
                    r = timer.run(calls.next()) => Next::Reply(r),
                    () = tokio::time::sleep_until(at) => Next::Speculate,
                },
            };
            let mut asks = Asks::default();
            match next {
                Next::Speculate => {
                    speculate_at = None;
                    for (i, read) in reads.iter_mut().enumerate() {
                        if !read.settled() {
                            read.ask(i, true, &mut asks);
                        }
                    }
                }
                Next::Reply(Some(Some(batch))) => {
                    // A replica that failed some keys: others in its place.
                    for i in batch.add_to(&mut reads) {
                        if let Some(read) = reads.get_mut(i) {
                            read.ask(i, false, &mut asks);
                        }
                    }
                }
                Next::Reply(_) => break,
            }
            if asks.keys_asked > 0 {
                self.stats.speculative_reads.add(asks.keys_asked as u64);
            }
            calls.extend(asks.calls(self, db, keys));
        }

        let mut result = Vec::with_capacity(keys.len());
        let mut answered = Vec::new();
        for (i, read) in reads.iter_mut().enumerate() {
            result.push(match read.error.take() {
                Some(e) => Err(e),
                None if !read.has_quorum() => {
                    self.stats.unavailable.inc();
                    Err(Error::NoQuorum {
                        required: read.required,
                        answered: read.replies.len(),
                    })
                }
                None => {
                    answered.push(i);
                    Ok(merge_replies(&read.replies))
                }
            });
        }
        if read_repair && !answered.is_empty() {
            let this = Arc::clone(self);
            let keys: Vec<Bytes> = answered.iter().map(|&i| keys[i].clone()).collect();
            let all_in = calls.is_empty();
            let repair = async move {
                while let Some(batch) = timer.run(calls.next()).await.flatten() {
                    batch.add_to(&mut reads);
                }
                for (key, i) in keys.iter().zip(answered) {
                    let replies = &reads[i].replies;
                    this.repair(db, key, &merge_replies(replies), replies).await;
                }
            };
            if all_in {
                // Every replica asked answered (always so at ALL): repaired
                // before the reply.
                repair.await;
            } else {
                tokio::spawn(repair);
            }
        }
        result
    }

    /// One key's read before any peer is asked: its plan, and this node's
    /// record when it is one of the replicas the plan reads.
    fn start_read(
        &self,
        planning: &Planning<'_>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> KeyRead {
        self.stats.reads.inc(level);
        let mut read = KeyRead::default();
        match self.plan(planning, key, level) {
            Err(e) => read.error = Some(e),
            Ok(plan) => {
                read.required = plan.required;
                read.peers = plan.targets;
                if let Some(at) = read.peers.iter().position(|&id| id == self.me) {
                    read.peers.remove(at);
                    match self.keyspace.read_record(db, key) {
                        Ok(rec) => read.replies.push((self.me, rec)),
                        Err(e) => read.error = Some(e),
                    }
                }
            }
        }
        read
    }

    /// Merges `merged` into every replica whose reply lacked part of it.
    async fn repair(
        &self,
        db: u32,
        key: &Bytes,
        merged: &Siblings,
        replies: &[(NodeId, Option<Siblings>)],
    ) {
        if merged.is_empty() {
            return;
        }
        let encoded = crate::cpu_bound::encode_record(merged);
        for (id, rec) in replies {
            if rec.as_ref() == Some(merged) {
                continue;
            }
            let ok = if *id == self.me {
                self.merge_local(db, key, merged).await.is_ok()
            } else {
                let req = Request::Merge {
                    db,
                    key: key.clone(),
                    record: encoded.clone(),
                };
                matches!(self.call(*id, &req).await, Ok(Response::Ack))
            };
            if ok {
                self.stats.read_repairs.inc();
            }
        }
    }
}

/// Keys of a [`Coordinator::get_shallow_many`] on a node alone whose
/// records are asked for ahead of the one read.
const SHALLOW_PREFETCH_AHEAD: usize = 8;

/// Most keys one batched read of [`Coordinator::get_shallow_many`] asks
/// a replica for: a longer MGET is several batches, so that no request or
/// reply grows with the command (as a pipeline's run holds at most 64).
const KEYS_PER_BATCH: usize = 64;

/// What a read waits for next.
enum Next<T> {
    /// A peer's answer; `None` once the replica timeout has passed, or no
    /// call is left.
    Reply(Option<Option<T>>),
    /// `speculative-read-ms` passed first.
    Speculate,
}

/// One key of a read: what its plan needs, what its replicas answered,
/// and the live peers among its replicas, in preference order.
#[derive(Default)]
struct KeyRead {
    required: usize,
    replies: Vec<(NodeId, Option<Siblings>)>,
    error: Option<Error>,
    /// Live replicas other than this node, in preference order; those
    /// before `next` have been asked.
    peers: Vec<NodeId>,
    next: usize,
    /// Peers asked that have not answered.
    waiting: usize,
}

impl KeyRead {
    fn has_quorum(&self) -> bool {
        self.replies.len() >= self.required
    }

    /// Whether the read is decided: failed, or answered by enough replicas.
    fn settled(&self) -> bool {
        self.error.is_some() || self.has_quorum()
    }

    /// Whether an unsettled read has peers not asked yet.
    fn may_ask_more(&self) -> bool {
        !self.settled() && self.next < self.peers.len()
    }

    /// Adds to `asks` (as key `index`) the peers not asked yet: every one
    /// when `all`, else as many as the replies and the answers awaited fall
    /// short of the quorum.
    fn ask(&mut self, index: usize, all: bool, asks: &mut Asks) {
        if self.settled() {
            return;
        }
        let first = self.next;
        while self.next < self.peers.len()
            && (all || self.replies.len() + self.waiting < self.required)
        {
            asks.per_peer
                .entry(self.peers[self.next])
                .or_default()
                .push(index);
            self.next += 1;
            self.waiting += 1;
        }
        // Peers beyond the level's first choice are speculative.
        if first > 0 && self.next > first {
            asks.keys_asked += 1;
        }
    }
}

/// The peers to ask, each for some keys of a read (by index).
#[derive(Default)]
struct Asks {
    per_peer: HashMap<NodeId, Vec<usize>>,
    /// Keys that asked peers beyond their first choice.
    keys_asked: usize,
}

impl Asks {
    /// One request per peer for all of its keys.
    fn calls(
        self,
        coordinator: &Arc<Coordinator>,
        db: u32,
        keys: &[Bytes],
    ) -> Vec<impl std::future::Future<Output = BatchReply> + use<>> {
        self.per_peer
            .into_iter()
            .map(|(id, indexes)| {
                let batch = indexes.iter().map(|&i| keys[i].clone()).collect();
                read_from(Arc::clone(coordinator), id, db, batch, indexes)
            })
            .collect()
    }
}

/// One peer's answer to a read: per key (by index into the read's keys),
/// its record or why it could not be used.
struct BatchReply {
    id: NodeId,
    indexes: Vec<usize>,
    records: Result<Vec<Result<Option<Siblings>>>>,
}

impl BatchReply {
    /// Adds the records to their keys' reads; returns the keys this peer
    /// failed to answer.
    fn add_to(self, reads: &mut [KeyRead]) -> Vec<usize> {
        let mut failed = Vec::new();
        // A peer that failed as a whole failed every key.
        let mut records = self.records.unwrap_or_default().into_iter();
        for i in self.indexes {
            let Some(read) = reads.get_mut(i) else {
                continue;
            };
            read.waiting = read.waiting.saturating_sub(1);
            match records.next() {
                Some(Ok(rec)) => read.replies.push((self.id, rec)),
                _ => failed.push(i),
            }
        }
        failed
    }
}

/// Some keys' records from one replica: one key as READ, more as
/// READ_MANY.
async fn read_from(
    this: Arc<Coordinator>,
    id: NodeId,
    db: u32,
    mut keys: Vec<Bytes>,
    indexes: Vec<usize>,
) -> BatchReply {
    let n = keys.len();
    let req = match keys.pop() {
        Some(key) if keys.is_empty() => Request::Read { db, key },
        Some(key) => {
            keys.push(key);
            Request::ReadMany { db, keys }
        }
        None => Request::ReadMany { db, keys },
    };
    let records = match this.call(id, &req).await {
        Ok(Response::Record(rec)) if n == 1 => Ok(vec![decode_remote(id, rec)]),
        Ok(Response::RecordPerKey(recs)) if recs.len() == n => {
            Ok(recs.into_iter().map(|rec| decode_remote(id, rec)).collect())
        }
        Ok(other) => Err(Error::unexpected(id, "read from", &other)),
        Err(cause) => Err(Error::Peer {
            node: id,
            what: "read from",
            cause,
        }),
    };
    BatchReply {
        id,
        indexes,
        records,
    }
}

fn decode_remote(node: NodeId, rec: Option<Bytes>) -> Result<Option<Siblings>> {
    rec.map(|b| {
        crate::cpu_bound::decode_record(&b).map_err(|e| Error::BadReply {
            node,
            what: "read from",
            problem: format!("bad record: {e}"),
        })
    })
    .transpose()
}

/// Every record the replicas answered, merged. Replicas usually agree:
/// a record equal to the first is not merged again.
fn merge_replies(replies: &[(NodeId, Option<Siblings>)]) -> Siblings {
    let mut records = replies.iter().filter_map(|(_, rec)| rec.as_ref());
    let Some(first) = records.next() else {
        return Siblings::default();
    };
    crate::cpu_bound::heavy_if(crate::cpu_bound::is_large(first), || {
        let mut merged = first.clone();
        for rec in records {
            if rec != first {
                merged.merge(rec);
            }
        }
        merged
    })
}
