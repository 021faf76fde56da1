//! The keyspace: this node's local store of Redis databases of string
//! keys, kept in the engine.
//!
//! Keys are encoded as `[namespace][token][key]` (see [`crate::token`]),
//! values as versioned records (see [`crate::version`], record format 2 in
//! `docs/formats/record.md`; format 1 is still read). The command layer
//! reaches it through the [`crate::coordinator`], which decides which
//! replicas a key lives on.
//!
//! Writes ([`Keyspace::update_record`]) become visible when they return and
//! durable when the returned [`Ack`] has been awaited with
//! [`Keyspace::durable`]; the connection awaits once per batch of pipelined
//! commands, so one WAL write (and under `appendfsync always` one fsync)
//! serves the whole batch, as Redis's AOF does before it sends replies.
//!
//! Submodules: [`ranges`] (records of token ranges for anti-entropy and
//! streaming, and prefix scans of the node-local metadata); `split` (large
//! collections stored as a header and one record per member, record format
//! 3, materialised for every reader that asks for the record) and
//! `partial` (on a node alone, writes and reads that touch only the members
//! they need: `need` says which, `write_need` which a write needs).

mod early_read;
#[cfg(test)]
mod expiry_tests;
mod key_scan;
mod lex_window;
mod list_end_windows;
mod list_ends;
mod list_index;
mod markers;
mod need;
mod partial;
mod partial_plan;
mod per_collection;
#[cfg(test)]
mod point_read_tests;
mod prefetch;
pub mod ranges;
mod rank_pieces;
#[cfg(test)]
mod rank_pieces_tests;
mod reclaim;
mod sample_names;
mod sample_pool;
mod score_index;
#[cfg(test)]
mod score_index_tests;
mod split;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod split_write_tests;
mod write_need;
mod zset_ranks;

pub use lex_window::{LexBound, LexWindow};
pub use need::Need;
pub use partial::{PartialRead, PartialTarget, random_picks};
pub use reclaim::ReclaimStats;
pub use score_index::ScoreWindow;
pub(crate) use write_need::{WriteNeed, collection_need, replies_length};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringkv_engine::{Engine, Options, SeqNo, Value, WriteBatch, WritePressure};

use crate::error::{Error, Result};
use crate::locks::{KeyLocks, KeysGuard};
use crate::namespace::Namespaces;
use crate::version::{Kind, Members, Payload, Siblings, View};

/// How long a tombstone is kept before compaction may purge it (10 days):
/// longer than any replica may stay away and still be repaired, so a
/// delete cannot be undone by a stale copy coming back.
pub const DEFAULT_GC_GRACE_MS: u64 = 10 * 24 * 3600 * 1000;

/// The value a plain read sees: the last-write-wins sibling, if it is a live
/// value (not a tombstone, not expired).
pub fn live_entry(record: &Siblings, now_ms: u64) -> Option<Entry> {
    match record.view(now_ms) {
        View::Absent => None,
        View::Plain(sib) => Some(Entry::with_expiry(
            crate::version::payload_bytes(&sib.payload)?,
            sib.expire_at_ms,
        )),
        View::Collection {
            collection,
            expire_at_ms,
        } => Some(Entry::collection(
            ValueType::of_kind(collection.kind()),
            collection.to_members(),
            expire_at_ms,
        )),
    }
}

/// Decodes a key's stored value as the record it stands for: record
/// format 2 (siblings), format 1 (one plain value, written before versions
/// existed), or a split collection's header (format 3), whose members are
/// read at one snapshot with a fresh copy of the header.
fn decode_record(
    engine: &Engine,
    ns: u32,
    ekey: &[u8],
    stored: &Value,
    key: &[u8],
) -> Result<Siblings> {
    match split::decode_stored(stored, key)? {
        split::Stored::Inline(s) => Ok(s),
        split::Stored::Split(_) => Ok(read_stored(engine, ns, ekey, key)?
            .map(|(record, _)| record)
            .unwrap_or_default()),
    }
}

