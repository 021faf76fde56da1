#!/usr/bin/env python3
"""Sends the same commands to a real redis-server and to ringkv and reports
every reply that differs byte for byte.

Usage: compare-with-redis.py REDIS_PORT RINGKV_PORT [--random N] [--random-hll N]
                             [--random-collections N] [--random-zsets N]
                             [--random-lists N] [--random-big N]
                             [--random-sort N] [--seed S]
                             [--pipeline K] [FILE]

FILE holds one command per line (words split like a shell would, so quote
arguments with spaces); without it, commands are read from stdin. A line
may start with @N to send it on the N-th connection to each server (for
WATCH and other multi-client cases; @0 is the default), and the line
"SLEEP ms" pauses between commands. --random N
adds N random bitmap/string commands (SETBIT, GETBIT, BITCOUNT, BITPOS,
BITOP, BITFIELD, BITFIELD_RO, LCS, GETRANGE, SETRANGE) over a few small
keys, seeded for
repeatability; --random-hll N adds N random PFADD/PFCOUNT/PFMERGE commands;
--random-collections N adds N random hash and set commands (HSET ... HSCAN,
SADD ... SSCAN, with DEL/EXISTS/TYPE/EXPIRE/TTL/PERSIST/RENAME/COPY and SET
on the same six keys so WRONGTYPE is hit); --random-zsets N adds N random
sorted-set commands (ZADD ... ZSCAN, ZUNION/ZINTER/ZDIFF with sets as
inputs, with strings, hashes and sets on some keys and the same keyspace
commands); --random-lists N adds N random list commands (LPUSH ... LMPOP,
the blocking forms with a 10 ms timeout, WRONGTYPE and the keyspace
commands); --random-big N adds N random commands on a hash, a set, a
sorted set and a list of over a thousand members each (ringkv stores them
split: the commands that touch only some members, pushes and pops at both
ends, the counts, DEL and refills); --random-sort N adds N random SORT and
SORT_RO commands (BY, GET, LIMIT, ASC/DESC, ALPHA, STORE) over lists, sets
and sorted sets and the weights their patterns name. --seed S changes the seed of every
random mode (default: each mode's own fixed seed). --pipeline K sends up
to K consecutive commands of connection 0 in one write and reads their
replies after (a scan, a blocking command, another connection's line or
SLEEP is sent alone): pipelined writes of one key take a different path
in ringkv, and their replies must not change.

Replies Redis leaves unordered are compared as multisets: SMEMBERS, SINTER,
SUNION, SDIFF, HKEYS, HVALS, SPOP with a count, HGETALL (as field-value
pairs); sorted-set replies are ordered and compared as they are. A
HSCAN/SSCAN/ZSCAN whose replies differ or whose cursor is not 0 is
followed on each server until the cursor is 0 again and the union of the
pages (field-value or member-score pairs) is compared. SRANDMEMBER,
HRANDFIELD and ZRANDMEMBER are compared by shape only (reply type, length
and, for a positive count, whether the picks are distinct), except when a
positive count returned fewer picks than asked: then the whole collection
came back and is compared as a multiset. A lex range (ZRANGEBYLEX,
ZREVRANGEBYLEX, ZLEXCOUNT, ZRANGE BYLEX) that differs over a sorted set
whose scores are not all equal is reported apart and does not fail the
run: Redis leaves it unspecified. Errors are always compared exactly. A
connection a server closes (a crash) counts as a differing reply and is
reopened. Both servers should start empty; FLUSHALL is sent first.
Exits 1 if any reply differs. Only the standard library is used.
"""
import random
import shlex
import socket
import sys
import time


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def parsed(self):
        """The next reply as (raw bytes, tree); the tree is (kind, value)
        with kind one of + - : $ * (and RESP3's others as sent), value
        None for a null bulk or array."""
        line = self._line()
        kind, body = line[:1], line[1:]
        if kind in (b"$", b"="):
            n = int(body)
            if n < 0:
                return line, ("$", None)
            data = self._exact(n + 2)[:-2]
            return line + b"\r\n" + data, ("$", data)
        if kind in (b"*", b"%", b"~"):
            n = int(body)
            parts = [self.parsed() for _ in range(max(n, 0) * (2 if kind == b"%" else 1))]
            raw = line + b"\r\n" + b"\r\n".join(p[0] for p in parts)
            return raw, ("*", None if n < 0 else [p[1] for p in parts])
        if kind == b":":
            return line, (":", int(body))
        return line, (kind.decode(), body)

    def reply(self):
        line = self._line()
        kind, body = line[:1], line[1:]
        if kind in (b"$", b"="):
            n = int(body)
            if n < 0:
                return line
            return line + b"\r\n" + self._exact(n + 2)[:-2]
        if kind in (b"*", b"%", b"~"):
            n = int(body)
            items = [self.reply() for _ in range(max(n, 0) * (2 if kind == b"%" else 1))]
            return line + b"\r\n" + b"\r\n".join(items)
        return line

    def cmd(self, args):
        self.sock.sendall(encode(args))
        return self.reply()

    def cmd_parsed(self, args):
        self.sock.sendall(encode(args))
        return self.parsed()


def random_commands(n, seed=1):
    rng = random.Random(seed)
    keys = ["a", "b", "c", "missing"]
    def num(lo, hi):
        return str(rng.randint(lo, hi))
    out = []
    for _ in range(n):
        k = rng.choice(keys)
        op = rng.randrange(12)
        if op >= 10:
            out.append(random_bitfield(rng, k, readonly=op == 11))
        elif op == 0:
            out.append(["SETBIT", k, num(-2, 70), num(-1, 2)])
        elif op == 1:
            out.append(["GETBIT", k, num(-2, 70)])
        elif op == 2:
            args = ["BITCOUNT", k]
            if rng.random() < 0.8:
                args += [num(-12, 12), num(-12, 12)]
                if rng.random() < 0.6:
                    args.append(rng.choice(["BIT", "BYTE", "bit", "nope"]))
            out.append(args)
        elif op == 3:
            args = ["BITPOS", k, rng.choice(["0", "1", "1", "0", "2"])]
            if rng.random() < 0.8:
                args.append(num(-70, 70))
                if rng.random() < 0.7:
                    args.append(num(-70, 70))
                    if rng.random() < 0.6:
                        args.append(rng.choice(["BIT", "BYTE"]))
            out.append(args)
        elif op == 4:
            opn = rng.choice(["AND", "OR", "XOR", "NOT", "nand"])
            srcs = rng.sample(keys, rng.randint(1, 3))
            out.append(["BITOP", opn, rng.choice(keys)] + srcs)
        elif op == 5:
            args = ["LCS", k, rng.choice(keys)]
            for opt in rng.sample(["LEN", "IDX", "WITHMATCHLEN", "MINMATCHLEN"], rng.randint(0, 3)):
                args.append(opt)
                if opt == "MINMATCHLEN":
                    args.append(num(-1, 3))
            out.append(args)
        elif op == 6:
            out.append(["SET", k, "".join(rng.choice("abcx\x00\xff") for _ in range(rng.randint(0, 9)))])
        elif op == 7:
            out.append(["GETRANGE", k, num(-12, 12), num(-12, 12)])
        elif op == 8:
            out.append(["SETRANGE", k, num(-1, 12), rng.choice(["", "z", "xyz"])])
        else:
            out.append(["GET", k])
    return out


def random_bitfield(rng, key, readonly=False):
    """A BITFIELD (or BITFIELD_RO) with one to four operations: every
    type width at its limits, # offsets, OVERFLOW modes, values around the
    limits, and now and then a bad argument."""
    args = ["BITFIELD_RO" if readonly else "BITFIELD", key]
    values = ["0", "1", "-1", "127", "128", "-128", "255", "256", "100", "-100",
              "9223372036854775807", "-9223372036854775808", "4611686018427387904", "x"]
    for _ in range(rng.randint(0, 4)):
        sign = rng.choice("iiuu")
        bits = rng.choice([1, 2, 3, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 0])
        enc = rng.choice([f"{sign}{bits}"] * 20 + ["x8", "i", ""])
        offset = rng.choice([str(rng.randint(0, 90)), f"#{rng.randint(0, 6)}", "-1", "#-1", "y",
                             "4294967295", "4294967296"] + [str(rng.randint(0, 40))] * 6)
        op = rng.choice(["GET", "GET", "SET", "INCRBY", "INCRBY", "OVERFLOW", "get", "incrby", "BOGUS"])
        if readonly and op in ("SET", "INCRBY", "incrby", "OVERFLOW") and rng.random() < 0.8:
            op = "GET"
        if op.upper() != "GET" and offset.startswith("42949672"):
            offset = "4294967296"   # a write there would make a 512 MB value
        if op.upper() == "OVERFLOW":
            args += [op, rng.choice(["WRAP", "SAT", "FAIL", "fail", "sat", "nope"])]
        elif op.upper() == "GET":
            args += [op, enc, offset]
        else:
            args += [op, enc, offset, rng.choice(values)]
    if rng.random() < 0.03:
        args.append("GET")
    return args


