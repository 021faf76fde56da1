//! File descriptors: what the process may open, and how `maxclients` and
//! the engine's open-table budget are fitted into it, as Redis does.
//!
//! At start the soft `RLIMIT_NOFILE` is raised as far as needed (up to the
//! hard limit). Whatever it ends up being, descriptors are set aside for
//! the process itself and the cluster's peers ([`RESERVED_FDS`]) and for the
//! engine's table cache (`max-open-files`); if clients would not fit in the
//! rest, `maxclients` is lowered (and, on a very small limit, the table
//! cache too) with a warning, so an idle-connection flood is refused with
//! "max number of clients reached" instead of making the engine fail to
//! open a file. `CONFIG SET maxclients` above the cap is refused with
//! Redis's error text.

use std::sync::atomic::{AtomicUsize, Ordering};

use ringkv_conf::Config;

/// Descriptors kept for everything but clients and SSTables: the WAL, the
/// manifest, listeners, the metrics endpoint, logs, the cluster's peer
/// connections (Redis keeps 32 for itself).
pub const RESERVED_FDS: u64 = 96;

/// The most clients this process can serve (0: not computed yet).
static MAX_CLIENTS_CAP: AtomicUsize = AtomicUsize::new(0);

/// What fitting the configuration into the descriptor limit decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` in force.
    pub limit: u64,
    /// `maxclients` to use.
    pub maxclients: usize,
    /// `max-open-files` (engine table cache) to use.
    pub max_open_files: usize,
}

/// Splits `limit` descriptors between clients and the engine's tables.
pub fn budget(limit: u64, maxclients: usize, max_open_files: usize) -> FdBudget {
    let available = limit.saturating_sub(RESERVED_FDS);
    let wanted = maxclients as u64 + max_open_files as u64;
    if wanted <= available {
        return FdBudget {
            limit,
            maxclients,
            max_open_files,
        };
    }
    // Tables get at most a quarter of what is left (at least 16), clients
    // the rest (at least 1).
    let tables = (max_open_files as u64).min((available / 4).max(16));
    let clients = available.saturating_sub(tables).max(1);
    FdBudget {
        limit,
        maxclients: usize::try_from(clients)
            .unwrap_or(usize::MAX)
            .min(maxclients),
        max_open_files: usize::try_from(tables).unwrap_or(usize::MAX),
    }
}

fn nofile() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return None;
    }
    Some((r.rlim_cur, r.rlim_max))
}

/// Raises the soft descriptor limit toward what `config` needs, fits
/// `maxclients` and `max-open-files` into the result (changing `config`),
/// logs what it changed, and remembers the client cap for CONFIG SET.
pub fn fit(config: &mut Config) -> FdBudget {
    let needed = config.maxclients as u64 + config.max_open_files as u64 + RESERVED_FDS;
    let limit = match nofile() {
        Some((soft, hard)) if soft < needed => {
            let target = needed.min(hard);
            let r = libc::rlimit {
                rlim_cur: target,
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
                target
            } else {
                soft
            }
        }
        Some((soft, _)) => soft,
        None => needed,
    };
    let b = budget(limit, config.maxclients, config.max_open_files);
    if b.maxclients < config.maxclients || b.max_open_files < config.max_open_files {
        tracing::warn!(
            limit,
            requested_maxclients = config.maxclients,
            maxclients = b.maxclients,
            requested_max_open_files = config.max_open_files,
            max_open_files = b.max_open_files,
            "the open-file limit is too low for maxclients and max-open-files: lowered them to fit (raise 'ulimit -n' to serve more)"
        );
    }
    config.maxclients = b.maxclients;
    config.max_open_files = b.max_open_files;
    MAX_CLIENTS_CAP.store(
        usize::try_from(limit.saturating_sub(RESERVED_FDS + b.max_open_files as u64))
            .unwrap_or(usize::MAX)
            .max(1),
        Ordering::Relaxed,
    );
    b
}

/// The most clients `CONFIG SET maxclients` may ask for (`None` before
/// [`fit`] ran).
pub fn max_clients_cap() -> Option<usize> {
    match MAX_CLIENTS_CAP.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generous_limit_changes_nothing() {
        let b = budget(1 << 20, 10_000, 1000);
        assert_eq!((b.maxclients, b.max_open_files), (10_000, 1000));
    }

    #[test]
    fn a_small_limit_lowers_clients_and_tables_to_fit() {
        let b = budget(1024, 10_000, 1000);
        assert!(b.maxclients as u64 + b.max_open_files as u64 + RESERVED_FDS <= 1024);
        assert!(b.max_open_files >= 16 && b.maxclients >= 500);
        let tiny = budget(50, 10_000, 1000);
        assert_eq!((tiny.maxclients, tiny.max_open_files), (1, 16));
    }
}
