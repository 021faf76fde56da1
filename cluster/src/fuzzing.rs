//! Entry points for fuzzing the cluster's decoders of untrusted bytes: the
//! stored record and its versions (record formats 1 and 2, siblings,
//! vector clocks, counters, causal contexts), which come from disk and
//! from peers, and gossip (member states in GOSSIP requests and replies,
//! and the persisted member table). Not part of the crate's API.
//!
//! As in `ringkv_engine::fuzzing` (whose [`Tally`] and
//! [`smoke`](ringkv_engine::fuzzing::smoke) harness these share), each
//! target takes any bytes, returns how many decoder calls accepted or
//! rejected them, and panics only on a bug: a decoder panicking, or a
//! property it asserts failing. Used by the cargo-fuzz targets in `fuzz/`
//! and by `cluster/tests/fuzz_smoke.rs`.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
pub use ringkv_engine::fuzzing::Tally;

use crate::member_table as persist;
use crate::membership::{MemberState, Membership, Status, bounds};
use crate::ring::Ring;
use crate::rpc::message::{Request, Response, kind};
use crate::version::codec::{self as split_codec, RECORD_FORMAT_V2, decode_record, encode_record};
use crate::version::counter::Counter;
use crate::version::siblings::Sibling;
use crate::version::{
    CollectionOp, History, Kind, MemberHistories, Payload, Siblings, VectorClock, payload_bytes,
};

/// A fixed "now" for reads and writes of versioned values (unix ms).
const NOW_MS: u64 = 1_700_000_000_000;

// ----------------------------------------------------------------- record

/// The stored-record codec. The input after the mode byte is decoded as a
/// record (formats 1 and 2) with `legacy_expire_at_ms` = `(mode & 0x7f) *
/// 1000`, as a format-1 record, as reconciled [`Siblings`], and (if it is
/// text) as a causal context. With mode bit 7 set it is also read as
/// `len:u16be a b`, two records whose merge is checked.
///
/// Properties: a format-2 record is canonical (it re-encodes to the same
/// bytes) and any decoded record re-encodes to one that decodes the same;
/// reconciled siblings survive re-encoding; every clock survives the
/// causal context; merge is commutative, idempotent and absorbs its
/// inputs; a write or an increment supersedes every sibling it saw.
pub fn record_codec(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let Some((&mode, rest)) = data.split_first() else {
        return t;
    };
    let legacy = u64::from(mode & 0x7f) * 1000;

    let raw = decode_record(rest, legacy);
    t.note(&raw);
    // The point read's shortcut agrees with the whole decode.
    let shared_rest = Bytes::copy_from_slice(rest);
    if let Some((expire_at_ms, value)) = crate::version::codec::peek_plain_value(&shared_rest) {
        match raw.as_deref() {
            Ok([only]) => assert!(
                only.payload == Payload::Value(value)
                    && only.expire_at_ms == expire_at_ms
                    && only.history.is_empty()
                    && only.member_histories.is_empty(),
                "the plain-value shortcut read another value than the record holds"
            ),
            other => {
                panic!("the plain-value shortcut read a record the decoder reads as {other:?}")
            }
        }
    }
    if let Ok(sibs) = &raw {
        let enc = encode_record(sibs);
        if rest.first() == Some(&RECORD_FORMAT_V2) {
            assert_eq!(&enc[..], rest, "a format-2 record is not canonical");
        }
        assert_eq!(
            decode_record(&enc, legacy).as_ref(),
            Ok(sibs),
            "a record changes when re-encoded"
        );
        for s in sibs {
            let ctx = s.clock.to_context_string();
            assert_eq!(
                VectorClock::from_context_string(&ctx).as_ref(),
                Ok(&s.clock),
                "a clock changes through its causal context"
            );
        }
    }

    let whole = siblings(&mut t, rest, legacy);
    if let Some(s) = &whole {
        merge_laws(s, s);
    }
    if mode & 0x80 != 0 {
        if let Some((len, pair)) = rest.split_first_chunk::<2>() {
            let (a, b) = pair.split_at(usize::from(u16::from_be_bytes(*len)).min(pair.len()));
            if let (Some(a), Some(b)) = (siblings(&mut t, a, legacy), siblings(&mut t, b, legacy)) {
                merge_laws(&a, &b);
            }
        }
    }

    // A split collection's header and member record (format 3): decoding
    // never panics, and what decodes re-encodes to the same bytes.
    let header = split_codec::decode_split_header(rest);
    t.note(&header);
    if let Ok(h) = &header {
        assert_eq!(
            &split_codec::encode_split_header(h)[..],
            rest,
            "a split header is not canonical"
        );
    }
    let shared = Bytes::copy_from_slice(rest);
    let member = split_codec::decode_member(&shared);
    t.note(&member);
    if let Ok(items) = &member {
        assert_eq!(
            &split_codec::encode_member(items)[..],
            rest,
            "a member record is not canonical"
        );
    }

    if let Ok(text) = std::str::from_utf8(rest) {
        let ctx = VectorClock::from_context_string(text);
        t.note(&ctx);
        if let Ok(clock) = ctx {
            assert_eq!(
                clock.to_context_string(),
                text.to_ascii_lowercase(),
                "a causal context changes when re-encoded"
            );
        }
    }
    t
}

