//! The job as clients see it: the same document answers a poll and is the
//! body of a callback, so a client parses one shape.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::store::{CallbackStatus, JobRecord, ResultRecord};

#[derive(Debug, Serialize)]
pub struct JobDocument {
    pub job_id: Uuid,
    pub status: String,
    pub progress: Progress,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub metadata: Value,
    /// Present when the job is `completed` or `partial`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<Map<String, Value>>>,
    /// Pass as `cursor` to read the next page; null on the last page.
    /// Present exactly when `results` is (polls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Option<String>>,
    /// The job's latest callback delivery (polls only; absent without a callback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackStatus>,
}

#[derive(Debug, Serialize)]
pub struct Progress {
    pub completed: i64,
    pub failed: i64,
    pub total: Option<i64>,
}

/// Whether a job in this status shows its results.
pub fn shows_results(status: &str) -> bool {
    matches!(status, "completed" | "partial")
}

impl JobDocument {
    /// The document without results; add them with [`JobDocument::with_results`].
    pub fn new(job: JobRecord) -> Self {
        Self {
            job_id: job.job_id,
            status: job.status,
            progress: Progress {
                completed: job.completed_products,
                failed: job.failed_products,
                total: job.total_products,
            },
            created_at: job.created_at,
            updated_at: job.updated_at,
            completed_at: job.completed_at,
            metadata: job.metadata,
            results: None,
            next_cursor: None,
            callback: job.callback_deliveries.into_iter().next(),
        }
    }

    pub fn with_results(mut self, results: Vec<ResultRecord>) -> Self {
        self.results = Some(results.into_iter().map(result_view).collect());
        self
    }
}

/// A result as the engine sent it: the known fields, with the keys this
/// version does not know put back beside them.
pub fn result_view(record: ResultRecord) -> Map<String, Value> {
    let mut view = record.extra;
    let known = [
        ("product_id", Value::from(record.product_id)),
        (
            "product_description",
            Value::from(record.product_description),
        ),
        ("hts_code", Value::from(record.hts_code)),
        ("hts_description", Value::from(record.hts_description)),
        ("confidence", Value::from(record.confidence)),
        ("duty_rate", Value::from(record.duty_rate)),
        ("source", Value::from(record.source)),
        (
            "section_301_applies",
            Value::from(record.section_301_applies),
        ),
        ("pga_flags", Value::from(record.pga_flags)),
    ];
    for (key, value) in known {
        view.insert(key.to_owned(), value);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_view_restores_extra_keys_without_letting_them_shadow_known_ones() {
        let mut extra = Map::new();
        extra.insert("alternatives".into(), Value::from(vec!["6109.90"]));
        extra.insert("hts_code".into(), Value::from("shadow"));
        let view = result_view(ResultRecord {
            product_id: "p".into(),
            product_description: None,
            hts_code: Some("6109.10.00".into()),
            hts_description: None,
            confidence: Some(0.5),
            duty_rate: None,
            source: Some("rosetta".into()),
            section_301_applies: Some(true),
            pga_flags: vec!["FDA".into()],
            extra,
        });
        assert_eq!(view["hts_code"], "6109.10.00");
        assert_eq!(view["alternatives"][0], "6109.90");
        assert_eq!(view["duty_rate"], Value::Null);
        assert_eq!(view["pga_flags"][0], "FDA");
    }
}
