//! The normalised form of a webhook that both backends store: the argument
//! of PostgreSQL's `ingest_classification_webhook(payload jsonb)`, and what
//! the SQLite backend digests to tell distinct webhooks apart.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{ClassificationResult, CompletedJob};

/// Absent optional fields are left out, so "absent" and "null" stay apart:
/// absent means "keep what the job row already has".
#[derive(Serialize)]
pub(super) struct IngestPayload<'a> {
    pub job_id: Uuid,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_products: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_products: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_products: Option<u32>,
    pub metadata: &'a Map<String, Value>,
    pub extra: &'a Map<String, Value>,
    pub results: &'a [ClassificationResult],
}

impl<'a> From<&'a CompletedJob> for IngestPayload<'a> {
    fn from(job: &'a CompletedJob) -> Self {
        IngestPayload {
            job_id: job.job_id,
            status: job.status.as_str(),
            client_id: job.client_id.as_deref(),
            callback_url: job.callback_url.as_deref(),
            total_products: job.progress.total,
            completed_products: job.progress.completed,
            failed_products: job.progress.failed,
            metadata: &job.metadata,
            extra: &job.extra,
            results: &job.results,
        }
    }
}

impl IngestPayload<'_> {
    /// Hex SHA-256 of the payload in a canonical JSON form (object keys
    /// sorted at every level), so the same webhook always has the same
    /// digest, whatever order its keys arrived in. PostgreSQL gets the same
    /// property from `md5(payload::text)`, since `jsonb` sorts keys itself.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).expect("a payload serialises");
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(body: &str) -> String {
        IngestPayload::from(&CompletedJob::from_json(body.as_bytes()).unwrap()).digest()
    }

    #[test]
    fn the_digest_ignores_key_order_and_sees_every_value() {
        let a = r#"{"job_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","status":"partial",
            "metadata":{"completed":1,"stage":"x"},"results":[{"product_id":"p","hts_code":"1","rank":{"b":1,"a":2}}]}"#;
        let reordered = r#"{"results":[{"rank":{"a":2,"b":1},"hts_code":"1","product_id":"p"}],
            "metadata":{"stage":"x","completed":1},"status":"partial","job_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"}"#;
        assert_eq!(digest_of(a), digest_of(reordered));
        assert_eq!(digest_of(a).len(), 64);
        let other_value = a.replace(r#""hts_code":"1""#, r#""hts_code":"2""#);
        assert_ne!(digest_of(a), digest_of(&other_value));
        let other_status = a.replace("partial", "completed");
        assert_ne!(digest_of(a), digest_of(&other_status));
    }
}
