//! A power cut for a test's nodes: each node's WAL files and their
//! lengths sampled every 100 ms ([`WalSampler`]), so after a `kill -9` the
//! files can be cut back ([`cut_back`]) to what they held at least a second
//! earlier, more than `appendfsync everysec` may lose, as if the machine
//! had lost power before the page cache reached the disk.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::wal_files;

/// When, and every WAL file with its length then.
type WalSample = (Instant, Vec<(PathBuf, u64)>);

/// WAL lengths of each node, sampled every 100 ms, so a power cut can
/// take a node's WAL back to where it was a second ago.
pub struct WalSampler {
    samples: Arc<Mutex<Vec<VecDeque<WalSample>>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl WalSampler {
    pub fn start(dirs: Vec<PathBuf>) -> WalSampler {
        let samples = Arc::new(Mutex::new(vec![VecDeque::new(); dirs.len()]));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&samples), Arc::clone(&stop));
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                for (i, d) in dirs.iter().enumerate() {
                    let files = wal_files(d);
                    let mut all = s.lock().expect("samples");
                    let q = &mut all[i];
                    q.push_back((Instant::now(), files));
                    while q.len() > 50 {
                        q.pop_front();
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        WalSampler {
            samples,
            stop,
            handle: Some(handle),
        }
    }

    /// The newest sample of node `i` at least `age` old and taken after
    /// `since` (its last restart), if any.
    pub fn at_least(&self, i: usize, age: Duration, since: Instant) -> Option<Vec<(PathBuf, u64)>> {
        let all = self.samples.lock().expect("samples");
        all[i]
            .iter()
            .rev()
            .find(|(t, _)| t.elapsed() >= age && *t > since)
            .map(|(_, f)| f.clone())
    }
}

impl Drop for WalSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Cuts every WAL file named in `then` back to its length there; returns
/// the bytes cut.
pub fn cut_back(then: &[(PathBuf, u64)]) -> u64 {
    let mut cut = 0;
    for (path, len) in then {
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) else {
            continue;
        };
        let now = f.metadata().map(|m| m.len()).unwrap_or(0);
        if now > *len && f.set_len(*len).is_ok() {
            cut += now - len;
            let _ = f.sync_all();
        }
    }
    cut
}
