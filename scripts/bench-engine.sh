#!/usr/bin/env bash
# Builds and runs the engine benchmark (bench/): ringkv's LSM engine under
# leveled and size-tiered compaction against RocksDB with equal settings.
#
#   scripts/bench-engine.sh [--keys N] [--reads N] [--dir PATH]
#
# RocksDB comes from Debian's librocksdb-dev (linked dynamically, so the
# build compiles no C++); bindgen needs libclang-dev. Both are installed with
# apt-get if missing (run as root, or install them first).
set -euo pipefail
cd "$(dirname "$0")/.."

libdir=/usr/lib/x86_64-linux-gnu
need=()
[ -e "$libdir/librocksdb.so" ] || need+=(librocksdb-dev)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

export ROCKSDB_LIB_DIR="$libdir"
export SNAPPY_LIB_DIR="$libdir"
cargo build --release --manifest-path bench/Cargo.toml
exec bench/target/release/ringkv-bench "$@"