/// The record at `ekey` and, when it is stored split, its header; the
/// header and the members are read at one snapshot.
fn read_stored(
    engine: &Engine,
    ns: u32,
    ekey: &[u8],
    key: &[u8],
) -> Result<Option<(Siblings, Option<crate::version::codec::SplitHeader>)>> {
    let Some(v) = engine.get(ekey)? else {
        return Ok(None);
    };
    if let split::Stored::Inline(s) = split::decode_stored(&v, key)? {
        return Ok(Some((s, None)));
    }
    let snapshot = engine.snapshot();
    let Some(v) = engine.get_at(ekey, &snapshot)? else {
        return Ok(None);
    };
    match split::decode_stored(&v, key)? {
        split::Stored::Inline(s) => Ok(Some((s, None))),
        split::Stored::Split(h) => {
            let record = split::materialize(engine, &snapshot, ns, key, &h)?;
            Ok(Some((record, Some(h))))
        }
    }
}

/// What a key scan sees of a stored value: its live entry, without
/// reading a split collection's members (an entry with none: scans look
/// only at the type and the expiry). `now_ms` is called only if the entry
/// can have expired: a value without an expiry needs no clock read.
fn scanned_entry(
    stored: &Value,
    key: &[u8],
    now_ms: impl FnOnce() -> u64,
) -> Result<Option<Entry>> {
    // A string of one plain value (most keys): its value without decoding
    // the record whole. `live_entry` of the whole record reads the same.
    if let Some((expire_at_ms, value)) = crate::version::codec::peek_plain_value(&stored.data) {
        let expired = expire_at_ms != 0 && expire_at_ms <= now_ms();
        return Ok((!expired).then(|| Entry::with_expiry(value, expire_at_ms)));
    }
    let now_ms = now_ms();
    match split::decode_stored(stored, key)? {
        split::Stored::Inline(s) => Ok(live_entry(&s, now_ms)),
        split::Stored::Split(h) => {
            let expired = h.expire_at_ms != 0 && h.expire_at_ms <= now_ms;
            Ok((!expired && h.count > 0).then(|| {
                Entry::collection(
                    ValueType::of_kind(h.kind),
                    Members::default(),
                    h.expire_at_ms,
                )
            }))
        }
    }
}

use crate::token;

/// The Redis type of a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A string (values, counters, HyperLogLogs).
    String,
    /// A hash.
    Hash,
    /// A set.
    Set,
    /// A sorted set.
    ZSet,
    /// A list.
    List,
}

impl ValueType {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::List => "list",
        }
    }

    /// The collection kind of a hash or set.
    pub fn kind(self) -> Option<Kind> {
        match self {
            ValueType::String => None,
            ValueType::Hash => Some(Kind::Hash),
            ValueType::Set => Some(Kind::Set),
            ValueType::ZSet => Some(Kind::ZSet),
            ValueType::List => Some(Kind::List),
        }
    }

    /// The type of a collection kind.
    pub fn of_kind(kind: Kind) -> ValueType {
        match kind {
            Kind::Hash => ValueType::Hash,
            Kind::Set => ValueType::Set,
            Kind::ZSet => ValueType::ZSet,
            Kind::List => ValueType::List,
        }
    }
}

/// A key's value and its absolute expiry (unix ms, 0 = none): a string's
/// bytes in `value`, or a hash's, set's or sorted set's `members` (then
/// `value` is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The string value (empty for a collection).
    pub value: Bytes,
    /// When it expires (unix ms), or 0.
    pub expire_at_ms: u64,
    /// The value's type.
    pub kind: ValueType,
    /// The members of a collection (`None` for a string).
    pub members: Option<Members>,
}

