#!/usr/bin/env bash
# A/B of two ringkv-server builds by server CPU per request.
#
#   scripts/ab-cpu.sh [--rounds N] [--no-preload] BIN_A BIN_B TEST:P:N [TEST:P:N ...]
#
# On this 2-core machine requests/s swings by ±20% from run to run, more
# than most changes move it; the server's own CPU time per request (user +
# system from /proc/<pid>/stat, divided by the requests of the run) swings
# less. Each round starts a fresh server of each build in turn (order
# A B, then B A: ABBA, since the build measured first in a round tends to
# be faster), on a free loopback port and a fresh temporary data directory,
# preloads it (2,000,000 SET -P16 and 600,000 SADD and HSET -P16 over
# redis-benchmark's -r 100000 keys and members, so keys sit in the
# memtables, in level 0 and in level 1), then runs redis-benchmark -c 50
# -r 100000 for each TEST:P:N (test name, pipeline depth, requests) and
# prints rps and CPU µs per request. Compare medians, not single rounds.
# Installs redis-tools if missing; stops only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=4
PRELOAD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --no-preload) PRELOAD=0; shift ;;
        *) break ;;
    esac
done
if [ $# -lt 3 ]; then
    echo "usage: $0 [--rounds N] [--no-preload] BIN_A BIN_B TEST:P:N [TEST:P:N ...]" >&2
    exit 2
fi
BIN_A=$1
BIN_B=$2
shift 2
for bin in "$BIN_A" "$BIN_B"; do
    [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done

if ! command -v redis-benchmark >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -qq redis-tools >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-tools; }
fi

. scripts/server-bin.sh
start_work_dir
TICKS=$(getconf CLK_TCK)

# CPU ticks (user + system) the process $1 has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Runs one measured test against the server $1 (pid $2): prints rps and
# CPU per request.
measure() {
    local port=$1 pid=$2 spec=$3 test pipeline requests before after out
    IFS=: read -r test pipeline requests <<<"$spec"
    before=$(cpu_ticks "$pid")
    out=$(redis-benchmark -p "$port" -t "$test" -n "$requests" -P "$pipeline" -c 50 \
        -r 100000 -q 2>/dev/null | tr '\r' '\n' | grep -a "requests per second" | tail -1)
    after=$(cpu_ticks "$pid")
    awk -v b="$before" -v a="$after" -v t="$TICKS" -v n="$requests" -v out="$out" \
        -v spec="$spec" 'BEGIN {
            split(out, f, " "); printf "%-16s %12s rps  %6.2f us/req\n", spec, f[2], (a - b) / t / n * 1e6
        }'
}

for round in $(seq 1 "$ROUNDS"); do
    order="A B"
    [ $((round % 2)) -eq 0 ] && order="B A"
    for which in $order; do
        bin=$BIN_A
        [ "$which" = B ] && bin=$BIN_B
        dir=$(mktemp -d "$WORK/server.XXXX")
        port=$(free_port)
        "$bin" --port "$port" --metrics-port "$(free_port)" --cluster-port "$(free_port)" \
            --dir "$dir" --appendfsync everysec --loglevel warning >"$dir.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_ping "$port"
        if [ "$PRELOAD" = 1 ]; then
            redis-benchmark -p "$port" -t set -n 2000000 -P 16 -c 50 -r 100000 -q >/dev/null 2>&1
            redis-benchmark -p "$port" -t sadd,hset -n 600000 -P 16 -c 50 -r 100000 -q >/dev/null 2>&1
            sleep 2
        fi
        for spec in "$@"; do
            echo "round $round build $which: $(measure "$port" "$pid" "$spec")"
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$dir" "$dir.log"
    done
done
