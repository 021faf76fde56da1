//! The durability API: `durable` futures resolve under every fsync policy
//! (polled without any async runtime), group commit serves many writers,
//! `shutdown` refuses later writes, and the engine types are `Send + Sync`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use common::{key, open, small_options};
use ringkv_engine::{
    CompactionStrategy, Engine, EngineIter, Error, FsyncPolicy, Snapshot, Value, WriteBatch,
};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls on this thread, parks until woken (bounded).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = Box::pin(f);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..10_000 {
        if let Poll::Ready(v) = Pin::as_mut(&mut f).poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
    panic!("future never resolved");
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send_static<T: Send + 'static>() {}

#[test]
fn public_types_are_thread_safe() {
    assert_send_sync::<Engine>();
    assert_send_sync::<Snapshot>();
    assert_send_static::<EngineIter>();
    assert_send_static::<ringkv_engine::Durable>();
}

#[test]
fn durable_futures_resolve_under_every_policy() {
    for p in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.fsync = p;
        let e = open(dir.path(), &opts);
        let mut b = WriteBatch::new();
        b.put("a", Value::new("1"));
        let seq = e.write(b).unwrap();
        block_on(e.durable(seq)).unwrap();
        assert!(e.stats().wal_bytes > 0, "{p}: nothing written to the WAL");
    }
}

/// Polls `f` once with a waker that counts its wakes.
fn poll_once<F: Future + Unpin>(f: &mut F) -> (Poll<F::Output>, usize) {
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(0.into()));
    let waker = Waker::from(Arc::clone(&count));
    let poll = Pin::new(f).poll(&mut Context::from_waker(&waker));
    (poll, count.0.load(std::sync::atomic::Ordering::SeqCst))
}

/// A `durable` future first lets the other ready tasks run (it wakes
/// itself once and answers pending) while its write is still in the WAL's
/// buffer, unless the policy is `always`; `would_yield` says so before the
/// first poll, and `without_yield` leads the write at once.
#[test]
fn a_durable_future_yields_once_unless_told_not_to() {
    for p in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.fsync = p;
        let e = open(dir.path(), &opts);
        let put = |v: &str| {
            let mut b = WriteBatch::new();
            b.put("a", Value::new(v.to_string()));
            e.write(b).unwrap()
        };
        let seq = put("1");
        let mut first = e.durable(seq);
        assert_eq!(first.would_yield(), p != FsyncPolicy::Always, "{p}");
        if p != FsyncPolicy::Always {
            let (poll, wakes) = poll_once(&mut first);
            assert!(
                poll.is_pending() && wakes == 1,
                "{p}: a yield wakes itself once"
            );
            assert!(!first.would_yield(), "{p}: only once");
        }
        block_on(first).unwrap();
        assert!(!e.durable(seq).would_yield(), "{p}: handed over already");

        let seq = put("2");
        let mut at_once = e.durable(seq).without_yield();
        assert!(!at_once.would_yield());
        if p == FsyncPolicy::Always {
            block_on(at_once).unwrap();
        } else {
            let (poll, wakes) = poll_once(&mut at_once);
            assert!(
                matches!(poll, Poll::Ready(Ok(()))) && wakes == 0,
                "{p}: led at once"
            );
        }
    }
}

#[test]
fn group_commit_serves_many_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.fsync = FsyncPolicy::Always;
    let e = open(dir.path(), &opts);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let mut b = WriteBatch::new();
                    b.put(key(t * 1000 + i), Value::new("v"));
                    let seq = e.write(b).unwrap();
                    if i % 2 == 0 {
                        block_on(e.durable(seq)).unwrap();
                    } else {
                        e.wait_durable(seq).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(e);
    let e = open(dir.path(), &opts);
    assert_eq!(e.iter_prefix(b"key").unwrap().count(), 800);
}

#[test]
fn writes_after_shutdown_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &small_options(CompactionStrategy::SizeTiered));
    e.put("k", Value::new("v")).unwrap();
    let other = e.clone();
    e.shutdown().unwrap();
    assert!(matches!(
        other.put("k2", Value::new("v")),
        Err(Error::Closed)
    ));
    assert_eq!(other.get(b"k").unwrap().unwrap().data, "v");
    e.shutdown().unwrap();
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &small_options(CompactionStrategy::Leveled));
    let err = Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    drop(e);
    open(dir.path(), &small_options(CompactionStrategy::Leveled));
}

#[test]
fn everysec_writes_survive_drop_without_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.fsync = FsyncPolicy::EverySec;
    {
        let e = open(dir.path(), &opts);
        for i in 0..50 {
            let mut b = WriteBatch::new();
            b.put(key(i), Value::new("v"));
            let seq = e.write(b).unwrap();
            block_on(e.durable(seq)).unwrap();
        }
    }
    let e = open(dir.path(), &opts);
    assert_eq!(e.iter_prefix(b"key").unwrap().count(), 50);
}

/// Long values are written to the log from the batch's own memory and kept
/// by the memtable without a copy: they read back whole, before and after
/// a restart that replays the log (whose checksums cover them), between
/// short values of the same batch and of other batches.
#[test]
fn long_values_shared_with_the_log_read_back_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.fsync = FsyncPolicy::EverySec;
    opts.memtable_size_bytes = 64 << 20;
    let value = |i: u64, len: usize| -> Vec<u8> {
        (0..len).map(|j| (j as u64 * 31 + i * 7) as u8).collect()
    };
    let sizes = [0, 100, 64 * 1024, 64 * 1024 + 1, 300_000, 2 << 20, 7];
    let check = |e: &Engine, stage: &str| {
        for (i, &len) in sizes.iter().enumerate() {
            for round in 0..2u64 {
                let k = key(round * 100 + i as u64);
                let got = e
                    .get(&k)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{stage}: {i} missing"));
                assert_eq!(got.data.len(), len, "{stage}: {i}");
                assert!(
                    got.data == value(round * 100 + i as u64, len),
                    "{stage}: {i}"
                );
            }
        }
        assert!(e.get(&key(999)).unwrap().is_none(), "{stage}: deleted key");
    };
    {
        let e = open(dir.path(), &opts);
        // Round 0: every size in one batch, with a delete among them.
        let mut b = WriteBatch::new();
        for (i, &len) in sizes.iter().enumerate() {
            b.put(key(i as u64), Value::new(value(i as u64, len)));
            if i == 3 {
                b.delete(key(999));
            }
        }
        let seq = e.write(b).unwrap();
        // Round 1: each size in a batch of its own.
        for (i, &len) in sizes.iter().enumerate() {
            let mut b = WriteBatch::new();
            let k = 100 + i as u64;
            b.put(key(k), Value::with_expiry(value(k, len), 0));
            block_on(e.durable(e.write(b).unwrap())).unwrap();
        }
        block_on(e.durable(seq)).unwrap();
        check(&e, "memtable");
        assert_eq!(e.stats().flushes, 0, "the test means to replay the log");
    }
    let e = open(dir.path(), &opts);
    check(&e, "replayed");
    e.flush().unwrap();
    check(&e, "flushed");
}
