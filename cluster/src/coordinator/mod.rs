//! The coordinator: every node runs one, and any node coordinates any key.
//!
//! A request for a key takes a ring snapshot, picks the key's preference
//! list (the first N distinct nodes clockwise from its token, N capped at
//! the member count) and keeps the replicas the failure detector holds up.
//! If fewer are up than the consistency level needs, it fails at once with
//! `NOQUORUM`; otherwise it fans out and answers as soon as enough replicas
//! replied, or `NOQUORUM` when the replica timeout passes first.
//!
//! Writes are coordinated by a replica (Riak's vnode clocks): the
//! coordinator itself when it is in the preference list, else the first
//! replica up. That replica applies the write to its own record — a new
//! sibling whose vector clock supersedes what it holds (or what a VSET
//! context saw), or an add to its own slot of the counter CRDT — and the
//! resulting record is merged into the other replicas. Its acknowledgement
//! counts toward W. Concurrent writes coordinated by different replicas
//! become siblings; plain reads resolve them last-write-wins.
//!
//! Reads merge the records of R replicas, asking only those unless one
//! fails or is slow ([`read`]). Read repair merges the result back into
//! every replica that answered with less.
//!
//! Submodules: [`read`] (quorum reads, speculative reads, read repair),
//! [`write`] (the sloppy-quorum write path), [`serve`] (the replica side
//! of node requests).

mod apply_op;
mod delta;
mod peer_batch;
pub(crate) use delta::whole_record;
mod notify;
mod read;
pub use notify::{ChangeObserver, INTEREST_TTL, MessageSink};
mod repair;
mod serve;
pub(crate) use serve::decode_incoming;
mod write;
mod write_many;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::RwLock;
use ringkv_conf::Consistency;

use crate::Entry;
use crate::error::{Error, Result};
use crate::keyspace::{Ack, Keyspace, Need, PartialRead, live_entry};
use crate::membership::{Liveness, Membership};
use crate::ring::{NodeId, Ring};
use crate::rpc::{Request, Response, RpcClient, RpcError};
pub use crate::stats::ClusterStats;
use crate::token;

/// Coordinator settings that `CONFIG SET` may change.
#[derive(Clone, Debug)]
pub struct Settings {
    /// N: replicas per key.
    pub replicas: usize,
    /// How long to wait for replicas.
    pub replica_timeout: Duration,
    /// Whether reads repair stale replicas.
    pub read_repair: bool,
    /// How long a read waits for the replicas its level needs before it
    /// asks the others too; zero: it asks every live replica at once.
    pub speculative_read: Duration,
    /// Time between background anti-entropy rounds (zero: none).
    pub anti_entropy_interval: Duration,
}

/// A page of a cluster-wide SCAN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterScanPage {
    /// Ring position to continue from; 0 when complete.
    pub cursor: u64,
    /// Distinct live keys, in ring order.
    pub keys: Vec<Bytes>,
}

/// The fraction of `phi-threshold` from which a replica judged up is
/// asked after the others: at the default threshold (8) a phi of 1,
/// about 2.3 gossip intervals of silence, where a healthy peer's next
/// heartbeat is that late once in 10 times. It is marked down only at the
/// threshold.
const SUSPECTED_FRACTION: f64 = 1.0 / 8.0;

/// Which replicas a request goes to.
struct Plan {
    /// Replicas judged up, in preference order, those suspected last.
    targets: Vec<NodeId>,
    /// Replies the level needs.
    required: usize,
}

/// What every key of one batch (a pipeline's GETs or SETs, or one
/// command's key) is planned against: the rings, N, whether this node is
/// rebuilding, and the peers' liveness, each read once for the batch
/// rather than once per key and replica.
pub(super) struct Planning<'a> {
    ring: Arc<Ring>,
    next_ring: Arc<Ring>,
    replicas: usize,
    rebuilding: bool,
    liveness: Liveness<'a>,
}

