//! Server commands: COMMAND, INFO, CONFIG, TIME, LASTSAVE, SAVE, BGSAVE,
//! DEBUG, FUNCTION, SHUTDOWN and every container's HELP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ringkv_resp::Reply;

use super::args::{ArgCursor, arg, is, parse_f64};
use super::digest;
use super::docs::{all, docs_reply, in_acl_category, info_reply};
use super::table::{self, CommandSpec};
use super::{Ctx, text_reply};
use crate::client::Client;
use crate::encoding_limits::EncodingLimits;
use crate::glob::Glob;
use crate::info;
use crate::reply_error::{CmdResult, ReplyError, lossy};
use crate::shared::{Server, unix_micros, unix_secs};

/// OBJECT HELP, word for word as Redis 7.0 prints it (ringkv has every
/// OBJECT subcommand Redis has, so its help text applies unchanged).
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// `<CONTAINER> HELP`: one line per subcommand, from the table (OBJECT's
/// is Redis's own text).
pub async fn help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(parent) = cx.parent else {
        return Err(ReplyError::syntax());
    };
    if parent.name == "object" {
        return Ok(Reply::Array(
            OBJECT_HELP.iter().map(|l| Reply::simple(l)).collect(),
        ));
    }
    let upper = parent.name.to_ascii_uppercase();
    let mut lines = vec![Reply::Simple(
        format!("{upper} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    for sub in parent.subcommands {
        let usage = if sub.syntax.is_empty() {
            String::new()
        } else {
            format!(" {}", sub.syntax)
        };
        lines.push(Reply::Simple(
            format!("{}{usage}", sub.name.to_ascii_uppercase()).into(),
        ));
        lines.push(Reply::Simple(format!("    {}", sub.summary).into()));
    }
    Ok(Reply::Array(lines))
}

fn with_subcommands() -> impl Iterator<Item = (Option<&'static CommandSpec>, &'static CommandSpec)>
{
    all().iter().flat_map(|c| {
        std::iter::once((None, c)).chain(c.subcommands.iter().map(move |s| (Some(c), s)))
    })
}

/// Finds `client|list` style or plain names.
fn find(name: &[u8]) -> Option<(Option<&'static CommandSpec>, &'static CommandSpec)> {
    match name.iter().position(|&b| b == b'|') {
        Some(bar) => {
            let parent = table::lookup(name.get(..bar)?)?;
            Some((Some(parent), parent.subcommand(name.get(bar + 1..)?)?))
        }
        None => table::lookup(name).map(|c| (None, c)),
    }
}

/// COMMAND: `COMMAND INFO` of every command.
pub async fn command(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 1 {
        // Reached only if the dispatcher had no subcommand to route to.
        return Err(ReplyError::unknown_subcommand("command", arg(args, 1)));
    }
    Ok(Reply::Array(
        all().iter().map(|c| info_reply(c, None)).collect(),
    ))
}

/// COMMAND COUNT.
pub async fn command_count(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(i64::try_from(all().len()).unwrap_or(i64::MAX)))
}

/// COMMAND INFO [command-name ...].
pub async fn command_info(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return Ok(Reply::Array(
            all().iter().map(|c| info_reply(c, None)).collect(),
        ));
    }
    Ok(Reply::Array(
        args.iter()
            .skip(2)
            .map(|n| find(n).map_or(Reply::Nil, |(p, c)| info_reply(c, p)))
            .collect(),
    ))
}

/// COMMAND DOCS [command-name ...].
pub async fn command_docs(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs: Vec<(Reply, Reply)> = if args.len() == 2 {
        all()
            .iter()
            .map(|c| (Reply::bulk(c.name), docs_reply(c, None)))
            .collect()
    } else {
        args.iter()
            .skip(2)
            .filter_map(|n| {
                find(n).map(|(p, c)| (Reply::bulk(table::fullname(p, c)), docs_reply(c, p)))
            })
            .collect()
    };
    Ok(Reply::Map(pairs))
}

