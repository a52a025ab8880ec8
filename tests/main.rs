//! The workspace's one integration-test binary: adapter conformance (embedded and moto),
//! function plumbing, sample events, and the deployment template.

mod apigw;
mod auth_matrix;
mod breakers;
mod bridge;
mod browser;
mod conformance;
mod costs;
mod crm;
mod doctor;
mod events;
mod foreign_updates;
mod fuzz;
mod helpdesk;
mod lead_api;
mod leads;
mod metrics;
mod notifications;
mod okdesk;
mod okdesk_events;
mod outbound;
mod plumbing;
mod recording;
mod replay;
mod retries;
mod scopes;
mod secrets;
mod settings;
mod standard_webhooks;
mod stuck;
mod support;
mod support_relay;
mod telegram;
mod template;
mod tickets;
