//! A list large enough to be stored split (a header and one record per
//! element, `docs/formats/record.md` §3.6) against a real server: random
//! pushes, pops, ranges, LINDEX, LSET, LPOS, LINSERT, LREM and LTRIM agree
//! with an in-test model at every step, through memtable flushes and
//! compactions (a tiny memtable) and a restart.
//!
//! Every loop is bounded; the server is killed by PID when the test ends.

mod common;

use std::collections::VecDeque;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

/// Bigger than the split size (512), with room to shrink and grow.
const FILL: usize = 1500;

fn start() -> TestServer {
    TestServer::start_with(&["--memtable-size", "262144"])
}

fn range_of(model: &VecDeque<String>, start: i64, stop: i64) -> Vec<String> {
    let n = model.len() as i64;
    let norm = |i: i64| if i < 0 { i + n } else { i };
    let (a, b) = (norm(start).max(0), norm(stop).min(n - 1));
    if a > b || a >= n {
        return Vec::new();
    }
    model.range(a as usize..=b as usize).cloned().collect()
}

/// One of the few values LSET writes ("set0".."set<sets-1>", with
/// probability `p_set`, so many match), else any element of `model`.
fn some_value(rng: &mut StdRng, model: &VecDeque<String>, p_set: f64, sets: u32) -> String {
    if rng.random_bool(p_set) || model.is_empty() {
        format!("set{}", rng.random_range(0..sets))
    } else {
        model[rng.random_range(0..model.len())].clone()
    }
}

/// What LPOS answers on `model`: the indexes of the matches of `element`
/// from the head (`rank` > 0) or the tail, `|rank| - 1` of them skipped,
/// `count` of them (0: all), among the first `maxlen` elements met (0:
/// all).
fn lpos_of(
    model: &VecDeque<String>,
    element: &str,
    rank: i64,
    count: usize,
    maxlen: usize,
) -> Vec<i64> {
    let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..model.len())
    } else {
        Box::new((0..model.len()).rev())
    };
    let scan = if maxlen == 0 { usize::MAX } else { maxlen };
    let take = if count == 0 { usize::MAX } else { count };
    order
        .take(scan)
        .filter(|&i| model[i] == element)
        .skip(rank.unsigned_abs() as usize - 1)
        .take(take)
        .map(|i| i as i64)
        .collect()
}

