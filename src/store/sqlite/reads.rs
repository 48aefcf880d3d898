//! Client-scoped job reads and keyset pages of results.

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::store::{CallbackStatus, JobRecord, ResultRecord};

/// `?2` null reads every client's job (`*:key`); else only that client's.
const JOB: &str = "
    select job_id, client_id, status, total_products, completed_products, failed_products,
           created_at, updated_at, completed_at, metadata
    from classification_jobs
    where job_id = ?1 and (?2 is null or client_id = ?2)";

const LATEST_DELIVERY: &str = "
    select state, attempts, last_status, last_error, next_attempt_at, delivered_at
    from callback_deliveries
    where job_id = ?1
    order by created_at desc, rowid desc
    limit 1";

macro_rules! select_results {
    ($condition:literal) => {
        concat!(
            "select product_id, product_description, hts_code, hts_description, confidence,
                    duty_rate, source, section_301_applies, pga_flags, extra
             from classification_results
             where job_id = ?1 ",
            $condition,
            " order by product_id limit ?2"
        )
    };
}

/// Two statements rather than `(?3 is null or product_id > ?3)`, so each
/// page is a range scan of the `(job_id, product_id)` key.
const FIRST_RESULTS: &str = select_results!("");
const RESULTS_AFTER: &str = select_results!("and product_id > ?3");

/// Every statement, for the schema check.
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("poll's job read", JOB),
    ("poll's callback status read", LATEST_DELIVERY),
    ("poll's first result page", FIRST_RESULTS),
    ("poll's next result pages", RESULTS_AFTER),
];

/// The job with its latest callback delivery, both from one snapshot.
pub(super) fn job(
    connection: &mut Connection,
    job_id: Uuid,
    client_id: Option<&str>,
) -> Result<Option<JobRecord>, rusqlite::Error> {
    let snapshot = connection.transaction()?;
    let id = job_id.to_string();
    let job = snapshot
        .prepare_cached(JOB)?
        .query_row(params![id, client_id], job_record)
        .optional()?;
    let Some(mut job) = job else {
        return Ok(None);
    };
    job.callback_deliveries = snapshot
        .prepare_cached(LATEST_DELIVERY)?
        .query_row([&id], callback_status)
        .optional()?
        .into_iter()
        .collect();
    snapshot.commit()?;
    Ok(Some(job))
}

/// Up to `limit` results ordered by `product_id` (bytes), after `after`.
pub(super) fn results_page(
    connection: &mut Connection,
    job_id: Uuid,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ResultRecord>, rusqlite::Error> {
    let id = job_id.to_string();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match after {
        None => connection
            .prepare_cached(FIRST_RESULTS)?
            .query_map(params![id, limit], result_record)?
            .collect(),
        Some(after) => connection
            .prepare_cached(RESULTS_AFTER)?
            .query_map(params![id, limit, after], result_record)?
            .collect(),
    };
    rows
}

fn job_record(row: &Row<'_>) -> Result<JobRecord, rusqlite::Error> {
    let job_id: String = row.get(0)?;
    Ok(JobRecord {
        job_id: Uuid::try_parse(&job_id)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))?,
        client_id: row.get(1)?,
        status: row.get(2)?,
        total_products: row.get(3)?,
        completed_products: row.get::<_, Option<i64>>(4)?.unwrap_or_default(),
        failed_products: row.get::<_, Option<i64>>(5)?.unwrap_or_default(),
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        completed_at: row.get(8)?,
        metadata: json_or_default(row, 9)?,
        callback_deliveries: Vec::new(),
    })
}

fn callback_status(row: &Row<'_>) -> Result<CallbackStatus, rusqlite::Error> {
    Ok(CallbackStatus {
        state: row.get(0)?,
        attempts: row.get(1)?,
        last_status: row.get(2)?,
        last_error: row.get(3)?,
        next_attempt_at: row.get(4)?,
        delivered_at: row.get(5)?,
    })
}

fn result_record(row: &Row<'_>) -> Result<ResultRecord, rusqlite::Error> {
    Ok(ResultRecord {
        product_id: row.get(0)?,
        product_description: row.get(1)?,
        hts_code: row.get(2)?,
        hts_description: row.get(3)?,
        confidence: row.get(4)?,
        duty_rate: row.get(5)?,
        source: row.get(6)?,
        section_301_applies: row.get(7)?,
        pga_flags: json_or_default(row, 8)?,
        extra: json_or_default(row, 9)?,
    })
}

/// A JSON text column; null reads as the empty value, as PostgREST rows do.
fn json_or_default<T: DeserializeOwned + Default>(
    row: &Row<'_>,
    index: usize,
) -> Result<T, rusqlite::Error> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))),
    }
}
