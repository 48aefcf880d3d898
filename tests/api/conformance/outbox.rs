//! The callback outbox: one delivery per distinct webhook, claims that give
//! each due delivery to one instance, leases, owner-only records, release,
//! retry times and final states. Each store handle stands for one service
//! instance (its own SQLite connection, its own PostgREST client).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rosetta_webhook::config::ClientScope;
use rosetta_webhook::store::{AttemptRecord, CallbackStatus, DeliveryClaim, JobStore};
use serde_json::json;
use uuid::Uuid;

use super::{ingest, is_rfc3339, uuid, Backend};
use crate::support::{new_job_id, webhook};

const LONG_LEASE: Duration = Duration::from_secs(600);

/// A job with a callback; returns its job id and delivery id.
async fn job_with_callback(store: &Arc<dyn JobStore>) -> (String, Uuid) {
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "completed", 1);
    body["callback_url"] = json!("http://127.0.0.1:9/hooks/rosetta");
    let receipt = ingest(store, &body).await;
    (job_id, receipt.delivery_id.expect("a delivery"))
}

async fn claim(store: &Arc<dyn JobStore>, owner: &str, lease: Duration) -> Vec<DeliveryClaim> {
    store.claim_deliveries(owner, 100, lease).await.unwrap()
}

fn attempt(state: &'static str, status: Option<u16>, retry_in: Option<Duration>) -> AttemptRecord {
    AttemptRecord {
        state,
        http_status: status,
        error: status
            .filter(|s| *s >= 300)
            .map(|s| format!("HTTP {s}: try again")),
        retry_in,
    }
}

async fn callback_status(store: &Arc<dyn JobStore>, job_id: &str) -> CallbackStatus {
    let job = store
        .job(uuid(job_id), &ClientScope::AllClients)
        .await
        .unwrap()
        .unwrap();
    job.callback_deliveries
        .into_iter()
        .next()
        .expect("a delivery")
}

pub async fn a_delivery_is_recorded_once_per_distinct_webhook_with_a_callback_url(
    backend: Backend,
) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let receipt = ingest(&store, &webhook(&job_id, "partial", 1)).await;
    assert_eq!(receipt.delivery_id, None, "no callback_url, no delivery");
    assert!(backend.delivery_rows(&job_id).is_empty());

    let mut body = webhook(&job_id, "partial", 1);
    body["callback_url"] = json!("http://127.0.0.1:9/hooks/rosetta");
    let first = ingest(&store, &body).await.delivery_id.expect("recorded");
    assert_eq!(
        ingest(&store, &body).await.delivery_id,
        None,
        "the same webhook again"
    );
    let mut changed = body.clone();
    changed["results"][0]["hts_code"] = json!("6109.90.10");
    let second = ingest(&store, &changed)
        .await
        .delivery_id
        .expect("a distinct webhook");
    assert_ne!(first, second);

    let rows = backend.delivery_rows(&job_id);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.to_string(), second.to_string()]);
    for row in &rows {
        assert_eq!(row["state"], "pending");
        assert_eq!(row["target_url"], "http://127.0.0.1:9/hooks/rosetta");
        assert_eq!(row["attempts"], 0);
    }
    let claims = claim(&store, "instance-a", LONG_LEASE).await;
    let claimed: HashSet<Uuid> = claims.iter().map(|c| c.delivery_id).collect();
    assert_eq!(claimed, HashSet::from([first, second]));
    assert!(claims
        .iter()
        .all(|c| c.job_id == uuid(&job_id) && c.attempts == 0));
}