/// The node's coordinator and replica handler.
pub struct Coordinator {
    pub(crate) me: NodeId,
    /// The actor this run stamps dots and counter increments with
    /// ([`crate::actor`]); not the node id, so it can change.
    pub(crate) actor: crate::version::Actor,
    /// Set while this node may hold less than it once acknowledged (it
    /// took a fresh actor, or is streaming its ranges in): it then neither
    /// applies writes from its own record nor answers reads, and coordinates
    /// through the other replicas only. Cleared by [`crate::node`] once
    /// every replica it shares ranges with has synced with it.
    pub(crate) rebuilding: std::sync::atomic::AtomicBool,
    pub(crate) keyspace: Keyspace,
    pub(crate) members: Arc<Membership>,
    pub(crate) rpc: Arc<RpcClient>,
    pub(crate) settings: RwLock<Settings>,
    pub(crate) stats: Arc<ClusterStats>,
    /// The cluster port: whether it listens, and its admission gate.
    pub(crate) port: crate::port::ClusterPort,
    pub(crate) hints: crate::hints::Hints,
    pub(crate) anti_entropy: crate::antientropy::AntiEntropyStats,
    /// Where published messages go on this node (set by the server).
    pub(crate) message_sink: RwLock<Option<notify::MessageSink>>,
    /// Who hears of every record change on this node (set by the server).
    pub(crate) change_observer: std::sync::OnceLock<notify::ChangeObserver>,
    /// Nodes with clients blocked on keys, per key (`notify`).
    pub(crate) interest: parking_lot::Mutex<notify::InterestTable>,
    /// When the last interest in `interest` expires (unix ms): its
    /// lock-free fast path.
    pub(crate) interest_until_ms: std::sync::atomic::AtomicU64,
    /// Shipped writes waiting for the write before them (`delta`).
    pub(crate) behind: delta::Behind,
    /// Requests to replicas gathered from the commands running at once
    /// ([`peer_batch`]).
    pub(crate) batches: peer_batch::Batches,
    /// Whole-record fallbacks of shipped writes in progress (`delta`).
    pub(crate) fallbacks: delta::Fallbacks,
}

impl Coordinator {
    /// The local store.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The membership table.
    pub fn members(&self) -> &Arc<Membership> {
        &self.members
    }

