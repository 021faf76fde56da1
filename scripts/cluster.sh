#!/usr/bin/env bash
# Starts, stops or shows a local ringkv cluster on loopback ports.
#
#   scripts/cluster.sh up N      build, then start N nodes (client ports 7001..,
#                                cluster ports 17001.., metrics 8001..), each
#                                with its own data dir under ./cluster-data
#   scripts/cluster.sh status    CLUSTER NODES through the first node
#   scripts/cluster.sh down      stop the nodes this script started
#
# Environment: BASE_PORT (default 7001), SERVER_BIN (default: cargo build
# --release and use target/release/ringkv-server), EXTRA_ARGS (added to
# every node's command line), DATA (default ./cluster-data).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_PORT=${BASE_PORT:-7001}
DATA=${DATA:-./cluster-data}
EXTRA_ARGS=${EXTRA_ARGS:-}

bin() {
    if [ -n "${SERVER_BIN:-}" ]; then
        echo "$SERVER_BIN"
    else
        cargo build --release -q >&2
        echo target/release/ringkv-server
    fi
}

up() {
    local n=${1:?usage: cluster.sh up N}
    local server
    server=$(bin)
    mkdir -p "$DATA"
    local seed="127.0.0.1:$((BASE_PORT + 10000))"
    for i in $(seq 0 $((n - 1))); do
        local port=$((BASE_PORT + i))
        local dir="$DATA/node$i"
        mkdir -p "$dir"
        local seeds=()
        [ "$i" -gt 0 ] && seeds=(--seeds "$seed")
        # shellcheck disable=SC2086
        "$server" --port "$port" --cluster-port $((port + 10000)) \
            --metrics-port $((port + 1000)) --bind 127.0.0.1 --dir "$dir/data" \
            "${seeds[@]}" $EXTRA_ARGS >"$dir/log" 2>&1 &
        echo $! >"$dir/pid"
        # Start one at a time: a node chooses its tokens from the ring it
        # learns, so joining in turn keeps ownership even.
        for _ in $(seq 1 100); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        echo "node$i: redis-cli -p $port (pid $(cat "$dir/pid"), log $dir/log)"
    done
}

down() {
    for pidfile in "$DATA"/node*/pid; do
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null && echo "stopped pid $pid" || true
        rm -f "$pidfile"
    done
}

status() {
    redis-cli -p "$BASE_PORT" cluster nodes
}

case "${1:-}" in
    up) up "${2:-3}" ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up N | down | status" >&2; exit 2 ;;
esac
