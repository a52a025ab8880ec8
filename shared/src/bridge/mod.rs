//! The chat bridge (seed 002): Telegram users talk to an outside message-processing system
//! that knows nothing of Telegram. Their messages go to `POST <BRIDGE_API_URL>` as
//! `{client_id, content, timestamp, …}` with `X-Webhook-URL` saying where to answer; the
//! system's answers (to that URL, or in its response) come back to their chat.
//!
//! - `bot.rs`: the bridge bot (messages in, `/status`, `/stats`);
//! - `inbound.rs`: what the bridge queue carries and what the system gets;
//! - `worker.rs`, `system.rs`: the bridge worker's step and its call to the system;
//! - `replies.rs`: the system's replies, checked; `notices.rs`: what the user is sent;
//! - `files.rs`: signed links to the users' files; `store.rs`: clients, history, counters;
//! - `config.rs`: the settings.

pub mod bot;
pub mod config;
pub mod files;
pub mod inbound;
pub mod notices;
pub mod replies;
pub mod store;
pub mod system;
pub mod worker;
