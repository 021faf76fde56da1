// The compatibility scenario, run with ioredis against a server that
// requires a password.
//
// Usage: node scenario.js HOST PORT PASSWORD
//
// Every step asserts the exact reply Redis 7.0 gives (as ioredis decodes
// it); the first difference prints what was expected and what came back and
// exits 1. A watchdog bounds the whole run and every command has a timeout.
// ioredis speaks RESP2 only, so the RESP3 step uses a plain socket.
"use strict";

const net = require("node:net");
const assert = require("node:assert/strict");
const Redis = require("ioredis");

const [host, portText, password] = process.argv.slice(2);
const port = Number(portText);
let checks = 0;

const watchdog = setTimeout(() => {
  console.error("FAIL the scenario did not finish within 120 s");
  process.exit(2);
}, 120_000);

function check(what, got, want) {
  checks += 1;
  try {
    assert.deepStrictEqual(got, want);
  } catch {
    console.error(`FAIL ${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    process.exit(1);
  }
}

async function errorOf(what, promise) {
  try {
    const value = await promise;
    console.error(`FAIL ${what}: expected an error, got ${JSON.stringify(value)}`);
    process.exit(1);
  } catch (e) {
    return e.message;
  }
}

const clients = [];
function client(options = {}) {
  const c = new Redis({
    host,
    port,
    password,
    lazyConnect: true,
    commandTimeout: 10_000,
    connectTimeout: 10_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    ...options,
  });
  c.on("error", () => {}); // failures surface as rejected commands
  clients.push(c);
  return c;
}

async function authAndDatabases() {
  const anon = client({ password: undefined });
  await anon.connect();
  check("NOAUTH", await errorOf("NOAUTH", anon.get("k")), "NOAUTH Authentication required.");
  // ioredis reports a refused AUTH as an "error" event, then closes.
  const wrong = client({ password: "not-the-password" });
  const refused = new Promise((resolve) => wrong.once("error", (e) => resolve(e.message)));
  wrong.connect().catch(() => {});
  check("WRONGPASS", await refused, "WRONGPASS invalid username-password pair or user is disabled.");
  const r = client();
  await r.connect();
  check("PING", await r.ping(), "PONG");
  check("AUTH again", await r.auth(password), "OK");
  const r5 = client({ db: 5 });
  await r5.connect();
  check("SET in db 5", await r5.set("where", "five"), "OK");
  check("db 0 does not see db 5", await r.get("where"), null);
  check("GET in db 5", await r5.get("where"), "five");
  check("SELECT 16", await errorOf("SELECT 16", r.select(16)), "ERR DB index is out of range");
  check("DBSIZE db 5", await r5.dbsize(), 1);
  await r5.flushdb();
  return r;
}

async function strings(r) {
  check("SET", await r.set("s", "Hello"), "OK");
  check("GET", await r.get("s"), "Hello");
  check("GET missing", await r.get("missing"), null);
  check("APPEND", await r.append("s", " World"), 11);
  check("STRLEN", await r.strlen("s"), 11);
  check("GETRANGE", await r.getrange("s", -5, -1), "World");
  check("SETRANGE", await r.setrange("s", 6, "Redis"), 11);
  check("GET after SETRANGE", await r.get("s"), "Hello Redis");
  check("SET NX existing", await r.set("s", "x", "NX"), null);
  check("SET GET", await r.set("s", "new", "GET"), "Hello Redis");
  check("SETNX", await r.setnx("s", "x"), 0);
  check("MSET", await r.mset("a", "1", "b", "2"), "OK");
  check("MGET", await r.mget("a", "missing", "b"), ["1", null, "2"]);
  check("GETDEL", await r.getdel("a"), "1");
  check("EXISTS", await r.exists("a", "b", "b"), 2);
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  check("binary SET", await r.set("bin", binary), "OK");
  check("binary GET", Buffer.compare(await r.getBuffer("bin"), binary), 0);
  check("SETBIT", await r.setbit("bits", 7, 1), 0);
  check("GETBIT", await r.getbit("bits", 7), 1);
  check("BITCOUNT", await r.bitcount("bits"), 1);
  check("BITPOS", await r.bitpos("bits", 1), 7);
  await r.set("foobar", "foobar");
  check("BITCOUNT BIT", await r.bitcount("foobar", 5, 30, "BIT"), 17);
  check("BITOP", await r.bitop("NOT", "inv", "bits"), 1);
  check("BITOP result", (await r.getBuffer("inv")).toString("hex"), "fe");
  await r.mset("key1", "ohmytext", "key2", "mynewtext");
  check("LCS", await r.call("LCS", "key1", "key2"), "mytext");
  check("LCS LEN", await r.call("LCS", "key1", "key2", "LEN"), 6);
  check(
    "LCS IDX",
    await r.call("LCS", "key1", "key2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
    ["matches", [[[4, 7], [5, 8], 4]], "len", 6],
  );
  check("TYPE", await r.type("s"), "string");
  check("OBJECT ENCODING", await r.object("ENCODING", "foobar"), "embstr");
  check("COPY", await r.copy("s", "s2"), 1);
  check("RENAMENX", await r.renamenx("s2", "s"), 0);
}

async function expiry(r) {
  check("SET EX", await r.set("e", "v", "EX", 100), "OK");
  check("TTL", await r.ttl("e"), 100);
  check("PEXPIRE", await r.pexpire("e", 50000), 1);
  check("TTL after PEXPIRE", await r.ttl("e"), 50);
  check("EXPIRE GT", await r.expire("e", 10, "GT"), 0);
  check("EXPIRE LT", await r.expire("e", 10, "LT"), 1);
  check("PERSIST", await r.persist("e"), 1);
  check("TTL persisted", await r.ttl("e"), -1);
  check("TTL missing", await r.ttl("missing"), -2);
  const now = Number((await r.time())[0]);
  check("EXPIREAT", await r.expireat("e", now + 1000), 1);
  check("EXPIRETIME", await r.expiretime("e"), now + 1000);
  check("SET PX", await r.set("short", "v", "PX", 150), "OK");
  await new Promise((resolve) => setTimeout(resolve, 400));
  check("expired GET", await r.get("short"), null);
  check("expired EXISTS", await r.exists("short"), 0);
  check(
    "invalid expire",
    await errorOf("SET EX 0", r.set("e", "v", "EX", 0)),
    "ERR invalid expire time in 'set' command",
  );
}

async function counters(r) {
  check("INCR", await r.incr("n"), 1);
  check("INCRBY", await r.incrby("n", 41), 42);
  check("DECR", await r.decr("n"), 41);
  check("DECRBY", await r.decrby("n", 50), -9);
  await r.set("f", "10.5");
  check("INCRBYFLOAT", await r.incrbyfloat("f", 0.1), "10.6");
  await r.set("word", "abc");
  check("INCR word", await errorOf("INCR word", r.incr("word")), "ERR value is not an integer or out of range");
  await r.set("max", "9223372036854775807");
  check("INCR overflow", await errorOf("INCR max", r.incr("max")), "ERR increment or decrement would overflow");
  check("INCRBYFLOAT bad", await errorOf("INCRBYFLOAT", r.incrbyfloat("word", 1)), "ERR value is not a valid float");
}

async function hyperloglog(r) {
  check("PFADD", await r.pfadd("hll", "a", "b", "c"), 1);
  check("PFADD again", await r.pfadd("hll", "a"), 0);
  check("PFCOUNT", await r.pfcount("hll"), 3);
  await r.pfadd("hll2", "c", "d");
  check("PFCOUNT union", await r.pfcount("hll", "hll2"), 4);
  check("PFMERGE", await r.pfmerge("hll3", "hll", "hll2"), "OK");
  check("PFCOUNT merged", await r.pfcount("hll3"), 4);
  check(
    "PFADD wrongtype",
    await errorOf("PFADD word", r.pfadd("word", "x")),
    "WRONGTYPE Key is not a valid HyperLogLog string value."
  );
}

async function collections(r) {
  check("HSET", await r.hset("user:1", { name: "ada", age: 36 }), 2);
  check("HGET", await r.hget("user:1", "name"), "ada");
  check("HGETALL", await r.hgetall("user:1"), { name: "ada", age: "36" });
  check("HINCRBY", await r.hincrby("user:1", "age", 1), 37);
  check("HDEL", await r.hdel("user:1", "name"), 1);
  check("HLEN", await r.hlen("user:1"), 1);
  check("SADD", await r.sadd("tags", "a", "b", "c"), 3);
  check("SISMEMBER", await r.sismember("tags", "a"), 1);
  check("SMEMBERS", (await r.smembers("tags")).sort(), ["a", "b", "c"]);
  check("SREM", await r.srem("tags", "a"), 1);
  check("SCARD", await r.scard("tags"), 2);
  check("ZADD", await r.zadd("board", 10, "ann", 20, "bob"), 2);
  check("ZINCRBY", await r.zincrby("board", 15, "ann"), "25");
  check("ZRANGE WITHSCORES", await r.zrange("board", 0, -1, "WITHSCORES"), ["bob", "20", "ann", "25"]);
  check("ZREVRANK", await r.zrevrank("board", "ann"), 0);
  check("ZSCORE", await r.zscore("board", "bob"), "20");
  check("ZPOPMIN", await r.zpopmin("board"), ["bob", "20"]);
  check("TYPE", await r.type("tags"), "set");
  check(
    "HGET wrongtype",
    await errorOf("HGET word", r.hget("word", "x")),
    "WRONGTYPE Operation against a key holding the wrong kind of value"
  );
}

async function listsAndPubsub(r) {
  check("RPUSH", await r.rpush("queue", "a", "b", "c"), 3);
  check("LPUSH", await r.lpush("queue", "z"), 4);
  check("LRANGE", await r.lrange("queue", 0, -1), ["z", "a", "b", "c"]);
  check("LPOP", await r.lpop("queue"), "z");
  check("RPOP count", await r.rpop("queue", 2), ["c", "b"]);
  check("LMOVE", await r.lmove("queue", "done", "LEFT", "RIGHT"), "a");
  check("BLPOP timeout", await r.blpop("queue", 0.05), null);
  // A blocked BRPOP is served by a push from another connection.
  const blocked = client();
  const pending = blocked.brpop("jobs", 5);
  for (let i = 0; i < 500; i++) {
    if ((await r.info("clients")).includes("blocked_clients:1")) break;
    await new Promise((res) => setTimeout(res, 10));
  }
  await r.rpush("jobs", "job1");
  check("BRPOP woken", await pending, ["jobs", "job1"]);
  // Pub/sub: a subscriber receives a published message.
  const sub = client();
  const received = new Promise((res) => sub.on("message", (ch, msg) => res([ch, msg])));
  check("SUBSCRIBE", await sub.subscribe("news"), 1);
  check("PUBLISH", await r.publish("news", "hello"), 1);
  check("message", await received, ["news", "hello"]);
  const preceived = new Promise((res) => sub.on("pmessage", (p, ch, msg) => res([p, ch, msg])));
  await sub.psubscribe("n*");
  check("PUBLISH to channel and pattern", await r.publish("news", "again"), 2);
  check("pmessage", await preceived, ["n*", "news", "again"]);
}

async function pipelines(r) {
  const p = r.pipeline();
  for (let i = 0; i < 1000; i++) p.incr("pipe:n");
  const replies = await p.exec();
  check("1000 pipelined INCR", replies.map(([err, v]) => (err ? err.message : v)), Array.from({ length: 1000 }, (_, i) => i + 1));
  const mixed = await r.pipeline().set("pipe:a", "1").incr("pipe:a").incr("word").get("pipe:a").exec();
  check("pipeline replies", mixed.map(([err, v]) => (err ? err.message : v)), [
    "OK",
    2,
    "ERR value is not an integer or out of range",
    "2",
  ]);
}

async function transactions(r) {
  check("MULTI/EXEC", await r.multi().set("tx", "1").incr("tx").get("tx").exec(), [
    [null, "OK"],
    [null, 2],
    [null, "2"],
  ]);
  const other = client();
  await other.connect();
  await r.set("watched", "0");
  check("WATCH", await r.watch("watched"), "OK");
  await other.set("watched", "changed");
  check("WATCH conflict", await r.multi().set("watched", "mine").exec(), null);
  check("conflict kept the other write", await r.get("watched"), "changed");
  await r.watch("watched");
  const value = await r.get("watched");
  check("WATCH without conflict", await r.multi().set("watched", `${value}+mine`).exec(), [[null, "OK"]]);
  check("value after retry", await r.get("watched"), "changed+mine");
  const aborted = r.multi();
  aborted.set("aborted", "1");
  aborted.call("SET", "only-key");
  check(
    "EXECABORT",
    await errorOf("EXECABORT", aborted.exec()),
    "EXECABORT Transaction discarded because of previous errors.",
  );
  check("EXECABORT wrote nothing", await r.exists("aborted"), 0);
  const inPlace = await r.multi().incr("word").get("tx").exec();
  check("EXEC runtime error", [inPlace[0][0].message, inPlace[1][1]], ["ERR value is not an integer or out of range", "2"]);
}

async function scan() {
  const r7 = client({ db: 7 });
  await r7.connect();
  await r7.flushdb();
  const expected = new Set();
  for (let batch = 0; batch < 10; batch++) {
    const p = r7.pipeline();
    for (let i = batch * 1000; i < (batch + 1) * 1000; i++) {
      expected.add(`key:${i}`);
      p.set(`key:${i}`, i);
    }
    await p.exec();
  }
  check("DBSIZE 10000", await r7.dbsize(), 10000);
  const scanAll = async (...args) => {
    const seen = new Set();
    let cursor = "0";
    for (let calls = 0; calls < 100_000; calls++) {
      const [next, keys] = await r7.scan(cursor, ...args);
      keys.forEach((k) => seen.add(k));
      cursor = next;
      if (cursor === "0") return seen;
    }
    throw new Error("SCAN did not finish");
  };
  check("SCAN all", [...(await scanAll("COUNT", 500))].sort(), [...expected].sort());
  const matching = [...expected].filter((k) => k.startsWith("key:1")).sort();
  check("SCAN MATCH", [...(await scanAll("MATCH", "key:1*", "COUNT", 1000))].sort(), matching);
  check("SCAN TYPE hash", [...(await scanAll("TYPE", "hash", "COUNT", 1000))], []);
  check("SCAN bad cursor", await errorOf("SCAN x", r7.scan("x")), "ERR invalid cursor");
  await r7.flushdb();
}

// ioredis has no RESP3 support: HELLO 3 over a plain socket, asserting bytes.
function resp3() {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(10_000, () => reject(new Error("RESP3 socket timed out")));
    const cmd = (...args) =>
      `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join("");
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      // HELLO's map, then the replies to GET missing, LCS IDX and INCRBYFLOAT.
      if (buf.includes("len\r\n:6\r\n") && buf.endsWith("$3\r\n1.5\r\n")) {
        sock.end();
        resolve(buf);
      }
    });
    sock.on("error", reject);
    sock.write(
      cmd("HELLO", "3", "AUTH", "default", password) +
        cmd("GET", "missing") +
        cmd("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4") +
        cmd("INCRBYFLOAT", "r3f", "1.5"),
    );
  }).then((buf) => {
    check("RESP3 HELLO is a map of 7", buf.startsWith("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), true);
    check("RESP3 HELLO proto", buf.includes("$5\r\nproto\r\n:3\r\n"), true);
    const afterHello = buf.slice(buf.indexOf("$7\r\nmodules\r\n*0\r\n") + "$7\r\nmodules\r\n*0\r\n".length);
    check(
      "RESP3 null, map, bulk",
      afterHello,
      "_\r\n%2\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n$3\r\nlen\r\n:6\r\n$3\r\n1.5\r\n",
    );
  });
}

async function errors(r) {
  check(
    "unknown command",
    await errorOf("unknown", r.call("NOSUCHCMD", "a", "b")),
    "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ",
  );
  check("wrong arity", await errorOf("arity", r.call("GET")), "ERR wrong number of arguments for 'get' command");
  check("syntax", await errorOf("syntax", r.set("k", "v", "NX", "XX")), "ERR syntax error");
  check(
    "bit offset",
    await errorOf("SETBIT", r.setbit("bits", 2 ** 32, 1)),
    "ERR bit offset is not an integer or out of range",
  );
  check("still usable", await r.ping(), "PONG");
}

async function main() {
  const r = await authAndDatabases();
  await r.flushall();
  await strings(r);
  await expiry(r);
  await counters(r);
  await hyperloglog(r);
  await collections(r);
  await listsAndPubsub(r);
  await pipelines(r);
  await transactions(r);
  await scan();
  await resp3();
  await errors(r);
  const version = require("ioredis/package.json").version;
  console.log(`ioredis ${version}: ${checks} checks passed`);
  clients.forEach((c) => c.disconnect());
  clearTimeout(watchdog);
}

main().catch((e) => {
  console.error(`FAIL ${e.stack || e}`);
  process.exit(1);
});