/// Which (parent, command) pairs COMMAND LIST keeps.
type CommandFilter = dyn Fn(Option<&CommandSpec>, &CommandSpec) -> bool + Send;

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
pub async fn command_list(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args, 2);
    let mut keep: Box<CommandFilter> = Box::new(|_, _| true);
    if c.eat("FILTERBY") {
        if c.eat("PATTERN") {
            let g = Glob::new(c.require()?, true);
            keep = Box::new(move |p, s| g.matches(table::fullname(p, s).as_bytes()));
        } else if c.eat("ACLCAT") {
            let cat = String::from_utf8_lossy(c.require()?).to_ascii_lowercase();
            keep = Box::new(move |p, s| in_acl_category(s, p, &cat));
        } else if c.eat("MODULE") {
            c.require()?;
            keep = Box::new(|_, _| false);
        } else {
            return Err(ReplyError::syntax());
        }
    }
    c.finish()?;
    Ok(Reply::Array(
        with_subcommands()
            .filter(|(p, s)| keep(*p, s))
            .map(|(p, s)| Reply::bulk(table::fullname(p, s)))
            .collect(),
    ))
}

/// INFO [section ...].
pub async fn info(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let wanted: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let sections = info::select_sections(&wanted);
    let body = info::render(cx.server, &sections).await;
    Ok(text_reply(cx.client.protocol, body))
}

/// redis-server keys that tools read (redis-benchmark asks for `save` and
/// `appendonly`) and whose values are fixed by ringkv's design: every write
/// goes to the WAL, there are no snapshots and no eviction.
const FIXED_REDIS_KEYS: &[(&str, &str)] = &[
    ("appendonly", "yes"),
    ("save", ""),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("cluster-enabled", "no"),
];

/// CONFIG GET parameter [parameter ...] (glob patterns, case-insensitive).
pub async fn config_get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let config = cx.server.config.read().clone();
    // Secrets (requirepass, cluster-secret) show as a mask (SPEC §2).
    let keys = ringkv_conf::KEYS.iter().map(|k| (k.name, k.shown(&config)));
    let fixed = FIXED_REDIS_KEYS.iter().map(|(n, v)| (*n, v.to_string()));
    let encodings = cx.server.encoding_limits.all();
    let slowlog = cx.server.slowlog.all();
    let latency = cx.server.latency.all();
    let tracking = cx.server.latency_tracking.all();
    let all: Vec<(&str, String)> = keys
        .chain(fixed)
        .chain(encodings)
        .chain(slowlog)
        .chain(latency)
        .chain(tracking)
        .collect();
    let mut pairs: Vec<(Reply, Reply)> = Vec::new();
    // Names already answered (as the table spells them).
    let mut seen: Vec<&str> = Vec::new();
    for pattern in args.iter().skip(2) {
        // A name without glob characters is looked up and answered as the
        // client spelled it (`CONFIG GET TIMEOUT` gives `TIMEOUT`), as
        // Redis does; a pattern answers the table's names.
        let literal = !pattern.iter().any(|b| b"[*?".contains(b));
        let glob = Glob::new(pattern, true);
        for (name, value) in &all {
            if seen.contains(name) || !glob.matches(name.as_bytes()) {
                continue;
            }
            seen.push(name);
            let shown = if literal {
                Reply::Bulk(pattern.clone())
            } else {
                Reply::bulk(name)
            };
            pairs.push((shown, Reply::bulk(value)));
        }
    }
    Ok(Reply::Map(pairs))
}

