//! Manifest decoding: the input as a version edit, then recovered as the
//! manifest `CURRENT` names — as given (mode bit 0) or as `len:u16le edit`
//! chunks framed with a valid header and checksums. See
//! `ringkv_engine::fuzzing::manifest_edit`.
//!
//! Properties: no panic; a decoded edit re-encodes to one that decodes to
//! the same edit; a failed recovery reports damage; a recovered state
//! survives the snapshot manifest `open` writes for it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringkv_engine::fuzzing::manifest_edit(data);
});
