//! Gossip membership (`docs/protocol/gossip.md`): every node's view of
//! every member — address, generation, heartbeat version, status, ring
//! tokens, who adopts its vnodes when it leaves — plus this node's
//! phi-accrual verdict on each peer, and the two rings derived from it.
//!
//! A member's state is owned by that member: only it raises its version (a
//! heartbeat each gossip round) or changes its status and tokens. A view
//! with a higher `(generation, version)` replaces the held one; the
//! generation is the member's start time, so a restarted node's state wins
//! over its previous life. Every newer version seen, first-hand or
//! second-hand, is a heartbeat for the failure detector. Up/down is a local
//! judgement and is not gossiped. A state claiming more than the member
//! can have announced is ignored and counted ([`bounds`]).
//!
//! The table is guarded by one `parking_lot::RwLock`, never held across an
//! `.await`; the ring is rebuilt when tokens change and published as an
//! `Arc` snapshot that readers clone.

pub mod bounds;
mod liveness;
pub use liveness::Liveness;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::codec::{BodyReader, BodyWriter, DecodeError};
use crate::failure::PhiDetector;
use crate::ring::{NodeId, Ring};

/// A member's lifecycle state, as it announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Taking over ranges; not yet serving them.
    Joining,
    /// Serving its ranges.
    Normal,
    /// Handing its ranges off before leaving.
    Leaving,
    /// Gone; kept so the news spreads.
    Left,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Joining => 0,
            Status::Normal => 1,
            Status::Leaving => 2,
            Status::Left => 3,
        }
    }
    fn from_code(c: u8) -> Result<Status, DecodeError> {
        Ok(match c {
            0 => Status::Joining,
            1 => Status::Normal,
            2 => Status::Leaving,
            3 => Status::Left,
            _ => return Err(DecodeError(format!("unknown member status {c}"))),
        })
    }
    /// Lower-case name (`CLUSTER NODES`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Joining => "joining",
            Status::Normal => "normal",
            Status::Leaving => "leaving",
            Status::Left => "left",
        }
    }
}

/// What a member announces about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Its node id.
    pub id: NodeId,
    /// host:port of its cluster port.
    pub cluster_addr: String,
    /// host:port clients use.
    pub client_addr: String,
    /// Its start time (unix ms): a restart starts a new generation.
    pub generation: u64,
    /// Heartbeat counter within the generation.
    pub version: u64,
    /// Lifecycle state.
    pub status: Status,
    /// Its ring tokens.
    pub tokens: Vec<u64>,
    /// Who takes over each vnode it owns once it is gone, as `(token,
    /// adopter)` ascending by token: its own tokens and any it adopted
    /// from a member that left before it. Set when it starts leaving (or
    /// by `CLUSTER REMOVE` on its behalf) and kept after it has left, so
    /// every node derives the same ring from this one state; empty
    /// otherwise. A token without an adopter passes to the next vnode.
    pub handoff: Vec<(u64, NodeId)>,
}

impl MemberState {
    /// The member `token` passes to once this one is gone, if any.
    pub fn adopter_of(&self, token: u64) -> Option<NodeId> {
        self.handoff
            .binary_search_by_key(&token, |&(t, _)| t)
            .ok()
            .map(|i| self.handoff[i].1)
    }

    /// Whether this is a removal announced by a peer (`CLUSTER REMOVE`):
    /// left, at a version no heartbeat of the member's own reaches.
    pub fn is_removal(&self) -> bool {
        self.status == Status::Left && self.version >= REMOVAL_VERSION_STEP
    }

    /// Appends the state to a message body.
    pub fn encode(&self, w: &mut BodyWriter) {
        w.u64(self.id)
            .str(&self.cluster_addr)
            .str(&self.client_addr)
            .u64(self.generation)
            .u64(self.version)
            .u8(self.status.code())
            .u32(self.tokens.len() as u32);
        for t in &self.tokens {
            w.u64(*t);
        }
        w.u32(self.handoff.len() as u32);
        for &(t, adopter) in &self.handoff {
            w.u64(t).u64(adopter);
        }
    }

