//! Database namespaces: each Redis database (SELECT 0..n) lives in its own
//! 32-bit namespace, the first four bytes of every engine key.
//!
//! FLUSHDB and FLUSHALL are O(1): they give the database a fresh namespace
//! and retire the old one. Nothing reads a retired namespace again, and the
//! engine's compaction filter ([`NamespaceFilter`]) deletes its entries as
//! compaction passes over them. Namespace 0 is reserved for this table.
//!
//! Stored in namespace 0 (see `docs/formats/record.md`):
//! `ns/db/<db u32 BE>` → `<namespace u32 BE>` and `ns/next` → `<u32 BE>`.
//!
//! Crash safety: a flush writes the new mapping in one engine batch before
//! any key is written under the new namespace, and the WAL is ordered, so a
//! recovered table never misses a namespace that holds acknowledged keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use ringkv_engine::{CompactionFilter, Engine, FilterDecision, SeqNo, Value, WriteBatch};

use crate::error::{Error, Result};

/// Set in a database's namespace to name the namespace of its split
/// collections' member records (`docs/formats/record.md` §3.6).
pub const MEMBER_NS_BIT: u32 = 0x8000_0000;

/// Set with [`MEMBER_NS_BIT`] to name the namespace of split sorted sets'
/// score-index entries (`docs/formats/record.md` §3.6).
pub const SCORE_NS_BIT: u32 = 0x4000_0000;

/// The greatest namespace a database is given: the two top bits name the
/// member and score-index namespaces that go with it.
const LAST_DB_NAMESPACE: u32 = SCORE_NS_BIT - 1;

/// The reserved namespace holding this table.
pub const META_NAMESPACE: u32 = 0;

const DB_KEY_PREFIX: &[u8] = b"ns/db/";
const NEXT_KEY: &[u8] = b"ns/next";

/// The engine key of a node-local metadata entry named `suffix`.
pub(crate) fn meta_key(suffix: &[u8]) -> Bytes {
    let mut k = BytesMut::with_capacity(4 + suffix.len() + 4);
    k.put_u32(META_NAMESPACE);
    k.put_slice(suffix);
    k.freeze()
}

fn db_key(db: u32) -> Bytes {
    let mut suffix = DB_KEY_PREFIX.to_vec();
    suffix.extend_from_slice(&db.to_be_bytes());
    meta_key(&suffix)
}

fn u32_value(v: u32) -> Value {
    Value::new(Bytes::copy_from_slice(&v.to_be_bytes()))
}

fn read_u32(value: &Value, what: &str) -> Result<u32> {
    let bytes: [u8; 4] = value
        .data
        .as_ref()
        .try_into()
        .map_err(|_| Error::CorruptNamespaces {
            what: format!("{what}: expected 4 bytes, found {}", value.data.len()),
        })?;
    Ok(u32::from_be_bytes(bytes))
}

/// The live namespace of every database. Shared with the compaction filter.
pub struct Namespaces {
    /// Current namespace per database. Written only under `alloc`.
    current: Vec<AtomicU32>,
    /// Set once the table has been read from the engine; until then the
    /// filter keeps everything.
    loaded: AtomicBool,
    /// Serialises allocation of new namespaces; holds the next free one.
    alloc: Mutex<u32>,
    /// Odd while a SWAPDB rewrites two slots, bumped before and after: a
    /// reader of the slots that overlaps a swap may have seen one
    /// namespace in both, and another in neither.
    swaps: AtomicU64,
}

impl Namespaces {
    /// An unloaded table for `databases` databases; hand [`Namespaces::filter`]
    /// to the engine, open it, then call [`Namespaces::load`].
    pub fn new(databases: u32) -> Arc<Self> {
        Arc::new(Namespaces {
            current: (0..databases).map(|_| AtomicU32::new(u32::MAX)).collect(),
            loaded: AtomicBool::new(false),
            alloc: Mutex::new(0),
            swaps: AtomicU64::new(0),
        })
    }

    /// The compaction filter that deletes entries of retired namespaces.
    pub fn filter(self: &Arc<Self>) -> Arc<dyn CompactionFilter> {
        Arc::new(NamespaceFilter(Arc::clone(self)))
    }

