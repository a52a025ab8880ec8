//! The main bot as the helpdesk's front door: commands, the menu, and which step of a
//! conversation a message belongs to. Registration is in `registration.rs`, issue work in
//! `issues.rs`.

use async_trait::async_trait;
use frankenstein::ParseMode;
use frankenstein::methods::{AnswerCallbackQueryParams, EditMessageTextParams};
use frankenstein::types::{
    CallbackQuery, ChatType, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton,
    LinkPreviewOptions, MaybeInaccessibleMessage, Message, ReplyKeyboardMarkup,
    ReplyKeyboardRemove, ReplyMarkup,
};
use frankenstein::updates::UpdateContent;

use super::config::OkdeskConfig;
use super::okdesk::{Okdesk, OkdeskError};
use super::store::{self, Link, Step};
use crate::Deps;
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::telegram::{BotApi, TelegramError};
use crate::texts::{HelpdeskTexts, Lang, escape_html};

pub(super) fn err(e: impl std::fmt::Display) -> BotError {
    BotError(e.to_string())
}

/// Who is talking and in which language.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx {
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

/// The menu's four actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MenuAction {
    Create,
    List,
    Status,
    Comment,
}

/// A menu button's text, in either language (a user may switch their app's language).
fn menu_action(text: &str) -> Option<MenuAction> {
    [Lang::Ru, Lang::En].into_iter().find_map(|l| {
        let t = l.texts().helpdesk;
        [
            (t.menu_create, MenuAction::Create),
            (t.menu_list, MenuAction::List),
            (t.menu_status, MenuAction::Status),
            (t.menu_comment, MenuAction::Comment),
        ]
        .into_iter()
        .find(|(label, _)| *label == text)
        .map(|(_, a)| a)
    })
}

pub fn menu_keyboard(t: &HelpdeskTexts) -> ReplyMarkup {
    let button = |s: &str| KeyboardButton::builder().text(s).build();
    ReplyMarkup::ReplyKeyboardMarkup(
        ReplyKeyboardMarkup::builder()
            .keyboard(vec![
                vec![button(t.menu_create), button(t.menu_list)],
                vec![button(t.menu_status), button(t.menu_comment)],
            ])
            .resize_keyboard(true)
            .is_persistent(true)
            .build(),
    )
}

pub(super) fn no_keyboard() -> ReplyMarkup {
    ReplyMarkup::ReplyKeyboardRemove(ReplyKeyboardRemove::builder().remove_keyboard(true).build())
}

pub(super) fn inline(rows: Vec<Vec<(String, String)>>) -> ReplyMarkup {
    ReplyMarkup::InlineKeyboardMarkup(inline_markup(rows))
}

pub(super) fn inline_markup(rows: Vec<Vec<(String, String)>>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::builder()
        .inline_keyboard(
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|(text, data)| {
                            InlineKeyboardButton::builder()
                                .text(text)
                                .callback_data(data)
                                .build()
                        })
                        .collect()
                })
                .collect(),
        )
        .build()
}

pub struct HelpdeskBot {
    pub(super) deps: Deps,
    pub(super) api: BotApi,
    pub(super) okdesk: Okdesk,
    pub(super) cfg: OkdeskConfig,
}

impl HelpdeskBot {
    pub fn new(deps: Deps, api: BotApi, okdesk: Okdesk, cfg: OkdeskConfig) -> Self {
        Self {
            deps,
            api,
            okdesk,
            cfg,
        }
    }

