#!/usr/bin/env bash
# Fault drill on a local 3-node cluster, printing figures.
#
#   scripts/chaos.sh [--seconds N] [--rate N]
#
# Starts three ringkv-server nodes (release build, free loopback ports, own
# data dirs, gossip every 100 ms, background anti-entropy off so repair is
# measured explicitly), then runs a QUORUM write load through nodes 0 and 1
# for --seconds (default 20), at most --rate writes/s per writer (default
# 500), recording every acknowledged write. During the load it kills node 2
# with kill -9 and restarts it on the same ports, then pauses node 1 with
# SIGSTOP for 3 s. Afterwards it waits until every hint is delivered, runs
# CLUSTER REPAIR on every node until no Merkle leaf differs, reads every
# acknowledged write back at ALL, and prints: operations, client errors,
# acknowledged writes lost, hints stored/replayed, time to converge.
# Stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_LOAD=20
RATE=500
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_LOAD="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        *) echo "usage: $0 [--seconds N] [--rate N]" >&2; exit 2 ;;
    esac
done

command -v redis-cli >/dev/null || { echo "redis-cli is needed (apt-get install redis-tools)" >&2; exit 1; }
echo "building ringkv-server (release)..." >&2
cargo build --release --quiet --bin ringkv-server
BIN=./target/release/ringkv-server

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d)
declare -a PORT CPORT MPORT PID
cleanup() {
    for p in "${PID[@]:-}"; do
        [ -n "$p" ] && { kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; } || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start_node() {
    local i=$1 seeds=()
    [ "$i" -gt 0 ] && seeds=(--seeds "127.0.0.1:${CPORT[0]}")
    mkdir -p "$WORK/node$i"
    "$BIN" --port "${PORT[$i]}" --cluster-port "${CPORT[$i]}" --metrics-port "${MPORT[$i]}" \
        --bind 127.0.0.1 --dir "$WORK/node$i/data" --gossip-interval-ms 100 \
        --anti-entropy-interval-ms 0 --loglevel warning "${seeds[@]}" >>"$WORK/node$i.log" 2>&1 &
    PID[$i]=$!
    for _ in $(seq 1 200); do
        [ "$(redis-cli -p "${PORT[$i]}" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "node $i did not start; log:" >&2
    cat "$WORK/node$i.log" >&2
    exit 1
}

info() { redis-cli -p "${PORT[$1]}" cluster info 2>/dev/null | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

for i in 0 1 2; do
    PORT[$i]=$(free_port); CPORT[$i]=$(free_port); MPORT[$i]=$(free_port)
    start_node "$i"
done
for _ in $(seq 1 300); do
    [ "$(redis-cli -p "${PORT[0]}" cluster nodes | grep -c 'normal up')" = 3 ] && break
    sleep 0.1
done
echo "cluster up: client ports ${PORT[*]}" >&2

# Writer: RESP over a socket, one QUORUM SET at a time; prints acked keys.
writer() {
    python3 - "$1" "$2" "$SECONDS_LOAD" "$RATE" <<'PY'
import socket, sys, time
port, prefix, seconds, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
end = time.time() + seconds; i = 0; errors = 0
while time.time() < end:
    key, val = "%s:%d" % (prefix, i), "v%d" % i
    s.sendall(cmd("CL", "QUORUM", "SET", key, val))
    line = f.readline()
    if line.startswith(b"+OK"):
        print(key, val)
    else:
        errors += 1
        print("ERROR", line.decode().strip(), file=sys.stderr)
    i += 1
    time.sleep(1.0 / rate)
print("writer %s: %d operations, %d errors" % (prefix, i, errors), file=sys.stderr)
PY
}

START=$(date +%s.%N)
writer "${PORT[0]}" a >"$WORK/acked-a" 2>"$WORK/errors-a" &
WA=$!
writer "${PORT[1]}" b >"$WORK/acked-b" 2>"$WORK/errors-b" &
WB=$!

sleep $((SECONDS_LOAD / 4))
echo "kill -9 node 2" >&2
kill -9 "${PID[2]}"; wait "${PID[2]}" 2>/dev/null || true
sleep 3
echo "restart node 2" >&2
start_node 2
sleep $((SECONDS_LOAD / 4))
echo "SIGSTOP node 0 for 3 s (writer a stalls, writer b goes on)" >&2
kill -STOP "${PID[0]}"; sleep 3; kill -CONT "${PID[0]}"
wait "$WA" "$WB"
LOAD_END=$(date +%s.%N)

# Converge: hints delivered, then repair until no Merkle leaf differs.
for _ in $(seq 1 600); do
    pending=0
    for i in 0 1 2; do pending=$((pending + $(info "$i" cluster_hints_pending))); done
    [ "$pending" = 0 ] && break
    sleep 0.1
done
HINTS_DONE=$(date +%s.%N)
rounds=0
for _ in $(seq 1 10); do
    rounds=$((rounds + 1))
    differing=0
    for i in 0 1 2; do
        d=$(redis-cli -p "${PORT[$i]}" cluster repair | sed -n 's/.*ranges_differing=\([0-9]*\).*/\1/p')
        differing=$((differing + d))
    done
    [ "$differing" = 0 ] && break
done
CONVERGED=$(date +%s.%N)

acked=$(cat "$WORK/acked-a" "$WORK/acked-b" | wc -l)
lost=$(cat "$WORK/acked-a" "$WORK/acked-b" \
    | awk '{ printf "CL ALL GET %s\n", $1 }' | redis-cli -p "${PORT[2]}" \
    | paste -d' ' <(cat "$WORK/acked-a" "$WORK/acked-b") - \
    | awk '$2 != $3' | wc -l)
ops_line=$(cat "$WORK/errors-a" "$WORK/errors-b" | grep '^writer')
ops=$(echo "$ops_line" | awk '{ s += $3 } END { print s }')
errs=$(echo "$ops_line" | awk '{ s += $5 } END { print s }')
stored=0; replayed=0
for i in 0 1 2; do
    stored=$((stored + $(info "$i" cluster_hints_stored)))
    replayed=$((replayed + $(info "$i" cluster_hints_replayed)))
done

printf '\nchaos drill: 3 nodes, QUORUM writes for %ss, kill -9 + restart of node 2, 3 s SIGSTOP of node 0\n' "$SECONDS_LOAD"
printf '%-34s %s\n' "operations" "$ops"
printf '%-34s %s\n' "client errors" "$errs"
printf '%-34s %s\n' "acknowledged writes" "$acked"
printf '%-34s %s\n' "acknowledged writes lost (at ALL)" "$lost"
printf '%-34s %s / %s\n' "hints stored / replayed" "$stored" "$replayed"
printf '%-34s %.1f s\n' "hints delivered after load" "$(echo "$HINTS_DONE - $LOAD_END" | bc)"
printf '%-34s %.1f s (%s repair rounds)\n' "replicas equal after load" "$(echo "$CONVERGED - $LOAD_END" | bc)" "$rounds"
printf '%-34s %.1f s\n' "total" "$(echo "$CONVERGED - $START" | bc)"
[ "$lost" = 0 ]
