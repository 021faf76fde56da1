# Sourced by the measuring scripts (bench.sh, memory.sh).
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