    /// Reads a state from a message body.
    pub fn decode(r: &mut BodyReader) -> Result<MemberState, DecodeError> {
        let id = r.u64("member id")?;
        let cluster_addr = r.string("cluster addr")?;
        let client_addr = r.string("client addr")?;
        let generation = r.u64("generation")?;
        let version = r.u64("version")?;
        let status = Status::from_code(r.u8("status")?)?;
        let n = r.count("token count", 8)?;
        let tokens = (0..n).map(|_| r.u64("token")).collect::<Result<_, _>>()?;
        let n = r.count("handoff count", 16)?;
        let mut handoff: Vec<(u64, NodeId)> = (0..n)
            .map(|_| Ok((r.u64("handoff token")?, r.u64("adopter")?)))
            .collect::<Result<_, DecodeError>>()?;
        // Lookups binary-search it; a peer's order is not trusted.
        handoff.sort_unstable();
        handoff.dedup_by_key(|&mut (t, _)| t);
        Ok(MemberState {
            id,
            cluster_addr,
            client_addr,
            generation,
            version,
            status,
            tokens,
            handoff,
        })
    }
}

/// One member as this node sees it.
#[derive(Clone, Debug)]
pub struct MemberView {
    /// What it announced.
    pub state: MemberState,
    /// This node's verdict (always true for itself).
    pub up: bool,
    /// Current suspicion level (0 for itself).
    pub phi: f64,
}

impl MemberView {
    /// The one state operators count it under: `left` for a member that
    /// has left (up or not: it serves nothing), else `down` when judged
    /// down, else its announced state.
    pub fn summary_state(&self) -> &'static str {
        match self.state.status {
            Status::Left => "left",
            _ if !self.up => "down",
            s => s.as_str(),
        }
    }
}

struct Member {
    state: MemberState,
    detector: PhiDetector,
}

struct Table {
    members: BTreeMap<NodeId, Member>,
}

/// The membership table.
pub struct Membership {
    me: NodeId,
    table: RwLock<Table>,
    ring: RwLock<Arc<Ring>>,
    next_ring: RwLock<Arc<Ring>>,
    /// Whether this node is the only one on both rings; kept with them,
    /// since every request asks ([`Membership::is_alone`]).
    alone: AtomicBool,
    interval: Duration,
    /// Bits of the phi threshold (f64), changeable at run time.
    phi_threshold: std::sync::atomic::AtomicU64,
    /// When this node last showed it was running ([`Membership::awake`]).
    awake: Mutex<Instant>,
    /// Set when a member turns `left`: its ranges have new replicas, which
    /// owe a repair round ([`Membership::take_unsynced_removals`]).
    removal_pending: AtomicBool,
    /// Set when a peer reports this node left (or removed by `CLUSTER
    /// REMOVE`) in a previous life: its data is stale, and it must not
    /// serve it.
    departed_earlier: AtomicBool,
    /// States received and ignored because they claimed more than the
    /// member can have announced ([`bounds`]).
    rejected: AtomicU64,
    reject_log: Mutex<bounds::RejectLog>,
}

/// Added to a removed member's version by [`Membership::remove`], so the
/// removal outranks every heartbeat the member could still send in its
/// current generation (at one per gossip interval, centuries of them).
pub const REMOVAL_VERSION_STEP: u64 = 1 << 32;

/// A gap of this many gossip intervals between two [`Membership::awake`]
/// calls means this node itself was paused (SIGSTOP, a stall, a VM
/// freeze). Peers' silence during it is not held against them: otherwise
/// a node waking up would judge every peer down at once, as Cassandra
/// avoids with its maximum local pause. Well below the ~18 intervals after
/// which the default phi threshold convicts.
pub const LOCAL_PAUSE_INTERVALS: u32 = 5;

/// The serving ring (members that own data now: normal and leaving) and
/// the next ring (what it becomes once joins and departures finish:
/// normal and joining). Equal, and shared, when nothing is moving.
fn rings_of(table: &Table) -> (Arc<Ring>, Arc<Ring>) {
    let serving = Arc::new(ring_of(table, |s| {
        matches!(s, Status::Normal | Status::Leaving)
    }));
    let moving = table.members.values().any(|m| {
        matches!(m.state.status, Status::Joining | Status::Leaving) && !m.state.tokens.is_empty()
    });
    if moving {
        let next = ring_of(table, |s| matches!(s, Status::Normal | Status::Joining));
        (serving, Arc::new(next))
    } else {
        (Arc::clone(&serving), serving)
    }
}

/// Writes a member list: `count:u32` then each state (the body of a
/// GOSSIP request or reply, and of the stored member table).
pub(crate) fn encode_states(w: &mut BodyWriter, states: &[MemberState]) {
    w.u32(u32::try_from(states.len()).unwrap_or(u32::MAX));
    for s in states {
        s.encode(w);
    }
}

