//! Queue workers: an SQS event in, each message through a handler, and a partial batch
//! response that names only the messages that must come back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;

/// One message as a worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
    /// The queue's name as AWS knows it (the last part of `eventSourceARN`).
    pub source_queue: String,
}

impl QueueMessage {
    /// The logical queue name (`integration-email`), given the deployment's prefix.
    pub fn logical_queue<'a>(&'a self, prefix: &str) -> &'a str {
        self.source_queue
            .strip_prefix(prefix)
            .unwrap_or(&self.source_queue)
    }
}

fn messages(event: SqsEvent) -> Vec<QueueMessage> {
    event
        .records
        .into_iter()
        .map(|r| QueueMessage {
            message_id: r.message_id.unwrap_or_default(),
            receipt_handle: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            attributes: r
                .message_attributes
                .into_iter()
                .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                .collect(),
            source_queue: r
                .event_source_arn
                .as_deref()
                .and_then(|arn| arn.rsplit(':').next())
                .unwrap_or_default()
                .to_string(),
        })
        .collect()
}

/// Runs every message through `handler`, at most `concurrency` at a time. A message whose
/// handler fails is reported in `batchItemFailures` and comes back after its visibility
/// timeout; the others are deleted by the event source.
pub async fn run_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(QueueMessage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let failed: Vec<String> = futures::stream::iter(messages(event))
        .map(|msg| {
            let id = msg.message_id.clone();
            let fut = handler(msg);
            async move {
                match fut.await {
                    Ok(()) => None,
                    Err(e) => {
                        tracing::warn!(message_id = %id, error = %e, "message failed; it will be retried");
                        Some(id)
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|x| async move { x })
        .collect()
        .await;
    response(failed)
}

/// A FIFO queue's batch: each group's messages one after another, in order, the groups side
/// by side (at most `concurrency` at once). After a message fails, the rest of its group is
/// handed back untouched (Lambda's rule for FIFO event sources: the group must not skip
/// ahead of the message that failed); other groups go on.
pub async fn run_in_groups<G, F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    group_of: G,
    handler: F,
) -> SqsBatchResponse
where
    G: Fn(&QueueMessage) -> String,
    F: Fn(QueueMessage) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut groups: Vec<(String, Vec<QueueMessage>)> = Vec::new();
    for m in messages(event) {
        let g = group_of(&m);
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, list)) => list.push(m),
            None => groups.push((g, vec![m])),
        }
    }
    let handler = &handler;
    let failed: Vec<String> = futures::stream::iter(groups)
        .map(|(_, list)| async move {
            let mut failed = Vec::new();
            for m in list {
                if !failed.is_empty() {
                    failed.push(m.message_id);
                    continue;
                }
                let id = m.message_id.clone();
                if let Err(e) = handler(m).await {
                    tracing::warn!(message_id = %id, error = %e, "message failed; it and the rest of its group will be retried");
                    failed.push(id);
                }
            }
            futures::stream::iter(failed)
        })
        .buffer_unordered(concurrency.max(1))
        .flatten()
        .collect()
        .await;
    response(failed)
}

/// The partial batch response naming the messages that must come back.
fn response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// One queue-fed Lambda function.
#[async_trait]
pub trait QueueWorker: Send + Sync {
    fn name(&self) -> &'static str;

    /// The logical queues whose messages it consumes.
    fn queues(&self) -> Vec<String>;

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse;
}
