"""The compatibility scenario, run with redis-py against a server that
requires a password.

Usage: python scenario.py HOST PORT PASSWORD

Every step asserts the exact reply Redis 7.0 gives (as redis-py decodes
it); the first difference prints what was expected and what came back and
exits 1. The whole run is bounded by an alarm and every socket operation by
a timeout, so a hung server fails the run instead of hanging it.
"""

import signal
import threading
import sys
import time

import redis
from redis.exceptions import (
    AuthenticationError,
    ExecAbortError,
    ResponseError,
    WatchError,
)

CHECKS = 0


def check(what, got, want):
    global CHECKS
    CHECKS += 1
    if got != want:
        print(f"FAIL {what}: expected {want!r}, got {got!r}", file=sys.stderr)
        sys.exit(1)


def error_of(what, fn, kind=ResponseError):
    """Runs fn, which must raise `kind`; returns the error text."""
    try:
        value = fn()
    except kind as e:
        return str(e)
    print(f"FAIL {what}: expected {kind.__name__}, got reply {value!r}", file=sys.stderr)
    sys.exit(1)


def client(host, port, password, **kw):
    # Newer redis-py versions default to RESP3; RESP2 stays the default here
    # and resp3() below asks for RESP3 explicitly, so both are covered.
    kw.setdefault("protocol", 2)
    return redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=10,
        socket_connect_timeout=10,
        single_connection_client=True,
        **kw,
    )


def auth_and_databases(host, port, password):
    anon = redis.Redis(host=host, port=port, socket_timeout=10, protocol=2)
    check("NOAUTH", error_of("NOAUTH", anon.ping, AuthenticationError), "Authentication required.")
    check(
        "WRONGPASS",
        error_of("WRONGPASS", lambda: client(host, port, "not-the-password").ping(), AuthenticationError),
        "invalid username-password pair or user is disabled.",
    )
    r = client(host, port, password)
    check("PING", r.ping(), True)
    check("AUTH again", r.execute_command("AUTH", password), True)
    r5 = client(host, port, password, db=5)
    check("SET in db 5", r5.set("where", "five"), True)
    check("db 0 does not see db 5", r.get("where"), None)
    check("GET in db 5", r5.get("where"), b"five")
    check("SELECT 16", error_of("SELECT 16", lambda: r.execute_command("SELECT", 16)), "DB index is out of range")
    check("SELECT back", r.execute_command("SELECT", 0), True)
    check("DBSIZE db 5", r5.dbsize(), 1)
    r5.flushdb()
    return r


