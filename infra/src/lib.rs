//! The `zayavka` command's library: the local stack (`serve`) and admin tasks, kept here so
//! that tests drive exactly what the binary runs.

pub mod admin;
pub mod doctor;
pub mod events;
pub mod leads;
pub mod okdesk_check;
pub mod secrets;
pub mod serve;
pub mod tickets;
pub mod webhooks;
