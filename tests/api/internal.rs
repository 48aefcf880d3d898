//! `POST /internal/deliveries/run`, as a Cloud Scheduler job calls it on a
//! service whose background worker is off (`CALLBACK_WORKER=off`).

use std::time::Duration;

use reqwest::StatusCode;
use rosetta_webhook::config::InternalToken;
use rosetta_webhook::http::INTERNAL_DELIVERIES_PATH;
use serde_json::{json, Value};

use crate::metrics::{sample, scrape};
use crate::support::receiver::{Receiver, Reply};
use crate::support::*;

const TOKEN: &str = "scheduler-token-0123456789abcdef0123";

async fn run(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{INTERNAL_DELIVERIES_PATH}", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

async fn ingest_with_callback(app: &TestApp, callback_url: &str) -> String {
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 2);
    body["client_id"] = json!("acme");
    body["callback_url"] = json!(callback_url);
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    job_id
}

#[tokio::test]
async fn without_internal_token_the_endpoint_does_not_exist() {
    let app = TestApp::spawn().await;
    let response = run(&app, Some(&format!("Bearer {TOKEN}"))).await;
    let error = json_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["error"], "route_not_found");
}

#[tokio::test]
async fn the_scheduler_run_delivers_what_is_due_and_counts_it() {
    let app = TestApp::spawn_on(Stack::isolated("internal"), |c| {
        c.internal_token = Some(InternalToken::new(TOKEN).unwrap());
        c.callbacks.background = false;
        // Were a worker running, it would sweep at once; none may.
        c.callbacks.poll_interval = Duration::from_secs(3600);
    })
    .await;
    let happy = Receiver::start(vec![]).await;
    let flaky = Receiver::start(vec![Reply::Status(503)]).await;
    let delivered_job = ingest_with_callback(&app, &happy.url).await;
    let retried_job = ingest_with_callback(&app, &flaky.url).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        happy.received().is_empty() && flaky.received().is_empty(),
        "no background delivery"
    );
    let before = scrape(&app).await;
    assert_eq!(
        sample(&before, "rosetta_callback_outbox_due"),
        Some(2.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, "rosetta_callback_outbox_unfinished"),
        Some(2.0)
    );
    assert!(sample(&before, "rosetta_callback_outbox_oldest_due_age_seconds").unwrap() > 0.3);

    for (authorization, code) in [
        (None, "missing_token"),
        (Some(format!("Bearer {TOKEN}x")), "invalid_token"),
        (Some(format!("Bearer {}", &TOKEN[1..])), "invalid_token"),
        (Some(format!("Basic {TOKEN}")), "invalid_token"),
        (Some(TOKEN.to_owned()), "invalid_token"),
    ] {
        let response = run(&app, authorization.as_deref()).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let error = json_body(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error["error"], code, "{authorization:?}");
    }
    assert!(
        happy.received().is_empty(),
        "a refused call delivers nothing"
    );

    let counts = json_body(
        run(&app, Some(&format!("Bearer {TOKEN}"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        counts,
        json!({"attempted": 2, "delivered": 1, "retrying": 1, "exhausted": 0,
               "disabled": 0, "unrecorded": 0, "more_due": false})
    );
    assert_eq!(happy.received().len(), 1);
    assert_eq!(happy.received()[0].json()["job_id"], delivered_job);
    assert_eq!(flaky.received().len(), 1);
    let callback = |job: &str| {
        let job = job.to_owned();
        let app = &app;
        async move {
            let body: Value =
                json_body(app.poll(&job, Some(ADMIN_KEY), "").await, StatusCode::OK).await;
            body["callback"].clone()
        }
    };
    assert_eq!(callback(&delivered_job).await["state"], "delivered");
    assert_eq!(callback(&retried_job).await["state"], "failed");

    // The retry falls due 200 ms later (the tests' schedule); the next run sends it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = json_body(
        run(&app, Some(&format!("bearer {TOKEN}"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (counts["attempted"].as_u64(), counts["delivered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(flaky.received().len(), 2);
    assert_eq!(callback(&retried_job).await["attempts"], 2);

    let nothing = json_body(
        run(&app, Some(&format!("Bearer {TOKEN}"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(nothing["attempted"], 0);
    let after = scrape(&app).await;
    assert_eq!(sample(&after, "rosetta_callback_outbox_due"), Some(0.0));
    assert_eq!(
        sample(
            &after,
            r#"rosetta_callback_attempts_total{outcome="delivered",attempt="2"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"rosetta_callback_attempts_total{outcome="retrying",attempt="1"}"#
        ),
        Some(1.0)
    );
    app.stop().await;
}
