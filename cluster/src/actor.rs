//! The actor: the identity under which this node stamps version-vector
//! dots and counter increments, kept apart from the node id.
//!
//! A dot `(actor, n)` must never name two different writes. A node builds
//! its next dot for a key from its own record of that key, so if it lost
//! part of its data (a power cut that drops the WAL tail under `everysec`,
//! a `kill -9` before an fsync that other replicas did not wait for, a disk
//! replaced by an empty one, a directory restored from a backup) while
//! other replicas kept the writes it had stamped, its next write under
//! the same identity would reuse a dot they hold with other content and
//! be discarded on arrival, after the client got OK. Riak met this and
//! answered with per-vnode epochs; this is the same answer.
//!
//! The rule: an actor is reused only when the data directory proves it
//! holds everything stamped under it. A clean shutdown writes
//! `cluster/clean-stop` naming the actor, and the engine then fsyncs the
//! WAL and closes, so every stamp ever made is on disk. At start:
//! - `cluster/actor` and `cluster/clean-stop` both present and equal: the
//!   actor is kept;
//! - anything else (an unclean stop, a first start, an empty directory at
//!   a known member's address): a fresh random actor is drawn.
//!
//! Either way `cluster/clean-stop` is deleted and `cluster/actor` written,
//! and the WAL is fsynced, before the first stamp, so a crash later can
//! never be mistaken for a clean stop.
//!
//! A node started on a full disk (its engine refusing writes) cannot record
//! its choice. It then runs under a fresh actor that is recorded nowhere:
//! no later start can pick that actor again (an actor is reused only when
//! `cluster/actor` names it), and the actor a surviving clean-stop marker
//! names was not stamped with in this run, so reusing it later is sound. Formats: `docs/formats/hints.md`
//! (the metadata table); the scheme and its costs: `docs/operations.md`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::version::Actor;

const ACTOR_KEY: &[u8] = b"cluster/actor";
const CLEAN_STOP_KEY: &[u8] = b"cluster/clean-stop";
/// Version byte of both metadata values.
const FORMAT_VERSION: u8 = 1;

/// The actor this run stamps with, and how it was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorEpoch {
    /// The actor.
    pub actor: Actor,
    /// Whether it was drawn at this start (the directory did not prove
    /// that it holds everything the previous actor stamped).
    pub fresh: bool,
    /// Whether the directory held an actor before (false on a first start
    /// or with an empty directory).
    pub had_actor: bool,
}

fn encode(actor: Actor) -> Bytes {
    let mut b = BytesMut::with_capacity(9);
    b.put_u8(FORMAT_VERSION);
    b.put_u64(actor);
    b.freeze()
}

fn decode(name: &[u8], b: &[u8]) -> Result<Actor> {
    match b {
        [FORMAT_VERSION, rest @ ..] if rest.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(rest);
            Ok(u64::from_be_bytes(a))
        }
        _ => Err(Error::CorruptNodeState {
            what: format!(
                "{} is not version {FORMAT_VERSION} and 9 bytes ({} bytes)",
                String::from_utf8_lossy(name),
                b.len()
            ),
        }),
    }
}

/// Chooses this run's actor (see the module doc) and makes the choice
/// durable before returning: the clean-stop marker is gone and the actor
/// stored, both fsynced.
pub async fn begin(keyspace: &Keyspace) -> Result<ActorEpoch> {
    let stored = keyspace
        .meta_get(ACTOR_KEY)?
        .map(|b| decode(ACTOR_KEY, &b))
        .transpose()?;
    let clean = keyspace
        .meta_get(CLEAN_STOP_KEY)?
        .map(|b| decode(CLEAN_STOP_KEY, &b))
        .transpose()?;
    let epoch = match (stored, clean) {
        (Some(a), Some(c)) if a == c => ActorEpoch {
            actor: a,
            fresh: false,
            had_actor: true,
        },
        _ => ActorEpoch {
            actor: draw(stored),
            fresh: true,
            had_actor: stored.is_some(),
        },
    };
    match record(keyspace, &epoch).await {
        Ok(()) => Ok(epoch),
        Err(Error::Engine(e)) if e.is_write_failure() => {
            let unrecorded = ActorEpoch {
                actor: draw(stored),
                ..epoch
            };
            tracing::warn!(error = %e, actor = %format!("{:016x}", unrecorded.actor), "the disk refuses writes: running under an actor recorded nowhere");
            Ok(unrecorded)
        }
        Err(e) => Err(e),
    }
}

/// Stores the actor chosen (if drawn) and deletes the clean-stop marker, fsynced.
async fn record(keyspace: &Keyspace, epoch: &ActorEpoch) -> Result<()> {
    if epoch.fresh {
        keyspace.meta_put(ACTOR_KEY, encode(epoch.actor)).await?;
    }
    keyspace
        .meta_delete(&[Bytes::from_static(CLEAN_STOP_KEY)])
        .await?;
    keyspace.sync().await
}

/// Records that every stamp of `actor` is in this directory: called at a
/// clean shutdown, after the last client and peer request, just before
/// the engine fsyncs its WAL and closes.
pub async fn mark_clean_stop(keyspace: &Keyspace, actor: Actor) -> Result<()> {
    keyspace.meta_put(CLEAN_STOP_KEY, encode(actor)).await?;
    keyspace.sync().await
}

/// A random actor other than 0 and `previous`.
fn draw(previous: Option<Actor>) -> Actor {
    loop {
        let a = rand::random::<u64>();
        if a != 0 && Some(a) != previous {
            return a;
        }
    }
}

/// A one-off actor for a write applied to an empty record because no
/// replica holding the key could apply it: it can collide with no dot
/// anywhere, so the write stays beside what it did not see as a sibling.
pub fn one_off() -> Actor {
    draw(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyspace(dir: &std::path::Path) -> Keyspace {
        Keyspace::open(dir, ringkv_engine::Options::default(), 16).expect("open")
    }

    #[tokio::test]
    async fn an_actor_is_kept_only_across_a_clean_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = {
            let ks = keyspace(dir.path());
            let e = begin(&ks).await.expect("begin");
            assert!(e.fresh, "a first start draws an actor");
            mark_clean_stop(&ks, e.actor).await.expect("mark");
            ks.engine().shutdown().expect("shutdown");
            e.actor
        };
        let second = {
            let ks = keyspace(dir.path());
            let e = begin(&ks).await.expect("begin");
            assert_eq!(
                e,
                ActorEpoch {
                    actor: first,
                    fresh: false,
                    had_actor: true,
                }
            );
            // No clean stop this time: the process "dies".
            ks.engine().shutdown().expect("shutdown");
            e.actor
        };
        let ks = keyspace(dir.path());
        let e = begin(&ks).await.expect("begin");
        assert!(
            e.fresh && e.had_actor,
            "an unclean stop draws a fresh actor"
        );
        assert_ne!(e.actor, second);
    }

    #[test]
    fn a_damaged_actor_record_is_an_error() {
        assert!(decode(ACTOR_KEY, &[2, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(decode(ACTOR_KEY, &[1, 0, 0]).is_err());
        assert_eq!(decode(ACTOR_KEY, &encode(7)).expect("decodes"), 7);
    }
}
