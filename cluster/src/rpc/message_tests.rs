//! Round trips of every request and reply of the node-to-node protocol.

use super::*;

/// A hash write shipped on a base of one dot, to `key`.
fn apply_at_item(key: &'static [u8]) -> ApplyAtItem {
    ApplyAtItem {
        key: Bytes::from_static(key),
        base: VectorClock::from_dots([crate::version::clock::Dot {
            actor: 3,
            counter: 5,
            ts_ms: 8,
        }]),
        actor: 3,
        now_ms: 1_700_000_000_123,
        op: CollectionOp::Put {
            kind: crate::version::Kind::Hash,
            pairs: vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))],
            if_absent: false,
        },
    }
}

#[test]
fn every_request_and_reply_round_trips() {
    let reqs = vec![
        Request::Gossip(vec![]),
        Request::Read {
            db: 3,
            key: Bytes::from_static(b"k"),
        },
        Request::ReadMany {
            db: 1,
            keys: vec![Bytes::from_static(b"a"), Bytes::new()],
        },
        Request::ClockMany {
            db: 4,
            keys: vec![
                Bytes::from_static(b"a"),
                Bytes::new(),
                Bytes::from_static(b"c"),
            ],
        },
        Request::ClockMany {
            db: 0,
            keys: vec![],
        },
        apply_at_item(b"h").into_request(2),
        Request::ApplyAtMany {
            db: 2,
            items: vec![apply_at_item(b"h"), apply_at_item(b"")],
        },
        Request::MergeMany {
            db: 2,
            items: vec![(Bytes::from_static(b"a"), Bytes::from_static(b"r"))],
        },
        Request::Apply {
            db: 0,
            key: Bytes::from_static(b"h"),
            deadline_ms: 0,
            op: Op::PfAdd(vec![Bytes::from_static(b"x"), Bytes::new()]),
        },
        Request::Apply {
            db: 0,
            key: Bytes::from_static(b"h"),
            deadline_ms: 1_700_000_000_000,
            op: Op::PfMerge {
                registers: Bytes::from(vec![3u8; ringkv_hll::REGISTERS]),
                dense: true,
            },
        },
        Request::Merge {
            db: 0,
            key: Bytes::from_static(b"k"),
            record: Bytes::from_static(b"\x02\x00\x00"),
        },
        Request::Apply {
            db: 1,
            key: Bytes::from_static(b"k"),
            deadline_ms: 5,
            op: Op::Put {
                value: Bytes::from_static(b"v"),
                expire_at_ms: 9,
                context: Some("abc".into()),
            },
        },
        Request::Apply {
            db: 1,
            key: Bytes::from_static(b"k"),
            deadline_ms: u64::MAX,
            op: Op::AddFloat(-1.25),
        },
        Request::Apply {
            db: 1,
            key: Bytes::from_static(b"k"),
            deadline_ms: 7,
            op: Op::Swap {
                value: Some(Bytes::from_static(b"new")),
                expire_at_ms: 11,
                flags: super::swap::NX | super::swap::GET,
            },
        },
        Request::Apply {
            db: 1,
            key: Bytes::from_static(b"k"),
            deadline_ms: 7,
            op: Op::Swap {
                value: None,
                expire_at_ms: 0,
                flags: 0,
            },
        },
        Request::Apply {
            db: 3,
            key: Bytes::from_static(b"k"),
            deadline_ms: 7,
            op: Op::Expire {
                expire_at_ms: 1_700_000_000_000,
            },
        },
        Request::Scan {
            db: 2,
            cursor: u64::MAX,
            count: 10,
        },
        Request::Flush(vec![0, 15]),
        Request::Settings,
        Request::DropHints(vec![3]),
        Request::Hint {
            owner: 9,
            db: 1,
            key: Bytes::from_static(b"k"),
            record: Bytes::from_static(b"r"),
        },
        Request::Tree {
            db: 0,
            depth: 10,
            ranges: vec![(5, 1), (7, 9)],
        },
        Request::Fetch {
            db: 2,
            ranges: vec![(1, 2)],
            after: Some((4, Bytes::from_static(b"k"))),
            limit: 100,
        },
        Request::Fetch {
            db: 2,
            ranges: vec![],
            after: None,
            limit: 1,
        },
        Request::Publish {
            shard: true,
            channel: Bytes::from_static(b"news"),
            message: Bytes::from_static(b"hello"),
        },
        Request::Interest {
            from: 7,
            db: 1,
            keys: vec![Bytes::from_static(b"q"), Bytes::from_static(b"r")],
        },
        Request::Wake {
            db: 1,
            key: Bytes::from_static(b"q"),
        },
    ];
    for req in reqs {
        let (k, body) = req.encode();
        assert_eq!(Request::decode(k, body.clone()).unwrap(), req);
        for cut in 0..body.len() {
            assert!(Request::decode(k, body.slice(..cut)).is_err());
        }
    }
    let replies = vec![
        (kind::READ, Response::Record(Some(Bytes::from_static(b"r")))),
        (kind::READ, Response::Record(None)),
        (
            kind::READ_MANY,
            Response::RecordPerKey(vec![None, Some(Bytes::from_static(b"r"))]),
        ),
        (kind::MERGE_MANY, Response::MergedPerKey(vec![true, false])),
        (
            kind::APPLY,
            Response::Applied {
                record: Bytes::from_static(b"r"),
                outcome: Outcome::Changed(true),
            },
        ),
        (
            kind::APPLY,
            Response::Applied {
                record: Bytes::from_static(b"r"),
                outcome: Outcome::NotHll,
            },
        ),
        (kind::MERGE, Response::Ack),
        (
            kind::APPLY,
            Response::Applied {
                record: Bytes::from_static(b"r"),
                outcome: Outcome::Counter(Bytes::from_static(b"12")),
            },
        ),
        (
            kind::APPLY,
            Response::Applied {
                record: Bytes::from_static(b"r"),
                outcome: Outcome::Swapped {
                    previous: Some(Bytes::from_static(b"old")),
                    applied: false,
                },
            },
        ),
        (
            kind::APPLY,
            Response::Applied {
                record: Bytes::new(),
                outcome: Outcome::Swapped {
                    previous: None,
                    applied: true,
                },
            },
        ),
        (
            kind::SCAN,
            Response::ScanPage {
                next: 5,
                done: false,
                keys: vec![(4, Bytes::from_static(b"a"))],
            },
        ),
        (kind::SCAN, Response::error(ErrorCode::Storage, "boom")),
        (
            kind::READ,
            Response::error(ErrorCode::Rebuilding, "syncing"),
        ),
        (kind::HINT, Response::Ack),
        (kind::DROP_HINTS, Response::Ack),
        (kind::TREE, Response::Tree(vec![1, 2, u64::MAX])),
        (kind::PUBLISH, Response::Delivered(3)),
        (kind::CLOCK, Response::Clock(None)),
        (
            kind::CLOCK,
            Response::Clock(Some(VectorClock::from_dots([crate::version::clock::Dot {
                actor: 1,
                counter: 9,
                ts_ms: 4,
            }]))),
        ),
        (kind::CLOCK_MANY, Response::ClockPerKey(vec![])),
        (
            kind::CLOCK_MANY,
            Response::ClockPerKey(vec![
                None,
                Some(VectorClock::from_dots([crate::version::clock::Dot {
                    actor: 7,
                    counter: 2,
                    ts_ms: 11,
                }])),
                None,
            ]),
        ),
        (kind::APPLY_AT_MANY, Response::PerKey(vec![])),
        (
            kind::APPLY_AT_MANY,
            Response::PerKey(vec![
                Response::Ack,
                Response::error(ErrorCode::Diverged, "diverged"),
                Response::error(ErrorCode::Storage, "disk full"),
            ]),
        ),
        (kind::APPLY_AT, Response::Ack),
        (kind::SETTINGS, Response::Settings { replicas: 3 }),
        (
            kind::APPLY_AT,
            Response::error(ErrorCode::Diverged, "diverged"),
        ),
        (kind::APPLY, Response::error(ErrorCode::Late, "late")),
        (
            kind::FETCH,
            Response::Records(vec![(
                3,
                Bytes::from_static(b"k"),
                Bytes::from_static(b"r"),
            )]),
        ),
    ];
    for (rk, resp) in replies {
        let (k, body) = resp.encode(rk);
        assert_eq!(Response::decode(rk, k, body).unwrap(), resp);
    }
}
