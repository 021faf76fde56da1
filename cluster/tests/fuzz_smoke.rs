//! The cluster's fuzz targets (`fuzz/`, through `ringkv_cluster::fuzzing`) on
//! every `cargo test`, without a nightly toolchain: each runs on its seed
//! corpus, then on pseudo-random and mutated inputs from a fixed seed,
//! bounded in count and time. A failure prints the input in hex.
//!
//! Run from the repository root as
//! `FUZZ_CORPUS_DIR=$PWD/fuzz/corpus cargo test -p ringkv-engine -p ringkv-cluster --test fuzz_smoke`,
//! they also write each target's seeds where `cargo fuzz run` looks for its
//! corpus.

use ringkv_cluster::fuzzing;
use ringkv_engine::fuzzing::smoke_test as run;

#[test]
fn record_codec_smoke() {
    run(
        "record_codec",
        fuzzing::record_codec_seeds(),
        fuzzing::record_codec,
    );
}

#[test]
fn gossip_message_smoke() {
    run(
        "gossip_message",
        fuzzing::gossip_message_seeds(),
        fuzzing::gossip_message,
    );
}
