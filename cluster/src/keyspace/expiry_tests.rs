//! A new expiry of a split collection (`CollectionOp::Expire`): only its
//! header is rewritten (its members carry no engine expiry), the members go
//! in the background once the expiry passes, and a header of an earlier
//! version (members with the expiry) gets a new generation instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::split::{MEMBER_NS_BIT, Need};
use super::split_tests::{apply, header_of, member_records, put_hash, settled};
use super::{Keyspace, live_entry};
use crate::version::{CollectionOp, CollectionReply, Kind};

/// Whether every member record of database 0 has no engine expiry.
fn members_unexpiring(ks: &Keyspace) -> bool {
    let ns = ks.namespace(0).unwrap() | MEMBER_NS_BIT;
    ks.engine()
        .iter_prefix(&ns.to_be_bytes())
        .unwrap()
        .all(|item| item.unwrap().1.expire_at_ms == 0)
}

/// A keyspace in `dir` whose clock (unix ms) the test sets.
fn keyspace_with_clock(dir: &std::path::Path) -> (Keyspace, Arc<AtomicU64>) {
    let time = Arc::new(AtomicU64::new(1_800_000_000_000));
    let clock = Arc::clone(&time);
    let options = ringkv_engine::Options {
        clock: Arc::new(move || clock.load(Relaxed)),
        ..ringkv_engine::Options::default()
    };
    (Keyspace::open(dir, options, 16).unwrap(), time)
}

/// EXPIRE (PERSIST with 0) of hash `h` as a collection write: its reply.
async fn expire(ks: &Keyspace, at: u64) -> CollectionReply {
    let op = CollectionOp::Expire {
        kind: Kind::Hash,
        expire_at_ms: at,
    };
    apply(ks, b"h", &op).await.0.unwrap()
}

