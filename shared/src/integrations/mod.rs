//! Delivering a lead to each integration, and the worker that runs a job from its queue.

pub mod amocrm;
pub mod bitrix24;
mod deliver;
pub mod email;
mod kept;
pub mod pace;
pub mod telegram;
mod waiting;
pub mod webhook;
pub mod worker;

pub use crate::outbound::DeliveryError;
