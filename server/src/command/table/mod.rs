//! The command table: one row per command with its arity, flags, key
//! positions, group, documentation and handler. Dispatch, arity checks,
//! `COMMAND INFO/DOCS/LIST/COUNT/GETKEYS` and redis-cli's hints all come
//! from these rows.
//!
//! `syntax` is the argument grammar as Redis's docs write it, with two
//! additions used to build `COMMAND DOCS`: `name=` names an optional group
//! or choice, and `:type` types an argument (`integer`, `double`, `key`,
//! `pattern`, `unix-time`; words called `key`, `source`, `destination`,
//! `newkey` and `destkey` are keys). UPPERCASE words are literal tokens.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{
    Ctx, bitfield, bits, blocking_pops, cluster, connection, expire, getkeys, hashes, hyperloglog,
    keys, lcs, lists, pubsub, server, sets, sort, strings, txn, zset_algebra, zsets,
};
use crate::reply_error::CmdResult;

/// Command flags, as `COMMAND INFO` reports them.
pub mod flag {
    /// Changes data.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads data.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory use.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 4;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 5;
    /// Allowed on stale data.
    pub const STALE: u32 = 1 << 6;
    /// O(1) or O(log n): no latency spikes.
    pub const FAST: u32 = 1 << 7;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 8;
    /// Not allowed inside MULTI (runs immediately even there).
    pub const NO_MULTI: u32 = 1 << 9;
    /// Not shown by MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 10;
    /// Not logged in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 11;
    /// Key positions depend on the arguments.
    pub const MOVABLEKEYS: u32 = 1 << 12;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 13;
    /// Refused unless its `enable-*-command` option allows the client
    /// (DEBUG). Not shown by `COMMAND INFO`, as in Redis 7.0.
    pub const PROTECTED: u32 = 1 << 14;
    /// ringkv's own, not shown by `COMMAND INFO`: in its plainest form (one
    /// key, no options: exactly `|arity|` arguments) the command may run
    /// concurrently with its neighbours in a pipeline batch on a cluster
    /// (see `crate::pipeline`).
    pub const CONCURRENT: u32 = 1 << 15;
    /// May block the client (BLPOP and the like).
    pub const BLOCKING: u32 = 1 << 16;
    /// Publish/subscribe.
    pub const PUBSUB: u32 = 1 << 17;
    /// Refused while a replica loads a dataset asynchronously (Redis's flag,
    /// shown by `COMMAND INFO`; ringkv never loads that way).
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;

    /// Names in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Where the keys are: `first`, `last` (negative counts from the end) and `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPositions {
    /// Index of the first key (0: no keys).
    pub first: i32,
    /// Index of the last key; -1 is the last argument.
    pub last: i32,
    /// Distance between keys.
    pub step: i32,
}

/// Command group, as `COMMAND DOCS` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Strings.
    String,
    /// Bit operations on strings.
    Bitmap,
    /// Keyspace commands.
    Generic,
    /// Connection management.
    Connection,
    /// Server management.
    Server,
    /// Transactions.
    Transactions,
    /// ringkv's cluster and consistency commands.
    Cluster,
    /// HyperLogLog.
    HyperLogLog,
    /// Hashes.
    Hash,
    /// Sets.
    Set,
    /// Sorted sets.
    SortedSet,
    /// Lists.
    List,
    /// Publish/subscribe.
    PubSub,
}

impl Group {
    /// The name in `COMMAND DOCS` and ACL categories.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::Generic => "generic",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Transactions => "transactions",
            Group::Cluster => "cluster",
            Group::HyperLogLog => "hyperloglog",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::List => "list",
            Group::PubSub => "pubsub",
        }
    }
}

/// One command or subcommand.
pub struct CommandSpec {
    /// Lower-case name (for a subcommand, without the parent).
    pub name: &'static str,
    /// Redis arity: n = exactly n arguments (name included), -n = at least n.
    pub arity: i32,
    /// `flag::*` bits.
    pub flags: u32,
    /// Key positions.
    pub keys: KeyPositions,
    /// Group.
    pub group: Group,
    /// Redis version that introduced the command.
    pub since: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Argument grammar (see the module docs).
    pub syntax: &'static str,
    /// What runs it (containers dispatch to their subcommands instead).
    pub handler: Handler,
    /// Subcommands (CLIENT LIST, CONFIG GET, ...).
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether the command has the flag bit.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Looks up a subcommand by name, case-insensitively.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

const NO_KEYS: KeyPositions = KeyPositions {
    first: 0,
    last: 0,
    step: 0,
};
const KEY1: KeyPositions = KeyPositions {
    first: 1,
    last: 1,
    step: 1,
};
const ALL_KEYS: KeyPositions = KeyPositions {
    first: 1,
    last: -1,
    step: 1,
};
const KEY_PAIRS: KeyPositions = KeyPositions {
    first: 1,
    last: -1,
    step: 2,
};
const KEY1_2: KeyPositions = KeyPositions {
    first: 1,
    last: 2,
    step: 1,
};
const KEY2: KeyPositions = KeyPositions {
    first: 2,
    last: 2,
    step: 1,
};
/// Keys counted by a `numkeys` argument (MOVABLEKEYS): no fixed position,
/// as Redis reports them; `COMMAND GETKEYS` reads the count.
const NUMKEYS: KeyPositions = KeyPositions {
    first: 0,
    last: 0,
    step: 0,
};
const KEYS_BUT_LAST: KeyPositions = KeyPositions {
    first: 1,
    last: -2,
    step: 1,
};
const KEYS_FROM_2: KeyPositions = KeyPositions {
    first: 2,
    last: -1,
    step: 1,
};

#[expect(
    clippy::too_many_arguments,
    reason = "a table row is clearest as one call"
)]
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeyPositions,
    group: Group,
    since: &'static str,
    complexity: &'static str,
    summary: &'static str,
    syntax: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        group,
        since,
        complexity,
        summary,
        syntax,
        handler,
        subcommands: &[],
    }
}

const fn container(
    name: &'static str,
    arity: i32,
    handler: Handler,
    group: Group,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: 0,
        keys: NO_KEYS,
        group,
        since,
        complexity: "Depends on subcommand.",
        summary,
        syntax: "",
        handler,
        subcommands,
    }
}