    /// Sends plain text (escaped here) with an optional keyboard; a chat that blocked the
    /// bot is not an error of ours.
    pub(super) async fn say(
        &self,
        ctx: Ctx,
        text: &str,
        markup: Option<ReplyMarkup>,
    ) -> Result<(), BotError> {
        match self.api.send_text(ctx.chat, text, markup).await {
            Ok(_) | Err(TelegramError::Blocked(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Replaces a message's text and buttons (paging through a list).
    pub(super) async fn edit(
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
    pub(super) fn okdesk_trouble(&self, ctx: Ctx, action: &str, e: &OkdeskError) -> &'static str {
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

    pub(super) async fn link(&self, ctx: Ctx) -> Result<Option<Link>, BotError> {
        store::link_of_chat(&self.deps, ctx.chat).await.map_err(err)
    }

    /// The chat's link; a chat that is not registered is told how to, and leaves its step.
    pub(super) async fn registered(&self, ctx: Ctx) -> Result<Option<Link>, BotError> {
        let link = self.link(ctx).await?;
        if link.is_none() {
            self.clear_step(ctx).await?;
            self.say(ctx, ctx.t().need_registration, None).await?;
        }
        Ok(link)
    }

    pub(super) async fn set_step(&self, ctx: Ctx, step: &Step) -> Result<(), BotError> {
        store::set_step(&self.deps, ctx.chat, step)
            .await
            .map_err(err)
    }

    pub(super) async fn clear_step(&self, ctx: Ctx) -> Result<(), BotError> {
        store::clear_step(&self.deps, ctx.chat).await.map_err(err)
    }

    /// The menu for a registered chat, or the nudge to register.
    async fn menu(&self, ctx: Ctx, text: Option<&str>) -> Result<(), BotError> {
        let t = ctx.t();
        if self.link(ctx).await?.is_some() {
            self.say(ctx, text.unwrap_or(t.menu_prompt), Some(menu_keyboard(t)))
                .await
        } else {
            self.say(ctx, t.need_registration, None).await
        }
    }

    /// A registered client wrote without choosing an action: most likely a problem to file.
    /// The text (and file) is kept a day and offered as a new issue with two buttons.
    async fn offer_draft(&self, ctx: Ctx, m: &Message) -> Result<(), BotError> {
        let t = ctx.t();
        let text = m
            .text
            .as_deref()
            .or(m.caption.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(text) = text else {
            return self.menu(ctx, None).await;
        };
        let draft = Step::Draft {
            text: text.to_string(),
            file: super::issues::file_of(m),
        };
        self.set_step(ctx, &draft).await?;
        let buttons = inline(vec![vec![
            (t.draft_yes.to_string(), "new:y".to_string()),
            (t.draft_no.to_string(), "new:n".to_string()),
        ]]);
        let title = super::title::derive(text);
        let offer = crate::texts::fill(t.offer_draft, &[("title", &title)]);
        self.say(ctx, &offer, Some(buttons)).await
    }

    async fn on_command(&self, ctx: Ctx, command: &str) -> Result<(), BotError> {
        let t = ctx.t();
        match command {
            "/start" => {
                self.clear_step(ctx).await?;
                match self.link(ctx).await? {
                    Some(link) => {
                        let text = crate::texts::fill(t.welcome_back, &[("name", &link.name)]);
                        self.say(ctx, &text, Some(menu_keyboard(t))).await
                    }
                    None => self.start_registration(ctx).await,
                }
            }
            // Registering again: another phone, or joining a company.
            "/register" => {
                self.clear_step(ctx).await?;
                self.start_registration(ctx).await
            }
            "/menu" => {
                self.clear_step(ctx).await?;
                self.menu(ctx, None).await
            }
            "/help" => {
                let markup = self.link(ctx).await?.map(|_| menu_keyboard(t));
                self.say(ctx, t.help, markup).await
            }
            "/cancel" => {
                self.clear_step(ctx).await?;
                let markup = match self.link(ctx).await? {
                    Some(_) => menu_keyboard(t),
                    None => no_keyboard(),
                };
                self.say(ctx, t.cancelled, Some(markup)).await
            }
            _ => self.say(ctx, t.unknown_command, None).await,
        }
    }

    async fn on_menu(&self, ctx: Ctx, action: MenuAction) -> Result<(), BotError> {
        self.clear_step(ctx).await?;
        let Some(link) = self.registered(ctx).await? else {
            return Ok(());
        };
        match action {
            MenuAction::Create => {
                self.set_step(ctx, &Step::IssueText).await?;
                self.say(ctx, ctx.t().ask_issue_text, None).await
            }
            MenuAction::List => self.show_issues(ctx, &link, 'l', 0, None).await,
            MenuAction::Status => self.show_issues(ctx, &link, 's', 0, None).await,
            MenuAction::Comment => self.show_issues(ctx, &link, 'c', 0, None).await,
        }
    }

    async fn on_message(&self, m: &Message) -> Result<(), BotError> {
        let from = m.from.as_ref();
        let ctx = Ctx {
            chat: m.chat.id,
            user_id: from.map(|u| u.id).unwrap_or_default(),
            lang: Lang::from_code(from.and_then(|u| u.language_code.as_deref())),
        };
        let text = m.text.as_deref().map(str::trim);
        if let Some(command) = text.filter(|t| t.starts_with('/')) {
            // `/start@zayavka_bot payload` → `/start`
            let word = command.split_whitespace().next().unwrap_or_default();
            let word = word.split('@').next().unwrap_or_default();
            return self.on_command(ctx, &word.to_ascii_lowercase()).await;
        }
        if let Some(action) = text.and_then(menu_action) {
            return self.on_menu(ctx, action).await;
        }
        let step = store::step(&self.deps, ctx.chat).await.map_err(err)?;
        match step {
            None => match self.link(ctx).await? {
                Some(_) => self.offer_draft(ctx, m).await,
                None => self.start_registration(ctx).await,
            },
            // Another message while a draft waits: it replaces the draft.
            Some(Step::Draft { .. }) => self.offer_draft(ctx, m).await,
            Some(Step::ChooseKind) => self.ask_kind(ctx, ctx.t().choose_kind).await,
            Some(Step::PersonName) => self.on_name(ctx, text, None).await,
            Some(Step::CompanyInn) => self.on_inn(ctx, text).await,
            Some(Step::CompanyName {
                company_id,
                company_name,
            }) => {
                self.on_name(ctx, text, Some((company_id, company_name)))
                    .await
            }
            Some(Step::Phone {
                name,
                company_id,
                company_name,
            }) => self.on_phone(ctx, m, name, company_id, company_name).await,
            Some(Step::IssueText) => {
                let body = text.or(m.caption.as_deref().map(str::trim));
                self.create_issue(ctx, body, super::issues::file_of(m))
                    .await
            }
            Some(Step::CommentText { issue_id }) => {
                let body = text.or(m.caption.as_deref().map(str::trim));
                self.add_comment(ctx, issue_id, body, super::issues::file_of(m))
                    .await
            }
        }
    }

    async fn on_callback(&self, q: &CallbackQuery) -> Result<(), BotError> {
        // Answered first: the button stops spinning whatever happens next.
        let answer = AnswerCallbackQueryParams::builder()
            .callback_query_id(q.id.clone())
            .build();
        if let Err(e) = self.api.answer_callback_query(&answer).await {
            tracing::warn!(error = %e, "callback query not answered");
        }
        let Some(MaybeInaccessibleMessage::Message(message)) = &q.message else {
            return Ok(());
        };
        if message.chat.type_field != ChatType::Private {
            return Ok(());
        }
        let ctx = Ctx {
            chat: message.chat.id,
            user_id: q.from.id,
            lang: Lang::from_code(q.from.language_code.as_deref()),
        };
        let data = q.data.as_deref().unwrap_or_default();
        match data.split(':').collect::<Vec<_>>().as_slice() {
            ["reg", "p"] => {
                self.set_step(ctx, &Step::PersonName).await?;
                self.say(ctx, ctx.t().ask_full_name, None).await
            }
            ["reg", "c"] => {
                self.set_step(ctx, &Step::CompanyInn).await?;
                self.say(ctx, ctx.t().ask_inn, None).await
            }
            ["new", answer] => {
                let step = store::step(&self.deps, ctx.chat).await.map_err(err)?;
                let Some(Step::Draft { text, file }) = step else {
                    return self.say(ctx, ctx.t().draft_gone, None).await;
                };
                if *answer == "y" {
                    self.create_issue(ctx, Some(&text), file).await
                } else {
                    self.clear_step(ctx).await?;
                    self.menu(ctx, Some(ctx.t().cancelled)).await
                }
            }
            [action, rest @ ..] => {
                let Some(link) = self.registered(ctx).await? else {
                    return Ok(());
                };
                match (*action, rest) {
                    ("ls", [mode, page]) => {
                        let mode = mode.chars().next().unwrap_or('l');
                        let page = page.parse().unwrap_or(0);
                        self.show_issues(ctx, &link, mode, page, Some(message.message_id))
                            .await
                    }
                    ("st", [id]) => match id.parse() {
                        Ok(id) => self.show_status(ctx, &link, id).await,
                        Err(_) => Ok(()),
                    },
                    ("cm", [id]) => match id.parse() {
                        Ok(id) => self.choose_for_comment(ctx, &link, id).await,
                        Err(_) => Ok(()),
                    },
                    _ => Ok(()),
                }
            }
            [] => Ok(()),
        }
    }
}

#[async_trait]
impl BotHandler for HelpdeskBot {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        match update.content {
            // Only private chats are clients; groups the bot sits in are not listened to.
            UpdateContent::Message(m) if m.chat.type_field == ChatType::Private => {
                self.on_message(&m).await
            }
            UpdateContent::CallbackQuery(q) => self.on_callback(&q).await,
            _ => Ok(()),
        }
    }
}