#[test]
fn a_large_list_behaves_as_a_model_list_through_flushes_and_a_restart() {
    let mut s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(11);
    let mut model: VecDeque<String> = VecDeque::new();
    for chunk in 0..FILL / 100 {
        let values: Vec<String> = (0..100).map(|i| format!("e{}", chunk * 100 + i)).collect();
        let mut args = vec!["RPUSH", "big"];
        args.extend(values.iter().map(String::as_str));
        assert_eq!(int_of(ok(c, &args)), (model.len() + values.len()) as i64);
        model.extend(values);
    }
    for step in 0..3000 {
        let n = model.len() as i64;
        match rng.random_range(0..12u32) {
            0 | 1 => {
                let left = rng.random_bool(0.5);
                let values: Vec<String> = (0..rng.random_range(1..20))
                    .map(|i| format!("s{step}.{i}"))
                    .collect();
                let mut args = vec![if left { "LPUSH" } else { "RPUSH" }, "big"];
                args.extend(values.iter().map(String::as_str));
                let len = int_of(ok(c, &args));
                for v in values {
                    if left {
                        model.push_front(v);
                    } else {
                        model.push_back(v);
                    }
                }
                assert_eq!(len, model.len() as i64, "step {step}");
            }
            2 | 3 => {
                let left = rng.random_bool(0.5);
                let count = rng.random_range(1..25usize);
                let cmd = if left { "LPOP" } else { "RPOP" };
                let got = strings(ok(c, &[cmd, "big", &count.to_string()]));
                let want: Vec<String> = (0..count)
                    .map_while(|_| {
                        if left {
                            model.pop_front()
                        } else {
                            model.pop_back()
                        }
                    })
                    .collect();
                assert_eq!(got, want, "step {step}: {cmd} {count}");
            }
            4 | 5 => {
                let (a, b) = (
                    rng.random_range(-n - 5..n + 5),
                    rng.random_range(-n - 5..n + 5),
                );
                let (a, b) = if rng.random_bool(0.7) {
                    (a, a + rng.random_range(0..30))
                } else {
                    (a, b)
                };
                let got = strings(ok(c, &["LRANGE", "big", &a.to_string(), &b.to_string()]));
                assert_eq!(got, range_of(&model, a, b), "step {step}: LRANGE {a} {b}");
            }
            6 => {
                let i = rng.random_range(-n - 3..n + 3);
                let got = cluster::bulk(&ok(c, &["LINDEX", "big", &i.to_string()]));
                assert_eq!(got, range_of(&model, i, i).pop(), "step {step}: LINDEX {i}");
            }
            7 if rng.random_bool(0.6) => {
                // LINSERT at the first pivot: read through it when it lies
                // near the head, the whole list otherwise.
                let pivot = some_value(&mut rng, &model, 0.5, 7);
                let before = rng.random_bool(0.5);
                let value = format!("ins{step}");
                let side = if before { "BEFORE" } else { "AFTER" };
                let got = int_of(ok(c, &["LINSERT", "big", side, &pivot, &value]));
                let want = match model.iter().position(|v| *v == pivot) {
                    Some(i) => {
                        model.insert(if before { i } else { i + 1 }, value);
                        model.len() as i64
                    }
                    None => -1,
                };
                assert_eq!(got, want, "step {step}: LINSERT {side} {pivot}");
            }
            7 => {
                assert_eq!(int_of(ok(c, &["LLEN", "big"])), n, "step {step}");
            }
            8 if n > 0 => {
                let i = rng.random_range(0..n);
                // Few values, so LPOS finds many matches.
                let v = format!("set{}", step % 5);
                assert_eq!(ok(c, &["LSET", "big", &i.to_string(), &v]), okay());
                model[i as usize] = v;
            }
            10 => {
                // LPOS from either end, deep or not, with COUNT and MAXLEN
                // (a search from the tail widens its read as it goes).
                let element = some_value(&mut rng, &model, 0.8, 6);
                let rank = *[1i64, 2, 7, 40, -1, -3, -30]
                    .get(rng.random_range(0..7))
                    .unwrap();
                let count = *[0usize, 1, 2, 100].get(rng.random_range(0..4)).unwrap();
                let maxlen = *[0usize, 0, 50, 700].get(rng.random_range(0..4)).unwrap();
                let (r, cnt, ml) = (rank.to_string(), count.to_string(), maxlen.to_string());
                let want = lpos_of(&model, &element, rank, count, maxlen);
                let got = ok(
                    c,
                    &[
                        "LPOS", "big", &element, "RANK", &r, "COUNT", &cnt, "MAXLEN", &ml,
                    ],
                );
                let got: Vec<i64> = match got {
                    Value::Array(items) => items.into_iter().map(int_of).collect(),
                    other => panic!("LPOS reply {other:?}"),
                };
                assert_eq!(
                    got, want,
                    "step {step}: LPOS {element} RANK {rank} COUNT {count} MAXLEN {maxlen}"
                );
                let one = ok(c, &["LPOS", "big", &element, "RANK", &r]);
                let first = lpos_of(&model, &element, rank, 1, 0).first().copied();
                assert_eq!(
                    one,
                    first.map_or(Value::Nil, Value::Int),
                    "step {step}: LPOS {element} RANK {rank}"
                );
            }
            11 => {
                // LREM of the first (last) matches: the list is read
                // through them from the head (the tail).
                let value = format!("set{}", rng.random_range(0..6));
                let count = rng.random_range(1..4i64) * if rng.random_bool(0.5) { 1 } else { -1 };
                let got = int_of(ok(c, &["LREM", "big", &count.to_string(), &value]));
                let matching = (0..model.len()).filter(|&i| model[i] == value);
                let mut at: Vec<usize> = if count > 0 {
                    matching.take(count as usize).collect()
                } else {
                    matching.rev().take(count.unsigned_abs() as usize).collect()
                };
                at.sort_unstable();
                for &i in at.iter().rev() {
                    model.remove(i);
                }
                assert_eq!(got, at.len() as i64, "step {step}: LREM {count} {value}");
            }
            9 if n > 700 => {
                // LTRIM of a few from either end (a capped list's trim), or
                // of all but a prefix: read and written at the ends alone.
                let start = rng.random_range(0..20i64);
                let stop = if rng.random_bool(0.5) {
                    -rng.random_range(1..20i64)
                } else {
                    n - rng.random_range(1..30)
                };
                let (a, b) = (start.to_string(), stop.to_string());
                assert_eq!(ok(c, &["LTRIM", "big", &a, &b]), okay(), "step {step}");
                model = range_of(&model, start, stop).into();
            }
            _ => {
                // Grow back when popping has shrunk it below the split size.
                if model.len() < 600 {
                    let values: Vec<String> = (0..400).map(|i| format!("g{step}.{i}")).collect();
                    let mut args = vec!["RPUSH", "big"];
                    args.extend(values.iter().map(String::as_str));
                    ok(c, &args);
                    model.extend(values);
                }
            }
        }
        if step % 700 == 0 {
            assert_eq!(ok(c, &["SAVE"]), okay());
        }
    }
    // LREM of a match further from the head than the window it reads
    // first (1,024 elements): the whole list is written instead.
    let filler: Vec<String> = (0..1200).map(|i| format!("f{i}")).collect();
    let mut args = vec!["RPUSH", "big"];
    args.extend(filler.iter().map(String::as_str));
    args.extend(["deep", "after"]);
    ok(c, &args);
    model.extend(filler.iter().cloned());
    model.extend(["after".to_string()]);
    assert_eq!(int_of(ok(c, &["LREM", "big", "1", "deep"])), 1);
    assert_eq!(ok(c, &["LPOS", "big", "deep"]), Value::Nil);
    // And from the tail: a match further from it than that window.
    let mut args = vec!["LPUSH", "big", "before", "deep"];
    args.extend(filler.iter().map(String::as_str));
    ok(c, &args);
    for v in ["before", "deep"]
        .into_iter()
        .chain(filler.iter().map(String::as_str))
    {
        model.push_front(v.to_string());
    }
    let deep = model.iter().position(|v| v == "deep").unwrap() as i64;
    assert_eq!(
        ok(c, &["LPOS", "big", "deep", "RANK", "-1"]),
        Value::Int(deep)
    );
    assert_eq!(int_of(ok(c, &["LREM", "big", "-1", "deep"])), 1);
    model.retain(|v| v != "deep");
    assert_eq!(ok(c, &["LPOS", "big", "deep", "RANK", "-1"]), Value::Nil);
    let all: Vec<String> = model.iter().cloned().collect();
    assert_eq!(strings(ok(c, &["LRANGE", "big", "0", "-1"])), all);
    s.restart();
    let c = &mut s.conn();
    assert_eq!(strings(ok(c, &["LRANGE", "big", "0", "-1"])), all);
    assert_eq!(int_of(ok(c, &["LLEN", "big"])), all.len() as i64);
    assert_eq!(ok(c, &["TYPE", "big"]), Value::SimpleString("list".into()));
}

