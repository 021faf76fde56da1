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

/// How long mimalloc keeps a freed page before returning it to the system
/// (milliseconds; `mi_option_purge_delay`).
///
/// Not mimalloc v3's default of a second: under a steady write load memory
/// is freed and allocated without pause, and that delay kept up to 70 MB
/// more resident (peak while loading a 1,000,000-member sorted set with a
/// 64 MB memory budget: 201 MB with it). Not 0 either: returning each
/// page at once is an `madvise` per emptied page, and each one a TLB
/// shootdown (an interrupt to the other cores). A command's future is
/// boxed (about 5 KB) and freed per command, so pages empty constantly;
/// under `redis-benchmark -P 16` GET, about one run in five spent a third
/// of the server's CPU in those shootdowns and served a third of the
/// requests (150–190k rps against 450–600k). With 10 ms, in ten runs
/// each: GET -P16 median 573k rps at 2.36 µs of server CPU a request
/// against 474k at 2.70 µs, no slow run, and the 1M sorted-set peak 139 MB
/// against 123 MB.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets [`PURGE_DELAY_MS`]. `MIMALLOC_PURGE_DELAY` in the environment
/// still decides; so does a library whose option table differs (the
/// default is checked first).
fn set_purge_delay() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: both functions only read or write mimalloc's option table,
    // at an index checked to hold that option's default value.
    unsafe {
        if MI_DEFAULT_PURGE_DELAYS.contains(&mi_option_get(MI_OPTION_PURGE_DELAY)) {
            mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

fn main() -> ExitCode {
    set_purge_delay();
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
    if config.disable_thp && !ringkv_server::huge_pages::disable_transparent_huge_pages() {
        tracing::warn!(
            "could not turn transparent huge pages off for this process (disable-thp yes): writes may wait for 2 MB pages to be zeroed"
        );
    }
    // 8 MiB, a main thread's stack: EXEC runs its queued commands through
    // the command table's dispatch a second time, and an unoptimized build
    // gives that dispatch a frame per handler (2 MiB overflowed there).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.thread_stack_size(8 << 20).enable_all();
    if config.io_threads > 0 {
        builder.worker_threads(config.io_threads);
    }
    let runtime = match builder.build() {
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
