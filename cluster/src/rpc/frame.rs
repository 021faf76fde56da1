//! Frames and the authentication handshake of the node-to-node protocol
//! (`docs/protocol/node-rpc.md`, version 4).
//!
//! ```text
//! frame := magic:u16be (0x524B "RK") version:u8 (3) kind:u8 id:u64be
//!          len:u32be body[len] crc:u32be
//! crc   := crc32c(magic .. body)
//! ```
//!
//! A frame with a bad magic, an unknown version, a length over
//! [`MAX_BODY`] or a checksum mismatch is a protocol error: the connection
//! is closed (nothing in it can be trusted any more). Before the handshake
//! has succeeded, both sides read frames of at most [`MAX_PREAUTH_BODY`]
//! bytes: the length is checked before the body is allocated, so a
//! stranger cannot make a node hold more than that.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// First two bytes of every frame: "RK".
pub const MAGIC: u16 = 0x524B;
/// The protocol version this build speaks.
pub const VERSION: u8 = 13;
/// Largest body accepted: a 512 MB value plus its record overhead.
pub const MAX_BODY: usize = 600 * 1024 * 1024;
/// Largest body read before the peer has authenticated. Handshake frames
/// carry at most 40 bytes and a refusal a short text; a longer claimed
/// length closes the connection before anything is allocated for it.
pub const MAX_PREAUTH_BODY: usize = 64 * 1024;
/// Most bytes of a REFUSED text kept when one is received.
const MAX_REFUSAL_TEXT: usize = 512;
/// The text of the REFUSED frame answering an AUTH whose MAC does not
/// verify (the two nodes' `cluster-secret`s differ).
pub const WRONG_SECRET: &str = "wrong cluster secret";
/// Read buffer of a connection: many small frames per read system call.
pub const READ_BUFFER: usize = 64 * 1024;
/// Bytes before the body.
pub const HEADER_LEN: usize = 2 + 1 + 1 + 8 + 4;

/// Handshake frame kinds (requests and replies use [`crate::rpc::message`]'s).
pub mod kind {
    /// Server → client: `nonce[32] node_id:u64`.
    pub const CHALLENGE: u8 = 1;
    /// Client → server: `node_id:u64 mac[32]`.
    pub const AUTH: u8 = 2;
    /// Server → client: authenticated, empty body.
    pub const AUTH_OK: u8 = 3;
    /// Either way: `text` (the sender closes after it).
    pub const REFUSED: u8 = 4;
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the body holds.
    pub kind: u8,
    /// Matches a reply to its request on a multiplexed connection.
    pub id: u64,
    /// The body.
    pub body: Bytes,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Socket error (including the peer closing).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The first two bytes of a frame are not [`MAGIC`]: the peer does not
    /// speak this protocol (a Redis port, an HTTP server, garbage).
    #[error("bad magic {found:#06x}: not the ringkv node protocol")]
    BadMagic {
        /// The two bytes found, big-endian.
        found: u16,
    },
    /// A frame claims a body longer than this side accepts here.
    #[error("frame body of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The claimed body length.
        len: usize,
        /// The limit: [`MAX_BODY`], or [`MAX_PREAUTH_BODY`] in the handshake.
        max: usize,
    },
    /// The bytes are not a valid frame.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The handshake failed on this side: a bad MAC, an unexpected frame.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The peer answered the handshake with REFUSED and this text (e.g.
    /// [`WRONG_SECRET`], or its protected mode).
    #[error("refused by the peer: {0}")]
    Refused(String),
}

/// Encodes a frame.
pub fn encode(frame: &Frame) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + frame.body.len() + 4);
    encode_into(&mut out, frame);
    out.freeze()
}

/// Appends the encoding of `frame` to `out`.
pub fn encode_into(out: &mut BytesMut, frame: &Frame) {
    let start = out.len();
    out.reserve(HEADER_LEN + frame.body.len() + 4);
    out.put_u16(MAGIC);
    out.put_u8(VERSION);
    out.put_u8(frame.kind);
    out.put_u64(frame.id);
    out.put_u32(u32::try_from(frame.body.len()).unwrap_or(u32::MAX));
    out.put_slice(&frame.body);
    let crc = crc32c::crc32c(&out[start..]);
    out.put_u32(crc);
}

