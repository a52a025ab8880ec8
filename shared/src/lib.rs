//! zayavka's shared library: the ports every function talks to, their AWS and embedded
//! adapters, and the plumbing that turns Lambda events into handler calls.

pub mod adapters;
pub mod api_keys;
pub mod bridge;
pub mod claims;
pub mod config;
pub mod counter;
pub mod credentials;
pub mod deps;
pub mod helpdesk;
pub mod http;
pub mod integrations;
pub mod keys;
pub mod lambda;
pub mod leads;
pub mod logging;
pub mod mail_events;
pub mod metrics;
pub mod notifications;
pub mod outbound;
pub mod ports;
pub mod queues;
pub mod schedule;
pub mod secret;
pub mod secrets;
pub mod sign_in;
pub mod signature;
pub mod sqs_batch;
pub mod support;
pub mod telegram;
pub mod texts;
pub mod tickets;
pub mod time;
pub mod title;

pub use deps::Deps;

/// The version every health answer reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
