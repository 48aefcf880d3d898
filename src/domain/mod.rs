//! The webhook's meaning, independent of HTTP and storage. A `CompletedJob`
//! can only be obtained from [`CompletedJob::from_json`], so holding one means
//! the body was valid.

pub mod json;
pub mod limits;
mod parse;
#[cfg(test)]
mod properties;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use limits::BodyLimits;
pub use parse::BodyError;

/// The statuses a completion webhook may carry. `pending` and `processing`
/// exist only on job rows that the submission side created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    Completed,
    Failed,
    Partial,
}

impl WebhookStatus {
    pub const ALL: [&'static str; 3] = ["completed", "failed", "partial"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Partial => "partial",
        }
    }
}

/// A validated completion webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedJob {
    pub job_id: Uuid,
    pub status: WebhookStatus,
    /// Absent means "keep what the job row already has".
    pub client_id: Option<String>,
    /// Absent means "keep what the job row already has".
    pub callback_url: Option<String>,
    pub progress: ReportedProgress,
    /// The body's `metadata` object, stored as sent.
    pub metadata: Map<String, Value>,
    /// Top-level keys this version does not know, kept rather than lost.
    pub extra: Map<String, Value>,
    pub results: Vec<ClassificationResult>,
}

/// Counters from `metadata` (`total_products`, `completed`, `failed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportedProgress {
    pub total: Option<u32>,
    pub completed: Option<u32>,
    pub failed: Option<u32>,
}

/// One product's classification. Field names are the storage column names;
/// the store reads results back into this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationResult {
    /// The idempotency key of a result within its job.
    pub product_id: String,
    pub product_description: Option<String>,
    pub hts_code: Option<String>,
    pub hts_description: Option<String>,
    /// In [0, 1].
    pub confidence: Option<f64>,
    /// Non-negative.
    pub duty_rate: Option<f64>,
    pub source: Option<String>,
    pub section_301_applies: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    pub pga_flags: Vec<String>,
    /// Keys of the result this version does not know.
    #[serde(deserialize_with = "null_as_default")]
    pub extra: Map<String, Value>,
}

/// Rows written by the Flask blueprint, or by hand, may hold null where
/// this service always writes a value; read those as the empty value.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl CompletedJob {
    /// Parses and validates a webhook body under the default limits.
    /// Errors name the offending field (`results[3].confidence`) and why.
    pub fn from_json(body: &[u8]) -> Result<Self, BodyError> {
        Self::from_json_with(body, &BodyLimits::default())
    }

    /// As [`Self::from_json`], under the configured limits.
    pub fn from_json_with(body: &[u8], limits: &BodyLimits) -> Result<Self, BodyError> {
        parse::completed_job(body, limits)
    }
}
