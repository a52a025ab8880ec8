//! Outbound HTTP for everything we call (integrations, Telegram, Okdesk): one client,
//! timeouts, and errors that say whether trying again can help (429 with its wait, 408, 5xx,
//! timeouts) or not (other 4xx).

use std::time::Duration;

use serde_json::Value;

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
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        DeliveryError::Final {
            message: message.into(),
        }
    }
}

/// Builds the one client a process uses (rustls, timeouts, no redirects to elsewhere).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("zayavka/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A transport failure. The URL is left out on purpose: Telegram and Bitrix24 URLs carry
/// secrets.
pub fn transport(service: &str, e: reqwest::Error) -> DeliveryError {
    let e = e.without_url();
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
        .unwrap_or_else(|| body.chars().take(200).collect());
    let message = format!("{service}: HTTP {status}: {detail}");
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
    let resp = req.send().await.map_err(|e| transport(service, e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = resp.text().await.map_err(|e| transport(service, e))?;
    if !(200..300).contains(&status) {
        return Err(classify(service, status, retry_after.as_deref(), &text));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

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
