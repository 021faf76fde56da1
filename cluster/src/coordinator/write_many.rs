//! A pipeline's plain SETs through a cluster, written together: each key is
//! applied here as its coordinating replica, then every other replica gets
//! one MERGE_MANY with all of its keys' records, instead of one MERGE per
//! key. Each key keeps its own quorum, its own NOQUORUM and its own hints.
//! A key this node cannot lead, or whose plan needs a stand-in, takes the
//! single-key path ([`Coordinator::write`]).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ringkv_conf::Consistency;

use super::Coordinator;
use crate::error::{Error, Result};
use crate::keyspace::Ack;
use crate::mutation::Mutation;
use crate::ring::NodeId;
use crate::rpc::{Op, Request, Response};
use crate::timer::AwakeTimer;

/// One key of a batch written here.
struct KeyWrite {
    /// This node's durability for it.
    ack: Ack,
    required: usize,
    acked: usize,
    record: Bytes,
    /// Replicas asked that have not acknowledged (yet).
    waiting: Vec<NodeId>,
}

/// One peer's answer to a MERGE_MANY: per key (by index), merged or not.
struct PeerAcks {
    id: NodeId,
    indexes: Vec<usize>,
    merged: Vec<bool>,
}

impl Coordinator {
    /// Stores `value` (no expiry, no context: a plain SET) under each key
    /// at `level`; per key, the durability to await or why it failed.
    pub async fn set_many(
        self: &Arc<Self>,
        db: u32,
        items: Vec<(Bytes, Bytes)>,
        level: Consistency,
    ) -> Vec<Result<Ack>> {
        let mut results: Vec<Option<Result<Ack>>> = (0..items.len()).map(|_| None).collect();
        let mut writes: HashMap<usize, KeyWrite> = HashMap::new();
        let mut per_peer: HashMap<NodeId, Vec<usize>> = HashMap::new();
        let mut alone = FuturesUnordered::new();
        let planning = self.planning();
        for (i, (key, value)) in items.iter().enumerate() {
            let plan = match self.write_plan(&planning, key, level) {
                Ok(plan) => plan,
                Err(e) => {
                    self.stats.writes.inc(level);
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let simple = plan.standins.is_empty()
                && plan.unplaced.is_empty()
                && plan.leaders.contains(&self.me)
                && !self.is_rebuilding();
            if !simple || self.is_alone() {
                let this = Arc::clone(self);
                let (key, value) = (key.clone(), value.clone());
                alone.push(async move {
                    let mutation = Mutation::Set {
                        value,
                        expire_at_ms: 0,
                        context: None,
                    };
                    (i, this.write(db, &key, mutation, level).await)
                });
                continue;
            }
            self.stats.writes.inc(level);
            let op = Op::Put {
                value: value.clone(),
                expire_at_ms: 0,
                context: None,
            };
            let applied = match self.apply_local(db, key, op, None).await {
                Ok(applied) => applied,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let waiting: Vec<NodeId> = plan
                .replicas
                .iter()
                .copied()
                .filter(|&id| id != self.me)
                .collect();
            for &id in &waiting {
                per_peer.entry(id).or_default().push(i);
            }
            writes.insert(
                i,
                KeyWrite {
                    ack: applied.ack,
                    required: plan.required,
                    acked: 1,
                    record: applied.encoded(),
                    waiting,
                },
            );
        }
        let mut calls: FuturesUnordered<_> = per_peer
            .into_iter()
            .map(|(id, indexes)| {
                let batch = indexes
                    .iter()
                    .filter_map(|i| Some((items[*i].0.clone(), writes.get(i)?.record.clone())))
                    .collect();
                merge_many_to(Arc::clone(self), id, db, batch, indexes)
            })
            .collect();
        // A batch's records all go to a peer: a long one is given the time
        // to travel (`transfer_allowance`), as its MERGE_MANY is.
        let shipped: usize = writes.values().map(|w| w.record.len()).sum();
        let mut timer = AwakeTimer::new(
            self.timeout()
                .saturating_add(crate::rpc::client::transfer_allowance(shipped)),
        );
        let done =
            |writes: &HashMap<usize, KeyWrite>| writes.values().all(|w| w.acked >= w.required);
        while !done(&writes) && !calls.is_empty() {
            match timer.run(calls.next()).await {
                Some(Some(reply)) => reply.count_into(&mut writes),
                _ => break,
            }
        }
        for (&i, w) in &writes {
            results[i] = Some(if w.acked >= w.required {
                Ok(w.ack)
            } else {
                self.stats.unavailable.inc();
                Err(Error::NoQuorum {
                    required: w.required,
                    answered: w.acked,
                })
            });
        }
        // Replicas that did not acknowledge (now or later) get a hint kept
        // here, in the background: the replies do not wait for it.
        if !calls.is_empty() || writes.values().any(|w| !w.waiting.is_empty()) {
            let this = Arc::clone(self);
            let keys: Vec<Bytes> = items.iter().map(|(k, _)| k.clone()).collect();
            tokio::spawn(async move {
                while let Some(reply) = calls.next().await {
                    reply.count_into(&mut writes);
                }
                for (i, w) in writes {
                    for owner in w.waiting {
                        if let Err(e) = this.hints.store(owner, db, &keys[i], &w.record).await {
                            tracing::warn!(error = %e, "could not store a hint");
                        }
                    }
                }
            });
        }
        while let Some((i, r)) = alone.next().await {
            results[i] = Some(r.map(|(_, ack)| ack));
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Err(Error::Task {
                    what: "pipelined write",
                    cause: "no result".into(),
                }))
            })
            .collect()
    }
}

impl PeerAcks {
    fn count_into(self, writes: &mut HashMap<usize, KeyWrite>) {
        for (i, merged) in self.indexes.into_iter().zip(self.merged) {
            if let Some(w) = writes.get_mut(&i) {
                if merged {
                    w.acked += 1;
                    w.waiting.retain(|&id| id != self.id);
                }
            }
        }
    }
}

/// Several keys' records merged into one replica.
async fn merge_many_to(
    this: Arc<Coordinator>,
    id: NodeId,
    db: u32,
    items: Vec<(Bytes, Bytes)>,
    indexes: Vec<usize>,
) -> PeerAcks {
    let n = items.len();
    let req = Request::MergeMany { db, items };
    let merged = match this.call(id, &req).await {
        Ok(Response::MergedPerKey(done)) if done.len() == n => done,
        _ => vec![false; n],
    };
    PeerAcks {
        id,
        indexes,
        merged,
    }
}
