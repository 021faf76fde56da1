//! The stored-record codec: the input as a record of format 1 or 2, as
//! reconciled siblings (then read, written and incremented), as a causal
//! context, and with mode bit 7 as two records to merge. See
//! `ringkv_cluster::fuzzing::record_codec`.
//!
//! Properties: no panic; a format-2 record is canonical; decode, encode,
//! decode gives the same siblings, clocks and counters; merge is
//! commutative, idempotent and absorbing; a write supersedes what it saw.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringkv_cluster::fuzzing::record_codec(data);
});