/// Decodes `bytes` as reconciled siblings, checks they survive re-encoding,
/// reads them, and writes to copies of them.
fn siblings(t: &mut Tally, bytes: &[u8], legacy: u64) -> Option<Siblings> {
    let decoded = Siblings::decode(bytes, legacy);
    t.note(&decoded);
    let s = decoded.ok()?;
    assert_eq!(
        Siblings::decode(&s.encode(), legacy).as_ref(),
        Ok(&s),
        "siblings change when re-encoded"
    );

    let _ = s.resolve(NOW_MS);
    let _ = s.live(NOW_MS);
    if let crate::version::View::Collection { collection, .. } = s.view(NOW_MS) {
        let _ = collection.to_members();
    }
    let _ = s.context();
    let _ = s.engine_expire_at_ms();
    for sib in s.iter() {
        let _ = payload_bytes(&sib.payload);
        if let Payload::Counter(c) = &sib.payload {
            let _ = c.value();
            let _ = c.render();
        }
    }

    let actor = 0x00c0_ffee;
    let mut w = s.clone();
    if w.add_int(actor, NOW_MS, 3).is_ok() {
        supersedes_all(&w, legacy);
    }
    let mut w = s.clone();
    if w.add_float(actor, NOW_MS, 0.5).is_ok() {
        supersedes_all(&w, legacy);
    }
    let mut w = s.clone();
    let hset = CollectionOp::Put {
        kind: Kind::Hash,
        pairs: vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))],
        if_absent: false,
    };
    if w.apply_collection(actor, NOW_MS, &hset).is_ok() {
        supersedes_all(&w, legacy);
    }
    // A counter field removed, then incremented again (member histories).
    let mut w = s.clone();
    let field = || Bytes::from_static(b"f");
    let _ = w.apply_collection(
        actor,
        NOW_MS,
        &CollectionOp::Remove {
            kind: Kind::Hash,
            members: vec![field()],
        },
    );
    let _ = w.apply_collection(
        actor,
        NOW_MS + 1,
        &CollectionOp::AddInt {
            member: field(),
            delta: 2,
        },
    );
    if let crate::version::View::Collection { collection, .. } = w.view(NOW_MS + 1) {
        let _ = collection.to_members();
    }
    let mut w = s.clone();
    if w.set_string_expiry(actor, NOW_MS, NOW_MS + 1_000) == Some(true) {
        supersedes_all(&w, legacy);
    }
    let mut w = s.clone();
    w.write(
        None,
        actor,
        NOW_MS,
        Payload::Value(Bytes::from_static(b"v")),
        0,
    );
    supersedes_all(&w, legacy);
    let mut w = s.clone();
    w.write(
        Some(&VectorClock::new()),
        actor,
        NOW_MS,
        Payload::Tombstone,
        0,
    );
    assert!(
        w.len() <= s.len() + 1,
        "a blind write added more than itself"
    );
    Some(s)
}

