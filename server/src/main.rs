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

// mimalloc's runtime options, from the library the `mimalloc` crate links.
unsafe extern "C" {
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in the mimalloc the `mimalloc` crate builds (v3;
/// the same index in v2: `mimalloc.h`, `enum mi_option_e`), and its
/// defaults there (milliseconds: 1000 in v3, 10 in v2).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
const MI_DEFAULT_PURGE_DELAYS: [std::ffi::c_long; 2] = [1000, 10];

/// Has mimalloc return freed memory to the system at once instead of after
/// its default delay: under a steady write load memory is freed and
/// allocated without pause, and the delay kept up to 70 MB more resident
/// (peak while loading a 1,000,000-member sorted set with a 64 MB memory
/// budget: 201 MB with the delay, 129 MB without; SET/GET throughput
/// unchanged in A/B runs). `MIMALLOC_PURGE_DELAY` in the environment still
/// decides; so does a library whose option table differs (the default is
/// checked first).
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: both functions only read or write mimalloc's option table,
    // at an index checked to hold that option's default value.
    unsafe {
        if MI_DEFAULT_PURGE_DELAYS.contains(&mi_option_get(MI_OPTION_PURGE_DELAY)) {
            mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
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
