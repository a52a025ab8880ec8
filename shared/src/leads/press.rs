//! The «Повторить» button on the admins' failure notice in Telegram: pressed in the admins'
//! chat, it asks for the lead's failed deliveries to be replayed (their kept messages carry
//! whatever credentials they need).
//!
//! The press reaches the bot that sent the notice (`TELEGRAM_BOT_TOKEN`) when that bot is
//! one of those served at `/telegram/<bot>/webhook`: its handler is wrapped, and every other
//! update goes on to it unchanged. The webhook, which faces the internet, reaches no lead:
//! it queues the ask on the notifications queue and answers at once; the notification
//! worker replays and tells the chat what it did ([`replay_asked`]).

use std::sync::Arc;

use async_trait::async_trait;
use frankenstein::methods::AnswerCallbackQueryParams;
use frankenstein::types::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage,
};
use frankenstein::updates::UpdateContent;

use super::notify::Notification;
use super::replay::{self, ReplayAsk, ReplayError};
use crate::Deps;
use crate::notifications::{self, NotificationMessage};
use crate::telegram::BotApi;
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::texts::Lang;

const PREFIX: &str = "lr:";

/// The button's data for a lead; `None` when the lead id is too long for Telegram's 64
/// bytes (the notice then goes without the button).
pub fn button(lead_id: &str, lang: Lang) -> Option<InlineKeyboardMarkup> {
    let data = format!("{PREFIX}{lead_id}");
    (data.len() <= 64).then(|| {
        InlineKeyboardMarkup::builder()
            .inline_keyboard(vec![vec![
                InlineKeyboardButton::builder()
                    .text(lang.texts().replay_button)
                    .callback_data(data)
                    .build(),
            ]])
            .build()
    })
}

/// The lead a press names, if it is one of ours.
pub fn pressed(data: &str) -> Option<&str> {
    data.strip_prefix(PREFIX).filter(|id| !id.is_empty())
}

/// Which bot sends the admins' notices, to which chat: read where the presses arrive.
#[derive(Debug, Clone)]
pub struct NoticeBot {
    pub token: crate::secret::Secret,
    pub admin_chat: i64,
}

impl NoticeBot {
    /// `TELEGRAM_BOT_TOKEN` and a numeric `NOTIFY_TELEGRAM_CHAT_ID`, or `None` (no button
    /// can be pressed then).
    pub fn read(r: &mut crate::config::EnvReader<'_>) -> Option<Self> {
        let token = crate::credentials::telegram_bot_token(r);
        let chat = super::notify::admin_chat(r);
        Some(Self {
            token: token?,
            admin_chat: chat?.trim().parse().ok()?,
        })
    }
}

/// The notice bot's handler, with its presses of «Повторить» taken first.
pub struct ReplayButton {
    pub deps: Deps,
    pub api: BotApi,
    /// `NOTIFY_TELEGRAM_CHAT_ID`: only a press in the admins' chat replays.
    pub admin_chat: i64,
    /// What the bot does with everything else.
    pub inner: Option<Arc<dyn BotHandler>>,
}

impl ReplayButton {
    async fn press(&self, q: &CallbackQuery, lead_id: &str) {
        let lang = Lang::from_code(q.from.language_code.as_deref());
        let t = lang.texts();
        let chat = match &q.message {
            Some(MaybeInaccessibleMessage::Message(m)) => Some(m.chat.id),
            Some(MaybeInaccessibleMessage::InaccessibleMessage(m)) => Some(m.chat.id),
            None => None,
        };
        let text = if chat != Some(self.admin_chat) {
            // A forwarded notice pressed elsewhere proves nothing.
            t.replay_not_here
        } else {
            let ask = Notification::ReplayAsked {
                lead_id: lead_id.to_string(),
                by: format!("telegram:{}", q.from.id),
                press: q.id.clone(),
                lang: lang.code().to_string(),
            };
            match notifications::QUEUE
                .send(self.deps.queue.as_ref(), &NotificationMessage::Lead(ask))
                .await
            {
                Ok(()) => t.replay_asked,
                Err(e) => {
                    tracing::warn!(error = %e, lead_id, "the replay asked from the notice was not queued");
                    t.replay_try_again
                }
            }
        };
        let params = AnswerCallbackQueryParams::builder()
            .callback_query_id(q.id.clone())
            .text(text.chars().take(200).collect::<String>())
            .show_alert(true)
            .build();
        if let Err(e) = self.api.answer_callback_query(&params).await {
            tracing::warn!(error = %e, "the replay button's press was not answered");
        }
    }

    fn ours(update: &Update) -> Option<(&CallbackQuery, &str)> {
        match &update.content {
            UpdateContent::CallbackQuery(q) => Some((q, pressed(q.data.as_deref()?)?)),
            _ => None,
        }
    }
}

/// The notification worker's part: replays the lead asked for and says what came of it, in
/// the asker's language.
pub async fn replay_asked(
    deps: &Deps,
    lead_id: &str,
    by: &str,
    lang: Lang,
    patience_ms: i64,
) -> String {
    let t = lang.texts();
    let ask = ReplayAsk::default();
    match replay::replay(deps, lead_id, |_| true, by, ask, patience_ms).await {
        Ok(r) => format!("{} {lead_id}: {}", t.replay_started, r.replayed.join(", ")),
        Err(ReplayError::Refused(why)) => format!("{} {lead_id}: {why}", t.replay_refused),
        Err(ReplayError::NotFound) => format!("{} {lead_id}", t.replay_refused),
        Err(e) => {
            tracing::warn!(error = %e, lead_id, "replay from the notice failed");
            format!("{} {lead_id}", t.replay_try_again)
        }
    }
}

#[async_trait]
impl BotHandler for ReplayButton {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        self.handle_at(update, None).await
    }

    async fn handle_at(&self, update: Update, public_url: Option<&str>) -> Result<(), BotError> {
        if let Some((q, lead_id)) = Self::ours(&update) {
            self.press(q, lead_id).await;
            return Ok(());
        }
        match &self.inner {
            Some(h) => h.handle_at(update, public_url).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_button_names_its_lead_within_telegrams_64_bytes() {
        let markup = button("site-1001", Lang::Ru).unwrap();
        let data = markup.inline_keyboard[0][0].callback_data.clone().unwrap();
        assert_eq!(pressed(&data), Some("site-1001"));
        assert_eq!(markup.inline_keyboard[0][0].text, "Повторить");
        assert!(button(&"x".repeat(62), Lang::Ru).is_none());
        assert_eq!(pressed("lr:"), None);
        assert_eq!(pressed("tk:t:1"), None);
    }
}
