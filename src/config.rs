//! Configuration: read from the environment once at start-up, validated, and
//! never consulted again. A bad value stops the process with one line that
//! names the variable; secrets are wrapped so they cannot be printed.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::delivery::schedule::{parse_duration, RetrySchedule, DEFAULT_SCHEDULE};
use crate::delivery::ssrf::AddressPolicy;
use crate::delivery::CallbackConfig;
use crate::standard_webhooks::SigningSecret;

mod security;

pub use self::security::{
    InboundConfig, Limits, DEFAULT_API_KEY_CACHE_TTL, DEFAULT_TOLERANCE_SECONDS,
    MAX_TOLERANCE_SECONDS,
};

/// Everything the service needs to run. Tests build it directly.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub webhook_secrets: WebhookSecrets,
    pub api_keys: ApiKeys,
    pub store: StoreConfig,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub store_timeout: Duration,
    pub log_format: LogFormat,
    pub callbacks: CallbackConfig,
    /// `GOOGLE_CLOUD_PROJECT`: with it, JSON log lines name their request's
    /// trace as `projects/<project>/traces/<trace id>`.
    pub google_cloud_project: Option<String>,
    /// `METRICS_PORT`: serve `/metrics` there only, not on `port`.
    pub metrics_port: Option<u16>,
    /// `INTERNAL_TOKEN`: enables `POST /internal/deliveries/run`.
    pub internal_token: Option<InternalToken>,
    /// Standard Webhooks verification of inbound webhooks.
    pub inbound: InboundConfig,
    pub limits: Limits,
    /// How long a stored API key's lookup (found or not) is cached.
    pub api_key_cache_ttl: Duration,
}

/// A configuration value that stops start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// The shared secrets that may sign an inbound webhook. More than one is
/// configured while a secret is being rotated.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl WebhookSecrets {
    pub fn new(secrets: Vec<String>) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::new(
                "WEBHOOK_SECRET",
                "is required (or WEBHOOK_SIGNING_SECRETS for Standard Webhooks): the service never accepts unsigned webhooks",
            ));
        }
        if let Some(position) = secrets.iter().position(|s| s.is_empty()) {
            return Err(ConfigError::new(
                "WEBHOOK_SECRET",
                format!("secret {} of {} is empty", position + 1, secrets.len()),
            ));
        }
        Ok(Self(secrets.into_iter().map(SecretString::from).collect()))
    }

    /// No drop-in secret: the drop-in scheme is off and only Standard
    /// Webhooks (`WEBHOOK_SIGNING_SECRETS`) can verify.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|s| s.expose_secret().as_bytes())
    }
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets([{} redacted])", self.0.len())
    }
}

/// Which jobs an API key may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientScope {
    /// `*:key` or a bare key (the Flask-era form): every job.
    AllClients,
    /// `client_id:key`: only jobs whose `client_id` is this one.
    Client(String),
}

/// API keys for the poll endpoint, held only as SHA-256 digests: the lookup
/// hashes the presented key, so neither the comparison's timing nor a memory
/// dump gives a key away.
#[derive(Clone, Default)]
pub struct ApiKeys(HashMap<[u8; 32], ClientScope>);

impl ApiKeys {
    /// Parses `API_KEYS`: comma-separated `client_id:key`, `*:key` or `key`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mut keys = HashMap::new();
        let entries: Vec<&str> = raw.split(',').map(str::trim).collect();
        if entries == [""] {
            return Ok(Self(keys));
        }
        for (index, entry) in entries.iter().enumerate() {
            let position = index + 1;
            let invalid =
                |reason: &str| ConfigError::new("API_KEYS", format!("entry {position}: {reason}"));
            if entry.is_empty() {
                return Err(invalid("is empty (check for a doubled or trailing comma)"));
            }
            let (scope, key) = match entry.split_once(':') {
                None => (ClientScope::AllClients, *entry),
                Some(("*", key)) => (ClientScope::AllClients, key),
                Some(("", _)) => return Err(invalid("has an empty client id before ':'")),
                Some((client, key)) => (ClientScope::Client(client.to_owned()), key),
            };
            if key.is_empty() {
                return Err(invalid("has an empty key after ':'"));
            }
            if key.chars().any(char::is_whitespace) {
                return Err(invalid("key contains whitespace"));
            }
            if keys.insert(digest(key), scope).is_some() {
                return Err(invalid("repeats a key given earlier"));
            }
        }
        Ok(Self(keys))
    }

    /// The scope of a presented key, if it is one of ours.
    pub fn scope_of(&self, presented: &str) -> Option<&ClientScope> {
        self.scope_of_digest(&digest(presented))
    }

    /// As [`Self::scope_of`], for a key already hashed with SHA-256.
    pub fn scope_of_digest(&self, digest: &[u8; 32]) -> Option<&ClientScope> {
        self.0.get(digest)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys([{} redacted])", self.0.len())
    }
}

