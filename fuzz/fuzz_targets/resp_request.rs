//! Feeds arbitrary bytes to the RESP request decoder, whole and in chunks.
//!
//! Properties: no panic; decoding never consumes more than it was given; the
//! requests (and the error, if any) do not depend on how the bytes were split
//! across reads, as TCP may split them anywhere.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringkv_resp::request::{Limits, Request, RequestDecoder};

/// Decodes `input` arriving in pieces of `chunk` bytes (0: all at once).
fn decode_all(input: &[u8], chunk: usize, limits: &Limits) -> (Vec<Request>, Option<String>) {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if chunk == 0 {
        vec![input]
    } else {
        input.chunks(chunk).collect()
    };
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match dec.decode(&mut buf, limits) {
                Ok(Some(r)) => {
                    assert!(!r.args.is_empty(), "a request always has a command name");
                    assert!(buf.len() < before, "a request consumed no input");
                    out.push(r);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_bulk_len: 1 << 20,
        max_multibulk_len: 1024,
        auth_required: mode & 0x80 != 0,
    };
    let chunk = usize::from(mode & 0x0f);
    let whole = decode_all(input, 0, &limits);
    let split = decode_all(input, chunk, &limits);
    // Once every byte has arrived both saw the same stream, so they must
    // agree on the requests and on the error.
    assert_eq!(whole, split, "decoding depends on read boundaries");
});
