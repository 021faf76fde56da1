//! Transparent huge pages, turned off for the process (`disable-thp`).
//!
//! The allocator asks the kernel for huge pages on its large regions, and
//! with transparent huge pages on, the first write to a fresh or returned
//! piece of them faults in and zeroes a whole 2 MB page. A request thread
//! that faults so under the engine's write lock, or holding a key, keeps
//! every other writer waiting for the zeroing, and the kernel may switch
//! it out in the middle of it. Under `redis-benchmark -t set -P 16` that
//! was about half of the distance between ringkv's p99 and Redis's
//! (`docs/performance.md`, "Transparent huge pages off"). Redis turns them
//! off for its process for its fork's sake, with the same key.

/// Turns transparent huge pages off for this process (every mapping,
/// present and future; pages already huge stay so). Returns whether the
/// kernel agreed; on systems without the setting, `false`.
pub fn disable_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only
        // the process's own memory policy.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether transparent huge pages are off for this process, as the
    /// kernel reports it (`None` if it cannot say).
    #[cfg(target_os = "linux")]
    fn transparent_huge_pages_disabled() -> Option<bool> {
        // SAFETY: PR_GET_THP_DISABLE takes no pointer and only reads.
        let state = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        (state >= 0).then_some(state == 1)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn turning_huge_pages_off_is_seen_by_the_kernel() {
        // The test binary's own process: harmless for the other tests.
        if disable_transparent_huge_pages() {
            assert_eq!(transparent_huge_pages_disabled(), Some(true));
        }
    }
}
