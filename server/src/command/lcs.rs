//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest
//! common subsequence of two string values, computed exactly as Redis 7.0's
//! `lcsCommand` does so that ties resolve to the same string and the same
//! match ranges (the table walk prefers moving along `b` on a tie).
//!
//! The dynamic-programming table has `(len(a)+1) * (len(b)+1)` 32-bit cells;
//! as in Redis, a table larger than `proto-max-bulk-len` bytes is refused
//! before anything is allocated. Large tables are filled on a blocking
//! thread so one LCS does not stall the other connections of its worker.

use bytes::Bytes;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::{arg, is, parse_i64};
use crate::reply_error::{CmdResult, ReplyError};

/// Tables with more cells than this are filled on a blocking thread.
const INLINE_CELLS: u64 = 1 << 20;

/// What LCS was asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcsOptions {
    /// LEN: only the length.
    pub len: bool,
    /// IDX: the matching ranges.
    pub idx: bool,
    /// WITHMATCHLEN: each range with its length.
    pub with_match_len: bool,
    /// MINMATCHLEN: ranges shorter than this are left out (negative is 0).
    pub min_match_len: u64,
}

/// Parses the options after the two keys, with Redis's texts.
pub fn parse_options(args: &[Bytes]) -> Result<LcsOptions, ReplyError> {
    let mut o = LcsOptions::default();
    let mut j = 3;
    while let Some(opt) = args.get(j) {
        let more = args.len() - 1 - j;
        if is(opt, "IDX") {
            o.idx = true;
        } else if is(opt, "LEN") {
            o.len = true;
        } else if is(opt, "WITHMATCHLEN") {
            o.with_match_len = true;
        } else if is(opt, "MINMATCHLEN") && more > 0 {
            let n = parse_i64(arg(args, j + 1))?;
            o.min_match_len = u64::try_from(n).unwrap_or(0);
            j += 1;
        } else {
            return Err(ReplyError::syntax());
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(ReplyError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// One common run, as IDX reports it: inclusive ranges in `a` and `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// First and last byte in `a`.
    pub a: (u32, u32),
    /// First and last byte in `b`.
    pub b: (u32, u32),
}

impl Match {
    /// The run's length.
    pub fn len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }

    /// Never true: a match has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The answer: the common subsequence, its length, and its runs from the
/// end of the strings backwards (Redis's order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lcs {
    /// The subsequence itself.
    pub sequence: Vec<u8>,
    /// Its runs, last first, filtered by MINMATCHLEN.
    pub matches: Vec<Match>,
}

/// Why the table could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// A string of 2^32-2 bytes or more.
    TooLong,
    /// The table would exceed the byte budget (proto-max-bulk-len).
    OverBudget,
    /// The allocation failed.
    NoMemory,
}

impl From<TableError> for ReplyError {
    fn from(e: TableError) -> Self {
        ReplyError::err(match e {
            TableError::TooLong => "String too long for LCS",
            TableError::OverBudget => {
                "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            }
            TableError::NoMemory => {
                "Insufficient memory, failed allocating transient memory for LCS"
            }
        })
    }
}

/// Checks the table for `a` and `b` fits in `budget_bytes`; returns its cells.
pub fn table_cells(alen: usize, blen: usize, budget_bytes: u64) -> Result<u64, TableError> {
    let limit = u64::from(u32::MAX) - 1;
    if alen as u64 >= limit || blen as u64 >= limit {
        return Err(TableError::TooLong);
    }
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > budget_bytes {
        return Err(TableError::OverBudget);
    }
    Ok(cells)
}

/// Computes the LCS of `a` and `b` as Redis does. Call [`table_cells`] first.
pub fn lcs(a: &[u8], b: &[u8], min_match_len: u64) -> Result<Lcs, TableError> {
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let cells = (alen + 1).checked_mul(width).ok_or(TableError::TooLong)?;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| TableError::NoMemory)?;
    table.resize(cells, 0);
    let at = |t: &[u32], i: usize, j: usize| t.get(i * width + j).copied().unwrap_or(0);
    for i in 1..=alen {
        for j in 1..=blen {
            let v = if a.get(i - 1) == b.get(j - 1) {
                at(&table, i - 1, j - 1) + 1
            } else {
                at(&table, i - 1, j).max(at(&table, i, j - 1))
            };
            if let Some(cell) = table.get_mut(i * width + j) {
                *cell = v;
            }
        }
    }
    let total = at(&table, alen, blen) as usize;
    let mut sequence = vec![0u8; total];
    let mut matches = Vec::new();
    // The current run, as (a_start, a_end, b_start, b_end), while walking back.
    let mut run: Option<(u32, u32, u32, u32)> = None;
    let emit = |run: (u32, u32, u32, u32), matches: &mut Vec<Match>| {
        let m = Match {
            a: (run.0, run.1),
            b: (run.2, run.3),
        };
        if min_match_len == 0 || u64::from(m.len()) >= min_match_len {
            matches.push(m);
        }
    };
    let (mut i, mut j, mut idx) = (alen, blen, total);
    while i > 0 && j > 0 {
        let (ai, bj) = (a.get(i - 1), b.get(j - 1));
        if ai == bj {
            if let (Some(slot), Some(&byte)) = (sequence.get_mut(idx.wrapping_sub(1)), ai) {
                *slot = byte;
            }
            // Indexes are below 2^32-2: checked by table_cells.
            let (ia, jb) = ((i - 1) as u32, (j - 1) as u32);
            let current = match run {
                // Walking back along the diagonal extends the run.
                Some((s, e, bs, be)) if s == ia + 1 && bs == jb + 1 => (ia, e, jb, be),
                _ => (ia, ia, jb, jb),
            };
            run = Some(current);
            // A run that reached the start of either string is complete.
            if current.0 == 0 || current.2 == 0 {
                emit(current, &mut matches);
                run = None;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(&table, i - 1, j) > at(&table, i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if let Some(r) = run.take() {
                emit(r, &mut matches);
            }
        }
    }
    Ok(Lcs { sequence, matches })
}

/// The reply for the computed LCS under `o`.
pub fn reply(result: &Lcs, o: LcsOptions) -> Reply {
    let len = Reply::Int(i64::try_from(result.sequence.len()).unwrap_or(i64::MAX));
    if o.idx {
        let pair =
            |(s, e): (u32, u32)| Reply::Array(vec![Reply::Int(s.into()), Reply::Int(e.into())]);
        let matches = result
            .matches
            .iter()
            .map(|m| {
                let mut item = vec![pair(m.a), pair(m.b)];
                if o.with_match_len {
                    item.push(Reply::Int(m.len().into()));
                }
                Reply::Array(item)
            })
            .collect();
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), len),
        ])
    } else if o.len {
        len
    } else {
        Reply::Bulk(Bytes::copy_from_slice(&result.sequence))
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
pub async fn lcs_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis reads both keys before parsing the options, and answers a key
    // of another type with its own error, not -WRONGTYPE.
    let not_strings = |e: ReplyError| match e {
        ReplyError::WrongType => ReplyError::err("The specified keys must contain string values"),
        e => e,
    };
    let a = cx.read(arg(args, 1)).await.map_err(not_strings)?;
    let b = cx.read(arg(args, 2)).await.map_err(not_strings)?;
    let (a, b) = (
        a.map_or_else(Bytes::new, |e| e.value),
        b.map_or_else(Bytes::new, |e| e.value),
    );
    let o = parse_options(args)?;
    let budget = cx.server.config.read().proto_max_bulk_len.bytes();
    let cells = table_cells(a.len(), b.len(), budget)?;
    // Parallel LCS tables share one node-wide budget (`crate::transient`).
    let _reserved = cx
        .server
        .transient_memory
        .reserve(cells.saturating_mul(4))
        .await;
    let result = if cells <= INLINE_CELLS {
        lcs(&a, &b, o.min_match_len)?
    } else {
        let min = o.min_match_len;
        tokio::task::spawn_blocking(move || lcs(&a, &b, min))
            .await
            .map_err(|_| ReplyError::from(TableError::NoMemory))??
    };
    Ok(reply(&result, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, min: u64) -> Lcs {
        lcs(a.as_bytes(), b.as_bytes(), min).unwrap()
    }

    #[test]
    fn matches_redis_documentation_example() {
        let r = run("ohmytext", "mynewtext", 0);
        assert_eq!(r.sequence, b"mytext");
        assert_eq!(
            r.matches,
            vec![
                Match {
                    a: (4, 7),
                    b: (5, 8)
                },
                Match {
                    a: (2, 3),
                    b: (0, 1)
                },
            ]
        );
        assert_eq!(run("ohmytext", "mynewtext", 4).matches.len(), 1);
    }

    #[test]
    fn empty_and_disjoint_strings() {
        assert_eq!(run("", "abc", 0), Lcs::default());
        assert_eq!(run("abc", "xyz", 0), Lcs::default());
        let same = run("abc", "abc", 0);
        assert_eq!(same.sequence, b"abc");
        assert_eq!(
            same.matches,
            vec![Match {
                a: (0, 2),
                b: (0, 2)
            }]
        );
    }

    #[test]
    fn table_budget_follows_proto_max_bulk_len() {
        assert_eq!(table_cells(600, 600, 1 << 20), Err(TableError::OverBudget));
        assert_eq!(table_cells(10, 10, 1 << 20), Ok(121));
    }

    #[test]
    fn options_are_checked_like_redis() {
        let args = |v: &[&str]| -> Vec<Bytes> {
            ["lcs", "a", "b"]
                .iter()
                .chain(v)
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert!(parse_options(&args(&["LEN", "IDX"])).is_err());
        assert_eq!(
            parse_options(&args(&["MINMATCHLEN"])),
            Err(ReplyError::syntax())
        );
        assert_eq!(
            parse_options(&args(&["MINMATCHLEN", "-3", "idx"]))
                .unwrap()
                .min_match_len,
            0
        );
        assert_eq!(
            parse_options(&args(&["MINMATCHLEN", "x"])),
            Err(ReplyError::not_integer())
        );
    }
}
