//! Hostile bodies, each correctly signed so it reaches the parser: every
//! one is a 4xx in the error shape, never a 500, and none stores anything.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn hostile_bodies_are_4xx_and_store_nothing() {
    let app = TestApp::spawn_on(Stack::isolated("hostile"), |_| {}).await;
    let before = row_counts(app.db());
    let job_id = new_job_id();
    let valid = |rest: &str| {
        format!(r#"{{"job_id": "{job_id}", "status": "completed", "results": [{rest}]}}"#)
    };
    let mut deep = "[".repeat(100_000);
    deep.push_str(&"]".repeat(100_000));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "invalid_json"),
        ("null", b"null".to_vec(), "validation_failed"),
        ("a top-level array", b"[]".to_vec(), "validation_failed"),
        (
            "an array of webhooks",
            format!("[{}]", valid("")).into_bytes(),
            "validation_failed",
        ),
        (
            "10 MB of whitespace",
            vec![b' '; 10 * 1024 * 1024],
            "invalid_json",
        ),
        ("deeply nested arrays", deep.into_bytes(), "json_too_deep"),
        (
            "invalid UTF-8",
            [b"{\"job_id\": \"".as_slice(), b"\xff\xfe", b"\"}"].concat(),
            "invalid_json",
        ),
        (
            "duplicate keys",
            format!(
                r#"{{"job_id": "{job_id}", "status": "completed", "status": "partial"}}"#
            )
            .into_bytes(),
            "duplicate_key",
        ),
        (
            "duplicate keys in a result",
            valid(r#"{"product_id": "a", "product_id": "b"}"#).into_bytes(),
            "duplicate_key",
        ),
        (
            "1e400",
            valid(r#"{"product_id": "a", "confidence": 1e400}"#).into_bytes(),
            "invalid_json",
        ),
        (
            "a UUID with trailing garbage",
            format!(r#"{{"job_id": "{job_id}garbage", "status": "completed"}}"#).into_bytes(),
            "validation_failed",
        ),
        (
            "NaN",
            valid(r#"{"product_id": "a", "confidence": NaN}"#).into_bytes(),
            "invalid_json",
        ),
        (
            "Infinity",
            valid(r#"{"product_id": "a", "duty_rate": -Infinity}"#).into_bytes(),
            "invalid_json",
        ),
        (
            "a byte-order mark",
            [b"\xef\xbb\xbf".as_slice(), valid("").as_bytes()].concat(),
            "invalid_json",
        ),
        (
            "a lone surrogate",
            valid(r#"{"product_id": "\ud800"}"#).into_bytes(),
            "invalid_json",
        ),
        (
            "two documents",
            format!("{} {}", valid(""), valid("")).into_bytes(),
            "invalid_json",
        ),
        (
            "a NUL escape",
            valid(r#"{"product_id": "a\u0000b"}"#).into_bytes(),
            "validation_failed",
        ),
        (
            "a number as status",
            format!(r#"{{"job_id": "{job_id}", "status": 1}}"#).into_bytes(),
            "validation_failed",
        ),
        (
            "a huge integer counter",
            format!(
                r#"{{"job_id": "{job_id}", "status": "completed", "metadata": {{"completed": 99999999999999999999999}}}}"#
            )
            .into_bytes(),
            "validation_failed",
        ),
    ];
    for (case, body, code) in cases {
        let response = app.post_signed(body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_client_error(), "{case}: {status} {text}");
        let error: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{case}: {e}: {text}"));
        assert_eq!(error["status"], "error", "{case}");
        assert_eq!(error["error"], code, "{case}: {text}");
    }
    assert_eq!(
        row_counts(app.db()),
        before,
        "a hostile body stored something"
    );

    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 1)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.result_rows(&job_id).len(), 1);
}
