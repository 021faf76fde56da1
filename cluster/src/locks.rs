//! Striped key locks that serialise read-modify-write commands (INCR,
//! APPEND, SET NX, ...) against every other write of the same key on this
//! node, so each command is atomic as in Redis.
//!
//! A key maps to one of [`STRIPES`] async mutexes by its ring token. A
//! command on several keys takes their stripes in ascending index order, so
//! two commands can never wait on each other in a cycle. The guard is held
//! across the engine write and released before durability is awaited:
//! durability is ordered by the WAL, not by the lock.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

/// Number of lock stripes; a power of two.
pub const STRIPES: usize = 1024;

/// The stripe array.
pub struct KeyLocks {
    stripes: Vec<Arc<Mutex<()>>>,
}

/// Holds the stripes of one command's keys until dropped.
pub struct KeysGuard {
    _held: Vec<OwnedMutexGuard<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

impl KeyLocks {
    /// Locks the stripes of the given ring tokens (duplicates are fine).
    pub async fn lock(&self, tokens: Vec<u64>) -> KeysGuard {
        let mut idx: Vec<usize> = tokens.into_iter().map(stripe_index).collect();
        idx.sort_unstable();
        idx.dedup();
        let mut held = Vec::with_capacity(idx.len());
        for i in idx {
            if let Some(stripe) = self.stripes.get(i) {
                held.push(Arc::clone(stripe).lock_owned().await);
            }
        }
        KeysGuard { _held: held }
    }

    /// Locks the stripe of one key: [`KeyLocks::lock`] without its
    /// allocations, for the single-key write path (a guard borrowed from
    /// the stripes, no reference count).
    pub async fn lock_one(&self, token: u64) -> MutexGuard<'_, ()> {
        // `stripe_index` is below STRIPES, the array's length.
        self.stripes[stripe_index(token)].lock().await
    }

    /// [`KeyLocks::lock_one`] for a thread outside the async runtime (the
    /// collection reclaimer), which blocks until the stripe is free. Must
    /// not be called from an async task.
    pub fn blocking_lock_one(&self, token: u64) -> MutexGuard<'_, ()> {
        self.stripes[stripe_index(token)].blocking_lock()
    }
}

/// The stripe a ring token maps to.
fn stripe_index(token: u64) -> usize {
    (token as usize) & (STRIPES - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn overlapping_multi_key_locks_do_not_deadlock() {
        let locks = Arc::new(KeyLocks::default());
        let mut tasks = Vec::new();
        for i in 0..8u64 {
            let locks = Arc::clone(&locks);
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let _g = locks.lock(vec![i, 7 - i, 3, 1000 + i]).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        let all = async {
            for t in tasks {
                t.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("deadlock");
    }

    #[tokio::test]
    async fn one_key_lock_excludes_the_many_key_lock_of_its_stripe() {
        let locks = KeyLocks::default();
        let g = locks.lock_one(42 + STRIPES as u64).await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock(vec![42])).await;
        assert!(second.is_err(), "the same stripe must wait");
        drop(g);
        let many = tokio::time::timeout(Duration::from_secs(5), locks.lock(vec![42, 7]))
            .await
            .unwrap();
        let one = tokio::time::timeout(Duration::from_millis(50), locks.lock_one(7)).await;
        assert!(one.is_err(), "a stripe held by a many-key lock must wait");
        drop(many);
        let _g = tokio::time::timeout(Duration::from_secs(5), locks.lock_one(7))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn same_key_is_exclusive() {
        let locks = KeyLocks::default();
        let g = locks.lock(vec![42]).await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock(vec![42])).await;
        assert!(second.is_err(), "second lock of the same stripe must wait");
        drop(g);
        let _g2 = tokio::time::timeout(Duration::from_secs(5), locks.lock(vec![42]))
            .await
            .unwrap();
    }
}
