//! The transaction gate: every command that touches data holds it shared,
//! EXEC (on a cluster of one), SWAPDB and DEBUG DIGEST exclusively, so a
//! transaction runs with no other command in between.
//!
//! Every command takes it, so its shared side must cost next to nothing.
//! A lock with one reader count (tokio's, `async_lock`'s) moves that
//! count's cache line between the cores on every acquire and release:
//! 2–3% of a pipelined SET's or GET's throughput on two cores, measured.
//! Here readers count in one of several slots, each on its own cache line,
//! picked by the thread that acquires (a big-reader lock): a worker thread
//! mostly touches its own slot. The exclusive side raises a flag, which
//! turns new readers away, and waits until every slot has drained.
//! Writers are served one at a time, and a waiting writer is not starved
//! by a stream of readers (they wait while the flag is up).
//!
//! The flag and the slots are read and written with sequentially
//! consistent operations: a reader increments its slot, then reads the
//! flag; a writer raises the flag, then reads the slots. Whichever comes
//! second sees the other, so a reader never runs beside a writer.

use std::cell::Cell;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use tokio::sync::{Mutex, MutexGuard, Notify};

/// Reader slots; a power of two above the worker threads of most machines.
const SLOTS: usize = 16;

/// One reader count, alone on its cache line.
#[repr(align(64))]
#[derive(Default)]
struct Slot(AtomicUsize);

pub struct ExecGate {
    slots: [Slot; SLOTS],
    /// Up while a writer holds the gate or waits for readers to leave.
    writer: AtomicBool,
    /// Serves writers one at a time.
    writers: Mutex<()>,
    /// Woken when the writer lowers its flag (readers wait for it).
    writer_done: Notify,
    /// Woken when a slot drains while the flag is up (the writer waits).
    reader_left: Notify,
}

impl Default for ExecGate {
    fn default() -> Self {
        ExecGate {
            slots: Default::default(),
            writer: AtomicBool::new(false),
            writers: Mutex::new(()),
            writer_done: Notify::new(),
            reader_left: Notify::new(),
        }
    }
}

/// A shared hold of the gate; released on drop.
pub struct ReadGuard<'a> {
    gate: &'a ExecGate,
    slot: usize,
}

/// The exclusive hold of the gate; released on drop.
pub struct WriteGuard<'a> {
    gate: &'a ExecGate,
    _writers: MutexGuard<'a, ()>,
}

thread_local! {
    /// This thread's reader slot, given out in turn as threads first read.
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The reader slot of the calling thread.
fn my_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SLOT.with(|s| match s.get() {
        Some(i) => i,
        None => {
            let i = NEXT.fetch_add(1, SeqCst) % SLOTS;
            s.set(Some(i));
            i
        }
    })
}

impl ExecGate {
    /// Holds the gate shared, waiting while a writer holds it or waits.
    pub async fn read(&self) -> ReadGuard<'_> {
        let slot = my_slot();
        let count = &self.slots[slot].0;
        loop {
            count.fetch_add(1, SeqCst);
            if !self.writer.load(SeqCst) {
                return ReadGuard { gate: self, slot };
            }
            // A writer is in or waiting: step back (waking it if this was
            // the slot's last reader), and wait for it to finish.
            self.leave(slot);
            let mut done = pin!(self.writer_done.notified());
            done.as_mut().enable();
            if self.writer.load(SeqCst) {
                done.await;
            }
        }
    }

    /// Holds the gate exclusively, once every reader has left.
    pub async fn write(&self) -> WriteGuard<'_> {
        let writers = self.writers.lock().await;
        self.writer.store(true, SeqCst);
        // From here a dropped future lowers the flag again (the guard).
        let guard = WriteGuard {
            gate: self,
            _writers: writers,
        };
        loop {
            let mut left = pin!(self.reader_left.notified());
            left.as_mut().enable();
            if self.slots.iter().all(|s| s.0.load(SeqCst) == 0) {
                return guard;
            }
            left.await;
        }
    }

    fn leave(&self, slot: usize) {
        if self.slots[slot].0.fetch_sub(1, SeqCst) == 1 && self.writer.load(SeqCst) {
            self.reader_left.notify_one();
        }
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.gate.leave(self.slot);
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.gate.writer.store(false, SeqCst);
        self.gate.writer_done.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::ExecGate;

    #[tokio::test]
    async fn readers_share_and_a_writer_waits_for_them() {
        let gate = Arc::new(ExecGate::default());
        let r1 = gate.read().await;
        let r2 = gate.read().await;
        let g = gate.clone();
        let writer = tokio::spawn(async move {
            let _w = g.write().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "a writer ran beside readers");
        drop(r1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "a writer ran beside a reader");
        drop(r2);
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer never got the gate")
            .expect("writer task");
    }

    #[tokio::test]
    async fn a_waiting_writer_turns_new_readers_away_until_it_is_done() {
        let gate = Arc::new(ExecGate::default());
        let r1 = gate.read().await;
        let g = gate.clone();
        let writer = tokio::spawn(async move {
            let _w = g.write().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let g = gate.clone();
        let reader = tokio::spawn(async move {
            let _r = g.read().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!reader.is_finished(), "a reader overtook a waiting writer");
        drop(r1);
        let both = async {
            writer.await.expect("writer task");
            reader.await.expect("reader task");
        };
        tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .expect("writer or reader never got the gate");
    }

    #[tokio::test]
    async fn a_cancelled_writer_lets_readers_in() {
        let gate = Arc::new(ExecGate::default());
        let r1 = gate.read().await;
        // The writer gives up while it waits for r1.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), gate.write()).await;
        assert!(gave_up.is_err());
        tokio::time::timeout(Duration::from_secs(5), gate.read())
            .await
            .expect("a reader stayed out after the writer gave up");
        drop(r1);
    }

    /// Many readers and writers on several threads: a writer is never in
    /// beside anyone, and everyone gets through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn readers_and_writers_exclude_each_other_under_load() {
        let gate = Arc::new(ExecGate::default());
        let inside = Arc::new(AtomicUsize::new(0));
        const WRITER: usize = 1 << 20;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let (gate, inside) = (gate.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..2_000 {
                    if (i + t) % 50 == 0 {
                        let _w = gate.write().await;
                        let before = inside.fetch_add(WRITER, Ordering::SeqCst);
                        assert_eq!(before, 0, "a writer got in beside others");
                        tokio::task::yield_now().await;
                        inside.fetch_sub(WRITER, Ordering::SeqCst);
                    } else {
                        let _r = gate.read().await;
                        let before = inside.fetch_add(1, Ordering::SeqCst);
                        assert!(before < WRITER, "a reader got in beside a writer");
                        tokio::task::yield_now().await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }));
        }
        let all = async {
            for t in tasks {
                t.await.expect("task");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("the gate deadlocked");
    }
}
