//! Per-connection state: what the connection task owns ([`Client`]) and
//! what other connections may see or change through CLIENT LIST/KILL and
//! INFO ([`ClientHandle`], kept in the [`ClientRegistry`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_cluster::{Ack, Consistency, Entry};
use ringkv_resp::Protocol;
use tokio::sync::Notify;

use crate::command::txn::{MultiState, WatchedKey};
use crate::reply_error::ReplyError;

/// Whether replies are sent (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent.
    On,
    /// No reply is sent until CLIENT REPLY ON.
    Off,
    /// The reply to the next command is dropped.
    Skip,
}

/// State owned by one connection's task.
pub struct Client {
    /// What others can see of this client.
    pub handle: Arc<ClientHandle>,
    /// Selected database.
    pub db: u32,
    /// RESP2 or RESP3.
    pub protocol: Protocol,
    /// Whether AUTH succeeded (or no password is configured).
    pub authenticated: bool,
    /// Commands queued since MULTI.
    pub multi: Option<MultiState>,
    /// Keys watched for the next EXEC.
    pub watched: Vec<WatchedKey>,
    /// Set when a watched key is written; shared with the watch registry.
    pub watch_dirty: Arc<AtomicBool>,
    /// Writes to await before the replies of this batch are sent.
    pub ack: Ack,
    /// Commands run since the last reply write (their replies wait for `ack`).
    pub unsent_commands: usize,
    /// Close the connection once the pending replies are written.
    pub close_after_reply: bool,
    /// The connection holds the transaction gate (shared) across a run of
    /// writes to one key (`key_run`): its commands do not take it again.
    pub holds_exec_gate: bool,
    /// The connection let go of a key it held across a run of writes
    /// (`key_run`) since its last reply: the next holder may be waiting on
    /// this worker.
    pub handed_off_key: bool,
    /// The command running holds the transaction gate exclusively (an
    /// EXEC on a cluster of one, or SWAPDB): nothing else touches data.
    pub exclusive_gate: bool,
    /// CLIENT REPLY mode.
    pub reply_mode: ReplyMode,
    /// Send no reply for the command just run (SHUTDOWN).
    /// Set by CLIENT REPLY SKIP for the connection: the skip applies to
    /// the command after it, not to itself.
    pub reply_skip_armed: bool,
    pub suppress_reply: bool,
    /// CONSISTENCY's read level (None: the server's `read-consistency`).
    pub read_level: Option<Consistency>,
    /// CONSISTENCY's write level (None: the server's `write-consistency`).
    pub write_level: Option<Consistency>,
    /// The level of a `CL <level>` prefix, for the one command it wraps.
    pub level_override: Option<Consistency>,
    /// Time DEBUG SLEEP owes: slept by dispatch once the command, or the
    /// EXEC that ran it, has released the transaction gate, so only this
    /// client waits while the node keeps serving the others.
    pub debug_sleep: Duration,
    /// A GET's read already made for it, batched with the other GETs of
    /// its pipeline ([`crate::pipeline`]): the key and what the cluster
    /// answered. [`crate::command::Ctx::read`] uses it instead of reading.
    pub prefetched: Option<(Bytes, Result<Option<Entry>, ReplyError>)>,
    /// A plain SET's write already made for it, batched with the other
    /// SETs of its pipeline: the key and the durability to await (or why
    /// it failed). [`crate::command::Ctx::apply`] uses it instead of
    /// writing.
    pub prewritten: Option<(Bytes, Result<Ack, ReplyError>)>,
    /// Set while EXEC runs the queued commands (blocking commands answer
    /// at once there).
    pub in_exec: bool,
    /// Left by a blocking command that found nothing: the connection waits.
    pub block: Option<crate::blocking::BlockRequest>,
    /// Set by a blocking command whose error reply still ends its wait
    /// (BLMOVE finding its destination of another type once the source has
    /// an element, as Redis answers); other errors keep a client waiting.
    pub error_ends_wait: bool,
    /// Set while a waiting client's blocking command runs again: a key it
    /// waits on that now holds another type is passed over (Redis serves a
    /// blocked client from whichever of its keys became ready) instead of
    /// answering WRONGTYPE.
    pub blocked_rerun: bool,
    /// Set by such a re-run that passed over a key of another type: what
    /// woke this client may serve the next one waiting on that key.
    pub skipped_other_type: bool,
    /// Pub/sub subscriptions and their message queue, once subscribed.
    pub subscriptions: Option<crate::pubsub::Subscriptions>,
    /// When the input holding the running command was read: blocked
    /// clients queue on a key in this order ([`crate::blocking`]).
    pub arrived: std::time::Instant,
    /// Blocked clients this client's commands woke since its last reply:
    /// the reply waits for their looks ([`crate::blocking::await_looks`]).
    pub woken: Vec<crate::blocking::Woken>,
}

