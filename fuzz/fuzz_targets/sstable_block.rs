//! SSTable decoding: the input as a block (entries, values, index handles,
//! seeks), as properties, a footer and a bloom filter, then as a whole
//! table opened from a file and read by scan, seeks and point lookups —
//! either the file as given (mode bit 0) or sections laid out as a table
//! with valid checksums. See `ringkv_engine::fuzzing::sstable_block`.
//!
//! Properties: no panic; a damaged table is reported as damage, never as
//! an I/O error; decoded properties, handles and footers re-encode to
//! themselves; a block seek never stops before its target.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringkv_engine::fuzzing::sstable_block(data);
});
