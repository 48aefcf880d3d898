//! The store on Supabase / PostgREST, through `postgrest` (postgrest-rs).
//!
//! Ingest is one `/rpc/ingest_classification_webhook_counted` call (one
//! transaction); reads are filtered selects. The crate pins reqwest 0.11 internally; its
//! types are only used through method calls here, never named.

mod check;
mod keys;

use std::time::Duration;

use async_trait::async_trait;
use postgrest::Postgrest;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::payload::IngestPayload;
use super::{
    ApiKeyRecord, AttemptRecord, DeliveryClaim, IngestReceipt, JobRecord, JobStore, NewApiKey,
    OutboxStats, ResultRecord, StoreError, REQUIRED_SCHEMA_VERSION,
};
use crate::config::{ClientScope, PostgrestConfig};
use crate::domain::CompletedJob;

pub struct PostgrestStore {
    client: Postgrest,
    timeout: Duration,
}

impl PostgrestStore {
    pub fn new(config: &PostgrestConfig, timeout: Duration) -> Self {
        let mut client = Postgrest::new(config.rest_url.clone());
        if let Some(key) = &config.apikey {
            client = client.insert_header("apikey", key.expose_secret());
        }
        if let Some(jwt) = &config.bearer {
            client =
                client.insert_header("Authorization", format!("Bearer {}", jwt.expose_secret()));
        }
        Self { client, timeout }
    }

    /// Sends one request and decodes its JSON body, sorting failures into
    /// "retry later" (unavailable, schema missing) and "our bug" (refused).
    async fn send<T: DeserializeOwned>(
        &self,
        request: postgrest::Builder,
    ) -> Result<T, StoreError> {
        let (status, body) = self.exchange(request, &[]).await?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| {
                StoreError::Refused(format!("unexpected PostgREST response body: {e}"))
            });
        }
        Err(classify_failure(status, &body))
    }

    /// Sends one request, with `query` parameters the builder cannot add:
    /// its HTTP status and body, or `Unavailable` when PostgREST could not be
    /// reached or did not answer in time.
    async fn exchange(
        &self,
        request: postgrest::Builder,
        query: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), StoreError> {
        let response = request
            .build()
            .query(query)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| StoreError::Unavailable(crate::error_chain(&e)))?;
        Ok((status, body.to_vec()))
    }
}

impl PostgrestStore {
    async fn call_ingest(
        &self,
        function: &str,
        args: IngestArgs<'_>,
    ) -> Result<IngestReceipt, StoreError> {
        let args = serde_json::to_string(&args)
            .map_err(|e| StoreError::Refused(format!("could not encode the payload: {e}")))?;
        self.send(self.client.rpc(function, args)).await
    }
}

/// PostgREST answers errors as `{"code", "message", "details", "hint"}`:
/// the code and the message (or the start of a body that is not that).
fn error_code_and_message(body: &[u8]) -> (String, String) {
    let error: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    let code = error.get("code").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    (code.to_owned(), message)
}

fn classify_failure(status: u16, body: &[u8]) -> StoreError {
    let (code, message) = error_code_and_message(body);
    let detail = format!("HTTP {status} {code}: {message}");
    match (status, code.as_str()) {
        // Function or table unknown to PostgREST's schema cache / to Postgres.
        (_, "PGRST202" | "PGRST205" | "42883" | "42P01" | "42703") => {
            StoreError::SchemaMissing(detail)
        }
        (401 | 403, _) => StoreError::Unavailable(format!(
            "{detail} (PostgREST refused our credentials: check SUPABASE_SERVICE_ROLE_KEY)"
        )),
        (500.., _) => StoreError::Unavailable(detail),
        _ => StoreError::Refused(detail),
    }
}

#[derive(Serialize)]
struct IngestArgs<'a> {
    payload: IngestPayload<'a>,
    /// Only for `ingest_classification_webhook_once`.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
}

/// The SQL function the ingest calls: the ingest transaction, reporting
/// whether the webhook repeats the last one applied to its job.
pub const INGEST_RPC: &str = "ingest_classification_webhook_counted";
/// As [`INGEST_RPC`], at most once per Standard Webhooks message id.
const INGEST_ONCE_RPC: &str = "ingest_classification_webhook_once";

/// The JSON body of the [`INGEST_RPC`] call for a job
/// (public so the benchmark can call PostgREST directly with the same bytes).
pub fn ingest_rpc_body(job: &CompletedJob) -> serde_json::Result<String> {
    serde_json::to_string(&IngestArgs {
        payload: IngestPayload::from(job),
        message_id: None,
    })
}

#[async_trait]
impl JobStore for PostgrestStore {
    async fn ingest(&self, job: &CompletedJob) -> Result<IngestReceipt, StoreError> {
        let args = IngestArgs {
            payload: IngestPayload::from(job),
            message_id: None,
        };
        self.call_ingest(INGEST_RPC, args).await
    }

