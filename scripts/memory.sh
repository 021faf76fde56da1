#!/usr/bin/env bash
# Checks SPEC §6's memory target on a running server: resident size is
# bounded by memtables + block cache + per-connection buffers, not by data
# size, so a data set 10x the configured memory budget loads and serves.
#
#   scripts/memory.sh [--keys N] [--value-bytes N] [--budget-mb N]
#
# Starts ringkv-server (release build, its own free port and temporary data
# directory) with a small memory budget: memtable-size = budget/8,
# max-immutable-memtables 2, block-cache-size = budget/2 (so memtables and
# cache together are at most 7/8 of the budget). Loads --keys distinct keys
# of --value-bytes each (default 400000 x 1000 bytes, about 10x a 40 MB
# budget) through redis-cli --pipe, then reads a sample back at random and
# checks every value. Prints the logical data size, the data directory's
# size, the peak and final resident size (VmHWM, VmRSS) and their ratio to
# the budget and to the data. When redis-server is installed, loads the same
# data into it too and prints its resident size beside ours. Exits non-zero
# if a value read back is wrong or the peak resident size exceeds three
# times the budget plus 64 MB (fixed overhead of the runtime, allocator,
# compaction and WAL buffers, about 45 MB under load with a 1 MB budget;
# memtables and cache use up to twice their nominal bytes in allocator
# pages at their peak). The resident size after each quarter of the load
# shows whether it grows with the data. Stops only the
# processes it started. MEMORY_SERVER_BIN=path measures a given binary
# instead of building one (before/after figures of two builds).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=400000
VALUE_BYTES=1000
BUDGET_MB=40
while [ $# -gt 0 ]; do
    case "$1" in
        --keys) KEYS="$2"; shift 2 ;;
        --value-bytes) VALUE_BYTES="$2"; shift 2 ;;
        --budget-mb) BUDGET_MB="$2"; shift 2 ;;
        *) echo "usage: $0 [--keys N] [--value-bytes N] [--budget-mb N]" >&2; exit 2 ;;
    esac
done
command -v redis-cli >/dev/null || { echo "redis-cli is needed (apt-get install redis-tools)" >&2; exit 1; }
. scripts/server-bin.sh
BIN=$(release_server_bin "${MEMORY_SERVER_BIN:-}")

start_work_dir

# Loads keys $2 <= i < $3 into the server on port $1 (RESP on stdin for
# redis-cli --pipe): key:<i> -> a value derived from i, so reads can be
# checked without storing anything.
load() {
    python3 - "$2" "$3" "$VALUE_BYTES" <<'EOF' | redis-cli -p "$1" --pipe >/dev/null
import sys
first, end, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
for i in range(first, end):
    key = b"key:%d" % i
    unit = b"%d:" % i
    val = (unit * (size // len(unit) + 1))[:size]
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
EOF
}

# Reads 2000 keys at random and checks each value.
check() {
    python3 - "$1" "$KEYS" "$VALUE_BYTES" <<'EOF'
import random, socket, sys
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
rng = random.Random(7)
sample = [rng.randrange(n) for _ in range(2000)]
s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\nkey:%d\r\n" % (len(b"key:%d" % i), i) for i in sample))
bad = 0
for i in sample:
    head = f.readline()
    unit = b"%d:" % i
    want = (unit * (size // len(unit) + 1))[:size]
    if not head.startswith(b"$") or int(head[1:]) != size:
        bad += 1
        continue
    got = f.read(size + 2)[:size]
    bad += got != want
print(bad)
EOF
}

BUDGET=$((BUDGET_MB * 1024 * 1024))
PORT=$(free_port)
"$BIN" --port "$PORT" --metrics-port "$(free_port)" --dir "$WORK/ringkv" --loglevel warning \
    --memtable-size $((BUDGET / 8)) --max-immutable-memtables 2 --block-cache-size $((BUDGET / 2)) \
    >"$WORK/ringkv.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
wait_ping "$PORT"
echo "loading $KEYS keys of $VALUE_BYTES bytes into ringkv..." >&2
started=$(date +%s.%N)
TRAJECTORY=()
for q in 1 2 3 4; do
    load "$PORT" $((KEYS * (q - 1) / 4)) $((KEYS * q / 4))
    TRAJECTORY+=("$(( $(kb "$RPID" VmRSS) / 1024 ))")
done
load_s=$(echo "$(date +%s.%N) - $started" | bc)
# Let compaction finish, so the directory size is the data's, not the
# inputs awaiting deletion.
for _ in $(seq 1 120); do
    pending=$(redis-cli -p "$PORT" info engine | tr -d '\r' | awk -F: '$1 == "pending_compaction_bytes" { print $2 }')
    [ "${pending:-0}" = 0 ] && break
    sleep 0.5
done
bad=$(check "$PORT")
rss_kb=$(kb "$RPID" VmRSS)
hwm_kb=$(kb "$RPID" VmHWM)
disk_kb=$(du -sk "$WORK/ringkv" | cut -f1)
data_mb=$(echo "scale=1; $KEYS * $VALUE_BYTES / 1048576" | bc)

redis_rss=
if command -v redis-server >/dev/null; then
    RPORT=$(free_port)
    redis-server --port "$RPORT" --save '' --appendonly no --dir "$WORK" >/dev/null 2>&1 &
    PIDS+=("$!")
    REDIS_PID=$!
    wait_ping "$RPORT"
    echo "loading the same data into redis-server..." >&2
    load "$RPORT" 0 "$KEYS"
    redis_rss=$(kb "$REDIS_PID" VmRSS)
fi

mb() { echo "scale=1; $1 / 1024" | bc; }
echo
echo "memory: $KEYS keys x $VALUE_BYTES bytes, budget $BUDGET_MB MB (memtable $((BUDGET_MB * 1024 / 8 / 1024)) MB x 3, block cache $((BUDGET_MB / 2)) MB)"
printf '%-38s %s\n' "logical data" "$data_mb MB ($(echo "scale=1; $data_mb / $BUDGET_MB" | bc)x the budget)"
printf '%-38s %s\n' "ringkv data directory" "$(mb "$disk_kb") MB"
printf '%-38s %s\n' "load time" "$load_s s"
printf '%-38s %s\n' "ringkv peak resident (VmHWM)" "$(mb "$hwm_kb") MB ($(echo "scale=2; $hwm_kb / 1024 / $BUDGET_MB" | bc)x the budget, $(echo "scale=2; $hwm_kb / 1024 / $data_mb" | bc)x the data)"
printf '%-38s %s\n' "ringkv resident after each quarter" "${TRAJECTORY[*]} MB"
printf '%-38s %s\n' "ringkv resident after compaction" "$(mb "$rss_kb") MB"
[ -n "$redis_rss" ] && printf '%-38s %s\n' "redis-server resident, same data" "$(mb "$redis_rss") MB"
printf '%-38s %s\n' "values read back wrong (of 2000)" "$bad"
limit_kb=$(( (3 * BUDGET_MB + 64) * 1024 ))
if [ "$bad" != 0 ]; then
    echo "FAIL: values read back wrong" >&2
    exit 1
fi
if [ "$hwm_kb" -gt "$limit_kb" ]; then
    echo "FAIL: peak resident $(mb "$hwm_kb") MB over $(mb "$limit_kb") MB" >&2
    exit 1
fi
