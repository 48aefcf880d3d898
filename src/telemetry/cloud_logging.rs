//! Log lines as Cloud Logging reads them from a container's stdout: one JSON
//! object per line, with
//! - `severity` (`DEBUG`, `INFO`, `WARNING`, `ERROR`), `message`, `time`;
//! - `httpRequest` built from the event's `httpRequest.*` fields (the
//!   request log line sets them, see `http::observe`);
//! - `logging.googleapis.com/trace` (`projects/<project>/traces/<id>`),
//!   `.../spanId` and `.../trace_sampled`, from the `trace_id`, `span_id`
//!   and `trace_sampled` fields of the innermost span that has them (the
//!   request span), when a project is configured: so every line of one
//!   request groups under its trace and beside Cloud Run's request log;
//! - `target`, the event's other fields at the top level, the innermost
//!   span as `span` and the whole scope as `spans` (root first), each span an
//!   object of its fields plus `name`, as tracing-subscriber's JSON does.
//!
//! A `tracing_subscriber` layer of our own: `tracing-stackdriver` would need
//! OpenTelemetry for the trace and `--cfg tracing_unstable` for `httpRequest`.

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Number, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const HTTP_REQUEST_PREFIX: &str = "httpRequest.";
pub const TRACE_KEY: &str = "logging.googleapis.com/trace";
pub const SPAN_ID_KEY: &str = "logging.googleapis.com/spanId";
pub const TRACE_SAMPLED_KEY: &str = "logging.googleapis.com/trace_sampled";

/// The layer; `make_writer` is stdout in the service, a buffer in tests.
pub struct CloudLogging<W> {
    project: Option<String>,
    make_writer: W,
}

impl<W> CloudLogging<W> {
    pub fn new(project: Option<String>, make_writer: W) -> Self {
        Self {
            project,
            make_writer,
        }
    }
}

/// A span's fields, kept in its extensions as they are recorded.
#[derive(Default)]
struct SpanFields(Map<String, Value>);

struct Visitor<'a>(&'a mut Map<String, Value>);

impl Visitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for Visitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let number = Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.put(field, number);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, crate::error_chain(value).into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

pub fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// Writes `"key":value` (with a leading comma unless first).
fn entry(line: &mut Vec<u8>, key: &str, value: &impl Serialize) {
    if line.len() > 1 {
        line.push(b',');
    }
    serde_json::to_writer(&mut *line, key).expect("a string serialises");
    line.push(b':');
    serde_json::to_writer(&mut *line, value).expect("a JSON value serialises");
}

impl<W> CloudLogging<W> {
    fn line<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Vec<u8>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut fields = Map::new();
        event.record(&mut Visitor(&mut fields));
        let message = fields.remove("message").unwrap_or(Value::Null);
        let mut http_request = Map::new();
        fields.retain(|key, value| match key.strip_prefix(HTTP_REQUEST_PREFIX) {
            Some(name) => {
                http_request.insert(name.to_owned(), value.take());
                false
            }
            None => true,
        });

        let mut line = Vec::with_capacity(512);
        line.push(b'{');
        let metadata = event.metadata();
        entry(&mut line, "severity", &severity(metadata.level()));
        entry(&mut line, "message", &message);
        let mut time = String::new();
        if SystemTime.format_time(&mut Writer::new(&mut time)).is_ok() {
            entry(&mut line, "time", &time);
        }
        entry(&mut line, "target", &metadata.target());
        for (key, value) in &fields {
            entry(&mut line, key, value);
        }
        if !http_request.is_empty() {
            entry(&mut line, "httpRequest", &http_request);
        }

        let scope = ctx.event_scope(event);
        let mut spans = Vec::new();
        let mut trace_written = false;
        // Innermost first; the first span with a trace names it.
        for span in scope.into_iter().flatten() {
            let extensions = span.extensions();
            let Some(SpanFields(span_fields)) = extensions.get::<SpanFields>() else {
                continue;
            };
            if !trace_written {
                trace_written = self.write_trace(&mut line, span_fields);
            }
            let mut object = span_fields.clone();
            object.insert("name".into(), span.name().into());
            spans.push(Value::Object(object));
        }
        spans.reverse();
        if let Some(innermost) = spans.last() {
            entry(&mut line, "span", innermost);
            entry(&mut line, "spans", &spans);
        }
        line.extend_from_slice(b"}\n");
        line
    }

    /// The trace entries, if `fields` carry a trace id and a project is set.
    fn write_trace(&self, line: &mut Vec<u8>, fields: &Map<String, Value>) -> bool {
        let (Some(project), Some(Value::String(trace_id))) =
            (&self.project, fields.get("trace_id"))
        else {
            return false;
        };
        entry(
            line,
            TRACE_KEY,
            &format!("projects/{project}/traces/{trace_id}"),
        );
        if let Some(span_id) = fields.get("span_id") {
            entry(line, SPAN_ID_KEY, span_id);
        }
        if let Some(sampled) = fields.get("trace_sampled") {
            entry(line, TRACE_SAMPLED_KEY, sampled);
        }
        true
    }
}

