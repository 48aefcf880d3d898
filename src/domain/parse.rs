//! From raw JSON bytes to a `CompletedJob`, with errors that name the field.
//!
//! The body is read as a `serde_json::Value` and taken apart key by key: the
//! keys we know are removed and checked, and whatever remains is kept as
//! `extra`, so a field the engine adds later is stored rather than dropped.
//! The JSON is read strictly ([`super::json`]) and every string, list and
//! count is bounded ([`super::limits`]).

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::json::{self, JsonError, MAX_DEPTH};
use super::limits::*;
use super::{ClassificationResult, CompletedJob, ReportedProgress, WebhookStatus};

/// Why a signed body was refused. Every variant names a field
/// ([`BodyError::field`]); each has its own error code in the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all (HTTP 400).
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
    /// JSON nested past [`MAX_DEPTH`] (HTTP 400).
    #[error("{field}: JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep { field: String },
    /// An object with the same key twice (HTTP 400).
    #[error("{field}: the key appears twice in one object")]
    DuplicateKey { field: String },
    /// More results than `MAX_RESULTS_PER_WEBHOOK` (HTTP 413).
    #[error("results: {count} results; at most {limit} per webhook (split the batch)")]
    TooManyResults { count: usize, limit: usize },
    /// A list longer than its limit (HTTP 422).
    #[error("{field}: {count} entries; at most {limit}")]
    TooManyItems {
        field: String,
        count: usize,
        limit: usize,
    },
    /// A string longer than its limit (HTTP 422).
    #[error("{field}: {length} bytes; at most {limit}")]
    TooLong {
        field: String,
        length: usize,
        limit: usize,
    },
    /// JSON, but not a valid webhook (HTTP 422).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl BodyError {
    /// The path of the offending field, `body` when it is the whole body.
    pub fn field(&self) -> &str {
        match self {
            Self::Syntax(_) => "body",
            Self::TooManyResults { .. } => "results",
            Self::TooDeep { field }
            | Self::DuplicateKey { field }
            | Self::TooManyItems { field, .. }
            | Self::TooLong { field, .. }
            | Self::Invalid { field, .. } => field,
        }
    }
}

impl From<JsonError> for BodyError {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::Syntax(message) => Self::Syntax(message),
            JsonError::TooDeep { path } => Self::TooDeep { field: path },
            JsonError::DuplicateKey { path } => Self::DuplicateKey { field: path },
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> BodyError {
    BodyError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn bounded(field: impl Into<String>, value: String, limit: usize) -> Result<String, BodyError> {
    if value.len() > limit {
        return Err(BodyError::TooLong {
            field: field.into(),
            length: value.len(),
            limit,
        });
    }
    Ok(value)
}

pub(super) fn completed_job(body: &[u8], limits: &BodyLimits) -> Result<CompletedJob, BodyError> {
    let value = json::parse(body)?;
    // PostgreSQL text and jsonb cannot hold U+0000; refuse it here with its
    // path instead of letting the store fail on it.
    if let Some(path) = path_to_nul(body, &value) {
        return Err(invalid(
            path,
            "must not contain the NUL character (\\u0000)",
        ));
    }
    let Value::Object(mut body) = value else {
        return Err(invalid("body", "must be a JSON object"));
    };

    let job_id = take_job_id(&mut body)?;
    let status = take_status(&mut body)?;
    let client_id = take_optional_string(&mut body, "client_id", "client_id", MAX_CLIENT_ID_BYTES)?;
    if client_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(invalid("client_id", "must not be empty when present"));
    }
    let callback_url = take_callback_url(&mut body)?;
    let metadata = match body.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("metadata", "must be an object")),
    };
    let progress = ReportedProgress {
        total: counter(&metadata, "total_products")?,
        completed: counter(&metadata, "completed")?,
        failed: counter(&metadata, "failed")?,
    };
    let results = match body.remove("results") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() > limits.max_results => {
            return Err(BodyError::TooManyResults {
                count: items.len(),
                limit: limits.max_results,
            })
        }
        Some(Value::Array(items)) => results(items)?,
        Some(_) => return Err(invalid("results", "must be an array")),
    };

    Ok(CompletedJob {
        job_id,
        status,
        client_id,
        callback_url,
        progress,
        metadata,
        extra: body,
        results,
    })
}

