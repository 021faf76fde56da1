//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands are validated (name, arity) when queued; an invalid one
//! makes EXEC answer EXECABORT. On a cluster of one, EXEC takes the
//! server's transaction gate exclusively, so the queued commands run with
//! no other command in between: atomic and isolated, as in Redis. In a
//! cluster it shares the gate, and each queued command is atomic on its
//! keys: its writes wait on replicas, and no client of the node should
//! wait behind them (`docs/commands.md`).
//!
//! WATCH: every write goes through `Ctx::apply`, which marks the watchers of
//! the written keys dirty; FLUSHDB/FLUSHALL mark the watchers of the keys
//! they remove (a watched key that did not exist stays undisturbed). A
//! watched key that existed with a TTL and has expired by EXEC also aborts
//! it, as in Redis 7.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_resp::Reply;

use super::table::CommandSpec;
use super::{Ctx, run_boxed};
use crate::client::Client;
use crate::reply_error::{CmdResult, ReplyError, text};

/// A command waiting for EXEC.
pub struct QueuedCommand {
    parent: Option<&'static CommandSpec>,
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
}

/// The state between MULTI and EXEC/DISCARD.
#[derive(Default)]
pub struct MultiState {
    queue: Vec<QueuedCommand>,
    /// A command failed to queue: EXEC must abort.
    error: bool,
}

impl MultiState {
    /// Whether EXEC of this queue counts as a write for CLIENT PAUSE WRITE.
    pub fn pauses_as_write(&self) -> bool {
        self.queue.iter().any(|q| match q.spec.handler {
            super::table::Handler::Cl => cl_pauses_as_write(&q.args),
            _ => crate::client_pause::pauses_as_write(q.spec),
        })
    }
}

/// Whether `CL level command ...` counts as a write for CLIENT PAUSE: as
/// the command it wraps does.
pub(crate) fn cl_pauses_as_write(args: &[Bytes]) -> bool {
    match args.get(2..).map(super::resolve) {
        Some(super::Resolved::Run(_, s)) => crate::client_pause::pauses_as_write(s),
        _ => false,
    }
}

/// A key watched by a client.
pub struct WatchedKey {
    db: u32,
    key: Bytes,
    /// Expiry the key had when watched (0: none, or absent).
    expire_at_ms: u64,
}

impl Client {
    /// Marks the open transaction as failed (a command could not be queued).
    pub fn flag_transaction_error(&mut self) {
        if let Some(m) = self.multi.as_mut() {
            m.error = true;
        }
    }

    /// Queues a validated command for EXEC.
    pub fn queue(
        &mut self,
        parent: Option<&'static CommandSpec>,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
    ) {
        if let Some(m) = self.multi.as_mut() {
            m.queue.push(QueuedCommand { parent, spec, args });
            let n = i64::try_from(m.queue.len()).unwrap_or(i64::MAX);
            self.handle.multi.store(n, Ordering::Relaxed);
        }
    }

    /// Leaves MULTI state.
    fn end_multi(&mut self) -> Option<MultiState> {
        self.handle.multi.store(-1, Ordering::Relaxed);
        self.multi.take()
    }
}

/// A watched key: database and key.
type WatchKey = (u32, Bytes);

/// Which clients watch which keys.
#[derive(Default)]
pub struct WatchRegistry {
    /// Number of (db, key) entries, so writes skip the map when nobody watches.
    watched: AtomicUsize,
    /// Dirty flags of the clients watching each key. Guarded by its mutex;
    /// held only for map operations, never across an await.
    map: Mutex<HashMap<WatchKey, Vec<Arc<AtomicBool>>>>,
}

impl WatchRegistry {
    fn add(&self, db: u32, key: Bytes, dirty: &Arc<AtomicBool>) {
        let mut map = self.map.lock();
        let watchers = map.entry((db, key)).or_default();
        if watchers.is_empty() {
            self.watched.fetch_add(1, Ordering::Relaxed);
        }
        watchers.push(Arc::clone(dirty));
    }

