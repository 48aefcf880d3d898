//! Probes: `/healthz` says the process answers (no I/O); `/readyz` says the
//! store answers and its schema is the one this build needs.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::AppError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    state.store.check_ready().await?;
    Ok(Json(json!({"status": "ok", "store": "ready"})))
}