/// Reads a member list written by [`encode_states`].
pub(crate) fn decode_states(r: &mut BodyReader) -> Result<Vec<MemberState>, DecodeError> {
    let n = r.count("member count", 8)?;
    (0..n).map(|_| MemberState::decode(r)).collect()
}

/// Whether `new`, heard of a member, replaces `held`: a later `(generation,
/// version)`, except that a departure is final. A `left` state outranks any
/// later life of the id (its handoff is what every ring is derived from),
/// the earliest generation's departure outranking later ones; once `left`
/// is held, later generations are ignored. Within one generation a
/// running member can still refute its removal by a higher version. Two
/// removals of one member announced at once by different nodes carry the
/// same version: the smaller handoff wins, so every node keeps the same
/// one. The outcome does not depend on the order states arrive in.
fn supersedes(new: &MemberState, held: &MemberState) -> bool {
    let (n, h) = (
        (new.generation, new.version),
        (held.generation, held.version),
    );
    if new.status == Status::Left && new.generation < held.generation {
        return true;
    }
    if held.status == Status::Left && new.generation > held.generation {
        return false;
    }
    n > h || (n == h && new.is_removal() && held.is_removal() && new.handoff < held.handoff)
}

/// Whether `me` is the only node on both rings.
fn alone_on(ring: &Ring, next: &Ring, me: NodeId) -> bool {
    ring.nodes() == [me] && next.nodes() == [me]
}

/// Whether two states of a member put it in the same places on the rings.
fn same_placement(a: &MemberState, b: &MemberState) -> bool {
    a.status == b.status && a.tokens == b.tokens && a.handoff == b.handoff
}

/// The ring of the members whose status is `on_ring`. Each token belongs
/// to the member that lists it if that member is on the ring, else to its
/// adopter (following the handoffs of members gone in turn); with none, it
/// is off the ring and its range passes to the next vnode. Only members
/// list tokens and only departing members hand them over, so no token is
/// ever claimed twice.
fn ring_of(table: &Table, on_ring: impl Fn(Status) -> bool) -> Ring {
    let mut owned: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
    for m in table.members.values() {
        for &t in &m.state.tokens {
            if let Some(owner) = owner_of(table, &m.state, t, &on_ring) {
                owned.entry(owner).or_default().push(t);
            }
        }
    }
    Ring::new(owned)
}

/// Who holds `token`, listed by `claimant`, on the ring of the members
/// whose status is `on_ring`.
fn owner_of(
    table: &Table,
    claimant: &MemberState,
    token: u64,
    on_ring: &impl Fn(Status) -> bool,
) -> Option<NodeId> {
    let mut holder = claimant;
    // Adopters are chosen among members on the ring, so a chain never
    // loops; the bound only guards against a peer's malformed state.
    for _ in 0..=table.members.len() {
        if on_ring(holder.status) {
            return Some(holder.id);
        }
        holder = &table.members.get(&holder.adopter_of(token)?)?.state;
    }
    None
}

impl Membership {
    /// A table holding only this node.
    pub fn new(me: MemberState, interval: Duration, phi_threshold: f64) -> Membership {
        let id = me.id;
        let mut members = BTreeMap::new();
        members.insert(
            id,
            Member {
                state: me,
                detector: PhiDetector::new(interval),
            },
        );
        let table = Table { members };
        let (ring, next) = rings_of(&table);
        Membership {
            me: id,
            table: RwLock::new(table),
            alone: AtomicBool::new(alone_on(&ring, &next, id)),
            ring: RwLock::new(ring),
            next_ring: RwLock::new(next),
            interval,
            phi_threshold: std::sync::atomic::AtomicU64::new(phi_threshold.to_bits()),
            awake: Mutex::new(Instant::now()),
            removal_pending: AtomicBool::new(false),
            departed_earlier: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            reject_log: Mutex::new(bounds::RejectLog::default()),
        }
    }

