//! The event sources: queue pollers with SQS's semantics, the scheduled functions' timers,
//! and the embedded table's TTL purge.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use zayavka::deps::Embedded;
use zayavka::ports::Queue;
use zayavka::sqs_batch::QueueWorker;

use super::{Registry, Storage};
use crate::events::sqs_event;

/// How long a poller's receive waits before it looks at the stop flag again.
const RECEIVE_WAIT: Duration = Duration::from_millis(500);

/// Removes expired items once a minute, as DynamoDB's TTL does in AWS.
pub(super) fn start_purger(embedded: Embedded, stopping: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stopping.load(Ordering::SeqCst) {
            if let Err(e) = embedded.table.purge_expired().await {
                tracing::warn!(error = %e, "purging expired items failed");
            }
            for _ in 0..60 {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
}

pub(super) fn start_pollers(
    storage: &Storage,
    registry: &Registry,
    stopping: Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for worker in &registry.workers {
        for queue in worker.queues() {
            let aws_name = format!("{}{queue}", storage.queue_prefix);
            handles.push(tokio::spawn(poll(
                storage.deps.queue.clone(),
                worker.clone(),
                queue,
                aws_name,
                stopping.clone(),
            )));
        }
    }
    handles
}

/// Scheduled functions: each on its own timer, the first run one interval after start.
pub(super) fn start_timers(registry: &Registry, stopping: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    registry
        .scheduled
        .iter()
        .map(|job| {
            let job = job.clone();
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let tick = Duration::from_millis(100);
                let mut waited = Duration::ZERO;
                while !stopping.load(Ordering::SeqCst) {
                    tokio::time::sleep(tick).await;
                    waited += tick;
                    if waited < job.every() {
                        continue;
                    }
                    waited = Duration::ZERO;
                    if let Err(e) = job.run().await {
                        tracing::warn!(function = job.name(), error = %e, "scheduled run failed");
                    }
                }
            })
        })
        .collect()
}

/// A worker function's timeout, as `template.yaml` gives the workers: a sixth of the queues'
/// visibility timeout, as AWS advises for SQS event sources.
pub const HANDLER_TIMEOUT: Duration =
    Duration::from_secs(zayavka::queues::WORKER_VISIBILITY_SECS as u64 / 6);

/// How many batches of one queue are handled at once, as Lambda runs several invocations of
/// a queue's function side by side: one batch stuck on a slow outside call does not stall
/// the queue.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// One queue's event source: receive, hand the batch to the worker, delete what succeeded;
/// up to [`BATCHES_IN_FLIGHT`] batches at a time. On stop it receives no more and waits for
/// the batches in progress.
async fn poll(
    queue: Arc<dyn Queue>,
    worker: Arc<dyn QueueWorker>,
    name: String,
    aws_name: String,
    stopping: Arc<AtomicBool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
    let mut running = tokio::task::JoinSet::new();
    while !stopping.load(Ordering::SeqCst) {
        // A slot first, so nothing is received that no one would handle.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        while running.try_join_next().is_some() {}
        let messages = match queue.receive(&name, 10, RECEIVE_WAIT).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(queue = %name, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let (queue, worker, name, aws_name) = (
            queue.clone(),
            worker.clone(),
            name.clone(),
            aws_name.clone(),
        );
        running.spawn(async move {
            handle_batch(queue.as_ref(), worker.as_ref(), &name, &aws_name, messages).await;
            drop(slot);
        });
    }
    while running.join_next().await.is_some() {}
}

/// One batch: to the worker as an SQS event, then the succeeded messages deleted.
async fn handle_batch(
    queue: &dyn Queue,
    worker: &dyn QueueWorker,
    name: &str,
    aws_name: &str,
    messages: Vec<zayavka::ports::Received>,
) {
    let event = match sqs_event(aws_name, &messages) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(queue = %name, error = %e, "cannot build SQS event");
            return;
        }
    };
    // Like Lambda, which stops a function at its timeout: a batch never outlives its
    // messages' visibility timeout, so no message is with two handlers at once (the lead
    // jobs rely on that instead of a claim).
    let Ok(response) = tokio::time::timeout(HANDLER_TIMEOUT, worker.handle(event)).await else {
        tracing::error!(queue = %name, worker = worker.name(), "batch timed out; its messages come back after their visibility timeout");
        return;
    };
    let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Like Lambda: a failure naming a message that was not in the batch fails the whole
    // batch.
    if failed.iter().any(|id| !ids.contains(id)) {
        tracing::error!(queue = %name, worker = worker.name(), "batch response names unknown messages; the whole batch returns");
        return;
    }
    // Deleted together, as Lambda's event source does.
    let done: Vec<String> = messages
        .iter()
        .filter(|m| !failed.contains(m.message_id.as_str()))
        .map(|m| m.receipt_handle.clone())
        .collect();
    if let Err(e) = queue.delete_batch(name, &done).await {
        tracing::warn!(queue = %name, error = %e, "delete failed; the batch's messages will be delivered again");
    }
}