def random_sort_commands(n, seed=7):
    """N random SORT/SORT_RO commands over a list, a set and a sorted set
    of numbers and words, and a string and a hash (WRONGTYPE), with BY
    patterns naming string weights (some missing, some not numbers) and
    hash fields, GET patterns, LIMIT, ASC/DESC, ALPHA and STORE into keys
    read back with LRANGE; between them, writes to the sorted keys and the
    weights. Replies whose order Redis leaves open are avoided: a set is
    never read BY a constant pattern without STORE, and ALPHA BY uses only
    the u_* weights, which every element has and which all differ."""
    rng = random.Random(seed)
    elements = ["1", "2", "3", "10", "-5", "2.5", "1e2", "07", "a", "b", "", "x y", "inf"]
    numbers = ["1", "2", "3", "10", "-5", "2.5", "1e2", "07", "inf"]
    out = [["SET", f"u_{e}", f"u{i:02d}"] for i, e in enumerate(elements)]
    out += [["HSET", f"h_{e}", "f", f"v{i % 4}"] for i, e in enumerate(elements)]
    out += [["SET", "str", "x"], ["SET", "d3", "x"], ["HSET", "hash", "a", "1"]]
    sources = ["nl", "wl", "ns", "ws", "nz", "wz", "str", "hash", "missing"]

    def source():
        return rng.choice(sources)

    for _ in range(n):
        op = rng.randrange(10)
        if op == 0:
            out.append(["RPUSH", rng.choice(["nl", "wl"]),
                        *[rng.choice(numbers if rng.random() < 0.93 else elements) for _ in range(rng.randint(1, 3))]])
        elif op == 1:
            out.append(["SADD", rng.choice(["ns", "ws"]),
                        *[rng.choice(numbers if rng.random() < 0.93 else elements) for _ in range(rng.randint(1, 3))]])
        elif op == 2:
            out.append(["ZADD", rng.choice(["nz", "wz"]), str(rng.randint(-3, 3)),
                        rng.choice(numbers if rng.random() < 0.93 else elements)])
        elif op == 3:
            e = rng.choice(elements)
            out.append(["SET", f"w_{e}", rng.choice(["1", "2", "5", "-1", "0.5", "", "3", "7", "1e1"] * 3 + ["zz"])])
        elif op == 4:
            out.append(["DEL", rng.choice(["w_" + rng.choice(elements)] * 4 + ["nl", "ns", "nz", "wl", "ws", "wz"])])
        elif op == 5:
            out.append(["LRANGE", rng.choice(["d1", "d2", "d3"]), "0", "-1"])
        else:
            src = source()
            ro = rng.random() < 0.2
            args = ["SORT_RO" if ro else "SORT", src]
            alpha = rng.random() < 0.4
            opts = []
            by = rng.choice([None, None, "w_*", "h_*->f", "nosort", "u_*"])
            store = (not ro and rng.random() < 0.3) or (ro and rng.random() < 0.03)
            if by == "nosort" and src.endswith("s") and src != "hash" and not store:
                by = None
            if alpha and by in ("w_*", "h_*->f"):
                by = "u_*"
            if by:
                opts.append(["BY", by])
            if rng.random() < 0.4:
                opts.append(["LIMIT", rng.choice(["0", "1", "2", "-1", "5", "x"]),
                             rng.choice(["0", "1", "2", "3", "-1", "10"])])
            for _ in range(rng.choice([0, 0, 1, 2])):
                opts.append(["GET", rng.choice(["#", "w_*", "h_*->f", "const", "u_*", "h_*->"])])
            if rng.random() < 0.4:
                opts.append([rng.choice(["ASC", "DESC", "desc"])])
            if alpha:
                opts.append(["ALPHA"])
            if store:
                # Never a source: stored GET results would break the u_* rule.
                opts.append(["STORE", rng.choice(["d1", "d2", "d3"])])
            rng.shuffle(opts)
            for o in opts:
                args += o
            if rng.random() < 0.02:
                args.append(rng.choice(["BY", "LIMIT", "BOGUS"]))
            out.append(args)
    return out


def random_hll_commands(n, seed=2):
    """PFADD/PFCOUNT/PFMERGE over a few keys, with deletes, TYPE and the
    representation's length and encoding byte. The cached count (header
    bytes 8-15) is left out: ringkv's PFCOUNT does not write it
    (docs/compatibility.md)."""
    rng = random.Random(seed)
    hlls = ["h1", "h2", "h3"]
    readable = hlls + ["missing", "s"]
    out = [["SET", "s", "plain string"]]
    for _ in range(n):
        op = rng.randrange(12)
        h = rng.choice(hlls)
        if op < 5:
            size = rng.choice([0, 1, 3, 10, 50, 200])
            base = rng.randrange(20000)
            out.append(["PFADD", h] + [f"e{base + i * rng.randint(1, 7)}" for i in range(size)])
        elif op < 7:
            out.append(["PFCOUNT"] + rng.sample(readable, rng.randint(1, 3)))
        elif op < 9:
            out.append(["PFMERGE", h] + rng.sample(readable, rng.randint(0, 3)))
        elif op == 9:
            out.append(rng.choice([["DEL", h], ["TYPE", h], ["EXISTS", h]]))
        elif op == 10:
            out.append(["STRLEN", h])
        else:
            out.append(["GETRANGE", h, "0", "4"])
    return out