impl Client {
    /// A fresh client in database 0 speaking RESP2.
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Client {
            handle,
            db: 0,
            protocol: Protocol::Resp2,
            authenticated,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            ack: Ack::NONE,
            unsent_commands: 0,
            close_after_reply: false,
            holds_exec_gate: false,
            handed_off_key: false,
            exclusive_gate: false,
            reply_mode: ReplyMode::On,
            suppress_reply: false,
            reply_skip_armed: false,
            read_level: None,
            write_level: None,
            level_override: None,
            debug_sleep: Duration::ZERO,
            prefetched: None,
            prewritten: None,
            in_exec: false,
            block: None,
            error_ends_wait: false,
            blocked_rerun: false,
            skipped_other_type: false,
            subscriptions: None,
            woken: Vec::new(),
            arrived: std::time::Instant::now(),
        }
    }

    /// Records that the replies of this batch must wait for `ack`.
    pub fn await_ack(&mut self, ack: Ack) {
        self.ack = self.ack.max(ack);
    }

    /// A view of this client for one command run beside others of the
    /// same batch (see `pipeline`): same identity, database, protocol and
    /// levels, its own acknowledgement, outside any transaction.
    pub fn view(&self) -> Client {
        Client {
            handle: Arc::clone(&self.handle),
            db: self.db,
            protocol: self.protocol,
            authenticated: self.authenticated,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::clone(&self.watch_dirty),
            ack: Ack::NONE,
            unsent_commands: 0,
            close_after_reply: false,
            holds_exec_gate: false,
            handed_off_key: false,
            exclusive_gate: false,
            reply_mode: ReplyMode::On,
            suppress_reply: false,
            reply_skip_armed: false,
            read_level: self.read_level,
            write_level: self.write_level,
            level_override: None,
            debug_sleep: Duration::ZERO,
            prefetched: None,
            prewritten: None,
            in_exec: false,
            block: None,
            error_ends_wait: false,
            blocked_rerun: false,
            skipped_other_type: false,
            subscriptions: None,
            woken: Vec::new(),
            arrived: std::time::Instant::now(),
        }
    }

    /// The consistency level of this client's next read: a `CL` prefix,
    /// else its `CONSISTENCY`, else the configured `read-consistency`.
    pub fn read_level_in(&self, levels: &crate::shared::DefaultLevels) -> Consistency {
        self.level_override
            .or(self.read_level)
            .unwrap_or_else(|| levels.read())
    }

    /// As [`Client::read_level_in`], for writes.
    pub fn write_level_in(&self, levels: &crate::shared::DefaultLevels) -> Consistency {
        self.level_override
            .or(self.write_level)
            .unwrap_or_else(|| levels.write())
    }

    /// Selects `db`, keeping the shared view in step.
    pub fn select(&mut self, db: u32) {
        self.db = db;
        self.handle.db.store(db, Ordering::Relaxed);
    }
}

