#!/usr/bin/env python3
"""Sends the same commands to a real redis-server and to ringkv and reports
every reply that differs byte for byte.

Usage: compare-with-redis.py REDIS_PORT RINGKV_PORT [--random N] [--random-hll N] [FILE]

FILE holds one command per line (words split like a shell would, so quote
arguments with spaces); without it, commands are read from stdin. A line
may start with @N to send it on the N-th connection to each server (for
WATCH and other multi-client cases; @0 is the default), and the line
"SLEEP ms" pauses between commands. --random N
adds N random bitmap/string commands (SETBIT, GETBIT, BITCOUNT, BITPOS,
BITOP, LCS, GETRANGE, SETRANGE) over a few small keys, seeded for
repeatability; --random-hll N adds N random PFADD/PFCOUNT/PFMERGE commands. Both servers should start empty; FLUSHALL is sent first.
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


def random_commands(n, seed=1):
    rng = random.Random(seed)
    keys = ["a", "b", "c", "missing"]
    def num(lo, hi):
        return str(rng.randint(lo, hi))
    out = []
    for _ in range(n):
        k = rng.choice(keys)
        op = rng.randrange(10)
        if op == 0:
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


def main():
    argv = sys.argv[1:]
    if len(argv) < 2:
        print(__doc__)
        return 2
    redis_port, ringkv_port = int(argv[0]), int(argv[1])
    rest = argv[2:]
    commands = []
    if rest[:1] == ["--random"]:
        commands += random_commands(int(rest[1]))
        rest = rest[2:]
    if rest[:1] == ["--random-hll"]:
        commands += random_hll_commands(int(rest[1]))
        rest = rest[2:]
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
    differ = 0
    for i, args in enumerate(commands):
        n = 0
        if args and args[0].startswith("@"):
            n, args = int(args[0][1:]), args[1:]
        if args[:1] == ["SLEEP"]:
            time.sleep(int(args[1]) / 1000)
            continue
        redis, ringkv = pair(n)
        want, got = redis.cmd(args), ringkv.cmd(args)
        if want != got:
            differ += 1
            print(f"DIFF (command {i + 1})", f"@{n}", " ".join(shlex.quote(a) for a in args))
            print("  redis :", want)
            print("  ringkv:", got)
    print(f"{len(commands)} commands, {differ} differing replies")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
