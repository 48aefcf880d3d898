//! Callback delivery end to end: real service, real PostgREST + PostgreSQL,
//! real HTTP receivers on 127.0.0.1.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use rosetta_webhook::delivery::schedule::RetrySchedule;
use rosetta_webhook::delivery::ssrf::StaticResolver;
use rosetta_webhook::standard_webhooks::{self, SigningSecret};
use rosetta_webhook::Dependencies;
use serde_json::{json, Value};

use crate::support::process::ServiceProcess;
use crate::support::receiver::{Receiver, Reply};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);

async fn send_with_callback(app: &TestApp, callback_url: &str, results: usize) -> (String, Value) {
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", results);
    body["client_id"] = json!("acme");
    body["callback_url"] = json!(callback_url);
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    (job_id, body)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verifies(received: &crate::support::receiver::Received) -> bool {
    standard_webhooks::verify(
        &[SigningSecret::parse(CALLBACK_SECRET).unwrap()],
        &received.header("webhook-id"),
        &received.header("webhook-timestamp"),
        &received.header("webhook-signature"),
        &received.body,
        now(),
        300,
    )
    .is_ok()
}

#[tokio::test]
async fn the_receiver_gets_one_signed_post_with_the_whole_job() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let receiver = Receiver::start(vec![]).await;
    let (job_id, sent) = send_with_callback(&app, &receiver.url, 3).await;

    let callback = wait_for_callback_state(&app, &job_id, &["delivered"], WAIT).await;
    assert_eq!(callback["attempts"], 1);
    assert_eq!(callback["last_status"], 200);
    assert!(callback["delivered_at"].is_string());
    assert_eq!(callback["next_attempt_at"], Value::Null);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "exactly one POST");
    let post = &received[0];
    assert!(
        verifies(post),
        "signature verifies with the Standard Webhooks verifier"
    );
    assert_eq!(post.header("content-type"), "application/json");
    let delivered = post.json();
    assert_eq!(delivered["job_id"], job_id);
    assert_eq!(delivered["status"], "completed");
    assert_eq!(delivered["metadata"], sent["metadata"]);
    assert_eq!(
        delivered["results"], sent["results"],
        "every result, as sent"
    );
    assert!(delivered.get("callback").is_none());
    assert!(delivered.get("next_cursor").is_none());

    // What the client would otherwise poll is what it was sent.
    let polled = json_body(app.poll(&job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;
    for key in [
        "job_id",
        "status",
        "progress",
        "metadata",
        "results",
        "created_at",
        "completed_at",
    ] {
        assert_eq!(polled[key], delivered[key], "{key}");
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_webhook_id_until_it_answers() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |c| {
        // Retries a second apart, so each attempt carries a new timestamp.
        c.callbacks.schedule = RetrySchedule::parse("1s,1s,1s").unwrap();
    })
    .await;
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(500)]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;

    let callback = wait_for_callback_state(&app, &job_id, &["delivered"], WAIT).await;
    assert_eq!(callback["attempts"], 3);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let ids: HashSet<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "one webhook-id on every retry: {ids:?}");
    let stamps: HashSet<String> = received
        .iter()
        .map(|r| r.header("webhook-timestamp"))
        .collect();
    assert_eq!(
        stamps.len(),
        3,
        "each attempt has its own timestamp: {stamps:?}"
    );
    assert!(received.iter().all(verifies));
}

#[tokio::test]
async fn gone_disables_the_callback() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let receiver = Receiver::start(vec![Reply::Status(410)]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    let callback = wait_for_callback_state(&app, &job_id, &["disabled"], WAIT).await;
    assert_eq!(callback["last_status"], 410);
    assert_eq!(callback["next_attempt_at"], Value::Null);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 1, "no attempt after 410");

    // A later webhook for the same job records no new delivery either.
    let mut later = webhook(&job_id, "completed", 2);
    later["callback_url"] = json!(receiver.url);
    json_body(app.post_webhook(&later).await, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "410 stops callbacks for the whole job"
    );
    let deliveries = app.db().scalar(&format!(
        "select count(*) from callback_deliveries where job_id = '{job_id}'"
    ));
    assert_eq!(deliveries, "1");
}

