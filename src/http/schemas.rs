//! Schemas for the OpenAPI document of bodies the service reads or writes
//! by hand (the webhook is taken apart from a `Value` field by field, so
//! that errors name `results[3].confidence`; results keep unknown keys).
//! The types that are serialised as they are derive `ToSchema` where they
//! are defined.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::error::CODES;
use crate::representation::ClassificationResult;

/// The completion webhook the engine sends (the seed payload). Keys not
/// listed are kept in the job's `extra`.
#[derive(ToSchema)]
#[schema(
    title = "Webhook",
    example = json!({
        "job_id": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
        "status": "completed",
        "client_id": "acme",
        "results": [{
            "product_id": "SKU-1",
            "product_description": "Men's cotton knit T-shirt",
            "hts_code": "6109.10.00",
            "hts_description": "T-shirts, singlets, tank tops and similar garments, knitted or crocheted: Of cotton",
            "confidence": 0.92,
            "duty_rate": 0.167,
            "source": "rosetta",
            "section_301_applies": false,
            "pga_flags": []
        }],
        "metadata": {"total_products": 1, "completed": 1, "failed": 0, "processing_time_ms": 12500, "cost_usd": 0.15}
    })
)]
#[allow(dead_code)]
pub struct Webhook {
    #[schema(format = Uuid)]
    job_id: String,
    status: WebhookStatus,
    /// Written on the job when present; absent keeps the stored one. Not blank.
    #[schema(nullable = true, min_length = 1)]
    client_id: Option<String>,
    /// An absolute http(s) URL the job's callbacks go to; absent keeps the stored one.
    #[schema(nullable = true, format = "uri")]
    callback_url: Option<String>,
    /// Absent or null means no results.
    #[schema(nullable = true)]
    results: Option<Vec<ClassificationResult>>,
    #[schema(nullable = true)]
    metadata: Option<WebhookMetadata>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum WebhookStatus {
    Completed,
    Failed,
    Partial,
}

/// Stored as sent; the three counters move the job's progress.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhookMetadata {
    #[schema(nullable = true, minimum = 0, maximum = 2147483647)]
    total_products: Option<u32>,
    #[schema(nullable = true, minimum = 0, maximum = 2147483647)]
    completed: Option<u32>,
    #[schema(nullable = true, minimum = 0, maximum = 2147483647)]
    failed: Option<u32>,
}

/// One line of the NDJSON results stream.
#[derive(ToSchema)]
#[schema(example = json!({
    "cursor": "U0tVLTI",
    "result": {"product_id": "SKU-2", "product_description": "Roasted coffee beans, not decaffeinated",
               "hts_code": "0901.21.00", "hts_description": "Coffee, roasted: Not decaffeinated",
               "confidence": 0.88, "duty_rate": 0.0, "source": "gemini",
               "section_301_applies": false, "pga_flags": ["FDA"]}
}))]
#[allow(dead_code)]
pub struct ResultLine {
    /// Pass as `after` to resume the stream after this result.
    cursor: String,
    result: ClassificationResult,
}

/// The one error shape of every route.
pub struct ApiError;

impl PartialSchema for ApiError {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Every error. `error` is a stable code to switch on; `message` is for people; \
                 `field` names the offending field or parameter (validation_failed, invalid_parameter).",
            ))
            .property("status", string().enum_values(Some(["error"])))
            .required("status")
            .property("error", string().enum_values(Some(CODES)))
            .required("error")
            .property("message", string())
            .required("message")
            .property("field", string())
            .examples([json!({
                "status": "error",
                "error": "validation_failed",
                "message": "results[0].confidence: must be between 0 and 1, not 1.5",
                "field": "results[0].confidence"
            })])
            .into()
    }
}

impl ToSchema for ApiError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
}
