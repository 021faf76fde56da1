#!/usr/bin/env bash
# Checks that a large collection costs what its command touches, not its
# size (docs/data-types.md, "Storage, and its cost"), on one node:
#
#   scripts/large-collections.sh [--members N] [--requests N] [--budget-mb N]
#
# Starts ringkv-server (release build, its own free port and temporary data
# directory) with its default memory settings (memtables 64 MB x 3, block
# cache 128 MB: a 320 MB budget), or with --budget-mb N set as
# scripts/memory.sh sets it (memtable N/8 x 3, block cache N/2), which puts
# most of the collections on disk. For a hash, a set and a sorted set it
# loads (redis-cli --pipe) one collection of 1,000 members and one of
# --members (default 1,000,000), waits for compaction to catch up, then
# measures redis-benchmark's HSET, SADD and ZADD (-c 50 -P 1, writes of
# members picked at random among those present) on the small one and on
# the big one in turn, --rounds times (default 3), and prints the medians
# and their ratio: both sizes measured against the same engine state, one
# after the other, so that neither the memtable's fill nor a slow moment of
# a shared machine weighs on one side only. On the big sorted set it prints the server time per
# call (INFO commandstats, one client) of ZRANGEBYSCORE ... LIMIT 0 10 from the lowest
# score, from the middle and from the highest (REV), of ZRANGE 0 9 and
# ZREVRANGE 0 9, of ZRANK and ZREVRANK of a member near an end, of ZRANK
# of the middle member and ZRANGE of ten ranks from the middle, of ZCOUNT
# over 1,000 scores, of ZRANGEBYSCORE over 10 scores without LIMIT, of
# ZREMRANGEBYSCORE and ZREMRANGEBYRANK at the low end (a sliding window's
# trim), and of ZPOPMIN, and checks those windows against a read
# of the whole set; on the big hash, the time of a whole HSCAN walk (COUNT
# 1000) and whether it returned every field exactly once while fields were
# added and others deleted. Prints the resident size after the loads against the budget.
# Exits non-zero if a check fails. BENCH_SERVER_BIN=path measures a given
# binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

MEMBERS=1000000
REQUESTS=50000
ROUNDS=3
BUDGET_MB=0
while [ $# -gt 0 ]; do
    case "$1" in
        --members) MEMBERS="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --budget-mb) BUDGET_MB="$2"; shift 2 ;;
        *) echo "usage: $0 [--members N] [--requests N] [--rounds N] [--budget-mb N]" >&2; exit 2 ;;
    esac
done
for tool in redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install redis-tools)" >&2; exit 1; }
done
. scripts/server-bin.sh
BIN=$(release_server_bin "${BENCH_SERVER_BIN:-}")

start_work_dir

# Loads members $3 <= i < $4 into collection type $2 (hash, set, zset) of
# key $5 (default big$2) on port $1, 100 to a command: f:<i> -> v, m:<i>,
# score i m:<i> (i zero-padded to 12 digits, as redis-benchmark's
# __rand_int__ is).
load() {
    python3 - "$2" "$3" "$4" "${5:-big$2}" <<'EOF' | redis-cli -p "$1" --pipe >/dev/null
import sys
kind, first, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
key = sys.argv[4].encode()
out = sys.stdout.buffer
def cmd(args):
    out.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
for start in range(first, end, 100):
    ids = range(start, min(start + 100, end))
    if kind == "hash":
        cmd([b"HSET", key] + [x for i in ids for x in (b"f:%012d" % i, b"v")])
    elif kind == "set":
        cmd([b"SADD", key] + [b"m:%012d" % i for i in ids])
    else:
        cmd([b"ZADD", key] + [x for i in ids for x in (b"%d" % i, b"m:%012d" % i)])
EOF
}

# redis-benchmark's requests per second for command "$3..." on port $1 with
# __rand_int__ below $2.
rps() {
    local port=$1 range=$2
    shift 2
    redis-benchmark -p "$port" -c 50 -P 1 -n "$REQUESTS" -r "$range" --csv "$@" 2>/dev/null |
        tail -1 | tr -d '"' | cut -d, -f2
}

# Server time per call (microseconds) of command $2 on port $1.
usec_per_call() {
    redis-cli -p "$1" info commandstats | tr -d '\r' |
        awk -F'[:,=]' -v c="cmdstat_$2" '$1 == c { for (i = 2; i < NF; i++) if ($i == "usec_per_call") print $(i + 1) }'
}

MEMORY=()
if [ "$BUDGET_MB" = 0 ]; then
    BUDGET_MB=320
