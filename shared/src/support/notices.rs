//! Support deliveries that must not be lost when the Bot API or SES fails at the moment:
//! queued on the notifications queue, sent by the notification worker with its retries and
//! its once-per-channel claims.
//! - `to_admins`: a site message the form could not show the admins at once;
//! - `reply_by_email`: an admin's reply to a visitor who has not bound Telegram, sent to the
//!   e-mail address they gave (the admins hear whether it went).

use serde::{Deserialize, Serialize};

use super::store;
use super::{SupportMessage, Thread};
use crate::Deps;
use crate::keys;
use crate::ports::StoreError;
use crate::texts::{Lang, Texts, fill};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportKind {
    Support,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportAction {
    ToAdmins,
    ReplyByEmail,
}

/// One stored message to deliver, named by its key's parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportNotice {
    pub kind: SupportKind,
    pub action: SupportAction,
    pub user_key: String,
    pub created_at: String,
    pub id: String,
}

impl SupportNotice {
    pub fn new(action: SupportAction, msg: &SupportMessage) -> Self {
        Self {
            kind: SupportKind::Support,
            action,
            user_key: msg.user_key.clone(),
            created_at: msg.created_at.clone(),
            id: msg.id.clone(),
        }
    }

    /// What its sends are claimed under.
    pub fn subject(&self) -> String {
        let action = match self.action {
            SupportAction::ToAdmins => "admins",
            SupportAction::ReplyByEmail => "email",
        };
        format!("support#{}#{}#{action}", self.user_key, self.id)
    }

    /// The thread and the message; none when either is gone (a thread deleted since).
    pub async fn load(&self, deps: &Deps) -> Result<Option<(Thread, SupportMessage)>, StoreError> {
        let key = keys::support_message(&self.user_key, &self.created_at, &self.id);
        let Some(msg) = deps
            .table
            .get(&key)
            .await?
            .map(crate::ports::table::from_item::<SupportMessage>)
            .transpose()?
        else {
            return Ok(None);
        };
        Ok(store::thread(deps, &self.user_key).await?.map(|t| (t, msg)))
    }
}

/// The e-mail carrying an admin's reply: the reply as written, and how to go on (in
/// Telegram, when the bot's link is known).
pub fn reply_email(t: &Texts, reply: &str, telegram_link: Option<&str>) -> (String, String) {
    let mut text = format!("{}\n\n{reply}\n", t.support_reply_header);
    if let Some(link) = telegram_link {
        text.push('\n');
        text.push_str(&fill(t.support_email_continue, &[("link", link)]));
        text.push('\n');
    }
    (t.support_email_subject.to_string(), text)
}

/// The language a visitor's e-mail speaks: the one learnt in Telegram, else Russian.
pub fn visitor_lang(thread: &Thread) -> Lang {
    Lang::from_code(thread.lang.as_deref())
}
