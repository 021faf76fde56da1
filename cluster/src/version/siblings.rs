//! The versioned state of one key: a set of siblings, each a write (value,
//! deletion or counter) with the vector clock of its causal history.
//!
//! Writes the writer had seen are superseded; writes made concurrently on
//! different replicas stay side by side as siblings until a write that saw
//! them all replaces them, and plain reads pick one by last-write-wins.
//!
//! Concurrent counter siblings grown from the same base are joined when the
//! counter is read ([`Siblings::resolve`]) or incremented (the increment
//! then supersedes them all), so concurrent INCRs add up. They are *not*
//! joined into one sibling inside [`Siblings::merge`]: a joined sibling
//! carries the union of their clocks, so a later write that superseded only
//! one of them would no longer supersede the join and would resurrect the
//! counts it had replaced, and merge would stop being associative. Keeping
//! the maximal writes as they are makes merge a plain semilattice.
//! Counters of different bases (one restarted by a DEL or SET another
//! replica had not seen) are added up through the histories of
//! [`super::counter_history`].
//!
//! Stored and sent between nodes as record format 2
//! (`docs/formats/record.md`), through [`super::codec`].

use std::borrow::Cow;

use bytes::Bytes;

use super::clock::VectorClock;
use super::codec::{self, DecodeError};
use super::collection::Collection;
use super::counter::{Carried, Counter, CounterError, CounterValue};
use super::counter_history::{History, Lineages, start_lineage};
use super::member_history::{MemberHistories, live_member_histories, recorded_by};
use super::reconcile::normalize;
use super::{Actor, BASE_ID_SEED, MAX_CLOCK_ENTRIES, YOUNG_CLOCK_MS};

/// What a write stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A plain string value (SET and friends).
    Value(Bytes),
    /// A deletion: kept so the delete supersedes older writes on every
    /// replica instead of being undone by them.
    Tombstone,
    /// A counter (the INCR family).
    Counter(Counter),
    /// A HyperLogLog written by PFADD or PFMERGE: Redis's bytes (sparse or
    /// dense). Concurrent HyperLogLog siblings are joined on read, register
    /// by register, so concurrent PFADDs all count.
    Hll(Bytes),
    /// A hash or a set (never empty: a write that empties it stores a
    /// tombstone). Concurrent collection siblings are joined on read
    /// ([`Siblings::view`]).
    Collection(Collection),
}

/// One write of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sibling {
    /// The causal history of the write.
    pub clock: VectorClock,
    /// Wall time (unix ms) of the write: the last-write-wins order.
    pub ts_ms: u64,
    /// When the value expires (unix ms); 0 = never.
    pub expire_at_ms: u64,
    /// What was written.
    pub payload: Payload,
    /// The counter lineages the write ended, with the increments it had
    /// seen of them ([`super::counter_history`]); empty for most writes.
    pub history: History,
    /// A deletion's or a string's record of the counter members of the
    /// collection it replaced ([`super::member_history`]); a collection
    /// keeps its own inside it, so this is empty for collections and for
    /// most writes.
    pub member_histories: MemberHistories,
}

impl Sibling {
    /// Whether the value is expired at `now_ms` (`expire_at_ms` reached).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }

    /// Whether a read at `now_ms` sees nothing here: a tombstone or expired.
    pub fn is_absent(&self, now_ms: u64) -> bool {
        matches!(self.payload, Payload::Tombstone) || self.is_expired(now_ms)
    }
}

/// The bytes a client reads for a payload: a value's bytes, a counter's
/// rendered value (see [`Counter::render`]); `None` for a tombstone.
pub fn payload_bytes(p: &Payload) -> Option<Bytes> {
    match p {
        Payload::Value(b) | Payload::Hll(b) => Some(b.clone()),
        Payload::Tombstone | Payload::Collection(_) => None,
        Payload::Counter(c) => Some(c.render()),
    }
}

/// What a read of a key sees once its siblings are resolved.
#[derive(Clone, Debug)]
pub enum View<'a> {
    /// Nothing: never written, deleted, expired or emptied.
    Absent,
    /// A string (value, counter or HyperLogLog), last-write-wins.
    Plain(Cow<'a, Sibling>),
    /// A hash or set: the join of its concurrent siblings, with the expiry
    /// of the latest of them.
    Collection {
        /// The members (borrowed when one sibling holds them all).
        collection: Cow<'a, Collection>,
        /// Absolute expiry, unix ms (0: none).
        expire_at_ms: u64,
    },
}

