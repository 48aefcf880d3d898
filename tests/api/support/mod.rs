//! `TestApp`: the real service on a loopback port, against the real stack,
//! with helpers to send signed webhooks, poll jobs and read stored rows.

pub mod process;
pub mod receiver;
pub mod scratch;
pub mod stack;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use rosetta_webhook::config::{
    ApiKeys, Config, InboundConfig, Limits, LogFormat, StoreConfig, WebhookSecrets,
};
use rosetta_webhook::delivery::schedule::RetrySchedule;
use rosetta_webhook::delivery::ssrf::{AddressPolicy, StaticResolver};
use rosetta_webhook::delivery::CallbackConfig;
use rosetta_webhook::http::{API_KEY_HEADER, WEBHOOK_PATH};
use rosetta_webhook::signature;
use rosetta_webhook::standard_webhooks::SigningSecret;
use rosetta_webhook::Dependencies;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

pub use stack::{shared, Postgrest, Stack, TestDb};

pub const PRIMARY_SECRET: &str = "primary-webhook-secret";
pub const SECONDARY_SECRET: &str = "secondary-webhook-secret";
pub const RETIRED_SECRET: &str = "retired-webhook-secret";
pub const ACME_KEY: &str = "acme-key-0123456789abcdef";
pub const GLOBEX_KEY: &str = "globex-key-0123456789abcdef";
pub const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
pub const FLASK_ERA_KEY: &str = "flask-era-bare-key";
/// A callback URL on the shared stack: loopback port 9 (discard), so a
/// delivery attempt is refused at once and no packet leaves the machine.
pub const UNREACHABLE_CALLBACK: &str = "http://127.0.0.1:9/hooks/acme";
/// Callback signing secret of the tests (the Standard Webhooks spec's example).
pub const CALLBACK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The engine's Standard Webhooks secret (`WEBHOOK_SIGNING_SECRETS`) in tests:
/// base64 of "engine-standard-webhooks-test-key".
pub const ENGINE_SIGNING_SECRET: &str = "whsec_ZW5naW5lLXN0YW5kYXJkLXdlYmhvb2tzLXRlc3Qta2V5";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Where the rows are read from (and kept running while the app lives).
    pub stack: Arc<Stack>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The store the configuration names, and a resolver with an empty table:
/// no test ever asks real DNS (a host name in a callback URL does not resolve).
pub async fn test_dependencies(config: &Config) -> Dependencies {
    let mut dependencies = Dependencies::from_config(config).await.unwrap();
    dependencies.resolver = Arc::new(StaticResolver(HashMap::new()));
    dependencies
}

/// The configuration every test starts from.
pub fn test_config(postgrest_url: &str) -> Config {
    Config {
        host: "127.0.0.1".into(),
        port: 0,
        webhook_secrets: WebhookSecrets::new(vec![PRIMARY_SECRET.into(), SECONDARY_SECRET.into()])
            .unwrap(),
        api_keys: ApiKeys::parse(&format!(
            "acme:{ACME_KEY},globex:{GLOBEX_KEY},*:{ADMIN_KEY},{FLASK_ERA_KEY}"
        ))
        .unwrap(),
        store: StoreConfig::postgrest(postgrest_url, Some(&stack::service_role_jwt())),
        max_body_bytes: rosetta_webhook::config::DEFAULT_MAX_BODY_BYTES,
        request_timeout: Duration::from_secs(30),
        store_timeout: Duration::from_secs(10),
        log_format: LogFormat::Pretty,
        callbacks: CallbackConfig {
            signing_secret: SigningSecret::parse(CALLBACK_SECRET).unwrap(),
            schedule: RetrySchedule::parse("200ms,200ms,200ms").unwrap(),
            // Tests reach their receivers on 127.0.0.1 and nothing else.
            policy: AddressPolicy {
                allowed: vec!["127.0.0.1/32".parse().unwrap()],
                allow_http: true,
            },
            timeout: Duration::from_secs(2),
            lease: Duration::from_secs(4),
            poll_interval: Duration::from_millis(100),
            concurrency: 16,
            background: true,
        },
        google_cloud_project: None,
        metrics_port: None,
        internal_token: None,
        inbound: InboundConfig {
            secrets: vec![SigningSecret::parse(ENGINE_SIGNING_SECRET).unwrap()],
            ..InboundConfig::default()
        },
        // Generous: only the rate-limit test exercises the poll limit.
        limits: Limits {
            poll_rate_per_second: 10_000,
            poll_burst: 10_000,
            ..Limits::default()
        },
        api_key_cache_ttl: Duration::from_secs(30),
    }
}

