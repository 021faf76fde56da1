//! Writes to a split collection that must not read its members: a trim
//! from the lowest score moves the index's low bound past what it removed,
//! and a merge of another replica's record that supersedes the collection
//! (a DEL, a SET, a small rewrite) stores that record without reading them;
//! one that keeps it large is stored by its difference, not merged.

use bytes::Bytes;

use super::score_index::entry_suffix;
use super::split::{member_key, member_prefix};
use super::split_tests::{apply, header_of, member_records, put_hash, settled};
use super::{Keyspace, Need, ScoreWindow, live_entry};
use crate::version::{CollectionOp, CollectionReply, Kind, Payload};

/// A trim from the lowest score (ZREMRANGEBYSCORE -inf x, a sliding
/// window's) moves the low bound past what it removed, so the next walk
/// from that end starts after their deletion marks instead of passing
/// them all.
#[tokio::test(flavor = "multi_thread")]
async fn a_trim_from_the_lowest_score_moves_the_low_bound() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let zadd = CollectionOp::ZAdd {
        pairs: (0..1000)
            .map(|i| (Bytes::from(format!("m{i:04}")), f64::from(i)))
            .collect(),
        flags: 0,
    };
    apply(&ks, b"z", &zadd).await.0.unwrap();
    let trim = |max: f64| CollectionOp::RemoveScores {
        min: f64::NEG_INFINITY,
        min_exclusive: false,
        max,
        max_exclusive: false,
    };
    for (max, removed) in [(99.0, 100), (99.0, 0), (149.5, 50)] {
        let (reply, _) = apply(&ks, b"z", &trim(max)).await;
        assert_eq!(reply.unwrap(), CollectionReply::Count(removed));
    }
    let h = header_of(&ks, b"z").unwrap();
    assert_eq!(h.count, 850);
    assert!(h.first >= entry_suffix(149.0, b"m0149", false));
    assert!(h.first < entry_suffix(150.0, b"m0150", false));
    // Reads from that end start at the first member left.
    let got = ks
        .read_partial(0, b"z", Need::Scores(ScoreWindow::ends(false, 2)))
        .unwrap()
        .unwrap();
    let names: Vec<&[u8]> = got.members.iter().map(|(m, _)| m.as_ref()).collect();
    assert_eq!(names, [&b"m0150"[..], b"m0151"]);
    // A trim not from -inf leaves the bound where it was.
    apply(
        &ks,
        b"z",
        &CollectionOp::RemoveScores {
            min: 500.0,
            min_exclusive: false,
            max: 509.0,
            max_exclusive: false,
        },
    )
    .await
    .0
    .unwrap();
    assert_eq!(header_of(&ks, b"z").unwrap().first, h.first);
}

/// Another coordinator's actor.
const OTHER: u64 = 99;

fn hset(field: &str) -> CollectionOp {
    CollectionOp::Put {
        kind: Kind::Hash,
        pairs: vec![(Bytes::from(field.to_string()), Bytes::from_static(b"1"))],
        if_absent: false,
    }
}

