//! What every helpdesk handler works with: the bot's parts ([`Desk`]), who is talking
//! ([`Ctx`]), and the few things every step does — answer, edit a list, explain an Okdesk
//! failure, and read or move the conversation's step.

use frankenstein::ParseMode;
use frankenstein::methods::EditMessageTextParams;
use frankenstein::types::{InlineKeyboardMarkup, LinkPreviewOptions, ReplyMarkup};

use super::config::OkdeskConfig;
use super::okdesk::{Okdesk, OkdeskError};
use super::store::{self, Link, Step};
use crate::Deps;
use crate::telegram::reply::{self, err};
use crate::telegram::webhook::BotError;
use crate::telegram::{BotApi, TelegramError};
use crate::texts::{HelpdeskTexts, Lang, escape_html};

/// Who is talking and in which language.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx {
    /// The update being handled: what a step records before an outside call is keyed by,
    /// so a redelivery of the same update finds it.
    pub update_id: i64,
    pub chat: i64,
    pub user_id: u64,
    pub lang: Lang,
}

impl Ctx {
    pub fn t(&self) -> &'static HelpdeskTexts {
        self.lang.texts().helpdesk
    }

    /// The `language_code` to remember for notifications.
    pub fn lang_code(&self) -> &'static str {
        match self.lang {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// The helpdesk bot's parts: the table, the Bot API, Okdesk and its settings.
pub(super) struct Desk {
    pub deps: Deps,
    pub api: BotApi,
    pub okdesk: Okdesk,
    pub cfg: OkdeskConfig,
}

impl Desk {
    /// Sends plain text with an optional keyboard; a chat that blocked the bot is not an
    /// error of ours.
    pub async fn say(
        &self,
        ctx: Ctx,
        text: &str,
        markup: Option<ReplyMarkup>,
    ) -> Result<(), BotError> {
        reply::say(&self.api, ctx.chat, text, markup).await
    }

    /// Replaces a message's text and buttons (paging through a list).
    pub async fn edit(
        &self,
        ctx: Ctx,
        message_id: i32,
        text: &str,
        markup: InlineKeyboardMarkup,
    ) -> Result<(), BotError> {
        let params = EditMessageTextParams::builder()
            .chat_id(ctx.chat)
            .message_id(message_id)
            .text(escape_html(text))
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .reply_markup(markup)
            .build();
        match self.api.edit_message_text(&params).await {
            // "message is not modified" and the like: the list is already shown.
            Ok(_) | Err(TelegramError::Refused { .. }) | Err(TelegramError::Blocked(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Tells the user what went wrong with Okdesk, in plain words, and logs it.
    pub fn okdesk_trouble(&self, ctx: Ctx, action: &str, e: &OkdeskError) -> &'static str {
        let t = ctx.t();
        match e {
            OkdeskError::Unreachable(_) => {
                tracing::warn!(error = %e, %action, "Okdesk not reachable");
                t.okdesk_unreachable
            }
            OkdeskError::TokenRejected(status) => {
                tracing::error!(status, %action, "Okdesk rejected the API token");
                t.okdesk_token_rejected
            }
            OkdeskError::Refused { status, .. } => {
                tracing::error!(status, error = %e, %action, "Okdesk refused the request");
                t.okdesk_refused
            }
        }
    }

    /// The contact's issue ids, newest (highest id) first.
    pub async fn own_issue_ids(&self, link: &Link) -> Result<Vec<i64>, OkdeskError> {
        let mut ids = self.okdesk.contact_issue_ids(link.contact_id).await?;
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        Ok(ids)
    }

    pub async fn link(&self, ctx: Ctx) -> Result<Option<Link>, BotError> {
        store::link_of_chat(&self.deps, ctx.chat).await.map_err(err)
    }

    /// The chat's link; a chat that is not registered is told how to, and leaves its step.
    pub async fn registered(&self, ctx: Ctx) -> Result<Option<Link>, BotError> {
        let link = self.link(ctx).await?;
        if link.is_none() {
            self.clear_step(ctx).await?;
            self.say(ctx, ctx.t().need_registration, None).await?;
        }
        Ok(link)
    }

    pub async fn step(&self, ctx: Ctx) -> Result<Option<Step>, BotError> {
        store::step(&self.deps, ctx.chat).await.map_err(err)
    }

    pub async fn set_step(&self, ctx: Ctx, step: &Step) -> Result<(), BotError> {
        store::set_step(&self.deps, ctx.chat, step)
            .await
            .map_err(err)
    }

    /// Moves the conversation to `step` and says `text`: the client's next message answers
    /// it (after a refusal, sending again tries again).
    pub async fn ask(&self, ctx: Ctx, step: &Step, text: &str) -> Result<(), BotError> {
        self.set_step(ctx, step).await?;
        self.say(ctx, text, None).await
    }

    pub async fn clear_step(&self, ctx: Ctx) -> Result<(), BotError> {
        store::clear_step(&self.deps, ctx.chat).await.map_err(err)
    }
}
