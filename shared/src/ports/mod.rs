//! The small traits the domain talks to. Nothing here names AWS.

pub mod clock;
pub mod mailer;
pub mod queue;
pub mod table;

pub use clock::{Clock, FixedClock, SystemClock};
pub use mailer::{Email, MailError, Mailer};
pub use queue::{OutMessage, Queue, QueueError, QueueStats, Received};
pub use table::{
    AttributeValue, Cond, Index, Item, Key, Page, Query, StoreError, Table, TxOp, Update,
};
