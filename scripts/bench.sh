#!/usr/bin/env bash
# Benchmarks ringkv against a real redis-server, side by side in one run.
#
#   scripts/bench.sh [--rounds N] [--requests N] [--keyspace N] [--cluster N]
#                    [--collections] [--members N] [--lists] [--list-requests N]
#
# Starts ringkv-server (release build, appendfsync everysec) and redis-server
# (--appendonly yes --appendfsync everysec, no RDB snapshots), each on a free
# loopback port with its own temporary data directory, then runs
# redis-benchmark (-c 50, random keys) for SET and GET, unpipelined and with
# -P 16, alternating the two servers for several rounds. Prints the median
# requests/s and p99 latency per workload and the ratio ringkv/Redis.
# With --cluster N it also starts an N-node ringkv cluster (replicas 3, reads
# and writes at QUORUM, each node with its own free ports and data directory)
# and benchmarks it through its first node in the same rotation, so the table
# shows the cluster beside the single node and Redis (and each pipelined row
# against the same test at -P1).
# With --collections it adds redis-benchmark's HSET, SADD, SPOP, ZADD and
# ZPOPMIN tests (one hash, set or sorted set of up to --members N members,
# default 1000; every client writes that one key).
# With --lists it adds LPUSH, RPOP and LRANGE_100 (redis-benchmark uses one
# list, which grows to the request count: --list-requests N, default 2000).
# BENCH_SERVER_BIN=path benchmarks a given binary instead of building one.
# Installs redis-server/redis-tools if missing; stops only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
REQUESTS=200000
KEYSPACE=100000
CLIENTS=50
CLUSTER_NODES=0
COLLECTIONS=0
MEMBERS=1000
LISTS=0
LIST_REQUESTS=
# The list tests' requests in a cluster (default: the same as on one node).
CLUSTER_LIST_REQUESTS=
while [ $# -gt 0 ]; do
    case "$1" in
        --collections) COLLECTIONS=1; shift ;;
        --members) MEMBERS="$2"; shift 2 ;;
        --lists) LISTS=1; shift ;;
        --list-requests) LIST_REQUESTS="$2"; shift 2 ;;
        --cluster-list-requests) CLUSTER_LIST_REQUESTS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --keyspace) KEYSPACE="$2"; shift 2 ;;
        --cluster) CLUSTER_NODES="$2"; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--requests N] [--keyspace N] [--cluster N] [--collections] [--members N] [--lists] [--list-requests N] [--cluster-list-requests N]" >&2; exit 2 ;;
    esac
done
LIST_REQUESTS=${LIST_REQUESTS:-$REQUESTS}
CLUSTER_LIST_REQUESTS=${CLUSTER_LIST_REQUESTS:-$LIST_REQUESTS}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server redis-tools; }
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ping() {
    for _ in $(seq 1 200); do
        if [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ]; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# BENCH_SERVER_BIN=path benchmarks that binary instead (A/B of two builds).
. scripts/server-bin.sh
SERVER_BIN=$(release_server_bin "${BENCH_SERVER_BIN:-}")

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

RINGKV_PORT=$(free_port)
REDIS_PORT=$(free_port)
mkdir -p "$WORK/ringkv" "$WORK/redis"
"$SERVER_BIN" --port "$RINGKV_PORT" --metrics-port "$(free_port)" --cluster-port "$(free_port)" \
    --dir "$WORK/ringkv" --appendfsync everysec --loglevel warning >"$WORK/ringkv.log" 2>&1 &
PIDS+=($!)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no --logfile "$WORK/redis.log" &
PIDS+=($!)
wait_ping "$RINGKV_PORT"
wait_ping "$REDIS_PORT"

SERVERS="ringkv redis"
CLUSTER_PORT=0
if [ "$CLUSTER_NODES" -gt 0 ]; then
    SERVERS="ringkv cluster redis"
    SEED=""
    for i in $(seq 0 $((CLUSTER_NODES - 1))); do
        port=$(free_port)
        cport=$(free_port)
        mkdir -p "$WORK/node$i"
        seeds=()
        [ -n "$SEED" ] && seeds=(--seeds "$SEED")
        "$SERVER_BIN" --port "$port" --cluster-port "$cport" \
            --metrics-port "$(free_port)" --dir "$WORK/node$i" --appendfsync everysec \
            --read-consistency quorum --write-consistency quorum \
            "${seeds[@]}" --loglevel warning >"$WORK/node$i.log" 2>&1 &
        PIDS+=($!)
        wait_ping "$port"
        if [ -z "$SEED" ]; then SEED="127.0.0.1:$cport"; CLUSTER_PORT=$port; fi
    done
    # Wait until the first node sees every member up and owning tokens.
    for _ in $(seq 1 200); do
        up=$(redis-cli -p "$CLUSTER_PORT" cluster nodes 2>/dev/null | grep -c 'normal up' || true)
        [ "$up" -ge "$CLUSTER_NODES" ] && break
        sleep 0.1
    done
    echo "cluster of $CLUSTER_NODES nodes up, benchmarking through port $CLUSTER_PORT" >&2
fi

# One redis-benchmark run; prints "rps p99_ms" of its last test (LRANGE
# first runs the LPUSH that fills its list).
run_one() {
    local port=$1 test=$2 pipeline=$3 keyspace=$KEYSPACE requests=$REQUESTS
    case "$test" in hset | sadd | spop | zadd | zpopmin) keyspace=$MEMBERS ;; esac
    case "$test" in lpush | rpop | lrange_100)
        requests=$LIST_REQUESTS
        [ "$port" = "$CLUSTER_PORT" ] && requests=$CLUSTER_LIST_REQUESTS ;;
    esac
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$requests" -r "$keyspace" \
        -P "$pipeline" -t "$test" --csv 2>/dev/null \
        | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); gsub(/"/, "", $7); last = $2 " " $7 } END { print last }'
}

