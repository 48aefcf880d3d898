//! Callback delivery: a worker in every instance drains the outbox that the
//! ingest transaction fills. Claims are leased through the store, so any
//! number of instances share the work and a dead instance's deliveries are
//! taken over when their lease expires. At least once: receivers dedupe on
//! `webhook-id`.

pub mod schedule;
mod sender;
pub mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::schedule::{decide, AttemptResult, Decision, RetrySchedule};
use self::ssrf::{vet, AddressPolicy, Refusal, Resolver};
use crate::config::ClientScope;
use crate::metrics::Metrics;
use crate::representation::{shows_results, JobDocument};
use crate::standard_webhooks::SigningSecret;
use crate::store::{AttemptRecord, DeliveryClaim, JobStore, StoreError};

/// How callbacks are sent.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub signing_secret: SigningSecret,
    pub schedule: RetrySchedule,
    pub policy: AddressPolicy,
    /// Per attempt, from connect to the last byte of the answer.
    pub timeout: Duration,
    /// How long a claim is exclusive; longer than `timeout`.
    pub lease: Duration,
    /// How often the sweeper looks for due retries (new deliveries wake it).
    pub poll_interval: Duration,
    /// Attempts in flight at once per instance.
    pub concurrency: usize,
    /// Run the worker in the background of every instance (`CALLBACK_WORKER=on`).
    /// Off, only `POST /internal/deliveries/run` delivers: for Cloud Run's
    /// request-based billing, where a scheduler calls it.
    pub background: bool,
}

/// What one pass over the due deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    pub attempted: u32,
    pub delivered: u32,
    pub retrying: u32,
    pub exhausted: u32,
    pub disabled: u32,
    /// Attempts whose outcome could not be recorded (store down, lease lost).
    pub unrecorded: u32,
}

impl DeliveryCounts {
    /// The outcome of a single attempt's counts, as metrics label it.
    fn outcome(&self) -> &'static str {
        if self.delivered > 0 {
            "delivered"
        } else if self.retrying > 0 {
            "retrying"
        } else if self.exhausted > 0 {
            "exhausted"
        } else if self.disabled > 0 {
            "disabled"
        } else {
            "unrecorded"
        }
    }

    fn add(&mut self, other: DeliveryCounts) {
        self.attempted += other.attempted;
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.exhausted += other.exhausted;
        self.disabled += other.disabled;
        self.unrecorded += other.unrecorded;
    }
}

