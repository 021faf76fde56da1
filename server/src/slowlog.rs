//! The slow log (SLOWLOG GET, LEN, RESET), as Redis keeps it: the commands
//! whose run took at least `slowlog-log-slower-than` microseconds (-1: none,
//! 0: every command), newest first, at most `slowlog-max-len` of them. An
//! entry holds an id, the unix time, the duration, at most 32 arguments of at
//! most 128 bytes each (Redis's marks for the rest), the client's address
//! and name.
//!
//! Both settings are per node and not persisted, set by CONFIG SET under
//! their Redis names, as the encoding thresholds are
//! ([`crate::encoding_limits`]). Not logged: commands flagged
//! `skip_slowlog`, AUTH and HELLO (they may carry a password), and blocking
//! commands, whose time includes the wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use ringkv_resp::Reply;

/// Most arguments an entry keeps (the last one kept says how many more).
const MAX_ARGS: usize = 32;
/// Longest argument an entry keeps whole.
const MAX_ARG_BYTES: usize = 128;
/// `slowlog-log-slower-than`'s default, in microseconds.
const DEFAULT_SLOWER_THAN: i64 = 10_000;
/// `slowlog-max-len`'s default.
const DEFAULT_MAX_LEN: i64 = 128;

/// One logged command.
struct Entry {
    id: u64,
    unix_secs: i64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The node's slow log and its two settings.
pub struct SlowLog {
    slower_than: AtomicI64,
    max_len: AtomicI64,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            slower_than: AtomicI64::new(DEFAULT_SLOWER_THAN),
            max_len: AtomicI64::new(DEFAULT_MAX_LEN),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

/// A setting CONFIG SET was given, checked.
pub enum Setting {
    /// `slowlog-log-slower-than`, in microseconds (-1: log nothing).
    SlowerThan(i64),
    /// `slowlog-max-len`.
    MaxLen(i64),
}

impl SlowLog {
    /// Logs a command that took `micros`, if that is slow enough. `args`
    /// is the command as the client sent it; `client` its address and name
    /// (asked only for a command that is logged).
    pub fn record(
        &self,
        micros: u64,
        args: &[Bytes],
        client: impl FnOnce() -> (String, Option<Bytes>),
    ) {
        let threshold = self.slower_than.load(Ordering::Relaxed);
        if threshold < 0 || i64::try_from(micros).unwrap_or(i64::MAX) < threshold {
            return;
        }
        let (addr, name) = client();
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            micros,
            args: kept_args(args),
            addr,
            name: name.unwrap_or_default(),
        };
        let max = usize::try_from(self.max_len.load(Ordering::Relaxed)).unwrap_or(0);
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max);
    }

    /// SLOWLOG GET's reply: the newest `count` entries (all for `None`).
    pub fn newest(&self, count: Option<usize>) -> Reply {
        let entries = self.entries.lock();
        let n = count.map_or(entries.len(), |c| c.min(entries.len()));
        Reply::Array(
            entries
                .iter()
                .take(n)
                .map(|e| {
                    Reply::Array(vec![
                        Reply::Int(i64::try_from(e.id).unwrap_or(i64::MAX)),
                        Reply::Int(e.unix_secs),
                        Reply::Int(i64::try_from(e.micros).unwrap_or(i64::MAX)),
                        Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                        Reply::Bulk(Bytes::from(e.addr.clone())),
                        Reply::Bulk(e.name.clone()),
                    ])
                })
                .collect(),
        )
    }

    /// `slowlog-log-slower-than`, microseconds (-1: nothing is logged).
    pub fn slower_than(&self) -> i64 {
        self.slower_than.load(Ordering::Relaxed)
    }

    /// How many entries the log holds.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log (ids keep counting, as in Redis).
    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The two settings by their Redis names, for CONFIG GET.
    pub fn all(&self) -> [(&'static str, String); 2] {
        [
            (
                "slowlog-log-slower-than",
                self.slower_than.load(Ordering::Relaxed).to_string(),
            ),
            (
                "slowlog-max-len",
                self.max_len.load(Ordering::Relaxed).to_string(),
            ),
        ]
    }

    /// `Ok(None)` if `name` is not one of the settings; the checked value
    /// otherwise, or why it is refused.
    pub fn parse(name: &str, value: &str) -> Result<Option<Setting>, String> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let (min, setting): (i64, fn(i64) -> Setting) = if is("slowlog-log-slower-than") {
            (-1, Setting::SlowerThan)
        } else if is("slowlog-max-len") {
            (0, Setting::MaxLen)
        } else {
            return Ok(None);
        };
        let v: i64 = value
            .parse()
            .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
        if v < min {
            return Err(format!(
                "argument must be between {min} and {} inclusive",
                i64::MAX
            ));
        }
        Ok(Some(setting(v)))
    }

    /// Applies a setting [`SlowLog::parse`] checked.
    pub fn store(&self, s: Setting) {
        match s {
            Setting::SlowerThan(v) => self.slower_than.store(v, Ordering::Relaxed),
            Setting::MaxLen(v) => {
                self.max_len.store(v, Ordering::Relaxed);
                let max = usize::try_from(v).unwrap_or(0);
                self.entries.lock().truncate(max);
            }
        }
    }
}

/// The arguments an entry keeps, marked as Redis marks what it drops.
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for (i, a) in args.iter().take(kept).enumerate() {
        if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
            let more = args.len() - MAX_ARGS + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if a.len() > MAX_ARG_BYTES {
            let mut b = BytesMut::from(a.get(..MAX_ARG_BYTES).unwrap_or_default());
            b.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes());
            out.push(b.freeze());
        } else {
            // A copy: the argument is a slice of its request's read
            // buffer, and an entry holding it would keep that whole
            // buffer (a 512 MB SET's, with its short key) for as long as
            // the entry stays in the log.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let kept = kept_args(&args);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], Bytes::from("a30"));
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let long = [Bytes::from("SET"), Bytes::from(vec![b'x'; 130])];
        let kept = kept_args(&long);
        assert_eq!(kept[1].len(), 128 + "... (2 more bytes)".len());
        assert!(kept[1].ends_with(b"x... (2 more bytes)"));
    }

    #[test]
    fn keeps_the_newest_up_to_max_len_above_the_threshold() {
        let log = SlowLog::default();
        let cmd = [Bytes::from("GET"), Bytes::from("k")];
        let who = || ("127.0.0.1:1".to_string(), None);
        log.record(9_999, &cmd, who);
        assert!(log.is_empty());
        let Ok(Some(s)) = SlowLog::parse("slowlog-max-len", "2") else {
            panic!("a valid setting");
        };
        log.store(s);
        for micros in [10_000, 20_000, 30_000] {
            log.record(micros, &cmd, who);
        }
        assert_eq!(log.len(), 2);
        let Reply::Array(entries) = log.newest(None) else {
            panic!("an array");
        };
        assert!(matches!(&entries[0], Reply::Array(e) if e[2] == Reply::Int(30_000)));
        assert!(SlowLog::parse("slowlog-log-slower-than", "-2").is_err());
        assert!(SlowLog::parse("slowlog-max-len", "x").is_err());
        assert!(matches!(SlowLog::parse("maxmemory", "1"), Ok(None)));
    }
}
