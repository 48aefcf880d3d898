//! The thorough schema check behind `rosetta-webhook check`: every table's
//! columns are selected with `limit=0` (added to the query by hand:
//! postgrest-rs sends limits as a `Range` header, and its `limit(0)`
//! underflows), and every function the service calls is called in a way
//! that changes nothing. Each failure is one sentence.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{classify_failure, error_code_and_message, PostgrestStore};
use crate::store::schema::{Table, TABLES};
use crate::store::{JobRecord, StoreError, REQUIRED_SCHEMA_VERSION};

/// The lease owner the check claims and releases as: no worker is named so.
const CHECK_OWNER: &str = "rosetta-webhook-check";

/// What one probe found.
enum Probe {
    Answered(Vec<u8>),
    Failed { code: String, detail: String },
}

impl PostgrestStore {
    pub(super) async fn find_schema_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        for table in &TABLES {
            problems.extend(self.table_problems(table).await?);
        }
        if problems.is_empty() {
            // A poll reads the job with its latest delivery embedded, which
            // needs the foreign key between the two tables.
            let poll = self
                .client
                .from("classification_jobs")
                .select(JobRecord::COLUMNS);
            if let Probe::Failed { detail, .. } = self.probe_select(poll).await? {
                problems.push(format!(
                    "a poll cannot read classification_jobs with its callback_deliveries: {detail}"
                ));
            }
        }
        for (function, signature, args) in function_probes() {
            let request = self.client.rpc(function, args.to_string());
            match self.probe(request, &[]).await? {
                Probe::Failed { code, .. } if missing(&code) => {
                    problems.push(format!("function {function}({signature}) is missing"))
                }
                // The ingest refuses the check's invalid status before it
                // writes anything: that refusal proves it is there.
                Probe::Failed { code, .. }
                    if function == super::INGEST_RPC && code == "22023" => {}
                Probe::Failed { detail, .. } => {
                    problems.push(format!("function {function} fails: {detail}"))
                }
                Probe::Answered(_) if function == super::INGEST_RPC => {
                    problems.push(format!(
                        "function {function} accepted an invalid status: it is not the one in migrations/"
                    ))
                }
                Probe::Answered(body) if function == "rosetta_webhook_schema_version" => {
                    match serde_json::from_slice::<i64>(&body) {
                        Ok(version) if version >= REQUIRED_SCHEMA_VERSION => {}
                        Ok(version) => problems.push(format!(
                            "schema version is {version}, this build needs {REQUIRED_SCHEMA_VERSION}: the newer files of migrations/ are not applied"
                        )),
                        Err(_) => problems.push(format!(
                            "function {function} does not return a whole number"
                        )),
                    }
                }
                Probe::Answered(_) => {}
            }
        }
        Ok(problems)
    }

    /// The table's missing columns, or that the table itself is missing.
    async fn table_problems(&self, table: &Table) -> Result<Vec<String>, StoreError> {
        let all = self.client.from(table.name).select(table.columns.join(","));
        match self.probe_select(all).await? {
            Probe::Answered(_) => Ok(Vec::new()),
            Probe::Failed { code, .. } if missing(&code) && code != "42703" => {
                Ok(vec![format!("table {} is missing", table.name)])
            }
            Probe::Failed { code, .. } if code == "42703" => {
                // PostgREST names only the first unknown column: ask one by one.
                let mut problems = Vec::new();
                for column in table.columns {
                    let one = self.client.from(table.name).select(*column);
                    match self.probe_select(one).await? {
                        Probe::Answered(_) => {}
                        Probe::Failed { code, .. } if code == "42703" => {
                            problems.push(format!("column {}.{column} is missing", table.name))
                        }
                        Probe::Failed { detail, .. } => problems.push(format!(
                            "column {}.{column} cannot be read: {detail}",
                            table.name
                        )),
                    }
                }
                Ok(problems)
            }
            Probe::Failed { detail, .. } => Ok(vec![format!(
                "table {} cannot be read: {detail}",
                table.name
            )]),
        }
    }

    /// A select of no rows: [`Self::probe`] with `limit=0`.
    async fn probe_select(&self, select: postgrest::Builder) -> Result<Probe, StoreError> {
        self.probe(select, &[("limit", "0")]).await
    }

    /// One request; a failure PostgREST answered is a finding, while no
    /// answer, a server error or refused credentials end the check.
    async fn probe(
        &self,
        request: postgrest::Builder,
        query: &[(&str, &str)],
    ) -> Result<Probe, StoreError> {
        let (status, body) = self.exchange(request, query).await?;
        if (200..300).contains(&status) {
            return Ok(Probe::Answered(body));
        }
        if matches!(status, 401 | 403) || status >= 500 {
            return Err(classify_failure(status, &body));
        }
        let (code, message) = error_code_and_message(&body);
        Ok(Probe::Failed {
            detail: format!("HTTP {status} {code}: {message}"),
            code,
        })
    }
}

/// PostgREST's and PostgreSQL's codes for an unknown table, column or function.
fn missing(code: &str) -> bool {
    matches!(code, "PGRST202" | "PGRST205" | "42883" | "42P01" | "42703")
}

/// Each function the service calls, its parameters, and arguments that make
/// the call change nothing.
fn function_probes() -> [(&'static str, &'static str, Value); 6] {
    let nobody = Uuid::nil();
    [
        (
            super::INGEST_RPC,
            "payload jsonb",
            json!({"payload": {"job_id": nobody, "status": CHECK_OWNER}}),
        ),
        (
            "claim_callback_deliveries",
            "p_owner, p_limit, p_lease_seconds",
            json!({"p_owner": CHECK_OWNER, "p_limit": 0, "p_lease_seconds": 0}),
        ),
        (
            "record_callback_attempt",
            "p_delivery_id, p_owner, p_state, p_status, p_error, p_retry_in_seconds",
            json!({
                "p_delivery_id": nobody, "p_owner": CHECK_OWNER, "p_state": "failed",
                "p_status": null, "p_error": null, "p_retry_in_seconds": null,
            }),
        ),
        (
            "release_callback_deliveries",
            "p_owner",
            json!({"p_owner": CHECK_OWNER}),
        ),
        ("callback_outbox_stats", "", json!({})),
        ("rosetta_webhook_schema_version", "", json!({})),
    ]
}
