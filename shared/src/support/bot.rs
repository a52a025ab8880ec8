//! The support bot: messages from bound users go to the admin chat, admins' replies go back
//! to the user, and `/start <token>` binds a private chat to a site user's thread.

use async_trait::async_trait;
use frankenstein::methods::CopyMessageParams;
use frankenstein::types::{ChatType, Message};
use frankenstein::updates::UpdateContent;

pub use super::config::SupportConfig;
use super::notices::{SupportAction, SupportNotice};
use super::store::{self, Binding};
use super::{SupportMessage, Thread};
use crate::Deps;
use crate::telegram::reply::{answer_callback, err};
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::telegram::{BotApi, TelegramError};
use crate::texts::{Lang, Texts, escape_html};

pub struct SupportBot {
    deps: Deps,
    api: BotApi,
    cfg: SupportConfig,
}

/// The text admins see for a user's message: `#id from name (e-mail, source): subject, text`.
pub fn admin_text(t: &Texts, thread: &Thread, msg: &SupportMessage) -> String {
    let source = if msg.source == "telegram" {
        t.support_source_telegram
    } else {
        t.support_source_site
    };
    let who = match &thread.email {
        Some(e) => format!(
            "{} ({}, {source})",
            escape_html(&thread.name),
            escape_html(e)
        ),
        None => format!("{} ({source})", escape_html(&thread.name)),
    };
    let mut out = format!("<b>#{}</b> {} {who}", escape_html(&msg.id), t.support_from);
    if let Some(subject) = msg.subject.as_deref().filter(|s| !s.is_empty()) {
        out.push_str(&format!("\n<b>{}</b>", escape_html(subject)));
    }
    out.push('\n');
    out.push_str(&escape_html(&msg.text));
    out
}

impl SupportBot {
    pub fn new(deps: Deps, api: BotApi, cfg: SupportConfig) -> Self {
        Self { deps, api, cfg }
    }

    /// Sends a user's message to the admin chat and links the admin-chat message to the thread.
    pub async fn to_admin(
        &self,
        thread: &Thread,
        msg: &mut SupportMessage,
    ) -> Result<i64, TelegramError> {
        let text = admin_text(self.cfg.admin_lang.texts(), thread, msg);
        let sent = self.api.send_html(self.cfg.admin_chat_id, &text).await?;
        let id = i64::from(sent.message_id);
        if let Err(e) = store::set_message_admin_id(&self.deps, msg, id).await {
            // Sent: a retry would tell the admins twice. Their reply to it finds no thread,
            // and they are told so.
            tracing::error!(error = %e, "admin message sent but not linked to its thread");
        }
        Ok(id)
    }

    async fn say(&self, chat: i64, text: &str) -> Result<(), BotError> {
        crate::telegram::reply::say(&self.api, chat, text, None).await
    }

    async fn on_admin_message(&self, m: &Message) -> Result<(), BotError> {
        let t = self.cfg.admin_lang.texts();
        let Some(reply_to) = &m.reply_to_message else {
            // Admins talking among themselves.
            return Ok(());
        };
        let Some(thread) =
            store::thread_of_admin_message(&self.deps, i64::from(reply_to.message_id))
                .await
                .map_err(err)?
        else {
            return self.say(self.cfg.admin_chat_id, t.support_reply_hint).await;
        };
        let text = m
            .text
            .clone()
            .or_else(|| m.caption.clone())
            .unwrap_or_else(|| t.support_attachment.to_string());
        // Keyed by the admin's message: a redelivered update stores it once.
        let mut msg = super::telegram_message(&self.deps, &thread.user_key, m, true, text);
        store::record_once(&self.deps, &mut msg)
            .await
            .map_err(err)?;
        let Some(chat) = thread.chat_id else {
            if thread.email.is_some() && m.text.is_some() {
                // The notification worker e-mails it and tells the admins how that went.
                let notice = SupportNotice::new(SupportAction::ReplyByEmail, &msg);
                crate::notifications::QUEUE
                    .send(
                        self.deps.queue.as_ref(),
                        &crate::notifications::NotificationMessage::Support(notice),
                    )
                    .await
                    .map_err(|e| BotError::retryable(e.to_string()))?;
                return Ok(());
            }
            self.note(self.cfg.admin_chat_id, t.support_reply_not_bound)
                .await;
            return Ok(());
        };
        let delivered = self.deliver_reply(m, chat, thread.lang.as_deref()).await;
        let answer = match delivered {
            Ok(()) => t.support_reply_delivered,
            Err(TelegramError::Blocked(_)) => t.support_reply_blocked,
            Err(e) => {
                tracing::warn!(error = %e, "reply not delivered");
                t.support_reply_failed
            }
        };
        // The reply is delivered (or the admins are about to hear it was not): a failed note
        // must not make Telegram redeliver the update and the reply go twice.
        self.note(self.cfg.admin_chat_id, answer).await;
        Ok(())
    }

