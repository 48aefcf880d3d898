//! The command line (clap, derive). With no command the binary serves, so
//! the container's entrypoint and Cloud Run run it unchanged. One file per
//! command; each calls into the library.
//!
//! Exit status: 0 done; 1 it failed (the store could not be opened, a
//! webhook was refused, `check` found problems); 2 it was used wrongly (bad
//! arguments or configuration).

mod check;
mod dev;
mod send_sample;
mod serve;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rosetta_webhook::config::Config;
use rosetta_webhook::Dependencies;
use tokio::net::TcpListener;

/// Exit status for bad arguments or configuration (clap's own is 2 too).
const USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "rosetta-webhook",
    version,
    about = "Receives AskRosetta's signed classification-complete webhooks, stores them, \
             delivers callbacks and answers polls."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve with the configuration from the environment (the default; what Cloud Run runs)
    Serve,
    /// Serve on 127.0.0.1 with the embedded SQLite store, generating the secrets not given
    Dev(dev::Args),
    /// Print the X-Webhook-Signature header line for a body (a file, or stdin)
    Sign(sign::Args),
    /// Send a realistic signed webhook to a running service and print its answer
    SendSample(send_sample::Args),
    /// Check the configuration, reach the store and verify its schema; exit 1 if anything is wrong
    Check,
    /// Manage stored API keys: `keys create --client ID --label TEXT`, `keys list`, `keys revoke KEY`
    Keys {
        /// The key command and its arguments (`keys help` lists them)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    // A missing .env is normal (Cloud Run sets the environment itself). It is
    // read before the arguments, whose defaults may come from its variables.
    let _ = dotenvy::dotenv();
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    if let Command::Sign(args) = command {
        return sign::run(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rosetta-webhook: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Serve => serve::run().await,
            Command::Dev(args) => dev::run(args).await,
            Command::SendSample(args) => send_sample::run(args).await,
            Command::Check => check::run().await,
            Command::Keys { args } => rosetta_webhook::keys::cli::main(&args).await,
            Command::Sign(_) => unreachable!("handled above"),
        }
    })
}

/// Serves until SIGTERM or Ctrl-C; exit status 0 after a clean drain.
async fn serve_until_stopped(
    listener: TcpListener,
    config: Config,
    dependencies: Dependencies,
) -> ExitCode {
    match rosetta_webhook::serve(listener, config, dependencies, shutdown_signal()).await {
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

/// The one secret to sign with. `WEBHOOK_SECRET` may list several while one
/// is rotated; which of them the engine uses is the caller's to say.
fn one_secret(raw: &str) -> Result<&str, String> {
    let secret = raw.trim();
    if secret.is_empty() {
        return Err("the secret is empty: pass --secret or set WEBHOOK_SECRET".into());
    }
    let count = secret.split(',').count();
    if count > 1 {
        return Err(format!(
            "the secret holds {count} comma-separated secrets (a rotation list): pass the one to sign with as --secret"
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve() {
        let cli = Cli::try_parse_from(["rosetta-webhook"]).unwrap();
        assert!(cli.command.is_none());
        assert!(Cli::try_parse_from(["rosetta-webhook", "serve"]).is_ok());
        assert!(Cli::try_parse_from(["rosetta-webhook", "serve-all"]).is_err());
    }

    #[test]
    fn a_rotation_list_is_not_a_secret_to_sign_with() {
        assert_eq!(one_secret(" s3cret "), Ok("s3cret"));
        assert!(one_secret("old,new")
            .unwrap_err()
            .contains("2 comma-separated"));
        assert!(one_secret("  ").unwrap_err().contains("empty"));
    }
}