/// After a write that saw every sibling, only that write remains.
fn supersedes_all(w: &Siblings, legacy: u64) {
    assert_eq!(w.len(), 1, "a write left siblings it had seen");
    assert_eq!(
        Siblings::decode(&w.encode(), legacy).as_ref(),
        Ok(w),
        "a written value changes when re-encoded"
    );
}

fn merge_laws(a: &Siblings, b: &Siblings) {
    let mut ab = a.clone();
    ab.merge(b);
    let mut ba = b.clone();
    ba.merge(a);
    assert_eq!(ab, ba, "merge is not commutative");
    let mut again = ab.clone();
    again.merge(a);
    assert_eq!(again, ab, "merge does not absorb an input");
    let mut aa = a.clone();
    aa.merge(a);
    assert_eq!(&aa, a, "merge is not idempotent");
}

/// Inputs for [`record_codec`]: records as the cluster writes them.
pub fn record_codec_seeds() -> Vec<Vec<u8>> {
    let with_mode = |mode: u8, b: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(b);
        v
    };
    let mut out = Vec::new();
    out.push(with_mode(
        5,
        // Format 1: format byte, kind 0 (string), the payload.
        &[1, 0, b'p', b'l', b'a', b'i', b'n'],
    ));
    out.push(with_mode(0, &[RECORD_FORMAT_V2, 0, 0]));
    out.push(with_mode(
        0,
        &split_codec::encode_split_header(&split_codec::SplitHeader {
            kind: Kind::List,
            generation: 7,
            count: 600,
            ts_ms: NOW_MS,
            expire_at_ms: 0,
            clock: {
                let mut s = Siblings::new();
                s.write(None, 3, NOW_MS, Payload::Tombstone, 0);
                s.context()
            },
            first: Bytes::from_static(b"\x80first"),
            last: Bytes::from_static(b"\x80last"),
            unexpiring_members: true,
            score_index: false,
            descending_index: false,
            member_histories: MemberHistories::new(),
        }),
    ));

    let mut value = Siblings::new();
    value.write(
        None,
        1,
        NOW_MS,
        Payload::Value(Bytes::from_static(b"hello")),
        NOW_MS + 5000,
    );
    out.push(with_mode(0, &value.encode()));

    // Concurrent writes through two coordinators: two siblings.
    let mut other = Siblings::new();
    other.write(
        None,
        2,
        NOW_MS + 1,
        Payload::Value(Bytes::from_static(b"world")),
        0,
    );
    let mut both = value.clone();
    both.merge(&other);
    out.push(with_mode(0, &both.encode()));

    // Counters: concurrent increments of one base, and a float.
    let mut c1 = value.clone();
    let mut c2 = value.clone();
    let _ = c1.add_int(1, NOW_MS + 2, 10);
    let _ = c2.add_int(2, NOW_MS + 3, -4);
    let mut counters = c1.clone();
    counters.merge(&c2);
    out.push(with_mode(0, &counters.encode()));
    let mut float = Siblings::new();
    let _ = float.add_float(3, NOW_MS, 1.25);
    out.push(with_mode(0, &float.encode()));
    let mut gone = both.clone();
    gone.write(None, 3, NOW_MS + 9, Payload::Tombstone, 0);
    out.push(with_mode(0, &gone.encode()));

    // HyperLogLogs: concurrent PFADDs (joined on read), one dense.
    let mut h1 = Siblings::new();
    let _ = h1.pf_add(
        1,
        NOW_MS,
        &[Bytes::from_static(b"a"), Bytes::from_static(b"b")],
    );
    let mut h2 = Siblings::new();
    let _ = h2.pf_add(2, NOW_MS + 1, &[Bytes::from_static(b"c")]);
    let mut hlls = h1.clone();
    hlls.merge(&h2);
    out.push(with_mode(0, &hlls.encode()));
    let mut dense = Siblings::new();
    let _ = dense.pf_merge(3, NOW_MS, &[1u8; ringkv_hll::REGISTERS], true);
    out.push(with_mode(0, &dense.encode()));

    // Collections: concurrent hash writes (joined on read), a sorted set
    // with a counter score, a set emptied into a tombstone.
    let put = |kind, pairs: &[(&'static [u8], &'static [u8])]| CollectionOp::Put {
        kind,
        pairs: pairs
            .iter()
            .map(|(m, v)| (Bytes::from_static(m), Bytes::from_static(v)))
            .collect(),
        if_absent: false,
    };
    let mut k1 = Siblings::new();
    let _ = k1.apply_collection(1, NOW_MS, &put(Kind::Hash, &[(b"f", b"1"), (b"g", b"2")]));
    let mut k2 = k1.clone();
    let _ = k2.apply_collection(2, NOW_MS + 1, &put(Kind::Hash, &[(b"h", b"3")]));
    let _ = k1.apply_collection(
        1,
        NOW_MS + 2,
        &CollectionOp::AddInt {
            member: Bytes::from_static(b"f"),
            delta: 5,
        },
    );
    let mut hashes = k1.clone();
    hashes.merge(&k2);
    out.push(with_mode(0, &hashes.encode()));
    let mut z = Siblings::new();
    let _ = z.apply_collection(
        3,
        NOW_MS,
        &CollectionOp::ZAdd {
            pairs: vec![(Bytes::from_static(b"m"), 1.5)],
            flags: crate::version::zadd::INCR,
        },
    );
    out.push(with_mode(0, &z.encode()));
    let mut emptied = Siblings::new();
    let _ = emptied.apply_collection(1, NOW_MS, &put(Kind::Set, &[(b"x", b"")]));
    let _ = emptied.apply_collection(
        1,
        NOW_MS + 1,
        &CollectionOp::Remove {
            kind: Kind::Set,
            members: vec![Bytes::from_static(b"x")],
        },
    );
    out.push(with_mode(0, &emptied.encode()));
    // Member histories (tag 6): a counter field deleted, then incremented
    // again beside another field; and the last counter field deleted (a
    // tombstone carrying them).
    let field_f = || Bytes::from_static(b"f");
    let incr_f = CollectionOp::AddInt {
        member: field_f(),
        delta: 4,
    };
    let hdel_f = CollectionOp::Remove {
        kind: Kind::Hash,
        members: vec![field_f()],
    };
    let mut counted = Siblings::new();
    let _ = counted.apply_collection(1, NOW_MS, &incr_f);
    let mut tomb = counted.clone();
    let _ = counted.apply_collection(1, NOW_MS + 1, &put(Kind::Hash, &[(b"g", b"1")]));
    let _ = counted.apply_collection(1, NOW_MS + 2, &hdel_f);
    let _ = counted.apply_collection(2, NOW_MS + 3, &incr_f);
    out.push(with_mode(0, &counted.encode()));
    let _ = tomb.apply_collection(1, NOW_MS + 1, &hdel_f);
    out.push(with_mode(0, &tomb.encode()));

    // Two records for the merge laws (mode bit 7).
    let (a, b) = (c1.encode(), other.encode());
    let mut pair = vec![0x80];
    pair.extend_from_slice(&u16::try_from(a.len()).unwrap_or(u16::MAX).to_be_bytes());
    pair.extend_from_slice(&a);
    pair.extend_from_slice(&b);
    out.push(pair);

    out.push(with_mode(0, both.context().to_context_string().as_bytes()));
    let sibling = Sibling {
        clock: both.context(),
        ts_ms: 7,
        expire_at_ms: 0,
        payload: Payload::Counter(Counter::new(Bytes::from_static(b"12"), 99)),
        history: History::new(),
        member_histories: MemberHistories::new(),
    };
    out.push(with_mode(
        0,
        &std::iter::once(sibling).collect::<Siblings>().encode(),
    ));
    out
}

