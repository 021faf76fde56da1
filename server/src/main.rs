//! The `ringkv-server` binary: parse configuration, start logging, run.
//! Built by the root package (see the workspace Cargo.toml) over the
//! `ringkv_server` library.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: the request path allocates
/// and frees many small buffers across threads, where glibc's malloc spent
/// about a fifth of the server's CPU (measured with perf under
/// redis-benchmark). INFO's `mem_allocator` names it
/// (`ringkv_server::info::MEM_ALLOCATOR`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.iter().any(|a| a == "--print-sample-config") {
        print!("{}", ringkv_conf::sample_toml());
        return ExitCode::SUCCESS;
    }
    let config = match ringkv_conf::load(args.iter().cloned()) {
        Ok(c) => c,
        Err(ringkv_conf::Error::CommandLine(e)) => e.exit(),
        Err(e) => {
            eprintln!("ringkv-server: {e}");
            return ExitCode::from(2);
        }
    };
    let config_file = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    ringkv_server::init_logging(config.loglevel);
    // 8 MiB, a main thread's stack: EXEC runs its queued commands through
    // the command table's dispatch a second time, and an unoptimized build
    // gives that dispatch a frame per handler (2 MiB overflowed there).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringkv-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ringkv_server::run(config, config_file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("fatal: {e:#}");
            eprintln!("ringkv-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