    /// Removes `id`, a member gone for good, on its behalf: it turns
    /// `left`, at a version above any it could announce in its current
    /// generation, so gossip spreads the removal to every member. Its
    /// vnodes go to adopters as if it had left itself ([`Membership::
    /// handoff_plan`]; a leaving member keeps the plan it announced), except
    /// a joiner's, which never served and pass back to the next vnodes.
    /// Returns false (and changes nothing) for this node itself, an unknown
    /// member, one that has already left, or one whose version is so high
    /// that peers would ignore the removal ([`bounds::version_limit`]: only
    /// after a peer announced an absurd version for it). The caller checks
    /// that the member is down.
    pub fn remove(&self, id: NodeId) -> bool {
        if id == self.me {
            return false;
        }
        let plan = self.handoff_plan(id);
        let mut t = self.table.write();
        let Some(m) = t.members.get_mut(&id) else {
            return false;
        };
        if m.state.status == Status::Left {
            return false;
        }
        let limit = bounds::version_limit(m.state.generation, bounds::unix_ms());
        let Some(version) = m
            .state
            .version
            .checked_add(REMOVAL_VERSION_STEP)
            .filter(|&v| v <= limit)
        else {
            return false;
        };
        match m.state.status {
            Status::Normal => m.state.handoff = plan,
            Status::Joining => m.state.handoff.clear(),
            Status::Leaving | Status::Left => {}
        }
        m.state.status = Status::Left;
        m.state.version = version;
        self.removal_pending.store(true, AtomicOrdering::Relaxed);
        self.publish_rings(&t);
        true
    }

    /// Who should adopt each vnode `id` holds on the serving ring, were it
    /// to leave now: the other members that are normal share them so that
    /// ownership stays even ([`crate::ring::handoff_plan`]). It depends on
    /// gossiped states only, not on this node's up/down verdicts, so two
    /// nodes removing the same member at once make the same plan.
    pub fn handoff_plan(&self, id: NodeId) -> Vec<(u64, NodeId)> {
        let ring = self.ring();
        let t = self.table.read();
        let adopters: Vec<NodeId> = t
            .members
            .values()
            .filter(|m| m.state.status == Status::Normal && m.state.id != id)
            .map(|m| m.state.id)
            .collect();
        crate::ring::handoff_plan(&ring, id, &adopters)
    }

    /// Whether a peer reported that this node left the cluster in an
    /// earlier run (`CLUSTER REMOVE`, or a leave whose end was not
    /// recorded here): its data is stale and its id belongs to the past.
    pub fn departed_earlier(&self) -> bool {
        self.departed_earlier.load(AtomicOrdering::Relaxed)
    }

    /// Whether `id` is a member that has left the cluster.
    pub fn has_left(&self, id: NodeId) -> bool {
        self.table
            .read()
            .members
            .get(&id)
            .is_some_and(|m| m.state.status == Status::Left)
    }

    /// Whether a member was removed since the last call: its ranges have
    /// new replicas, which must pull the data from the others.
    pub fn take_unsynced_removals(&self) -> bool {
        self.removal_pending.swap(false, AtomicOrdering::Relaxed)
    }

    /// Records that this node is running at `now`; called every gossip
    /// interval by a task that does nothing else. After a local pause
    /// (longer than [`LOCAL_PAUSE_INTERVALS`]) every peer's detector
    /// forgives the paused time; returns the pause.
    pub fn awake(&self, now: Instant) -> Option<Duration> {
        let mut awake = self.awake.lock();
        let gap = now.saturating_duration_since(*awake);
        *awake = now;
        drop(awake);
        if !self.is_local_pause(gap) {
            return None;
        }
        let paused = gap.saturating_sub(self.interval);
        for m in self.table.write().members.values_mut() {
            m.detector.forgive(paused);
        }
        Some(paused)
    }

    /// Whether `gap` since this node was last seen running is a pause of
    /// its own (more than [`LOCAL_PAUSE_INTERVALS`] gossip intervals).
    fn is_local_pause(&self, gap: Duration) -> bool {
        gap > self.interval * LOCAL_PAUSE_INTERVALS
    }

    /// The instant at which peers are judged: now, or, while this node
    /// looks paused (its awake task overdue), the moment it was last seen
    /// running, so a request handled first after a pause does not find
    /// every peer down.
    fn judged_at(&self, now: Instant) -> Instant {
        let awake = *self.awake.lock();
        if self.is_local_pause(now.saturating_duration_since(awake)) {
            awake + self.interval
        } else {
            now
        }
    }

