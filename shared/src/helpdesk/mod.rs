//! The helpdesk bot's input rules (seed 001): Russian INNs with their checksums, phone
//! numbers in E.164 with the variants a CRM may hold, and issue titles cut from a message.

pub mod inn;
pub mod okdesk;
pub mod phone;
pub mod title;