fn take_job_id(body: &mut Map<String, Value>) -> Result<Uuid, BodyError> {
    match body.remove("job_id") {
        None | Some(Value::Null) => Err(invalid("job_id", "is required")),
        Some(Value::String(s)) => {
            Uuid::try_parse(&s).map_err(|_| invalid("job_id", format!("must be a UUID, not {s:?}")))
        }
        Some(_) => Err(invalid("job_id", "must be a UUID string")),
    }
}

fn take_status(body: &mut Map<String, Value>) -> Result<WebhookStatus, BodyError> {
    let expected = || format!("must be one of {}", WebhookStatus::ALL.join(", "));
    match body.remove("status") {
        None | Some(Value::Null) => Err(invalid("status", "is required")),
        Some(Value::String(s)) => match s.as_str() {
            "completed" => Ok(WebhookStatus::Completed),
            "failed" => Ok(WebhookStatus::Failed),
            "partial" => Ok(WebhookStatus::Partial),
            other => Err(invalid("status", format!("{}, not {other:?}", expected()))),
        },
        Some(_) => Err(invalid("status", expected())),
    }
}

fn take_callback_url(body: &mut Map<String, Value>) -> Result<Option<String>, BodyError> {
    let Some(raw) =
        take_optional_string(body, "callback_url", "callback_url", MAX_CALLBACK_URL_BYTES)?
    else {
        return Ok(None);
    };
    match reqwest::Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(raw))
        }
        _ => Err(invalid("callback_url", "must be an absolute http(s) URL")),
    }
}

fn counter(metadata: &Map<String, Value>, key: &str) -> Result<Option<u32>, BodyError> {
    match metadata.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    format!("metadata.{key}"),
                    "must be a whole number between 0 and 2147483647",
                )
            }),
        Some(_) => Err(invalid(format!("metadata.{key}"), "must be a whole number")),
    }
}

fn results(items: Vec<Value>) -> Result<Vec<ClassificationResult>, BodyError> {
    let mut first_index_of: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let result = result(index, item)?;
        if let Some(first) = first_index_of.insert(result.product_id.clone(), index) {
            return Err(invalid(
                format!("results[{index}].product_id"),
                format!(
                    "repeats results[{first}].product_id ({:?}); a product appears once per webhook",
                    result.product_id
                ),
            ));
        }
        parsed.push(result);
    }
    Ok(parsed)
}

