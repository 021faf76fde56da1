//! DEBUG DIGEST and DEBUG DIGEST-VALUE: signatures of values and of the
//! whole dataset, for tests that check a restart, a reload or a copy left
//! the data as it was (Redis's test suite uses them that way). They are
//! ringkv's own SHA-256 signatures, stable across restarts and equal on
//! every node holding the same data, not Redis's digests: no test compares
//! a digest across the two servers.

use bytes::Bytes;
use ringkv_cluster::{Entry, ValueType};
use ringkv_resp::Reply;
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::reply_error::CmdResult;

/// Hex digits in a digest (Redis's 20-byte SHA-1 length).
const DIGEST_BYTES: usize = 20;

/// DEBUG DIGEST-VALUE key [key ...]: one signature per key.
pub async fn digest_values(cx: &mut Ctx<'_>, keys: &[Bytes]) -> CmdResult {
    let mut digests = Vec::with_capacity(keys.len());
    for key in keys {
        let found = cx.peek(cx.db(), key).await?;
        digests.push(Reply::Simple(hex(found.as_ref().map(value_digest)).into()));
    }
    Ok(Reply::Array(digests))
}

/// DEBUG DIGEST: the XOR over every key of every database of a signature
/// of its database, name, value and expiry, so the order keys are found
/// in does not matter; 40 zeros when there are no keys, as Redis. Other
/// clients' commands wait until it is done, as in single-threaded Redis.
pub async fn digest_dataset(cx: &mut Ctx<'_>) -> CmdResult {
    // Every other command held off meanwhile, so the digest is of one state
    // (inside EXEC, or a run holding the gate, this client has it already).
    let server = std::sync::Arc::clone(cx.server);
    let _gate = if cx.client.in_exec || cx.client.holds_exec_gate {
        None
    } else {
        Some(server.exec_gate.write().await)
    };
    let mut total = [0u8; DIGEST_BYTES];
    let mut any = false;
    for db in 0..cx.ks().databases() {
        // Each key once: a repeat would cancel itself out of the XOR.
        let mut keys = std::collections::BTreeSet::new();
        super::keys::cluster_pass(cx, db, |k| {
            keys.insert(k.clone());
        })
        .await?;
        for key in keys {
            // Gone since the scan (expired or deleted): not in the data.
            let Some(entry) = cx.peek(db, &key).await? else {
                continue;
            };
            any = true;
            let mut h = Sha256::new();
            h.update(db.to_be_bytes());
            put(&mut h, &key);
            h.update(value_digest(&entry));
            h.update(entry.expire_at_ms.to_be_bytes());
            for (t, b) in total.iter_mut().zip(h.finalize()) {
                *t ^= b;
            }
        }
    }
    Ok(Reply::Simple(hex(any.then_some(total)).into()))
}

fn put(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

/// A value's signature: SHA-256 over its type and content (a list's
/// elements in order, a hash's or sorted set's members with their values,
/// a set's members), so equal values sign equally.
fn value_digest(entry: &Entry) -> [u8; DIGEST_BYTES] {
    let mut h = Sha256::new();
    put(&mut h, entry.kind.name().as_bytes());
    match &entry.members {
        None => put(&mut h, &entry.value),
        Some(m) => {
            for (member, value) in &m.map {
                if entry.kind != ValueType::List {
                    put(&mut h, member);
                }
                put(&mut h, value);
            }
        }
    }
    let mut out = [0u8; DIGEST_BYTES];
    out.copy_from_slice(&h.finalize()[..DIGEST_BYTES]);
    out
}

/// 40 hex digits, or 40 zeros for nothing.
fn hex(digest: Option<[u8; DIGEST_BYTES]>) -> String {
    digest
        .unwrap_or([0; DIGEST_BYTES])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