/// CONFIG SET parameter value [parameter value ...]: all or nothing.
pub async fn config_set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let rest = args.get(2..).unwrap_or_default();
    // Fewer than a pair fails the table's arity; an odd count after that
    // is Redis's syntax error.
    if rest.len() % 2 != 0 {
        return Err(ReplyError::syntax());
    }
    let mut next = cx.server.config.read().clone();
    let mut changed = Vec::new();
    let mut in_memory = Vec::new();
    let mut named: Vec<String> = Vec::new();
    for pair in rest.chunks_exact(2) {
        let (name, value) = (
            String::from_utf8_lossy(arg(pair, 0)).into_owned(),
            String::from_utf8_lossy(arg(pair, 1)).into_owned(),
        );
        let lower = name.to_ascii_lowercase();
        if named.contains(&lower) {
            return Err(ReplyError::Err(
                format!("CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter").into(),
            ));
        }
        named.push(lower);
        match InMemory::parse(&name, &value) {
            Ok(Some(parsed)) => {
                in_memory.push(parsed);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                return Err(ReplyError::Err(
                    format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
                        .into(),
                ));
            }
        }
        if let Some((fixed, current)) = FIXED_REDIS_KEYS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            // Accepted when it asks for what ringkv always does; `save`
            // schedules snapshots ringkv does not take (the WAL holds every
            // write), so any schedule is accepted and changes nothing.
            // maxmemory is a memory value: `0mb` asks for 0 as `0` does.
            let same = value.eq_ignore_ascii_case(current)
                || (*fixed == "maxmemory"
                    && <ringkv_conf::ByteSize as ringkv_conf::ConfValue>::parse_conf(&value)
                        .is_ok_and(|b| b.bytes() == 0));
            if *fixed == "save" || same {
                continue;
            }
            return Err(ReplyError::Err(
                format!("CONFIG SET failed (possibly related to argument '{name}') - ringkv always runs with {fixed} '{current}'").into(),
            ));
        }
        let Some(key) = ringkv_conf::find_key(&name) else {
            return Err(ReplyError::Err(
                format!("Unknown option or number of arguments for CONFIG SET - '{name}'").into(),
            ));
        };
        let Some(hook) = key.live else {
            return Err(ReplyError::Err(
                format!("CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config").into(),
            ));
        };
        // Output limits name the classes they change, as in redis-server.
        let value = if key.name == "client-output-buffer-limit" {
            ringkv_conf::merge_output_limits(&(key.get)(&next), &value).map_err(|e| {
                ReplyError::Err(
                    format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
                        .into(),
                )
            })?
        } else {
            value
        };
        if let Some(problem) = redis_syntax_problem((key.syntax)(), &value) {
            return Err(ReplyError::Err(
                format!("CONFIG SET failed (possibly related to argument '{name}') - {problem}")
                    .into(),
            ));
        }
        next.set(key.name, &value).map_err(|e| {
            ReplyError::Err(
                format!("CONFIG SET failed (possibly related to argument '{name}') - {e}").into(),
            )
        })?;
        changed.push(hook);
    }
    crate::apply_config(cx.server, &next, &changed)
        .map_err(|e| ReplyError::Err(format!("CONFIG SET failed - {e}").into()))?;
    cx.server.levels.store(&next);
    cx.server.input.store(&next);
    *cx.server.config.write() = next;
    for parsed in in_memory {
        match parsed {
            InMemory::Encoding(t) => cx.server.encoding_limits.store(t),
            InMemory::Slowlog(s) => cx.server.slowlog.store(s),
            InMemory::Latency(ms) => cx.server.latency.store(ms),
            InMemory::Tracking(t) => cx.server.latency_tracking.store(t),
        }
    }
    Ok(Reply::Ok)
}

/// Why CONFIG SET refuses `value` for a key of `syntax` where redis-server
/// would, before ringkv's own parsing (which a file, a flag or the
/// environment also use, and which is more lenient there: TOML writes
/// booleans as `true`, an environment may pad a number): a boolean is
/// `yes` or `no`, a number or size has no spaces around it.
fn redis_syntax_problem(syntax: &str, value: &str) -> Option<&'static str> {
    use ringkv_conf::{ByteSize, ConfValue};
    let padded = value.trim() != value;
    if syntax == <bool as ConfValue>::syntax() {
        let yes_no = value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("no");
        (!yes_no).then_some("argument must be 'yes' or 'no'")
    } else if syntax == <u64 as ConfValue>::syntax() {
        padded.then_some("argument couldn't be parsed into an integer")
    } else if syntax == <ByteSize as ConfValue>::syntax() {
        padded.then_some("argument must be a memory value")
    } else {
        None
    }
}

/// A CONFIG SET setting held only in this node's memory, not in its
/// configuration, checked: one of Redis's encoding thresholds, one of
/// SLOWLOG's, LATENCY's threshold, or latency tracking's.
enum InMemory {
    Encoding((usize, i64)),
    Slowlog(crate::slowlog::Setting),
    Latency(i64),
    Tracking(crate::latency_tracking::Setting),
}

impl InMemory {
    /// `Ok(None)` if `name` is neither.
    fn parse(name: &str, value: &str) -> Result<Option<InMemory>, String> {
        if let Some(t) = EncodingLimits::parse(name, value)? {
            return Ok(Some(InMemory::Encoding(t)));
        }
        if let Some(ms) = crate::latency::LatencyMonitor::parse(name, value)? {
            return Ok(Some(InMemory::Latency(ms)));
        }
        if let Some(t) = crate::latency_tracking::LatencyTracking::parse(name, value)? {
            return Ok(Some(InMemory::Tracking(t)));
        }
        Ok(crate::slowlog::SlowLog::parse(name, value)?.map(InMemory::Slowlog))
    }
}

/// LATENCY LATEST.
pub async fn latency_latest(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(cx.server.latency.latest())
}

