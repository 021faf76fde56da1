//! RESP2/RESP3 for ringkv: the bytes between a Redis client and the server.
//!
//! Layout:
//! - [`request`]: splits complete requests (multibulk or inline) off a read
//!   buffer, enforcing Redis's limits with Redis's error texts.
//! - [`error`]: [`ProtocolError`], the `-ERR Protocol error: ...` cases.
//! - [`reply`]: [`Reply`], what a command answers, encoded for the
//!   connection's [`Protocol`].
//!
//! This crate knows nothing of storage or the cluster: bytes in, requests
//! out; replies in, bytes out.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod error;
pub mod peek;
pub mod reply;
pub mod request;

pub use error::ProtocolError;
pub use peek::{peek_name_and_first_arg, peek_requests};
pub use reply::{Protocol, Reply};
pub use request::{Limits, Request, RequestDecoder, split_args};
pub use ringkv_number::{format_double, string_to_i64};

#[cfg(test)]
mod tests;
