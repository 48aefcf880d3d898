//! Which signature scheme an inbound webhook uses, and whether it verifies:
//! a pure function over the signature headers, the raw body and the clock.
//!
//! - **Standard Webhooks** (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`): chosen as soon as any of the three is present, so
//!   a sender that meant it is never verified as something else; all three
//!   are then required. Verified with `WEBHOOK_SIGNING_SECRETS` within
//!   `WEBHOOK_TOLERANCE_SECONDS` of now, either direction. The `webhook-id`
//!   is returned so the store can apply each message once.
//! - **Drop-in** (`X-Webhook-Signature`, [`crate::signature`]): used when no
//!   Standard Webhooks header is present, unless `WEBHOOK_REQUIRE_TIMESTAMP`
//!   refuses it (it carries no timestamp, so a captured request could be
//!   replayed for ever) or no `WEBHOOK_SECRET` is configured.

use crate::config::{InboundConfig, WebhookSecrets};
use crate::signature::{self, SignatureError};
use crate::standard_webhooks::{self, VerifyError};

pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

/// The longest `webhook-id` accepted (Svix's are 31 characters).
pub const MAX_WEBHOOK_ID_BYTES: usize = 256;

/// The signature headers of a request, as raw bytes (absent: `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    pub drop_in: Option<&'a [u8]>,
    pub webhook_id: Option<&'a [u8]>,
    pub webhook_timestamp: Option<&'a [u8]>,
    pub webhook_signature: Option<&'a [u8]>,
}

/// How a webhook proved where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// `X-Webhook-Signature`: no message id, so no replay protection.
    DropIn,
    /// Standard Webhooks, with the message id to apply once.
    Standard { message_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("no signature: send X-Webhook-Signature, or the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature")]
    Missing,
    #[error("the {missing} header is missing: Standard Webhooks needs webhook-id, webhook-timestamp and webhook-signature together")]
    MissingHeader { missing: &'static str },
    #[error("X-Webhook-Signature alone is not accepted here: sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)")]
    DropInRefused,
    #[error(transparent)]
    DropIn(#[from] SignatureError),
    #[error("Standard Webhooks signatures are not configured on this service")]
    StandardNotConfigured,
    #[error("webhook-id must be 1 to {MAX_WEBHOOK_ID_BYTES} visible ASCII characters")]
    InvalidMessageId,
    #[error("webhook-timestamp must be whole seconds since the Unix epoch (digits only)")]
    InvalidTimestamp,
    #[error("webhook-timestamp is more than {tolerance_seconds} s from the service's clock")]
    OutsideTolerance { tolerance_seconds: i64 },
    #[error("no webhook-signature entry matches the message under any configured secret")]
    Mismatch,
}

impl InboundError {
    /// The header an error is about, for the error body's `field`.
    pub fn header(&self) -> Option<&'static str> {
        match self {
            Self::MissingHeader { missing } => Some(missing),
            Self::InvalidMessageId => Some(WEBHOOK_ID_HEADER),
            Self::InvalidTimestamp | Self::OutsideTolerance { .. } => {
                Some(WEBHOOK_TIMESTAMP_HEADER)
            }
            Self::Mismatch => Some(WEBHOOK_SIGNATURE_HEADER),
            _ => None,
        }
    }
}

/// Verifies a webhook's signature headers against its raw body at `now`
/// (seconds since the epoch).
pub fn verify(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    drop_in_secrets: &WebhookSecrets,
    config: &InboundConfig,
    now: i64,
) -> Result<Verified, InboundError> {
    match (
        headers.webhook_id,
        headers.webhook_timestamp,
        headers.webhook_signature,
    ) {
        (None, None, None) => {}
        (Some(id), Some(timestamp), Some(signature)) => {
            return verify_standard(id, timestamp, signature, body, config, now)
        }
        (id, timestamp, _) => {
            let missing = if id.is_none() {
                WEBHOOK_ID_HEADER
            } else if timestamp.is_none() {
                WEBHOOK_TIMESTAMP_HEADER
            } else {
                WEBHOOK_SIGNATURE_HEADER
            };
            return Err(InboundError::MissingHeader { missing });
        }
    }
    if config.require_timestamp || drop_in_secrets.is_empty() {
        return Err(match headers.drop_in {
            None => InboundError::Missing,
            Some(_) => InboundError::DropInRefused,
        });
    }
    if headers.drop_in.is_none() {
        return Err(InboundError::Missing);
    }
    signature::verify(headers.drop_in, body, drop_in_secrets)?;
    Ok(Verified::DropIn)
}

fn verify_standard(
    id: &[u8],
    timestamp: &[u8],
    signature: &[u8],
    body: &[u8],
    config: &InboundConfig,
    now: i64,
) -> Result<Verified, InboundError> {
    let id = message_id(id)?;
    if config.secrets.is_empty() {
        return Err(InboundError::StandardNotConfigured);
    }
    let timestamp = std::str::from_utf8(timestamp).map_err(|_| InboundError::InvalidTimestamp)?;
    let signature = std::str::from_utf8(signature).map_err(|_| InboundError::Mismatch)?;
    standard_webhooks::verify(
        &config.secrets,
        id,
        timestamp,
        signature,
        body,
        now,
        config.tolerance_seconds,
    )
    .map_err(|error| match error {
        VerifyError::BadTimestamp => InboundError::InvalidTimestamp,
        VerifyError::OutsideTolerance => InboundError::OutsideTolerance {
            tolerance_seconds: config.tolerance_seconds,
        },
        VerifyError::NoMatch => InboundError::Mismatch,
    })?;
    Ok(Verified::Standard {
        message_id: id.to_owned(),
    })
}

/// A `webhook-id`: visible ASCII (no spaces or controls), bounded, so it can
/// be stored and logged as it is.
pub fn message_id(raw: &[u8]) -> Result<&str, InboundError> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_WEBHOOK_ID_BYTES
        && raw.iter().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(InboundError::InvalidMessageId);
    }
    std::str::from_utf8(raw).map_err(|_| InboundError::InvalidMessageId)
}

#[cfg(test)]
mod tests;
