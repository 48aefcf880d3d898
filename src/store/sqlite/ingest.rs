//! The webhook in one transaction: the SQLite twin of PostgreSQL's
//! `ingest_classification_webhook` and `record_ingest_callback`
//! (`migrations/`), step by step and rule by rule.

use rusqlite::{named_params, Transaction};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::time::Timestamp;
use crate::domain::CompletedJob;
use crate::store::payload::IngestPayload;
use crate::store::IngestReceipt;

/// Creates the job row if there is none (the update below then applies the
/// webhook to it like to any other row).
const INSERT_JOB: &str = "
    insert into classification_jobs (
        job_id, client_id, status, callback_url, total_products, completed_products,
        failed_products, created_at, updated_at, completed_at, metadata, extra)
    values (
        :job_id, :client_id, :status, :callback_url, :total, coalesce(:completed, 0),
        coalesce(:failed, 0), :now, :now, case when :terminal then :now end, :metadata, :extra)
    on conflict (job_id) do nothing";

const READ_JOB: &str = "select status, metadata, extra, last_webhook_digest \
     from classification_jobs where job_id = :job_id";

/// `:stale`: the webhook ranks below the job. `:metadata` and `:extra` are
/// already merged (top-level keys, the webhook's win), as `jsonb || jsonb`.
const UPDATE_JOB: &str = "
    update classification_jobs set
        client_id = coalesce(:client_id, client_id),
        callback_url = coalesce(:callback_url, callback_url),
        status = case when :stale then status else :status end,
        total_products = case when :stale then total_products
                              else coalesce(:total, total_products) end,
        completed_products = max(coalesce(completed_products, 0), coalesce(:completed, 0)),
        failed_products = max(coalesce(failed_products, 0), coalesce(:failed, 0)),
        metadata = case when :stale then metadata else :metadata end,
        extra = case when :stale then extra else :extra end,
        last_webhook_digest = :digest,
        completed_at = coalesce(completed_at,
                                case when not :stale and :terminal then :now end),
        updated_at = :now
    where job_id = :job_id";

/// A stale webhook (`:overwrite` false) adds the products it carries that
/// are missing, but never overwrites newer values.
const UPSERT_RESULT: &str = "
    insert into classification_results (
        id, job_id, product_id, product_description, hts_code, hts_description, confidence,
        duty_rate, source, section_301_applies, pga_flags, extra, created_at, updated_at)
    values (
        :id, :job_id, :product_id, :product_description, :hts_code, :hts_description,
        :confidence, :duty_rate, :source, :section_301_applies, :pga_flags, :extra, :now, :now)
    on conflict (job_id, product_id) do update set
        product_description = excluded.product_description,
        hts_code = excluded.hts_code,
        hts_description = excluded.hts_description,
        confidence = excluded.confidence,
        duty_rate = excluded.duty_rate,
        source = excluded.source,
        section_301_applies = excluded.section_301_applies,
        pga_flags = excluded.pga_flags,
        extra = excluded.extra,
        updated_at = excluded.updated_at
    where :overwrite";

/// An engine that sends no counters still shows progress.
const COUNT_RESULTS: &str = "
    update classification_jobs set completed_products = max(completed_products,
        (select count(*) from classification_results where job_id = :job_id))
    where job_id = :job_id";

const READ_OUTCOME: &str =
    "select status, callback_url from classification_jobs where job_id = :job_id";

/// One delivery per (job, distinct webhook): the same body again adds none.
/// None at all once the job's receiver answered 410 Gone: it wants no more
/// callbacks for this job.
const INSERT_DELIVERY: &str = "
    insert into callback_deliveries (
        delivery_id, job_id, webhook_digest, target_url, state, attempts,
        next_attempt_at, created_at, updated_at)
    select :delivery_id, :job_id, :digest, :target_url, 'pending', 0, :now, :now, :now
    where not exists (
        select 1 from callback_deliveries
        where job_id = :job_id and state = 'disabled' and last_status = 410)
    on conflict (job_id, webhook_digest) do nothing";

/// Every statement, for the schema check.
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("ingest's job insert", INSERT_JOB),
    ("ingest's job read", READ_JOB),
    ("ingest's job update", UPDATE_JOB),
    ("ingest's result upsert", UPSERT_RESULT),
    ("ingest's result count", COUNT_RESULTS),
    ("ingest's outcome read", READ_OUTCOME),
    ("ingest's callback delivery insert", INSERT_DELIVERY),
];

/// Status order, as `classification_status_rank` in `migrations/`: a
/// webhook never moves a job to a lower rank; both terminal statuses share
/// the top rank, so a re-run that flips completed <-> failed is applied.
fn status_rank(status: &str) -> u8 {
    match status {
        "processing" => 1,
        "partial" => 2,
        "completed" | "failed" => TERMINAL_RANK,
        // "pending" (the CHECK constraint allows nothing else)
        _ => 0,
    }
}

const TERMINAL_RANK: u8 = 3;