/// The bearer token of the internal endpoints (a scheduler's). Compared in
/// constant time; never printed.
#[derive(Clone)]
pub struct InternalToken(SecretString);

/// Shorter tokens are refused: the endpoint is on the public port.
pub const MIN_INTERNAL_TOKEN_LENGTH: usize = 32;

impl InternalToken {
    pub fn new(token: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::new("INTERNAL_TOKEN", reason);
        if token.len() < MIN_INTERNAL_TOKEN_LENGTH {
            return Err(invalid(
                "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "must be printable ASCII without spaces (it travels in a header)",
            ));
        }
        Ok(Self(SecretString::from(token.to_owned())))
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(
            self.0
                .expose_secret()
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    }
}

impl fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalToken([redacted])")
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Where the data lives: Supabase / a plain PostgREST, or the embedded
/// SQLite store (the zero-setup default when neither URL is set).
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Postgrest(PostgrestConfig),
    /// One database file on this machine (`DATABASE_PATH`).
    Sqlite {
        path: PathBuf,
    },
}

/// `DATABASE_PATH` when it is not set.
pub const DEFAULT_DATABASE_PATH: &str = "./rosetta-webhook.db";

impl StoreConfig {
    /// Supabase: see [`PostgrestConfig::supabase`].
    pub fn supabase(project_url: &str, key: &str) -> Self {
        Self::Postgrest(PostgrestConfig::supabase(project_url, key))
    }

    /// A plain PostgREST: see [`PostgrestConfig::postgrest`].
    pub fn postgrest(url: &str, jwt: Option<&str>) -> Self {
        Self::Postgrest(PostgrestConfig::postgrest(url, jwt))
    }

    /// The embedded SQLite store in the file at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self::Sqlite { path: path.into() }
    }
}

/// Names the store for people (logs, `check`); never shows a credential.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgrest(config) => write!(f, "PostgREST at {}", config.rest_url),
            Self::Sqlite { path } => write!(f, "SQLite at {}", path.display()),
        }
    }
}

/// A PostgREST endpoint, with the credentials to send.
#[derive(Clone)]
pub struct PostgrestConfig {
    /// Base URL of the PostgREST API (for Supabase: `SUPABASE_URL/rest/v1`).
    pub rest_url: String,
    /// Sent as the `apikey` header (Supabase's gateway wants it on every call).
    pub apikey: Option<SecretString>,
    /// Sent as `Authorization: Bearer` (PostgREST switches to its role).
    pub bearer: Option<SecretString>,
}

impl StoreConfig {
    /// The store settings alone (`SUPABASE_URL`, `POSTGREST_URL` or
    /// `DATABASE_PATH`, and the key), for commands that need nothing else.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        store_from(&|name: &str| lookup(name).filter(|v| !v.trim().is_empty()))
    }
}

impl PostgrestConfig {
    /// Supabase: a legacy JWT key (`eyJ...`) goes in both headers; a new
    /// secret key (`sb_secret_...`) in `apikey` only, since Supabase refuses
    /// it as a bearer token.
    pub fn supabase(project_url: &str, key: &str) -> Self {
        let key = SecretString::from(key.to_owned());
        let bearer = key.expose_secret().starts_with("eyJ").then(|| key.clone());
        Self {
            rest_url: format!("{}/rest/v1", project_url.trim_end_matches('/')),
            apikey: Some(key),
            bearer,
        }
    }

    /// A plain PostgREST: the key, when given, is a JWT for its role.
    pub fn postgrest(url: &str, jwt: Option<&str>) -> Self {
        Self {
            rest_url: url.trim_end_matches('/').to_owned(),
            apikey: None,
            bearer: jwt.map(|jwt| SecretString::from(jwt.to_owned())),
        }
    }
}

