//! The backends the suite runs against, and what a test needs from each
//! beside the trait: the rows as stored (read with the backend's own SQL
//! tool, as an operator would), and a job row written by the submission
//! side before any webhook.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rosetta_webhook::config::StoreConfig;
use rosetta_webhook::store::{self, JobStore};
use rusqlite::types::ValueRef;
use serde_json::{Map, Value};

use crate::support::scratch::ScratchDir;
use crate::support::{create_pending_job, shared, test_config, Stack};

/// Deadline of one store call in the suite.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a PostgREST test may share the process-wide stack. Tests that
/// claim deliveries, or look at a delivery's state, need a stack of their
/// own: the service instances of other tests sweep the shared outbox.
pub enum Isolation {
    Shared,
    Isolated,
}

pub enum Backend {
    /// The folder is removed with the backend.
    Sqlite {
        _dir: ScratchDir,
        file: PathBuf,
    },
    Postgrest {
        stack: Arc<Stack>,
    },
}

impl Backend {
    pub fn sqlite(label: &str) -> Self {
        let dir = ScratchDir::new(label);
        let file = dir.path().join("store.db");
        Self::Sqlite { _dir: dir, file }
    }

    pub fn postgrest(isolation: Isolation, label: &str) -> Self {
        let stack = match isolation {
            Isolation::Shared => shared(),
            Isolation::Isolated => Stack::isolated(&label.chars().take(20).collect::<String>()),
        };
        Self::Postgrest { stack }
    }

    /// A store on the backend's data, as one service instance opens it.
    /// Each call is another instance: another SQLite connection and thread,
    /// another PostgREST client.
    pub async fn store(&self) -> Arc<dyn JobStore> {
        let config = match self {
            Self::Sqlite { file, .. } => StoreConfig::sqlite(file),
            Self::Postgrest { stack } => test_config(&stack.postgrest.url()).store,
        };
        store::open(&config, TIMEOUT).await.unwrap()
    }

    /// The job row with every column, or null.
    pub fn job_row(&self, job_id: &str) -> Value {
        self.rows("classification_jobs", job_id, "job_id")
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
    }

    /// Every result row of the job, ordered by product_id.
    pub fn result_rows(&self, job_id: &str) -> Vec<Value> {
        self.rows("classification_results", job_id, "product_id")
    }

    /// Every callback delivery of the job, oldest first.
    pub fn delivery_rows(&self, job_id: &str) -> Vec<Value> {
        self.rows("callback_deliveries", job_id, "created_at")
    }

    fn rows(&self, table: &str, job_id: &str, order: &str) -> Vec<Value> {
        match self {
            Self::Postgrest { stack } => match stack.db.json(&format!(
                "select json_agg(t order by {order}) from {table} t where job_id = '{job_id}'"
            )) {
                Value::Array(rows) => rows,
                _ => Vec::new(),
            },
            Self::Sqlite { file, .. } => sqlite_rows(
                file,
                &format!("select * from {table} where job_id = ?1 order by {order}"),
                job_id,
            ),
        }
    }

    /// The row the submission side creates: `processing`, with the client,
    /// the callback URL and the number of products. Open a store first (it
    /// creates the SQLite schema).
    pub fn create_pending_job(
        &self,
        job_id: &str,
        client_id: &str,
        callback_url: &str,
        total: i32,
    ) {
        match self {
            Self::Postgrest { stack } => {
                create_pending_job(&stack.db, job_id, client_id, callback_url, total)
            }
            Self::Sqlite { file, .. } => {
                let connection = rusqlite::Connection::open(file).unwrap();
                connection
                    .execute(
                        "insert into classification_jobs \
                         (job_id, client_id, callback_url, total_products, status) \
                         values (?1, ?2, ?3, ?4, 'processing')",
                        rusqlite::params![job_id, client_id, callback_url, total],
                    )
                    .unwrap();
            }
        }
    }
}

/// Rows of a SQLite query as JSON objects shaped like PostgreSQL's
/// `row_to_json`: JSON columns parsed, the boolean as a boolean.
fn sqlite_rows(file: &Path, sql: &str, job_id: &str) -> Vec<Value> {
    let connection = rusqlite::Connection::open(file).unwrap();
    let mut statement = connection.prepare(sql).unwrap();
    let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let rows = statement
        .query_map([job_id], |row| {
            let mut object = Map::new();
            for (index, name) in names.iter().enumerate() {
                let value = match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) if name == "section_301_applies" => Value::from(n != 0),
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(x) => Value::from(x),
                    ValueRef::Text(text) => {
                        let text = String::from_utf8(text.to_vec()).unwrap();
                        match name.as_str() {
                            "metadata" | "extra" | "pga_flags" => {
                                serde_json::from_str(&text).unwrap()
                            }
                            _ => Value::from(text),
                        }
                    }
                    ValueRef::Blob(_) => panic!("{name} holds a blob"),
                };
                object.insert(name.clone(), value);
            }
            Ok(Value::Object(object))
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}
