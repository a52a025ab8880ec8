//! The helpdesk bot on Okdesk (seed 001): clients register from Telegram, create and follow
//! issues and comment; Okdesk's webhooks bring status changes and staff comments back.
//! Input rules: Russian INNs with their checksums, phone numbers in E.164 with the variants
//! a CRM may hold, and issue titles cut from a message.
//!
//! The bot's modules depend one way: `bot` dispatches an update to the handlers in `menu`,
//! `registration`, `issues` and `list`; they share `context` (the bot's parts and who is
//! talking), `keyboard`, `callback` (the buttons' data) and `command`.

pub mod bot;
pub mod callback;
pub mod command;
pub mod config;
mod context;
pub mod events;
pub mod inn;
mod issues;
mod keyboard;
mod list;
mod menu;
pub mod notify;
pub mod okdesk;
pub mod phone;
mod registration;
pub mod store;
