//! `GET /metrics`: the Prometheus text format. The outbox gauges are read
//! from the store at scrape time (one aggregate query); everything else is
//! counted as it happens. Served on `METRICS_PORT` instead when that is set.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

pub const PATH: &str = "/metrics";
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a scrape waits for the outbox read before answering without it.
const OUTBOX_READ_TIMEOUT: Duration = Duration::from_secs(2);

#[utoipa::path(
    get,
    path = PATH,
    tag = "operations",
    summary = "Prometheus metrics",
    description = "The text exposition format. Not on this port when METRICS_PORT is set.",
    responses((status = 200, description = "Every metric", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(OUTBOX_READ_TIMEOUT, state.store.outbox_stats()).await {
        Ok(Ok(stats)) => state.metrics.outbox(&stats),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not read the callback outbox for /metrics");
            state.metrics.outbox_read_failed();
        }
        Err(_) => {
            tracing::warn!("reading the callback outbox for /metrics timed out");
            state.metrics.outbox_read_failed();
        }
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
}
