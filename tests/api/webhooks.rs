//! The completion webhook against real PostgREST + PostgreSQL.

use reqwest::StatusCode;
use rosetta_webhook::signature;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn valid_webhook_is_acknowledged_and_reaches_the_store_whole() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let body = webhook_with_every_field(&job_id);

    let receipt = json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    assert_eq!(
        receipt,
        json!({"received": true, "job_id": job_id, "job_status": "completed", "results_stored": 2})
    );

    // Every column as stored is the conformance suite's to check
    // (conformance::*::ingest_stores_every_field); here: what the engine
    // sent went through the handler whole, and reads back as sent.
    let polled = json_body(app.poll(&job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;
    assert_eq!(
        polled["results"], body["results"],
        "unknown result keys too"
    );
    assert_eq!(polled["metadata"], body["metadata"]);
    let job = app.job_row(&job_id);
    assert_eq!(job["callback_url"], UNREACHABLE_CALLBACK);
    assert_eq!(job["extra"], json!({"engine_version": "rosetta-2.4"}));
}

#[tokio::test]
async fn bad_signatures_are_401_and_store_nothing() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let bytes = serde_json::to_vec(&webhook(&job_id, "completed", 1)).unwrap();
    let good = signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    let mut tampered = bytes.clone();
    let at = tampered.len() - 3;
    tampered[at] = b'9';

    let cases: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
        ("missing", bytes.clone(), None, "missing_signature"),
        (
            "wrong",
            bytes.clone(),
            Some("ab".repeat(32)),
            "invalid_signature",
        ),
        (
            "not hex",
            bytes.clone(),
            Some("not-a-signature".into()),
            "invalid_signature",
        ),
        (
            "body changed after signing",
            tampered,
            Some(good.clone()),
            "invalid_signature",
        ),
        (
            "retired secret",
            bytes.clone(),
            Some(signature::sign(RETIRED_SECRET.as_bytes(), &bytes)),
            "invalid_signature",
        ),
    ];
    for (case, body, header, code) in cases {
        let response = app.post_raw(body, header.as_deref()).await;
        let error = json_body(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error["error"], code, "{case}");
        assert_eq!(error["status"], "error", "{case}");
    }
    assert_eq!(app.job_row(&job_id), Value::Null);
    assert!(app.result_rows(&job_id).is_empty());
}

#[tokio::test]
async fn prefixed_signature_and_second_secret_are_accepted() {
    let app = TestApp::spawn().await;
    for header in [
        |b: &[u8]| format!("sha256={}", signature::sign(PRIMARY_SECRET.as_bytes(), b)),
        |b: &[u8]| signature::sign(SECONDARY_SECRET.as_bytes(), b),
    ] {
        let job_id = new_job_id();
        let bytes = serde_json::to_vec(&webhook(&job_id, "completed", 1)).unwrap();
        let response = app.post_raw(bytes.clone(), Some(&header(&bytes))).await;
        let receipt = json_body(response, StatusCode::OK).await;
        assert_eq!(receipt["job_id"], job_id);
        assert_eq!(app.result_rows(&job_id).len(), 1);
    }
}

#[tokio::test]
async fn the_same_webhook_twice_leaves_the_state_of_one() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let body = webhook(&job_id, "completed", 3);
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    let job_once = app.job_row(&job_id);
    let rows_once = app.result_rows(&job_id);

    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    let job_twice = app.job_row(&job_id);
    let rows_twice = app.result_rows(&job_id);

    // Only the bookkeeping timestamp moves; ids, values, created_at and
    // completed_at are what one send left.
    let strip_updated = |mut v: Value| {
        v.as_object_mut().unwrap().remove("updated_at");
        v
    };
    assert_eq!(strip_updated(job_twice), strip_updated(job_once));
    assert_eq!(rows_twice.len(), 3);
    assert_eq!(
        rows_twice
            .into_iter()
            .map(strip_updated)
            .collect::<Vec<_>>(),
        rows_once.into_iter().map(strip_updated).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_later_webhook_adds_results_and_advances_counters() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let mut first = webhook(&job_id, "partial", 2);
    first["metadata"] = json!({"total_products": 4, "completed": 2, "failed": 0});
    json_body(app.post_webhook(&first).await, StatusCode::OK).await;
    assert_eq!(app.job_row(&job_id)["completed_at"], Value::Null);

    let mut second = webhook(&job_id, "completed", 4);
    second["results"][0]["hts_code"] = json!("6109.90.10");
    second["metadata"] = json!({"total_products": 4, "completed": 3, "failed": 1});
    let receipt = json_body(app.post_webhook(&second).await, StatusCode::OK).await;
    assert_eq!(receipt["results_stored"], 4);

    let job = app.job_row(&job_id);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["completed_products"], 3);
    assert_eq!(job["failed_products"], 1);
    assert!(job["completed_at"].is_string());
    let rows = app.result_rows(&job_id);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["SKU-00000", "SKU-00001", "SKU-00002", "SKU-00003"]);
    assert_eq!(rows[0]["hts_code"], "6109.90.10", "the newer value wins");
}

