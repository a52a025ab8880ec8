//! Telegram: the lead as one HTML message through the Bot API's sendMessage.

use crate::metrics::Metrics;
use crate::outbound::DeliveryError;
use crate::telegram::client::{BotApi, chat_id};

/// Sends an HTML message; returns the message id.
pub async fn send_html(
    client: &reqwest::Client,
    api_base: &str,
    bot_token: &str,
    chat: &str,
    html: &str,
    metrics: &Metrics,
) -> Result<String, DeliveryError> {
    let message = BotApi::new(client.clone(), api_base, bot_token)
        .with_metrics(metrics.clone())
        .send_html(chat_id(chat), html)
        .await?;
    Ok(message.message_id.to_string())
}
