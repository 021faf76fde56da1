//! One pipeline of writes to five of the client's keys at once: INCR of
//! its counter, SADD of a new member to its set, HINCRBY of its hash's
//! counter field, and two of its keys set, by two SETs or by one MSET. In a
//! cluster the commands run concurrently (`server/src/pipeline.rs`), the
//! two SETs or the MSET's keys written with one request per replica
//! (`Coordinator::set_many`), each key with its own quorum, so a fault can
//! land between them: each is booked on its own key's rule.
//!
//! All acknowledged: each as if sent alone. Any error (the `redis` crate
//! then gives no reply of the batch): every write may or may not have been
//! applied, and is booked as a failed write of its key.

use crate::{History, KEYS_PER_CLIENT, counter_name, hash_name, key_name, set_name};

/// Sends the pipeline for client `c` and books its outcome in `h`; whether
/// it was acknowledged.
pub fn step(h: &mut History, conn: &mut redis::Connection, c: usize, k: usize) -> bool {
    let member = format!("m{}p", h.ops);
    let value = format!("v{}p", h.ops);
    let (counter, set, hash, key) = (counter_name(c), set_name(c), hash_name(c), key_name(c, k));
    let k2 = (k + 1) % KEYS_PER_CLIENT;
    let (key2, value2) = (key_name(c, k2), format!("v{}q", h.ops));
    let mut p = redis::pipe();
    p.cmd("INCR").arg(&counter);
    p.cmd("SADD").arg(&set).arg(&member);
    p.cmd("HINCRBY").arg(&hash).arg("n").arg(1);
    if h.ops % 2 == 0 {
        p.cmd("SET").arg(&key).arg(&value);
        p.cmd("SET").arg(&key2).arg(&value2);
    } else {
        p.cmd("MSET").arg(&key).arg(&value).arg(&key2).arg(&value2);
    }
    match p.query::<Vec<redis::Value>>(conn) {
        Ok(replies) => {
            let int = |i: usize| match replies.get(i) {
                Some(redis::Value::Int(r)) => Ok(*r),
                _ => Err(()),
            };
            for (i, name) in [(0, "INCR (pipelined)"), (2, "HINCRBY (pipelined)")] {
                let reply = int(i);
                if reply.is_err() {
                    h.anomalies
                        .push(format!("{name} replied {:?}", replies.get(i)));
                }
                let history = if i == 0 { &mut h.incr } else { &mut h.hincr };
                history.record(name, reply, &mut h.anomalies);
            }
            h.members.record(member, false, true);
            h.keys[k] = vec![Some(value)];
            h.keys[k2] = vec![Some(value2)];
            true
        }
        Err(_) => {
            h.incr.record("INCR (pipelined)", Err(()), &mut h.anomalies);
            h.hincr
                .record("HINCRBY (pipelined)", Err(()), &mut h.anomalies);
            h.members.record(member, false, false);
            h.keys[k].push(Some(value));
            h.keys[k2].push(Some(value2));
            false
        }
    }
}