/// The delivery worker of this instance; cheap to clone.
#[derive(Clone)]
pub struct DeliveryWorker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn JobStore>,
    resolver: Arc<dyn Resolver>,
    config: CallbackConfig,
    /// This instance's name on the leases it holds.
    owner: String,
    wake: Notify,
    metrics: Metrics,
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<dyn JobStore>,
        resolver: Arc<dyn Resolver>,
        config: CallbackConfig,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                resolver,
                config,
                owner: format!("instance-{}", Uuid::new_v4().simple()),
                wake: Notify::new(),
                metrics,
            }),
        }
    }

    /// Starts a pass now instead of at the next poll: called right after an
    /// ingest commits a delivery, so the first attempt does not wait.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Delivers until `shutdown`: a pass whenever woken or every poll interval.
    /// On shutdown it stops claiming; the attempts in flight finish first.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.deliver_due(&shutdown).await {
                tracing::warn!(%error, "callback sweep failed; will retry");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(self.inner.config.poll_interval) => {}
            }
        }
    }

    /// Claims and attempts every due delivery, batch by batch, until none is
    /// due or `stop` is cancelled. Public so a scheduler endpoint (and tests)
    /// can drive delivery deterministically.
    pub async fn deliver_due(
        &self,
        stop: &CancellationToken,
    ) -> Result<DeliveryCounts, StoreError> {
        let batch = self.inner.config.concurrency.max(1);
        let mut counts = DeliveryCounts::default();
        while !stop.is_cancelled() {
            let claims = self
                .inner
                .store
                .claim_deliveries(&self.inner.owner, batch, self.inner.config.lease)
                .await?;
            let claimed = claims.len();
            let mut in_flight = JoinSet::new();
            for claim in claims {
                let worker = self.clone();
                in_flight.spawn(async move { worker.attempt(claim).await });
            }
            while let Some(done) = in_flight.join_next().await {
                counts.add(done.unwrap_or_else(|panic| {
                    tracing::error!(%panic, "a callback attempt panicked");
                    DeliveryCounts {
                        unrecorded: 1,
                        ..Default::default()
                    }
                }));
            }
            if claimed < batch {
                break;
            }
        }
        Ok(counts)
    }

    /// Gives back every lease this instance still holds (shutdown).
    pub async fn release(&self) {
        match self.inner.store.release_deliveries(&self.inner.owner).await {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(released, "released callback leases for other instances")
            }
            Err(error) => {
                tracing::warn!(%error, "could not release callback leases; they expire on their own")
            }
        }
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %claim.delivery_id, job_id = %claim.job_id, attempt = claim.attempts + 1))]
    async fn attempt(&self, claim: DeliveryClaim) -> DeliveryCounts {
        let attempt = u32::try_from(claim.attempts).unwrap_or(0) + 1;
        let counts = self.try_once(claim, attempt).await;
        self.inner
            .metrics
            .callback_attempt(counts.outcome(), attempt);
        counts
    }

    /// One attempt and its recorded outcome.
    async fn try_once(&self, claim: DeliveryClaim, attempts_made: u32) -> DeliveryCounts {
        let config = &self.inner.config;
        // The whole attempt (read, vet, send) ends before the lease does, so
        // no other instance can take the delivery while it is being sent.
        let budget = (config.lease + config.timeout) / 2;
        let (result, error) = match tokio::time::timeout(budget, self.outcome(&claim)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(error)) => {
                // Nothing was sent; the lease expires and the delivery is retried.
                tracing::warn!(%error, "could not read the job for its callback");
                return DeliveryCounts {
                    unrecorded: 1,
                    ..Default::default()
                };
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = budget.as_millis() as u64,
                    "callback attempt overran its lease budget; it will be retried"
                );
                return DeliveryCounts {
                    unrecorded: 1,
                    ..Default::default()
                };
            }
        };
        let decision = decide(&result, attempts_made, &config.schedule);
        let http_status = match result {
            AttemptResult::Answered { status, .. } => Some(status),
            _ => None,
        };
        let record = AttemptRecord {
            state: decision.state(),
            http_status,
            error: error.clone(),
            retry_in: match decision {
                Decision::RetryIn(delay) => Some(delay),
                _ => None,
            },
        };
        log_attempt(decision, http_status, error.as_deref());
        let recorded = self
            .inner
            .store
            .record_attempt(claim.delivery_id, &self.inner.owner, &record)
            .await;
        let mut counts = DeliveryCounts {
            attempted: 1,
            ..Default::default()
        };
        match recorded {
            Ok(true) => match decision {
                Decision::Delivered => counts.delivered = 1,
                Decision::RetryIn(_) => counts.retrying = 1,
                Decision::Exhausted => counts.exhausted = 1,
                Decision::Disabled => counts.disabled = 1,
            },
            Ok(false) => {
                tracing::warn!(
                    "lease lost before the outcome was recorded; another instance owns it"
                );
                counts.unrecorded = 1;
            }
            Err(error) => {
                tracing::warn!(%error, "could not record the callback outcome; it will be retried");
                counts.unrecorded = 1;
            }
        }
        counts
    }

    /// Builds the body, vets the URL and sends: the attempt's result and the
    /// error text to record. `Err` only when the store could not be read.
    async fn outcome(
        &self,
        claim: &DeliveryClaim,
    ) -> Result<(AttemptResult, Option<String>), StoreError> {
        let Some(body) = self.document(claim.job_id).await? else {
            return Ok((
                AttemptResult::Refused,
                Some("the job no longer exists".into()),
            ));
        };
        let config = &self.inner.config;
        let target = match vet(
            &claim.target_url,
            &config.policy,
            &self.inner.resolver,
            config.timeout,
        )
        .await
        {
            Ok(target) => target,
            Err(Refusal::Permanent(reason)) => return Ok((AttemptResult::Refused, Some(reason))),
            Err(Refusal::Unresolved(reason)) => return Ok((AttemptResult::NoAnswer, Some(reason))),
        };
        let delivery_id = claim.delivery_id.to_string();
        let attempt = sender::send(
            &target,
            &delivery_id,
            body,
            &config.signing_secret,
            config.timeout,
        )
        .await;
        Ok((attempt.result, attempt.error))
    }

    /// The callback body: the job as a poll shows it, with every result.
    async fn document(&self, job_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let store = &self.inner.store;
        let Some(job) = store.job(job_id, &ClientScope::AllClients).await? else {
            return Ok(None);
        };
        let with_results = shows_results(&job.status);
        let mut document = JobDocument::new(job);
        document.callback = None;
        if with_results {
            let mut results = Vec::new();
            loop {
                let after = results
                    .last()
                    .map(|r: &crate::store::ResultRecord| r.product_id.clone());
                let page = store.results_page(job_id, after.as_deref(), PAGE).await?;
                let last_page = page.len() < PAGE;
                results.extend(page);
                if last_page {
                    break;
                }
            }
            document = document.with_results(results);
        }
        Ok(Some(
            serde_json::to_vec(&document).expect("a job document serialises"),
        ))
    }
}

/// Results read per store call while building a callback body.
const PAGE: usize = 5000;

fn log_attempt(decision: Decision, http_status: Option<u16>, error: Option<&str>) {
    match decision {
        Decision::Delivered => tracing::info!(http_status, "callback delivered"),
        Decision::RetryIn(delay) => {
            tracing::warn!(
                http_status,
                error,
                retry_in_ms = delay.as_millis() as u64,
                "callback attempt failed; will retry"
            )
        }
        Decision::Exhausted => {
            tracing::warn!(http_status, error, "callback exhausted its retry schedule")
        }
        Decision::Disabled => tracing::warn!(
            http_status,
            error,
            "callback disabled; it will not be retried"
        ),
    }
}
