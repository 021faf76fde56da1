//! The engine's fuzz targets (`fuzz/`, through `ringkv_engine::fuzzing`) on
//! every `cargo test`, without a nightly toolchain: each runs on its seed
//! corpus, then on pseudo-random and mutated inputs from a fixed seed,
//! bounded in count and time. A failure prints the input in hex.
//!
//! Run from the repository root as
//! `FUZZ_CORPUS_DIR=$PWD/fuzz/corpus cargo test -p ringkv-engine -p ringkv-cluster --test fuzz_smoke`,
//! they also write each target's seeds where `cargo fuzz run` looks for its
//! corpus.

use ringkv_engine::fuzzing::{self, smoke_test as run};

#[test]
fn sstable_block_smoke() {
    run(
        "sstable_block",
        fuzzing::sstable_block_seeds(),
        fuzzing::sstable_block,
    );
}

#[test]
fn wal_records_smoke() {
    run(
        "wal_records",
        fuzzing::wal_records_seeds(),
        fuzzing::wal_records,
    );
}

#[test]
fn manifest_edit_smoke() {
    run(
        "manifest_edit",
        fuzzing::manifest_edit_seeds(),
        fuzzing::manifest_edit,
    );
}
