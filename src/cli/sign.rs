//! `sign`: the `X-Webhook-Signature` header line for a body, so an operator
//! can hand-craft a webhook. Drop-in scheme: lowercase hex HMAC-SHA256 of
//! the exact bytes. The header goes to stdout (one line, ready for
//! `curl -H`); notes go to stderr.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use rosetta_webhook::domain::{BodyError, CompletedJob};
use rosetta_webhook::signature;

#[derive(clap::Args)]
pub struct Args {
    /// The file holding the exact body to send; `-` or none reads stdin
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// The shared webhook secret (one; not a comma-separated rotation list)
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
}

pub fn run(args: Args) -> ExitCode {
    let secret = match super::one_secret(&args.secret) {
        Ok(secret) => secret,
        Err(message) => {
            eprintln!("rosetta-webhook sign: {message}");
            return ExitCode::from(super::USAGE);
        }
    };
    let (read, source) = match args.file.filter(|path| path.as_os_str() != "-") {
        Some(path) => (std::fs::read(&path), path.display().to_string()),
        None => {
            let mut body = Vec::new();
            let read = std::io::stdin().read_to_end(&mut body).map(|_| body);
            (read, "stdin".to_owned())
        }
    };
    let body = match read {
        Ok(body) => body,
        Err(error) => {
            eprintln!("rosetta-webhook sign: cannot read {source}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "X-Webhook-Signature: {}",
        signature::sign(secret.as_bytes(), &body)
    );
    eprintln!(
        "signed {} bytes of {source}; send exactly these bytes (curl --data-binary @FILE, not -d)",
        body.len()
    );
    match CompletedJob::from_json(&body) {
        Ok(_) => {}
        Err(BodyError::Syntax(reason)) => eprintln!(
            "note: the body is not JSON ({reason}); the service will answer 400 invalid_json"
        ),
        Err(invalid) => eprintln!(
            "note: the body is not a valid webhook ({invalid}); the service will answer 422"
        ),
    }
    ExitCode::SUCCESS
}
