//! The HTTP/1 server: `axum::serve`'s accept loop and graceful shutdown,
//! plus what it lacks, a deadline for a request's headers. A connection
//! that has not sent a complete request head within `header_read_timeout`
//! (a slowloris, or a keep-alive connection left idle that long) is closed;
//! there is no request yet to answer, so nothing is sent.
//!
//! The body and the handler are bounded by the request timeout middleware
//! (`REQUEST_TIMEOUT_SECONDS`), the body's size by `MAX_BODY_BYTES`.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` resolves; then stops
/// accepting, lets each connection finish the request it is serving, and
/// returns once every connection has closed.
pub async fn serve(
    mut listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Connections watch `stop`; each holds a clone of `open`, so
    // `all_closed` resolves when the last one is gone.
    let (stop, _) = watch::channel(());
    let (all_closed, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stop.subscribe();
        let open = open.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                if error.is_timeout() {
                    tracing::info!(
                        "closed a connection that sent no complete request head in time"
                    );
                } else {
                    tracing::debug!(%error, "connection ended with an error");
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(());
    drop(open);
    all_closed.closed().await;
}
