//! Telegram: the lead as one HTML message through the Bot API's sendMessage.

use frankenstein::types::{InlineKeyboardMarkup, ReplyMarkup};

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
    send_html_with(client, (api_base, bot_token), chat, html, None, metrics).await
}

/// The same, with buttons under it.
pub async fn send_html_with(
    client: &reqwest::Client,
    (api_base, bot_token): (&str, &str),
    chat: &str,
    html: &str,
    buttons: Option<InlineKeyboardMarkup>,
    metrics: &Metrics,
) -> Result<String, DeliveryError> {
    let message = BotApi::new(client.clone(), api_base, bot_token)
        .with_metrics(metrics.clone())
        .send_html_with(
            chat_id(chat),
            html,
            buttons.map(ReplyMarkup::InlineKeyboardMarkup),
        )
        .await?;
    Ok(message.message_id.to_string())
}