WORKLOADS=("set 1" "get 1" "set 16" "get 16")
if [ "$COLLECTIONS" = 1 ]; then
    # SPOP and ZPOPMIN after the test that fills their key, as redis-benchmark orders them.
    WORKLOADS+=("hset 1" "sadd 1" "spop 1" "zadd 1" "zpopmin 1" "hset 16" "sadd 16" "spop 16" "zadd 16" "zpopmin 16")
fi
if [ "$LISTS" = 1 ]; then
    # RPOP after LPUSH, which fills its list.
    WORKLOADS+=("lpush 1" "rpop 1" "lrange_100 1" "lpush 16" "rpop 16" "lrange_100 16")
fi

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
    for workload in "${WORKLOADS[@]}"; do
        read -r test pipeline <<<"$workload"
        # Alternate which server goes first, so neither always runs on a warmer machine.
        order=$SERVERS
        if [ $((round % 2)) = 0 ]; then order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
        for server in $order; do
            case "$server" in
                ringkv) port=$RINGKV_PORT ;;
                cluster) port=$CLUSTER_PORT ;;
                redis) port=$REDIS_PORT ;;
            esac
            RESULTS["$server $test $pipeline"]+="$(run_one "$port" "$test" "$pipeline");"
        done
    done
    echo "round $round/$ROUNDS done" >&2
done

median() { tr ';' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
# stat SERVER TEST PIPELINE COLUMN: median over the rounds of column 1 (rps) or 2 (p99 ms).
stat() {
    echo "${RESULTS["$1 $2 $3"]}" | tr ';' '\n' | awk -v c="$4" 'NF { print $c }' | tr '\n' ';' | median
}

printf '\nredis-benchmark -c %s -n %s -r %s (collections: -r %s; lists: -n %s, in a cluster %s), median of %s rounds (ringkv appendfsync everysec vs redis appendonly everysec)\n' \
    "$CLIENTS" "$REQUESTS" "$KEYSPACE" "$MEMBERS" "$LIST_REQUESTS" "$CLUSTER_LIST_REQUESTS" "$ROUNDS"
printf '%-10s %14s %14s %8s %12s %12s %10s\n' workload "ringkv rps" "redis rps" ratio "ringkv p99" "redis p99" "p99 diff"
for workload in "${WORKLOADS[@]}"; do
    read -r test pipeline <<<"$workload"
    r_rps=$(stat ringkv "$test" "$pipeline" 1)
    d_rps=$(stat redis "$test" "$pipeline" 1)
    r_p99=$(stat ringkv "$test" "$pipeline" 2)
    d_p99=$(stat redis "$test" "$pipeline" 2)
    ratio=$(awk -v a="$r_rps" -v b="$d_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    diff=$(awk -v a="$r_p99" -v b="$d_p99" 'BEGIN { printf "%+.3f ms", a - b }')
    printf '%-11s %14s %14s %8s %10s ms %10s ms %10s\n' "${test^^} -P$pipeline" "$r_rps" "$d_rps" "${ratio}x" "$r_p99" "$d_p99" "$diff"
done

if [ "$CLUSTER_NODES" -gt 0 ]; then
    printf '\n%s-node cluster (replicas 3, QUORUM reads and writes) through one node, same rounds\n' "$CLUSTER_NODES"
    printf '%-10s %14s %12s %10s %14s %14s %12s\n' workload "cluster rps" "cluster p99" "vs its -P1" "vs single" "vs redis" "single p99"
    for workload in "${WORKLOADS[@]}"; do
        read -r test pipeline <<<"$workload"
        c_rps=$(stat cluster "$test" "$pipeline" 1)
        # A pipelined row against the same test without pipelining, when run.
        vs_p1="-"
        if [ "$pipeline" != 1 ] && [ -n "${RESULTS["cluster $test 1"]}" ]; then
            vs_p1=$(awk -v a="$c_rps" -v b="$(stat cluster "$test" 1 1)" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
        fi
        c_p99=$(stat cluster "$test" "$pipeline" 2)
        r_rps=$(stat ringkv "$test" "$pipeline" 1)
        r_p99=$(stat ringkv "$test" "$pipeline" 2)
        d_rps=$(stat redis "$test" "$pipeline" 1)
        vs_single=$(awk -v a="$c_rps" -v b="$r_rps" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
        vs_redis=$(awk -v a="$c_rps" -v b="$d_rps" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
        printf '%-10s %14s %9s ms %10s %14s %14s %9s ms\n' "${test^^} -P$pipeline" "$c_rps" "$c_p99" "$vs_p1" "$vs_single" "$vs_redis" "$r_p99"
    done
fi
