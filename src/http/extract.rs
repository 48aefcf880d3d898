//! Extractors named for what they grant: a `SignedBody` is a body whose
//! signature verified; an `ApiClient` is a caller with a valid API key that
//! is within its poll rate; an `IngestSlot` is one of the bounded places for
//! a webhook being ingested.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
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
        let headers = SignatureHeaderValues::of(request.headers());
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_error(rejection, state.max_body_bytes))?;
        let verified = inbound::verify(
            &headers.as_headers(),
            &body,
            &state.webhook_secrets,
            &state.inbound,
            unix_now(),
        )?;
        Ok(Self { body, verified })
    }
}

/// The signature headers, kept while the body is read (cheap clones).
struct SignatureHeaderValues([Option<HeaderValue>; 4]);

impl SignatureHeaderValues {
    fn of(headers: &HeaderMap) -> Self {
        Self(
            [
                SIGNATURE_HEADER,
                WEBHOOK_ID_HEADER,
                WEBHOOK_TIMESTAMP_HEADER,
                WEBHOOK_SIGNATURE_HEADER,
            ]
            .map(|name| headers.get(name).cloned()),
        )
    }

    fn as_headers(&self) -> SignatureHeaders<'_> {
        let [drop_in, id, timestamp, signature] = self
            .0
            .each_ref()
            .map(|v| v.as_ref().map(HeaderValue::as_bytes));
        SignatureHeaders {
            drop_in,
            webhook_id: id,
            webhook_timestamp: timestamp,
            webhook_signature: signature,
        }
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
