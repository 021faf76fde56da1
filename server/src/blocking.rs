//! Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP): who waits for which keys, in arrival order, and the
//! wake-ups that writes to those keys send.
//!
//! A blocking command first runs as its non-blocking form. If it found
//! nothing it leaves a [`BlockRequest`] on the client; the connection then
//! registers the client on its keys and waits ([`wait_blocked`]) for a
//! wake-up, the timeout, CLIENT UNBLOCK, a kill, shutdown or the peer
//! closing, re-running the command after each wake-up until it is served.
//!
//! Per key the waiters form a FIFO queue and a write to the key wakes only
//! the first; a waiter that is served (or leaves) wakes the next, so
//! clients are served in the order they blocked and a push wakes no herd.
//! Any change of a key's record on this node wakes at once: a write this
//! node coordinated, or one it applied or merged as a replica. In a cluster
//! the node also registers its interest in the keys with every live node
//! (renewed while clients wait), and a node where one of them changes
//! sends a wake-up. As a safety net for a lost wake-up the waiter re-runs
//! its command every [`POLL_MIN`], doubling up to [`POLL_MAX`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_resp::Reply;
use tokio::sync::Notify;

/// The first re-run interval of a waiter in a cluster of several nodes.
pub const POLL_MIN: Duration = Duration::from_millis(5);
/// The longest re-run interval in a cluster.
pub const POLL_MAX: Duration = Duration::from_secs(1);

/// What a blocking command that found nothing asks of its connection.
#[derive(Clone, Debug)]
pub struct BlockRequest {
    /// The keys it waits on (selected database).
    pub keys: Vec<Bytes>,
    /// Where `keys` start in `args` (they are one run of them).
    pub keys_at: usize,
    /// How long to wait (`None`: forever).
    pub timeout: Option<Duration>,
    /// The reply when the wait ends unserved.
    pub timeout_reply: Reply,
    /// The command to re-run.
    pub args: Vec<Bytes>,
}

