//! The engine's fuzz targets (`fuzz/`, through `ringkv_engine::fuzzing`) on
//! every `cargo test`, without a nightly toolchain: each runs on its seed
//! corpus, then on pseudo-random and mutated inputs from a fixed seed,
//! bounded in count and time. A failure prints the input in hex.
//!
//! Run from the repository root as
//! `FUZZ_CORPUS_DIR=$PWD/fuzz/corpus cargo test -p ringkv-engine -p ringkv-cluster --test fuzz_smoke`,
//! they also write each target's seeds where `cargo fuzz run` looks for its
//! corpus.

use std::time::Duration;

use ringkv_engine::fuzzing::{self, Tally};

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
    let r = fuzzing::smoke(&seeds, seed, seeds.len() + INPUTS, BUDGET, target);
    eprintln!("{name}: {r:?}");
    assert!(r.corpus.accepted > 0, "{name}: no seed decoded");
    assert!(r.tally.rejected > 0, "{name}: no input was rejected");
    assert!(r.inputs > seeds.len(), "{name}: only the corpus ran");
}

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
