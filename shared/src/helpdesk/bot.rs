//! The main bot as the helpdesk's front door: each update goes to its handler. A message is
//! a command, a menu button, or the answer to the conversation's step; a button press is a
//! [`Callback`]. The handlers are in `menu.rs`, `registration.rs`, `issues.rs` and
//! `list.rs`; what they share is in `context.rs`.

use async_trait::async_trait;
use frankenstein::types::{CallbackQuery, ChatType, MaybeInaccessibleMessage, Message};
use frankenstein::updates::UpdateContent;

use super::callback::Callback;
use super::command::{Command, MenuAction};
use super::config::OkdeskConfig;
use super::context::{Ctx, Desk};
use super::okdesk::Okdesk;
use super::store::Step;
use super::{issues, list, menu, registration};
use crate::Deps;
use crate::telegram::BotApi;
use crate::telegram::reply::answer_callback;
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::texts::Lang;

pub use super::keyboard::menu_keyboard;

pub struct HelpdeskBot {
    desk: Desk,
}

impl HelpdeskBot {
    pub fn new(deps: Deps, api: BotApi, okdesk: Okdesk, cfg: OkdeskConfig) -> Self {
        Self {
            desk: Desk {
                deps,
                api,
                okdesk,
                cfg,
            },
        }
    }
}

async fn on_message(d: &Desk, update_id: i64, m: &Message) -> Result<(), BotError> {
    let from = m.from.as_ref();
    let ctx = Ctx {
        update_id,
        chat: m.chat.id,
        user_id: from.map(|u| u.id).unwrap_or_default(),
        lang: Lang::from_code(from.and_then(|u| u.language_code.as_deref())),
    };
    let text = m.text.as_deref().map(str::trim);
    if let Some(command) = text.and_then(Command::parse) {
        return menu::on_command(d, ctx, command).await;
    }
    if let Some(action) = text.and_then(MenuAction::from_label) {
        return menu::on_menu(d, ctx, action).await;
    }
    match d.step(ctx).await? {
        None => match d.link(ctx).await? {
            Some(_) => menu::offer_draft(d, ctx, m).await,
            None => registration::start(d, ctx).await,
        },
        Some(step) => on_step(d, ctx, m, step).await,
    }
}

/// A message that answers the conversation's step.
async fn on_step(d: &Desk, ctx: Ctx, m: &Message, step: Step) -> Result<(), BotError> {
    let text = m.text.as_deref().map(str::trim);
    let body = || text.or(m.caption.as_deref().map(str::trim));
    match step {
        // Another message while a draft waits: it replaces the draft.
        Step::Draft { .. } => menu::offer_draft(d, ctx, m).await,
        Step::ChooseKind => registration::ask_kind(d, ctx, ctx.t().choose_kind).await,
        Step::PersonName => registration::on_name(d, ctx, text, None).await,
        Step::CompanyInn => registration::on_inn(d, ctx, text).await,
        Step::CompanyName {
            company_id,
            company_name,
        } => registration::on_name(d, ctx, text, Some((company_id, company_name))).await,
        Step::Phone {
            name,
            company_id,
            company_name,
        } => registration::on_phone(d, ctx, m, name, company_id, company_name).await,
        Step::IssueText => issues::create(d, ctx, body(), issues::file_of(m)).await,
        Step::CommentText { issue_id } => {
            issues::add_comment(d, ctx, issue_id, body(), issues::file_of(m)).await
        }
    }
}

async fn on_callback(d: &Desk, update_id: i64, q: &CallbackQuery) -> Result<(), BotError> {
    // Answered first: the button stops spinning whatever happens next.
    if let Err(e) = answer_callback(&d.api, &q.id).await {
        tracing::warn!(error = %e, "callback query not answered");
    }
    let Some(MaybeInaccessibleMessage::Message(message)) = &q.message else {
        return Ok(());
    };
    if message.chat.type_field != ChatType::Private {
        return Ok(());
    }
    let ctx = Ctx {
        update_id,
        chat: message.chat.id,
        user_id: q.from.id,
        lang: Lang::from_code(q.from.language_code.as_deref()),
    };
    let Some(callback) = q.data.as_deref().and_then(Callback::parse) else {
        return Ok(());
    };
    let link = match callback {
        Callback::Register(kind) => return registration::on_kind(d, ctx, kind).await,
        Callback::Draft { create } => return menu::on_draft(d, ctx, create).await,
        // The rest is about the client's own issues.
        _ => match d.registered(ctx).await? {
            Some(link) => link,
            None => return Ok(()),
        },
    };
    match callback {
        Callback::Page { mode, page } => {
            list::show(d, ctx, &link, mode, page, Some(message.message_id)).await
        }
        Callback::Status(id) => issues::show_status(d, ctx, &link, id).await,
        Callback::Comment(id) => issues::choose_for_comment(d, ctx, &link, id).await,
        Callback::Register(_) | Callback::Draft { .. } => Ok(()),
    }
}

#[async_trait]
impl BotHandler for HelpdeskBot {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        match update.content {
            // Only private chats are clients; groups the bot sits in are not listened to.
            UpdateContent::Message(m) if m.chat.type_field == ChatType::Private => {
                on_message(&self.desk, i64::from(update.update_id), &m).await
            }
            UpdateContent::CallbackQuery(q) => {
                on_callback(&self.desk, i64::from(update.update_id), &q).await
            }
            _ => Ok(()),
        }
    }
}
