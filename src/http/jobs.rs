//! `GET /api/v1/jobs/{job_id}`: a client polls its job's status, progress and
//! results. A client sees only its own jobs; another client's job answers
//! exactly like an unknown one (404), so its existence is not revealed.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::AppError;
use super::extract::ApiClient;
use super::AppState;
use crate::store::{JobRecord, ResultRecord};

pub const DEFAULT_PAGE_SIZE: usize = 1000;
pub const MAX_PAGE_SIZE: usize = 5000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/jobs/{job_id}", get(poll))
}

#[derive(Debug, Deserialize)]
struct PollQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct JobView {
    job_id: Uuid,
    status: String,
    progress: Progress,
    created_at: String,
    updated_at: String,
    completed_at: Option<String>,
    metadata: Value,
    /// Present when the job is `completed` or `partial`.
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<Map<String, Value>>>,
    /// Pass as `cursor` to read the next page; null on the last page.
    /// Present exactly when `results` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
struct Progress {
    completed: i64,
    failed: i64,
    total: Option<i64>,
}

async fn poll(
    client: ApiClient,
    State(state): State<AppState>,
    Path(raw_job_id): Path<String>,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Json<JobView>, AppError> {
    let job_id = Uuid::try_parse(&raw_job_id).map_err(|_| AppError::InvalidParameter {
        field: "job_id",
        reason: format!("must be a UUID, not {raw_job_id:?}"),
    })?;
    let Query(query) = query.map_err(|e| AppError::InvalidParameter {
        field: "query",
        reason: e.body_text(),
    })?;
    let page = PageRequest::parse(&query)?;

    let job = state
        .store
        .job(job_id, &client.scope)
        .await?
        .ok_or(AppError::JobNotFound)?;

    let (results, next_cursor) = if matches!(job.status.as_str(), "completed" | "partial") {
        // One extra row tells whether another page exists.
        let mut rows = state
            .store
            .results_page(job_id, page.after.as_deref(), page.limit + 1)
            .await?;
        let next = (rows.len() > page.limit).then(|| {
            rows.truncate(page.limit);
            encode_cursor(&rows[page.limit - 1].product_id)
        });
        (
            Some(rows.into_iter().map(result_view).collect()),
            Some(next),
        )
    } else {
        (None, None)
    };
    Ok(Json(job_view(job, results, next_cursor)))
}

struct PageRequest {
    limit: usize,
    after: Option<String>,
}

impl PageRequest {
    fn parse(query: &PollQuery) -> Result<Self, AppError> {
        let limit = match query.limit.as_deref() {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| AppError::InvalidParameter {
                    field: "limit",
                    reason: format!(
                        "must be a whole number from 1 to {MAX_PAGE_SIZE}, not {raw:?}"
                    ),
                })?,
        };
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }
}

/// Cursors are opaque to clients: the last product id of the page, encoded
/// so it survives a query string and so clients do not build them by hand.
fn encode_cursor(product_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(product_id)
}

fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::InvalidParameter {
            field: "cursor",
            reason: "is not a cursor this API returned".to_owned(),
        })
}

fn job_view(
    job: JobRecord,
    results: Option<Vec<Map<String, Value>>>,
    next_cursor: Option<Option<String>>,
) -> JobView {
    JobView {
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
        results,
        next_cursor,
    }
}

/// A result as the engine sent it: the known fields, with the keys this
/// version does not know put back beside them.
fn result_view(record: ResultRecord) -> Map<String, Value> {
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

    fn query(limit: Option<&str>, cursor: Option<&str>) -> PollQuery {
        PollQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn cursor_round_trips_any_product_id() {
        for id in ["SKU-1", "a,b.c(d)", "å/ø?&=#", "ends with space "] {
            let page = PageRequest::parse(&query(None, Some(&encode_cursor(id)))).unwrap();
            assert_eq!(page.after.as_deref(), Some(id));
        }
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(
            PageRequest::parse(&query(None, None)).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            PageRequest::parse(&query(Some("5000"), None))
                .unwrap()
                .limit,
            5000
        );
        for bad in ["0", "5001", "-1", "ten", ""] {
            match PageRequest::parse(&query(Some(bad), None)) {
                Err(AppError::InvalidParameter { field: "limit", .. }) => {}
                other => panic!("{bad}: {:?}", other.err()),
            }
        }
    }

    #[test]
    fn garbage_cursor_is_refused() {
        for bad in ["***", "", "_w"] {
            assert!(
                matches!(
                    PageRequest::parse(&query(None, Some(bad))),
                    Err(AppError::InvalidParameter {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

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
