//! The write path: a sloppy quorum with hinted handoff.
//!
//! A key's preferred replicas are the first N distinct nodes clockwise on
//! the serving ring, plus — while members join or leave — its replicas on
//! the next ring, which also must acknowledge (Cassandra's pending
//! replicas: each one raises the acknowledgements needed by one).
//!
//! For each preferred replica that is down, the next healthy node further
//! round the ring stands in: it keeps the write as a hint for the replica
//! (see [`crate::hints`]) and its acknowledgement counts toward W. A
//! replica with no stand-in left, and every replica or stand-in that does
//! not acknowledge in time, gets a hint kept by the coordinator itself;
//! those count toward W only at level ANY, where one stored hint is enough.
//!
//! One preferred replica that is up applies the write (Riak's vnode
//! clocks: the coordinator itself when it is one, else the first that
//! answers) and its resulting record is what the others merge and the
//! hints carry. Only a replica on the serving ring that is not rebuilding
//! may apply: a pending replica (a joiner, or a node taking over a leaving
//! one's ranges) or a node that may have lost data would build the new
//! version on a record that lacks acknowledged writes (a DEL that does not
//! cover the value, an INCR reply that goes backwards). A rebuilding
//! replica refuses such a request without applying it, and the next one is
//! asked. With no such replica up, a SET or DEL is applied to an empty
//! record by the coordinator under a one-off actor ([`crate::actor`]): the
//! value then sits beside the old one as a sibling until a later write or
//! read sees both (GET resolves last-write-wins). A counter change needs a
//! replica that can apply: it adds to the value it holds.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ringkv_conf::Consistency;

use super::apply_op::{apply_op, op_context, refused_to_error};
use super::delta::Shipment;
use super::{Coordinator, Planning};
use crate::error::{Error, Result};
use crate::keyspace::{Ack, PartialTarget, Updated};
use crate::keyspace::{Need, WriteNeed};
use crate::mutation::{Applied, Mutation};
use crate::ring::{NodeId, Ring};
use crate::rpc::{ApplyAtItem, ErrorCode, Op, Outcome, Request, Response, RpcError};
use crate::timer::AwakeTimer;
use crate::token;
use crate::version::{CollectionOp, CollectionReply, Siblings, VectorClock};

/// Where a write goes.
pub(super) struct WritePlan {
    /// Preferred replicas judged up, in preference order.
    pub(super) replicas: Vec<NodeId>,
    /// Those of `replicas` on the serving ring (not pending): the ones
    /// that may apply the write to their record, in preference order.
    pub(super) leaders: Vec<NodeId>,
    /// `(stand-in, owner)`: a healthy node past the preference list keeping
    /// a hint for a preferred replica that is down.
    pub(super) standins: Vec<(NodeId, NodeId)>,
    /// Down replicas left without a stand-in.
    pub(super) unplaced: Vec<NodeId>,
    /// Acknowledgements the level needs.
    pub(super) required: usize,
}

/// One acknowledgement the coordinator waits for.
struct Sent {
    /// The node asked.
    target: NodeId,
    /// The replica the write is for (the target itself unless a stand-in).
    owner: NodeId,
    ok: bool,
}

