#!/usr/bin/env bash
# Fault drills on a local 3-node cluster, printing figures.
#
#   scripts/chaos.sh [--drill crash|partition|membership|all] [--seconds N] [--rate N]
#
# Each drill starts three ringkv-server nodes (release build, node i on
# 127.0.0.(21+i) with free ports and its own data dir, gossip every 100 ms,
# background anti-entropy off so repair is measured explicitly). Node-to-node
# traffic goes through scripts/netsplit.py, a proxy that can cut the network
# between nodes. Two writers run for --seconds (default 20), at most --rate
# writes/s each (default 500), recording every acknowledged write.
#
#   crash      QUORUM writes through nodes 0 and 1; node 2 is killed with
#              kill -9 and restarted on the same ports, then node 0 is
#              paused with SIGSTOP for 3 s.
#   partition  ONE writes through nodes 0 and 2; the network splits {0,1} |
#              {2} for half the load, and 20 keys are written on both sides
#              during the split; then it heals.
#   membership QUORUM writes through nodes 0 and 1; a 4th node joins, then
#              node 2 is decommissioned with CLUSTER LEAVE and stopped;
#              prints join and decommission times and how even ownership
#              is afterwards (fails if a member is more than 10% off even).
#
# Afterwards each drill waits until every hint is delivered, runs CLUSTER
# REPAIR on every node until no Merkle leaf differs, reads every
# acknowledged write back at ALL, and prints: operations, client errors,
# acknowledged writes lost, hints stored/replayed, time to converge (and for
# the partition, keys written on both sides that show both as siblings).
# Exits non-zero if an acknowledged write was lost (or a check named above
# fails). Stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

DRILL=all
SECONDS_LOAD=20
RATE=500
while [ $# -gt 0 ]; do
    case "$1" in
        --drill) DRILL="$2"; shift 2 ;;
        --seconds) SECONDS_LOAD="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        *) echo "usage: $0 [--drill crash|partition|membership|all] [--seconds N] [--rate N]" >&2; exit 2 ;;
    esac
done
case "$DRILL" in crash | partition | membership | all) ;; *) echo "--drill: crash, partition, membership or all" >&2; exit 2 ;; esac

command -v redis-cli >/dev/null || { echo "redis-cli is needed (apt-get install redis-tools)" >&2; exit 1; }
echo "building ringkv-server (release)..." >&2
cargo build --release --quiet --bin ringkv-server
BIN=./target/release/ringkv-server

free_port() {
    python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

WORK=$(mktemp -d)
declare -a HOST PORT CPORT PPORT MPORT PID
PROXY=
cleanup() {
    for p in "${PID[@]:-}"; do
        [ -n "$p" ] && { kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; } || true
    done
    [ -n "$PROXY" ] && { exec 3>&- 2>/dev/null; kill "$PROXY" 2>/dev/null; } || true
    wait 2>/dev/null || true
    PID=(); PROXY=
}
trap 'cleanup; rm -rf "$WORK"' EXIT

cli() { local i=$1; shift; redis-cli -h "${HOST[$i]}" -p "${PORT[$i]}" "$@"; }
info() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }
net() { echo "$*" >&3; }

