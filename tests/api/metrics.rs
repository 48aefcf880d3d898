//! `GET /metrics`: each service counts in its own registry, so these tests
//! assert exact values, on stacks of their own (no other service delivers
//! their callbacks).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rosetta_webhook::http::{METRICS_CONTENT_TYPE, METRICS_PATH, WEBHOOK_PATH};
use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::stack::free_port;
use crate::support::*;

/// The value of the sample whose name and labels are exactly `series`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

pub async fn scrape(app: &TestApp) -> String {
    let response = app.get(METRICS_PATH).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], METRICS_CONTENT_TYPE);
    response.text().await.unwrap()
}

/// Scrapes until `series` reads `value` (counters set by the delivery
/// worker land shortly after the receiver has its request).
async fn scrape_until(app: &TestApp, series: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(app).await;
        if sample(&text, series) == Some(value) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn webhooks_polls_and_callbacks_are_counted_exactly() {
    let app = TestApp::spawn_on(Stack::isolated("metrics"), |_| {}).await;
    let receiver = Receiver::start(vec![]).await;
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 3);
    body["client_id"] = json!("acme");
    body["callback_url"] = json!(receiver.url);

    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    // The engine's retry of the same webhook: applied again, counted as a duplicate.
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    let bytes = serde_json::to_vec(&body).unwrap();
    let forged = rosetta_webhook::signature::sign(b"not-our-secret", &bytes);
    let refused = app.post_raw(bytes, Some(&forged)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.poll(&job_id, Some(ACME_KEY), "").await.status(),
        StatusCode::OK
    );
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let delivered = r#"rosetta_callback_attempts_total{outcome="delivered",attempt="1"}"#;
    let text = scrape_until(&app, delivered, 1.0).await;
    let webhooks = |outcome: &str| {
        sample(
            &text,
            &format!(r#"rosetta_webhooks_total{{outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(webhooks("stored"), Some(1.0), "{text}");
    assert_eq!(webhooks("duplicate"), Some(1.0));
    assert_eq!(webhooks("invalid_signature"), Some(1.0));
    assert_eq!(webhooks("invalid_body"), Some(0.0));
    assert_eq!(webhooks("store_unavailable"), Some(0.0));
    assert_eq!(
        sample(&text, "rosetta_webhook_results_stored_total"),
        Some(6.0)
    );
    assert_eq!(
        sample(&text, "rosetta_webhook_ingest_duration_seconds_count"),
        Some(2.0)
    );

    let requests = |method: &str, route: &str, status: u16| {
        sample(
            &text,
            &format!(
                r#"rosetta_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(requests("POST", WEBHOOK_PATH, 200), Some(2.0));
    assert_eq!(requests("POST", WEBHOOK_PATH, 401), Some(1.0));
    assert_eq!(requests("GET", "/api/v1/jobs/{job_id}", 200), Some(1.0));
    let latency = r#"rosetta_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs/{job_id}",status="200"}"#;
    assert_eq!(sample(&text, latency), Some(1.0));

    assert_eq!(sample(&text, delivered), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"rosetta_callback_attempts_total{outcome="retrying",attempt="1"}"#
        ),
        None,
        "no failed attempt"
    );
    assert_eq!(
        sample(
            &text,
            r#"rosetta_store_call_duration_seconds_count{operation="ingest",outcome="ok"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "rosetta_callback_outbox_unfinished"),
        Some(0.0)
    );
    assert_eq!(sample(&text, "rosetta_callback_outbox_due"), Some(0.0));
    assert_eq!(
        sample(&text, "rosetta_callback_outbox_oldest_due_age_seconds"),
        Some(0.0)
    );
    assert!(text.contains("# TYPE rosetta_http_request_duration_seconds histogram"));
    assert!(text.contains("# HELP rosetta_webhooks_total "));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_store_counts_as_store_unavailable() {
    let stack = Stack::isolated("metrics-down");
    let app = TestApp::spawn_on(stack.clone(), |_| {}).await;
    stack.postgrest.stop();
    let response = app
        .post_webhook(&webhook(&new_job_id(), "completed", 1))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"rosetta_webhooks_total{outcome="store_unavailable"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"rosetta_store_call_duration_seconds_count{operation="ingest",outcome="unavailable"}"#
        ),
        Some(1.0)
    );
    assert!(
        sample(&text, "rosetta_callback_outbox_read_errors_total").unwrap_or(0.0) >= 1.0,
        "the scrape could not read the outbox: {text}"
    );
    stack.postgrest.restart();
    app.stop().await;
}

#[tokio::test]
async fn with_metrics_port_set_metrics_are_served_there_only() {
    let port = free_port();
    let app = TestApp::spawn_with(|c| c.metrics_port = Some(port)).await;
    let public = json_body(app.get(METRICS_PATH).await, StatusCode::NOT_FOUND).await;
    assert_eq!(public["error"], "route_not_found");
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = loop {
        match app
            .client
            .get(format!("http://127.0.0.1:{port}{METRICS_PATH}"))
            .send()
            .await
        {
            Ok(response) => break response,
            Err(error) => assert!(Instant::now() < deadline, "{error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    // The public port's 404 is in the count: one registry, two listeners.
    assert_eq!(
        sample(
            &text,
            r#"rosetta_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let elsewhere = app
        .client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
