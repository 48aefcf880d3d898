//! `POST /internal/deliveries/run`: delivers what is due inside the request,
//! for a scheduler (Cloud Scheduler) where Cloud Run throttles the CPU
//! between requests. `Authorization: Bearer <INTERNAL_TOKEN>`; without
//! `INTERNAL_TOKEN` the endpoint answers 404 like an unknown route.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::AppError;
use super::schemas::ApiError;
use super::AppState;
use crate::delivery::DeliveryCounts;

pub const PATH: &str = "/internal/deliveries/run";

/// What the run did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "attempted": 3, "delivered": 2, "retrying": 1, "exhausted": 0, "disabled": 0,
    "unrecorded": 0, "more_due": false
}))]
pub struct DeliveryRun {
    #[serde(flatten)]
    pub counts: DeliveryCounts,
    /// The run stopped claiming at its time budget (or at shutdown): call
    /// again, more may be due.
    pub more_due: bool,
}

#[utoipa::path(
    post,
    path = PATH,
    tag = "internal",
    summary = "Deliver the callbacks that are due, now",
    description = "Claims and attempts every due callback delivery, batch after batch, until none is \
        due or the run's time budget (REQUEST_TIMEOUT_SECONDS less CALLBACK_TIMEOUT less 5 s) is \
        spent; attempts already started finish. Safe beside the background worker and other \
        instances: deliveries are leased. 404 when INTERNAL_TOKEN is not set.",
    security(("internal_bearer" = [])),
    responses(
        (status = 200, description = "The counts of this run", body = DeliveryRun),
        (status = 401, description = "No bearer token, or not the right one", body = ApiError,
            example = json!({"status": "error", "error": "invalid_token", "message": "the bearer token is not valid"})),
        (status = 404, description = "INTERNAL_TOKEN is not set", body = ApiError,
            example = json!({"status": "error", "error": "route_not_found", "message": "no such route"})),
        (status = 503, description = "The store is unavailable", body = ApiError,
            example = json!({"status": "error", "error": "store_unavailable", "message": "the job store is unavailable; retry later (a retried webhook is applied once)"}))
    )
)]
pub async fn run_deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<DeliveryRun>, AppError> {
    let Some(token) = state.internal_token.as_deref() else {
        return Err(AppError::RouteNotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .ok_or(AppError::MissingToken)?
        .to_str()
        .ok()
        .and_then(bearer_token)
        .ok_or(AppError::InvalidToken)?;
    if !token.matches(presented) {
        return Err(AppError::InvalidToken);
    }

    let stop = state.stopping.child_token();
    let timer = tokio::spawn({
        let stop = stop.clone();
        let budget = state.delivery_budget;
        async move {
            tokio::time::sleep(budget).await;
            stop.cancel();
        }
    });
    let counts = state.deliveries.deliver_due(&stop).await;
    timer.abort();
    let counts = counts?;
    tracing::info!(
        attempted = counts.attempted,
        delivered = counts.delivered,
        more_due = stop.is_cancelled(),
        "scheduled delivery run"
    );
    Ok(Json(DeliveryRun {
        counts,
        more_due: stop.is_cancelled(),
    }))
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_header_value() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
