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
//! The order is that of the reads that brought their commands (as Redis
//! takes up its clients' input in turn), not that of their registering:
//! two clients that send a BLPOP microseconds apart, or one whose BLPOP
//! waited behind a slow command of its pipeline, queue as they sent.
//! Any change of a key's record on this node wakes at once: a write this
//! node coordinated, or one it applied or merged as a replica. In a cluster
//! the node also registers its interest in the keys with every live node
//! (renewed while clients wait), and a node where one of them changes
//! sends a wake-up. As a safety net for a lost wake-up the waiter re-runs
//! its command every [`POLL_MIN`], doubling up to [`POLL_MAX`].
//!
//! A write that wakes a waiter of this node holds its own reply until the
//! waiter has looked ([`await_looks`]), and follows what that look woke in
//! turn: as in Redis, which serves blocked clients before it writes the
//! replies of the command that made their keys ready, a client that has
//! the reply of its LPUSH sees the element popped, the BLMOVE's
//! destination filled and the watches that move touched. The hold is
//! bounded ([`LOOK_WAIT`]): a waiter that cannot look (paused, its replicas
//! slow) delays no reply for longer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use ringkv_resp::Reply;
use tokio::sync::Notify;

/// The first re-run interval of a waiter in a cluster of several nodes.
pub const POLL_MIN: Duration = Duration::from_millis(5);
/// The longest re-run interval in a cluster.
pub const POLL_MAX: Duration = Duration::from_secs(1);
/// The longest a reply waits for the looks of the waiters its command woke.
pub const LOOK_WAIT: Duration = Duration::from_millis(500);
/// Most wake-ups one reply follows down a chain of waiters.
const LOOKS_FOLLOWED: usize = 256;

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
    /// When its command's input was read: its place in the queues.
    arrived: std::time::Instant,
    /// Wake-ups sent to it so far; the n-th is wake-up number n.
    signals: AtomicU64,
    /// The wake-ups its finished looks have covered (every one sent before
    /// the look began); `u64::MAX` once it has left its queues.
    looked: AtomicU64,
    /// Notified when `looked` moves.
    look_done: Notify,
    /// What its last finished look woke (a BLMOVE's destination's waiter,
    /// the next waiter of a key it left): a reply held for this waiter's
    /// look waits for those too. Weak: a look may wake its own waiter (a
    /// BLMOVE from a list to itself) or one that woke it, and a waiter
    /// gone has no look left to wait for.
    then: Mutex<Vec<(Weak<Waiter>, u64)>>,
}

/// A wake-up sent: the waiter, and its number there.
pub struct Woken {
    waiter: Arc<Waiter>,
    signal: u64,
}

impl Waiter {
    fn new(arrived: std::time::Instant) -> Self {
        Self {
            wake: Notify::new(),
            ready: Mutex::new(Vec::new()),
            arrived,
            signals: AtomicU64::new(0),
            looked: AtomicU64::new(0),
            look_done: Notify::new(),
            then: Mutex::new(Vec::new()),
        }
    }

    /// Resolves at the next wake-up (one stored if it came meanwhile).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Wakes it for `key`; the wake-up's number.
    fn signal(&self, key: &Bytes) -> u64 {
        let mut ready = self.ready.lock();
        // The first few decide the order; a longer list would make a
        // client blocked on many keys cost a search per write (SWAPDB
        // signals every key at once).
        if ready.len() < READY_KEPT && !ready.contains(key) {
            ready.push(key.clone());
        }
        drop(ready);
        let n = self.signals.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake.notify_one();
        n
    }

    /// The keys signalled since the last call, in signal order.
    pub fn take_ready(&self) -> Vec<Bytes> {
        std::mem::take(&mut *self.ready.lock())
    }

    /// A look begins: the wake-ups it covers (every write that sent one
    /// is done before the look reads its keys).
    pub fn begin_look(&self) -> u64 {
        self.signals.load(Ordering::Acquire)
    }

    /// A look that covered the wake-ups up to `covered` is over, and woke
    /// `woke`: replies held for those wake-ups may go (after `woke`'s).
    pub fn end_look(&self, covered: u64, woke: Vec<Woken>) {
        *self.then.lock() = woke
            .into_iter()
            .map(|w| (Arc::downgrade(&w.waiter), w.signal))
            .collect();
        self.covered(covered);
    }

    /// The wake-ups up to `covered` have been looked at: replies held for
    /// them may go.
    fn covered(&self, covered: u64) {
        self.looked.fetch_max(covered, Ordering::AcqRel);
        self.look_done.notify_waiters();
    }