/// LATENCY HISTORY event.
pub async fn latency_history(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(cx.server.latency.history(arg(args, 2)))
}

/// LATENCY RESET [event ...].
pub async fn latency_reset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = cx.server.latency.reset(args.get(2..).unwrap_or_default());
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// LATENCY HISTOGRAM [command ...]: each command's calls since CONFIG
/// RESETSTAT by latency (a container's name stands for its subcommands;
/// unknown names are skipped). The buckets are the ones
/// `ringkv_command_duration_seconds` has, in microseconds.
pub async fn latency_histogram(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names: Vec<String> = args
        .iter()
        .skip(2)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    // The place of the first name that asks for a command (names in the
    // order given, as Redis answers them).
    let asked = |name: &str| {
        names.iter().position(|n| {
            name == n
                || name
                    .strip_prefix(n.as_str())
                    .is_some_and(|r| r.starts_with('|'))
        })
    };
    let int = |v: u64| Reply::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut histograms = cx
        .server
        .metrics
        .commands()
        .histograms(|name| names.is_empty() || asked(name).is_some());
    histograms.sort_by_key(|h| asked(h.name));
    Ok(Reply::Map(
        histograms
            .into_iter()
            .map(|h| {
                let buckets = h.cdf.into_iter().map(|(b, n)| (int(b), int(n))).collect();
                (
                    Reply::bulk(h.name),
                    Reply::Map(vec![
                        (Reply::bulk("calls"), int(h.calls)),
                        (Reply::bulk("histogram_usec"), Reply::Map(buckets)),
                    ]),
                )
            })
            .collect(),
    ))
}

/// LATENCY DOCTOR.
pub async fn latency_doctor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let slower_than = cx.server.slowlog.slower_than();
    let report = cx.server.latency.doctor(slower_than);
    Ok(text_reply(cx.client.protocol, report))
}

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, all
/// for -1).
pub async fn slowlog_get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(ReplyError::subcommand_syntax("SLOWLOG", arg(args, 1)));
    }
    let count = match args.get(2) {
        None => Some(10),
        Some(raw) => match ringkv_number::string_to_i64(raw) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => {
                return Err(ReplyError::err(
                    "count should be greater than or equal to -1",
                ));
            }
        },
    };
    Ok(cx.server.slowlog.newest(count))
}

/// SLOWLOG LEN.
pub async fn slowlog_len(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        i64::try_from(cx.server.slowlog.len()).unwrap_or(i64::MAX),
    ))
}

/// SLOWLOG RESET.
pub async fn slowlog_reset(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.slowlog.reset();
    Ok(Reply::Ok)
}

/// CONFIG RESETSTAT.
pub async fn config_resetstat(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.stats.reset();
    cx.server.metrics.commands().reset();
    Ok(Reply::Ok)
}

/// CONFIG REWRITE: writes the running configuration back to the file given
/// with --config, every key with its current value.
pub async fn config_rewrite(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(path) = cx.server.config_file.clone() else {
        return Err(ReplyError::err(
            "The server is running without a config file",
        ));
    };
    let body = ringkv_conf::render_toml(&cx.server.config.read());
    let tmp = path.with_extension("toml.tmp");
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, body.as_bytes())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| ReplyError::Err(format!("Rewriting config file: {e}").into()))?;
    Ok(Reply::Ok)
}

/// TIME.
pub async fn time(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let us = unix_micros();
    Ok(Reply::bulks([
        Bytes::from((us / 1_000_000).to_string()),
        Bytes::from((us % 1_000_000).to_string()),
    ]))
}

/// ROLE: every node is a primary in Redis's terms (the ring has no
/// replicas that follow one primary; each node replicates its share), so it
/// answers as a Redis primary without replicas does.
pub async fn role(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Int(0),
        Reply::Array(vec![]),
    ]))
}

/// LOLWUT [VERSION version]: the version line Redis ends its art with
/// (Redis's own output for a version it has no art for).
pub async fn lolwut(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args, 1);
    if c.eat("VERSION") {
        super::args::parse_i64(c.require()?)?;
    }
    let line = format!("Redis ver. {}\n", super::connection::REDIS_COMPAT_VERSION);
    Ok(text_reply(cx.client.protocol, line))
}

/// LASTSAVE.
pub async fn lastsave(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        i64::try_from(cx.server.last_save_unix.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
    ))
}

