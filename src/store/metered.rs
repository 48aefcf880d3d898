//! A `JobStore` that times every call of the store it wraps into
//! `rosetta_store_call_duration_seconds{operation, outcome}`, whatever the
//! backend. `serve` wraps the configured store in it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    ApiKeyRecord, AttemptRecord, DeliveryClaim, IngestReceipt, JobRecord, JobStore, NewApiKey,
    OutboxStats, ResultRecord, StoreError,
};
use crate::config::ClientScope;
use crate::domain::CompletedJob;
use crate::metrics::Metrics;

pub struct MeteredStore {
    inner: Arc<dyn JobStore>,
    metrics: Metrics,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn JobStore>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .store_call(operation, outcome(&result), started.elapsed());
        result
    }
}

/// The `outcome` label of a store call.
fn outcome<T>(result: &Result<T, StoreError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(StoreError::SchemaMissing(_)) => "schema_missing",
        Err(StoreError::Refused(_)) => "refused",
    }
}

#[async_trait]
impl JobStore for MeteredStore {
    async fn ingest(&self, job: &CompletedJob) -> Result<IngestReceipt, StoreError> {
        self.timed("ingest", self.inner.ingest(job)).await
    }

    async fn ingest_once(
        &self,
        job: &CompletedJob,
        message_id: &str,
    ) -> Result<IngestReceipt, StoreError> {
        self.timed("ingest", self.inner.ingest_once(job, message_id))
            .await
    }

    async fn api_key_scope(&self, key_hash: &str) -> Result<Option<ClientScope>, StoreError> {
        self.timed("api_key_scope", self.inner.api_key_scope(key_hash))
            .await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        self.timed("create_api_key", self.inner.create_api_key(key))
            .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.timed("api_keys", self.inner.api_keys()).await
    }

    async fn revoke_api_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        self.timed("revoke_api_key", self.inner.revoke_api_key(key_hash))
            .await
    }

    async fn job(
        &self,
        job_id: Uuid,
        scope: &ClientScope,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.timed("job", self.inner.job(job_id, scope)).await
    }

    async fn results_page(
        &self,
        job_id: Uuid,
        after_product_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let call = self.inner.results_page(job_id, after_product_id, limit);
        self.timed("results_page", call).await
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        self.timed("check_ready", self.inner.check_ready()).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DeliveryClaim>, StoreError> {
        let call = self.inner.claim_deliveries(owner, limit, lease);
        self.timed("claim_deliveries", call).await
    }

    async fn record_attempt(
        &self,
        delivery_id: Uuid,
        owner: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let call = self.inner.record_attempt(delivery_id, owner, attempt);
        self.timed("record_attempt", call).await
    }

    async fn release_deliveries(&self, owner: &str) -> Result<u64, StoreError> {
        let call = self.inner.release_deliveries(owner);
        self.timed("release_deliveries", call).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.timed("outbox_stats", self.inner.outbox_stats()).await
    }

    async fn schema_problems(&self) -> Result<Vec<String>, StoreError> {
        self.timed("schema_problems", self.inner.schema_problems())
            .await
    }
}