    /// A look begins, `woken` by a wake-up (not a first look, a poll or a
    /// pause's end): the wake-ups it covers and the keys signalled since
    /// the last look, in signal order. `None` when a wake-up brought no
    /// key since the last look took them: a notification left over (one
    /// that a losing branch of the wait's select had received is passed
    /// on). That look, whose reads followed every write that signalled,
    /// covered these wake-ups too; looking again could pop ahead of a
    /// waiter queued first, or pass on a wake-up nothing waits for. What
    /// that look woke stays to be waited for.
    pub fn start_look(&self, woken: bool) -> Option<(u64, Vec<Bytes>)> {
        let covered = self.begin_look();
        let ready = self.take_ready();
        if woken && ready.is_empty() {
            self.covered(covered);
            return None;
        }
        Some((covered, ready))
    }

    /// Waits until a look has covered wake-up `signal`, or `deadline`;
    /// whether it did.
    async fn looked_at(&self, signal: u64, deadline: tokio::time::Instant) -> bool {
        loop {
            let done = self.look_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.looked.load(Ordering::Acquire) >= signal {
                return true;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return false;
            }
        }
    }
}

/// Holds a reply until the waiters its command woke have looked, and the
/// ones their looks woke in turn (at most [`LOOKS_FOLLOWED`], for at most
/// [`LOOK_WAIT`]): the module doc says why.
pub async fn await_looks(woken: Vec<Woken>) {
    let deadline = tokio::time::Instant::now() + LOOK_WAIT;
    let mut followed: HashSet<(usize, u64)> = HashSet::new();
    let mut pending = woken;
    while let Some(w) = pending.pop() {
        // A chain may come back to a waiter (a circle of BLMOVEs): each
        // wake-up is followed once.
        if followed.len() >= LOOKS_FOLLOWED
            || !followed.insert((Arc::as_ptr(&w.waiter) as usize, w.signal))
        {
            continue;
        }
        if !w.waiter.looked_at(w.signal, deadline).await {
            return;
        }
        let then = w.waiter.then.lock();
        pending.extend(then.iter().filter_map(|(waiter, signal)| {
            Some(Woken {
                waiter: waiter.upgrade()?,
                signal: *signal,
            })
        }));
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

    /// A write changed `key` in `db`: wakes its first waiter, if any.
    pub fn wake(&self, db: u32, key: &[u8]) -> Option<Woken> {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return None;
        }
        let queues = self.queues.lock();
        let key = Bytes::copy_from_slice(key);
        let w = queues.get(&(db, key.clone())).and_then(|q| q.front())?;
        Some(woken(w, &key))
    }

    /// Every key of `db` may have changed (SWAPDB): wakes the first waiter
    /// of each key blocked on there; each looks again and waits on if
    /// its key is still empty.
    pub fn wake_db(&self, db: u32) -> Vec<Woken> {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let queues = self.queues.lock();
        queues
            .iter()
            .filter(|((d, _), _)| *d == db)
            .filter_map(|((_, key), q)| Some(woken(q.front()?, key)))
            .collect()
    }

    /// Queues a waiter on `keys` of `db`, behind the waiters whose input
    /// arrived first; it leaves when the guard drops.
    pub fn register(
        self: &Arc<Self>,
        db: u32,
        keys: &[Bytes],
        arrived: std::time::Instant,
    ) -> Registration {
        let waiter = Arc::new(Waiter::new(arrived));
        let mut queues = self.queues.lock();
        let mut seen: HashSet<&Bytes> = HashSet::with_capacity(keys.len());
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if seen.insert(k) {
                unique.push(k.clone());
                let queue = queues.entry((db, k.clone())).or_default();
                // Almost always the last: behind the last that arrived
                // no later.
                let at = queue
                    .iter()
                    .rposition(|w| w.arrived <= arrived)
                    .map_or(0, |i| i + 1);
                queue.insert(at, Arc::clone(&waiter));
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Registration {
            blocking: Arc::clone(self),
            db,
            keys: unique,
            waiter,
            blocked: false,
            left: false,
        }
    }
}

/// Signals `w` for `key`.
fn woken(w: &Arc<Waiter>, key: &Bytes) -> Woken {
    Woken {
        waiter: Arc::clone(w),
        signal: w.signal(key),
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
    /// Has left its queues ([`Registration::leave`]).
    left: bool,
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
    pub fn pass_on(&self) -> Vec<Woken> {
        let queues = self.blocking.queues.lock();
        let mut woke = Vec::new();
        for k in &self.keys {
            let Some(q) = queues.get(&(self.db, k.clone())) else {
                continue;
            };
            let behind = q
                .iter()
                .position(|w| Arc::ptr_eq(w, &self.waiter))
                .and_then(|at| q.get(at + 1));
            if let Some(next) = behind {
                woke.push(woken(next, k));
            }
        }
        woke
    }

    /// Leaves every queue, waking the next waiter of each key it headed
    /// (the key may hold what this one left); those wake-ups. The waiter's
    /// looks are over: replies held for them go, after `woke`'s (what its
    /// last look woke) and these.
    pub fn leave(&mut self, mut woke: Vec<Woken>) {
        if std::mem::replace(&mut self.left, true) {
            return;
        }
        let mut queues = self.blocking.queues.lock();
        for k in &self.keys {
            let slot = (self.db, k.clone());
            let Some(q) = queues.get_mut(&slot) else {
                continue;
            };
            let headed = q.front().is_some_and(|w| Arc::ptr_eq(w, &self.waiter));
            q.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            match q.front() {
                Some(next) if headed => woke.push(woken(next, k)),
                Some(_) => {}
                None => {
                    queues.remove(&slot);
                }
            }
        }
        drop(queues);
        self.waiter.end_look(u64::MAX, woke);
        self.blocking.waiting.fetch_sub(1, Ordering::AcqRel);
        if self.blocked {
            self.blocking.blocked.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.leave(Vec::new());
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

    #[tokio::test]
    async fn a_held_reply_follows_the_looks_its_push_caused_and_leaks_no_waiter() {
        let blocking = Arc::new(Blocking::default());
        let key = Bytes::from_static(b"q");
        let mut reg = blocking.register(0, std::slice::from_ref(&key), std::time::Instant::now());
        // A push wakes the waiter; its look moves the element back into
        // the same key, which wakes itself again (a BLMOVE q q).
        let pushed = blocking.wake(0, &key).expect("a waiter");
        let covered = reg.waiter.begin_look();
        let again = blocking.wake(0, &key).expect("its own waiter");
        reg.waiter.end_look(covered, vec![again]);
        // The push's reply waits for that second look too.
        let held = tokio::spawn(await_looks(vec![pushed]));
        tokio::task::yield_now().await;
        assert!(!held.is_finished(), "released before the look it caused");
        let weak = Arc::downgrade(&reg.waiter);
        reg.leave(Vec::new());
        tokio::time::timeout(LOOK_WAIT / 2, held)
            .await
            .expect("released once the waiter left")
            .unwrap();
        drop(reg);
        assert!(
            weak.upgrade().is_none(),
            "a waiter kept alive by its own wake-up"
        );
        assert_eq!(blocking.blocking_keys(), 0);
    }

    /// A wake-up left over after a look took its key (a notification a
    /// losing select branch passed on) starts no look, and counts as
    /// looked at: a reply held for it is released. A key signalled after
    /// the look starts one.
    #[tokio::test]
    async fn a_leftover_wake_up_starts_no_look() {
        let blocking = Arc::new(Blocking::default());
        let key = Bytes::from_static(b"q");
        let reg = blocking.register(0, std::slice::from_ref(&key), std::time::Instant::now());
        let pushed = blocking.wake(0, &key).expect("a waiter");
        reg.waiter.woken().await;
        let (covered, ready) = reg.waiter.start_look(true).expect("a look");
        assert_eq!(ready, std::slice::from_ref(&key));
        // A second notification, as a select branch that lost passes on
        // one it had received: a permit stored, no key signalled.
        reg.waiter.wake.notify_one();
        reg.waiter.end_look(covered, Vec::new());
        tokio::time::timeout(LOOK_WAIT / 2, reg.waiter.woken())
            .await
            .expect("the leftover permit");
        assert!(reg.waiter.start_look(true).is_none(), "a look for nothing");
        // A write signalled after that: looked at.
        let later = blocking.wake(0, &key).expect("a waiter");
        let held = tokio::spawn(await_looks(vec![later]));
        let (covered, ready) = reg.waiter.start_look(true).expect("a look");
        assert_eq!(ready, std::slice::from_ref(&key));
        reg.waiter.end_look(covered, Vec::new());
        tokio::time::timeout(LOOK_WAIT / 2, held)
            .await
            .expect("released by the look")
            .unwrap();
        // A first look (not woken) looks even with no key signalled.
        assert!(reg.waiter.start_look(false).is_some());
        tokio::time::timeout(LOOK_WAIT / 2, await_looks(vec![pushed]))
            .await
            .expect("the first wake-up was looked at");
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