    /// An acknowledgement after the work is done: logged when it cannot be sent.
    async fn note(&self, chat: i64, text: &str) {
        if let Err(e) = self.say(chat, text).await {
            tracing::warn!(chat, error = %e, "note not sent");
        }
    }

    /// An admin's reply to the user's chat: text under a header in the user's language
    /// (learnt at binding), anything else copied as itself.
    async fn deliver_reply(
        &self,
        m: &Message,
        chat: i64,
        user_lang: Option<&str>,
    ) -> Result<(), TelegramError> {
        let user_t = Lang::from_code(user_lang).texts();
        match &m.text {
            Some(text) => {
                let header = escape_html(user_t.support_reply_header);
                let html = format!("{header}\n\n{}", escape_html(text));
                self.api.send_html(chat, &html).await.map(|_| ())
            }
            None => self
                .api
                .copy_message(
                    &CopyMessageParams::builder()
                        .chat_id(chat)
                        .from_chat_id(self.cfg.admin_chat_id)
                        .message_id(m.message_id)
                        .build(),
                )
                .await
                .map(|_| ()),
        }
    }

    async fn on_user_message(&self, m: &Message) -> Result<(), BotError> {
        let chat = m.chat.id;
        let lang = Lang::from_code(m.from.as_ref().and_then(|u| u.language_code.as_deref()));
        let t = lang.texts();
        if let Some(rest) = m.text.as_deref().and_then(|x| x.strip_prefix("/start")) {
            let token = rest.trim();
            if token.is_empty() {
                return self.say(chat, t.support_start).await;
            }
            let code = m.from.as_ref().and_then(|u| u.language_code.as_deref());
            let answer = match store::bind(&self.deps, token, chat, code)
                .await
                .map_err(err)?
            {
                Binding::Bound { .. } => t.support_bound,
                Binding::Unknown => t.support_token_unknown,
                Binding::Expired => t.support_token_expired,
                Binding::Used => t.support_token_used,
            };
            return self.say(chat, answer).await;
        }
        let Some(thread) = store::thread_of_chat(&self.deps, chat).await.map_err(err)? else {
            return self.say(chat, t.support_not_bound).await;
        };
        let text = m
            .text
            .clone()
            .or_else(|| m.caption.clone())
            .unwrap_or_else(|| t.support_attachment.to_string());
        // Keyed by the Telegram message, so a redelivery (after the admins' chat or the
        // store failed) finds what the earlier handling did and relays it once.
        let mut msg = super::telegram_message(&self.deps, &thread.user_key, m, false, text);
        let earlier = store::record_once(&self.deps, &mut msg)
            .await
            .map_err(err)?;
        if earlier.and_then(|e| e.admin_message_id).is_none() {
            self.to_admin(&thread, &mut msg).await.map_err(err)?;
        }
        if m.text.is_none() {
            // Photos and documents travel as themselves.
            let copied = self
                .api
                .copy_message(
                    &CopyMessageParams::builder()
                        .chat_id(self.cfg.admin_chat_id)
                        .from_chat_id(chat)
                        .message_id(m.message_id)
                        .build(),
                )
                .await
                .map_err(err)?;
            store::link_admin_message(&self.deps, i64::from(copied.message_id), &thread.user_key)
                .await
                .map_err(err)?;
        }
        self.note(chat, t.support_received).await;
        Ok(())
    }
}

#[async_trait]
impl BotHandler for SupportBot {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        let m = match update.content {
            UpdateContent::Message(m) => m,
            // The support bot shows no buttons, but a press on an old one must still be
            // answered, or the user's button keeps spinning.
            UpdateContent::CallbackQuery(q) => {
                return answer_callback(&self.api, &q.id).await.map_err(err);
            }
            _ => return Ok(()),
        };
        if m.chat.id == self.cfg.admin_chat_id {
            return self.on_admin_message(&m).await;
        }
        // Only private chats are users; other groups the bot sits in are not listened to.
        if m.chat.type_field != ChatType::Private {
            return Ok(());
        }
        self.on_user_message(&m).await
    }
}
