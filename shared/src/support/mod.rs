//! The support relay: one thread per site user (or anonymous visitor), its messages in both
//! directions, the admin-chat messages that point back to them, and the single-use tokens
//! that bind a Telegram chat to a thread.
//!
//! `store.rs` is the table side, `bot.rs` the support bot, `config.rs` the settings; the
//! site's side is `site.rs` (accepting a message, listing a thread) with `identity.rs` (who
//! writes), `submission.rs` (what they send and its checks), `rate_limit.rs` and `web.rs`
//! (CORS, the visitor's cookie).

pub mod bot;
pub mod config;
pub mod identity;
pub mod notices;
pub mod rate_limit;
pub mod site;
pub mod store;
pub mod submission;
pub mod web;

use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::time::timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// `u:<site user id>` for a logged-in user, `a:<token>` for an anonymous visitor.
    pub user_key: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// The Telegram user's `language_code`, learnt at binding: replies speak it.
    #[serde(default)]
    pub lang: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportMessage {
    pub id: String,
    pub user_key: String,
    pub from_admin: bool,
    /// `site` or `telegram`.
    pub source: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    /// Our message about it in the admin chat, which admins reply to.
    #[serde(default)]
    pub admin_message_id: Option<i64>,
    pub created_at: String,
}

/// A message that came in as a Telegram message: its id is the Telegram message's, so a
/// redelivered update names the same stored message (see `store::record_once`).
pub fn telegram_message(
    deps: &Deps,
    user_key: &str,
    m: &frankenstein::types::Message,
    from_admin: bool,
    text: String,
) -> SupportMessage {
    let prefix = if from_admin { "a" } else { "u" };
    SupportMessage {
        id: format!("{prefix}{}-{}", m.chat.id.unsigned_abs(), m.message_id),
        user_key: user_key.into(),
        from_admin,
        source: "telegram".into(),
        subject: None,
        text,
        admin_message_id: None,
        created_at: timestamp(deps.clock.now_ms()),
    }
}

pub fn new_message(
    deps: &Deps,
    user_key: &str,
    from_admin: bool,
    source: &str,
    subject: Option<String>,
    text: String,
) -> SupportMessage {
    SupportMessage {
        id: uuid::Uuid::now_v7().simple().to_string()[20..].to_string(),
        user_key: user_key.into(),
        from_admin,
        source: source.into(),
        subject,
        text,
        admin_message_id: None,
        created_at: timestamp(deps.clock.now_ms()),
    }
}
