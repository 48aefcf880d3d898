//! Stored API keys and Standard Webhooks message ids: the SQLite twins of
//! `api_keys`, `webhook_messages` and `ingest_classification_webhook_once`
//! (`migrations/20261203000300_security.sql`).

use rusqlite::{named_params, OptionalExtension, Transaction};

use super::time::Timestamp;
use crate::config::ClientScope;
use crate::domain::CompletedJob;
use crate::store::{scope_of_client, ApiKeyRecord, IngestReceipt, NewApiKey};

/// Message ids older than the replay window are forgotten, a batch per ingest.
const FORGET_OLD_MESSAGES: &str = "
    delete from webhook_messages where message_id in (
        select message_id from webhook_messages
        where received_at < :cutoff order by received_at limit 100)";

/// As the ingest, at most once per `message_id`: an id already recorded
/// applies nothing and answers a duplicate receipt for the job it came with.
pub(super) fn ingest_once(
    tx: &Transaction<'_>,
    job: &CompletedJob,
    message_id: &str,
) -> Result<IngestReceipt, rusqlite::Error> {
    let now = Timestamp::now();
    let recorded = tx
        .prepare_cached(
            "insert into webhook_messages (message_id, job_id, received_at)
             values (:message_id, :job_id, :now) on conflict (message_id) do nothing",
        )?
        .execute(named_params! {
            ":message_id": message_id,
            ":job_id": job.job_id.to_string(),
            ":now": now.rfc3339(),
        })?;
    if recorded == 0 {
        let first_job: String = tx
            .prepare_cached("select job_id from webhook_messages where message_id = :message_id")?
            .query_row(named_params! {":message_id": message_id}, |row| row.get(0))?;
        let status: Option<String> = tx
            .prepare_cached("select status from classification_jobs where job_id = :job_id")?
            .query_row(named_params! {":job_id": first_job}, |row| row.get(0))
            .optional()?;
        return Ok(IngestReceipt {
            job_id: first_job.parse().unwrap_or(job.job_id),
            status: status.unwrap_or_else(|| job.status.as_str().to_owned()),
            results_stored: 0,
            stale: false,
            delivery_id: None,
            duplicate: true,
        });
    }
    let cutoff = Timestamp::now().minus(std::time::Duration::from_secs(7 * 24 * 3600));
    tx.prepare_cached(FORGET_OLD_MESSAGES)?
        .execute(named_params! {":cutoff": cutoff.rfc3339()})?;
    super::ingest::ingest(tx, job)
}

pub(super) fn scope(
    connection: &rusqlite::Connection,
    key_hash: &str,
) -> Result<Option<ClientScope>, rusqlite::Error> {
    let client: Option<String> = connection
        .prepare_cached(
            "select client_id from api_keys where key_hash = :key_hash and revoked_at is null",
        )?
        .query_row(named_params! {":key_hash": key_hash}, |row| row.get(0))
        .optional()?;
    Ok(client.as_deref().map(scope_of_client))
}

pub(super) fn create(
    tx: &Transaction<'_>,
    key: &NewApiKey,
) -> Result<ApiKeyRecord, rusqlite::Error> {
    let created_at = Timestamp::now().rfc3339();
    tx.prepare_cached(
        "insert into api_keys (key_hash, client_id, label, created_at)
         values (:key_hash, :client_id, :label, :created_at)",
    )?
    .execute(named_params! {
        ":key_hash": key.key_hash,
        ":client_id": key.client_id,
        ":label": key.label,
        ":created_at": created_at,
    })?;
    Ok(ApiKeyRecord {
        key_hash: key.key_hash.clone(),
        client_id: key.client_id.clone(),
        label: key.label.clone(),
        created_at,
        revoked_at: None,
    })
}

pub(super) fn all(connection: &rusqlite::Connection) -> Result<Vec<ApiKeyRecord>, rusqlite::Error> {
    connection
        .prepare_cached(
            "select key_hash, client_id, label, created_at, revoked_at from api_keys
             order by created_at, key_hash",
        )?
        .query_map([], |row| {
            Ok(ApiKeyRecord {
                key_hash: row.get(0)?,
                client_id: row.get(1)?,
                label: row.get(2)?,
                created_at: row.get(3)?,
                revoked_at: row.get(4)?,
            })
        })?
        .collect()
}

pub(super) fn revoke(tx: &Transaction<'_>, key_hash: &str) -> Result<bool, rusqlite::Error> {
    let revoked = tx
        .prepare_cached(
            "update api_keys set revoked_at = :now where key_hash = :key_hash and revoked_at is null",
        )?
        .execute(named_params! {":now": Timestamp::now().rfc3339(), ":key_hash": key_hash})?;
    Ok(revoked == 1)
}
