//! The store on embedded SQLite (`rusqlite`, SQLite compiled in): one file,
//! nothing to install. Same semantics as the PostgREST backend, point by
//! point; `tests/api/conformance.rs` runs one suite against both.
//!
//! **Threading.** Each store owns one connection on a dedicated thread and
//! sends it work over a channel; async callers await the answer. Not
//! `spawn_blocking`: a connection is not `Sync`, so sharing one between
//! blocking-pool threads needs a mutex, and every caller waiting on it
//! (e.g. behind a busy timeout) would hold a blocking-pool thread that DNS
//! lookups also need. One thread gives FIFO order, a bounded queue and a
//! warm statement cache; SQLite runs one write at a time anyway, and reads
//! of a single job are short.
//!
//! **Transactions.** Every write is `BEGIN IMMEDIATE`: it takes SQLite's
//! write lock up front (waiting up to [`BUSY_TIMEOUT`] for another process
//! that holds it) instead of failing on upgrade. That lock is also what
//! makes a claim exclusive, where PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
//! The journal is WAL, so readers never wait for the writer.

mod connection;
mod ingest;
mod keys;
mod outbox;
mod reads;
mod time;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    ApiKeyRecord, AttemptRecord, DeliveryClaim, IngestReceipt, JobRecord, JobStore, NewApiKey,
    OutboxStats, ResultRecord, StoreError,
};
use crate::config::ClientScope;
use crate::domain::CompletedJob;

/// How long a write waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Calls queued for the connection's thread before callers wait to queue.
const QUEUE: usize = 256;

type Work = Box<dyn FnOnce(&mut Connection) + Send>;

