//! Opening the database with its settings and schema, and checking that
//! schema (`/readyz`, `rosetta-webhook check`).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{ingest, outbox, reads, BUSY_TIMEOUT};
use crate::store::schema::TABLES;
use crate::store::StoreError;

const SCHEMA: &str = include_str!("schema.sql");
/// `PRAGMA user_version` once `schema.sql` and the upgrades below are applied.
pub(super) const SCHEMA_VERSION: i64 = 3;

/// Version 2: the digest of the last webhook applied to a job, which tells
/// an engine's retry of the same body (a duplicate) from a new webhook.
/// (`schema.sql` stays at version 1's shape so an older file upgrades the
/// same way a new one is built.)
const ADD_LAST_WEBHOOK_DIGEST: &str =
    "alter table classification_jobs add column last_webhook_digest text";

/// Version 3: Standard Webhooks message ids seen (replay protection) and
/// stored API keys, the twins of `migrations/20261203000300_security.sql`.
const SECURITY_TABLES: &str = "
    create table if not exists webhook_messages (
        message_id  text primary key not null check (length(message_id) between 1 and 256),
        job_id      text not null,
        received_at text not null
    ) strict;
    create index if not exists webhook_messages_received_at_idx on webhook_messages (received_at);
    create table if not exists api_keys (
        key_hash   text primary key not null check (length(key_hash) = 64),
        client_id  text not null check (length(client_id) between 1 and 256),
        label      text not null default '' check (length(label) <= 256),
        created_at text not null,
        revoked_at text
    ) strict;
    create index if not exists api_keys_client_id_idx on api_keys (client_id);";

/// A configured connection to the database at `path`, its schema in place.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let cannot_open = |e: rusqlite::Error| {
        StoreError::Unavailable(format!(
            "cannot open the SQLite database {}: {e} (does its folder exist, and may this user write there?)",
            path.display()
        ))
    };
    let mut connection = Connection::open(path).map_err(cannot_open)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(cannot_open)?;
    let journal: String = connection
        .query_row("pragma journal_mode = wal", [], |row| row.get(0))
        .map_err(cannot_open)?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "the SQLite database {} cannot use a WAL journal (it is in {journal} mode)",
            path.display()
        )));
    }
    // FULL: a commit is on disk before the webhook is acknowledged, also
    // across a power cut (NORMAL would only survive a crash of the process).
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(cannot_open)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(cannot_open)?;
    match create_schema(&mut connection) {
        Ok(()) => {}
        // A file with tables of another shape (or from a newer build) still
        // opens, as a PostgREST without migrations does: `/readyz` answers
        // 503 and `check` lists every problem.
        Err(StoreError::SchemaMissing(reason)) => tracing::warn!(
            path = %path.display(),
            %reason,
            "the SQLite schema could not be created; `rosetta-webhook check` lists what is wrong"
        ),
        Err(other) => return Err(other),
    }
    Ok(connection)
}

/// Applies `schema.sql` in one transaction (idempotent; all or nothing),
/// unless a newer build made the file.
fn create_schema(connection: &mut Connection) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| super::store_error(e);
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let version: i64 = transaction
        .query_row("pragma user_version", [], |row| row.get(0))
        .map_err(failed)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaMissing(format!(
            "its schema version is {version}, newer than this build's {SCHEMA_VERSION}"
        )));
    }
    transaction.execute_batch(SCHEMA).map_err(failed)?;
    let has_digest: bool = transaction
        .query_row(
            "select count(*) > 0 from pragma_table_info('classification_jobs') where name = 'last_webhook_digest'",
            [],
            |row| row.get(0),
        )
        .map_err(failed)?;
    if !has_digest {
        transaction
            .execute_batch(ADD_LAST_WEBHOOK_DIGEST)
            .map_err(failed)?;
    }
    transaction.execute_batch(SECURITY_TABLES).map_err(failed)?;
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(failed)?;
    transaction.commit().map_err(failed)
}

/// What the store needs and the file lacks: tables, columns, and then
/// whether every statement the store runs compiles (conflict targets need
/// their unique keys).
pub(super) fn schema_problems(connection: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    let mut problems = Vec::new();
    for table in &TABLES {
        let mut columns = connection.prepare_cached("select name from pragma_table_info(?1)")?;
        let present = columns
            .query_map([table.name], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if present.is_empty() {
            problems.push(format!("table {} is missing", table.name));
            continue;
        }
        for column in table.columns {
            if !present.iter().any(|name| name == column) {
                problems.push(format!("column {}.{column} is missing", table.name));
            }
        }
    }
    if problems.is_empty() {
        let statements = ingest::STATEMENTS
            .iter()
            .chain(reads::STATEMENTS)
            .chain(outbox::STATEMENTS);
        for (purpose, sql) in statements {
            if let Err(error) = connection.prepare(sql) {
                problems.push(format!("the {purpose} cannot run on this schema: {error}"));
            }
        }
    }
    let version: i64 = connection.query_row("pragma user_version", [], |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        problems.push(format!(
            "schema version is {version}, this build uses {SCHEMA_VERSION}"
        ));
    }
    Ok(problems)
}

/// SQLite's words for a table, column or unique key the statement needs.
pub(super) fn means_schema_missing(message: &str) -> bool {
    message.starts_with("no such table")
        || message.starts_with("no such column")
        || message.contains("has no column named")
        || message.contains("ON CONFLICT clause does not match")
}
