//! Process-wide settings the server makes at start.
//!
//! Issue 15, finding 5: under a low open-file limit an idle-connection
//! flood made writes fail with "Too many open files" (the engine could not
//! open a new file) and the accept loops spin. The server now raises its
//! limit as far as it may, fits `maxclients` and the engine's table cache
//! into it, and refuses the excess clients with Redis's error.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::{TestServer, query};

/// Lets this test process hold the connections it opens.
fn raise_own_nofile(want: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
        }
    }
}

fn info_number(con: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text: String = redis::cmd("INFO").arg(section).query(con).expect("INFO");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

#[test]
fn an_idle_connection_flood_under_ulimit_1024_leaves_writes_working() {
    raise_own_nofile(4096);
    let server = TestServer::start_with_nofile(1024, &["--appendfsync", "always"]);
    let mut con = server.conn();
    let maxclients = info_number(&mut con, "clients", "maxclients");
    assert!(
        (500..1024).contains(&maxclients),
        "maxclients lowered to fit 1024 descriptors: {maxclients}"
    );
    let mut idle = Vec::new();
    let mut refused_text = String::new();
    for _ in 0..1100 {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        if idle.len() as u64 >= maxclients {
            // Past maxclients the server answers and closes.
            let mut buf = [0u8; 128];
            if let Ok(n) = s.read(&mut buf) {
                refused_text = String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        idle.push(s);
    }
    assert!(
        refused_text.starts_with("-ERR max number of clients reached"),
        "{refused_text:?}"
    );
    // Writes, and a flush that opens new files, keep working.
    for i in 0..2000 {
        query(&mut con, &["SET", &format!("k:{i}"), &format!("v{i}")]).expect("SET");
    }
    query(&mut con, &["SAVE"]).expect("SAVE creates an SSTable");
    for i in (0..2000).step_by(97) {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("k:{i}"))
            .query(&mut con)
            .expect("GET");
        assert_eq!(got, Some(format!("v{i}")));
    }
    drop(idle);
}

#[test]
fn config_set_maxclients_beyond_the_open_file_limit_is_refused() {
    let server = TestServer::start_with_nofile(1024, &[]);
    let mut con = server.conn();
    let err = query(&mut con, &["CONFIG", "SET", "maxclients", "100000"]).unwrap_err();
    assert!(
        err.contains("The operating system is not able to handle the specified number of clients"),
        "{err}"
    );
    query(&mut con, &["CONFIG", "SET", "maxclients", "100"]).expect("a smaller value is fine");
}

/// `THP_enabled` of `/proc/PID/status` (kernels since 6.0 print it).
fn thp_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))?;
    Some(line.trim() == "1")
}

#[test]
fn transparent_huge_pages_are_off_unless_disable_thp_is_no() {
    let server = TestServer::start();
    let mut con = server.conn();
    let Some(enabled) = thp_enabled(server.pid()) else {
        eprintln!("skipped: this kernel does not report THP_enabled");
        return;
    };
    assert!(!enabled, "huge pages still on for a server with defaults");
    let value: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("disable-thp")
        .query(&mut con)
        .expect("CONFIG GET");
    assert_eq!(value, ["disable-thp", "yes"]);
    let kept = TestServer::start_with(&["--disable-thp", "no"]);
    kept.conn();
    // The server inherits this test process's setting when it keeps it.
    assert_eq!(thp_enabled(kept.pid()), thp_enabled(std::process::id()));
}
