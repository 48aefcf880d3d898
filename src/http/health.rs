//! Probes: `/healthz` says the process answers (no I/O); `/readyz` says the
//! store answers and its schema is the one this build needs.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::AppError;
use super::schemas::ApiError;
use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `/readyz` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ready")]
    pub store: Option<&'static str>,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness: the process answers (no I/O)",
    responses((status = 200, description = "Alive", body = Health, example = json!({"status": "ok"})))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        store: None,
    })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the store answers and has this build's schema",
    responses(
        (status = 200, description = "Ready", body = Health, example = json!({"status": "ok", "store": "ready"})),
        (status = 503, description = "The store is unreachable or its schema is missing or older", body = ApiError,
            example = json!({"status": "error", "error": "store_unavailable", "message": "the job store is unavailable; retry later (a retried webhook is applied once)"}))
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    state.store.check_ready().await?;
    Ok(Json(Health {
        status: "ok",
        store: Some("ready"),
    }))
}
