#!/usr/bin/env python3
"""Differential fuzzing of the whole command table against a real Redis.

Usage: fuzz-against-redis.py RINGKV_PORT REDIS_PORT [--seed S] [--commands N]
                             [--resp3]

Sends the same random commands to a ringkv node and to a redis-server (both
already running, both emptied with FLUSHDB every 500 commands): a command
name drawn from ringkv's COMMAND list, then up to seven arguments drawn from
eight keys (seeded as a hash, a set, a sorted set, a list, an integer
string, a HyperLogLog and a plain string, and half of the time a hash, a
set, a sorted set or a list of 200, stored split) and a pool of hostile values: empty, signed and
overflowing integers, inf/nan, range syntax, option words of every family,
a NUL byte followed by 0xff, 300 bytes. Where the replies differ (arrays
compared as multisets, since member order is not Redis's for every
encoding; some steps are two to five commands in MULTI, then EXEC or
DISCARD, so queue-time and EXEC-time errors are compared too), prints the command and both replies, the first three times per
command name, and at the end how often each command differed. --resp3
speaks RESP3 on both connections (maps, sets, doubles, nulls).

Left out: commands that block, change the connection or the server
(SUBSCRIBE, SELECT, CONFIG, SHUTDOWN, ... and MULTI, EXEC, WATCH outside the
transaction steps), replies that are random
or the server's own (SPOP, RANDOMKEY, INFO, SCAN cursors, OBJECT, TIME,
...), and ringkv's own commands (VSET, VGET, CONSISTENCY, CL). Every reply
is followed by an ECHO on both connections, so a command that answered
twice or not at all is caught (exit 3), as is a lost connection (exit 2).

The documented differences (docs/compatibility.md: INCRBYFLOAT's precision,
the HyperLogLog count cache PFCOUNT stores, numbers starting with a NUL
byte) show up here; anything else is a finding. A random integer could
set a TTL of a few milliseconds (`PEXPIRE k0 2`, `SET ... PX 1`), and
whether that key has expired a few commands later would depend on how
long each server took, not on what it does. So a relative TTL shorter
than 100 seconds (PEXPIRE, EXPIRE, PSETEX, SETEX, and the EX and PX
options) is raised to 100 seconds before it is sent: a key expires at
once (a TTL of zero or less, a time in the past) or not during the run.
"""

import argparse
import collections
import random
import socket
import sys
import time

SKIP = {
    # blocking, connection state, server state, replication, scripting
    "shutdown", "debug", "monitor", "subscribe", "psubscribe", "ssubscribe",
    "unsubscribe", "punsubscribe", "sunsubscribe", "sync", "psync", "client",
    "quit", "reset", "cluster", "config", "flushall", "failover", "replicaof",
    "slaveof", "hello", "auth", "blpop", "brpop", "blmove", "brpoplpush",
    "bzpopmin", "bzpopmax", "blmpop", "bzmpop", "wait", "save", "bgsave",
    "bgrewriteaof", "acl", "multi", "exec", "watch", "select", "swapdb",
    "readonly", "lastsave", "move", "function", "fcall", "fcall_ro", "eval",
    "evalsha", "eval_ro", "evalsha_ro", "script", "module",
    # random or the server's own replies
    "randomkey", "spop", "srandmember", "hrandfield", "zrandmember", "time",
    "info", "memory", "object", "command", "latency", "slowlog", "scan",
    "hscan", "sscan", "zscan", "keys", "dump", "restore", "lolwut", "pubsub",
    "publish", "spublish", "echo", "ping", "role", "dbsize", "flushdb",
    # commands one of the two lacks
    "sort", "sort_ro", "xadd", "bitfield", "bitfield_ro", "vset", "vget",
    "consistency", "cl",
}

KEYS = [b"k%d" % i for i in range(8)]
VALUES = [
    b"", b"0", b"1", b"-1", b"2", b"100", b"-100", b"0.5", b"-0", b"1e308",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
    b"4294967296", b"99999999999", b"inf", b"-inf", b"+inf", b"nan",
    b"(1", b"[a", b"-", b"+", b"(", b"[", b"*", b"\x00\xff", b"a" * 300,
    b"LIMIT", b"WITHSCORES", b"COUNT", b"MATCH", b"BYSCORE", b"BYLEX", b"REV",
    b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"EX", b"PX", b"KEEPTTL",
    b"GET", b"WEIGHTS", b"AGGREGATE", b"SUM", b"MIN", b"MAX", b"STORE",
    b"TYPE", b"hash", b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"RANK",
    b"MAXLEN", b"IDX", b"LEN", b"MINMATCHLEN", b"WITHMATCHLEN", b"REPLACE",
    b"DB",
]
SETUP = [
    [b"HSET", b"k0", b"a", b"1", b"b", b"x"],
    [b"SADD", b"k1", b"a", b"b", b"1"],
    [b"ZADD", b"k2", b"1", b"a", b"2", b"b"],
    [b"RPUSH", b"k3", b"a", b"b"],
    [b"SET", b"k4", b"10"],
    [b"PFADD", b"k5", b"a"],
    [b"SET", b"k6", b"hello"],
]
# One of these, half of the time: a collection of 200, stored split.
BIG = [
    [b"HSET", b"k7"] + [x for j in range(200) for x in (b"f%d" % j, b"%d" % j)],
    [b"SADD", b"k7"] + [b"m%d" % j for j in range(200)],
    [b"ZADD", b"k7"] + [x for j in range(200) for x in (b"%d" % (j % 50), b"m%d" % j)],
    [b"RPUSH", b"k7"] + [b"e%d" % (j % 20) for j in range(200)],
]


