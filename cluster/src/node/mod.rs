//! A cluster node's life: identity, ring tokens, the cluster port, joining
//! through seeds, and the gossip loop.
//!
//! Start-up ([`start`]):
//! 1. The node id and ring tokens are read from the local engine's meta
//!    namespace (`cluster/node-id`, `cluster/tokens`, see
//!    `docs/formats/record.md`); a first start draws a random id.
//! 2. The cluster port starts answering (gossip, replica requests), if the
//!    node listens from the start ([`crate::port`]); a cluster of one keeps
//!    it closed until `CLUSTER JOIN`.
//! 3. A node without tokens learns the ring from its seeds (retrying for up
//!    to [`JOIN_WAIT`], [`crate::seeds`]), chooses tokens by stealing from the richest
//!    members ([`crate::ring::allocate_tokens`]), persists them and
//!    announces itself `normal`. With no seeds it starts a cluster of one.
//! 4. The gossip loop runs every `gossip-interval-ms` until shutdown.
//!
//! Between 1 and 2 the node chooses the actor it stamps versions with
//! ([`crate::actor`]); a fresh one (no clean stop recorded) starts
//! [`crate::rebuild`] as well.

mod hint_replay;
mod port;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::RwLock;
use ringkv_conf::Config;
use tokio::sync::watch;

use crate::antientropy::{AntiEntropyStats, RepairSummary, intersect};
use crate::coordinator::{ClusterStats, Coordinator, Settings};
use crate::error::{Error, Refusal, Result, SyncFailure};
use crate::hints::Hints;
use crate::keyspace::Keyspace;
use crate::membership::{MemberState, Membership, Status};
use crate::port::{ClusterPort, JOINED_KEY};
use crate::ring::{NodeId, Ring, allocate_tokens};
use crate::rpc::{Request, Response, RpcClient};
use crate::seeds::learn_ring;

const NODE_ID_KEY: &[u8] = b"cluster/node-id";
const TOKENS_KEY: &[u8] = b"cluster/tokens";
/// Present while the node has tokens but has not yet streamed their data
/// (a join, or a replacement of a wiped node, in progress).
const BOOTSTRAPPING_KEY: &[u8] = b"cluster/bootstrapping";

fn nonzero_or(announced: u16, actual: u16) -> u16 {
    if announced != 0 { announced } else { actual }
}