def random_collection_commands(n, seed=3):
    """N random hash and set commands over six keys (h1 h2 mostly hashes,
    s1 s2 mostly sets, m x anything, strings included) plus "nokey", which
    is only ever read, and "one", a set of at most one member where SPOP
    without a count is deterministic. Every command's effect is
    deterministic: SPOP takes no random member from a larger set (count 0,
    a count larger than any set, or a missing, wrong-type or one-member
    key), and HRANDFIELD/SRANDMEMBER only read."""
    rng = random.Random(seed)
    fields = [f"f{i}" for i in range(11)] + [""]
    members = ["0", "1", "2", "10", "-5", "007", "a", "b", "c", "ab", "", "xyz"]
    # Redis computes HINCRBYFLOAT in long double, ringkv in f64, a
    # documented difference (docs/compatibility.md, INCRBYFLOAT): the
    # float-valued values and increments are binary fractions well inside
    # f64's exact range, and the 64-bit extremes HINCRBY's overflow checks
    # need are kept in fields f9 and f10, which HINCRBYFLOAT never touches.
    big_fields = ["f9", "f10"]
    float_fields = [f for f in fields if f not in big_fields]
    values = ["0", "1", "-1", "17", "2", "42", "-7", "1.5", "abc", "", "1e3", "3.0", " 5",
              "nan", "inf", "5e-1", "-0", "10.50", "0x10", "-2.25"]
    big_values = ["9223372036854775807", "-9223372036854775808", "9223372036854775806",
                  "-9223372036854775807", "9223372036854775808"]
    incrs = ["1", "-1", "0", "5", "100", "-3", "2", "1", "9223372036854775808", "abc", "1.5",
             "", " 1", "+3", "007", "-0"]
    big_incrs = ["9223372036854775807", "-9223372036854775808", "9223372036854775806",
                 "-9223372036854775807"]
    fincrs = ["1", "0.5", "-1.5", "1e3", "0.25", "3", "-0.125", "abc", "inf", "-inf", "nan",
              "", " 2", "0x10", "-0", "5.0e-1", "1.", ".5", "+1", "1e", "1,5"]
    patterns = ["*", "f*", "f1*", "?", "f[0-4]", "*0", "[a-c]", "a*", "\\*", "[", "x", "[^f]*", ""]
    cursors = ["abc", "1.5", " 0", "18446744073709551616", "", "-0", "0x0"]
    counts = ["1", "2", "10", "100", "0", "-1", "abc"]
    rcounts = ["-5", "-3", "-1", "0", "1", "2", "3", "5", "20", "abc", "1.0",
               "9223372036854775807", "-9223372036854775808", "9223372036854775808"]
    everyone = ["h1", "h2", "s1", "s2", "m", "x"]

    def pick(weighted):
        keys, weights = zip(*weighted)
        return rng.choices(keys, weights)[0]

    # Writes go rarely to the other family's keys (which then keep the
    # wrong type until deleted) and never to "nokey".
    def hkey(write=False):
        return pick([("h1", 8), ("h2", 8), ("m", 4), ("x", 4), ("s1", 1 if write else 2),
                     ("s2", 1 if write else 2), ("nokey", 0 if write else 2)])

    def skey(write=False):
        return pick([("s1", 8), ("s2", 8), ("m", 4), ("x", 4), ("h1", 1 if write else 2),
                     ("h2", 1 if write else 2), ("nokey", 0 if write else 2)])

    def dest():
        return pick([("s1", 6), ("s2", 6), ("m", 4), ("x", 4), ("h1", 1), ("h2", 1)])

    def anykey():
        return rng.choice(everyone + ["nokey"])

    def value(field):
        if rng.random() < 0.03:
            return "v" * 70
        return rng.choice(values + (big_values if field in big_fields else []))

    def some(pool, lo, hi):
        return [rng.choice(pool) for _ in range(rng.randint(lo, hi))]

    def pairs(lo, hi):
        out = []
        for _ in range(rng.randint(lo, hi)):
            f = rng.choice(fields)
            out += [f, value(f)]
        return out

    def scan(cmd, k):
        args = [cmd, k, "0" if rng.random() < 0.85 else rng.choice(cursors)]
        for opt in rng.sample(["MATCH", "COUNT"], rng.randint(0, 2)):
            args += [opt, rng.choice(patterns if opt == "MATCH" else counts)]
        if rng.random() < 0.05:
            args += rng.choice([["NOVALUES"], ["MATCH"], ["COUNT"], ["TYPE", "hash"],
                                ["count", "3"]])
        return args

    def hset(cmd):
        r = rng.random()
        if r < 0.05:
            return [cmd, hkey(True)]
        args = [cmd, hkey(True)] + pairs(1, 4)
        if r < 0.15:
            args.pop()
        return args

    def spop():
        r = rng.random()
        if r < 0.3:
            m = some(members, 1, 1)
            return [["DEL", "one"], ["SADD", "one"] + m,
                    ["SPOP", "one"] + rng.choice([[], [], ["1"], ["3"], ["0"]]), ["EXISTS", "one"]]
        if r < 0.45:
            return [["SPOP", rng.choice(["nokey", "one"])]]
        count = rng.choice(["0", "0", "20", "100", "9223372036854775807", "-1", "abc", "1.5",
                            "-9223372036854775808", ""])
        args = ["SPOP", skey(), count]
        if rng.random() < 0.03:
            args.append("extra")
        return [args]

    def randcmd(cmd, k):
        args = [cmd, k]
        if rng.random() < 0.8:
            args.append(rng.choice(rcounts))
            if k == "nokey" and rng.random() < 0.3:
                args[-1] = rng.choice(["-9223372036854775807", "-4611686018427387904",
                                       "-4611686018427387903"])
            if cmd == "HRANDFIELD" and rng.random() < 0.4:
                args.append(rng.choice(["WITHVALUES", "WITHVALUES", "withvalues", "nope"]))
        elif rng.random() < 0.1:
            args += ["WITHVALUES"]
        return args

    def sintercard():
        keys = [skey() for _ in range(rng.randint(1, 3))]
        numkeys = str(len(keys))
        r = rng.random()
        if r < 0.1:
            numkeys = rng.choice(["0", "-1", "abc", str(len(keys) + 1), "9999999999999"])
        elif r < 0.15 and len(keys) > 1:
            numkeys = str(len(keys) - 1)
        args = ["SINTERCARD", numkeys] + keys
        if rng.random() < 0.5:
            args += ["LIMIT", rng.choice(["0", "1", "2", "3", "-1", "abc", "100"])]
            if rng.random() < 0.05:
                args.pop()
        return args

    def hincrby():
        f = rng.choice(fields)
        return ["HINCRBY", hkey(True), f,
                rng.choice(incrs + (big_incrs if f in big_fields else []))]

    def hsetnx():
        f = rng.choice(fields)
        return ["HSETNX", hkey(True), f] + ([value(f)] if rng.random() < 0.95 else [])

    ops = [
        (6, lambda: [hset("HSET")]),
        (2, lambda: [hsetnx()]),
        (2, lambda: [hset("HMSET")]),
        (3, lambda: [["HGET", hkey(), rng.choice(fields)]]),
        (2, lambda: [["HMGET", hkey()] + some(fields, 0 if rng.random() < 0.05 else 1, 4)]),
        (2, lambda: [["HGETALL", hkey()]]),
        (1, lambda: [["HKEYS", hkey()]]),
        (1, lambda: [["HVALS", hkey()]]),
        (2, lambda: [["HLEN", hkey()]]),
        (2, lambda: [["HEXISTS", hkey(), rng.choice(fields)]]),
        (3, lambda: [["HDEL", hkey()] + some(fields, 0 if rng.random() < 0.05 else 1, 3)]),
        (2, lambda: [["HSTRLEN", hkey(), rng.choice(fields)]]),
        (3, lambda: [hincrby()]),
        (3, lambda: [["HINCRBYFLOAT", hkey(True), rng.choice(float_fields), rng.choice(fincrs)]]),
        (2, lambda: [scan("HSCAN", hkey())]),
        (2, lambda: [randcmd("HRANDFIELD", hkey())]),
        (6, lambda: [["SADD", skey(True)] + some(members, 0 if rng.random() < 0.05 else 1, 4)]),
        (3, lambda: [["SREM", skey()] + some(members, 0 if rng.random() < 0.05 else 1, 3)]),
        (2, lambda: [["SMEMBERS", skey()]]),
        (2, lambda: [["SISMEMBER", skey(), rng.choice(members)]]),
        (2, lambda: [["SMISMEMBER", skey()] + some(members, 0 if rng.random() < 0.05 else 1, 4)]),
        (2, lambda: [["SCARD", skey()]]),
        (2, spop),
        (2, lambda: [randcmd("SRANDMEMBER", skey())]),
        (2, lambda: [["SMOVE", skey(), skey(True), rng.choice(members)]]),
        (2, lambda: [["SINTER"] + [skey() for _ in range(rng.randint(1, 3))]]),
        (2, lambda: [sintercard()]),
        (1, lambda: [["SINTERSTORE", dest()] + [skey() for _ in range(rng.randint(1, 3))]]),
        (2, lambda: [["SUNION"] + [skey() for _ in range(rng.randint(1, 3))]]),
        (1, lambda: [["SUNIONSTORE", dest()] + [skey() for _ in range(rng.randint(1, 3))]]),
        (2, lambda: [["SDIFF"] + [skey() for _ in range(rng.randint(1, 3))]]),
        (1, lambda: [["SDIFFSTORE", dest()] + [skey() for _ in range(rng.randint(1, 3))]]),
        (2, lambda: [scan("SSCAN", skey())]),
        (1, lambda: [["SET", pick([("m", 5), ("x", 5), ("h1", 1), ("h2", 1), ("s1", 1),
                                   ("s2", 1)]), value("")]]),
        (2, lambda: [["DEL"] + [anykey() for _ in range(rng.randint(1, 2))]]),
        (1, lambda: [["EXISTS"] + [anykey() for _ in range(rng.randint(1, 3))]]),
        (1, lambda: [["TYPE", anykey()]]),
        (1, lambda: [["EXPIRE", anykey(), rng.choice(["100", "1000", "2000", "0", "-1", "abc"])]
                     + rng.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"], ["NX", "XX"]])]),
        (1, lambda: [["TTL", anykey()]]),
        (1, lambda: [["PERSIST", anykey()]]),
        (1, lambda: [[rng.choice(["RENAME", "RENAME", "RENAMENX"]), anykey(),
                      rng.choice(everyone)]]),
        (1, lambda: [["COPY", anykey(), rng.choice(everyone)] + rng.choice([[], ["REPLACE"]])]),
    ]
    weights = [w for w, _ in ops]
    out = []
    while len(out) < n:
        out += rng.choices(ops, weights)[0][1]()
    return out[:n]


def random_zset_commands(n, seed=4):
    """N random sorted-set commands over z1 z2 z3 (binary-fraction scores),
    l1 l2 ("lex keys": every member scored 0 or -0, so lex ranges are
    specified), zp (scores that only print: 0.1, 1e300, 5e-324, ...; never
    incremented or summed over more than two inputs, so summation order
    cannot matter), m (string, hash, set or sorted set), s (mostly a set: a
    ZUNION/ZINTER input with score 1), "one" (a one-member set for
    ZRANDMEMBER), and "str" (a string set first) and "nokey", which are
    only ever read. Writes keep these roles: a lex key is only written
    from lex keys, a result carrying zp's scores only goes to zp, and lex
    writes (ZREMRANGEBYLEX, ZRANGESTORE BYLEX) only touch lex keys.
    Increments and binary scores are multiples of 1/32 far below 2**53, so
    every sum is exact. ZPOP*, ZMPOP and ZRANDMEMBER (which only reads)
    keep every effect deterministic."""
    rng = random.Random(seed)
    members = ["", "a", "ab", "abc", "b", "ba", "c", "A", "0", "10", "-", "[x"]
    long_member = "v" * 70   # Redis stores a set holding it as a skiplist
    zkeys, lkeys = ["z1", "z2", "z3"], ["l1", "l2"]
    everyone = zkeys + lkeys + ["zp", "m", "s"]
    scores = ["0", "1", "2", "3", "-1", "-2", "5", "10", "0.5", "1.25", "-0.5", "2.5",
              "-3.75", "0.125", "100", "1.5", "7", "-0", "inf", "-inf", "+inf"]
    odd_scores = ["Inf", "-INFINITY", "0x10", "0x1p-2", "1e1", ".5", "5.", "+1", "0.0625e1",
                  "1E2", "-.25"]
    print_scores = ["0.1", "0.2", "3.14159", "1e300", "-1e-300", "123456789.123456789", "1e20",
                    "5e-324", "4.9e-324", "2.2250738585072014e-308",
                    "1.7976931348623157e308", "0.30000000000000004", "1e15", "1e16",
                    "12345678901234567890", "1e-5", "-2.5e-7", "1e17", "9007199254740993",
                    "0.1e1", "100000000000000000000"]
    bad_scores = ["abc", "", "nan", "NaN", "-nan", " 1", "1 ", "1e400", "-1e400", "1e-400", "0x",
                  "1,5", "--1", "(1", "1e", "inf1", "1.5.5", "\t2"]
    incrs = ["1", "-1", "0.5", "2", "-0.25", "0", "10", "3", "-3", "1.5", "-0", "0.0625",
             "inf", "-inf"]
    score_bounds = ["-inf", "+inf", "inf", "(1", "1", "(-1", "0.5", "(0.5", "(inf", "(-inf",
                    "0", "(0", "2", "(2", "-2", "1.25", "(1.25", "10", "5", "-0", "(-0",
                    "100", "(100", "-5"]
    bad_score_bounds = ["abc", "(", "", "nan", "(nan", "(abc", "[1", "1e400", "((1", " 1",
                        "0x10", "(-inf)", "1e-400"]
    lex_bounds = ["-", "+", "[a", "(a", "[ab", "(ab", "[b", "(b", "[c", "(c", "[", "(", "[A",
                  "[0", "(abc", "[ba", "[zz", "(-", "[-", "[[x", "(+"]
    bad_lex_bounds = ["a", "", "+a", "-x", "]a", "inf", "0", "++"]
    ranks = ["0", "1", "2", "3", "-1", "-2", "-3", "5", "10", "-100", "100", "0", "-1"]
    bad_ranks = ["abc", "1.5", "", " 1", "+1", "9223372036854775807", "-9223372036854775808",
                 "9223372036854775808", "0x1"]
    offsets = ["0", "0", "1", "2", "3", "-1", "5", "abc", "9223372036854775807"]
    limits = ["1", "2", "3", "-1", "0", "10", "-5", "abc", "1.0"]
    weights = ["1", "2", "0", "-1", "0.5", "3", "inf", "-inf", "1", "2"]
    bad_weights = ["abc", "", "nan", "1e400", "(1"]
    pop_counts = ["0", "1", "2", "3", "5", "100", "-1", "abc", "1.5", "",
                  "9223372036854775807", "-9223372036854775808"]
    rcounts = ["-5", "-3", "-1", "0", "1", "2", "3", "5", "20", "abc", "1.0",
               "9223372036854775807", "-9223372036854775808", "9223372036854775808",
               "4611686018427387904"]
    # Redis makes that many picks from a set that exists: only on "nokey".
    # ringkv refuses more than 10,000,000 (docs/compatibility.md).
    huge_negative = ["-10000000", "-9999999"]
    patterns = ["*", "a*", "?", "[a-c]*", "*b*", "", "x", "[", "\\[x", "-"]
    cursors = ["abc", "1.5", " 0", "18446744073709551616", "", "-0", "0x0"]
    scan_counts = ["1", "2", "10", "100", "0", "-1", "abc"]

    def pick(weighted):
        keys, ws = zip(*weighted)
        return rng.choices(keys, ws)[0]

    def member():
        return long_member if rng.random() < 0.01 else rng.choice(members)

    def some(pool, lo, hi):
        return [rng.choice(pool) for _ in range(rng.randint(lo, hi))]

    def rkey():
        """Any key, for a read or a write that cannot change scores."""
        return pick([("z1", 6), ("z2", 6), ("z3", 5), ("l1", 4), ("l2", 4), ("zp", 3),
                     ("m", 3), ("s", 2), ("str", 1), ("nokey", 2)])

    def lexkey():
        """A key lex ranges are specified on (or that is not a sorted set)."""
        return pick([("l1", 10), ("l2", 10), ("nokey", 1), ("str", 1)])

    def score(k):
        r = rng.random()
        if r < 0.04:
            return rng.choice(bad_scores)
        if k in lkeys:
            return "-0" if r < 0.1 else "0"
        if k == "zp" and r < 0.6:
            return rng.choice(print_scores)
        return rng.choice(odd_scores) if r < 0.08 else rng.choice(scores)

    def incr(k):
        r = rng.random()
        if r < 0.05:
            return rng.choice(bad_scores)
        if k in lkeys:
            return rng.choice(["0", "0", "-0"])
        return rng.choice(incrs)

    def zadd():
        k = pick([("z1", 8), ("z2", 8), ("z3", 6), ("l1", 6), ("l2", 6), ("zp", 4), ("m", 3),
                  ("s", 1)])
        r = rng.random()
        if r < 0.35:
            flags = []
        elif r < 0.85:
            flags = rng.choice([["NX"], ["XX"], ["CH"], ["GT"], ["LT"], ["XX", "CH"],
                                ["GT", "CH"], ["LT", "CH"], ["NX", "CH"], ["INCR"],
                                ["NX", "INCR"], ["XX", "INCR"], ["GT", "INCR"], ["LT", "INCR"],
                                ["XX", "GT"], ["XX", "LT", "CH"], ["gt", "ch"], ["CH", "CH"],
                                ["INCR", "CH"], ["incr", "xx", "lt"]])
        else:
            flags = rng.choice([["NX", "XX"], ["GT", "LT"], ["NX", "GT"], ["NX", "LT"],
                                ["nx", "xx", "gt"], ["INCR", "NX", "XX"], ["GT", "LT", "INCR"],
                                ["NX", "LT", "CH"]])
        flags = rng.sample(flags, len(flags))
        is_incr = any(f.upper() == "INCR" for f in flags)
        if is_incr and k == "zp":
            k = rng.choice(zkeys)
        pairs = []
        for _ in range(1 if is_incr and rng.random() < 0.9 else rng.randint(1, 4)):
            pairs += [incr(k) if is_incr else score(k), member()]
        r = rng.random()
        if r < 0.03:
            pairs = []
        elif r < 0.07:
            pairs.pop()
        elif r < 0.09:
            pairs = [rng.choice(["NX", "XX", "foo"])] + pairs
        return [["ZADD", k] + flags + pairs]

    def zincrby():
        k = pick([("z1", 8), ("z2", 8), ("z3", 6), ("l1", 3), ("l2", 3), ("m", 2), ("s", 1),
                  ("nokey", 0)])
        args = ["ZINCRBY", k, incr(k), member()]
        if rng.random() < 0.03:
            args = args[:rng.randint(2, 3)] if rng.random() < 0.7 else args + ["extra"]
        return [args]

    def bound_pair(good, bad, rev):
        if rng.random() < 0.06:
            lo, hi = rng.choice(bad), rng.choice(good + bad)
        else:
            lo, hi = rng.choice(good), rng.choice(good)
        if rng.random() < 0.1:
            lo, hi = hi, lo
        return [hi, lo] if rev else [lo, hi]

    def score_pair(rev):
        return bound_pair(score_bounds, bad_score_bounds, rev)

    def lex_pair(rev):
        return bound_pair(lex_bounds, bad_lex_bounds, rev)

    def rank_pair():
        pool = bad_ranks if rng.random() < 0.05 else ranks
        return [rng.choice(pool), rng.choice(ranks if rng.random() < 0.7 else pool)]

    def limit():
        if rng.random() < 0.05:
            return rng.choice([["LIMIT"], ["LIMIT", "0"], ["limit", "1", "1"]])
        return ["LIMIT", rng.choice(offsets), rng.choice(limits)]

    def dest_for(src):
        """A destination for a copy of `src` (ZRANGESTORE, RENAME, COPY)."""
        if src == "zp":
            return "zp"
        if src in lkeys + ["nokey"]:
            return rng.choice(everyone)
        return rng.choice(zkeys + ["m", "s", "zp"])

    def zrange(store=False):
        kind = pick([("rank", 4), ("score", 4), ("lex", 3)])
        rev = rng.random() < 0.35
        opts = []
        if store:
            src = rkey() if kind != "lex" else lexkey()
            dst = dest_for(src)
            head = ["ZRANGESTORE", dst, src]
        else:
            head = ["ZRANGE", rkey() if kind != "lex" or rng.random() < 0.2 else lexkey()]
        if kind == "rank":
            head += rank_pair()
        elif kind == "score":
            head += score_pair(rev)
            opts.append(["BYSCORE"])
        else:
            head += lex_pair(rev)
            opts.append(["BYLEX"])
        if rev:
            opts.append(["REV"])
        if rng.random() < (0.4 if kind != "rank" else 0.08):
            opts.append(limit())
        if not store and rng.random() < (0.5 if kind != "lex" else 0.08):
            opts.append(["WITHSCORES"])
        if rng.random() < 0.06:
            opts.append(rng.choice([["WITHSCORES"], ["REV"], ["BYSCORE"], ["BYLEX"],
                                    ["foo"], ["LIMIT", "0", "-1"]]))
        if rng.random() < 0.3:
            rng.shuffle(opts)
        return [head + [o for opt in opts for o in opt]]

    def legacy_range():
        cmd = rng.choice(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX",
                          "ZREVRANGE"])
        rev = cmd.startswith("ZREV")
        opts = []
        if cmd.endswith("SCORE"):
            args = [cmd, rkey()] + score_pair(rev)
            if rng.random() < 0.5:
                opts.append(["WITHSCORES"])
            if rng.random() < 0.4:
                opts.append(limit())
        elif cmd.endswith("LEX"):
            args = [cmd, lexkey() if rng.random() < 0.8 else rkey()] + lex_pair(rev)
            if rng.random() < 0.4:
                opts.append(limit())
            if rng.random() < 0.05:
                opts.append(["WITHSCORES"])
        else:
            args = [cmd, rkey()] + rank_pair()
            if rng.random() < 0.5:
                opts.append(["WITHSCORES"])
        if rng.random() < 0.06:
            opts.append(rng.choice([["REV"], ["BYSCORE"], ["BYLEX"], ["LIMIT", "0", "-1"],
                                    ["LIMIT", "1", "1"], ["foo"]]))
        if rng.random() < 0.3:
            rng.shuffle(opts)
        return [args + [o for opt in opts for o in opt]]

    def setop(cmd):
        store = cmd.endswith("STORE")
        base = cmd[:-5] if store else cmd
        srcs = [rkey() for _ in range(rng.randint(1, 3))]
        agg = None
        opts = []
        if base != "ZDIFF" and rng.random() < 0.4:
            agg = rng.choice(["SUM", "MIN", "MAX", "min", "max", "sum", "AVG"])
        if "zp" in srcs and base != "ZDIFF" and (agg or "SUM").upper() == "SUM":
            srcs = srcs[:2]
        if base != "ZDIFF" and rng.random() < 0.4 or rng.random() < 0.02:
            ws = [rng.choice(weights) for _ in srcs]
            if rng.random() < 0.04:
                ws[rng.randrange(len(ws))] = rng.choice(bad_weights)
            elif rng.random() < 0.04:
                ws = ws[:-1] if rng.random() < 0.5 else ws + ["1"]
            opts.append(["WEIGHTS"] + ws)
        if agg:
            opts.append(["AGGREGATE", agg])
        if (not store and rng.random() < 0.6) or rng.random() < 0.03:
            opts.append(["WITHSCORES"])
        if rng.random() < 0.03:
            opts.append(rng.choice([["LIMIT", "1"], ["AGGREGATE"], ["WEIGHTS"], ["foo"]]))
        if rng.random() < 0.3:
            rng.shuffle(opts)
        numkeys = str(len(srcs))
        r = rng.random()
        if r < 0.05:
            numkeys = rng.choice(["0", "-1", "abc", str(len(srcs) + 1), "9999999999999", ""])
        elif r < 0.08 and len(srcs) > 1:
            numkeys = str(len(srcs) - 1)
        head = [cmd]
        if store:
            scored = srcs[:1] if base == "ZDIFF" else srcs
            if "zp" in scored:
                dst = "zp"
            elif all(k in lkeys + ["nokey"] for k in scored):
                dst = rng.choice(everyone)
            else:
                dst = rng.choice(zkeys + ["m", "s", "zp"])
            head.append(dst)
        return [head + [numkeys] + srcs + [o for opt in opts for o in opt]]

    def zintercard():
        srcs = [rkey() for _ in range(rng.randint(1, 3))]
        numkeys = str(len(srcs))
        if rng.random() < 0.08:
            numkeys = rng.choice(["0", "-1", "abc", str(len(srcs) + 1)])
        args = ["ZINTERCARD", numkeys] + srcs
        if rng.random() < 0.5:
            args += ["LIMIT", rng.choice(["0", "1", "2", "3", "-1", "abc", "100"])]
            if rng.random() < 0.05:
                args.pop()
        return [args]

    def zpop():
        cmd = rng.choice(["ZPOPMIN", "ZPOPMAX"])
        args = [cmd, rkey()]
        if rng.random() < 0.6:
            args.append(rng.choice(pop_counts))
            if rng.random() < 0.03:
                args.append("extra")
        return [args]

    def zmpop():
        keys = [rkey() for _ in range(rng.randint(1, 3))]
        numkeys = str(len(keys))
        if rng.random() < 0.08:
            numkeys = rng.choice(["0", "-1", "abc", str(len(keys) + 1)])
        args = ["ZMPOP", numkeys] + keys + [rng.choice(["MIN", "MAX", "min", "max", "MIN",
                                                        "MAX", "foo"])]
        if rng.random() < 0.5:
            args += ["COUNT", rng.choice(pop_counts)]
            if rng.random() < 0.05:
                args.pop()
        if rng.random() < 0.03:
            args.append(rng.choice(["COUNT", "foo"]))
        return [args]

    def zrandmember():
        k = rkey()
        args = ["ZRANDMEMBER", k]
        if rng.random() < 0.8:
            args.append(rng.choice(rcounts))
            if k == "nokey" and rng.random() < 0.3:
                args[-1] = rng.choice(huge_negative)
            if rng.random() < 0.4:
                args.append(rng.choice(["WITHSCORES", "WITHSCORES", "withscores", "nope"]))
        elif rng.random() < 0.1:
            args.append("WITHSCORES")
        if rng.random() < 0.15 and not set(args) & set(huge_negative):
            # A one-member set: every pick is that member.
            m = member()
            return [["DEL", "one"], ["ZADD", "one", rng.choice(scores), m],
                    ["ZRANDMEMBER", "one"] + args[2:]]
        return [args]

    def zscan():
        args = ["ZSCAN", rkey(), "0" if rng.random() < 0.85 else rng.choice(cursors)]
        for opt in rng.sample(["MATCH", "COUNT"], rng.randint(0, 2)):
            args += [opt, rng.choice(patterns if opt == "MATCH" else scan_counts)]
        if rng.random() < 0.05:
            args += rng.choice([["NOVALUES"], ["MATCH"], ["COUNT"], ["TYPE", "zset"],
                                ["count", "3"]])
        return [args]

    def zremrange():
        r = rng.random()
        if r < 0.35:
            return [["ZREMRANGEBYSCORE", rkey()] + score_pair(False)]
        if r < 0.7:
            return [["ZREMRANGEBYRANK", rkey()] + rank_pair()]
        return [["ZREMRANGEBYLEX", lexkey()] + lex_pair(False)]

    def rename():
        src = rng.choice(everyone + ["nokey"])
        dst = dest_for(src)
        if rng.random() < 0.5:
            return [[rng.choice(["RENAME", "RENAME", "RENAMENX"]), src, dst]]
        return [["COPY", src, dst] + rng.choice([[], ["REPLACE"]])]

    def other_type():
        k = pick([("m", 6), ("s", 2), ("z1", 1), ("z2", 1), ("z3", 1)])
        r = rng.random()
        if r < 0.35:
            return [["SET", k, rng.choice(["x", "1", "1.5"])]]
        if r < 0.8 or k == "s":
            return [["SADD", "s" if k == "s" or r < 0.6 else k] + some(members, 1, 4)]
        return [["HSET", k, rng.choice(members), "1"]]

    def read_member(cmd):
        args = [cmd, rkey(), member()]
        if cmd in ("ZRANK", "ZREVRANK") and rng.random() < 0.04:
            args.append(rng.choice(["WITHSCORE", "withscore", "foo"]))
        return [args]

    ops = [
        (14, zadd),
        (4, zincrby),
        (4, lambda: [["ZREM", rkey()] + some(members, 0 if rng.random() < 0.04 else 1, 3)]),
        (3, lambda: read_member("ZSCORE")),
        (2, lambda: [["ZMSCORE", rkey()] + some(members, 0 if rng.random() < 0.04 else 1, 4)]),
        (2, lambda: [["ZCARD", rkey()]]),
        (2, lambda: [["ZCOUNT", rkey()] + score_pair(False)]),
        (2, lambda: [["ZLEXCOUNT", lexkey() if rng.random() < 0.8 else rkey()]
                     + lex_pair(False)]),
        (8, zrange),
        (2, lambda: zrange(store=True)),
        (6, legacy_range),
        (2, lambda: read_member("ZRANK")),
        (2, lambda: read_member("ZREVRANK")),
        (3, zpop),
        (2, zmpop),
        (2, zrandmember),
        (3, zremrange),
        (2, lambda: setop("ZUNION")),
        (1, lambda: setop("ZUNIONSTORE")),
        (2, lambda: setop("ZINTER")),
        (1, lambda: setop("ZINTERSTORE")),
        (2, lambda: setop("ZDIFF")),
        (1, lambda: setop("ZDIFFSTORE")),
        (2, zintercard),
        (2, zscan),
        (2, other_type),
        (2, lambda: [["DEL"] + [rng.choice(everyone + ["one"]) for _ in range(rng.randint(1, 2))]]),
        (1, lambda: [["EXISTS"] + [rkey() for _ in range(rng.randint(1, 3))]]),
        (1, lambda: [["TYPE", rkey()]]),
        (1, lambda: [["EXPIRE", rng.choice(everyone), rng.choice(["100", "1000", "0", "-1",
                                                                   "abc"])]
                     + rng.choice([[], [], ["NX"], ["XX"], ["GT"], ["LT"]])]),
        (1, lambda: [["TTL", rkey()]]),
        (2, rename),
    ]
    ws = [w for w, _ in ops]
    out = [["SET", "str", "plain string"]]
    while len(out) < n:
        out += rng.choices(ops, ws)[0][1]()
    return out[:n]


def random_big_commands(n, seed=6):
    """N random commands on a hash, a set, a sorted set and a list large
    enough to be stored split by ringkv (1,200 members each to start,
    growing and shrinking across the split size): the writes and reads that
    touch only the members they name (HSET ... ZSCORE), sorted-set reads
    and pops by score or rank (ZRANGEBYSCORE ... LIMIT, ZREVRANGE, ZRANK,
    ZCOUNT, ZPOPMIN/MAX, ZREMRANGEBYRANK near either end, ZREMRANGEBYSCORE),
    pushes and pops at both list ends, LRANGE/LINDEX/LSET near either end,
    LSET far from both, SINTER, SDIFF and SUNION of the big set with a
    small one (and their STORE and CARD forms), ZINTER, ZDIFF and ZUNION
    of the big sorted set with a small one or a set (weights, aggregates,
    STORE and CARD forms),
    LPOS from either end (with RANK, COUNT and MAXLEN),
    LRANGE/LINDEX far from both (read from ringkv's copy of the list's
    positions while pushes and pops keep it), lex ranges, counts and
    removals of a sorted set whose scores are all 0, the counts,
    TYPE/EXISTS/TTL, and now and then a read of everything, a DEL and a
    refill. Every reply is deterministic."""
    rng = random.Random(seed)

    def member():
        return f"m{rng.randrange(3000):04d}"

    def fill(key):
        cmds = []
        for c in range(12):
            ms = [f"m{c * 100 + i:04d}" for i in range(100)]
            if key == "bh":
                cmds.append(["HSET", "bh"] + [x for m in ms for x in (m, str(rng.randrange(100)))])
            elif key == "bs":
                cmds.append(["SADD", "bs"] + ms)
            elif key == "bz":
                cmds.append(["ZADD", "bz"] + [x for m in ms for x in (str(rng.randrange(-50, 50)), m)])
            elif key == "bx":
                cmds.append(["ZADD", "bx"] + [x for m in ms for x in ("0", m)])
            else:
                cmds.append(["RPUSH", "bl"] + [f"v{rng.randrange(40)}" for _ in range(100)])
        return cmds

    def members(lo, hi):
        return [member() for _ in range(rng.randint(lo, hi))]

    def near_end():
        i = rng.randrange(60)
        return str(i if rng.random() < 0.5 else -1 - i)

    def value():
        return f"v{rng.randrange(40)}"

    def far_from_ends():
        # At least 256 elements from either end of a list of about 1,200
        # (ringkv reads those by position from a copy).
        i = rng.randrange(250, 950)
        return i if rng.random() < 0.5 else -1 - i

    def rank_trim():
        # A few ranks at the low end, at the high end, or near either.
        n, i = rng.randrange(3), rng.randrange(1, 60)
        return rng.choice([["0", str(n)], [str(-1 - n), "-1"], [str(i), str(i + n)],
                           [str(-i - n), str(-i)], ["0", str(-1200 + n)]])

    def score_bound():
        b = rng.choice(["-inf", "+inf"] + [str(rng.randrange(-55, 55) / 2) for _ in range(8)])
        return ("(" + b) if rng.random() < 0.25 and "inf" not in b else b

    def score_range():
        """A by-score read of the big sorted set, ascending or descending,
        often with LIMIT (a negative offset or count now and then)."""
        lo, hi = score_bound(), score_bound()
        limit = []
        if rng.random() < 0.7:
            limit = ["LIMIT", str(rng.choice([0, 0, rng.randrange(40), -1])),
                     str(rng.choice([rng.randrange(1, 20), -1]))]
        scores = ["WITHSCORES"] if rng.random() < 0.5 else []
        form = rng.randrange(3)
        if form == 0:
            return ["ZRANGEBYSCORE", "bz", lo, hi] + scores + limit
        if form == 1:
            return ["ZREVRANGEBYSCORE", "bz", hi, lo] + scores + limit
        return ["ZRANGE", "bz", hi, lo, "BYSCORE", "REV"] + limit + scores

    def lex_bound():
        # A member's name or a prefix of one, either end open now and then.
        if rng.random() < 0.1:
            return rng.choice(["-", "+"])
        return rng.choice("[(") + member()[:rng.randint(2, 5)]

    def random_read():
        """SRANDMEMBER, HRANDFIELD or ZRANDMEMBER of a big key: compared by
        shape (how many picks, distinct or not), or whole when the count
        exceeds the collection."""
        cmd, key, word = rng.choice([("SRANDMEMBER", "bs", None), ("HRANDFIELD", "bh", "WITHVALUES"),
                                     ("ZRANDMEMBER", "bz", "WITHSCORES")])
        n = rng.choice([None, 1, 5, 40, -7, 5000])
        args = [cmd, key] + ([] if n is None else [str(n)])
        if n is not None and word and rng.random() < 0.5:
            args.append(word)
        return args

    def count():
        return [] if rng.random() < 0.3 else [str(rng.randrange(12))]

    weighted = [
        (6, lambda: [["HSET", "bh"] + [x for m in members(1, 5) for x in (m, value())]]),
        (1, lambda: [["HSETNX", "bh", member(), value()]]),
        (4, lambda: [["HDEL", "bh"] + members(1, 30)]),
        (3, lambda: [["HGET", "bh", member()]]),
        (2, lambda: [["HMGET", "bh"] + members(1, 5)]),
        (1, lambda: [["HEXISTS", "bh", member()]]),
        (1, lambda: [["HSTRLEN", "bh", member()]]),
        (2, lambda: [["HLEN", "bh"]]),
        (2, lambda: [["HINCRBY", "bh", member(), str(rng.randrange(-9, 9))]]),
        (5, lambda: [["SADD", "bs"] + members(1, 10)]),
        (4, lambda: [["SREM", "bs"] + members(1, 40)]),
        (2, lambda: [["SISMEMBER", "bs", member()]]),
        (1, lambda: [["SMISMEMBER", "bs"] + members(1, 5)]),
        (2, lambda: [["SCARD", "bs"]]),
        (1, lambda: [["SADD", "ss"] + members(1, 8)]),
        (0.5, lambda: [["SREM", "ss"] + members(1, 8)]),
        (2, lambda: [[rng.choice(["SINTER", "SDIFF", "SUNION"])] + rng.sample(["bs", "ss", "bs", "nokey"], rng.randint(1, 3))]),
        (1, lambda: [["SINTERCARD", "2", "ss", "bs"] + rng.choice([[], ["LIMIT", "3"]])]),
        (1, lambda: [["ZADD", "sz"] + [x for m in members(1, 6) for x in (str(rng.randrange(-9, 9) / 4), m)]]),
        (0.5, lambda: [["ZREM", "sz"] + members(1, 6)]),
        (2, lambda: (lambda ks: [[rng.choice(["ZINTER", "ZDIFF", "ZUNION"]), str(len(ks))] + ks
                                 + rng.choice([[], ["WITHSCORES"]])])(rng.sample(["bz", "sz", "ss", "nokey"], rng.randint(1, 3)))),
        (1, lambda: [["ZINTER", "2", rng.choice(["sz", "ss"]), "bz", "WEIGHTS", str(rng.randrange(1, 4)), "0.5",
                      "AGGREGATE", rng.choice(["SUM", "MIN", "MAX"]), "WITHSCORES"]]),
        (1, lambda: [["ZINTERCARD", "2", "bz", rng.choice(["sz", "ss"])]]),
        (0.5, lambda: [[rng.choice(["ZINTERSTORE", "ZDIFFSTORE"]), "zdest", "2", rng.choice(["sz", "bz"]), rng.choice(["sz", "bz"])],
                       ["ZRANGE", "zdest", "0", "-1", "WITHSCORES"]]),
        (0.5, lambda: [[rng.choice(["SINTERSTORE", "SDIFFSTORE"]), "sdest", rng.choice(["ss", "bs"]), rng.choice(["ss", "bs"])],
                       ["SMEMBERS", "sdest"]]),
        (5, lambda: [["ZADD", "bz"] + rng.choice([[], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["XX", "CH"]])
                     + [x for m in members(1, 5) for x in (str(rng.randrange(-50, 50)), m)]]),
        (2, lambda: [["ZINCRBY", "bz", str(rng.randrange(-5, 5)), member()]]),
        (4, lambda: [["ZREM", "bz"] + members(1, 40)]),
        (2, lambda: [["ZSCORE", "bz", member()]]),
        (1, lambda: [["ZMSCORE", "bz"] + members(1, 5)]),
        (2, lambda: [["ZCARD", "bz"]]),
        (1, lambda: [["ZRANGE", "bz", near_end(), near_end(), "WITHSCORES"]]),
        (1, lambda: [["ZREVRANGE", "bz", near_end(), near_end()] + rng.choice([[], ["WITHSCORES"]])]),
        (3, lambda: [score_range()]),
        (2, lambda: [[rng.choice(["ZPOPMIN", "ZPOPMAX"]), "bz"] + count()]),
        (2, lambda: [[rng.choice(["ZRANK", "ZREVRANK"]), "bz", member()]]),
        (1, lambda: [["ZREMRANGEBYRANK", "bz"] + rank_trim()]),
        (0.5, lambda: [["ZREMRANGEBYSCORE", "bz", score_bound(), score_bound()]]),
        (1, lambda: [random_read()]),
        (1, lambda: [["ZCOUNT", "bz", score_bound(), score_bound()]]),
        (1, lambda: [["ZINCRBY", "bz", rng.choice(["0.5", "-1.25", "2.75"]), member()]]),
        (2, lambda: [["ZADD", "bx"] + [x for m in members(1, 5) for x in ("0", m)]]),
        (1, lambda: [["ZREM", "bx"] + members(1, 20)]),
        (2, lambda: [["ZLEXCOUNT", "bx", lex_bound(), lex_bound()]]),
        (2, lambda: [[rng.choice(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), "bx", lex_bound(), lex_bound()]
                     + rng.choice([[], ["LIMIT", str(rng.randrange(5)), str(rng.randrange(1, 15))]])]),
        (0.5, lambda: (lambda m: [["ZREMRANGEBYLEX", "bx", "[" + m[:4], "(" + m[:3] + chr(ord(m[3]) + 1)]])(member())),
        (5, lambda: [[rng.choice(["LPUSH", "RPUSH"]), "bl"] + [value() for _ in range(rng.randint(1, 12))]]),
        (1, lambda: [[rng.choice(["LPUSHX", "RPUSHX"]), rng.choice(["bl", "nolist"]), value()]]),
        (5, lambda: [[rng.choice(["LPOP", "RPOP"]), "bl"] + count()]),
        (4, lambda: [["LRANGE", "bl", near_end(), near_end()]]),
        (2, lambda: [["LINDEX", "bl", near_end()]]),
        (3, lambda: (lambda i: [["LRANGE", "bl", str(i), str(i + rng.randrange(20))]])(far_from_ends())),
        (2, lambda: [["LINDEX", "bl", str(far_from_ends())]]),
        (2, lambda: [["LLEN", "bl"]]),
        (2, lambda: [["LPOS", "bl", value()]
                     + rng.choice([[], ["RANK", str(rng.choice([1, 2, 9, 40, -1, -3, -40]))]])
                     + rng.choice([[], ["COUNT", str(rng.choice([0, 1, 3, 50]))]])
                     + rng.choice([[], ["MAXLEN", str(rng.choice([0, 30, 200, 2000]))]])]),
        (1, lambda: [["LSET", "bl", near_end(), value()]]),
        (1, lambda: [["LSET", "bl", str(far_from_ends()), value()]]),
        (0.3, lambda: [["LINSERT", "bl", rng.choice(["BEFORE", "AFTER"]), value(), value()]]),
        (0.3, lambda: [["LREM", "bl", str(rng.randrange(-2, 3)), value()]]),
        (0.3, lambda: [["LTRIM", "bl", str(rng.randrange(3)), str(-1 - rng.randrange(3))]]),
        # A capped list's push and trim, and trims of more from either end.
        (1, lambda: [["LPUSH", "bl", value()],
                     ["LTRIM", "bl", str(rng.randrange(25)),
                      str(rng.choice([-1 - rng.randrange(25), 1100 + rng.randrange(200)]))]]),
        (1, lambda: [[rng.choice(["TYPE", "EXISTS", "TTL"]), rng.choice(["bh", "bs", "bz", "bl"])]]),
        (0.3, lambda: [[rng.choice(["HGETALL", "SMEMBERS", "HKEYS"]), rng.choice(["bh", "bs"])]]),
        (0.2, lambda: [["LRANGE", "bl", "0", "-1"]]),
        (0.1, lambda: (lambda k: [["DEL", k]] + fill(k))(rng.choice(["bh", "bs", "bz", "bx", "bl"]))),
    ]
    weights = [w for w, _ in weighted]
    out = []
    for key in ("bh", "bs", "bz", "bx", "bl"):
        out += fill(key)
    while len(out) < n:
        out += rng.choices(weighted, weights)[0][1]()
    return out


UNORDERED = {"SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "SPOP"}
SCANS = {"HSCAN", "SSCAN", "ZSCAN"}
BLOCKING = {"BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"}
RANDOM_PICKS = {"SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"}
NORMALIZED = UNORDERED | SCANS | RANDOM_PICKS | {"HGETALL"}
# Lex ranges Redis leaves unspecified when the members' scores differ.
LEX_READS = {"ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZLEXCOUNT"}


def random_list_commands(n, seed=5):
    """N random list commands over l1 l2 (mostly lists), m (anything), x
    (sometimes a string) and "nokey" (only read): every list command with
    good and bad arguments, the blocking forms with a short timeout, and
    DEL/EXISTS/TYPE/EXPIRE/RENAME/COPY/SET/SADD on the same keys so
    WRONGTYPE is hit. Every reply is deterministic."""
    rng = random.Random(seed)
    values = ["a", "b", "c", "1", "2", "", "xyz", "a b", "-1"]
    indexes = ["0", "1", "2", "-1", "-2", "5", "-10", "100", "-100", "abc", "1.5", "",
               "9223372036854775807", "-9223372036854775808", "9223372036854775808"]
    counts = ["0", "1", "2", "3", "-1", "-2", "-3", "10", "abc", ""]
    lists = ["l1", "l2", "m"]

    def pick(weighted):
        keys, weights = zip(*weighted)
        return rng.choices(keys, weights)[0]

    def lkey(write=False):
        return pick([("l1", 8), ("l2", 8), ("m", 4), ("x", 1 if write else 3),
                     ("nokey", 0 if write else 2)])

    def end():
        return pick([("LEFT", 10), ("RIGHT", 10), ("left", 2), ("middle", 1)])

    def some(lo, hi):
        return [rng.choice(values) for _ in range(rng.randint(lo, hi))]

    def lpos():
        args = ["LPOS", lkey(), rng.choice(values)]
        for opt in rng.sample(["RANK", "COUNT", "MAXLEN"], rng.randint(0, 3)):
            arg = {"RANK": ["1", "2", "-1", "-2", "0", "abc", "-9223372036854775808"],
                   "COUNT": ["0", "1", "2", "-1", "x"],
                   "MAXLEN": ["0", "1", "3", "-1", "y"]}[opt]
            args += [opt, rng.choice(arg)]
        if rng.random() < 0.03:
            args.append("RANK")
        return args

    def mpop(blocking):
        keys = [lkey() for _ in range(rng.randint(1, 3))]
        numkeys = str(len(keys)) if rng.random() < 0.9 else rng.choice(["0", "-1", "9", "x"])
        args = ["BLMPOP", "0.01"] if blocking else ["LMPOP"]
        args += [numkeys] + keys + [end()]
        if rng.random() < 0.5:
            args += ["COUNT", rng.choice(["1", "2", "5", "0", "-1", "x"])]
        if rng.random() < 0.03:
            args += ["COUNT", "1"]
        return args

    def other():
        return pick([
            (["DEL", lkey(True)], 3),
            (["EXISTS", lkey()], 1),
            (["TYPE", lkey()], 1),
            (["SET", "x", "v"], 1),
            (["DEL", "x"], 1),
            (["SADD", "m", "s"], 1),
            (["DEL", "m"], 1),
            (["EXPIRE", lkey(), "100"], 1),
            (["TTL", lkey()], 1),
            (["RENAME", lkey(), lkey(True)], 1),
            (["COPY", lkey(), lkey(True), "REPLACE"], 1),
        ])

    out = []
    for _ in range(n):
        choice = rng.randint(0, 99)
        k = lkey()
        if choice < 16:
            out.append([rng.choice(["LPUSH", "RPUSH"]), lkey(True)] + some(1, 3))
        elif choice < 20:
            out.append([rng.choice(["LPUSHX", "RPUSHX"]), lkey(True)] + some(1, 2))
        elif choice < 30:
            cmd = [rng.choice(["LPOP", "RPOP"]), k]
            if rng.random() < 0.5:
                cmd.append(rng.choice(counts))
            out.append(cmd)
        elif choice < 34:
            out.append(["LLEN", k])
        elif choice < 44:
            out.append(["LRANGE", k, rng.choice(indexes), rng.choice(indexes)])
        elif choice < 48:
            out.append(["LINDEX", k, rng.choice(indexes)])
        elif choice < 52:
            out.append(["LSET", lkey(True), rng.choice(indexes), rng.choice(values)])
        elif choice < 57:
            where = pick([("BEFORE", 5), ("AFTER", 5), ("after", 1), ("between", 1)])
            out.append(["LINSERT", lkey(True), where, rng.choice(values), rng.choice(values)])
        elif choice < 62:
            out.append(["LREM", lkey(True), rng.choice(counts), rng.choice(values)])
        elif choice < 66:
            out.append(["LTRIM", lkey(True), rng.choice(indexes), rng.choice(indexes)])
        elif choice < 72:
            out.append(lpos())
        elif choice < 76:
            out.append(["LMOVE", lkey(), lkey(True), end(), end()])
        elif choice < 78:
            out.append(["RPOPLPUSH", lkey(), lkey(True)])
        elif choice < 82:
            out.append(mpop(False))
        elif choice < 84:
            out.append([rng.choice(["BLPOP", "BRPOP"])]
                       + [lkey() for _ in range(rng.randint(1, 2))]
                       + [rng.choice(["0.01", "0.01", "-1", "x"])])
        elif choice < 85:
            out.append(["BLMOVE", lkey(), lkey(True), end(), end(), "0.01"])
        elif choice < 86:
            out.append(["BRPOPLPUSH", lkey(), lkey(True), "0.01"])
        elif choice < 87:
            out.append(mpop(True))
        else:
            out.append(other())
    return out


def pairs_of(items):
    return [(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]


def scan_all(conn, args, tree):
    """Follows an HSCAN/SSCAN/ZSCAN from its first reply `tree` until the
    cursor is 0 again; the union of the pages (field-value or member-score
    pairs for HSCAN and ZSCAN) as a sorted list, or the first reply that is
    not a scan page."""
    items = []
    for _ in range(100000):
        if tree[0] != "*" or tree[1] is None or len(tree[1]) != 2 or tree[1][1][0] != "*":
            return tree
        cursor, page = tree[1][0][1], tree[1][1][1]
        items += page
        if cursor == b"0":
            break
        args = args[:2] + [cursor.decode()] + args[3:]
        tree = conn.cmd_parsed(args)[1]
    if args[0].upper() in ("HSCAN", "ZSCAN"):
        items = pairs_of(items)
    return ("all pages", sorted(items, key=repr))


def normalize(args, tree):
    """What of a reply to `args` is compared: the whole reply, or its
    elements sorted where Redis leaves the order open, or only the shape of
    a random pick (see the module documentation)."""
    name = args[0].upper() if args else ""
    if tree[0] != "*" or tree[1] is None or name not in NORMALIZED:
        if name in RANDOM_PICKS and tree[0] == "$":
            return ("one pick", "nil" if tree[1] is None else "bulk")
        return tree
    items = tree[1]
    if name in UNORDERED:
        return ("unordered", sorted(items, key=repr))
    if name == "HGETALL":
        return ("pairs", sorted(pairs_of(items), key=repr))
    if name in RANDOM_PICKS:
        if args[1] == "one":
            return tree   # a one-member set: every pick is known
        try:
            count = int(args[2])
        except (IndexError, ValueError):
            return tree
        # RESP2 flattens the pairs; RESP3 sends each as an array of two.
        if (len(args) > 3 and args[3].upper() in ("WITHVALUES", "WITHSCORES")
                and items and items[0][0] != "*"):
            items = pairs_of(items)
        if 0 < count and len(items) < count:
            return ("all members", sorted(items, key=repr))
        if count < 0:
            return ("picks with repeats allowed", len(items))
        keys = [i[0] if isinstance(i[0], tuple) else i for i in items]
        distinct = len(set(map(repr, keys))) == len(keys)
        return ("picks", len(items), "distinct" if distinct else "repeats")
    return tree


def is_lex_read(args):
    name = args[0].upper() if args else ""
    return name in LEX_READS or (name == "ZRANGE" and any(a.upper() == "BYLEX" for a in args[4:]))


def mixed_scores(conn, key):
    """Whether `key` holds a sorted set whose members do not all share one
    score (lex ranges over it are unspecified in Redis)."""
    tree = conn.cmd_parsed(["ZRANGE", key, "0", "-1", "WITHSCORES"])[1]
    if tree[0] != "*" or not tree[1]:
        return False
    if tree[1][0][0] == "*":
        # RESP3: [member, score] pairs.
        return len({float(pair[1][1][1]) for pair in tree[1]}) > 1
    return len({float(s[1]) for s in tree[1][1::2]}) > 1


def main():
    argv = sys.argv[1:]
    if len(argv) < 2:
        print(__doc__)
        return 2
    redis_port, ringkv_port = int(argv[0]), int(argv[1])
    rest = argv[2:]
    modes = {"--random": random_commands, "--random-hll": random_hll_commands,
             "--random-collections": random_collection_commands,
             "--random-zsets": random_zset_commands,
             "--random-lists": random_list_commands,
             "--random-big": random_big_commands,
             "--random-sort": random_sort_commands}
    wanted, seed, depth = [], None, 1
    while rest[:1] and rest[0] in list(modes) + ["--seed", "--pipeline"]:
        if len(rest) < 2:
            print(__doc__)
            return 2
        if rest[0] == "--seed":
            seed = int(rest[1])
        elif rest[0] == "--pipeline":
            depth = max(1, int(rest[1]))
        else:
            wanted.append((modes[rest[0]], int(rest[1])))
        rest = rest[2:]
    commands = []
    for gen, count in wanted:
        commands += gen(count) if seed is None else gen(count, seed)
    if rest:
        with open(rest[0]) as f:
            commands += [shlex.split(l) for l in f if l.strip() and not l.startswith("#")]
    elif not commands:
        commands += [shlex.split(l) for l in sys.stdin if l.strip() and not l.startswith("#")]
    conns = {}

    def pair(n):
        if n not in conns:
            conns[n] = (Conn(redis_port), Conn(ringkv_port))
        return conns[n]

    for c in pair(0):
        c.cmd(["FLUSHALL"])
    differ = mixed_lex = 0
    for batch in batches(commands, depth):
        n = 0
        first = batch[0][1]
        if first and first[0].startswith("@"):
            n, first = int(first[0][1:]), first[1:]
            batch = [(batch[0][0], first)]
        if first[:1] == ["SLEEP"]:
            time.sleep(int(first[1]) / 1000)
            continue
        redis, ringkv = pair(n)
        answers = []
        for conn in (redis, ringkv):
            try:
                conn.sock.sendall(b"".join(encode(args) for _, args in batch))
                answers.append([conn.parsed() for _ in batch])
            except (EOFError, OSError) as e:
                # Reported as differing replies; both connections are
                # opened anew for the next command on connection n.
                lost = (b"<connection lost: %s>" % str(e).encode(), ("lost", None))
                answers.append([lost] * len(batch))
                conns.pop(n, None)
        for (i, args), want_reply, got_reply in zip(batch, *answers):
            d, m = compare(i, n, args, redis, ringkv, want_reply, got_reply)
            differ += d
            mixed_lex += m
    print(f"{len(commands)} commands, {differ} differing replies"
          + (f", {mixed_lex} more in lex ranges over mixed scores" if mixed_lex else ""))
    return 1 if differ else 0


def batches(commands, depth):
    """The commands with their indexes, in runs of up to `depth` sent in
    one write: a scan, a blocking command, a line of another connection
    and SLEEP each go alone."""
    run = []
    for i, args in enumerate(commands):
        alone = (not args or args[0].startswith("@") or args[0] == "SLEEP"
                 or args[0].upper() in SCANS | BLOCKING)
        if alone or len(run) == depth:
            if run:
                yield run
            run = []
        if alone:
            yield [(i, args)]
        else:
            run.append((i, args))
    if run:
        yield run


def compare(i, n, args, redis, ringkv, want_reply, got_reply):
    """Compares one command's replies, printing a difference; returns
    (differing, differing in a lex range over mixed scores) as 0 or 1."""
    (want, want_tree), (got, got_tree) = want_reply, got_reply
    scan = bool(args) and args[0].upper() in SCANS
    # A scan whose first pages match but go on is followed too.
    if want == got and not (scan and want_tree[0] == "*" and want_tree[1]
                            and want_tree[1][0] != ("$", b"0")):
        return 0, 0
    if scan:
        want_tree, got_tree = scan_all(redis, args, want_tree), scan_all(ringkv, args, got_tree)
    want_tree, got_tree = normalize(args, want_tree), normalize(args, got_tree)
    if want_tree == got_tree:
        return 0, 0
    what, counts = "DIFF", (1, 0)
    if is_lex_read(args) and mixed_scores(redis, args[1]):
        what = "DIFF over mixed scores (Redis leaves this lex range unspecified)"
        counts = (0, 1)
    print(f"{what} (command {i + 1})", f"@{n}", " ".join(shlex.quote(a) for a in args))
    if args and args[0].upper() in NORMALIZED:
        want, got = want_tree, got_tree
    print("  redis :", want)
    print("  ringkv:", got)
    return counts


if __name__ == "__main__":
    sys.exit(main())
