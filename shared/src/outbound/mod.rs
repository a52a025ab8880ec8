//! Outbound HTTP for everything we call (integrations, Telegram, Okdesk): one client,
//! timeouts, and errors that say whether trying again can help (429 with its wait, 408, 5xx,
//! timeouts) or not (other 4xx).
//!
//! Two kinds of client: [`client`] for the destinations the operator configured (the Bot
//! API, Okdesk), and [`OpenClient`] for URLs a caller chose (a lead's webhook, Bitrix24,
//! amoCRM), which may reach only public addresses (see [`guard`]). Answers are read up to
//! [`MAX_ANSWER_BYTES`], and error texts are at most [`MAX_ERROR_CHARS`] long: they are
//! stored and shown to the caller, and must not become a way to read what a service said.

pub mod guard;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use guard::{AllowHosts, Refusal};

/// The most of an answer we read; a longer one is cut (no answer we use is near this).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// The longest error text kept in a job and shown by the lead API.
pub const MAX_ERROR_CHARS: usize = 300;
/// The part of a refusing service's answer quoted in the error.
const DETAIL_CHARS: usize = 200;

/// Cuts a text to `max` characters, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Trying again later can succeed; `retry_after` is the service's own wait, if it gave one.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<u32>,
    },
    /// Trying again will not help (rejected credentials, invalid data, blocked bot).
    #[error("{message}")]
    Final { message: String },
}

impl DeliveryError {
    pub fn retryable(message: impl Into<String>) -> Self {
        DeliveryError::Retryable {
            message: clip(&message.into(), MAX_ERROR_CHARS),
            retry_after: None,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        DeliveryError::Final {
            message: clip(&message.into(), MAX_ERROR_CHARS),
        }
    }
}

impl DeliveryError {
    /// The HTTP status of the refusal this error reports, when a service answered (as
    /// [`classify`] writes it: `<service>: HTTP <status>: …`).
    pub fn http_status(&self) -> Option<u16> {
        let message = match self {
            DeliveryError::Retryable { message, .. } | DeliveryError::Final { message } => message,
        };
        let (_, rest) = message.split_once(": HTTP ")?;
        rest.get(..3)?
            .parse()
            .ok()
            .filter(|s| (100..600).contains(s))
    }

    /// The same error with each of `secrets` (and its URL-encoded form) replaced by `***`.
    pub fn redact(self, secrets: &[&str]) -> Self {
        let clean = |m: String| redact(&m, secrets);
        match self {
            DeliveryError::Retryable {
                message,
                retry_after,
            } => DeliveryError::Retryable {
                message: clean(message),
                retry_after,
            },
            DeliveryError::Final { message } => DeliveryError::Final {
                message: clean(message),
            },
        }
    }
}

/// `text` with every secret (at least 4 characters; shorter ones would blank out words)
/// replaced by `***`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "***");
        let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        if encoded != *s {
            out = out.replace(&encoded, "***");
        }
    }
    out
}

/// A mail service's refusal is final; its outage is not.
impl From<crate::ports::MailError> for DeliveryError {
    fn from(e: crate::ports::MailError) -> Self {
        match e {
            crate::ports::MailError::Unavailable(m) => DeliveryError::retryable(m),
            other => DeliveryError::fatal(other.to_string()),
        }
    }
}

/// The HTTP client could not be built (no TLS roots, say): a start-up error, never a
/// silent fallback to a client without timeouts.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

impl From<ClientError> for crate::config::ConfigError {
    fn from(e: ClientError) -> Self {
        crate::config::ConfigError {
            problems: vec![e.to_string()],
        }
    }
}

/// The TLS settings every client of the process shares: ring for the cryptography (aws-lc,
/// reqwest's default, seeds its random generator from CPU jitter on the first connection),
/// and the verifier reqwest would build (the platform's roots, `SSL_CERT_FILE` honoured).
/// Built once, because reading and parsing the system's roots is most of a function's
/// start-up, and a process builds several clients (a worker two, `zayavka serve` one per
/// function). BENCHMARKS.md, "Cold start, side by side".
fn tls_config() -> Result<rustls::ClientConfig, ClientError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    static CONFIG: std::sync::OnceLock<Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_platform_verifier())
                .map_err(|e| format!("TLS set-up: {e}"))?
                .with_no_client_auth();
            // What reqwest offers itself when it speaks HTTP/1 only.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
        .map_err(ClientError)
}

fn builder(timeout: Duration) -> Result<reqwest::ClientBuilder, ClientError> {
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("zayavka/", env!("CARGO_PKG_VERSION"))))
}

/// The client for the destinations the operator configured (rustls, timeouts, no redirects).
pub fn client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    builder(timeout)?
        .build()
        .map_err(|e| ClientError(e.to_string()))
}

/// The client for URLs a caller chose: only public addresses, checked on the URL and on
/// every address a name resolves to; no proxy, since a proxy would resolve the name itself.
#[derive(Clone)]
pub struct OpenClient {
    http: reqwest::Client,
    allow: Arc<AllowHosts>,
}

