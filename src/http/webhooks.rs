//! `POST /api/v1/webhooks/classification-complete`: the engine's signed
//! completion webhook. Verified, parsed, stored in one transaction, and only
//! then acknowledged.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use super::error::AppError;
use super::extract::SignedBody;
use super::AppState;
use crate::domain::CompletedJob;

pub const PATH: &str = "/api/v1/webhooks/classification-complete";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(receive))
}

/// The Flask blueprint's answer, plus what the transaction reported.
#[derive(Debug, Serialize)]
pub struct WebhookReceipt {
    pub received: bool,
    pub job_id: Uuid,
    /// The job's status after this webhook (a late `partial` leaves `completed`).
    pub job_status: String,
    pub results_stored: u64,
}

async fn receive(
    State(state): State<AppState>,
    SignedBody(body): SignedBody,
) -> Result<Json<WebhookReceipt>, AppError> {
    let job = CompletedJob::from_json(&body)?;
    let span = tracing::info_span!("ingest", job_id = %job.job_id, status = job.status.as_str());
    async move {
        let receipt = state.store.ingest(&job).await?;
        if receipt.delivery_id.is_some() {
            state.deliveries.wake();
        }
        tracing::info!(
            results = job.results.len(),
            results_stored = receipt.results_stored,
            job_status = %receipt.status,
            stale = receipt.stale,
            "webhook stored"
        );
        Ok(Json(WebhookReceipt {
            received: true,
            job_id: receipt.job_id,
            job_status: receipt.status,
            results_stored: receipt.results_stored,
        }))
    }
    .instrument(span)
    .await
}
