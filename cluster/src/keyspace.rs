//! The keyspace: Redis databases of string keys, stored through the engine.
//!
//! This is the only door from the command layer to data. Today it serves a
//! cluster of one: every key is owned by the local engine. Keys are encoded
//! as `[namespace][token][key]` (see [`crate::token`]), values as records
//! (see [`crate::record`]).
//!
//! Writes become visible when [`Keyspace::write`] returns and durable when
//! the returned [`Ack`] has been awaited with [`Keyspace::durable`]; the
//! connection awaits once per batch of pipelined commands, so one WAL write
//! (and under `appendfsync always` one fsync) serves the whole batch, as
//! Redis's AOF does before it sends replies.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringkv_engine::{Engine, Options, SeqNo, Value, WriteBatch, WritePressure};

use crate::error::{Error, Result};
use crate::locks::{KeyLocks, KeysGuard};
use crate::namespace::Namespaces;
use crate::record::Record;
use crate::token::{self, KEY_PREFIX_LEN};

/// A string value and its absolute expiry (unix ms, 0 = none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Bytes,
    /// When it expires (unix ms), or 0.
    pub expire_at_ms: u64,
}

impl Entry {
    /// A value that never expires.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Entry {
            value: value.into(),
            expire_at_ms: 0,
        }
    }

    /// A value expiring at `expire_at_ms` (0 = never).
    pub fn with_expiry(value: impl Into<Bytes>, expire_at_ms: u64) -> Self {
        Entry {
            value: value.into(),
            expire_at_ms,
        }
    }
}

/// One change in an atomic [`Keyspace::write`].
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// The cursor to continue from; 0 when the scan is complete.
    pub cursor: u64,
    /// Keys visited on this page that the filter accepted.
    pub keys: Vec<Bytes>,
}

struct Inner {
    engine: Engine,
    namespaces: Arc<Namespaces>,
    locks: KeyLocks,
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
        options.compaction_filter = Some(namespaces.filter());
        let clock = Arc::clone(&options.clock);
        let engine = Engine::open(dir, options)?;
        namespaces.load(&engine)?;
        Ok(Keyspace {
            inner: Arc::new(Inner {
                engine,
                namespaces,
                locks: KeyLocks::default(),
                databases,
                clock,
            }),
        })
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

    /// The live value of `key` in `db`, or `None` if absent or expired.
    pub async fn get(&self, db: u32, key: &[u8]) -> Result<Option<Entry>> {
        let ekey = token::engine_key(self.namespace(db)?, key);
        match self.inner.engine.get(&ekey)? {
            None => Ok(None),
            Some(v) => {
                let rec = Record::decode(&v.data, key)?;
                Ok(Some(Entry {
                    value: rec.payload,
                    expire_at_ms: v.expire_at_ms,
                }))
            }
        }
    }

    /// Whether `key` exists (and has not expired) in `db`.
    pub async fn exists(&self, db: u32, key: &[u8]) -> Result<bool> {
        Ok(self.get(db, key).await?.is_some())
    }

