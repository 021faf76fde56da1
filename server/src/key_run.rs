//! A pipeline's consecutive writes of one key, run under one lock.
//!
//! Every write of a key takes the key's record lock (a fair, first-come
//! mutex). When many connections pipeline writes to one hot key (a
//! counter hash, a leaderboard, redis-benchmark's `HSET myhash`), each
//! write hands the lock to another connection's task: a task switch, and
//! often a worker thread parked and woken, per write. On a cluster of one,
//! a [`KeyRun`] instead keeps the lock from the first of a connection's
//! consecutive single-key writes of one key to the last of them (at most
//! [`MAX_HELD`] commands, and never while the connection waits for input,
//! durability or its socket), so the other writers queue once per run,
//! not once per write. Redis likewise runs a client's whole batch before
//! the next client's. A run starts at a write with more of the batch
//! already read behind it (a pipeline); a client that sends one command
//! per round trip never holds. (Runs started at the second write of a
//! key before, which made a pipeline queue for the key twice: on two
//! cores, SADD -P16 on one key went from 7.1 to 5.7 µs of server CPU a
//! command when they started at the first.)
//!
//! The commands that may run held ([`holdable`]) write their one key
//! through the record lock and take no other lock. The run also holds the
//! transaction gate (shared) for its length, taken before the record lock
//! as every command takes them: a held write waiting for the gate behind
//! an EXEC that waits for the held key would never end.

use std::sync::Arc;

use bytes::Bytes;

use crate::client::Client;
use crate::command::table;
use crate::shared::Server;

/// Commands one hold lasts at most, so that writers of the key on other
/// connections wait for at most this many of one connection's writes.
pub const MAX_HELD: usize = 64;

/// The single-key writes a run may hold the lock across: each writes only
/// its key, through the record lock alone, and never blocks (the blocking
/// pops, and moves between two keys, are not among them).
const HOLDABLE: &[&str] = &[
    "hset",
    "hsetnx",
    "hmset",
    "hdel",
    "hincrby",
    "hincrbyfloat",
    "sadd",
    "srem",
    "zadd",
    "zincrby",
    "zrem",
    "zpopmin",
    "zpopmax",
    "spop",
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
];

/// The key of `args` if it is a command a run may hold the lock across.
pub fn holdable(args: &[Bytes]) -> Option<&Bytes> {
    let spec = table::lookup(args.first()?)?;
    if !HOLDABLE.contains(&spec.name) || args.len() < spec.arity.unsigned_abs() as usize {
        return None;
    }
    args.get(1)
}

/// The lock a run holds.
struct Held<'a> {
    db: u32,
    key: Bytes,
    commands: usize,
    // Dropped in this order: the record lock, then the gate.
    _record: ringkv_cluster::KeyHold,
    _gate: crate::exec_gate::ReadGuard<'a>,
}

/// One connection's run state: the hold of the key its writes run on.
#[derive(Default)]
pub struct KeyRun<'a> {
    held: Option<Held<'a>>,
}

impl<'a> KeyRun<'a> {
    /// Called before `args` runs: keeps the hold for another write of the
    /// held key, takes it for a holdable write when `more_input` (more of
    /// the batch is read and waiting: a pipeline), and lets it go for
    /// anything else.
    pub async fn before(
        &mut self,
        server: &'a Arc<Server>,
        client: &mut Client,
        args: &[Bytes],
        more_input: bool,
    ) {
        // Checked before every command, not once a batch: a node that
        // joins a cluster mid-batch stops holding at once (a write there
        // waits on its peers, whose writes to the key would wait on it).
        let key = holdable(args).filter(|_| server.cluster.is_alone());
        let Some(key) = key else {
            self.release(client);
            return;
        };
        if let Some(h) = self.held.as_mut() {
            if h.db == client.db && h.key == *key && h.commands < MAX_HELD {
                h.commands += 1;
                return;
            }
        }
        self.release(client);
        if !more_input {
            return;
        }
        let gate = server.exec_gate.read().await;
        if let Some(record) = server.keyspace.hold_key(key).await {
            client.holds_exec_gate = true;
            self.held = Some(Held {
                db: client.db,
                key: key.clone(),
                commands: 1,
                _record: record,
                _gate: gate,
            });
        }
    }

    /// Lets the hold go (before the connection waits for anything).
    pub fn release(&mut self, client: &mut Client) {
        if self.held.take().is_some() {
            client.holds_exec_gate = false;
            client.handed_off_key = true;
        }
    }

    /// The batch read from the socket is done: lets the hold go before the
    /// connection waits for input.
    pub fn end_batch(&mut self, client: &mut Client) {
        self.release(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn only_single_key_writes_of_the_list_are_holdable() {
        assert_eq!(
            holdable(&cmd(&["HSET", "h", "f", "v"])).map(|k| &k[..]),
            Some(&b"h"[..])
        );
        assert!(holdable(&cmd(&["sadd", "s", "m"])).is_some());
        assert!(holdable(&cmd(&["ZADD", "z", "NX", "1", "m"])).is_some());
        assert!(holdable(&cmd(&["HSET", "h"])).is_none(), "too short");
        assert!(holdable(&cmd(&["SMOVE", "a", "b", "m"])).is_none());
        assert!(holdable(&cmd(&["SET", "k", "v"])).is_none());
        assert!(holdable(&cmd(&["HGET", "h", "f"])).is_none());
        assert!(holdable(&cmd(&["BZPOPMIN", "z", "0"])).is_none());
        assert!(holdable(&cmd(&["BLPOP", "l", "0"])).is_none());
        assert!(holdable(&cmd(&["LMOVE", "a", "b", "LEFT", "RIGHT"])).is_none());
        assert!(holdable(&cmd(&["RPUSH", "l", "x"])).is_some());
        assert!(holdable(&cmd(&["ZPOPMIN", "z"])).is_some());
        assert!(holdable(&cmd(&["NOSUCH", "k"])).is_none());
    }
}
