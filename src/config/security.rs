//! The security settings: Standard Webhooks verification of inbound
//! webhooks, the API key cache, and the limits a hostile sender meets.

use std::time::Duration;

use super::{duration, flag, parse_number, ConfigError};
use crate::domain::limits::DEFAULT_MAX_RESULTS_PER_WEBHOOK;
use crate::standard_webhooks::SigningSecret;

/// How inbound webhooks are verified besides the drop-in `WEBHOOK_SECRET`.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// `WEBHOOK_SIGNING_SECRETS`: Standard Webhooks keys, any one verifies.
    pub secrets: Vec<SigningSecret>,
    /// `WEBHOOK_TOLERANCE_SECONDS`: how far `webhook-timestamp` may be from
    /// the service's clock, either direction.
    pub tolerance_seconds: i64,
    /// `WEBHOOK_REQUIRE_TIMESTAMP`: refuse the drop-in scheme.
    pub require_timestamp: bool,
}

pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;
/// Replayed message ids are remembered for 7 days (the migration prunes
/// older ones); a tolerance of a day keeps every replay inside that window.
pub const MAX_TOLERANCE_SECONDS: i64 = 86_400;

impl Default for InboundConfig {
    /// Drop-in only, as before Standard Webhooks.
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
            require_timestamp: false,
        }
    }
}

/// Bounds on what one sender can make the service do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `MAX_RESULTS_PER_WEBHOOK`.
    pub max_results_per_webhook: usize,
    /// `MAX_CONCURRENT_INGESTS`: webhooks being read, parsed or stored at
    /// once per instance; one more is answered 503 before its body is read.
    pub max_concurrent_ingests: usize,
    /// `POLL_RATE_PER_SECOND`: sustained polls per API key per instance.
    pub poll_rate_per_second: u32,
    /// `POLL_BURST`: polls per API key allowed at once above the rate.
    pub poll_burst: u32,
    /// `HEADER_READ_TIMEOUT_SECONDS`: a connection that has not sent a
    /// request's headers within this is closed (also an idle keep-alive one).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_results_per_webhook: DEFAULT_MAX_RESULTS_PER_WEBHOOK,
            max_concurrent_ingests: 16,
            poll_rate_per_second: 20,
            poll_burst: 40,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// `API_KEY_CACHE_TTL`: how long a key looked up in the store is trusted
/// (and an unknown key refused) without asking the store again.
pub const DEFAULT_API_KEY_CACHE_TTL: &str = "30s";

pub(super) fn inbound_from(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<InboundConfig, ConfigError> {
    let secrets = get("WEBHOOK_SIGNING_SECRETS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .enumerate()
        .filter(|(_, raw)| !raw.is_empty())
        .map(|(index, raw)| {
            SigningSecret::parse(raw).map_err(|reason| {
                ConfigError::new(
                    "WEBHOOK_SIGNING_SECRETS",
                    format!("secret {}: {reason}", index + 1),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tolerance_seconds =
        parse_number(get, "WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?;
    if tolerance_seconds > MAX_TOLERANCE_SECONDS {
        return Err(ConfigError::new(
            "WEBHOOK_TOLERANCE_SECONDS",
            format!(
                "must be at most {MAX_TOLERANCE_SECONDS} (replayed ids are remembered for 7 days)"
            ),
        ));
    }
    let require_timestamp = flag(get, "WEBHOOK_REQUIRE_TIMESTAMP")?;
    if require_timestamp && secrets.is_empty() {
        return Err(ConfigError::new(
            "WEBHOOK_SIGNING_SECRETS",
            "is required with WEBHOOK_REQUIRE_TIMESTAMP=true (otherwise no webhook could verify)",
        ));
    }
    Ok(InboundConfig {
        secrets,
        tolerance_seconds,
        require_timestamp,
    })
}

pub(super) fn limits_from(get: &impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    Ok(Limits {
        max_results_per_webhook: parse_number(
            get,
            "MAX_RESULTS_PER_WEBHOOK",
            defaults.max_results_per_webhook,
        )?,
        max_concurrent_ingests: parse_number(
            get,
            "MAX_CONCURRENT_INGESTS",
            defaults.max_concurrent_ingests,
        )?,
        poll_rate_per_second: parse_number(
            get,
            "POLL_RATE_PER_SECOND",
            defaults.poll_rate_per_second,
        )?,
        poll_burst: parse_number(get, "POLL_BURST", defaults.poll_burst)?,
        header_read_timeout: Duration::from_secs(parse_number(
            get,
            "HEADER_READ_TIMEOUT_SECONDS",
            defaults.header_read_timeout.as_secs(),
        )?),
    })
}

pub(super) fn api_key_cache_ttl_from(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Duration, ConfigError> {
    duration(get, "API_KEY_CACHE_TTL", DEFAULT_API_KEY_CACHE_TTL)
}