/// Where a write of the key at ring position `tok` goes, given the
/// serving ring, the next ring, N and which nodes are judged up; on
/// failure, the acknowledgements needed and reachable.
///
/// Replicas the key gains on the next ring (a node joining, or taking over
/// from one leaving) are written too, and each raises the
/// acknowledgements needed by one, as Cassandra counts pending replicas:
/// once the move finishes, the new replica set still holds the write at
/// the level asked. That holds even when a pending replica is down (a
/// stand-in's hint may count for it): not waiting for it could leave a
/// write on too few of the final replicas if it was misjudged, or if it
/// takes over a leaving node's ranges without streaming. A joiner that
/// died for good is taken off the ring with `CLUSTER REMOVE`.
fn plan_write(
    me: NodeId,
    ring: &Arc<Ring>,
    next: &Arc<Ring>,
    replicas: usize,
    tok: u64,
    level: Consistency,
    is_up: impl Fn(NodeId) -> bool,
) -> std::result::Result<WritePlan, (usize, usize)> {
    let members = ring.nodes().len().max(next.nodes().len());
    let n = replicas.min(members).max(1);
    let mut prefs = ring.preference_list(tok, n);
    let serving = prefs.clone();
    let mut pending = 0usize;
    if !Arc::ptr_eq(ring, next) {
        for id in next.preference_list(tok, n) {
            if !prefs.contains(&id) {
                prefs.push(id);
                pending += 1;
            }
        }
    }
    if prefs.is_empty() {
        // No tokens anywhere yet (this node is still joining): it
        // holds everything.
        prefs.push(me);
    }
    let required = level.required(prefs.len() - pending) + pending;
    let (up, down): (Vec<NodeId>, Vec<NodeId>) = prefs.iter().partition(|&&id| is_up(id));
    let mut standins = Vec::new();
    let mut unplaced = Vec::new();
    if !down.is_empty() {
        // The rest of the ring in preference order, walked only when a
        // replica needs a stand-in.
        let mut candidates = ring
            .preference_list(tok, ring.nodes().len())
            .into_iter()
            .filter(|id| !prefs.contains(id) && is_up(*id));
        for owner in down {
            match candidates.next() {
                Some(s) => standins.push((s, owner)),
                None => unplaced.push(owner),
            }
        }
    }
    let reachable = up.len() + standins.len();
    let hint_counts = usize::from(level == Consistency::Any);
    if reachable + hint_counts < required {
        return Err((required, reachable));
    }
    let leaders = up
        .iter()
        .copied()
        .filter(|id| serving.contains(id))
        .collect();
    Ok(WritePlan {
        leaders,
        replicas: up,
        standins,
        unplaced,
        required,
    })
}

impl Coordinator {
    pub(super) fn write_plan(
        &self,
        planning: &Planning<'_>,
        key: &[u8],
        level: Consistency,
    ) -> Result<WritePlan> {
        plan_write(
            self.me,
            &planning.ring,
            &planning.next_ring,
            planning.replicas,
            token::token(key),
            level,
            |id| planning.liveness.is_up(id),
        )
        .map_err(|(required, answered)| {
            self.stats.unavailable.inc();
            Error::NoQuorum { required, answered }
        })
    }

    /// Applies `mutation` to `key` at `level`. Returns what it produced and
    /// the local durability to await (when this node applied it).
    pub async fn write(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        mutation: Mutation,
        level: Consistency,
    ) -> Result<(Applied, Ack)> {
        let (outcome, ack) = self.write_op(db, key, mutation.into_op(), level).await?;
        Ok((Applied::from_outcome(outcome), ack))
    }

    /// [`Coordinator::write`] of a replicated operation.
    pub(crate) async fn write_op(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        op: Op,
        level: Consistency,
    ) -> Result<(Outcome, Ack)> {
        self.stats.writes.inc(level);
        let context = op_context(&op)?;
        if self.is_alone() {
            let Updated {
                out: outcome, ack, ..
            } = self.apply_local_partial(db, key, op, context).await?;
            return refused_to_error(outcome).map(|o| (o, ack));
        }
        // Boxed: the replicated path's future (the leader's write, the
        // sends, the waits) is about 1 KB more than the local one, carried
        // by every write command's future on a node alone too.
        Box::pin(self.write_op_replicated(db, key, op, context, level)).await
    }

    /// [`Coordinator::write_op`] on a node with peers: led here or by
    /// another replica, then shipped to the rest.
    async fn write_op_replicated(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        op: Op,
        context: Option<VectorClock>,
        level: Consistency,
    ) -> Result<(Outcome, Ack)> {
        let plan = self.write_plan(&self.planning(), key, level)?;
        let op = match op {
            Op::Collection(c) if self.leads_delta(&plan) => {
                return self.write_delta(db, key, c, level, &plan).await;
            }
            op => op,
        };
        let (leader, outcome, record, ack) = self.lead(db, key, op, context, &plan, level).await?;
        let outcome = refused_to_error(outcome)?;
        let ack = self
            .replicate(db, key, &plan, level, leader, Shipment::Record(record), ack)
            .await?;
        Ok((outcome, ack))
    }

