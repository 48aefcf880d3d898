//! `serve`, the default: configuration from the environment (and `.env`),
//! JSON logs on Cloud Run, SIGTERM drains. What the container runs.

use std::process::ExitCode;

use rosetta_webhook::config::Config;
use rosetta_webhook::{telemetry, Dependencies};
use tokio::net::TcpListener;

pub async fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rosetta-webhook: {error}");
            return ExitCode::from(super::USAGE);
        }
    };
    telemetry::init(config.log_format, config.google_cloud_project.clone());

    let dependencies = match Dependencies::from_config(&config).await {
        Ok(dependencies) => dependencies,
        Err(error) => {
            tracing::error!(%error, store = %config.store, "cannot open the store");
            return ExitCode::FAILURE;
        }
    };
    let address = (config.host.clone(), config.port);
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, host = %address.0, port = address.1, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    super::serve_until_stopped(listener, config, dependencies).await
}
