//! A node-wide budget for the memory single commands allocate while they
//! run: LCS's table, and the new value a SETRANGE or APPEND builds (which
//! the write path copies a few times more).
//!
//! Each such command reserves its bytes (in MiB, rounded up) before it
//! allocates and holds them until it replies; the budget is
//! `proto-max-bulk-len` at start (512 MB by default), so however many
//! clients send them at once, what they hold together stays within about
//! one maximum-size command, as on Redis, which runs one command at a time.
//! A command larger than the whole budget waits until it can run alone.
//! Small commands (under [`THRESHOLD_BYTES`]) reserve nothing.
//!
//! It bounds what is transient. For LCS that is nearly everything (six
//! parallel LCS of 6,000-byte strings: 170 MB peak instead of 879 MB). For
//! SETRANGE and APPEND most of the peak is the value kept by the write
//! path (the encoded record, the WAL buffer, the memtable), which this
//! budget does not cover: three parallel 100 MB SETRANGEs peak near 1 GB
//! with or without it.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Allocations below this size are not counted.
pub const THRESHOLD_BYTES: u64 = 1 << 20;

const MIB: u64 = 1 << 20;

/// The budget, in MiB permits.
pub struct TransientMemory {
    permits: Semaphore,
    total: u32,
}

impl TransientMemory {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> TransientMemory {
        let total = u32::try_from(bytes.div_ceil(MIB).max(1)).unwrap_or(u32::MAX >> 4);
        TransientMemory {
            permits: Semaphore::new(total as usize),
            total,
        }
    }

    /// Reserves `bytes` for the caller's lifetime of the returned permit;
    /// `None` when the amount is too small to count.
    pub async fn reserve(&self, bytes: u64) -> Option<SemaphorePermit<'_>> {
        if bytes < THRESHOLD_BYTES {
            return None;
        }
        let want = u32::try_from(bytes.div_ceil(MIB))
            .unwrap_or(u32::MAX)
            .min(self.total);
        self.permits.acquire_many(want).await.ok()
    }

    /// MiB reserved right now.
    pub fn in_use_mib(&self) -> u64 {
        u64::from(self.total).saturating_sub(self.permits.available_permits() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_beyond_the_budget_wait() {
        let budget = TransientMemory::new(8 * MIB);
        assert!(budget.reserve(1000).await.is_none());
        let a = budget.reserve(6 * MIB).await.expect("fits");
        assert_eq!(budget.in_use_mib(), 6);
        let b = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            budget.reserve(4 * MIB),
        );
        assert!(b.await.is_err(), "must wait while 6 of 8 MiB are held");
        drop(a);
        let huge = budget.reserve(100 * MIB).await.expect("runs alone");
        assert_eq!(budget.in_use_mib(), 8);
        drop(huge);
    }
}