/// Most bytes of queued frames gathered into one write.
const MAX_COALESCED: usize = 256 * 1024;

/// Writes the frames `rx` yields to `w` until `rx` closes (`Ok`) or a
/// write fails. Frames already queued when one is taken go out in the same
/// write, so a burst of requests or replies costs one system call, not one
/// each. `take` turns a queued item into its frame; it runs before the
/// frame is written (a caller registers its reply waiter there).
pub async fn write_queued<W: AsyncWrite + Unpin, T>(
    w: &mut W,
    rx: &mut mpsc::Receiver<T>,
    mut take: impl FnMut(T) -> Frame,
) -> Result<(), FrameError> {
    let mut buf = BytesMut::new();
    while let Some(item) = rx.recv().await {
        encode_into(&mut buf, &take(item));
        // The first frame woke this task at once; the tasks that queue the
        // rest of a burst (a pipeline's other keys) run when it yields.
        // One yield turns a burst into one write instead of one per frame.
        let mut yielded = false;
        while buf.len() < MAX_COALESCED {
            match rx.try_recv() {
                Ok(item) => encode_into(&mut buf, &take(item)),
                Err(mpsc::error::TryRecvError::Empty) if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        w.write_all(&buf).await?;
        if buf.capacity() > 4 * MAX_COALESCED {
            // After a large value: do not keep its buffer for the connection's life.
            buf = BytesMut::new();
        } else {
            buf.clear();
        }
    }
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, FrameError> {
    read_frame_within(r, MAX_BODY).await
}

/// Reads one frame whose body is at most `max_body` bytes; a longer
/// claimed length is [`FrameError::TooLarge`] before any of it is read or
/// allocated. `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max_body: usize,
) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let [
        m0,
        m1,
        version,
        kind,
        i0,
        i1,
        i2,
        i3,
        i4,
        i5,
        i6,
        i7,
        l0,
        l1,
        l2,
        l3,
    ] = header;
    let found = u16::from_be_bytes([m0, m1]);
    if found != MAGIC {
        return Err(FrameError::BadMagic { found });
    }
    if version != VERSION {
        return Err(FrameError::Protocol(format!(
            "unsupported protocol version {version} (this node speaks {VERSION})"
        )));
    }
    let id = u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]);
    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    if len > max_body.min(MAX_BODY) {
        return Err(FrameError::TooLarge {
            len,
            max: max_body.min(MAX_BODY),
        });
    }
    let mut rest = vec![0u8; len + 4];
    r.read_exact(&mut rest).await?;
    let crc_bytes: [u8; 4] = rest
        .get(len..)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| FrameError::Protocol("short frame".into()))?;
    rest.truncate(len);
    let mut crc = crc32c::crc32c(&header);
    crc = crc32c::crc32c_append(crc, &rest);
    if crc != u32::from_be_bytes(crc_bytes) {
        return Err(FrameError::Protocol("frame checksum mismatch".into()));
    }
    Ok(Some(Frame {
        kind,
        id,
        body: Bytes::from(rest),
    }))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
) -> Result<(), FrameError> {
    w.write_all(&encode(frame)).await?;
    Ok(())
}

/// The encoding of a REFUSED frame carrying `text`: what an acceptor sends
/// instead of a CHALLENGE (protected mode) or of AUTH_OK (a bad MAC).
pub fn refusal(text: &str) -> Bytes {
    encode(&Frame {
        kind: kind::REFUSED,
        id: 0,
        body: Bytes::copy_from_slice(text.as_bytes()),
    })
}

/// The text of a received REFUSED frame, cut to a sane length.
fn refusal_text(body: &[u8]) -> String {
    let cut = body.get(..MAX_REFUSAL_TEXT).unwrap_or(body);
    String::from_utf8_lossy(cut).into_owned()
}

