//! `POST /api/v1/webhooks/classification-complete`: the engine's signed
//! completion webhook. Verified, parsed, stored in one transaction, and only
//! then acknowledged. Every webhook is counted by outcome.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tracing::Instrument;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::AppError;
use super::extract::{IngestSlot, SignedBody};
use super::schemas::{ApiError, Webhook};
use super::AppState;
use crate::domain::CompletedJob;
use crate::inbound::Verified;
use crate::metrics::WebhookOutcome;
use crate::store::{IngestReceipt, StoreError};

pub const PATH: &str = "/api/v1/webhooks/classification-complete";

/// The Flask blueprint's answer, plus what the transaction reported.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "received": true, "job_id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
    "job_status": "completed", "results_stored": 2
}))]
pub struct WebhookReceipt {
    pub received: bool,
    pub job_id: Uuid,
    /// The job's status after this webhook (a late `partial` leaves `completed`).
    #[schema(example = "completed")]
    pub job_status: String,
    /// Result rows inserted or updated.
    pub results_stored: u64,
    /// The same webhook again: a Standard Webhooks message whose `webhook-id`
    /// was already applied (nothing is applied), or a body identical to the
    /// last one applied to the job (applied again, which changes nothing).
    /// Only present, as `true`, on such a repeat.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

const SERVICE_UNAVAILABLE: &str =
    "the job store is unavailable; retry later (a retried webhook is applied once)";

#[utoipa::path(
    post,
    path = PATH,
    tag = "webhooks",
    summary = "Store a classification-complete webhook",
    description = "Verified over the raw bytes, validated, stored in one transaction, then \
        acknowledged: a 200 means the job, its results and its callback delivery are committed. \
        Retry on 503 (honouring Retry-After) and on network errors; every 4xx is final for that body.",
    request_body(content = Webhook, content_type = "application/json"),
    security(("webhook_signature" = [])),
    responses(
        (status = 200, description = "Committed", body = WebhookReceipt),
        (status = 400, description = "The signed body is not JSON, or could not be read", body = ApiError, examples(
            ("invalid_json" = (value = json!({"status": "error", "error": "invalid_json", "message": "body is not valid JSON: expected value at line 1 column 1"}))),
            ("unreadable_body" = (value = json!({"status": "error", "error": "unreadable_body", "message": "could not read the request body: connection reset"})))
        )),
        (status = 401, description = "No signature, or one that no configured secret verifies", body = ApiError, examples(
            ("missing_signature" = (value = json!({"status": "error", "error": "missing_signature", "message": "the X-Webhook-Signature header is missing"}))),
            ("invalid_signature" = (value = json!({"status": "error", "error": "invalid_signature", "message": "the signature does not match the body under any configured secret"})))
        )),
        (status = 413, description = "Larger than MAX_BODY_BYTES", body = ApiError,
            example = json!({"status": "error", "error": "payload_too_large", "message": "the request body is larger than the limit of 33554432 bytes"})),
        (status = 422, description = "A field breaks a rule; `field` names it", body = ApiError,
            example = json!({"status": "error", "error": "validation_failed", "message": "results[3].confidence: must be between 0 and 1, not 1.5", "field": "results[3].confidence"})),
        (status = 500, description = "The store refused what the service sent (a bug; logged)", body = ApiError,
            example = json!({"status": "error", "error": "internal_error", "message": "internal error; it has been logged"})),
        (status = 503, description = "Nothing committed: the store is unavailable, or the request timed out. Retry-After: 5", body = ApiError, examples(
            ("store_unavailable" = (value = json!({"status": "error", "error": "store_unavailable", "message": SERVICE_UNAVAILABLE}))),
            ("timeout" = (value = json!({"status": "error", "error": "timeout", "message": "the request took longer than 30 s"})))
        ))
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    _slot: IngestSlot,
    body: Result<SignedBody, AppError>,
) -> Result<Json<WebhookReceipt>, AppError> {
    let result = ingest(&state, body).await;
    state.metrics.webhook(outcome(&result));
    let receipt = result?;
    Ok(Json(WebhookReceipt {
        received: true,
        job_id: receipt.job_id,
        job_status: receipt.status,
        results_stored: receipt.results_stored,
        duplicate: receipt.duplicate,
    }))
}

async fn ingest(
    state: &AppState,
    body: Result<SignedBody, AppError>,
) -> Result<IngestReceipt, AppError> {
    let SignedBody { body, verified } = body?;
    let started = Instant::now();
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
        let stored = match message_id {
            Some(message_id) => state.store.ingest_once(&job, message_id).await,
            None => state.store.ingest(&job).await,
        };
        let results_stored = stored.as_ref().map_or(0, |r| r.results_stored);
        state.metrics.ingest(started.elapsed(), results_stored);
        let receipt = stored?;
        if receipt.delivery_id.is_some() {
            state.deliveries.wake();
        }
        tracing::info!(
            results = job.results.len(),
            results_stored = receipt.results_stored,
            job_status = %receipt.status,
            stale = receipt.stale,
            duplicate = receipt.duplicate,
            "webhook stored"
        );
        Ok(receipt)
    }
    .instrument(span)
    .await
}

/// How `rosetta_webhooks_total` counts a webhook.
fn outcome(result: &Result<IngestReceipt, AppError>) -> WebhookOutcome {
    match result {
        Ok(receipt) if receipt.duplicate => WebhookOutcome::Duplicate,
        Ok(receipt) if receipt.stale => WebhookOutcome::Stale,
        Ok(_) => WebhookOutcome::Stored,
        Err(AppError::Signature(_)) => WebhookOutcome::InvalidSignature,
        Err(AppError::Body(_) | AppError::PayloadTooLarge { .. } | AppError::UnreadableBody(_)) => {
            WebhookOutcome::InvalidBody
        }
        Err(
            AppError::Store(StoreError::Unavailable(_) | StoreError::SchemaMissing(_))
            | AppError::Timeout { .. },
        ) => WebhookOutcome::StoreUnavailable,
        Err(_) => WebhookOutcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BodyError;
    use crate::signature::SignatureError;

    fn receipt(stale: bool, duplicate: bool, results_stored: u64) -> IngestReceipt {
        IngestReceipt {
            job_id: Uuid::nil(),
            status: "completed".into(),
            results_stored,
            stale,
            delivery_id: None,
            duplicate,
        }
    }

    #[test]
    fn outcomes_follow_the_receipt_and_the_error() {
        use WebhookOutcome::*;
        assert_eq!(
            outcome(&Ok(receipt(false, false, 0))),
            Stored,
            "no results is not a duplicate"
        );
        assert_eq!(outcome(&Ok(receipt(false, true, 3))), Duplicate);
        assert_eq!(outcome(&Ok(receipt(true, false, 0))), Stale);
        assert_eq!(outcome(&Ok(receipt(true, true, 0))), Duplicate);
        assert_eq!(
            outcome(&Err(SignatureError::Missing.into())),
            InvalidSignature
        );
        assert_eq!(
            outcome(&Err(SignatureError::Mismatch.into())),
            InvalidSignature
        );
        assert_eq!(
            outcome(&Err(BodyError::Syntax("x".into()).into())),
            InvalidBody
        );
        assert_eq!(
            outcome(&Err(AppError::PayloadTooLarge { limit: 1 })),
            InvalidBody
        );
        let down = AppError::Store(StoreError::Unavailable("x".into()));
        assert_eq!(outcome(&Err(down)), StoreUnavailable);
        let refused = AppError::Store(StoreError::Refused("x".into()));
        assert_eq!(outcome(&Err(refused)), Error);
    }
}
