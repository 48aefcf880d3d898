//! Polling `GET /api/v1/jobs/{id}` against real PostgREST + PostgreSQL.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

async fn stored_job(app: &TestApp, client_id: &str, results: usize) -> (String, Value) {
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", results);
    body["client_id"] = json!(client_id);
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    (job_id, body)
}

#[tokio::test]
async fn no_key_or_a_wrong_key_is_401() {
    let app = TestApp::spawn().await;
    let (job_id, _) = stored_job(&app, "acme", 1).await;
    let error = json_body(app.poll(&job_id, None, "").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["error"], "missing_api_key");
    for wrong in ["wrong-key", "", "acme", &format!("acme:{ACME_KEY}")] {
        let error = json_body(
            app.poll(&job_id, Some(wrong), "").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(error["error"], "invalid_api_key", "{wrong:?}");
    }
    // Auth is checked before the path, so a bad id does not tell a stranger anything.
    let error = json_body(
        app.poll("not-a-uuid", None, "").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(error["error"], "missing_api_key");
}

#[tokio::test]
async fn the_owner_reads_status_progress_and_results() {
    let app = TestApp::spawn().await;
    let (job_id, sent) = stored_job(&app, "acme", 3).await;
    let job = json_body(app.poll(&job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;

    assert_eq!(job["job_id"], job_id);
    assert_eq!(job["status"], "completed");
    assert_eq!(
        job["progress"],
        json!({"completed": 3, "failed": 0, "total": 3})
    );
    assert_eq!(job["metadata"], sent["metadata"]);
    for key in ["created_at", "updated_at", "completed_at"] {
        assert!(job[key].is_string(), "{key}: {job}");
    }
    assert_eq!(
        job["results"], sent["results"],
        "results read back exactly as sent"
    );
    assert_eq!(job["next_cursor"], Value::Null);
}

#[tokio::test]
async fn another_clients_job_is_indistinguishable_from_an_unknown_one() {
    let app = TestApp::spawn().await;
    let (job_id, _) = stored_job(&app, "acme", 1).await;
    let foreign = json_body(
        app.poll(&job_id, Some(GLOBEX_KEY), "").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let unknown = json_body(
        app.poll(&new_job_id(), Some(GLOBEX_KEY), "").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(foreign["error"], "job_not_found");
    assert_eq!(foreign, unknown);
}

#[tokio::test]
async fn wildcard_and_flask_era_keys_read_any_job() {
    let app = TestApp::spawn().await;
    let (acme_job, _) = stored_job(&app, "acme", 1).await;
    let (globex_job, _) = stored_job(&app, "globex", 1).await;
    for key in [ADMIN_KEY, FLASK_ERA_KEY] {
        for job_id in [&acme_job, &globex_job] {
            let job = json_body(app.poll(job_id, Some(key), "").await, StatusCode::OK).await;
            assert_eq!(&job["job_id"], job_id);
        }
    }
}

#[tokio::test]
async fn a_job_without_a_client_is_readable_only_by_wildcard_keys() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 1)).await,
        StatusCode::OK,
    )
    .await;
    json_body(
        app.poll(&job_id, Some(ACME_KEY), "").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    json_body(app.poll(&job_id, Some(ADMIN_KEY), "").await, StatusCode::OK).await;
}

#[tokio::test]
async fn pages_return_every_result_exactly_once() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let ids = awkward_product_ids(23);
    let results = results_for(&ids);
    let body =
        json!({"job_id": job_id, "status": "completed", "client_id": "acme", "results": results});
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=5&cursor={c}"),
            None => "?limit=5".to_owned(),
        };
        let page = json_body(
            app.poll(&job_id, Some(ACME_KEY), &query).await,
            StatusCode::OK,
        )
        .await;
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 5);
        seen.extend(
            results
                .iter()
                .map(|r| r["product_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), ids.len(), "no result twice: {seen:?}");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>(),
        "every result once"
    );
}

#[tokio::test]
async fn a_job_still_processing_shows_progress_without_results() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    create_pending_job(app.db(), &job_id, "acme", UNREACHABLE_CALLBACK, 50);
    let job = json_body(app.poll(&job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;
    assert_eq!(job["status"], "processing");
    assert_eq!(
        job["progress"],
        json!({"completed": 0, "failed": 0, "total": 50})
    );
    assert_eq!(job["completed_at"], Value::Null);
    assert!(job.get("results").is_none(), "{job}");
    assert!(job.get("next_cursor").is_none(), "{job}");
}

#[tokio::test]
async fn bad_parameters_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (job_id, _) = stored_job(&app, "acme", 1).await;
    for (path, query, field) in [
        ("job-42", "", "job_id"),
        (job_id.as_str(), "?limit=0", "limit"),
        (job_id.as_str(), "?limit=5001", "limit"),
        (job_id.as_str(), "?limit=many", "limit"),
        (job_id.as_str(), "?cursor=%%%", "cursor"),
        (job_id.as_str(), "?limit=1&limit=2", "query"),
        (job_id.as_str(), "?cursor=***", "cursor"),
    ] {
        let error = json_body(
            app.poll(path, Some(ACME_KEY), query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["error"], "invalid_parameter", "{path}{query}");
        assert_eq!(error["field"], field, "{path}{query}: {error}");
    }
}