/// The identity of a counter grown from the sibling with `clock`: XXH3-64 of
/// the encoded clock with [`BASE_ID_SEED`]; never 0 (reserved for a
/// missing key).
pub fn base_id(clock: &VectorClock) -> u64 {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&codec::clock_bytes(clock), BASE_ID_SEED);
    if h == 0 { 1 } else { h }
}

/// The siblings of one key, always reconciled: no sibling's clock is
/// dominated by another's, no two are causally equal, and they are kept in
/// canonical order (`ts_ms`, then the encoded clock, then the encoded
/// sibling), so equal states compare equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Siblings {
    siblings: Vec<Sibling>,
}

impl Siblings {
    /// No siblings: a key never written.
    pub fn new() -> Self {
        Siblings::default()
    }

    /// Reconciles with another replica's state: the union, minus every
    /// sibling whose clock another's dominates; causally equal clocks are
    /// the same write (its tombstone is kept if one side has it, the marker
    /// of an expired value; else the greater encoding, whichever side it
    /// came from). The maximal elements of a strict partial order, so merge is
    /// commutative, associative and idempotent for any inputs. Concurrent
    /// counters of one base stay separate siblings here and are joined on
    /// read and increment (see the module doc for why).
    pub fn merge(&mut self, other: &Siblings) {
        let mut all = std::mem::take(&mut self.siblings);
        all.extend(other.siblings.iter().cloned());
        self.siblings = normalize(all);
    }

    /// The causal context: the merge of every sibling's clock.
    pub fn context(&self) -> VectorClock {
        let mut clock = VectorClock::new();
        for s in &self.siblings {
            clock.merge(&s.clock);
        }
        clock
    }

    /// Stores a write coordinated by `actor` and returns its clock.
    ///
    /// The clock is `context` (what the writer had seen; `None` means all
    /// this replica holds, [`context`](Self::context)) merged with this
    /// replica's own dot for `actor`, so the new dot is fresh even when the
    /// client's context is stale, then incremented for `actor` at `now_ms`.
    /// Every sibling that clock descends is removed; concurrent siblings
    /// (written elsewhere, not in the context) stay. The clock is then
    /// pruned to [`MAX_CLOCK_ENTRIES`] dots, keeping those younger than
    /// [`YOUNG_CLOCK_MS`].
    ///
    /// Limit (shared with Riak's per-vnode clocks): a stale context whose
    /// write is coordinated by the same `actor` that wrote a value the
    /// writer did not see supersedes that value, because the fresh dot must
    /// count past it. Through any other coordinator the value is kept as a
    /// sibling. Dotted version vectors would lift this; see the format doc.
    pub fn write(
        &mut self,
        context: Option<&VectorClock>,
        actor: Actor,
        now_ms: u64,
        payload: Payload,
        expire_at_ms: u64,
    ) -> VectorClock {
        self.write_recording(context, actor, now_ms, payload, expire_at_ms, None)
    }

    /// [`write`](Self::write), joining `more` into what a deletion or a
    /// string records of the counter members it replaces (the emptied
    /// collection's, when its write took it out of this record).
    pub(super) fn write_recording(
        &mut self,
        context: Option<&VectorClock>,
        actor: Actor,
        now_ms: u64,
        payload: Payload,
        expire_at_ms: u64,
        more: Option<&MemberHistories>,
    ) -> VectorClock {
        let clock = self.write_clock(context, actor, now_ms);
        let history = self.history_for(&clock, &payload, now_ms);
        let mut members = recorded_by(&self.siblings, &clock, actor, &payload, now_ms);
        if let Some(more) = more {
            members.join(more);
            members.prune(now_ms);
        }
        self.write_clocked(clock, now_ms, payload, expire_at_ms, history, members)
    }

    /// The clock of a write by `actor` at `now_ms` that saw `context` (see
    /// [`write`](Self::write)).
    fn write_clock(&self, context: Option<&VectorClock>, actor: Actor, now_ms: u64) -> VectorClock {
        let local = self.context();
        let mut clock = match context {
            // The replica's own context holds its dots for `actor` already.
            None => local,
            Some(context) => {
                let mut clock = context.clone();
                clock.merge(&VectorClock::from_dots(
                    local.dots().iter().filter(|d| d.actor == actor).copied(),
                ));
                clock
            }
        };
        clock.increment(actor, now_ms);
        clock
    }

