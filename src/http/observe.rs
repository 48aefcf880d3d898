//! The outermost per-route middleware: the request's span (route template,
//! request id, and the caller's trace, so every line of the request groups
//! under it in Cloud Logging), the HTTP metrics, and the request's one log
//! line, with `httpRequest`:
//! - `debug` "request finished" for answers below 400: Cloud Run already
//!   logs every request, and an `info` line per request cost ~100 µs of CPU
//!   (benches/load); with `RUST_LOG=debug` they appear;
//! - `info` "request refused" for 4xx, `error` "request failed" for 5xx, with
//!   the error's code and detail (which the response itself withholds).
//!
//! An ingest adds its own `info` "webhook stored" line inside this span.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, Uri, Version};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::ErrorLog;
use super::{AppState, REQUEST_ID_HEADER};
use crate::telemetry::TraceContext;

/// The route label of requests that match no route.
pub const UNMATCHED: &str = "unmatched";

/// What the log line needs of the request, kept cheaply (shared bytes) until
/// the line is known to be written.
struct RequestFacts {
    method: Method,
    uri: Uri,
    version: Version,
    user_agent: Option<HeaderValue>,
    size: Option<HeaderValue>,
}

pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let span = request_span(&request, &route);
    let headers = request.headers();
    let facts = RequestFacts {
        method: request.method().clone(),
        uri: request.uri().clone(),
        version: request.version(),
        user_agent: headers.get(header::USER_AGENT).cloned(),
        size: headers.get(header::CONTENT_LENGTH).cloned(),
    };
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .http_request(facts.method.as_str(), &route, status, elapsed);
    span.in_scope(|| log_response(&facts, &response, elapsed));
    response
}

/// The request's span: route template (not the raw path, which holds ids),
/// method, request id, trace. Headers are never recorded: they carry secrets.
fn request_span(request: &Request, route: &str) -> tracing::Span {
    let headers = request.headers();
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let trace = TraceContext::from_headers(headers);
    let (trace_id, span_id, sampled) = match &trace {
        Some(t) => (Some(t.trace_id.as_str()), t.span_id.as_deref(), t.sampled),
        None => (None, None, None),
    };
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        trace_id,
        span_id,
        trace_sampled = sampled
    )
}

fn log_response(facts: &RequestFacts, response: &Response, elapsed: Duration) {
    let status = response.status();
    let error = response.extensions().get::<ErrorLog>();
    macro_rules! line {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                httpRequest.requestMethod = facts.method.as_str(),
                httpRequest.requestUrl = %facts.uri,
                httpRequest.status = status.as_u16(),
                httpRequest.latency = %format_args!("{:.6}s", elapsed.as_secs_f64()),
                httpRequest.protocol = ?facts.version,
                httpRequest.userAgent = facts.user_agent.as_ref().and_then(|v| v.to_str().ok()),
                httpRequest.requestSize = facts.size.as_ref().and_then(|v| v.to_str().ok()),
                httpRequest.responseSize = response
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()),
                code = error.map(|e| e.code),
                error = error.map(|e| e.detail.as_str()),
                $message
            )
        };
    }
    if status.is_server_error() {
        line!(tracing::Level::ERROR, "request failed");
    } else if status.is_client_error() {
        line!(tracing::Level::INFO, "request refused");
    } else {
        line!(tracing::Level::DEBUG, "request finished");
    }
}