else
    BUDGET=$((BUDGET_MB * 1024 * 1024))
    MEMORY=(--memtable-size $((BUDGET / 8)) --max-immutable-memtables 2 --block-cache-size $((BUDGET / 2)))
fi
PORT=$(free_port)
"$BIN" --port "$PORT" --metrics-port "$(free_port)" --dir "$WORK/ringkv" --loglevel warning \
    --appendfsync everysec "${MEMORY[@]}" >"$WORK/ringkv.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
wait_ping "$PORT"

echo "idle: resident $(( $(kb "$RPID" VmRSS) / 1024 )) MB" >&2
# Waits (up to a minute) until compaction has caught up, so each figure is
# taken at a steady state and not while the load's backlog is compacted.
settle() {
    for _ in $(seq 1 120); do
        pending=$(redis-cli -p "$PORT" info engine | tr -d '\r' | awk -F: '$1 == "pending_compaction_bytes" { print $2 }')
        [ "${pending:-0}" = 0 ] && return 0
        sleep 0.5
    done
}

declare -A SMALL BIG
# The benchmark's write to collection type $1 held by key $2.
write_cmd() {
    case "$1" in
        hash) echo "HSET $2 f:__rand_int__ v2" ;;
        set) echo "SADD $2 m:__rand_int__" ;;
        zset) echo "ZADD $2 __rand_int__ m:__rand_int__" ;;
    esac
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for kind in hash set zset; do
    load "$PORT" "$kind" 0 1000 "small$kind"
    echo "$kind: loading $MEMBERS..." >&2
    started=$(date +%s.%N)
    load "$PORT" "$kind" 0 "$MEMBERS"
    echo "  loaded in $(echo "$(date +%s.%N) - $started" | bc) s" >&2
    settle
    small=() big=()
    for r in $(seq 1 "$ROUNDS"); do
        # shellcheck disable=SC2046
        small+=("$(rps "$PORT" 1000 $(write_cmd "$kind" "small$kind"))")
        # shellcheck disable=SC2046
        big+=("$(rps "$PORT" "$MEMBERS" $(write_cmd "$kind" "big$kind"))")
        echo "  round $r: ${small[-1]} rps at 1000 members, ${big[-1]} at $MEMBERS" >&2
    done
    SMALL[$kind]=$(median "${small[@]}")
    BIG[$kind]=$(median "${big[@]}")
    echo "  resident $(( $(kb "$RPID" VmRSS) / 1024 )) MB, peak $(( $(kb "$RPID" VmHWM) / 1024 )) MB" >&2
done
rss_kb=$(kb "$RPID" VmRSS)
hwm_kb=$(kb "$RPID" VmHWM)

fail=0
echo
echo "large collections: $MEMBERS members, redis-benchmark -c 50 -P 1 -n $REQUESTS, median of $ROUNDS rounds, budget $BUDGET_MB MB"
printf '%-10s %14s %14s %8s\n' type "rps at 1000" "rps at $MEMBERS" ratio
for kind in hash set zset; do
    ratio=$(echo "scale=2; ${BIG[$kind]} / ${SMALL[$kind]}" | bc)
    printf '%-10s %14s %14s %8s\n' "$kind" "${SMALL[$kind]}" "${BIG[$kind]}" "$ratio"
done
for kind in hash set zset; do
    n=$(redis-cli -p "$PORT" "$(case $kind in hash) echo HLEN ;; set) echo SCARD ;; zset) echo ZCARD ;; esac)" "big$kind")
    if [ "$n" -lt "$MEMBERS" ]; then
        echo "FAIL: big$kind has $n members, expected at least $MEMBERS" >&2
        fail=1
    fi
done

# Sorted-set reads: server time per call, 2,000 calls each from one
# client (with more, a write's time includes its wait for the key's lock).
mid=$((MEMBERS / 2))
# The members at rank 100 from either end (the benchmark re-scored members
# at random, so their names no longer tell).
near_low=$(redis-cli -p "$PORT" zrange bigzset 100 100)
near_high=$(redis-cli -p "$PORT" zrevrange bigzset 100 100)
in_middle=$(redis-cli -p "$PORT" zrange bigzset "$mid" "$mid")
echo
printf '%-52s %s\n' "sorted set of $MEMBERS, server time per call" "usec"
for q in "ZRANGEBYSCORE bigzset -inf +inf LIMIT 0 10" \
         "ZRANGEBYSCORE bigzset ($mid +inf LIMIT 0 10 WITHSCORES" \
         "ZREVRANGEBYSCORE bigzset +inf -inf LIMIT 0 10" \
         "ZRANGE bigzset 0 9" \
         "ZREVRANGE bigzset 0 9 WITHSCORES" \
         "ZRANK bigzset $near_low" \
         "ZREVRANK bigzset $near_high" \
         "ZRANK bigzset $in_middle" \
         "ZRANGE bigzset $mid $((mid + 9))" \
         "ZCOUNT bigzset ($mid $((mid + 1000))" \
         "ZRANGEBYSCORE bigzset $mid $((mid + 10))" \
         "ZREMRANGEBYSCORE bigzset -inf 5" \
         "ZREMRANGEBYRANK bigzset 0 0" \
         "ZPOPMIN bigzset"; do
    name=$(echo "$q" | cut -d' ' -f1 | tr 'A-Z' 'a-z')
    redis-cli -p "$PORT" config resetstat >/dev/null
    # shellcheck disable=SC2086
    redis-benchmark -p "$PORT" -c 1 -n 2000 $q >/dev/null 2>&1
    printf '%-52s %s\n' "$q" "$(usec_per_call "$PORT" "$name")"