// ----------------------------------------------------------------- gossip

/// Gossip. The input after the mode byte is decoded as the body of a
/// GOSSIP request and of a GOSSIP reply, and as the stored member table:
/// with mode bit 0 set that is the input as it is; clear, the input framed
/// as one (version 1, a valid checksum). Decoded states are then merged
/// into a membership table (whose own node is, with mode bit 1 set, the
/// first state's id, so states about itself are exercised), whose rings,
/// views, handoff plans and removals are read.
///
/// Properties: decoded states re-encode to a body that decodes the same,
/// in all three forms; handoffs come out sorted by token without
/// duplicates; the rings built from any states are well formed (vnodes
/// ascending by token, owners listed, preference lists distinct and led
/// by the owner, ownership summing to one).
pub fn gossip_message(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let Some((&mode, rest)) = data.split_first() else {
        return t;
    };
    let body = Bytes::copy_from_slice(rest);

    let req = Request::decode(kind::GOSSIP, body.clone());
    t.note(&req);
    let mut states = None;
    if let Ok(req) = req {
        let (k, enc) = req.encode();
        assert_eq!(k, kind::GOSSIP);
        assert_eq!(
            Request::decode(k, enc).as_ref(),
            Ok(&req),
            "a gossip request changes when re-encoded"
        );
        if let Request::Gossip(s) = req {
            states = Some(s);
        }
    }

    let reply = Response::decode(kind::GOSSIP, kind::GOSSIP | kind::REPLY, body.clone());
    t.note(&reply);
    if let Ok(reply) = reply {
        let (k, enc) = reply.encode(kind::GOSSIP);
        assert_eq!(
            Response::decode(kind::GOSSIP, k, enc).as_ref(),
            Ok(&reply),
            "a gossip reply changes when re-encoded"
        );
    }

    let stored = if mode & 1 == 1 {
        body
    } else {
        let mut b = BytesMut::with_capacity(rest.len() + 5);
        b.put_u8(1);
        b.put_u32(crc32c::crc32c(rest));
        b.put_slice(rest);
        b.freeze()
    };
    let table = persist::decode(&stored);
    t.note(&table);
    if let Ok(s) = table {
        assert_eq!(
            persist::decode(&persist::encode(&s)).as_ref().ok(),
            Some(&s),
            "a stored member table changes when re-encoded"
        );
        let _ = persist::signature(&s);
    }

    if let Some(states) = states {
        for s in &states {
            assert!(
                s.handoff
                    .iter()
                    .zip(s.handoff.iter().skip(1))
                    .all(|(a, b)| a.0 < b.0),
                "a decoded handoff is not sorted by token"
            );
        }
        membership(states, mode);
    }
    t
}

