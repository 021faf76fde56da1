//! The replica side: answering other nodes' requests.

use std::sync::Arc;

use super::Coordinator;
use super::apply_op::op_context;
use crate::error::{Error, Result};
use crate::rpc::{ErrorCode, Request, Response};
use crate::version::Siblings;

impl Coordinator {
    /// Answers a request from another node.
    pub(crate) async fn serve(self: &Arc<Self>, req: Request) -> Response {
        match self.serve_inner(req).await {
            Ok(r) => r,
            Err(e) => Response::error(e.wire_code(), e.to_string()),
        }
    }

    async fn serve_inner(self: &Arc<Self>, req: Request) -> Result<Response> {
        Ok(match req {
            Request::Gossip(states) => {
                self.members.merge(states);
                Response::Gossip(self.members.states())
            }
            Request::Settings => Response::Settings {
                replicas: u32::try_from(self.settings.read().replicas).unwrap_or(u32::MAX),
            },
            Request::Read { .. }
            | Request::ReadMany { .. }
            | Request::Apply { .. }
            | Request::Clock { .. }
            | Request::ClockMany { .. }
                if self.is_rebuilding() =>
            {
                // Not applied, not read: the coordinator asks another replica.
                Response::error(ErrorCode::Rebuilding, Error::Rebuilding.to_string())
            }
            Request::Read { db, key } => {
                let record = self.keyspace.read_record(db, &key)?;
                Response::Record(record.as_ref().map(crate::cpu_bound::encode_record))
            }
            Request::ReadMany { db, keys } => Response::RecordPerKey(
                keys.iter()
                    .map(|key| {
                        let record = self.keyspace.read_record(db, key)?;
                        Ok(record.as_ref().map(crate::cpu_bound::encode_record))
                    })
                    .collect::<Result<_>>()?,
            ),
            Request::MergeMany { db, items } => {
                // Each item on its own (one bad record fails only itself);
                // durable together, once.
                let mut last = crate::keyspace::Ack::NONE;
                let mut done = Vec::with_capacity(items.len());
                for (key, record) in items {
                    let merged = match decode_incoming(&key, &record) {
                        Ok(incoming) => self.merge_local(db, &key, &incoming).await.ok(),
                        Err(_) => None,
                    };
                    if let Some((_, ack)) = merged {
                        last = last.max(ack);
                    }
                    done.push(merged.is_some());
                }
                self.keyspace.durable(last).await?;
                Response::MergedPerKey(done)
            }
            Request::Merge { db, key, record } => {
                let incoming = decode_incoming(&key, &record)?;
                let (_, ack) = self.merge_local(db, &key, &incoming).await?;
                self.keyspace.durable(ack).await?;
                Response::Ack
            }
            Request::Apply {
                db,
                key,
                deadline_ms,
                op,
            } => {
                // Held up in the network (a partition that healed) past the
                // caller's wait: the caller has answered its client, maybe
                // after sending the write to another replica. Applied now,
                // it would be a second write, later than the writes made
                // here since, and would supersede them.
                if deadline_ms != 0 && self.keyspace.now_ms() > deadline_ms {
                    self.stats.late_applies_refused.inc();
                    return Ok(Response::error(
                        ErrorCode::Late,
                        "the write arrived after the caller's deadline: not applied",
                    ));
                }
                let context = op_context(&op)?;
                let applied = self.apply_local(db, &key, op, context).await?;
                self.keyspace.durable(applied.ack).await?;
                Response::Applied {
                    record: applied.encoded(),
                    outcome: applied.out,
                }
            }
            Request::Clock { db, key } => Response::Clock(self.keyspace.record_context(db, &key)?),
            Request::ClockMany { db, keys } => Response::ClockPerKey(
                keys.iter()
                    .map(|key| self.keyspace.record_context(db, key))
                    .collect::<Result<_>>()?,
            ),
            Request::ApplyAt { db, item } => self.apply_at(db, item).await?,
            Request::ApplyAtMany { db, items } => {
                // Each as its APPLY_AT alone, concurrently: one waiting for
                // the writes before it does not hold up the others.
                let applies = items.into_iter().map(|item| async move {
                    self.apply_at(db, item)
                        .await
                        .unwrap_or_else(|e| Response::error(e.wire_code(), e.to_string()))
                });
                Response::PerKey(futures_util::future::join_all(applies).await)
            }
            Request::Scan { db, cursor, count } => {
                let page = self
                    .keyspace
                    .scan(db, cursor, count as usize, |_, _| true)
                    .await?;
                Response::ScanPage {
                    next: page.cursor,
                    done: page.cursor == 0,
                    keys: page.tokens.into_iter().zip(page.keys).collect(),
                }
            }
            Request::DropHints(dbs) => {
                self.hints.drop_dbs(&dbs).await?;
                Response::Ack
            }
            Request::Flush(dbs) => {
                let ack = self.keyspace.flush(&dbs).await?;
                self.keyspace.durable(ack).await?;
                Response::Ack
            }
            Request::Hint {
                owner,
                db,
                key,
                record,
            } => {
                decode_incoming(&key, &record)?;
                self.hints.store(owner, db, &key, &record).await?;
                Response::Ack
            }
            Request::Publish {
                shard,
                channel,
                message,
            } => {
                self.stats.messages_received.inc();
                Response::Delivered(self.deliver_local(shard, &channel, &message))
            }
            Request::Interest { from, db, keys } => {
                self.note_interest(from, db, keys);
                Response::Ack
            }
            Request::Wake { db, key } => {
                self.changed_locally(db, &key);
                Response::Ack
            }
            Request::Tree { db, depth, ranges } => {
                Response::Tree(self.local_leaves(db, ranges, depth).await?)
            }
            Request::Fetch {
                db,
                ranges,
                after,
                limit,
            } => {
                let page = self
                    .keyspace
                    .range_page(db, ranges, after, limit.clamp(1, 4096) as usize)
                    .await?;
                Response::Records(
                    page.into_iter()
                        .map(|r| (r.token, r.key, r.record.encode()))
                        .collect(),
                )
            }
        })
    }
}

/// A record another node sent for `key`, decoded (and so validated).
pub(crate) fn decode_incoming(key: &[u8], record: &[u8]) -> Result<Siblings> {
    crate::cpu_bound::decode_record(record).map_err(|e| Error::CorruptRecord {
        key: key.to_vec(),
        what: e.to_string(),
    })
}