/// The address other nodes reach this one at, for port `port`.
fn announce(config: &Config, port: u16) -> String {
    let host = if !config.cluster_announce_ip.is_empty() {
        config.cluster_announce_ip.clone()
    } else {
        match config.bind.first().map(String::as_str) {
            None | Some("0.0.0.0") | Some("*") => "127.0.0.1".to_string(),
            Some("::") => "::1".to_string(),
            Some(h) => h.to_string(),
        }
    };
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn encode_tokens(tokens: &[u64]) -> Bytes {
    let mut b = BytesMut::with_capacity(tokens.len() * 8);
    for t in tokens {
        b.put_u64(*t);
    }
    b.freeze()
}

fn decode_tokens(b: &[u8]) -> Result<Vec<u64>> {
    if b.len() % 8 != 0 {
        return Err(Error::CorruptNodeState {
            what: format!("tokens: {} bytes is not a multiple of 8", b.len()),
        });
    }
    Ok(b.chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// Starts this node's cluster side on `keyspace`: cluster port, join,
/// gossip. Returns the coordinator the command layer uses.
pub async fn start(
    keyspace: Keyspace,
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<Coordinator>> {
    keyspace.set_gc_grace_ms(config.gc_grace_seconds.saturating_mul(1000));
    // 0 only where the default passes 65535; such a node cannot listen.
    let cluster_port = config.effective_cluster_port().unwrap_or(0);
    let my_cluster_addr = announce(
        config,
        nonzero_or(config.cluster_announce_bus_port, cluster_port),
    );
    let seeds: Vec<String> = config
        .seeds
        .iter()
        .filter(|s| **s != my_cluster_addr)
        .cloned()
        .collect();
    // Whether this start takes over a member's identity with an empty
    // directory (a replaced disk): its old self's writes are out there.
    let mut replacing = false;
    let stored_id = keyspace.meta_get(NODE_ID_KEY)?;
    let known_member = stored_id.is_some();
    let id = match stored_id {
        Some(b) => {
            u64::from_be_bytes(b.as_ref().try_into().map_err(|_| Error::CorruptNodeState {
                what: "node id is not 8 bytes".into(),
            })?)
        }
        None => {
            // An empty data directory. If the cluster knows a member at this
            // very address, this is that node back with its disk replaced:
            // take over its identity and tokens and stream its data back.
            let replaced = find_replaced(config, &seeds, &my_cluster_addr).await;
            if let Some(old) = replaced.as_ref().filter(|s| s.status == Status::Leaving) {
                // Taking its id would drop the handoff it announced.
                return Err(Error::Refused(Refusal::ReplacedMemberWasLeaving(old.id)));
            }
            let id = match &replaced {
                Some(old) => {
                    tracing::warn!(
                        node = format!("{:016x}", old.id),
                        "empty data directory at a known member's address: replacing it and streaming its data back"
                    );
                    keyspace
                        .meta_put(TOKENS_KEY, encode_tokens(&old.tokens))
                        .await?;
                    keyspace
                        .meta_put(BOOTSTRAPPING_KEY, Bytes::from_static(b"1"))
                        .await?;
                    replacing = true;
                    old.id
                }
                None => rand::random::<u64>().max(1),
            };
            keyspace
                .meta_put(NODE_ID_KEY, Bytes::copy_from_slice(&id.to_be_bytes()))
                .await?;
            id
        }
    };
    let epoch = crate::actor::begin(&keyspace).await?;
    if epoch.fresh && epoch.had_actor {
        tracing::warn!(
            actor = format!("{:016x}", epoch.actor),
            "no clean stop recorded: stamping versions as a fresh actor, and rebuilding from the other replicas before applying writes"
        );
    } else if epoch.fresh {
        tracing::info!(
            actor = format!("{:016x}", epoch.actor),
            "new data directory: stamping versions as a new actor"
        );
    }
    // A member that may have lost what it acknowledged (restarted after an
    // unclean stop, or taking over a lost member's identity) rebuilds first
    // (crate::rebuild). A new member (a first start, or a comeback under a
    // new id after a leave) has acknowledged nothing under its id yet and
    // serves once its ranges are streamed in.
    let must_rebuild = epoch.fresh && (known_member || replacing);
    let stored_tokens = match keyspace.meta_get(TOKENS_KEY)? {
        Some(b) => decode_tokens(&b)?,
        None => Vec::new(),
    };
    let bootstrapping = keyspace.meta_get(BOOTSTRAPPING_KEY)?.is_some();
    let stats = Arc::new(ClusterStats::default());
    let joined = keyspace.meta_get(JOINED_KEY)?.is_some();
    let port = ClusterPort::new(config, id, Arc::clone(&stats), shutdown.clone(), joined).await?;
    let interval = Duration::from_millis(config.gossip_interval_ms);
    let me = MemberState {
        id,
        cluster_addr: my_cluster_addr.clone(),
        client_addr: announce(
            config,
            nonzero_or(config.cluster_announce_port, config.port),
        ),
        generation: crate::membership::bounds::unix_ms(),
        version: 0,
        status: if stored_tokens.is_empty() || bootstrapping {
            Status::Joining
        } else {
            Status::Normal
        },
        tokens: stored_tokens.clone(),
        handoff: Vec::new(),
    };
    let members = Arc::new(Membership::new(me, interval, config.phi_threshold));
    // The members this node last knew (a restart of the same identity), so
    // it does not take itself for a cluster of one until a peer gossips to
    // it, whether or not it has seeds (crate::member_table).
    let stored_members = if known_member {
        crate::member_table::load(&keyspace, id)
    } else {
        Vec::new()
    };
    let greet: Vec<String> = stored_members
        .iter()
        .filter(|s| s.status != Status::Left && s.cluster_addr != my_cluster_addr)
        .map(|s| s.cluster_addr.clone())
        .filter(|a| !seeds.contains(a))
        .collect();
    if !stored_members.is_empty() {
        members.merge(stored_members);
    }
    let rpc = Arc::new(RpcClient::new(
        id,
        config.cluster_secret.clone(),
        config.bind_source_ip(),
    ));
    let coordinator = Arc::new(Coordinator {
        me: id,
        actor: epoch.actor,
        rebuilding: std::sync::atomic::AtomicBool::new(must_rebuild),
        keyspace: keyspace.clone(),
        members: Arc::clone(&members),
        rpc: Arc::clone(&rpc),
        settings: RwLock::new(Settings {
            replicas: config.replicas,
            replica_timeout: Duration::from_millis(config.replica_timeout_ms),
            read_repair: config.read_repair,
            speculative_read: Duration::from_millis(config.speculative_read_ms),
            anti_entropy_interval: Duration::from_millis(config.anti_entropy_interval_ms),
        }),
        stats,
        port,
        hints: Hints::open(
            keyspace.clone(),
            config.hint_max_age_ms,
            config.hint_replay_rate,
        )?,
        anti_entropy: AntiEntropyStats::default(),
        message_sink: parking_lot::RwLock::new(None),
        change_observer: std::sync::OnceLock::new(),
        interest: parking_lot::Mutex::new(std::collections::HashMap::new()),
        interest_until_ms: std::sync::atomic::AtomicU64::new(0),
        behind: Default::default(),
        batches: Default::default(),
        fallbacks: Default::default(),
    });
    tokio::spawn(pause_watch(Arc::clone(&coordinator), shutdown.clone()));
    if coordinator.port.listens_at_start() {
        port::listen(&coordinator).await?;
    }
    if stored_tokens.is_empty() {
        let ring = if seeds.is_empty() {
            Ring::default()
        } else {
            learn_ring(&coordinator, &seeds).await?
        };
        let tokens = allocate_tokens(&ring, id, config.vnodes, id);
        if !seeds.is_empty() {
            keyspace
                .meta_put(BOOTSTRAPPING_KEY, Bytes::from_static(b"1"))
                .await?;
        }
        keyspace
            .meta_put(TOKENS_KEY, encode_tokens(&tokens))
            .await?;
        let alone = seeds.is_empty();
        members.update_me(|s| {
            s.tokens = tokens;
            if alone {
                s.status = Status::Normal;
            }
        });
        tracing::info!(
            node = format!("{id:016x}"),
            members = ring.nodes().len() + 1,
            "took tokens on the ring"
        );
    } else {
        check_seeds_at_restart(config, &members, &seeds, (id, &my_cluster_addr)).await?;
        // A restart: say hello so peers learn the new generation at once.
        for addr in seeds.iter().chain(&greet) {
            gossip_with(&coordinator, addr).await;
        }
    }
    if members.departed_earlier() {
        return Err(Error::Refused(Refusal::IdHasLeft));
    }
    if members
        .my_state()
        .is_some_and(|s| s.status == Status::Joining)
    {
        // Tell every member our tokens before anyone else can join and
        // choose against a ring without them.
        announce_to_all(&coordinator).await;
        let c = Arc::clone(&coordinator);
        tokio::spawn(async move {
            if let Err(e) = bootstrap(&c).await {
                tracing::error!(error = %e, "streaming this node's ranges failed; it stays joining, restart to retry");
            }
        });
    }
    if must_rebuild {
        tokio::spawn(crate::rebuild::rebuild_loop(
            Arc::clone(&coordinator),
            shutdown.clone(),
        ));
    }
    tokio::spawn(hint_replay::replay_loop(
        Arc::clone(&coordinator),
        shutdown.clone(),
    ));
    tokio::spawn(anti_entropy_loop(
        Arc::clone(&coordinator),
        shutdown.clone(),
    ));
    tokio::spawn(gossip_loop(
        Arc::clone(&coordinator),
        seeds,
        interval,
        shutdown,
    ));
    Ok(coordinator)
}

/// One push-pull gossip exchange with the node at `addr`; whether it
/// answered.
async fn gossip_with(coordinator: &Arc<Coordinator>, addr: &str) -> bool {
    crate::seeds::exchange(coordinator, addr).await.is_ok()
}

/// Tells the membership every gossip interval that this node is running,
/// so a pause of the whole process is not mistaken for silent peers. Does
/// nothing else, so slow gossip calls cannot delay it.
async fn pause_watch(coordinator: Arc<Coordinator>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(coordinator.members.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Some(paused) = coordinator.members.awake(std::time::Instant::now()) {
            coordinator.stats.local_pauses.inc();
            tracing::warn!(
                paused_ms = paused.as_millis() as u64,
                "this node was paused; peers' silence meanwhile is not counted against them"
            );
        }
    }
}

async fn gossip_loop(
    coordinator: Arc<Coordinator>,
    seeds: Vec<String>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stored = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        coordinator.members.heartbeat();
        coordinator.stats.gossip_rounds.inc();
        coordinator
            .keyspace
            .set_alone(coordinator.members.is_alone());
        let states = coordinator.members.states();
        let signature = crate::member_table::signature(&states);
        if signature != stored {
            match crate::member_table::save(&coordinator.keyspace, &states).await {
                Ok(()) => stored = signature,
                Err(e) => tracing::debug!(error = %e, "could not store the member table"),
            }
        }
        let (up, down) = coordinator.members.peers();
        let left = coordinator.members.has_left(coordinator.me);
        if !up.is_empty() && !left {
            // A failure is the engine's, reported where it happens.
            if let Err(e) = port::mark_joined(&coordinator).await {
                tracing::debug!(error = %e, "could not record cluster membership");
            }
        }
        let mut targets = Vec::new();
        if let Some(&id) = pick(&up) {
            targets.push(id);
        }
        // Probe a down member now and then, so a returning node is noticed
        // even if it does not gossip to us first.
        if !down.is_empty() && rand::random_range(0..=up.len()) == 0 {
            if let Some(&id) = pick(&down) {
                targets.push(id);
            }
        }
        let mut addrs: Vec<String> = targets
            .into_iter()
            .filter_map(|id| coordinator.members.cluster_addr(id))
            .collect();
        if up.is_empty() {
            addrs.extend(seeds.iter().cloned());
        }
        for addr in addrs {
            let c = Arc::clone(&coordinator);
            tokio::spawn(async move {
                gossip_with(&c, &addr).await;
            });
        }
    }
}

fn pick<T>(items: &[T]) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(rand::random_range(0..items.len()))
    }
}

/// Asks the seeds for the member table and returns the member announcing
/// `addr`, if any: a node coming back at its old address with an empty
/// data directory replaces it.
async fn find_replaced(config: &Config, seeds: &[String], addr: &str) -> Option<MemberState> {
    let rpc = RpcClient::new(0, config.cluster_secret.clone(), config.bind_source_ip());
    for seed in seeds {
        let reply = rpc
            .call(seed, &Request::Gossip(Vec::new()), Duration::from_secs(2))
            .await;
        if let Ok(Response::Gossip(states)) = reply {
            return states.into_iter().find(|s| {
                s.cluster_addr == addr && s.status != Status::Left && !s.tokens.is_empty()
            });
        }
    }
    None
}

/// Refuses the restart of a member whose seeds answer for another cluster:
/// a seed whose member table holds neither this node nor any member this
/// node knew. A gossip exchange with it would merge the two rings, each
/// with its own tokens and data, into one without streaming anything
/// (keys would read as missing). The seeds are asked read-only (an empty
/// gossip, as [`find_replaced`] does); one that does not answer is not
/// judged. When every seed refuses the handshake (a wrong
/// `cluster-secret`) or is not a cluster port, the start fails as a new
/// node's does, rather than serving NOQUORUM to every command.
///
/// It also refuses when its id is served live at another address: a copy
/// of its data directory started beside it (two processes stamping writes
/// with one identity lose some of them). A seed placing this id elsewhere
/// is followed to that address, and if the node answering there lists
/// this id at its own address, that is the twin.
async fn check_seeds_at_restart(
    config: &Config,
    members: &Membership,
    seeds: &[String],
    (me, my_addr): (NodeId, &str),
) -> Result<()> {
    let known: std::collections::HashSet<NodeId> = members.states().iter().map(|s| s.id).collect();
    let rpc = RpcClient::new(0, config.cluster_secret.clone(), config.bind_source_ip());
    let ask = |addr: String| {
        let rpc = &rpc;
        async move {
            rpc.call(&addr, &Request::Gossip(Vec::new()), Duration::from_secs(2))
                .await
        }
    };
    let mut refused = Vec::new();
    let mut elsewhere = std::collections::BTreeSet::new();
    for seed in seeds {
        let answer = ask(seed.clone()).await;
        let answered = matches!(answer, Ok(Response::Gossip(_)));
        match answer {
            Ok(Response::Gossip(states))
                if !states.is_empty() && !states.iter().any(|s| known.contains(&s.id)) =>
            {
                return Err(Error::Refused(Refusal::SeedOfAnotherCluster(seed.clone())));
            }
            Ok(Response::Gossip(states)) => elsewhere.extend(
                states
                    .into_iter()
                    .filter(|s| s.id == me && s.cluster_addr != my_addr)
                    .map(|s| s.cluster_addr),
            ),
            Err(error) if error.is_definitive() => refused.push(crate::error::SeedFailure {
                addr: seed.clone(),
                error,
            }),
            _ => {}
        }
        // Its cluster keeps as many replicas per key as this node would.
        if answered {
            let timeout = Duration::from_secs(2);
            if let Ok(Err(refusal)) =
                crate::seeds::check_settings(&rpc, seed, config.replicas, timeout).await
            {
                return Err(Error::Refused(refusal));
            }
        }
    }
    if !seeds.is_empty() && refused.len() == seeds.len() {
        return Err(Error::Seeds(crate::error::SeedFailures {
            failures: refused,
            waited: None,
        }));
    }
    for addr in elsewhere {
        if let Ok(Response::Gossip(states)) = ask(addr.clone()).await {
            let mut there = states
                .iter()
                .filter(|s| s.cluster_addr == addr && s.status != Status::Left);
            if there.clone().next().is_some() && there.all(|s| s.id == me) {
                return Err(Error::Refused(Refusal::TwinRunning { id: me, addr }));
            }
        }
    }
    Ok(())
}

/// Tells every known member this node's state now, instead of waiting for
/// gossip to spread it: used when this node starts or stops taking writes
/// for ranges.
async fn announce_to_all(coordinator: &Arc<Coordinator>) {
    let me = coordinator.me;
    let addrs: Vec<String> = coordinator
        .members
        .states()
        .into_iter()
        .filter(|s| s.id != me && s.status != Status::Left)
        .map(|s| s.cluster_addr)
        .collect();
    for addr in addrs {
        gossip_with(coordinator, &addr).await;
    }
}

/// Streams in the data of the ranges this joining node takes over, from
/// their current owners, then starts serving (status normal). Writes to
/// those ranges already reach this node, since it is on the next ring.
async fn bootstrap(coordinator: &Arc<Coordinator>) -> Result<RepairSummary> {
    announce_to_all(coordinator).await;
    // One gossip interval for writes planned before peers heard of us.
    tokio::time::sleep(coordinator.members.interval()).await;
    let next = coordinator.members.next_ring();
    let serving = coordinator.members.ring();
    let n = coordinator
        .settings
        .read()
        .replicas
        .min(next.nodes().len())
        .max(1);
    let mine = next.replica_ranges(coordinator.me, n);
    let peers: Vec<u64> = serving
        .nodes()
        .iter()
        .copied()
        .filter(|&p| p != coordinator.me && coordinator.members.is_up(p))
        .collect();
    let started = std::time::Instant::now();
    let summary = coordinator.sync_peers(&mine, &serving, &peers).await?;
    coordinator
        .keyspace
        .meta_delete(&[Bytes::from_static(BOOTSTRAPPING_KEY)])
        .await?;
    coordinator.members.update_me(|s| s.status = Status::Normal);
    announce_to_all(coordinator).await;
    tracing::info!(
        keys = summary.keys_pulled,
        peers = summary.peers,
        ms = started.elapsed().as_millis() as u64,
        "streamed this node's ranges; now serving"
    );
    Ok(summary)
}

/// Whether any database of this node holds a live key.
async fn holds_keys(keyspace: &Keyspace) -> Result<bool> {
    for db in 0..keyspace.databases() {
        let found = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&found);
        keyspace
            .for_each_key(db, move |_, _| {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
                false
            })
            .await?;
        if found.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `CLUSTER JOIN host:port`: a node that is a cluster of one joins the
/// cluster a member of which listens on `seed`, takes tokens, streams its
/// ranges and serves.
pub async fn join(coordinator: &Arc<Coordinator>, seed: &str) -> Result<RepairSummary> {
    let me = coordinator.me;
    if coordinator
        .members
        .my_state()
        .is_some_and(|s| s.status == Status::Left)
    {
        return Err(Error::Refused(Refusal::JoinAfterLeaving));
    }
    if coordinator
        .members
        .states()
        .iter()
        .any(|s| s.id != me && s.status != Status::Left)
    {
        return Err(Error::Refused(Refusal::AlreadyMember));
    }
    if coordinator
        .members
        .my_state()
        .is_some_and(|s| s.cluster_addr == seed)
    {
        return Err(Error::Refused(Refusal::JoinSelf));
    }
    // Its own keys are not carried over: some would be merged into the
    // ranges it takes and the rest left behind, listed by KEYS and DBSIZE
    // but found by no read. So it must hold none.
    if holds_keys(&coordinator.keyspace).await? {
        return Err(Error::Refused(Refusal::JoinWithKeys));
    }
    // Peers must reach us once they hear of us; refused (no secret on a
    // non-loopback bind address) before anything changes.
    port::listen(coordinator).await?;
    // Peers hear of this node from here on (even if the join then fails):
    // later starts listen for them too.
    port::mark_joined(coordinator).await?;
    // Off the ring before anyone hears of us, so no peer sees our old tokens.
    coordinator.members.update_me(|s| {
        s.status = Status::Joining;
        s.tokens = Vec::new();
        s.handoff = Vec::new();
    });
    let ring = match learn_ring(coordinator, &[seed.to_string()]).await {
        Ok(r) => r,
        Err(e) => {
            restore_alone(coordinator).await?;
            return Err(e);
        }
    };
    let vnodes = coordinator
        .keyspace
        .meta_get(TOKENS_KEY)?
        .map_or(crate::ring::DEFAULT_VNODES, |b| (b.len() / 8).max(1));
    let tokens = allocate_tokens(&ring, me, vnodes, me);
    coordinator
        .keyspace
        .meta_put(BOOTSTRAPPING_KEY, Bytes::from_static(b"1"))
        .await?;
    coordinator
        .keyspace
        .meta_put(TOKENS_KEY, encode_tokens(&tokens))
        .await?;
    coordinator.members.update_me(|s| s.tokens = tokens);
    bootstrap(coordinator).await
}

async fn restore_alone(coordinator: &Arc<Coordinator>) -> Result<()> {
    let tokens = match coordinator.keyspace.meta_get(TOKENS_KEY)? {
        Some(b) => decode_tokens(&b)?,
        None => Vec::new(),
    };
    coordinator.members.update_me(|s| {
        s.tokens = tokens;
        s.status = Status::Normal;
    });
    Ok(())
}

/// `CLUSTER LEAVE`: hands this node's ranges to the nodes that take them
/// over, then leaves the ring. Each vnode goes to an adopter chosen so
/// that ownership stays even ([`Membership::handoff_plan`]), announced
/// with the `leaving` state. Writes reach both old and new owners while
/// the data moves. If the hand-over fails the node serves on as before
/// (it received every write meanwhile) and the command can be sent again.
/// Once left, the node keeps running off the ring until stopped; it forgets
/// its stored id and tokens, so a restart joins afresh as a new member (the
/// old id's `left` state keeps the handoff).
pub async fn leave(coordinator: &Arc<Coordinator>) -> Result<RepairSummary> {
    let me = coordinator.me;
    let members = &coordinator.members;
    if members.has_left(me) {
        return Err(Error::Refused(Refusal::AlreadyLeft));
    }
    other_movement(members, me)?;
    let serving = members.ring();
    if !serving.nodes().contains(&me) {
        return Err(Error::Refused(Refusal::NotOnRing));
    }
    if serving.nodes().len() <= 1 {
        return Err(Error::Refused(Refusal::OnlyMember));
    }
    if !members.start_leaving(members.handoff_plan(me)) {
        return Err(Error::Refused(Refusal::NotNormal));
    }
    let summary = match hand_over(coordinator).await {
        Ok(summary) => summary,
        Err(e) => {
            members.update_me(|s| {
                if s.status == Status::Leaving {
                    s.status = Status::Normal;
                    s.handoff = Vec::new();
                }
            });
            announce_to_all(coordinator).await;
            return Err(e);
        }
    };
    // Announced before the id is forgotten: killed in between, the node
    // finds its id left when it restarts and refuses to start, rather than
    // coming back under that id.
    members.update_me(|s| s.status = Status::Left);
    announce_to_all(coordinator).await;
    coordinator
        .keyspace
        .meta_delete(&[
            Bytes::from_static(TOKENS_KEY),
            Bytes::from_static(NODE_ID_KEY),
            Bytes::from_static(JOINED_KEY),
        ])
        .await?;
    tracing::info!(
        keys = summary.keys_pushed,
        "handed this node's ranges over; left the ring"
    );
    Ok(summary)
}

/// Refuses a range movement while another member is joining or leaving:
/// each plan is made against the ring the other is still changing (as
/// Cassandra allows one movement at a time).
fn other_movement(members: &Membership, me: NodeId) -> Result<()> {
    match members
        .states()
        .into_iter()
        .find(|s| s.id != me && matches!(s.status, Status::Joining | Status::Leaving))
    {
        Some(other) => Err(Error::Refused(Refusal::OtherMovement {
            node: other.id,
            status: other.status.as_str(),
        })),
        None => Ok(()),
    }
}

/// The streaming half of [`leave`], once this node announced `leaving`:
/// every key of its ranges reaches each of its replicas on the next ring.
/// Fails, leaving nothing moved for good, if another movement started
/// meanwhile or a new replica is down or cannot be streamed to.
async fn hand_over(coordinator: &Arc<Coordinator>) -> Result<RepairSummary> {
    let me = coordinator.me;
    let members = &coordinator.members;
    announce_to_all(coordinator).await;
    // One gossip interval for writes planned before peers heard of it.
    tokio::time::sleep(members.interval()).await;
    other_movement(members, me)?;
    let serving = members.ring();
    let next = members.next_ring();
    let replicas = coordinator.settings.read().replicas.max(1);
    let mine = serving.replica_ranges(me, replicas.min(serving.nodes().len()));
    // The nodes that will hold some of these ranges.
    let next_n = replicas.min(next.nodes().len());
    let peers: Vec<u64> = next
        .nodes()
        .iter()
        .copied()
        .filter(|&p| p != me && !intersect(&mine, &next.replica_ranges(p, next_n)).is_empty())
        .collect();
    if let Some(down) = peers.iter().find(|&&p| !members.is_up(p)) {
        return Err(Error::Refused(Refusal::SuccessorDown(*down)));
    }
    let (summary, failed) = coordinator.sync_each_peer(&mine, &next, &peers).await;
    if let Some((node, cause)) = failed.into_iter().next() {
        return Err(Error::Sync(SyncFailure::HandOff {
            node,
            cause: Box::new(cause),
        }));
    }
    Ok(summary)
}

/// How soon a failed round owed to a removal is tried again.
const REMOVAL_RETRY: Duration = Duration::from_secs(5);

/// `CLUSTER REMOVE id`: takes a member that is gone for good (down, never
/// coming back: its machine or disk is lost) off the ring on its behalf,
/// as Cassandra's removenode or Riak's force-remove. Its vnodes go to
/// adopters chosen as for a leave ([`Membership::remove`]), which pull the
/// data from the remaining replicas with an anti-entropy round: this node
/// at once (the reply reports it), every other member when gossip brings
/// it the removal.
pub async fn remove(coordinator: &Arc<Coordinator>, id: NodeId) -> Result<RepairSummary> {
    let members = &coordinator.members;
    if id == coordinator.me {
        return Err(Error::Refused(Refusal::RemoveSelf));
    }
    let Some(state) = members.states().into_iter().find(|s| s.id == id) else {
        return Err(Error::Refused(Refusal::UnknownNode(id)));
    };
    if members.is_up(id) {
        return Err(Error::Refused(Refusal::NodeUp(id)));
    }
    if !members.remove(id) {
        if members.has_left(id) {
            return Err(Error::Refused(Refusal::NodeLeft(id)));
        }
        return Err(Error::Refused(Refusal::VersionTooHigh(id)));
    }
    members.take_unsynced_removals();
    tracing::warn!(
        node = format!("{id:016x}"),
        addr = %state.cluster_addr,
        "removed a member that is gone; its vnodes move to adopters"
    );
    announce_to_all(coordinator).await;
    // Let the peers hear of it before comparing trees on the new ring.
    tokio::time::sleep(members.interval()).await;
    coordinator.anti_entropy_round().await
}

/// Runs an anti-entropy round every `anti-entropy-interval-ms` (0: never),
/// and at once after a member was removed (its ranges have new replicas,
/// whatever the interval).
async fn anti_entropy_loop(coordinator: Arc<Coordinator>, mut shutdown: watch::Receiver<bool>) {
    let mut last = tokio::time::Instant::now();
    // A removal's round is owed until one succeeds.
    let mut owed = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        let every = coordinator.settings.read().anti_entropy_interval;
        let fresh = coordinator.members.take_unsynced_removals();
        owed |= fresh;
        let due = !every.is_zero() && last.elapsed() >= every;
        if !(fresh || due || (owed && last.elapsed() >= REMOVAL_RETRY)) {
            continue;
        }
        last = tokio::time::Instant::now();
        if coordinator
            .members
            .my_state()
            .is_some_and(|s| s.status != Status::Normal)
        {
            continue;
        }
        let round = coordinator.anti_entropy_round().await;
        owed &= round.is_err();
        match round {
            Ok(s) if s.keys_pulled + s.keys_pushed > 0 => tracing::info!(
                pulled = s.keys_pulled,
                pushed = s.keys_pushed,
                ranges = s.ranges_differing,
                "anti-entropy repaired keys"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "anti-entropy round failed"),
        }
    }
}
