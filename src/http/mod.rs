//! The HTTP surface: every route is listed here, each resource's module owns
//! its handlers, and the middleware stack is assembled in one place.

mod error;
mod extract;
mod health;
mod internal;
mod jobs;
mod metrics;
mod observe;
mod openapi;
mod rate_limit;
mod schemas;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{AppError, CODES as ERROR_CODES};
pub use extract::API_KEY_HEADER;
pub use internal::{DeliveryRun, PATH as INTERNAL_DELIVERIES_PATH};
pub use jobs::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_WAIT};
pub use metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, PATH as METRICS_PATH};
pub use observe::UNMATCHED as UNMATCHED_ROUTE;
pub use openapi::PATH as OPENAPI_PATH;
pub use webhooks::PATH as WEBHOOK_PATH;

use tokio_util::sync::CancellationToken;

use tokio::sync::Semaphore;

use self::rate_limit::PollLimiter;
use crate::config::{ApiKeys, Config, InboundConfig, InternalToken, WebhookSecrets};
use crate::delivery::DeliveryWorker;
use crate::domain::BodyLimits;
use crate::keys::KeyResolver;
use crate::metrics::Metrics;
use crate::store::JobStore;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Time a scheduled delivery run leaves for its last attempts and answer
/// within `REQUEST_TIMEOUT_SECONDS`, beyond `CALLBACK_TIMEOUT`.
const DELIVERY_RUN_MARGIN: Duration = Duration::from_secs(5);

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn JobStore>,
    pub webhook_secrets: Arc<WebhookSecrets>,
    /// Standard Webhooks secrets, tolerance, and whether drop-in is refused.
    pub inbound: Arc<InboundConfig>,
    pub api_keys: Arc<ApiKeys>,
    /// `API_KEYS`, then the store's keys through a short cache.
    pub keys: Arc<KeyResolver>,
    pub poll_limiter: Arc<PollLimiter>,
    /// One permit per webhook being ingested (`MAX_CONCURRENT_INGESTS`).
    pub ingest_slots: Arc<Semaphore>,
    pub body_limits: BodyLimits,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Woken after an ingest records a callback, so it goes out at once.
    pub deliveries: DeliveryWorker,
    /// Cancelled when shutdown begins: held long-polls answer at once.
    pub stopping: CancellationToken,
    pub metrics: Metrics,
    /// `None`: `POST /internal/deliveries/run` answers 404.
    pub internal_token: Option<Arc<InternalToken>>,
    /// How long a scheduled delivery run keeps claiming.
    pub delivery_budget: Duration,
    /// `/metrics` is served on its own port, not by [`router`].
    pub separate_metrics: bool,
}

impl AppState {
    pub fn new(
        config: &Config,
        store: Arc<dyn JobStore>,
        deliveries: DeliveryWorker,
        stopping: CancellationToken,
        metrics: Metrics,
    ) -> Self {
        let api_keys = Arc::new(config.api_keys.clone());
        let limits = &config.limits;
        Self {
            keys: Arc::new(KeyResolver::new(
                api_keys.clone(),
                store.clone(),
                config.api_key_cache_ttl,
            )),
            store,
            deliveries,
            stopping,
            metrics,
            webhook_secrets: Arc::new(config.webhook_secrets.clone()),
            inbound: Arc::new(config.inbound.clone()),
            api_keys,
            poll_limiter: Arc::new(PollLimiter::new(
                limits.poll_rate_per_second,
                limits.poll_burst,
            )),
            ingest_slots: Arc::new(Semaphore::new(limits.max_concurrent_ingests)),
            body_limits: BodyLimits {
                max_results: limits.max_results_per_webhook,
            },
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            internal_token: config.internal_token.clone().map(Arc::new),
            delivery_budget: config
                .request_timeout
                .saturating_sub(config.callbacks.timeout + DELIVERY_RUN_MARGIN)
                .max(Duration::from_secs(1)),
            separate_metrics: config.metrics_port.is_some(),
        }
    }
}

/// Every route, each with its OpenAPI description (a route cannot be added
/// here without one). `with_metrics: false` leaves out `/metrics`, which is
/// then served on `METRICS_PORT`.
fn routes(with_metrics: bool) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::with_openapi(openapi::ApiRoot::openapi())
        .routes(routes!(webhooks::receive))
        .routes(routes!(jobs::poll))
        .routes(routes!(jobs::stream::results))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::document))
        .routes(routes!(internal::run_deliveries));
    if with_metrics {
        routes.routes(routes!(metrics::render))
    } else {
        routes
    }
}

/// The OpenAPI document of every route, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(true).into_openapi()
}

/// The whole application as a `Router`, ready to serve.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes(!state.separate_metrics).split_for_parts();
    let document = openapi()
        .to_json()
        .expect("the OpenAPI document serialises");
    routes
        .fallback(|| async { AppError::RouteNotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(Extension(openapi::Document(Bytes::from(document))))
        .layer(CatchPanicLayer::custom(|_| {
            AppError::Internal("a handler panicked".to_owned()).into_response()
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        .with_state(state)
}

/// `/metrics` alone, for `METRICS_PORT`.
pub fn metrics_router(state: AppState) -> Router {
    let (routes, _) = OpenApiRouter::new()
        .routes(routes!(metrics::render))
        .split_for_parts();
    routes
        .fallback(|| async { AppError::RouteNotFound })
        .with_state(state)
}

/// Answers in our error shape when a request runs past `REQUEST_TIMEOUT_SECONDS`
/// (plus the `wait` a long-poll asked for). A timed-out ingest may still
/// commit; the engine's retry is idempotent.
async fn request_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowance = state.request_timeout + long_poll_wait(&request);
    match tokio::time::timeout(allowance, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::Timeout {
            seconds: allowance.as_secs(),
        }
        .into_response(),
    }
}

/// The `wait` query parameter of a request, capped; the handler validates it.
fn long_poll_wait(request: &Request) -> Duration {
    request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("wait="))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
        .min(MAX_WAIT)
}
