//! The polling contract: ETag / 304, Retry-After, long-poll, NDJSON results.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

async fn stored(app: &TestApp, status: &str, results: usize) -> String {
    let job_id = new_job_id();
    let mut body = webhook(&job_id, status, results);
    body["client_id"] = json!("acme");
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    job_id
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn poll_with(
    app: &TestApp,
    job_id: &str,
    query: &str,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}/api/v1/jobs/{job_id}{query}", app.address))
        .header("x-api-key", ACME_KEY);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_unchanged_job_answers_304_and_a_changed_one_a_new_tag() {
    let app = TestApp::spawn().await;
    let job_id = stored(&app, "partial", 2).await;
    let first = poll_with(&app, &job_id, "", None).await;
    let tag = header(&first, "etag").expect("ETag");
    assert_eq!(
        header(&first, "cache-control").as_deref(),
        Some("private, no-cache")
    );

    let again = poll_with(&app, &job_id, "", Some(&tag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), Some(tag.clone()));
    assert!(again.bytes().await.unwrap().is_empty(), "304 has no body");
    let weak = poll_with(&app, &job_id, "", Some(&format!("W/{tag}"))).await;
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);

    // Another page of the same job is another representation.
    let other_page = poll_with(&app, &job_id, "?limit=1", Some(&tag)).await;
    assert_eq!(other_page.status(), StatusCode::OK);

    let mut more = webhook(&job_id, "partial", 3);
    more["client_id"] = json!("acme");
    json_body(app.post_webhook(&more).await, StatusCode::OK).await;
    let changed = poll_with(&app, &job_id, "", Some(&tag)).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(header(&changed, "etag"), Some(tag));
    let job: Value = changed.json().await.unwrap();
    assert_eq!(job["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn retry_after_is_sent_exactly_while_the_job_is_unfinished() {
    let app = TestApp::spawn().await;
    let processing = new_job_id();
    create_pending_job(app.db(), &processing, "acme", UNREACHABLE_CALLBACK, 5);
    let partial = stored(&app, "partial", 1).await;
    let completed = stored(&app, "completed", 1).await;
    let failed = stored(&app, "failed", 0).await;
    for (job_id, expected) in [
        (&processing, Some("5")),
        (&partial, Some("2")),
        (&completed, None),
        (&failed, None),
    ] {
        let response = poll_with(&app, job_id, "", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "retry-after").as_deref(),
            expected,
            "{job_id}"
        );
        let tag = header(&response, "etag").unwrap();
        let not_modified = poll_with(&app, job_id, "", Some(&tag)).await;
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            header(&not_modified, "retry-after").as_deref(),
            expected,
            "{job_id} (304)"
        );
    }
}

