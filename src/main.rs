//! The binary: load `.env`, validate configuration, start logging, serve.
//! `rosetta-webhook keys ...` manages stored API keys instead
//! (`rosetta_webhook::keys::cli`).

use std::process::ExitCode;

use rosetta_webhook::config::Config;
use rosetta_webhook::telemetry;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal (Cloud Run sets the environment itself).
    let _ = dotenvy::dotenv();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("keys") {
        return rosetta_webhook::keys::cli::main(&args[1..]).await;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rosetta-webhook: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);

    let address = (config.host.clone(), config.port);
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, host = %address.0, port = address.1, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match rosetta_webhook::run(listener, config, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM (what Cloud Run sends) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
