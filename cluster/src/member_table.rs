//! The member table kept on disk, so a restarted node knows its cluster
//! before it serves (Cassandra keeps `system.peers` for the same reason).
//!
//! Without it a node restarted with no `--seeds` (the first node of a
//! cluster, typically) saw a ring of one until a peer happened to gossip to
//! it, and for that moment took itself for a cluster of one: it answered
//! reads and acknowledged writes from its own record alone, and skipped the
//! rebuild owed after an unclean stop. Now the states it last knew are
//! merged in at start (as old gossip: any fresher state wins), and their
//! addresses are greeted like seeds.
//!
//! Stored under `cluster/members` (`docs/formats/hints.md`): `version:u8
//! (1) crc:u32be body`, where `body` is a GOSSIP request body
//! (`docs/protocol/node-rpc.md`) and `crc` its CRC32C. Rewritten when a
//! member's address, status or tokens change, not on every heartbeat.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{BodyReader, BodyWriter};
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::membership::{MemberState, decode_states, encode_states};

const MEMBERS_KEY: &[u8] = b"cluster/members";
const FORMAT_VERSION: u8 = 1;

/// The stored form of `states`.
pub(crate) fn encode(states: &[MemberState]) -> Bytes {
    let mut w = BodyWriter::new();
    encode_states(&mut w, states);
    let body = w.finish();
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.put_u8(FORMAT_VERSION);
    out.put_u32(crc32c::crc32c(&body));
    out.put_slice(&body);
    out.freeze()
}

/// Reads what [`encode`] stored.
pub(crate) fn decode(b: &Bytes) -> Result<Vec<MemberState>> {
    let bad = |what: &str| Error::CorruptNodeState {
        what: format!("member table: {what}"),
    };
    let [version, c0, c1, c2, c3, ..] = b.as_ref() else {
        return Err(bad("too short"));
    };
    if *version != FORMAT_VERSION {
        return Err(bad(&format!("unknown version {version}")));
    }
    let body = b.slice(5..);
    if crc32c::crc32c(&body) != u32::from_be_bytes([*c0, *c1, *c2, *c3]) {
        return Err(bad("checksum mismatch"));
    }
    let mut r = BodyReader::new(body);
    let states = decode_states(&mut r).map_err(|e| bad(&e.to_string()))?;
    r.end("member table").map_err(|e| bad(&e.to_string()))?;
    Ok(states)
}

/// What identifies the stored table's content: a heartbeat alone does not
/// change it.
pub fn signature(states: &[MemberState]) -> u64 {
    let mut parts: Vec<(u64, &str, u8, u64, &[u64])> = states
        .iter()
        .map(|s| {
            (
                s.id,
                s.cluster_addr.as_str(),
                s.status as u8,
                s.generation,
                s.tokens.as_slice(),
            )
        })
        .collect();
    parts.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (id, addr, status, generation, tokens) in parts {
        h.update(&id.to_be_bytes());
        h.update(addr.as_bytes());
        h.update(&[status]);
        h.update(&generation.to_be_bytes());
        for t in tokens {
            h.update(&t.to_be_bytes());
        }
    }
    h.digest()
}

/// Stores `states` (the whole table, this node's own state included).
pub async fn save(keyspace: &Keyspace, states: &[MemberState]) -> Result<()> {
    keyspace.meta_put(MEMBERS_KEY, encode(states)).await
}

/// The stored states of the other members (empty on a first start). A
/// damaged table is logged and ignored: gossip rebuilds it.
pub fn load(keyspace: &Keyspace, me: u64) -> Vec<MemberState> {
    match keyspace.meta_get(MEMBERS_KEY) {
        Ok(Some(b)) => match decode(&b) {
            Ok(states) => states.into_iter().filter(|s| s.id != me).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the stored member table");
                Vec::new()
            }
        },
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stored member table");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Status;

    fn state(id: u64) -> MemberState {
        MemberState {
            id,
            cluster_addr: format!("127.0.0.1:{}", 17000 + id),
            client_addr: format!("127.0.0.1:{}", 7000 + id),
            generation: 5,
            version: 9,
            status: Status::Normal,
            tokens: vec![id, id << 32],
            handoff: Vec::new(),
        }
    }

    #[test]
    fn a_stored_table_round_trips_and_damage_is_detected() {
        let states = vec![state(1), state(2)];
        let b = encode(&states);
        assert_eq!(decode(&b).expect("decodes"), states);
        let mut damaged = b.to_vec();
        if let Some(x) = damaged.last_mut() {
            *x ^= 1;
        }
        assert!(decode(&Bytes::from(damaged)).is_err());
        assert!(decode(&Bytes::from_static(&[2, 0, 0, 0, 0])).is_err());
    }

    #[test]
    fn a_heartbeat_does_not_change_the_signature() {
        let mut states = vec![state(1), state(2)];
        let before = signature(&states);
        states[0].version += 100;
        assert_eq!(signature(&states), before);
        states[1].status = Status::Leaving;
        assert_ne!(signature(&states), before);
    }
}
