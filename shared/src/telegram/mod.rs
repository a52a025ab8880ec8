//! Telegram: a Bot API client on reqwest, with the Bot API's own types from `frankenstein`.

pub mod client;
pub mod config;
pub mod lenient;
pub mod limits;
pub mod reply;
pub mod split;
pub mod webhook;

pub use client::{BotApi, TelegramError};
pub use frankenstein::types::{ChatId, Message};