/// The handlers, each run in a box of its own (its future is as large as
/// its largest state, up to kilobytes), but those under `inline`, whose
/// futures are small: they run inside the caller's future, which every
/// command shares, sparing them an allocation and a copy per command.
/// A handler whose future grows past a few hundred bytes belongs in the
/// boxed list, or every command pays its size.
macro_rules! handlers {
    (inline { $( $iid:ident => $if:path ),* $(,)? } $( $id:ident => $f:path ),* $(,)?) => {
        /// Which function runs a command.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Handler {
            /// A command with subcommands; never run directly.
            Container,
            $( #[doc = stringify!($if)] $iid, )*
            $( #[doc = stringify!($f)] $id, )*
        }

        /// Runs a handler. Containers are resolved by the dispatcher first.
        pub(crate) async fn run(h: Handler, cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
            match h {
                Handler::Container => Err(crate::reply_error::ReplyError::syntax()),
                $( Handler::$iid => $if(cx, args).await, )*
                $( Handler::$id => Box::pin($f(cx, args)).await, )*
            }
        }
    };
}

handlers! {
    inline { Get => strings::get }
    Set => strings::set, SetNx => strings::setnx, SetEx => strings::setex,
    PSetEx => strings::psetex, GetSet => strings::getset, GetDel => strings::getdel,
    GetEx => strings::getex, MGet => strings::mget, MSet => strings::mset, MSetNx => strings::msetnx,
    Append => strings::append, StrLen => strings::strlen, GetRange => strings::getrange,
    SetRange => strings::setrange, Incr => strings::incr, Decr => strings::decr,
    IncrBy => strings::incrby, DecrBy => strings::decrby, IncrByFloat => strings::incrbyfloat,
    Lcs => lcs::lcs_cmd,
    PfAdd => hyperloglog::pfadd, PfCount => hyperloglog::pfcount, PfMerge => hyperloglog::pfmerge,
    HSet => hashes::hset, HSetNx => hashes::hsetnx, HMSet => hashes::hmset, HGet => hashes::hget,
    HMGet => hashes::hmget, HGetAll => hashes::hgetall, HKeys => hashes::hkeys,
    HVals => hashes::hvals, HLen => hashes::hlen, HExists => hashes::hexists, HDel => hashes::hdel,
    HStrLen => hashes::hstrlen, HIncrBy => hashes::hincrby, HIncrByFloat => hashes::hincrbyfloat,
    HRandField => hashes::hrandfield, HScan => hashes::hscan,
    SAdd => sets::sadd, SRem => sets::srem, SMembers => sets::smembers, SIsMember => sets::sismember,
    SMIsMember => sets::smismember, SCard => sets::scard, SPop => sets::spop,
    SRandMember => sets::srandmember, SMove => sets::smove, SInter => sets::sinter,
    SInterCard => sets::sintercard, SInterStore => sets::sinterstore, SUnion => sets::sunion,
    SUnionStore => sets::sunionstore, SDiff => sets::sdiff, SDiffStore => sets::sdiffstore,
    SScan => sets::sscan,
    ZAdd => zsets::zadd_cmd, ZIncrBy => zsets::zincrby, ZRem => zsets::zrem, ZScore => zsets::zscore,
    ZMScore => zsets::zmscore, ZCard => zsets::zcard, ZCount => zsets::zcount,
    ZLexCount => zsets::zlexcount, ZRange => zsets::zrange, ZRangeStore => zsets::zrangestore,
    ZRangeByScore => zsets::zrangebyscore, ZRevRangeByScore => zsets::zrevrangebyscore,
    ZRangeByLex => zsets::zrangebylex, ZRevRangeByLex => zsets::zrevrangebylex,
    ZRevRange => zsets::zrevrange, ZRank => zsets::zrank, ZRevRank => zsets::zrevrank,
    ZPopMin => zsets::zpopmin, ZPopMax => zsets::zpopmax, ZMPop => zsets::zmpop,
    ZRandMember => zsets::zrandmember, ZRemRangeByScore => zsets::zremrangebyscore,
    ZRemRangeByRank => zsets::zremrangebyrank, ZRemRangeByLex => zsets::zremrangebylex,
    ZUnion => zset_algebra::zunion, ZUnionStore => zset_algebra::zunionstore, ZInter => zset_algebra::zinter,
    ZInterStore => zset_algebra::zinterstore, ZInterCard => zset_algebra::zintercard, ZDiff => zset_algebra::zdiff,
    ZDiffStore => zset_algebra::zdiffstore, ZScan => zsets::zscan,
    LPush => lists::lpush, RPush => lists::rpush, LPushX => lists::lpushx, RPushX => lists::rpushx,
    LPop => lists::lpop, RPop => lists::rpop, LLen => lists::llen, LRange => lists::lrange,
    LIndex => lists::lindex, LSet => lists::lset, LInsert => lists::linsert, LRem => lists::lrem,
    LTrim => lists::ltrim, LPos => lists::lpos, LMove => lists::lmove,
    RPopLPush => lists::rpoplpush, LMPop => lists::lmpop,
    BLPop => blocking_pops::blpop, BRPop => blocking_pops::brpop,
    BRPopLPush => blocking_pops::brpoplpush, BLMove => blocking_pops::blmove,
    BLMPop => blocking_pops::blmpop, BZPopMin => blocking_pops::bzpopmin,
    BZPopMax => blocking_pops::bzpopmax, BZMPop => blocking_pops::bzmpop,
    Subscribe => pubsub::subscribe_cmd, Unsubscribe => pubsub::unsubscribe_cmd,
    PSubscribe => pubsub::psubscribe, PUnsubscribe => pubsub::punsubscribe,
    SSubscribe => pubsub::ssubscribe, SUnsubscribe => pubsub::sunsubscribe,
    Publish => pubsub::publish_cmd, SPublish => pubsub::spublish,
    PubSubChannels => pubsub::pubsub_channels, PubSubNumSub => pubsub::pubsub_numsub,
    PubSubNumPat => pubsub::pubsub_numpat, PubSubShardChannels => pubsub::pubsub_shardchannels,
    PubSubShardNumSub => pubsub::pubsub_shardnumsub,
    SetBit => bits::setbit, GetBit => bits::getbit, BitCount => bits::bitcount_cmd,
    BitField => bitfield::bitfield, BitFieldRo => bitfield::bitfield_ro,
    Sort => sort::sort, SortRo => sort::sort_ro,
    BitPos => bits::bitpos_cmd, BitOp => bits::bitop_cmd,
    Del => keys::del, Exists => keys::exists, Type => keys::type_, Touch => keys::touch,
    Keys => keys::keys, Scan => keys::scan, DbSize => keys::dbsize, Rename => keys::rename,
    RenameNx => keys::renamenx, Copy => keys::copy, Move => keys::move_, RandomKey => keys::randomkey,
    FlushDb => keys::flushdb, FlushAll => keys::flushall, SwapDb => keys::swapdb,
    ObjectEncoding => keys::object_encoding, ObjectRefcount => keys::object_refcount,
    ObjectIdletime => keys::object_idletime, ObjectFreq => keys::object_freq,
    MemoryUsage => keys::memory_usage, MemoryStats => keys::memory_stats,
    MemoryDoctor => keys::memory_doctor, MemoryMallocStats => keys::memory_malloc_stats,
    SlowlogGet => server::slowlog_get, SlowlogLen => server::slowlog_len,
    SlowlogReset => server::slowlog_reset,
    Expire => expire::expire, PExpire => expire::pexpire, ExpireAt => expire::expireat,
    PExpireAt => expire::pexpireat, Ttl => expire::ttl, PTtl => expire::pttl,
    Persist => expire::persist, ExpireTime => expire::expiretime, PExpireTime => expire::pexpiretime,
    Ping => connection::ping, Echo => connection::echo, Hello => connection::hello,
    Auth => connection::auth, Quit => connection::quit, Reset => connection::reset,
    Monitor => connection::monitor,
    Select => connection::select, ClientId => connection::client_id,
    ClientSetName => connection::client_setname, ClientGetName => connection::client_getname,
    ClientList => connection::client_list, ClientInfo => connection::client_info,
    ClientSetInfo => connection::client_setinfo, ClientKill => connection::client_kill,
    ClientUnblock => connection::client_unblock,
    ClientPause => connection::client_pause, ClientUnpause => connection::client_unpause,
    ClientNoEvict => connection::client_no_evict, ClientReply => connection::client_reply,
    Help => server::help,
    Command => server::command, CommandCount => server::command_count,
    CommandInfo => server::command_info, CommandDocs => server::command_docs,
    CommandList => server::command_list, CommandGetKeys => getkeys::command_getkeys,
    CommandGetKeysAndFlags => getkeys::command_getkeysandflags,
    Info => server::info, ConfigGet => server::config_get, ConfigSet => server::config_set,
    ConfigResetStat => server::config_resetstat, ConfigRewrite => server::config_rewrite,
    LatencyLatest => server::latency_latest, LatencyHistory => server::latency_history,
    LatencyReset => server::latency_reset, LatencyHistogram => server::latency_histogram, LatencyDoctor => server::latency_doctor,
    Time => server::time, Role => server::role, Lolwut => server::lolwut, LastSave => server::lastsave, Save => server::save, BgSave => server::bgsave,
    Debug => server::debug, FunctionFlush => server::function_flush, FunctionList => server::function_list,
    Shutdown => server::shutdown,
    Consistency => cluster::consistency, Cl => cluster::cl, VGet => cluster::vget,
    VSet => cluster::vset, ClusterInfo => cluster::cluster_info, ClusterNodes => cluster::cluster_nodes,
    ClusterRing => cluster::cluster_ring, ClusterJoin => cluster::cluster_join,
    ClusterLeave => cluster::cluster_leave, ClusterRemove => cluster::cluster_remove,
    ClusterRepair => cluster::cluster_repair,
        Multi => txn::multi, Exec => txn::exec, Discard => txn::discard, Watch => txn::watch, Unwatch => txn::unwatch,
}

use Group as G;
use Handler as H;
use flag::*;

const RW: u32 = WRITE | DENYOOM;
const RO: u32 = READONLY;
const HELP_ARITY: i32 = 2;

const fn help(parent_summary: &'static str) -> CommandSpec {
    c(
        "help",
        HELP_ARITY,
        LOADING | STALE,
        NO_KEYS,
        G::Server,
        "5.0.0",
        "O(1)",
        parent_summary,
        "",
        H::Help,
    )
}
mod subcommands;
use subcommands::*;

/// Every top-level command, alphabetically.
#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    c("append", 3, RW | FAST | CONCURRENT, KEY1, G::String, "2.0.0", "O(1)", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "key value", H::Append),
    c("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, G::Connection, "1.0.0", "O(N) where N is the number of passwords defined for the user", "Authenticates the connection.", "[username] password", H::Auth),
    c("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, NO_KEYS, G::Server, "1.0.0", "O(1)", "Flushes the memtable to SSTables in the background.", "[SCHEDULE]", H::BgSave),
    c("bitcount", -2, RO, KEY1, G::Bitmap, "2.6.0", "O(N)", "Count set bits in a string", "key [index=start:integer end:integer [index_unit=BYTE | BIT]]", H::BitCount),
    c("bitfield", -2, RW, KEY1, G::Bitmap, "3.2.0", "O(1) for each subcommand specified", "Perform arbitrary bitfield integer operations on strings", "key [operation=(encoding_offset=(GET encoding offset:integer) | write=([OVERFLOW wrap_sat_fail=(WRAP | SAT | FAIL)] write_operation=(encoding_offset_value=(SET encoding offset:integer value:integer) | encoding_offset_increment=(INCRBY encoding offset:integer increment:integer))))]...", H::BitField),
    c("bitfield_ro", -2, RO | FAST, KEY1, G::Bitmap, "6.0.0", "O(1) for each subcommand specified", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", "key [encoding_offset=(GET encoding offset:integer)]...", H::BitFieldRo),
    c("bitop", -4, RW, KEYS_FROM_2, G::Bitmap, "2.6.0", "O(N)", "Perform bitwise operations between strings", "operation destkey key...", H::BitOp),
    c("bitpos", -3, RO, KEY1, G::Bitmap, "2.8.7", "O(N)", "Find first bit set or clear in a string", "key bit:integer [index=start:integer [end_index=end:integer [index_unit=BYTE | BIT]]]", H::BitPos),
    c("blmove", 6, RW | NOSCRIPT | BLOCKING, KEY1_2, G::List, "6.2.0", "O(1)", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "source destination wherefrom=LEFT | RIGHT whereto=LEFT | RIGHT timeout:double", H::BLMove),
    c("blmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, NUMKEYS, G::List, "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "timeout:double numkeys:integer key... where=LEFT | RIGHT [COUNT count:integer]", H::BLMPop),
    c("blpop", -3, WRITE | NOSCRIPT | BLOCKING, KEYS_BUT_LAST, G::List, "2.0.0", "O(N) where N is the number of provided keys.", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key... timeout:double", H::BLPop),
    c("brpop", -3, WRITE | NOSCRIPT | BLOCKING, KEYS_BUT_LAST, G::List, "2.0.0", "O(N) where N is the number of provided keys.", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key... timeout:double", H::BRPop),
    c("brpoplpush", 4, RW | NOSCRIPT | BLOCKING, KEY1_2, G::List, "2.2.0", "O(1)", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "source destination timeout:double", H::BRPopLPush),
    c("bzmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, NUMKEYS, G::SortedSet, "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "timeout:double numkeys:integer key... where=MIN | MAX [COUNT count:integer]", H::BZMPop),
    c("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, KEYS_BUT_LAST, G::SortedSet, "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "key... timeout:double", H::BZPopMax),
    c("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, KEYS_BUT_LAST, G::SortedSet, "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "key... timeout:double", H::BZPopMin),
    c("cl", -3, MOVABLEKEYS | SKIP_MONITOR | SKIP_SLOWLOG, NO_KEYS, G::Cluster, "0.1.0", "Depends on the wrapped command.", "Runs one command at the given consistency level (ringkv).", "level=(ONE | TWO | THREE | QUORUM | ALL | ANY) command arg...", H::Cl),
    container("client", -2, H::Container,
        G::Connection,
        "2.4.0",
        "A container for client connection commands.",
        &CLIENT_SUBCOMMANDS,
    ),
    container("cluster", -2, H::Container,
        G::Cluster,
        "0.1.0",
        "A container for ringkv cluster commands.",
        &CLUSTER_SUBCOMMANDS,
    ),
    // COMMAND alone lists every command, so it has flags of its own.
    CommandSpec {
        flags: LOADING | STALE,
        ..container("command", -1, H::Command,
            G::Server,
            "2.8.13",
            "Returns detailed information about all commands.",
            &COMMAND_SUBCOMMANDS,
        )
    },
    container("config", -2, H::Container,
        G::Server,
        "2.0.0",
        "A container for server configuration commands.",
        &CONFIG_SUBCOMMANDS,
    ),
    c("consistency", -1, NOSCRIPT | LOADING | STALE | FAST, NO_KEYS, G::Cluster, "0.1.0", "O(1)", "Shows or sets the connection's read and write consistency levels (ringkv).", "[level | [READ read-level] [WRITE write-level]]", H::Consistency),
    c("copy", -3, RW, KEY1_2, G::Generic, "6.2.0", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", "Copies the value of a key to a new key.", "source destination [DB destination-db:integer] [REPLACE]", H::Copy),
    c("dbsize", 1, RO | FAST, NO_KEYS, G::Server, "1.0.0", "O(N) where N is the number of keys in the database", "Returns the number of keys in the database.", "", H::DbSize),
    c("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED, NO_KEYS, G::Server, "1.0.0", "Depends on subcommand.", "A container for debugging commands.", "subcommand [arg...]", H::Debug),
    c("decr", 2, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", H::Decr),
    c("decrby", 3, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "key decrement:integer", H::DecrBy),
    c("del", -2, WRITE | CONCURRENT, ALL_KEYS, G::Generic, "1.0.0", "O(N) where N is the number of keys that will be removed.", "Deletes one or more keys.", "key...", H::Del),
    c("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, G::Transactions, "2.0.0", "O(N), when N is the number of queued commands", "Discards a transaction.", "", H::Discard),
    c("echo", 2, FAST | LOADING | STALE, NO_KEYS, G::Connection, "1.0.0", "O(1)", "Returns the given string.", "message", H::Echo),
    c("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, NO_KEYS, G::Transactions, "1.2.0", "Depends on commands in the transaction", "Executes all commands in a transaction.", "", H::Exec),
    c("exists", -2, RO | FAST | CONCURRENT, ALL_KEYS, G::Generic, "1.0.0", "O(N) where N is the number of keys to check.", "Determines whether one or more keys exist.", "key...", H::Exists),
    c("expire", -3, WRITE | FAST | CONCURRENT, KEY1, G::Generic, "1.0.0", "O(1)", "Sets the expiration time of a key in seconds.", "key seconds:integer condition=[NX | XX | GT | LT]", H::Expire),
    c("expireat", -3, WRITE | FAST, KEY1, G::Generic, "1.2.0", "O(1)", "Sets the expiration time of a key to a Unix timestamp.", "key unix-time-seconds:unix-time condition=[NX | XX | GT | LT]", H::ExpireAt),
    c("expiretime", 2, RO | FAST, KEY1, G::Generic, "7.0.0", "O(1)", "Returns the expiration time of a key as a Unix timestamp.", "key", H::ExpireTime),
    c("flushall", -1, WRITE, NO_KEYS, G::Server, "1.0.0", "O(1): the old data is reclaimed by compaction", "Removes all keys from all databases.", "flush-type=[ASYNC | SYNC]", H::FlushAll),
    c("flushdb", -1, WRITE, NO_KEYS, G::Server, "1.0.0", "O(1): the old data is reclaimed by compaction", "Remove all keys from the current database.", "flush-type=[ASYNC | SYNC]", H::FlushDb),
    container("function", -2, H::Container,
        G::Server,
        "7.0.0",
        "A container for function commands.",
        &FUNCTION_SUBCOMMANDS,
    ),
    c("get", 2, RO | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Returns the string value of a key.", "key", H::Get),
    c("getbit", 3, RO | FAST, KEY1, G::Bitmap, "2.2.0", "O(1)", "Returns the bit value at offset in the string value stored at key", "key offset:integer", H::GetBit),
    c("getdel", 2, WRITE | FAST | CONCURRENT, KEY1, G::String, "6.2.0", "O(1)", "Returns the string value of a key after deleting the key.", "key", H::GetDel),
    c("getex", -2, WRITE | FAST, KEY1, G::String, "6.2.0", "O(1)", "Returns the string value of a key after setting its expiration time.", "key expiration=[EX seconds:integer | PX milliseconds:integer | EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time | PERSIST]", H::GetEx),
    c("getrange", 4, RO, KEY1, G::String, "2.4.0", "O(N) where N is the length of the returned string.", "Returns a substring of the string stored at a key.", "key start:integer end:integer", H::GetRange),
    c("getset", 3, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Returns the previous string value of a key after setting it to a new value.", "key value", H::GetSet),
    c("hdel", -3, WRITE | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(N) where N is the number of fields to be removed.", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "key field...", H::HDel),
    c("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, G::Connection, "6.0.0", "O(1)", "Handshakes with the server.", "[protover:integer [AUTH username password] [SETNAME clientname]]", H::Hello),
    c("hexists", 3, RO | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1)", "Determines whether a field exists in a hash.", "key field", H::HExists),
    c("hget", 3, RO | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1)", "Returns the value of a field in a hash.", "key field", H::HGet),
    c("hgetall", 2, RO | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(N) where N is the size of the hash.", "Returns all fields and values in a hash.", "key", H::HGetAll),
    c("hincrby", 4, RW | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1)", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment:integer", H::HIncrBy),
    c("hincrbyfloat", 4, RW | FAST | CONCURRENT, KEY1, G::Hash, "2.6.0", "O(1)", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment:double", H::HIncrByFloat),
    c("hkeys", 2, RO, KEY1, G::Hash, "2.0.0", "O(N) where N is the size of the hash.", "Returns all fields in a hash.", "key", H::HKeys),
    c("hlen", 2, RO | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1)", "Returns the number of fields in a hash.", "key", H::HLen),
    c("hmget", -3, RO | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(N) where N is the number of fields being requested.", "Returns the values of all fields in a hash.", "key field...", H::HMGet),
    c("hmset", -4, RW | FAST, KEY1, G::Hash, "2.0.0", "O(N) where N is the number of fields being set.", "Sets the values of multiple fields.", "key (field value)...", H::HMSet),
    c("hrandfield", -2, RO, KEY1, G::Hash, "6.2.0", "O(N) where N is the number of fields returned", "Returns one or more random fields from a hash.", "key [options=count:integer [WITHVALUES]]", H::HRandField),
    c("hscan", -3, RO, KEY1, G::Hash, "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", "Iterates over fields and values of a hash.", "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]", H::HScan),
    c("hset", -4, RW | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", "Creates or modifies the value of a field in a hash.", "key (field value)...", H::HSet),
    c("hsetnx", 4, RW | FAST | CONCURRENT, KEY1, G::Hash, "2.0.0", "O(1)", "Sets the value of a field in a hash only when the field doesn't exist.", "key field value", H::HSetNx),
    c("hstrlen", 3, RO | FAST | CONCURRENT, KEY1, G::Hash, "3.2.0", "O(1)", "Returns the length of the value of a field.", "key field", H::HStrLen),
    c("hvals", 2, RO, KEY1, G::Hash, "2.0.0", "O(N) where N is the size of the hash.", "Returns all values in a hash.", "key", H::HVals),
    c("incr", 2, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", H::Incr),
    c("incrby", 3, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment:integer", H::IncrBy),
    c("incrbyfloat", 3, RW | FAST | CONCURRENT, KEY1, G::String, "2.6.0", "O(1)", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment:double", H::IncrByFloat),
    c("info", -1, LOADING | STALE, NO_KEYS, G::Server, "1.0.0", "O(1)", "Returns information and statistics about the server.", "[section...]", H::Info),
    c("keys", 2, RO, NO_KEYS, G::Generic, "1.0.0", "O(N) with N being the number of keys in the database", "Returns all key names that match a pattern.", "pattern:pattern", H::Keys),
    c("lastsave", 1, LOADING | STALE | FAST, NO_KEYS, G::Server, "1.0.0", "O(1)", "Returns the Unix timestamp of the last successful save to disk.", "", H::LastSave),
    container("latency", -2, H::Container, G::Server, "2.8.13", "A container for latency diagnostics commands.", &LATENCY_SUBCOMMANDS),
    c("lcs", -3, RO, KEY1_2, G::String, "7.0.0", "O(N*M) where N and M are the lengths of s1 and s2, respectively", "Find longest common substring", "key1:key key2:key [LEN] [IDX] [MINMATCHLEN len:integer] [WITHMATCHLEN]", H::Lcs),
    c("lindex", 3, RO | CONCURRENT, KEY1, G::List, "1.0.0", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", "Returns an element from a list by its index.", "key index:integer", H::LIndex),
    c("linsert", 5, RW, KEY1, G::List, "2.2.0", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", "Inserts an element before or after another element in a list.", "key where=BEFORE | AFTER pivot element", H::LInsert),
    c("llen", 2, RO | FAST | CONCURRENT, KEY1, G::List, "1.0.0", "O(1)", "Returns the length of a list.", "key", H::LLen),
    c("lmove", 5, RW, KEY1_2, G::List, "6.2.0", "O(1)", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "source destination wherefrom=LEFT | RIGHT whereto=LEFT | RIGHT", H::LMove),
    c("lmpop", -4, WRITE | MOVABLEKEYS, NUMKEYS, G::List, "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "numkeys:integer key... where=LEFT | RIGHT [COUNT count:integer]", H::LMPop),
    c("lolwut", -1, RO | FAST, NO_KEYS, G::Server, "5.0.0", "O(1)", "Displays computer art and the Redis version", "[VERSION version:integer]", H::Lolwut),
    c("lpop", -2, WRITE | FAST | CONCURRENT, KEY1, G::List, "1.0.0", "O(N) where N is the number of elements returned", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count:integer]", H::LPop),
    c("lpos", -3, RO, KEY1, G::List, "6.0.6", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", "Returns the index of matching elements in a list.", "key element [RANK rank:integer] [COUNT num-matches:integer] [MAXLEN len:integer]", H::LPos),
    c("lpush", -3, RW | FAST | CONCURRENT, KEY1, G::List, "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element...", H::LPush),
    c("lpushx", -3, RW | FAST, KEY1, G::List, "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Prepends one or more elements to a list only when the list exists.", "key element...", H::LPushX),
    c("lrange", 4, RO | CONCURRENT, KEY1, G::List, "1.0.0", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", "Returns a range of elements from a list.", "key start:integer stop:integer", H::LRange),
    c("lrem", 4, WRITE, KEY1, G::List, "1.0.0", "O(N+M) where N is the length of the list and M is the number of elements removed.", "Removes elements from a list. Deletes the list if the last element was removed.", "key count:integer element", H::LRem),
    c("lset", 4, RW, KEY1, G::List, "1.0.0", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", "Sets the value of an element in a list by its index.", "key index:integer element", H::LSet),
    c("ltrim", 4, WRITE, KEY1, G::List, "1.0.0", "O(N) where N is the number of elements to be removed by the operation.", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "key start:integer stop:integer", H::LTrim),
    container("memory", -2, H::Container,
        G::Server,
        "4.0.0",
        "A container for memory diagnostics commands.",
        &MEMORY_SUBCOMMANDS,
    ),
    c("mget", -2, RO | FAST, ALL_KEYS, G::String, "1.0.0", "O(N) where N is the number of keys to retrieve.", "Atomically returns the string values of one or more keys.", "key...", H::MGet),
    c("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "1.0.0", "", "Listens for all requests received by the server in real-time.", "", H::Monitor),
    c("move", 3, WRITE | FAST, KEY1, G::Generic, "1.0.0", "O(1)", "Moves a key to another database.", "key db:integer", H::Move),
    c("mset", -3, RW, KEY_PAIRS, G::String, "1.0.1", "O(N) where N is the number of keys to set.", "Atomically creates or modifies the string values of one or more keys.", "(key value)...", H::MSet),
    c("msetnx", -3, RW, KEY_PAIRS, G::String, "1.0.1", "O(N) where N is the number of keys to set.", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "(key value)...", H::MSetNx),
    c("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, G::Transactions, "1.2.0", "O(1)", "Starts a transaction.", "", H::Multi),
    container("object", -2, H::Container,
        G::Generic,
        "2.2.3",
        "A container for object introspection commands.",
        &OBJECT_SUBCOMMANDS,
    ),
    c("persist", 2, WRITE | FAST | CONCURRENT, KEY1, G::Generic, "2.2.0", "O(1)", "Removes the expiration time of a key.", "key", H::Persist),
    c("pexpire", -3, WRITE | FAST | CONCURRENT, KEY1, G::Generic, "2.6.0", "O(1)", "Sets the expiration time of a key in milliseconds.", "key milliseconds:integer condition=[NX | XX | GT | LT]", H::PExpire),
    c("pexpireat", -3, WRITE | FAST, KEY1, G::Generic, "2.6.0", "O(1)", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "key unix-time-milliseconds:unix-time condition=[NX | XX | GT | LT]", H::PExpireAt),
    c("pexpiretime", 2, RO | FAST, KEY1, G::Generic, "7.0.0", "O(1)", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key", H::PExpireTime),
    c("pfadd", -2, RW | FAST | CONCURRENT, KEY1, G::HyperLogLog, "2.8.9", "O(1) to add every element.", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "key [element...]", H::PfAdd),
    c("pfcount", -2, RO | CONCURRENT, ALL_KEYS, G::HyperLogLog, "2.8.9", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "key...", H::PfCount),
    c("pfmerge", -2, RW, ALL_KEYS, G::HyperLogLog, "2.8.9", "O(N) to merge N HyperLogLogs, but with high constant times.", "Merges one or more HyperLogLog values into a single key.", "destkey:key [sourcekey:key...]", H::PfMerge),
    c("ping", -1, FAST, NO_KEYS, G::Connection, "1.0.0", "O(1)", "Returns the server's liveliness response.", "[message]", H::Ping),
    c("psetex", 4, RW | CONCURRENT, KEY1, G::String, "2.6.0", "O(1)", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "key milliseconds:integer value", H::PSetEx),
    c("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "2.0.0", "O(N) where N is the number of patterns to subscribe to.", "Listens for messages published to channels that match one or more patterns.", "pattern:pattern...", H::PSubscribe),
    c("pttl", 2, RO | FAST | CONCURRENT, KEY1, G::Generic, "2.6.0", "O(1)", "Returns the expiration time in milliseconds of a key.", "key", H::PTtl),
    c("publish", 3, PUBSUB | LOADING | STALE | FAST, NO_KEYS, G::PubSub, "2.0.0", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", "Posts a message to a channel.", "channel message", H::Publish),
    container("pubsub", -2, H::Container,
        G::PubSub,
        "2.8.0",
        "A container for Pub/Sub commands.",
        &PUBSUB_SUBCOMMANDS,
    ),
    c("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "2.0.0", "O(N) where N is the number of patterns to unsubscribe.", "Stops listening to messages published to channels that match one or more patterns.", "[pattern:pattern...]", H::PUnsubscribe),
    c("quit", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, G::Connection, "1.0.0", "O(1)", "Closes the connection.", "", H::Quit),
    c("randomkey", 1, RO, NO_KEYS, G::Generic, "1.0.0", "O(1)", "Returns a random key name from the database.", "", H::RandomKey),
    c("rename", 3, WRITE, KEY1_2, G::Generic, "1.0.0", "O(1)", "Renames a key and overwrites the destination.", "key newkey", H::Rename),
    c("renamenx", 3, WRITE | FAST, KEY1_2, G::Generic, "1.0.0", "O(1)", "Renames a key only when the target key name doesn't exist.", "key newkey", H::RenameNx),
    c("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, G::Connection, "6.2.0", "O(1)", "Resets the connection.", "", H::Reset),
    c("role", 1, NOSCRIPT | LOADING | STALE | FAST, NO_KEYS, G::Server, "2.8.12", "O(1)", "Returns the replication role.", "", H::Role),
    c("rpop", -2, WRITE | FAST | CONCURRENT, KEY1, G::List, "1.0.0", "O(N) where N is the number of elements returned", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "key [count:integer]", H::RPop),
    c("rpoplpush", 3, RW, KEY1_2, G::List, "1.2.0", "O(1)", "Returns the last element of a list after removing and pushing it to another list. Deletes the source list if the last element was popped.", "source destination", H::RPopLPush),
    c("rpush", -3, RW | FAST | CONCURRENT, KEY1, G::List, "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element...", H::RPush),
    c("rpushx", -3, RW | FAST, KEY1, G::List, "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Appends an element to a list only when the list exists.", "key element...", H::RPushX),
    c("sadd", -3, RW | FAST | CONCURRENT, KEY1, G::Set, "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member...", H::SAdd),
    c("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, NO_KEYS, G::Server, "1.0.0", "O(N) where N is the size of the memtable", "Flushes the memtable to SSTables and fsyncs.", "", H::Save),
    c("scan", -2, RO, NO_KEYS, G::Generic, "2.8.0", "O(1) for every call. O(N) for a complete iteration.", "Iterates over the key names in the database.", "cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [TYPE type]", H::Scan),
    c("scard", 2, RO | FAST | CONCURRENT, KEY1, G::Set, "1.0.0", "O(1)", "Returns the number of members in a set.", "key", H::SCard),
    c("sdiff", -2, RO, ALL_KEYS, G::Set, "1.0.0", "O(N) where N is the total number of elements in all given sets.", "Returns the difference of multiple sets.", "key...", H::SDiff),
    c("sdiffstore", -3, RW, ALL_KEYS, G::Set, "1.0.0", "O(N) where N is the total number of elements in all given sets.", "Stores the difference of multiple sets in a key.", "destination key...", H::SDiffStore),
    c("select", 2, LOADING | STALE | FAST, NO_KEYS, G::Connection, "1.0.0", "O(1)", "Changes the selected database.", "index:integer", H::Select),
    c("set", -3, RW | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "key value condition=[NX | XX] [GET] expiration=[EX seconds:integer | PX milliseconds:integer | EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time | KEEPTTL]", H::Set),
    c("setbit", 4, RW, KEY1, G::Bitmap, "2.2.0", "O(1)", "Sets or clears the bit at offset in the string value stored at key", "key offset:integer value:integer", H::SetBit),
    c("setex", 4, RW | CONCURRENT, KEY1, G::String, "2.0.0", "O(1)", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "key seconds:integer value", H::SetEx),
    c("setnx", 3, RW | FAST | CONCURRENT, KEY1, G::String, "1.0.0", "O(1)", "Set the string value of a key only when the key doesn't exist.", "key value", H::SetNx),
    c("setrange", 4, RW, KEY1, G::String, "2.2.0", "O(1), not counting the time taken to copy the new string in place.", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset:integer value", H::SetRange),
    c("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, NO_KEYS, G::Server, "1.0.0", "O(1)", "Synchronously flushes the write-ahead log and shuts down the server.", "save-selector=[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]", H::Shutdown),
    c("sinter", -2, RO, ALL_KEYS, G::Set, "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Returns the intersect of multiple sets.", "key...", H::SInter),
    c("sintercard", -3, RO | MOVABLEKEYS, NUMKEYS, G::Set, "7.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Returns the number of members of the intersect of multiple sets.", "numkeys:integer key... [LIMIT limit:integer]", H::SInterCard),
    c("sinterstore", -3, RW, ALL_KEYS, G::Set, "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "Stores the intersect of multiple sets in a key.", "destination key...", H::SInterStore),
    c("sismember", 3, RO | FAST | CONCURRENT, KEY1, G::Set, "1.0.0", "O(1)", "Determines whether a member belongs to a set.", "key member", H::SIsMember),
    container("slowlog", -2, H::Container,
        G::Server,
        "2.2.12",
        "A container for slow log commands.",
        &SLOWLOG_SUBCOMMANDS,
    ),
    c("smembers", 2, RO | CONCURRENT, KEY1, G::Set, "1.0.0", "O(N) where N is the set cardinality.", "Returns all members of a set.", "key", H::SMembers),
    c("smismember", -3, RO | FAST | CONCURRENT, KEY1, G::Set, "6.2.0", "O(N) where N is the number of elements being checked for membership", "Determines whether multiple members belong to a set.", "key member...", H::SMIsMember),
    c("smove", 4, WRITE | FAST, KEY1_2, G::Set, "1.0.0", "O(1)", "Moves a member from one set to another.", "source destination member", H::SMove),
    c("sort", -2, RW | MOVABLEKEYS, KEY1, G::Generic, "1.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set", "key [BY pattern] [LIMIT offset:integer count:integer] [GET pattern]... [order=(ASC | DESC)] [sorting=ALPHA] [STORE destination:key]", H::Sort),
    c("sort_ro", -2, RO | MOVABLEKEYS, KEY1, G::Generic, "7.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "key [BY pattern] [LIMIT offset:integer count:integer] [GET pattern]... [order=(ASC | DESC)] [sorting=ALPHA]", H::SortRo),
    c("spop", -2, WRITE | FAST, KEY1, G::Set, "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "key [count:integer]", H::SPop),
    c("spublish", 3, PUBSUB | LOADING | STALE | FAST, NO_KEYS, G::PubSub, "7.0.0", "O(N) where N is the number of clients subscribed to the receiving shard channel.", "Post a message to a shard channel", "shardchannel message", H::SPublish),
    c("srandmember", -2, RO, KEY1, G::Set, "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", "Get one or multiple random members from a set", "key [count:integer]", H::SRandMember),
    c("srem", -3, WRITE | FAST | CONCURRENT, KEY1, G::Set, "1.0.0", "O(N) where N is the number of members to be removed.", "Removes one or more members from a set. Deletes the set if the last member was removed.", "key member...", H::SRem),
    c("sscan", -3, RO, KEY1, G::Set, "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", "Iterates over members of a set.", "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]", H::SScan),
    c("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "7.0.0", "O(N) where N is the number of shard channels to subscribe to.", "Listens for messages published to shard channels.", "shardchannel...", H::SSubscribe),
    c("strlen", 2, RO | FAST | CONCURRENT, KEY1, G::String, "2.2.0", "O(1)", "Returns the length of a string value.", "key", H::StrLen),
    c("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "2.0.0", "O(N) where N is the number of channels to subscribe to.", "Listens for messages published to channels.", "channel...", H::Subscribe),
    c("substr", 4, RO, KEY1, G::String, "1.0.0", "O(N) where N is the length of the returned string.", "Returns a substring from a string value.", "key start:integer end:integer", H::GetRange),
    c("sunion", -2, RO, ALL_KEYS, G::Set, "1.0.0", "O(N) where N is the total number of elements in all given sets.", "Returns the union of multiple sets.", "key...", H::SUnion),
    c("sunionstore", -3, RW, ALL_KEYS, G::Set, "1.0.0", "O(N) where N is the total number of elements in all given sets.", "Stores the union of multiple sets in a key.", "destination key...", H::SUnionStore),
    c("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "7.0.0", "O(N) where N is the number of shard channels to unsubscribe.", "Stops listening to messages posted to shard channels.", "[shardchannel...]", H::SUnsubscribe),
    c("swapdb", 3, WRITE | FAST, NO_KEYS, G::Server, "4.0.0", "O(N) where N is the count of clients watching or blocking on keys from both databases.", "Swaps two Redis databases", "index1:integer index2:integer", H::SwapDb),
    c("time", 1, LOADING | STALE | FAST, NO_KEYS, G::Server, "2.6.0", "O(1)", "Returns the server time.", "", H::Time),
    c("touch", -2, RO | FAST, ALL_KEYS, G::Generic, "3.2.1", "O(N) where N is the number of keys that will be touched.", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key...", H::Touch),
    c("ttl", 2, RO | FAST | CONCURRENT, KEY1, G::Generic, "1.0.0", "O(1)", "Returns the expiration time in seconds of a key.", "key", H::Ttl),
    c("type", 2, RO | FAST | CONCURRENT, KEY1, G::Generic, "1.0.0", "O(1)", "Determines the type of value stored at a key.", "key", H::Type),
    c("unlink", -2, WRITE | FAST | CONCURRENT, ALL_KEYS, G::Generic, "4.0.0", "O(1) for each key removed regardless of its size.", "Asynchronously deletes one or more keys.", "key...", H::Del),
    c("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, G::PubSub, "2.0.0", "O(N) where N is the number of channels to unsubscribe.", "Stops listening to messages posted to channels.", "[channel...]", H::Unsubscribe),
    c("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, G::Transactions, "2.2.0", "O(1)", "Forgets about watched keys of a transaction.", "", H::Unwatch),
    c("vget", 2, RO, KEY1, G::Cluster, "0.1.0", "O(1)", "Returns every sibling of a key and the causal context covering them (ringkv).", "key", H::VGet),
    c("vset", -3, RW, KEY1, G::Cluster, "0.1.0", "O(1)", "Writes a value that supersedes the siblings a causal context has seen (ringkv).", "key value [CONTEXT context] [expiration=EX seconds:integer | PX milliseconds:integer]", H::VSet),
    c("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, ALL_KEYS, G::Transactions, "2.2.0", "O(1) for every key.", "Monitors changes to keys to determine the execution of a transaction.", "key...", H::Watch),
    c("zadd", -4, RW | FAST | CONCURRENT, KEY1, G::SortedSet, "1.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "key [condition=NX | XX] [comparison=GT | LT] [CH] [INCR] (score:double member)...", H::ZAdd),
    c("zcard", 2, RO | FAST | CONCURRENT, KEY1, G::SortedSet, "1.2.0", "O(1)", "Returns the number of members in a sorted set.", "key", H::ZCard),
    c("zcount", 4, RO | FAST, KEY1, G::SortedSet, "2.0.0", "O(log(N)) with N being the number of elements in the sorted set.", "Returns the count of members in a sorted set that have scores within a range.", "key min:double max:double", H::ZCount),
    c("zdiff", -3, RO | MOVABLEKEYS, NUMKEYS, G::SortedSet, "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "Returns the difference between multiple sorted sets.", "numkeys:integer key... [WITHSCORES]", H::ZDiff),
    c("zdiffstore", -4, RW | MOVABLEKEYS, KEY1, G::SortedSet, "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "Stores the difference of multiple sorted sets in a key.", "destination numkeys:integer key...", H::ZDiffStore),
    c("zincrby", 4, RW | FAST | CONCURRENT, KEY1, G::SortedSet, "1.2.0", "O(log(N)) where N is the number of elements in the sorted set.", "Increments the score of a member in a sorted set.", "key increment:double member", H::ZIncrBy),
    c("zinter", -3, RO | MOVABLEKEYS, NUMKEYS, G::SortedSet, "6.2.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "Returns the intersect of multiple sorted sets.", "numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE aggregate=SUM | MIN | MAX] [WITHSCORES]", H::ZInter),
    c("zintercard", -3, RO | MOVABLEKEYS, NUMKEYS, G::SortedSet, "7.0.0", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", "Returns the number of members of the intersect of multiple sorted sets.", "numkeys:integer key... [LIMIT limit:integer]", H::ZInterCard),
    c("zinterstore", -4, RW | MOVABLEKEYS, KEY1, G::SortedSet, "2.0.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "Stores the intersect of multiple sorted sets in a key.", "destination numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE aggregate=SUM | MIN | MAX]", H::ZInterStore),
    c("zlexcount", 4, RO | FAST, KEY1, G::SortedSet, "2.8.9", "O(log(N)) with N being the number of elements in the sorted set.", "Returns the number of members in a sorted set within a lexicographical range.", "key min max", H::ZLexCount),
    c("zmpop", -4, WRITE | MOVABLEKEYS, NUMKEYS, G::SortedSet, "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "numkeys:integer key... where=MIN | MAX [COUNT count:integer]", H::ZMPop),
    c("zmscore", -3, RO | FAST, KEY1, G::SortedSet, "6.2.0", "O(N) where N is the number of members being requested.", "Returns the score of one or more members in a sorted set.", "key member...", H::ZMScore),
    c("zpopmax", -2, WRITE | FAST, KEY1, G::SortedSet, "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]", H::ZPopMax),
    c("zpopmin", -2, WRITE | FAST, KEY1, G::SortedSet, "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count:integer]", H::ZPopMin),
    c("zrandmember", -2, RO, KEY1, G::SortedSet, "6.2.0", "O(N) where N is the number of members returned", "Returns one or more random members from a sorted set.", "key [options=count:integer [WITHSCORES]]", H::ZRandMember),
    c("zrange", -4, RO, KEY1, G::SortedSet, "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "Returns members in a sorted set within a range of indexes.", "key start stop [sortby=BYSCORE | BYLEX] [REV] [LIMIT offset:integer count:integer] [WITHSCORES]", H::ZRange),
    c("zrangebylex", -4, RO, KEY1, G::SortedSet, "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "Returns members in a sorted set within a lexicographical range.", "key min max [LIMIT offset:integer count:integer]", H::ZRangeByLex),
    c("zrangebyscore", -4, RO, KEY1, G::SortedSet, "1.0.5", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "Returns members in a sorted set within a range of scores.", "key min:double max:double [WITHSCORES] [LIMIT offset:integer count:integer]", H::ZRangeByScore),
    c("zrangestore", -5, RW, KEY1_2, G::SortedSet, "6.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", "Stores a range of members from sorted set in a key.", "dst:key src:key min max [sortby=BYSCORE | BYLEX] [REV] [LIMIT offset:integer count:integer]", H::ZRangeStore),
    c("zrank", 3, RO | FAST | CONCURRENT, KEY1, G::SortedSet, "2.0.0", "O(log(N))", "Returns the index of a member in a sorted set ordered by ascending scores.", "key member", H::ZRank),
    c("zrem", -3, WRITE | FAST | CONCURRENT, KEY1, G::SortedSet, "1.2.0", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "key member...", H::ZRem),
    c("zremrangebylex", 4, WRITE, KEY1, G::SortedSet, "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "key min max", H::ZRemRangeByLex),
    c("zremrangebyrank", 4, WRITE, KEY1, G::SortedSet, "2.0.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "key start:integer stop:integer", H::ZRemRangeByRank),
    c("zremrangebyscore", 4, WRITE, KEY1, G::SortedSet, "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "key min:double max:double", H::ZRemRangeByScore),
    c("zrevrange", -4, RO, KEY1, G::SortedSet, "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "Returns members in a sorted set within a range of indexes in reverse order.", "key start:integer stop:integer [WITHSCORES]", H::ZRevRange),
    c("zrevrangebylex", -4, RO, KEY1, G::SortedSet, "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "Returns members in a sorted set within a lexicographical range in reverse order.", "key max min [LIMIT offset:integer count:integer]", H::ZRevRangeByLex),
    c("zrevrangebyscore", -4, RO, KEY1, G::SortedSet, "2.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "Returns members in a sorted set within a range of scores in reverse order.", "key max:double min:double [WITHSCORES] [LIMIT offset:integer count:integer]", H::ZRevRangeByScore),
    c("zrevrank", 3, RO | FAST, KEY1, G::SortedSet, "2.0.0", "O(log(N))", "Returns the index of a member in a sorted set ordered by descending scores.", "key member", H::ZRevRank),
    c("zscan", -3, RO, KEY1, G::SortedSet, "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", "Iterates over members and scores of a sorted set.", "key cursor:integer [MATCH pattern:pattern] [COUNT count:integer]", H::ZScan),
    c("zscore", 3, RO | FAST | CONCURRENT, KEY1, G::SortedSet, "1.2.0", "O(1)", "Returns the score of a member in a sorted set.", "key member", H::ZScore),
    c("zunion", -3, RO | MOVABLEKEYS, NUMKEYS, G::SortedSet, "6.2.0", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "Returns the union of multiple sorted sets.", "numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE aggregate=SUM | MIN | MAX] [WITHSCORES]", H::ZUnion),
    c("zunionstore", -4, RW | MOVABLEKEYS, KEY1, G::SortedSet, "2.0.0", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "Stores the union of multiple sorted sets in a key.", "destination numkeys:integer key... [WEIGHTS weight:integer...] [AGGREGATE aggregate=SUM | MIN | MAX]", H::ZUnionStore),
];

/// Longest command name [`lookup`] can find.
const NAME_MAX: usize = 32;

/// An empty slot of [`name_slots`].
const NO_COMMAND: u16 = u16::MAX;

/// FNV-1a, folding `byte` into `hash`.
fn fold_name_byte(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
}

const NAME_HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Every top-level command's index in [`COMMANDS`], in an open-addressing
/// table keyed by the FNV-1a hash of its lower-case name (a quarter full,
/// linear probing), built once. A lookup hashes the name while folding its
/// case and compares one or two names: under pipelined GETs a binary
/// search over the names (two per command: the key-run check and the
/// dispatch) was 8% of the server's CPU, most of it `memcmp` at each step.
fn name_slots() -> &'static [u16] {
    static SLOTS: OnceLock<Box<[u16]>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let mut slots = vec![NO_COMMAND; (COMMANDS.len() * 4).next_power_of_two()];
        let mask = slots.len() - 1;
        for (index, spec) in COMMANDS.iter().enumerate() {
            let hash = spec.name.bytes().fold(NAME_HASH_START, fold_name_byte);
            let mut at = hash as usize & mask;
            while slots.get(at).is_some_and(|s| *s != NO_COMMAND) {
                at = (at + 1) & mask;
            }
            if let (Some(slot), Ok(index)) = (slots.get_mut(at), u16::try_from(index)) {
                *slot = index;
            }
        }
        slots.into_boxed_slice()
    })
}

/// The top-level command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut lower = [0u8; NAME_MAX];
    let lower = lower.get_mut(..name.len())?;
    let mut hash = NAME_HASH_START;
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
        hash = fold_name_byte(hash, *to);
    }
    let slots = name_slots();
    let mask = slots.len() - 1;
    let mut at = hash as usize & mask;
    loop {
        let spec = COMMANDS.get(usize::from(*slots.get(at)?))?;
        if spec.name.as_bytes() == &*lower {
            return Some(spec);
        }
        at = (at + 1) & mask;
    }
}

/// The full name of a (sub)command as Redis prints it: `get`, `client|list`.
pub fn fullname(parent: Option<&CommandSpec>, spec: &CommandSpec) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_lookup_works() {
        for spec in COMMANDS {
            assert!(
                spec.name.len() <= NAME_MAX,
                "{} is longer than lookup's buffer",
                spec.name
            );
            let upper = spec.name.to_ascii_uppercase();
            assert!(std::ptr::eq(lookup(upper.as_bytes()).expect("found"), spec));
        }
        assert!(lookup(&[b'g'; 40]).is_none());
        for pair in COMMANDS.windows(2) {
            if let [a, b] = pair {
                assert!(a.name < b.name, "{} must sort before {}", a.name, b.name);
            }
        }
        for spec in COMMANDS {
            assert!(std::ptr::eq(
                lookup(spec.name.to_uppercase().as_bytes()).unwrap(),
                spec
            ));
        }
        assert!(lookup(b"nosuchcommand").is_none());
        // Neither a name with a NUL, nor a prefix, nor a longer name matches.
        assert!(lookup(b"get\0").is_none());
        assert!(lookup(b"ge").is_none());
        assert!(lookup(b"").is_none());
        assert!(lookup(&[b'g'; NAME_MAX + 1]).is_none());
    }

    #[test]
    fn arity_follows_redis_rules() {
        let get = lookup(b"get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let set = lookup(b"set").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(9) && !set.arity_ok(2));
    }
}
