//! Prometheus metrics, named in one place. Each running service owns its
//! registry (a `PrometheusRecorder` held here, not installed as the global
//! recorder), so several services in one process, as in the tests, count
//! apart. `GET /metrics` renders it.
//!
//! Names follow Prometheus conventions: a `rosetta_` prefix, the unit in the
//! name (`_seconds`), `_total` on counters. Label values are bounded: route
//! templates (never raw paths), status codes, fixed outcome words, attempt
//! numbers up to the retry schedule's length.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::store::OutboxStats;

pub const HTTP_REQUESTS: &str = "rosetta_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "rosetta_http_request_duration_seconds";
pub const WEBHOOKS: &str = "rosetta_webhooks_total";
pub const RESULTS_STORED: &str = "rosetta_webhook_results_stored_total";
pub const INGEST_DURATION: &str = "rosetta_webhook_ingest_duration_seconds";
pub const CALLBACK_ATTEMPTS: &str = "rosetta_callback_attempts_total";
pub const OUTBOX_UNFINISHED: &str = "rosetta_callback_outbox_unfinished";
pub const OUTBOX_DUE: &str = "rosetta_callback_outbox_due";
pub const OUTBOX_OLDEST_DUE_AGE: &str = "rosetta_callback_outbox_oldest_due_age_seconds";
pub const OUTBOX_READ_ERRORS: &str = "rosetta_callback_outbox_read_errors_total";
pub const STORE_CALL_DURATION: &str = "rosetta_store_call_duration_seconds";
pub const BUILD_INFO: &str = "rosetta_build_info";

/// Histogram bucket bounds, in seconds: 1 ms to a 60 s long-poll.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// What became of a webhook, as `rosetta_webhooks_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Committed and applied.
    Stored,
    /// Committed, and the same body as the last webhook applied to the job.
    Duplicate,
    /// Committed, but ranked below the job's status (a late retry): missing
    /// results added, nothing overwritten.
    Stale,
    /// Missing or wrong `X-Webhook-Signature`.
    InvalidSignature,
    /// Signed, but unreadable, too large, not JSON, or breaking a rule.
    InvalidBody,
    /// The store could not be reached or timed out: the engine retries.
    StoreUnavailable,
    /// The store refused what we sent (our bug); logged with its detail.
    Error,
}

impl WebhookOutcome {
    pub const ALL: [Self; 7] = [
        Self::Stored,
        Self::Duplicate,
        Self::Stale,
        Self::InvalidSignature,
        Self::InvalidBody,
        Self::StoreUnavailable,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidBody => "invalid_body",
            Self::StoreUnavailable => "store_unavailable",
            Self::Error => "error",
        }
    }
}

