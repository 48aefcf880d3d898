//! `dev`: the service on 127.0.0.1 with the embedded SQLite store, for a
//! first run on a fresh machine and for local work. `WEBHOOK_SECRET`,
//! `API_KEYS` and `CALLBACK_SIGNING_SECRET` that are not set are generated,
//! kept in the data folder (`secrets.env`, mode 0600) so a restart keeps
//! them, and printed once, with a `send-sample` line and a `curl` poll line
//! to paste. Callbacks may go to this machine over plain http.

mod secrets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rosetta_webhook::config::Config;
use rosetta_webhook::{telemetry, Dependencies};
use tokio::net::TcpListener;
use uuid::Uuid;

use self::secrets::{Origin, Secret};

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the SQLite database (unless DATABASE_PATH is set) and the generated secrets
    #[arg(long, value_name = "DIR", default_value = ".rosetta-dev")]
    data_dir: PathBuf,
}

const SECRETS_FILE: &str = "secrets.env";
const DATABASE_FILE: &str = "rosetta-webhook.db";
/// Callback targets on this machine, allowed on top of CALLBACK_ALLOWED_NETWORKS.
const LOOPBACK: &str = "127.0.0.0/8,::1/128";
/// Set by `dev` itself, whatever the environment says.
const OVERRIDDEN: [&str; 5] = [
    "HOST",
    "SUPABASE_URL",
    "POSTGREST_URL",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_KEY",
];

