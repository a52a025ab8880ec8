//! Webhooks: the lead as JSON, signed when a secret is given.
//!
//! `X-Zayavka-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` lets the receiver
//! check origin and freshness; `X-Zayavka-Delivery` is stable across retries, so a receiver
//! can drop a delivery it has already seen. The Standard Webhooks headers
//! (`webhook-id` = the delivery id, `webhook-timestamp`, `webhook-signature`) come beside
//! them, signed with the secret and, while it is being rotated in, the next one.

use serde_json::Value;

use crate::outbound::{DeliveryError, OpenClient};

pub const EVENT: &str = "lead.created";

pub use crate::signature::signature;

pub async fn send(
    client: &OpenClient,
    url: &str,
    // The secret, then the next one when a rotation is under way.
    secrets: &[&str],
    delivery_id: &str,
    unix: i64,
    payload: &Value,
) -> Result<String, DeliveryError> {
    let body = serde_json::to_vec(payload).map_err(|e| DeliveryError::fatal(e.to_string()))?;
    let mut headers = vec![
        ("x-zayavka-event", EVENT.to_string()),
        ("x-zayavka-delivery", delivery_id.to_string()),
    ];
    if let Some(secret) = secrets.first() {
        // Today's receivers know the one secret: the next one signs only the new headers.
        headers.push(("x-zayavka-signature", signature(secret, unix, &body)));
        headers.extend(crate::signature::standard_headers(
            secrets,
            delivery_id,
            unix,
            &body,
        ));
    }
    client.post_raw("webhook", url, &headers, body).await?;
    Ok(delivery_id.to_string())
}

#[cfg(test)]
mod tests {
    /// Known answers, computed outside this code (Python's `hmac` module):
    /// `hmac.new(key, b"<t>.<body>", hashlib.sha256).hexdigest()`.
    #[test]
    fn signatures_match_known_answers() {
        assert_eq!(
            super::signature("s3cret-signing-key", 1_700_000_000, br#"{"lead_id":"L-1"}"#),
            "t=1700000000,v1=f627b49737673aa27a5e79e438eee9d7454671fefc628497d0e39b8515fc4adf"
        );
        // A key that is not ASCII, and an empty body.
        assert_eq!(
            super::signature("ключ", 0, b""),
            "t=0,v1=ed44a6f6f076cd5cb88c9cca90ca5784b5fdd52ad625d92a3f4246be258a7a5b"
        );
    }
}