/// Merges `states` into a fresh membership table and reads what it derives.
fn membership(states: Vec<MemberState>, mode: u8) {
    let now = bounds::unix_ms();
    let me_id = match states.first() {
        Some(s) if mode & 2 == 2 => s.id,
        _ => 0x5eed_5eed,
    };
    let me = MemberState {
        id: me_id,
        cluster_addr: "127.0.0.1:17000".into(),
        client_addr: "127.0.0.1:7000".into(),
        generation: now.saturating_sub(60_000),
        version: 1,
        status: Status::Normal,
        tokens: vec![1 << 62, 3 << 62],
        handoff: Vec::new(),
    };
    let m = Membership::new(me, Duration::from_millis(100), 8.0);
    for s in &states {
        let _ = bounds::check(s, now, s.id == me_id);
        let _ = s.is_removal();
        for &tok in s.tokens.iter().take(4) {
            let _ = s.adopter_of(tok);
        }
    }
    m.merge(states.clone());
    check_rings(&m);
    let views = m.views();
    let _ = m.peers();
    let _ = m.is_alone();
    for v in views.iter().take(8) {
        let plan = m.handoff_plan(v.state.id);
        assert!(
            plan.iter().zip(plan.iter().skip(1)).all(|(a, b)| a.0 < b.0),
            "a handoff plan is not sorted by token"
        );
        let _ = m.is_up(v.state.id);
        let _ = m.cluster_addr(v.state.id);
    }
    for v in views.iter().take(4) {
        m.remove(v.state.id);
    }
    check_rings(&m);
    m.merge(states);
    check_rings(&m);
}

