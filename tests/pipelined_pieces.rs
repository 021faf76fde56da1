//! Pipelined batches sent in random pieces answer exactly as the same
//! commands sent one at a time. A node alone walks each batch it reads
//! to start loading its keys' places in the memtable and their records
//! (`server/src/connection.rs`, `prefetch_batch_buckets` and
//! `prefetch_next_key`); that walk sees whole requests, partial ones,
//! inline commands and long values, and must change nothing a reply
//! shows. One connection sends batches to database 1, another the same
//! commands one by one to database 2; every reply is compared, across
//! memtable flushes (SAVE), so reads reach SSTables and the row cache too.
//!
//! Bounded: 300 batches of at most 40 commands; the server is killed by
//! PID when the test ends.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BATCHES: usize = 300;
const KEYS: u32 = 30;
const MEMBERS: u32 = 25;

/// One random command on a small set of keys, encoded; inline now and then.
fn command(rng: &mut StdRng) -> Vec<u8> {
    let key = format!("k{}", rng.random_range(0..KEYS));
    let member = format!("m{}", rng.random_range(0..MEMBERS));
    let number = rng.random_range(0..100u32).to_string();
    let args: Vec<String> = match rng.random_range(0..17u32) {
        0 => vec!["SET".into(), key, format!("v{number}")],
        1 => vec!["GET".into(), key],
        2 => vec!["DEL".into(), key],
        3 => vec!["INCR".into(), key],
        4 => vec!["APPEND".into(), key, "ab".into()],
        5 => vec!["STRLEN".into(), key],
        6 => vec!["EXISTS".into(), key],
        7 => vec!["HSET".into(), key, member, number],
        8 => vec!["HGET".into(), key, member],
        9 => vec!["HDEL".into(), key, member],
        10 => vec!["SADD".into(), key, member],
        11 => vec!["SREM".into(), key, member],
        12 => vec!["SISMEMBER".into(), key, member],
        13 => vec!["ZADD".into(), key, number, member],
        14 => vec!["ZSCORE".into(), key, member],
        15 => {
            let len = [10, 2_000, 20_000][rng.random_range(0..3usize)];
            vec!["SET".into(), key, "z".repeat(len)]
        }
        _ => return format!("GET {key}\r\n").into_bytes(),
    };
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode_cmd(&args)
}

#[test]
fn pipelined_batches_sent_in_pieces_answer_as_commands_sent_one_at_a_time() {
    let s = TestServer::start();
    let mut piped = s.raw();
    let mut single = s.raw();
    assert_eq!(piped.cmd(&["SELECT", "1"]), "+OK\r\n");
    assert_eq!(single.cmd(&["SELECT", "2"]), "+OK\r\n");
    let mut rng = StdRng::seed_from_u64(20_261_208);
    let mut compared = 0;
    for batch in 0..BATCHES {
        let commands: Vec<Vec<u8>> = (0..rng.random_range(1..=40))
            .map(|_| command(&mut rng))
            .collect();
        let bytes = commands.concat();
        let mut at = 0;
        while at < bytes.len() {
            let piece = [1, 7, 100, 5_000, bytes.len()][rng.random_range(0..5usize)];
            let end = (at + piece).min(bytes.len());
            piped.send(&bytes[at..end]);
            at = end;
        }
        let batched: Vec<String> = commands.iter().map(|_| piped.read_reply()).collect();
        for (c, reply) in commands.iter().zip(&batched) {
            single.send(c);
            assert_eq!(
                &single.read_reply(),
                reply,
                "batch {batch}: {}",
                String::from_utf8_lossy(&c[..c.len().min(60)])
            );
            compared += 1;
        }
        if batch % 100 == 99 {
            assert_eq!(single.cmd(&["SAVE"]), "+OK\r\n");
        }
    }
    assert!(compared > BATCHES * 10, "{compared} replies compared");
}
