//! The node-to-node protocol (`docs/protocol/node-rpc.md`,
//! `docs/protocol/gossip.md`) for what lives outside this crate and must
//! speak it: tests that act as a peer, fuzz targets, tools. The command
//! layer never needs it; it uses the crate's root API.

pub use crate::membership::{MemberState, Status};
pub use crate::rpc::message::kind;
pub use crate::rpc::{Request, Response, RpcClient, RpcError, frame};