impl Entry {
    /// A string that never expires.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Entry::with_expiry(value, 0)
    }

    /// A string expiring at `expire_at_ms` (0 = never).
    pub fn with_expiry(value: impl Into<Bytes>, expire_at_ms: u64) -> Self {
        Entry {
            value: value.into(),
            expire_at_ms,
            kind: ValueType::String,
            members: None,
        }
    }

    /// A hash, set or sorted set with these members.
    pub fn collection(kind: ValueType, members: Members, expire_at_ms: u64) -> Self {
        Entry {
            value: Bytes::new(),
            expire_at_ms,
            kind,
            members: Some(members),
        }
    }
}

/// One change a command makes; the coordinator applies each on the key's replicas.
#[derive(Clone, Debug)]
pub enum Write {
    /// Store `entry` under `key` in database `db`.
    Put {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
        /// New value and expiry.
        entry: Entry,
    },
    /// Remove `key` from database `db`.
    Delete {
        /// Database index.
        db: u32,
        /// User key.
        key: Bytes,
    },
}

/// Proof that writes were applied; await [`Keyspace::durable`] on it before
/// acknowledging them to a client. Acks combine with `max`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ack(SeqNo);

impl Ack {
    /// Nothing to wait for.
    pub const NONE: Ack = Ack(0);
}

/// One page of a SCAN.
/// What [`Keyspace::update_record`] did.
#[derive(Debug)]
pub struct Updated<R> {
    /// What the update function returned.
    pub out: R,
    /// The record after the update.
    pub record: Siblings,
    /// Its encoding as stored, when it changed: callers that ship the
    /// record to peers reuse it instead of encoding (copying) the values
    /// once more.
    pub stored: Option<Bytes>,
    /// The durability to await (none when nothing changed).
    pub ack: Ack,
}

impl<R> Updated<R> {
    /// A write that changed nothing: `record` as it was, nothing to await.
    pub fn unchanged(out: R, record: Siblings) -> Self {
        Updated {
            out,
            record,
            stored: None,
            ack: Ack::NONE,
        }
    }

    /// The record's encoding: the stored one, or a fresh one if unchanged.
    pub fn encoded(&self) -> Bytes {
        self.stored.clone().unwrap_or_else(|| self.record.encode())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// The cursor to continue from; 0 when the scan is complete.
    pub cursor: u64,
    /// Keys visited on this page that the filter accepted.
    pub keys: Vec<Bytes>,
    /// The ring token of each key in `keys`.
    pub tokens: Vec<u64>,
}

struct Inner {
    engine: Engine,
    namespaces: Arc<Namespaces>,
    locks: KeyLocks,
    /// Serialise read-modify-write of one key's stored record (shared
    /// with the reclaimer, which decides under it whether a generation is
    /// dead).
    record_locks: Arc<KeyLocks>,
    /// Deletes the member records of replaced split collections.
    reclaimer: reclaim::Reclaimer,
    /// Members proposed for random picks from large collections.
    samples: sample_pool::SamplePools,
    /// Copies of split sorted sets' score order, for ranks.
    ranks: zset_ranks::RankOrders,
    /// The positions nearest a split list's ends, for pops.
    list_ends: list_end_windows::ListEndWindows,
    /// Shared with the compaction filter, which keeps expired records as
    /// markers for this long past their expiry.
    gc_grace_ms: Arc<AtomicU64>,
    /// Shared with the compaction filter: whether expired records are kept
    /// as markers (not on a cluster of one).
    keep_markers: Arc<std::sync::atomic::AtomicBool>,
    databases: u32,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Shared handle to the keyspace; cheap to clone.
#[derive(Clone)]
pub struct Keyspace {
    inner: Arc<Inner>,
}

impl Keyspace {
    /// Opens (or creates) the engine in `dir` and the database namespaces.
    pub fn open(dir: impl AsRef<Path>, mut options: Options, databases: u32) -> Result<Keyspace> {
        let namespaces = Namespaces::new(databases);
        let gc_grace_ms = Arc::new(AtomicU64::new(DEFAULT_GC_GRACE_MS));
        let keep_markers = Arc::new(std::sync::atomic::AtomicBool::new(true));
        options.compaction_filter = Some(Arc::new(markers::KeyspaceFilter {
            namespaces: namespaces.filter(),
            grace_ms: Arc::clone(&gc_grace_ms),
            keep_markers: Arc::clone(&keep_markers),
        }));
        // Expired records stay readable: they are the markers of what
        // expired, and every reader here judges expiry by the siblings'.
        options.hide_expired = false;
        let clock = Arc::clone(&options.clock);
        let engine = Engine::open(dir, options)?;
        namespaces.load(&engine)?;
        let record_locks = Arc::new(KeyLocks::default());
        let reclaimer = reclaim::Reclaimer::start(
            engine.clone(),
            Arc::clone(&clock),
            Arc::clone(&record_locks),
        );
        Ok(Keyspace {
            inner: Arc::new(Inner {
                engine,
                namespaces,
                locks: KeyLocks::default(),
                record_locks,
                reclaimer,
                samples: sample_pool::SamplePools::default(),
                ranks: zset_ranks::RankOrders::default(),
                list_ends: list_end_windows::ListEndWindows::default(),
                gc_grace_ms,
                keep_markers,
                databases,
                clock,
            }),
        })
    }

