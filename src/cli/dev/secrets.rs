//! The secrets `dev` needs: taken from the environment when set, else from
//! the data folder's `secrets.env`, else generated there (and shown once).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What `dev` generates when it is not given.
pub const NAMES: [&str; 3] = ["WEBHOOK_SECRET", "API_KEYS", "CALLBACK_SIGNING_SECRET"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Set in the environment (or `.env`): used, never written down.
    Environment,
    /// Read from the secrets file, generated on an earlier run.
    File,
    /// Generated on this run and appended to the secrets file.
    Generated,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub name: &'static str,
    pub value: String,
    pub origin: Origin,
}

/// Each of [`NAMES`], with where it came from. Generated values are
/// appended to `path` (created with mode 0600) before this returns.
pub fn resolve(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Secret>, String> {
    let stored = if path.exists() {
        read(path)?
    } else {
        HashMap::new()
    };
    let mut secrets = Vec::new();
    for name in NAMES {
        let (value, origin) = if let Some(value) = env(name) {
            (value, Origin::Environment)
        } else if let Some(value) = stored.get(name).filter(|v| !v.trim().is_empty()) {
            (value.clone(), Origin::File)
        } else {
            (generate(name)?, Origin::Generated)
        };
        secrets.push(Secret {
            name,
            value,
            origin,
        });
    }
    let generated: Vec<&Secret> = secrets
        .iter()
        .filter(|s| s.origin == Origin::Generated)
        .collect();
    if !generated.is_empty() {
        append(path, &generated).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(secrets)
}

fn read(path: &Path) -> Result<HashMap<String, String>, String> {
    let unreadable = |e: dotenvy::Error| format!("cannot read {}: {e}", path.display());
    warn_if_others_can_read(path);
    dotenvy::from_path_iter(path)
        .map_err(unreadable)?
        .map(|entry| entry.map_err(unreadable))
        .collect()
}

#[cfg(unix)]
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "rosetta-webhook dev: warning: {} can be read by other users; run chmod 600 on it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_path: &Path) {}

/// 256 bits from the operating system's CSPRNG (`getrandom`), in the form
/// each variable takes.
fn generate(name: &str) -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("the operating system's random source failed: {e}"))?;
    Ok(match name {
        // One client-agnostic key that reads every job, for the developer.
        "API_KEYS" => format!("*:{}", hex::encode(bytes)),
        "CALLBACK_SIGNING_SECRET" => format!("whsec_{}", STANDARD.encode(bytes)),
        _ => hex::encode(bytes),
    })
}

/// Appends `NAME=value` lines; a new file starts with a header and is
/// readable by its owner only.
fn append(path: &Path, secrets: &[&Secret]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = String::new();
    if new {
        text.push_str(
            "# rosetta-webhook dev: secrets generated for local use. Keep this file private.\n\
             # Variables set in the environment (or .env) win over these.\n",
        );
    }
    for secret in secrets {
        text.push_str(&format!("{}={}\n", secret.name, secret.value));
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    // Also when the file existed with a looser mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rosetta_webhook::config::ApiKeys;
    use rosetta_webhook::standard_webhooks::SigningSecret;

    use super::*;

    fn scratch(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rw-dev-secrets-{}-{label}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir.join("secrets.env")
    }

    #[test]
    fn generated_once_then_read_back_and_the_environment_wins() {
        let path = scratch("cycle");
        let first = resolve(&path, |_| None).unwrap();
        assert!(first.iter().all(|s| s.origin == Origin::Generated));
        assert_eq!(first[0].value.len(), 64, "256 bits in hex");
        ApiKeys::parse(&first[1].value).expect("a valid API_KEYS value");
        SigningSecret::parse(&first[2].value).expect("a valid whsec_ secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let again = resolve(&path, |_| None).unwrap();
        for (before, after) in first.iter().zip(&again) {
            assert_eq!(after.origin, Origin::File);
            assert_eq!(after.value, before.value, "{}", before.name);
        }

        let env = |name: &str| (name == "WEBHOOK_SECRET").then(|| "from-env".to_owned());
        let mixed = resolve(&path, env).unwrap();
        assert_eq!(mixed[0].origin, Origin::Environment);
        assert_eq!(mixed[0].value, "from-env");
        assert_eq!(mixed[1].value, first[1].value);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("from-env"),
            "environment values are not written"
        );
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_secret_missing_from_the_file_is_generated_and_appended() {
        let path = scratch("partial");
        fs::write(&path, "# mine\nWEBHOOK_SECRET=kept-secret\n").unwrap();
        let secrets = resolve(&path, |_| None).unwrap();
        assert_eq!(secrets[0].origin, Origin::File);
        assert_eq!(secrets[0].value, "kept-secret");
        assert_eq!(secrets[1].origin, Origin::Generated);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nWEBHOOK_SECRET=kept-secret\n"),
            "{text}"
        );
        assert!(text.contains(&format!("API_KEYS={}", secrets[1].value)));
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
