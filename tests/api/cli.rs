//! The command line, run as the real binary: `dev` on a fresh machine,
//! `check` before and after the migrations, `sign` and `send-sample`
//! against a running service, and `serve` on the embedded SQLite store.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use rosetta_webhook::store::REQUIRED_SCHEMA_VERSION;

use crate::support::process::{command, ServiceProcess, StreamingChild};
use crate::support::scratch::ScratchDir;
use crate::support::stack::{free_port, psql, service_role_jwt};
use crate::support::*;

/// Runs the binary to completion without blocking the test's runtime (the
/// service under test may be serving on it).
async fn run(vars: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = tokio::process::Command::from(command(vars))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        tokio::io::AsyncWriteExt::write_all(&mut input, bytes)
            .await
            .unwrap();
    }
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The value after `flag` in a printed command line.
fn argument<'a>(line: &'a str, flag: &str) -> &'a str {
    let mut words = line.split_whitespace();
    words.find(|w| *w == flag);
    words
        .next()
        .unwrap_or_else(|| panic!("no {flag} in {line}"))
}

/// The URL and the API key of a printed `curl ... -H 'X-Api-Key: KEY'` line.
fn curl_target(line: &str) -> (String, String) {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line}"))
        .to_owned();
    let key = line
        .split("X-Api-Key: ")
        .nth(1)
        .and_then(|rest| rest.split(['\'', '"']).next())
        .unwrap_or_else(|| panic!("no key in {line}"))
        .to_owned();
    (url, key)
}

/// A printed command line run as a user pastes it into a shell (with only
/// PATH from the environment: the secret must come from the line itself).
async fn paste(line: &str) -> Output {
    tokio::process::Command::new("sh")
        .args(["-c", line])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .unwrap()
}

fn start_dev(data_dir: &Path, cwd: &Path) -> (StreamingChild, u16) {
    let port = free_port();
    let mut dev = command(&[("PORT", &port.to_string())]);
    dev.args(["dev", "--data-dir"])
        .arg(data_dir)
        .current_dir(cwd);
    (StreamingChild::spawn(dev), port)
}

async fn get_job(url: &str, key: &str) -> Value {
    let response = reqwest::Client::new()
        .get(url)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    json_body(response, StatusCode::OK).await
}

#[tokio::test]
async fn dev_serves_a_sample_and_keeps_its_secrets_across_a_restart() {
    let scratch = ScratchDir::new("dev");
    let data_dir = scratch.path().join("data");
    let (dev, port) = start_dev(&data_dir, scratch.path());
    let wait = Duration::from_secs(30);
    let curl = dev
        .line(|l| l.trim_start().starts_with("curl "), wait)
        .await;
    let send = dev.line(|l| l.contains(" send-sample "), wait).await;
    let banner = dev.lines().join("\n");
    assert!(
        banner.starts_with(&format!(
            "rosetta-webhook dev: serving http://127.0.0.1:{port} (SQLite at "
        )),
        "{banner}"
    );
    let secret = argument(&send, "--secret").to_owned();
    let job_id = argument(&send, "--job-id").to_owned();
    assert!(
        banner.contains(&format!("  WEBHOOK_SECRET={secret}")),
        "printed in full once"
    );

    // The printed send-sample line, pasted into a shell.
    let sent = paste(&send).await;
    assert!(sent.status.success(), "{}", text(&sent));
    assert!(text(&sent).contains("HTTP 200 OK"), "{}", text(&sent));

    // The printed curl line's URL and key.
    let (url, key) = curl_target(&curl);
    assert_eq!(url, format!("http://127.0.0.1:{port}/api/v1/jobs/{job_id}"));
    let job = get_job(&url, &key).await;
    assert_eq!(job["job_id"], job_id.as_str());
    assert_eq!(job["status"], "completed");
    let results = job["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(results
        .iter()
        .all(|r| r["hts_code"].is_string() && r["pga_flags"].is_array()));

    let secrets_file = data_dir.join("secrets.env");
    let kept = std::fs::read_to_string(&secrets_file).unwrap();
    assert!(kept.contains(&format!("WEBHOOK_SECRET={secret}\n")));
    assert!(kept.contains(&format!("API_KEYS=*:{key}\n")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secrets file mode {mode:o}");
    }
    assert!(data_dir.join("rosetta-webhook.db").exists());
    assert!(dev.terminate().await.success());

    // Restarted: the same secrets, not printed again, and the job is still there.
    let (dev, port) = start_dev(&data_dir, scratch.path());
    let curl = dev
        .line(|l| l.trim_start().starts_with("curl "), wait)
        .await;
    let send = dev.line(|l| l.contains(" send-sample "), wait).await;
    let banner = dev.lines().join("\n");
    assert!(
        !banner.contains(&secret) && !banner.contains(&key),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "from {} (generated on an earlier run",
            secrets_file.display()
        )),
        "{banner}"
    );
    let job = get_job(
        &format!("http://127.0.0.1:{port}/api/v1/jobs/{job_id}"),
        &key,
    )
    .await;
    assert_eq!(
        job["results"].as_array().unwrap().len(),
        3,
        "kept across the restart"
    );

    // The restart's lines read the secrets from the file: they still paste.
    let sent = paste(&send).await;
    assert!(text(&sent).contains("HTTP 200 OK"), "{}", text(&sent));
    let second_job = argument(&send, "--job-id");
    let url = curl_target(&curl).0;
    assert!(url.ends_with(second_job), "{url}");
    assert_eq!(get_job(&url, &key).await["job_id"], second_job);
    assert!(dev.terminate().await.success());
}

