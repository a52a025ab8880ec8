//! The queue port, shaped after SQS standard queues: at-least-once delivery, visibility
//! timeout, receive count, redrive to a dead-letter queue, per-message delay.
//!
//! Queues are named by their logical name (`notifications`, `integration-email`, …; see
//! [`crate::queues`]); each adapter maps the name to its own resource.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

/// SQS's limits, which the embedded queue enforces too.
pub const MAX_BATCH: usize = 10;
pub const MAX_DELAY_SECONDS: u32 = 900;
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutMessage {
    pub body: String,
    pub delay_seconds: u32,
    pub attributes: BTreeMap<String, String>,
    /// FIFO queues only: the messages of one group are handed out one at a time, in the
    /// order sent (SQS's MessageGroupId).
    pub group: Option<String>,
    /// FIFO queues only: a second message with this id within five minutes is dropped
    /// (SQS's MessageDeduplicationId).
    pub dedup_id: Option<String>,
}

impl OutMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    pub fn delay(mut self, seconds: u32) -> Self {
        self.delay_seconds = seconds;
        self
    }

    /// For a FIFO queue: the message's group and its de-duplication id.
    pub fn in_group(mut self, group: impl Into<String>, dedup_id: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self.dedup_id = Some(dedup_id.into());
        self
    }

    pub fn attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    pub fn validate(&self) -> Result<(), QueueError> {
        if self.body.is_empty() {
            return Err(QueueError::Invalid("a message body cannot be empty".into()));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(QueueError::Invalid(format!(
                "a message body is at most {MAX_BODY_BYTES} bytes, not {}",
                self.body.len()
            )));
        }
        if self.delay_seconds > MAX_DELAY_SECONDS {
            return Err(QueueError::Invalid(format!(
                "delay is at most {MAX_DELAY_SECONDS} s, not {}",
                self.delay_seconds
            )));
        }
        for (what, v) in [("group", &self.group), ("dedup_id", &self.dedup_id)] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic()))
            {
                return Err(QueueError::Invalid(format!(
                    "a message's {what} is 1 to 128 visible ASCII characters"
                )));
            }
        }
        if self.group.is_some() && self.delay_seconds > 0 {
            return Err(QueueError::Invalid(
                "a FIFO queue's messages take no delay of their own".into(),
            ));
        }
        if self.attributes.len() > 10 {
            return Err(QueueError::Invalid(
                "a message has at most 10 attributes".into(),
            ));
        }
        Ok(())
    }
}

/// A message as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Proves this receive; needed to delete the message or change its visibility.
    pub receipt_handle: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    pub sent_at_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Ready to be received.
    pub visible: u64,
    /// Received and neither deleted nor visible again yet.
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue named {0}")]
    UnknownQueue(String),
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("invalid queue request: {0}")]
    Invalid(String),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}

/// SQS hands out 1 to 10 messages per receive.
pub fn validate_receive(max: u32) -> Result<(), QueueError> {
    if (1..=10).contains(&max) {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "receive takes 1 to 10 messages, not {max}"
        )))
    }
}

pub fn validate_batch(msgs: &[OutMessage]) -> Result<(), QueueError> {
    if msgs.is_empty() || msgs.len() > MAX_BATCH {
        return Err(QueueError::Invalid(format!(
            "a batch holds 1 to {MAX_BATCH} messages, not {}",
            msgs.len()
        )));
    }
    msgs.iter().try_for_each(OutMessage::validate)
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message and returns its id.
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError>;

    /// Sends up to ten messages at once; either all are accepted or the call fails.
    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError>;

    /// Receives up to `max` (1..=10) visible messages, waiting up to `wait` for the first.
    /// Each becomes invisible for the queue's visibility timeout. A message received more
    /// often than the queue allows moves to its dead-letter queue instead.
    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError>;

    /// Deletes several received messages in one request (SQS's DeleteMessageBatch, one
    /// transaction in the embedded queue); by default one at a time.
    async fn delete_batch(
        &self,
        queue: &str,
        receipt_handles: &[String],
    ) -> Result<(), QueueError> {
        for r in receipt_handles {
            self.delete(queue, r).await?;
        }
        Ok(())
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError>;

    /// Makes a received message visible again after `seconds` (0: at once).
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), QueueError>;

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError>;

    /// Sends any number of messages in batches of ten.
    async fn send_all(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        let mut ids = Vec::with_capacity(msgs.len());
        for chunk in msgs.chunks(MAX_BATCH) {
            ids.extend(self.send_batch(queue, chunk.to_vec()).await?);
        }
        Ok(ids)
    }
}
