//! Connection and server commands: PING, ECHO, HELLO, AUTH, QUIT, RESET,
//! CLIENT, COMMAND, INFO, CONFIG, TIME, SAVE, DEBUG, FUNCTION.

mod common;

use common::*;
use redis::Value::{Nil, Okay};

#[test]
fn ping_echo_and_hello() {
    let s = TestServer::start();
    let c = &mut s.conn();
    assert_eq!(ok(c, &["PING"]), redis::Value::SimpleString("PONG".into()));
    assert_eq!(ok(c, &["PING", "hi"]), bulk("hi"));
    assert_eq!(ok(c, &["ECHO", "x y"]), bulk("x y"));
    let mut raw = s.raw();
    let hello = raw.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n"), "RESP3 map: {hello}");
    assert!(hello.contains("proto\r\n:3\r\n"), "{hello}");
    assert!(hello.contains("mode\r\n$10\r\nstandalone"), "{hello}");
    // RESP3 types after HELLO 3: null is `_`.
    assert_eq!(raw.cmd(&["GET", "nope"]), "_\r\n");
    let hello2 = raw.cmd(&["HELLO", "2"]);
    assert!(hello2.starts_with("*14\r\n"), "RESP2 flat array: {hello2}");
    assert_eq!(raw.cmd(&["GET", "nope"]), "$-1\r\n");
    assert_eq!(
        raw.cmd(&["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
    assert_eq!(
        raw.cmd(&["HELLO", "x"]),
        "-ERR Protocol version is not an integer or out of range\r\n"
    );
    assert_eq!(
        raw.cmd(&["HELLO", "3", "FOO"]),
        "-ERR Syntax error in HELLO option 'FOO'\r\n"
    );
    let named = raw.cmd(&["HELLO", "2", "SETNAME", "tester"]);
    assert!(named.starts_with("*14"));
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]), "$6\r\ntester\r\n");
}

