#!/usr/bin/env python3
"""A fault-injecting TCP proxy for node-to-node traffic of a local cluster.

    scripts/netsplit.py --node HOST:PROXY_PORT:CLUSTER_PORT [--node ...]

Node i (in the order given) listens on HOST:CLUSTER_PORT, announces
HOST:PROXY_PORT as its cluster address (--cluster-announce-bus-port) and
sends from HOST (--bind-source-addr), so the proxy knows who is calling.
Commands on standard input, one per line:

    cut 0,1|2    split the nodes into sides; traffic across sides stops
    heal         end every cut

A cut holds traffic instead of refusing it: established connections stop
being forwarded and new ones are accepted but not connected, so callers see
timeouts as in a real partition; healing lets the held bytes through in
order. The proxy exits at end of input.
"""
import argparse
import asyncio
import sys

POLL = 0.01


class Net:
    def __init__(self, nodes):
        self.nodes = nodes
        self.by_host = {host: i for i, (host, _, _) in enumerate(nodes)}
        self.cut = set()

    def is_cut(self, a, b):
        return (min(a, b), max(a, b)) in self.cut

    async def connected(self, a, b):
        while self.is_cut(a, b):
            await asyncio.sleep(POLL)

    def split(self, spec):
        sides = [[int(x) for x in side.split(",") if x] for side in spec.split("|")]
        for i, left in enumerate(sides):
            for right in sides[i + 1:]:
                for a in left:
                    for b in right:
                        self.cut.add((min(a, b), max(a, b)))

    async def pump(self, reader, writer, a, b):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self.connected(a, b)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            try:
                writer.write_eof()
            except OSError:
                pass

    async def relay(self, node, caller_rd, caller_wr):
        peer = caller_wr.get_extra_info("peername")
        src = self.by_host.get(peer[0] if peer else None, node)
        await self.connected(src, node)
        host, _, target = self.nodes[node]
        try:
            up_rd, up_wr = await asyncio.open_connection(host, target)
        except OSError:
            caller_wr.close()
            return
        await asyncio.gather(
            self.pump(caller_rd, up_wr, src, node),
            self.pump(up_rd, caller_wr, src, node),
        )
        up_wr.close()
        caller_wr.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", action="append", required=True,
                    help="HOST:PROXY_PORT:CLUSTER_PORT, once per node")
    args = ap.parse_args()
    nodes = []
    for spec in args.node:
        host, proxy, target = spec.rsplit(":", 2)
        nodes.append((host, int(proxy), int(target)))
    net = Net(nodes)
    servers = []
    for i, (host, proxy, _) in enumerate(nodes):
        handler = lambda r, w, i=i: net.relay(i, r, w)
        servers.append(await asyncio.start_server(handler, host, proxy))
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        words = line.split()
        if words[:1] == ["cut"] and len(words) == 2:
            net.split(words[1])
        elif words == ["heal"]:
            net.cut.clear()
        elif words:
            print("netsplit: unknown command: %s" % line.strip(), file=sys.stderr)
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
