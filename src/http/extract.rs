//! Extractors named for what they grant: a `SignedBody` is a body whose
//! signature verified; an `ApiClient` is a caller with a valid API key.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::error::AppError;
use super::AppState;
use crate::config::ClientScope;
use crate::signature::{self, SIGNATURE_HEADER};

pub const API_KEY_HEADER: &str = "x-api-key";

/// The raw body of a webhook whose signature verified. It consumes the body,
/// so it is the handler's last argument.
pub struct SignedBody(pub Bytes);

impl FromRequest<AppState> for SignedBody {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let header = request.headers().get(SIGNATURE_HEADER).cloned();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_error(rejection, state.max_body_bytes))?;
        signature::verify(
            header.as_ref().map(|h| h.as_bytes()),
            &body,
            &state.webhook_secrets,
        )?;
        Ok(Self(body))
    }
}

fn body_error(rejection: BytesRejection, limit: usize) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge { limit }
    } else {
        AppError::UnreadableBody(rejection.body_text())
    }
}

/// A caller holding a valid `X-Api-Key`, with the jobs it may read.
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
        let scope = state
            .api_keys
            .scope_of(presented.trim())
            .ok_or(AppError::InvalidApiKey)?;
        Ok(Self {
            scope: scope.clone(),
        })
    }
}
