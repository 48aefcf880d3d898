//! rosetta-webhook: receives AskRosetta's signed classification-complete
//! webhooks, stores them in Supabase (PostgREST) or an embedded SQLite file,
//! forwards them to the client's callback URL through a durable outbox, and
//! answers polls.
//!
//! Data flows one way: `http` → `domain` → `store` (→ `delivery`). The
//! binary (`main.rs`, commands in `cli/`) reads configuration and calls
//! [`serve`].

pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod inbound;
pub mod keys;
pub mod metrics;
pub mod representation;
pub mod server;
pub mod signature;
pub mod standard_webhooks;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::delivery::ssrf::{Resolver, SystemResolver};
use crate::delivery::DeliveryWorker;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::store::{JobStore, MeteredStore, StoreError};

/// How long in-flight requests and callback attempts may take to finish
/// after shutdown begins; Cloud Run kills the instance 10 s after SIGTERM.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(9);

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// An error with its causes, `outer: inner: root`; reqwest's own Display
/// stops at "error sending request", which says nothing of why.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The parts of the service that talk to the outside world, replaceable in
/// tests (a resolver with a fixed table, say).
#[derive(Clone)]
pub struct Dependencies {
    pub store: Arc<dyn JobStore>,
    pub resolver: Arc<dyn Resolver>,
}

impl Dependencies {
    /// What the configuration names: PostgREST or SQLite (opened, and its
    /// schema created, here), and the system's DNS.
    pub async fn from_config(config: &Config) -> Result<Self, StoreError> {
        Ok(Self {
            store: store::open(&config.store, config.store_timeout).await?,
            resolver: Arc::new(SystemResolver),
        })
    }
}

/// Serves the application on a listener the caller bound (tests bind
/// `127.0.0.1:0`) until `shutdown` resolves. Fails at once if the store
/// cannot be opened.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let dependencies = Dependencies::from_config(&config).await.map_err(|e| {
        std::io::Error::other(format!("cannot open the store ({}): {e}", config.store))
    })?;
    serve(listener, config, dependencies, shutdown).await
}

/// As [`run`], with the dependencies chosen by the caller. On shutdown: no
/// new connections or callback claims; in-flight requests and attempts get
/// [`DRAIN_DEADLINE`] to finish; leases still held are given back.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    dependencies: Dependencies,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if config.api_keys.is_empty() {
        tracing::info!("API_KEYS is empty: only API keys stored in the database can poll");
    }
    let stopping = CancellationToken::new();
    let metrics = Metrics::new();
    let store: Arc<dyn JobStore> = Arc::new(MeteredStore::new(dependencies.store, metrics.clone()));
    let deliveries = DeliveryWorker::new(
        store.clone(),
        dependencies.resolver,
        config.callbacks.clone(),
        metrics.clone(),
    );
    let mut worker = if config.callbacks.background {
        Some(tokio::spawn(deliveries.clone().run(stopping.child_token())))
    } else {
        tracing::info!(
            "CALLBACK_WORKER=off: callbacks go out only through POST /internal/deliveries/run"
        );
        None
    };
    tokio::spawn(metrics_upkeep(metrics.clone(), stopping.child_token()));
    let state = AppState::new(
        &config,
        store,
        deliveries.clone(),
        stopping.clone(),
        metrics,
    );

    if let Some(port) = config.metrics_port {
        let metrics_listener = TcpListener::bind((config.host.as_str(), port)).await?;
        tracing::info!(address = %metrics_listener.local_addr()?, "serving /metrics");
        let metrics_router = http::metrics_router(state.clone());
        let stop = stopping.clone();
        tokio::spawn(async move {
            let served = axum::serve(metrics_listener, metrics_router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }

    tracing::info!(address = %listener.local_addr()?, store = %config.store, "listening");
    // One deadline for everything that drains: it starts when shutdown does.
    let drain_started = Arc::new(std::sync::OnceLock::<tokio::time::Instant>::new());
    let signal = stopping.clone();
    let started = drain_started.clone();
    let server = server::serve(
        listener,
        http::router(state),
        config.limits.header_read_timeout,
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections or callback claims; draining");
            let _ = started.set(tokio::time::Instant::now());
            signal.cancel();
        },
    );
    let deadline = || {
        drain_started
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now)
            + DRAIN_DEADLINE
    };
    let drain_deadline = async {
        stopping.cancelled().await;
        tokio::time::sleep_until(deadline()).await;
    };
    let served = tokio::select! {
        () = server => Ok(()),
        _ = drain_deadline => {
            tracing::warn!(seconds = DRAIN_DEADLINE.as_secs(), "drain deadline passed; exiting with requests in flight");
            Ok(())
        }
    };
    // The server may also have stopped on an error; stop the worker either way.
    stopping.cancel();
    if let Some(worker) = worker.as_mut() {
        if tokio::time::timeout_at(deadline(), &mut *worker)
            .await
            .is_err()
        {
            worker.abort();
            tracing::warn!("callback attempts still running at the deadline were abandoned; their leases are released");
        }
    }
    deliveries.release().await;
    served
}

/// Folds histogram samples into buckets every few seconds until `stop`.
async fn metrics_upkeep(metrics: Metrics, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(METRICS_UPKEEP_INTERVAL) => metrics.run_upkeep(),
        }
    }
}
