//! The one error type of the HTTP layer and its one JSON shape:
//! `{"status": "error", "error": "<stable code>", "message": "...", "field"?: "..."}`.
//!
//! Client mistakes get a specific message; our own failures keep their
//! detail for the log and are answered with a generic message. The request's
//! log line (`observe`) writes the detail: one line per refused or failed
//! request, with its `httpRequest`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::BodyError;
use crate::inbound::InboundError;
use crate::signature::SignatureError;
use crate::store::StoreError;

/// Seconds a caller should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: u64 = 5;
/// After `overloaded`: an ingest slot frees up within a store round trip.
const OVERLOADED_RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Inbound(InboundError),
    #[error("too many polls with this API key; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("too many webhooks are being ingested at once; retry shortly")]
    Overloaded,
    #[error("the X-Api-Key header is missing")]
    MissingApiKey,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the Authorization: Bearer header is missing")]
    MissingToken,
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("no job with this id")]
    JobNotFound,
    #[error("no such route")]
    RouteNotFound,
    #[error("this route does not allow that method")]
    MethodNotAllowed,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    UnreadableBody(String),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{field}: {reason}")]
    InvalidParameter { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the request took longer than {seconds} s")]
    Timeout { seconds: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every code [`AppError::code`] can answer, for the OpenAPI document.
pub const CODES: [&str; 17] = [
    "missing_signature",
    "invalid_signature",
    "missing_api_key",
    "invalid_api_key",
    "missing_token",
    "invalid_token",
    "job_not_found",
    "route_not_found",
    "method_not_allowed",
    "payload_too_large",
    "unreadable_body",
    "invalid_json",
    "validation_failed",
    "invalid_parameter",
    "internal_error",
    "store_unavailable",
    "timeout",
];

/// What the request's log line says about an error response; set on the
/// response by `into_response`, read by `observe`.
#[derive(Debug, Clone)]
pub struct ErrorLog {
    pub code: &'static str,
    /// The full detail, our failures' included (never sent to the client).
    pub detail: String,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    status: &'static str,
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Signature(_)
            | Self::Inbound(_)
            | Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::MissingToken
            | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::JobNotFound | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } | Self::Body(BodyError::TooManyResults { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::UnreadableBody(_)
            | Self::Body(
                BodyError::Syntax(_) | BodyError::TooDeep { .. } | BodyError::DuplicateKey { .. },
            ) => StatusCode::BAD_REQUEST,
            Self::Body(
                BodyError::Invalid { .. }
                | BodyError::TooLong { .. }
                | BodyError::TooManyItems { .. },
            )
            | Self::InvalidParameter { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Store(StoreError::Refused(_)) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Store(_) | Self::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code clients may switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Signature(SignatureError::Missing) => "missing_signature",
            Self::Signature(_) => "invalid_signature",
            Self::Inbound(error) => inbound_code(error),
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::JobNotFound => "job_not_found",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnreadableBody(_) => "unreadable_body",
            Self::Body(BodyError::Syntax(_)) => "invalid_json",
            Self::Body(BodyError::TooDeep { .. }) => "json_too_deep",
            Self::Body(BodyError::DuplicateKey { .. }) => "duplicate_key",
            Self::Body(BodyError::TooManyResults { .. }) => "too_many_results",
            Self::Body(BodyError::TooManyItems { .. }) => "too_many_items",
            Self::Body(BodyError::TooLong { .. }) => "field_too_long",
            Self::Body(BodyError::Invalid { .. }) => "validation_failed",
            Self::InvalidParameter { .. } => "invalid_parameter",
            Self::Store(StoreError::Refused(_)) | Self::Internal(_) => "internal_error",
            Self::Store(_) => "store_unavailable",
            Self::Timeout { .. } => "timeout",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Body(BodyError::Syntax(_)) => None,
            Self::Body(error) => Some(error.field()),
            Self::Inbound(error) => error.header(),
            Self::InvalidParameter { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Seconds to send as `Retry-After`, for answers worth retrying.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Overloaded => Some(OVERLOADED_RETRY_AFTER_SECONDS),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// What the client is told. Our failures keep their detail in the log.
    fn public_message(&self) -> String {
        match self {
            Self::Store(StoreError::Refused(_)) | Self::Internal(_) => {
                "internal error; it has been logged".to_owned()
            }
            Self::Store(_) => {
                "the job store is unavailable; retry later (a retried webhook is applied once)"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            status: "error",
            error: self.code(),
            message: self.public_message(),
            field: self.field(),
        };
        let retry_after = self.retry_after();
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED
            && matches!(self, Self::MissingToken | Self::InvalidToken)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(ErrorLog {
            code: self.code(),
            detail: self.to_string(),
        });
        response
    }
}

/// The drop-in scheme's errors keep the codes they had before Standard
/// Webhooks existed.
impl From<InboundError> for AppError {
    fn from(error: InboundError) -> Self {
        match error {
            InboundError::DropIn(error) => Self::Signature(error),
            other => Self::Inbound(other),
        }
    }
}

fn inbound_code(error: &InboundError) -> &'static str {
    match error {
        InboundError::Missing | InboundError::MissingHeader { .. } => "missing_signature",
        InboundError::DropInRefused => "signature_scheme_refused",
        InboundError::DropIn(SignatureError::Missing) => "missing_signature",
        InboundError::DropIn(_) | InboundError::StandardNotConfigured | InboundError::Mismatch => {
            "invalid_signature"
        }
        InboundError::InvalidMessageId => "invalid_webhook_id",
        InboundError::InvalidTimestamp => "invalid_timestamp",
        InboundError::OutsideTolerance { .. } => "timestamp_out_of_tolerance",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use serde_json::Value;

    use super::*;

    async fn render(error: AppError) -> (StatusCode, Option<String>, Value) {
        let response = error.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn validation_errors_carry_the_field() {
        let (status, retry, body) = render(AppError::Body(BodyError::Invalid {
            field: "results[3].confidence".into(),
            reason: "must be between 0 and 1, not 1.5".into(),
        }))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(retry, None);
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"], "validation_failed");
        assert_eq!(body["field"], "results[3].confidence");
        assert_eq!(
            body["message"],
            "results[3].confidence: must be between 0 and 1, not 1.5"
        );
    }

    #[tokio::test]
    async fn store_outage_is_503_with_retry_after_and_no_detail() {
        let (status, retry, body) = render(AppError::Store(StoreError::Unavailable(
            "connect to 10.0.0.5:5432 refused".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("5"));
        assert_eq!(body["error"], "store_unavailable");
        assert!(!body["message"].as_str().unwrap().contains("10.0.0.5"));
    }

    #[tokio::test]
    async fn internal_errors_hide_their_detail() {
        let (status, _, body) = render(AppError::Store(StoreError::Refused(
            "SQL 23514 at x".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal_error");
        assert!(!body.to_string().contains("23514"));
    }

    /// One of each variant; a new variant belongs here too.
    fn one_of_each() -> Vec<AppError> {
        vec![
            SignatureError::Missing.into(),
            SignatureError::Mismatch.into(),
            AppError::MissingApiKey,
            AppError::InvalidApiKey,
            AppError::MissingToken,
            AppError::InvalidToken,
            AppError::JobNotFound,
            AppError::RouteNotFound,
            AppError::MethodNotAllowed,
            AppError::PayloadTooLarge { limit: 1 },
            AppError::UnreadableBody("x".into()),
            BodyError::Syntax("x".into()).into(),
            BodyError::Invalid {
                field: "f".into(),
                reason: "r".into(),
            }
            .into(),
            AppError::InvalidParameter {
                field: "limit",
                reason: "r".into(),
            },
            AppError::Store(StoreError::Refused("x".into())),
            AppError::Store(StoreError::Unavailable("x".into())),
            AppError::Timeout { seconds: 1 },
        ]
    }

    #[test]
    fn the_documented_codes_are_exactly_the_codes_answered() {
        let answered: std::collections::BTreeSet<&str> =
            one_of_each().iter().map(AppError::code).collect();
        let documented: std::collections::BTreeSet<&str> = CODES.into_iter().collect();
        assert_eq!(answered, documented);
    }

    #[tokio::test]
    async fn every_error_response_carries_its_log_detail() {
        let response = AppError::Store(StoreError::Refused("SQL 23514".into())).into_response();
        let log = response.extensions().get::<ErrorLog>().unwrap();
        assert_eq!(log.code, "internal_error");
        assert!(log.detail.contains("SQL 23514"), "the log keeps the detail");
        let response = AppError::InvalidToken.into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn signature_errors_are_401_with_distinct_codes() {
        let (status, _, body) = render(SignatureError::Missing.into()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("missing_signature"))
        );
        let (status, _, body) = render(SignatureError::Mismatch.into()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
        );
        let (status, _, body) =
            render(InboundError::DropIn(SignatureError::Malformed).into()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
        );
    }

    #[tokio::test]
    async fn standard_webhooks_errors_name_their_header() {
        for (error, code, field) in [
            (
                InboundError::MissingHeader {
                    missing: "webhook-timestamp",
                },
                "missing_signature",
                Some("webhook-timestamp"),
            ),
            (
                InboundError::OutsideTolerance {
                    tolerance_seconds: 300,
                },
                "timestamp_out_of_tolerance",
                Some("webhook-timestamp"),
            ),
            (
                InboundError::InvalidTimestamp,
                "invalid_timestamp",
                Some("webhook-timestamp"),
            ),
            (
                InboundError::Mismatch,
                "invalid_signature",
                Some("webhook-signature"),
            ),
            (
                InboundError::InvalidMessageId,
                "invalid_webhook_id",
                Some("webhook-id"),
            ),
            (
                InboundError::DropInRefused,
                "signature_scheme_refused",
                None,
            ),
        ] {
            let (status, _, body) = render(AppError::from(error)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body["error"], code);
            assert_eq!(body["field"].as_str(), field, "{body}");
        }
    }

    #[tokio::test]
    async fn limits_have_their_own_codes_and_retry_hints() {
        let (status, retry, body) = render(AppError::RateLimited { retry_after: 3 }).await;
        assert_eq!(
            (status, retry.as_deref(), body["error"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("3"),
                Some("rate_limited")
            )
        );
        let (status, retry, body) = render(AppError::Overloaded).await;
        assert_eq!(
            (status, retry.as_deref(), body["error"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("1"),
                Some("overloaded")
            )
        );
        for (error, status, code) in [
            (
                BodyError::TooDeep {
                    field: "metadata.x".into(),
                },
                StatusCode::BAD_REQUEST,
                "json_too_deep",
            ),
            (
                BodyError::DuplicateKey {
                    field: "status".into(),
                },
                StatusCode::BAD_REQUEST,
                "duplicate_key",
            ),
            (
                BodyError::TooManyResults { count: 9, limit: 8 },
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_results",
            ),
            (
                BodyError::TooManyItems {
                    field: "results[0].pga_flags".into(),
                    count: 65,
                    limit: 64,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_items",
            ),
            (
                BodyError::TooLong {
                    field: "results[0].hts_code".into(),
                    length: 33,
                    limit: 32,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "field_too_long",
            ),
        ] {
            let expected_field = error.field().to_owned();
            let (got_status, retry, body) = render(AppError::Body(error)).await;
            assert_eq!((got_status, retry), (status, None));
            assert_eq!(body["error"], code);
            assert_eq!(body["field"], expected_field.as_str());
        }
    }
}