async fn flush_engine(server: &Arc<crate::shared::Server>) -> Result<(), ReplyError> {
    let engine = server.keyspace.engine().clone();
    // Every write counted so far is in what the flush persists.
    let writes = engine.stats().writes;
    let flushed = tokio::task::spawn_blocking(move || engine.flush()).await;
    match flushed {
        Ok(Ok(())) => {
            server.last_save_unix.store(unix_secs(), Ordering::Relaxed);
            server.saved_writes.fetch_max(writes, Ordering::Relaxed);
            Ok(())
        }
        Ok(Err(e)) => Err(ReplyError::from(ringkv_cluster::Error::from(e))),
        Err(_) => Err(ReplyError::err("Background save failed")),
    }
}

/// SAVE: flushes memtables to SSTables (the WAL already holds every write).
pub async fn save(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    flush_engine(cx.server).await?;
    Ok(Reply::Ok)
}

/// BGSAVE [SCHEDULE].
pub async fn bgsave(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.get(1) {
        None => {}
        Some(a) if args.len() == 2 && is(a, "SCHEDULE") => {}
        Some(_) => return Err(ReplyError::syntax()),
    }
    let server = Arc::clone(cx.server);
    tokio::spawn(async move {
        if let Err(e) = flush_engine(&server).await {
            tracing::warn!(error = ?e, "BGSAVE failed");
        }
    });
    Ok(Reply::simple("Background saving started"))
}

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "OBJECT <key>",
    "    Show low-level information about the key.",
    "RELOAD",
    "    Flush the memtable to SSTables and fsync, as a save-and-reload would persist everything.",
    "DIGEST",
    "    Output a hex signature representing the current DB content (40 zeros when empty).",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of the given keys (40 zeros for a missing key).",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOADAOF",
    "    As RELOAD: the WAL already holds every write.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Accepted for compatibility: lists are not stored as quicklists.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in the background when they are not accessed.",
    "SLEEP <seconds>",
    "    Stall this client for <seconds> (at most 3600); others are still served. Decimals allowed.",
    "HELP",
    "    Print this help.",
];

/// DEBUG SLEEP | SET-ACTIVE-EXPIRE | OBJECT | PROTOCOL | ERROR | RELOAD | HELP.
pub async fn debug(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = arg(args, 1);
    let syntax = || ReplyError::subcommand_syntax("DEBUG", sub);
    if is(sub, "HELP") && args.len() == 2 {
        return Ok(Reply::Array(
            DEBUG_HELP.iter().map(|l| Reply::simple(l)).collect(),
        ));
    }
    if is(sub, "SLEEP") && args.len() == 3 {
        // Redis reads the time with strtod: a bad number sleeps 0 seconds.
        let secs = leading_float(arg(args, 2));
        if secs > 0.0 {
            // Owed, not slept here: this handler may run under EXEC's
            // exclusive gate, and sleeping there would stop every client.
            let owed =
                cx.client.debug_sleep + Duration::from_secs_f64(secs.min(MAX_DEBUG_SLEEP_SECS));
            cx.client.debug_sleep = owed.min(Duration::from_secs_f64(MAX_DEBUG_SLEEP_SECS));
        }
        return Ok(Reply::Ok);
    }
    if is(sub, "SET-ACTIVE-EXPIRE") && args.len() == 3 {
        let on = arg(args, 2).as_ref() != b"0";
        cx.server.active_expire.store(on, Ordering::Relaxed);
        return Ok(Reply::Ok);
    }
    if is(sub, "OBJECT") && args.len() == 3 {
        let Some(e) = cx.peek(cx.db(), arg(args, 2)).await? else {
            return Err(ReplyError::err("no such key"));
        };
        return Ok(Reply::Simple(
            format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
                super::keys::entry_encoding(&e, &cx.server.encoding_limits),
                e.members.as_ref().map_or(e.value.len(), |m| m
                    .map
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum())
            )
            .into(),
        ));
    }
    if is(sub, "ERROR") && args.len() == 3 {
        // The text as the whole error, without an ERR prefix (client test
        // suites use it to fake a server's error); line breaks become spaces.
        return Ok(Reply::Error(lossy(arg(args, 2), usize::MAX).into()));
    }
    if is(sub, "PROTOCOL") && args.len() == 3 {
        return super::debug_protocol::reply(arg(args, 2), cx.client.protocol);
    }
    if is(sub, "DIGEST-VALUE") {
        return digest::digest_values(cx, args.get(2..).unwrap_or_default()).await;
    }
    if is(sub, "DIGEST") && args.len() == 2 {
        return digest::digest_dataset(cx).await;
    }
    if is(sub, "QUICKLIST-PACKED-THRESHOLD") && args.len() == 3 {
        let size = String::from_utf8_lossy(arg(args, 2));
        <ringkv_conf::ByteSize as ringkv_conf::ConfValue>::parse_conf(&size)
            .map_err(|_| ReplyError::err("argument must be a memory value"))?;
        return Ok(Reply::Ok);
    }
    if is(sub, "RELOAD") || (is(sub, "LOADAOF") && args.len() == 2) {
        flush_engine(cx.server).await?;
        return Ok(Reply::Ok);
    }
    Err(syntax())
}

