//! Striped key locks that serialise read-modify-write commands (INCR,
//! APPEND, SET NX, ...) against every other write of the same key on this
//! node, so each command is atomic as in Redis.
//!
//! A key maps to one of [`STRIPES`] async mutexes by its ring token. A
//! command on several keys takes their stripes in ascending index order, so
//! two commands can never wait on each other in a cycle. The guard is held
//! across the engine write and released before durability is awaited:
//! durability is ordered by the WAL, not by the lock.
//!
//! A connection may also *hold* one stripe across several commands
//! ([`KeyLocks::hold`], inside [`holding_scope`]): the single-key lock of
//! its own commands is then already taken ([`KeyLocks::lock_one`] skips
//! it). The server does so for a pipeline's consecutive writes of one key,
//! which would otherwise hand the stripe to another connection between
//! every two of them.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

tokio::task_local! {
    /// The stripe this task holds across commands: which lock array (its
    /// address) and which stripe.
    static HELD: Cell<Option<(usize, usize)>>;
}

/// Runs `f` (a connection's task) where it may [`KeyLocks::hold`] a stripe.
pub async fn holding_scope<F: Future>(f: F) -> F::Output {
    HELD.scope(Cell::new(None), f).await
}

/// A stripe this task holds until the hold drops ([`KeyLocks::hold`]).
pub struct KeyHold {
    _guard: OwnedMutexGuard<()>,
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        let _ = HELD.try_with(|h| h.set(None));
    }
}

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
    /// the stripes, no reference count). `None` when this task already
    /// holds that stripe ([`KeyLocks::hold`]): the caller has it.
    pub async fn lock_one(&self, token: u64) -> Option<MutexGuard<'_, ()>> {
        let i = stripe_index(token);
        if HELD
            .try_with(|h| h.get() == Some((self.id(), i)))
            .unwrap_or(false)
        {
            return None;
        }
        // `stripe_index` is below STRIPES, the array's length.
        Some(self.stripes[i].lock().await)
    }

    /// Takes the stripe of `token` for this task until the returned hold
    /// drops; meanwhile this task's [`KeyLocks::lock_one`] of that stripe
    /// passes at once. `None` outside a [`holding_scope`] or while this
    /// task holds a stripe already (one at a time). The holder must take
    /// no other lock of this array while it holds one (its single-key
    /// writes of the held key only), or two holders could wait on each
    /// other.
    pub async fn hold(&self, token: u64) -> Option<KeyHold> {
        if !HELD.try_with(|h| h.get().is_none()).unwrap_or(false) {
            return None;
        }
        let i = stripe_index(token);
        let guard = Arc::clone(&self.stripes[i]).lock_owned().await;
        HELD.try_with(|h| h.set(Some((self.id(), i)))).ok()?;
        Some(KeyHold { _guard: guard })
    }

    /// This lock array's identity (its address): a hold names the array
    /// it was taken in.
    fn id(&self) -> usize {
        self.stripes.as_ptr() as usize
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
    async fn a_held_stripe_is_free_to_its_holder_and_closed_to_others() {
        let locks = Arc::new(KeyLocks::default());
        assert!(locks.hold(5).await.is_none(), "no hold outside a scope");
        let inner = Arc::clone(&locks);
        holding_scope(async move {
            let hold = inner.hold(5).await.expect("a hold inside the scope");
            assert!(inner.hold(6).await.is_none(), "one hold at a time");
            assert!(inner.lock_one(5).await.is_none(), "the holder passes");
            // Another array's stripe of the same index is not held.
            let other = KeyLocks::default();
            assert!(other.lock_one(5).await.is_some());
            // Another task waits for the hold to end.
            let outside = Arc::clone(&inner);
            let waiter = tokio::spawn(async move {
                let _g = outside.lock_one(5).await;
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!waiter.is_finished(), "another task must wait");
            drop(hold);
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("the waiter runs once the hold ends")
                .unwrap();
            let again = tokio::time::timeout(Duration::from_secs(5), inner.lock_one(5))
                .await
                .unwrap();
            assert!(again.is_some(), "after the hold the holder locks as anyone");
        })
        .await;
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