/// How many generations the reclaim queue holds.
fn queued_reclaims(ks: &Keyspace) -> usize {
    ks.engine()
        .iter_prefix(&crate::namespace::meta_key(b"reclaim/"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_expiry_rewrites_only_the_header_and_the_members_go_once_it_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, time) = keyspace_with_clock(dir.path());
    put_hash(&ks, b"h", 2000).await;
    let first = header_of(&ks, b"h").unwrap();
    assert!(first.unexpiring_members && members_unexpiring(&ks));
    let t0 = ks.now_ms();
    let record_before = ks.read_record(0, b"h").unwrap().unwrap();

    // EXPIRE: the header alone changes, with a newer clock.
    assert_eq!(expire(&ks, t0 + 10_000).await, CollectionReply::Count(1));
    let h = header_of(&ks, b"h").unwrap();
    assert_eq!(
        (h.generation, h.count, h.expire_at_ms),
        (first.generation, 2000, t0 + 10_000)
    );
    assert!(h.clock.descends(&first.clock) && h.clock != first.clock);
    assert!(members_unexpiring(&ks));
    let got = ks.read_partial(0, b"h", Need::Count).unwrap().unwrap();
    assert_eq!((got.len, got.expire_at_ms), (2000, t0 + 10_000));
    // The whole record reads as before, with the expiry.
    let entry = live_entry(&ks.read_record(0, b"h").unwrap().unwrap(), t0).unwrap();
    let before = live_entry(&record_before, t0).unwrap();
    assert_eq!(entry.members, before.members);
    assert_eq!(entry.expire_at_ms, t0 + 10_000);

    assert_eq!(queued_reclaims(&ks), 1);
    // PERSIST (its timed entry goes with the expiry), then the old expiry
    // passes: the collection lives on, whole.
    assert_eq!(expire(&ks, 0).await, CollectionReply::Count(1));
    assert_eq!(queued_reclaims(&ks), 0);
    time.store(t0 + 20_000, Relaxed);
    ks.inner.reclaimer.wake();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(member_records(&ks), 2000);
    assert_eq!(
        ks.read_partial(0, b"h", Need::Count).unwrap().unwrap().len,
        2000
    );

    // A write keeps the members unexpiring; an expiry that passes makes
    // the key absent at once and its members go in the background.
    let hset = CollectionOp::Put {
        kind: Kind::Hash,
        pairs: vec![(Bytes::from("new"), Bytes::from("1"))],
        if_absent: false,
    };
    apply(&ks, b"h", &hset).await.0.unwrap();
    let t1 = ks.now_ms();
    assert_eq!(expire(&ks, t1 + 5_000).await, CollectionReply::Count(1));
    assert!(members_unexpiring(&ks));
    time.store(t1 + 5_000, Relaxed);
    assert!(ks.read_partial(0, b"h", Need::Count).unwrap().is_none());
    // An expired key is absent: EXPIRE answers 0 and writes nothing, and
    // a write makes a new generation.
    assert_eq!(expire(&ks, t1 + 60_000).await, CollectionReply::Count(0));
    assert!(ks.read_partial(0, b"h", Need::Count).unwrap().is_none());
    ks.inner.reclaimer.wake();
    assert!(settled(&ks, 0).await, "left {}", member_records(&ks));
    put_hash(&ks, b"h", 600).await;
    let again = header_of(&ks, b"h").unwrap();
    assert_ne!(again.generation, first.generation);
    assert_eq!(
        ks.read_partial(0, b"h", Need::Count).unwrap().unwrap().len,
        600
    );
    assert_eq!(member_records(&ks), 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_of_an_earlier_version_gets_a_new_generation_for_a_new_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keyspace::open(dir.path(), ringkv_engine::Options::default(), 16).unwrap();
    put_hash(&ks, b"h", 1000).await;
    // As the release before stored it: flag bit 1 clear.
    let h = header_of(&ks, b"h").unwrap();
    let old = crate::version::codec::SplitHeader {
        unexpiring_members: false,
        ..h.clone()
    };
    let ekey = crate::token::engine_key(ks.namespace(0).unwrap(), b"h");
    ks.engine()
        .put(
            ekey,
            ringkv_engine::Value::new(crate::version::codec::encode_split_header(&old)),
        )
        .unwrap();
    // The members carry the old expiry, so they are stored anew.
    let at = ks.now_ms() + 60_000;
    assert_eq!(expire(&ks, at).await, CollectionReply::Count(1));
    let new = header_of(&ks, b"h").unwrap();
    assert_ne!(new.generation, h.generation);
    assert!(new.unexpiring_members);
    assert!(settled(&ks, 1000).await, "left {}", member_records(&ks));
    assert!(members_unexpiring(&ks));
    let got = ks.read_partial(0, b"h", Need::Count).unwrap().unwrap();
    assert_eq!((got.len, got.expire_at_ms), (1000, at));
}

/// A write that saw the header live before its expiry and lands after it
/// (held up in the write admission) is ordered against the reclaimer by
/// the record lock: a PERSIST landing then keeps the members, where the
/// reclaimer looking without the lock deleted them under a live header.
#[tokio::test(flavor = "multi_thread")]
async fn the_reclaimer_decides_under_the_record_lock_so_a_late_persist_keeps_the_members() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, time) = keyspace_with_clock(dir.path());
    put_hash(&ks, b"h", 2000).await;
    let t0 = ks.now_ms();
    assert_eq!(expire(&ks, t0 + 1_000).await, CollectionReply::Count(1));
    let h = header_of(&ks, b"h").unwrap();
    // A writer holds the key's lock, having checked the header at t0; the
    // expiry passes and the reclaimer wakes meanwhile.
    let writer = ks
        .inner
        .record_locks
        .lock_one(crate::token::token(b"h"))
        .await;
    time.store(t0 + 2_000, Relaxed);
    ks.inner.reclaimer.wake();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        member_records(&ks),
        2000,
        "deleted while a writer held the key"
    );
    // Its PERSIST lands: the same generation, live, without expiry.
    let persisted = crate::version::codec::SplitHeader {
        expire_at_ms: 0,
        ..h.clone()
    };
    let ekey = crate::token::engine_key(ks.namespace(0).unwrap(), b"h");
    ks.engine()
        .put(
            ekey,
            ringkv_engine::Value::new(crate::version::codec::encode_split_header(&persisted)),
        )
        .unwrap();
    drop(writer);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(member_records(&ks), 2000);
    let got = ks.read_partial(0, b"h", Need::Count).unwrap().unwrap();
    assert_eq!((got.len, got.expire_at_ms), (2000, 0));
    let record = ks.read_record(0, b"h").unwrap().unwrap();
    let entry = live_entry(&record, ks.now_ms()).unwrap();
    assert_eq!(entry.members.unwrap().map.len(), 2000);
}

/// A new expiry due after the reclaimer's next pass does not wake it (a
/// repeated EXPIRE would cost a pass each); that pass still finds it.
#[tokio::test(flavor = "multi_thread")]
async fn an_expiry_due_after_the_next_pass_is_reclaimed_by_that_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, time) = keyspace_with_clock(dir.path());
    put_hash(&ks, b"h", 2000).await;
    let t0 = ks.now_ms();
    // The first expiry wakes the reclaimer; its next pass is then due at
    // that expiry (half a second on, in real time too).
    assert_eq!(expire(&ks, t0 + 500).await, CollectionReply::Count(1));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(member_records(&ks), 2000);
    // Later than that pass: no wake, and the pass finds it.
    assert_eq!(expire(&ks, t0 + 800).await, CollectionReply::Count(1));
    assert_eq!(queued_reclaims(&ks), 1);
    time.store(t0 + 1_000, Relaxed);
    assert!(settled(&ks, 0).await, "left {}", member_records(&ks));
    assert!(ks.read_partial(0, b"h", Need::Count).unwrap().is_none());
    // The pass deletes the members first, then (a write of its own) the
    // queue entry: a busy machine can show the gap between the two.
    assert!(queue_drained(&ks).await, "left {}", queued_reclaims(&ks));
}

/// Waits (up to 5 s) until the reclaim queue is empty.
async fn queue_drained(ks: &Keyspace) -> bool {
    for _ in 0..500 {
        if queued_reclaims(ks) == 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