impl TestApp {
    /// The service against the shared stack.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// As `spawn`, with the configuration adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(shared(), adjust).await
    }

    /// The service on `stack` (e.g. a `Stack::isolated` one).
    pub async fn spawn_on(stack: Arc<Stack>, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&stack.postgrest.url());
        adjust(&mut config);
        let dependencies = test_dependencies(&config).await;
        Self::start_with(config, dependencies, stack).await
    }

    /// The service as configured; rows are read from `stack`'s database.
    pub async fn start_with(config: Config, dependencies: Dependencies, stack: Arc<Stack>) -> Self {
        // The service's logs, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("info")
            .try_init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(rosetta_webhook::serve(
            listener,
            config,
            dependencies,
            async {
                let _ = rx.await;
            },
        ));
        Self {
            address,
            client: reqwest::Client::new(),
            stack,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn db(&self) -> &TestDb {
        &self.stack.db
    }

    /// Signs `body` with the primary secret and posts it.
    pub async fn post_webhook(&self, body: &Value) -> Response {
        self.post_signed(serde_json::to_vec(body).unwrap()).await
    }

    /// Signs exact bytes with the primary secret and posts them.
    pub async fn post_signed(&self, bytes: Vec<u8>) -> Response {
        let signature = signature::sign(PRIMARY_SECRET.as_bytes(), &bytes);
        self.post_raw(bytes, Some(&signature)).await
    }

    /// Signs exact bytes as a Standard Webhooks message (the engine's
    /// secret, `timestamp`) and posts them with the three headers.
    pub async fn post_standard(&self, bytes: Vec<u8>, id: &str, timestamp: i64) -> Response {
        let secret = SigningSecret::parse(ENGINE_SIGNING_SECRET).unwrap();
        let signature = secret.sign(id, timestamp, &bytes);
        let timestamp = timestamp.to_string();
        self.post_with_headers(
            bytes,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", &signature),
            ],
        )
        .await
    }

    /// Posts exact bytes with exactly these headers (besides Content-Type).
    pub async fn post_with_headers(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .client
            .post(format!("{}{WEBHOOK_PATH}", self.address))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Posts exact bytes with an exact signature header (or none).
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        signature: Option<&str>,
    ) -> Response {
        let headers: Vec<(&str, &str)> = signature
            .map(|signature| ("x-webhook-signature", signature))
            .into_iter()
            .collect();
        self.post_with_headers(body, &headers).await
    }

    pub async fn poll(&self, job_id: &str, key: Option<&str>, query: &str) -> Response {
        let mut request = self
            .client
            .get(format!("{}/api/v1/jobs/{job_id}{query}", self.address));
        if let Some(key) = key {
            request = request.header(API_KEY_HEADER, key);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// The job row as stored, every column, or null.
    pub fn job_row(&self, job_id: &str) -> Value {
        self.db().json(&format!(
            "select row_to_json(j) from classification_jobs j where job_id = '{job_id}'"
        ))
    }

    /// Every result row of the job as stored, ordered by product_id.
    pub fn result_rows(&self, job_id: &str) -> Vec<Value> {
        match self.db().json(&format!(
            "select json_agg(r order by product_id) from classification_results r \
             where job_id = '{job_id}'"
        )) {
            Value::Array(rows) => rows,
            _ => Vec::new(),
        }
    }

    /// Stops the service and waits for it to finish draining.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Asserts the status and returns the JSON body.
pub async fn json_body(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A realistic result as the engine sends it.
pub fn result(product_id: &str, index: usize) -> Value {
    const CATALOGUE: [(&str, &str, &str, f64, &[&str]); 4] = [
        (
            "Men's cotton knit T-shirt",
            "6109.10.00",
            "T-shirts, singlets, tank tops and similar garments, knitted or crocheted: Of cotton",
            0.167,
            &[],
        ),
        (
            "Stainless steel kitchen knife",
            "8211.91.50",
            "Knives with fixed blades: Table knives having fixed blades: Other",
            0.005,
            &[],
        ),
        (
            "Roasted coffee beans, not decaffeinated",
            "0901.21.00",
            "Coffee, roasted: Not decaffeinated",
            0.0,
            &["FDA"],
        ),
        (
            "Lithium-ion battery pack for e-bikes",
            "8507.60.00",
            "Lithium-ion accumulators",
            0.034,
            &["DOT", "EPA"],
        ),
    ];
    let (description, hts, hts_description, duty, flags) = CATALOGUE[index % CATALOGUE.len()];
    json!({
        "product_id": product_id,
        "product_description": description,
        "hts_code": hts,
        "hts_description": hts_description,
        "confidence": 0.5 + (index % 50) as f64 / 100.0,
        "duty_rate": duty,
        "source": if index.is_multiple_of(3) { "gemini" } else { "rosetta" },
        "section_301_applies": index.is_multiple_of(2),
        "pga_flags": flags,
    })
}

/// A webhook body in the seed's shape with `n` results `SKU-00000`...
pub fn webhook(job_id: &str, status: &str, n: usize) -> Value {
    let results: Vec<Value> = (0..n).map(|i| result(&format!("SKU-{i:05}"), i)).collect();
    json!({
        "job_id": job_id,
        "status": status,
        "results": results,
        "metadata": {
            "total_products": n,
            "completed": n,
            "failed": 0,
            "processing_time_ms": 12500,
            "cost_usd": 0.15
        }
    })
}

/// `n` product ids that a naive cursor or filter would mangle: punctuation,
/// non-ASCII, quotes, trailing spaces, and both cases.
pub fn awkward_product_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            0 => format!("SKU-{i:03}"),
            1 => format!("a,b.c({i})"),
            2 => format!("naïve/ø?&={i}"),
            3 => format!("\"quoted\" {i} "),
            _ => format!("sku-{i:03}"),
        })
        .collect()
}

/// A completed webhook with 2 results and every optional field: client,
/// callback URL (nothing listens on port 9), and keys this version does not
/// know at the top (`engine_version`) and in a result (`alternatives`).
pub fn webhook_with_every_field(job_id: &str) -> Value {
    let mut body = webhook(job_id, "completed", 2);
    body["results"][1]["alternatives"] = json!([{"hts_code": "8211.92.20", "confidence": 0.1}]);
    body["engine_version"] = json!("rosetta-2.4");
    body["client_id"] = json!("acme");
    body["callback_url"] = json!(UNREACHABLE_CALLBACK);
    body
}

/// A realistic result for each product id.
pub fn results_for(ids: &[String]) -> Vec<Value> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| result(id, i))
        .collect()
}

