//! MONITOR: every command this node runs for its clients, as Redis prints
//! it, streamed to the connections that asked.
//!
//! A line is `+<unix seconds>.<microseconds> [<db> <client address>]
//! "<name>" "<arg>" ...`, each argument quoted and escaped as Redis's
//! `sdscatrepr` does, AUTH's and HELLO AUTH's credentials shown as
//! `(redacted)`. Commands flagged `admin` or `skip_monitor` are not shown,
//! nor are commands refused before they run (unknown, wrong arity, queued
//! in MULTI: those are shown when EXEC runs them, before the EXEC itself).
//! Lines travel in the monitor's subscriber queue under the pubsub class
//! of `client-output-buffer-limit`, so a monitor that stops reading is
//! disconnected instead of growing the server's memory.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::pubsub::{Message, PubSubStats, Subscriber};

/// What replaces a credential in a line.
const REDACTED: &str = "(redacted)";

/// The connections in monitor mode.
#[derive(Default)]
pub struct Monitors {
    /// How many there are (read by every command: no lock).
    count: AtomicUsize,
    list: Mutex<Vec<Arc<Subscriber>>>,
}

impl Monitors {
    /// Whether any connection monitors.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// How many connections monitor.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no connection monitors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a monitor; false when it already is one.
    pub fn add(&self, subscriber: Arc<Subscriber>) -> bool {
        let mut list = self.list.lock();
        if list.iter().any(|s| s.id() == subscriber.id()) {
            return false;
        }
        list.push(subscriber);
        self.count.store(list.len(), Ordering::Relaxed);
        true
    }

    /// Removes the monitor of client `id`, if it is one.
    pub fn remove(&self, id: u64) {
        let mut list = self.list.lock();
        list.retain(|s| s.id() != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Disconnects every monitor: a line of `len` bytes passes their
    /// output limit on its own.
    pub fn disconnect_all(&self, len: usize, stats: &PubSubStats) {
        for s in self.list.lock().iter() {
            s.disconnect_over_limit(len, stats);
        }
    }

    /// Queues `line` for every monitor but client `except`, disconnecting
    /// those over `limit` (counted in pub/sub's `stats`).
    pub fn feed(
        &self,
        line: &Arc<str>,
        except: Option<u64>,
        limit: ringkv_conf::OutputLimit,
        stats: &PubSubStats,
    ) {
        let message = Message::Monitor(Arc::clone(line));
        for s in self.list.lock().iter() {
            if Some(s.id()) != except {
                s.offer(message.clone(), limit, stats);
            }
        }
    }
}

/// Bytes of the line of `args` (without its time and source, at most 64
/// bytes more), counted without building it: a line can be four times
/// its arguments, and one past the monitors' output limit is not built.
pub fn line_len(args: &[Bytes]) -> usize {
    let secret = credentials(args);
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            if secret.get(i).copied().unwrap_or(false) {
                REDACTED.len() + 3
            } else {
                a.iter().map(|&b| escaped_len(b)).sum::<usize>() + 3
            }
        })
        .sum()
}

/// The monitor line of `args` run by the client at `addr` on database `db`
/// at `now`.
pub fn line(now: SystemTime, db: u32, addr: &SocketAddr, args: &[Bytes]) -> Arc<str> {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut out = String::with_capacity(48 + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        out,
        "{}.{:06} [{db} {addr}]",
        since.as_secs(),
        since.subsec_micros()
    );
    let secret = credentials(args);
    for (i, a) in args.iter().enumerate() {
        out.push(' ');
        if secret.get(i).copied().unwrap_or(false) {
            quote(&mut out, REDACTED.as_bytes());
        } else {
            quote(&mut out, a);
        }
    }
    Arc::from(out)
}

/// Which arguments are credentials: every argument of AUTH, and the two
/// after HELLO's AUTH.
fn credentials(args: &[Bytes]) -> Vec<bool> {
    let mut secret = vec![false; args.len()];
    let Some(name) = args.first() else {
        return secret;
    };
    if name.eq_ignore_ascii_case(b"auth") {
        secret.iter_mut().skip(1).for_each(|s| *s = true);
    } else if name.eq_ignore_ascii_case(b"hello") {
        let mut i = 2;
        while i < args.len() {
            if args[i].eq_ignore_ascii_case(b"auth") {
                secret
                    .iter_mut()
                    .skip(i + 1)
                    .take(2)
                    .for_each(|s| *s = true);
                i += 3;
            } else if args[i].eq_ignore_ascii_case(b"setname") {
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    secret
}

/// Bytes `b` takes in a line (see [`quote`]).
fn escaped_len(b: u8) -> usize {
    match b {
        b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08 => 2,
        0x20..=0x7e => 1,
        _ => 4,
    }
}

/// Appends `bytes` quoted and escaped as Redis's `sdscatrepr`: `\\`, `\"`,
/// `\n`, `\r`, `\t`, `\a`, `\b`, printable ASCII as is, anything else
/// `\xHH`.
fn quote(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(parts: &[&[u8]]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
    }

    #[test]
    fn a_line_is_quoted_and_escaped_as_redis_prints_it() {
        let at = UNIX_EPOCH + Duration::from_micros(1_339_518_083_107_412);
        let addr: SocketAddr = "127.0.0.1:60866".parse().expect("address");
        let l = line(
            at,
            3,
            &addr,
            &args(&[b"SET", b"k", b"a \"b\"\\\n\r\t\x07\x08\x00\xff"]),
        );
        assert_eq!(
            &*l,
            r#"1339518083.107412 [3 127.0.0.1:60866] "SET" "k" "a \"b\"\\\n\r\t\a\b\x00\xff""#
        );
        let v6: SocketAddr = "[::1]:7000".parse().expect("address");
        assert_eq!(
            &*line(UNIX_EPOCH, 0, &v6, &args(&[b"PING"])),
            r#"0.000000 [0 [::1]:7000] "PING""#
        );
    }

    #[test]
    fn line_len_counts_what_line_writes() {
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let cases: [&[&[u8]]; 3] = [
            &[b"SET", b"k", b"a \"b\"\\\n\r\t\x07\x08\x00\xff"],
            &[b"AUTH", b"u", b"p"],
            &[b"PING"],
        ];
        for parts in cases {
            let a = args(parts);
            let head = "0.000000 [0 127.0.0.1:1]".len();
            assert_eq!(line(UNIX_EPOCH, 0, &addr, &a).len(), head + line_len(&a));
        }
    }

    #[test]
    fn credentials_are_redacted() {
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let l = line(UNIX_EPOCH, 0, &addr, &args(&[b"auth", b"user", b"pass"]));
        assert!(l.ends_with(r#""auth" "(redacted)" "(redacted)""#), "{l}");
        let l = line(
            UNIX_EPOCH,
            0,
            &addr,
            &args(&[b"hello", b"2", b"SETNAME", b"auth", b"AUTH", b"u", b"p"]),
        );
        assert!(
            l.ends_with(r#""hello" "2" "SETNAME" "auth" "AUTH" "(redacted)" "(redacted)""#),
            "{l}"
        );
        let l = line(UNIX_EPOCH, 0, &addr, &args(&[b"get", b"auth"]));
        assert!(l.ends_with(r#""get" "auth""#), "{l}");
    }
}
