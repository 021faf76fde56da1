//! A small, private disk for one server: a tmpfs of a fixed size mounted
//! over the server's data directory inside a user and mount namespace that
//! the test creates (`unshare -Urm`), so filling it touches no real disk
//! and nothing outside the test sees it. A holder process keeps the
//! namespace alive across server restarts; the server runs inside it
//! through `nsenter` (which execs, so the server's PID is the child's).
//! The test reaches the files through `/proc/<holder>/root`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A mounted tmpfs; unmounted (its namespace ends) when dropped and every
/// server started inside it is gone.
pub struct SmallDisk {
    holder: Child,
    mount: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `at` (created if missing). `None` when
    /// this machine does not allow unprivileged user and mount namespaces.
    pub fn mount(at: &Path, bytes: u64) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let script = format!(
            "mount -t tmpfs -o size={bytes} tmpfs \"$0\" && echo mounted && exec sleep 3600"
        );
        let mut holder = Command::new("unshare")
            .args(["-Urm", "sh", "-c", &script])
            .arg(at)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let out = holder.stdout.take()?;
        let _ = BufReader::new(out).read_line(&mut line);
        if line.trim() != "mounted" {
            let _ = holder.kill();
            let _ = holder.wait();
            return None;
        }
        Some(SmallDisk {
            holder,
            mount: at.to_path_buf(),
        })
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn command_prefix(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            "-t".into(),
            self.holder.id().to_string(),
            "-U".into(),
            "-m".into(),
            "--preserve-credentials".into(),
            "--".into(),
        ]
    }

    /// Where the test reaches `name` on the small disk.
    pub fn path(&self, name: &str) -> PathBuf {
        let inside = self.mount.strip_prefix("/").unwrap_or(&self.mount);
        PathBuf::from(format!("/proc/{}/root", self.holder.id()))
            .join(inside)
            .join(name)
    }

    /// Writes a file of `bytes` zeros (fewer if the disk fills first);
    /// returns how many were written.
    pub fn fill(&self, name: &str, bytes: u64) -> u64 {
        let mut f = std::fs::File::create(self.path(name)).expect("create filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0;
        while written < bytes {
            let n = chunk.len().min((bytes - written) as usize);
            match f.write_all(&chunk[..n]) {
                Ok(()) => written += n as u64,
                Err(_) => break,
            }
        }
        let _ = f.sync_all();
        written
    }

    /// Fills every free byte of the disk with file `name`.
    pub fn fill_all(&self, name: &str) -> u64 {
        self.fill(name, u64::MAX)
    }

    /// Deletes file `name`, giving its space back.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.path(name)).expect("remove filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
