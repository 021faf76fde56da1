//! Peers' verdicts taken at one instant, for the keys of one batch.
//!
//! Planning a key asks whether each of its replicas is up. Asked through
//! [`Membership::suspicion`], every question reads the clock, takes the
//! awake lock and the table's read lock: for a pipeline of 16 keys on
//! three replicas, dozens of each, on cache lines every worker thread
//! shares. A [`Liveness`] reads the clock once and each member at most
//! once, then answers from what it saw. Verdicts are the ones the
//! membership would give at that instant.

use std::cell::RefCell;
use std::time::Instant;

use super::Membership;
use crate::ring::NodeId;

/// Each member's verdict at one instant, looked up on first use.
pub struct Liveness<'a> {
    members: &'a Membership,
    at: Instant,
    threshold: f64,
    /// Members looked up so far with their phi (`None`: judged down).
    seen: RefCell<Vec<(NodeId, Option<f64>)>>,
}

impl<'a> Liveness<'a> {
    pub(super) fn new(members: &'a Membership, now: Instant) -> Self {
        Self {
            members,
            at: members.judged_at(now),
            threshold: members.phi_threshold(),
            seen: RefCell::new(Vec::new()),
        }
    }

    /// [`Membership::suspicion`] of `id` at this snapshot's instant.
    pub fn suspicion(&self, id: NodeId) -> Option<f64> {
        if let Some(&(_, phi)) = self.seen.borrow().iter().find(|(seen, _)| *seen == id) {
            return phi;
        }
        let phi = self.members.verdict(id, self.at, self.threshold);
        self.seen.borrow_mut().push((id, phi));
        phi
    }

    /// Whether `id` is judged up at this snapshot's instant.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.suspicion(id).is_some()
    }

    /// The phi threshold this snapshot judged with.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}