/// Longest DEBUG SLEEP, in seconds (Redis has no cap; an hour keeps
/// `DEBUG SLEEP 1e308` finite).
const MAX_DEBUG_SLEEP_SECS: f64 = 3600.0;

/// Sleeps the DEBUG SLEEP time `client` owes, if any. Dispatch calls it
/// after the command (or the EXEC that queued it) has released the
/// transaction gate, so the sleeping client stalls alone, as a client of a
/// multi-threaded server would; Redis, single-threaded, stalls everyone.
/// The sleep ends early when the server shuts down or the client is killed.
pub async fn owed_sleep(server: &Server, client: &mut Client) {
    let owed = std::mem::take(&mut client.debug_sleep);
    if owed.is_zero() {
        return;
    }
    let mut shutdown = server.shutdown.subscribe();
    tokio::select! {
        _ = tokio::time::sleep(owed) => {}
        _ = shutdown.wait_for(|stopping| *stopping) => {}
        _ = client.handle.kill_signal.notified() => {
            // The connection loop waits for this wake-up to close.
            client.handle.kill_signal.notify_one();
        }
    }
}

/// The number at the start of `raw`, as C's `strtod` reads it (0 if none).
fn leading_float(raw: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_start();
    // The longest prefix that parses; numbers are short, so this stays cheap.
    (1..=text.len().min(64))
        .rev()
        .filter_map(|n| text.get(..n))
        .find_map(|prefix| parse_f64(prefix.as_bytes()).ok())
        .unwrap_or(0.0)
}

/// FUNCTION FLUSH [ASYNC | SYNC]: there are no functions to delete.
pub async fn function_flush(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(ReplyError::subcommand_syntax("FUNCTION", arg(args, 1)));
    }
    match args.get(2) {
        None => Ok(Reply::Ok),
        Some(m) if args.len() == 3 && (is(m, "ASYNC") || is(m, "SYNC")) => Ok(Reply::Ok),
        Some(_) => Err(ReplyError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        )),
    }
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: no libraries exist.
pub async fn function_list(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args, 2);
    while c.has_more() {
        if c.eat("WITHCODE") {
            continue;
        }
        if c.eat("LIBRARYNAME") {
            c.require()
                .map_err(|_| ReplyError::err("library name argument was not given"))?;
            continue;
        }
        return Err(ReplyError::Err(
            format!(
                "Unknown argument {}",
                lossy(c.rest().first().map_or(&b""[..], |a| a), 128)
            )
            .into(),
        ));
    }
    Ok(Reply::Array(vec![]))
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]: flushes the WAL, stops
/// accepting clients, and exits once connections have drained. Like Redis,
/// it sends no reply on success: the connection just closes.
pub async fn shutdown(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut abort, mut nosave, mut save, mut flags) = (false, false, false, 0);
    for a in args.iter().skip(1) {
        if is(a, "ABORT") {
            abort = true;
            continue;
        }
        flags += 1;
        if is(a, "NOSAVE") {
            nosave = true;
        } else if is(a, "SAVE") {
            save = true;
        } else if !is(a, "NOW") && !is(a, "FORCE") {
            return Err(ReplyError::syntax());
        }
    }
    // Redis's illegal combinations: ABORT with anything, SAVE with NOSAVE.
    if (abort && flags > 0) || (save && nosave) {
        return Err(ReplyError::syntax());
    }
    if abort {
        return Err(ReplyError::err("No shutdown in progress."));
    }
    tracing::warn!(
        client = cx.client.handle.id,
        "SHUTDOWN requested by a client"
    );
    cx.client.close_after_reply = true;
    cx.client.suppress_reply = true;
    cx.server.begin_shutdown();
    Ok(Reply::Ok)
}
