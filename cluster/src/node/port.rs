//! Opening the cluster port for this node's coordinator: serving peers'
//! requests and recording that the node has joined a cluster (the port's
//! rules are in `crate::port`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::coordinator::Coordinator;
use crate::error::Result;
use crate::port::*;
use crate::rpc::server::RequestHandler;
use crate::rpc::{Request, Response};

/// Serves node requests to `coordinator`.
struct Handler(Arc<Coordinator>);

impl RequestHandler for Handler {
    fn handle(
        &self,
        _from: u64,
        req: Request,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + '_>> {
        Box::pin(self.0.serve(req))
    }
}

/// Records, once, that this node is a member of a cluster with peers
/// ([`JOINED_KEY`]): later starts open the cluster port without seeds or
/// `cluster-port`.
pub(crate) async fn mark_joined(coordinator: &Coordinator) -> Result<()> {
    if coordinator.port.joined.load(Ordering::Acquire) {
        return Ok(());
    }
    coordinator
        .keyspace
        .meta_put(JOINED_KEY, bytes::Bytes::from_static(b"1"))
        .await?;
    coordinator.port.joined.store(true, Ordering::Release);
    Ok(())
}

/// Opens `coordinator`'s cluster port (if not open yet) and serves it.
pub(crate) async fn listen(coordinator: &Arc<Coordinator>) -> Result<()> {
    coordinator
        .port
        .listen(Arc::new(Handler(Arc::clone(coordinator))))
        .await
}
