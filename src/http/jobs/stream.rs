//! `GET /api/v1/jobs/{job_id}/results?after=<cursor>`: every stored result
//! of the job as NDJSON, in `product_id` order, including those of `partial`
//! webhooks before the job ends. Read from the store a page at a time and
//! written as it is read, so a 50,000-result job is never held in memory.
//!
//! Each line is `{"cursor": "...", "result": {...}}`; passing a line's
//! cursor as `after` resumes the stream after that result.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Serialize;
use uuid::Uuid;

use super::query::{decode_cursor, encode_cursor, PollQuery};
use super::{parse_job_id, parse_query, visible_job};
use crate::http::extract::ApiClient;
use crate::http::schemas::{ApiError, ResultLine};
use crate::http::{AppError, AppState};
use crate::representation::ResultView;
use crate::store::StoreError;

/// Results read per store call; one page is the most held at a time.
const STREAM_PAGE: usize = 1000;

#[derive(Serialize)]
struct Line {
    cursor: String,
    result: ResultView,
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}/results",
    tag = "jobs",
    summary = "Every stored result of a job, as NDJSON",
    description = "One ResultLine per line, in product_id order, including those of partial \
        webhooks; read from the store a page at a time. A store failure mid-stream ends the \
        transfer with an error (a truncated body, never a silently short one).",
    params(
        ("job_id" = String, Path, format = Uuid, description = "The job's UUID"),
        ("after" = Option<String>, Query, description = "A line's cursor: resume after that result")
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The results, one JSON object per line", content_type = "application/x-ndjson", body = ResultLine,
            headers(("X-Job-Status" = String, description = "The job's status when the stream began"))),
        (status = 401, description = "No X-Api-Key, or not a key of API_KEYS", body = ApiError,
            example = json!({"status": "error", "error": "invalid_api_key", "message": "the API key is not valid"})),
        (status = 404, description = "No such job, or one this key may not read", body = ApiError,
            example = json!({"status": "error", "error": "job_not_found", "message": "no job with this id"})),
        (status = 422, description = "A bad job_id or after", body = ApiError,
            example = json!({"status": "error", "error": "invalid_parameter", "message": "after: is not a cursor this API returned", "field": "after"})),
        (status = 503, description = "The store is unavailable. Retry-After: 5", body = ApiError,
            example = json!({"status": "error", "error": "store_unavailable", "message": "the job store is unavailable; retry later (a retried webhook is applied once)"}))
    )
)]
pub async fn results(
    client: ApiClient,
    State(state): State<AppState>,
    Path(raw_job_id): Path<String>,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let job_id = parse_job_id(&raw_job_id)?;
    let query = parse_query(query)?;
    let after = query
        .after
        .as_deref()
        .map(|c| decode_cursor(c, "after"))
        .transpose()?;
    // Checked before the first byte, so a stranger gets a clean 404.
    let job = visible_job(&state, job_id, &client.scope).await?;

    let pages = stream::try_unfold(Some(after), move |position| {
        let state = state.clone();
        async move { next_page(&state, job_id, position).await }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(status) = HeaderValue::from_str(&job.status) {
        headers.insert("x-job-status", status);
    }
    Ok(response)
}

/// The next page as NDJSON bytes, and where the following one starts
/// (`None` once a short page shows the end). A store failure mid-stream
/// ends the body with an error, so the client sees a truncated transfer
/// rather than a silently short one.
async fn next_page(
    state: &AppState,
    job_id: Uuid,
    position: Option<Option<String>>,
) -> Result<Option<(Bytes, Option<Option<String>>)>, StoreError> {
    let Some(after) = position else {
        return Ok(None);
    };
    let rows = state
        .store
        .results_page(job_id, after.as_deref(), STREAM_PAGE)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let full = rows.len() == STREAM_PAGE;
    let last = rows.last().map(|r| r.product_id.clone());
    let mut bytes = Vec::with_capacity(rows.len() * 512);
    for row in rows {
        let line = Line {
            cursor: encode_cursor(&row.product_id),
            result: ResultView(row),
        };
        serde_json::to_writer(&mut bytes, &line).expect("a result serialises");
        bytes.push(b'\n');
    }
    let following = full.then_some(last);
    Ok(Some((Bytes::from(bytes), following)))
}
