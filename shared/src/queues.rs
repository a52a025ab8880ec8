//! Every queue the system uses, in one place: `zayavka init-aws`, the embedded queue and
//! `zayavka serve` read it, and `template.yaml` mirrors it (a test checks that).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{OutMessage, Queue, QueueError};

/// A queue together with the one message type it carries: producers send `T`, the worker
/// decodes `T`, and neither spells the queue's name or JSON by hand.
pub struct TypedQueue<T> {
    pub name: &'static str,
    message: PhantomData<fn() -> T>,
}

impl<T> TypedQueue<T> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            message: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> TypedQueue<T> {
    pub async fn send(&self, queue: &dyn Queue, message: &T) -> Result<(), QueueError> {
        let body = serde_json::to_string(message)
            .map_err(|e| QueueError::Invalid(format!("message not serialised: {e}")))?;
        queue
            .send(self.name, OutMessage::new(body))
            .await
            .map(|_| ())
    }

    /// Onto a FIFO queue: in `group`'s order, a repeat of `dedup_id` within five minutes
    /// dropped.
    pub async fn send_in_group(
        &self,
        queue: &dyn Queue,
        message: &T,
        group: &str,
        dedup_id: &str,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message)
            .map_err(|e| QueueError::Invalid(format!("message not serialised: {e}")))?;
        queue
            .send(self.name, OutMessage::new(body).in_group(group, dedup_id))
            .await
            .map(|_| ())
    }

    pub fn decode(&self, body: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// How one queue behaves. Names are logical; AWS names are `<prefix><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// A FIFO queue's name ends in `.fifo`, as SQS requires.
    pub name: String,
    pub dead_letter: Option<String>,
    /// Receives after which a message moves to the dead-letter queue.
    pub max_receives: u32,
    pub visibility_timeout_secs: u32,
}

impl QueueSpec {
    /// Whether the queue keeps each group's messages in order (SQS FIFO).
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(FIFO_SUFFIX)
    }

    pub fn new(name: &str, visibility_timeout_secs: u32) -> Self {
        Self {
            name: name.into(),
            dead_letter: None,
            max_receives: 0,
            visibility_timeout_secs,
        }
    }

    pub fn with_dead_letter(mut self, dlq: &str, max_receives: u32) -> Self {
        self.dead_letter = Some(dlq.into());
        self.max_receives = max_receives;
        self
    }
}

// FIFO, so that a job is never handed to two workers at once: that is what lets a worker
// call out without first writing a claim (see `integrations::worker`).
pub const INTEGRATION_EMAIL: &str = "integration-email.fifo";
pub const INTEGRATION_AMOCRM: &str = "integration-amocrm.fifo";
pub const INTEGRATION_TELEGRAM: &str = "integration-telegram.fifo";
pub const INTEGRATION_BITRIX24: &str = "integration-bitrix24.fifo";
pub const INTEGRATION_WEBHOOK: &str = "integration-webhook.fifo";
pub const NOTIFICATIONS: &str = "notifications";
pub const BATCH_RESULTS: &str = "batch-results";
/// A queue that in AWS is a function's own asynchronous-invocation queue, which Lambda keeps:
/// each message sent is an invocation of the function (see `adapters::lambda_invoke`),
/// nothing polls, and the function's `DeadLetterQueue` is the catalogue's dead-letter queue.
/// `zayavka serve` has no Lambda and keeps a real queue under the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invoked {
    pub queue: &'static str,
    /// The function's binary.
    pub function: &'static str,
    /// The variable that names the deployed function to its producers (required in Lambda).
    pub env: &'static str,
}

pub const INVOKED: [Invoked; 1] = [Invoked {
    queue: BATCH_RESULTS,
    function: "batch-tracker",
    env: "BATCH_TRACKER_FUNCTION",
}];

/// The function a message on `queue` invokes in AWS, if Lambda keeps the queue.
pub fn invoked_function(queue: &str) -> Option<&'static str> {
    INVOKED
        .iter()
        .find(|i| i.queue == queue)
        .map(|i| i.function)
}

/// The chat bridge's messages to the outside system: one client's messages in order.
pub const BRIDGE_INBOUND: &str = "bridge-inbound.fifo";
pub const FIFO_SUFFIX: &str = ".fifo";

pub const INTEGRATIONS: [&str; 5] = [
    INTEGRATION_EMAIL,
    INTEGRATION_AMOCRM,
    INTEGRATION_TELEGRAM,
    INTEGRATION_BITRIX24,
    INTEGRATION_WEBHOOK,
];

/// Six times a worker's 30 s timeout, as AWS advises for SQS event sources.
pub const WORKER_VISIBILITY_SECS: u32 = 180;
/// Integration workers retry by themselves, and bound a job themselves: by its tries (a
/// receive whose worker stopped without writing counts as one, see `leads::model::Mark`) and
/// by the retry schedule's span while it waits on a breaker. A job's message comes back
/// for every attempt, for every wait on an open breaker (at most one per probe, probes at
/// most 15 minutes apart by default: about 110 over the default schedule, twice that when
/// each probe's lease is waited out) and every 12 hours while a failed delivery is kept for
/// replay; the dead-letter queue only catches what none of that ended — a worker that
/// cannot read or write the table at all — so its bound is well above them.
pub const INTEGRATION_MAX_RECEIVES: u32 = 500;
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// `<queue>-dlq`; a FIFO queue's is FIFO too (`<queue>-dlq.fifo`).
pub fn dead_letter_name(queue: &str) -> String {
    match queue.strip_suffix(FIFO_SUFFIX) {
        Some(base) => format!("{base}-dlq{FIFO_SUFFIX}"),
        None => format!("{queue}-dlq"),
    }
}

/// The bridge retries by itself (with backoff, through the visibility timeout); after this
/// many receives the message is dead-lettered and its user told.
pub const BRIDGE_MAX_RECEIVES: u32 = 10;

/// The system's queues, dead-letter queues included.
pub fn catalogue() -> Vec<QueueSpec> {
    let mut specs = Vec::new();
    let mut with_dlq = |name: &str, max_receives: u32| {
        let dlq = dead_letter_name(name);
        specs.push(
            QueueSpec::new(name, WORKER_VISIBILITY_SECS).with_dead_letter(&dlq, max_receives),
        );
        specs.push(QueueSpec::new(&dlq, WORKER_VISIBILITY_SECS));
    };
    for name in INTEGRATIONS {
        with_dlq(name, INTEGRATION_MAX_RECEIVES);
    }
    with_dlq(NOTIFICATIONS, DEFAULT_MAX_RECEIVES);
    with_dlq(BATCH_RESULTS, DEFAULT_MAX_RECEIVES);
    with_dlq(BRIDGE_INBOUND, BRIDGE_MAX_RECEIVES);
    specs
}