    /// Sends what `leader` produced to every other replica of `plan`, to
    /// stand-ins as hints, and keeps hints here for whatever does not
    /// acknowledge; returns once `level`'s worth of replicas hold it (the
    /// leader counts), with the local durability to await.
    #[allow(
        clippy::too_many_arguments,
        reason = "the key, where it goes and what was applied"
    )]
    pub(super) async fn replicate(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        plan: &WritePlan,
        level: Consistency,
        leader: Option<NodeId>,
        shipment: Shipment,
        ack: Ack,
    ) -> Result<Ack> {
        let mut acked = usize::from(leader.is_some());
        let mut sends: Vec<(NodeId, NodeId, Request)> = Vec::new();
        let mut ack = ack;
        for &id in plan.replicas.iter().filter(|&&id| Some(id) != leader) {
            if id == self.me {
                // This node did not lead (it is pending or rebuilding): it
                // merges the leader's record like any other replica.
                // (A local failure is an engine error: not counted, and no
                // hint either, which would sit on the same failing store.)
                if let Some(record) = shipment.record(self, db, key).await {
                    if let Ok(incoming) = super::decode_incoming(key, &record) {
                        if let Ok((_, local)) = self.merge_local(db, key, &incoming).await {
                            ack = local;
                            acked += 1;
                        }
                    }
                }
                continue;
            }
            sends.push((id, id, shipment.request(db, key)));
        }
        for &(standin, owner) in &plan.standins {
            if standin == self.me {
                if shipment.keep_hint(self, owner, db, key).await.is_ok() {
                    acked += 1;
                }
                continue;
            }
            let Some(record) = shipment.record(self, db, key).await else {
                continue;
            };
            let req = Request::Hint {
                owner,
                db,
                key: key.clone(),
                record,
            };
            sends.push((standin, owner, req));
        }
        let mut unplaced = plan.unplaced.clone();
        if level == Consistency::Any && acked < plan.required {
            // At ANY a hint kept here is an acknowledgement.
            let mut stored = false;
            for owner in std::mem::take(&mut unplaced) {
                stored |= shipment.keep_hint(self, owner, db, key).await.is_ok();
            }
            acked += usize::from(stored);
        }

        // The sends run inside this request's task (no task per replica):
        // a pipeline's writes reach each peer's writer together.
        let mut calls: FuturesUnordered<_> = sends
            .into_iter()
            .map(|(target, owner, req)| {
                send_to(Arc::clone(self), target, owner, req, shipment.clone())
            })
            .collect();
        // A long record is given the time to travel, as its request is
        // (`transfer_allowance`).
        let mut timer = AwakeTimer::new(
            self.timeout()
                .saturating_add(crate::rpc::client::transfer_allowance(shipment.len())),
        );
        let mut missed: Vec<NodeId> = Vec::new();

        while acked < plan.required {
            match timer.run(calls.next()).await {
                Some(Some(s)) if s.ok => acked += 1,
                Some(Some(s)) => missed.push(s.owner),
                _ => break,
            }
        }
        // Whatever did not acknowledge (now or later) gets a hint kept here,
        // in the background: the client's answer does not wait for it.
        if !calls.is_empty() || !missed.is_empty() || !unplaced.is_empty() {
            let this = Arc::clone(self);
            let hinted_key = key.clone();
            tokio::spawn(async move {
                while let Some(s) = calls.next().await {
                    if !s.ok {
                        tracing::debug!(
                            target = format!("{:016x}", s.target),
                            "write not acknowledged; keeping a hint"
                        );
                        missed.push(s.owner);
                    }
                }
                missed.extend(unplaced);
                for owner in missed {
                    if let Err(e) = shipment.keep_hint(&this, owner, db, &hinted_key).await {
                        tracing::warn!(error = %e, "could not store a hint");
                    }
                }
            });
        }
        if acked < plan.required {
            self.stats.unavailable.inc();
            return Err(Error::NoQuorum {
                required: plan.required,
                answered: acked,
            });
        }
        Ok(ack)
    }

    /// Has a preferred replica apply `op`: this node if it is one, else the
    /// first that answers. Returns the leader (`None` when no preferred
    /// replica could, and the write was applied to an empty record here),
    /// the outcome, the encoded record and the local durability to await.
    ///
    /// A counter change is built on what `level`'s worth of replicas hold,
    /// merged into the leader first, not on the leader's record alone: the
    /// previous INCR may have been acknowledged by the other replicas while
    /// its merge into this one is still on the way, and the reply would
    /// then repeat (or undercount) the count. A HyperLogLog change is built
    /// the same way, so its reply (whether PFADD changed anything) and its
    /// type check see what the level has seen.
    async fn lead(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        op: Op,
        context: Option<VectorClock>,
        plan: &WritePlan,
        level: Consistency,
    ) -> Result<(Option<NodeId>, Outcome, Bytes, Ack)> {
        // Not to be retried on another replica after an unanswered call:
        // it may have been applied, and twice would count twice.
        let counter = match &op {
            // A swap applied twice would answer what its first application
            // wrote, and the value it replaced would be lost.
            Op::AddInt(_) | Op::AddFloat(_) | Op::Swap { .. } => true,
            Op::Collection(c) => match c {
                CollectionOp::AddInt { .. }
                | CollectionOp::AddFloat { .. }
                | CollectionOp::Pop { .. } => true,
                CollectionOp::ZAdd { flags, .. } => flags & crate::version::zadd::INCR != 0,
                _ => false,
            },
            _ => false,
        };
        if let Some(refusal) = self.refused_by_type(db, key, &op, level).await? {
            return Err(refusal);
        }
        let builds_on_read = counter
            || matches!(
                op,
                Op::PfAdd(_)
                    | Op::PfMerge { .. }
                    | Op::Collection(_)
                    | Op::Swap { .. }
                    | Op::Expire { .. }
            );
        let base = if builds_on_read {
            Some(self.read(db, key, level).await?).filter(|b| !b.is_empty())
        } else {
            None
        };
        // A write decided by what the key holds (GETDEL, GETSET, SET NX,
        // XX or GET) is applied by the first replica every node would ask,
        // so concurrent ones through different nodes meet under one record
        // lock: one SET NX wins, two GETDELs do not return the same value.
        let leads_here = if matches!(op, Op::Swap { .. }) {
            plan.leaders.first() == Some(&self.me)
        } else {
            plan.leaders.contains(&self.me)
        };
        if leads_here && !self.is_rebuilding() {
            if let Some(b) = &base {
                self.merge_local(db, key, b).await?;
            }
            // A write replacing the key leaves a whole record without
            // reading a split collection's members.
            let replaces = matches!(
                op,
                Op::Delete | Op::Put { context: None, .. } | Op::Swap { .. }
            );
            let applied = if replaces {
                self.apply_local_partial(db, key, op, context).await?
            } else {
                self.apply_local(db, key, op, context).await?
            };
            let record = applied.encoded();
            return Ok((Some(self.me), applied.out, record, applied.ack));
        }
        let encoded_base = base.as_ref().map(Siblings::encode);
        for &id in plan.leaders.iter().filter(|&&id| id != self.me) {
            if let Some(record) = &encoded_base {
                let merge = Request::Merge {
                    db,
                    key: key.clone(),
                    record: record.clone(),
                };
                if !matches!(self.call(id, &merge).await, Ok(Response::Ack)) {
                    continue;
                }
            }
            let req = Request::Apply {
                db,
                key: key.clone(),
                deadline_ms: self
                    .keyspace
                    .now_ms()
                    .saturating_add(self.timeout().as_millis() as u64),
                op: op.clone(),
            };
            match self.call(id, &req).await {
                Ok(Response::Applied { record, outcome }) => {
                    return Ok((Some(id), outcome, record, Ack::NONE));
                }
                // Refused unapplied (it is rebuilding, or by its clock the
                // request came after this call's deadline): ask the next one.
                Err(RpcError::Failed {
                    code: ErrorCode::Rebuilding | ErrorCode::Late,
                    ..
                }) => continue,
                Ok(other) => return Err(Error::unexpected(id, "apply on", &other)),
                // A counter change may have been applied by a replica that
                // did not answer; trying another could count it twice.
                Err(_) if counter => break,
                Err(_) => continue,
            }
        }
        if counter {
            self.stats.unavailable.inc();
            return Err(Error::NoQuorum {
                required: plan.required,
                answered: 0,
            });
        }
        // No preferred replica could: applied here, on what the read found
        // (a HyperLogLog change then joins whatever it missed on read).
        let mut sibs = base.unwrap_or_default();
        let outcome = apply_op(
            &mut sibs,
            op,
            context.as_ref(),
            crate::actor::one_off(),
            self.keyspace.now_ms(),
        );
        Ok((None, outcome, sibs.encode(), Ack::NONE))
    }

    /// Applies `op` to this node's record as the coordinating replica,
    /// stamping as this run's actor.
    pub(crate) async fn apply_local(
        &self,
        db: u32,
        key: &[u8],
        op: Op,
        context: Option<VectorClock>,
    ) -> Result<Updated<Outcome>> {
        let actor = self.actor;
        self.update_announced(db, key, |sibs, now| {
            apply_op(sibs, op, context.as_ref(), actor, now)
        })
        .await
    }

    /// [`Keyspace::update_record`](crate::keyspace::Keyspace::update_record)
    /// of this node's record, its change announced (blocked clients,
    /// interested nodes, shipped writes waiting for it).
    pub(super) async fn update_announced<R>(
        &self,
        db: u32,
        key: &[u8],
        f: impl FnOnce(&mut Siblings, u64) -> R,
    ) -> Result<Updated<R>> {
        let updated = self.keyspace.update_record(db, key, f).await?;
        if updated.ack != Ack::NONE {
            self.changed(db, key);
        }
        Ok(updated)
    }

    /// The refusal of a string write (INCR, INCRBYFLOAT, PFADD, PFMERGE)
    /// of a key this node holds as a collection, decided from the key's
    /// type as `level` reads it without its members
    /// ([`Coordinator::collection_at`]): each of these answers a
    /// collection of any kind `-WRONGTYPE`, which reading a large
    /// collection whole would only reach at O(n). `None` when the write
    /// goes ahead as usual.
    async fn refused_by_type(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        op: &Op,
        level: Consistency,
    ) -> Result<Option<Error>> {
        let string_write = match op {
            Op::AddInt(_) | Op::AddFloat(_) | Op::PfAdd(_) | Op::PfMerge { .. } => true,
            Op::Expire { .. } => true,
            // Only a swap that answers the string (GETDEL, GETSET, SET GET).
            Op::Swap { flags, .. } => flags & crate::mutation::swap::GET != 0,
            _ => false,
        };
        if !string_write {
            return Ok(None);
        }
        let collection = self.collection_at(db, key, level).await?;
        Ok(matches!(collection, Some(Some(_))).then_some(Error::WrongType))
    }

    /// [`Coordinator::apply_local`] reading and writing only the members
    /// the write needs when the collection is stored split. Its result's
    /// record is then partial: for a node that is the only replica of its
    /// keys (no peer wants the whole record), and for a write that replaces
    /// the key (DEL, SET: the record left is whole).
    async fn apply_local_partial(
        &self,
        db: u32,
        key: &[u8],
        op: Op,
        context: Option<VectorClock>,
    ) -> Result<Updated<Outcome>> {
        let actor = self.actor;
        let apply =
            move |op| move |sibs: &mut Siblings, now: u64| apply_op(sibs, op, None, actor, now);
        match self.update_partial_op(db, key, op, apply).await? {
            Ok(updated) => Ok(updated),
            Err(op) => self.apply_local(db, key, op, context).await,
        }
    }

    /// `op`, written by the function `write` makes of it, applied to only
    /// the members `op` needs
    /// ([`Keyspace::update_partial`](crate::keyspace::Keyspace::update_partial)),
    /// its change announced; `op` back, unapplied, for a write that needs
    /// the whole record. (The write takes `op` itself: a value or a batch of
    /// members is moved into it, not copied.)
    pub(super) async fn update_partial_op<W, F>(
        &self,
        db: u32,
        key: &[u8],
        op: Op,
        write: W,
    ) -> Result<std::result::Result<Updated<Outcome>, Op>>
    where
        W: FnOnce(Op) -> F,
        F: FnOnce(&mut Siblings, u64) -> Outcome,
    {
        let count_only = || WriteNeed::only(Need::Count);
        let (target, wanted) = match &op {
            Op::Collection(c) => match crate::keyspace::collection_need(c) {
                Some((kind, wanted)) => (PartialTarget::Collection(kind), wanted),
                None => return Ok(Err(op)),
            },
            Op::Delete | Op::Put { context: None, .. } => (PartialTarget::Replace, count_only()),
            Op::AddInt(_)
            | Op::AddFloat(_)
            | Op::PfAdd(_)
            | Op::PfMerge { .. }
            | Op::Expire { .. } => (PartialTarget::String, count_only()),
            // Decided by what the key holds, whatever its type: a SET
            // (XX, KEEPTTL) replaces a collection as SET does.
            Op::Swap { .. } => (PartialTarget::Replace, count_only()),
            Op::Put { .. } => return Ok(Err(op)),
        };
        let need = wanted.need();
        let count_reply: Option<fn(u64) -> Outcome> = match &op {
            Op::Collection(c) if crate::keyspace::replies_length(c) => {
                Some(|n| Outcome::Collection(CollectionReply::Count(n)))
            }
            _ => None,
        };
        let updated = self
            .keyspace
            .update_partial(db, key, target, need, write(op), count_reply)
            .await?;
        if updated.ack != Ack::NONE {
            self.changed(db, key);
        }
        Ok(Ok(updated))
    }

    /// Merges another replica's record into this node's. Returns whether
    /// the local record changed, and the durability to await.
    pub(crate) async fn merge_local(
        &self,
        db: u32,
        key: &[u8],
        incoming: &Siblings,
    ) -> Result<(bool, Ack)> {
        let ack = self.keyspace.merge_record(db, key, incoming).await?.ack;
        if ack != Ack::NONE {
            self.changed(db, key);
        }
        Ok((ack != Ack::NONE, ack))
    }
}

