//! Running independent commands of one pipeline batch at the same time.
//!
//! In a cluster, every GET or SET waits for a round trip to the key's
//! replicas. Run one after another, a pipeline of 16 commands costs 16
//! round trips. A [`ConcurrentRun`] gathers consecutive simple single-key
//! commands on distinct keys and runs them together, so the batch costs
//! about one round trip; replies still go out in request order. Which
//! commands qualify is a flag in the command table (`flag::CONCURRENT`:
//! GET, SET, DEL and the other single-key commands of strings, counters,
//! expiry, hashes, sets, sorted sets, lists and HyperLogLog that a
//! pipeline sends by the thousand, such as INCR, HSET, SADD, ZADD, LPUSH,
//! RPOP, EXPIRE), in their plainest form only: one key, no options.
//!
//! The GETs of a run are read together, and its plain SETs written
//! together: one batched request per replica for all their keys
//! ([`prefetch_gets`], [`prewrite_sets`]; `Coordinator::get_many`,
//! `Coordinator::set_many`), instead of one request per key and replica;
//! each command then answers, counts and records as it would alone.
//!
//! What a client observes of its own commands does not change: a command
//! naming a key already in the run ends the run first, so commands on one
//! key still run in order. What another client may observe does: two
//! writes to different keys from one pipeline batch can become visible in
//! either order, as they can in any Dynamo-style store whose keys live on
//! different replicas. On a cluster of one, and for a client in MULTI, with
//! CLIENT REPLY off or skipping, or not yet authenticated, commands run one
//! at a time as before.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::client::{Client, ReplyMode};
use crate::command;
use crate::command::table::{self, flag};
use crate::reply_error::ReplyError;
use crate::shared::Server;

/// Most commands one run holds; a longer batch is several runs.
pub const MAX_RUN: usize = 64;

/// Consecutive commands of one batch that may run concurrently.
#[derive(Default)]
pub struct ConcurrentRun {
    commands: Vec<Vec<Bytes>>,
    keys: HashSet<Bytes>,
}

/// The key of a command that may join a run: one flagged
/// [`flag::CONCURRENT`] in the command table, called with exactly
/// `|arity|` arguments (its plainest form: `GET key`, `SET key value`,
/// `DEL key`). Other commands, and these with other shapes, run alone.
fn single_key(args: &[Bytes]) -> Option<&Bytes> {
    let spec = table::lookup(args.first()?)?;
    let plain = spec.flags & flag::CONCURRENT != 0
        && args.len() == spec.arity.unsigned_abs() as usize
        && spec.keys.first == 1;
    plain.then(|| args.get(1)).flatten()
}

/// Whether this client's next command may join a run (the caller also
/// checks that the node is not a cluster of one).
pub fn enabled(client: &Client) -> bool {
    client.authenticated
        && client.multi.is_none()
        // A monitor's own lines follow each reply on the main path.
        && !client.handle.monitor.load(std::sync::atomic::Ordering::Relaxed)
        && client.reply_mode == ReplyMode::On
        && client.level_override.is_none()
        && !client.close_after_reply
}

impl ConcurrentRun {
    /// Adds `args` to the run if it is a command that may join it and the
    /// run has room and does not hold its key yet; otherwise gives `args`
    /// back, and the caller runs the run first.
    pub fn offer(&mut self, args: Vec<Bytes>) -> Result<(), Vec<Bytes>> {
        let Some(key) = single_key(&args) else {
            return Err(args);
        };
        if self.commands.len() >= MAX_RUN || self.keys.contains(key) {
            return Err(args);
        }
        self.keys.insert(key.clone());
        self.commands.push(args);
        Ok(())
    }

    /// Whether the run holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Runs every command of the run at once, each with its own view of
    /// `client`, appends the replies to `wbuf` in order, and leaves the run
    /// empty (an empty run does nothing). The replies wait for every write
    /// of the run to be durable.
    pub async fn run(&mut self, server: &Arc<Server>, client: &mut Client, wbuf: &mut BytesMut) {
        if self.commands.is_empty() {
            return;
        }
        self.keys.clear();
        let mut commands = std::mem::take(&mut self.commands);
        client.unsent_commands += commands.len();
        if commands.len() == 1 {
            // Nothing to overlap.
            if let Some(args) = commands.pop() {
                let reply = command::execute(server, client, args).await;
                reply.encode(client.protocol, wbuf);
            }
            return;
        }
        let mut views: Vec<Client> = commands.iter().map(|_| client.view()).collect();
        prefetch_gets(server, client, &commands, &mut views).await;
        prewrite_sets(server, client, &commands, &mut views).await;
        let replies = futures_util::future::join_all(
            views
                .iter_mut()
                .zip(commands)
                .map(|(view, args)| command::execute(server, view, args)),
        )
        .await;
        for (view, reply) in views.iter_mut().zip(replies) {
            client.await_ack(view.ack);
            client.woken.append(&mut view.woken);
            reply.encode(client.protocol, wbuf);
        }
    }
}