/// A late `partial` retry of a job `webhook(job_id, "completed", 3)`
/// finished: an older copy of `SKU-00000`, a product the job lacks
/// (`SKU-LATE`), lower counters and older metadata.
pub fn late_partial_retry(job_id: &str) -> Value {
    let mut late = webhook(job_id, "partial", 0);
    let mut older_copy = result("SKU-00000", 0);
    older_copy["hts_code"] = json!("0000.00.00");
    late["results"] = json!([older_copy, result("SKU-LATE", 7)]);
    late["metadata"] = json!({"total_products": 3, "completed": 1, "failed": 0, "stage": "old"});
    late
}

pub fn new_job_id() -> String {
    Uuid::new_v4().to_string()
}

/// Seconds since the Unix epoch, as `webhook-timestamp` carries them.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Rows in every table of the stack's database, by table name.
pub fn row_counts(db: &TestDb) -> Value {
    db.json(
        "select json_object_agg(relname, n_rows) from ( \
           select c.relname, (xpath('/row/n/text()', query_to_xml( \
             format('select count(*) as n from public.%I', c.relname), false, true, '')))[1]::text::int as n_rows \
           from pg_class c join pg_namespace n on n.oid = c.relnamespace \
           where n.nspname = 'public' and c.relkind = 'r') t",
    )
}

/// Polls (with the wildcard key) until the job's callback reaches a final
/// state or `within` passes; returns the callback status.
pub async fn wait_for_callback_state(
    app: &TestApp,
    job_id: &str,
    states: &[&str],
    within: Duration,
) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let job = json_body(app.poll(job_id, Some(ADMIN_KEY), "").await, StatusCode::OK).await;
        let callback = job["callback"].clone();
        if states.iter().any(|s| callback["state"] == *s) {
            return callback;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "callback of {job_id} not in {states:?} after {within:?}: {callback}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates the job row the submission side would, before any webhook.
pub fn create_pending_job(
    db: &TestDb,
    job_id: &str,
    client_id: &str,
    callback_url: &str,
    total: i32,
) {
    db.scalar(&format!(
        "insert into classification_jobs (job_id, client_id, callback_url, total_products, status) \
         values ('{job_id}', '{client_id}', '{callback_url}', {total}, 'processing')"
    ));
}