fn len_of(ks: &Keyspace, key: &[u8]) -> Option<u64> {
    ks.read_partial(0, key, Need::Count).unwrap().map(|p| p.len)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_that_supersedes_a_large_collection_stores_the_incoming_record() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 2000).await;
    let record = ks.read_record(0, b"h").unwrap().unwrap();
    // A DEL through another coordinator that had seen the hash.
    let mut deleted = record.clone();
    deleted.write(None, OTHER, ks.now_ms() + 1, Payload::Tombstone, 0);
    let updated = ks.merge_record(0, b"h", &deleted).await.unwrap();
    assert_ne!(updated.ack, super::Ack::NONE);
    assert!(header_of(&ks, b"h").is_none(), "no longer split");
    assert_eq!(ks.read_record(0, b"h").unwrap().unwrap(), deleted);
    assert!(live_entry(&deleted, ks.now_ms()).is_none());
    assert_eq!(len_of(&ks, b"h"), None);
    assert!(settled(&ks, 0).await, "left {}", member_records(&ks));
    // The same merge again changes nothing.
    let again = ks.merge_record(0, b"h", &deleted).await.unwrap();
    assert_eq!(again.ack, super::Ack::NONE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_of_an_older_record_leaves_a_large_collection_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 1500).await;
    let older = ks.read_record(0, b"h").unwrap().unwrap();
    put_hash(&ks, b"h", 2000).await;
    let header = header_of(&ks, b"h").unwrap();
    for incoming in [older, crate::version::Siblings::new()] {
        let updated = ks.merge_record(0, b"h", &incoming).await.unwrap();
        assert_eq!(updated.ack, super::Ack::NONE);
    }
    assert_eq!(header_of(&ks, b"h").unwrap(), header);
    assert_eq!(len_of(&ks, b"h"), Some(2000));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_that_does_not_supersede_a_large_collection_joins_it() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 2000).await;
    // A field written concurrently elsewhere, from nothing.
    let mut concurrent = crate::version::Siblings::new();
    concurrent
        .apply_collection(OTHER, ks.now_ms(), &hset("elsewhere"))
        .unwrap();
    ks.merge_record(0, b"h", &concurrent).await.unwrap();
    assert_eq!(len_of(&ks, b"h"), Some(2001));
    // A write that saw the hash and kept it large: stored by its
    // difference, every member still there.
    let mut grown = ks.read_record(0, b"h").unwrap().unwrap();
    grown
        .apply_collection(OTHER, ks.now_ms() + 1, &hset("later"))
        .unwrap();
    ks.merge_record(0, b"h", &grown).await.unwrap();
    assert_eq!(len_of(&ks, b"h"), Some(2002));
    assert!(header_of(&ks, b"h").is_some());
    assert_eq!(member_records(&ks), 2002);
    let whole = ks.read_record(0, b"h").unwrap().unwrap();
    assert_eq!(
        live_entry(&whole, ks.now_ms())
            .unwrap()
            .members
            .unwrap()
            .map
            .len(),
        2002
    );
}

/// A push reads its end element by one point read at the header's bound
/// (`first` for the head, `last` for the tail). Where the bound is not a
/// record (deleted here under the keyspace, as a bound left loose would
/// be), the read at that end walks on to the element that is there, and
/// pushes still land beyond it.
#[tokio::test(flavor = "multi_thread")]
async fn a_list_end_read_walks_on_when_the_bound_is_not_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let push = |left: bool, values: Vec<String>| CollectionOp::Push {
        left,
        values: values.into_iter().map(Bytes::from).collect(),
        if_exists: false,
    };
    let values = (0..600).map(|i| format!("v{i}")).collect();
    apply(&ks, b"l", &push(false, values)).await.0.unwrap();
    let ends = |need: Need<'static>| -> Vec<Bytes> {
        let read = ks.read_partial(0, b"l", need).unwrap().unwrap();
        read.members.into_iter().map(|(_, v)| v).collect()
    };
    assert_eq!(ends(Need::Head(1)), ["v0"]);
    assert_eq!(ends(Need::Tail(1)), ["v599"]);

    let h = header_of(&ks, b"l").unwrap();
    let ns = ks.namespace(0).unwrap();
    let prefix = member_prefix(ns, b"l", h.generation);
    for bound in [&h.first, &h.last] {
        ks.engine().delete(member_key(&prefix, bound)).unwrap();
    }
    assert_eq!(ends(Need::Head(1)), ["v1"]);
    assert_eq!(ends(Need::Tail(1)), ["v598"]);

    apply(&ks, b"l", &push(true, vec!["head".into()]))
        .await
        .0
        .unwrap();
    apply(&ks, b"l", &push(false, vec!["tail".into()]))
        .await
        .0
        .unwrap();
    assert_eq!(ends(Need::Head(3)), ["head", "v1", "v2"]);
    assert_eq!(ends(Need::Tail(3)), ["v597", "v598", "tail"]);
    assert_eq!(ends(Need::Head(1)), ["head"]);
    assert_eq!(ends(Need::Tail(1)), ["tail"]);
}