pub async fn concurrent_claimers_each_get_a_delivery_exactly_once(backend: Backend) {
    let a = backend.store().await;
    let b = backend.store().await;
    let mut expected = HashSet::new();
    for _ in 0..30 {
        expected.insert(job_with_callback(&a).await.1);
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for round in 0.. {
        // 30 deliveries, up to 8 a round: more rounds means some came back.
        assert!(
            round < 20,
            "claims never run dry: leased deliveries are claimed again"
        );
        let (claims_a, claims_b) = tokio::join!(
            a.claim_deliveries("instance-a", 4, LONG_LEASE),
            b.claim_deliveries("instance-b", 4, LONG_LEASE)
        );
        let (claims_a, claims_b) = (claims_a.unwrap(), claims_b.unwrap());
        if claims_a.is_empty() && claims_b.is_empty() {
            break;
        }
        got_a.extend(claims_a.into_iter().map(|c| c.delivery_id));
        got_b.extend(claims_b.into_iter().map(|c| c.delivery_id));
    }
    let set_a: HashSet<Uuid> = got_a.iter().copied().collect();
    let set_b: HashSet<Uuid> = got_b.iter().copied().collect();
    assert_eq!(set_a.len(), got_a.len(), "a got nothing twice");
    assert_eq!(set_b.len(), got_b.len(), "b got nothing twice");
    assert!(set_a.is_disjoint(&set_b), "no delivery went to both");
    assert_eq!(&set_a | &set_b, expected, "every due delivery was claimed");
}

pub async fn a_lease_blocks_other_claims_until_it_expires(backend: Backend) {
    let a = backend.store().await;
    let b = backend.store().await;
    let (_, delivery_id) = job_with_callback(&a).await;
    let lease = Duration::from_millis(1500);
    let claimed = claim(&a, "instance-a", lease).await;
    assert_eq!(
        claimed.iter().map(|c| c.delivery_id).collect::<Vec<_>>(),
        [delivery_id]
    );
    assert!(
        claim(&b, "instance-b", lease).await.is_empty(),
        "leased to a"
    );

    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    let taken_over = claim(&b, "instance-b", LONG_LEASE).await;
    assert_eq!(taken_over.len(), 1, "claimable once the lease expired");
    assert_eq!(taken_over[0].delivery_id, delivery_id);
    assert_eq!(taken_over[0].attempts, 0, "a's attempt was never recorded");
    let late = attempt("delivered", Some(200), None);
    assert!(
        !a.record_attempt(delivery_id, "instance-a", &late)
            .await
            .unwrap(),
        "a lost it"
    );
    assert!(b
        .record_attempt(delivery_id, "instance-b", &late)
        .await
        .unwrap());
}

pub async fn only_the_lease_owner_records_an_attempt(backend: Backend) {
    let a = backend.store().await;
    let b = backend.store().await;
    let (job_id, delivery_id) = job_with_callback(&a).await;
    assert_eq!(claim(&a, "instance-a", LONG_LEASE).await.len(), 1);

    let failed = attempt("failed", Some(500), Some(Duration::from_secs(60)));
    assert!(!b
        .record_attempt(delivery_id, "instance-b", &failed)
        .await
        .unwrap());
    let untouched = callback_status(&a, &job_id).await;
    assert_eq!(
        (untouched.state.as_str(), untouched.attempts),
        ("pending", 0)
    );

    assert!(a
        .record_attempt(delivery_id, "instance-a", &failed)
        .await
        .unwrap());
    let recorded = callback_status(&b, &job_id).await;
    assert_eq!(recorded.state, "failed");
    assert_eq!(recorded.attempts, 1);
    assert_eq!(recorded.last_status, Some(500));
    assert_eq!(recorded.last_error.as_deref(), Some("HTTP 500: try again"));
    assert!(recorded.next_attempt_at.as_deref().is_some_and(is_rfc3339));
    assert_eq!(recorded.delivered_at, None);
    assert!(
        !a.record_attempt(delivery_id, "instance-a", &failed)
            .await
            .unwrap(),
        "recording ends the lease"
    );
    assert_eq!(callback_status(&b, &job_id).await.attempts, 1);
}

pub async fn released_deliveries_are_claimable_at_once(backend: Backend) {
    let a = backend.store().await;
    let b = backend.store().await;
    job_with_callback(&a).await;
    job_with_callback(&a).await;
    assert_eq!(claim(&a, "instance-a", LONG_LEASE).await.len(), 2);
    assert!(claim(&b, "instance-b", LONG_LEASE).await.is_empty());

    assert_eq!(a.release_deliveries("instance-a").await.unwrap(), 2);
    assert_eq!(
        a.release_deliveries("instance-a").await.unwrap(),
        0,
        "nothing left to give back"
    );
    assert_eq!(b.release_deliveries("instance-c").await.unwrap(), 0);
    assert_eq!(
        claim(&b, "instance-b", LONG_LEASE).await.len(),
        2,
        "claimable without waiting"
    );
}

pub async fn a_retry_is_not_claimed_before_its_time(backend: Backend) {
    let store = backend.store().await;
    let (_, delivery_id) = job_with_callback(&store).await;
    assert_eq!(claim(&store, "instance-a", LONG_LEASE).await.len(), 1);
    let retry_in = Duration::from_millis(1500);
    let failed = attempt("failed", Some(503), Some(retry_in));
    assert!(store
        .record_attempt(delivery_id, "instance-a", &failed)
        .await
        .unwrap());

    assert!(
        claim(&store, "instance-a", LONG_LEASE).await.is_empty(),
        "not due yet"
    );
    tokio::time::sleep(retry_in + Duration::from_millis(300)).await;
    let due = claim(&store, "instance-b", LONG_LEASE).await;
    assert_eq!(due.len(), 1, "due once its time came");
    assert_eq!((due[0].delivery_id, due[0].attempts), (delivery_id, 1));
}

pub async fn final_states_are_never_claimed(backend: Backend) {
    let store = backend.store().await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(job_with_callback(&store).await);
    }
    assert_eq!(claim(&store, "instance-a", LONG_LEASE).await.len(), 3);
    let outcomes = [
        attempt("delivered", Some(200), None),
        attempt("exhausted", Some(500), None),
        attempt("disabled", Some(410), None),
    ];
    for ((_, delivery_id), outcome) in jobs.iter().zip(&outcomes) {
        assert!(store
            .record_attempt(*delivery_id, "instance-a", outcome)
            .await
            .unwrap());
    }
    assert!(claim(&store, "instance-b", LONG_LEASE).await.is_empty());
    assert_eq!(store.release_deliveries("instance-a").await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        claim(&store, "instance-b", LONG_LEASE).await.is_empty(),
        "not later either"
    );

    for ((job_id, _), outcome) in jobs.iter().zip(&outcomes) {
        let status = callback_status(&store, job_id).await;
        assert_eq!(status.state, outcome.state);
        assert_eq!(status.next_attempt_at, None, "{}: final", outcome.state);
        assert_eq!(
            status.delivered_at.is_some(),
            outcome.state == "delivered",
            "{}",
            outcome.state
        );
    }
}