    /// The history a value or deletion with `clock` writes at `now_ms`:
    /// the lineages of the siblings it supersedes, every increment it saw
    /// floored ([`Lineages::history_for_reset`]). Empty for other payloads
    /// and for a write that replaces no counter state.
    fn history_for(&self, clock: &VectorClock, payload: &Payload, now_ms: u64) -> History {
        let deletion = match payload {
            Payload::Tombstone => true,
            Payload::Value(_) => false,
            _ => return History::new(),
        };
        let relevant = |s: &Sibling| {
            !s.history.is_empty()
                || matches!(s.payload, Payload::Counter(_))
                || (deletion && start_lineage(s).is_some())
        };
        if !self.siblings.iter().any(relevant) {
            // The common case: no counter state to carry over.
            return History::new();
        }
        let replaced = || self.siblings.iter().filter(|s| clock.descends(&s.clock));
        let lineages = Lineages::of(replaced(), now_ms);
        let starts: Vec<u64> = if deletion {
            replaced().filter_map(start_lineage).collect()
        } else {
            Vec::new()
        };
        if lineages.is_empty() && starts.is_empty() {
            return History::new();
        }
        lineages.history_for_reset(&starts, now_ms)
    }

    /// The counter `actor` gets in the clock of a write superseding
    /// everything held ([`write`](Self::write) with no context).
    pub fn next_counter(&self, actor: Actor) -> u64 {
        self.context().counter(actor).saturating_add(1)
    }

    /// Stores a write whose clock `clock` is already made (see
    /// [`write`](Self::write)).
    fn write_clocked(
        &mut self,
        mut clock: VectorClock,
        now_ms: u64,
        payload: Payload,
        expire_at_ms: u64,
        history: History,
        member_histories: MemberHistories,
    ) -> VectorClock {
        // Decided on the full clock: what this writer saw is gone here even
        // if pruning makes the stored clock forget it (a false sibling at
        // worst, on a replica that still holds the old write).
        self.siblings.retain(|s| !clock.descends(&s.clock));
        clock.prune(MAX_CLOCK_ENTRIES, YOUNG_CLOCK_MS, now_ms);
        let mut all = std::mem::take(&mut self.siblings);
        all.push(Sibling {
            clock: clock.clone(),
            ts_ms: now_ms,
            expire_at_ms,
            payload,
            history,
            member_histories,
        });
        self.siblings = normalize(all);
        clock
    }

    /// Stores an increment's `counter` as a write superseding everything
    /// held ([`write`](Self::write) with no context), with `history`.
    pub(super) fn write_counter(
        &mut self,
        actor: Actor,
        now_ms: u64,
        mut counter: Counter,
        expire_at_ms: u64,
        history: History,
    ) {
        // What other lineages add is recomputed from the histories on read.
        counter.carried = Carried::default();
        let clock = self.write_clock(None, actor, now_ms);
        self.write_clocked(
            clock,
            now_ms,
            Payload::Counter(counter),
            expire_at_ms,
            history,
            MemberHistories::new(),
        );
    }

    /// INCR/INCRBY/DECR/DECRBY coordinated by `actor`: adds `delta` to the
    /// counter grown from the sibling [`resolve`](Self::resolve) picks (with
    /// every concurrent counter of its base joined in) and writes it as a
    /// new sibling superseding everything held, keeping that expiry. The base is: for a missing key `"0"` with base id
    /// 0; for a tombstone or an expired sibling `"0"` with that sibling's
    /// [`base_id`]; for a value its bytes and [`base_id`]; a counter
    /// continues.
    ///
    /// # Errors
    /// As [`Counter::add_int`]; `self` is then unchanged.
    pub fn add_int(
        &mut self,
        actor: Actor,
        now_ms: u64,
        delta: i64,
    ) -> Result<CounterValue, CounterError> {
        let (mut counter, expire_at_ms, history) = self.counter_at(now_ms)?;
        let value = counter.add_int(actor, delta)?;
        self.write_counter(actor, now_ms, counter, expire_at_ms, history);
        Ok(value)
    }