done
# The windows answer what a read of the whole set shows; then a whole
# HSCAN walk while fields are added and others deleted: every field present
# throughout must come back exactly once.
python3 - "$PORT" "$mid" "$MEMBERS" <<'EOF' || fail=1
import socket, sys, time
port, mid, members = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def read():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read() for _ in range(int(rest))]
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"-":
        raise RuntimeError(rest.decode())
    return rest
def cmd(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return read()
flat = cmd(b"ZRANGE", b"bigzset", b"0", b"-1", b"WITHSCORES")
whole = list(zip(flat[0::2], flat[1::2]))
above = [p for p in whole if float(p[1]) > mid]
m = b"%d" % mid
checks = [
    (cmd(b"ZRANGEBYSCORE", b"bigzset", b"(" + m, b"+inf", b"LIMIT", b"0", b"10", b"WITHSCORES"),
     [x for p in above[:10] for x in p]),
    (cmd(b"ZREVRANGEBYSCORE", b"bigzset", b"+inf", b"(" + m, b"LIMIT", b"5", b"10"),
     [p[0] for p in above[::-1][5:15]]),
    (cmd(b"ZREVRANGE", b"bigzset", b"0", b"9"), [p[0] for p in whole[::-1][:10]]),
    (cmd(b"ZRANGE", b"bigzset", b"-10", b"-1"), [p[0] for p in whole[-10:]]),
    (cmd(b"ZRANGE", b"bigzset", m, b"%d" % (mid + 9)), [p[0] for p in whole[int(mid):int(mid) + 10]]),
    (cmd(b"ZRANK", b"bigzset", whole[int(mid)][0]), b"%d" % mid),
    (cmd(b"ZREVRANK", b"bigzset", whole[int(mid) // 3][0]), b"%d" % (len(whole) - 1 - int(mid) // 3)),
]
bad = sum(1 for got, want in checks if got != want)
print(f"windows checked against a read of the whole set: {len(checks) - bad} of {len(checks)} equal")
print()
# Fields deleted during the walk (one per page) may or may not be returned.
cmd(b"HSET", b"bighash", *[x for i in range(5000) for x in (b"gone:%d" % i, b"v")])
seen, cursor, pages, added = {}, b"0", 0, 0
started = time.time()
while True:
    cursor, items = cmd(b"HSCAN", b"bighash", cursor, b"COUNT", b"1000")
    pages += 1
    for field in items[0::2]:
        seen[field] = seen.get(field, 0) + 1
    # Fields added during the walk may or may not be returned.
    cmd(b"HSET", b"bighash", b"new:%d" % added, b"v")
    cmd(b"HDEL", b"bighash", b"gone:%d" % added)
    added += 1
    if cursor == b"0":
        break
took = time.time() - started
dups = sum(1 for v in seen.values() if v > 1)
missing = sum(1 for i in range(members) if seen.get(b"f:%012d" % i) is None)
print(f"HSCAN walk of {members} fields: {pages} pages in {took:.1f} s, "
      f"{missing} missing, {dups} returned more than once, {added} added during the walk")
sys.exit(1 if bad or missing or dups else 0)
EOF

mb() { echo "scale=1; $1 / 1024" | bc; }
echo
printf '%-40s %s\n' "ringkv resident after the loads" "$(mb "$rss_kb") MB (peak $(mb "$hwm_kb") MB)"
printf '%-40s %s\n' "memory budget" "$BUDGET_MB MB (limit: budget + 100 MB)"
if [ "$hwm_kb" -gt $(( (BUDGET_MB + 100) * 1024 )) ]; then
    echo "FAIL: peak resident over the budget + 100 MB" >&2
    fail=1
fi
exit "$fail"