    /// How many walks drew pools of random picks or copied a collection's
    /// member names for them, and how many members the pools proposed,
    /// for INFO and metrics.
    pub fn sample_stats(&self) -> (u64, u64) {
        let pools = &self.inner.samples;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        (
            pools.draws.load(relaxed) + pools.names.made.load(relaxed),
            pools.proposed.load(relaxed),
        )
    }

    /// How many walks copied a split sorted set's order or a split list's
    /// positions (`zset_ranks`, `list_index`), for INFO and metrics.
    pub fn order_copies(&self) -> u64 {
        self.inner
            .ranks
            .walks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many walks from a large list's end kept the positions nearest
    /// it for pops, and how many pushes and pops took their end elements
    /// from those (`list_end_windows`), for INFO and metrics.
    pub fn list_end_stats(&self) -> (u64, u64) {
        let windows = &self.inner.list_ends;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        (windows.walks.load(relaxed), windows.served.load(relaxed))
    }

    /// How many walks cut a sorted set too large for a copy of its order
    /// into counted pieces (`rank_pieces`), and how many pieces grown by
    /// writes were cut again, for INFO and metrics.
    pub fn rank_piece_stats(&self) -> (u64, u64) {
        let pieces = &self.inner.ranks.pieces;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        (pieces.walks.load(relaxed), pieces.cuts.load(relaxed))
    }

    /// What the background deletion of replaced collection members has done.
    pub fn reclaim_stats(&self) -> &ReclaimStats {
        &self.inner.reclaimer.stats
    }

    /// The local storage engine (for statistics, SAVE, shutdown).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Number of databases.
    pub fn databases(&self) -> u32 {
        self.inner.databases
    }

    /// Current time in unix milliseconds, by the clock expiry is judged with.
    pub fn now_ms(&self) -> u64 {
        (self.inner.clock)()
    }

    fn namespace(&self, db: u32) -> Result<u32> {
        if db >= self.inner.databases {
            return Err(Error::DbOutOfRange {
                db,
                databases: self.inner.databases,
            });
        }
        Ok(self.inner.namespaces.of(db))
    }

    /// The live value of `key` in `db` on this node, or `None` if absent,
    /// deleted or expired. Siblings resolve by last-write-wins.
    pub async fn get(&self, db: u32, key: &[u8]) -> Result<Option<Entry>> {
        let now = self.now_ms();
        Ok(self.read_record(db, key)?.and_then(|s| live_entry(&s, now)))
    }

    /// Whether `key` exists (and has not expired) in `db` on this node.
    pub async fn exists(&self, db: u32, key: &[u8]) -> Result<bool> {
        Ok(self.get(db, key).await?.is_some())
    }

    /// Locks `keys` against other commands on this node until the guard
    /// drops. Take it before reading for a read-modify-write, release after
    /// the write.
    pub fn lock<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> impl std::future::Future<Output = KeysGuard> + Send + '_ {
        // Hash eagerly so the returned future holds only plain tokens.
        let tokens: Vec<u64> = keys.into_iter().map(token::token).collect();
        self.inner.locks.lock(tokens)
    }

