//! The release binary as Cloud Run runs it: configuration from the
//! environment, JSON logs, SIGTERM.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::process::{assert_no_secret, command, ServiceProcess};
use crate::support::*;

#[test]
fn a_missing_secret_or_malformed_keys_stop_start_up_naming_the_variable() {
    for (vars, variable) in [
        (
            vec![("POSTGREST_URL", "http://127.0.0.1:9")],
            "WEBHOOK_SECRET",
        ),
        (
            vec![
                ("WEBHOOK_SECRET", "s"),
                ("POSTGREST_URL", "http://127.0.0.1:9"),
                ("API_KEYS", "acme:"),
                ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET),
            ],
            "API_KEYS",
        ),
    ] {
        let output = command(&vars).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{vars:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "rosetta-webhook: invalid configuration: {variable}:"
            )),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn the_binary_serves_logs_json_without_secrets_and_stops_cleanly_on_sigterm() {
    let stack = shared();
    let service = ServiceProcess::start(
        &stack.postgrest.url(),
        &[("K_SERVICE", "rosetta-webhook"), ("LOG_FORMAT", "")],
    )
    .await;

    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 2);
    body["client_id"] = json!("acme");
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = rosetta_webhook::signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    let stored = service.post_webhook(&bytes, &signature, &[]).await;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(
        service.poll(&job_id, ACME_KEY, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        service.poll(&job_id, GLOBEX_KEY, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    service.terminate();
    let started = Instant::now();
    let (status, logs) = service.wait().await;
    assert!(status.success(), "exit status {status:?} after SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Cloud Run allows 10 s"
    );

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "webhook stored" && l["spans"].to_string().contains(&job_id)),
        "{logs}"
    );
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("shutting down")));
    assert_no_secret(&logs, &[&signature]);
}
