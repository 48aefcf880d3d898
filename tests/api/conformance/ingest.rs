//! Ingest: one transaction, idempotent upserts, the order of statuses,
//! counters, `completed_at`, and what a pre-existing job row keeps.

use std::time::Duration;

use rosetta_webhook::config::ClientScope;
use rosetta_webhook::representation::ResultView;
use rosetta_webhook::store::{CallbackStatus, IngestReceipt};
use serde_json::{json, Value};

use super::{ingest, is_rfc3339, uuid, without, Backend};
use crate::support::{
    late_partial_retry, new_job_id, result, webhook, webhook_with_every_field, UNREACHABLE_CALLBACK,
};

const TIMESTAMPS: [&str; 3] = ["created_at", "updated_at", "completed_at"];

pub async fn ingest_stores_every_field(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let body = webhook_with_every_field(&job_id);

    let receipt = ingest(&store, &body).await;
    assert_eq!(receipt.job_id, uuid(&job_id));
    assert_eq!(receipt.status, "completed");
    assert_eq!(receipt.results_stored, 2);
    assert!(!receipt.stale);
    assert!(
        receipt.delivery_id.is_some(),
        "a job with a callback gets a delivery"
    );

    let row = backend.job_row(&job_id);
    for key in TIMESTAMPS {
        assert!(row[key].as_str().is_some_and(is_rfc3339), "{key}: {row}");
    }
    assert_eq!(row["created_at"], row["updated_at"]);
    assert_eq!(row["created_at"], row["completed_at"]);
    // What duplicate detection compares the next webhook with: a hex digest
    // (md5 on PostgreSQL, SHA-256 on SQLite).
    let digest = row["last_webhook_digest"].as_str().unwrap_or_default();
    assert!(
        matches!(digest.len(), 32 | 64) && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{row}"
    );
    assert!(!receipt.duplicate);
    let mut stored_columns = TIMESTAMPS.to_vec();
    stored_columns.push("last_webhook_digest");
    assert_eq!(
        without(row.clone(), &stored_columns),
        json!({
            "job_id": job_id,
            "client_id": "acme",
            "status": "completed",
            "callback_url": UNREACHABLE_CALLBACK,
            "total_products": 2,
            "completed_products": 2,
            "failed_products": 0,
            "metadata": body["metadata"],
            "extra": {"engine_version": "rosetta-2.4"}
        })
    );
    let rows = backend.result_rows(&job_id);
    assert_eq!(rows.len(), 2);
    for (row, sent) in rows.iter().zip(body["results"].as_array().unwrap()) {
        assert!(row["id"].as_str().is_some_and(|id| id.len() == 36), "{row}");
        let mut expected = sent.clone();
        let alternatives = expected.as_object_mut().unwrap().remove("alternatives");
        expected["extra"] = match alternatives {
            Some(alternatives) => json!({"alternatives": alternatives}),
            None => json!({}),
        };
        expected["job_id"] = json!(job_id);
        assert_eq!(
            without(row.clone(), &["id", "created_at", "updated_at"]),
            expected
        );
    }

    // Through the trait: what a poll and a callback read.
    let job = store
        .job(uuid(&job_id), &ClientScope::Client("acme".into()))
        .await
        .unwrap()
        .expect("the owner reads its job");
    assert_eq!(job.client_id.as_deref(), Some("acme"));
    assert_eq!(
        (
            job.total_products,
            job.completed_products,
            job.failed_products
        ),
        (Some(2), 2, 0)
    );
    assert_eq!(job.metadata, body["metadata"]);
    assert_eq!(Some(job.created_at.as_str()), row["created_at"].as_str());
    assert_eq!(job.completed_at.as_deref(), row["completed_at"].as_str());
    match job.callback_deliveries.as_slice() {
        [CallbackStatus {
            state,
            attempts: 0,
            last_status: None,
            last_error: None,
            next_attempt_at: Some(due),
            delivered_at: None,
        }] => {
            assert_eq!(state, "pending");
            assert!(is_rfc3339(due), "{due}");
        }
        other => panic!("one pending delivery expected: {other:?}"),
    }
    let page = store.results_page(uuid(&job_id), None, 10).await.unwrap();
    let read_back: Vec<Value> = page
        .into_iter()
        .map(|r| serde_json::to_value(ResultView(r)).unwrap())
        .collect();
    assert_eq!(
        Value::from(read_back),
        body["results"],
        "results read back as sent"
    );
}

