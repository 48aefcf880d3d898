//! `GET /api/v1/jobs/{job_id}`: a client polls its job's status, progress and
//! results. A client sees only its own jobs; another client's job answers
//! exactly like an unknown one (404), so its existence is not revealed.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use uuid::Uuid;

use super::error::AppError;
use super::extract::ApiClient;
use super::AppState;
use crate::representation::{shows_results, JobDocument};

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

async fn poll(
    client: ApiClient,
    State(state): State<AppState>,
    Path(raw_job_id): Path<String>,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Json<JobDocument>, AppError> {
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

    if !shows_results(&job.status) {
        return Ok(Json(JobDocument::new(job)));
    }
    // One extra row tells whether another page exists.
    let mut rows = state
        .store
        .results_page(job_id, page.after.as_deref(), page.limit + 1)
        .await?;
    let next_cursor = (rows.len() > page.limit).then(|| {
        rows.truncate(page.limit);
        encode_cursor(&rows[page.limit - 1].product_id)
    });
    let mut document = JobDocument::new(job).with_results(rows);
    document.next_cursor = Some(next_cursor);
    Ok(Json(document))
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
}
