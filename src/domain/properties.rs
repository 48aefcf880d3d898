//! Property tests of the body parser: it never panics, every error names a
//! field, and a valid webhook reads back exactly as it was written.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::limits::*;
use super::{BodyLimits, ClassificationResult, CompletedJob, ReportedProgress, WebhookStatus};

/// Text without NUL (which PostgreSQL cannot store, so the parser refuses it).
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..max)
        .prop_map(|chars| chars.into_iter().collect())
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(8), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects whose keys avoid `known`, so they land in `extra` as they are.
fn extra(known: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z]{1,8}", any_json(), 0..3).prop_map(move |m| {
        m.into_iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .collect()
    })
}

fn optional_text(max: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::of(text(max))
}

fn result() -> impl Strategy<Value = ClassificationResult> {
    (
        "[A-Za-z0-9-]{1,24}",
        optional_text(40),
        prop::option::of("[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}"),
        optional_text(40),
        prop::option::of(0.0f64..=1.0),
        prop::option::of(0.0f64..1000.0),
        optional_text(MAX_SOURCE_BYTES / 4),
        prop::option::of(any::<bool>()),
        prop::collection::vec("[A-Z]{2,6}", 0..4),
        extra(&[]),
    )
        .prop_map(
            |(
                id,
                description,
                hts,
                hts_description,
                confidence,
                duty,
                source,
                s301,
                flags,
                extra,
            )| {
                ClassificationResult {
                    product_id: id,
                    product_description: description,
                    hts_code: hts,
                    hts_description,
                    confidence,
                    duty_rate: duty,
                    source,
                    section_301_applies: s301,
                    pga_flags: flags,
                    extra,
                }
            },
        )
}

fn job() -> impl Strategy<Value = CompletedJob> {
    let counter = || prop::option::of(0u32..=i32::MAX as u32);
    (
        any::<u128>(),
        prop::sample::select(vec![
            WebhookStatus::Completed,
            WebhookStatus::Failed,
            WebhookStatus::Partial,
        ]),
        prop::option::of("[a-z][a-z0-9-]{0,20}"),
        prop::option::of("https://[a-z]{1,10}\\.example\\.com/[a-z0-9/]{0,20}"),
        (counter(), counter(), counter()),
        extra(&[]),
        extra(&[]),
        prop::collection::vec(result(), 0..6),
    )
        .prop_map(
            |(
                id,
                status,
                client_id,
                callback_url,
                (total, completed, failed),
                metadata,
                extra,
                results,
            )| {
                let mut metadata = metadata;
                for (key, value) in [
                    ("total_products", total),
                    ("completed", completed),
                    ("failed", failed),
                ] {
                    if let Some(value) = value {
                        metadata.insert(key.to_owned(), json!(value));
                    }
                }
                // One result per product id.
                let mut seen = std::collections::HashSet::new();
                let results = results
                    .into_iter()
                    .filter(|r| seen.insert(r.product_id.clone()))
                    .collect();
                CompletedJob {
                    job_id: Uuid::from_u128(id),
                    status,
                    client_id,
                    callback_url,
                    progress: ReportedProgress {
                        total,
                        completed,
                        failed,
                    },
                    metadata,
                    extra,
                    results,
                }
            },
        )
}

/// The webhook body the engine would send for `job`.
fn to_webhook(job: &CompletedJob) -> Value {
    let mut body = job.extra.clone();
    body.insert("job_id".into(), json!(job.job_id));
    body.insert("status".into(), json!(job.status.as_str()));
    if let Some(client_id) = &job.client_id {
        body.insert("client_id".into(), json!(client_id));
    }
    if let Some(url) = &job.callback_url {
        body.insert("callback_url".into(), json!(url));
    }
    body.insert("metadata".into(), Value::Object(job.metadata.clone()));
    let results: Vec<Value> = job
        .results
        .iter()
        .map(|r| {
            let mut item = r.extra.clone();
            let known = json!({
                "product_id": r.product_id,
                "product_description": r.product_description,
                "hts_code": r.hts_code,
                "hts_description": r.hts_description,
                "confidence": r.confidence,
                "duty_rate": r.duty_rate,
                "source": r.source,
                "section_301_applies": r.section_301_applies,
                "pga_flags": r.pga_flags,
            });
            item.extend(known.as_object().unwrap().clone());
            Value::Object(item)
        })
        .collect();
    body.insert("results".into(), json!(results));
    Value::Object(body)
}

proptest! {
    #[test]
    fn a_valid_webhook_reads_back_as_written(job in job()) {
        let bytes = serde_json::to_vec(&to_webhook(&job)).unwrap();
        prop_assert_eq!(CompletedJob::from_json(&bytes), Ok(job));
    }

    #[test]
    fn any_bytes_get_a_webhook_or_an_error_naming_a_field(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Err(error) = CompletedJob::from_json(&bytes) {
            prop_assert!(!error.field().is_empty());
        }
    }

    #[test]
    fn any_json_gets_a_webhook_or_an_error_naming_a_field(value in any_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match CompletedJob::from_json(&bytes) {
            Ok(_) => prop_assert!(value.is_object()),
            Err(error) => prop_assert!(!error.field().is_empty(), "{error:?}"),
        }
    }

    #[test]
    fn a_broken_field_of_a_valid_webhook_is_named(
        job in job().prop_filter("has results", |j| !j.results.is_empty()),
        index in any::<prop::sample::Index>(),
        field in prop::sample::select(vec![
            "product_id", "confidence", "duty_rate", "hts_code", "pga_flags", "section_301_applies",
        ]),
        bad in prop::sample::select(vec![json!(-1), json!("x"), json!({}), json!([1])]),
    ) {
        let mut body = to_webhook(&job);
        let i = index.index(job.results.len());
        body["results"][i][field] = bad.clone();
        let bytes = serde_json::to_vec(&body).unwrap();
        match CompletedJob::from_json_with(&bytes, &BodyLimits::default()) {
            // Some replacements are valid for some fields (a string HTS code).
            Ok(_) => {}
            Err(error) => prop_assert!(
                error.field().starts_with(&format!("results[{i}].{field}")),
                "{:?} for {} = {}", error, field, bad
            ),
        }
    }
}
