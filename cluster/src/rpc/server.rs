//! The answering side of node-to-node RPC: accepts connections on the
//! cluster port, admits them through the [`Gate`] (protected mode, bounded
//! unauthenticated connections), runs the handshake, then serves requests
//! concurrently, each on its own task, replies funnelled through one
//! writer task that sends the replies queued at once in one write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::frame::{self, Frame};
use super::gate::{Gate, HANDSHAKE_TIMEOUT};
use super::message::{Request, Response};

/// What answers requests (the cluster node).
pub trait RequestHandler: Send + Sync + 'static {
    /// Answers one request from node `from`.
    fn handle(
        &self,
        from: u64,
        req: Request,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + '_>>;
}

/// Serves `listener` until `shutdown` turns true, admitting connections
/// through `gate`.
pub async fn serve(
    listener: TcpListener,
    secret: String,
    my_id: u64,
    handler: Arc<dyn RequestHandler>,
    gate: Arc<Gate>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((mut stream, peer_addr)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let pass = match gate.admit(peer_addr.ip()) {
            Ok(pass) => pass,
            Err(refusal) => {
                if let Some(text) = refusal.reply() {
                    // Never waits: a fresh socket's send buffer takes one
                    // small frame, and a peer that cannot take it loses
                    // only the explanation.
                    let _ = stream.try_write(&frame::refusal(text));
                }
                gate.refused(peer_addr, &refusal);
                // Dropping the stream closes it.
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        super::client::tune_peer_socket(&stream);
        let secret = secret.clone();
        let handler = Arc::clone(&handler);
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            let shake = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                frame::accept_handshake(&mut stream, &secret, my_id),
            )
            .await;
            // Authenticated or not, the connection leaves the handshake.
            drop(pass);
            let from = match shake {
                Ok(Ok(id)) => id,
                Ok(Err(e)) => {
                    gate.refused(peer_addr, &e);
                    return;
                }
                Err(_) => {
                    gate.refused(
                        peer_addr,
                        &format_args!("no handshake within {}s", HANDSHAKE_TIMEOUT.as_secs()),
                    );
                    return;
                }
            };
            let (rd, mut wr) = stream.into_split();
            let mut rd = BufReader::with_capacity(frame::READ_BUFFER, rd);
            let (tx, mut rx) = mpsc::channel::<Frame>(1024);
            tokio::spawn(async move {
                let _ = frame::write_queued(&mut wr, &mut rx, |f| f).await;
            });
            loop {
                let f = match frame::read_frame(&mut rd).await {
                    Ok(Some(f)) => f,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(%peer_addr, error = %e, "cluster connection closed");
                        return;
                    }
                };
                let handler = Arc::clone(&handler);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let resp = match Request::decode(f.kind, f.body) {
                        Ok(req) => handler.handle(from, req).await,
                        Err(e) => Response::error(super::ErrorCode::BadRequest, e.to_string()),
                    };
                    let (kind, body) = resp.encode(f.kind);
                    let _ = tx
                        .send(Frame {
                            kind,
                            id: f.id,
                            body,
                        })
                        .await;
                });
            }
        });
    }
}
