//! Lead fan-out: one lead, many integrations, one batch that settles as completed,
//! partial or failed.
//!
//! The flow: [`request`] validates what the website sent, [`submit`] stores it through
//! [`store`] (the only module that knows the table layout) and [`dispatch`] queues one job
//! per integration on its FIFO queue; each job's result goes onto the batch through
//! [`batch`], which also settles it; [`sweep`] fails what dead-lettered, and [`view`] is
//! what the API shows.

pub mod batch;
pub mod breaker;
pub mod breaker_store;
pub mod checks;
pub mod contact;
pub mod dispatch;
pub mod due;
pub mod mark;
pub mod model;
pub mod notify;
pub mod press;
pub mod replay;
pub mod request;
pub mod retry;
pub mod store;
pub mod submit;
pub mod sweep;
mod targets;
pub mod view;

pub use mark::Mark;
pub use model::*;
pub use store::{batch_key, lead_key};
