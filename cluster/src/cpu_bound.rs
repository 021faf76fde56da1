//! Steps of async code that take milliseconds of CPU: a large collection
//! read whole, merged, diffed, encoded or decoded (a hint's or a read
//! repair's whole record of a 200,000-member set). Run on a runtime
//! thread like any other step, such a step holds up every task queued
//! behind it there: a node that merged two such records at once answered
//! a plain GET after 0.6 s.

/// Members of a collection from which reading, merging or diffing it
/// whole counts as heavy.
pub(crate) const HEAVY_MEMBERS: u64 = 4096;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::version::{Payload, Siblings};

/// Heavy steps run in this process, and the microseconds they took.
static STEPS: AtomicU64 = AtomicU64::new(0);
static STEP_MICROS: AtomicU64 = AtomicU64::new(0);

/// How many heavy steps this process has run, and the microseconds they
/// took (INFO `cluster_heavy_steps`, `cluster_heavy_step_usec`).
pub fn heavy_steps() -> (u64, u64) {
    (
        STEPS.load(Ordering::Relaxed),
        STEP_MICROS.load(Ordering::Relaxed),
    )
}

/// Bytes of an encoded record from which decoding it counts as heavy.
pub(crate) const HEAVY_BYTES: usize = 256 * 1024;

/// Runs `f`, a heavy step. On a runtime thread of the multi-threaded
/// runtime, inside `block_in_place`, which first hands the thread's queued
/// tasks to another thread; elsewhere (a blocking thread, a current-thread
/// runtime as tests use, no runtime) it just runs.
pub(crate) fn heavy<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let started = Instant::now();
    let out = match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    };
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    STEPS.fetch_add(1, Ordering::Relaxed);
    STEP_MICROS.fetch_add(micros, Ordering::Relaxed);
    out
}

/// Whether `record` holds a collection large enough that encoding,
/// merging or diffing it whole is heavy.
pub(crate) fn is_large(record: &Siblings) -> bool {
    record.iter().any(|s| match &s.payload {
        Payload::Collection(c) => c.len() as u64 >= HEAVY_MEMBERS,
        _ => false,
    })
}

/// `record` encoded, a large collection's as a heavy step.
pub(crate) fn encode_record(record: &Siblings) -> bytes::Bytes {
    heavy_if(is_large(record), || record.encode())
}

/// A record received from another node decoded, a large one as a heavy
/// step.
pub(crate) fn decode_record(
    bytes: &[u8],
) -> std::result::Result<Siblings, crate::version::codec::DecodeError> {
    heavy_if(bytes.len() >= HEAVY_BYTES, || Siblings::decode(bytes, 0))
}

/// [`heavy`] when `is_heavy`, else `f` as it is: handing a thread's tasks
/// over costs more than a small step.
pub(crate) fn heavy_if<T>(is_heavy: bool, f: impl FnOnce() -> T) -> T {
    if is_heavy { heavy(f) } else { f() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_outside_a_runtime() {
        assert_eq!(heavy(|| 7), 7);
    }

    #[tokio::test]
    async fn runs_on_a_current_thread_runtime() {
        assert_eq!(heavy(|| 7), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_on_a_worker_and_on_a_blocking_thread() {
        assert_eq!(heavy(|| 7), 7);
        let on_blocking = tokio::task::spawn_blocking(|| heavy(|| 8)).await.unwrap();
        assert_eq!(on_blocking, 8);
        // Nested.
        assert_eq!(heavy(|| heavy(|| 9)), 9);
    }
}
