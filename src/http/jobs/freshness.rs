//! Conditional polling: the job's `ETag`, `If-None-Match` matching, and the
//! `Retry-After` a client of an unfinished job should wait.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::query::PageRequest;
use crate::store::JobRecord;

/// The entity tag of one page of a job as a poll shows it. It covers
/// everything the document is built from (status, counters, metadata and
/// results via `updated_at`, which every ingest moves, and the callback
/// state) plus the page asked for, so it changes whenever the answer does.
pub fn etag(job: &JobRecord, page: &PageRequest) -> String {
    let mut hash = Sha256::new();
    let callback = job.callback_deliveries.first();
    let parts = [
        job.job_id.to_string(),
        job.status.clone(),
        job.updated_at.clone(),
        job.completed_products.to_string(),
        job.failed_products.to_string(),
        format!("{:?}", job.total_products),
        format!("{callback:?}"),
        page.limit.to_string(),
        page.after.clone().unwrap_or_default(),
    ];
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("\"{}\"", hex::encode(&hash.finalize()[..16]))
}

/// Whether `If-None-Match` names `tag` (weak or strong, or `*`).
pub fn matches_if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(axum::http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == "*" || candidate == tag)
}

/// The tag the client holds, if it sent one (the first, without `W/`).
pub fn client_tag(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|t| t.trim().trim_start_matches("W/").to_owned())
        .filter(|t| !t.is_empty() && t != "*")
}

/// Seconds to wait before the next poll of an unfinished job, `None` once it
/// is final. A `partial` job is receiving results, so it is polled sooner.
/// (A long-poll with `wait` beats both.)
pub fn retry_after(status: &str) -> Option<u64> {
    match status {
        "completed" | "failed" => None,
        "partial" => Some(2),
        _ => Some(5),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn job(status: &str, updated_at: &str) -> JobRecord {
        serde_json::from_value(json!({
            "job_id": "0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f", "client_id": "acme",
            "status": status, "total_products": 3, "completed_products": 1,
            "failed_products": 0, "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": updated_at, "completed_at": null, "metadata": {}
        }))
        .unwrap()
    }

    fn page(limit: usize) -> PageRequest {
        PageRequest { limit, after: None }
    }

    #[test]
    fn the_tag_changes_with_what_the_client_sees() {
        let base = etag(&job("partial", "t1"), &page(10));
        assert_eq!(base, etag(&job("partial", "t1"), &page(10)), "stable");
        assert_ne!(base, etag(&job("completed", "t1"), &page(10)));
        assert_ne!(base, etag(&job("partial", "t2"), &page(10)));
        assert_ne!(base, etag(&job("partial", "t1"), &page(11)));
        let mut with_callback = job("partial", "t1");
        with_callback.callback_deliveries = serde_json::from_value(json!([{
            "state": "failed", "attempts": 1, "last_status": 500, "last_error": "x",
            "next_attempt_at": "t", "delivered_at": null}]))
        .unwrap();
        assert_ne!(base, etag(&with_callback, &page(10)));
        assert!(base.starts_with('"') && base.ends_with('"') && base.len() == 34);
    }

    #[test]
    fn if_none_match_forms() {
        let tag = "\"abc\"";
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("if-none-match", HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(matches_if_none_match(&headers("\"abc\""), tag));
        assert!(matches_if_none_match(&headers("W/\"abc\""), tag));
        assert!(matches_if_none_match(&headers("\"x\", \"abc\""), tag));
        assert!(matches_if_none_match(&headers("*"), tag));
        assert!(!matches_if_none_match(&headers("\"abd\""), tag));
        assert!(!matches_if_none_match(&HeaderMap::new(), tag));
        assert_eq!(
            client_tag(&headers("W/\"abc\", \"x\"")).as_deref(),
            Some(tag)
        );
        assert_eq!(client_tag(&headers("*")), None);
    }

    #[test]
    fn retry_after_only_while_unfinished() {
        assert_eq!(retry_after("completed"), None);
        assert_eq!(retry_after("failed"), None);
        assert_eq!(retry_after("partial"), Some(2));
        assert_eq!(retry_after("processing"), Some(5));
        assert_eq!(retry_after("pending"), Some(5));
    }
}
