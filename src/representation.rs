//! The job as clients see it: the same document answers a poll and is the
//! body of a callback, so a client parses one shape.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::{CallbackStatus, JobRecord, ResultRecord};

/// A job: the answer to a poll, and the body of a callback (which has every
/// result, and no `next_cursor` or `callback`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Job, example = json!({
    "job_id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b", "status": "completed",
    "progress": {"completed": 2, "failed": 0, "total": 2},
    "created_at": "2026-12-03T10:00:00.000000+00:00", "updated_at": "2026-12-03T10:02:05.120000+00:00",
    "completed_at": "2026-12-03T10:02:05.120000+00:00",
    "metadata": {"total_products": 2, "completed": 2, "failed": 0, "processing_time_ms": 12500, "cost_usd": 0.15},
    "results": [{"product_id": "SKU-1", "product_description": "Men's cotton knit T-shirt", "hts_code": "6109.10.00",
                 "hts_description": "T-shirts, singlets, tank tops and similar garments, knitted or crocheted: Of cotton",
                 "confidence": 0.92, "duty_rate": 0.167, "source": "rosetta", "section_301_applies": false, "pga_flags": []}],
    "next_cursor": "U0tVLTE",
    "callback": {"state": "delivered", "attempts": 1, "last_status": 200, "last_error": null,
                 "next_attempt_at": null, "delivered_at": "2026-12-03T10:02:05.480000+00:00"}
}))]
pub struct JobDocument {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    /// `pending`, `processing`, `partial`, `completed` or `failed`.
    pub status: String,
    pub progress: Progress,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// As the latest non-stale webhook sent it, merged over earlier ones.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Present when the job is `completed` or `partial`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ClassificationResult>>)]
    pub results: Option<Vec<ResultView>>,
    /// Pass as `cursor` to read the next page; null on the last page.
    /// Present exactly when `results` is (polls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Option<String>>,
    /// The job's latest callback delivery (polls only; absent without a callback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub completed: i64,
    pub failed: i64,
    pub total: Option<i64>,
}

/// One product's classification, in a webhook and as polls return it. Keys
/// not listed are kept and returned beside these.
#[derive(ToSchema)]
#[schema(
    example = json!({
        "product_id": "SKU-2",
        "product_description": "Roasted coffee beans, not decaffeinated",
        "hts_code": "0901.21.00",
        "hts_description": "Coffee, roasted: Not decaffeinated",
        "confidence": 0.88,
        "duty_rate": 0.0,
        "source": "gemini",
        "section_301_applies": false,
        "pga_flags": ["FDA"]
    })
)]
#[allow(dead_code)]
pub struct ClassificationResult {
    /// Unique within the job (and within one webhook).
    #[schema(min_length = 1)]
    product_id: String,
    #[schema(nullable = true)]
    product_description: Option<String>,
    #[schema(nullable = true)]
    hts_code: Option<String>,
    #[schema(nullable = true)]
    hts_description: Option<String>,
    #[schema(nullable = true, minimum = 0, maximum = 1)]
    confidence: Option<f64>,
    #[schema(nullable = true, minimum = 0)]
    duty_rate: Option<f64>,
    #[schema(nullable = true)]
    source: Option<String>,
    #[schema(nullable = true)]
    section_301_applies: Option<bool>,
    /// Absent or null is stored as `[]`.
    #[schema(nullable = true)]
    pga_flags: Option<Vec<String>>,
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
        self.results = Some(results.into_iter().map(ResultView).collect());
        self
    }
}

/// A result as the engine sent it: the known fields, with the keys this
/// version does not know put back beside them (a known field wins over an
/// `extra` key of the same name). Serialised straight from the stored
/// record, without building an intermediate map per result.
#[derive(Debug)]
pub struct ResultView(pub ResultRecord);

const KNOWN_FIELDS: [&str; 9] = [
    "product_id",
    "product_description",
    "hts_code",
    "hts_description",
    "confidence",
    "duty_rate",
    "source",
    "section_301_applies",
    "pga_flags",
];

impl Serialize for ResultView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = &self.0;
        let extra = r
            .extra
            .iter()
            .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()));
        let mut map = serializer.serialize_map(Some(KNOWN_FIELDS.len() + extra.clone().count()))?;
        map.serialize_entry("product_id", &r.product_id)?;
        map.serialize_entry("product_description", &r.product_description)?;
        map.serialize_entry("hts_code", &r.hts_code)?;
        map.serialize_entry("hts_description", &r.hts_description)?;
        map.serialize_entry("confidence", &r.confidence)?;
        map.serialize_entry("duty_rate", &r.duty_rate)?;
        map.serialize_entry("source", &r.source)?;
        map.serialize_entry("section_301_applies", &r.section_301_applies)?;
        map.serialize_entry("pga_flags", &r.pga_flags)?;
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    #[test]
    fn result_view_restores_extra_keys_without_letting_them_shadow_known_ones() {
        let mut extra = Map::new();
        extra.insert("alternatives".into(), Value::from(vec!["6109.90"]));
        extra.insert("hts_code".into(), Value::from("shadow"));
        let view = serde_json::to_value(ResultView(ResultRecord {
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
        }))
        .unwrap();
        assert_eq!(view["hts_code"], "6109.10.00");
        assert_eq!(view["alternatives"][0], "6109.90");
        assert_eq!(view["duty_rate"], Value::Null);
        assert_eq!(view["pga_flags"][0], "FDA");
        let text = serde_json::to_string(&view).unwrap();
        assert_eq!(
            text.matches("hts_code").count(),
            1,
            "no duplicate keys: {text}"
        );
    }
}
