//! Collection writes and reads that move only what they touch between
//! replicas, so a member of a large collection is changed or read without
//! the whole record crossing the network or being rewritten.
//!
//! A write: the coordinator, itself a replica that may lead, first makes
//! sure its record holds everything the level has acknowledged by asking
//! the other replicas for their record's causal context only (a
//! [`Request::Clock`]); a full read and merge happens only when one has
//! seen a write this node has not. It then applies the write to the members
//! it needs and ships the *operation* to the other replicas with the
//! context it was applied on, its actor and its clock reading
//! ([`Request::ApplyAt`]). A replica whose record has exactly that context
//! holds the same value (every write carries a dot in the context, and the
//! vnode-clock rule means a replica holding an actor's n-th write holds its
//! earlier ones), so applying the same deterministic write there gives the
//! coordinator's record; a random pop travels as the removal of the
//! members it took. A replica whose context differs applies nothing and is
//! sent the whole record, merged as before; one that is only behind (the
//! previous shipped write is still on its way) waits a few milliseconds
//! for it first. Hints and stand-ins always carry the whole record.
//!
//! A read: the replicas the level asks are sent [`Request::Clock`]; when
//! this node's record has seen every write their contexts name, the
//! members asked for are read here alone (Cassandra's digest read); a
//! split collection's record that is behind is first given a few
//! milliseconds to receive the shipped writes on their way. Otherwise the
//! whole record is read from each and merged, and read repair brings the
//! others up to date.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ringkv_conf::Consistency;
use tokio::sync::{Notify, OnceCell};

use super::apply_op::{apply_op, refused_to_error};
use super::write::WritePlan;
use super::{Coordinator, Plan};
use crate::error::{Error, Result};
use crate::keyspace::{Ack, Keyspace, Need, PartialRead, Updated};
use crate::ring::NodeId;
use crate::rpc::{ApplyAtItem, ErrorCode, Op, Outcome, Request, Response};
use crate::timer::AwakeTimer;
use crate::version::{Actor, CollectionOp, CollectionReply, PopEnd, Siblings, VectorClock};

/// How long a replica behind a shipped write's base waits for the writes
/// before it (at most half the replica timeout) before it answers
/// [`ErrorCode::Diverged`].
const BEHIND_WAIT_MS: u64 = 500;

/// How long a coordinator whose record of a split collection is behind
/// the other replicas' waits for the shipped writes on their way to it
/// before it reads the record whole from them instead.
const CATCH_UP_WAIT_MS: u64 = 50;

/// Shipped writes waiting on this node for the writes before them, by
/// key. A change of a key reads its context once and wakes only the
/// writes it makes ready (their base reached, passed by a whole record,
/// or left behind for good), so a replica with many reordered writes in
/// flight does not look at its record once per waiting write per change.
#[derive(Default)]
pub(crate) struct Behind {
    /// Per (database, key): the writes waiting on it.
    keys: parking_lot::Mutex<HashMap<(u32, Bytes), Vec<Waiter>>>,
    /// How many wait on any key (changes skip the map when none does).
    waiting: AtomicUsize,
    /// Names waiters, to unregister them.
    next_id: AtomicU64,
}

/// A shipped write waiting for its base.
struct Waiter {
    id: u64,
    base: VectorClock,
    actor: Actor,
    ready: Arc<Notify>,
}

/// Whether a write on `base` by `actor` has something to do, given the
/// record's context `found`: apply (its base), acknowledge (the record
/// already holds it), or give up (not merely behind).
fn ready(found: &VectorClock, base: &VectorClock, actor: Actor) -> bool {
    let behind = !found.is_empty() && base.dominates(found);
    same_writes(found, base) || found.counter(actor) > base.counter(actor) || !behind
}