    /// Holds `key`'s record lock for this task (a connection inside
    /// [`holding_scope`](crate::locks::holding_scope)) until the hold drops: its
    /// writes of `key` meanwhile take the lock at no cost, and no other
    /// writer of the key (or of a key sharing its stripe) runs in between.
    /// `None` when this task cannot hold it (outside the scope, or holding
    /// one already). The holder must write no other key while it holds
    /// this one.
    pub async fn hold_key(&self, key: &[u8]) -> Option<crate::locks::KeyHold> {
        self.inner.record_locks.hold(token::token(key)).await
    }

    /// A node-local metadata value (cluster identity, tokens), stored in
    /// the reserved namespace beside the database table.
    pub fn meta_get(&self, name: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .inner
            .engine
            .get(&crate::namespace::meta_key(name))?
            .map(|v| v.data))
    }

    /// Stores a node-local metadata value durably.
    pub async fn meta_put(&self, name: &[u8], value: Bytes) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(crate::namespace::meta_key(name), Value::new(value));
        let seq = self.inner.engine.write(batch)?;
        self.inner.engine.durable(seq).await?;
        Ok(())
    }

    /// Writes and fsyncs everything written so far, whatever `appendfsync`
    /// says: for metadata that must be on disk before it is relied on.
    pub async fn sync(&self) -> Result<()> {
        let engine = self.inner.engine.clone();
        tokio::task::spawn_blocking(move || engine.sync_wal())
            .await
            .map_err(|e| Error::Task {
                what: "WAL sync",
                cause: e.to_string(),
            })??;
        Ok(())
    }

    /// This node's record of `key` in `db` (every sibling, tombstones included).
    pub fn read_record(&self, db: u32, key: &[u8]) -> Result<Option<Siblings>> {
        let ns = self.namespace(db)?;
        let ekey = token::engine_key(ns, key);
        Ok(read_stored(&self.inner.engine, ns, &ekey, key)?.map(|(record, _)| record))
    }

    /// This node's live entry of `key` as a key scan sees it: a string
    /// whole, a split collection without its members (its type and
    /// expiry). Enough for a string command to answer `-WRONGTYPE`, or
    /// MGET nil, without reading a large collection.
    pub fn read_shallow(&self, db: u32, key: &[u8]) -> Result<Option<Entry>> {
        let ns = self.namespace(db)?;
        let ekey = token::engine_key(ns, key);
        match self.inner.engine.get(&ekey)? {
            Some(v) => scanned_entry(&v, key, || self.now_ms()),
            None => Ok(None),
        }
    }

    /// Read-modify-write of this node's record of `key`: `f` changes the
    /// siblings (an empty set when there is no record) and returns a result;
    /// the record is written back only if it changed. Serialised per key
    /// on this node by the record locks (taken after any command lock: the
    /// lock order is command locks, then record locks).
    pub async fn update_record<R>(
        &self,
        db: u32,
        key: &[u8],
        f: impl FnOnce(&mut Siblings, u64) -> R,
    ) -> Result<Updated<R>> {
        let ns = self.namespace(db)?;
        let _guard = self.inner.record_locks.lock_one(token::token(key)).await;
        let ekey = token::engine_key(ns, key);
        let stored = self.stored(&ekey, key)?;
        let now = self.now_ms();
        self.update_stored(ns, key, ekey, stored, f, now).await
    }

