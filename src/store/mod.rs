//! The storage seam: what the handlers need from the database, and nothing
//! about HTTP servers. Two backends with the same semantics: PostgREST
//! (Supabase, production) and embedded SQLite (zero setup, one machine).
//! `tests/api/conformance.rs` runs one suite against both.

mod api_keys;
mod metered;
mod payload;
mod postgrest;
pub mod schema;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use self::api_keys::{scope_of_client, ApiKeyRecord, NewApiKey, ALL_CLIENTS};
pub use self::metered::MeteredStore;
pub use self::postgrest::{ingest_rpc_body, PostgrestStore, INGEST_RPC};
pub use self::sqlite::SqliteStore;
use crate::config::{ClientScope, StoreConfig};
use crate::domain::{null_as_default, CompletedJob};

/// The schema level this binary needs (`rosetta_webhook_schema_version()`).
pub const REQUIRED_SCHEMA_VERSION: i64 = 4;

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Applies a webhook in one transaction. `Ok` means it is committed.
    async fn ingest(&self, job: &CompletedJob) -> Result<IngestReceipt, StoreError>;

    /// As [`Self::ingest`], at most once per Standard Webhooks `message_id`
    /// (the `webhook-id` header, 1 to 256 visible ASCII characters). The id
    /// is recorded in the same transaction as the webhook. An id already
    /// recorded applies nothing and answers `duplicate: true`, the `job_id`
    /// the id was first recorded with and that job's current status,
    /// `results_stored: 0`, `stale: false`, no `delivery_id`. Ids may be
    /// forgotten after 7 days (replays that old fail their timestamp check).
    async fn ingest_once(
        &self,
        job: &CompletedJob,
        message_id: &str,
    ) -> Result<IngestReceipt, StoreError>;

    /// The job, if it exists and `scope` may read it. Another client's job
    /// and an unknown job look the same: `None`.
    async fn job(&self, job_id: Uuid, scope: &ClientScope)
        -> Result<Option<JobRecord>, StoreError>;

    /// Up to `limit` results of a job ordered by `product_id`, starting after
    /// `after_product_id`.
    async fn results_page(
        &self,
        job_id: Uuid,
        after_product_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>, StoreError>;

    /// The store answers and its schema is at least [`REQUIRED_SCHEMA_VERSION`].
    /// Cheap: `/readyz` calls it.
    async fn check_ready(&self) -> Result<(), StoreError>;

    /// Everything wrong with the schema, one plain sentence each (a missing
    /// table, column or function); empty when the service has all it needs.
    /// Thorough, for operators (`rosetta-webhook check`). `Err` when the
    /// store cannot be asked at all.
    async fn schema_problems(&self) -> Result<Vec<String>, StoreError>;

    /// Leases up to `limit` due callback deliveries to `owner`.
    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DeliveryClaim>, StoreError>;

    /// Records an attempt and ends the lease; `false` when `owner` had lost it.
    async fn record_attempt(
        &self,
        delivery_id: Uuid,
        owner: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError>;

    /// Gives back every lease `owner` holds; returns how many.
    async fn release_deliveries(&self, owner: &str) -> Result<u64, StoreError>;

    /// How full the callback outbox is, for `GET /metrics`: one cheap
    /// aggregate read over the deliveries that are not final (PostgREST:
    /// `callback_outbox_stats()`). Called once per scrape, never on a
    /// request path.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// The scope of the active (not revoked) key whose SHA-256 is
    /// `key_hash` (64 lowercase hex digits), or `None`. Called on a poll
    /// whose key is not in `API_KEYS` and not cached.
    async fn api_key_scope(&self, key_hash: &str) -> Result<Option<ClientScope>, StoreError>;

    /// Stores a new key. A `key_hash` already stored is refused
    /// ([`StoreError::Refused`]); the key generator makes that impossible.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError>;

    /// Every stored key, revoked ones included, oldest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Marks the key revoked now; `false` when no active key has this hash.
    /// Instances that cached the key keep accepting it until their cache
    /// entry expires (`API_KEY_CACHE_TTL`).
    async fn revoke_api_key(&self, key_hash: &str) -> Result<bool, StoreError>;
}

/// The callback outbox at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
pub struct OutboxStats {
    /// Deliveries not final yet: `pending`, or `failed` with a retry scheduled.
    pub unfinished: u64,
    /// Of those, how many are due now (`next_attempt_at` has passed). A
    /// leased delivery in flight counts here until its outcome is recorded.
    pub due: u64,
    /// How long the oldest due delivery has been due, in seconds; 0 when
    /// none is. Growing means delivery is not keeping up (or not running:
    /// see `CALLBACK_WORKER`).
    pub oldest_due_age_seconds: f64,
}

/// Opens the store the configuration names. SQLite creates its file and
/// schema here; PostgREST is only contacted by the first call.
pub async fn open(
    config: &StoreConfig,
    timeout: Duration,
) -> Result<Arc<dyn JobStore>, StoreError> {
    Ok(match config {
        StoreConfig::Postgrest(postgrest) => Arc::new(PostgrestStore::new(postgrest, timeout)),
        StoreConfig::Sqlite { path } => Arc::new(SqliteStore::open(path, timeout).await?),
    })
}

/// What the ingest transaction reports back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IngestReceipt {
    pub job_id: Uuid,
    /// The job's status after the webhook (a late `partial` leaves `completed`).
    pub status: String,
    pub results_stored: u64,
    /// The webhook's status ranked below the job's: results stored, status kept.
    pub stale: bool,
    /// The callback delivery this webhook recorded, if the job has a callback.
    #[serde(default)]
    pub delivery_id: Option<Uuid>,
    /// The same webhook again: a Standard Webhooks message whose id was
    /// already applied (nothing was changed), or a body the same (after
    /// normalisation) as the last one applied to this job, which was
    /// applied again all the same (idempotent).
    #[serde(default)]
    pub duplicate: bool,
}

