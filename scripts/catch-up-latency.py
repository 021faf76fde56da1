#!/usr/bin/env python3
"""Measures how a node answers its other clients while it catches up on a
large collection: the latency of a small GET on node 2 of a local 3-node
cluster in the seconds after it comes back from a pause during which a
200,000-member set was written through node 0 (the writes it missed come
back as hints and read repairs: whole records of the set, merged there).

Usage: catch-up-latency.py BASE_PORT [ROUNDS] [PAUSE_SECONDS]

Needs a 3-node cluster on BASE_PORT..BASE_PORT+2 (scripts/cluster.sh up 3,
with BASE_PORT set) and the `redis` package. Loads the set once (key
`catch-up:big`), then for each round (default 4): SIGSTOP node 2 (found
by its port on the command line, and resumed by SIGCONT whatever
happens), SADD through node 0 every 50 ms for PAUSE_SECONDS (default 6,
long enough for the others to judge it down and keep hints), SIGCONT, and
a GET of a small key on node 2 every millisecond for 4 s, with a read of
the set at ALL through node 1 every 500 GETs. Prints p50, p99, p99.9 and
the slowest GET in milliseconds, and the slowest of each round.
"""
import os
import signal
import subprocess
import sys
import time

import redis

BIG = "catch-up:big"
SMALL = "catch-up:small"


def node_pid(port):
    out = subprocess.check_output(["pgrep", "-f", "--", f"--port {port} "])
    return int(out.split()[0])


def main():
    base = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 6.0
    nodes = [redis.Redis(port=base + i) for i in range(3)]
    if nodes[0].scard(BIG) < 200_000:
        nodes[0].delete(BIG)
        for b in range(200):
            nodes[0].sadd(BIG, *[f"member-{b}-{j}" for j in range(1000)])
    nodes[2].set(SMALL, "v")
    paused = node_pid(base + 2)
    latencies, worst = [], []
    for r in range(rounds):
        os.kill(paused, signal.SIGSTOP)
        try:
            until, j = time.time() + pause, 0
            while time.time() < until:
                nodes[0].sadd(BIG, f"new-{r}-{j}")
                j += 1
                time.sleep(0.05)
        finally:
            os.kill(paused, signal.SIGCONT)
        until, i, slowest = time.time() + 4, 0, 0.0
        while time.time() < until:
            t = time.perf_counter()
            nodes[2].get(SMALL)
            ms = (time.perf_counter() - t) * 1000
            latencies.append(ms)
            slowest = max(slowest, ms)
            i += 1
            if i % 500 == 0:
                nodes[1].execute_command("CL", "ALL", "SISMEMBER", BIG, "member-1-1")
            time.sleep(0.001)
        worst.append(round(slowest, 1))
    latencies.sort()
    at = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
    print(
        f"GETs {len(latencies)}: p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, "
        f"p99.9 {at(0.999):.2f} ms, max {latencies[-1]:.1f} ms; slowest per round {worst}"
    )
    replayed = nodes[0].info("cluster").get("cluster_hints_replayed")
    print(f"hints replayed by node 0: {replayed}")


if __name__ == "__main__":
    main()
