//! The commands, the menu's buttons, and a registered client's message written without
//! choosing an action (offered as a new issue).

use frankenstein::types::Message;

use super::callback::{Callback, ListMode};
use super::command::{Command, MenuAction};
use super::context::{Ctx, Desk};
use super::keyboard::{inline, menu_keyboard, no_keyboard};
use super::store::Step;
use super::{issues, list, registration};
use crate::telegram::webhook::BotError;
use crate::texts::fill;

/// The menu for a registered chat, or the nudge to register.
pub(super) async fn show(d: &Desk, ctx: Ctx, text: Option<&str>) -> Result<(), BotError> {
    let t = ctx.t();
    if d.link(ctx).await?.is_some() {
        d.say(ctx, text.unwrap_or(t.menu_prompt), Some(menu_keyboard(t)))
            .await
    } else {
        d.say(ctx, t.need_registration, None).await
    }
}

pub(super) async fn on_command(d: &Desk, ctx: Ctx, command: Command) -> Result<(), BotError> {
    let t = ctx.t();
    match command {
        Command::Start => {
            d.clear_step(ctx).await?;
            match d.link(ctx).await? {
                Some(link) => {
                    let text = fill(t.welcome_back, &[("name", &link.name)]);
                    d.say(ctx, &text, Some(menu_keyboard(t))).await
                }
                None => registration::start(d, ctx).await,
            }
        }
        Command::Register => {
            d.clear_step(ctx).await?;
            registration::start(d, ctx).await
        }
        Command::Menu => {
            d.clear_step(ctx).await?;
            show(d, ctx, None).await
        }
        Command::Help => {
            let markup = d.link(ctx).await?.map(|_| menu_keyboard(t));
            d.say(ctx, t.help, markup).await
        }
        Command::Cancel => {
            d.clear_step(ctx).await?;
            let markup = match d.link(ctx).await? {
                Some(_) => menu_keyboard(t),
                None => no_keyboard(),
            };
            d.say(ctx, t.cancelled, Some(markup)).await
        }
        Command::Unknown => d.say(ctx, t.unknown_command, None).await,
    }
}

pub(super) async fn on_menu(d: &Desk, ctx: Ctx, action: MenuAction) -> Result<(), BotError> {
    d.clear_step(ctx).await?;
    let Some(link) = d.registered(ctx).await? else {
        return Ok(());
    };
    let mode = match action {
        MenuAction::Create => {
            return d.ask(ctx, &Step::IssueText, ctx.t().ask_issue_text).await;
        }
        MenuAction::List => ListMode::List,
        MenuAction::Status => ListMode::Status,
        MenuAction::Comment => ListMode::Comment,
    };
    list::show(d, ctx, &link, mode, 0, None).await
}

/// A registered client wrote without choosing an action: most likely a problem to file.
/// The text (and file) is kept a day and offered as a new issue with two buttons.
pub(super) async fn offer_draft(d: &Desk, ctx: Ctx, m: &Message) -> Result<(), BotError> {
    let t = ctx.t();
    let text = m
        .text
        .as_deref()
        .or(m.caption.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(text) = text else {
        return show(d, ctx, None).await;
    };
    let draft = Step::Draft {
        text: text.to_string(),
        file: issues::file_of(m),
    };
    d.set_step(ctx, &draft).await?;
    let buttons = inline(vec![vec![
        (t.draft_yes.to_string(), Callback::Draft { create: true }),
        (t.draft_no.to_string(), Callback::Draft { create: false }),
    ]]);
    let title = crate::title::derive(text);
    let offer = fill(t.offer_draft, &[("title", &title)]);
    d.say(ctx, &offer, Some(buttons)).await
}

/// The answer to the draft's buttons.
pub(super) async fn on_draft(d: &Desk, ctx: Ctx, create: bool) -> Result<(), BotError> {
    let Some(Step::Draft { text, file }) = d.step(ctx).await? else {
        return d.say(ctx, ctx.t().draft_gone, None).await;
    };
    if create {
        issues::create(d, ctx, Some(&text), file).await
    } else {
        d.clear_step(ctx).await?;
        show(d, ctx, Some(ctx.t().cancelled)).await
    }
}