pub struct SqliteStore {
    work: mpsc::Sender<Work>,
    timeout: Duration,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`: WAL journal, busy
    /// timeout, foreign keys on, and the schema created if it is missing.
    /// `timeout` bounds every later call, as `STORE_TIMEOUT_SECONDS` does for
    /// PostgREST.
    pub async fn open(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        let (work, mut queue) = mpsc::channel::<Work>(QUEUE);
        let (opened, open_result) = oneshot::channel();
        let path: PathBuf = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-store".into())
            .spawn(move || {
                let mut connection = match connection::connect(&path) {
                    Ok(connection) => connection,
                    Err(error) => {
                        let _ = opened.send(Err(error));
                        return;
                    }
                };
                let _ = opened.send(Ok(()));
                // Ends when the store (every sender) is dropped.
                while let Some(work) = queue.blocking_recv() {
                    work(&mut connection);
                }
            })
            .map_err(|e| {
                StoreError::Unavailable(format!("could not start the SQLite thread: {e}"))
            })?;
        open_result.await.map_err(|_| stopped())??;
        Ok(Self { work, timeout })
    }

    /// Runs `f` on the connection's thread and returns what it returns.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let work: Work = Box::new(move |connection| {
            // A panic must not take the thread (and so the store) down; an
            // open transaction is rolled back as it unwinds.
            let result = match catch_unwind(AssertUnwindSafe(|| f(connection))) {
                Ok(result) => result.map_err(store_error),
                Err(_) => Err(StoreError::Refused("a SQLite store call panicked".into())),
            };
            let _ = answer.send(result);
        });
        let exchange = async {
            self.work.send(work).await.map_err(|_| stopped())?;
            answered.await.map_err(|_| stopped())?
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "the SQLite store did not answer within {} s",
                    self.timeout.as_secs_f64()
                ))
            })?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite store's thread has stopped".into())
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits what it did.
fn write<T>(
    connection: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, rusqlite::Error>,
) -> Result<T, rusqlite::Error> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

/// Sorts SQLite's errors by what the caller should do, as the PostgREST
/// backend sorts HTTP answers.
fn store_error(error: rusqlite::Error) -> StoreError {
    let text = error.to_string();
    let code = match &error {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(
            format!("the SQLite database stayed locked by another connection: {text}"),
        ),
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::OutOfMemory
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt,
        ) => StoreError::Unavailable(text),
        _ if connection::means_schema_missing(&text) => StoreError::SchemaMissing(text),
        _ => StoreError::Refused(text),
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn ingest(&self, job: &CompletedJob) -> Result<IngestReceipt, StoreError> {
        let job = job.clone();
        self.call(move |connection| write(connection, |tx| ingest::ingest(tx, &job)))
            .await
    }

    async fn ingest_once(
        &self,
        job: &CompletedJob,
        message_id: &str,
    ) -> Result<IngestReceipt, StoreError> {
        let (job, message_id) = (job.clone(), message_id.to_owned());
        self.call(move |connection| {
            write(connection, |tx| keys::ingest_once(tx, &job, &message_id))
        })
        .await
    }

    async fn api_key_scope(&self, key_hash: &str) -> Result<Option<ClientScope>, StoreError> {
        let key_hash = key_hash.to_owned();
        self.call(move |connection| keys::scope(connection, &key_hash))
            .await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        let key = key.clone();
        self.call(move |connection| write(connection, |tx| keys::create(tx, &key)))
            .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.call(|connection| keys::all(connection)).await
    }

    async fn revoke_api_key(&self, key_hash: &str) -> Result<bool, StoreError> {
        let key_hash = key_hash.to_owned();
        self.call(move |connection| write(connection, |tx| keys::revoke(tx, &key_hash)))
            .await
    }

    async fn job(
        &self,
        job_id: Uuid,
        scope: &ClientScope,
    ) -> Result<Option<JobRecord>, StoreError> {
        let client_id = match scope {
            ClientScope::AllClients => None,
            ClientScope::Client(client_id) => Some(client_id.clone()),
        };
        self.call(move |connection| reads::job(connection, job_id, client_id.as_deref()))
            .await
    }

    async fn results_page(
        &self,
        job_id: Uuid,
        after_product_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let after = after_product_id.map(str::to_owned);
        self.call(move |connection| {
            reads::results_page(connection, job_id, after.as_deref(), limit.max(1))
        })
        .await
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let problems = self.schema_problems().await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::SchemaMissing(problems.join("; ")))
        }
    }

    async fn schema_problems(&self) -> Result<Vec<String>, StoreError> {
        self.call(|db| connection::schema_problems(db)).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DeliveryClaim>, StoreError> {
        let owner = owner.to_owned();
        self.call(move |connection| write(connection, |tx| outbox::claim(tx, &owner, limit, lease)))
            .await
    }

    async fn record_attempt(
        &self,
        delivery_id: Uuid,
        owner: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        let attempt = attempt.clone();
        self.call(move |connection| {
            write(connection, |tx| {
                outbox::record(tx, delivery_id, &owner, &attempt)
            })
        })
        .await
    }

    async fn release_deliveries(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.call(move |connection| write(connection, |tx| outbox::release(tx, &owner)))
            .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.call(|connection| outbox::stats(connection)).await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::ffi;

    use super::*;

    fn failure(code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
    }

    #[test]
    fn errors_are_sorted_by_what_the_caller_should_do() {
        let busy = store_error(failure(ffi::SQLITE_BUSY, "database is locked"));
        assert!(matches!(busy, StoreError::Unavailable(m) if m.contains("locked")));
        let full = store_error(failure(ffi::SQLITE_FULL, "database or disk is full"));
        assert!(matches!(full, StoreError::Unavailable(_)));
        let missing = store_error(failure(
            ffi::SQLITE_ERROR,
            "no such table: callback_deliveries",
        ));
        assert!(
            matches!(missing, StoreError::SchemaMissing(m) if m.contains("callback_deliveries"))
        );
        let column = store_error(failure(
            ffi::SQLITE_ERROR,
            "table classification_jobs has no column named extra",
        ));
        assert!(matches!(column, StoreError::SchemaMissing(_)));
        let check = store_error(failure(
            ffi::SQLITE_CONSTRAINT,
            "CHECK constraint failed: confidence between 0 and 1",
        ));
        assert!(matches!(check, StoreError::Refused(_)));
    }
}
