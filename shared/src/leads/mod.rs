//! Lead fan-out: one lead, many integrations, one batch that settles as completed,
//! partial or failed.

pub mod batch;
pub mod jobs;
pub mod model;
pub mod notify;
pub mod submit;
pub mod sweep;

pub use model::*;