    /// INCRBYFLOAT coordinated by `actor`; as [`add_int`](Self::add_int).
    ///
    /// # Errors
    /// As [`Counter::add_float`]; `self` is then unchanged.
    pub fn add_float(
        &mut self,
        actor: Actor,
        now_ms: u64,
        delta: f64,
    ) -> Result<CounterValue, CounterError> {
        let (mut counter, expire_at_ms, history) = self.counter_at(now_ms)?;
        let value = counter.add_float(actor, delta)?;
        self.write_counter(actor, now_ms, counter, expire_at_ms, history);
        Ok(value)
    }

    /// PFADD of `elements` coordinated by `actor`, on the HyperLogLog
    /// [`resolve`](Self::resolve) picks (concurrent ones joined), or a new
    /// empty one when the key is missing, deleted or expired. When a
    /// register changed (or the key was created) the result is written as a
    /// sibling superseding everything held, keeping the expiry, with its
    /// cache marked stale; returns whether it was.
    ///
    /// # Errors
    /// [`ringkv_hll::Invalid`] when the value is not a HyperLogLog or is
    /// damaged; `self` is then unchanged.
    pub fn pf_add(
        &mut self,
        actor: Actor,
        now_ms: u64,
        elements: &[Bytes],
    ) -> Result<bool, ringkv_hll::Invalid> {
        let (mut hll, mut changed, expire_at_ms) = self.hll_at(now_ms)?;
        for e in elements {
            changed |= ringkv_hll::add(&mut hll, e, ringkv_hll::DEFAULT_SPARSE_MAX_BYTES)?;
        }
        if changed {
            ringkv_hll::invalidate_cache(&mut hll);
            self.write(None, actor, now_ms, Payload::Hll(hll.into()), expire_at_ms);
        }
        Ok(changed)
    }

    /// PFMERGE into this key, coordinated by `actor`: its HyperLogLog (a
    /// new empty one if missing) is raised to `registers` and to its own,
    /// made dense first if `dense` or it already is, and written as a
    /// sibling superseding everything held, as Redis's PFMERGE always
    /// writes.
    ///
    /// # Errors
    /// As [`pf_add`](Self::pf_add).
    pub fn pf_merge(
        &mut self,
        actor: Actor,
        now_ms: u64,
        registers: &[u8],
        dense: bool,
    ) -> Result<(), ringkv_hll::Invalid> {
        let (mut hll, _, expire_at_ms) = self.hll_at(now_ms)?;
        let mut max = ringkv_hll::registers(&hll)?;
        for (m, r) in max.iter_mut().zip(registers) {
            *m = (*m).max(*r);
        }
        let dense = dense || ringkv_hll::is_dense(&hll);
        ringkv_hll::merge_into(&mut hll, &max, dense, ringkv_hll::DEFAULT_SPARSE_MAX_BYTES)?;
        self.write(None, actor, now_ms, Payload::Hll(hll.into()), expire_at_ms);
        Ok(())
    }

    /// The HyperLogLog a PFADD or PFMERGE at `now_ms` starts from, whether
    /// it is new, and the expiry it keeps.
    fn hll_at(&self, now_ms: u64) -> Result<(Vec<u8>, bool, u64), ringkv_hll::Invalid> {
        let s = match self.view(now_ms) {
            View::Absent => return Ok((ringkv_hll::new_sparse(), true, 0)),
            View::Collection { .. } => return Err(ringkv_hll::Invalid::WrongType),
            View::Plain(s) => s,
        };
        match &s.payload {
            Payload::Value(b) | Payload::Hll(b) => {
                ringkv_hll::check(b)?;
                Ok((b.to_vec(), false, s.expire_at_ms))
            }
            Payload::Collection(_) => Err(ringkv_hll::Invalid::WrongType),
            Payload::Counter(_) | Payload::Tombstone => Err(ringkv_hll::Invalid::NotHll),
        }
    }

    /// The collection of `kind` when it is the only sibling and live,
    /// taken out (the sibling keeps a placeholder until
    /// [`put_back_sole_collection`](Self::put_back_sole_collection) or a
    /// write replaces it), with its expiry: a write then changes it in
    /// place instead of copying it.
    pub(super) fn take_sole_collection(
        &mut self,
        now_ms: u64,
        kind: super::collection::Kind,
    ) -> Option<(Collection, u64)> {
        let [only] = self.siblings.as_mut_slice() else {
            return None;
        };
        match &only.payload {
            Payload::Collection(c) if c.kind() == kind && !only.is_expired(now_ms) => {}
            _ => return None,
        }
        match std::mem::replace(&mut only.payload, Payload::Tombstone) {
            Payload::Collection(c) => Some((c, only.expire_at_ms)),
            _ => None,
        }
    }