pub(super) fn ingest(
    tx: &Transaction<'_>,
    job: &CompletedJob,
) -> Result<IngestReceipt, rusqlite::Error> {
    let now = Timestamp::now().rfc3339();
    let job_id = job.job_id.to_string();
    let status = job.status.as_str();
    let terminal = status_rank(status) == TERMINAL_RANK;
    let metadata = Value::Object(job.metadata.clone()).to_string();
    let extra = Value::Object(job.extra.clone()).to_string();

    tx.prepare_cached(INSERT_JOB)?.execute(named_params! {
        ":job_id": job_id,
        ":client_id": job.client_id,
        ":status": status,
        ":callback_url": job.callback_url,
        ":total": job.progress.total,
        ":completed": job.progress.completed,
        ":failed": job.progress.failed,
        ":now": now,
        ":terminal": terminal,
        ":metadata": metadata,
        ":extra": extra,
    })?;
    let (stored_status, stored_metadata, stored_extra, previous_digest): (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = tx
        .prepare_cached(READ_JOB)?
        .query_row(named_params! {":job_id": job_id}, |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
    // The same body as the last webhook applied: an engine's retry.
    let digest = IngestPayload::from(job).digest();
    let duplicate = previous_digest.as_deref() == Some(digest.as_str());
    let stale = status_rank(status) < status_rank(&stored_status);

    tx.prepare_cached(UPDATE_JOB)?.execute(named_params! {
        ":job_id": job_id,
        ":client_id": job.client_id,
        ":callback_url": job.callback_url,
        ":status": status,
        ":stale": stale,
        ":terminal": terminal,
        ":total": job.progress.total,
        ":completed": job.progress.completed,
        ":failed": job.progress.failed,
        ":metadata": merged(stored_metadata.as_deref(), &job.metadata),
        ":extra": merged(stored_extra.as_deref(), &job.extra),
        ":digest": digest,
        ":now": now,
    })?;

    let mut results_stored = 0u64;
    let mut upsert = tx.prepare_cached(UPSERT_RESULT)?;
    for result in &job.results {
        let changed = upsert.execute(named_params! {
            ":id": Uuid::new_v4().to_string(),
            ":job_id": job_id,
            ":product_id": result.product_id,
            ":product_description": result.product_description,
            ":hts_code": result.hts_code,
            ":hts_description": result.hts_description,
            ":confidence": result.confidence,
            ":duty_rate": result.duty_rate,
            ":source": result.source,
            ":section_301_applies": result.section_301_applies,
            ":pga_flags": Value::from(result.pga_flags.clone()).to_string(),
            ":extra": Value::Object(result.extra.clone()).to_string(),
            ":now": now,
            ":overwrite": !stale,
        })?;
        results_stored += changed as u64;
    }
    drop(upsert);

    if job.progress.completed.is_none() {
        tx.prepare_cached(COUNT_RESULTS)?
            .execute(named_params! {":job_id": job_id})?;
    }
    let (final_status, callback_url): (String, Option<String>) =
        tx.prepare_cached(READ_OUTCOME)?
            .query_row(named_params! {":job_id": job_id}, |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
    let delivery_id = match callback_url {
        Some(target_url) => record_callback(tx, &digest, &job_id, &target_url, &now)?,
        None => None,
    };
    Ok(IngestReceipt {
        job_id: job.job_id,
        status: final_status,
        results_stored,
        stale,
        delivery_id,
        duplicate,
    })
}

/// The delivery this webhook causes, unless the same webhook recorded one
/// or the job's receiver is gone.
fn record_callback(
    tx: &Transaction<'_>,
    digest: &str,
    job_id: &str,
    target_url: &str,
    now: &str,
) -> Result<Option<Uuid>, rusqlite::Error> {
    let delivery_id = Uuid::new_v4();
    let inserted = tx.prepare_cached(INSERT_DELIVERY)?.execute(named_params! {
        ":delivery_id": delivery_id.to_string(),
        ":job_id": job_id,
        ":digest": digest,
        ":target_url": target_url,
        ":now": now,
    })?;
    Ok((inserted == 1).then_some(delivery_id))
}

/// `stored || incoming` for JSON objects: top-level keys, incoming wins.
/// A stored value that is missing or not an object counts as `{}`.
fn merged(stored: Option<&str>, incoming: &Map<String, Value>) -> String {
    let mut base = stored
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|value| match value {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    base.extend(incoming.iter().map(|(k, v)| (k.clone(), v.clone())));
    Value::Object(base).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merging_is_shallow_and_the_webhook_wins() {
        let incoming = json!({"b": {"y": 2}, "c": null});
        let merged: Value = serde_json::from_str(&merged(
            Some(r#"{"a": 1, "b": {"x": 1}}"#),
            incoming.as_object().unwrap(),
        ))
        .unwrap();
        assert_eq!(merged, json!({"a": 1, "b": {"y": 2}, "c": null}));
        let from_nothing = merged_value(None, &incoming);
        assert_eq!(from_nothing, incoming);
        assert_eq!(merged_value(Some("[1]"), &incoming), incoming);
    }

    fn merged_value(stored: Option<&str>, incoming: &Value) -> Value {
        serde_json::from_str(&merged(stored, incoming.as_object().unwrap())).unwrap()
    }

    #[test]
    fn ranks_match_the_sql_function() {
        let ranks: Vec<u8> = ["pending", "processing", "partial", "completed", "failed"]
            .into_iter()
            .map(status_rank)
            .collect();
        assert_eq!(ranks, [0, 1, 2, 3, 3]);
    }
}
