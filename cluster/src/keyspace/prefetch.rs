//! A hint that a key is about to be read: its record starts loading into
//! the CPU's caches while the server still serves the request before it.

use super::Keyspace;
use crate::token;

impl Keyspace {
    /// A hint that `key` of database `db` is read or written soon: starts
    /// loading its newest version into the CPU's caches ([`ringkv_engine::Engine::prefetch`])
    /// and returns at once. Does nothing for a database out of range or a
    /// key longer than a short stack buffer holds.
    pub fn prefetch(&self, db: u32, key: &[u8]) {
        self.with_engine_key(db, key, |ekey| self.inner.engine.prefetch(ekey));
    }

    /// The step before [`Keyspace::prefetch`]: starts loading where the
    /// memtable's index keeps `key` ([`ringkv_engine::Engine::prefetch_bucket`]),
    /// for every key of a pipelined batch before its first request runs.
    pub fn prefetch_bucket(&self, db: u32, key: &[u8]) {
        self.with_engine_key(db, key, |ekey| {
            self.inner.engine.prefetch_bucket(ekey);
        });
    }

    /// Calls `f` with the engine key of `key` in database `db`, built in a
    /// short stack buffer; not for a database out of range or a key
    /// longer than the buffer holds.
    fn with_engine_key(&self, db: u32, key: &[u8], f: impl FnOnce(&[u8])) {
        const MAX: usize = 128;
        let Ok(ns) = self.namespace(db) else {
            return;
        };
        let mut buf = [0u8; MAX];
        if let Some(ekey) = token::engine_key_in(ns, key, &mut buf) {
            f(ekey);
        }
    }
}