pub async fn the_same_webhook_twice_leaves_the_state_of_one(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let body = webhook(&job_id, "completed", 3);
    let first = ingest(&store, &body).await;
    let job_once = backend.job_row(&job_id);
    let rows_once = backend.result_rows(&job_id);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = ingest(&store, &body).await;
    assert!(!first.duplicate);
    assert!(second.duplicate, "the repeat is reported as a duplicate");
    assert_eq!(
        IngestReceipt {
            duplicate: false,
            ..second.clone()
        },
        first,
        "otherwise the same receipt"
    );
    assert_eq!(second.results_stored, 3, "the rows were upserted again");

    // Only the bookkeeping timestamp moves: ids, values, created_at and
    // completed_at are what one send left.
    let job_twice = backend.job_row(&job_id);
    assert_ne!(job_twice["updated_at"], job_once["updated_at"]);
    assert_eq!(
        without(job_twice, &["updated_at"]),
        without(job_once, &["updated_at"])
    );
    let strip = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|r| without(r, &["updated_at"]))
            .collect()
    };
    assert_eq!(strip(backend.result_rows(&job_id)), strip(rows_once));
}

pub async fn a_later_webhook_adds_results_and_its_newer_values_win(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let mut first = webhook(&job_id, "partial", 2);
    first["metadata"] = json!({"total_products": 4, "completed": 2, "failed": 0});
    ingest(&store, &first).await;
    assert_eq!(backend.job_row(&job_id)["completed_at"], Value::Null);

    let mut second = webhook(&job_id, "completed", 4);
    second["results"][0]["hts_code"] = json!("6109.90.10");
    second["results"].as_array_mut().unwrap().remove(1);
    second["metadata"] = json!({"total_products": 4, "completed": 3, "failed": 1});
    let receipt = ingest(&store, &second).await;
    assert_eq!(
        (receipt.status.as_str(), receipt.results_stored),
        ("completed", 3)
    );

    let job = backend.job_row(&job_id);
    assert_eq!(job["status"], "completed");
    assert_eq!(
        (&job["completed_products"], &job["failed_products"]),
        (&json!(3), &json!(1))
    );
    assert!(job["completed_at"].is_string());
    let rows = backend.result_rows(&job_id);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["SKU-00000", "SKU-00001", "SKU-00002", "SKU-00003"],
        "the union"
    );
    assert_eq!(rows[0]["hts_code"], "6109.90.10", "the newer value wins");
    assert_eq!(rows[1]["hts_code"], first["results"][1]["hts_code"], "kept");
}

pub async fn a_stale_webhook_never_downgrades_and_never_overwrites(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let mut completed = webhook(&job_id, "completed", 3);
    completed["engine_version"] = json!("2.4");
    ingest(&store, &completed).await;
    let before = backend.job_row(&job_id);

    let mut late = late_partial_retry(&job_id);
    late["metadata"]["total_products"] = json!(9);
    late["engine_version"] = json!("2.3");
    let receipt = ingest(&store, &late).await;
    assert!(receipt.stale);
    assert_eq!(receipt.status, "completed");
    assert_eq!(receipt.results_stored, 1, "only the missing product");

    let after = backend.job_row(&job_id);
    for key in [
        "status",
        "total_products",
        "completed_products",
        "metadata",
        "extra",
        "completed_at",
    ] {
        assert_eq!(after[key], before[key], "{key} kept");
    }
    let rows = backend.result_rows(&job_id);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["product_id"], "SKU-00000");
    assert_eq!(
        rows[0]["hts_code"], completed["results"][0]["hts_code"],
        "not overwritten"
    );
    assert!(
        rows.iter().any(|r| r["product_id"] == "SKU-LATE"),
        "missing results are added"
    );
}