class Conn:
    """One RESP2 connection that reads replies as plain Python values."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.file = self.sock.makefile("rb")

    def read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind in b"*~>":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"%":
            return [[self.read(), self.read()] for _ in range(int(rest))]
        if kind in b"$=":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"!":
            return ("error", self.file.read(int(rest) + 2)[:-2])
        if kind == b"-":
            return ("error", rest)
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        return (kind, rest)

    def call(self, args):
        self.sock.sendall(b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        return self.read()


def random_command(rng, names):
    return tame_ttl([rng.choice(names)] + [
        rng.choice(KEYS) if rng.random() < 0.4 else rng.choice(VALUES)
        for _ in range(rng.randint(0, 7))
    ])


# Relative TTLs: the command (or option) and its unit in milliseconds.
TTL_COMMANDS = {b"pexpire": 1, b"psetex": 1, b"expire": 1000, b"setex": 1000}
TTL_OPTIONS = {b"px": 1, b"ex": 1000}
LEAST_TTL_MS = 100_000


def tame_ttl(args):
    """Raises a positive relative TTL below LEAST_TTL_MS to it: whether a key
    a few milliseconds from expiry is still there when the next command
    reaches each server depends on each one's pace, not on its behaviour."""
    def raised(value, unit):
        try:
            n = int(value)
        except ValueError:
            return value
        if 0 < n * unit < LEAST_TTL_MS:
            return b"%d" % (LEAST_TTL_MS // unit)
        return value

    out = list(args)
    unit = TTL_COMMANDS.get(out[0].lower())
    if unit and len(out) > 2:
        out[2] = raised(out[2], unit)
    for i in range(1, len(out) - 1):
        unit = TTL_OPTIONS.get(out[i].lower())
        if unit:
            out[i + 1] = raised(out[i + 1], unit)
    return out


def unordered(reply):
    if isinstance(reply, list):
        return sorted(repr(unordered(x)) for x in reply)
    return reply


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("ringkv_port", type=int)
    p.add_argument("redis_port", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--commands", type=int, default=20000)
    p.add_argument("--resp3", action="store_true", help="speak RESP3 (HELLO 3)")
    a = p.parse_args()
    rng = random.Random(a.seed)
    ringkv, redis = Conn(a.ringkv_port), Conn(a.redis_port)
    if a.resp3:
        for conn in (ringkv, redis):
            conn.call([b"HELLO", b"3"])
    names = [c[0] for c in ringkv.call([b"COMMAND"])
             if c[0].decode().lower() not in SKIP]
    diffs = collections.Counter()
    started = time.time()
    for i in range(a.commands):
        if i % 500 == 0:
            big = [rng.choice(BIG)] if rng.random() < 0.5 else []
            for c in [[b"FLUSHDB"]] + big + SETUP:
                ringkv.call(c)
                redis.call(c)
        # One time in seven, a few commands in a transaction, EXEC or DISCARD.
        batch = [random_command(rng, names)]
        if rng.random() < 0.15:
            batch = ([[b"MULTI"]] + [random_command(rng, names) for _ in range(rng.randint(1, 4))]
                     + [[rng.choice([b"EXEC", b"EXEC", b"DISCARD"])]])
        for args in batch:
            try:
                got, want = ringkv.call(args), redis.call(args)
            except (EOFError, OSError) as e:
                print("connection lost after", args, e)
                sys.exit(2)
            if got != want and unordered(got) != unordered(want):
                name = args[0].decode().lower()
                diffs[name] += 1
                if diffs[name] <= 3:
                    print("DIFF", batch if len(batch) > 1 else args)
                    print("   ringkv:", repr(got)[:300])
                    print("   redis: ", repr(want)[:300])
        token = b"sync%d" % i
        for conn in (ringkv, redis):
            try:
                echo = conn.call([b"ECHO", token])
            except (EOFError, OSError) as e:
                print("connection lost after", batch, e)
                sys.exit(2)
            if echo != token:
                print("out of step after", batch, "ECHO answered", echo)
                sys.exit(3)
    print(f"{a.commands} commands in {time.time() - started:.1f} s, seed {a.seed}; "
          f"differing replies by command: {dict(diffs) or 'none'}")


if __name__ == "__main__":
    main()
