//! Node-to-node RPC (`docs/protocol/node-rpc.md`): framed, versioned,
//! checksummed binary messages over TCP on the cluster port, authenticated
//! by an HMAC-SHA256 challenge over the shared cluster secret.
//!
//! - [`frame`]: frame layout, checksums, the handshake.
//! - [`codec`]: bounds-checked field reader/writer for bodies.
//! - [`message`]: every request and reply.
//! - [`client`]: pooled, multiplexed outgoing connections with timeouts.
//! - [`gate`]: admission before authentication (protected mode, bounded
//!   handshakes, counted and rate-limited refusals).
//! - [`server`]: the accept loop and per-request dispatch.

pub mod client;
pub mod frame;
pub mod gate;
pub mod message;
pub mod server;

pub use client::{RpcClient, RpcError};
pub use message::{ApplyAtItem, ErrorCode, Op, Outcome, Request, Response, swap};
