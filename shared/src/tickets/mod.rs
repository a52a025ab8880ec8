//! The executor workflow (seed 000): internal tickets in categories, offered in Telegram to
//! the category's executors by priority; one takes it, postpones it or sends it for
//! confirmation, and the author confirms or returns it.
//!
//! - `model.rs`: users, categories, executors, tickets (status ids 1–5) and history;
//! - `store.rs`: the typed store (the only place with conditions);
//! - `workflow.rs`: each step, who may take it, what it announces;
//! - `notices.rs`: the notifications queue's ticket messages and their delivery;
//! - `timers.rs`: reminders and escalations, run by the sweeper;
//! - `bot.rs`, `callback.rs`, `view.rs`: the staff bot, its buttons and its messages;
//! - `config.rs`: the settings; `api.rs`: the ticket API's requests.

pub mod api;
pub mod bot;
pub mod callback;
pub mod config;
pub mod model;
pub mod notices;
pub mod store;
pub mod timers;
pub mod view;
pub mod workflow;
