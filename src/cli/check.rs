//! `check`: what an operator runs before deploying. Validates the
//! configuration exactly as `serve` would, reaches the store, verifies its
//! schema (tables, every column the service reads or writes, the ingest and
//! outbox functions), and says what is wrong in plain words. Exit status 0
//! when all is well, 1 otherwise. Nothing is written to the store.

use std::process::ExitCode;

use rosetta_webhook::config::{Config, StoreConfig};
use rosetta_webhook::store;

pub async fn run() -> ExitCode {
    let mut report = Report::default();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            report.problem(error.to_string());
            return report.finish();
        }
    };
    report.ok(format!(
        "configuration is valid: {} webhook secret(s), {} API key(s), store: {}",
        config.webhook_secrets.iter().count(),
        config.api_keys.len(),
        config.store
    ));
    if config.api_keys.is_empty() {
        report.note("API_KEYS is empty: the service will start, but refuse every poll");
    }
    let store = match store::open(&config.store, config.store_timeout).await {
        Ok(store) => store,
        Err(error) => {
            report.problem(format!("cannot open the store ({}): {error}", config.store));
            return report.finish();
        }
    };
    match store.schema_problems().await {
        Err(error) => report.problem(format!("cannot use the store ({}): {error}", config.store)),
        Ok(problems) if problems.is_empty() => {
            report.ok(format!("the store answers ({})", config.store));
            report.ok("the schema has every table, column and function this build uses");
        }
        Ok(problems) => {
            report.ok(format!("the store answers ({})", config.store));
            for problem in problems {
                report.problem(problem);
            }
            report.note(match config.store {
                StoreConfig::Postgrest(_) => {
                    "apply migrations/*.sql in name order (README, \"Database\"); if they are \
                     applied, PostgREST may have an old schema cache: run \
                     NOTIFY pgrst, 'reload schema' in the database"
                }
                StoreConfig::Sqlite { .. } => {
                    "this SQLite file was not made by this build of rosetta-webhook: point \
                     DATABASE_PATH at a new file (it is created with the schema)"
                }
            });
        }
    }
    report.finish()
}

/// Lines as they are found, then a verdict.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&mut self, message: impl AsRef<str>) {
        println!("ok       {}", message.as_ref());
    }

    fn note(&mut self, message: impl AsRef<str>) {
        println!("note     {}", message.as_ref());
    }

    fn problem(&mut self, message: impl AsRef<str>) {
        self.problems += 1;
        println!("problem  {}", message.as_ref());
    }

    fn finish(self) -> ExitCode {
        match self.problems {
            0 => {
                println!("all good: ready to serve");
                ExitCode::SUCCESS
            }
            1 => {
                println!("1 problem found");
                ExitCode::FAILURE
            }
            n => {
                println!("{n} problems found");
                ExitCode::FAILURE
            }
        }
    }
}