/// LINDEX, LRANGE and LSET far from both ends of a list too large for a
/// copy of its positions (120,000 elements) are read from counts per
/// piece of its positions: made by one walk at the list's second such
/// read, then moved along by pushes and pops, and every answer matches a
/// model.
#[test]
fn indexes_far_from_the_ends_of_a_list_too_large_for_a_copy() {
    let s = TestServer::start_with(&[]);
    let c = &mut s.conn();
    let n = 120_000usize;
    let mut model: VecDeque<String> = (0..n).map(|i| format!("v{i}")).collect();
    for chunk in model.iter().collect::<Vec<_>>().chunks(2000) {
        let mut args = vec!["RPUSH", "l"];
        args.extend(chunk.iter().map(|v| v.as_str()));
        ok(c, &args);
    }
    let mut rng = StdRng::seed_from_u64(9);
    for round in 0..300 {
        let at = rng.random_range(1000..model.len() - 1000);
        let index = at.to_string();
        match round % 4 {
            0 => {
                ok(c, &["LPUSH", "l", &format!("h{round}")]);
                model.push_front(format!("h{round}"));
            }
            1 => {
                let popped = ok(c, &["RPOP", "l"]);
                assert_eq!(popped, bulk(&model.pop_back().unwrap()));
            }
            2 => {
                let value = format!("set{round}");
                assert_eq!(ok(c, &["LSET", "l", &index, &value]), okay());
                model[at] = value;
            }
            _ => {}
        }
        assert_eq!(
            ok(c, &["LINDEX", "l", &index]),
            bulk(&model[at]),
            "round {round}"
        );
        let stop = (at + 4).to_string();
        let want = range_of(&model, at as i64, at as i64 + 4);
        assert_eq!(strings(ok(c, &["LRANGE", "l", &index, &stop])), want);
    }
    assert_eq!(info_int(c, "collection_rank_piece_walks"), 1);
    assert_eq!(info_int(c, "collection_order_copies"), 0);
}