    /// Forgets every key `client` watches and clears its dirty flag.
    pub fn unwatch_all(&self, client: &mut Client) {
        if client.watched.is_empty() {
            return;
        }
        let mut map = self.map.lock();
        for w in client.watched.drain(..) {
            let id = (w.db, w.key);
            if let Some(watchers) = map.get_mut(&id) {
                watchers.retain(|f| !Arc::ptr_eq(f, &client.watch_dirty));
                if watchers.is_empty() {
                    map.remove(&id);
                    self.watched.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        client.watch_dirty.store(false, Ordering::Relaxed);
    }

    /// Before a write of `key` in `db`: touches its watchers now in a
    /// cluster, where EXEC shares the transaction gate, so no EXEC can run
    /// between the write and the touch; returns whether the touch is left
    /// for after the write instead ([`WatchRegistry::after_write`]), on a
    /// cluster of one, where EXEC holds the gate alone and so cannot run
    /// in between either. Only there can a write that changes nothing, or
    /// fails, leave transactions alone, as Redis's `signalModifiedKey` does.
    pub fn before_write(&self, server_alone: bool, db: u32, key: &Bytes) -> bool {
        if !server_alone {
            self.touch(db, key);
        }
        server_alone
    }

    /// After a write [`WatchRegistry::before_write`] left the touch for:
    /// touches the watchers if the write `changed` the key.
    pub fn after_write(&self, deferred: bool, changed: bool, db: u32, key: &Bytes) {
        if deferred && changed {
            self.touch(db, key);
        }
    }

    /// Marks the watchers of `key` in `db` dirty (called on every write).
    pub fn touch(&self, db: u32, key: &Bytes) {
        if self.watched.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(watchers) = self.map.lock().get(&(db, key.clone())) {
            watchers
                .iter()
                .for_each(|f| f.store(true, Ordering::Relaxed));
        }
    }

    /// The watched keys of database `db` (or of all databases).
    pub fn watched_in(&self, db: Option<u32>) -> Vec<(u32, Bytes)> {
        if self.watched.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        self.map
            .lock()
            .keys()
            .filter(|(d, _)| db.is_none_or(|db| db == *d))
            .cloned()
            .collect()
    }
}

/// Before FLUSHDB/FLUSHALL empties `db` (or every database): the watched
/// keys that exist there. As in Redis, a flush disturbs only the watchers
/// of keys it actually removes; pass the result to [`WatchRegistry::touch`]
/// once the flush is done.
pub async fn watched_existing(
    cx: &Ctx<'_>,
    db: Option<u32>,
) -> Result<Vec<(u32, Bytes)>, ReplyError> {
    let mut existing = Vec::new();
    for (d, key) in cx.server.watches.watched_in(db) {
        if cx.peek_shallow(d, &key).await?.is_some() {
            existing.push((d, key));
        }
    }
    Ok(existing)
}

impl WatchRegistry {
    /// Marks the watchers of each of `keys` dirty.
    pub fn touch_all(&self, keys: &[(u32, Bytes)]) {
        for (db, key) in keys {
            self.touch(*db, key);
        }
    }
}

/// MULTI.
pub async fn multi(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(ReplyError::err(text::MULTI_NESTED));
    }
    cx.client.multi = Some(MultiState::default());
    cx.client.handle.multi.store(0, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// DISCARD.
pub async fn discard(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.end_multi().is_none() {
        return Err(ReplyError::err(text::DISCARD_WITHOUT_MULTI));
    }
    cx.server.watches.unwatch_all(cx.client);
    Ok(Reply::Ok)
}

/// What an EXEC refused before it ran answers (Redis's
/// `execCommandAbort`): the transaction is discarded (its queue and its
/// watches, also when there was none) and the refusal comes back as
/// `EXECABORT Transaction discarded because of: <refusal>`, the refusal's
/// `ERR ` left out. Any other command's refusal is returned as it is.
pub fn abort_if_exec(
    server: &crate::shared::Server,
    client: &mut Client,
    spec: &CommandSpec,
    refusal: ReplyError,
) -> ReplyError {
    if spec.handler != super::table::Handler::Exec {
        return refusal;
    }
    client.end_multi();
    server.watches.unwatch_all(client);
    let text = refusal.text();
    ReplyError::Prefixed {
        prefix: "EXECABORT",
        text: format!(
            "Transaction discarded because of: {}",
            text.strip_prefix("ERR ").unwrap_or(&text)
        )
        .into(),
    }
}

/// Queued commands an EXEC runs between two yields to the scheduler.
const EXEC_YIELD_EVERY: usize = 256;

/// EXEC.
pub async fn exec(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(state) = cx.client.end_multi() else {
        return Err(ReplyError::err(text::EXEC_WITHOUT_MULTI));
    };
    let server = Arc::clone(cx.server);
    if state.error {
        server.watches.unwatch_all(cx.client);
        return Err(ReplyError::ExecAbort);
    }
    // On a cluster of one the queued commands run with no other command in
    // between, as in Redis. In a cluster the guarantee is per key (another
    // node may write the same keys meanwhile), and the queued commands wait
    // on replicas: holding the node-wide gate exclusively through those round
    // trips stopped every other client of the node (a stopped replica made
    // PING wait 2 s per queued write), so EXEC shares the gate like any
    // command and each queued command is atomic on its keys.
    let (exclusive, _shared) = if server.cluster.is_alone() {
        (Some(server.exec_gate.write().await), None)
    } else {
        (None, Some(server.exec_gate.read().await))
    };
    let now = cx.now_ms();
    let expired = cx
        .client
        .watched
        .iter()
        .any(|w| w.expire_at_ms != 0 && w.expire_at_ms <= now);
    let aborted = expired || cx.client.watch_dirty.load(Ordering::Relaxed);
    server.watches.unwatch_all(cx.client);
    if aborted {
        return Ok(Reply::NilArray);
    }
    let mut replies = Vec::with_capacity(state.queue.len());
    cx.client.in_exec = true;
    cx.client.exclusive_gate = exclusive.is_some();
    for (i, q) in state.queue.into_iter().enumerate() {
        replies.push(run_boxed(&server, cx.client, q.parent, q.spec, &q.args).await);
        if i % EXEC_YIELD_EVERY == EXEC_YIELD_EVERY - 1 {
            // A huge transaction lets the rest of the node (commands that
            // touch no data, peers, background work) run between its steps.
            tokio::task::yield_now().await;
        }
    }
    cx.client.in_exec = false;
    cx.client.exclusive_gate = false;
    Ok(Reply::Array(replies))
}

/// WATCH key [key ...].
pub async fn watch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(ReplyError::err(text::WATCH_IN_MULTI));
    }
    let db = cx.db();
    for key in args.iter().skip(1) {
        if cx.client.watched.iter().any(|w| w.db == db && w.key == key) {
            continue;
        }
        let expire_at_ms = cx
            .peek_shallow(db, key)
            .await?
            .map_or(0, |e| e.expire_at_ms);
        // A copy: the argument is a slice of the request's read buffer,
        // which a watch (kept until EXEC, for good with no timeout) would
        // keep whole.
        let key = Bytes::copy_from_slice(key);
        cx.server
            .watches
            .add(db, key.clone(), &cx.client.watch_dirty);
        cx.client.watched.push(WatchedKey {
            db,
            key,
            expire_at_ms,
        });
    }
    Ok(Reply::Ok)
}

/// UNWATCH.
pub async fn unwatch(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.watches.unwatch_all(cx.client);
    Ok(Reply::Ok)
}
