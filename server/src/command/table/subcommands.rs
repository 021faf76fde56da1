//! The subcommands of container commands (OBJECT, MEMORY, SLOWLOG, PUBSUB,
//! CLIENT, COMMAND, CLUSTER, CONFIG, FUNCTION), in the same row format as
//! the top-level table.

use super::*;

#[rustfmt::skip]
pub(super) static OBJECT_SUBCOMMANDS: [CommandSpec; 5] = [ c("encoding", 3, RO, KEY2, G::Generic, "2.2.3", "O(1)", "Returns the internal encoding of a value.", "key", H::ObjectEncoding),
    c("freq", 3, RO, KEY2, G::Generic, "4.0.0", "O(1)", "Returns the logarithmic access frequency counter of a value.", "key", H::ObjectFreq),
    c("idletime", 3, RO, KEY2, G::Generic, "2.2.3", "O(1)", "Returns the time since the last access to a value.", "key", H::ObjectIdletime),
    c("refcount", 3, RO, KEY2, G::Generic, "2.2.3", "O(1)", "Returns the reference count of a value.", "key", H::ObjectRefcount),
    help("Returns helpful text about the OBJECT subcommands."),
];

#[rustfmt::skip]
pub(super) static MEMORY_SUBCOMMANDS: [CommandSpec; 5] = [
    c("doctor", 2, 0, NO_KEYS, G::Server, "4.0.0", "O(1)", "Outputs a memory problems report.", "", H::MemoryDoctor),
    c("malloc-stats", 2, 0, NO_KEYS, G::Server, "4.0.0", "Depends on how much memory is allocated, could be slow", "Returns the allocator statistics.", "", H::MemoryMallocStats),
    c("stats", 2, 0, NO_KEYS, G::Server, "4.0.0", "O(1)", "Returns details about memory usage.", "", H::MemoryStats),
    c("usage", -3, RO, KEY2, G::Server, "4.0.0", "O(N) where N is the number of samples.", "Estimates the memory usage of a key.", "key [SAMPLES count:integer]", H::MemoryUsage),
    help("Returns helpful text about the MEMORY subcommands."),
];

#[rustfmt::skip]
pub(super) static LATENCY_SUBCOMMANDS: [CommandSpec; 6] = [
    c("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(1)", "Returns a human-readable latency analysis report.", "", H::LatencyDoctor),
    c("histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the number of commands with latency information being retrieved.", "Returns the cumulative distribution of latencies of a subset or all commands.", "[command...]", H::LatencyHistogram),
    c("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(1)", "Returns timestamp-latency samples for an event.", "event", H::LatencyHistory),
    c("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(1)", "Returns the latest latency samples for all events.", "", H::LatencyLatest),
    c("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(1)", "Resets the latency data for one or more events.", "[event...]", H::LatencyReset),
    help("Returns helpful text about the different subcommands."),
];

#[rustfmt::skip]
pub(super) static SLOWLOG_SUBCOMMANDS: [CommandSpec; 4] = [
    c("get", -2, ADMIN | LOADING | STALE, NO_KEYS, G::Server, "2.2.12", "O(N) where N is the number of entries returned", "Returns the slow log's entries.", "[count:integer]", H::SlowlogGet),
    c("len", 2, ADMIN | LOADING | STALE, NO_KEYS, G::Server, "2.2.12", "O(1)", "Returns the number of entries in the slow log.", "", H::SlowlogLen),
    c("reset", 2, ADMIN | LOADING | STALE, NO_KEYS, G::Server, "2.2.12", "O(N) where N is the number of entries in the slowlog", "Clears all entries from the slow log.", "", H::SlowlogReset),
    help("Show helpful text about the different subcommands"),
];

