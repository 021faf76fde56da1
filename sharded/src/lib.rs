//! Counters split by thread, for statistics bumped on every request.
//!
//! Every command bumped the same shared atomics (its calls, its time, a
//! latency bucket, the commands processed, a keyspace hit, the engine's
//! point reads, the coordinator's reads per level): on two cores each of
//! those cache lines moved between the cores on every command. Dropping
//! the server's share of that bookkeeping alone cut a GET's server CPU
//! under `redis-benchmark -P 16` from 2.94 to 2.60 µs
//! (docs/performance.md). Here each thread adds to its own shard (its own
//! cache lines), and a reader (INFO, a Prometheus scrape) sums the shards.
//!
//! A thread takes the next shard the first time it counts: the runtime's
//! workers, which run the commands, count first and get shards of their
//! own. Two threads sharing a shard is still correct (the cells are
//! atomics), only slower.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Number of shards, a power of two: twice the cores, from 2 to 64.
static SHARDS: LazyLock<usize> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).next_power_of_two().clamp(2, 64)
});

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

/// How many shards a sharded figure has.
pub fn shard_count() -> usize {
    *SHARDS
}

/// This thread's shard.
pub fn shard() -> usize {
    SHARD.with(|s| *s) & (shard_count() - 1)
}

/// A value alone on its cache lines (two lines: adjacent-line prefetch).
#[repr(align(128))]
#[derive(Default)]
pub struct Padded<T>(pub T);

/// A monotonic count split by thread.
pub struct ShardedCounter {
    cells: Box<[Padded<AtomicU64>]>,
}

impl Default for ShardedCounter {
    fn default() -> Self {
        ShardedCounter {
            cells: (0..shard_count()).map(|_| Padded::default()).collect(),
        }
    }
}

impl std::fmt::Debug for ShardedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.sum())
    }
}

impl ShardedCounter {
    /// Adds `n` in this thread's shard.
    pub fn add(&self, n: u64) {
        if let Some(cell) = self.cells.get(shard()) {
            cell.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The count: every shard summed.
    pub fn sum(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |t, c| t.wrapping_add(c.0.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = std::sync::Arc::new(ShardedCounter::default());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let c = std::sync::Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(i + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        assert_eq!(counter.sum(), 1000 * (1..=8).sum::<u64>());
    }

    #[test]
    fn a_thread_keeps_its_shard() {
        assert_eq!(shard(), shard());
        assert!(shard() < shard_count());
        assert!(shard_count().is_power_of_two());
    }
}
