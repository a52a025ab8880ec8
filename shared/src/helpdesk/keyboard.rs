//! The keyboards the helpdesk bot shows: the menu, the phone button, and inline buttons
//! whose data is a [`Callback`].

use frankenstein::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup,
    ReplyKeyboardRemove, ReplyMarkup,
};

use super::callback::Callback;
use crate::texts::HelpdeskTexts;

/// One inline button: its label and what pressing it means.
pub(super) type Button = (String, Callback);

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

/// The one-button keyboard that shares the user's own phone number.
pub(super) fn phone_keyboard(t: &HelpdeskTexts) -> ReplyMarkup {
    ReplyMarkup::ReplyKeyboardMarkup(
        ReplyKeyboardMarkup::builder()
            .keyboard(vec![vec![
                KeyboardButton::builder()
                    .text(t.share_phone)
                    .request_contact(true)
                    .build(),
            ]])
            .resize_keyboard(true)
            .one_time_keyboard(true)
            .build(),
    )
}

pub(super) fn inline(rows: Vec<Vec<Button>>) -> ReplyMarkup {
    ReplyMarkup::InlineKeyboardMarkup(inline_markup(rows))
}

pub(super) fn inline_markup(rows: Vec<Vec<Button>>) -> InlineKeyboardMarkup {
    let row = |row: Vec<Button>| {
        row.into_iter()
            .map(|(text, data)| {
                InlineKeyboardButton::builder()
                    .text(text)
                    .callback_data(data.encode())
                    .build()
            })
            .collect()
    };
    InlineKeyboardMarkup::builder()
        .inline_keyboard(rows.into_iter().map(row).collect())
        .build()
}
