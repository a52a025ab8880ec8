//! The helpdesk bot on Okdesk (seed 001): clients register from Telegram, create and follow
//! issues and comment; Okdesk's webhooks bring status changes and staff comments back.
//! Input rules: Russian INNs with their checksums, phone numbers in E.164 with the variants
//! a CRM may hold, and issue titles cut from a message.

pub mod bot;
pub mod config;
pub mod events;
pub mod inn;
mod issues;
pub mod notify;
pub mod okdesk;
pub mod phone;
mod registration;
pub mod store;
pub mod title;