    /// Undoes [`take_sole_collection`](Self::take_sole_collection) when the
    /// write changed nothing.
    pub(super) fn put_back_sole_collection(&mut self, collection: Collection) {
        if let [only] = self.siblings.as_mut_slice() {
            only.payload = Payload::Collection(collection);
        }
    }

    /// What a read at `now_ms` sees.
    ///
    /// Without collection siblings: the [`resolve`](Self::resolve) pick,
    /// unless it is a tombstone or expired. With them: a live string that is
    /// the last write wins (last-write-wins across types, as between two
    /// strings); otherwise the kind of the latest live collection sibling
    /// is the key's type, and the view is the join of every sibling
    /// ([`Collection::join`]): a tombstone, a string or an expired sibling
    /// removes the members it had seen, and a member added concurrently
    /// survives (add-wins). An empty join is [`View::Absent`].
    pub fn view(&self, now_ms: u64) -> View<'_> {
        let latest = self.siblings.iter().rev().find_map(|s| match &s.payload {
            Payload::Collection(c) if !s.is_expired(now_ms) => Some((c.kind(), s.expire_at_ms)),
            _ => None,
        });
        let plain = || match self.resolve(now_ms) {
            Some(s) if !s.is_absent(now_ms) => View::Plain(s),
            _ => View::Absent,
        };
        let Some((kind, expire_at_ms)) = latest else {
            return plain();
        };
        if self
            .siblings
            .last()
            .is_some_and(|s| !s.is_absent(now_ms) && !matches!(s.payload, Payload::Collection(_)))
        {
            return plain();
        }
        if let [only] = self.siblings.as_slice() {
            // The common case: one write superseded all others; nothing to join.
            if let Payload::Collection(c) = &only.payload {
                return View::Collection {
                    collection: Cow::Borrowed(c),
                    expire_at_ms,
                };
            }
        }
        let parts: Vec<_> = self
            .siblings
            .iter()
            .map(|s| {
                let coll = match &s.payload {
                    Payload::Collection(c) if c.kind() == kind && !s.is_expired(now_ms) => Some(c),
                    _ => None,
                };
                (&s.clock, coll)
            })
            .collect();
        let mut collection = Collection::join(kind, &parts);
        // The collections' own are in the join already.
        collection.join_member_histories(&self.member_histories_at(None, now_ms));
        if collection.is_empty() {
            View::Absent
        } else {
            View::Collection {
                collection: Cow::Owned(collection),
                expire_at_ms,
            }
        }
    }

    /// The member histories the live siblings here hold, those of the
    /// collections of `kind` included (a collection of that kind written
    /// over them starts with them; see [`live_member_histories`]).
    pub(super) fn member_histories_at(
        &self,
        kind: Option<super::collection::Kind>,
        now_ms: u64,
    ) -> MemberHistories {
        live_member_histories(&self.siblings, kind, now_ms)
    }

    /// Last-write-wins pick at `now_ms`: the sibling with the greatest
    /// `ts_ms`, ties broken by the greater encoded clock (then encoding);
    /// `None` if empty. A counter of a lineage another sibling ended
    /// ([`super::counter_history`]) is never the pick. If the pick is a
    /// counter, every other counter sibling of the same `(base_id, base)`
    /// (all concurrent with it) is joined in (clocks merged, slots joined,
    /// its `ts_ms` and expiry kept), and the increments of other lineages
    /// no write has seen are added. A deletion, or a value that is a
    /// number, with such increments beside it reads as a counter of them
    /// (from 0, or from the number). Only these cases allocate. The pick
    /// may be a tombstone or expired; see [`live`](Self::live).
    pub fn resolve(&self, now_ms: u64) -> Option<Cow<'_, Sibling>> {
        let last = self.siblings.last()?;
        let plain = self.siblings.len() == 1 && last.history.is_empty();
        let lineages = if plain {
            None
        } else {
            Some(Lineages::of(&self.siblings, now_ms)).filter(|l| !l.is_empty())
        };
        let Some(lineages) = lineages else {
            return Some(match &last.payload {
                Payload::Hll(_) => self.join_hll(last),
                Payload::Counter(_) => self.join_counters(last, None),
                _ => Cow::Borrowed(last),
            });
        };
        let ended =
            |s: &Sibling| matches!(&s.payload, Payload::Counter(c) if lineages.ended(c.base_id));
        // Every sibling a counter of an ended lineage: increments made at
        // once on replicas that continued different bases, each ending the
        // other's. None is the base: the latest's base is, as a new
        // lineage, and every increment counts above its floors.
        let (pick, restart) = match self.siblings.iter().rev().find(|s| !ended(s)) {
            Some(pick) => (pick, false),
            None => (last, true),
        };
        let start = |base: Bytes| {
            let carried = lineages.carried(None);
            let mut counter = Counter::new(base, base_id(&pick.clock));
            counter.carried = carried;
            (!carried.is_zero() || (restart && !pick.is_absent(now_ms))).then(|| {
                Cow::Owned(Sibling {
                    payload: Payload::Counter(counter),
                    expire_at_ms: if pick.is_absent(now_ms) {
                        0
                    } else {
                        pick.expire_at_ms
                    },
                    history: History::new(),
                    ..pick.clone()
                })
            })
        };
        Some(match &pick.payload {
            _ if pick.is_absent(now_ms) => {
                start(Bytes::from_static(b"0")).unwrap_or(Cow::Borrowed(pick))
            }
            Payload::Counter(c) if restart => start(c.base.clone()).unwrap_or(Cow::Borrowed(pick)),
            Payload::Hll(_) => self.join_hll(pick),
            Payload::Counter(_) => self.join_counters(pick, Some(&lineages)),
            Payload::Value(v) if parse_number(v) => start(v.clone()).unwrap_or(Cow::Borrowed(pick)),
            _ => Cow::Borrowed(pick),
        })
    }

    /// A counter pick with every other counter of its `(base_id, base)`
    /// joined in, and what `lineages` carries from the others.
    fn join_counters<'a>(
        &'a self,
        pick: &'a Sibling,
        lineages: Option<&Lineages>,
    ) -> Cow<'a, Sibling> {
        let Payload::Counter(winner) = &pick.payload else {
            return Cow::Borrowed(pick);
        };
        let mut joined: Option<Sibling> = None;
        for other in self.siblings.iter().rev() {
            if std::ptr::eq(other, pick) {
                continue;
            }
            if let Payload::Counter(c) = &other.payload {
                if c.base_id == winner.base_id && c.base == winner.base {
                    let into = joined.get_or_insert_with(|| pick.clone());
                    into.clock.merge(&other.clock);
                    if let Payload::Counter(mine) = &mut into.payload {
                        mine.join(c);
                    }
                }
            }
        }
        if let Some(lineages) = lineages {
            let carried = lineages.carried(Some(winner.base_id));
            if !carried.is_zero() {
                let into = joined.get_or_insert_with(|| pick.clone());
                if let Payload::Counter(mine) = &mut into.payload {
                    mine.carried = carried;
                }
            }
        }
        joined.map_or(Cow::Borrowed(pick), Cow::Owned)
    }

    /// A HyperLogLog winner with every other HyperLogLog sibling (all
    /// concurrent with it) joined in: clocks merged, registers raised to
    /// the maximum, written dense with a stale cache (as Redis's PFMERGE
    /// writes a dense result); the winner's `ts_ms` and expiry kept. A
    /// sibling that is not a valid HyperLogLog is left out (the writer
    /// checked it; only damage could get one here). Alone, the winner is
    /// returned as written, so GET gives Redis's exact bytes.
    fn join_hll<'a>(&'a self, last: &'a Sibling) -> Cow<'a, Sibling> {
        let others: Vec<&Sibling> = self
            .siblings
            .iter()
            .rev()
            .filter(|s| !std::ptr::eq(*s, last) && matches!(s.payload, Payload::Hll(_)))
            .collect();
        if others.is_empty() {
            return Cow::Borrowed(last);
        }
        let mut max = vec![0u8; ringkv_hll::REGISTERS];
        let mut joined = last.clone();
        for s in std::iter::once(last).chain(others.iter().copied()) {
            if let Payload::Hll(b) = &s.payload {
                let _ = ringkv_hll::union_registers(&mut max, b);
            }
            joined.clock.merge(&s.clock);
        }
        joined.payload = Payload::Hll(Bytes::from(ringkv_hll::dense_from_registers(&max)));
        Cow::Owned(joined)
    }

    /// What a plain GET at `now_ms` sees: [`resolve`](Self::resolve)'s pick
    /// unless it is a tombstone or expired.
    pub fn live(&self, now_ms: u64) -> Option<Cow<'_, Sibling>> {
        self.resolve(now_ms).filter(|s| !s.is_absent(now_ms))
    }

    /// The expiry the engine may keep as the record's metadata: the latest
    /// sibling expiry, or 0 (never) if any sibling never expires or there
    /// are none; so the engine drops the record only once every sibling has
    /// expired.
    pub fn engine_expire_at_ms(&self) -> u64 {
        if self.siblings.iter().any(|s| s.expire_at_ms == 0) {
            return 0;
        }
        self.siblings
            .iter()
            .map(|s| s.expire_at_ms)
            .max()
            .unwrap_or(0)
    }

    /// The siblings in canonical order (the LWW pick last).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Sibling> {
        self.siblings.iter()
    }

    /// The number of siblings.
    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    /// Whether there are no siblings (the key was never written here).
    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// Record format 2 (`docs/formats/record.md` §3).
    pub fn encode(&self) -> Bytes {
        codec::encode_record(&self.siblings)
    }

    /// Decodes record format 2, or format 1 as one value sibling with an
    /// empty clock, `ts_ms` 0 and expiry `legacy_expire_at_ms` (format 1
    /// keeps the expiry in the engine's metadata). The result is
    /// reconciled, so a peer's unsorted or unreduced set is accepted.
    ///
    /// # Errors
    /// [`DecodeError`] on damaged or unknown input; never panics.
    pub fn decode(bytes: &[u8], legacy_expire_at_ms: u64) -> Result<Siblings, DecodeError> {
        let siblings = codec::decode_record(bytes, legacy_expire_at_ms)?;
        Ok(Siblings {
            siblings: normalize(siblings),
        })
    }

    /// [`decode`](Self::decode) of shared bytes (an engine value, a
    /// peer's frame): values and members are slices of `bytes`, not copies.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_shared(bytes: &Bytes, legacy_expire_at_ms: u64) -> Result<Siblings, DecodeError> {
        let siblings = codec::decode_shared_record(bytes, legacy_expire_at_ms)?;
        Ok(Siblings {
            siblings: normalize(siblings),
        })
    }

    /// The counter an INCR at `now_ms` grows, the expiry it keeps, and the
    /// history it writes: every other lineage the key knows, so their
    /// increments no write had seen keep counting once the increment has
    /// superseded their siblings.
    pub(super) fn counter_at(&self, now_ms: u64) -> Result<(Counter, u64, History), CounterError> {
        if let View::Collection { .. } = self.view(now_ms) {
            return Err(CounterError::WrongType);
        }
        let zero = Bytes::from_static(b"0");
        let (counter, expire_at_ms) = match self.resolve(now_ms) {
            None => (Counter::new(zero, 0), 0),
            // A fresh lineage per deletion: joining it with counters from
            // before the delete would resurrect their counts.
            Some(s) if s.is_absent(now_ms) => (Counter::new(zero, base_id(&s.clock)), 0),
            Some(s) => match &s.payload {
                Payload::Value(b) | Payload::Hll(b) => {
                    (Counter::new(b.clone(), base_id(&s.clock)), s.expire_at_ms)
                }
                Payload::Counter(c) => (c.clone(), s.expire_at_ms),
                Payload::Tombstone | Payload::Collection(_) => {
                    (Counter::new(zero, base_id(&s.clock)), 0)
                }
            },
        };
        let history = match self.siblings.as_slice() {
            [only] if only.history.is_empty() => History::new(),
            all => Lineages::of(all, now_ms).history_for_increment(counter.base_id, now_ms),
        };
        Ok((counter, expire_at_ms, history))
    }
}

/// Whether a value can start a counter (INCR or INCRBYFLOAT accept it).
fn parse_number(v: &[u8]) -> bool {
    ringkv_number::parse_f64(v).is_some()
}

/// Builds a reconciled set from any siblings (duplicates and dominated
/// ones are dropped as in [`Siblings::merge`]).
impl FromIterator<Sibling> for Siblings {
    fn from_iter<I: IntoIterator<Item = Sibling>>(iter: I) -> Self {
        Siblings {
            siblings: normalize(iter.into_iter().collect()),
        }
    }
}