    /// Locks `keys` against other writers on this node until the guard drops.
    /// Take it before reading for a read-modify-write, release after `write`.
    pub fn lock<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
    ) -> impl std::future::Future<Output = KeysGuard> + Send + '_ {
        // Hash eagerly so the returned future holds only plain tokens.
        let tokens: Vec<u64> = keys.into_iter().map(token::token).collect();
        self.inner.locks.lock(tokens)
    }

    /// Applies `writes` atomically. Waits first while the engine applies
    /// back-pressure (counted as stall time).
    pub async fn write(&self, writes: Vec<Write>) -> Result<Ack> {
        if writes.is_empty() {
            return Ok(Ack::NONE);
        }
        self.admit_write().await;
        let mut batch = WriteBatch::new();
        for w in writes {
            match w {
                Write::Put { db, key, entry } => {
                    let value = Record::string(entry.value).encode();
                    batch.put(
                        token::engine_key(self.namespace(db)?, &key),
                        Value::with_expiry(value, entry.expire_at_ms),
                    );
                }
                Write::Delete { db, key } => {
                    batch.delete(token::engine_key(self.namespace(db)?, &key));
                }
            }
        }
        Ok(Ack(self.inner.engine.write(batch)?))
    }

    /// Stores one value.
    pub async fn put(&self, db: u32, key: Bytes, entry: Entry) -> Result<Ack> {
        self.write(vec![Write::Put { db, key, entry }]).await
    }

    /// Removes one key.
    pub async fn delete(&self, db: u32, key: Bytes) -> Result<Ack> {
        self.write(vec![Write::Delete { db, key }]).await
    }

    async fn admit_write(&self) {
        let engine = &self.inner.engine;
        let started = Instant::now();
        let mut waited = false;
        loop {
            match engine.write_pressure() {
                WritePressure::Normal => break,
                WritePressure::Slowdown { delay } => {
                    tokio::time::sleep(delay).await;
                    waited = true;
                    break;
                }
                WritePressure::Stop => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    waited = true;
                }
            }
        }
        if waited {
            engine.record_stall(started.elapsed());
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

    /// Gives each database in `dbs` a fresh, empty namespace (FLUSHDB,
    /// FLUSHALL). The old data is reclaimed by compaction.
    pub async fn flush(&self, dbs: &[u32]) -> Result<Ack> {
        for &db in dbs {
            self.namespace(db)?;
        }
        Ok(Ack(self.inner.namespaces.renew(&self.inner.engine, dbs)?))
    }

    /// Visits up to `count` keys of `db` from ring position `cursor`, keeping
    /// those `accept` takes. Keys sharing the last visited token are
    /// finished in the same page, so the returned cursor (the next token) is
    /// a clean boundary: keys present for the whole scan are returned at
    /// least once, as Redis promises.
    pub async fn scan(
        &self,
        db: u32,
        cursor: u64,
        count: usize,
        mut accept: impl FnMut(&[u8], &Entry) -> bool,
    ) -> Result<ScanPage> {
        let ns = self.namespace(db)?;
        let lower = token::position(ns, cursor);
        let upper = token::namespace_prefix(ns.wrapping_add(1));
        let iter =
            self.inner
                .engine
                .iter(Bound::Included(&lower), Bound::Excluded(&upper), None)?;
        let mut page = ScanPage::default();
        let mut visited = 0usize;
        let mut last_token = None;
        for item in iter {
            let (ekey, value) = item?;
            let Some((_, tok, user)) = token::split_engine_key(&ekey) else {
                continue;
            };
            if visited >= count.max(1) && last_token != Some(tok) && tok != 0 {
                page.cursor = tok;
                return Ok(page);
            }
            visited += 1;
            last_token = Some(tok);
            let rec = Record::decode(&value.data, user)?;
            let entry = Entry {
                value: rec.payload,
                expire_at_ms: value.expire_at_ms,
            };
            if accept(user, &entry) {
                page.keys.push(ekey.slice(KEY_PREFIX_LEN..));
            }
        }
        Ok(page)
    }

    /// Calls `visit(key, expire_at_ms)` for every live key of `db`, in ring
    /// order, until it returns false. Runs on a blocking thread: a full pass
    /// reads the whole database.
    pub async fn for_each_key<F>(&self, db: u32, visit: F) -> Result<()>
    where
        F: FnMut(&[u8], u64) -> bool + Send + 'static,
    {
        let ns = self.namespace(db)?;
        let engine = self.inner.engine.clone();
        let run = move || -> Result<()> {
            let mut visit = visit;
            let prefix = token::namespace_prefix(ns);
            let upper = token::namespace_prefix(ns.wrapping_add(1));
            for item in engine.iter(Bound::Included(&prefix), Bound::Excluded(&upper), None)? {
                let (ekey, value) = item?;
                if let Some(user) = ekey.get(KEY_PREFIX_LEN..) {
                    if !visit(user, value.expire_at_ms) {
                        break;
                    }
                }
            }
            Ok(())
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// A random live key of `db`: the first key at or after a random ring
    /// position, wrapping around.
    pub async fn random_key(&self, db: u32) -> Result<Option<Bytes>> {
        let start: u64 = rand::random();
        for cursor in [start, 0] {
            let page = self.scan(db, cursor, 1, |_, _| true).await?;
            if let Some(k) = page.keys.into_iter().next() {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }
}