    /// Counters for metrics and INFO.
    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.stats
    }

    /// The cluster port (whether it listens, protected mode).
    pub fn cluster_port(&self) -> &crate::port::ClusterPort {
        &self.port
    }

    /// The hint store.
    pub fn hints(&self) -> &crate::hints::Hints {
        &self.hints
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Node-to-node connections dropped because a call timed out while they
    /// delivered nothing (a stuck path; the next call redials).
    pub fn rpc_connections_retired(&self) -> u64 {
        self.rpc.retired_connections()
    }

    /// The actor this run stamps versions with ([`crate::actor`]).
    pub fn actor(&self) -> crate::version::Actor {
        self.actor
    }

    /// Whether this node is rebuilding its replicas after it may have lost
    /// data: it coordinates through the other replicas only meanwhile.
    pub fn is_rebuilding(&self) -> bool {
        self.rebuilding.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records a clean stop (see [`crate::actor`]): the last step before
    /// the engine closes, once no client or peer request can stamp again.
    pub async fn mark_clean_stop(&self) -> Result<()> {
        crate::actor::mark_clean_stop(&self.keyspace, self.actor).await
    }

    /// Changes the run-time settings.
    pub(crate) fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.settings.write());
    }

    /// Applies the settings of `config` that can change while the node
    /// runs (CONFIG SET): replica timeout, read repair, anti-entropy
    /// interval, hint age and replay rate, phi threshold. The one call the
    /// server makes for any of them.
    pub fn reconfigure(&self, config: &ringkv_conf::Config) {
        self.update_settings(|s| {
            s.replica_timeout = Duration::from_millis(config.replica_timeout_ms);
            s.read_repair = config.read_repair;
            s.speculative_read = Duration::from_millis(config.speculative_read_ms);
            s.anti_entropy_interval = Duration::from_millis(config.anti_entropy_interval_ms);
        });
        let h = &self.hints.settings;
        h.max_age_ms
            .store(config.hint_max_age_ms, std::sync::atomic::Ordering::Relaxed);
        h.replay_rate.store(
            config.hint_replay_rate,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.members.set_phi_threshold(config.phi_threshold);
    }

    /// N as it applies now: the configured replicas capped at the ring size.
    pub fn effective_replicas(&self) -> usize {
        let nodes = self.members.ring().nodes().len().max(1);
        self.settings.read().replicas.min(nodes)
    }

    /// What the keys planned next are planned against ([`Planning`]).
    pub(super) fn planning(&self) -> Planning<'_> {
        Planning {
            ring: self.members.ring(),
            next_ring: self.members.next_ring(),
            replicas: self.settings.read().replicas,
            rebuilding: self.is_rebuilding(),
            liveness: self.members.liveness(),
        }
    }

    fn plan(&self, planning: &Planning<'_>, key: &[u8], level: Consistency) -> Result<Plan> {
        let ring = &planning.ring;
        let n = planning.replicas.min(ring.nodes().len()).max(1);
        let mut prefs = ring.preference_list(token::token(key), n);
        if prefs.is_empty() {
            // No tokens yet (still joining): this node holds everything.
            prefs.push(self.me);
        }
        let required = level.required(prefs.len());
        // A rebuilding node's own record may lack acknowledged writes: it
        // does not count toward R.
        let rebuilding = planning.rebuilding;
        let mut targets: Vec<NodeId> = Vec::with_capacity(prefs.len());
        let mut suspected: Vec<NodeId> = Vec::new();
        let suspect_from = planning.liveness.threshold() * SUSPECTED_FRACTION;
        for id in prefs {
            match planning.liveness.suspicion(id) {
                _ if rebuilding && id == self.me => {}
                Some(phi) if phi >= suspect_from => suspected.push(id),
                Some(_) => targets.push(id),
                None => {}
            }
        }
        // Up, but silent for longer than usual (a paused process, a
        // stalled disk): asked last, so a read that needs fewer replicas
        // than are up does not wait for it.
        targets.append(&mut suspected);
        if targets.len() < required {
            self.stats.unavailable.inc();
            return Err(Error::NoQuorum {
                required,
                answered: targets.len(),
            });
        }
        Ok(Plan { targets, required })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.settings.read().replica_timeout
    }

    /// Sends `req` to node `id`, timing the round trip.
    pub(crate) async fn call(
        &self,
        id: NodeId,
        req: &Request,
    ) -> std::result::Result<Response, RpcError> {
        self.call_within(id, req, self.timeout()).await
    }

    /// [`Coordinator::call`] with its own `timeout` (a Merkle tree walks a
    /// whole range, not one key).
    pub(crate) async fn call_within(
        &self,
        id: NodeId,
        req: &Request,
        timeout: Duration,
    ) -> std::result::Result<Response, RpcError> {
        let Some(addr) = self.members.cluster_addr(id) else {
            return Err(RpcError::Unreachable(format!("unknown node {id:016x}")));
        };
        let started = Instant::now();
        let r = self.rpc.call(&addr, req, timeout).await;
        self.stats.replica_latency.observe(started.elapsed());
        if matches!(r, Err(RpcError::Timeout)) {
            self.stats.replica_timeouts.inc();
        }
        r
    }

    /// Every live version of `key` and the context covering them, read
    /// from as many replicas as `level` needs (VGET); `None` if the key
    /// has no record at all.
    pub async fn versions(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> Result<Option<crate::mutation::Versions>> {
        let record = self.read(db, key, level).await?;
        if record.is_empty() {
            return Ok(None);
        }
        let now = self.keyspace.now_ms();
        let values = record
            .iter()
            .filter(|s| !s.is_absent(now))
            .filter_map(|s| crate::version::payload_bytes(&s.payload))
            .collect();
        Ok(Some(crate::mutation::Versions {
            context: record.context().to_context_string(),
            values,
        }))
    }

    /// The value a plain GET returns: the live last-write-wins sibling.
    pub async fn get(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> Result<Option<Entry>> {
        if self.is_alone() {
            return self.get_local(db, key, level, self.keyspace.now_ms());
        }
        // Boxed: the replicas' read is a future of over 3 KB, which every
        // command future that awaits this one would otherwise carry (and
        // copy into its own box) on a node alone, where it never runs.
        let rec = Box::pin(self.read(db, key, level)).await?;
        Ok(live_entry(&rec, self.keyspace.now_ms()))
    }

    /// A hint that `key` is read or written soon: when this node stores
    /// keys, its record starts loading into the CPU's caches
    /// ([`Keyspace::prefetch`]). Costs a hash probe; waits for nothing.
    pub fn prefetch(&self, db: u32, key: &[u8]) {
        self.keyspace.prefetch(db, key);
    }

    /// The step before [`Coordinator::prefetch`], for every key of a batch
    /// at once ([`Keyspace::prefetch_bucket`]). Reads nothing; takes no
    /// lock.
    pub fn prefetch_bucket(&self, db: u32, key: &[u8]) {
        self.keyspace.prefetch_bucket(db, key);
    }

    /// As [`Coordinator::get`], for a caller that needs only a string: a
    /// collection is read no further than its header (its type and expiry,
    /// no members) on a node that is the only replica of its keys, and in
    /// a cluster when this node holds the key as a collection.
    pub async fn get_shallow(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> Result<Option<Entry>> {
        if self.is_alone() {
            self.stats.reads.inc(level);
            return self.keyspace.read_shallow(db, key);
        }
        // Boxed, as in `get`: the replicas' reads, on a node alone never run.
        match Box::pin(self.collection_at(db, key, level)).await? {
            Some(None) => Ok(None),
            Some(Some(read)) => Ok(Some(Entry::collection(
                read.kind,
                crate::Members::default(),
                read.expire_at_ms,
            ))),
            None => Box::pin(self.get(db, key, level)).await,
        }
    }

    /// When this node holds `key` as a collection: the key's type, expiry
    /// and length as `level` reads them, as HLEN reads its count (by digest
    /// when the replicas agree, not whole); `Some(None)` when the level
    /// finds no key. `None` when this node holds no collection there or the
    /// level reads a string: the caller reads as usual.
    pub(crate) async fn collection_at(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        level: Consistency,
    ) -> Result<Option<Option<PartialRead>>> {
        let local = self.keyspace.read_shallow(db, key)?;
        if !local.is_some_and(|e| e.kind != crate::ValueType::String) {
            return Ok(None);
        }
        match self.read_partial(db, key, Need::Count, level).await? {
            Some(read) if read.kind == crate::ValueType::String => Ok(None),
            read => Ok(Some(read)),
        }
    }

    /// What `need` asks of the collection at `key`, read at `level`: on a
    /// node that is the only replica of its keys, or when the replicas the
    /// level asks agree with this one on the record's context, only the
    /// needed members of a split collection are read
    /// ([`Keyspace::read_partial`]); otherwise the whole record is read and
    /// cut, as [`Coordinator::get`] reads it. `None` if the key does not
    /// exist.
    pub async fn read_partial(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        need: Need<'_>,
        level: Consistency,
    ) -> Result<Option<PartialRead>> {
        if self.is_alone() {
            self.stats.reads.inc(level);
            return self.keyspace.read_partial(db, key, need);
        }
        if let Some(read) = self.read_agreed(db, key, need, level).await? {
            return Ok(read);
        }
        Ok(self
            .get(db, key, level)
            .await?
            .map(|e| PartialRead::of_entry(&e, need)))
    }

    /// A GET on a cluster of one: this node's record, no fan-out.
    fn get_local(
        &self,
        db: u32,
        key: &[u8],
        level: Consistency,
        now: u64,
    ) -> Result<Option<Entry>> {
        self.stats.reads.inc(level);
        Ok(self
            .keyspace
            .read_record(db, key)?
            .and_then(|s| live_entry(&s, now)))
    }

    /// Whether this node is a cluster of one ([`Membership::is_alone`]):
    /// every key's only replica is local, so no fan-out is needed.
    pub fn is_alone(&self) -> bool {
        self.members.is_alone()
    }

    /// One page of a cluster-wide SCAN of `db` from ring position `cursor`.
    /// Every member up on the serving ring (this node included, if it is
    /// on it) is asked for a page from the same position; the page ends
    /// where the shortest member page ends, so no key between `cursor` and
    /// the returned cursor is missed on any member. A node off the ring (one
    /// that has left, still running) coordinates without adding its own
    /// keys, which are stale.
    pub async fn scan(
        self: &Arc<Self>,
        db: u32,
        cursor: u64,
        count: usize,
    ) -> Result<ClusterScanPage> {
        let (up, _) = self.members.peers();
        let ring = self.members.ring();
        let ring_nodes = ring.nodes();
        let mut pages = Vec::new();
        if ring_nodes.contains(&self.me) {
            let local = self.keyspace.scan(db, cursor, count, |_, _| true).await?;
            pages.push((
                local.cursor,
                local.tokens.into_iter().zip(local.keys).collect::<Vec<_>>(),
            ));
        }
        let req = Request::Scan {
            db,
            cursor,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        };
        let mut calls = Vec::new();
        for id in up.into_iter().filter(|id| ring_nodes.contains(id)) {
            let this = Arc::clone(self);
            let req = req.clone();
            calls.push(tokio::spawn(async move { this.call(id, &req).await }));
        }
        for c in calls {
            match c.await {
                Ok(Ok(Response::ScanPage { next, done, keys })) => {
                    pages.push((if done { 0 } else { next }, keys));
                }
                // A member that cannot answer is skipped: its keys live on
                // other replicas too (N > 1).
                _ => continue,
            }
        }
        let boundary = pages
            .iter()
            .map(|(c, _)| *c)
            .filter(|&c| c != 0)
            .min()
            .unwrap_or(0);
        let mut keys: Vec<(u64, Bytes)> = pages
            .into_iter()
            .flat_map(|(_, ks)| ks)
            .filter(|(t, _)| boundary == 0 || *t < boundary)
            .collect();
        keys.sort();
        keys.dedup();
        Ok(ClusterScanPage {
            cursor: boundary,
            keys: keys.into_iter().map(|(_, k)| k).collect(),
        })
    }

    /// A random live key of `db`, cluster-wide: the first key at or after a
    /// random ring position, wrapping around. Pages without a key (deleted
    /// keys' tombstones) are passed until one has a key or the whole ring
    /// was scanned: `None` only for an empty database.
    pub async fn random_key(self: &Arc<Self>, db: u32) -> Result<Option<Bytes>> {
        let start = rand::random::<u64>();
        let (mut cursor, mut wrapped) = (start, false);
        loop {
            let page = self.scan(db, cursor, 1).await?;
            if let Some(k) = page.keys.into_iter().next() {
                return Ok(Some(k));
            }
            match page.cursor {
                // The end of the ring: on from its start, once.
                0 if wrapped || start == 0 => return Ok(None),
                0 => (cursor, wrapped) = (0, true),
                next if wrapped && next >= start => return Ok(None),
                next => cursor = next,
            }
        }
    }

    /// Gives `dbs` fresh namespaces on every member (FLUSHDB, FLUSHALL).
    /// Needs every member up: a member that missed a flush would bring the
    /// old keys back through read repair. In two rounds: every member drops
    /// its hints for `dbs`, then every member flushes.
    pub async fn flush(self: &Arc<Self>, dbs: &[u32]) -> Result<Ack> {
        let (up, down) = self.members.peers();
        if !down.is_empty() {
            return Err(Error::NoQuorum {
                required: up.len() + down.len() + 1,
                answered: up.len() + 1,
            });
        }
        // First every member drops the hints it keeps for these databases
        // (waiting for a replay in flight): a hint delivered after some
        // member's flush would bring a flushed key back into the new,
        // empty database. Only then does any member flush.
        let failed = self
            .ack_count_missing(&up, &Request::DropHints(dbs.to_vec()))
            .await;
        self.hints.drop_dbs(dbs).await?;
        all_acked(up.len(), failed)?;
        let failed = self
            .ack_count_missing(&up, &Request::Flush(dbs.to_vec()))
            .await;
        let ack = self.keyspace.flush(dbs).await?;
        all_acked(up.len(), failed)?;
        Ok(ack)
    }

    /// Sends `req` to each of `peers` in turn; returns how many did not
    /// acknowledge it.
    async fn ack_count_missing(self: &Arc<Self>, peers: &[NodeId], req: &Request) -> usize {
        let mut failed = 0;
        for id in peers {
            if !matches!(self.call(*id, req).await, Ok(Response::Ack)) {
                failed += 1;
            }
        }
        failed
    }
}

/// A step every member must take: NOQUORUM when `failed` of the `peers`
/// (this node aside) did not.
fn all_acked(peers: usize, failed: usize) -> Result<()> {
    if failed > 0 {
        return Err(Error::NoQuorum {
            required: peers + 1,
            answered: peers + 1 - failed,
        });
    }
    Ok(())
}
