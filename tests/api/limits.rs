//! The limits a hostile or broken sender meets: each answers its own error
//! code, stores nothing, and leaves the service answering the next request.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rosetta_webhook::domain::json::MAX_DEPTH;
use rosetta_webhook::domain::limits::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn polls_past_the_burst_are_429_with_retry_after_per_key() {
    let app = TestApp::spawn_with(|config| {
        config.limits.poll_rate_per_second = 1;
        config.limits.poll_burst = 3;
    })
    .await;
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 1);
    body["client_id"] = json!("acme");
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;

    for _ in 0..3 {
        assert_eq!(
            app.poll(&job_id, Some(ACME_KEY), "").await.status(),
            StatusCode::OK
        );
    }
    let refused = app.poll(&job_id, Some(ACME_KEY), "").await;
    let wait = retry_after(&refused).expect("Retry-After on a 429");
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    let error = json_body(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error["error"], "rate_limited");
    // The results stream shares the key's allowance.
    let stream = app
        .client
        .get(format!("{}/api/v1/jobs/{job_id}/results", app.address))
        .header("x-api-key", ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::TOO_MANY_REQUESTS);
    // Keyed by API key: another key is not affected; a wrong key is still 401.
    assert_eq!(
        app.poll(&job_id, Some(ADMIN_KEY), "").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.poll(&job_id, Some("not-a-key"), "").await.status(),
        StatusCode::UNAUTHORIZED
    );

    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        app.poll(&job_id, Some(ACME_KEY), "").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn each_body_limit_has_its_code_and_stores_nothing() {
    let app = TestApp::spawn_with(|config| {
        config.max_body_bytes = 200_000;
        config.limits.max_results_per_webhook = 5;
    })
    .await;
    let long = |n: usize| "x".repeat(n);
    let mut deep = json!("leaf");
    for _ in 0..MAX_DEPTH {
        deep = json!([deep]);
    }
    type Mutation = Box<dyn Fn(&mut Value)>;
    /// What is broken, results in the body, how, and the answer expected.
    type Case = (
        &'static str,
        usize,
        Mutation,
        StatusCode,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "body over MAX_BODY_BYTES",
            1,
            Box::new(move |b| b["metadata"]["padding"] = json!(long(250_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            "results over MAX_RESULTS_PER_WEBHOOK",
            6,
            Box::new(|_| {}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_results",
            Some("results"),
        ),
        (
            "product_description",
            1,
            Box::new(move |b| {
                b["results"][0]["product_description"] =
                    json!(long(MAX_PRODUCT_DESCRIPTION_BYTES + 1))
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].product_description"),
        ),
        (
            "hts_code",
            1,
            Box::new(move |b| b["results"][0]["hts_code"] = json!(long(MAX_HTS_CODE_BYTES + 1))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].hts_code"),
        ),
        (
            "hts_description",
            1,
            Box::new(move |b| {
                b["results"][0]["hts_description"] = json!(long(MAX_HTS_DESCRIPTION_BYTES + 1))
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].hts_description"),
        ),
        (
            "product_id",
            1,
            Box::new(move |b| {
                b["results"][0]["product_id"] = json!(long(MAX_PRODUCT_ID_BYTES + 1))
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].product_id"),
        ),
        (
            "source",
            1,
            Box::new(move |b| b["results"][0]["source"] = json!(long(MAX_SOURCE_BYTES + 1))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].source"),
        ),
        (
            "a pga flag",
            1,
            Box::new(move |b| {
                b["results"][0]["pga_flags"] = json!(["FDA", long(MAX_PGA_FLAG_BYTES + 1)])
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            Some("results[0].pga_flags[1]"),
        ),
        (
            "pga_flags count",
            1,
            Box::new(|b| b["results"][0]["pga_flags"] = json!(vec!["FDA"; MAX_PGA_FLAGS + 1])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_items",
            Some("results[0].pga_flags"),
        ),
        (
            "JSON nesting depth",
            1,
            Box::new(move |b| b["metadata"]["trace"] = deep.clone()),
            StatusCode::BAD_REQUEST,
            "json_too_deep",
            None,
        ),
    ];
    for (case, results, mutate, status, code, field) in cases {
        let job_id = new_job_id();
        let mut body = webhook(&job_id, "completed", results);
        mutate(&mut body);
        let error = json_body(app.post_webhook(&body).await, status).await;
        assert_eq!(error["error"], code, "{case}: {error}");
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{case}: {error}");
        }
        assert_eq!(app.job_row(&job_id), Value::Null, "{case} stored something");
        // The next valid webhook is answered as usual.
        let next = new_job_id();
        json_body(
            app.post_webhook(&webhook(&next, "completed", 1)).await,
            StatusCode::OK,
        )
        .await;
    }
}

/// A request whose head is complete and whose body is not: it holds its
/// connection (and its ingest slot) until the service gives up on it.
async fn start_slow_upload(address: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Webhook-Signature: {}\r\nContent-Length: 1000\r\n\r\n{{\"job_id\": ",
        rosetta_webhook::http::WEBHOOK_PATH,
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes, or `None` if it is still
/// open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut received))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_the_next_request_is_served() {
    let app = TestApp::spawn_with(|config| {
        config.limits.header_read_timeout = Duration::from_millis(500);
        config.request_timeout = Duration::from_secs(1);
    })
    .await;
    let host = app.address.trim_start_matches("http://").to_owned();

    // Headers trickling in: closed without an answer once the deadline passes.
    let mut slowloris = TcpStream::connect(&host).await.unwrap();
    let started = Instant::now();
    slowloris
        .write_all(b"POST /api/v1/webhooks/classification-complete HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slowloris, Duration::from_secs(5))
        .await
        .expect("a connection without a complete head is closed");
    assert_eq!(answer, "", "nothing is answered to a request never read");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    // A body trickling in: the request timeout answers 503 timeout.
    let mut slow_body = start_slow_upload(&app.address).await;
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(5))
        .await
        .expect("a request whose body never completes is answered");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"error\":\"timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );

    let job_id = new_job_id();
    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 1)).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn ingests_past_the_concurrency_bound_are_503_before_their_body_is_read() {
    let app = TestApp::spawn_with(|config| {
        config.limits.max_concurrent_ingests = 1;
        config.request_timeout = Duration::from_secs(2);
    })
    .await;
    let mut slow = start_slow_upload(&app.address).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let job_id = new_job_id();
    let response = app.post_webhook(&webhook(&job_id, "completed", 1)).await;
    assert_eq!(retry_after(&response), Some(1));
    let error = json_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(error["error"], "overloaded");
    assert_eq!(app.job_row(&job_id), Value::Null);
    // Polls do not take ingest slots.
    assert_eq!(
        app.poll(&new_job_id(), Some(ADMIN_KEY), "").await.status(),
        StatusCode::NOT_FOUND
    );

    // The slow upload times out and frees its slot.
    let answer = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 503")));
    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 1)).await,
        StatusCode::OK,
    )
    .await;
}