#[tokio::test]
async fn a_long_poll_answers_soon_after_a_webhook_lands_on_another_instance() {
    let waiting_instance = TestApp::spawn().await;
    let other_instance = TestApp::spawn().await;
    let job_id = stored(&waiting_instance, "partial", 1).await;
    let tag = header(
        &poll_with(&waiting_instance, &job_id, "", None).await,
        "etag",
    )
    .unwrap();

    let url = format!("{}/api/v1/jobs/{job_id}?wait=20", waiting_instance.address);
    let held = tokio::spawn({
        let client = waiting_instance.client.clone();
        let tag = tag.clone();
        async move {
            let response = client
                .get(url)
                .header("x-api-key", ACME_KEY)
                .header("if-none-match", tag)
                .send()
                .await
                .unwrap();
            (Instant::now(), response)
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !held.is_finished(),
        "the poll is held while nothing changes"
    );

    let mut completion = webhook(&job_id, "completed", 2);
    completion["client_id"] = json!("acme");
    json_body(
        other_instance.post_webhook(&completion).await,
        StatusCode::OK,
    )
    .await;
    let stored_at = Instant::now();
    let (answered_at, response) = held.await.unwrap();
    assert!(
        answered_at.duration_since(stored_at) < Duration::from_secs(1),
        "answered {:?} after the webhook",
        answered_at.duration_since(stored_at)
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(header(&response, "etag"), Some(tag));
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "completed");
}

#[tokio::test]
async fn a_long_poll_that_times_out_returns_the_unchanged_job() {
    let app = TestApp::spawn().await;
    let job_id = stored(&app, "partial", 2).await;
    let before = poll_with(&app, &job_id, "", None).await;
    let tag = header(&before, "etag").unwrap();
    let before: Value = before.json().await.unwrap();

    let started = Instant::now();
    let after = poll_with(&app, &job_id, "?wait=1", None).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "held for the wait"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(header(&after, "etag"), Some(tag.clone()));
    assert_eq!(after.json::<Value>().await.unwrap(), before);

    // With the client's tag, the unchanged answer is a 304.
    let conditional = poll_with(&app, &job_id, "?wait=1", Some(&tag)).await;
    assert_eq!(conditional.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn shutdown_answers_held_long_polls_at_once() {
    let app = TestApp::spawn().await;
    let job_id = stored(&app, "partial", 1).await;
    let url = format!("{}/api/v1/jobs/{job_id}?wait=60", app.address);
    let client = app.client.clone();
    let held = tokio::spawn(async move {
        client
            .get(url)
            .header("x-api-key", ACME_KEY)
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    app.stop().await;
    let response = held.await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn wait_beyond_sixty_seconds_is_refused() {
    let app = TestApp::spawn().await;
    let job_id = stored(&app, "partial", 1).await;
    let error = json_body(
        poll_with(&app, &job_id, "?wait=61", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["field"], "wait");
}

/// The stream's headers and its parsed lines.
async fn stream_lines(
    app: &TestApp,
    job_id: &str,
    query: &str,
    key: &str,
) -> (HeaderMap, Vec<Value>) {
    let response = app
        .client
        .get(format!(
            "{}/api/v1/jobs/{job_id}/results{query}",
            app.address
        ))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (headers, lines)
}

#[tokio::test]
async fn results_stream_as_ndjson_across_partial_webhooks_and_resume_mid_way() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    // Three partial webhooks with interleaved product ids: 2,500 results,
    // more than two of the stream's store pages.
    let ids: Vec<String> = (0..2500).map(|i| format!("P-{i:05}")).collect();
    for part in 0..3 {
        let results: Vec<Value> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == part)
            .map(|(i, id)| result(id, i))
            .collect();
        let body =
            json!({"job_id": job_id, "status": "partial", "client_id": "acme", "results": results});
        json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    }

    let (headers, lines) = stream_lines(&app, &job_id, "", ACME_KEY).await;
    assert_eq!(headers["x-job-status"], "partial");
    let streamed: Vec<&str> = lines
        .iter()
        .map(|l| l["result"]["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, ids, "every result exactly once, in order");
    assert_eq!(lines[7]["result"], result(&ids[7], 7));

    let cursor = lines[1234]["cursor"].as_str().unwrap();
    let (_, rest) = stream_lines(&app, &job_id, &format!("?after={cursor}"), ACME_KEY).await;
    let resumed: Vec<&str> = rest
        .iter()
        .map(|l| l["result"]["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        resumed,
        ids[1235..],
        "resumes right after the cursor's result"
    );

    let last = lines.last().unwrap()["cursor"].as_str().unwrap();
    let (_, none) = stream_lines(&app, &job_id, &format!("?after={last}"), ACME_KEY).await;
    assert!(none.is_empty());

    let hidden = app
        .client
        .get(format!("{}/api/v1/jobs/{job_id}/results", app.address))
        .header("x-api-key", GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let bad = app
        .client
        .get(format!(
            "{}/api/v1/jobs/{job_id}/results?after=***",
            app.address
        ))
        .header("x-api-key", ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