/// One shipped write registered in [`Behind`] while it lives.
pub(crate) struct Waiting<'a> {
    behind: &'a Behind,
    key: (u32, Bytes),
    id: u64,
    /// Woken when a change of the key makes this write ready.
    ready: Arc<Notify>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut keys = self.behind.keys.lock();
        if let Some(list) = keys.get_mut(&self.key) {
            list.retain(|w| w.id != self.id);
            if list.is_empty() {
                keys.remove(&self.key);
            }
        }
        self.behind.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Behind {
    /// Registers a shipped write of `key` on `base` until the guard drops.
    fn enter(&self, db: u32, key: &[u8], base: &VectorClock, actor: Actor) -> Waiting<'_> {
        let key = (db, Bytes::copy_from_slice(key));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ready = Arc::new(Notify::new());
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.keys
            .lock()
            .entry(key.clone())
            .or_default()
            .push(Waiter {
                id,
                base: base.clone(),
                actor,
                ready: Arc::clone(&ready),
            });
        Waiting {
            behind: self,
            key,
            id,
            ready,
        }
    }

    /// `key` changed here: wakes the writes waiting on it that it made
    /// ready.
    pub(crate) fn wake(&self, keyspace: &Keyspace, db: u32, key: &[u8]) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let keys = self.keys.lock();
        let Some(list) = keys.get(&(db, Bytes::copy_from_slice(key))) else {
            return;
        };
        let found = match keyspace.record_context(db, key) {
            Ok(c) => c.unwrap_or_default(),
            // Let them look for themselves.
            Err(_) => {
                list.iter().for_each(|w| w.ready.notify_one());
                return;
            }
        };
        for w in list.iter().filter(|w| ready(&found, &w.base, w.actor)) {
            w.ready.notify_one();
        }
    }
}

/// One whole-record fallback at a time per replica and key: the writes
/// that found a replica diverged at once wait their turn, and by then the
/// first one's whole record usually holds them (the replica then
/// acknowledges their operation as already held).
#[derive(Default)]
pub(crate) struct Fallbacks {
    turns: parking_lot::Mutex<HashMap<ReplicaKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A replica, a database and a key.
type ReplicaKey = (NodeId, u32, Bytes);

/// A turn of [`Fallbacks`]; the key's entry goes with its last holder.
pub(crate) struct Turn<'a> {
    fallbacks: &'a Fallbacks,
    id: ReplicaKey,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut turns = self.fallbacks.turns.lock();
        if turns
            .get(&self.id)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            turns.remove(&self.id);
        }
    }
}

impl Fallbacks {
    /// Waits for the turn of `key` on replica `target`.
    pub(crate) async fn turn(&self, target: NodeId, db: u32, key: &Bytes) -> Turn<'_> {
        let id = (target, db, key.clone());
        let lock = Arc::clone(self.turns.lock().entry(id.clone()).or_default());
        let guard = lock.lock_owned().await;
        Turn {
            fallbacks: self,
            id,
            guard: Some(guard),
        }
    }
}

/// What a write sends the other replicas of its key.
#[derive(Clone)]
pub(super) enum Shipment {
    /// The leader's whole record (encoded siblings), merged by each.
    Record(Bytes),
    /// The write as the leader applied it; the whole record, read from this
    /// node's store when a hint or a diverged replica needs it.
    Delta {
        /// The context of the record the write was applied to.
        base: VectorClock,
        /// The leader's actor.
        actor: Actor,
        /// The leader's clock reading.
        now_ms: u64,
        /// The write, a random pop resolved to the members it took.
        op: CollectionOp,
        /// This node's whole record, read once when first needed.
        whole: Arc<OnceCell<Option<Bytes>>>,
    },
}

impl Shipment {
    /// Bytes of the record it ships (0 for an operation, which is short
    /// but for the values it writes).
    pub(super) fn len(&self) -> usize {
        match self {
            Shipment::Record(record) => record.len(),
            Shipment::Delta { .. } => 0,
        }
    }

    /// The request taking the write to a replica.
    pub(super) fn request(&self, db: u32, key: &Bytes) -> Request {
        match self {
            Shipment::Record(record) => Request::Merge {
                db,
                key: key.clone(),
                record: record.clone(),
            },
            Shipment::Delta {
                base,
                actor,
                now_ms,
                op,
                ..
            } => ApplyAtItem {
                key: key.clone(),
                base: base.clone(),
                actor: *actor,
                now_ms: *now_ms,
                op: op.clone(),
            }
            .into_request(db),
        }
    }

    /// Keeps a hint of this write here for `owner`: the record, or for a
    /// shipped operation a marker standing for this node's record (which
    /// holds the write) when the hint is replayed.
    pub(super) async fn keep_hint(
        &self,
        this: &Coordinator,
        owner: NodeId,
        db: u32,
        key: &[u8],
    ) -> Result<()> {
        match self {
            Shipment::Record(record) => this.hints.store(owner, db, key, record).await,
            Shipment::Delta { .. } => this.hints.store_marker(owner, db, key).await,
        }
    }