fn result(index: usize, item: Value) -> Result<ClassificationResult, BodyError> {
    let at = |key: &str| format!("results[{index}].{key}");
    let Value::Object(mut fields) = item else {
        return Err(invalid(format!("results[{index}]"), "must be an object"));
    };
    let product_id = match fields.remove("product_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            bounded(at("product_id"), s, MAX_PRODUCT_ID_BYTES)?
        }
        None | Some(Value::Null) => return Err(invalid(at("product_id"), "is required")),
        Some(_) => return Err(invalid(at("product_id"), "must be a non-empty string")),
    };
    let confidence = take_optional_number(&mut fields, "confidence", &at("confidence"))?;
    if confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        return Err(invalid(
            at("confidence"),
            format!(
                "must be between 0 and 1, not {}",
                confidence.unwrap_or_default()
            ),
        ));
    }
    let duty_rate = take_optional_number(&mut fields, "duty_rate", &at("duty_rate"))?;
    if duty_rate.is_some_and(|d| d < 0.0) {
        return Err(invalid(at("duty_rate"), "must be 0 or more, or null"));
    }
    let section_301_applies = match fields.remove("section_301_applies") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            return Err(invalid(
                at("section_301_applies"),
                "must be true, false or null",
            ))
        }
    };
    let pga_flags = match fields.remove("pga_flags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(flags)) if flags.len() > MAX_PGA_FLAGS => {
            return Err(BodyError::TooManyItems {
                field: at("pga_flags"),
                count: flags.len(),
                limit: MAX_PGA_FLAGS,
            })
        }
        Some(Value::Array(flags)) => flags
            .into_iter()
            .enumerate()
            .map(|(i, flag)| match flag {
                Value::String(s) => {
                    bounded(format!("{}[{i}]", at("pga_flags")), s, MAX_PGA_FLAG_BYTES)
                }
                _ => Err(invalid(
                    format!("{}[{i}]", at("pga_flags")),
                    "must be a string",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(at("pga_flags"), "must be an array of strings")),
    };
    Ok(ClassificationResult {
        product_description: take_optional_string(
            &mut fields,
            "product_description",
            &at("product_description"),
            MAX_PRODUCT_DESCRIPTION_BYTES,
        )?,
        hts_code: take_optional_string(
            &mut fields,
            "hts_code",
            &at("hts_code"),
            MAX_HTS_CODE_BYTES,
        )?,
        hts_description: take_optional_string(
            &mut fields,
            "hts_description",
            &at("hts_description"),
            MAX_HTS_DESCRIPTION_BYTES,
        )?,
        source: take_optional_string(&mut fields, "source", &at("source"), MAX_SOURCE_BYTES)?,
        product_id,
        confidence,
        duty_rate,
        section_301_applies,
        pga_flags,
        extra: fields,
    })
}

fn take_optional_string(
    fields: &mut Map<String, Value>,
    key: &str,
    path: &str,
    limit: usize,
) -> Result<Option<String>, BodyError> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => bounded(path, s, limit).map(Some),
        Some(_) => Err(invalid(path, "must be a string or null")),
    }
}

fn take_optional_number(
    fields: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, BodyError> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(invalid(path, "must be a number or null")),
    }
}

/// The path of the first string or key holding U+0000, if any. JSON can
/// only carry it as the escape `\u0000`, so a body without that text is
/// skipped; otherwise the tree is walked, building a path only on a hit.
fn path_to_nul(raw: &[u8], value: &Value) -> Option<String> {
    memchr::memmem::find(raw, br"\u0000")?;
    let mut segments = Vec::new();
    nul_segments(value, &mut segments).then(|| {
        let mut path = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
                Segment::Key(k) if path.is_empty() => path.push_str(k),
                Segment::Key(k) => path.push_str(&format!(".{k}")),
            }
        }
        if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }
    })
}

enum Segment<'a> {
    Index(usize),
    Key(&'a str),
}

