//! `GET /api/v1/jobs/{job_id}`: a client polls its job's status, progress and
//! results, conditionally (`ETag` / `If-None-Match` → 304) and, with `?wait=`,
//! as a long-poll. `GET /api/v1/jobs/{job_id}/results` streams the results as
//! NDJSON. A client sees only its own jobs; another client's job answers
//! exactly like an unknown one (404), so its existence is not revealed.

mod freshness;
mod query;
pub mod stream;

use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

use self::freshness::{client_tag, etag, matches_if_none_match, retry_after};
use self::query::{encode_cursor, parse_wait, PageRequest, PollQuery};
pub use self::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_WAIT};
use super::error::AppError;
use super::extract::ApiClient;
use super::schemas::ApiError;
use super::AppState;
use crate::config::ClientScope;
use crate::representation::{shows_results, JobDocument};
use crate::store::JobRecord;

/// How often a held long-poll re-reads the job: quick at first, then at most
/// this often, so a change on another instance is seen within about 0.5 s.
const LONG_POLL_MAX_INTERVAL: Duration = Duration::from_millis(500);
const LONG_POLL_FIRST_INTERVAL: Duration = Duration::from_millis(100);

fn parse_job_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(raw).map_err(|_| AppError::InvalidParameter {
        field: "job_id",
        reason: format!("must be a UUID, not {raw:?}"),
    })
}

fn parse_query(query: Result<Query<PollQuery>, QueryRejection>) -> Result<PollQuery, AppError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| AppError::InvalidParameter {
            field: "query",
            reason: e.body_text(),
        })
}

/// The job, or 404 when it does not exist or `scope` may not see it.
async fn visible_job(
    state: &AppState,
    job_id: Uuid,
    scope: &ClientScope,
) -> Result<JobRecord, AppError> {
    state
        .store
        .job(job_id, scope)
        .await?
        .ok_or(AppError::JobNotFound)
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{job_id}",
    tag = "jobs",
    summary = "A job's status, progress and a page of its results",
    description = "Conditional (ETag / If-None-Match → 304) and, with `wait`, a long-poll that answers \
        as soon as the job changes, or after `wait` seconds with the job as it is. A client-scoped key \
        sees only its client's jobs; any other job is 404 like an unknown one.",
    params(
        ("job_id" = String, Path, format = Uuid, description = "The job's UUID"),
        ("limit" = Option<u32>, Query, description = "Results per page, 1 to 5000 (default 1000)"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_cursor; opaque"),
        ("wait" = Option<u32>, Query, description = "Long-poll: hold up to this many seconds (0 to 60) until the job differs from If-None-Match (or from its state at arrival)"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag of this job from an earlier answer")
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The job; results on completed and partial jobs", body = JobDocument,
            headers(
                ("ETag" = String, description = "Changes whenever this answer would"),
                ("Retry-After" = Option<u32>, description = "Seconds before the next poll; absent once the job is final")
            )),
        (status = 304, description = "Unchanged since the If-None-Match tag"),
        (status = 401, description = "No X-Api-Key, or not a key of API_KEYS", body = ApiError, examples(
            ("missing_api_key" = (value = json!({"status": "error", "error": "missing_api_key", "message": "the X-Api-Key header is missing"}))),
            ("invalid_api_key" = (value = json!({"status": "error", "error": "invalid_api_key", "message": "the API key is not valid"})))
        )),
        (status = 404, description = "No such job, or one this key may not read", body = ApiError,
            example = json!({"status": "error", "error": "job_not_found", "message": "no job with this id"})),
        (status = 422, description = "A bad job_id, limit, cursor, wait or query string; `field` names it", body = ApiError,
            example = json!({"status": "error", "error": "invalid_parameter", "message": "limit: must be a whole number from 1 to 5000, not \"0\"", "field": "limit"})),
        (status = 503, description = "The store is unavailable. Retry-After: 5", body = ApiError,
            example = json!({"status": "error", "error": "store_unavailable", "message": "the job store is unavailable; retry later (a retried webhook is applied once)"}))
    )
)]
pub async fn poll(
    client: ApiClient,
    State(state): State<AppState>,
    Path(raw_job_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let job_id = parse_job_id(&raw_job_id)?;
    let query = parse_query(query)?;
    let page = PageRequest::parse(&query)?;
    let wait = parse_wait(&query)?;

    let mut job = visible_job(&state, job_id, &client.scope).await?;
    if !wait.is_zero() {
        job = long_poll(&state, job, &page, &headers, wait, &client.scope).await?;
    }
    let tag = etag(&job, &page);
    let retry_after = retry_after(&job.status);
    let mut response = if matches_if_none_match(&headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(document(&state, job_id, job, &page).await?).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex tag"));
    // Trade data: never in a shared cache, always revalidated.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Ok(response)
}

/// Holds the request until the job's tag differs from the one the client
/// holds (or, without one, from the tag at arrival), `wait` passes, or the
/// service shuts down. Between reads nothing is held: no connection, no
/// spinning; just a timer.
async fn long_poll(
    state: &AppState,
    mut job: JobRecord,
    page: &PageRequest,
    headers: &HeaderMap,
    wait: Duration,
    scope: &ClientScope,
) -> Result<JobRecord, AppError> {
    let baseline = client_tag(headers).unwrap_or_else(|| etag(&job, page));
    let deadline = Instant::now() + wait;
    let mut interval = LONG_POLL_FIRST_INTERVAL;
    while etag(&job, page) == baseline {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval.min(deadline - now)) => {}
            // Shutdown answers held polls at once with what is known.
            _ = state.stopping.cancelled() => break,
        }
        interval = (interval * 2).min(LONG_POLL_MAX_INTERVAL);
        job = visible_job(state, job.job_id, scope).await?;
    }
    Ok(job)
}

/// The poll's body: the job, and for a job with results one page of them.
async fn document(
    state: &AppState,
    job_id: Uuid,
    job: JobRecord,
    page: &PageRequest,
) -> Result<JobDocument, AppError> {
    if !shows_results(&job.status) {
        return Ok(JobDocument::new(job));
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
    Ok(document)
}