pub async fn a_gone_receiver_stops_every_callback_of_its_job(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let mut body = webhook(&job_id, "partial", 1);
    body["callback_url"] = json!("http://127.0.0.1:9/hooks/rosetta");
    let first = ingest(&store, &body).await.delivery_id.unwrap();
    let mut newer = webhook(&job_id, "completed", 2);
    newer["callback_url"] = body["callback_url"].clone();
    let second = ingest(&store, &newer).await.delivery_id.unwrap();
    let claimed = store
        .claim_deliveries("instance-a", 1, LONG_LEASE)
        .await
        .unwrap();
    assert_eq!(claimed[0].delivery_id, first, "the oldest due first");

    let gone = attempt("disabled", Some(410), None);
    assert!(store
        .record_attempt(first, "instance-a", &gone)
        .await
        .unwrap());
    let rows = backend.delivery_rows(&job_id);
    assert_eq!(rows[1]["delivery_id"], second.to_string());
    assert_eq!(rows[1]["state"], "disabled", "the unfinished sibling too");
    assert_eq!(rows[1]["next_attempt_at"], serde_json::Value::Null);
    assert_eq!(rows[1]["attempts"], 0);
    assert!(rows[1]["last_error"].as_str().unwrap().contains("410 Gone"));
    assert!(claim(&store, "instance-b", LONG_LEASE).await.is_empty());

    let mut later = newer.clone();
    later["results"][0]["hts_code"] = json!("6109.90.10");
    assert_eq!(
        ingest(&store, &later).await.delivery_id,
        None,
        "none after a 410"
    );
    assert_eq!(backend.delivery_rows(&job_id).len(), 2);

    // Refused for another reason (no status): later webhooks still call back.
    let (other_job, refused) = job_with_callback(&store).await;
    assert_eq!(claim(&store, "instance-a", LONG_LEASE).await.len(), 1);
    let blocked = attempt("disabled", None, None);
    assert!(store
        .record_attempt(refused, "instance-a", &blocked)
        .await
        .unwrap());
    let mut again = webhook(&other_job, "completed", 2);
    again["callback_url"] = json!("http://127.0.0.1:9/hooks/rosetta");
    assert!(ingest(&store, &again).await.delivery_id.is_some());
}

pub async fn outbox_stats_count_what_is_unfinished_and_due(backend: Backend) {
    let store = backend.store().await;
    let empty = store.outbox_stats().await.unwrap();
    assert_eq!((empty.unfinished, empty.due), (0, 0));
    assert_eq!(empty.oldest_due_age_seconds, 0.0);

    let (_, _waiting) = job_with_callback(&store).await;
    let (_, retrying) = job_with_callback(&store).await;
    let (_, delivered) = job_with_callback(&store).await;
    assert_eq!(claim(&store, "instance-a", LONG_LEASE).await.len(), 3);
    let later = attempt("failed", Some(500), Some(Duration::from_secs(3600)));
    assert!(store
        .record_attempt(retrying, "instance-a", &later)
        .await
        .unwrap());
    let done = attempt("delivered", Some(200), None);
    assert!(store
        .record_attempt(delivered, "instance-a", &done)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stats = store.outbox_stats().await.unwrap();
    // `waiting` is due (its lease runs, its outcome not yet recorded);
    // `retrying` is unfinished but not due for an hour; `delivered` is final.
    assert_eq!(stats.unfinished, 2, "{stats:?}");
    assert_eq!(stats.due, 1, "{stats:?}");
    assert!(
        (1.0..60.0).contains(&stats.oldest_due_age_seconds),
        "{stats:?}"
    );
}