impl<S, W> Layer<S> for CloudLogging<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut Visitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Visitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let line = self.line(event, &ctx);
        // One write per line, so lines of concurrent requests never interleave.
        let _ = self
            .make_writer
            .make_writer_for(event.metadata())
            .write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// Runs `emit` under the layer and returns the lines it wrote, parsed.
    fn capture(project: Option<&str>, emit: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let layer = CloudLogging::new(project.map(str::to_owned), buffer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    const TRACE: &str = "105445aa7843bc8bf206b12000100000";

    #[test]
    fn each_level_maps_to_a_cloud_logging_severity() {
        let lines = capture(None, || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        let severities: Vec<&str> = lines
            .iter()
            .map(|l| l["severity"].as_str().unwrap())
            .collect();
        assert_eq!(severities, ["ERROR", "WARNING", "INFO", "DEBUG", "DEBUG"]);
        assert!(lines.iter().all(|l| l.get("level").is_none()));
        assert_eq!(lines[0]["message"], "e");
        let time = lines[0]["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
    }

    #[test]
    fn lines_in_a_traced_span_carry_the_trace_and_the_span_fields() {
        let lines = capture(Some("askrosetta-prod"), || {
            let request = tracing::info_span!(
                "request",
                route = "/api/v1/jobs/{job_id}",
                trace_id = TRACE,
                span_id = "0000000000000001",
                trace_sampled = true
            );
            let _request = request.enter();
            let ingest = tracing::info_span!("ingest", job_id = "j-1");
            let _ingest = ingest.enter();
            tracing::info!(results = 3, stale = false, "webhook stored");
        });
        let line = &lines[0];
        assert_eq!(
            line[TRACE_KEY],
            format!("projects/askrosetta-prod/traces/{TRACE}")
        );
        assert_eq!(line[SPAN_ID_KEY], "0000000000000001");
        assert_eq!(line[TRACE_SAMPLED_KEY], true);
        assert_eq!(line["message"], "webhook stored");
        assert_eq!(line["results"], 3);
        assert_eq!(line["stale"], false);
        assert_eq!(line["span"]["name"], "ingest");
        assert_eq!(line["span"]["job_id"], "j-1");
        assert_eq!(line["spans"][0]["name"], "request");
        assert_eq!(line["spans"][0]["route"], "/api/v1/jobs/{job_id}");
        assert_eq!(line["spans"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn without_a_project_or_a_trace_there_is_no_trace_entry() {
        let traced_without_project = capture(None, || {
            let _span = tracing::info_span!("request", trace_id = TRACE).entered();
            tracing::info!("x");
        });
        assert!(traced_without_project[0].get(TRACE_KEY).is_none());
        assert_eq!(traced_without_project[0]["span"]["trace_id"], TRACE);

        let untraced = capture(Some("p"), || {
            let _span = tracing::info_span!("request", route = "/healthz").entered();
            tracing::info!("x");
        });
        assert!(untraced[0].get(TRACE_KEY).is_none());
        let outside = capture(Some("p"), || tracing::info!("no span"));
        assert!(outside[0].get("span").is_none() && outside[0].get("spans").is_none());
    }

    #[test]
    fn http_request_fields_become_one_object() {
        let lines = capture(None, || {
            tracing::warn!(
                httpRequest.requestMethod = "GET",
                httpRequest.status = 404,
                httpRequest.latency = "0.001200s",
                code = "job_not_found",
                "request refused"
            );
        });
        let line = &lines[0];
        assert_eq!(line["httpRequest"]["requestMethod"], "GET");
        assert_eq!(line["httpRequest"]["status"], 404);
        assert_eq!(line["httpRequest"]["latency"], "0.001200s");
        assert_eq!(line["code"], "job_not_found");
        assert!(line.get("httpRequest.status").is_none());
    }

    #[test]
    fn values_are_escaped_and_recorded_later_fields_show() {
        let lines = capture(None, || {
            let span = tracing::info_span!("attempt", outcome = tracing::field::Empty);
            span.record("outcome", "delivered");
            let _entered = span.enter();
            let error = std::io::Error::other("a \"quoted\"\nline");
            tracing::error!(
                error = &error as &dyn std::error::Error,
                ratio = 0.5,
                "failed"
            );
        });
        assert_eq!(lines.len(), 1, "a newline in a value stays inside its line");
        assert_eq!(lines[0]["error"], "a \"quoted\"\nline");
        assert_eq!(lines[0]["ratio"], 0.5);
        assert_eq!(lines[0]["span"]["outcome"], "delivered");
    }
}