#[test]
fn authentication() {
    let s = TestServer::start_with(&["--requirepass", "s3cret"]);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        raw.cmd(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.cmd(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    let mut other = s.raw();
    assert!(
        other
            .cmd(&["HELLO", "3"])
            .starts_with("-NOAUTH HELLO must be called with the client already authenticated")
    );
    assert!(
        other
            .cmd(&["HELLO", "3", "AUTH", "default", "s3cret"])
            .starts_with("%7")
    );
    let mut third = s.raw();
    assert_eq!(third.cmd(&["AUTH", "default", "s3cret"]), "+OK\r\n");
    assert_eq!(third.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(
        third.cmd(&["GET", "k"]),
        "-NOAUTH Authentication required.\r\n",
        "RESET logs out"
    );
    // The redis crate authenticates through the URL.
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", s.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    assert_eq!(ok(&mut con, &["GET", "k"]), bulk("v"));
    // Without a configured password AUTH is an error.
    let open = TestServer::start();
    assert_eq!(
        err(&mut open.conn(), &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

#[test]
fn client_subcommands_and_quit() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let id = match ok(c, &["CLIENT", "ID"]) {
        redis::Value::Int(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(ok(c, &["CLIENT", "GETNAME"]), Nil);
    assert_eq!(ok(c, &["CLIENT", "SETNAME", "worker-1"]), Okay);
    assert_eq!(ok(c, &["CLIENT", "GETNAME"]), bulk("worker-1"));
    assert_eq!(
        err(c, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let list: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=worker-1"),
        "{list}"
    );
    assert!(list.contains("cmd=client|list"), "{list}");
    let info: String = redis::cmd("CLIENT").arg("INFO").query(c).unwrap();
    assert!(info.starts_with(&format!("id={id} ")), "{info}");
    assert_eq!(
        err(c, &["CLIENT", "LIST", "TYPE", "foo"]),
        "ERR Unknown client type 'foo'"
    );
    // One filter at a time, as Redis 7.0 takes them.
    assert_eq!(
        err(
            c,
            &["CLIENT", "LIST", "TYPE", "normal", "ID", &id.to_string()]
        ),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["CLIENT", "LIST", "ID", &id.to_string(), "TYPE"]),
        "ERR Invalid client ID"
    );
    assert_eq!(
        ok(c, &["CLIENT", "LIST", "ID", "0", "-5"]),
        redis::Value::BulkString(Vec::new())
    );
    let mine: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query(c)
        .unwrap();
    assert!(mine.starts_with(&format!("id={id} ")), "{mine}");
    assert_eq!(ok(c, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), Okay);
    assert_eq!(ok(c, &["CLIENT", "NO-EVICT", "on"]), Okay);
    assert_eq!(err(c, &["CLIENT", "NO-EVICT", "maybe"]), "ERR syntax error");
    assert_eq!(
        err(c, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    assert_eq!(
        err(c, &["CLIENT", "KILL", "ID", "0"]),
        "ERR client-id should be greater than 0"
    );
    assert_eq!(
        err(c, &["CLIENT", "KILL", "USER", "wrong_user"]),
        "ERR No such user 'wrong_user'"
    );
    assert_eq!(
        ok(c, &["CLIENT", "KILL", "USER", "default", "ID", "999999"]),
        int(0)
    );
    assert_eq!(
        err(c, &["CLIENT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    );
    assert_eq!(
        err(c, &["CLIENT"]),
        "ERR wrong number of arguments for 'client' command"
    );
    // Kill another client by id.
    let mut victim = s.raw();
    let victim_id = victim
        .cmd(&["CLIENT", "ID"])
        .trim_start_matches(':')
        .trim()
        .to_string();
    let victim_addr = victim.cmd(&["CLIENT", "INFO"]);
    let victim_addr = victim_addr
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr")
        .to_string();
    // A killed client is gone before the reply, as in Redis: a second kill
    // in the same pipeline finds nothing, and CLIENT LIST no longer shows it.
    let mut admin = s.raw();
    admin.send_cmd(&[b"CLIENT", b"KILL", b"ID", victim_id.as_bytes()]);
    admin.send_cmd(&[b"CLIENT", b"KILL", b"ID", victim_id.as_bytes()]);
    admin.send_cmd(&[b"CLIENT", b"KILL", victim_addr.as_bytes()]);
    admin.send_cmd(&[b"CLIENT", b"LIST"]);
    assert_eq!(admin.read_reply(), ":1\r\n");
    assert_eq!(admin.read_reply(), ":0\r\n");
    assert_eq!(admin.read_reply(), "-ERR No such client\r\n");
    let listed = admin.read_reply();
    assert!(!listed.contains(&format!("id={victim_id} ")), "{listed}");
    assert!(victim.is_closed(), "killed client is disconnected");
    // QUIT replies OK and closes.
    let mut q = s.raw();
    assert_eq!(q.cmd(&["QUIT"]), "+OK\r\n");
    assert!(q.is_closed());
    // CLIENT REPLY OFF silences replies until ON.
    let mut r = s.raw();
    r.send_cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    r.send_cmd(&[b"SET", b"x", b"1"]);
    assert_eq!(r.cmd(&["CLIENT", "REPLY", "ON"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "x"]), "$1\r\n1\r\n");
    r.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    r.send_cmd(&[b"SET", b"x", b"2"]);
    assert_eq!(r.cmd(&["GET", "x"]), "$1\r\n2\r\n");
}

#[test]
fn command_introspection_for_clients_and_redis_cli() {
    let s = TestServer::start();
    let c = &mut s.conn();
    let count = match ok(c, &["COMMAND", "COUNT"]) {
        redis::Value::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(count > 60, "{count} commands");
    let all = ok(c, &["COMMAND"]);
    assert!(matches!(&all, redis::Value::Array(v) if v.len() as i64 == count));
    let mut raw = s.raw();
    let info = raw.cmd(&["COMMAND", "INFO", "get", "nosuch"]);
    assert!(
        info.starts_with("*2\r\n*10\r\n$3\r\nget\r\n:2\r\n"),
        "{info}"
    );
    // Redis 7.0 answers a null bulk (not a null array) for an unknown name.
    assert!(
        info.ends_with("$-1\r\n"),
        "unknown commands are nil: {info}"
    );
    let docs = raw.cmd(&["COMMAND", "DOCS", "set"]);
    for field in [
        "summary",
        "since",
        "group",
        "complexity",
        "arguments",
        "expiration",
        "KEEPTTL",
        "pure-token",
        "oneof",
    ] {
        assert!(
            docs.contains(field),
            "COMMAND DOCS set lacks {field}: {docs}"
        );
    }
    let all_docs = raw.cmd(&["COMMAND", "DOCS"]);
    assert!(all_docs.contains("client|list"), "subcommand docs");
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "PING", "x"]),
        "-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "FOO", "x"]),
        "-ERR Invalid command specified\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "GET", "a", "b"]),
        "-ERR Invalid number of arguments specified for command\r\n"
    );
    // GETKEYSANDFLAGS: Redis 7.0's key-spec flags, the source and the
    // destination of a move each with their own, SET's depending on GET.
    assert_eq!(
        raw.cmd(&[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "LMOVE",
            "s",
            "d",
            "LEFT",
            "LEFT"
        ]),
        "*2\r\n*2\r\n$1\r\ns\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n\
         *2\r\n$1\r\nd\r\n*2\r\n+RW\r\n+insert\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"]),
        "*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+OW\r\n+update\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "GET"]),
        "*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYSANDFLAGS", "ZUNIONSTORE", "d", "1", "a"]),
        "*2\r\n*2\r\n$1\r\nd\r\n*2\r\n+OW\r\n+update\r\n\
         *2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n"
    );
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYSANDFLAGS", "PING", "x"]),
        "-ERR The command has no key arguments\r\n"
    );
    let list = raw.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "get*"]);
    assert!(
        list.contains("getrange") && list.contains("getdel") && !list.contains("$3\r\nset\r\n"),
        "{list}"
    );
}

#[test]
fn role_and_lolwut_answer_as_a_redis_primary() {
    let s = TestServer::start();
    let mut raw = s.raw();
    // A primary without replicas, which is what every node is to a client.
    assert_eq!(raw.cmd(&["ROLE"]), "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    assert_eq!(
        raw.cmd(&["ROLE", "x"]),
        "-ERR wrong number of arguments for 'role' command\r\n"
    );
    assert_eq!(raw.cmd(&["LOLWUT"]), "$17\r\nRedis ver. 7.0.0\n\r\n");
    assert_eq!(
        raw.cmd(&["LOLWUT", "VERSION", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    let info = raw.cmd(&["COMMAND", "INFO", "ROLE", "LOLWUT"]);
    assert!(info.contains("role") && info.contains("lolwut"), "{info}");
}

#[test]
fn info_config_time_save_debug_function() {
    // DEBUG is refused unless enabled (tests/hardening.rs checks the default).
    let s = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let c = &mut s.conn();
    ok(c, &["SET", "k", "v", "EX", "1000"]);
    ok(c, &["SET", "k2", "v"]);
    let info: String = redis::cmd("INFO").query(c).unwrap();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Engine",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "INFO lacks {section}");
    }
    assert!(info.contains("redis_version:"), "{info}");
    assert!(info.contains("db0:keys=2,expires=1,"), "{info}");
    let cmdstats: String = redis::cmd("INFO").arg("commandstats").query(c).unwrap();
    assert!(cmdstats.contains("cmdstat_set:calls=2,"), "{cmdstats}");
    let only: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
    assert!(
        only.starts_with("# Clients\r\n") && !only.contains("# Server"),
        "{only}"
    );
    // CONFIG GET with patterns; CONFIG SET of runtime keys; errors.
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclie*")
        .query(c)
        .unwrap();
    assert_eq!(got, ["maxclients", "10000"]);
    assert_eq!(
        ok(c, &["CONFIG", "SET", "maxclients", "500", "hz", "20"]),
        Okay
    );
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .arg("hz")
        .query(c)
        .unwrap();
    assert_eq!(got, ["maxclients", "500", "hz", "20"]);
    // A name without glob characters comes back as the client spelled it,
    // as in Redis; a pattern gives the table's spelling.
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("MaxClients")
        .arg("HZ*")
        .query(c)
        .unwrap();
    assert_eq!(got, ["MaxClients", "500", "hz", "20"]);
    assert_eq!(
        err(c, &["CONFIG", "SET", "hz", "10", "HZ", "11"]),
        "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"
    );
    assert_eq!(ok(c, &["CONFIG", "SET", "maxmemory", "0mb"]), Okay);
    assert_eq!(
        err(c, &["CONFIG", "SET", "nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        err(c, &["CONFIG", "SET", "port", "1"]),
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    assert!(
        err(c, &["CONFIG", "SET", "maxclients", "x"])
            .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients')")
    );
    assert_eq!(
        ok(c, &["CONFIG", "SET", "compaction-strategy", "size-tiered"]),
        Okay
    );
    // Redis keys whose value ringkv fixes: what it does anyway is
    // accepted (any snapshot schedule: there are no snapshots), else refused.
    assert_eq!(ok(c, &["CONFIG", "SET", "save", ""]), Okay);
    assert_eq!(ok(c, &["CONFIG", "SET", "save", "900 1"]), Okay);
    assert_eq!(ok(c, &["CONFIG", "SET", "appendonly", "yes"]), Okay);
    assert_eq!(
        err(c, &["CONFIG", "SET", "appendonly", "no"]),
        "ERR CONFIG SET failed (possibly related to argument 'appendonly') - ringkv always runs with appendonly 'yes'"
    );
    // Redis's encoding thresholds, aliases included, for OBJECT ENCODING.
    assert_eq!(
        ok(c, &["CONFIG", "SET", "hash-max-ziplist-entries", "1"]),
        Okay
    );
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hash-max-listpack-entries")
        .query(c)
        .unwrap();
    assert_eq!(got, ["hash-max-listpack-entries", "1"]);
    ok(c, &["HSET", "enc", "a", "1", "b", "2"]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "enc"]), bulk("hashtable"));
    assert!(
        err(c, &["CONFIG", "SET", "set-max-intset-entries", "-1"]).starts_with(
            "ERR CONFIG SET failed (possibly related to argument 'set-max-intset-entries')"
        )
    );
    ok(c, &["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
    assert_eq!(ok(c, &["OBJECT", "ENCODING", "enc"]), bulk("listpack"));
    assert_eq!(ok(c, &["CONFIG", "RESETSTAT"]), Okay);
    assert_eq!(
        err(c, &["CONFIG", "REWRITE"]),
        "ERR The server is running without a config file"
    );
    let time: Vec<String> = redis::cmd("TIME").query(c).unwrap();
    assert_eq!(time.len(), 2);
    assert!(time[0].parse::<u64>().unwrap() > 1_700_000_000);
    assert!(time[1].parse::<u64>().unwrap() < 1_000_000);
    assert_eq!(ok(c, &["SAVE"]), Okay);
    assert!(matches!(ok(c, &["LASTSAVE"]), redis::Value::Int(t) if t > 1_700_000_000));
    // Changes since the save: a write that changes nothing is none.
    let changes = |c: &mut redis::Connection| -> i64 {
        let info: String = redis::from_redis_value(&ok(c, &["INFO", "persistence"])).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("rdb_changes_since_last_save")
    };
    assert_eq!(changes(c), 0);
    ok(c, &["SETBIT", "bits", "3", "1"]);
    ok(c, &["SETBIT", "bits", "3", "1"]);
    ok(c, &["BITFIELD", "bits", "SET", "u4", "0", "1"]);
    assert_eq!(
        changes(c),
        1,
        "the second SETBIT and the BITFIELD changed nothing"
    );
    assert_eq!(ok(c, &["SAVE"]), Okay);
    assert_eq!(changes(c), 0);
    assert_eq!(
        ok(c, &["BGSAVE"]),
        redis::Value::SimpleString("Background saving started".into())
    );
    assert_eq!(ok(c, &["DEBUG", "SLEEP", "0.01"]), Okay);
    assert_eq!(ok(c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), Okay);
    assert!(
        matches!(ok(c, &["DEBUG", "OBJECT", "k"]), redis::Value::SimpleString(s) if s.contains("encoding:embstr"))
    );
    assert_eq!(err(c, &["DEBUG", "OBJECT", "nope"]), "ERR no such key");
    assert_eq!(
        err(c, &["DEBUG", "FOO"]),
        "ERR unknown subcommand or wrong number of arguments for 'FOO'. Try DEBUG HELP."
    );
    assert_eq!(ok(c, &["DEBUG", "RELOAD"]), Okay);
    assert_eq!(ok(c, &["DEBUG", "LOADAOF"]), Okay);
    assert_eq!(ok(c, &["GET", "k2"]), bulk("v"));
    // DIGEST-VALUE: equal values sign equally, a missing key as zeros.
    ok(c, &["HSET", "h1", "a", "1", "b", "2"]);
    assert_eq!(ok(c, &["COPY", "h1", "h2"]), redis::Value::Int(1));
    ok(c, &["HSET", "h3", "a", "1", "b", "3"]);
    let digests = |c: &mut redis::Connection| -> Vec<String> {
        redis::from_redis_value(&ok(c, &["DEBUG", "DIGEST-VALUE", "h1", "h2", "h3", "none"]))
            .unwrap()
    };
    let d = digests(c);
    // Status replies, as Redis sends digests.
    assert!(matches!(
        ok(c, &["DEBUG", "DIGEST-VALUE", "h1"]),
        redis::Value::Array(v) if matches!(v.as_slice(), [redis::Value::SimpleString(_)])
    ));
    assert!(matches!(
        ok(c, &["DEBUG", "DIGEST"]),
        redis::Value::SimpleString(_)
    ));
    assert_eq!(d[0], d[1]);
    assert_ne!(d[0], d[2]);
    assert_eq!(d[3], "0".repeat(40));
    // DIGEST: the whole dataset; back to the same value when the data is.
    let digest = |c: &mut redis::Connection| -> String {
        redis::from_redis_value(&ok(c, &["DEBUG", "DIGEST"])).unwrap()
    };
    let before = digest(c);
    assert_ne!(before, "0".repeat(40));
    ok(c, &["SET", "extra", "1"]);
    let with_extra = digest(c);
    assert_ne!(with_extra, before);
    ok(c, &["DEBUG", "RELOAD"]);
    assert_eq!(digest(c), with_extra, "a reload keeps the data");
    ok(c, &["EXPIRE", "extra", "1000"]);
    assert_ne!(digest(c), with_extra, "an expiry is part of the data");
    ok(c, &["DEL", "extra"]);
    assert_eq!(digest(c), before);
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", "k", "v"]);
    assert_ne!(digest(c), before, "every database counts");
    ok(c, &["DEL", "k"]);
    ok(c, &["SELECT", "0"]);
    assert_eq!(digest(c), before);
    assert!(
        matches!(ok(c, &["DEBUG", "OBJECT", "h1"]), redis::Value::SimpleString(s) if s.contains("encoding:listpack"))
    );
    assert_eq!(ok(c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1b"]), Okay);
    // MEMORY USAGE: an estimate in Redis's range, nil for no key.
    let usage = |c: &mut redis::Connection, args: &[&str]| -> i64 {
        redis::from_redis_value(&ok(c, args)).unwrap()
    };
    let small = usage(c, &["MEMORY", "USAGE", "h1"]);
    assert!((40..200).contains(&small), "{small}");
    let mut hset = vec!["HSET".to_string(), "big".into()];
    for i in 0..2_000 {
        hset.extend([format!("field:{i}"), "v".repeat(20)]);
    }
    query(c, &hset.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let big = usage(c, &["MEMORY", "USAGE", "big", "SAMPLES", "0"]);
    assert!((2_000 * 30..2_000 * 100).contains(&big), "{big}");
    assert_eq!(ok(c, &["MEMORY", "USAGE", "none"]), redis::Value::Nil);
    assert_eq!(
        err(c, &["MEMORY", "USAGE", "h1", "FOO", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "x"]),
        "ERR argument must be a memory value"
    );
    assert_eq!(ok(c, &["FUNCTION", "LIST"]), redis::Value::Array(vec![]));
    assert_eq!(ok(c, &["FUNCTION", "FLUSH"]), Okay);
    assert_eq!(
        err(c, &["FUNCTION", "FLUSH", "x"]),
        "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
    );
    assert_eq!(
        err(c, &["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    // Redis's illegal combinations are syntax errors, and the server goes
    // on (SAVE with NOSAVE once shut it down).
    for bad in [
        &["SHUTDOWN", "SAVE", "NOSAVE"][..],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["SHUTDOWN", "FORCE", "ABORT"],
        &["SHUTDOWN", "LATER"],
    ] {
        assert_eq!(err(c, bad), "ERR syntax error", "{bad:?}");
    }
    let mut raw = s.raw();
    raw.send_cmd(&[b"MULTI"]);
    raw.send_cmd(&[b"SHUTDOWN"]);
    raw.send_cmd(&[b"EXEC"]);
    assert_eq!(raw.read_reply(), "+OK\r\n");
    assert_eq!(
        raw.read_reply(),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(
        raw.read_reply(),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(ok(c, &["PING"]), redis::Value::SimpleString("PONG".into()));
    ok(c, &["FLUSHALL"]);
    assert_eq!(
        ok(c, &["DEBUG", "DIGEST"]),
        redis::Value::SimpleString("0".repeat(40))
    );
}

#[test]
fn config_rewrite_persists_runtime_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ringkv.toml");
    std::fs::write(&file, "maxclients = 77\n").unwrap();
    let path = file.to_str().unwrap().to_string();
    let s = TestServer::start_with(&["--config", &path]);
    let c = &mut s.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(c)
        .unwrap();
    assert_eq!(got, ["maxclients", "77"]);
    ok(c, &["CONFIG", "SET", "maxclients", "88"]);
    assert_eq!(ok(c, &["CONFIG", "REWRITE"]), Okay);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("maxclients = 88"), "{text}");
}

/// `io-threads 1` runs the whole server on one worker: a client blocked
/// in BLPOP, a held transaction and pipelines of other clients must all
/// still progress (nothing may wait synchronously for another task).
#[test]
fn one_io_thread_serves_blocked_clients_transactions_and_pipelines() {
    let s = TestServer::start_with(&["--io-threads", "1"]);
    let c = &mut s.conn();
    assert_eq!(
        ok(c, &["CONFIG", "GET", "io-threads"]),
        redis::Value::Array(vec![bulk("io-threads"), bulk("1")])
    );
    let waiter = {
        let mut b = s.conn();
        std::thread::spawn(move || {
            redis::cmd("BLPOP")
                .arg("jobs")
                .arg(10)
                .query::<Option<(String, String)>>(&mut b)
        })
    };
    // Let the BLPOP park before the push wakes it.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        pipe.cmd("HSET")
            .arg("h")
            .arg(format!("f{i}"))
            .arg(i)
            .ignore();
    }
    pipe.cmd("DBSIZE");
    let (size,): (i64,) = pipe.query(c).expect("pipeline");
    assert_eq!(size, 201);
    let mut t = s.conn();
    assert_eq!(ok(&mut t, &["MULTI"]), Okay);
    ok(&mut t, &["INCR", "counter"]);
    ok(&mut t, &["RPUSH", "jobs", "one"]);
    assert_eq!(
        ok(&mut t, &["EXEC"]),
        redis::Value::Array(vec![redis::Value::Int(1), redis::Value::Int(1)])
    );
    let popped = waiter.join().expect("waiter thread").expect("BLPOP");
    assert_eq!(popped, Some(("jobs".to_string(), "one".to_string())));
    assert_eq!(ok(c, &["HLEN", "h"]), redis::Value::Int(200));
    assert_eq!(ok(c, &["SAVE"]), Okay);
    assert_eq!(ok(c, &["GET", "k199"]), bulk("199"));
}

#[test]
fn client_pause_holds_writes_until_unpause_and_everything_until_its_end() {
    let s = TestServer::start();
    let mut admin = s.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "abc"]),
        "-ERR timeout is not an integer or out of range\r\n"
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "-1"]),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "10", "FOO"]),
        "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
    );
    // A timeout whose end passes i64::MAX milliseconds pauses nothing, as
    // in Redis (its end wraps into the past); it once paused every client
    // for good, CLIENT UNPAUSE included.
    for mode in ["ALL", "WRITE"] {
        assert_eq!(
            admin.cmd(&["CLIENT", "PAUSE", "9223372036854775807", mode]),
            "+OK\r\n"
        );
        assert_eq!(admin.cmd(&["SET", "after", "1"]), "+OK\r\n");
    }
    // WRITE: a write waits (and counts as a blocked client), reads answer.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), "+OK\r\n");
    let mut writer = s.raw();
    writer.send_cmd(&[b"SET", b"k", b"v"]);
    wait_blocked_clients(&mut admin, 1, "the SET never waited");
    let mut reader = s.raw();
    assert_eq!(reader.cmd(&["GET", "k"]), "$-1\r\n");
    // A malformed write is answered at once; a transaction of reads runs.
    assert!(reader.cmd(&["SET", "k"]).starts_with("-ERR wrong number"));
    assert_eq!(reader.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(reader.cmd(&["GET", "k"]), "+QUEUED\r\n");
    assert_eq!(reader.cmd(&["EXEC"]), "*1\r\n$-1\r\n");
    // A held client that is killed leaves at once, its write not run.
    let mut killed = s.raw();
    assert_eq!(killed.cmd(&["CLIENT", "SETNAME", "held"]), "+OK\r\n");
    killed.send_cmd(&[b"SET", b"k2", b"v2"]);
    wait_blocked_clients(&mut admin, 2, "the second SET never waited");
    let list = admin.cmd(&["CLIENT", "LIST"]);
    let id = list
        .lines()
        .find(|l| l.contains("name=held"))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("the held client is listed")
        .to_string();
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    // Closed, after at most the refusal of its held write.
    assert!((0..200).any(|_| killed.is_closed()), "killed while held");
    // A held client that closes its connection (after more pipelined
    // writes) is dropped, its writes never run, as Redis frees it.
    let mut gone = s.raw();
    gone.send(&encode_cmd(&[b"SET", b"k3", b"v3"]));
    gone.send(&encode_cmd(&[b"SET", b"k4", b"v4"]));
    wait_blocked_clients(&mut admin, 2, "the closing client's SET never waited");
    drop(gone);
    wait_blocked_clients(&mut admin, 1, "the closed client stayed held");
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(writer.read_reply(), "+OK\r\n");
    assert_eq!(reader.cmd(&["GET", "k2"]), "$-1\r\n");
    assert_eq!(reader.cmd(&["EXISTS", "k3", "k4"]), ":0\r\n");
    assert_eq!(reader.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    // ALL (the default): reads wait too, until the pause ends.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300"]), "+OK\r\n");
    let started = std::time::Instant::now();
    assert_eq!(reader.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
}

#[test]
fn memory_stats_doctor_and_malloc_stats() {
    let s = TestServer::start();
    let c = &mut s.conn();
    ok(c, &["SET", "k", "v"]);
    let stats: std::collections::HashMap<String, i64> =
        redis::cmd("MEMORY").arg("STATS").query(c).unwrap();
    assert!(stats["total.allocated"] > 0, "{stats:?}");
    assert!(
        stats["peak.allocated"] >= stats["total.allocated"] / 2,
        "{stats:?}"
    );
    assert!(
        stats["memtable.bytes"] > 0,
        "the SET is in the memtable: {stats:?}"
    );
    assert!(stats.contains_key("block-cache.capacity"), "{stats:?}");
    let doctor: String = redis::cmd("MEMORY").arg("DOCTOR").query(c).unwrap();
    assert!(
        doctor.starts_with("Hi Sam") && doctor.contains("memtable.bytes"),
        "{doctor}"
    );
    assert_eq!(
        ok(c, &["MEMORY", "MALLOC-STATS"]),
        bulk("Stats not supported for the current allocator")
    );
}

/// A SIGTERM during a pause does not wait for the pause: the held write is
/// refused, not run, and the server stops well inside its 10 s wait for
/// clients.
#[test]
fn shutdown_does_not_wait_for_a_client_pause() {
    let mut s = TestServer::start();
    let mut admin = s.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "600000", "WRITE"]),
        "+OK\r\n"
    );
    let mut writer = s.raw();
    writer.send_cmd(&[b"SET", b"held", b"v"]);
    wait_blocked_clients(&mut admin, 1, "the SET never waited");
    let started = std::time::Instant::now();
    s.signal(libc::SIGTERM);
    assert!(
        s.wait_exit(std::time::Duration::from_secs(8)),
        "no clean exit"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The held write is refused (or its connection closed first).
    assert!((0..200).any(|_| writer.is_closed()), "closed at shutdown");
    s.restart();
    assert_eq!(s.raw().cmd(&["GET", "held"]), "$-1\r\n");
}

/// Waits (up to 10 s) until INFO shows `n` blocked clients; `what` names
/// the wait in the failure.
fn wait_blocked_clients(admin: &mut RawConn, n: usize, what: &str) {
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !admin.cmd(&["INFO", "clients"]).contains(&want) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