    /// Reads the table from the engine, allocating namespaces for databases
    /// that have none yet (first start, or `databases` raised).
    pub fn load(&self, engine: &Engine) -> Result<()> {
        let mut next_guard = self.alloc.lock();
        let mut next = match engine.get(&meta_key(NEXT_KEY))? {
            Some(v) => read_u32(&v, "ns/next")?,
            None => 1,
        };
        let mut batch = WriteBatch::new();
        for (db, slot) in (0u32..).zip(&self.current) {
            let ns = match engine.get(&db_key(db))? {
                Some(v) => read_u32(&v, "ns/db")?,
                None => {
                    let ns = next;
                    next += 1;
                    batch.put(db_key(db), u32_value(ns));
                    ns
                }
            };
            if ns == META_NAMESPACE || ns >= next {
                return Err(Error::CorruptNamespaces {
                    what: format!("database {db} maps to namespace {ns}, next free is {next}"),
                });
            }
            slot.store(ns, Ordering::Release);
        }
        // Databases beyond `databases` (it was higher before) are not live,
        // so compaction would delete them: refused while one holds data.
        let databases = u32::try_from(self.current.len()).unwrap_or(u32::MAX);
        let mut db = databases;
        let mut holding = None;
        while let Some(v) = engine.get(&db_key(db))? {
            let ns = read_u32(&v, "ns/db")?;
            let lower = crate::token::namespace_prefix(ns);
            let upper = crate::token::namespace_prefix(ns.saturating_add(1));
            let mut keys = engine.iter(
                std::ops::Bound::Included(&lower[..]),
                std::ops::Bound::Excluded(&upper[..]),
                None,
            )?;
            if keys.next().is_some() {
                holding = Some(db);
            }
            db = db.saturating_add(1);
            if db == u32::MAX {
                break;
            }
        }
        if let Some(db) = holding {
            return Err(Error::DatabasesLowered {
                databases,
                db,
                need: db.saturating_add(1),
            });
        }
        if !batch.is_empty() {
            batch.put(meta_key(NEXT_KEY), u32_value(next));
            let seq = engine.write(batch)?;
            engine.wait_durable(seq)?;
        }
        *next_guard = next;
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// The live namespace of `db`. Callers check the range first.
    pub fn of(&self, db: u32) -> u32 {
        self.current
            .get(db as usize)
            .map_or(u32::MAX, |slot| slot.load(Ordering::Acquire))
    }

    /// Gives each database in `dbs` a fresh namespace, retiring the old ones,
    /// in one atomic engine write. Returns its sequence number (await its
    /// durability before acknowledging).
    pub fn renew(&self, engine: &Engine, dbs: &[u32]) -> Result<SeqNo> {
        let mut next = self.alloc.lock();
        let mut batch = WriteBatch::new();
        let mut fresh = Vec::with_capacity(dbs.len());
        if next.saturating_add(dbs.len() as u32) > LAST_DB_NAMESPACE {
            return Err(Error::CorruptNamespaces {
                what: format!("every namespace up to {LAST_DB_NAMESPACE} has been used"),
            });
        }
        for &db in dbs {
            let ns = *next;
            *next += 1;
            batch.put(db_key(db), u32_value(ns));
            fresh.push((db, ns));
        }
        batch.put(meta_key(NEXT_KEY), u32_value(*next));
        let seq = engine.write(batch)?;
        // Publish only after the mapping is in the WAL order ahead of any key
        // written under the new namespace.
        for (db, ns) in fresh {
            if let Some(slot) = self.current.get(db as usize) {
                slot.store(ns, Ordering::Release);
            }
        }
        Ok(seq)
    }

    /// Exchanges the namespaces of databases `a` and `b` (SWAPDB) in one
    /// atomic engine write; nothing is copied or retired. Returns its
    /// sequence number (await its durability before acknowledging).
    /// Callers check the range first, and keep other commands out
    /// meanwhile: the two slots change one after the other.
    pub fn swap(&self, engine: &Engine, a: u32, b: u32) -> Result<SeqNo> {
        let _alloc = self.alloc.lock();
        let (na, nb) = (self.of(a), self.of(b));
        let mut batch = WriteBatch::new();
        batch.put(db_key(a), u32_value(nb));
        batch.put(db_key(b), u32_value(na));
        let seq = engine.write(batch)?;
        self.swaps.fetch_add(1, Ordering::SeqCst);
        for (db, ns) in [(a, nb), (b, na)] {
            if let Some(slot) = self.current.get(db as usize) {
                slot.store(ns, Ordering::SeqCst);
            }
        }
        self.swaps.fetch_add(1, Ordering::SeqCst);
        Ok(seq)
    }

    /// Whether `ns` (or the database namespace whose member records or
    /// score-index entries it holds, [`MEMBER_NS_BIT`] and maybe
    /// [`SCORE_NS_BIT`] set) is no longer in use.
    fn is_retired(&self, ns: u32) -> bool {
        let ns = if ns & MEMBER_NS_BIT != 0 {
            ns & !(MEMBER_NS_BIT | SCORE_NS_BIT)
        } else {
            ns
        };
        if ns == META_NAMESPACE || !self.loaded.load(Ordering::Acquire) {
            return false;
        }
        // Mid-swap, the slots may name `ns` nowhere for a moment although
        // it stays live: a read that overlaps a swap keeps everything.
        let before = self.swaps.load(Ordering::SeqCst);
        if before % 2 == 1 {
            return false;
        }
        let unused = !self.current.iter().any(|c| c.load(Ordering::SeqCst) == ns);
        unused && self.swaps.load(Ordering::SeqCst) == before
    }
}

/// Compaction filter: entries of retired namespaces are deleted.
struct NamespaceFilter(Arc<Namespaces>);

impl CompactionFilter for NamespaceFilter {
    fn decide(&self, key: &[u8], _value: &[u8], _expire_at_ms: u64) -> FilterDecision {
        match key.first_chunk::<4>() {
            Some(ns) if self.0.is_retired(u32::from_be_bytes(*ns)) => FilterDecision::Delete,
            _ => FilterDecision::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &std::path::Path) -> (Arc<Namespaces>, Engine) {
        let ns = Namespaces::new(4);
        let opts = ringkv_engine::Options {
            compaction_filter: Some(ns.filter()),
            ..ringkv_engine::Options::default()
        };
        let engine = Engine::open(dir, opts).unwrap();
        ns.load(&engine).unwrap();
        (ns, engine)
    }

    #[test]
    fn fewer_databases_than_hold_data_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (ns, engine) = table(dir.path());
            let mut batch = WriteBatch::new();
            batch.put(
                crate::token::engine_key(ns.of(2), b"k"),
                Value::new(Bytes::from_static(b"v")),
            );
            engine.wait_durable(engine.write(batch).unwrap()).unwrap();
        }
        let open_with = |databases: u32| {
            let ns = Namespaces::new(databases);
            let opts = ringkv_engine::Options {
                compaction_filter: Some(ns.filter()),
                ..ringkv_engine::Options::default()
            };
            let engine = Engine::open(dir.path(), opts).unwrap();
            ns.load(&engine)
        };
        match open_with(2) {
            Err(Error::DatabasesLowered {
                databases: 2,
                db: 2,
                need: 3,
            }) => {}
            other => panic!("{other:?}"),
        }
        // Database 3 is empty: 3 databases serve everything there is.
        assert!(open_with(3).is_ok());
        assert!(open_with(4).is_ok());
    }

