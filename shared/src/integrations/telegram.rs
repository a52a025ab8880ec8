//! Telegram: the lead as one HTML message through the Bot API's sendMessage.

use serde_json::json;

use super::http::{DeliveryError, post_json};

/// Sends an HTML message; returns the message id.
pub async fn send_html(
    client: &reqwest::Client,
    api_base: &str,
    bot_token: &str,
    chat_id: &str,
    html: &str,
) -> Result<String, DeliveryError> {
    let url = format!(
        "{}/bot{bot_token}/sendMessage",
        api_base.trim_end_matches('/')
    );
    let chat: serde_json::Value = match chat_id.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat_id),
    };
    let answer = post_json(
        client,
        "Telegram",
        &url,
        &[],
        &json!({
            "chat_id": chat,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        }),
    )
    .await?;
    answer["result"]["message_id"]
        .as_i64()
        .map(|id| id.to_string())
        .ok_or_else(|| DeliveryError::fatal(format!("Telegram: unexpected answer {answer}")))
}