    /// Merges `incoming` (another replica's record: a MERGE, a hint, read
    /// repair, anti-entropy) into this node's record of `key`. When this
    /// node holds a large collection stored split, two merges need none of
    /// its members: `incoming` holds nothing it has not seen (an older
    /// record: nothing changes), or `incoming` supersedes it (a DEL, a SET
    /// or a small collection written by a coordinator that had seen it:
    /// the merge is `incoming`, stored at once, and the reclaimer deletes
    /// the members in the background). Otherwise the whole record is
    /// merged. The result's `record` is only what was read.
    pub async fn merge_record(
        &self,
        db: u32,
        key: &[u8],
        incoming: &Siblings,
    ) -> Result<Updated<()>> {
        let ns = self.namespace(db)?;
        let _guard = self.inner.record_locks.lock_one(token::token(key)).await;
        let ekey = token::engine_key(ns, key);
        let stored = self.stored(&ekey, key)?;
        let now = self.now_ms();
        if let Some(split::Stored::Split(header)) = &stored {
            // The sibling the header stands for, without its members: a
            // merge drops it when an incoming sibling's clock covers it,
            // whatever it holds.
            let local = split::sibling_of(header, Payload::Tombstone);
            let mut after = local.clone();
            after.merge(incoming);
            if after == local {
                return Ok(Updated::unchanged((), local));
            }
            let superseded = after.iter().all(|s| s.clock != header.clock);
            // A large collection in `after` would be stored split, by a
            // difference with members this path has not read.
            let small = split::sole_collection(&after)
                .is_none_or(|(_, c)| c.len() < split::inline_at(c.kind()));
            if superseded && small {
                return self
                    .store(ns, key, ekey, Some(header), &local, after, (), now)
                    .await;
            }
            if superseded {
                // The incoming record has seen every write this one holds
                // (a hint's or a repair's whole record): it is the merge,
                // and the members are read only to write the difference.
                let snapshot = self.inner.engine.snapshot();
                let before = split::materialize(&self.inner.engine, &snapshot, ns, key, header)?;
                return self
                    .store(ns, key, ekey, Some(header), &before, after, (), now)
                    .await;
            }
        }
        self.update_stored(ns, key, ekey, stored, |sibs, _| sibs.merge(incoming), now)
            .await
    }

    /// What the engine holds at `ekey` for `key`: an inline record or a
    /// split collection's header.
    fn stored(&self, ekey: &[u8], key: &[u8]) -> Result<Option<split::Stored>> {
        match self.inner.engine.get(ekey)? {
            Some(v) => Ok(Some(split::decode_stored(&v, key)?)),
            None => Ok(None),
        }
    }