impl fmt::Debug for PostgrestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgrestConfig")
            .field("rest_url", &self.rest_url)
            .field("apikey", &self.apikey.as_ref().map(|_| "[redacted]"))
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

impl Config {
    /// Reads the process environment (after `.env`, which `main` loads).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need no process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Empty values count as unset: `.env.example` leaves optional ones blank.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let inbound = security::inbound_from(&get)?;
        // With Standard Webhooks configured, WEBHOOK_SECRET may be left out:
        // the drop-in scheme is then off. One of the two is required.
        let webhook_secrets = match get("WEBHOOK_SECRET") {
            None if !inbound.secrets.is_empty() => WebhookSecrets::none(),
            raw => WebhookSecrets::new(
                raw.map(|raw| raw.split(',').map(|s| s.trim().to_owned()).collect())
                    .unwrap_or_default(),
            )?,
        };
        let api_keys = ApiKeys::parse(&get("API_KEYS").unwrap_or_default())?;

        Ok(Self {
            host: get("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: parse_number(&get, "PORT", 8080)?,
            webhook_secrets,
            api_keys,
            store: store_from(&get)?,
            max_body_bytes: parse_number(&get, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            request_timeout: Duration::from_secs(parse_number(
                &get,
                "REQUEST_TIMEOUT_SECONDS",
                30,
            )?),
            store_timeout: Duration::from_secs(parse_number(&get, "STORE_TIMEOUT_SECONDS", 20)?),
            log_format: log_format_from(&get)?,
            callbacks: callbacks_from(&get)?,
            google_cloud_project: get("GOOGLE_CLOUD_PROJECT").map(|p| p.trim().to_owned()),
            metrics_port: get("METRICS_PORT")
                .map(|_| parse_number(&get, "METRICS_PORT", 0u16))
                .transpose()?,
            internal_token: get("INTERNAL_TOKEN")
                .map(|token| InternalToken::new(token.trim()))
                .transpose()?,
            inbound,
            limits: security::limits_from(&get)?,
            api_key_cache_ttl: security::api_key_cache_ttl_from(&get)?,
        })
    }
}

fn callbacks_from(get: &impl Fn(&str) -> Option<String>) -> Result<CallbackConfig, ConfigError> {
    let signing_secret = SigningSecret::parse(&get("CALLBACK_SIGNING_SECRET").ok_or_else(|| {
        ConfigError::new(
            "CALLBACK_SIGNING_SECRET",
            "is required: callbacks are always signed (whsec_ followed by base64 of 16 or more random bytes, e.g. `echo whsec_$(openssl rand -base64 32)`)",
        )
    })?)
    .map_err(|reason| ConfigError::new("CALLBACK_SIGNING_SECRET", reason))?;
    let schedule = RetrySchedule::parse(
        &get("CALLBACK_RETRY_SCHEDULE").unwrap_or_else(|| DEFAULT_SCHEDULE.to_owned()),
    )
    .map_err(|reason| ConfigError::new("CALLBACK_RETRY_SCHEDULE", reason))?;
    let allowed = get("CALLBACK_ALLOWED_NETWORKS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|cidr| !cidr.is_empty())
        .map(|cidr| {
            cidr.parse().map_err(|_| {
                ConfigError::new(
                    "CALLBACK_ALLOWED_NETWORKS",
                    format!("`{cidr}` is not a CIDR network like 10.8.0.0/16"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = duration(get, "CALLBACK_TIMEOUT", "15s")?;
    let lease = duration(get, "CALLBACK_LEASE", "60s")?;
    if lease <= timeout {
        return Err(ConfigError::new(
            "CALLBACK_LEASE",
            "must be longer than CALLBACK_TIMEOUT, or a slow attempt could be sent twice at once",
        ));
    }
    Ok(CallbackConfig {
        signing_secret,
        schedule,
        policy: AddressPolicy {
            allowed,
            allow_http: flag(get, "CALLBACK_ALLOW_HTTP")?,
        },
        timeout,
        lease,
        poll_interval: duration(get, "CALLBACK_POLL_INTERVAL", "2s")?,
        concurrency: parse_number(get, "CALLBACK_CONCURRENCY", 16)?,
        background: background_worker(get)?,
    })
}

/// `CALLBACK_WORKER`: `on` (default) runs the delivery worker in every
/// instance; `off` leaves delivery to `POST /internal/deliveries/run`.
fn background_worker(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get("CALLBACK_WORKER").as_deref().map(str::trim) {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ConfigError::new(
            "CALLBACK_WORKER",
            format!("must be `on` or `off`, not `{other}`"),
        )),
    }
}

fn duration(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let raw = get(variable).unwrap_or_else(|| default.to_owned());
    match parse_duration(raw.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(ConfigError::new(variable, "must be longer than zero")),
        Err(reason) => Err(ConfigError::new(variable, reason)),
    }
}

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<bool, ConfigError> {
    match get(variable).as_deref().map(str::trim) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ConfigError::new(
            variable,
            format!("must be true or false, not `{other}`"),
        )),
    }
}

fn store_from(get: &impl Fn(&str) -> Option<String>) -> Result<StoreConfig, ConfigError> {
    let key = get("SUPABASE_SERVICE_ROLE_KEY").or_else(|| get("SUPABASE_KEY"));
    let database_path = get("DATABASE_PATH");
    let url = match (get("SUPABASE_URL"), get("POSTGREST_URL")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "POSTGREST_URL",
                "set either SUPABASE_URL or POSTGREST_URL, not both",
            ))
        }
        (Some(url), None) => Some(("SUPABASE_URL", url)),
        (None, Some(url)) => Some(("POSTGREST_URL", url)),
        (None, None) => None,
    };
    if let (Some((variable, _)), Some(_)) = (&url, &database_path) {
        return Err(ConfigError::new(
            "DATABASE_PATH",
            format!(
                "is for the embedded SQLite store, but {variable} is set too: unset one of them"
            ),
        ));
    }
    match url {
        Some(("SUPABASE_URL", url)) => {
            check_http_url("SUPABASE_URL", &url)?;
            let key = key.ok_or_else(|| {
                ConfigError::new(
                    "SUPABASE_SERVICE_ROLE_KEY",
                    "is required with SUPABASE_URL (SUPABASE_KEY is accepted too)",
                )
            })?;
            Ok(StoreConfig::supabase(&url, &key))
        }
        Some((variable, url)) => {
            check_http_url(variable, &url)?;
            Ok(StoreConfig::postgrest(&url, key.as_deref()))
        }
        None => sqlite_from(get, key.is_some(), database_path),
    }
}

/// Neither URL is set: the embedded SQLite store, unless the rest of the
/// environment says a remote store was meant (then silently keeping the data
/// in a local file would lose it).
fn sqlite_from(
    get: &impl Fn(&str) -> Option<String>,
    has_store_key: bool,
    database_path: Option<String>,
) -> Result<StoreConfig, ConfigError> {
    if has_store_key {
        return Err(ConfigError::new(
            "SUPABASE_URL",
            "is required when SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_KEY) is set \
             (or POSTGREST_URL); unset the key to use the embedded SQLite store",
        ));
    }
    let Some(path) = database_path else {
        if get("K_SERVICE").is_some() {
            return Err(ConfigError::new(
                "SUPABASE_URL",
                "is required on Cloud Run (K_SERVICE is set): the embedded SQLite store would \
                 keep the data on the instance's ephemeral disk; set DATABASE_PATH to use it anyway",
            ));
        }
        return Ok(StoreConfig::sqlite(DEFAULT_DATABASE_PATH));
    };
    let path = PathBuf::from(path.trim());
    if path.as_os_str().to_string_lossy().ends_with('/') || path.is_dir() {
        return Err(ConfigError::new(
            "DATABASE_PATH",
            format!(
                "`{}` is a folder; name the database file, e.g. {}",
                path.display(),
                path.join("rosetta-webhook.db").display()
            ),
        ));
    }
    Ok(StoreConfig::sqlite(path))
}

fn check_http_url(variable: &'static str, raw: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ConfigError::new(variable, format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            variable,
            "must be an http(s) URL with a host",
        ));
    }
    Ok(())
}

