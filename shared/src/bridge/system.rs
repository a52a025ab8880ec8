//! One message to the system: `POST <BRIDGE_API_URL>` with the body, `X-Webhook-URL` (where
//! to answer), `X-Zayavka-Signature` and the Standard Webhooks headers (`webhook-id` is the
//! message's id, the same on every retry). What came back decides what happens next.

use std::time::Duration;

use super::config::BridgeConfig;
use super::inbound::Inbound;

/// How a try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// Taken; the reply when the system answered in its response.
    Delivered { reply: Option<String> },
    /// Worth trying again (5xx, 408, 429, no answer): after this long, when the system said.
    Again {
        after_secs: Option<u32>,
        error: String,
    },
    /// Refused for good (another 4xx), with what the system said.
    Refused { error: String },
}

/// The answer a system gave in its own response, in any of the seed's spellings; the
/// user's own text echoed back (a created message returned as it was stored) is none.
pub fn reply_in(body: &[u8], sent: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["response", "content", "text"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(|x| x.as_str()))
        .map(str::trim)
        .find(|s| !s.is_empty() && *s != sent.trim())
        .map(String::from)
}

pub async fn deliver(
    http: &reqwest::Client,
    cfg: &BridgeConfig,
    m: &Inbound,
    now_secs: i64,
) -> Tried {
    let body = serde_json::to_vec(&m.payload(cfg, now_secs)).unwrap_or_default();
    let mut req = http
        .post(&cfg.api_url)
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .header("content-type", "application/json")
        .header("x-zayavka-delivery", m.id());
    match m.base(cfg) {
        Some(base) => req = req.header("x-webhook-url", cfg.reply_url(base)),
        // Polled with no ZAYAVKA_PUBLIC_URL: the system can still answer in its response.
        None => tracing::warn!("no public URL to give the system: set ZAYAVKA_PUBLIC_URL"),
    }
    req = req.header(
        crate::signature::HEADER,
        crate::signature::signature(cfg.signing_secret.expose(), now_secs, &body),
    );
    for (name, value) in
        crate::signature::standard_headers(&cfg.signing_secrets(), &m.id(), now_secs, &body)
    {
        req = req.header(name, value);
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Tried::Again {
                after_secs: None,
                error: format!("no answer: {}", e.without_url()),
            };
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let answer = crate::outbound::read_capped(resp, 256 * 1024)
        .await
        .unwrap_or_default();
    let said = || crate::outbound::clip(&String::from_utf8_lossy(&answer), 300);
    match status {
        200..=299 => Tried::Delivered {
            reply: reply_in(&answer, &m.content),
        },
        408 | 429 | 500..=599 => Tried::Again {
            after_secs: if status == 429 { retry_after } else { None },
            error: format!("HTTP {status}: {}", said()),
        },
        _ => Tried::Refused {
            error: format!("HTTP {status}: {}", said()),
        },
    }
}