/// The HMAC over one challenge, keyed by the cluster secret; `None` never
/// happens in practice (HMAC accepts keys of any length).
fn keyed_mac(secret: &str, nonce: &[u8], node_id: u64) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(b"ringkv-cluster-v1");
    m.update(nonce);
    m.update(&node_id.to_be_bytes());
    Some(m)
}

/// The MAC proving knowledge of the cluster secret for one challenge (empty,
/// and so never verifying, if the MAC could not be keyed).
fn mac(secret: &str, nonce: &[u8], node_id: u64) -> Vec<u8> {
    keyed_mac(secret, nonce, node_id).map_or_else(Vec::new, |m| m.finalize().into_bytes().to_vec())
}

/// Checks a MAC in constant time.
fn verify(secret: &str, nonce: &[u8], node_id: u64, tag: &[u8]) -> bool {
    keyed_mac(secret, nonce, node_id).is_some_and(|m| m.verify_slice(tag).is_ok())
}

/// Server side of the handshake: sends a challenge, checks the answer.
/// Returns the authenticated peer's node id.
pub async fn accept_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &str,
    my_id: u64,
) -> Result<u64, FrameError> {
    let nonce: [u8; 32] = rand::random();
    let mut body = BytesMut::with_capacity(40);
    body.put_slice(&nonce);
    body.put_u64(my_id);
    write_frame(
        s,
        &Frame {
            kind: kind::CHALLENGE,
            id: 0,
            body: body.freeze(),
        },
    )
    .await?;
    let reply = read_frame_within(s, MAX_PREAUTH_BODY)
        .await?
        .ok_or_else(|| FrameError::Auth("closed during handshake".into()))?;
    let (peer, tag) = match (reply.kind, reply.body.split_first_chunk::<8>()) {
        (kind::AUTH, Some((id, tag))) => (u64::from_be_bytes(*id), tag),
        _ => return Err(FrameError::Auth("expected an AUTH frame".into())),
    };
    if !verify(secret, &nonce, peer, tag) {
        let _ = s.write_all(&refusal(WRONG_SECRET)).await;
        return Err(FrameError::Auth(format!(
            "node {peer:016x} presented a wrong cluster secret"
        )));
    }
    write_frame(
        s,
        &Frame {
            kind: kind::AUTH_OK,
            id: 0,
            body: Bytes::new(),
        },
    )
    .await?;
    Ok(peer)
}