/// The timeout argument of a blocking command, in seconds as Redis reads
/// it (a float; `0`: forever), with Redis's error texts. As Redis 7.0
/// does, the milliseconds are rounded up, so a timeout of 0.0005 waits a
/// millisecond (not forever) and one of -0.0001 is 0 (forever).
pub fn parse_timeout(raw: &[u8]) -> Result<Option<Duration>, crate::reply_error::ReplyError> {
    use crate::reply_error::ReplyError;
    // Whole seconds exactly (a double holds integers up to 2^53 only, and
    // Redis's long double holds every 64-bit one).
    if let Some(secs) = ringkv_number::string_to_i64(raw) {
        return match secs.checked_mul(1000).map(u64::try_from) {
            Some(Ok(0)) => Ok(None),
            Some(Ok(ms)) => Ok(Some(Duration::from_millis(ms))),
            _ => Err(ReplyError::err("timeout is negative")),
        };
    }
    let not_a_float = || ReplyError::err("timeout is not a float or out of range");
    let secs = ringkv_number::parse_f64(raw).ok_or_else(not_a_float)?;
    match past_double(raw, secs) {
        Some(PastDouble::OutOfRange) => return Err(not_a_float()),
        // A long double holds it: a millisecond if positive (rounded up),
        // forever if negative (rounded up to 0).
        Some(PastDouble::Tiny { negative }) => {
            return Ok((!negative).then_some(Duration::from_millis(1)));
        }
        // Huge ones are past every timeout: "negative" below, as in Redis.
        Some(PastDouble::Huge) | None => {}
    }
    let ms = (secs * 1000.0).ceil();
    // Redis converts the milliseconds to a 64-bit integer: beyond its
    // range (and for infinities) the result is negative on the platforms
    // it runs on.
    if ms < 0.0 || !ms.is_finite() || ms >= 9_223_372_036_854_775_808.0 {
        // A double rounds the last seconds below 2^63 ms up to it, where a
        // long double keeps them: read those digits exactly.
        if let Some(ms) = decimal_ms_below_i64_max(raw) {
            return Ok(Some(Duration::from_millis(ms)));
        }
        return Err(ReplyError::err("timeout is negative"));
    }
    let ms = ms as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// `raw` read as plain decimal seconds (`digits[.digits]`, an optional
/// `+`), in milliseconds rounded up, if that is below 2^63: the exact
/// figure a long double gives for the largest timeouts, which a double
/// rounds past 2^63 ms. `None` for any other text or a larger value.
fn decimal_ms_below_i64_max(raw: &[u8]) -> Option<u64> {
    let raw = raw.strip_prefix(b"+").unwrap_or(raw);
    let (whole, fraction) = match raw.iter().position(|&c| c == b'.') {
        Some(dot) => (raw.get(..dot)?, raw.get(dot + 1..)?),
        None => (raw, &b""[..]),
    };
    if whole.is_empty() || !whole.iter().chain(fraction).all(u8::is_ascii_digit) {
        return None;
    }
    let digits = |d: &[u8]| {
        d.iter().try_fold(0u128, |n, &c| {
            n.checked_mul(10)?.checked_add(u128::from(c - b'0'))
        })
    };
    let millis = fraction.get(..3.min(fraction.len()))?;
    let scale = 10u128.pow(3 - u32::try_from(millis.len()).ok()?);
    let rounded_up = fraction.iter().skip(3).any(|&c| c != b'0');
    let ms = digits(whole)?
        .checked_mul(1000)?
        .checked_add(digits(millis)? * scale)?
        .checked_add(u128::from(rounded_up))?;
    u64::try_from(ms).ok().filter(|&ms| ms <= i64::MAX as u64)
}

/// A decimal number a double cannot hold but Redis's long double reads
/// differently (Redis parses timeouts with `strtold`).
#[derive(Debug, PartialEq, Eq)]
enum PastDouble {
    /// Nonzero, rounded to 0 by a double; a long double holds it.
    Tiny { negative: bool },
    /// Infinite as a double; a long double holds it.
    Huge,
    /// Past a long double's range too: `strtold` reports a range error.
    OutOfRange,
}

/// Largest and smallest (subnormal) powers of ten of an x87 long double.
const LONG_DOUBLE_MAX_EXP10: i64 = 4932;
const LONG_DOUBLE_MIN_EXP10: i64 = -4951;

/// Whether `raw`, which a double read as `parsed`, is beyond a double's
/// range (`None`: the double is right, the number is 0, or it is not a
/// plain decimal such as `inf` or a hex float).
fn past_double(raw: &[u8], parsed: f64) -> Option<PastDouble> {
    if parsed != 0.0 && parsed.is_finite() {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches(['+', '-']);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (unsigned.get(..at)?, unsigned.get(at + 1..)?),
        None => (unsigned, "0"),
    };
    if !mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    // The power of ten of the first nonzero digit.
    let int_digits = mantissa.find('.').unwrap_or(mantissa.len());
    let first = mantissa
        .bytes()
        .filter(|b| *b != b'.')
        .position(|b| b != b'0')?;
    let magnitude = int_digits as i64 - 1 - first as i64;
    // An exponent past i64 is past every range anyway.
    let exp = exponent
        .parse::<i64>()
        .unwrap_or(if exponent.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
    let exp10 = exp.saturating_add(magnitude);
    Some(
        if !(LONG_DOUBLE_MIN_EXP10..=LONG_DOUBLE_MAX_EXP10).contains(&exp10) {
            PastDouble::OutOfRange
        } else if parsed == 0.0 {
            PastDouble::Tiny { negative }
        } else {
            PastDouble::Huge
        },
    )
}

/// Most signalled keys a waiter remembers in order ([`Waiter::signal`]).
const READY_KEPT: usize = 16;

/// One blocked client.
pub struct Waiter {
    wake: Notify,
    /// The keys signalled since its last look, in the order they were:
    /// it looks at them first, as Redis serves a client from the first of
    /// its keys that became ready (say, in one EXEC, the first pushed).
    ready: Mutex<Vec<Bytes>>,
}

impl Waiter {
    /// Resolves at the next wake-up (one stored if it came meanwhile).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Wakes it for `key`.
    fn signal(&self, key: &Bytes) {
        let mut ready = self.ready.lock();
        // The first few decide the order; a longer list would make a
        // client blocked on many keys cost a search per write (SWAPDB
        // signals every key at once).
        if ready.len() < READY_KEPT && !ready.contains(key) {
            ready.push(key.clone());
        }
        drop(ready);
        self.wake.notify_one();
    }

    /// The keys signalled since the last call, in signal order.
    pub fn take_ready(&self) -> Vec<Bytes> {
        std::mem::take(&mut *self.ready.lock())
    }
}

/// `args` with the run of `len` keys at `at` reordered so that the
/// `ready` ones come first, in their order, each once, and the rest keep
/// theirs. `args` as they are when nothing is ready or the run is unknown.
pub fn ready_first(args: &[Bytes], at: Option<usize>, len: usize, ready: &[Bytes]) -> Vec<Bytes> {
    let mut out = args.to_vec();
    let run = at
        .filter(|_| len > 1 && !ready.is_empty())
        .and_then(|at| out.get_mut(at..at.checked_add(len)?));
    let Some(run) = run else {
        return out;
    };
    let mut rest: Vec<Option<Bytes>> = run.iter().cloned().map(Some).collect();
    let mut ordered: Vec<Bytes> = Vec::with_capacity(len);
    for r in ready {
        if let Some(slot) = rest.iter_mut().find(|k| k.as_ref() == Some(r)) {
            *slot = None;
            ordered.push(r.clone());
        }
    }
    ordered.extend(rest.into_iter().flatten());
    run.clone_from_slice(&ordered);
    out
}

/// The waiters of one key, first come first served.
type Queue = VecDeque<Arc<Waiter>>;

/// Every blocked client of this node, per key.
#[derive(Default)]
pub struct Blocking {
    queues: Mutex<HashMap<(u32, Bytes), Queue>>,
    waiting: AtomicUsize,
    /// Of those, the ones whose look after registering found nothing: the
    /// clients blocked as Redis counts them (a client still taking that
    /// look may yet be served without waiting).
    blocked: AtomicUsize,
    /// Blocking commands that were served after waiting.
    pub served: AtomicU64,
    /// Blocking commands whose timeout passed.
    pub timed_out: AtomicU64,
}

impl Blocking {
    /// Clients blocked now.
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Keys with blocked clients now.
    pub fn blocking_keys(&self) -> usize {
        self.queues.lock().len()
    }

    /// A write changed `key` in `db`: wakes its first waiter.
    pub fn wake(&self, db: u32, key: &[u8]) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let queues = self.queues.lock();
        let key = Bytes::copy_from_slice(key);
        if let Some(w) = queues.get(&(db, key.clone())).and_then(|q| q.front()) {
            w.signal(&key);
        }
    }

    /// Every key of `db` may have changed (SWAPDB): wakes the first waiter
    /// of each key blocked on there; each looks again and waits on if
    /// its key is still empty.
    pub fn wake_db(&self, db: u32) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let queues = self.queues.lock();
        for ((d, key), q) in queues.iter() {
            if *d == db {
                if let Some(w) = q.front() {
                    w.signal(key);
                }
            }
        }
    }

    /// Queues a waiter on `keys` of `db`; it leaves when the guard drops.
    pub fn register(self: &Arc<Self>, db: u32, keys: &[Bytes]) -> Registration {
        let waiter = Arc::new(Waiter {
            wake: Notify::new(),
            ready: Mutex::new(Vec::new()),
        });
        let mut queues = self.queues.lock();
        let mut seen: HashSet<&Bytes> = HashSet::with_capacity(keys.len());
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if seen.insert(k) {
                unique.push(k.clone());
                queues
                    .entry((db, k.clone()))
                    .or_default()
                    .push_back(Arc::clone(&waiter));
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Registration {
            blocking: Arc::clone(self),
            db,
            keys: unique,
            waiter,
            blocked: false,
        }
    }
}

/// A queued waiter; dropping it leaves every queue and passes a wake-up
/// on to the next waiter of each key it headed.
pub struct Registration {
    blocking: Arc<Blocking>,
    db: u32,
    keys: Vec<Bytes>,
    /// The waiter.
    pub waiter: Arc<Waiter>,
    /// Counted among the blocked clients ([`Registration::blocked`]).
    blocked: bool,
}

impl Registration {
    /// The client's look after registering found nothing: it now waits,
    /// and counts as blocked (INFO `blocked_clients`). Not before: a write
    /// made once the count shows it (a test's, an operator's) must find it
    /// waiting, and its wake-up then orders the keys it made ready.
    pub fn blocked(&mut self) {
        if !self.blocked {
            self.blocked = true;
            self.blocking.blocked.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// This waiter was woken but could not use what its keys hold (a type
    /// it does not pop): wakes the waiter right behind it on each of its
    /// keys, so that one that can is served. A wake-up thus walks down a
    /// key's queue past the waiters it cannot serve, as Redis serves the
    /// first blocked client of the right kind; it never comes back up.
    pub fn pass_on(&self) {
        let queues = self.blocking.queues.lock();
        for k in &self.keys {
            let Some(q) = queues.get(&(self.db, k.clone())) else {
                continue;
            };
            let behind = q
                .iter()
                .position(|w| Arc::ptr_eq(w, &self.waiter))
                .and_then(|at| q.get(at + 1));
            if let Some(next) = behind {
                next.signal(k);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut queues = self.blocking.queues.lock();
        for k in &self.keys {
            let slot = (self.db, k.clone());
            let Some(q) = queues.get_mut(&slot) else {
                continue;
            };
            let headed = q.front().is_some_and(|w| Arc::ptr_eq(w, &self.waiter));
            q.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            match q.front() {
                // The key may hold what this waiter left: the next looks.
                Some(next) if headed => next.signal(k),
                Some(_) => {}
                None => {
                    queues.remove(&slot);
                }
            }
        }
        self.blocking.waiting.fetch_sub(1, Ordering::AcqRel);
        if self.blocked {
            self.blocking.blocked.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn ready_keys_come_first_and_the_arguments_keep_their_shape() {
        let args = b(&["BLMPOP", "0", "3", "a", "b", "c", "LEFT"]);
        assert_eq!(
            ready_first(&args, Some(3), 3, &b(&["c", "b"])),
            b(&["BLMPOP", "0", "3", "c", "b", "a", "LEFT"])
        );
        // Nothing ready, a key not waited on, one key, no known run: unchanged.
        assert_eq!(ready_first(&args, Some(3), 3, &[]), args);
        assert_eq!(ready_first(&args, Some(3), 3, &b(&["z"])), args);
        assert_eq!(ready_first(&args, None, 3, &b(&["c"])), args);
        assert_eq!(ready_first(&args, Some(6), 3, &b(&["c"])), args);
        let one = b(&["BLPOP", "a", "0"]);
        assert_eq!(ready_first(&one, Some(1), 1, &b(&["a"])), one);
        // A key named twice keeps both places.
        let dup = b(&["BLPOP", "a", "b", "a", "0"]);
        assert_eq!(
            ready_first(&dup, Some(1), 3, &b(&["b", "a"])),
            b(&["BLPOP", "b", "a", "a", "0"])
        );
        // Keys spelled like the timeout and numkeys before them.
        let like = b(&["BLMPOP", "1", "2", "1", "2", "LEFT"]);
        assert_eq!(
            ready_first(&like, Some(3), 2, &b(&["2"])),
            b(&["BLMPOP", "1", "2", "2", "1", "LEFT"])
        );
    }

    #[test]
    fn timeouts_are_read_with_a_long_doubles_range() {
        let t = |s: &str| parse_timeout(s.as_bytes()).map_err(|e| e.text().to_string());
        let ms = |n| Ok(Some(Duration::from_millis(n)));
        assert_eq!(t("1e-400"), ms(1));
        assert_eq!(t("0.0000000000000000000000001e-300"), ms(1));
        assert_eq!(t("1e-4950"), ms(1));
        assert_eq!(t("-1e-400"), Ok(None));
        assert_eq!(t("0e-5000"), Ok(None));
        assert_eq!(t("0"), Ok(None));
        assert_eq!(t("1.5"), ms(1500));
        let range = Err("ERR timeout is not a float or out of range".to_string());
        assert_eq!(t("1e-5000"), range);
        assert_eq!(t("-1e-5000"), range);
        assert_eq!(t("1e5000"), range);
        assert_eq!(t("1e99999999999999999999"), range);
        let negative = Err("ERR timeout is negative".to_string());
        assert_eq!(t("1e400"), negative);
        assert_eq!(t("inf"), negative);
        assert_eq!(t("-1"), negative);
        // Just below 2^63 ms, where a double rounds up to it: redis-server
        // 7.0 blocks (its long double holds the digits).
        let longest = ms(9_223_372_036_854_775_807);
        assert_eq!(t("9223372036854775.806"), ms(9_223_372_036_854_775_806));
        assert_eq!(t("9223372036854775.807"), longest);
        assert_eq!(t("+9223372036854775.8061"), longest);
        assert_eq!(t("9223372036854775.7"), ms(9_223_372_036_854_775_700));
        assert_eq!(t("9223372036854775"), ms(9_223_372_036_854_775_000));
        assert_eq!(t("9223372036854775.808"), negative);
        assert_eq!(t("9223372036854776"), negative);
        assert_eq!(t("99999999999999999999"), negative);
        assert_eq!(t("1e30"), negative);
    }
}
