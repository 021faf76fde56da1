//! Walks of a database's keys in ring order: SCAN's pages (RANDOMKEY's
//! too), and whole passes (KEYS, DBSIZE, DEBUG DIGEST).

use std::ops::Bound;

use super::{Entry, Keyspace, ScanPage, scanned_entry, split};
use crate::error::Result;
use crate::token::{self, KEY_PREFIX_LEN};

/// Records a page of a key scan passes per key it may return
/// ([`Keyspace::scan`]): a deleted key's tombstone stays a record for the
/// grace period, so counting it as a key made a scan of a database whose
/// keys were mostly deleted return a few keys per page, or none (SCAN
/// COUNT 10 over 1,000 keys beside 199,000 deleted: 20,000 calls, where
/// Redis takes 119; RANDOMKEY answered nil). Redis's SCAN likewise passes
/// up to ten empty buckets per COUNT. A record costs well under a
/// microsecond to pass, so a page of COUNT 10 takes at most about 0.5 ms.
pub const SCAN_RECORDS_PER_COUNT: usize = 100;

impl Keyspace {
    /// Visits up to `count` live keys of `db` from ring position `cursor`,
    /// keeping those `accept` takes, and passes up to
    /// [`SCAN_RECORDS_PER_COUNT`] times `count` records in all (deleted
    /// keys' tombstones, expired keys), so a page of a database that
    /// deletions left sparse still holds keys, as Redis's does. Keys
    /// sharing the last visited token are finished in the same page, so the
    /// returned cursor (the next token) is a clean boundary: keys present
    /// for the whole scan are returned at least once, as Redis promises.
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
        let now = self.now_ms();
        let count = count.max(1);
        let (mut live, mut visited) = (0usize, 0usize);
        let most = count.saturating_mul(SCAN_RECORDS_PER_COUNT);
        let mut last_token = None;
        for item in iter {
            let (ekey, value) = item?;
            let Some((_, tok, user)) = token::split_engine_key(&ekey) else {
                continue;
            };
            if (live >= count || visited >= most) && last_token != Some(tok) && tok != 0 {
                page.cursor = tok;
                return Ok(page);
            }
            visited += 1;
            last_token = Some(tok);
            let Some(entry) = scanned_entry(&value, user, || now)? else {
                continue;
            };
            live += 1;
            if accept(user, &entry) {
                page.keys.push(split::tail_of(ekey, KEY_PREFIX_LEN));
                page.tokens.push(tok);
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
        let now = self.now_ms();
        let run = move || -> Result<()> {
            let mut visit = visit;
            let prefix = token::namespace_prefix(ns);
            let upper = token::namespace_prefix(ns.wrapping_add(1));
            for item in
                engine.iter_uncached(Bound::Included(&prefix), Bound::Excluded(&upper), None)?
            {
                let (ekey, value) = item?;
                let Some(user) = ekey.get(KEY_PREFIX_LEN..) else {
                    continue;
                };
                let Some(entry) = scanned_entry(&value, user, || now)? else {
                    continue;
                };
                if !visit(user, entry.expire_at_ms) {
                    break;
                }
            }
            Ok(())
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}