/// Asserts that `out` has every one of `lines` (or parts of lines).
fn says(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
}

fn check_vars(postgrest_url: &str, jwt: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WEBHOOK_SECRET", PRIMARY_SECRET.to_owned()),
        ("API_KEYS", format!("acme:{ACME_KEY}")),
        ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET.to_owned()),
        ("POSTGREST_URL", postgrest_url.to_owned()),
        ("SUPABASE_SERVICE_ROLE_KEY", jwt.to_owned()),
    ]
}

async fn check(vars: &[(&'static str, String)]) -> (Option<i32>, String) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = run(&vars, &["check"], None).await;
    (output.status.code(), text(&output))
}

#[tokio::test]
async fn check_names_what_is_missing_until_the_migrations_are_applied() {
    let db = TestDb::unmigrated("check");
    let postgrest = Postgrest::start_with_pool(&db, 2);
    let vars = check_vars(&postgrest.url(), &service_role_jwt());

    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(1), "{out}");
    says(
        &out,
        &[
            "problem  table classification_jobs is missing",
            "problem  table classification_results is missing",
            "problem  table callback_deliveries is missing",
            "problem  function ingest_classification_webhook_counted(payload jsonb) is missing",
            "problem  function claim_callback_deliveries(p_owner, p_limit, p_lease_seconds) is missing",
            "problem  function rosetta_webhook_schema_version() is missing",
            "apply migrations/*.sql",
        ],
    );

    // The first migration only: what is missing is the callback outbox.
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let first = migrations.join("20261203000000_classification_jobs.sql");
    psql(&db.name, &["-f", first.to_str().unwrap()]);
    postgrest.stop();
    postgrest.restart();
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        !out.contains("table classification_jobs is missing"),
        "{out}"
    );
    says(
        &out,
        &[
            "table callback_deliveries is missing",
            "function record_callback_attempt(",
            "function release_callback_deliveries(p_owner) is missing",
            &format!("schema version is 1, this build needs {REQUIRED_SCHEMA_VERSION}"),
        ],
    );

    db.apply_migrations();
    postgrest.stop();
    postgrest.restart();
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("all good"), "{out}");
    assert!(!out.contains("problem"), "{out}");

    // A column lost by hand is named, and so are only the lost ones.
    db.scalar("alter table classification_results drop column hts_description");
    postgrest.stop();
    postgrest.restart();
    let (code, out) = check(&vars).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("problem  column classification_results.hts_description is missing\n"),
        "{out}"
    );
    assert!(out.contains("1 problem found"), "{out}");

    // Wrong credentials and bad configuration are named too.
    let (code, out) = check(&check_vars(&postgrest.url(), "not-a-jwt")).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cannot use the store"), "{out}");
    let mut no_secret = vars.clone();
    no_secret.retain(|(name, _)| *name != "WEBHOOK_SECRET");
    let (code, out) = check(&no_secret).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("problem  invalid configuration: WEBHOOK_SECRET:"),
        "{out}"
    );
}

