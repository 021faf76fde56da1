//! EXPIRE and PERSIST of a collection (a write of the whole key that keeps
//! its members and their tags): a long expiry, or none, set on the
//! client's hash or sorted set once each surely exists (its counter member
//! is never removed).
//!
//! The rule is the key rule: the key ends with its last acknowledged
//! expiry state or that of a write that failed after it, and the members
//! obey their own rules whatever expiry writes ran among them.

use crate::common::{cluster::cl, query};

/// The expiry given: long enough that no run sees it pass.
const SECONDS: u64 = 100_000;

/// The expiry states (`Some(())`: an expiry; `None`: none) a collection may
/// end with: the first is the last acknowledged one, later ones those of
/// writes that failed after it.
pub struct Expiry {
    allowed: Vec<Option<()>>,
    /// Expiry writes acknowledged.
    pub acked: u64,
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry {
            allowed: vec![None],
            acked: 0,
        }
    }
}

impl Expiry {
    /// EXPIRE (when `set`) or PERSIST of `key`, which exists. Whether it
    /// was acknowledged.
    pub fn step(&mut self, conn: &mut redis::Connection, key: &str, set: bool) -> bool {
        let seconds = SECONDS.to_string();
        let reply = if set {
            query(conn, &["EXPIRE", key, &seconds])
        } else {
            query(conn, &["PERSIST", key])
        };
        let state = set.then_some(());
        match reply {
            Ok(_) => {
                self.allowed = vec![state];
                self.acked += 1;
                true
            }
            Err(_) => {
                self.allowed.push(state);
                false
            }
        }
    }

    /// The end-state check of `key` through one node.
    pub fn check(
        &self,
        con: &mut redis::Connection,
        node: usize,
        key: &str,
        anomalies: &mut Vec<String>,
    ) {
        let got = match cl(con, "ALL", &["TTL", key]) {
            Ok(redis::Value::Int(-1)) => None,
            Ok(redis::Value::Int(t)) if t > 0 && t <= SECONDS as i64 => Some(()),
            other => return anomalies.push(format!("node {node}: TTL {key} = {other:?}")),
        };
        if !self.allowed.contains(&got) {
            anomalies.push(format!(
                "node {node}: {key} has {}, expected one of {:?}",
                if got.is_some() {
                    "an expiry"
                } else {
                    "no expiry"
                },
                self.allowed
            ));
        }
    }
}
