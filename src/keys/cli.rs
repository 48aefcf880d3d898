//! `rosetta-webhook keys ...`: the key commands from a shell. Reads only the
//! store's settings from the environment (and `.env`): `SUPABASE_URL` +
//! `SUPABASE_SERVICE_ROLE_KEY`, or `POSTGREST_URL` (+ its JWT).
//!
//! ```text
//! rosetta-webhook keys create --client <client_id | *> [--label <text>]
//! rosetta-webhook keys list [--label <text>]
//! rosetta-webhook keys revoke <key-id>
//! ```
//!
//! `create` prints the key alone on stdout, once; everything else goes to
//! stderr, so `KEY=$(rosetta-webhook keys create ...)` captures just the key.

use std::process::ExitCode;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::admin::{self, KeyCommandError};
use super::key_id;
use crate::config::StoreConfig;
use crate::store::{ApiKeyRecord, JobStore};

pub const USAGE: &str = "usage:
  rosetta-webhook keys create --client <client_id | *> [--label <text>]
  rosetta-webhook keys list [--label <text>]
  rosetta-webhook keys revoke <key-id>";

const STORE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCommand {
    Create { client: String, label: String },
    List { label: Option<String> },
    Revoke { id: String },
}

/// Parses the words after `keys`.
pub fn parse(args: &[String]) -> Result<KeyCommand, String> {
    let (command, rest) = args
        .split_first()
        .ok_or_else(|| "a command is needed: create, list or revoke".to_owned())?;
    let mut client = None;
    let mut label = None;
    let mut positional = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let slot = match word.as_str() {
            "--client" => &mut client,
            "--label" => &mut label,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => {
                positional.push(word.clone());
                continue;
            }
        };
        let value = words
            .next()
            .ok_or_else(|| format!("{word} needs a value"))?;
        if slot.replace(value.clone()).is_some() {
            return Err(format!("{word} is given twice"));
        }
    }
    let no_extra = |allowed: usize| {
        if positional.len() > allowed {
            Err(format!("unexpected argument {}", positional[allowed]))
        } else {
            Ok(())
        }
    };
    match command.as_str() {
        "create" => {
            no_extra(0)?;
            let client = client.ok_or("create needs --client")?;
            Ok(KeyCommand::Create {
                client,
                label: label.unwrap_or_default(),
            })
        }
        "list" if client.is_none() => {
            no_extra(0)?;
            Ok(KeyCommand::List { label })
        }
        "revoke" if client.is_none() && label.is_none() => {
            no_extra(1)?;
            let id = positional.pop().ok_or("revoke needs a key id")?;
            Ok(KeyCommand::Revoke { id })
        }
        "list" | "revoke" => Err(format!("{command} takes no such option")),
        other => Err(format!("unknown command {other}")),
    }
}

/// Runs `keys <args>` against the store the environment names.
pub async fn main(args: &[String]) -> ExitCode {
    let command = match parse(args) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!("rosetta-webhook keys: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match StoreConfig::from_lookup(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rosetta-webhook keys: {error}");
            return ExitCode::from(2);
        }
    };
    let store = match crate::store::open(&config, STORE_TIMEOUT).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("rosetta-webhook keys: cannot open the store ({config}): {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(store.as_ref(), command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rosetta-webhook keys: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(store: &dyn JobStore, command: KeyCommand) -> Result<(), KeyCommandError> {
    match command {
        KeyCommand::Create { client, label } => {
            let created = admin::create(store, &client, &label).await?;
            println!("{}", created.key.expose_secret());
            eprintln!(
                "created key {} for client {} (label {:?}). It is shown this once and only its hash is stored: hand it over now.",
                key_id(&created.record.key_hash),
                created.record.client_id,
                created.record.label,
            );
        }
        KeyCommand::List { label } => {
            let keys = admin::list(store, label.as_deref()).await?;
            println!("{}", table(&keys));
        }
        KeyCommand::Revoke { id } => {
            let key = admin::revoke(store, &id).await?;
            eprintln!(
                "revoked key {} of client {} (label {:?}); instances stop accepting it within API_KEY_CACHE_TTL",
                key_id(&key.key_hash),
                key.client_id,
                key.label
            );
        }
    }
    Ok(())
}

/// One line per key: id, client, state, created, label.
pub fn table(keys: &[ApiKeyRecord]) -> String {
    let mut lines = vec![format!(
        "{:<12}  {:<20}  {:<7}  {:<32}  label",
        "id", "client", "state", "created"
    )];
    for key in keys {
        let state = if key.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        lines.push(format!(
            "{:<12}  {:<20}  {:<7}  {:<32}  {}",
            key_id(&key.key_hash),
            key.client_id,
            state,
            key.created_at,
            key.label
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_three_commands() {
        assert_eq!(
            parse(&words("create --client acme --label ops")),
            Ok(KeyCommand::Create {
                client: "acme".into(),
                label: "ops".into()
            })
        );
        assert_eq!(
            parse(&words("create --client *")),
            Ok(KeyCommand::Create {
                client: "*".into(),
                label: String::new()
            })
        );
        assert_eq!(
            parse(&words("list --label acme")),
            Ok(KeyCommand::List {
                label: Some("acme".into())
            })
        );
        assert_eq!(parse(&words("list")), Ok(KeyCommand::List { label: None }));
        assert_eq!(
            parse(&words("revoke 0123456789ab")),
            Ok(KeyCommand::Revoke {
                id: "0123456789ab".into()
            })
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (line, problem) in [
            ("", "a command is needed"),
            ("create", "create needs --client"),
            ("create --client", "--client needs a value"),
            ("create --client a --client b", "--client is given twice"),
            ("create --client a extra", "unexpected argument extra"),
            ("create --client a --force", "unknown option --force"),
            ("revoke", "revoke needs a key id"),
            ("revoke a b", "unexpected argument b"),
            ("list --client acme", "list takes no such option"),
            ("rotate", "unknown command rotate"),
        ] {
            let args: Vec<String> = if line.is_empty() { vec![] } else { words(line) };
            let error = parse(&args).unwrap_err();
            assert!(error.starts_with(problem), "{line}: {error}");
        }
    }

    #[test]
    fn the_table_shows_ids_not_hashes() {
        let key = ApiKeyRecord {
            key_hash: "ab".repeat(32),
            client_id: "acme".into(),
            label: "nightly sync".into(),
            created_at: "2026-12-03T10:00:00+00:00".into(),
            revoked_at: None,
        };
        let text = table(&[key]);
        assert!(text.contains("abababababab  acme"), "{text}");
        assert!(text.contains("active"));
        assert!(!text.contains(&"ab".repeat(32)));
    }
}