pub async fn counters_never_go_backwards(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    let counters = |job: &Value| {
        (
            job["completed_products"].clone(),
            job["failed_products"].clone(),
        )
    };
    let mut body = webhook(&job_id, "partial", 1);
    body["metadata"] = json!({"total_products": 10, "completed": 5, "failed": 1});
    ingest(&store, &body).await;

    body["metadata"] = json!({"total_products": 10, "completed": 3, "failed": 0});
    let receipt = ingest(&store, &body).await;
    assert!(
        !receipt.stale,
        "same rank: applied, but counters only go up"
    );
    assert_eq!(counters(&backend.job_row(&job_id)), (json!(5), json!(1)));

    // No counters: completed_products is at least the number of results stored.
    let mut uncounted = webhook(&job_id, "partial", 7);
    uncounted.as_object_mut().unwrap().remove("metadata");
    ingest(&store, &uncounted).await;
    assert_eq!(counters(&backend.job_row(&job_id)), (json!(7), json!(1)));

    body["status"] = json!("completed");
    body["metadata"] = json!({"total_products": 10, "completed": 6, "failed": 0});
    ingest(&store, &body).await;
    let job = backend.job_row(&job_id);
    assert_eq!(counters(&job), (json!(7), json!(1)));
    assert_eq!(job["status"], "completed");
}

pub async fn completed_at_is_set_once(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    ingest(&store, &webhook(&job_id, "partial", 1)).await;
    assert_eq!(backend.job_row(&job_id)["completed_at"], Value::Null);

    ingest(&store, &webhook(&job_id, "completed", 2)).await;
    let first = backend.job_row(&job_id)["completed_at"].clone();
    assert!(first.as_str().is_some_and(is_rfc3339), "{first}");

    for status in ["failed", "completed"] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let receipt = ingest(&store, &webhook(&job_id, status, 2)).await;
        assert!(
            !receipt.stale,
            "a re-run that flips the terminal status is applied"
        );
        let job = backend.job_row(&job_id);
        assert_eq!(job["status"], status);
        assert_eq!(job["completed_at"], first, "set once, when first terminal");
    }
}

pub async fn a_pre_existing_job_row_keeps_what_the_webhook_lacks(backend: Backend) {
    let store = backend.store().await;
    let job_id = new_job_id();
    backend.create_pending_job(&job_id, "acme", UNREACHABLE_CALLBACK, 2);
    let created = backend.job_row(&job_id);
    assert_eq!(created["status"], "processing");
    assert!(
        created["created_at"].as_str().is_some_and(is_rfc3339),
        "{created}"
    );

    // No client_id, callback_url or total_products in this webhook.
    let body = json!({"job_id": job_id, "status": "partial", "results": [result("SKU-1", 1)]});
    let receipt = ingest(&store, &body).await;
    assert_eq!(receipt.status, "partial");

    let job = backend.job_row(&job_id);
    assert_eq!(job["client_id"], "acme");
    assert_eq!(job["callback_url"], UNREACHABLE_CALLBACK);
    assert_eq!(job["total_products"], 2);
    assert_eq!(job["created_at"], created["created_at"]);
    assert_eq!(
        job["completed_products"], 1,
        "counted from the stored results"
    );
    let deliveries = backend.delivery_rows(&job_id);
    assert_eq!(
        deliveries.len(),
        1,
        "the row's callback URL gets the delivery"
    );
    assert_eq!(deliveries[0]["target_url"], UNREACHABLE_CALLBACK);
    assert_eq!(
        receipt.delivery_id.map(|id| id.to_string()),
        deliveries[0]["delivery_id"].as_str().map(str::to_owned)
    );
    let read = store
        .job(uuid(&job_id), &ClientScope::Client("acme".into()))
        .await
        .unwrap();
    assert!(
        read.is_some(),
        "the client set by the submission side reads it"
    );
}