/// A job row as the poll endpoint shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobRecord {
    pub job_id: Uuid,
    pub client_id: Option<String>,
    pub status: String,
    pub total_products: Option<i64>,
    #[serde(deserialize_with = "null_as_default")]
    pub completed_products: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub failed_products: i64,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub metadata: Value,
    /// The latest callback delivery first (at most one is read).
    #[serde(default)]
    pub callback_deliveries: Vec<CallbackStatus>,
}

impl JobRecord {
    /// Columns to select, in the names the struct deserialises.
    pub const COLUMNS: &'static str = "job_id,client_id,status,total_products,completed_products,\
        failed_products,created_at,updated_at,completed_at,metadata,\
        callback_deliveries(state,attempts,last_status,last_error,next_attempt_at,delivered_at)";
}

/// Where a job's callback stands, for the client debugging its endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = CallbackState)]
pub struct CallbackStatus {
    pub state: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// A callback delivery leased to this instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryClaim {
    pub delivery_id: Uuid,
    pub job_id: Uuid,
    pub target_url: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// One attempt's outcome, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub state: &'static str,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// When to try again; `None` for a final state.
    pub retry_in: Option<Duration>,
}

/// A stored result: the domain's `ClassificationResult`, read back. (Reads
/// tolerate the nulls that Flask-era rows may hold.)
pub use crate::domain::ClassificationResult as ResultRecord;

impl ResultRecord {
    pub const COLUMNS: &'static str = "product_id,product_description,hts_code,hts_description,\
        confidence,duty_rate,source,section_301_applies,pga_flags,extra";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Could not reach the store, or it answered with a server error or
    /// timed out: nothing is known to be committed, the caller should retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answers but the migrations are not applied (or are older).
    #[error("store schema missing or outdated: {0}")]
    SchemaMissing(String),
    /// The store refused the request: a bug on our side, not the client's.
    #[error("store refused the request: {0}")]
    Refused(String),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_with_nulls_from_the_flask_era_still_read() {
        let result: ResultRecord = serde_json::from_value(json!({
            "product_id": "A", "product_description": null, "hts_code": "6109.10.00",
            "hts_description": null, "confidence": null, "duty_rate": null, "source": null,
            "section_301_applies": null, "pga_flags": null, "extra": null
        }))
        .unwrap();
        assert!(result.pga_flags.is_empty());
        assert!(result.extra.is_empty());
        let job: JobRecord = serde_json::from_value(json!({
            "job_id": "0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f", "client_id": null,
            "status": "processing", "total_products": 3, "completed_products": null,
            "failed_products": null, "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00", "completed_at": null, "metadata": null
        }))
        .unwrap();
        assert_eq!((job.completed_products, job.failed_products), (0, 0));
        assert!(job.callback_deliveries.is_empty());
    }
}