def strings(r):
    check("SET", r.set("s", "Hello"), True)
    check("GET", r.get("s"), b"Hello")
    check("GET missing", r.get("missing"), None)
    check("APPEND", r.append("s", " World"), 11)
    check("STRLEN", r.strlen("s"), 11)
    check("GETRANGE", r.getrange("s", -5, -1), b"World")
    check("SETRANGE", r.setrange("s", 6, "Redis"), 11)
    check("GET after SETRANGE", r.get("s"), b"Hello Redis")
    check("SET NX existing", r.set("s", "x", nx=True), None)
    check("SET XX missing", r.set("nope", "x", xx=True), None)
    check("SET GET", r.set("s", "new", get=True), b"Hello Redis")
    check("SETNX", r.setnx("s", "x"), False)
    check("GETSET", r.getset("s", "newer"), b"new")
    check("MSET", r.mset({"a": "1", "b": "2"}), True)
    check("MGET", r.mget(["a", "missing", "b"]), [b"1", None, b"2"])
    check("MSETNX", r.msetnx({"a": "9", "c": "3"}), False)
    check("GETDEL", r.getdel("a"), b"1")
    check("EXISTS", r.exists("a", "b", "b"), 2)
    binary = bytes(range(256))
    check("binary SET", r.set("bin", binary), True)
    check("binary GET", r.get("bin"), binary)
    check("SETBIT", r.setbit("bits", 7, 1), 0)
    check("GETBIT", r.getbit("bits", 7), 1)
    check("BITCOUNT", r.bitcount("bits"), 1)
    check("BITPOS", r.bitpos("bits", 1), 7)
    r.set("foobar", "foobar")
    check("BITCOUNT BIT", r.execute_command("BITCOUNT", "foobar", 5, 30, "BIT"), 17)
    check("BITOP", r.bitop("NOT", "inv", "bits"), 1)
    check("BITOP result", r.get("inv"), b"\xfe")
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    check("LCS", r.execute_command("LCS", "key1", "key2"), b"mytext")
    check("LCS LEN", r.execute_command("LCS", "key1", "key2", "LEN"), 6)
    check(
        "LCS IDX",
        r.execute_command("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
        [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6],
    )
    check("TYPE", r.type("s"), b"string")
    check("OBJECT ENCODING", r.object("encoding", "foobar"), b"embstr")
    check("COPY", r.copy("s", "s2"), True)
    check("RENAMENX", r.renamenx("s2", "s"), False)


def expiry(r):
    check("SET EX", r.set("e", "v", ex=100), True)
    check("TTL", r.ttl("e"), 100)
    check("PEXPIRE", r.pexpire("e", 50000), True)
    check("TTL after PEXPIRE", r.ttl("e"), 50)
    check("EXPIRE GT", r.expire("e", 10, gt=True), False)
    check("EXPIRE LT", r.expire("e", 10, lt=True), True)
    check("PERSIST", r.persist("e"), True)
    check("TTL persisted", r.ttl("e"), -1)
    check("TTL missing", r.ttl("missing"), -2)
    now = int(r.time()[0])
    check("EXPIREAT", r.expireat("e", now + 1000), True)
    check("EXPIRETIME", r.expiretime("e"), now + 1000)
    check("SET PX", r.set("short", "v", px=150), True)
    time.sleep(0.4)
    check("expired GET", r.get("short"), None)
    check("expired EXISTS", r.exists("short"), 0)
    check(
        "invalid expire",
        error_of("SET EX 0", lambda: r.set("e", "v", ex=0)),
        "invalid expire time in 'set' command",
    )


def counters(r):
    check("INCR", r.incr("n"), 1)
    check("INCRBY", r.incrby("n", 41), 42)
    check("DECR", r.decr("n"), 41)
    check("DECRBY", r.decrby("n", 50), -9)
    r.set("f", "10.5")
    check("INCRBYFLOAT", r.incrbyfloat("f", 0.1), 10.6)
    check("INCRBYFLOAT text", r.get("f"), b"10.6")
    r.set("word", "abc")
    check("INCR word", error_of("INCR word", lambda: r.incr("word")), "value is not an integer or out of range")
    r.set("max", 2**63 - 1)
    check("INCR overflow", error_of("INCR max", lambda: r.incr("max")), "increment or decrement would overflow")
    check("INCRBYFLOAT bad", error_of("INCRBYFLOAT", lambda: r.incrbyfloat("word", 1)), "value is not a valid float")


def hyperloglog(r):
    check("PFADD", r.pfadd("hll", "a", "b", "c"), 1)
    check("PFADD again", r.pfadd("hll", "a"), 0)
    check("PFCOUNT", r.pfcount("hll"), 3)
    r.pfadd("hll2", "c", "d")
    check("PFCOUNT union", r.pfcount("hll", "hll2"), 4)
    check("PFMERGE", r.pfmerge("hll3", "hll", "hll2"), True)
    check("PFCOUNT merged", r.pfcount("hll3"), 4)
    check("PFADD wrongtype", error_of("PFADD word", lambda: r.pfadd("word", "x")),
          "WRONGTYPE Key is not a valid HyperLogLog string value.")


def collections(r):
    check("HSET", r.hset("user:1", mapping={"name": "ada", "age": 36}), 2)
    check("HGET", r.hget("user:1", "name"), b"ada")
    check("HGETALL", r.hgetall("user:1"), {b"name": b"ada", b"age": b"36"})
    check("HINCRBY", r.hincrby("user:1", "age", 1), 37)
    check("HDEL", r.hdel("user:1", "name"), 1)
    check("HLEN", r.hlen("user:1"), 1)
    check("SADD", r.sadd("tags", "a", "b", "c"), 3)
    check("SISMEMBER", r.sismember("tags", "a"), True)
    check("SMEMBERS", r.smembers("tags"), {b"a", b"b", b"c"})
    check("SREM", r.srem("tags", "a"), 1)
    check("SCARD", r.scard("tags"), 2)
    check("ZADD", r.zadd("board", {"ann": 10, "bob": 20}), 2)
    check("ZINCRBY", r.zincrby("board", 15, "ann"), 25.0)
    check("ZRANGE WITHSCORES", r.zrange("board", 0, -1, withscores=True),
          [(b"bob", 20.0), (b"ann", 25.0)])
    check("ZREVRANK", r.zrevrank("board", "ann"), 0)
    check("ZSCORE", r.zscore("board", "bob"), 20.0)
    check("ZPOPMIN", r.zpopmin("board"), [(b"bob", 20.0)])
    check("TYPE", r.type("tags"), b"set")
    check("HGET wrongtype", error_of("HGET word", lambda: r.hget("word", "x")),
          "WRONGTYPE Operation against a key holding the wrong kind of value")


def lists_and_pubsub(host, port, password, r):
    check("RPUSH", r.rpush("queue", "a", "b", "c"), 3)
    check("LPUSH", r.lpush("queue", "z"), 4)
    check("LRANGE", r.lrange("queue", 0, -1), [b"z", b"a", b"b", b"c"])
    check("LPOP", r.lpop("queue"), b"z")
    check("RPOP count", r.rpop("queue", 2), [b"c", b"b"])
    check("LLEN", r.llen("queue"), 1)
    check("LMOVE", r.lmove("queue", "done", "LEFT", "RIGHT"), b"a")
    check("BLPOP timeout", r.blpop(["queue"], timeout=0.05), None)
    # A blocked BRPOP is served by a push from another connection.
    got = []
    blocked = client(host, port, password)
    t = threading.Thread(target=lambda: got.append(blocked.brpop(["jobs"], timeout=5)))
    t.start()
    for _ in range(500):
        if r.info("clients")["blocked_clients"] == 1:
            break
        time.sleep(0.01)
    r.rpush("jobs", "job1")
    t.join(10)
    check("BRPOP woken", got, [(b"jobs", b"job1")])
    check("BZPOPMIN", (r.zadd("prio", {"x": 1}), r.bzpopmin(["prio"], timeout=1))[1],
          (b"prio", b"x", 1.0))
    # Pub/sub: a subscriber receives a published message.
    sub = client(host, port, password)
    ps = sub.pubsub()
    ps.subscribe("news")
    check("subscribe confirmation", ps.get_message(timeout=2)["type"], "subscribe")
    check("PUBLISH", r.publish("news", "hello"), 1)
    m = ps.get_message(timeout=2)
    check("message", (m["type"], m["channel"], m["data"]), ("message", b"news", b"hello"))
    ps.psubscribe("n*")
    ps.get_message(timeout=2)
    check("PUBLISH to channel and pattern", r.publish("news", "again"), 2)
    kinds = sorted(ps.get_message(timeout=2)["type"] for _ in range(2))
    check("message and pmessage", kinds, ["message", "pmessage"])
    check("PUBSUB NUMSUB", r.pubsub_numsub("news"), [(b"news", 1)])
    ps.close()


def pipelines(r):
    p = r.pipeline(transaction=False)
    for _ in range(1000):
        p.incr("pipe:n")
    check("1000 pipelined INCR", p.execute(), list(range(1, 1001)))
    p = r.pipeline(transaction=False)
    p.set("pipe:a", "1").incr("pipe:a").incr("word").get("pipe:a")
    results = p.execute(raise_on_error=False)
    check("pipeline replies", [results[0], results[1], results[3]], [True, 2, b"2"])
    check("pipeline error in place", str(results[2]), "value is not an integer or out of range")


def transactions(host, port, password, r):
    p = r.pipeline(transaction=True)
    p.set("tx", "1").incr("tx").get("tx")
    check("MULTI/EXEC", p.execute(), [True, 2, b"2"])
    other = client(host, port, password)
    r.set("watched", "0")
    with r.pipeline() as p:
        p.watch("watched")
        other.set("watched", "changed")
        p.multi()
        p.set("watched", "mine")
        error_of("WATCH conflict", p.execute, WatchError)
    check("conflict kept the other write", r.get("watched"), b"changed")
    with r.pipeline() as p:
        p.watch("watched")
        value = p.get("watched")
        p.multi()
        p.set("watched", value + b"+mine")
        check("WATCH without conflict", p.execute(), [True])
    check("value after retry", r.get("watched"), b"changed+mine")
    p = r.pipeline(transaction=True)
    p.set("aborted", "1")
    p.execute_command("SET", "only-key")
    error_of("EXECABORT", p.execute, (ExecAbortError, ResponseError))
    check("EXECABORT wrote nothing", r.exists("aborted"), 0)
    raw = client(host, port, password)
    check("MULTI", raw.execute_command("MULTI"), b"OK")
    check("QUEUED", raw.execute_command("INCR", "word"), b"QUEUED")
    check("QUEUED 2", raw.execute_command("GET", "tx"), b"QUEUED")
    results = raw.execute_command("EXEC")
    check("EXEC runtime error", [str(results[0]), results[1]], ["value is not an integer or out of range", b"2"])


def scan(host, port, password):
    r7 = client(host, port, password, db=7)
    r7.flushdb()
    expected = set()
    p = r7.pipeline(transaction=False)
    for i in range(10_000):
        key = f"key:{i}"
        expected.add(key.encode())
        p.set(key, i)
        if len(p) == 1000:
            p.execute()
    p.execute()
    check("DBSIZE 10000", r7.dbsize(), 10_000)
    check("SCAN all", set(r7.scan_iter(count=500)), expected)
    matching = {k for k in expected if k.startswith(b"key:1")}
    check("SCAN MATCH", set(r7.scan_iter(match="key:1*", count=1000)), matching)
    check("SCAN TYPE hash", list(r7.scan_iter(_type="hash", count=1000)), [])
    cursor, page = r7.scan(0, count=10)
    check("SCAN page is bounded", len(page) <= 50 and cursor != 0, True)
    check("SCAN bad cursor", error_of("SCAN x", lambda: r7.execute_command("SCAN", "x")), "invalid cursor")
    r7.flushdb()


def resp3(host, port, password):
    r3 = client(host, port, password, protocol=3)
    check("RESP3 PING", r3.ping(), True)
    hello = r3.execute_command("HELLO", 3)
    check("HELLO proto", hello[b"proto"], 3)
    check("HELLO server", hello[b"server"], b"redis")
    check("RESP3 SET", r3.set("r3", "v"), True)
    check("RESP3 GET", r3.get("r3"), b"v")
    check("RESP3 GET missing", r3.get("missing"), None)
    check(
        "RESP3 LCS IDX is a map",
        r3.execute_command("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4),
        {b"matches": [[[4, 7], [5, 8]]], b"len": 6},
    )
    check("RESP3 CONFIG GET is a map", r3.config_get("databases"), {"databases": "16"})
    check("RESP3 INCRBYFLOAT", r3.incrbyfloat("r3f", 1.5), 1.5)
    check("RESP3 error", error_of("RESP3 error", lambda: r3.execute_command("GET")), "wrong number of arguments for 'get' command")


def errors(r):
    check(
        "unknown command",
        error_of("unknown", lambda: r.execute_command("NOSUCHCMD", "a", "b")),
        "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ",
    )
    check(
        "wrong arity",
        error_of("arity", lambda: r.execute_command("GET")),
        "wrong number of arguments for 'get' command",
    )
    check("syntax", error_of("syntax", lambda: r.execute_command("SET", "k", "v", "NX", "XX")), "syntax error")
    check(
        "bit offset",
        error_of("SETBIT", lambda: r.setbit("bits", 2**32, 1)),
        "bit offset is not an integer or out of range",
    )
    check("still usable", r.ping(), True)


def main():
    host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signal.alarm(120)
    r = auth_and_databases(host, port, password)
    r.flushall()
    strings(r)
    expiry(r)
    counters(r)
    hyperloglog(r)
    collections(r)
    lists_and_pubsub(host, port, password, r)
    pipelines(r)
    transactions(host, port, password, r)
    scan(host, port, password)
    resp3(host, port, password)
    errors(r)
    print(f"redis-py {redis.__version__}: {CHECKS} checks passed")


if __name__ == "__main__":
    main()
