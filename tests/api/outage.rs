//! The store going away: the engine is told to retry, never told "stored".

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn webhook_gets_503_while_postgrest_is_down_and_is_stored_after() {
    let stack = shared();
    let postgrest = Postgrest::start(&stack.db);
    let config = test_config(&postgrest.url());
    let app = TestApp::start_with(config.clone(), test_dependencies(&config).await, stack).await;
    let job_id = new_job_id();
    let body = webhook(&job_id, "completed", 3);

    postgrest.stop();
    let response = app.post_webhook(&body).await;
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let error = json_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(error["error"], "store_unavailable");
    assert_eq!(app.job_row(&job_id), Value::Null);
    let ready = json_body(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(ready["error"], "store_unavailable");

    postgrest.restart();
    let receipt = json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    assert_eq!(receipt["results_stored"], 3);
    assert_eq!(app.result_rows(&job_id).len(), 3);
    app.stop().await;
}
