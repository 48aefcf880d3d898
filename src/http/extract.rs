//! Extractors named for what they grant: a `SignedBody` is a body whose
//! signature verified; an `ApiClient` is a caller with a valid API key that
//! is within its poll rate; an `IngestSlot` is one of the bounded places for
//! a webhook being ingested.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use tokio::sync::OwnedSemaphorePermit;

use super::error::AppError;
use super::AppState;
use crate::config::ClientScope;
use crate::inbound::{
    self, SignatureHeaders, Verified, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
};
use crate::signature::SIGNATURE_HEADER;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The raw body of a webhook whose signature verified, and how. It consumes
/// the body, so it is the handler's last argument.
pub struct SignedBody {
    pub body: Bytes,
    pub verified: Verified,
}

impl FromRequest<AppState> for SignedBody {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_error(rejection, state.max_body_bytes))?;
        let verified = inbound::verify(
            &signature_headers(&headers),
            &body,
            &state.webhook_secrets,
            &state.inbound,
            unix_now(),
        )?;
        Ok(Self { body, verified })
    }
}

fn signature_headers(headers: &HeaderMap) -> SignatureHeaders<'_> {
    let get = |name: &str| headers.get(name).map(|value| value.as_bytes());
    SignatureHeaders {
        drop_in: get(SIGNATURE_HEADER),
        webhook_id: get(WEBHOOK_ID_HEADER),
        webhook_timestamp: get(WEBHOOK_TIMESTAMP_HEADER),
        webhook_signature: get(WEBHOOK_SIGNATURE_HEADER),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

fn body_error(rejection: BytesRejection, limit: usize) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge { limit }
    } else {
        AppError::UnreadableBody(rejection.body_text())
    }
}

/// One of `MAX_CONCURRENT_INGESTS` places for a webhook in flight, taken
/// before its body is read and held until it is answered. None free: `503
/// overloaded` at once, with `Retry-After: 1` (the engine retries; waiting
/// here would only hold more connections).
pub struct IngestSlot {
    _permit: OwnedSemaphorePermit,
}

impl FromRequestParts<AppState> for IngestSlot {
    type Rejection = AppError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        state
            .ingest_slots
            .clone()
            .try_acquire_owned()
            .map(|permit| Self { _permit: permit })
            .map_err(|_| AppError::Overloaded)
    }
}

/// A caller holding a valid `X-Api-Key`, with the jobs it may read. The
/// poll rate of the key is checked here too, after the key: an invalid key
/// is 401, a valid one past its rate 429.
pub struct ApiClient {
    pub scope: ClientScope,
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let presented = parts
            .headers
            .get(API_KEY_HEADER)
            .ok_or(AppError::MissingApiKey)?
            .to_str()
            .map_err(|_| AppError::InvalidApiKey)?;
        let key = state
            .keys
            .resolve(presented.trim())
            .await?
            .ok_or(AppError::InvalidApiKey)?;
        state
            .poll_limiter
            .check(&key.digest)
            .map_err(|retry_after| AppError::RateLimited { retry_after })?;
        Ok(Self { scope: key.scope })
    }
}