/// The part of a client other connections can read (CLIENT LIST) or act on
/// (CLIENT KILL). Fields are atomics or short mutexes; none is held across
/// an await.
pub struct ClientHandle {
    /// Unique, increasing id.
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Socket file descriptor (for CLIENT LIST's `fd=`).
    pub fd: i64,
    /// When the connection was accepted.
    pub created: Instant,
    /// CLIENT SETNAME.
    pub name: Mutex<Option<Bytes>>,
    /// CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib: Mutex<(String, String)>,
    /// Selected database (mirrors `Client::db`).
    pub db: AtomicU32,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Commands queued in MULTI, or -1 outside MULTI.
    pub multi: AtomicI64,
    /// Container and name of the last command run.
    pub last_command: Mutex<(Option<&'static str>, &'static str)>,
    /// Milliseconds since `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    /// Unparsed input buffered.
    pub query_buffer: AtomicUsize,
    /// Free room in the read buffer (CLIENT LIST `qbuf-free`).
    pub query_buffer_free: AtomicUsize,
    /// Capacity of the reply buffer (CLIENT LIST `rbs`).
    pub reply_buffer_size: AtomicUsize,
    /// Memory of the messages queued for this subscriber and not yet
    /// written (CLIENT LIST `omem`; the pubsub output limit's measure).
    pub output_pending: AtomicUsize,
    /// CLIENT NO-EVICT.
    pub no_evict: AtomicBool,
    /// Set by CLIENT KILL; the connection closes at its next safe point.
    pub killed: AtomicBool,
    /// Wakes the connection task when killed.
    pub kill_signal: Notify,
    /// Whether the client waits in a blocking command.
    pub blocked: AtomicBool,
    /// Set while the connection is in MONITOR mode.
    pub monitor: AtomicBool,
    /// CLIENT UNBLOCK: ends the wait (with an error if `unblock_error`).
    pub unblock: Notify,
    /// CLIENT UNBLOCK ... ERROR.
    pub unblock_error: AtomicBool,
    /// Channels, patterns and shard channels subscribed (CLIENT LIST).
    pub subscribed: Mutex<(usize, usize, usize)>,
}

impl ClientHandle {
    /// A handle for a newly accepted connection.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i64) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: Mutex::new(None),
            lib: Mutex::new((String::new(), String::new())),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            multi: AtomicI64::new(-1),
            last_command: Mutex::new((None, "NULL")),
            last_interaction_ms: AtomicU64::new(0),
            query_buffer: AtomicUsize::new(0),
            query_buffer_free: AtomicUsize::new(0),
            reply_buffer_size: AtomicUsize::new(0),
            output_pending: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            blocked: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            unblock: Notify::new(),
            unblock_error: AtomicBool::new(false),
            subscribed: Mutex::new((0, 0, 0)),
        }
    }

    /// Asks the connection to close.
    pub fn note_subscriptions(&self, channels: usize, patterns: usize, shard: usize) {
        *self.subscribed.lock() = (channels, patterns, shard);
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.notify_one();
    }

    /// Notes activity at `now`, running `parent|name` (or `name`).
    pub fn touch(&self, parent: Option<&'static str>, name: &'static str, now: Instant) {
        let since = now.saturating_duration_since(self.created);
        let ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        self.last_interaction_ms.store(ms, Ordering::Relaxed);
        *self.last_command.lock() = (parent, name);
    }

    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        let now = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }

    /// One CLIENT LIST line (without the trailing newline), in Redis 7.0's field order.
    pub fn describe(&self) -> String {
        let name = self
            .name
            .lock()
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let (lib_name, lib_ver) = self.lib.lock().clone();
        let multi = self.multi.load(Ordering::Relaxed);
        let (sub, psub, ssub) = *self.subscribed.lock();
        // Redis 7.0's letters, in its order.
        let mut flags = String::new();
        for (on, letter) in [
            (self.monitor.load(Ordering::Relaxed), 'O'),
            (sub + psub + ssub > 0, 'P'),
            (multi >= 0, 'x'),
            (self.blocked.load(Ordering::Relaxed), 'b'),
            (self.no_evict.load(Ordering::Relaxed), 'e'),
        ] {
            if on {
                flags.push(letter);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let qbuf = self.query_buffer.load(Ordering::Relaxed);
        let qbuf_free = self.query_buffer_free.load(Ordering::Relaxed);
        let rbs = self.reply_buffer_size.load(Ordering::Relaxed);
        let omem = self.output_pending.load(Ordering::Relaxed);
        let cmd = match *self.last_command.lock() {
            (Some(p), n) => format!("{p}|{n}"),
            (None, n) => n.to_string(),
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={sub} psub={psub} ssub={ssub} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            flags,
            self.db.load(Ordering::Relaxed),
            multi,
            qbuf,
            qbuf_free,
            rbs,
            omem,
            qbuf + qbuf_free + rbs + omem,
            cmd,
            self.resp.load(Ordering::Relaxed),
            lib_name,
            lib_ver,
        )
    }
}

/// Every connected client, by id.
#[derive(Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl ClientRegistry {
    /// The next client id (ids start at 1 and never repeat).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a connected client.
    pub fn insert(&self, handle: Arc<ClientHandle>) {
        self.clients.lock().insert(handle.id, handle);
    }

    /// Removes a disconnected client.
    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Kills client `id` (CLIENT KILL): it leaves the registry at once, so
    /// CLIENT LIST and a second CLIENT KILL no longer see it (Redis frees
    /// the client before it replies), and its connection task closes the
    /// socket when it wakes. False if it was already gone.
    pub fn kill(&self, id: u64) -> bool {
        let Some(handle) = self.clients.lock().remove(&id) else {
            return false;
        };
        handle.kill();
        true
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.lock().is_empty()
    }

    /// A snapshot of every client, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    /// Total unparsed input buffered by all clients, and the largest one.
    pub fn query_buffers(&self) -> (usize, usize) {
        let clients = self.clients.lock();
        let sizes = clients
            .values()
            .map(|c| c.query_buffer.load(Ordering::Relaxed));
        sizes.fold((0, 0), |(sum, max), s| (sum + s, max.max(s)))
    }
}
