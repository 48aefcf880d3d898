//! The release binary's logs as Cloud Logging reads them: one JSON object a
//! line with `severity`, the request's trace, `httpRequest` on request lines,
//! and no secret anywhere in a whole scenario's output.

use std::time::Duration;

use reqwest::StatusCode;
use rosetta_webhook::http::{INTERNAL_DELIVERIES_PATH, METRICS_PATH, WEBHOOK_PATH};
use serde_json::{json, Value};

use crate::support::process::{assert_no_secret, ServiceProcess};
use crate::support::receiver::Receiver;
use crate::support::*;

const PROJECT: &str = "rosetta-logs-test";
const TRACE_ID: &str = "105445aa7843bc8bf206b12000100000";
const CLOUD_TRACE: &str = "105445aa7843bc8bf206b12000100000/1;o=1";
const W3C_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INTERNAL_TOKEN: &str = "logs-test-internal-token-0123456789abcdef";

#[tokio::test]
async fn a_scenario_logs_cloud_logging_json_with_traces_and_no_secret() {
    let stack = Stack::isolated("logs");
    let service = ServiceProcess::start(
        &stack.postgrest.url(),
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
            ("CALLBACK_WORKER", "off"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let receiver = Receiver::start(vec![]).await;

    // A stored webhook, traced by Google's front end.
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 2);
    body["client_id"] = json!("acme");
    body["callback_url"] = json!(receiver.url);
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = rosetta_webhook::signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    let stored = service
        .post_webhook(
            &bytes,
            &signature,
            &[("x-cloud-trace-context", CLOUD_TRACE)],
        )
        .await;
    assert_eq!(stored.status(), StatusCode::OK);
    // A forged one, traced with W3C traceparent.
    let forged = rosetta_webhook::signature::sign(b"forged", &bytes);
    let traceparent = format!("00-{W3C_TRACE_ID}-00f067aa0ba902b7-01");
    let refused = service
        .post_webhook(&bytes, &forged, &[("traceparent", &traceparent)])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Polls with a good key and a key of another service.
    let traced = [("x-cloud-trace-context", CLOUD_TRACE)];
    let own = service.poll(&job_id, ACME_KEY, &traced).await;
    assert_eq!(own.status(), StatusCode::OK);
    let foreign = service.poll(&job_id, GLOBEX_KEY, &traced).await;
    assert_eq!(foreign.status(), StatusCode::UNAUTHORIZED);
    // The scheduler's run, with a wrong and the right token, then a scrape.
    let internal = |token: String| {
        client
            .post(format!("{}{INTERNAL_DELIVERIES_PATH}", service.url))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let wrong = internal(format!("{INTERNAL_TOKEN}-wrong")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ran = internal(INTERNAL_TOKEN.to_owned()).await.unwrap();
    assert_eq!(ran.status(), StatusCode::OK);
    receiver.wait_for(1, Duration::from_secs(5)).await;
    let scraped = client
        .get(format!("{}{METRICS_PATH}", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);

    service.terminate();
    let (status, logs) = service.wait().await;
    assert!(status.success(), "{status:?}");

    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 6, "{logs}");
    for line in &lines {
        let severity = line["severity"]
            .as_str()
            .unwrap_or_else(|| panic!("no severity: {line}"));
        assert!(
            ["DEBUG", "INFO", "WARNING", "ERROR"].contains(&severity),
            "{line}"
        );
        assert!(
            line["message"].is_string() && line.get("level").is_none(),
            "{line}"
        );
    }
    let find = |message: &str, status: Option<u64>| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["message"] == message)
            .filter(|l| status.is_none_or(|s| l["httpRequest"]["status"] == s))
            .collect()
    };
    let trace = format!("projects/{PROJECT}/traces/{TRACE_ID}");

    let stored_line = find("webhook stored", None);
    assert_eq!(stored_line.len(), 1, "{logs}");
    assert_eq!(
        stored_line[0]["logging.googleapis.com/trace"],
        trace.as_str()
    );
    assert_eq!(
        stored_line[0]["logging.googleapis.com/spanId"],
        "0000000000000001"
    );
    assert_eq!(stored_line[0]["logging.googleapis.com/trace_sampled"], true);
    assert_eq!(stored_line[0]["severity"], "INFO");
    assert_eq!(stored_line[0]["span"]["job_id"], job_id.as_str());

    let refusals = find("request refused", Some(401));
    assert_eq!(
        refusals.len(),
        3,
        "forged webhook, foreign key, wrong token: {logs}"
    );
    let forged_line = refusals
        .iter()
        .find(|l| l["code"] == "invalid_signature")
        .expect("the forged webhook's line");
    assert_eq!(
        forged_line["logging.googleapis.com/trace"],
        format!("projects/{PROJECT}/traces/{W3C_TRACE_ID}").as_str()
    );
    assert_eq!(forged_line["httpRequest"]["requestMethod"], "POST");
    assert_eq!(forged_line["httpRequest"]["requestUrl"], WEBHOOK_PATH);
    assert!(forged_line["httpRequest"]["latency"]
        .as_str()
        .unwrap()
        .ends_with('s'));
    let key_line = refusals
        .iter()
        .find(|l| l["code"] == "invalid_api_key")
        .unwrap();
    assert_eq!(key_line["logging.googleapis.com/trace"], trace.as_str());
    assert_eq!(key_line["span"]["route"], "/api/v1/jobs/{job_id}");
    let run_line = find("scheduled delivery run", None);
    assert_eq!(run_line.len(), 1, "{logs}");
    assert_eq!(run_line[0]["delivered"], 1);
    assert_eq!(find("callback delivered", None).len(), 1, "{logs}");

    assert_no_secret(&logs, &[INTERNAL_TOKEN, &signature, &forged]);
}
