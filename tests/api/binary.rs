//! The release binary as Cloud Run runs it: configuration from the
//! environment, JSON logs, SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::stack::{free_port, service_role_jwt};
use crate::support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_rosetta-webhook");

/// Runs the binary in an empty directory (so no developer `.env` is read)
/// with exactly `vars` as its environment.
fn command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir());
    command
}

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
    let port = free_port().to_string();
    let jwt = service_role_jwt();
    let postgrest_url = stack.postgrest.url();
    let api_keys = format!("acme:{ACME_KEY}");
    let mut child = command(&[
        ("HOST", "127.0.0.1"),
        ("PORT", &port),
        ("WEBHOOK_SECRET", PRIMARY_SECRET),
        ("API_KEYS", &api_keys),
        ("POSTGREST_URL", &postgrest_url),
        ("SUPABASE_SERVICE_ROLE_KEY", &jwt),
        ("K_SERVICE", "rosetta-webhook"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    let app_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("{app_url}/readyz"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "the binary never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 2);
    body["client_id"] = json!("acme");
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = rosetta_webhook::signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    let stored = client
        .post(format!("{app_url}{}", rosetta_webhook::http::WEBHOOK_PATH))
        .header("x-webhook-signature", &signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let polled = client
        .get(format!("{app_url}/api/v1/jobs/{job_id}"))
        .header("x-api-key", ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), StatusCode::OK);
    let refused = client
        .get(format!("{app_url}/api/v1/jobs/{job_id}"))
        .header("x-api-key", GLOBEX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        (status, stdout)
    })
    .await
    .unwrap();
    let (status, logs) = output;
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
    for secret in [
        PRIMARY_SECRET,
        ACME_KEY,
        GLOBEX_KEY,
        jwt.as_str(),
        signature.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
}
