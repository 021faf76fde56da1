//! Feeds arbitrary bytes to the node-to-node protocol
//! (`docs/protocol/node-rpc.md`), as a peer that has not authenticated and
//! as one that has.
//!
//! - Before authentication: the accepting side of the handshake reads the
//!   input as the peer's answer to its challenge. It must fail cleanly
//!   (the input cannot know the nonce's MAC) and never accept a frame body
//!   over `MAX_PREAUTH_BODY`.
//! - After authentication: the input is read as a stream of frames, and
//!   every body (and the whole input, so the fuzzer need not forge frame
//!   checksums to reach the decoders) is decoded as each request kind and
//!   as the reply to each. Nothing may panic; a decoded request re-encodes
//!   to a body that decodes to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_cluster::wire::frame::{self, FrameError, MAX_PREAUTH_BODY};
use ringkv_cluster::wire::{Request, Response, kind};
use tokio::io::AsyncWriteExt;

/// Request kinds (`message::kind`).
const KINDS: [u8; 9] = [
    kind::GOSSIP,
    kind::READ,
    kind::MERGE,
    kind::APPLY,
    kind::SCAN,
    kind::FLUSH,
    kind::HINT,
    kind::TREE,
    kind::FETCH,
];

/// Post-authentication frames are read with a smaller cap than the
/// protocol's 600 MiB so that one execution stays fast.
const FUZZ_MAX_BODY: usize = 1 << 20;

/// Decodes `body` as every request and reply kind.
fn decode_bodies(body: &bytes::Bytes) {
    for k in KINDS {
        if let Ok(req) = Request::decode(k, body.clone()) {
            let (k2, encoded) = req.encode();
            assert_eq!(k2, k, "a request re-encodes as its kind");
            let again = Request::decode(k2, encoded).expect("a re-encoded request decodes");
            assert_eq!(format!("{again:?}"), format!("{req:?}"));
        }
        let _ = Response::decode(k, k | 0x80, body.clone());
        let _ = Response::decode(k, 0x7F, body.clone());
    }
}

static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(rt) = RUNTIME
        .get_or_init(|| tokio::runtime::Builder::new_current_thread().build().ok())
        .as_ref()
    else {
        return;
    };
    decode_bodies(&bytes::Bytes::copy_from_slice(data));
    rt.block_on(async {
        // Before authentication.
        let (mut ours, mut theirs) = tokio::io::duplex(1 << 20);
        theirs.write_all(data).await.ok();
        theirs.shutdown().await.ok();
        match frame::accept_handshake(&mut ours, "fuzz-secret", 1).await {
            Ok(peer) => panic!("an input authenticated as {peer:016x} without the secret"),
            Err(FrameError::TooLarge { len, max }) => {
                assert!(len > MAX_PREAUTH_BODY && max <= MAX_PREAUTH_BODY)
            }
            Err(_) => {}
        }

        // After authentication.
        let mut input = data;
        while let Ok(Some(f)) = frame::read_frame_within(&mut input, FUZZ_MAX_BODY).await {
            decode_bodies(&f.body);
        }
    });
});