/// The text of a bulk-string reply.
fn string_of(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b).expect("utf-8 bulk"),
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// A queue on a large list: pushes at the head, pops of one to three at
/// the tail (RPOP, RPOP with a count, LMOVE to another list, BRPOP), and
/// now and then an LSET or LREM near the tail, an LPOP or an RPUSH;
/// values short and long (past the 512 bytes an end's kept element may
/// hold). Every pop returns what the model's tail holds, through flushes
/// of a tiny memtable; the pops take their elements from the ones a walk
/// from the end kept, walking about once per 32 of them.
#[test]
fn a_queue_pops_what_was_pushed_from_the_elements_kept_at_its_end() {
    let s = start();
    let c = &mut s.conn();
    let mut rng = StdRng::seed_from_u64(23);
    let value = |rng: &mut StdRng, i: usize| {
        let pad = if rng.random_bool(0.2) { 600 } else { 8 };
        format!("v{i}-{}", "x".repeat(rng.random_range(0..pad)))
    };
    let mut model: VecDeque<String> = VecDeque::new();
    for i in 0..FILL {
        let v = value(&mut rng, i);
        ok(c, &["LPUSH", "q", &v]);
        model.push_front(v);
    }
    let mut pops = 0;
    for step in 0..3000 {
        let i = FILL + step;
        match rng.random_range(0..40u32) {
            0..=11 => {
                let v = value(&mut rng, i);
                ok(c, &["LPUSH", "q", &v]);
                model.push_front(v);
            }
            12..=35 => {
                let count = rng.random_range(1..4usize);
                let want: Vec<String> = (0..count).filter_map(|_| model.pop_back()).collect();
                let got = match rng.random_range(0..4) {
                    0 => strings(ok(c, &["RPOP", "q", &count.to_string()])),
                    1 => vec![string_of(ok(c, &["LMOVE", "q", "done", "RIGHT", "LEFT"]))],
                    2 => {
                        let popped = strings(ok(c, &["BRPOP", "q", "1"]));
                        vec![popped[1].clone()]
                    }
                    _ => vec![string_of(ok(c, &["RPOP", "q"]))],
                };
                // The one-element forms pop one: the rest go back.
                for v in want.iter().skip(got.len()).rev() {
                    model.push_back(v.clone());
                }
                assert_eq!(got, want[..got.len()], "step {step}");
                pops += 1;
            }
            36 => {
                let at = -rng.random_range(1..4i64);
                let v = format!("set{step}");
                assert_eq!(ok(c, &["LSET", "q", &at.to_string(), &v]), okay());
                let len = model.len() as i64;
                model[(len + at) as usize] = v;
            }
            37 => {
                let victim = model[model.len() - rng.random_range(1..5)].clone();
                ok(c, &["LREM", "q", "-1", &victim]);
                let at = model.iter().rposition(|v| *v == victim).unwrap();
                model.remove(at);
            }
            38 => {
                let want = model.pop_front();
                assert_eq!(ok(c, &["LPOP", "q"]), bulk(&want.unwrap()));
            }
            _ => {
                let v = value(&mut rng, i);
                ok(c, &["RPUSH", "q", &v]);
                model.push_back(v);
            }
        }
    }
    let all = strings(ok(c, &["LRANGE", "q", "0", "-1"]));
    assert_eq!(all, Vec::from(model), "the whole queue");
    let walks = info_int(c, "collection_list_end_walks");
    let spared = info_int(c, "collection_list_end_reads_spared");
    assert!(
        walks > 0 && walks < pops / 5,
        "{walks} walks for {pops} pops"
    );
    assert!(spared > pops / 2, "{spared} of {pops} pops spared a walk");
}