#[rustfmt::skip]
pub(super) static PUBSUB_SUBCOMMANDS: [CommandSpec; 6] = [
    c("channels", -2, PUBSUB | LOADING | STALE, NO_KEYS, G::PubSub, "2.8.0", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", "Returns the active channels.", "[pattern:pattern]", H::PubSubChannels),
    c("numpat", 2, PUBSUB | LOADING | STALE, NO_KEYS, G::PubSub, "2.8.0", "O(1)", "Returns a count of unique pattern subscriptions.", "", H::PubSubNumPat),
    c("numsub", -2, PUBSUB | LOADING | STALE, NO_KEYS, G::PubSub, "2.8.0", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", "Returns a count of subscribers to channels.", "[channel...]", H::PubSubNumSub),
    c("shardchannels", -2, PUBSUB | LOADING | STALE, NO_KEYS, G::PubSub, "7.0.0", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", "Returns the active shard channels.", "[pattern:pattern]", H::PubSubShardChannels),
    c("shardnumsub", -2, PUBSUB | LOADING | STALE, NO_KEYS, G::PubSub, "7.0.0", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", "Returns the count of subscribers of shard channels.", "[shardchannel...]", H::PubSubShardNumSub),
    help("Returns helpful text about the PUBSUB subcommands."),
];

#[rustfmt::skip]
pub(super) static CLIENT_SUBCOMMANDS: [CommandSpec; 13] = [
    c("id", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "5.0.0", "O(1)", "Returns the unique client ID of the connection.", "", H::ClientId),
    c("setname", 3, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "2.6.9", "O(1)", "Sets the connection name.", "connection-name", H::ClientSetName),
    c("getname", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "2.6.9", "O(1)", "Returns the name of the connection.", "", H::ClientGetName),
    c("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "2.4.0", "O(N) where N is the number of client connections", "Lists open connections.", "[TYPE client-type=(NORMAL | MASTER | REPLICA | PUBSUB)] [ID client-id:integer...]", H::ClientList),
    c("info", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "6.2.0", "O(1)", "Returns information about the connection.", "", H::ClientInfo),
    c("setinfo", 4, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "7.2.0", "O(1)", "Sets information specific to the client or connection.", "attr=(LIB-NAME libname | LIB-VER libver)", H::ClientSetInfo),
    c("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "2.4.0", "O(N) where N is the number of client connections", "Terminates open connections.", "filter=(old-format | new-format=([ID client-id:integer] [TYPE client-type=(NORMAL | MASTER | SLAVE | REPLICA | PUBSUB)] [USER username] [ADDR ip-port] [LADDR ip-port] [SKIPME yes/no=(YES | NO)])...)", H::ClientKill),
    c("unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "5.0.0", "O(log N) where N is the number of client connections", "Unblocks a client blocked by a blocking command from a different connection.", "client-id:integer [unblock-type=TIMEOUT | ERROR]", H::ClientUnblock),
    c("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "3.0.0", "O(1)", "Suspends commands processing.", "timeout:integer [mode=WRITE | ALL]", H::ClientPause),
    c("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "6.2.0", "O(N) Where N is the number of paused clients", "Resumes processing of clients that were paused.", "", H::ClientUnpause),
    c("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "7.0.0", "O(1)", "Sets the client eviction mode of the connection.", "enabled=(ON | OFF)", H::ClientNoEvict),
    c("reply", 3, NOSCRIPT | LOADING | STALE, NO_KEYS, G::Connection, "3.2.0", "O(1)", "Instructs the server whether to reply to commands.", "action=(ON | OFF | SKIP)", H::ClientReply),
    help("Returns helpful text about the different subcommands."),
];

#[rustfmt::skip]
pub(super) static COMMAND_SUBCOMMANDS: [CommandSpec; 7] = [
    c("count", 2, LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(1)", "Returns a count of commands.", "", H::CommandCount),
    c("docs", -2, LOADING | STALE, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the number of commands to look up", "Returns documentary information about one, multiple or all commands.", "[command-name...]", H::CommandDocs),
    c("getkeys", -4, LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(N) where N is the number of arguments to the command", "Extracts the key names from an arbitrary command.", "command arg...", H::CommandGetKeys),
    c("getkeysandflags", -4, LOADING | STALE, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the number of arguments to the command", "Extracts the key names and access flags for an arbitrary command.", "command arg...", H::CommandGetKeysAndFlags),
    c("info", -2, LOADING | STALE, NO_KEYS, G::Server, "2.8.13", "O(N) where N is the number of commands to look up", "Returns information about one, multiple or all commands.", "[command-name...]", H::CommandInfo),
    c("list", -2, LOADING | STALE, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the total number of Redis commands", "Returns a list of command names.", "[FILTERBY filter=(MODULE module-name | ACLCAT category | PATTERN pattern:pattern)]", H::CommandList),
    help("Returns helpful text about the different subcommands."),
];

#[rustfmt::skip]
pub(super) static CLUSTER_SUBCOMMANDS: [CommandSpec; 8] = [
    c("info", 2, STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of members", "Returns membership and ring figures (ringkv).", "", H::ClusterInfo),
    c("join", 3, ADMIN | NOSCRIPT | STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of keys in the ranges taken over", "Joins this single node to the cluster of the member at host:port, streaming the ranges it takes over (ringkv).", "host:port", H::ClusterJoin),
    c("leave", 2, ADMIN | NOSCRIPT | STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of keys this node holds", "Hands this node's ranges to their new owners, then leaves the ring (ringkv).", "", H::ClusterLeave),
    c("nodes", 2, STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of members", "Lists the members, their state and ownership (ringkv).", "", H::ClusterNodes),
    c("remove", 3, ADMIN | NOSCRIPT | STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of keys in the ranges that move", "Takes a member that is down for good off the ring; its ranges are streamed to their new replicas (ringkv).", "node-id", H::ClusterRemove),
    c("repair", 2, ADMIN | NOSCRIPT | STALE, NO_KEYS, G::Cluster, "0.1.0", "O(N) where N is the number of keys this node replicates", "Runs an anti-entropy round now: compares Merkle trees with every replica and streams the differences (ringkv).", "", H::ClusterRepair),
    c("ring", 2, LOADING | STALE, NO_KEYS, G::Cluster, "0.1.0", "O(V) where V is the number of virtual nodes", "Lists every virtual node's token and owner (ringkv).", "", H::ClusterRing),
    help("Returns helpful text about the different subcommands."),
];

#[rustfmt::skip]
pub(super) static CONFIG_SUBCOMMANDS: [CommandSpec; 5] = [
    c("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.0.0", "O(N) when N is the number of configuration parameters provided", "Returns the effective values of configuration parameters.", "parameter:pattern...", H::ConfigGet),
    c("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.0.0", "O(N) when N is the number of configuration parameters provided", "Sets configuration parameters in-flight.", "(parameter value)...", H::ConfigSet),
    c("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.0.0", "O(1)", "Resets the server's statistics.", "", H::ConfigResetStat),
    c("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, G::Server, "2.8.0", "O(1)", "Persists the effective configuration to file.", "", H::ConfigRewrite),
    help("Returns helpful text about the different subcommands."),
];

#[rustfmt::skip]
pub(super) static FUNCTION_SUBCOMMANDS: [CommandSpec; 3] = [
    c("flush", -2, WRITE | NOSCRIPT, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the number of functions deleted", "Deletes all libraries and functions.", "flush-type=[ASYNC | SYNC]", H::FunctionFlush),
    c("list", -2, NOSCRIPT, NO_KEYS, G::Server, "7.0.0", "O(N) where N is the number of functions", "Returns information about all libraries.", "[LIBRARYNAME library-name-pattern:pattern] [WITHCODE]", H::FunctionList),
    help("Returns helpful text about the different subcommands."),
];
