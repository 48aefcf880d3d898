//! One signed POST to a vetted callback target.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT};
use reqwest::redirect;

use super::schedule::{parse_retry_after, AttemptResult};
use super::ssrf::VettedTarget;
use crate::standard_webhooks::SigningSecret;

const AGENT: &str = concat!("rosetta-webhook/", env!("CARGO_PKG_VERSION"));
/// Bytes of a receiver's answer kept as the delivery's last error.
const ERROR_EXCERPT: usize = 200;

/// What one attempt produced, with the text recorded for the client to read.
pub struct Attempt {
    pub result: AttemptResult,
    pub error: Option<String>,
}

/// Sends `body` to `target`, signed per Standard Webhooks with `delivery_id`
/// as `webhook-id` (the same on every retry) and this attempt's timestamp.
pub async fn send(
    target: &VettedTarget,
    delivery_id: &str,
    body: Vec<u8>,
    secret: &SigningSecret,
    timeout: Duration,
) -> Attempt {
    let client = match client_for(target, timeout) {
        Ok(client) => client,
        Err(e) => return no_answer(format!("could not build the HTTP client: {e}")),
    };
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    // The signature is over exactly these bytes, which are the bytes sent.
    let signature = secret.sign(delivery_id, timestamp, &body);
    let request = client
        .post(target.url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static(AGENT))
        .header("webhook-id", delivery_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return no_answer(format!("no answer within {} ms", timeout.as_millis()))
        }
        Err(e) => return no_answer(crate::error_chain(&e)),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let error = if (200..300).contains(&status) {
        None
    } else if (300..400).contains(&status) {
        Some(format!(
            "HTTP {status}: redirect to {} not followed",
            location.as_deref().unwrap_or("(no Location)")
        ))
    } else {
        let excerpt = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ERROR_EXCERPT)
            .collect::<String>();
        Some(format!("HTTP {status}: {excerpt}").trim_end().to_owned())
    };
    Attempt {
        result: AttemptResult::Answered {
            status,
            retry_after,
        },
        error,
    }
}

/// A client that can reach only the vetted addresses: host names are pinned
/// and any other name fails to resolve; redirects and proxies are off.
fn client_for(target: &VettedTarget, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(0)
        .dns_resolver(std::sync::Arc::new(NoResolution));
    if let Some((host, addresses)) = &target.pinned {
        builder = builder.resolve_to_addrs(host, addresses);
    }
    builder.build()
}

/// The fallback resolver of callback clients: resolves nothing, so a name
/// that was not vetted and pinned cannot be reached.
struct NoResolution;

impl reqwest::dns::Resolve for NoResolution {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let message = format!("{} was not vetted", name.as_str());
        Box::pin(async move { Err(message.into()) })
    }
}

fn no_answer(error: String) -> Attempt {
    Attempt {
        result: AttemptResult::NoAnswer,
        error: Some(error),
    }
}
