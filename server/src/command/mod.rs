//! Command dispatch: from a decoded request to a reply.
//!
//! [`execute`] resolves the command (and subcommand) in the table, checks
//! arity once, applies the connection gates in order — protected commands
//! (`enable-debug-command`), authentication, MULTI queueing — and runs the
//! handler while holding the transaction gate shared. A DEBUG SLEEP is
//! slept after the gate is released (see [`server::owed_sleep`]). Latency,
//! calls, failures and rejections are recorded here, the one place every
//! command passes.
//!
//! Handlers get a [`Ctx`]: the server, the client, and the (sub)command
//! being run. They read through [`Ctx::read`]/[`Ctx::peek`] and write only
//! through [`Ctx::apply`], which also marks watched keys dirty and records
//! the durability the connection awaits before replying.

pub mod args;
pub mod bitfield;
pub mod bits;
pub mod blocking_pops;
pub mod cluster;
pub mod collections;
pub mod connection;
pub mod debug_protocol;
pub mod digest;
pub mod docs;
pub mod expire;
pub mod getkeys;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lcs;
pub mod lists;
pub mod pubsub;
pub mod server;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod table;
pub mod txn;
pub mod zset_algebra;
pub mod zset_range;
pub mod zsets;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ringkv_cluster::{
    CollectionOp, Consistency, Coordinator, Entry, Keyspace, Mutation, Need, PartialRead,
    ValueType, Write,
};
use ringkv_resp::Reply;

use crate::client::Client;
use crate::reply_error::{CmdResult, ReplyError, text};
use crate::shared::Server;
use table::{CommandSpec, Handler, flag};

/// What a handler works with.
pub struct Ctx<'a> {
    /// Shared server state.
    pub server: &'a Arc<Server>,
    /// The calling client.
    pub client: &'a mut Client,
    /// The command being run (the subcommand, for containers).
    pub spec: &'static CommandSpec,
    /// The container, when `spec` is a subcommand.
    pub parent: Option<&'static CommandSpec>,
}

