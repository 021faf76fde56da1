#!/usr/bin/env python3
"""Measures how long a pushed element takes to reach a client blocked in
BRPOP, and a published message to reach a subscriber: the consumer or
subscriber is connected to one node, the producer to another.

Usage: blocking-latency.py CONSUMER_PORT PRODUCER_PORT [N]

Sends N (default 200) pushes, one at a time, each after the consumer is
blocked again, and N publishes; prints p50, p99 and max of push-to-wake-up
and publish-to-delivery in milliseconds. Point both ports at one node to
measure a single node. Only the standard library is used.
"""
import socket
import sys
import threading
import time


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"*", b">"):
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return rest

    def cmd(self, *args):
        self.sock.sendall(encode(args))
        return self.reply()


def percentiles(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return f"p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {s[-1]:.2f} ms"


def blocked(port):
    info = Conn(port).cmd("INFO", "clients").decode()
    return "blocked_clients:1" in info


def measure_pops(consumer_port, producer_port, n):
    consumer, producer = Conn(consumer_port), Conn(producer_port)
    producer.cmd("DEL", "latency:q")
    got = []
    ready = threading.Event()

    def consume():
        for _ in range(n):
            ready.set()
            r = consumer.cmd("BRPOP", "latency:q", "10")
            if r:
                got.append((time.perf_counter(), float(r[1])))

    t = threading.Thread(target=consume)
    t.start()
    for _ in range(n):
        ready.wait()
        ready.clear()
        deadline = time.time() + 5
        while not blocked(consumer_port) and time.time() < deadline:
            time.sleep(0.001)
        producer.cmd("LPUSH", "latency:q", repr(time.perf_counter()))
        time.sleep(0.002)
    t.join()
    return [(recv - sent) * 1000 for recv, sent in got]


def measure_messages(subscriber_port, publisher_port, n):
    sub, pub = Conn(subscriber_port), Conn(publisher_port)
    sub.cmd("SUBSCRIBE", "latency:c")
    out = []
    for _ in range(n):
        pub.cmd("PUBLISH", "latency:c", repr(time.perf_counter()))
        m = sub.reply()
        out.append((time.perf_counter() - float(m[2])) * 1000)
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    consumer, producer = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    pops = measure_pops(consumer, producer, n)
    print(f"push -> BRPOP wake-up ({len(pops)} of {n}): {percentiles(pops)}")
    msgs = measure_messages(consumer, producer, n)
    print(f"PUBLISH -> subscriber ({len(msgs)}): {percentiles(msgs)}")
    return 0 if len(pops) == n else 1


if __name__ == "__main__":
    sys.exit(main())