fn check_rings(m: &Membership) {
    check_ring(&m.ring());
    check_ring(&m.next_ring());
}

fn check_ring(r: &Ring) {
    let vnodes = r.vnodes();
    let nodes = r.nodes();
    assert!(
        vnodes
            .iter()
            .zip(vnodes.iter().skip(1))
            .all(|(a, b)| a.0 < b.0),
        "ring vnodes not strictly ascending"
    );
    assert!(
        nodes.iter().zip(nodes.iter().skip(1)).all(|(a, b)| a < b),
        "ring nodes not strictly ascending"
    );
    assert!(
        vnodes.iter().all(|(_, n)| nodes.binary_search(n).is_ok()),
        "a vnode owner is not a ring node"
    );
    let probes = [0, u64::MAX, 1 << 63]
        .into_iter()
        .chain(vnodes.iter().take(4).map(|&(tok, _)| tok));
    for token in probes {
        let pl = r.preference_list(token, 3);
        assert_eq!(pl.len(), nodes.len().min(3), "preference list length");
        assert_eq!(
            pl.first().copied(),
            r.owner(token),
            "preference list led by another"
        );
        for (i, n) in pl.iter().enumerate() {
            assert!(
                !pl.iter().skip(i + 1).any(|o| o == n),
                "preference list repeats"
            );
        }
    }
    let owned = r.ownership();
    if !vnodes.is_empty() {
        let sum: f64 = owned.values().sum();
        assert!((sum - 1.0).abs() < 1e-9, "ownership sums to {sum}");
    }
    if vnodes.len() <= 256 {
        if let Some(&n) = nodes.first() {
            let _ = r.replica_ranges(n, 3);
        }
    }
}

/// Inputs for [`gossip_message`]: GOSSIP bodies with members in every
/// status, and a member table as stored.
pub fn gossip_message_seeds() -> Vec<Vec<u8>> {
    let state = |id: u64, status: Status, tokens: Vec<u64>, handoff: Vec<(u64, u64)>| MemberState {
        id,
        cluster_addr: format!("10.0.0.{id}:17000"),
        client_addr: format!("10.0.0.{id}:6379"),
        generation: NOW_MS + id,
        version: 40 + id,
        status,
        tokens,
        handoff,
    };
    let states = vec![
        state(1, Status::Normal, vec![100, 1 << 40, 1 << 63], Vec::new()),
        state(2, Status::Normal, vec![200, 1 << 41], Vec::new()),
        state(3, Status::Joining, vec![300, 5 << 60], Vec::new()),
        state(
            4,
            Status::Leaving,
            vec![400, 7 << 60],
            vec![(400, 1), (7 << 60, 2)],
        ),
        state(5, Status::Left, vec![500], vec![(500, 2)]),
    ];
    let body = |s: &[MemberState]| Request::Gossip(s.to_vec()).encode().1;
    let with_mode = |mode: u8, b: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(b);
        v
    };
    let mut removed = states.clone();
    if let Some(s) = removed.get_mut(1) {
        s.status = Status::Left;
        s.version += crate::membership::REMOVAL_VERSION_STEP;
        s.handoff = vec![(200, 1), (1 << 41, 3)];
    }
    vec![
        with_mode(0, &body(&states)),
        with_mode(2, &body(&states)),
        with_mode(0, &body(&removed)),
        with_mode(0, &body(&[])),
        with_mode(1, &persist::encode(&states)),
    ]
}