/// Whether `value` holds U+0000; on a hit `segments` holds the path to it,
/// innermost first.
fn nul_segments<'a>(value: &'a Value, segments: &mut Vec<Segment<'a>>) -> bool {
    let found = match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
            nul_segments(v, segments) && {
                segments.push(Segment::Index(i));
                true
            }
        }),
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k.contains('\0') || nul_segments(v, segments)) && {
                segments.push(Segment::Key(k));
                true
            }
        }),
        _ => false,
    };
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const JOB_ID: &str = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b";

    fn seed_body() -> Value {
        json!({
            "job_id": JOB_ID,
            "status": "completed",
            "results": [{
                "product_id": "SKU-1",
                "product_description": "Men's cotton T-shirt",
                "hts_code": "6109.10.00",
                "hts_description": "T-shirts, singlets...",
                "confidence": 0.92,
                "duty_rate": 0.167,
                "source": "rosetta",
                "section_301_applies": false,
                "pga_flags": ["FDA"]
            }],
            "metadata": {"total_products": 50, "completed": 48, "failed": 2,
                         "processing_time_ms": 12500, "cost_usd": 0.15}
        })
    }

    fn parse(value: &Value) -> Result<CompletedJob, BodyError> {
        completed_job(value.to_string().as_bytes(), &BodyLimits::default())
    }

    fn field_error(value: &Value) -> (String, String) {
        match parse(value) {
            Err(BodyError::Invalid { field, reason }) => (field, reason),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_seed_payload() {
        let job = parse(&seed_body()).unwrap();
        assert_eq!(job.job_id.to_string(), JOB_ID);
        assert_eq!(job.status, WebhookStatus::Completed);
        assert_eq!(
            job.progress,
            ReportedProgress {
                total: Some(50),
                completed: Some(48),
                failed: Some(2)
            }
        );
        assert_eq!(job.metadata["cost_usd"], json!(0.15));
        assert!(job.extra.is_empty());
        let r = &job.results[0];
        assert_eq!(r.product_id, "SKU-1");
        assert_eq!(r.hts_code.as_deref(), Some("6109.10.00"));
        assert_eq!(r.hts_description.as_deref(), Some("T-shirts, singlets..."));
        assert_eq!(r.confidence, Some(0.92));
        assert_eq!(r.duty_rate, Some(0.167));
        assert_eq!(r.section_301_applies, Some(false));
        assert_eq!(r.pga_flags, vec!["FDA"]);
        assert!(r.extra.is_empty());
    }

    #[test]
    fn unknown_keys_are_kept_as_extra() {
        let mut body = seed_body();
        body["engine_version"] = json!("2.1");
        body["results"][0]["alternatives"] = json!([{"hts_code": "6109.90.10"}]);
        let job = parse(&body).unwrap();
        assert_eq!(job.extra["engine_version"], json!("2.1"));
        assert_eq!(
            job.results[0].extra["alternatives"][0]["hts_code"],
            json!("6109.90.10")
        );
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let body = json!({"job_id": JOB_ID, "status": "failed",
                          "results": [{"product_id": "p", "hts_code": null, "pga_flags": null}]});
        let job = parse(&body).unwrap();
        assert!(job.metadata.is_empty());
        assert_eq!(job.progress, ReportedProgress::default());
        assert_eq!(job.results[0].hts_code, None);
        assert!(job.results[0].pga_flags.is_empty());
        let no_results = parse(&json!({"job_id": JOB_ID, "status": "failed"})).unwrap();
        assert!(no_results.results.is_empty());
    }

    #[test]
    fn client_id_and_callback_url_are_taken_when_present() {
        let mut body = seed_body();
        body["client_id"] = json!("acme");
        body["callback_url"] = json!("https://hooks.example.com/rosetta?t=1");
        let job = parse(&body).unwrap();
        assert_eq!(job.client_id.as_deref(), Some("acme"));
        assert_eq!(
            job.callback_url.as_deref(),
            Some("https://hooks.example.com/rosetta?t=1")
        );
        assert!(job.extra.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|b| drop(b.as_object_mut().unwrap().remove("job_id"))),
                "job_id",
            ),
            (Box::new(|b| b["job_id"] = json!("not-a-uuid")), "job_id"),
            (
                Box::new(|b| b["job_id"] = json!(format!("{JOB_ID}x"))),
                "job_id",
            ),
            (Box::new(|b| b["job_id"] = json!(42)), "job_id"),
            (Box::new(|b| b["status"] = json!("done")), "status"),
            (
                Box::new(|b| drop(b.as_object_mut().unwrap().remove("status"))),
                "status",
            ),
            (Box::new(|b| b["results"] = json!({})), "results"),
            (
                Box::new(|b| b["results"][0]["confidence"] = json!(1.5)),
                "results[0].confidence",
            ),
            (
                Box::new(|b| b["results"][0]["confidence"] = json!(-0.1)),
                "results[0].confidence",
            ),
            (
                Box::new(|b| b["results"][0]["confidence"] = json!("high")),
                "results[0].confidence",
            ),
            (
                Box::new(|b| b["results"][0]["duty_rate"] = json!(-1)),
                "results[0].duty_rate",
            ),
            (
                Box::new(|b| {
                    drop(
                        b["results"][0]
                            .as_object_mut()
                            .unwrap()
                            .remove("product_id"),
                    )
                }),
                "results[0].product_id",
            ),
            (
                Box::new(|b| b["results"][0]["product_id"] = json!("  ")),
                "results[0].product_id",
            ),
            (
                Box::new(|b| b["results"][0]["product_id"] = json!(7)),
                "results[0].product_id",
            ),
            (
                Box::new(|b| b["results"][0]["pga_flags"] = json!(["FDA", 3])),
                "results[0].pga_flags[1]",
            ),
            (
                Box::new(|b| b["results"][0]["pga_flags"] = json!("FDA")),
                "results[0].pga_flags",
            ),
            (
                Box::new(|b| b["results"][0]["section_301_applies"] = json!("no")),
                "results[0].section_301_applies",
            ),
            (
                Box::new(|b| b["results"][0]["hts_code"] = json!(6109)),
                "results[0].hts_code",
            ),
            (Box::new(|b| b["results"][0] = json!("SKU-1")), "results[0]"),
            (Box::new(|b| b["metadata"] = json!([])), "metadata"),
            (
                Box::new(|b| b["metadata"]["completed"] = json!(-3)),
                "metadata.completed",
            ),
            (
                Box::new(|b| b["metadata"]["total_products"] = json!(2.5)),
                "metadata.total_products",
            ),
            (Box::new(|b| b["client_id"] = json!("")), "client_id"),
            (
                Box::new(|b| b["callback_url"] = json!("ftp://x.example.com")),
                "callback_url",
            ),
            (
                Box::new(|b| b["callback_url"] = json!("/relative")),
                "callback_url",
            ),
            (
                Box::new(|b| b["results"][0]["product_description"] = json!("a\u{0}b")),
                "results[0].product_description",
            ),
            (
                Box::new(|b| b["metadata"]["note"] = json!("\u{0}")),
                "metadata.note",
            ),
        ];
        for (mutate, expected_field) in cases {
            let mut body = seed_body();
            mutate(&mut body);
            let (field, reason) = field_error(&body);
            assert_eq!(field, expected_field, "{body} -> {reason}");
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn nul_is_found_with_its_path_only_when_present() {
        let mut body = seed_body();
        body["results"][0]["pga_flags"] = json!(["FDA", "bad\u{0}flag"]);
        assert_eq!(field_error(&body).0, "results[0].pga_flags[1]");
        let mut body = seed_body();
        body["metadata"]["a\u{0}b"] = json!(1);
        assert_eq!(field_error(&body).0, "metadata.a\u{0}b");
        // An escaped backslash followed by "u0000" is not a NUL.
        let mut body = seed_body();
        body["results"][0]["product_description"] = json!("C:\\u0000");
        assert_eq!(
            parse(&body).unwrap().results[0]
                .product_description
                .as_deref(),
            Some("C:\\u0000")
        );
    }

    #[test]
    fn confidence_error_says_the_bound_and_value() {
        let mut body = seed_body();
        body["results"][0]["confidence"] = json!(1.5);
        let (_, reason) = field_error(&body);
        assert_eq!(reason, "must be between 0 and 1, not 1.5");
    }

    #[test]
    fn duplicate_product_ids_name_both_positions() {
        let body = json!({"job_id": JOB_ID, "status": "partial", "results": [
            {"product_id": "a"}, {"product_id": "b"}, {"product_id": "a"}]});
        let (field, reason) = field_error(&body);
        assert_eq!(field, "results[2].product_id");
        assert!(reason.contains("results[0]"), "{reason}");
    }

    #[test]
    fn non_objects_and_bad_json_are_refused() {
        for raw in ["null", "[]", "\"job\"", "42"] {
            assert_eq!(
                completed_job(raw.as_bytes(), &BodyLimits::default()),
                Err(invalid("body", "must be a JSON object")),
                "{raw}"
            );
        }
        for raw in ["", "{", "{\"job_id\":}", "\u{feff}{}", "[1e400]", "NaN"] {
            assert!(
                matches!(
                    completed_job(raw.as_bytes(), &BodyLimits::default()),
                    Err(BodyError::Syntax(_))
                ),
                "{raw:?}"
            );
        }
        assert!(matches!(
            completed_job(b"{\"job_id\": \"\xff\"}", &BodyLimits::default()),
            Err(BodyError::Syntax(_))
        ));
    }

    #[test]
    fn deep_nesting_is_its_own_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            completed_job(deep.as_bytes(), &BodyLimits::default()),
            Err(BodyError::TooDeep { .. })
        ));
        let mut body = seed_body();
        let mut nested = json!("leaf");
        for _ in 0..MAX_DEPTH {
            nested = json!([nested]);
        }
        body["metadata"]["trace"] = nested;
        match parse(&body) {
            Err(BodyError::TooDeep { field }) => assert!(field.starts_with("metadata.trace[0]")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicate_keys_are_refused_naming_the_key() {
        let text =
            format!(r#"{{"job_id": "{JOB_ID}", "status": "completed", "status": "failed"}}"#);
        assert_eq!(
            completed_job(text.as_bytes(), &BodyLimits::default()),
            Err(BodyError::DuplicateKey {
                field: "status".into()
            })
        );
    }

    #[test]
    fn strings_lists_and_result_counts_are_bounded() {
        let limits = BodyLimits { max_results: 3 };
        let body = json!({"job_id": JOB_ID, "status": "partial", "results": [
            {"product_id": "a"}, {"product_id": "b"}, {"product_id": "c"}, {"product_id": "d"}]});
        assert_eq!(
            completed_job(body.to_string().as_bytes(), &limits),
            Err(BodyError::TooManyResults { count: 4, limit: 3 })
        );
        let long = |n: usize| "x".repeat(n);
        let cases = [
            ("product_id", MAX_PRODUCT_ID_BYTES),
            ("product_description", MAX_PRODUCT_DESCRIPTION_BYTES),
            ("hts_code", MAX_HTS_CODE_BYTES),
            ("hts_description", MAX_HTS_DESCRIPTION_BYTES),
            ("source", MAX_SOURCE_BYTES),
        ];
        for (key, limit) in cases {
            let mut body = seed_body();
            body["results"][0][key] = json!(long(limit + 1));
            match parse(&body) {
                Err(BodyError::TooLong {
                    field,
                    limit: l,
                    length,
                }) => {
                    assert_eq!(field, format!("results[0].{key}"));
                    assert_eq!((l, length), (limit, limit + 1));
                }
                other => panic!("{key}: {other:?}"),
            }
            // Exactly at the limit is accepted.
            let mut body = seed_body();
            body["results"][0][key] = json!(long(limit));
            assert!(parse(&body).is_ok(), "{key} at its limit");
        }
        let mut body = seed_body();
        body["results"][0]["pga_flags"] = json!(vec!["FDA"; MAX_PGA_FLAGS + 1]);
        assert!(
            matches!(parse(&body), Err(BodyError::TooManyItems { field, .. }) if field == "results[0].pga_flags")
        );
        let mut body = seed_body();
        body["results"][0]["pga_flags"] = json!(["FDA", long(MAX_PGA_FLAG_BYTES + 1)]);
        assert!(
            matches!(parse(&body), Err(BodyError::TooLong { field, .. }) if field == "results[0].pga_flags[1]")
        );
        let mut body = seed_body();
        body["client_id"] = json!(long(MAX_CLIENT_ID_BYTES + 1));
        assert!(
            matches!(parse(&body), Err(BodyError::TooLong { field, .. }) if field == "client_id")
        );
        let mut body = seed_body();
        body["callback_url"] = json!(format!(
            "https://x.example.com/{}",
            long(MAX_CALLBACK_URL_BYTES)
        ));
        assert!(
            matches!(parse(&body), Err(BodyError::TooLong { field, .. }) if field == "callback_url")
        );
    }
}
