//! Runs arbitrary command lines through the real command layer (the table,
//! arity checks, argument parsing, handlers, MULTI queueing) of an in-process
//! server on a scratch data directory.
//!
//! Property: every command gets a reply (a value or an error), never a panic.
//! Commands that stop or stall the process (SHUTDOWN, DEBUG) are skipped, and
//! the bulk-length limit is lowered so SETRANGE/APPEND cannot allocate
//! hundreds of megabytes.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringkv_cluster::Keyspace;
use ringkv_conf::{ByteSize, Config};
use ringkv_server::client::{Client, ClientHandle};
use ringkv_server::command::execute;
use ringkv_server::shared::Server;

struct World {
    rt: tokio::runtime::Runtime,
    server: Arc<Server>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("scratch directory");
        let mut config = Config::default();
        config.dir = dir.path().display().to_string();
        config.proto_max_bulk_len = ByteSize::mib(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let opts = ringkv_server::engine_options::engine_options(&config);
        let ks = Keyspace::open(dir.path(), opts, config.databases).expect("keyspace");
        // A cluster of one on a free loopback cluster port.
        config.cluster_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let cluster = rt
            .block_on(ringkv_cluster::start(ks.clone(), &config, stop_rx))
            .expect("cluster of one");
        let server = Server::new(config, None, ks, cluster).expect("server");
        World {
            rt,
            server,
            _dir: dir,
        }
    })
}

#[derive(Arbitrary, Debug)]
struct Script {
    commands: Vec<Vec<Vec<u8>>>,
}

const SKIPPED: &[&[u8]] = &[b"shutdown", b"debug", b"save", b"bgsave"];

fuzz_target!(|script: Script| {
    let w = world();
    let addr = SocketAddr::from(([127, 0, 0, 1], 1));
    let handle = Arc::new(ClientHandle::new(1, addr, addr, -1));
    let mut client = Client::new(handle, true);
    w.rt.block_on(async {
        for args in script.commands.into_iter().take(64) {
            let Some(name) = args.first() else {
                continue;
            };
            if SKIPPED.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                continue;
            }
            let args: Vec<Bytes> = args.into_iter().take(32).map(Bytes::from).collect();
            let _reply = execute(&w.server, &mut client, args).await;
        }
    });
});
