//! WAL decoding: the input as a batch payload and as a stream of log
//! records, then replayed as a `.wal` file — as given (mode bit 0) or as
//! `len:u16le payload` chunks framed with a valid header and checksums.
//! See `ringkv_engine::fuzzing::wal_records`.
//!
//! Properties: no panic; a decoded batch re-encodes to one that decodes
//! the same; a failed replay reports damage and leaves the file alone; a
//! successful replay can be repeated with the same batches and no cut.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringkv_engine::fuzzing::wal_records(data);
});
