//! What every bot does when it answers: a handler's error from anything displayable, a send
//! that counts a chat which blocked the bot as done, and a pressed button answered first.

use frankenstein::methods::AnswerCallbackQueryParams;
use frankenstein::types::ReplyMarkup;

use super::webhook::BotError;
use super::{BotApi, TelegramError};

/// A handler's error, from whatever failed; it keeps whether a retry can help.
pub fn err(e: impl Into<BotError>) -> BotError {
    e.into()
}

/// Sends plain text (escaped by the client) with an optional keyboard; a chat that blocked
/// the bot is not an error of ours.
pub async fn say(
    api: &BotApi,
    chat: i64,
    text: &str,
    markup: Option<ReplyMarkup>,
) -> Result<(), BotError> {
    match api.send_text(chat, text, markup).await {
        Ok(_) | Err(TelegramError::Blocked(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Answers a callback query, which stops the button's spinner; done first, whatever the
/// press leads to.
pub async fn answer_callback(api: &BotApi, query_id: &str) -> Result<(), TelegramError> {
    let params = AnswerCallbackQueryParams::builder()
        .callback_query_id(query_id.to_string())
        .build();
    api.answer_callback_query(&params).await.map(|_| ())
}
