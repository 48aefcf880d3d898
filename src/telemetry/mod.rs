//! Tracing set-up, in one place: Cloud Logging JSON lines on Cloud Run,
//! readable lines elsewhere. `RUST_LOG` refines the level (default `info`).

pub mod cloud_logging;
pub mod trace_context;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

pub use self::cloud_logging::CloudLogging;
pub use self::trace_context::TraceContext;
use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from `main`. `project`
/// (`GOOGLE_CLOUD_PROJECT`) names traces in JSON lines.
pub fn init(format: LogFormat, project: Option<String>) {
    // An empty or malformed RUST_LOG would silence every line; fall back to info.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(CloudLogging::new(project, std::io::stdout))
            .init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).init(),
    }
}