    async fn ingest_once(
        &self,
        job: &CompletedJob,
        message_id: &str,
    ) -> Result<IngestReceipt, StoreError> {
        let args = IngestArgs {
            payload: IngestPayload::from(job),
            message_id: Some(message_id),
        };
        self.call_ingest(INGEST_ONCE_RPC, args).await
    }

    async fn job(
        &self,
        job_id: Uuid,
        scope: &ClientScope,
    ) -> Result<Option<JobRecord>, StoreError> {
        let mut request = self
            .client
            .from("classification_jobs")
            .select(JobRecord::COLUMNS)
            .eq("job_id", job_id.to_string())
            .order_with_options("created_at", Some("callback_deliveries"), false, false)
            .foreign_table_limit(1, "callback_deliveries");
        if let ClientScope::Client(client_id) = scope {
            request = request.eq("client_id", client_id);
        }
        let rows: Vec<JobRecord> = self.send(request).await?;
        Ok(rows.into_iter().next())
    }

    async fn results_page(
        &self,
        job_id: Uuid,
        after_product_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let mut request = self
            .client
            .from("classification_results")
            .select(ResultRecord::COLUMNS)
            .eq("job_id", job_id.to_string())
            .order("product_id.asc")
            .limit(limit.max(1));
        if let Some(after) = after_product_id {
            request = request.gt("product_id", after);
        }
        self.send(request).await
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let version: i64 = self
            .send(self.client.rpc("rosetta_webhook_schema_version", "{}"))
            .await?;
        if version < REQUIRED_SCHEMA_VERSION {
            return Err(StoreError::SchemaMissing(format!(
                "schema version {version}, this build needs {REQUIRED_SCHEMA_VERSION}: apply migrations/"
            )));
        }
        Ok(())
    }

    async fn schema_problems(&self) -> Result<Vec<String>, StoreError> {
        self.find_schema_problems().await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DeliveryClaim>, StoreError> {
        let args = json!({
            "p_owner": owner,
            "p_limit": limit,
            "p_lease_seconds": lease.as_secs_f64(),
        });
        self.send(
            self.client
                .rpc("claim_callback_deliveries", args.to_string()),
        )
        .await
    }

    async fn record_attempt(
        &self,
        delivery_id: Uuid,
        owner: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let args = json!({
            "p_delivery_id": delivery_id,
            "p_owner": owner,
            "p_state": attempt.state,
            "p_status": attempt.http_status,
            "p_error": attempt.error,
            "p_retry_in_seconds": attempt.retry_in.map(|d| d.as_secs_f64()),
        });
        let recorded: Option<bool> = self
            .send(self.client.rpc("record_callback_attempt", args.to_string()))
            .await?;
        Ok(recorded.unwrap_or(false))
    }

    async fn release_deliveries(&self, owner: &str) -> Result<u64, StoreError> {
        let args = json!({ "p_owner": owner });
        self.send(
            self.client
                .rpc("release_callback_deliveries", args.to_string()),
        )
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.send(self.client.rpc("callback_outbox_stats", "{}"))
            .await
    }

    async fn api_key_scope(&self, key_hash: &str) -> Result<Option<ClientScope>, StoreError> {
        self.find_api_key(key_hash).await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        self.insert_api_key(key).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.all_api_keys().await
    }

    async fn revoke_api_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        self.revoke_key(key_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_by_what_the_caller_should_do() {
        let missing_fn = br#"{"code":"PGRST202","message":"Could not find the function"}"#;
        assert!(matches!(
            classify_failure(404, missing_fn),
            StoreError::SchemaMissing(_)
        ));
        let db_down = br#"{"code":"PGRST001","message":"Database client error"}"#;
        assert!(matches!(
            classify_failure(503, db_down),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify_failure(401, b"{}"),
            StoreError::Unavailable(_)
        ));
        let check = br#"{"code":"23514","message":"violates check constraint"}"#;
        match classify_failure(400, check) {
            StoreError::Refused(detail) => assert!(detail.contains("23514"), "{detail}"),
            other => panic!("{other:?}"),
        }
        match classify_failure(502, b"<html>bad gateway</html>") {
            StoreError::Unavailable(detail) => assert!(detail.contains("bad gateway")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn payload_carries_only_what_the_webhook_had() {
        let body = br#"{"job_id":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","status":"partial",
            "metadata":{"completed":3},"results":[{"product_id":"p","pga_flags":["FDA"]}]}"#;
        let job = CompletedJob::from_json(body).unwrap();
        let encoded: Value = serde_json::from_str(&ingest_rpc_body(&job).unwrap()).unwrap();
        let payload = &encoded["payload"];
        assert_eq!(payload["status"], "partial");
        assert_eq!(payload["completed_products"], 3);
        for absent in [
            "client_id",
            "callback_url",
            "total_products",
            "failed_products",
        ] {
            assert!(payload.get(absent).is_none(), "{absent} should be absent");
        }
        assert_eq!(payload["results"][0]["pga_flags"][0], "FDA");
        assert_eq!(payload["results"][0]["hts_code"], Value::Null);
    }
}