/// The last elements of a list built by pushes of many elements each (a
/// digit per push) with holes in them: a read from the tail walks down
/// past the holes and finds the last `k` wherever they are; a search from
/// the tail (`Need::TailThrough`) finds its matches past them.
#[tokio::test(flavor = "multi_thread")]
async fn tail_reads_find_the_last_elements_past_holes_in_batch_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let mut model: Vec<String> = Vec::new();
    for batch in 0..30 {
        let values: Vec<String> = (0..200).map(|i| format!("b{batch}.{i}")).collect();
        let op = CollectionOp::Push {
            left: false,
            values: values.iter().cloned().map(Bytes::from).collect(),
            if_exists: false,
        };
        apply(&ks, b"l", &op).await.0.unwrap();
        model.extend(values);
    }
    // Holes: most of the last push and of the one before it, one by one.
    let doomed: Vec<String> = model
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 5400 && i % 10 != 3)
        .map(|(_, v)| v.clone())
        .collect();
    for v in &doomed {
        let op = CollectionOp::ListRemove {
            count: -1,
            value: Bytes::from(v.clone()),
        };
        apply(&ks, b"l", &op).await.0.unwrap();
    }
    model.retain(|v| !doomed.contains(v));
    let values = |need: Need<'_>| -> Vec<String> {
        let read = ks.read_partial(0, b"l", need).unwrap().unwrap();
        read.members
            .into_iter()
            .map(|(_, v)| String::from_utf8(v.to_vec()).unwrap())
            .collect()
    };
    for k in [1, 2, 5, 30, 41, 100, 300, 1000, 6000] {
        let want = &model[model.len().saturating_sub(k)..];
        assert_eq!(values(Need::Tail(k)), want, "Tail({k})");
    }
    for (target, matches) in [
        ("b29.193", 1),
        ("b28.3", 1),
        ("b20.7", 1),
        ("b0.0", 1),
        ("none", 2),
    ] {
        let got = values(Need::TailThrough {
            element: target.as_bytes(),
            matches,
            scan: usize::MAX,
        });
        let at = model.iter().rposition(|v| v == target);
        let from = at.map_or(0, |i| i.saturating_sub(1));
        assert_eq!(got, &model[from..], "TailThrough {target}");
    }
}

/// A hint's or a repair's whole record that has seen every write of a
/// large collection (here with fields removed, changed and added by
/// another coordinator) is stored as it is, by its difference with the
/// members read, on a runtime thread that hands its other tasks over
/// (`cpu_bound`): past the heavy size.
#[tokio::test(flavor = "multi_thread")]
async fn a_superseding_record_of_a_large_collection_is_stored_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let n = crate::cpu_bound::HEAVY_MEMBERS as usize + 904;
    put_hash(&ks, b"h", n).await;
    let mut newer = ks.read_record(0, b"h").unwrap().unwrap();
    let now = ks.now_ms();
    let removed = CollectionOp::Remove {
        kind: Kind::Hash,
        members: (0..100).map(|i| Bytes::from(format!("f{i}"))).collect(),
    };
    newer.apply_collection(OTHER, now + 1, &removed).unwrap();
    let changed_and_added = CollectionOp::Put {
        kind: Kind::Hash,
        pairs: (100..200)
            .map(|i| format!("f{i}"))
            .chain((0..100).map(|i| format!("new{i}")))
            .map(|f| (Bytes::from(f), Bytes::from_static(b"w")))
            .collect(),
        if_absent: false,
    };
    newer
        .apply_collection(OTHER, now + 2, &changed_and_added)
        .unwrap();
    let steps_before = crate::cpu_bound::heavy_steps().0;
    let updated = ks.merge_record(0, b"h", &newer).await.unwrap();
    assert_ne!(updated.ack, super::Ack::NONE);
    assert!(crate::cpu_bound::heavy_steps().0 > steps_before);
    assert_eq!(ks.read_record(0, b"h").unwrap().unwrap(), newer);
    assert_eq!(len_of(&ks, b"h"), Some(n as u64));
    assert!(header_of(&ks, b"h").is_some());
    let whole = ks.read_record(0, b"h").unwrap().unwrap();
    let map = live_entry(&whole, ks.now_ms())
        .unwrap()
        .members
        .unwrap()
        .map;
    assert!(!map.contains_key(&b"f0"[..]));
    assert!(map.contains_key(&b"new99"[..]));
    // The same merge again changes nothing.
    let again = ks.merge_record(0, b"h", &newer).await.unwrap();
    assert_eq!(again.ack, super::Ack::NONE);
    assert_eq!(
        member_records(&ks),
        n,
        "a record per member, none left over"
    );
}