pub async fn run(args: Args) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Err(error) = create_private_dir(&args.data_dir) {
        eprintln!(
            "rosetta-webhook dev: cannot create the data folder {}: {error}",
            args.data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let secrets_path = args.data_dir.join(SECRETS_FILE);
    let secrets = match secrets::resolve(&secrets_path, env) {
        Ok(secrets) => secrets,
        Err(message) => {
            eprintln!("rosetta-webhook dev: {message}");
            return ExitCode::FAILURE;
        }
    };
    for name in OVERRIDDEN.into_iter().filter(|name| env(name).is_some()) {
        eprintln!(
            "rosetta-webhook dev: note: {name} is ignored: dev serves on 127.0.0.1 with the \
             embedded SQLite store (`serve` uses the environment as it is)"
        );
    }
    let database_path = env("DATABASE_PATH")
        .unwrap_or_else(|| args.data_dir.join(DATABASE_FILE).display().to_string());
    let lookup = |name: &str| {
        if let Some(secret) = secrets.iter().find(|secret| secret.name == name) {
            return Some(secret.value.clone());
        }
        match name {
            "HOST" => Some("127.0.0.1".to_owned()),
            "SUPABASE_URL" | "POSTGREST_URL" | "SUPABASE_SERVICE_ROLE_KEY" | "SUPABASE_KEY" => None,
            "DATABASE_PATH" => Some(database_path.clone()),
            "CALLBACK_ALLOW_HTTP" => env(name).or_else(|| Some("true".to_owned())),
            "CALLBACK_ALLOWED_NETWORKS" => Some(match env(name) {
                Some(own) => format!("{own},{LOOPBACK}"),
                None => LOOPBACK.to_owned(),
            }),
            _ => env(name),
        }
    };
    let config = match Config::from_lookup(lookup) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rosetta-webhook dev: {error}");
            return ExitCode::from(super::USAGE);
        }
    };
    telemetry::init(config.log_format, config.google_cloud_project.clone());
    let dependencies = match Dependencies::from_config(&config).await {
        Ok(dependencies) => dependencies,
        Err(error) => {
            eprintln!(
                "rosetta-webhook dev: cannot open the store ({}): {error}",
                config.store
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", config.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "rosetta-webhook dev: cannot listen on 127.0.0.1:{}: {error} (set PORT to a free port)",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let url = match listener.local_addr() {
        Ok(address) => format!("http://{address}"),
        Err(_) => format!("http://127.0.0.1:{}", config.port),
    };
    print!(
        "{}",
        banner(&Banner {
            program: program(),
            url,
            store: config.store.to_string(),
            secrets: &secrets,
            secrets_path: &secrets_path,
            job_id: Uuid::new_v4(),
        })
    );
    super::serve_until_stopped(listener, config, dependencies).await
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// This binary as the user ran it (`target/debug/rosetta-webhook` under
/// `cargo run`), so the printed lines paste into the same shell.
fn program() -> String {
    let invoked = std::env::args_os()
        .next()
        .map(|arg| arg.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked.contains('/') {
        shell_quote(&invoked)
    } else {
        "rosetta-webhook".to_owned()
    }
}

struct Banner<'a> {
    program: String,
    url: String,
    store: String,
    secrets: &'a [Secret],
    secrets_path: &'a Path,
    job_id: Uuid,
}

/// What `dev` prints on start. Generated secrets appear in full only on the
/// run that generated them; later runs say where they are, and the example
/// lines read them from there.
fn banner(b: &Banner<'_>) -> String {
    let path = b.secrets_path.display();
    let with = |origin: Origin| -> Vec<&Secret> {
        b.secrets.iter().filter(|s| s.origin == origin).collect()
    };
    let names = |secrets: &[&Secret]| -> String {
        secrets
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!("rosetta-webhook dev: serving {} ({})\n", b.url, b.store);
    let generated = with(Origin::Generated);
    if !generated.is_empty() {
        out += &format!(
            "Generated {} (kept in {path}, mode 0600; shown this once):\n",
            names(&generated)
        );
        for secret in &generated {
            out += &format!("  {}={}\n", secret.name, secret.value);
        }
    }
    let kept = with(Origin::File);
    if !kept.is_empty() {
        out += &format!(
            "{} from {path} (generated on an earlier run; not shown again)\n",
            names(&kept)
        );
    }
    let given = with(Origin::Environment);
    if !given.is_empty() {
        out += &format!("{} from the environment\n", names(&given));
    }
    let quoted_path = shell_quote(&path.to_string());
    let find = |name: &str| b.secrets.iter().find(|s| s.name == name);
    let secret = match find("WEBHOOK_SECRET") {
        Some(s) if s.origin == Origin::Generated => shell_quote(&s.value),
        Some(s) if s.origin == Origin::File => {
            format!("\"$(sed -n 's/^WEBHOOK_SECRET=//p' {quoted_path})\"")
        }
        _ => "\"$WEBHOOK_SECRET\"".to_owned(),
    };
    let key = match find("API_KEYS") {
        Some(s) if s.origin == Origin::Generated => {
            format!("'X-Api-Key: {}'", s.value.trim_start_matches("*:"))
        }
        Some(s)
            if s.origin == Origin::File && s.value.starts_with("*:") && !s.value.contains(',') =>
        {
            format!("\"X-Api-Key: $(sed -n 's/^API_KEYS=\\*://p' {quoted_path})\"")
        }
        _ => "'X-Api-Key: <a key from API_KEYS>'".to_owned(),
    };
    out += "Try it: send a signed sample webhook, then poll its job:\n";
    out += &format!(
        "  {} send-sample --url {} --secret {secret} --job-id {}\n",
        b.program, b.url, b.job_id
    );
    out += &format!("  curl -sS {}/api/v1/jobs/{} -H {key}\n", b.url, b.job_id);
    out
}

/// `text` as one shell word: unchanged when that is safe, else single-quoted.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(origin: Origin) -> Vec<Secret> {
        [
            ("WEBHOOK_SECRET", "9f86d081884c7d65"),
            ("API_KEYS", "*:2c26b46b68ffc68f"),
            (
                "CALLBACK_SIGNING_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ]
        .into_iter()
        .map(|(name, value)| Secret {
            name,
            value: value.to_owned(),
            origin,
        })
        .collect()
    }

    fn banner_with(secrets: &[Secret], path: &str) -> String {
        banner(&Banner {
            program: "target/debug/rosetta-webhook".into(),
            url: "http://127.0.0.1:8080".into(),
            store: "SQLite at .rosetta-dev/rosetta-webhook.db".into(),
            secrets,
            secrets_path: Path::new(path),
            job_id: Uuid::nil(),
        })
    }

    #[test]
    fn a_first_run_shows_the_generated_secrets_and_lines_to_paste() {
        let text = banner_with(&secrets(Origin::Generated), ".rosetta-dev/secrets.env");
        assert!(
            text.contains("  WEBHOOK_SECRET=9f86d081884c7d65\n"),
            "{text}"
        );
        assert!(text.contains("CALLBACK_SIGNING_SECRET=whsec_"), "{text}");
        assert!(text.contains(
            "  target/debug/rosetta-webhook send-sample --url http://127.0.0.1:8080 \
             --secret 9f86d081884c7d65 --job-id 00000000-0000-0000-0000-000000000000\n"
        ));
        assert!(text.contains(
            "  curl -sS http://127.0.0.1:8080/api/v1/jobs/00000000-0000-0000-0000-000000000000 \
             -H 'X-Api-Key: 2c26b46b68ffc68f'\n"
        ));
    }

    #[test]
    fn a_restart_names_the_file_and_never_shows_the_values() {
        let text = banner_with(&secrets(Origin::File), "my data/secrets.env");
        for value in [
            "9f86d081884c7d65",
            "2c26b46b68ffc68f",
            "MfKQ9r8GKYqrTwjUPD8",
        ] {
            assert!(!text.contains(value), "{value} shown: {text}");
        }
        assert!(text.contains("from my data/secrets.env (generated on an earlier run"));
        assert!(
            text.contains("--secret \"$(sed -n 's/^WEBHOOK_SECRET=//p' 'my data/secrets.env')\"")
        );
        assert!(text
            .contains("-H \"X-Api-Key: $(sed -n 's/^API_KEYS=\\*://p' 'my data/secrets.env')\""));
    }

    #[test]
    fn secrets_from_the_environment_are_neither_shown_nor_guessed() {
        let text = banner_with(&secrets(Origin::Environment), ".rosetta-dev/secrets.env");
        assert!(!text.contains("9f86d081884c7d65") && !text.contains("2c26b46b68ffc68f"));
        assert!(text.contains("--secret \"$WEBHOOK_SECRET\""), "{text}");
        assert!(text.contains("<a key from API_KEYS>"), "{text}");
    }

    #[test]
    fn shell_quoting_keeps_safe_words_and_quotes_the_rest() {
        assert_eq!(
            shell_quote("target/debug/rosetta-webhook"),
            "target/debug/rosetta-webhook"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
