//! A new expiry for a string (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT,
//! PERSIST, GETEX), applied by the replica that takes the write in one step
//! under its record lock: the value is written again as that replica reads
//! it, so a write applied there since the command read the key (an
//! increment through another node) is kept, not replaced by an older copy.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use super::Actor;
use super::siblings::{Payload, Siblings, View};

impl Siblings {
    /// Writes the string this record holds again with `expire_at_ms` (0:
    /// none), superseding every sibling here, coordinated by `actor` at
    /// `now_ms`: a counter continues with its slots (and what it carries
    /// from other lineages), a value or a HyperLogLog as a read shows it.
    /// `Some(false)` when the key is missing, `None` when it holds a
    /// collection (nothing written either way).
    pub fn set_string_expiry(
        &mut self,
        actor: Actor,
        now_ms: u64,
        expire_at_ms: u64,
    ) -> Option<bool> {
        let payload = match self.view(now_ms) {
            View::Absent => return Some(false),
            View::Collection { .. } => return None,
            View::Plain(s) => s.payload.clone(),
        };
        match payload {
            Payload::Counter(_) => {
                let (counter, _, history) = self.counter_at(now_ms).ok()?;
                self.write_counter(actor, now_ms, counter, expire_at_ms, history);
            }
            other => {
                self.write(None, actor, now_ms, other, expire_at_ms);
            }
        }
        Some(true)
    }
}
