//! One client connection: read, frame, execute, await durability, reply.
//!
//! Every complete request already buffered is executed in order before
//! anything is written, and all their replies go out in one write: a
//! pipeline of N commands costs one read, one durability wait (one WAL
//! write, or one fsync under `appendfsync always`) and one write. Replies
//! are only sent after the writes they acknowledge are durable; if that
//! fails, a lone command's reply becomes the error (`-MISCONF` for a disk
//! that refused the write, which is then undone), and a pipeline's
//! connection is dropped without sending its replies, so no client ever
//! sees an acknowledgement for a write that was not persisted.
//!
//! In a cluster, consecutive simple single-key commands of a batch on
//! distinct keys run concurrently (see [`crate::pipeline`]), replies still
//! in order.
//!
//! A protocol error gets Redis's `-ERR Protocol error: ...` reply after the
//! replies of the requests before it, then the connection closes. A client
//! whose unparsed input passes `client-query-buffer-limit` is disconnected.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use ringkv_cluster::Ack;
use ringkv_resp::{Reply, RequestDecoder};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client::{Client, ClientHandle, ReplyMode};
use crate::command;
use crate::key_run::KeyRun;
use crate::pipeline::{self, ConcurrentRun};
use crate::shared::Server;

/// Bytes read per read call at least.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes the read buffer makes room for beyond what has arrived, at most,
/// while a long argument comes in.
const READ_AHEAD: usize = 64 * 1024;
/// A connection quiet this long releases its (empty) read and write buffers.
const IDLE_SHRINK: Duration = Duration::from_secs(2);
/// Replies buffered beyond this are written before the batch ends.
const OUTPUT_FLUSH_BYTES: usize = 1024 * 1024;

/// Why a connection ended (for logs).
#[derive(Debug)]
enum Ended {
    PeerClosed,
    Killed,
    Shutdown,
    IdleTimeout,
    QueryBufferLimit,
    ProtocolError,
    Quit,
    Io(std::io::Error),
    NotDurable(String),
    /// A bug: serving the client panicked. The connection is closed and
    /// cleaned up like any other, so the server keeps no trace of it.
    Panicked,
}

/// Runs `serving` to its end; a panic inside ends it as
/// [`Ended::Panicked`] instead of unwinding past the cleanup in [`serve`]
/// (which would leave the client counted against `maxclients`, listed by
/// CLIENT LIST, and subscribed, watching or monitoring for ever).
async fn panic_safe(serving: impl std::future::Future<Output = Ended>) -> Ended {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(serving)
        .catch_unwind()
        .await
        .unwrap_or(Ended::Panicked)
}

/// Serves one client until it leaves, is killed, or the server shuts down.
pub async fn serve(server: Arc<Server>, mut socket: TcpStream, handle: Arc<ClientHandle>) {
    let mut client = Client::new(Arc::clone(&handle), !server.requires_auth());
    let serving = ringkv_cluster::holding_scope(run(&server, &mut socket, &mut client));
    let ended = panic_safe(serving).await;
    match &ended {
        Ended::Panicked => {
            server.stats.client_panics.inc();
            tracing::error!(client = handle.id, addr = %handle.addr, "serving the client panicked; connection closed")
        }
        Ended::Io(e) => tracing::debug!(client = handle.id, error = %e, "client connection error"),
        Ended::NotDurable(e) => {
            tracing::error!(client = handle.id, error = %e, "write not durable; dropping client without acknowledging")
        }
        Ended::QueryBufferLimit => {
            tracing::warn!(client = handle.id, addr = %handle.addr, "closing client that reached max query buffer length")
        }
        other => tracing::debug!(client = handle.id, reason = ?other, "client disconnected"),
    }
    server.watches.unwatch_all(&mut client);
    if let Some(mut subs) = client.subscriptions.take() {
        server.pubsub.forget(&mut subs);
    }
    if handle.monitor.load(Ordering::Relaxed) {
        server.pubsub.monitors.remove(handle.id);
    }
    let _ = socket.shutdown().await;
    server.clients.remove(handle.id);
    server.metrics.connected_clients.dec();
}

