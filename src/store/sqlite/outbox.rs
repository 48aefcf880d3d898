//! The callback outbox: leased claims, attempts recorded by the lease's
//! owner only, and leases given back. The SQLite twins of
//! `claim_callback_deliveries`, `record_callback_attempt` and
//! `release_callback_deliveries` (`migrations/`). Each runs in a
//! `BEGIN IMMEDIATE` transaction: holding SQLite's write lock from the
//! first read is what makes a claim exclusive (PostgreSQL: SKIP LOCKED).

use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{named_params, Transaction};
use uuid::Uuid;

use super::time::Timestamp;
use crate::store::{AttemptRecord, DeliveryClaim, OutboxStats};

/// Due (pending or failed, next attempt reached) and not leased to anyone
/// whose lease still runs; the oldest due first.
const CLAIM: &str = "
    update callback_deliveries set
        lease_owner = :owner,
        lease_expires_at = :lease_until,
        updated_at = :now
    where delivery_id in (
        select delivery_id
        from callback_deliveries
        where state in ('pending', 'failed')
          and next_attempt_at <= :now
          and (lease_expires_at is null or lease_expires_at <= :now)
        order by next_attempt_at
        limit :limit)
    returning delivery_id, job_id, target_url, attempts";

/// A 410 Gone disables the job's other unfinished deliveries too (whoever
/// records it: the receiver's answer stands even if the lease was lost).
const DISABLE_SIBLINGS: &str = "
    update callback_deliveries set
        state = 'disabled',
        last_error = 'the receiver answered 410 Gone to another callback of this job',
        next_attempt_at = null,
        updated_at = :now
    where job_id = (select job_id from callback_deliveries where delivery_id = :delivery_id)
      and delivery_id <> :delivery_id
      and state in ('pending', 'failed')";

/// Only while `:owner` holds the lease; ends it.
const RECORD: &str = "
    update callback_deliveries set
        state = :state,
        attempts = attempts + 1,
        last_status = :status,
        last_error = :error,
        next_attempt_at = :next_attempt_at,
        delivered_at = case when :state = 'delivered' then :now else delivered_at end,
        lease_owner = null,
        lease_expires_at = null,
        updated_at = :now
    where delivery_id = :delivery_id
      and lease_owner = :owner";

const RELEASE: &str = "
    update callback_deliveries set
        lease_owner = null,
        lease_expires_at = null,
        updated_at = :now
    where lease_owner = :owner";

/// Every statement, for the schema check.
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("callback claim", CLAIM),
    ("callback attempt record", RECORD),
    (
        "410 Gone's disabling of the job's other callbacks",
        DISABLE_SIBLINGS,
    ),
    ("callback lease release", RELEASE),
];

pub(super) fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DeliveryClaim>, rusqlite::Error> {
    let now = Timestamp::now();
    let mut claim = tx.prepare_cached(CLAIM)?;
    let claims = claim
        .query_map(
            named_params! {
                ":owner": owner,
                ":lease_until": now.plus(lease).rfc3339(),
                ":now": now.rfc3339(),
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
            },
            |row| {
                Ok(DeliveryClaim {
                    delivery_id: uuid_column(row.get(0)?, 0)?,
                    job_id: uuid_column(row.get(1)?, 1)?,
                    target_url: row.get(2)?,
                    attempts: row.get(3)?,
                })
            },
        )?
        .collect();
    claims
}

pub(super) fn record(
    tx: &Transaction<'_>,
    delivery_id: Uuid,
    owner: &str,
    attempt: &AttemptRecord,
) -> Result<bool, rusqlite::Error> {
    let now = Timestamp::now();
    if attempt.state == "disabled" && attempt.http_status == Some(410) {
        tx.prepare_cached(DISABLE_SIBLINGS)?
            .execute(named_params! {
                ":delivery_id": delivery_id.to_string(),
                ":now": now.rfc3339(),
            })?;
    }
    let recorded = tx.prepare_cached(RECORD)?.execute(named_params! {
        ":delivery_id": delivery_id.to_string(),
        ":owner": owner,
        ":state": attempt.state,
        ":status": attempt.http_status,
        ":error": attempt.error,
        ":next_attempt_at": attempt.retry_in.map(|delay| now.plus(delay).rfc3339()),
        ":now": now.rfc3339(),
    })?;
    Ok(recorded == 1)
}

pub(super) fn release(tx: &Transaction<'_>, owner: &str) -> Result<u64, rusqlite::Error> {
    let released = tx.prepare_cached(RELEASE)?.execute(named_params! {
        ":owner": owner,
        ":now": Timestamp::now().rfc3339(),
    })?;
    Ok(released as u64)
}

fn uuid_column(text: String, index: usize) -> Result<Uuid, rusqlite::Error> {
    Uuid::try_parse(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

/// The twin of `callback_outbox_stats()`: unfinished deliveries, how many
/// are due, and how long the oldest due one has waited.
const STATS: &str = "
    select count(*),
           count(*) filter (where next_attempt_at <= :now),
           coalesce((julianday(:now) - julianday(min(next_attempt_at) filter (where next_attempt_at <= :now))) * 86400.0, 0)
    from callback_deliveries
    where state in ('pending', 'failed')";

pub(super) fn stats(connection: &rusqlite::Connection) -> Result<OutboxStats, rusqlite::Error> {
    let now = Timestamp::now().rfc3339();
    connection
        .prepare_cached(STATS)?
        .query_row(named_params! {":now": now}, |row| {
            Ok(OutboxStats {
                unfinished: row.get::<_, i64>(0)?.max(0) as u64,
                due: row.get::<_, i64>(1)?.max(0) as u64,
                oldest_due_age_seconds: row.get::<_, f64>(2)?.max(0.0),
            })
        })
}