/// Client side of the handshake. Returns the server's node id.
pub async fn connect_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &str,
    my_id: u64,
) -> Result<u64, FrameError> {
    let challenge = read_frame_within(s, MAX_PREAUTH_BODY)
        .await?
        .ok_or_else(|| FrameError::Auth("closed during handshake".into()))?;
    if challenge.kind == kind::REFUSED {
        return Err(FrameError::Refused(refusal_text(&challenge.body)));
    }
    if challenge.kind != kind::CHALLENGE || challenge.body.len() != 40 {
        return Err(FrameError::Auth("expected a CHALLENGE frame".into()));
    }
    let (nonce, id) = challenge.body.split_at(32);
    let server_id = u64::from_be_bytes(id.try_into().unwrap_or_default());
    let mut body = BytesMut::with_capacity(40);
    body.put_u64(my_id);
    body.put_slice(&mac(secret, nonce, my_id));
    write_frame(
        s,
        &Frame {
            kind: kind::AUTH,
            id: 0,
            body: body.freeze(),
        },
    )
    .await?;
    match read_frame_within(s, MAX_PREAUTH_BODY).await? {
        Some(f) if f.kind == kind::AUTH_OK => Ok(server_id),
        Some(f) if f.kind == kind::REFUSED => Err(FrameError::Refused(refusal_text(&f.body))),
        _ => Err(FrameError::Auth("handshake not acknowledged".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_damage_is_detected() {
        let f = Frame {
            kind: 20,
            id: 42,
            body: Bytes::from_static(b"hello"),
        };
        let enc = encode(&f);
        let mut r = &enc[..];
        assert_eq!(read_frame(&mut r).await.unwrap(), Some(f));
        for i in 0..enc.len() {
            let mut bad = enc.to_vec();
            bad[i] ^= 0x10;
            let mut r = &bad[..];
            assert!(
                !matches!(read_frame(&mut r).await, Ok(Some(_))),
                "flipped byte {i} accepted"
            );
        }
        let mut empty: &[u8] = &[];
        assert_eq!(read_frame(&mut empty).await.unwrap(), None);
    }

    #[tokio::test]
    async fn handshake_accepts_the_secret_and_refuses_others() {
        for (server_secret, client_secret, ok) in [("s3", "s3", true), ("s3", "nope", false)] {
            let (mut a, mut b) = tokio::io::duplex(4096);
            let server =
                tokio::spawn(async move { accept_handshake(&mut a, server_secret, 1).await });
            let client = connect_handshake(&mut b, client_secret, 2).await;
            let server = server.await.unwrap();
            assert_eq!(client.is_ok(), ok);
            assert_eq!(server.is_ok(), ok);
            if ok {
                assert_eq!(client.unwrap(), 1);
                assert_eq!(server.unwrap(), 2);
            } else {
                assert!(
                    matches!(&client, Err(FrameError::Refused(t)) if t == WRONG_SECRET),
                    "{client:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_peer_of_another_protocol_version_is_refused_with_a_clear_error() {
        let old = |f: &Frame| {
            let mut b = encode(f).to_vec();
            b[2] = VERSION - 1;
            b
        };
        let expected = format!(
            "unsupported protocol version {} (this node speaks {VERSION})",
            VERSION - 1
        );
        // An old node answering our challenge.
        let (mut a, mut b) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move { accept_handshake(&mut a, "s", 1).await });
        let mut challenge = [0u8; 64];
        let _ = tokio::io::AsyncReadExt::read(&mut b, &mut challenge).await;
        let auth = Frame {
            kind: kind::AUTH,
            id: 0,
            body: Bytes::from(vec![0u8; 40]),
        };
        b.write_all(&old(&auth)).await.unwrap();
        match server.await.unwrap() {
            Err(FrameError::Protocol(text)) => assert_eq!(text, expected),
            other => panic!("an old peer was not refused: {other:?}"),
        }
        // An old node's challenge to us.
        let (mut a, mut b) = tokio::io::duplex(4096);
        let challenge = Frame {
            kind: kind::CHALLENGE,
            id: 0,
            body: Bytes::from(vec![0u8; 40]),
        };
        a.write_all(&old(&challenge)).await.unwrap();
        match connect_handshake(&mut b, "s", 2).await {
            Err(FrameError::Protocol(text)) => assert_eq!(text, expected),
            other => panic!("an old acceptor was not refused: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_huge_length_before_authentication_is_refused_unallocated() {
        // A header claiming the largest body any frame may have: refused
        // on its length alone, though no body follows.
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC.to_be_bytes());
        header.extend_from_slice(&[VERSION, kind::AUTH]);
        header.extend_from_slice(&0u64.to_be_bytes());
        header.extend_from_slice(&u32::try_from(MAX_BODY).unwrap().to_be_bytes());
        let mut r = &header[..];
        assert!(matches!(
            read_frame_within(&mut r, MAX_PREAUTH_BODY).await,
            Err(FrameError::TooLarge {
                len: MAX_BODY,
                max: MAX_PREAUTH_BODY
            })
        ));
        let (mut a, mut b) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move { accept_handshake(&mut a, "s", 1).await });
        b.write_all(&header).await.unwrap();
        assert!(matches!(
            server.await.unwrap(),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_refusal_instead_of_a_challenge_and_a_foreign_protocol_are_told_apart() {
        let (mut a, mut refused) = tokio::io::duplex(4096);
        a.write_all(&refusal("protected mode")).await.unwrap();
        assert!(matches!(
            connect_handshake(&mut refused, "s", 2).await,
            Err(FrameError::Refused(t)) if t == "protected mode"
        ));
        let (mut a, mut b) = tokio::io::duplex(4096);
        a.write_all(b"+PONG\r\n-ERR unknown command\r\n")
            .await
            .unwrap();
        assert!(matches!(
            connect_handshake(&mut b, "s", 2).await,
            Err(FrameError::BadMagic { found: 0x2b50 })
        ));
    }
}
