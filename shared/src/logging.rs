//! Logs: JSON in Lambda (one object a line, with the invocation's `requestId` from the
//! runtime's span), readable text locally.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// JSON on stdout when running in Lambda or when `LOG_FORMAT=json`; readable text on stderr
/// otherwise, so a command's own output (serve's address line) is all stdout carries. The
/// level from `RUST_LOG` (default `info`). Safe to call twice.
pub fn init() {
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let result = if json {
        tracing::subscriber::set_global_default(json_subscriber(std::io::stdout))
    } else {
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .compact()
                .with_target(false)
                .with_writer(std::io::stderr)
                .finish(),
        )
    };
    // Already initialised (tests, or a second call): keep the first subscriber.
    drop(result);
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The Lambda log format: one JSON object per event, fields flattened, and the list of open
/// spans, so the runtime's `Lambda runtime invoke` span puts `requestId` on every line.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_writer(writer)
        .finish()
}