/// Where in `commands` the command `name` is called with exactly `len`
/// arguments (its name included).
fn positions_of(commands: &[Vec<Bytes>], name: &str, len: usize) -> Vec<usize> {
    commands
        .iter()
        .enumerate()
        .filter(|(_, args)| {
            args.len() == len && table::lookup(&args[0]).is_some_and(|s| s.name == name)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Reads the keys of the run's GETs with one batched cluster read (one
/// request per replica for all of them) and hands each GET its answer
/// ([`Client::prefetched`]); the GETs then run as usual, counted and
/// recorded as any command. Does nothing for fewer than two GETs.
async fn prefetch_gets(
    server: &Arc<Server>,
    client: &Client,
    commands: &[Vec<Bytes>],
    views: &mut [Client],
) {
    let gets = positions_of(commands, "get", 2);
    if gets.len() < 2 {
        return;
    }
    let keys: Vec<Bytes> = gets.iter().map(|&i| commands[i][1].clone()).collect();
    let level = client.read_level_in(&server.levels);
    let found = {
        // As each GET would, outside any transaction's EXEC.
        let _gate = server.exec_gate.read().await;
        server.cluster.get_many(client.db, &keys, level).await
    };
    for ((i, key), found) in gets.into_iter().zip(keys).zip(found) {
        if let Some(view) = views.get_mut(i) {
            view.prefetched = Some((key, found.map_err(ReplyError::from)));
        }
    }
}

/// Writes the run's plain SETs with one batched cluster write (one
/// request per replica for all of them) and hands each SET its outcome
/// ([`Client::prewritten`]); the SETs then run as usual (watches touched,
/// counted, recorded) without writing again. Does nothing for fewer than
/// two SETs.
async fn prewrite_sets(
    server: &Arc<Server>,
    client: &Client,
    commands: &[Vec<Bytes>],
    views: &mut [Client],
) {
    let sets = positions_of(commands, "set", 3);
    if sets.len() < 2 {
        return;
    }
    let items: Vec<(Bytes, Bytes)> = sets
        .iter()
        .map(|&i| {
            // A private copy, as SET stores: a value never pins a read buffer.
            let value = Bytes::copy_from_slice(&commands[i][2]);
            (commands[i][1].clone(), value)
        })
        .collect();
    let keys: Vec<Bytes> = items.iter().map(|(k, _)| k.clone()).collect();
    let level = client.write_level_in(&server.levels);
    let done = {
        // Outside any EXEC, as each SET. No key lock: a plain SET reads
        // nothing at this layer, and the replica applying it takes the
        // record's lock (holding the stripes of every key of the batch
        // across the round trip would queue other pipelines behind it).
        let _gate = server.exec_gate.read().await;
        // Watchers learn of the change before it is made, as from a lone
        // SET (no EXEC can slip in between: it needs the gate).
        for key in &keys {
            server.watches.touch(client.db, key);
        }
        server.cluster.set_many(client.db, items, level).await
    };
    for ((i, key), done) in sets.into_iter().zip(keys).zip(done) {
        if let Some(view) = views.get_mut(i) {
            view.prewritten = Some((key, done.map_err(ReplyError::from)));
        }
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
    fn only_simple_single_key_commands_join() {
        let mut run = ConcurrentRun::default();
        assert!(run.offer(cmd(&["get", "a"])).is_ok());
        assert!(run.offer(cmd(&["SET", "b", "1"])).is_ok());
        assert!(run.offer(cmd(&["Del", "c"])).is_ok());
        assert!(run.offer(cmd(&["SET", "d", "1", "NX"])).is_err());
        assert!(run.offer(cmd(&["DEL", "e", "f"])).is_err());
        assert!(run.offer(cmd(&["INCR", "g"])).is_ok());
        assert!(run.offer(cmd(&["HSET", "h", "f", "v"])).is_ok());
        assert!(run.offer(cmd(&["HSET", "i", "f", "v", "g", "w"])).is_err());
        assert!(run.offer(cmd(&["LPUSH", "j", "x"])).is_ok());
        assert!(run.offer(cmd(&["LPOP", "k", "2"])).is_err());
        assert!(run.offer(cmd(&["EXPIRE", "l", "10", "NX"])).is_err());
        assert!(run.offer(cmd(&["MGET", "m", "n"])).is_err());
        assert!(run.offer(cmd(&["BLPOP", "o", "0"])).is_err());
        assert!(run.offer(cmd(&["RENAME", "p", "q"])).is_err());
        assert!(run.offer(cmd(&["GET"])).is_err());
        assert_eq!(run.commands.len(), 6);
    }

    #[test]
    fn a_key_already_in_the_run_ends_it() {
        let mut run = ConcurrentRun::default();
        assert!(run.offer(cmd(&["SET", "k", "1"])).is_ok());
        assert!(run.offer(cmd(&["GET", "k"])).is_err());
        assert!(run.offer(cmd(&["GET", "other"])).is_ok());
    }

    #[test]
    fn a_run_holds_at_most_max_run_commands() {
        let mut run = ConcurrentRun::default();
        for i in 0..MAX_RUN {
            assert!(run.offer(cmd(&["GET", &format!("k{i}")])).is_ok());
        }
        assert!(run.offer(cmd(&["GET", "one-more"])).is_err());
    }
}
