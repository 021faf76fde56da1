//! Replaying hints: the background loop that delivers the writes this
//! node keeps for down replicas (`crate::hints`) once they are back, or
//! redirects them when the ring moved.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::watch;

use crate::coordinator::Coordinator;
use crate::error::{Error, Result};
use crate::hints::*;
use crate::rpc::{Request, Response};

/// Replays hints to their owners while `shutdown` is not signalled.
pub async fn replay_loop(coordinator: Arc<Coordinator>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if coordinator.hints.pending() == 0 {
            continue;
        }
        if let Err(e) = replay_round(&coordinator).await {
            tracing::warn!(error = %e, "hint replay round failed");
        }
    }
}

/// One round: for each owner, drop expired hints, and deliver a
/// rate-limited batch if the owner is up (or, if it has left, to the
/// keys' current replicas).
async fn replay_round(c: &Arc<Coordinator>) -> Result<()> {
    let hints = &c.hints;
    // A flush's drop of hints waits for this round to end (and no round
    // starts during the drop): nothing it drops is delivered after it.
    let _fence = hints.fence.read().await;
    let rate = hints.settings.replay_rate.load(Ordering::Relaxed).max(1);
    // The budget of one tick, at least one hint.
    let mut budget = ((rate as u128 * TICK.as_millis()) / 1000).max(1) as usize;
    for owner in hints.owners()? {
        if budget == 0 {
            break;
        }
        let up = c.members.is_up(owner) && c.members.cluster_addr(owner).is_some();
        // A member that left (handed over or removed) will never take its
        // hints: they go to the key's current replicas instead (a hint
        // may be a write's only copy besides its leader, or at ANY its
        // only copy).
        let gone = c.members.has_left(owner);
        let now = c.keyspace.now_ms();
        if !up && !gone {
            // Only expiry to do: look further only if the oldest is due.
            let oldest = hints.oldest(owner, 1).await?;
            if !oldest.first().is_some_and(|h| hints.is_expired(h, now)) {
                continue;
            }
        }
        let batch = hints.oldest(owner, budget).await?;
        let mut done = Vec::new();
        for h in batch {
            if hints.is_expired(&h, now) {
                hints.stats.expired.inc();
                done.push(h.name);
                continue;
            }
            if gone {
                budget = budget.saturating_sub(1);
                match redirect(c, &h).await {
                    Ok(true) => {
                        hints.stats.replayed.inc();
                        done.push(h.name);
                        continue;
                    }
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not redirect a hint of a departed member");
                        break;
                    }
                }
            }
            if !up {
                // Ordered by age: the rest are younger.
                break;
            }
            budget = budget.saturating_sub(1);
            let Some(record) = hinted_record(c, &h).await? else {
                done.push(h.name);
                continue;
            };
            let req = Request::Merge {
                db: h.db,
                key: h.key.clone(),
                record,
            };
            match c.call(owner, &req).await {
                Ok(Response::Ack) => {
                    hints.stats.replayed.inc();
                    done.push(h.name);
                }
                Ok(other) => {
                    return Err(Error::unexpected(owner, "hint replay to", &other));
                }
                // The owner is not taking writes yet; try again next round.
                Err(_) => break,
            }
        }
        hints.remove(&done).await?;
    }
    Ok(())
}

/// Merges the hint of a member that has left into every current replica
/// of its key; true once all of them hold it.
async fn redirect(c: &Arc<Coordinator>, h: &Hint) -> Result<bool> {
    let Some(record) = hinted_record(c, h).await? else {
        return Ok(true);
    };
    let replicas = c
        .members
        .ring()
        .preference_list(crate::token::token(&h.key), c.effective_replicas());
    for id in replicas {
        if id == c.me {
            let rec = crate::coordinator::decode_incoming(&h.key, &record)?;
            c.merge_local(h.db, &h.key, &rec).await?;
            continue;
        }
        let req = Request::Merge {
            db: h.db,
            key: h.key.clone(),
            record: record.clone(),
        };
        if !matches!(c.call(id, &req).await, Ok(Response::Ack)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The record a hint carries: its own, or for a marker this node's record
/// of the key now (`None`: there is none, nothing to send).
async fn hinted_record(c: &Arc<Coordinator>, h: &Hint) -> Result<Option<Bytes>> {
    if !h.record.is_empty() {
        return Ok(Some(h.record.clone()));
    }
    c.hints.replaying_marker(h.owner, h.db, &h.key);
    crate::coordinator::whole_record(c, h.db, &h.key).await
}