#[tokio::test]
async fn check_on_sqlite_passes_a_new_file_and_names_what_a_foreign_one_lacks() {
    let scratch = ScratchDir::new("check-sqlite");
    let sqlite_vars = |path: &Path| {
        vec![
            ("WEBHOOK_SECRET", PRIMARY_SECRET.to_owned()),
            ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET.to_owned()),
            ("DATABASE_PATH", path.display().to_string()),
        ]
    };
    let (code, out) = check(&sqlite_vars(&scratch.path().join("new.db"))).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("store: SQLite at "), "{out}");
    assert!(out.contains("note     API_KEYS is empty"), "{out}");

    // A file some other program made, with a table of the same name.
    let foreign = scratch.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("create table classification_jobs (job_id text primary key, status text);")
        .unwrap();
    let (code, out) = check(&sqlite_vars(&foreign)).await;
    assert_eq!(code, Some(1), "{out}");
    says(
        &out,
        &[
            "problem  column classification_jobs.client_id is missing",
            "problem  column classification_jobs.extra is missing",
            "problem  table classification_results is missing",
            "point DATABASE_PATH at a new file",
        ],
    );
    assert!(
        !out.contains("column classification_jobs.status is missing"),
        "{out}"
    );
}

/// Posts `body` with the one header line `sign` printed; the answer's JSON.
async fn post_as_signed(
    app: &TestApp,
    body: &[u8],
    signed: &Output,
    expected: StatusCode,
) -> Value {
    assert!(signed.status.success(), "{}", text(signed));
    let stdout = String::from_utf8(signed.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one header line: {stdout}");
    let value = stdout
        .trim_end()
        .strip_prefix("X-Webhook-Signature: ")
        .unwrap_or_else(|| panic!("not a header line: {stdout}"));
    assert_eq!(value.len(), 64, "{value}");
    json_body(app.post_raw(body.to_vec(), Some(value)).await, expected).await
}

#[tokio::test]
async fn sign_prints_a_header_the_service_accepts() {
    let app = TestApp::spawn().await;
    let scratch = ScratchDir::new("sign");
    // A file (with the newline an editor adds), the secret as --secret.
    let job_id = new_job_id();
    let mut body = serde_json::to_vec_pretty(&webhook(&job_id, "completed", 2)).unwrap();
    body.push(b'\n');
    let file = scratch.path().join("body.json");
    std::fs::write(&file, &body).unwrap();
    let file = file.to_str().unwrap();
    let signed = run(&[], &["sign", file, "--secret", PRIMARY_SECRET], None).await;
    post_as_signed(&app, &body, &signed, StatusCode::OK).await;
    assert_eq!(app.result_rows(&job_id).len(), 2);

    // Stdin, the secret from WEBHOOK_SECRET.
    let job_id = new_job_id();
    let body = serde_json::to_vec(&webhook(&job_id, "completed", 1)).unwrap();
    let signed = run(
        &[("WEBHOOK_SECRET", PRIMARY_SECRET)],
        &["sign"],
        Some(&body),
    )
    .await;
    post_as_signed(&app, &body, &signed, StatusCode::OK).await;
    assert_eq!(app.result_rows(&job_id).len(), 1);

    // Signed with a secret the service does not have: refused.
    let signed = run(&[], &["sign", "-", "--secret", RETIRED_SECRET], Some(&body)).await;
    let error = post_as_signed(&app, &body, &signed, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["error"], "invalid_signature");

    let no_secret = run(&[], &["sign", file], None).await;
    assert_eq!(no_secret.status.code(), Some(2));
    assert!(
        text(&no_secret).contains("--secret"),
        "{}",
        text(&no_secret)
    );
    let rotation = run(&[("WEBHOOK_SECRET", "old,new")], &["sign", file], None).await;
    assert_eq!(rotation.status.code(), Some(2));
    assert!(
        text(&rotation).contains("comma-separated"),
        "{}",
        text(&rotation)
    );
}

#[tokio::test]
async fn send_sample_prints_the_answer_and_fails_when_refused() {
    let app = TestApp::spawn().await;
    let job_id = new_job_id();
    let sent = run(
        &[],
        &[
            "send-sample",
            "--url",
            &app.address,
            "--secret",
            PRIMARY_SECRET,
            "--results",
            "9",
            "--job-id",
            &job_id,
            "--client-id",
            "acme",
        ],
        None,
    )
    .await;
    assert!(sent.status.success(), "{}", text(&sent));
    let out = text(&sent);
    assert!(out.contains("HTTP 200 OK"), "{out}");
    assert!(out.contains("\"results_stored\":9"), "{out}");
    let job = json_body(app.poll(&job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;
    let results = job["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    assert!(results.iter().any(|r| r["section_301_applies"] == true));
    assert!(results
        .iter()
        .any(|r| r["pga_flags"].as_array().is_some_and(|f| !f.is_empty())));
    assert!(results
        .iter()
        .all(|r| r["duty_rate"].is_number() && r["hts_description"].is_string()));

    let refused = run(
        &[("WEBHOOK_SECRET", RETIRED_SECRET)],
        &["send-sample", "--url", &app.address],
        None,
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("HTTP 401 Unauthorized"),
        "{}",
        text(&refused)
    );
    assert!(
        text(&refused).contains("invalid_signature"),
        "{}",
        text(&refused)
    );

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let unanswered = run(
        &[],
        &["send-sample", "--url", &nobody, "--secret", "s"],
        None,
    )
    .await;
    assert_eq!(unanswered.status.code(), Some(1));
    assert!(
        text(&unanswered).contains("no answer from"),
        "{}",
        text(&unanswered)
    );
    let bad_id = run(
        &[],
        &[
            "send-sample",
            "--url",
            &app.address,
            "--secret",
            "s",
            "--job-id",
            "job-42",
        ],
        None,
    )
    .await;
    assert_eq!(bad_id.status.code(), Some(2));
    assert!(text(&bad_id).contains("--job-id"), "{}", text(&bad_id));
}

#[tokio::test]
async fn serve_without_a_store_url_keeps_the_data_in_sqlite_at_database_path() {
    let scratch = ScratchDir::new("serve-sqlite");
    let path = scratch.path().join("jobs.db");
    let path_text = path.display().to_string();
    let service = ServiceProcess::start(
        "",
        &[
            ("POSTGREST_URL", ""),
            ("SUPABASE_SERVICE_ROLE_KEY", ""),
            ("DATABASE_PATH", &path_text),
        ],
    )
    .await;
    let job_id = new_job_id();
    let sent = run(
        &[],
        &[
            "send-sample",
            "--url",
            &service.url,
            "--secret",
            PRIMARY_SECRET,
            "--job-id",
            &job_id,
        ],
        None,
    )
    .await;
    assert!(sent.status.success(), "{}", text(&sent));
    let job = get_job(&format!("{}/api/v1/jobs/{job_id}", service.url), ADMIN_KEY).await;
    assert_eq!(job["results"].as_array().unwrap().len(), 3);
    assert!(path.exists(), "stored in DATABASE_PATH");
    service.terminate();
    let (status, logs) = service.wait().await;
    assert!(status.success());
    assert!(logs.contains(&format!("SQLite at {path_text}")), "{logs}");

    // A file in a folder that does not exist: exit 1, naming the path.
    let nowhere = scratch.path().join("missing-folder/jobs.db");
    let nowhere = nowhere.to_str().unwrap();
    let failed = run(
        &[
            ("WEBHOOK_SECRET", PRIMARY_SECRET),
            ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET),
            ("DATABASE_PATH", nowhere),
            ("PORT", &free_port().to_string()),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    says(&text(&failed), &["cannot open the store", nowhere]);
}
