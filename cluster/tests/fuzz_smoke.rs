//! The cluster's fuzz targets (`fuzz/`, through `ringkv_cluster::fuzzing`) on
//! every `cargo test`, without a nightly toolchain: each runs on its seed
//! corpus, then on pseudo-random and mutated inputs from a fixed seed,
//! bounded in count and time. A failure prints the input in hex.
//!
//! Run from the repository root as
//! `FUZZ_CORPUS_DIR=$PWD/fuzz/corpus cargo test -p ringkv-engine -p ringkv-cluster --test fuzz_smoke`,
//! they also write each target's seeds where `cargo fuzz run` looks for its
//! corpus.

use std::time::Duration;

use ringkv_cluster::fuzzing::{self, Tally};
use ringkv_engine::fuzzing::smoke;

/// Inputs per target beyond its corpus, and the time allowed for them.
const INPUTS: usize = 3000;
const BUDGET: Duration = Duration::from_secs(4);

fn run(name: &str, seeds: Vec<Vec<u8>>, target: fn(&[u8]) -> Tally) {
    if let Some(dir) = std::env::var_os("FUZZ_CORPUS_DIR") {
        let dir = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
        }
    }
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let r = smoke(&seeds, seed, seeds.len() + INPUTS, BUDGET, target);
    eprintln!("{name}: {r:?}");
    assert!(r.corpus.accepted > 0, "{name}: no seed decoded");
    assert!(r.tally.rejected > 0, "{name}: no input was rejected");
    assert!(r.inputs > seeds.len(), "{name}: only the corpus ran");
}

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
