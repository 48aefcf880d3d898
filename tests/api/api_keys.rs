//! API keys kept in the store: made by `rosetta-webhook keys create`, read
//! through the cache, refused once revoked and the cache entry has expired,
//! and never stored or logged in the clear.

use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rosetta_webhook::keys::{hash_hex, key_id};
use serde_json::json;

use crate::support::process::{command, ServiceProcess};
use crate::support::stack::service_role_jwt;
use crate::support::*;

/// `rosetta-webhook keys <args>` against `stack`'s PostgREST.
fn keys(stack: &Stack, args: &[&str]) -> Output {
    let url = stack.postgrest.url();
    let jwt = service_role_jwt();
    command(&[("POSTGREST_URL", &url), ("SUPABASE_SERVICE_ROLE_KEY", &jwt)])
        .arg("keys")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The tables of the database whose rows, as text, contain `needle`.
fn tables_containing(db: &TestDb, needle: &str) -> Vec<String> {
    let found = db.json(&format!(
        "select coalesce(json_agg(relname), '[]') from ( \
           select c.relname, (xpath('/row/n/text()', query_to_xml( \
             format('select count(*) as n from public.%I x where x::text like %L', \
                    c.relname, '%{needle}%'), false, true, '')))[1]::text::int as hits \
           from pg_class c join pg_namespace n on n.oid = c.relnamespace \
           where n.nspname = 'public' and c.relkind = 'r') t where hits > 0"
    ));
    serde_json::from_value(found).unwrap()
}

async fn post_signed(service: &ServiceProcess, body: &serde_json::Value) -> StatusCode {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = rosetta_webhook::signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
    reqwest::Client::new()
        .post(format!(
            "{}{}",
            service.url,
            rosetta_webhook::http::WEBHOOK_PATH
        ))
        .header("x-webhook-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status()
}

async fn poll(service: &ServiceProcess, job_id: &str, key: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1/jobs/{job_id}", service.url))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_created_key_reads_its_clients_jobs_until_revoked_and_is_never_stored_or_logged() {
    let stack = shared();
    let client = format!("client-{}", &new_job_id()[..8]);
    let label = format!("nightly sync {client}");

    let created = keys(&stack, &["create", "--client", &client, "--label", &label]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let key = stdout.trim().to_owned();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the key on stdout: {stdout}"
    );
    assert!(key.starts_with("rk_") && key.len() >= 3 + 22, "{key}");
    let id = key_id(&hash_hex(&key)).to_owned();
    let stderr = text(&created.stderr);
    assert!(stderr.contains(&id) && !stderr.contains(&key), "{stderr}");

    let service = ServiceProcess::start(
        &stack.postgrest.url(),
        &[("API_KEY_CACHE_TTL", "1s"), ("RUST_LOG", "debug")],
    )
    .await;
    let own_job = new_job_id();
    let mut body = webhook(&own_job, "completed", 1);
    body["client_id"] = json!(client);
    assert_eq!(post_signed(&service, &body).await, StatusCode::OK);
    let other_job = new_job_id();
    let mut body = webhook(&other_job, "completed", 1);
    body["client_id"] = json!("acme");
    assert_eq!(post_signed(&service, &body).await, StatusCode::OK);

    assert_eq!(poll(&service, &own_job, &key).await, StatusCode::OK);
    assert_eq!(
        poll(&service, &other_job, &key).await,
        StatusCode::NOT_FOUND
    );
    // A key of the right shape that was never created.
    let unknown = format!("rk_{}", "A".repeat(43));
    assert_eq!(
        poll(&service, &own_job, &unknown).await,
        StatusCode::UNAUTHORIZED
    );

    let listed = keys(&stack, &["list", "--label", &label]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listing = text(&listed.stdout);
    let line = listing
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {listing}"));
    assert!(line.contains(&client) && line.contains("active") && line.contains(&label));
    assert!(!listing.contains(&key));

    let revoked = keys(&stack, &["revoke", &id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let revoked_at = Instant::now();
    let again = keys(&stack, &["revoke", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already revoked"));

    // Refused once the cache entry (1 s) has expired; polled until then.
    loop {
        let status = poll(&service, &own_job, &key).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(3),
            "a revoked key still worked 3 s later"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listing = text(&keys(&stack, &["list", "--label", &label]).stdout);
    assert!(listing.contains("revoked"), "{listing}");

    // The hash is stored (so the search works); the key is in no table.
    assert_eq!(
        tables_containing(&stack.db, &hash_hex(&key)),
        vec!["api_keys"]
    );
    assert_eq!(tables_containing(&stack.db, &key), Vec::<String>::new());
    assert_eq!(
        tables_containing(&stack.db, &key["rk_".len()..]),
        Vec::<String>::new()
    );

    service.terminate();
    let (status, logs) = service.wait().await;
    assert!(status.success());
    assert!(logs.contains("request refused"), "the logs were captured");
    assert!(
        !logs.contains(&key["rk_".len()..]),
        "the key leaked into the logs"
    );
}
