//! The OpenAPI document: it describes exactly the routes the service
//! answers, it is valid OpenAPI 3.1, and its examples match its schemas.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use rosetta_webhook::config::InternalToken;
use rosetta_webhook::http::{INTERNAL_DELIVERIES_PATH, METRICS_PATH, OPENAPI_PATH, WEBHOOK_PATH};
use serde_json::{json, Value};

use crate::support::*;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The API surface, on purpose: a route added or removed shows up here in
/// review, and in the document (which the tests below hold to the router).
const OPERATIONS: [(&str, &str); 8] = [
    ("post", WEBHOOK_PATH),
    ("get", "/api/v1/jobs/{job_id}"),
    ("get", "/api/v1/jobs/{job_id}/results"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", METRICS_PATH),
    ("get", OPENAPI_PATH),
    ("post", INTERNAL_DELIVERIES_PATH),
];

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_string(), path.clone()))
        })
        .collect()
}

async fn served_document(app: &TestApp) -> Value {
    let response = app.get(OPENAPI_PATH).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    json_body(response, StatusCode::OK).await
}

async fn spawn_with_internal_token() -> TestApp {
    TestApp::spawn_with(|c| {
        c.internal_token = Some(InternalToken::new("openapi-test-token-0123456789abcdef").unwrap())
    })
    .await
}

#[tokio::test]
async fn the_document_lists_every_route_and_each_answers_its_documented_method() {
    let app = spawn_with_internal_token().await;
    let document = served_document(&app).await;
    let documented = operations(&document);
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);
    assert_eq!(
        document,
        serde_json::to_value(rosetta_webhook::http::openapi()).unwrap(),
        "the served document is the one the router was built with"
    );

    let job_id = new_job_id();
    for (method, path) in &documented {
        let url = format!("{}{}", app.address, path.replace("{job_id}", &job_id));
        // The documented method is routed: whatever it answers (401 without
        // credentials, 200 for probes), it is not a routing refusal.
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && body["error"] != "route_not_found"
                && body["error"] != "method_not_allowed",
            "{method} {path}: {status} {body}"
        );
        // Every other method on a documented path is refused: the path has
        // no route the document does not describe.
        for other in METHODS {
            let other = Method::from_bytes(other.to_uppercase().as_bytes()).unwrap();
            if other == method
                || documented.contains(&(other.as_str().to_lowercase(), path.clone()))
            {
                continue;
            }
            let response = app
                .client
                .request(other.clone(), &url)
                .send()
                .await
                .unwrap();
            let refused = json_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
            assert_eq!(refused["error"], "method_not_allowed", "{other} {path}");
        }
    }
}

/// Every route is registered through `utoipa_axum::routes!`, which takes its
/// path and method from the handler's `#[utoipa::path]`: a plain axum route
/// would serve a path that the document does not describe.
#[test]
fn routes_are_registered_only_with_their_openapi_description() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    visit_rust_files(&root, &mut |path, text| {
        for needle in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            "Router::new(",
        ] {
            for (number, line) in text.lines().enumerate() {
                // `Router::new(` but not `OpenApiRouter::new(`.
                let found = line.match_indices(needle).any(|(at, _)| {
                    !line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if found && !line.trim_start().starts_with("//") {
                    offenders.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    });
    assert!(
        offenders.is_empty(),
        "plain axum routes:\n{}",
        offenders.join("\n")
    );
}

fn visit_rust_files(dir: &Path, visit: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit_rust_files(&path, visit);
        } else if path.extension().is_some_and(|e| e == "rs") {
            visit(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// `scripts/check-openapi.py` (openapi-spec-validator and jsonschema, from
/// `.tools/pyenv`, installed by `scripts/python-tools.sh` when missing) on a
/// document written to a file; returns whether it passed, and its output.
fn check_openapi(document: &Value, name: &str) -> (bool, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/pyenv/bin/python");
    let installed = Command::new(root.join("scripts/python-tools.sh"))
        .status()
        .expect("run scripts/python-tools.sh");
    assert!(installed.success(), "scripts/python-tools.sh failed");
    let dir = root.join("target/test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let output = Command::new(python)
        .arg(root.join("scripts/check-openapi.py"))
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1_and_its_examples_match_their_schemas() {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["webhook_signature"]["name"], "X-Webhook-Signature");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    assert_eq!(schemes["internal_bearer"]["scheme"], "bearer");
    let codes: BTreeSet<&str> = document["components"]["schemas"]["Error"]["properties"]["error"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let answered: BTreeSet<&str> = rosetta_webhook::http::ERROR_CODES.into_iter().collect();
    assert_eq!(codes, answered, "the Error schema lists every code");

    let (valid, output) = check_openapi(&document, "openapi.json");
    assert!(valid, "{output}");
    let checked: usize = output
        .split("; ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {output}"));
    assert!(
        checked >= 25,
        "only {checked} examples were checked: {output}"
    );

    // The checker itself catches an example that breaks its schema.
    let mut broken = document.clone();
    broken["paths"][WEBHOOK_PATH]["post"]["responses"]["413"]["content"]["application/json"]
        ["example"]["error"] = json!("not_a_code");
    let (valid, output) = check_openapi(&broken, "openapi-broken.json");
    assert!(!valid && output.contains("not_a_code"), "{output}");
}