#[tokio::test]
async fn a_receiver_that_never_succeeds_exhausts_the_schedule() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await; // schedule: 200ms x3, so 4 attempts
    let receiver = Receiver::start(vec![Reply::Status(500); 10]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    let callback = wait_for_callback_state(&app, &job_id, &["exhausted"], WAIT).await;
    assert_eq!(callback["attempts"], 4);
    assert_eq!(callback["last_status"], 500);
    assert!(callback["last_error"]
        .as_str()
        .unwrap()
        .starts_with("HTTP 500"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let receiver = Receiver::start(vec![Reply::WithHeader(429, "retry-after", "2".into())]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    wait_for_callback_state(&app, &job_id, &["delivered"], WAIT).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let elsewhere = Receiver::start(vec![]).await;
    let receiver = Receiver::start(vec![
        Reply::WithHeader(
            302,
            "location",
            elsewhere.url.clone()
        );
        10
    ])
    .await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    let callback = wait_for_callback_state(&app, &job_id, &["exhausted"], WAIT).await;
    assert_eq!(callback["last_status"], 302);
    let error = callback["last_error"].as_str().unwrap();
    assert!(
        error.contains("redirect") && error.contains(&elsewhere.url),
        "{error}"
    );
    assert!(
        elsewhere.received().is_empty(),
        "the redirect target got nothing"
    );
}

/// A listener on 127.0.0.2 that counts connections: proof that a refused
/// callback opened none.
struct Tripwire {
    port: u16,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tripwire {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn internal_addresses_are_refused_without_a_connection() {
    let tripwire = Tripwire::start().await;
    let port = tripwire.port;
    let resolver = StaticResolver(HashMap::from([(
        "rebind.test".to_owned(),
        vec!["127.0.0.2".parse().unwrap()],
    )]));
    let stack = Stack::isolated("ssrf");
    let config = test_config(&stack.postgrest.url()); // only 127.0.0.1/32 allowed
    let mut dependencies = Dependencies::from_config(&config).await.unwrap();
    dependencies.resolver = Arc::new(resolver);
    let app = TestApp::start_with(config, dependencies, stack).await;

    for url in [
        format!("http://127.0.0.2:{port}/cb"),
        format!("http://[::ffff:127.0.0.2]:{port}/cb"),
        format!("http://0177.0.0.2:{port}/cb"),
        format!("http://0x7f.0.0.2:{port}/cb"),
        format!("http://2130706434:{port}/cb"),
        format!("http://rebind.test:{port}/cb"),
    ] {
        let (job_id, _) = send_with_callback(&app, &url, 1).await;
        let callback = wait_for_callback_state(&app, &job_id, &["disabled"], WAIT).await;
        let error = callback["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("127.0.0.2"),
            "{url}: {error}"
        );
        assert_eq!(callback["attempts"], 1, "{url}: never retried");
        assert_eq!(callback["last_status"], Value::Null);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tripwire.connections(), 0, "no connection reached 127.0.0.2");
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |c| {
        c.callbacks.policy.allow_http = false
    })
    .await;
    let receiver = Receiver::start(vec![]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    let callback = wait_for_callback_state(&app, &job_id, &["disabled"], WAIT).await;
    assert!(
        callback["last_error"].as_str().unwrap().contains("https"),
        "{callback}"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_job_without_a_callback_shows_none_and_sends_none() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let job_id = new_job_id();
    json_body(
        app.post_webhook(&webhook(&job_id, "completed", 1)).await,
        StatusCode::OK,
    )
    .await;
    let job = json_body(app.poll(&job_id, Some(ADMIN_KEY), "").await, StatusCode::OK).await;
    assert!(job.get("callback").is_none(), "{job}");
    let deliveries = app.db().scalar(&format!(
        "select count(*) from callback_deliveries where job_id = '{job_id}'"
    ));
    assert_eq!(deliveries, "0");
}

#[tokio::test]
async fn the_same_webhook_twice_records_one_delivery() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |_| {}).await;
    let receiver = Receiver::start(vec![]).await;
    let (job_id, body) = send_with_callback(&app, &receiver.url, 2).await;
    json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    wait_for_callback_state(&app, &job_id, &["delivered"], WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries = app.db().scalar(&format!(
        "select count(*) from callback_deliveries where job_id = '{job_id}'"
    ));
    assert_eq!(deliveries, "1");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn two_instances_deliver_every_callback_exactly_once() {
    let stack = Stack::isolated("two");
    let first = TestApp::spawn_on(stack.clone(), |_| {}).await;
    let second = TestApp::spawn_on(stack, |_| {}).await;
    let receiver = Receiver::start(vec![]).await;
    let mut job_ids = Vec::new();
    for i in 0..200 {
        let app = if i % 2 == 0 { &first } else { &second };
        let (job_id, _) = send_with_callback(app, &receiver.url, 1).await;
        job_ids.push(job_id);
    }
    let received = receiver.wait_for(200, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_after = receiver.received();
    assert_eq!(received_after.len(), received.len(), "no late duplicates");
    assert_eq!(received_after.len(), 200, "none delivered twice");
    let delivered_jobs: HashSet<String> = received_after
        .iter()
        .map(|r| r.json()["job_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        delivered_jobs,
        job_ids.iter().cloned().collect::<HashSet<_>>()
    );
    let ids: HashSet<String> = received_after
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), 200);
    let list = job_ids
        .iter()
        .map(|j| format!("'{j}'"))
        .collect::<Vec<_>>()
        .join(",");
    let delivered = first.db().scalar(&format!(
        "select count(*) from callback_deliveries where state = 'delivered' and job_id in ({list})"
    ));
    assert_eq!(delivered, "200");
}

#[tokio::test]
async fn the_first_attempt_does_not_wait_for_the_sweeper() {
    let app = TestApp::spawn_on(Stack::isolated("cb"), |c| {
        c.callbacks.poll_interval = Duration::from_secs(60)
    })
    .await;
    // Let the worker's start-up pass finish so only the wake-up can deliver.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let receiver = Receiver::start(vec![]).await;
    let sent_at = Instant::now();
    send_with_callback(&app, &receiver.url, 1).await;
    receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(sent_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_delivery_survives_the_death_of_the_instance_sending_it() {
    let stack = Stack::isolated("kill");
    // The first attempt is held open, so the instance dies mid-delivery.
    let receiver = Receiver::start(vec![Reply::Hold]).await;
    let settings = [
        ("CALLBACK_TIMEOUT", "5s"),
        ("CALLBACK_LEASE", "6s"),
        ("CALLBACK_POLL_INTERVAL", "200ms"),
    ];
    let doomed = ServiceProcess::start(&stack.postgrest.url(), &settings).await;

    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 2);
    body["callback_url"] = json!(receiver.url);
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = rosetta_webhook::signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    let ack = reqwest::Client::new()
        .post(format!(
            "{}{}",
            doomed.url,
            rosetta_webhook::http::WEBHOOK_PATH
        ))
        .header("x-webhook-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), StatusCode::OK);
    receiver.wait_for(1, Duration::from_secs(5)).await;
    doomed.kill();

    let restarted = ServiceProcess::start(&stack.postgrest.url(), &settings).await;
    let received = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert!(verifies(&received[1]));
    assert_eq!(received[1].json()["results"].as_array().unwrap().len(), 2);
    let deadline = Instant::now() + WAIT;
    loop {
        let state = stack.db.scalar(&format!(
            "select state from callback_deliveries where job_id = '{job_id}'"
        ));
        if state == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "state {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    restarted.terminate();
    assert!(restarted.wait().await.0.success());
}

#[tokio::test]
async fn shutdown_lets_the_attempt_in_flight_finish_and_frees_its_lease() {
    let stack = Stack::isolated("drain");
    let app = TestApp::spawn_on(stack.clone(), |_| {}).await; // attempt timeout 2 s
    let receiver = Receiver::start(vec![Reply::Hold]).await;
    let (job_id, _) = send_with_callback(&app, &receiver.url, 1).await;
    receiver.wait_for(1, Duration::from_secs(5)).await;

    let stopping = Instant::now();
    app.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(9),
        "drained within Cloud Run's grace"
    );
    let row = stack.db.json(&format!(
        "select row_to_json(d) from callback_deliveries d where job_id = '{job_id}'"
    ));
    assert_eq!(
        row["state"], "failed",
        "the attempt finished and was recorded: {row}"
    );
    assert_eq!(row["attempts"], 1);
    assert_eq!(
        row["lease_owner"],
        Value::Null,
        "no lease is left held: {row}"
    );
    assert!(
        row["last_error"].as_str().unwrap().contains("no answer"),
        "{row}"
    );
    assert!(
        row["next_attempt_at"].is_string(),
        "another instance will retry it"
    );
}