    /// The gossip interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// This node's id.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Changes the phi threshold.
    pub fn set_phi_threshold(&self, phi: f64) {
        self.phi_threshold
            .store(phi.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The phi from which a silent member is judged down.
    pub fn phi_threshold(&self) -> f64 {
        f64::from_bits(
            self.phi_threshold
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The serving ring: the members that own data now (normal and
    /// leaving). Reads use it.
    pub fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.read())
    }

    /// The ring once moving members have finished joining or leaving.
    /// Writes go to a key's replicas on both rings, so none is lost while
    /// ranges move. The same snapshot as [`Membership::ring`] when nothing
    /// moves.
    pub fn next_ring(&self) -> Arc<Ring> {
        Arc::clone(&self.next_ring.read())
    }

    fn publish_rings(&self, t: &Table) {
        let (ring, next) = rings_of(t);
        self.alone
            .store(alone_on(&ring, &next, self.me), AtomicOrdering::Relaxed);
        *self.ring.write() = ring;
        *self.next_ring.write() = next;
    }

    /// Whether this node is the only member on the ring, now and once
    /// movements finish (a cluster of one). Not so for a node joining a
    /// cluster of one (the other node serves), for that node while the
    /// joiner is pending (writes must reach it too), nor for a node that
    /// has left one (its local data is stale).
    pub fn is_alone(&self) -> bool {
        self.alone.load(AtomicOrdering::Relaxed)
    }

    /// Every state, for a gossip message.
    pub fn states(&self) -> Vec<MemberState> {
        self.table
            .read()
            .members
            .values()
            .map(|m| m.state.clone())
            .collect()
    }

    /// This node's own state.
    pub fn my_state(&self) -> Option<MemberState> {
        self.table
            .read()
            .members
            .get(&self.me)
            .map(|m| m.state.clone())
    }

    /// Changes this node's own state (status, tokens) and bumps its version.
    /// Once this node has left, only the version moves: a departure is
    /// final (a late revert of a leave, or a replacement finishing its
    /// bootstrap after learning its id left, must not bring it back).
    pub fn update_me(&self, f: impl FnOnce(&mut MemberState)) {
        let mut t = self.table.write();
        let changed = if let Some(m) = t.members.get_mut(&self.me) {
            let before = m.state.clone();
            f(&mut m.state);
            if before.status == Status::Left {
                m.state = before.clone();
            }
            m.state.version = m.state.version.saturating_add(1);
            !same_placement(&before, &m.state)
        } else {
            false
        };
        if changed {
            self.publish_rings(&t);
        }
    }

    /// Turns this node `leaving` with `plan` as its handoff, if it is
    /// `normal`: one check and change, so two leaves started at once cannot
    /// both run. Returns false (and changes nothing) otherwise.
    pub fn start_leaving(&self, plan: Vec<(u64, NodeId)>) -> bool {
        let mut t = self.table.write();
        let Some(m) = t.members.get_mut(&self.me) else {
            return false;
        };
        if m.state.status != Status::Normal {
            return false;
        }
        m.state.status = Status::Leaving;
        m.state.handoff = plan;
        m.state.version = m.state.version.saturating_add(1);
        self.publish_rings(&t);
        true
    }

    /// A gossip round's heartbeat: raises this node's version.
    pub fn heartbeat(&self) {
        self.update_me(|_| {});
    }

    /// Folds in states heard from a peer. Returns true if the ring changed.
    /// A state claiming more than its member can have announced is ignored
    /// and counted ([`bounds::check`]).
    pub fn merge(&self, incoming: Vec<MemberState>) -> bool {
        let now = Instant::now();
        let now_ms = bounds::unix_ms();
        let mut t = self.table.write();
        let mut ring_changed = false;
        for s in incoming {
            if let Err(why) = bounds::check(&s, now_ms, s.id == self.me) {
                self.rejected.fetch_add(1, AtomicOrdering::Relaxed);
                self.reject_log.lock().note(&s, why, now);
                continue;
            }
            if s.id == self.me {
                // Nobody else may speak for this node. A view of it from a
                // previous life is overridden by our heartbeat; one of this
                // life at a higher version (a CLUSTER REMOVE of a node that
                // is in fact running) is refuted by outbidding it: the
                // bound checked above leaves room for one more.
                if let Some(mine) = t.members.get_mut(&self.me) {
                    let outbid =
                        s.generation == mine.state.generation && s.version > mine.state.version;
                    if let Some(refutation) = s.version.checked_add(1).filter(|_| outbid) {
                        mine.state.version = refutation;
                        // Its ranges were others' meanwhile: catch up.
                        self.removal_pending.store(true, AtomicOrdering::Relaxed);
                        tracing::warn!(
                            "a peer announced this running node as removed; refuting it"
                        );
                    } else if s.generation < mine.state.generation
                        && s.status == Status::Left
                        && (mine.state.status != Status::Left || !same_placement(&s, &mine.state))
                    {
                        // Its id left the cluster in an earlier life, and
                        // every member ignores this one: stop serving, and
                        // see the ring as they do (following that state if
                        // it settles on another handoff).
                        if !self.departed_earlier.swap(true, AtomicOrdering::Relaxed) {
                            tracing::error!(
                                "this node's id left the cluster in an earlier run; it no longer \
                                 serves: restart it with an empty data directory"
                            );
                        }
                        mine.state.status = Status::Left;
                        mine.state.tokens = s.tokens;
                        mine.state.handoff = s.handoff;
                        mine.state.version = mine.state.version.saturating_add(1);
                        ring_changed = true;
                    }
                }
                continue;
            }
            match t.members.get_mut(&s.id) {
                Some(m) => {
                    if supersedes(&s, &m.state) {
                        if s.generation > m.state.generation {
                            // A restart: forget the intervals of the old life.
                            m.detector = PhiDetector::new(self.interval);
                        }
                        let moved = !same_placement(&s, &m.state);
                        ring_changed |= moved;
                        if moved && (s.status == Status::Left || m.state.status == Status::Left) {
                            // Ranges have new replicas that nobody streamed
                            // to (a removal, its refutation, a member that
                            // died leaving): they owe a repair round.
                            self.removal_pending.store(true, AtomicOrdering::Relaxed);
                        }
                        m.detector.heartbeat(now);
                        m.state = s;
                    }
                }
                None => {
                    let mut detector = PhiDetector::new(self.interval);
                    detector.heartbeat(now);
                    ring_changed = true;
                    t.members.insert(s.id, Member { state: s, detector });
                }
            }
        }
        if ring_changed {
            self.publish_rings(&t);
        }
        ring_changed
    }

    /// Gossiped states ignored so far because they claimed more than their
    /// member can have announced ([`bounds`]).
    pub fn rejected_states(&self) -> u64 {
        self.rejected.load(AtomicOrdering::Relaxed)
    }

    /// `id`'s suspicion level (phi) when it is judged up, `None` when it
    /// is down or has left (this node: always up, at 0).
    pub fn suspicion(&self, id: NodeId) -> Option<f64> {
        self.suspicion_at(id, Instant::now())
    }

    /// Whether `id` is judged up (this node always is).
    pub fn is_up(&self, id: NodeId) -> bool {
        self.is_up_at(id, Instant::now())
    }

    fn is_up_at(&self, id: NodeId, now: Instant) -> bool {
        self.suspicion_at(id, now).is_some()
    }

    /// [`Membership::suspicion`] as judged at `now`.
    fn suspicion_at(&self, id: NodeId, now: Instant) -> Option<f64> {
        if id == self.me {
            return Some(0.0);
        }
        self.verdict(id, self.judged_at(now), self.phi_threshold())
    }

    /// Every member's verdict at one instant, for planning many keys at
    /// once ([`Liveness`]).
    pub fn liveness(&self) -> Liveness<'_> {
        Liveness::new(self, Instant::now())
    }

    /// `id`'s phi judged at instant `at` (already past [`Self::judged_at`])
    /// against `threshold`; `None` when it is down or unknown.
    fn verdict(&self, id: NodeId, at: Instant, threshold: f64) -> Option<f64> {
        if id == self.me {
            return Some(0.0);
        }
        let t = self.table.read();
        let m = t.members.get(&id)?;
        if m.state.status == Status::Left {
            return None;
        }
        m.detector.phi_if_up(at, threshold)
    }

    /// The cluster address of `id`.
    pub fn cluster_addr(&self, id: NodeId) -> Option<String> {
        self.table
            .read()
            .members
            .get(&id)
            .map(|m| m.state.cluster_addr.clone())
    }

    /// Every member with this node's verdict, by id.
    pub fn views(&self) -> Vec<MemberView> {
        let now = self.judged_at(Instant::now());
        let threshold = self.phi_threshold();
        self.table
            .read()
            .members
            .values()
            .map(|m| {
                let me = m.state.id == self.me;
                let phi = if me { 0.0 } else { m.detector.phi(now) };
                MemberView {
                    state: m.state.clone(),
                    up: me || (m.state.status != Status::Left && phi <= threshold),
                    phi,
                }
            })
            .collect()
    }

    /// Ids of the other members not marked left, split into (up, down).
    pub fn peers(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let (up, down): (Vec<_>, Vec<_>) = self
            .views()
            .into_iter()
            .filter(|v| v.state.id != self.me && v.state.status != Status::Left)
            .partition(|v| v.up);
        (
            up.into_iter().map(|v| v.state.id).collect(),
            down.into_iter().map(|v| v.state.id).collect(),
        )
    }
}

#[cfg(test)]
mod tests;
