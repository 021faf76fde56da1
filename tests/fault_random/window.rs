//! A sliding window in a sorted set (the rate limiter's shape): members
//! `w{n}` with score `n` are added, every so often the ones below a bound
//! are trimmed by ZREMRANGEBYSCORE (one collection write), and now and then
//! the lowest is taken by ZPOPMIN (a pop that moves the set's low bound).
//!
//! The rule: every member whose ZADD was acknowledged and that no
//! acknowledged trim covered and no acknowledged pop returned is present,
//! with its score; no member that an acknowledged trim covered while it was
//! known present, or that an acknowledged pop returned, is (a trim removes
//! what its coordinator saw); nothing is present, or popped, that was never
//! added. (A pop may return a member an earlier pop returned: under a
//! sloppy quorum a pop is at-least-once, `docs/data-types.md`.)

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{self, cluster::cl, query};

/// What a client knows of its window.
#[derive(Default)]
pub struct Window {
    /// Added (acknowledged), not trimmed since: score to member.
    present: BTreeMap<u64, String>,
    /// Added by a write that failed, or known present when a trim failed:
    /// may be there or not.
    maybe: BTreeMap<u64, String>,
    /// Trimmed by an acknowledged trim while known present.
    removed: BTreeSet<String>,
    /// Trims acknowledged.
    pub trims: u64,
    /// Pops acknowledged.
    pub pops: u64,
}

/// What one step on the window does.
pub enum Step {
    Add,
    Trim,
    Pop,
}

/// The name of client `c`'s window.
pub fn name(client: usize) -> String {
    format!("fwin{client}")
}

impl Window {
    /// One step at operation number `op`: the addition of member `w{op}`,
    /// a trim of what lies `keep` or more below `op`, or a pop. Whether it
    /// was acknowledged; an impossible reply is an anomaly.
    pub fn step(
        &mut self,
        conn: &mut redis::Connection,
        c: usize,
        op: u64,
        step: Step,
        keep: u64,
        anomalies: &mut Vec<String>,
    ) -> bool {
        let key = name(c);
        if let Step::Pop = step {
            return self.pop(conn, &key, anomalies);
        }
        if let Step::Add = step {
            let member = format!("w{op}");
            let acked = query(conn, &["ZADD", &key, &op.to_string(), &member]).is_ok();
            if acked {
                self.present.insert(op, member);
            } else {
                self.maybe.insert(op, member);
            }
            return acked;
        }
        // Exclusive or not, alternately: both bounds are applied by the op.
        let bound = op.saturating_sub(keep);
        let (max, last) = if op % 2 == 0 {
            (format!("({bound}"), bound.saturating_sub(1))
        } else {
            (bound.to_string(), bound)
        };
        let acked = query(conn, &["ZREMRANGEBYSCORE", &key, "-inf", &max]).is_ok();
        let covered: Vec<u64> = self.present.range(..=last).map(|(s, _)| *s).collect();
        for s in covered {
            let member = self.present.remove(&s).unwrap_or_default();
            if acked {
                self.removed.insert(member);
            } else {
                self.maybe.insert(s, member);
            }
        }
        self.trims += u64::from(acked);
        acked
    }

    fn pop(
        &mut self,
        conn: &mut redis::Connection,
        key: &str,
        anomalies: &mut Vec<String>,
    ) -> bool {
        let Ok(reply) = query(conn, &["ZPOPMIN", key]) else {
            // The lowest member known present may be gone.
            if let Some((s, m)) = self.present.pop_first() {
                self.maybe.insert(s, m);
            }
            return false;
        };
        let got = common::strings(reply);
        if let [member, score] = got.as_slice() {
            let s: Option<u64> = score.parse().ok();
            let known = s
                .and_then(|s| self.present.get(&s).or_else(|| self.maybe.get(&s)))
                .is_some_and(|m| m == member);
            if !known && !self.removed.contains(member) {
                anomalies.push(format!(
                    "ZPOPMIN {key} returned {member} {score}, never added"
                ));
            }
            if let Some(s) = s {
                self.present.remove(&s);
                self.maybe.remove(&s);
            }
            self.removed.insert(member.clone());
            self.pops += 1;
        } else if !got.is_empty() {
            anomalies.push(format!("ZPOPMIN {key} replied {got:?}"));
        }
        true
    }

    /// How many members are known present.
    pub fn present(&self) -> usize {
        self.present.len()
    }

    /// The end-state checks through one node.
    pub fn check(
        &self,
        con: &mut redis::Connection,
        node: usize,
        c: usize,
        anomalies: &mut Vec<String>,
    ) {
        let key = name(c);
        let flat = match cl(con, "ALL", &["ZRANGE", &key, "0", "-1", "WITHSCORES"]) {
            Ok(v) => common::strings(v),
            Err(e) => return anomalies.push(format!("node {node}: ZRANGE {key}: {e}")),
        };
        let held: BTreeMap<&str, &str> = flat
            .chunks(2)
            .map(|p| (p[0].as_str(), p[1].as_str()))
            .collect();
        for (score, member) in &self.present {
            match held.get(member.as_str()) {
                Some(s) if *s == score.to_string() => {}
                Some(s) => anomalies.push(format!("node {node}: {key} {member} has score {s}")),
                None => anomalies.push(format!("node {node}: {key} lost acknowledged {member}")),
            }
        }
        for (member, _) in held.iter() {
            if self.removed.contains(*member) {
                anomalies.push(format!(
                    "node {node}: {key} holds trimmed or popped {member}"
                ));
            } else if !self
                .present
                .values()
                .chain(self.maybe.values())
                .any(|m| m == member)
            {
                anomalies.push(format!("node {node}: {key} holds unknown {member}"));
            }
        }
        match cl(con, "ALL", &["ZCARD", &key]) {
            Ok(redis::Value::Int(n)) if n as usize == held.len() => {}
            other => anomalies.push(format!(
                "node {node}: ZCARD {key} = {other:?}, but {} members were read",
                held.len()
            )),
        }
    }
}