/// The same for a sorted set (its score index) and a list (its
/// positions): members removed from an end, scores changed, members
/// added, all by another coordinator that had seen the collection.
#[tokio::test(flavor = "multi_thread")]
async fn superseding_records_of_a_large_sorted_set_and_list_are_stored_as_they_are() {
    use crate::version::PopEnd;
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    let n = crate::cpu_bound::HEAVY_MEMBERS as usize + 104;
    let zadd = |range: std::ops::Range<usize>, shift: f64| CollectionOp::ZAdd {
        pairs: range
            .map(|i| (Bytes::from(format!("m{i}")), i as f64 + shift))
            .collect(),
        flags: 0,
    };
    let push = |range: std::ops::Range<usize>| CollectionOp::Push {
        left: false,
        values: range.map(|i| Bytes::from(format!("e{i}"))).collect(),
        if_exists: false,
    };
    let pop = |kind| CollectionOp::Pop {
        kind,
        count: 100,
        end: PopEnd::Min,
    };
    let cases = [
        (&b"z"[..], Kind::ZSet, zadd(0..n, 0.0), zadd(100..300, 0.5)),
        (&b"l"[..], Kind::List, push(0..n), push(n..n + 200)),
    ];
    for (key, kind, load, later) in cases {
        apply(&ks, key, &load).await.0.unwrap();
        let mut newer = ks.read_record(0, key).unwrap().unwrap();
        let now = ks.now_ms();
        newer.apply_collection(OTHER, now + 1, &pop(kind)).unwrap();
        newer.apply_collection(OTHER, now + 2, &later).unwrap();
        let updated = ks.merge_record(0, key, &newer).await.unwrap();
        assert_ne!(updated.ack, super::Ack::NONE, "{kind:?}");
        assert_eq!(ks.read_record(0, key).unwrap().unwrap(), newer, "{kind:?}");
        // 100 popped; the sorted set's later ZADD changes scores only,
        // the list's push adds 200.
        let expected = match kind {
            Kind::ZSet => n - 100,
            _ => n + 100,
        };
        assert_eq!(len_of(&ks, key), Some(expected as u64), "{kind:?}");
        let again = ks.merge_record(0, key, &newer).await.unwrap();
        assert_eq!(again.ack, super::Ack::NONE, "{kind:?}");
    }
    // Reads from the ends and by score see the new state.
    let lowest = ks
        .read_partial(0, b"z", Need::Scores(ScoreWindow::ends(false, 1)))
        .unwrap()
        .unwrap();
    assert_eq!(lowest.members[0].0.as_ref(), b"m100");
    let head = ks.read_partial(0, b"l", Need::Head(1)).unwrap().unwrap();
    assert_eq!(head.members[0].1.as_ref(), b"e100");
}