start_node() {
    local i=$1 seeds=()
    [ "$i" -gt 0 ] && seeds=(--seeds "${HOST[0]}:${PPORT[0]}")
    mkdir -p "$WORK/node$i"
    "$BIN" --port "${PORT[$i]}" --cluster-port "${CPORT[$i]}" --metrics-port "${MPORT[$i]}" \
        --bind "${HOST[$i]}" --bind-source-addr "${HOST[$i]}" --cluster-announce-bus-port "${PPORT[$i]}" \
        --dir "$WORK/node$i/data" --gossip-interval-ms 100 --replica-timeout-ms 500 \
        --anti-entropy-interval-ms 0 --loglevel warning "${seeds[@]}" >>"$WORK/node$i.log" 2>&1 &
    PID[$i]=$!
    for _ in $(seq 1 200); do
        [ "$(cli "$i" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "node $i did not start; log:" >&2
    cat "$WORK/node$i.log" >&2
    exit 1
}

# A fresh cluster of three nodes behind the proxy.
start_cluster() {
    rm -rf "$WORK"/node* "$WORK"/acked-* "$WORK"/errors-*
    LIVE=(0 1 2)
    local spec=()
    for i in 0 1 2; do
        HOST[$i]=127.0.0.$((21 + i))
        PORT[$i]=$(free_port "${HOST[$i]}"); CPORT[$i]=$(free_port "${HOST[$i]}")
        PPORT[$i]=$(free_port "${HOST[$i]}"); MPORT[$i]=$(free_port "${HOST[$i]}")
        spec+=(--node "${HOST[$i]}:${PPORT[$i]}:${CPORT[$i]}")
    done
    mkfifo "$WORK/netsplit"
    python3 scripts/netsplit.py "${spec[@]}" <"$WORK/netsplit" &
    PROXY=$!
    exec 3>"$WORK/netsplit"
    rm -f "$WORK/netsplit"
    for i in 0 1 2; do start_node "$i"; done
    for _ in $(seq 1 300); do
        [ "$(cli 0 cluster nodes | grep -c 'normal up')" = 3 ] && break
        sleep 0.1
    done
    echo "cluster up: ${HOST[0]}:${PORT[0]} ${HOST[1]}:${PORT[1]} ${HOST[2]}:${PORT[2]}" >&2
}

# writer NODE PREFIX LEVEL: one SET at a time over RESP; prints acked pairs.
writer() {
    python3 - "${HOST[$1]}" "${PORT[$1]}" "$2" "$3" "$SECONDS_LOAD" "$RATE" <<'PY'
import socket, sys, time
host, port, prefix, level = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
seconds, rate = float(sys.argv[5]), int(sys.argv[6])
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
s = socket.create_connection((host, port)); f = s.makefile("rb")
end = time.time() + seconds; i = 0; errors = 0
while time.time() < end:
    key, val = "%s:%d" % (prefix, i), "v%d" % i
    s.sendall(cmd("CL", level, "SET", key, val))
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

# start_writers LEVEL NODE PREFIX NODE PREFIX: two writers in the
# background, their pids in WRITERS; each records acked pairs in
# $WORK/acked-PREFIX and its errors and summary in $WORK/errors-PREFIX.
start_writers() {
    local level=$1
    WRITERS=()
    shift
    while [ $# -ge 2 ]; do
        writer "$1" "$2" "$level" >"$WORK/acked-$2" 2>"$WORK/errors-$2" &
        WRITERS+=($!)
        shift 2
    done
}

# Waits for hints, repairs until the trees agree, checks every acked write
# and prints the figures. $1: the drill's title.
converge_and_report() {
    local title=$1 load_end=$2 start=$3
    # A node back from kill -9 serves reads once it has rebuilt.
    for _ in $(seq 1 600); do
        rebuilding=0
        for i in "${LIVE[@]}"; do rebuilding=$((rebuilding + $(info "$i" cluster_rebuilding))); done
        [ "$rebuilding" = 0 ] && break
        sleep 0.1
    done
    for _ in $(seq 1 600); do
        pending=0
        for i in "${LIVE[@]}"; do pending=$((pending + $(info "$i" cluster_hints_pending))); done
        [ "$pending" = 0 ] && break
        sleep 0.1
    done
    local hints_done rounds=0 converged
    hints_done=$(date +%s.%N)
    for _ in $(seq 1 10); do
        rounds=$((rounds + 1))
        differing=0
        for i in "${LIVE[@]}"; do
            d=$(cli "$i" cluster repair | sed -n 's/.*ranges_differing=\([0-9]*\).*/\1/p')
            differing=$((differing + d))
        done
        [ "$differing" = 0 ] && break
    done
    converged=$(date +%s.%N)

    acked=$(cat "$WORK"/acked-* | wc -l)
    lost=$(cat "$WORK"/acked-* \
        | awk '{ printf "CL ALL GET %s\n", $1 }' | cli "${LIVE[-1]}" \
        | paste -d' ' <(cat "$WORK"/acked-*) - \
        | awk '$2 != $3' | wc -l)
    ops_line=$(cat "$WORK"/errors-* | grep '^writer')
    ops=$(echo "$ops_line" | awk '{ s += $3 } END { print s }')
    errs=$(echo "$ops_line" | awk '{ s += $5 } END { print s }')
    stored=0; replayed=0
    for i in "${LIVE[@]}"; do
        stored=$((stored + $(info "$i" cluster_hints_stored)))
        replayed=$((replayed + $(info "$i" cluster_hints_replayed)))
    done

    printf '\n%s\n' "$title"
    printf '%-34s %s\n' "operations" "$ops"
    printf '%-34s %s\n' "client errors" "$errs"
    grep -h '^ERROR' "$WORK"/errors-* | sort | uniq -c | sort -rn | head -5 | sed 's/^/    /' || true
    printf '%-34s %s\n' "acknowledged writes" "$acked"
    printf '%-34s %s\n' "acknowledged writes lost (at ALL)" "$lost"
    printf '%-34s %s / %s\n' "hints stored / replayed" "$stored" "$replayed"
    printf '%-34s %.1f s\n' "hints delivered after load" "$(echo "$hints_done - $load_end" | bc)"
    printf '%-34s %.1f s (%s repair rounds)\n' "replicas equal after load" "$(echo "$converged - $load_end" | bc)" "$rounds"
    printf '%-34s %.1f s\n' "total" "$(echo "$converged - $start" | bc)"
    [ "$lost" = 0 ] || FAILED=1
}

crash_drill() {
    start_cluster
    local start load_end
    start=$(date +%s.%N)
    start_writers QUORUM 0 a 1 b
    sleep $((SECONDS_LOAD / 4))
    echo "kill -9 node 2" >&2
    kill -9 "${PID[2]}"; wait "${PID[2]}" 2>/dev/null || true
    sleep 3
    echo "restart node 2" >&2
    start_node 2
    sleep $((SECONDS_LOAD / 4))
    echo "SIGSTOP node 0 for 3 s (writer a stalls, writer b goes on)" >&2
    kill -STOP "${PID[0]}"; sleep 3; kill -CONT "${PID[0]}"
    wait "${WRITERS[@]}"
    load_end=$(date +%s.%N)
    converge_and_report "crash drill: 3 nodes, QUORUM writes for ${SECONDS_LOAD}s, kill -9 + restart of node 2, 3 s SIGSTOP of node 0" "$load_end" "$start"
    cleanup
}

partition_drill() {
    start_cluster
    local start load_end split_at detected
    start=$(date +%s.%N)
    start_writers ONE 0 left 2 right
    sleep $((SECONDS_LOAD / 4))
    echo "split {0,1} | {2}" >&2
    net "cut 0,1|2"
    split_at=$(date +%s.%N)
    for _ in $(seq 1 300); do
        [ "$(info 2 cluster_members_down)" = 2 ] && [ "$(info 0 cluster_members_down)" = 1 ] && break
        sleep 0.05
    done
    detected=$(date +%s.%N)
    for j in $(seq 0 19); do
        cli 1 CL ONE SET "shared:$j" "left-$j" >/dev/null
        cli 2 CL ONE SET "shared:$j" "right-$j" >/dev/null
    done
    sleep $((SECONDS_LOAD / 2))
    echo "heal" >&2
    net heal
    wait "${WRITERS[@]}"
    load_end=$(date +%s.%N)
    converge_and_report "partition drill: 3 nodes, ONE writes for ${SECONDS_LOAD}s through nodes 0 and 2, {0,1} | {2} split for $((SECONDS_LOAD / 2))s" "$load_end" "$start"
    local siblings=0
    for j in $(seq 0 19); do
        # VGET's reply is the context followed by the values.
        vals=$(cli $((j % 3)) CL ALL VGET "shared:$j" | grep -cE '^(left|right)-')
        [ "$vals" = 2 ] && siblings=$((siblings + 1))
    done
    printf '%-34s %.1f s\n' "split detected by both sides" "$(echo "$detected - $split_at" | bc)"
    printf '%-34s %s / 20\n' "keys written on both sides, siblings" "$siblings"
    [ "$siblings" = 20 ] || FAILED=1
    cleanup
}

membership_drill() {
    start_cluster
    local start load_end joined left t0
    start=$(date +%s.%N)
    start_writers QUORUM 0 a 1 b
    sleep $((SECONDS_LOAD / 4))
    echo "node 3 joins" >&2
    # Outside the proxy: it announces the port it listens on.
    HOST[3]=127.0.0.24
    PORT[3]=$(free_port "${HOST[3]}"); CPORT[3]=$(free_port "${HOST[3]}")
    PPORT[3]=${CPORT[3]}; MPORT[3]=$(free_port "${HOST[3]}")
    t0=$(date +%s.%N)
    start_node 3
    for _ in $(seq 1 600); do
        [ "$(cli 0 cluster nodes | grep -c 'normal up')" = 4 ] && break
        sleep 0.1
    done
    joined=$(echo "$(date +%s.%N) - $t0" | bc)
    LIVE=(0 1 2 3)
    sleep $((SECONDS_LOAD / 4))
    echo "node 2 leaves (CLUSTER LEAVE)" >&2
    t0=$(date +%s.%N)
    cli 2 cluster leave >"$WORK/leave" 2>&1 || true
    left=$(echo "$(date +%s.%N) - $t0" | bc)
    kill "${PID[2]}"; wait "${PID[2]}" 2>/dev/null || true
    PID[2]=
    LIVE=(0 1 3)
    wait "${WRITERS[@]}"
    load_end=$(date +%s.%N)
    converge_and_report "membership drill: QUORUM writes for ${SECONDS_LOAD}s through nodes 0 and 1; node 3 joins, then node 2 leaves" "$load_end" "$start"
    printf '%-34s %.1f s\n' "join (start to normal up)" "$joined"
    printf '%-34s %.1f s (%s)\n' "decommission (CLUSTER LEAVE)" "$left" "$(tr -d '\r' <"$WORK/leave" | cut -c1-40)"
    # Acceptance: every member within 10% of an even share (exit 1 if not).
    local spread
    spread=$(cli 0 cluster nodes | python3 -c '
import re, sys
v = [float(x) for x in re.findall(r"ownership=([0-9.]+)", sys.stdin.read()) if float(x) > 0]
off = max(abs(x * len(v) - 1) * 100 for x in v)
print("%d members owning ranges, largest deviation from even %.1f%%" % (len(v), off))
sys.exit(off > 10)') || FAILED=1
    printf '%-34s %s\n' "ownership afterwards" "$spread"
    cleanup
}

FAILED=0
case "$DRILL" in
    crash) crash_drill ;;
    partition) partition_drill ;;
    membership) membership_drill ;;
    all) crash_drill; partition_drill; membership_drill ;;
esac
exit "$FAILED"