fn log_format_from(get: &impl Fn(&str) -> Option<String>) -> Result<LogFormat, ConfigError> {
    match get("LOG_FORMAT").as_deref().map(str::trim) {
        Some("json") => Ok(LogFormat::Json),
        Some("pretty") => Ok(LogFormat::Pretty),
        Some(other) => Err(ConfigError::new(
            "LOG_FORMAT",
            format!("must be `json` or `pretty`, not `{other}`"),
        )),
        // Cloud Run sets K_SERVICE; its log agent wants one JSON object a line.
        None if get("K_SERVICE").is_some() => Ok(LogFormat::Json),
        None => Ok(LogFormat::Pretty),
    }
}

fn parse_number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Default,
{
    let Some(raw) = get(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(value) if value > T::default() => Ok(value),
        _ => Err(ConfigError::new(
            variable,
            format!("must be a positive whole number, not `{raw}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const CALLBACK_SECRET: (&str, &str) = (
        "CALLBACK_SIGNING_SECRET",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    );
    const BASE: [(&str, &str); 3] = [
        ("WEBHOOK_SECRET", "s3cret"),
        ("POSTGREST_URL", "http://127.0.0.1:3000"),
        CALLBACK_SECRET,
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn missing_webhook_secret_names_the_variable() {
        let err =
            config(&[("POSTGREST_URL", "http://127.0.0.1:3000"), CALLBACK_SECRET]).unwrap_err();
        assert_eq!(err.variable, "WEBHOOK_SECRET");
        assert!(err
            .to_string()
            .starts_with("invalid configuration: WEBHOOK_SECRET:"));
    }

    #[test]
    fn empty_secret_in_rotation_list_is_refused() {
        let err = config(&[
            ("WEBHOOK_SECRET", "old,,new"),
            ("POSTGREST_URL", "http://x"),
            CALLBACK_SECRET,
        ])
        .unwrap_err();
        assert_eq!(err.variable, "WEBHOOK_SECRET");
        assert!(err.reason.contains("secret 2 of 3"), "{}", err.reason);
    }

    #[test]
    fn several_secrets_are_kept_in_order() {
        let c = config(&with(&[("WEBHOOK_SECRET", " old , new ")])).unwrap();
        let secrets: Vec<&[u8]> = c.webhook_secrets.iter().collect();
        assert_eq!(secrets, vec![b"old".as_slice(), b"new".as_slice()]);
    }

    #[test]
    fn api_keys_map_to_scopes() {
        let keys = ApiKeys::parse("acme:k-acme, *:k-all, k-bare, globex:k:with:colons").unwrap();
        assert_eq!(keys.len(), 4);
        assert_eq!(
            keys.scope_of("k-acme"),
            Some(&ClientScope::Client("acme".into()))
        );
        assert_eq!(keys.scope_of("k-all"), Some(&ClientScope::AllClients));
        assert_eq!(keys.scope_of("k-bare"), Some(&ClientScope::AllClients));
        assert_eq!(
            keys.scope_of("k:with:colons"),
            Some(&ClientScope::Client("globex".into()))
        );
        assert_eq!(keys.scope_of("acme:k-acme"), None);
        assert_eq!(keys.scope_of(""), None);
    }

    #[test]
    fn malformed_api_keys_stop_start_up_with_the_entry() {
        for (raw, expected) in [
            ("acme:", "entry 1: has an empty key"),
            (":key", "entry 1: has an empty client id"),
            ("a:k1,,b:k2", "entry 2: is empty"),
            ("a:k1,b:k1", "entry 2: repeats a key"),
            ("a:k 1", "entry 1: key contains whitespace"),
        ] {
            let err = config(&with(&[("API_KEYS", raw)])).unwrap_err();
            assert_eq!(err.variable, "API_KEYS", "{raw}");
            assert!(err.reason.starts_with(expected), "{raw}: {}", err.reason);
        }
    }

    #[test]
    fn no_api_keys_is_allowed_but_empty() {
        assert!(config(&BASE).unwrap().api_keys.is_empty());
    }

    #[test]
    fn supabase_legacy_jwt_goes_in_both_headers() {
        let c = config(&[
            ("WEBHOOK_SECRET", "s"),
            ("SUPABASE_URL", "https://abc.supabase.co/"),
            ("SUPABASE_KEY", "eyJhbGciOi.x.y"),
            CALLBACK_SECRET,
        ])
        .unwrap();
        let store = postgrest(c.store);
        assert_eq!(store.rest_url, "https://abc.supabase.co/rest/v1");
        assert_eq!(store.apikey.unwrap().expose_secret(), "eyJhbGciOi.x.y");
        assert_eq!(store.bearer.unwrap().expose_secret(), "eyJhbGciOi.x.y");
    }

    #[test]
    fn supabase_secret_key_goes_in_apikey_only() {
        let c = config(&[
            ("WEBHOOK_SECRET", "s"),
            ("SUPABASE_URL", "https://abc.supabase.co"),
            ("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_abc"),
            ("SUPABASE_KEY", "eyJ.ignored.alias"),
            CALLBACK_SECRET,
        ])
        .unwrap();
        let store = postgrest(c.store);
        assert_eq!(store.apikey.unwrap().expose_secret(), "sb_secret_abc");
        assert!(store.bearer.is_none());
    }

    fn postgrest(store: StoreConfig) -> PostgrestConfig {
        match store {
            StoreConfig::Postgrest(config) => config,
            other => panic!("expected PostgREST, got {other:?}"),
        }
    }

    #[test]
    fn store_urls_must_not_conflict() {
        let both = config(&with(&[("SUPABASE_URL", "https://a.supabase.co")])).unwrap_err();
        assert_eq!(both.variable, "POSTGREST_URL");
        let no_key = config(&[
            ("WEBHOOK_SECRET", "s"),
            ("SUPABASE_URL", "https://a.co"),
            CALLBACK_SECRET,
        ]);
        assert_eq!(no_key.unwrap_err().variable, "SUPABASE_SERVICE_ROLE_KEY");
        let bad_url = config(&[
            ("WEBHOOK_SECRET", "s"),
            ("POSTGREST_URL", "ftp://a"),
            CALLBACK_SECRET,
        ]);
        assert_eq!(bad_url.unwrap_err().variable, "POSTGREST_URL");
        let url_and_path = config(&with(&[("DATABASE_PATH", "/tmp/x.db")])).unwrap_err();
        assert_eq!(url_and_path.variable, "DATABASE_PATH");
        assert!(
            url_and_path.reason.contains("POSTGREST_URL"),
            "{url_and_path}"
        );
    }

    #[test]
    fn without_a_url_the_store_is_sqlite_at_database_path() {
        let local = [("WEBHOOK_SECRET", "s"), CALLBACK_SECRET];
        let c = config(&local).unwrap();
        assert!(
            matches!(&c.store, StoreConfig::Sqlite { path } if path == Path::new(DEFAULT_DATABASE_PATH)),
            "{:?}",
            c.store
        );
        assert_eq!(c.store.to_string(), "SQLite at ./rosetta-webhook.db");
        let c = config(&[local[0], local[1], ("DATABASE_PATH", "/var/lib/rw/jobs.db")]).unwrap();
        assert!(
            matches!(&c.store, StoreConfig::Sqlite { path } if path == Path::new("/var/lib/rw/jobs.db"))
        );
        let folder = config(&[local[0], local[1], ("DATABASE_PATH", "/var/lib/rw/")]).unwrap_err();
        assert_eq!(folder.variable, "DATABASE_PATH");
        assert!(folder.reason.contains("is a folder"), "{folder}");
    }

    #[test]
    fn a_remote_store_meant_but_not_named_is_not_replaced_by_sqlite() {
        let local = [("WEBHOOK_SECRET", "s"), CALLBACK_SECRET];
        let key_only = config(&[local[0], local[1], ("SUPABASE_SERVICE_ROLE_KEY", "eyJ.x.y")]);
        assert_eq!(key_only.unwrap_err().variable, "SUPABASE_URL");
        let cloud_run = config(&[local[0], local[1], ("K_SERVICE", "rosetta-webhook")]);
        let err = cloud_run.unwrap_err();
        assert_eq!(err.variable, "SUPABASE_URL");
        assert!(err.reason.contains("Cloud Run"), "{err}");
        let chosen = config(&[
            local[0],
            local[1],
            ("K_SERVICE", "rosetta-webhook"),
            ("DATABASE_PATH", "/mnt/data/rw.db"),
        ]);
        assert!(matches!(chosen.unwrap().store, StoreConfig::Sqlite { .. }));
    }

    #[test]
    fn numbers_and_formats_are_validated() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(
            config(&with(&[("PORT", "80a")])).unwrap_err().variable,
            "PORT"
        );
        assert_eq!(
            config(&with(&[("MAX_BODY_BYTES", "0")]))
                .unwrap_err()
                .variable,
            "MAX_BODY_BYTES"
        );
        assert_eq!(
            config(&with(&[("LOG_FORMAT", "xml")]))
                .unwrap_err()
                .variable,
            "LOG_FORMAT"
        );
        let cloud_run = config(&with(&[("K_SERVICE", "rosetta-webhook")])).unwrap();
        assert_eq!(cloud_run.log_format, LogFormat::Json);
    }

    #[test]
    fn callback_settings_are_validated() {
        let c = config(&BASE).unwrap().callbacks;
        assert_eq!(c.schedule.max_attempts(), 8);
        assert_eq!(c.timeout, Duration::from_secs(15));
        assert!(!c.policy.allow_http);
        assert!(c.policy.allowed.is_empty());
        let c = config(&with(&[
            ("CALLBACK_RETRY_SCHEDULE", "100ms,1s"),
            ("CALLBACK_ALLOW_HTTP", "true"),
            ("CALLBACK_ALLOWED_NETWORKS", "127.0.0.0/8, ::1/128"),
        ]))
        .unwrap()
        .callbacks;
        assert_eq!(c.schedule.max_attempts(), 3);
        assert!(c.policy.allow_http);
        assert_eq!(c.policy.allowed.len(), 2);
        for (variable, value) in [
            ("CALLBACK_SIGNING_SECRET", "not-whsec"),
            ("CALLBACK_RETRY_SCHEDULE", "5s,soon"),
            ("CALLBACK_ALLOW_HTTP", "yes"),
            ("CALLBACK_ALLOWED_NETWORKS", "127.0.0.1"),
            ("CALLBACK_TIMEOUT", "0s"),
            ("CALLBACK_LEASE", "10s"),
        ] {
            let err = config(&with(&[(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
        }
        let missing = config(&BASE[..2]).unwrap_err();
        assert_eq!(missing.variable, "CALLBACK_SIGNING_SECRET");
    }

    const SIGNING_SECRET: &str = "whsec_ZW5naW5lLXN0YW5kYXJkLXdlYmhvb2tzLXRlc3Qta2V5";

    #[test]
    fn standard_webhooks_settings_are_validated() {
        let c = config(&BASE).unwrap();
        assert!(c.inbound.secrets.is_empty());
        assert_eq!(c.inbound.tolerance_seconds, 300);
        assert!(!c.inbound.require_timestamp);

        let both = format!("{SIGNING_SECRET}, {}", CALLBACK_SECRET.1);
        let vars = [
            ("WEBHOOK_SIGNING_SECRETS", both.as_str()),
            ("WEBHOOK_TOLERANCE_SECONDS", "60"),
            ("WEBHOOK_REQUIRE_TIMESTAMP", "true"),
            ("POSTGREST_URL", "http://127.0.0.1:3000"),
            CALLBACK_SECRET,
        ];
        let c = config(&vars).unwrap();
        assert_eq!(c.inbound.secrets.len(), 2);
        assert_eq!(c.inbound.tolerance_seconds, 60);
        assert!(c.inbound.require_timestamp);
        // Standard Webhooks alone: WEBHOOK_SECRET may be left out.
        assert!(c.webhook_secrets.is_empty());

        for (extra, variable) in [
            (
                ("WEBHOOK_SIGNING_SECRETS", "whsec_c2hvcnQ="),
                "WEBHOOK_SIGNING_SECRETS",
            ),
            (
                ("WEBHOOK_SIGNING_SECRETS", "not-whsec"),
                "WEBHOOK_SIGNING_SECRETS",
            ),
            (
                ("WEBHOOK_TOLERANCE_SECONDS", "0"),
                "WEBHOOK_TOLERANCE_SECONDS",
            ),
            (
                ("WEBHOOK_TOLERANCE_SECONDS", "86401"),
                "WEBHOOK_TOLERANCE_SECONDS",
            ),
            (
                ("WEBHOOK_REQUIRE_TIMESTAMP", "yes"),
                "WEBHOOK_REQUIRE_TIMESTAMP",
            ),
            (
                ("WEBHOOK_REQUIRE_TIMESTAMP", "true"),
                "WEBHOOK_SIGNING_SECRETS",
            ),
        ] {
            let err = config(&with(&[extra])).unwrap_err();
            assert_eq!(err.variable, variable, "{extra:?}: {err}");
        }
        let bad_second = format!("{SIGNING_SECRET},whsec_!!");
        let err = config(&with(&[("WEBHOOK_SIGNING_SECRETS", bad_second.leak())])).unwrap_err();
        assert!(err.reason.starts_with("secret 2:"), "{}", err.reason);
        let neither = config(&[("POSTGREST_URL", "http://x"), CALLBACK_SECRET]).unwrap_err();
        assert!(
            neither.reason.contains("WEBHOOK_SIGNING_SECRETS"),
            "{neither}"
        );
    }

    #[test]
    fn limits_and_the_key_cache_are_validated() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.max_results_per_webhook, 50_000);
        assert_eq!(c.api_key_cache_ttl, Duration::from_secs(30));
        let c = config(&with(&[
            ("MAX_RESULTS_PER_WEBHOOK", "10"),
            ("MAX_CONCURRENT_INGESTS", "2"),
            ("POLL_RATE_PER_SECOND", "5"),
            ("POLL_BURST", "7"),
            ("HEADER_READ_TIMEOUT_SECONDS", "3"),
            ("API_KEY_CACHE_TTL", "250ms"),
        ]))
        .unwrap();
        assert_eq!(
            c.limits,
            Limits {
                max_results_per_webhook: 10,
                max_concurrent_ingests: 2,
                poll_rate_per_second: 5,
                poll_burst: 7,
                header_read_timeout: Duration::from_secs(3),
            }
        );
        assert_eq!(c.api_key_cache_ttl, Duration::from_millis(250));
        for variable in [
            "MAX_RESULTS_PER_WEBHOOK",
            "MAX_CONCURRENT_INGESTS",
            "POLL_RATE_PER_SECOND",
            "POLL_BURST",
            "HEADER_READ_TIMEOUT_SECONDS",
            "API_KEY_CACHE_TTL",
        ] {
            let err = config(&with(&[(variable, "0")])).unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }

    #[test]
    fn operations_settings_are_validated() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.metrics_port, None);
        assert!(c.internal_token.is_none());
        assert!(c.callbacks.background);
        assert_eq!(c.google_cloud_project, None);

        let token = "0123456789abcdef0123456789abcdef";
        let c = config(&with(&[
            ("METRICS_PORT", "9464"),
            ("INTERNAL_TOKEN", token),
            ("CALLBACK_WORKER", "off"),
            ("GOOGLE_CLOUD_PROJECT", "askrosetta-prod"),
        ]))
        .unwrap();
        assert_eq!(c.metrics_port, Some(9464));
        assert!(!c.callbacks.background);
        assert_eq!(c.google_cloud_project.as_deref(), Some("askrosetta-prod"));
        let internal = c.internal_token.unwrap();
        assert!(internal.matches(token));
        assert!(!internal.matches("0123456789abcdef0123456789abcdeF"));
        assert!(!internal.matches(&token[1..]));
        assert!(!internal.matches(""));

        for (variable, value) in [
            ("METRICS_PORT", "0"),
            ("METRICS_PORT", "70000"),
            ("INTERNAL_TOKEN", "short"),
            ("INTERNAL_TOKEN", "0123456789abcdef 0123456789abcdef"),
            ("CALLBACK_WORKER", "false"),
        ] {
            let err = config(&with(&[(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let c = config(&with(&[
            ("API_KEYS", "acme:topsecretkey"),
            ("SUPABASE_SERVICE_ROLE_KEY", "eyJsecretjwt"),
            ("INTERNAL_TOKEN", "internal-token-0123456789abcdef-xyz"),
        ]))
        .unwrap();
        let printed = format!("{c:?}");
        for secret in [
            "s3cret",
            "topsecretkey",
            "eyJsecretjwt",
            "internal-token-0123",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }
}
