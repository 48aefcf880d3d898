//! rosetta-webhook: receives AskRosetta's signed classification-complete
//! webhooks, stores them in Supabase (PostgREST), and answers clients' polls.
//!
//! Data flows one way: `http` → `domain` → `store`. The binary (`main.rs`)
//! only reads configuration and calls [`run`].

pub mod config;
pub mod domain;
pub mod http;
pub mod signature;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::AppState;
use crate::store::{JobStore, PostgrestStore};

/// How long in-flight requests may take to finish after shutdown begins;
/// Cloud Run kills the instance 10 s after SIGTERM.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(9);

/// The store the configuration names.
pub fn store_from_config(config: &Config) -> Arc<dyn JobStore> {
    Arc::new(PostgrestStore::new(&config.store, config.store_timeout))
}

/// Serves the application on a listener the caller bound (tests bind
/// `127.0.0.1:0`) until `shutdown` resolves, then drains in-flight requests
/// for at most [`DRAIN_DEADLINE`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = store_from_config(&config);
    serve(listener, AppState::new(&config, store), shutdown).await
}

/// As [`run`], with the store chosen by the caller.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.api_keys.is_empty() {
        tracing::warn!("API_KEYS is empty: no client can poll jobs");
    }
    tracing::info!(address = %listener.local_addr()?, "listening");
    let (draining_tx, mut draining_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, http::router(state)).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = draining_tx.send(true);
    });
    let deadline = async move {
        let _ = draining_rx.wait_for(|draining| *draining).await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        result = server => result,
        _ = deadline => {
            tracing::warn!(seconds = DRAIN_DEADLINE.as_secs(), "drain deadline passed; exiting with requests in flight");
            Ok(())
        }
    }
}
