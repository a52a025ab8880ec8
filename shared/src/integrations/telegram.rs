//! Telegram: the lead as one HTML message through the Bot API's sendMessage.

use crate::outbound::DeliveryError;
use crate::telegram::client::{BotApi, chat_id};

/// Sends an HTML message; returns the message id.
pub async fn send_html(
    client: &reqwest::Client,
    api_base: &str,
    bot_token: &str,
    chat: &str,
    html: &str,
) -> Result<String, DeliveryError> {
    let message = BotApi::new(client.clone(), api_base, bot_token)
        .send_html(chat_id(chat), html)
        .await?;
    Ok(message.message_id.to_string())
}