impl Ctx<'_> {
    /// The keyspace.
    pub fn ks(&self) -> &Keyspace {
        &self.server.keyspace
    }

    /// The selected database.
    pub fn db(&self) -> u32 {
        self.client.db
    }

    /// A write changed `key` in `db`: wakes a client blocked on it, whose
    /// look this client's reply then waits for.
    pub fn wake(&mut self, db: u32, key: &[u8]) {
        self.client.woken.extend(self.server.blocking.wake(db, key));
    }

    /// The full name of the running command, as error texts print it.
    pub fn fullname(&self) -> String {
        table::fullname(self.parent, self.spec)
    }

    /// The consistency level of this command's reads: a `CL` prefix, else
    /// the connection's `CONSISTENCY`, else `read-consistency`.
    pub fn read_level(&self) -> Consistency {
        self.client.read_level_in(&self.server.levels)
    }

    /// The consistency level of this command's writes (as [`Ctx::read_level`]).
    pub fn write_level(&self) -> Consistency {
        self.client.write_level_in(&self.server.levels)
    }

    /// The coordinator (quorum reads and writes across the cluster).
    pub fn cluster(&self) -> &Arc<Coordinator> {
        &self.server.cluster
    }

    /// Reads the string at `key` in the selected database, counting a
    /// keyspace hit or miss; another type is `-WRONGTYPE`.
    pub async fn read(&mut self, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        string_only(self.read_shallow(key).await?)
    }

    /// Reads `key` in the selected database as a string command needs it
    /// ([`Coordinator::get_shallow`]: a collection may come without its
    /// members), counting a keyspace hit or miss.
    pub async fn read_shallow(&mut self, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        self.lookup(key, true).await
    }

    /// [`Ctx::read_any`] (`shallow` false) or [`Ctx::read_shallow`]: a
    /// GET of a pipeline batch finds its answer prefetched.
    async fn lookup(&mut self, key: &[u8], shallow: bool) -> Result<Option<Entry>, ReplyError> {
        let found = match self.client.prefetched.take() {
            Some((k, found)) if k == key => found?,
            _ => {
                let (cluster, db, level) =
                    (&self.server.cluster, self.client.db, self.read_level());
                if shallow {
                    cluster.get_shallow(db, key, level).await?
                } else {
                    cluster.get(db, key, level).await?
                }
            }
        };
        self.count_lookup(found.is_some());
        Ok(found)
    }

    /// Reads `key` (any type) in the selected database, counting a keyspace
    /// hit or miss.
    pub async fn read_any(&mut self, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        self.lookup(key, false).await
    }

    /// Counts a read's keyspace hit or miss (INFO's `keyspace_hits`).
    pub fn count_lookup(&self, hit: bool) {
        let stats = &self.server.stats;
        if hit {
            stats.keyspace_hits.inc();
        } else {
            stats.keyspace_misses.inc();
        }
    }

    /// Reads `key` (any type) in database `db` without touching statistics
    /// (for writes and existence checks).
    pub async fn peek(&self, db: u32, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        Ok(self.server.cluster.get(db, key, self.read_level()).await?)
    }

    /// What `need` asks of `key` in database `db` (with its type, expiry
    /// and, for a collection, member count), without reading the rest of a
    /// large collection (`Need::Count`: only its header, for DEL, EXISTS,
    /// TYPE, TTL); no statistics.
    pub async fn peek_part(
        &self,
        db: u32,
        key: &[u8],
        need: Need<'_>,
    ) -> Result<Option<PartialRead>, ReplyError> {
        Ok(self
            .server
            .cluster
            .read_partial(db, key, need, self.read_level())
            .await?)
    }

    /// [`Ctx::peek_part`] in the selected database, counting a keyspace
    /// hit or miss as a read does.
    pub async fn read_part_any(
        &mut self,
        key: &[u8],
        need: Need<'_>,
    ) -> Result<Option<PartialRead>, ReplyError> {
        let found = self.peek_part(self.client.db, key, need).await?;
        self.count_lookup(found.is_some());
        Ok(found)
    }

    /// [`Ctx::peek`] for a caller that needs a string, or of another type
    /// only its kind and expiry: a large collection comes without its
    /// members ([`Coordinator::get_shallow`]). For existence checks, TTLs,
    /// and `-WRONGTYPE`.
    pub async fn peek_shallow(&self, db: u32, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        Ok(self
            .server
            .cluster
            .get_shallow(db, key, self.read_level())
            .await?)
    }

    /// [`Ctx::peek`] of a string: another type is `-WRONGTYPE`.
    pub async fn peek_string(&self, db: u32, key: &[u8]) -> Result<Option<Entry>, ReplyError> {
        string_only(self.peek_shallow(db, key).await?)
    }

    /// Applies writes atomically; the reply will wait for their durability.
    pub async fn apply(&mut self, writes: Vec<Write>) -> Result<(), ReplyError> {
        for w in &writes {
            let (Write::Put { db, key, .. } | Write::Delete { db, key }) = w;
            self.server.watches.touch(*db, key);
        }
        if let Some((key, done)) = self.client.prewritten.take() {
            // A plain SET whose write its pipeline made (crate::pipeline).
            if let [Write::Put { key: k, entry, .. }] = writes.as_slice() {
                if *k == key && entry.expire_at_ms == 0 {
                    self.client.await_ack(done?);
                    return Ok(());
                }
            }
        }
        // Each key is written on its own replicas: a multi-key write is
        // atomic per key in a cluster (on a cluster of one, EXEC's gate and
        // the command locks keep it isolated).
        let level = self.write_level();
        let split = |w: Write| match w {
            Write::Put { db, key, entry } => (db, key, put_mutation(entry)),
            Write::Delete { db, key } => (db, key, Mutation::Delete),
        };
        if writes.len() > 1 && !self.server.cluster.is_alone() {
            // Independent per key, so written at once (MSET's ten keys cost
            // one round trip, not ten); every key is attempted, and the
            // first failure is the reply.
            let cluster = &self.server.cluster;
            let done: Vec<(u32, Bytes, ringkv_cluster::Result<ringkv_cluster::Ack>)> =
                if let Some((db, items)) = plain_sets(&writes) {
                    // Plain strings (MSET, MSETNX): one request per replica
                    // for all of them, as a pipeline's SETs.
                    let keys: Vec<Bytes> = items.iter().map(|(k, _)| k.clone()).collect();
                    let written = cluster.set_many(db, items, level).await;
                    keys.into_iter()
                        .zip(written)
                        .map(|(key, w)| (db, key, w))
                        .collect()
                } else {
                    futures_util::future::join_all(writes.into_iter().map(split).map(
                        |(db, key, mutation)| async move {
                            let written = cluster.write(db, &key, mutation, level).await;
                            (db, key, written.map(|(_, ack)| ack))
                        },
                    ))
                    .await
                };
            let mut failed = None;
            for (db, key, written) in done {
                match written {
                    Ok(ack) => {
                        self.client.await_ack(ack);
                        self.wake(db, &key);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            return failed.map_or(Ok(()), |e| Err(e.into()));
        }
        for (db, key, mutation) in writes.into_iter().map(split) {
            let (_, ack) = self.server.cluster.write(db, &key, mutation, level).await?;
            self.client.await_ack(ack);
            self.wake(db, &key);
        }
        Ok(())
    }

    /// Stores `entry` under `key` in the selected database.
    pub async fn put(&mut self, key: &Bytes, entry: Entry) -> Result<(), ReplyError> {
        let db = self.client.db;
        self.apply(vec![Write::Put {
            db,
            key: key.clone(),
            entry,
        }])
        .await
    }

    /// Deletes `key` from the selected database.
    pub async fn delete(&mut self, key: &Bytes) -> Result<(), ReplyError> {
        let db = self.client.db;
        self.apply(vec![Write::Delete {
            db,
            key: key.clone(),
        }])
        .await
    }

    /// Current time in unix milliseconds (the keyspace's clock).
    pub fn now_ms(&self) -> u64 {
        self.server.keyspace.now_ms()
    }
}

/// The entry if it is a string (or absent); `-WRONGTYPE` otherwise.
fn string_only(entry: Option<Entry>) -> Result<Option<Entry>, ReplyError> {
    match entry {
        Some(e) if e.kind != ValueType::String => Err(ReplyError::WrongType),
        other => Ok(other),
    }
}

/// When every write of `writes` stores a string without expiry in one
/// database (MSET, MSETNX): that database and the keys with their values,
/// as `Coordinator::set_many` writes them.
fn plain_sets(writes: &[Write]) -> Option<(u32, Vec<(Bytes, Bytes)>)> {
    let (Write::Put { db, .. } | Write::Delete { db, .. }) = writes.first()?;
    let db = *db;
    let items = writes
        .iter()
        .map(|w| match w {
            Write::Put { db: d, key, entry }
                if *d == db
                    && entry.expire_at_ms == 0
                    && entry.kind == ValueType::String
                    && entry.members.is_none() =>
            {
                Some((key.clone(), entry.value.clone()))
            }
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((db, items))
}

/// The write that stores `entry` whole: a string as SET does, a hash or
/// set as a replacement of the collection (RENAME, COPY, MOVE).
fn put_mutation(entry: Entry) -> Mutation {
    match (entry.kind.kind(), entry.members) {
        (Some(kind), members) => Mutation::Collection(CollectionOp::Replace {
            kind,
            pairs: members.unwrap_or_default().map.into_iter().collect(),
            expire_at_ms: entry.expire_at_ms,
        }),
        (None, _) => Mutation::Set {
            value: entry.value,
            expire_at_ms: entry.expire_at_ms,
            context: None,
        },
    }
}

/// How a command resolved against the table.
pub(crate) enum Resolved {
    Run(Option<&'static CommandSpec>, &'static CommandSpec),
    Refused(
        Option<&'static CommandSpec>,
        &'static CommandSpec,
        ReplyError,
    ),
    Unknown(ReplyError),
}

pub(crate) fn resolve(args: &[Bytes]) -> Resolved {
    let name = args.first().map(|a| a.as_ref()).unwrap_or_default();
    let Some(spec) = table::lookup(name) else {
        return Resolved::Unknown(ReplyError::unknown_command(args));
    };
    if spec.subcommands.is_empty() {
        if !spec.arity_ok(args.len()) {
            return Resolved::Refused(None, spec, ReplyError::arity(spec.name));
        }
        return Resolved::Run(None, spec);
    }
    let Some(sub_name) = args.get(1) else {
        // COMMAND alone runs the container itself; other containers need a subcommand.
        if spec.handler != Handler::Container && spec.arity_ok(args.len()) {
            return Resolved::Run(None, spec);
        }
        return Resolved::Refused(None, spec, ReplyError::arity(spec.name));
    };
    let Some(sub) = spec.subcommand(sub_name) else {
        return Resolved::Unknown(ReplyError::unknown_subcommand(spec.name, sub_name));
    };
    if !sub.arity_ok(args.len()) {
        return Resolved::Refused(
            Some(spec),
            sub,
            ReplyError::arity(&table::fullname(Some(spec), sub)),
        );
    }
    Resolved::Run(Some(spec), sub)
}

/// Commands that act on the transaction itself and so run even inside MULTI.
fn controls_transaction(h: Handler) -> bool {
    matches!(
        h,
        Handler::Exec
            | Handler::Discard
            | Handler::Multi
            | Handler::Watch
            | Handler::Quit
            | Handler::Reset
    )
}

/// What a RESP2 connection in subscribed mode may run.
fn allowed_subscribed(h: Handler) -> bool {
    matches!(
        h,
        Handler::Subscribe
            | Handler::Unsubscribe
            | Handler::PSubscribe
            | Handler::PUnsubscribe
            | Handler::SSubscribe
            | Handler::SUnsubscribe
            | Handler::Ping
            | Handler::Quit
            | Handler::Reset
    )
}

/// Cluster administration that touches no key through a handler and may
/// run for minutes (streaming, Merkle rounds): it does not hold the
/// transaction gate, or an EXEC waiting for the gate would stop every
/// client until it ended.
fn outside_transactions(h: Handler) -> bool {
    matches!(
        h,
        Handler::ClusterJoin
            | Handler::ClusterLeave
            | Handler::ClusterRemove
            | Handler::ClusterRepair
    )
}

/// Whether `spec` reads or writes the keyspace (and so must not run in the
/// middle of a transaction's EXEC): a read or write command, or one that
/// names keys.
fn touches_data(spec: &CommandSpec) -> bool {
    spec.flags & (flag::WRITE | flag::READONLY | flag::MOVABLEKEYS) != 0 || spec.keys.first > 0
}

/// Runs one request and returns its reply.
pub async fn execute(server: &Arc<Server>, client: &mut Client, args: Vec<Bytes>) -> Reply {
    execute_from(server, client, args, None).await
}

/// [`execute`] for a request read from `peer`: a command CLIENT PAUSE
/// holds is dropped, not run, if the peer closes meanwhile (Redis frees
/// the client and its pending commands).
pub async fn execute_from(
    server: &Arc<Server>,
    client: &mut Client,
    args: Vec<Bytes>,
    peer: Option<&tokio::net::TcpStream>,
) -> Reply {
    let (parent, spec) = match resolve(&args) {
        Resolved::Run(p, s) => (p, s),
        Resolved::Unknown(e) => {
            client.flag_transaction_error();
            return error_reply(server, e);
        }
        Resolved::Refused(p, s, e) => {
            if let Some(stats) = server.metrics.command(p, s) {
                stats.reject();
            }
            client.flag_transaction_error();
            let e = txn::abort_if_exec(server, client, s, e);
            return error_reply(server, e);
        }
    };
    let refuse = |server: &Arc<Server>, e: ReplyError| {
        if let Some(stats) = server.metrics.command(parent, spec) {
            stats.reject();
        }
        error_reply(server, e)
    };
    // Before authentication, as in Redis 7's processCommand; inside MULTI
    // the refusal makes EXEC abort.
    if (spec.has(flag::PROTECTED) || parent.is_some_and(|p| p.has(flag::PROTECTED)))
        && !protected_allowed(server, client)
    {
        client.flag_transaction_error();
        return refuse(server, ReplyError::err(text::DEBUG_NOT_ALLOWED));
    }
    if !client.authenticated && !spec.has(flag::NO_AUTH) {
        client.flag_transaction_error();
        let e = txn::abort_if_exec(server, client, spec, ReplyError::NoAuth);
        return refuse(server, e);
    }
    if client.protocol == ringkv_resp::Protocol::Resp2
        && client.subscriptions.as_ref().is_some_and(|s| s.any())
        && !allowed_subscribed(spec.handler)
    {
        client.flag_transaction_error();
        let e = ReplyError::Err(
            format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                table::fullname(parent, spec)
            )
            .into(),
        );
        let e = txn::abort_if_exec(server, client, spec, e);
        return refuse(server, e);
    }
    // CLIENT PAUSE holds the command here, before any gate is taken and
    // before MULTI queues it, as Redis does.
    if let Err(e) = wait_for_pause(server, client, spec, &args, peer).await {
        return error_reply(server, e);
    }
    if client.multi.is_some() && !controls_transaction(spec.handler) {
        if spec.has(flag::NO_MULTI) {
            client.flag_transaction_error();
            return refuse(
                server,
                ReplyError::err("Command not allowed inside a transaction"),
            );
        }
        // Kept until EXEC: detached from the read buffer they arrived in.
        let args = args.iter().map(args::detached).collect();
        client.queue(parent, spec, args);
        return Reply::simple("QUEUED");
    }
    let reply = if spec.handler == Handler::SwapDb && !client.holds_exec_gate {
        // Two databases trade namespaces: no command may run meanwhile
        // and see the same one in both (in EXEC, EXEC holds it already).
        let _gate = server.exec_gate.write().await;
        client.exclusive_gate = true;
        let reply = run_recorded(server, client, parent, spec, &args).await;
        client.exclusive_gate = false;
        reply
    } else if spec.handler == Handler::Exec
        || outside_transactions(spec.handler)
        || !touches_data(spec)
        || client.holds_exec_gate
    {
        // EXEC takes the gate itself; a command that touches no data (PING,
        // INFO, CLIENT, CONFIG, ...) needs no isolation from a transaction,
        // so it answers even while a huge EXEC runs. A run of writes to one
        // key holds the gate already (`key_run`).
        run_recorded(server, client, parent, spec, &args).await
    } else {
        let _gate = server.exec_gate.read().await;
        run_recorded(server, client, parent, spec, &args).await
    };
    // No gate is held here: a DEBUG SLEEP (alone or queued in an EXEC that
    // held the gate exclusively) stalls this client only.
    server::owed_sleep(server, client).await;
    reply
}

/// A text reply (INFO, CLIENT INFO, LATENCY DOCTOR...): verbatim `txt` in
/// RESP3, a bulk string in RESP2, as Redis sends them.
pub(crate) fn text_reply(proto: ringkv_resp::Protocol, body: String) -> Reply {
    match proto {
        ringkv_resp::Protocol::Resp3 => Reply::Verbatim("txt", Bytes::from(body)),
        ringkv_resp::Protocol::Resp2 => Reply::Bulk(Bytes::from(body)),
    }
}

/// Holds a command that is about to run while CLIENT PAUSE holds it (EXEC
/// counts as a write if anything it queued writes). A command held when
/// the server begins to shut down is not run: shutdown does not wait for
/// the pause to end, and a client killed while held leaves at once.
async fn wait_for_pause(
    server: &Server,
    client: &Client,
    spec: &CommandSpec,
    args: &[Bytes],
    peer: Option<&tokio::net::TcpStream>,
) -> Result<(), ReplyError> {
    if !server.client_pause.active() {
        return Ok(());
    }
    let writes = match spec.handler {
        Handler::Exec => client.multi.as_ref().is_some_and(|m| m.pauses_as_write()),
        Handler::Cl => txn::cl_pauses_as_write(args),
        _ => crate::client_pause::pauses_as_write(spec),
    };
    let mut shutdown = server.shutdown.subscribe();
    let kill = &client.handle.kill_signal;
    tokio::select! {
        () = server.client_pause.wait(writes) => Ok(()),
        _ = shutdown.wait_for(|s| *s) => Err(ReplyError::err(SHUTTING_DOWN)),
        () = kill.notified() => {
            // CLIENT KILL: passed on to the connection, which closes.
            kill.notify_one();
            Err(ReplyError::err(KILLED))
        }
        () = peer_closed(peer) => Err(ReplyError::err(PEER_CLOSED)),
    }
}

/// Resolves when `peer` has closed its side (never without a peer). Input
/// the client sent after the held command stays unread for the
/// connection: while some is pending, the readiness (which tokio updates
/// on every event, closure included) is looked at again every 50 ms.
async fn peer_closed(peer: Option<&tokio::net::TcpStream>) {
    let Some(peer) = peer else {
        return std::future::pending().await;
    };
    loop {
        match peer.ready(tokio::io::Interest::READABLE).await {
            Ok(ready) if !ready.is_read_closed() => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            _ => return,
        }
    }
}

/// The reply to a command held by CLIENT PAUSE whose client closed (it
/// is never sent: the connection ends).
const PEER_CLOSED: &str = "the client closed the connection; the command was not run";

/// The reply to a command held by CLIENT PAUSE when its client is killed
/// (the connection closes right after).
const KILLED: &str = "the client was killed; the command was not run";

/// The reply to a command held by CLIENT PAUSE when shutdown begins.
const SHUTTING_DOWN: &str = "the server is shutting down; the command was not run";

/// Whether `enable-debug-command` lets this client run a protected command
/// (DEBUG): `no` nobody, `yes` everyone, `local` loopback peers only.
fn protected_allowed(server: &Server, client: &Client) -> bool {
    server
        .config
        .read()
        .enable_debug_command
        .allows(client.handle.addr.ip())
}

/// Runs an already-validated command, recording its latency and outcome.
/// EXEC calls this for each queued command while it holds the gate.
pub(crate) async fn run_recorded(
    server: &Arc<Server>,
    client: &mut Client,
    parent: Option<&'static CommandSpec>,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Reply {
    let started = Instant::now();
    client
        .handle
        .touch(parent.map(|p| p.name), spec.name, started);
    // Shown as Redis shows them: a blocking command once, when it starts
    // (Redis: when it blocks; not again at each retry while it waits), any
    // other once it has run (after the commands an EXEC runs), never an
    // administrative one. CL is not shown itself: the command it wraps is,
    // with that command's own filtering and redaction.
    let monitored =
        server.pubsub.monitors.any() && spec.flags & (flag::ADMIN | flag::SKIP_MONITOR) == 0;
    let blocking = spec.flags & flag::BLOCKING != 0;
    if monitored
        && blocking
        && !client
            .handle
            .blocked
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        server.feed_monitors(client, args);
    }
    let owed_before = client.debug_sleep;
    let result = {
        let mut cx = Ctx {
            server,
            client,
            spec,
            parent,
        };
        table::run(spec.handler, &mut cx, args).await
    };
    // DEBUG SLEEP sleeps later, outside the transaction gate: its time
    // still counts as the command's (statistics and SLOWLOG), as in Redis.
    let slept = client.debug_sleep.saturating_sub(owed_before);
    let micros = u64::try_from((started.elapsed() + slept).as_micros()).unwrap_or(u64::MAX);
    server.stats.commands_processed.inc();
    if let Some(stats) = server.metrics.command(parent, spec) {
        stats.record(micros, result.is_err(), server.latency_tracking.enabled());
    }
    if monitored && !blocking {
        server.feed_monitors(client, args);
    }
    let top = parent.unwrap_or(spec);
    let unlogged = flag::SKIP_SLOWLOG | flag::BLOCKING;
    if !blocking {
        server.latency.record_command(spec.has(flag::FAST), micros);
    }
    if spec.flags & unlogged == 0 && !matches!(top.name, "auth" | "hello") {
        let handle = &client.handle;
        server.slowlog.record(micros, args, || {
            (handle.addr.to_string(), handle.name.lock().clone())
        });
    }
    match result {
        Ok(reply) => {
            if let Reply::Error(text) = &reply {
                server.count_error(text.split(' ').next().unwrap_or("ERR"));
            }
            reply
        }
        Err(e) => error_reply(server, e),
    }
}

/// [`run_recorded`] behind a boxed, explicitly `Send` future: EXEC recurses
/// into dispatch through it, and the explicit type ends the recursion in the
/// future's type.
pub(crate) fn run_boxed<'a>(
    server: &'a Arc<Server>,
    client: &'a mut Client,
    parent: Option<&'static CommandSpec>,
    spec: &'static CommandSpec,
    args: &'a [Bytes],
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + 'a>> {
    Box::pin(run_recorded(server, client, parent, spec, args))
}

fn error_reply(server: &Server, e: ReplyError) -> Reply {
    server.count_error(e.prefix());
    e.into_reply()
}

/// Convenience for handlers: `Ok(Reply::Ok)`.
pub fn ok() -> CmdResult {
    Ok(Reply::Ok)
}