    /// The whole record to merge or keep as a hint (`None` if this node's
    /// could not be read).
    pub(super) async fn record(&self, this: &Coordinator, db: u32, key: &[u8]) -> Option<Bytes> {
        match self {
            Shipment::Record(record) => Some(record.clone()),
            Shipment::Delta { whole, .. } => whole
                .get_or_init(|| async {
                    whole_record(this, db, key).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "could not read a record to ship whole");
                        None
                    })
                })
                .await
                .clone(),
        }
    }
}

/// This node's whole record of `key`, encoded, read and encoded on a
/// blocking thread (a large collection's members are many); `None` if
/// there is none.
pub(crate) async fn whole_record(this: &Coordinator, db: u32, key: &[u8]) -> Result<Option<Bytes>> {
    let keyspace = this.keyspace.clone();
    let key = key.to_vec();
    let read = tokio::task::spawn_blocking(move || {
        keyspace
            .read_record(db, &key)
            .map(|r| r.map(|r| r.encode()))
    })
    .await;
    match read {
        Ok(r) => r,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// What [`Coordinator::apply_on_base`] found.
enum OnBase {
    /// Applied: the result, the context it was applied on, the clock
    /// reading used, and whether the base can be shipped (not a record of
    /// the unversioned format, whose empty context says nothing).
    Applied(Updated<Outcome>, VectorClock, u64, bool),
    /// Not applied: the record's context differs from the base asked for.
    Diverged,
}

/// Whether two contexts name the same writes (timestamps aside).
fn same_writes(a: &VectorClock, b: &VectorClock) -> bool {
    a.descends(b) && b.descends(a)
}

/// A record whose context cannot stand for its value: it holds siblings
/// but no dots (written before vector clocks).
fn unversioned(sibs: &Siblings, context: &VectorClock) -> bool {
    context.is_empty() && !sibs.is_empty()
}

impl Coordinator {
    /// Whether a collection write with this plan is led here and shipped
    /// as an operation.
    pub(super) fn leads_delta(&self, plan: &WritePlan) -> bool {
        plan.leaders.contains(&self.me) && !self.is_rebuilding()
    }

    /// [`Coordinator::write_op`] of a collection write led by this node and
    /// shipped as an operation (module doc).
    pub(super) async fn write_delta(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        op: CollectionOp,
        level: Consistency,
        plan: &WritePlan,
    ) -> Result<(Outcome, Ack)> {
        self.catch_up(db, key, level).await?;
        let applied = self
            .apply_on_base(db, key, op.clone(), self.actor, None, None)
            .await?;
        let OnBase::Applied(updated, base, now_ms, shippable) = applied else {
            // Only a write given a base to check can find another.
            return Err(Error::Task {
                what: "a collection write",
                cause: "diverged from no base".into(),
            });
        };
        let outcome = refused_to_error(updated.out)?;
        if updated.ack == Ack::NONE {
            // Nothing changed: nothing to ship.
            return Ok((outcome, Ack::NONE));
        }
        let op = match (op, &outcome) {
            (
                CollectionOp::Pop {
                    kind,
                    end: PopEnd::Random,
                    ..
                },
                Outcome::Collection(CollectionReply::Pairs(taken)),
            ) => CollectionOp::Remove {
                kind,
                members: taken.iter().map(|(m, _)| m.clone()).collect(),
            },
            (op, _) => op,
        };
        let shipment = Shipment::Delta {
            base,
            actor: self.actor,
            now_ms,
            op,
            whole: Arc::new(OnceCell::new()),
        };
        let shipment = if shippable {
            shipment
        } else {
            match shipment.record(self, db, key).await {
                Some(record) => Shipment::Record(record),
                None => shipment,
            }
        };
        let ack = self
            .replicate(db, key, plan, level, Some(self.me), shipment, updated.ack)
            .await?;
        Ok((outcome, ack))
    }

    /// Makes this node's record of `key` hold every write `level`'s worth
    /// of replicas hold, before a write is built on it: their contexts are
    /// compared with this node's, and only when one has seen a write this
    /// node has not is the record read whole from them and merged in.
    async fn catch_up(self: &Arc<Self>, db: u32, key: &Bytes, level: Consistency) -> Result<()> {
        let plan = self.plan(&self.planning(), key, level)?;
        if plan.targets.contains(&self.me) {
            if plan.required <= 1 {
                return Ok(());
            }
            let remote = self.replica_contexts(db, key, &plan).await?;
            if self.holds_all(db, key, &remote).await? {
                return Ok(());
            }
        }
        let merged = self.read(db, key, level).await?;
        if !merged.is_empty() {
            self.merge_local(db, key, &merged).await?;
        }
        Ok(())
    }

    /// The record contexts of `key` on the replicas of `plan` other than
    /// this node, as many as its level needs besides this node's
    /// (`None`: no record); NOQUORUM when too few answer.
    async fn replica_contexts(
        self: &Arc<Self>,
        db: u32,
        key: &Bytes,
        plan: &Plan,
    ) -> Result<Vec<Option<VectorClock>>> {
        let needed = plan.required.saturating_sub(1);
        let mut calls: FuturesUnordered<_> = plan
            .targets
            .iter()
            .filter(|&&id| id != self.me)
            .map(|&id| self.clock_of(id, db, key.clone()))
            .collect();
        let mut timer = AwakeTimer::new(self.timeout());
        let mut contexts = Vec::with_capacity(needed);
        while contexts.len() < needed && !calls.is_empty() {
            match timer.run(calls.next()).await {
                Some(Some(Some(c))) => contexts.push(c),
                Some(Some(None)) => {}
                _ => break,
            }
        }
        if contexts.len() < needed {
            self.stats.unavailable.inc();
            return Err(Error::NoQuorum {
                required: plan.required,
                answered: contexts.len() + 1,
            });
        }
        Ok(contexts)
    }

    /// Whether this node's record of `key` holds every write the other
    /// replicas' contexts `remote` name (`None`: no record there), so that
    /// a read or a write built on it alone sees what the level has seen:
    /// the same context, or one that has seen more (the write this node
    /// led last may not have reached them yet). A split collection's
    /// record that is only behind (a shipped write on its way here) is
    /// waited for, up to [`CATCH_UP_WAIT_MS`], before the caller falls
    /// back to reading it whole from the replicas and merging it, which
    /// costs the whole collection on every replica asked.
    async fn holds_all(&self, db: u32, key: &[u8], remote: &[Option<VectorClock>]) -> Result<bool> {
        let mut waited = Duration::ZERO;
        let mut step = Duration::from_millis(1);
        loop {
            // Read after the answers: writes led here meanwhile may have
            // reached the replicas already, and this record only grows.
            let local = self.keyspace.stored_context(db, key)?;
            let holds = remote.iter().all(|r| match (r, &local) {
                (None, _) => true,
                // An unversioned record's empty context says nothing.
                (Some(r), Some((l, _))) => !r.is_empty() && l.descends(r),
                (Some(_), None) => false,
            });
            let split = local.as_ref().is_some_and(|(_, split)| *split);
            if holds || !split || waited >= Duration::from_millis(CATCH_UP_WAIT_MS) {
                if holds && !waited.is_zero() {
                    self.stats.caught_up.inc();
                }
                return Ok(holds);
            }
            tokio::time::sleep(step).await;
            waited += step;
            step = (step * 2).min(Duration::from_millis(8));
        }
    }

    /// What `need` asks of the collection at `key`, read from this node's
    /// members alone when this node's record holds every write the other
    /// replicas `level` asks name ([`Coordinator::holds_all`]; `Some`);
    /// `None` when it does not, or this node is not one of them: the
    /// caller then reads whole.
    pub(super) async fn read_agreed(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        need: Need<'_>,
        level: Consistency,
    ) -> Result<Option<Option<PartialRead>>> {
        let key = Bytes::copy_from_slice(key);
        let plan = self.plan(&self.planning(), &key, level)?;
        if !plan.targets.contains(&self.me) {
            return Ok(None);
        }
        let local = self.keyspace.record_context(db, &key)?;
        if local.as_ref().is_some_and(VectorClock::is_empty) {
            return Ok(None);
        }
        if plan.required > 1 {
            let remote = self.replica_contexts(db, &key, &plan).await?;
            if !self.holds_all(db, &key, &remote).await? {
                self.stats.digest_mismatches.inc();
                return Ok(None);
            }
        }
        self.stats.reads.inc(level);
        self.stats.digest_reads.inc();
        Ok(Some(self.keyspace.read_partial(db, &key, need)?))
    }

    /// A page of a collection walk (HSCAN, SSCAN, ZSCAN): at most `count`
    /// members after `after` (from the first without one), read as
    /// [`Coordinator::read_partial`] reads [`Need::After`]. When the
    /// replicas do not agree and the whole record had to be read at
    /// `level`, the page holds every member after `after`: a walk costs
    /// at most one whole read, never one per page.
    pub async fn read_scan_page(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        level: Consistency,
    ) -> Result<Option<PartialRead>> {
        let need = Need::After { after, count };
        if self.is_alone() {
            self.stats.reads.inc(level);
            return self.keyspace.read_partial(db, key, need);
        }
        if let Some(read) = self.read_agreed(db, key, need, level).await? {
            return Ok(read);
        }
        let rest = Need::After {
            after,
            count: usize::MAX,
        };
        Ok(self
            .get(db, key, level)
            .await?
            .map(|e| PartialRead::of_entry(&e, rest)))
    }

    /// A replica's side of [`Request::ApplyAt`].
    pub(super) async fn apply_at(&self, db: u32, item: ApplyAtItem) -> Result<Response> {
        let ApplyAtItem {
            key,
            base,
            actor,
            now_ms,
            op,
        } = item;
        let key = &key[..];
        // Less than the coordinator waits for the answer, so it never
        // takes a slow answer for a lost one (and keeps a hint).
        let deadline = tokio::time::Instant::now()
            + (self.timeout() / 2).min(Duration::from_millis(BEHIND_WAIT_MS));
        // Registered before its first look, so no change between a look
        // and the wait goes unnoticed (a wake-up leaves a permit).
        let waiting = self.behind.enter(db, key, &base, actor);
        loop {
            // A cheap look first (no lock, no member read): only a record
            // on the base is worth the apply, which checks again.
            let found = self.keyspace.record_context(db, key)?.unwrap_or_default();
            if same_writes(&found, &base) {
                match self
                    .apply_on_base(db, key, op.clone(), actor, Some(now_ms), Some(&base))
                    .await?
                {
                    OnBase::Applied(updated, ..) => {
                        self.keyspace.durable(updated.ack).await?;
                        return Ok(Response::Ack);
                    }
                    // Changed between the look and the lock: look again.
                    OnBase::Diverged => continue,
                }
            }
            // The record already holds this write: its dot is `actor`'s
            // next event after `base`, and a record holding an actor's
            // n-th event holds its earlier ones (a whole record merged
            // here since, by a fallback or a repair).
            if found.counter(actor) > base.counter(actor) {
                return Ok(Response::Ack);
            }
            // Behind the base: the writes before this one may still be on
            // their way (replicas serve requests concurrently).
            if ready(&found, &base, actor) {
                break;
            }
            if tokio::time::timeout_at(deadline, waiting.ready.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(Response::error(
            ErrorCode::Diverged,
            "the record's context is not the write's base",
        ))
    }

    /// Applies `op` as `actor` to this node's record of `key`, reading and
    /// writing only the members it needs where it can, at `at` (another
    /// node's clock reading) or now; with `base`, only if the record's
    /// context is `base`.
    async fn apply_on_base(
        &self,
        db: u32,
        key: &[u8],
        op: CollectionOp,
        actor: Actor,
        at: Option<u64>,
        base: Option<&VectorClock>,
    ) -> Result<OnBase> {
        let mut seen: Option<(VectorClock, u64, bool)> = None;
        let mut diverged = false;
        let op = Op::Collection(op);
        let notes = (&mut seen, &mut diverged);
        let apply = move |op| {
            // Moved out, not reborrowed: the write is made once.
            let (seen, diverged) = notes;
            base_checked(op, actor, at, base, seen, diverged)
        };
        let updated = match self.update_partial_op(db, key, op, apply).await? {
            Ok(updated) => updated,
            Err(op) => {
                let apply = base_checked(op, actor, at, base, &mut seen, &mut diverged);
                self.update_announced(db, key, apply).await?
            }
        };
        if diverged {
            return Ok(OnBase::Diverged);
        }
        let (context, now, shippable) = seen.unwrap_or_default();
        Ok(OnBase::Applied(updated, context, now, shippable))
    }
}

/// The write of [`Coordinator::apply_on_base`]: notes the context it
/// found and the clock reading it used in `seen`, or, when `base` is given
/// and the context differs, changes nothing and sets `diverged`.
fn base_checked<'a>(
    op: Op,
    actor: Actor,
    at: Option<u64>,
    base: Option<&'a VectorClock>,
    seen: &'a mut Option<(VectorClock, u64, bool)>,
    diverged: &'a mut bool,
) -> impl FnOnce(&mut Siblings, u64) -> Outcome + 'a {
    move |sibs: &mut Siblings, local_now: u64| {
        let context = sibs.context();
        let unversioned = unversioned(sibs, &context);
        if let Some(base) = base {
            if unversioned || !same_writes(&context, base) {
                *diverged = true;
                return Outcome::Done;
            }
        }
        let now = at.unwrap_or(local_now);
        *seen = Some((context, now, !unversioned));
        apply_op(sibs, op, None, actor, now)
    }
}
