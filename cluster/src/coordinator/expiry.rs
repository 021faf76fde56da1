//! A new expiry for a large collection without rewriting its members.

use std::sync::Arc;

use super::Coordinator;
use crate::error::Result;
use crate::keyspace::Ack;

impl Coordinator {
    /// Gives the large collection at `key` the expiry `expire_at_ms` (0:
    /// none) by rewriting only its header
    /// ([`Keyspace::set_split_expiry`](crate::keyspace::Keyspace::set_split_expiry)),
    /// on a node that is the only replica of its keys. `None` (nothing
    /// done) in a cluster, where the expiry travels as the whole record,
    /// or when the key is not such a collection: the caller writes the
    /// whole record then.
    pub async fn set_collection_expiry(
        self: &Arc<Self>,
        db: u32,
        key: &[u8],
        expire_at_ms: u64,
        level: crate::Consistency,
    ) -> Result<Option<Ack>> {
        if !self.is_alone() {
            return Ok(None);
        }
        let done = self
            .keyspace
            .set_split_expiry(db, key, expire_at_ms, self.actor)
            .await?;
        if let Some(ack) = done {
            self.stats.writes.inc(level);
            if ack != Ack::NONE {
                self.changed(db, key);
            }
        }
        Ok(done)
    }
}
