# Sourced by the measuring scripts (bench.sh, memory.sh, large-collections.sh).
#
#   SERVER_BIN=$(release_server_bin "$OVERRIDE")
#
# Prints the ringkv-server binary to measure: OVERRIDE when it is set (a
# given build, for before/after figures of two builds), else a release
# build of this checkout, built first.
release_server_bin() {
    if [ -n "${1:-}" ]; then
        echo "$1"
        return
    fi
    echo "building ringkv-server (release)..." >&2
    cargo build --release --quiet --bin ringkv-server >&2
    echo ./target/release/ringkv-server
}

# Helpers of the measuring scripts (memory.sh, large-collections.sh).

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Sets WORK to a fresh temporary directory and PIDS to an empty list; on
# exit, kills the processes in PIDS (only those) and removes WORK.
start_work_dir() {
    WORK=$(mktemp -d)
    PIDS=()
    trap cleanup_work_dir EXIT
}
cleanup_work_dir() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# Waits (up to 10 s) for the server on port $1 to answer PING.
wait_ping() {
    for _ in $(seq 1 200); do
        [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# Field $2 (kB) of /proc/$1/status (VmRSS, VmHWM).
kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
