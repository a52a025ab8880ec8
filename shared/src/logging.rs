//! Logs: JSON in Lambda (one object a line, with the invocation's `requestId` from the
//! runtime's span), readable text locally.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// JSON when running in Lambda or when `LOG_FORMAT=json`; the level from `RUST_LOG`
/// (default `info`). Safe to call twice.
pub fn init() {
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if json {
        builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_span_events(FmtSpan::NONE)
            .with_target(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().with_target(false).try_init()
    };
    // Already initialised (tests, or a second call): keep the first subscriber.
    drop(result);
}