    /// The rest of [`Keyspace::update_record`], under the key's record
    /// lock, once its stored value is read; `now` is the write's time.
    #[allow(
        clippy::too_many_arguments,
        reason = "the record's identity, its stored form, the change and its time"
    )]
    async fn update_stored<R>(
        &self,
        ns: u32,
        key: &[u8],
        ekey: Bytes,
        stored: Option<split::Stored>,
        f: impl FnOnce(&mut Siblings, u64) -> R,
        now: u64,
    ) -> Result<Updated<R>> {
        let (before, old_header) = match stored {
            None => (Siblings::default(), None),
            Some(split::Stored::Inline(s)) => (s, None),
            Some(split::Stored::Split(h)) => {
                // No other writer runs under the record lock: members read
                // now belong to this header.
                let snapshot = self.inner.engine.snapshot();
                let record = split::materialize(&self.inner.engine, &snapshot, ns, key, &h)?;
                (record, Some(h))
            }
        };
        let heavy = old_header
            .as_ref()
            .is_some_and(|h| h.count >= crate::cpu_bound::HEAVY_MEMBERS);
        let (after, out, unchanged) = crate::cpu_bound::heavy_if(heavy, || {
            let mut after = before.clone();
            let out = f(&mut after, now);
            let unchanged = after == before;
            (after, out, unchanged)
        });
        if unchanged {
            return Ok(Updated::unchanged(out, after));
        }
        self.store(ns, key, ekey, old_header.as_ref(), &before, after, out, now)
            .await
    }

    /// Stores `after` for `key`, whose stored form was `old` (its header,
    /// when split) holding `before`: inline or split by its size, only
    /// the members that changed rewritten, a replaced generation of
    /// members queued for the reclaimer, at `now`. Called under the record
    /// lock.
    #[allow(
        clippy::too_many_arguments,
        reason = "the record's identity and both of its states"
    )]
    async fn store<R>(
        &self,
        ns: u32,
        key: &[u8],
        ekey: Bytes,
        old: Option<&crate::version::codec::SplitHeader>,
        before: &Siblings,
        after: Siblings,
        out: R,
        now: u64,
    ) -> Result<Updated<R>> {
        self.admit_write().await;
        let mut batch = WriteBatch::new();
        let expiry = markers::engine_expiry(&after, self.gc_grace_ms());
        let heavy = old.is_some_and(|h| h.count >= crate::cpu_bound::HEAVY_MEMBERS)
            || crate::cpu_bound::is_large(&after);
        let placement = crate::cpu_bound::heavy_if(heavy, || {
            split::place(&mut batch, ns, key, old, before, &after, expiry, now)
        });
        // The stored bytes are the record's encoding unless it is split.
        let stored = (!placement.split).then(|| placement.main.data.clone());
        batch.put(ekey, placement.main);
        let seq = self.inner.engine.write(batch)?;
        if placement.reclaims {
            self.inner.reclaimer.wake();
        }
        Ok(Updated {
            out,
            record: after,
            stored,
            ack: Ack(seq),
        })
    }

    async fn admit_write(&self) {
        let engine = &self.inner.engine;
        // The clock is read only once the write has to wait.
        let mut started: Option<Instant> = None;
        loop {
            match engine.write_pressure() {
                WritePressure::Normal => break,
                WritePressure::Slowdown { delay } => {
                    started.get_or_insert_with(Instant::now);
                    tokio::time::sleep(delay).await;
                    break;
                }
                WritePressure::Stop => {
                    started.get_or_insert_with(Instant::now);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        if let Some(t) = started {
            engine.record_stall(t.elapsed());
        }
    }

    /// Resolves when every write up to `ack` is durable per `appendfsync`.
    pub async fn durable(&self, ack: Ack) -> Result<()> {
        if ack == Ack::NONE {
            return Ok(());
        }
        self.inner.engine.durable(ack.0).await?;
        Ok(())
    }

    /// [`Keyspace::durable`], letting the other ready tasks run first
    /// through tokio's `yield_now`, which defers the task until its worker
    /// has nothing else to run, instead of waking an idle worker to steal
    /// it.
    pub async fn durable_deferred(&self, ack: Ack) -> Result<()> {
        if ack == Ack::NONE {
            return Ok(());
        }
        let durable = self.inner.engine.durable(ack.0);
        if durable.would_yield() {
            tokio::task::yield_now().await;
        }
        durable.without_yield().await?;
        Ok(())
    }

    /// Exchanges the contents of databases `a` and `b` (SWAPDB): their
    /// namespaces trade places, at once whatever they hold. This node's
    /// alone: a cluster does not swap (its replicas could disagree on
    /// which database a concurrent write went to).
    pub fn swap_dbs(&self, a: u32, b: u32) -> Result<Ack> {
        self.namespace(a)?;
        self.namespace(b)?;
        if a == b {
            return Ok(Ack::NONE);
        }
        Ok(Ack(self.inner.namespaces.swap(&self.inner.engine, a, b)?))
    }

    /// Gives each database in `dbs` a fresh, empty namespace (FLUSHDB,
    /// FLUSHALL). The old data is reclaimed by compaction.
    pub async fn flush(&self, dbs: &[u32]) -> Result<Ack> {
        for &db in dbs {
            self.namespace(db)?;
        }
        Ok(Ack(self.inner.namespaces.renew(&self.inner.engine, dbs)?))
    }
}
