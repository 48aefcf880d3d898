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
use super::extract::{IngestSlot, SignedBody};
use super::AppState;
use crate::domain::CompletedJob;
use crate::inbound::Verified;

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
    /// A Standard Webhooks message whose `webhook-id` was already applied:
    /// nothing changed. Only present (as `true`) on such a replay.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

async fn receive(
    State(state): State<AppState>,
    _slot: IngestSlot,
    SignedBody { body, verified }: SignedBody,
) -> Result<Json<WebhookReceipt>, AppError> {
    let job = CompletedJob::from_json_with(&body, &state.body_limits)?;
    drop(body);
    let message_id = match &verified {
        Verified::Standard { message_id } => Some(message_id.as_str()),
        Verified::DropIn => None,
    };
    let span = tracing::info_span!(
        "ingest",
        job_id = %job.job_id,
        status = job.status.as_str(),
        webhook_id = message_id
    );
    async move {
        let receipt = match message_id {
            Some(message_id) => state.store.ingest_once(&job, message_id).await?,
            None => state.store.ingest(&job).await?,
        };
        if receipt.delivery_id.is_some() {
            state.deliveries.wake();
        }
        if receipt.duplicate {
            tracing::info!(job_status = %receipt.status, "webhook-id already applied; nothing changed");
        } else {
            tracing::info!(
                results = job.results.len(),
                results_stored = receipt.results_stored,
                job_status = %receipt.status,
                stale = receipt.stale,
                "webhook stored"
            );
        }
        Ok(Json(WebhookReceipt {
            received: true,
            job_id: receipt.job_id,
            job_status: receipt.status,
            results_stored: receipt.results_stored,
            duplicate: receipt.duplicate,
        }))
    }
    .instrument(span)
    .await
}
