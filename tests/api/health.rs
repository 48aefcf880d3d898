//! Probes and the fallbacks for routes that do not exist.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn healthz_and_readyz_answer_on_a_migrated_store() {
    let app = TestApp::spawn().await;
    assert_eq!(
        json_body(app.get("/healthz").await, StatusCode::OK).await,
        json!({"status": "ok"})
    );
    let ready = json_body(app.get("/readyz").await, StatusCode::OK).await;
    assert_eq!(ready["store"], "ready");
}

#[tokio::test]
async fn readyz_is_503_when_the_migrations_are_missing() {
    let db = TestDb::unmigrated("bare");
    let postgrest = Postgrest::start_with_pool(&db, 2);
    let app = TestApp::spawn_on(Arc::new(Stack { db, postgrest }), |_| {}).await;
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "alive, not ready"
    );
    let error = json_body(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(error["error"], "store_unavailable");

    // A webhook is refused with a retryable 503, not a 500 or a 200.
    let response = app
        .post_webhook(&webhook(&new_job_id(), "completed", 1))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let error = json_body(app.get("/api/v1/nothing").await, StatusCode::NOT_FOUND).await;
    assert_eq!(error["error"], "route_not_found");
    let response = app.get(rosetta_webhook::http::WEBHOOK_PATH).await;
    let error = json_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(error["error"], "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let echoed = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "engine-trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "engine-trace-123");
}
