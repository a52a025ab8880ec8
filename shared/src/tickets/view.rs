//! How tickets look in Telegram: the card, and the buttons each step shows.

use frankenstein::ParseMode;
use frankenstein::methods::EditMessageTextParams;
use frankenstein::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, LinkPreviewOptions,
    ReplyKeyboardMarkup, ReplyMarkup,
};

use super::callback::Callback;
use super::config::Postpone;
use super::model::{Status, Ticket};
use crate::telegram::{BotApi, TelegramError};
use crate::texts::{StaffTexts, escape_html, fill};

pub fn status_name(t: &StaffTexts, s: Status) -> &'static str {
    match s {
        Status::Created => t.status_created,
        Status::InWork => t.status_in_work,
        Status::Postponed => t.status_postponed,
        Status::OnConfirmation => t.status_on_confirmation,
        Status::Completed => t.status_completed,
    }
}

/// The names a card shows.
pub struct Names<'a> {
    pub category: &'a str,
    pub author: &'a str,
    pub assignee: Option<&'a str>,
}

pub fn card(t: &StaffTexts, ticket: &Ticket, n: &Names<'_>) -> String {
    let id = ticket.id.to_string();
    let assignee = n
        .assignee
        .map(|a| fill(t.assignee_line, &[("name", a)]))
        .unwrap_or_default();
    fill(
        t.card,
        &[
            ("id", &id),
            ("category", n.category),
            ("author", n.author),
            ("status", status_name(t, ticket.status)),
            ("assignee", &assignee),
            ("title", &ticket.title),
            ("description", &ticket.description),
        ],
    )
}

fn markup(rows: Vec<Vec<(&str, Callback)>>) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::builder()
        .inline_keyboard(
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|(text, data)| {
                            InlineKeyboardButton::builder()
                                .text(text)
                                .callback_data(data.encode())
                                .build()
                        })
                        .collect()
                })
                .collect(),
        )
        .build()
}

/// The buttons that go with a ticket's message, by what its reader can do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buttons {
    /// An executor may take it.
    Offer,
    /// The assignee, working on it.
    Work,
    /// The assignee, choosing how long to postpone.
    PostponeChoice,
    /// The assignee of a postponed ticket.
    Resume,
    /// The author, asked to confirm.
    Confirm,
    /// The author, who returned it: may skip the comment.
    NoComment,
}

pub fn buttons(t: &StaffTexts, id: i64, b: Buttons) -> InlineKeyboardMarkup {
    markup(match b {
        Buttons::Offer => vec![vec![
            (t.take, Callback::Take(id)),
            (t.details, Callback::Details(id)),
        ]],
        Buttons::Work => vec![vec![
            (t.postpone, Callback::PostponeMenu(id)),
            (t.to_confirmation, Callback::ToConfirmation(id)),
        ]],
        Buttons::PostponeChoice => vec![
            vec![
                (t.postpone_1h, Callback::Postpone(id, Postpone::OneHour)),
                (t.postpone_4h, Callback::Postpone(id, Postpone::FourHours)),
            ],
            vec![(
                t.postpone_tomorrow,
                Callback::Postpone(id, Postpone::Tomorrow),
            )],
        ],
        Buttons::Resume => vec![vec![(t.resume, Callback::Resume(id))]],
        Buttons::Confirm => vec![
            vec![(t.confirm, Callback::Confirm(id))],
            vec![(t.return_to_work, Callback::Return(id))],
        ],
        Buttons::NoComment => vec![vec![(t.no_comment, Callback::NoComment(id))]],
    })
}

pub fn inline(m: InlineKeyboardMarkup) -> ReplyMarkup {
    ReplyMarkup::InlineKeyboardMarkup(m)
}

pub fn categories_keyboard(cats: &[(i64, String)]) -> ReplyMarkup {
    inline(markup(
        cats.iter()
            .map(|(id, name)| vec![(name.as_str(), Callback::Category(*id))])
            .collect(),
    ))
}

/// The persistent menu of a bound staff member.
pub fn menu_keyboard(t: &StaffTexts) -> ReplyMarkup {
    ReplyMarkup::ReplyKeyboardMarkup(
        ReplyKeyboardMarkup::builder()
            .keyboard(vec![vec![
                KeyboardButton::builder().text(t.menu_new).build(),
            ]])
            .resize_keyboard(true)
            .is_persistent(true)
            .build(),
    )
}

/// Replaces a message's text (plain, escaped here) and buttons.
pub async fn edit(
    api: &BotApi,
    chat: i64,
    message_id: i64,
    text: &str,
    markup: Option<InlineKeyboardMarkup>,
) -> Result<(), TelegramError> {
    let params = EditMessageTextParams::builder()
        .chat_id(chat)
        .message_id(i32::try_from(message_id).unwrap_or_default())
        .text(escape_html(text))
        .parse_mode(ParseMode::Html)
        .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
        .maybe_reply_markup(markup)
        .build();
    api.edit_message_text(&params).await.map(|_| ())
}
