//! batch-tracker: settles each lead's batch (completed, partial, failed) once every
//! integration has reported: the job whose report completed the batch puts it on
//! `batch-results`, and the tracker queues the admins' notification and writes the status,
//! once, under a condition. In Lambda `batch-results` is the tracker's own asynchronous
//! invocation (`EventFunction`, one batch per invocation, no event source polling all
//! month); in `zayavka serve` it is a queue (`QueueWorker`). Both settle the same way.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::lambda::EventFunction;
use zayavka::leads::batch::{self, TrackError};
use zayavka::leads::model::Settle;
use zayavka::queues::BATCH_RESULTS;
use zayavka::sqs_batch::{QueueWorker, run_batch};

pub const NAME: &str = "batch-tracker";

pub struct BatchTracker {
    deps: Deps,
    queue_prefix: String,
}

impl BatchTracker {
    pub fn new(deps: Deps, queue_prefix: String) -> Self {
        Self { deps, queue_prefix }
    }
}

#[async_trait]
impl QueueWorker for BatchTracker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queues(&self) -> Vec<String> {
        vec![BATCH_RESULTS.to_string()]
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 4, |msg| async move {
            batch::on_message(&self.deps, &msg, &self.queue_prefix).await
        })
        .await
    }
}

/// What Lambda hands the tracker: a batch to settle, its asynchronous invocation; or, while a
/// stack from before the tracker was invoked is being updated, the old `batch-results`
/// queue's SQS events, which its event source delivers until CloudFormation removes it (the
/// new code runs before the old queue goes, and a dropped message would leave its lead
/// `processing`).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum TrackerEvent {
    Queue(SqsEvent),
    Batch(Settle),
}

#[async_trait]
impl EventFunction for BatchTracker {
    type Event = TrackerEvent;
    type Error = TrackError;

    async fn handle_event(&self, event: TrackerEvent) -> Result<(), TrackError> {
        match event {
            TrackerEvent::Batch(settle) => batch::on_invocation(&self.deps, &settle).await,
            TrackerEvent::Queue(event) => {
                let failed = self.handle(event).await.batch_item_failures.len();
                if failed == 0 {
                    Ok(())
                } else {
                    // The whole batch comes back; settling again changes nothing.
                    Err(TrackError::Queue(format!(
                        "{failed} batches not settled yet"
                    )))
                }
            }
        }
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<BatchTracker, zayavka::config::ConfigError> {
    Ok(BatchTracker::new(w.deps.clone(), w.queue_prefix.clone()))
}
