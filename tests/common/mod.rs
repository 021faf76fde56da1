//! End-to-end test harness: starts real `ringkv-server` processes on free
//! loopback ports, each with its own temporary data directory, waits until
//! they answer PING, and kills them by PID when dropped.
//!
//! Each test file includes this module with `mod common;`; not every file
//! uses every helper.
#![allow(dead_code)]

pub mod cluster;
pub mod netfault;
pub mod power_cut;
pub mod small_disk;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A free loopback TCP port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A free TCP port on loopback address `host`.
pub fn free_port_on(host: &str) -> u16 {
    let l = TcpListener::bind((host, 0)).expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// The server binary built by cargo for these tests.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ringkv-server"))
}

/// A running server process, killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    /// The loopback address it listens on (127.0.0.1 unless started with
    /// [`TestServer::start_on`]).
    pub host: String,
    /// Client port.
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// Node-to-node (cluster) port.
    pub cluster_port: u16,
    /// Keeps the data directory alive for restarts.
    dir: tempfile::TempDir,
    args: Vec<String>,
    /// The open-file limit (`ulimit -n`, soft and hard) the process starts
    /// with, if the test sets one.
    nofile: Option<u64>,
    /// A command the server runs under (e.g. `nsenter ... --`), if any.
    wrapper: Vec<String>,
}

impl TestServer {
    /// Starts a server with default settings.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Starts a server with extra flags (e.g. `["--appendfsync", "always"]`).
    pub fn start_with(args: &[&str]) -> TestServer {
        TestServer::start_on("127.0.0.1", args)
    }

    /// Starts a server listening on loopback address `host` (any of
    /// 127.0.0.0/8) with extra flags.
    pub fn start_on(host: &str, args: &[&str]) -> TestServer {
        TestServer::launch(host, args, None)
    }

    /// Starts a server whose open-file limit (soft and hard, as `ulimit -n`
    /// sets it) is `limit`.
    pub fn start_with_nofile(limit: u64, args: &[&str]) -> TestServer {
        TestServer::launch("127.0.0.1", args, Some(limit))
    }