#[tokio::test]
async fn a_late_partial_never_downgrades_a_completed_job() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 3)).await,
        StatusCode::OK,
    )
    .await;
    let completed = app.job_row(&job_id);

    let late = late_partial_retry(&job_id);
    let receipt = json_body(app.post_webhook(&late).await, StatusCode::OK).await;
    assert_eq!(receipt["job_status"], "completed");

    let job = app.job_row(&job_id);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["completed_products"], 3, "counters never go backwards");
    assert_eq!(job["completed_at"], completed["completed_at"]);
    assert_eq!(
        job["metadata"], completed["metadata"],
        "stale metadata is not applied"
    );
    let rows = app.result_rows(&job_id);
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().any(|r| r["product_id"] == "SKU-LATE"),
        "its results are stored"
    );
}

#[tokio::test]
async fn a_webhook_keeps_what_the_submission_side_stored() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    create_pending_job(app.db(), &job_id, "acme", UNREACHABLE_CALLBACK, 2);
    let created = app.job_row(&job_id);

    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 2)).await,
        StatusCode::OK,
    )
    .await;
    let job = app.job_row(&job_id);
    assert_eq!(job["client_id"], "acme");
    assert_eq!(job["callback_url"], UNREACHABLE_CALLBACK);
    assert_eq!(job["created_at"], created["created_at"]);
    assert_eq!(job["status"], "completed");
}

#[tokio::test]
async fn five_thousand_results_are_all_stored() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let receipt = json_body(
        app.post_webhook(&webhook(&job_id, "completed", 5000)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["results_stored"], 5000);
    let stored = app.db().scalar(&format!(
        "select count(distinct product_id) from classification_results where job_id = '{job_id}'"
    ));
    assert_eq!(stored, "5000");
}

#[tokio::test]
async fn malformed_bodies_name_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let valid = webhook(&job_id, "completed", 2);
    let with = |mutate: &dyn Fn(&mut Value)| {
        let mut body = valid.clone();
        mutate(&mut body);
        serde_json::to_vec(&body).unwrap()
    };
    let error = json_body(
        app.post_signed(b"{\"job_id\": ".to_vec()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["error"], "invalid_json", "{error}");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "missing job_id",
            with(&|b| drop(b.as_object_mut().unwrap().remove("job_id"))),
            "job_id",
        ),
        (
            "non-UUID job_id",
            with(&|b| b["job_id"] = json!("job-42")),
            "job_id",
        ),
        (
            "unknown status",
            with(&|b| b["status"] = json!("done")),
            "status",
        ),
        (
            "confidence 1.5",
            with(&|b| b["results"][1]["confidence"] = json!(1.5)),
            "results[1].confidence",
        ),
        (
            "result without product_id",
            with(&|b| {
                drop(
                    b["results"][1]
                        .as_object_mut()
                        .unwrap()
                        .remove("product_id"),
                )
            }),
            "results[1].product_id",
        ),
        (
            "NUL in a description",
            with(&|b| b["results"][0]["product_description"] = json!("cotton\u{0}shirt")),
            "results[0].product_description",
        ),
    ];
    for (case, body, field) in cases {
        let error = json_body(
            app.post_signed(body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["error"], "validation_failed", "{case}: {error}");
        assert_eq!(error["field"], field, "{case}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{case}: {error}");
    }
    assert_eq!(app.job_row(&job_id), Value::Null);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_stores_nothing() {
    let app = TestApp::spawn_with(|config| config.max_body_bytes = 4096).await;
    let job_id = new_job_id();
    let body = webhook(&job_id, "completed", 40);
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(bytes.len() > 4096);
    let signature = signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);

    let error = json_body(
        app.post_raw(bytes.clone(), Some(&signature)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(error["error"], "payload_too_large");

    // Without Content-Length (chunked), the limit still holds while streaming.
    let (status, text) = post_chunked(&app.address, &bytes, &signature).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    assert_eq!(app.job_row(&job_id), Value::Null);

    let small = webhook(&job_id, "completed", 1);
    json_body(app.post_webhook(&small).await, StatusCode::OK).await;
}

/// A raw HTTP/1.1 request with a chunked body (no Content-Length), so the
/// limit must be enforced while streaming. Returns the status and body text.
async fn post_chunked(address: &str, body: &[u8], signature: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Webhook-Signature: {signature}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        rosetta_webhook::http::WEBHOOK_PATH
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(1024) {
        // The server may answer and close before it has read everything.
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}
