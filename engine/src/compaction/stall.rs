//! Write back-pressure from the tree's shape, following LevelDB/RocksDB:
//! slow each write down a little once level 0 piles up, stop writes when it
//! piles up further or the compaction debt passes its limit, so compaction
//! catches up before reads degrade without bound.
//!
//! The measure is strategy-specific: leveled counts level-0 sorted runs;
//! size-tiered counts the runs in its smallest-size bucket (a healthy tiered
//! tree has many runs in total, which must not stall it).

use std::time::Duration;

use crate::options::{CompactionStrategy, Options};
use crate::version::Version;

/// How hard compaction is being pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePressure {
    /// Write freely.
    Normal,
    /// Level 0 is piling up: wait `delay` before each write.
    Slowdown {
        /// Suggested pause before the write.
        delay: Duration,
    },
    /// Stop writing until compaction or flush catches up.
    Stop,
}

/// Delay per write in the slowdown state (LevelDB's 1 ms).
pub(crate) const SLOWDOWN_DELAY: Duration = Duration::from_millis(1);

/// Pressure for a measured `runs` count and compaction debt.
pub(crate) fn pressure(opts: &Options, runs: usize, pending_bytes: u64) -> WritePressure {
    if runs >= opts.l0_stop_trigger || pending_bytes >= opts.pending_compaction_bytes_limit {
        WritePressure::Stop
    } else if runs >= opts.l0_slowdown_trigger {
        WritePressure::Slowdown {
            delay: SLOWDOWN_DELAY,
        }
    } else {
        WritePressure::Normal
    }
}

/// The stall measure (runs) and compaction debt (bytes) of `v` under `s`.
pub(crate) fn measure(v: &Version, opts: &Options, s: CompactionStrategy) -> (usize, u64) {
    match s {
        CompactionStrategy::Leveled => {
            let l0 = v.levels.first().map_or(0, |l| l.runs.len());
            (l0, super::leveled::pending_bytes(v, opts))
        }
        CompactionStrategy::SizeTiered => super::tiered::stall_measure(v, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_map_to_pressure() {
        let o = Options::default();
        assert_eq!(pressure(&o, 0, 0), WritePressure::Normal);
        assert_eq!(
            pressure(&o, 8, 0),
            WritePressure::Slowdown {
                delay: SLOWDOWN_DELAY
            }
        );
        assert_eq!(pressure(&o, 12, 0), WritePressure::Stop);
        assert_eq!(pressure(&o, 0, u64::MAX), WritePressure::Stop);
    }
}