    fn launch(host: &str, args: &[&str], nofile: Option<u64>) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = TestServer::unstarted(dir, host, args, nofile, Vec::new());
        s.spawn_until_ready();
        s
    }

    fn unstarted(
        dir: tempfile::TempDir,
        host: &str,
        args: &[&str],
        nofile: Option<u64>,
        wrapper: Vec<String>,
    ) -> TestServer {
        TestServer {
            child: None,
            host: host.to_string(),
            port: 0,
            metrics_port: 0,
            cluster_port: 0,
            dir,
            args: args.iter().map(|a| a.to_string()).collect(),
            nofile,
            wrapper,
        }
    }

    /// Starts a server whose data directory `prepare` sets up first (it
    /// gets the path, and returns a guard to keep and the command prefix
    /// the server runs under), e.g. on a [`small_disk::SmallDisk`]. `None`
    /// if `prepare` declines.
    pub fn start_prepared<T>(
        args: &[&str],
        prepare: impl FnOnce(&Path) -> Option<(T, Vec<String>)>,
    ) -> Option<(TestServer, T)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (guard, wrapper) = prepare(&dir.path().join("data"))?;
        let mut s = TestServer::unstarted(dir, "127.0.0.1", args, None, wrapper);
        s.spawn_until_ready();
        Some((s, guard))
    }

    /// Where the server keeps its data.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("server running")
    }

    /// Clients blocked in a blocking command now (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query(&mut self.conn())
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits (at most 10 s) until exactly `n` clients are blocked.
    pub fn wait_blocked(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.blocked_clients() != n {
            assert!(Instant::now() < deadline, "never {n} blocked clients");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A memory figure of the server from `/proc/PID/status` (`VmRSS`,
    /// `VmHWM`), in bytes; 0 if it cannot be read.
    pub fn memory(&self, field: &str) -> u64 {
        proc_status_bytes(self.pid(), field)
    }

    fn spawn_until_ready(&mut self) {
        // A port picked free may be taken by a parallel test before the
        // server binds it: retry with new ports.
        for _attempt in 0..5 {
            self.pick_ports();
            if self.spawn_on_current_ports() {
                return;
            }
        }
        panic!("ringkv-server did not start after 5 attempts");
    }

    /// Draws fresh free ports for the next start.
    fn pick_ports(&mut self) {
        self.port = free_port_on(&self.host);
        self.metrics_port = free_port_on(&self.host);
        self.cluster_port = free_port_on(&self.host);
    }

    /// The server command on the ports already chosen, with this server's
    /// flags and open-file limit; stderr is the caller's to set.
    fn command(&self) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(server_binary());
                c
            }
            None => Command::new(server_binary()),
        };
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--metrics-port")
            .arg(self.metrics_port.to_string())
            .arg("--cluster-port")
            .arg(self.cluster_port.to_string())
            .arg("--bind")
            .arg(&self.host)
            .arg("--dir")
            .arg(self.data_dir())
            .arg("--loglevel")
            .arg("warning")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(limit) = self.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit(2), async-signal-safe, runs between
            // fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    /// Starts the process on the ports already chosen; false if it did not
    /// come up (it is then killed).
    fn spawn_on_current_ports(&mut self) -> bool {
        let child = self
            .command()
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringkv-server");
        self.child = Some(child);
        if self.wait_ready() {
            return true;
        }
        self.kill();
        false
    }

    /// Kills the server and starts it again on the same ports (and data
    /// directory), as a machine coming back at its old address would.
    pub fn restart_same_ports(&mut self) {
        self.kill();
        for _attempt in 0..20 {
            if self.spawn_on_current_ports() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("ringkv-server did not come back on its ports");
    }

    /// Adds flags for the next (re)start, e.g. `--seeds` for a first node
    /// that comes back with an empty directory and must find its cluster.
    pub fn add_args(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|a| a.to_string()));
    }

    /// Sets `flag` to `value` for the next (re)start, replacing the value
    /// it was started with (a flag may be given once).
    pub fn set_arg(&mut self, flag: &str, value: &str) {
        match self.args.iter().position(|a| a == flag) {
            Some(i) if i + 1 < self.args.len() => self.args[i + 1] = value.to_string(),
            _ => self.add_args(&[flag, value]),
        }
    }

    /// Deletes the data directory (the server must be stopped).
    pub fn wipe(&mut self) {
        assert!(self.child.is_none(), "wipe a stopped server only");
        let _ = std::fs::remove_dir_all(self.data_dir());
    }

    /// Whether the process is running (started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the started process has exited: its `/proc` entry is gone
    /// or a zombie not yet reaped.
    pub fn has_exited(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) {
            // The state follows the command name in parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => true,
        }
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits");
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_status)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut s) = TcpStream::connect((self.host.as_str(), self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = s.read(&mut buf) {
                        let reply = &buf[..n];
                        // A password-protected server answers NOAUTH: still ready.
                        if reply.starts_with(b"-NOAUTH") {
                            return true;
                        }
                        // The port was drawn free but a parallel test's
                        // server may have taken it first, and answer for
                        // ours while ours fails to bind and exits.
                        if reply.starts_with(b"+PONG") && !self.another_server_answers(&mut s) {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the server on `s` says it keeps its data elsewhere than
    /// ours (`CONFIG GET dir`): a server of another test on our port. A
    /// reply that proves nothing (an error, a timeout) is not taken as one.
    fn another_server_answers(&self, s: &mut TcpStream) -> bool {
        if s.write_all(b"CONFIG GET dir\r\n").is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let mut buf = [0u8; 512];
        // `*2`, `$3`, `dir`, `$N`, the path: five lines.
        while reply.iter().filter(|&&b| b == b'\n').count() < 5 {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
                _ => return false,
            }
            if reply.starts_with(b"-") && reply.ends_with(b"\r\n") {
                return false;
            }
        }
        let ours = self.data_dir();
        let ours = ours.to_string_lossy();
        !String::from_utf8_lossy(&reply).contains(ours.as_ref())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let pid = libc::pid_t::try_from(c.id()).expect("pid fits");
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Waits (bounded) for the process to exit by itself; returns whether it exited 0.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let Some(c) = self.child.as_mut() else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Starts the server again on the same data directory (new ports).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_until_ready();
    }

    /// A `redis` crate client for this server.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://{}:{}/", self.host, self.port)).expect("client")
    }

    /// A connected synchronous `redis` connection.
    pub fn conn(&self) -> redis::Connection {
        let c = self.client().get_connection().expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        c
    }

    /// A raw TCP connection for protocol-level tests.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.port)
    }

    /// The body of GET /metrics.
    pub fn metrics(&self) -> String {
        let mut s =
            TcpStream::connect((self.host.as_str(), self.metrics_port)).expect("metrics connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("response");
        let (head, body) = body.split_once("\r\n\r\n").expect("HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "metrics status: {head}");
        body.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw socket speaking RESP by hand.
pub struct RawConn {
    reader: BufReader<TcpStream>,
}

impl RawConn {
    /// Connects to `port` on loopback.
    pub fn connect(port: u16) -> RawConn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        RawConn {
            reader: BufReader::new(s),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Sends one command as a multibulk request.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode_cmd(args));
    }

    /// Reads one complete reply and returns it as raw RESP text.
    pub fn read_reply(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read reply line");
        assert!(
            !line.is_empty(),
            "connection closed while waiting for a reply"
        );
        let kind = line.as_bytes()[0];
        let body = line[1..].trim_end().to_string();
        match kind {
            b'$' | b'=' => {
                let n: i64 = body.parse().expect("bulk length");
                if n >= 0 {
                    let mut data = vec![0u8; usize::try_from(n).expect("len") + 2];
                    self.reader.read_exact(&mut data).expect("bulk data");
                    line.push_str(&String::from_utf8_lossy(&data));
                }
                line
            }
            b'*' | b'%' | b'~' | b'>' => {
                let n: i64 = body.parse().expect("aggregate length");
                let items = if kind == b'%' { n * 2 } else { n };
                for _ in 0..items.max(0) {
                    line.push_str(&self.read_reply());
                }
                line
            }
            _ => line,
        }
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_cmd(&args);
        self.read_reply()
    }

    /// Whether the server closed the connection (EOF or a reset within
    /// the read timeout; the timeout passing is not a close).
    pub fn is_closed(&mut self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe),
        }
    }
}

/// Encodes one command as a RESP multibulk request.
pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs a command with the `redis` crate and returns its value or error text
/// (`"ERR wrong number ..."`), for exact comparisons with Redis's replies.
pub fn query(con: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<redis::Value>(con).map_err(|e| error_text(&e))
}

/// The full text of a server error: code and detail, as redis-cli prints it.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// A number INFO shows (any section), or -1 when it is missing.
pub fn info_int(con: &mut redis::Connection, field: &str) -> i64 {
    let text: String = redis::cmd("INFO")
        .arg("everything")
        .query(con)
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// A small deterministic generator, for tests that must replay the same
/// commands every run.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Whether a command-line tool is installed (redis-cli, redis-benchmark).
pub fn have_tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs a tool to completion with a time bound, returning (stdout, stderr, success).
pub fn run_tool(
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> (String, String, bool) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (o, e) = (
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    );
    (o, e, status.is_some_and(|s| s.success()))
}

/// Fails the test with a clear message when a required tool is missing:
/// `.ci/run` installs redis-tools, so in CI these never skip.
pub fn require_tool(name: &str) {
    assert!(
        have_tool(name),
        "{name} is not installed; run `apt-get install -y redis-tools` (done by .ci/run)"
    );
}

/// Reads a whole file into a string (for logs in failure messages).
pub fn read_file(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Runs a command that must succeed and returns its value.
pub fn ok(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    query(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail and returns the error text.
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match query(con, args) {
        Ok(v) => panic!("{args:?} should have failed, got {v:?}"),
        Err(e) => e,
    }
}

/// A bulk-string value.
pub fn bulk(s: &str) -> redis::Value {
    redis::Value::BulkString(s.as_bytes().to_vec())
}

/// An integer value.
/// The integer a reply holds; panics on any other reply.
pub fn int_of(v: redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

pub fn int(i: i64) -> redis::Value {
    redis::Value::Int(i)
}

/// The simple-string `OK`.
pub fn okay() -> redis::Value {
    redis::Value::Okay
}

/// An array of bulk strings (None for nil).
pub fn bulks(items: &[Option<&str>]) -> redis::Value {
    redis::Value::Array(
        items
            .iter()
            .map(|i| i.map_or(redis::Value::Nil, bulk))
            .collect(),
    )
}

/// The strings of an array or set reply of bulk strings, in reply order.
pub fn strings(v: redis::Value) -> Vec<String> {
    match v {
        redis::Value::Array(items) | redis::Value::Set(items) => items
            .into_iter()
            .map(|i| match i {
                redis::Value::BulkString(b) => String::from_utf8(b).expect("utf-8 bulk"),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// [`strings`], sorted (for replies whose order Redis leaves unspecified).
pub fn sorted_strings(v: redis::Value) -> Vec<String> {
    let mut s = strings(v);
    s.sort();
    s
}

/// How a server start that was expected to fail ended.
pub struct RefusedStart {
    /// The process's exit status.
    pub status: std::process::ExitStatus,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl TestServer {
    /// Starts the server again on its data directory (killing the running
    /// process first, as [`TestServer::restart`] does) expecting it to refuse
    /// to start: waits up to `timeout` for it to exit by itself and returns
    /// its status and stderr. Panics, after killing it, if it is still
    /// running then.
    pub fn start_expecting_exit(&mut self, timeout: Duration) -> RefusedStart {
        self.kill();
        self.pick_ports();
        let child = self
            .command()
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringkv-server");
        wait_refused(child, timeout)
    }
}

/// Starts a server on free loopback ports with `extra` arguments,
/// expecting it to refuse to start (within a minute).
pub fn start_refused(extra: &[&str]) -> RefusedStart {
    // A port picked free may be taken by a parallel test before the server
    // binds it: that refusal is not the one asked for, so the start is
    // tried again on new ports.
    for _attempt in 1..5 {
        let refused = start_refused_once(extra);
        if !refused.stderr.contains("Address already in use") {
            return refused;
        }
    }
    start_refused_once(extra)
}

/// One try of [`start_refused`], on ports drawn free.
fn start_refused_once(extra: &[&str]) -> RefusedStart {
    let ports = [free_port(), free_port(), free_port()].map(|p| p.to_string());
    let mut args = vec![
        "--bind",
        "127.0.0.1",
        "--port",
        &ports[0],
        "--cluster-port",
        &ports[1],
        "--metrics-port",
        &ports[2],
    ];
    args.extend_from_slice(extra);
    run_expecting_exit(&args, Duration::from_secs(60))
}

/// Runs `ringkv-server` with exactly `args` (plus `--dir`, a fresh
/// temporary directory, and `--loglevel warning`), expecting it to refuse
/// to start: waits up to `timeout` for it to exit and returns its status
/// and stderr. Panics, after killing it, if it is still running then. For
/// starts [`TestServer::start_expecting_exit`] cannot express (another
/// `--bind`, no `--cluster-port`).
pub fn run_expecting_exit(args: &[&str], timeout: Duration) -> RefusedStart {
    let dir = tempfile::tempdir().expect("temp dir");
    let child = Command::new(server_binary())
        .args(args)
        .arg("--dir")
        .arg(dir.path().join("data"))
        .arg("--loglevel")
        .arg("warning")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringkv-server");
    wait_refused(child, timeout)
}

/// Waits up to `timeout` for a server expected to refuse to start (its
/// stderr piped) to exit; returns its status and stderr, or kills it and
/// panics if it is still running then.
pub fn wait_refused(mut child: Child, timeout: Duration) -> RefusedStart {
    let mut pipe = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap_or_default();
    match status {
        Some(status) => RefusedStart { status, stderr },
        None => panic!("ringkv-server was still running after {timeout:?}; stderr:\n{stderr}"),
    }
}

/// Copies the directory tree `from` to `to` (files and folders only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Every `.wal` file under `dir`, with its length, sorted by path.
pub fn wal_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "wal") {
                out.push((p, e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    out.sort();
    out
}

/// Field `field` (`VmRSS`, `VmHWM`) of `/proc/PID/status` in bytes; 0 if
/// it cannot be read.
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