    #[test]
    fn a_swap_trades_namespaces_durably_and_retires_none() {
        let dir = tempfile::tempdir().unwrap();
        let (ns, engine) = table(dir.path());
        let (a, b) = (ns.of(0), ns.of(2));
        engine
            .wait_durable(ns.swap(&engine, 0, 2).unwrap())
            .unwrap();
        assert_eq!((ns.of(0), ns.of(2)), (b, a));
        assert!(!ns.is_retired(a) && !ns.is_retired(b));
        drop(engine);
        let (again, _engine) = table(dir.path());
        assert_eq!(
            (again.of(0), again.of(2)),
            (b, a),
            "read back after a restart"
        );
    }

    #[test]
    fn mid_swap_no_namespace_reads_as_retired() {
        // The state a compaction thread can meet between the two slot
        // stores: database 0 already names 2's namespace, 2 still names it
        // too, and 0's old namespace is in no slot. It must stay live.
        let dir = tempfile::tempdir().unwrap();
        let (ns, engine) = table(dir.path());
        let (a, b) = (ns.of(0), ns.of(2));
        ns.swaps.fetch_add(1, Ordering::SeqCst);
        ns.current[0].store(b, Ordering::SeqCst);
        assert!(!ns.is_retired(a), "a swap in progress keeps everything");
        ns.current[2].store(a, Ordering::SeqCst);
        ns.swaps.fetch_add(1, Ordering::SeqCst);
        assert!(!ns.is_retired(a) && !ns.is_retired(b));
        // A namespace FLUSHDB replaced is retired as before.
        let flushed = ns.of(1);
        ns.renew(&engine, &[1]).unwrap();
        assert!(ns.is_retired(flushed));
        assert!(!ns.is_retired(ns.of(1)));
    }
}
