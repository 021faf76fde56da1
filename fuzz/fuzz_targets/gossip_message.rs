//! Gossip: the input as the member states of a GOSSIP request and reply
//! and of the stored member table (framed with a valid checksum unless mode
//! bit 0 is set), then merged into a membership table whose rings, views,
//! handoff plans and removals are read. See
//! `ringkv_cluster::fuzzing::gossip_message`.
//!
//! Properties: no panic; decoded states re-encode to themselves; the rings
//! derived from any states are well formed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringkv_cluster::fuzzing::gossip_message(data);
});