/// One replica (or stand-in) asked to take a write, for
/// [`Coordinator::replicate`]: a replica that cannot apply a shipped
/// operation (its record has another base) is sent the whole record.
async fn send_to(
    this: Arc<Coordinator>,
    target: NodeId,
    owner: NodeId,
    req: Request,
    shipment: Shipment,
) -> Sent {
    if matches!(req, Request::ApplyAt { .. }) {
        this.stats.delta_writes.inc();
    }
    let reply = match &req {
        Request::ApplyAt { db, item } => this.apply_at_on(target, *db, item.clone()).await,
        _ => this.call(target, &req).await,
    };
    let ok = match (reply, &req) {
        (Ok(Response::Ack), _) => true,
        (
            Err(RpcError::Failed {
                code: ErrorCode::Diverged,
                ..
            }),
            Request::ApplyAt {
                db,
                item: ApplyAtItem { key, .. },
            },
        ) => {
            this.stats.delta_diverged.inc();
            // One fallback per replica and key at a time; after waiting,
            // the operation may already be held there.
            let _turn = this.fallbacks.turn(target, *db, key).await;
            matches!(this.call(target, &req).await, Ok(Response::Ack))
                || match shipment.record(&this, *db, key).await {
                    Some(record) => {
                        let merge = Request::Merge {
                            db: *db,
                            key: key.clone(),
                            record,
                        };
                        matches!(this.call(target, &merge).await, Ok(Response::Ack))
                    }
                    None => false,
                }
        }
        (Err(RpcError::Timeout), _) => false,
        (other, _) => {
            tracing::warn!(target = format!("{target:016x}"), reply = ?other, "a replica failed a write");
            false
        }
    };
    Sent { target, owner, ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes 1..=3 serving; node 4 joining (on the next ring only).
    fn rings(serving: &[NodeId]) -> (Arc<Ring>, Arc<Ring>) {
        let tokens = |id: NodeId| -> Vec<u64> { (0..16).map(|i| i * 1_000_003 + id).collect() };
        let ring = Ring::new(serving.iter().map(|&id| (id, tokens(id))));
        let mut next_members: Vec<_> = serving.iter().map(|&id| (id, tokens(id))).collect();
        next_members.push((4, crate::ring::allocate_tokens(&ring, 4, 16, 7)));
        (Arc::new(ring), Arc::new(Ring::new(next_members)))
    }

    /// A token whose replicas on the next ring include the joiner.
    fn token_moving_to_joiner(ring: &Ring, next: &Ring, n: usize) -> u64 {
        (0..u64::MAX / 997)
            .step_by(1 << 40)
            .map(|t| t * 997)
            .find(|&t| {
                next.preference_list(t, n).contains(&4) && !ring.preference_list(t, n).contains(&4)
            })
            .expect("some range moves to the joiner")
    }

    fn plan(serving: &[NodeId], down: &[NodeId]) -> std::result::Result<WritePlan, (usize, usize)> {
        let (ring, next) = rings(serving);
        let tok = token_moving_to_joiner(&ring, &next, 3);
        plan_write(1, &ring, &next, 3, tok, Consistency::Quorum, |id| {
            !down.contains(&id)
        })
    }

    #[test]
    fn a_joiner_that_is_up_raises_the_acknowledgements_needed() {
        let p = plan(&[1, 2, 3], &[]).expect("all up");
        assert_eq!(p.required, 3);
        assert!(p.replicas.contains(&4));
        let p = plan(&[1, 2, 3], &[2]).expect("one normal replica down");
        assert_eq!(p.required, 3);
        assert_eq!(plan(&[1, 2, 3], &[2, 3]).err(), Some((3, 2)));
    }

    #[test]
    fn only_serving_replicas_lead_a_write() {
        // The joiner receives the write but never applies it to its own,
        // still incomplete, record.
        let p = plan(&[1, 2, 3], &[]).expect("all up");
        assert!(p.replicas.contains(&4));
        assert!(!p.leaders.contains(&4));
        assert!(p.leaders.iter().all(|id| [1, 2, 3].contains(id)));
        let p = plan(&[1, 2, 3], &[1, 2]).err();
        assert_eq!(p, Some((3, 2)));
    }

    #[test]
    fn a_joiner_that_is_down_is_still_counted() {
        // Nodes 1..=3 serve a key with N = 3, so no stand-in exists: the
        // down joiner is left a hint and the write needs all three.
        let p = plan(&[1, 2, 3], &[4]).expect("joiner down, three up");
        assert_eq!(p.required, 3);
        assert_eq!(p.unplaced, vec![4]);
        assert_eq!(plan(&[1, 2, 3], &[4, 3]).err(), Some((3, 2)));
        // With a fifth serving node, it stands in for the joiner.
        let (ring, next) = rings(&[1, 2, 3, 5]);
        let tok = token_moving_to_joiner(&ring, &next, 3);
        let p = plan_write(1, &ring, &next, 3, tok, Consistency::Quorum, |id| id != 4)
            .expect("a stand-in for the joiner");
        assert_eq!(p.required, 3);
        assert_eq!(p.standins.len(), 1);
        assert_eq!(p.standins[0].1, 4);
    }
}