/// The service's metrics registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let metrics = Self {
            recorder: Arc::new(recorder),
        };
        metrics.describe();
        metrics
            .gauge(
                BUILD_INFO,
                vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        // Every outcome shows from the start (at 0), so a rate over it works
        // before the first webhook of that kind.
        for outcome in WebhookOutcome::ALL {
            metrics.webhook_counter(outcome).increment(0);
        }
        metrics.counter(RESULTS_STORED, vec![]).increment(0);
        metrics
    }

    /// The text exposition format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// Folds recorded histogram samples into their buckets; without it they
    /// pile up between scrapes. `serve` runs it every few seconds.
    pub fn run_upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = || {
            vec![
                Label::new("method", method_label(method)),
                Label::new("route", route.to_owned()),
                Label::new("status", status.to_string()),
            ]
        };
        self.counter(HTTP_REQUESTS, labels()).increment(1);
        self.histogram(HTTP_REQUEST_DURATION, labels())
            .record(elapsed.as_secs_f64());
    }

    pub fn webhook(&self, outcome: WebhookOutcome) {
        self.webhook_counter(outcome).increment(1);
    }

    fn webhook_counter(&self, outcome: WebhookOutcome) -> metrics::Counter {
        self.counter(WEBHOOKS, vec![Label::new("outcome", outcome.as_str())])
    }

    /// A webhook's trip from verified bytes to commit (or to the store's failure).
    pub fn ingest(&self, elapsed: Duration, results_stored: u64) {
        self.histogram(INGEST_DURATION, vec![])
            .record(elapsed.as_secs_f64());
        self.counter(RESULTS_STORED, vec![])
            .increment(results_stored);
    }

    /// One callback attempt: `outcome` as `DeliveryCounts` names it,
    /// `attempt` its number (1 for the first).
    pub fn callback_attempt(&self, outcome: &'static str, attempt: u32) {
        let labels = vec![
            Label::new("outcome", outcome),
            Label::new("attempt", attempt.to_string()),
        ];
        self.counter(CALLBACK_ATTEMPTS, labels).increment(1);
    }

    pub fn store_call(&self, operation: &'static str, outcome: &'static str, elapsed: Duration) {
        let labels = vec![
            Label::new("operation", operation),
            Label::new("outcome", outcome),
        ];
        self.histogram(STORE_CALL_DURATION, labels)
            .record(elapsed.as_secs_f64());
    }

    pub fn outbox(&self, stats: &OutboxStats) {
        self.gauge(OUTBOX_UNFINISHED, vec![])
            .set(stats.unfinished as f64);
        self.gauge(OUTBOX_DUE, vec![]).set(stats.due as f64);
        self.gauge(OUTBOX_OLDEST_DUE_AGE, vec![])
            .set(stats.oldest_due_age_seconds);
    }

    /// The outbox could not be read for a scrape; its gauges keep the last
    /// values read.
    pub fn outbox_read_failed(&self) {
        self.counter(OUTBOX_READ_ERRORS, vec![]).increment(1);
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> metrics::Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> metrics::Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> metrics::Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    fn describe(&self) {
        let r = &self.recorder;
        let text = SharedString::const_str;
        let name = KeyName::from_const_str;
        r.describe_counter(
            name(HTTP_REQUESTS),
            None,
            text("HTTP requests answered, by method, route template and status."),
        );
        r.describe_histogram(
            name(HTTP_REQUEST_DURATION),
            Some(Unit::Seconds),
            text("Time to the response head, by method, route template and status (a long-poll includes its wait)."),
        );
        r.describe_counter(
            name(WEBHOOKS),
            None,
            text("Completion webhooks received, by outcome: stored, duplicate, stale, invalid_signature, invalid_body, store_unavailable, error."),
        );
        r.describe_counter(
            name(RESULTS_STORED),
            None,
            text("Result rows written (inserted or updated) by committed webhooks."),
        );
        r.describe_histogram(
            name(INGEST_DURATION),
            Some(Unit::Seconds),
            text("A signed webhook from verified bytes to its commit (or to the store's failure)."),
        );
        r.describe_counter(
            name(CALLBACK_ATTEMPTS),
            None,
            text("Callback attempts, by outcome (delivered, retrying, exhausted, disabled, unrecorded) and attempt number."),
        );
        r.describe_gauge(
            name(OUTBOX_UNFINISHED),
            None,
            text("Callback deliveries not final yet (pending, or failed with a retry scheduled), read at scrape time."),
        );
        r.describe_gauge(
            name(OUTBOX_DUE),
            None,
            text("Callback deliveries due now, read at scrape time."),
        );
        r.describe_gauge(
            name(OUTBOX_OLDEST_DUE_AGE),
            Some(Unit::Seconds),
            text("How long the oldest due callback delivery has waited, read at scrape time; 0 when none is due."),
        );
        r.describe_counter(
            name(OUTBOX_READ_ERRORS),
            None,
            text(
                "Scrapes whose outbox read failed (the outbox gauges then keep their last values).",
            ),
        );
        r.describe_histogram(
            name(STORE_CALL_DURATION),
            Some(Unit::Seconds),
            text("Calls to the store, by operation and outcome (ok, unavailable, schema_missing, refused)."),
        );
        r.describe_gauge(
            name(BUILD_INFO),
            None,
            text("Always 1; the version label names the running build."),
        );
    }
}

/// Methods as a fixed set of label values; anything else is `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `series` (name and labels).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    #[test]
    fn registries_are_separate_and_render_prometheus_text() {
        let one = Metrics::new();
        let other = Metrics::new();
        one.webhook(WebhookOutcome::Stored);
        one.webhook(WebhookOutcome::Stored);
        one.http_request("POST", "/x/{id}", 200, Duration::from_millis(3));
        one.callback_attempt("delivered", 1);
        let text = one.render();
        assert_eq!(
            sample(&text, r#"rosetta_webhooks_total{outcome="stored"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"rosetta_webhooks_total{outcome="duplicate"}"#),
            Some(0.0),
            "every outcome is present from the start"
        );
        assert_eq!(
            sample(
                &text,
                r#"rosetta_http_requests_total{method="POST",route="/x/{id}",status="200"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"rosetta_callback_attempts_total{outcome="delivered",attempt="1"}"#
            ),
            Some(1.0)
        );
        assert!(text.contains("# TYPE rosetta_http_request_duration_seconds histogram"));
        assert_eq!(
            sample(
                &text,
                r#"rosetta_http_request_duration_seconds_bucket{method="POST",route="/x/{id}",status="200",le="0.005"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &other.render(),
                r#"rosetta_webhooks_total{outcome="stored"}"#
            ),
            Some(0.0),
            "the other registry saw nothing"
        );
    }

    #[test]
    fn outbox_gauges_take_the_latest_reading() {
        let metrics = Metrics::new();
        let stats = |unfinished, due, age| OutboxStats {
            unfinished,
            due,
            oldest_due_age_seconds: age,
        };
        metrics.outbox(&stats(5, 2, 12.5));
        metrics.outbox(&stats(3, 1, 0.5));
        let text = metrics.render();
        assert_eq!(sample(&text, OUTBOX_UNFINISHED), Some(3.0));
        assert_eq!(sample(&text, OUTBOX_DUE), Some(1.0));
        assert_eq!(sample(&text, OUTBOX_OLDEST_DUE_AGE), Some(0.5));
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }
}