impl OpenClient {
    pub fn new(timeout: Duration, allow: AllowHosts) -> Result<Self, ClientError> {
        let allow = Arc::new(allow);
        let http = builder(timeout)?
            .no_proxy()
            .dns_resolver(Arc::new(guard::GuardedResolver::new(allow.clone())))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self { http, allow })
    }

    /// The URL, if a call to it may be made.
    pub fn check(&self, service: &str, url: &str) -> Result<reqwest::Url, DeliveryError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| DeliveryError::fatal(format!("{service}: not a URL: {e}")))?;
        guard::check(&self.allow, &parsed)
            .map_err(|r| DeliveryError::fatal(format!("{service}: refused: {r}")))?;
        Ok(parsed)
    }

    pub async fn post_json(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, DeliveryError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| DeliveryError::fatal(format!("{service}: {e}")))?;
        self.post_raw(service, url, headers, bytes).await
    }

    pub async fn post_raw(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Value, DeliveryError> {
        self.check(service, url)?;
        post_raw(&self.http, service, url, headers, body).await
    }

    /// A GET whose answer is JSON; an empty answer (a 204) is `Value::Null`.
    pub async fn get_json(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Value, DeliveryError> {
        self.check(service, url)?;
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        answer(service, req).await
    }
}

/// A transport failure. The URL is left out on purpose: Telegram and Bitrix24 URLs carry
/// secrets.
pub fn transport(service: &str, e: reqwest::Error) -> DeliveryError {
    let e = e.without_url();
    // The resolver refused every address the name has: final, and said as such.
    if let Some(refusal) = guard::refusal_of(&e) {
        return DeliveryError::fatal(format!("{service}: refused: {refusal}"));
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    DeliveryError::retryable(format!("{service}: {kind}: {e}"))
}

/// Classifies a non-2xx answer. `detail` is a short description from the body.
pub fn classify(
    service: &str,
    status: u16,
    retry_after_header: Option<&str>,
    body: &str,
) -> DeliveryError {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let retry_after = retry_after_header
        .and_then(|h| h.trim().parse::<u32>().ok())
        .or_else(|| {
            json.as_ref()
                .and_then(|j| j["parameters"]["retry_after"].as_u64())
                .map(|s| s as u32)
        });
    let detail = json
        .as_ref()
        .and_then(|j| {
            [
                "description",
                "error_description",
                "detail",
                "title",
                "error",
                "message",
            ]
            .iter()
            .find_map(|k| j[*k].as_str().map(String::from))
        })
        .unwrap_or_else(|| body.to_string());
    let message = clip(
        &format!(
            "{service}: HTTP {status}: {}",
            clip(detail.trim(), DETAIL_CHARS)
        ),
        MAX_ERROR_CHARS,
    );
    match status {
        429 | 408 | 425 => DeliveryError::Retryable {
            message,
            retry_after,
        },
        500..=599 => DeliveryError::Retryable {
            message,
            retry_after,
        },
        _ => DeliveryError::Final { message },
    }
}

/// Sends a JSON POST and returns the parsed answer, or a classified error.
pub async fn post_json(
    client: &reqwest::Client,
    service: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<Value, DeliveryError> {
    let bytes =
        serde_json::to_vec(body).map_err(|e| DeliveryError::fatal(format!("{service}: {e}")))?;
    post_raw(client, service, url, headers, bytes).await
}

pub async fn post_raw(
    client: &reqwest::Client,
    service: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Value, DeliveryError> {
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    answer(service, req).await
}

/// Sends the request and reads its answer: the parsed JSON of a 2xx (`Value::Null` when
/// empty or not JSON), or a classified error.
async fn answer(service: &str, req: reqwest::RequestBuilder) -> Result<Value, DeliveryError> {
    let resp = req.send().await.map_err(|e| transport(service, e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let bytes = read_capped(resp, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| transport(service, e))?;
    let text = String::from_utf8_lossy(&bytes);
    if !(200..300).contains(&status) {
        return Err(classify(service, status, retry_after.as_deref(), &text));
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The answer's body, at most `cap` bytes of it: a service that streams without end
/// cannot fill our memory.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - out.len();
        if chunk.len() >= room {
            out.extend_from_slice(&chunk[..room]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_before_any_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let open = OpenClient::new(Duration::from_secs(2), AllowHosts::none()).unwrap();
        // Past the URL check on purpose: the resolver alone must stop a name (a DNS answer
        // can change between the check and the connect).
        let err = post_raw(
            &open.http,
            "webhook",
            &format!("http://localhost:{port}/hook"),
            &[],
            b"{}".to_vec(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            DeliveryError::fatal(
                "webhook: refused: localhost resolves only to internal addresses; only public addresses can be called"
            )
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
        // The same client reaches it once the host is exempt: the refusal was the resolver's.
        let exempt = OpenClient::new(
            Duration::from_secs(2),
            AllowHosts::parse(&format!("localhost:{port}")).unwrap(),
        )
        .unwrap();
        let _ = exempt
            .post_raw(
                "webhook",
                &format!("http://localhost:{port}/hook"),
                &[],
                b"{}".to_vec(),
            )
            .await;
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[test]
    fn retry_hints_come_from_the_header_or_telegrams_body() {
        let e = classify("x", 429, Some("7"), "");
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "x: HTTP 429: ".into(),
                retry_after: Some(7)
            }
        );
        let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#;
        match classify("telegram", 429, None, body) {
            DeliveryError::Retryable {
                retry_after,
                message,
            } => {
                assert_eq!(retry_after, Some(35));
                assert!(message.contains("Too Many Requests"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify("x", 503, None, "{}"),
            DeliveryError::Retryable { .. }
        ));
        assert!(matches!(
            classify("x", 403, None, "{}"),
            DeliveryError::Final { .. }
        ));
        assert!(matches!(
            classify("x", 400, None, "{}"),
            DeliveryError::Final { .. }
        ));
    }
}