async fn run(server: &Arc<Server>, socket: &mut TcpStream, client: &mut Client) -> Ended {
    let handle = Arc::clone(&client.handle);
    let mut shutdown = server.shutdown.subscribe();
    // Allocated with the first input, released when idle (see `read_some`).
    let mut rbuf = BytesMut::new();
    let mut wbuf = BytesMut::new();
    let mut decoder = RequestDecoder::new();
    let mut run = ConcurrentRun::default();
    let mut key_run = KeyRun::default();
    loop {
        if *shutdown.borrow() {
            return Ended::Shutdown;
        }
        // A declared length is not trusted with memory: the buffer grows
        // with what arrives (up to 64 KB ahead of it, then doubling), so a
        // client announcing a 512 MB argument and sending nothing costs
        // what it sent, not 512 MB.
        let ahead = rbuf.len().max(READ_AHEAD);
        let want = decoder
            .needed()
            .saturating_sub(rbuf.len())
            .min(ahead)
            .max(READ_CHUNK);
        // Subscribers and monitors wait for what the server sends, not
        // for their own input: `timeout` spares them, as Redis does.
        let listening = client.subscriptions.as_ref().is_some_and(|s| s.any())
            || handle.monitor.load(Ordering::Relaxed);
        let idle = if listening {
            0
        } else {
            server.input.timeout_secs()
        };
        let messages = client.subscriptions.as_mut().map(|s| &mut s.queue);
        let wakes = Wakes {
            handle: &handle,
            shutdown: &mut shutdown,
            messages,
        };
        let n = match read_some(socket, &mut rbuf, &mut wbuf, want, idle, wakes).await {
            Read::Data(n) => n,
            Read::Message(first) => {
                if let Err(e) = write_messages(server, socket, client, &mut wbuf, first).await {
                    return e;
                }
                continue;
            }
            Read::IdleTimeout if client.multi.is_none() => return Ended::IdleTimeout,
            Read::IdleTimeout => continue,
            Read::Ended(e) => return e,
        };
        server.stats.net_input_bytes.add(n as u64);
        client.arrived = std::time::Instant::now();
        prefetch_batch_buckets(server, client, &rbuf);
        if handle.killed.load(Ordering::Acquire) {
            return Ended::Killed;
        }

        let mut protocol_error = false;
        let concurrent = !server.cluster.is_alone();
        loop {
            let limits = server.input.limits(!client.authenticated);
            let unparsed = rbuf.len();
            match decoder.decode(&mut rbuf, &limits) {
                Ok(Some(request)) => {
                    // CLIENT LIST's qbuf counts the running command, as
                    // Redis's query buffer still holds it.
                    handle.query_buffer.store(unparsed, Ordering::Relaxed);
                    prefetch_next_key(server, client, &rbuf);
                    let mut args = request.args;
                    // While CLIENT PAUSE holds anything, commands go one by
                    // one through its check: a concurrent run writes its
                    // SETs before any of them would reach it.
                    if concurrent && pipeline::enabled(client) && !server.client_pause.active() {
                        args = match run.offer(args) {
                            Ok(()) => continue,
                            Err(args) => args,
                        };
                        if !run.is_empty() {
                            // The run ends at this command: run it, then
                            // let the command start the next one.
                            run_pending(&mut run, server, client, &mut wbuf).await;
                            if wbuf.len() >= OUTPUT_FLUSH_BYTES {
                                if let Err(e) = flush(server, socket, client, &mut wbuf).await {
                                    return e;
                                }
                            }
                            args = match run.offer(args) {
                                Ok(()) => continue,
                                Err(args) => args,
                            };
                        }
                    }
                    run_pending(&mut run, server, client, &mut wbuf).await;
                    // A paused write must not wait holding the gate a run
                    // of writes to one key takes (EXECs of reads need it).
                    if !concurrent && pipeline::enabled(client) && !server.client_pause.active() {
                        key_run
                            .before(server, client, &args, !rbuf.is_empty())
                            .await;
                        // A pause may have begun while the hold was awaited.
                        if server.client_pause.active() {
                            key_run.release(client);
                        }
                    } else {
                        key_run.release(client);
                    }
                    let mode_before = client.reply_mode;
                    client.unsent_commands += 1;
                    let mut reply =
                        command::execute_from(server, client, args, Some(&*socket)).await;
                    if let Some(request) = client.block.take() {
                        key_run.release(client);
                        // Earlier replies go out before the wait.
                        if let Err(e) = flush(server, socket, client, &mut wbuf).await {
                            return e;
                        }
                        reply = match wait_blocked(server, socket, client, &mut rbuf, request).await
                        {
                            Ok(r) => r,
                            Err(e) => return e,
                        };
                        // What the client sent behind it is taken up now,
                        // as Redis reads a blocked client's input again
                        // once it is served: behind the clients that
                        // blocked meanwhile.
                        client.arrived = std::time::Instant::now();
                    }
                    // Messages that arrived while the command ran go first,
                    // as they would sit in a Redis client's output buffer.
                    queued_messages(client, &mut wbuf);
                    // Subscription confirmations go out even with replies
                    // off, as Redis sends them.
                    if should_send(client, mode_before) || reply.is_push() {
                        reply.encode(client.protocol, &mut wbuf);
                    }
                    own_monitor_lines(client, &mut wbuf);
                    if client.close_after_reply {
                        break;
                    }
                    if wbuf.len() >= OUTPUT_FLUSH_BYTES {
                        key_run.release(client);
                        if let Err(e) = flush(server, socket, client, &mut wbuf).await {
                            return e;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    run_pending(&mut run, server, client, &mut wbuf).await;
                    server.stats.errors.inc(&format!("protocol_{}", e.kind()));
                    server.count_error("ERR");
                    Reply::error(e.to_string()).encode(client.protocol, &mut wbuf);
                    protocol_error = true;
                    break;
                }
            }
        }
        key_run.end_batch(client);
        run_pending(&mut run, server, client, &mut wbuf).await;
        note_buffers(&handle, &rbuf, &wbuf);
        if let Err(e) = flush(server, socket, client, &mut wbuf).await {
            return e;
        }
        if protocol_error {
            return Ended::ProtocolError;
        }
        if client.close_after_reply {
            return Ended::Quit;
        }
        if over_query_buffer_limit(server, rbuf.len() + decoder.held_bytes()) {
            return Ended::QueryBufferLimit;
        }
    }
}

/// Whether `held` bytes of a client's input pass `client-query-buffer-limit`.
fn over_query_buffer_limit(server: &Server, held: usize) -> bool {
    held as u64 > server.input.query_buffer_limit()
}

/// What else ends a wait for input: a kill, shutdown, a published message.
struct Wakes<'a> {
    handle: &'a ClientHandle,
    shutdown: &'a mut tokio::sync::watch::Receiver<bool>,
    messages: Option<&'a mut tokio::sync::mpsc::UnboundedReceiver<crate::pubsub::Message>>,
}

/// What one wait for input ended with.
enum Read {
    /// Bytes appended to the read buffer.
    Data(usize),
    /// A published message for this subscriber.
    Message(crate::pubsub::Message),
    /// No input for `timeout` seconds.
    IdleTimeout,
    /// The connection is over.
    Ended(Ended),
}

/// Reads whatever arrives next into `rbuf` (reserving `want` bytes first).
/// A connection that stays quiet for [`IDLE_SHRINK`] gives its empty
/// buffers back and waits for input holding none, so an idle client costs
/// little more than its socket; the buffers come back with the next read.
async fn read_some(
    socket: &mut TcpStream,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    want: usize,
    idle_secs: u64,
    wakes: Wakes<'_>,
) -> Read {
    let Wakes {
        handle,
        shutdown,
        mut messages,
    } = wakes;
    let started = tokio::time::Instant::now();
    // A timeout beyond what an instant can hold is never reached.
    let idle_at = (idle_secs > 0)
        .then(|| started.checked_add(Duration::from_secs(idle_secs)))
        .flatten();
    let mut shrink_at = Some(started + IDLE_SHRINK);
    // A connection that holds no buffer (new, or idle) waits for input
    // before it allocates one.
    let mut readable = rbuf.capacity() > 0;
    loop {
        if readable {
            rbuf.reserve(want);
            match read_to_end_of_input(socket, rbuf) {
                Ok(0) => return Read::Ended(Ended::PeerClosed),
                Ok(n) => return Read::Data(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Read::Ended(Ended::Io(e)),
            }
        }
        let wake_at = match (idle_at, shrink_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timer = async {
            match wake_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let next_message = async {
            match messages.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = handle.kill_signal.notified() => return Read::Ended(Ended::Killed),
            _ = shutdown.changed() => return Read::Ended(Ended::Shutdown),
            Some(m) = next_message => return Read::Message(m),
            r = socket.readable() => {
                if let Err(e) = r {
                    return Read::Ended(Ended::Io(e));
                }
                readable = true;
            }
            () = timer => {
                let now = tokio::time::Instant::now();
                if idle_at.is_some_and(|t| now >= t) {
                    return Read::IdleTimeout;
                }
                shrink_at = None;
                readable = false;
                if rbuf.is_empty() {
                    *rbuf = BytesMut::new();
                }
                if wbuf.is_empty() {
                    *wbuf = BytesMut::new();
                }
                note_buffers(handle, rbuf, wbuf);
            }
        }
    }
}

/// Reads what `socket` holds into `rbuf`'s spare room. When the read
/// returns less than the room it had, TCP handed over everything it held,
/// and the socket's readiness is cleared with it: the next read then waits
/// for the poller to report new input instead of trying first. A client
/// that sends its next request only after this one's reply (every
/// unpipelined client) would make that try fail, a system call per request
/// for nothing (a third of the receive calls under redis-benchmark -P1
/// ended in EAGAIN).
///
/// The read runs inside the clearing `try_io`, whose readiness snapshot
/// is taken before the read: input whose event the poller reported after
/// it leaves the readiness set (a clear taken after the read would erase
/// that report, and the connection would wait for input it holds).
fn read_to_end_of_input(socket: &TcpStream, rbuf: &mut BytesMut) -> std::io::Result<usize> {
    let room = rbuf.capacity() - rbuf.len();
    let mut read = None;
    let cleared = socket.try_io(tokio::io::Interest::READABLE, || {
        let n = socket.try_read_buf(rbuf)?;
        read = Some(n);
        if n > 0 && n < room {
            Err(std::io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match read {
        Some(n) => Ok(n),
        None => cleared,
    }
}

/// Publishes the buffers' sizes for CLIENT LIST.
fn note_buffers(handle: &ClientHandle, rbuf: &BytesMut, wbuf: &BytesMut) {
    handle.query_buffer.store(rbuf.len(), Ordering::Relaxed);
    handle
        .query_buffer_free
        .store(rbuf.capacity() - rbuf.len(), Ordering::Relaxed);
    handle
        .reply_buffer_size
        .store(wbuf.capacity(), Ordering::Relaxed);
}

/// Applies CLIENT REPLY and reply suppression; returns whether to send.
fn should_send(client: &mut Client, mode_before: ReplyMode) -> bool {
    // CLIENT REPLY SKIP arms the skip of the next command's reply; a skip
    // armed before this command applies to it (Redis's REPLY_SKIP_NEXT
    // and REPLY_SKIP), so a second SKIP in a row skips the command after.
    let armed_now = std::mem::take(&mut client.reply_skip_armed);
    if std::mem::take(&mut client.suppress_reply) {
        return false;
    }
    match (mode_before, client.reply_mode) {
        // CLIENT REPLY SKIP itself: no reply; the skip stays armed.
        (_, ReplyMode::Skip) if armed_now => false,
        // The reply skipped by an earlier CLIENT REPLY SKIP.
        (ReplyMode::Skip, ReplyMode::Skip) => {
            client.reply_mode = ReplyMode::On;
            false
        }
        (_, ReplyMode::On) => true,
        // CLIENT REPLY OFF itself, and everything while OFF.
        _ => false,
    }
}

/// Waits until the batch's writes are durable, then writes its replies.
async fn flush(
    server: &Server,
    socket: &mut TcpStream,
    client: &mut Client,
    wbuf: &mut BytesMut,
) -> Result<(), Ended> {
    let ack = std::mem::replace(&mut client.ack, Ack::NONE);
    let commands = std::mem::take(&mut client.unsent_commands);
    // Before leading the WAL write, the batch lets the other ready tasks
    // run so that their writes join it. A batch that has just let go of a
    // hot key has woken the key's next holder on this worker: yielding by
    // waking itself would leave two tasks queued here and pull the idle
    // worker in to steal one, moving the key's records between cores at
    // every hand-off (about a fifth of a pipelined HSET's or SADD's CPU on
    // one key). Such a batch defers itself instead, behind every task
    // ready on this worker.
    let durable = if std::mem::take(&mut client.handed_off_key) {
        server.keyspace.durable_deferred(ack).await
    } else {
        server.keyspace.durable(ack).await
    };
    if let Err(e) = durable {
        if commands != 1 {
            return Err(Ended::NotDurable(e.to_string()));
        }
        // One command: its write failed, and its reply says so instead.
        wbuf.clear();
        crate::reply_error::ReplyError::from(e)
            .into_reply()
            .encode(client.protocol, wbuf);
    }
    if !client.woken.is_empty() {
        crate::blocking::await_looks(std::mem::take(&mut client.woken)).await;
    }
    if wbuf.is_empty() {
        return Ok(());
    }
    // A client that stops reading must not hold its task forever: a kill
    // (CLIENT KILL, a subscriber past its output limit) ends the write.
    tokio::select! {
        r = socket.write_all(wbuf) => {
            if let Err(e) = r {
                return Err(Ended::Io(e));
            }
        }
        () = client.handle.kill_signal.notified() => return Err(Ended::Killed),
    }
    server.stats.net_output_bytes.add(wbuf.len() as u64);
    wbuf.clear();
    Ok(())
}

/// Most requests of one read whose keys [`prefetch_batch_buckets`] starts
/// loading: about what a CPU core has room to fetch at once.
const PREFETCH_BATCH: usize = 16;

/// Bytes at the head of the read buffer [`prefetch_batch_buckets`] looks
/// at: a batch of small requests fits, and a request of a million
/// arguments arriving piece by piece is not walked again at every read.
const PREFETCH_WINDOW: usize = 16 * 1024;

/// When `rbuf` holds a pipelined batch, starts loading where the memtable
/// keeps each of its first keys (`Coordinator::prefetch_bucket`), all at
/// once, before the first request runs: their cache misses overlap instead
/// of each request waiting for its own. [`prefetch_next_key`] then fetches
/// each record one request ahead. Reads and writes alike: a write reads
/// its key's newest version first. Not in a cluster, for the reason
/// [`prefetch_next_key`] gives.
fn prefetch_batch_buckets(server: &Server, client: &Client, rbuf: &[u8]) {
    if !server.cluster.is_alone() {
        return;
    }
    // The first request runs at once, before a fetch of its bucket would
    // have arrived: the rest of the batch gains from the head start.
    let window = rbuf.get(..PREFETCH_WINDOW).unwrap_or(rbuf);
    for (name, arg) in ringkv_resp::peek_requests(window, PREFETCH_BATCH).skip(1) {
        if let Some(key) = first_key(name, arg) {
            server.cluster.prefetch_bucket(client.db, key);
        }
    }
}

/// When the next request of a pipeline is already in `rbuf` and names a
/// key first, starts loading that key's record into the CPU's caches
/// while the current request runs (`Coordinator::prefetch`): the next
/// request's memtable probe then finds it there instead of waiting for
/// memory. Reads and writes alike (a write reads its key's newest version
/// first): with the index's bucket already fetched by
/// [`prefetch_batch_buckets`], the step costs a write less than it saves.
/// Not on a node in a cluster, where a run's reads wait for replicas
/// anyway: measured, the prefetch there cost what it saved.
fn prefetch_next_key(server: &Server, client: &Client, rbuf: &[u8]) {
    if !server.cluster.is_alone() {
        return;
    }
    let Some((name, arg)) = ringkv_resp::peek_name_and_first_arg(rbuf) else {
        return;
    };
    if let Some(key) = first_key(name, arg) {
        server.cluster.prefetch(client.db, key);
    }
}

/// `first_arg` of a peeked command `name`, when the command table says it
/// is a key: what the prefetches hint.
fn first_key<'a>(name: &[u8], first_arg: &'a [u8]) -> Option<&'a [u8]> {
    crate::command::table::lookup(name)
        .filter(|spec| spec.keys.first == 1)
        .map(|_| first_arg)
}

/// Runs the concurrent run if it holds commands. Its future (like a
/// command's) is boxed only while it runs, so an idle connection's task
/// does not carry the state of the largest command it might run.
async fn run_pending(
    run: &mut ConcurrentRun,
    server: &Arc<Server>,
    client: &mut Client,
    wbuf: &mut BytesMut,
) {
    if !run.is_empty() {
        Box::pin(run.run(server, client, wbuf)).await;
    }
}

/// Waits for a blocking command left in `request` to be served: re-runs it
/// after each wake-up of its keys (and, in a cluster, at a backing-off
/// poll, for pushes coordinated by other nodes) until it answers, the
/// timeout passes, CLIENT UNBLOCK ends it, or the connection ends (killed,
/// shutdown, the peer closing: then nothing is popped for it). Input that
/// arrives meanwhile stays in `rbuf` for after the reply.
async fn wait_blocked(
    server: &Arc<Server>,
    socket: &mut TcpStream,
    client: &mut Client,
    rbuf: &mut BytesMut,
    request: crate::blocking::BlockRequest,
) -> Result<Reply, Ended> {
    use crate::blocking::{POLL_MAX, POLL_MIN};
    let handle = Arc::clone(&client.handle);
    let mut shutdown = server.shutdown.subscribe();
    let mut registration = server
        .blocking
        .register(client.db, &request.keys, client.arrived);
    handle.blocked.store(true, Ordering::Relaxed);
    // A timeout past what the clock can hold waits forever.
    let deadline = request
        .timeout
        .and_then(|t| tokio::time::Instant::now().checked_add(t));
    let mut poll = POLL_MIN;
    // Whether this round was started by a wake-up of one of the keys.
    let mut woken = false;
    // In a cluster the other nodes are asked to wake this one when a key
    // changes there; renewed while the client waits.
    let mut interest_renewal = tokio::time::Instant::now();
    let result = loop {
        if !server.cluster.is_alone() && tokio::time::Instant::now() >= interest_renewal {
            let (cluster, db, keys) =
                (Arc::clone(&server.cluster), client.db, request.keys.clone());
            tokio::spawn(async move { cluster.register_interest(db, keys).await });
            interest_renewal = tokio::time::Instant::now() + ringkv_cluster::INTEREST_TTL / 2;
        }
        // A blocking command pops: CLIENT PAUSE WRITE holds its retries.
        // While held, the wait goes on here (its timeout, UNBLOCK and KILL
        // still answer) until the pause changes or ends.
        let pause_changed = server.client_pause.changed();
        tokio::pin!(pause_changed);
        pause_changed.as_mut().enable();
        let held_until = server.client_pause.holds(true);
        if held_until.is_none() {
            // Registered first, then looked: no wake-up falls in between.
            if let Some((covered, ready)) = registration.waiter.start_look(woken) {
                client.blocked_rerun = true;
                client.skipped_other_type = false;
                let args = crate::blocking::ready_first(
                    &request.args,
                    Some(request.keys_at),
                    request.keys.len(),
                    &ready,
                );
                let reply =
                    Box::pin(command::execute_from(server, client, args, Some(&*socket))).await;
                client.blocked_rerun = false;
                // An error while waiting (the key now holds another type, a
                // replica did not answer) does not end the wait, as in Redis a
                // key of the wrong type does not serve its blocked clients.
                let ends = !reply.is_error() || std::mem::take(&mut client.error_ends_wait);
                // What this look woke (a BLMOVE's destination's waiter) is
                // followed by the replies held for it.
                let mut woke = std::mem::take(&mut client.woken);
                if client.block.take().is_none() && ends {
                    server.blocking.served.fetch_add(1, Ordering::Relaxed);
                    registration.leave(woke);
                    break Ok(reply);
                }
                // Woken for what it cannot pop: the next waiter may can.
                if woken && (reply.is_error() || client.skipped_other_type) {
                    woke.extend(registration.pass_on());
                }
                registration.waiter.end_look(covered, woke);
            }
            woken = false;
        }
        registration.blocked();
        let pause_over = async {
            match held_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let polling = !server.cluster.is_alone();
        let until_deadline = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = handle.kill_signal.notified() => break Err(Ended::Killed),
            _ = shutdown.wait_for(|stopping| *stopping) => break Err(Ended::Shutdown),
            _ = handle.unblock.notified() => {
                break Ok(if handle.unblock_error.swap(false, Ordering::AcqRel) {
                    Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                } else {
                    request.timeout_reply.clone()
                });
            }
            () = registration.waiter.woken() => {
                poll = POLL_MIN;
                woken = true;
            }
            () = until_deadline => {
                server.blocking.timed_out.fetch_add(1, Ordering::Relaxed);
                break Ok(request.timeout_reply.clone());
            }
            () = tokio::time::sleep(poll), if polling => poll = (poll * 2).min(POLL_MAX),
            () = &mut pause_changed, if held_until.is_some() => {}
            () = pause_over => {}
            r = socket.readable() => {
                if let Err(e) = r {
                    break Err(Ended::Io(e));
                }
                rbuf.reserve(READ_CHUNK);
                match socket.try_read_buf(rbuf) {
                    Ok(0) => break Err(Ended::PeerClosed),
                    // Pipelined input: kept for after the reply, and the
                    // socket still watched, so that a client that sends
                    // more and then closes leaves the queue (Redis reads
                    // on too). Watching stopped here once left such a
                    // client blocked on its keys for good, and the next
                    // push went to it and was lost.
                    Ok(_) => {
                        if over_query_buffer_limit(server, rbuf.len()) {
                            break Err(Ended::QueryBufferLimit);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => break Err(Ended::Io(e)),
                }
            }
        }
    };
    handle.blocked.store(false, Ordering::Relaxed);
    result
}

/// Most messages written to a subscriber per socket write.
const MESSAGE_BATCH: usize = 256;

/// Writes `first` and whatever else is queued for this subscriber (up to
/// [`MESSAGE_BATCH`]), then flushes.
async fn write_messages(
    server: &Arc<Server>,
    socket: &mut TcpStream,
    client: &mut Client,
    wbuf: &mut BytesMut,
    first: crate::pubsub::Message,
) -> Result<(), Ended> {
    let proto = client.protocol;
    if let Some(subs) = client.subscriptions.as_mut() {
        first.reply().encode(proto, wbuf);
        subs.subscriber.written(&first);
        for _ in 1..MESSAGE_BATCH {
            let Ok(m) = subs.queue.try_recv() else {
                break;
            };
            m.reply().encode(proto, wbuf);
            subs.subscriber.written(&m);
        }
    }
    flush(server, socket, client, wbuf).await
}

/// Encodes the MONITOR lines of this monitor's own command, after its reply.
fn own_monitor_lines(client: &mut Client, wbuf: &mut BytesMut) {
    let proto = client.protocol;
    if let Some(subs) = client.subscriptions.as_mut() {
        for m in subs.own_monitor_lines.drain(..) {
            m.reply().encode(proto, wbuf);
        }
    }
}

/// Encodes every message already queued for this subscriber.
fn queued_messages(client: &mut Client, wbuf: &mut BytesMut) {
    let proto = client.protocol;
    if let Some(subs) = client.subscriptions.as_mut() {
        while let Ok(m) = subs.queue.try_recv() {
            m.reply().encode(proto, wbuf);
            subs.subscriber.written(&m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_serving_ends_the_connection_instead_of_its_cleanup() {
        let ended = panic_safe(async {
            let v: Vec<u8> = Vec::new();
            // An out-of-bounds index stands for any bug in a command.
            let i = v.len() + usize::from(std::hint::black_box(1u8));
            Ended::Io(std::io::Error::other(format!("{}", v[i])))
        })
        .await;
        assert!(matches!(ended, Ended::Panicked));
        assert!(matches!(
            panic_safe(async { Ended::Quit }).await,
            Ended::Quit
        ));
    }
}
